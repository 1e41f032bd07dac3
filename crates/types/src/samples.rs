//! Valid example bodies of every kind, for tests, documentation and benchmarks in every crate.
//! Each builder returns a body that passes all stateless rules; change fields to taste.

use crate::bodies::*;
use crate::encoding::BoundedVec;
use crate::keys::{Hash32, PublicKey};

fn short(s: &str) -> ShortText {
    ShortText::new(s).expect("sample strings are short")
}

/// A storage offer: 1 TiB in `eu-west` over S3 and HTTPS at 120 USD-cents per GiB-month,
/// valid for a day from `now`.
pub fn offer(provider: PublicKey, offer_key: &str, seq: u64, now: Timestamp) -> Offer {
    Offer {
        provider,
        offer_key: short(offer_key),
        seq,
        withdrawn: false,
        kind: ResourceKind::Storage,
        capacity: 1024 * GIB,
        price: usd(120, PriceUnit::GibMonth),
        min_duration_secs: HOUR_SECS,
        max_duration_secs: 365 * 24 * HOUR_SECS,
        regions: BoundedVec::try_from_vec(vec![short("eu-west")]).expect("one region"),
        protocols: BoundedVec::try_from_vec(vec![DataProtocol::S3, DataProtocol::Https])
            .expect("two protocols"),
        endpoint: Text::new("https://storage.example.net/bucket").expect("short endpoint"),
        qos: QosTargets {
            availability_bp: 9990,
            p95_latency_ms: 200,
            durability_nines: 11,
            throughput_bytes_per_sec: 100 << 20,
        },
        redundancy: 2,
        certificates: BoundedVec::new(),
        jurisdictions: BoundedVec::try_from_vec(vec![short("eu")]).expect("one jurisdiction"),
        compliance_docs: BoundedVec::try_from_vec(vec![ComplianceDoc {
            title: Title::new("GDPR data-processing agreement").expect("short title"),
            url: Text::new("https://storage.example.net/legal/dpa-v3.pdf").expect("short url"),
            digest: Hash32::of(b"gdpr-dpa-v3.pdf"),
        }])
        .expect("one document"),
        compute: None,
        created_at: now,
        expires_at: now + 24 * HOUR_SECS,
    }
}

/// A price in US-dollar cents.
pub fn usd(amount: u64, unit: PriceUnit) -> Price {
    Price {
        amount,
        asset: "USD".try_into().expect("short asset"),
        unit,
    }
}

/// A demand for 100 GiB for 30 days.
pub fn demand(consumer: PublicKey, now: Timestamp) -> Demand {
    Demand {
        consumer,
        kind: ResourceKind::Storage,
        volume: 100 * GIB,
        duration_secs: MONTH_SECS,
        redundancy: 2,
        qos: QosTargets {
            availability_bp: 9900,
            ..Default::default()
        },
        regions: BoundedVec::try_from_vec(vec![short("eu-west")]).expect("one region"),
        protocols: BoundedVec::new(),
        max_price: usd(200, PriceUnit::GibMonth),
        nonce: 7,
        created_at: now,
        expires_at: now + 24 * HOUR_SECS,
    }
}

/// A proposal for `volume` bytes over `duration_secs` against `offer` (id `offer_id`), at the
/// offer's price, starting at `now`.
pub fn proposal(
    consumer: PublicKey,
    offer: &Offer,
    offer_id: ObjectId,
    volume: u64,
    duration_secs: u64,
    now: Timestamp,
) -> SlaProposal {
    SlaProposal {
        consumer,
        provider: offer.provider,
        offer_id,
        offer_seq: offer.seq,
        volume,
        duration_secs,
        redundancy: offer.redundancy,
        qos: offer.qos.clone(),
        price: offer.price.clone(),
        total: offer
            .price
            .total(volume, duration_secs)
            .expect("sample totals fit in u64"),
        start: now,
        nonce: 1,
        created_at: now,
        expires_at: now + HOUR_SECS,
    }
}

/// The provider's decision on `proposal` (id `proposal_id`), made at `now`.
pub fn decision(
    proposal: &SlaProposal,
    proposal_id: ObjectId,
    decision: Decision,
    now: Timestamp,
) -> SlaDecision {
    SlaDecision {
        provider: proposal.provider,
        consumer: proposal.consumer,
        proposal_id,
        decision,
        created_at: now,
        expires_at: proposal.end().max(now + 1),
    }
}

/// An attestation of `successes` out of `probes` over the hour before `now`.
pub fn attestation(
    attester: PublicKey,
    subject: PublicKey,
    agreement: Option<ObjectId>,
    probes: u32,
    successes: u32,
    now: Timestamp,
) -> QosAttestation {
    QosAttestation {
        attester,
        subject,
        agreement,
        window_start: now - HOUR_SECS,
        window_end: now,
        probes,
        successes,
        latency_p50_ms: 40,
        latency_p95_ms: 120,
        throughput_bytes_per_sec: 50 << 20,
        bytes_checked: u64::from(successes) * 4096,
        created_at: now,
        expires_at: now + 30 * 24 * HOUR_SECS,
    }
}

/// A certificate from `issuer` about `subject` with one claim.
pub fn certificate(
    issuer: PublicKey,
    subject: PublicKey,
    name: &str,
    value: &str,
    now: Timestamp,
) -> Certificate {
    Certificate {
        issuer,
        subject,
        claims: BoundedVec::try_from_vec(vec![Claim {
            name: short(name),
            value: Text::new(value).expect("short claim value"),
        }])
        .expect("one claim"),
        serial: 1,
        evidence: Some(Hash32::of(b"audit report 2026")),
        created_at: now,
        expires_at: now + 365 * 24 * HOUR_SECS,
    }
}

/// A revocation of `certificate` by `issuer`.
pub fn revocation(issuer: PublicKey, certificate: ObjectId, now: Timestamp) -> Revocation {
    Revocation {
        issuer,
        certificate,
        reason: Text::new("key compromised").expect("short reason"),
        created_at: now,
        expires_at: now + 2 * 365 * 24 * HOUR_SECS,
    }
}

/// A termination of `agreement` by `party`, kept for 30 days.
pub fn termination(party: PublicKey, agreement: ObjectId, now: Timestamp) -> Termination {
    Termination {
        party,
        agreement,
        reason: Text::new("moving the data elsewhere").expect("short reason"),
        created_at: now,
        expires_at: now + MONTH_SECS,
    }
}

/// An access grant for `agreement` whose sealed part is filler (well-formed, opens for no
/// one): for tests of everything but the sealing, which `crate::seal::grant` builds for real.
pub fn access_grant(
    provider: PublicKey,
    consumer: PublicKey,
    agreement: ObjectId,
    now: Timestamp,
) -> AccessGrant {
    AccessGrant {
        provider,
        consumer,
        agreement,
        protocol: DataProtocol::S3,
        sealed: Sealed {
            enc: [9; 32],
            ciphertext: BoundedVec::try_from_vec(vec![7; 64]).expect("short ciphertext"),
        },
        created_at: now,
        expires_at: now + MONTH_SECS,
    }
}

/// A voucher from the consumer of `agreement` promising `cumulative` in its asset, with
/// `sequence`, signed at `now` and kept for a year.
pub fn voucher(
    agreement: &crate::Agreement,
    cumulative: u64,
    sequence: u64,
    now: Timestamp,
) -> PaymentVoucher {
    PaymentVoucher {
        consumer: *agreement.consumer(),
        provider: *agreement.provider(),
        agreement: agreement.proposal_id(),
        asset: agreement.proposal().body().price.asset.clone(),
        cumulative,
        sequence,
        created_at: now,
        expires_at: now + 365 * 24 * HOUR_SECS,
    }
}

/// A dispute by `party` about `agreement`, with no evidence, kept for a year.
pub fn dispute(party: PublicKey, agreement: ObjectId, now: Timestamp) -> Dispute {
    Dispute {
        party,
        agreement,
        claim: Text::new("the data was unreachable for two days").expect("short claim"),
        evidence: BoundedVec::new(),
        created_at: now,
        expires_at: now + 365 * 24 * HOUR_SECS,
    }
}

/// A ruling by `arbiter` on `dispute` (about `agreement`), kept for a year.
pub fn ruling(
    arbiter: PublicKey,
    dispute: ObjectId,
    agreement: ObjectId,
    in_favour_of: Party,
    amount_due: u64,
    now: Timestamp,
) -> Ruling {
    Ruling {
        arbiter,
        dispute,
        agreement,
        in_favour_of,
        amount_due,
        reason: Text::new("the attestations show the outage").expect("short reason"),
        created_at: now,
        expires_at: now + 365 * 24 * HOUR_SECS,
    }
}

/// A quote by `provider` answering `demand` for `consumer` on `offer` (seq 1) at 5 cents a
/// GiB-month, valid for a day.
pub fn quote(
    provider: PublicKey,
    consumer: PublicKey,
    demand: ObjectId,
    offer: ObjectId,
    now: Timestamp,
) -> Quote {
    Quote {
        provider,
        consumer,
        demand_id: demand,
        offer_id: offer,
        offer_seq: 1,
        price: Price {
            amount: 5,
            asset: crate::encoding::BoundedString::new("USD").expect("short asset"),
            unit: PriceUnit::GibMonth,
        },
        created_at: now,
        expires_at: now + 24 * HOUR_SECS,
    }
}
