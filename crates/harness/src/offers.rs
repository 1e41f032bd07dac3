//! Valid signed offers in bulk, signed on every core.

use flashback_types::{Object, SecretKey, Signed, samples};

/// `count` distinct valid offers from `count / per_provider` providers (rounded up), each
/// provider's key derived from `label`, so the same arguments give the same providers.
///
/// Panics only if a signing thread does (a bug: sample offers are valid).
pub fn sign_offers(count: usize, per_provider: usize, label: &str) -> Vec<Object> {
    let per_provider = per_provider.max(1);
    let now = flashback_types::clock::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let providers: Vec<SecretKey> = (0..count.div_ceil(per_provider))
        .map(|p| {
            let mut seed = *blake3::hash(format!("{label}/{p}").as_bytes()).as_bytes();
            seed[0] ^= 1;
            SecretKey::from_seed(&seed)
        })
        .collect();
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let providers = &providers;
                scope.spawn(move || {
                    (start..(start + chunk).min(count))
                        .map(|i| {
                            let key = &providers[i / per_provider];
                            let body =
                                samples::offer(key.public(), &format!("{label}-{i}"), 1, now);
                            Object::Offer(Signed::sign(body, key).expect("sample offers are valid"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("signing thread"))
            .collect()
    })
}
