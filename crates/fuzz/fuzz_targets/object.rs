#![no_main]
//! Whole signed objects as they arrive from the network: decoding never panics, and what it
//! accepts is exactly the bytes received.
use flashback_types::Object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = Object::decode(data) {
        // Accepted bytes are the exact signed encoding.
        assert_eq!(object.encoded(), data);
    }
});
