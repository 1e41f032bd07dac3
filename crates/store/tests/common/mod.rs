//! Builders for signed test objects and stores on temp dirs.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // Test support: panics are failures.

use flashback_store::{Store, StoreConfig};
use flashback_types::*;

/// A fixed "now" for tests.
pub const NOW: Timestamp = 1_800_000_000;
pub const DAY: u64 = 86_400;

/// A deterministic key per seed.
pub fn key(seed: u16) -> SecretKey {
    let mut s = [7u8; 32];
    s[..2].copy_from_slice(&seed.to_le_bytes());
    SecretKey::from_seed(&s)
}

pub fn st(s: &str) -> ShortText {
    s.try_into().unwrap()
}

pub fn usd(amount: u64) -> Price {
    Price {
        amount,
        asset: "USD".try_into().unwrap(),
        unit: PriceUnit::GibMonth,
    }
}

pub fn price(amount: u64, asset: &str) -> Price {
    Price {
        amount,
        asset: asset.try_into().unwrap(),
        unit: PriceUnit::GibMonth,
    }
}

/// A plain storage offer body, valid at [`NOW`] for a day.
pub fn offer_body(provider: &SecretKey, offer_key: &str, seq: u64) -> Offer {
    Offer {
        provider: provider.public(),
        offer_key: st(offer_key),
        seq,
        withdrawn: false,
        kind: ResourceKind::Storage,
        capacity: 100 * GIB,
        price: usd(100),
        min_duration_secs: 3600,
        max_duration_secs: 365 * DAY,
        regions: BoundedVec::try_from(vec![st("eu-west")]).unwrap(),
        protocols: BoundedVec::try_from(vec![DataProtocol::S3]).unwrap(),
        endpoint: "https://s3.example.net".try_into().unwrap(),
        qos: QosTargets {
            availability_bp: 9990,
            p95_latency_ms: 200,
            ..Default::default()
        },
        redundancy: 2,
        certificates: BoundedVec::new(),
        jurisdictions: BoundedVec::new(),
        compliance_docs: BoundedVec::new(),
        compute: None,
        created_at: NOW - 10,
        expires_at: NOW + DAY,
    }
}

pub fn offer(
    provider: &SecretKey,
    offer_key: &str,
    seq: u64,
    edit: impl FnOnce(&mut Offer),
) -> Signed<Offer> {
    let mut body = offer_body(provider, offer_key, seq);
    edit(&mut body);
    Signed::sign(body, provider).unwrap()
}

pub fn regions(list: &[&str]) -> BoundedVec<ShortText, 16> {
    let mut v: Vec<ShortText> = list.iter().map(|s| st(s)).collect();
    v.sort();
    BoundedVec::try_from(v).unwrap()
}

/// A proposal from `consumer` on `offer`, service `[start, start + duration)`.
pub fn proposal(
    consumer: &SecretKey,
    offer: &Signed<Offer>,
    start: Timestamp,
    duration_secs: u64,
    volume: u64,
) -> Signed<SlaProposal> {
    let b = offer.body();
    let price = b.price.clone();
    let total = price.total(volume, duration_secs).unwrap();
    let body = SlaProposal {
        consumer: consumer.public(),
        provider: b.provider,
        offer_id: offer.id(),
        offer_seq: b.seq,
        volume,
        duration_secs,
        redundancy: b.redundancy,
        qos: b.qos.clone(),
        price,
        total,
        start,
        nonce: start ^ volume,
        created_at: NOW - 100,
        expires_at: NOW + DAY,
    };
    Signed::sign(body, consumer).unwrap()
}

pub fn decision(
    provider: &SecretKey,
    proposal: &Signed<SlaProposal>,
    decision: Decision,
) -> Signed<SlaDecision> {
    let p = proposal.body();
    let body = SlaDecision {
        provider: provider.public(),
        consumer: p.consumer,
        proposal_id: proposal.id(),
        decision,
        created_at: NOW - 50,
        expires_at: p.end().max(NOW + DAY),
    };
    Signed::sign(body, provider).unwrap()
}

/// An agreement between `consumer` and the provider of `offer` (who signs the acceptance).
pub fn agreement(
    consumer: &SecretKey,
    provider: &SecretKey,
    offer: &Signed<Offer>,
    start: Timestamp,
    duration_secs: u64,
    volume: u64,
) -> Agreement {
    let p = proposal(consumer, offer, start, duration_secs, volume);
    let d = decision(provider, &p, Decision::Accept);
    Agreement::from_parts(p, d).unwrap()
}

#[allow(clippy::too_many_arguments)]
pub fn attestation(
    attester: &SecretKey,
    subject: &PublicKey,
    agreement: Option<ObjectId>,
    window_start: Timestamp,
    window_end: Timestamp,
    probes: u32,
    successes: u32,
    p95_ms: u32,
) -> Signed<QosAttestation> {
    let body = QosAttestation {
        attester: attester.public(),
        subject: *subject,
        agreement,
        window_start,
        window_end,
        probes,
        successes,
        latency_p50_ms: p95_ms / 2,
        latency_p95_ms: p95_ms,
        throughput_bytes_per_sec: 1_000_000,
        bytes_checked: 1 << 20,
        created_at: window_end,
        expires_at: window_end + 30 * DAY,
    };
    Signed::sign(body, attester).unwrap()
}

pub fn certificate(
    issuer: &SecretKey,
    subject: &PublicKey,
    claim: &str,
    value: &str,
    serial: u64,
) -> Signed<Certificate> {
    let body = Certificate {
        issuer: issuer.public(),
        subject: *subject,
        claims: BoundedVec::try_from(vec![Claim {
            name: st(claim),
            value: value.try_into().unwrap(),
        }])
        .unwrap(),
        serial,
        evidence: None,
        created_at: NOW - DAY,
        expires_at: NOW + 365 * DAY,
    };
    Signed::sign(body, issuer).unwrap()
}

pub fn revocation(issuer: &SecretKey, cert: &Signed<Certificate>) -> Signed<Revocation> {
    let body = Revocation {
        issuer: issuer.public(),
        certificate: cert.id(),
        reason: "key compromise".try_into().unwrap(),
        created_at: NOW - 5,
        expires_at: cert.expires_at() + DAY,
    };
    Signed::sign(body, issuer).unwrap()
}

/// A trust store of `(name, key, roles, schemes)`.
pub fn trust(issuers: &[(&str, &SecretKey, &[Role], &[&str])]) -> TrustStore {
    let mut store = TrustStore::default();
    for (name, key, roles, schemes) in issuers {
        let issuer = trust::Issuer::new(name, key.public(), roles, schemes).unwrap();
        store.add(issuer, false).unwrap();
    }
    store
}

pub fn open(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::open(dir.path().join(name), StoreConfig::default()).unwrap()
}

pub fn open_with(dir: &tempfile::TempDir, name: &str, config: StoreConfig) -> Store {
    Store::open(dir.path().join(name), config).unwrap()
}

pub fn ids(page: &[Signed<Offer>]) -> Vec<ObjectId> {
    page.iter().map(|o| o.id()).collect()
}
