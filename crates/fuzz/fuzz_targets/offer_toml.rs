#![no_main]
//! Offer files as users write them (`flashback offer publish --file`).
use flashback_client::OfferSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(spec) = OfferSpec::from_toml(text)
    {
        let key = flashback_types::SecretKey::from_seed(&[7; 32]).public();
        let _ = spec.to_offer(key, 1_800_000_000);
    }
});
