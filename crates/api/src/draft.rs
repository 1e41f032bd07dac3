//! What a gateway sends to have the node sign for it with an account key it holds: an offer's
//! terms ([`OfferDraft`], `POST /api/v1/offers`) and a proposal's ([`ProposalDraft`],
//! `POST /api/v1/proposals`). Typed, so that the OpenAPI document describes every field and a
//! gateway can generate its client; the fields a signer sets (keys, seq, times) are not in
//! them.

use flashback_types::{
    BoundedString, BoundedVec, ComplianceDoc, ComputeSpec, DataProtocol, Hash32, Offer, Price,
    PriceUnit, PublicKey, QosTargets, ResourceKind, Timestamp,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An offer's terms, as the node signs them with an account key: the offer's body without
/// `provider` (the account's key), `seq` (the next free one), `withdrawn`, `created_at` and
/// `expires_at` (now, and now plus the request's `valid_secs`). The node checks every rule of
/// an offer before it signs (`docs/PROTOCOL.md`, "Offer").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferDraft {
    /// The provider's name for this offer: 1 to 64 of `A-Z a-z 0-9 . _ -`. A new version of
    /// an offer keeps its key.
    pub offer_key: String,
    /// What is sold.
    pub kind: KindDraft,
    /// Capacity offered: bytes (storage) or units (compute).
    pub capacity: u64,
    /// Price per unit.
    pub price: PriceDraft,
    /// Shortest agreement accepted, seconds.
    pub min_duration_secs: u64,
    /// Longest agreement accepted, seconds (at least `min_duration_secs`).
    pub max_duration_secs: u64,
    /// Region codes (`eu-west`, `us-east`), sorted and unique, at most 16.
    pub regions: Vec<String>,
    /// Data protocols served, sorted and unique, 1 to 8.
    pub protocols: Vec<ProtocolDraft>,
    /// Where the data plane is reached (URL or multiaddr, at most 256 bytes).
    pub endpoint: String,
    /// QoS the provider commits to.
    #[serde(default)]
    pub qos: QosDraft,
    /// Copies kept (1 to 16).
    pub redundancy: u8,
    /// Ids of certificates about this provider, hex, sorted and unique, at most 16.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Jurisdictions the provider operates under (`eu`, `de`, `us-ca`), sorted and unique, at
    /// most 16.
    #[serde(default)]
    pub jurisdictions: Vec<String>,
    /// Legal and compliance documents, sorted and unique, at most 8.
    #[serde(default)]
    pub compliance_docs: Vec<ComplianceDocDraft>,
    /// Compute details: present exactly when `kind` is `compute`.
    #[serde(default)]
    pub compute: Option<ComputeDraft>,
}

/// What an offer sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindDraft {
    /// Storage, in bytes, priced per GiB-month.
    Storage,
    /// Compute, in units, priced per unit-hour.
    Compute,
}

/// The unit a price is quoted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitDraft {
    /// Per GiB (2^30 bytes) for 30 days (storage).
    GibMonth,
    /// Per compute unit for one hour (compute).
    UnitHour,
}

/// A unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceDraft {
    /// Integer minor units per `unit` (cents for USD).
    pub amount: u64,
    /// Asset code: 1 to 12 of `A-Z 0-9` (`USD`, `XLM`).
    pub asset: String,
    /// `gib_month` for storage, `unit_hour` for compute.
    pub unit: UnitDraft,
}

/// A data protocol: one of the known names, or `{"other": "<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolDraft {
    /// S3-compatible object API.
    S3,
    /// Plain HTTPS PUT/GET.
    Https,
    /// IPFS.
    Ipfs,
    /// SFTP.
    Sftp,
    /// Flashback's reference blob endpoint.
    FlashbackBlob,
    /// Any other protocol, named (1 to 64 bytes).
    Other(String),
}

/// QoS targets; a target left out is 0 (not promised).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct QosDraft {
    /// Availability in basis points (9990 = 99.90 %), at most 10000.
    pub availability_bp: u16,
    /// 95th-percentile request latency, milliseconds.
    pub p95_latency_ms: u32,
    /// Durability as a count of nines, at most 20.
    pub durability_nines: u8,
    /// Sustained throughput, bytes per second.
    pub throughput_bytes_per_sec: u64,
}

/// A legal or compliance document anyone can fetch and check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceDocDraft {
    /// What it is (1 to 128 bytes).
    pub title: String,
    /// Where it is published (1 to 256 bytes, no whitespace).
    pub url: String,
    /// blake3 of its bytes, hex.
    pub digest: String,
}

/// Compute details of a compute offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeDraft {
    /// Virtual CPUs per unit.
    pub vcpus: u32,
    /// Memory per unit, bytes.
    pub memory_bytes: u64,
    /// Accelerator model; empty when none.
    #[serde(default)]
    pub accelerator: String,
}

/// A proposal's terms, as the node signs them with an account key (the consumer's): the
/// price, redundancy and QoS are the offer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalDraft {
    /// The account's name (`flashback api import-key --name`): the consumer.
    pub account: String,
    /// The offer to answer: its id, hex, or a unique prefix (8+ hex).
    pub offer: String,
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Start of service, Unix seconds (default: now).
    #[serde(default)]
    pub start: Option<u64>,
    /// How long the provider has to decide, seconds (default 60).
    #[serde(default)]
    pub decide_within_secs: Option<u64>,
    /// How long the request waits for the provider's decision and the agreement, seconds
    /// (default 0: answer at once with status `pending`; at most 20). Poll
    /// `GET /api/v1/proposals/{id}` for the rest.
    #[serde(default)]
    pub wait_secs: Option<u32>,
}

fn text<const N: usize>(field: &str, value: &str) -> Result<BoundedString<N>, String> {
    BoundedString::new(value).map_err(|e| format!("{field}: {e}"))
}

fn list<T, const N: usize>(field: &str, items: Vec<T>) -> Result<BoundedVec<T, N>, String> {
    BoundedVec::try_from_vec(items).map_err(|e| format!("{field}: {e}"))
}

fn hash(field: &str, value: &str) -> Result<Hash32, String> {
    value.parse().map_err(|e| format!("{field} {value:?}: {e}"))
}

impl OfferDraft {
    /// The offer body `provider` signs: at `seq`, created at `created_at`, valid until
    /// `expires_at`. Only the lengths are checked here; the protocol's other rules are checked
    /// when the offer is signed.
    pub fn into_offer(
        self,
        provider: PublicKey,
        seq: u64,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Offer, String> {
        let texts = |field: &str, items: Vec<String>| {
            items
                .iter()
                .map(|s| text(field, s))
                .collect::<Result<Vec<_>, _>>()
        };
        let protocols = self
            .protocols
            .into_iter()
            .map(|p| {
                Ok(match p {
                    ProtocolDraft::S3 => DataProtocol::S3,
                    ProtocolDraft::Https => DataProtocol::Https,
                    ProtocolDraft::Ipfs => DataProtocol::Ipfs,
                    ProtocolDraft::Sftp => DataProtocol::Sftp,
                    ProtocolDraft::FlashbackBlob => DataProtocol::FlashbackBlob,
                    ProtocolDraft::Other(name) => DataProtocol::Other(text("protocols", &name)?),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let certificates = self
            .certificates
            .iter()
            .map(|c| hash("certificates", c))
            .collect::<Result<Vec<_>, _>>()?;
        let compliance_docs = self
            .compliance_docs
            .into_iter()
            .map(|d| {
                Ok(ComplianceDoc {
                    title: text("compliance_docs.title", &d.title)?,
                    url: text("compliance_docs.url", &d.url)?,
                    digest: hash("compliance_docs.digest", &d.digest)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let compute = match self.compute {
            Some(c) => Some(ComputeSpec {
                vcpus: c.vcpus,
                memory_bytes: c.memory_bytes,
                accelerator: text("compute.accelerator", &c.accelerator)?,
            }),
            None => None,
        };
        Ok(Offer {
            provider,
            offer_key: text("offer_key", &self.offer_key)?,
            seq,
            withdrawn: false,
            kind: match self.kind {
                KindDraft::Storage => ResourceKind::Storage,
                KindDraft::Compute => ResourceKind::Compute,
            },
            capacity: self.capacity,
            price: Price {
                amount: self.price.amount,
                asset: text("price.asset", &self.price.asset)?,
                unit: match self.price.unit {
                    UnitDraft::GibMonth => PriceUnit::GibMonth,
                    UnitDraft::UnitHour => PriceUnit::UnitHour,
                },
            },
            min_duration_secs: self.min_duration_secs,
            max_duration_secs: self.max_duration_secs,
            regions: list("regions", texts("regions", self.regions)?)?,
            protocols: list("protocols", protocols)?,
            endpoint: text("endpoint", &self.endpoint)?,
            qos: QosTargets {
                availability_bp: self.qos.availability_bp,
                p95_latency_ms: self.qos.p95_latency_ms,
                durability_nines: self.qos.durability_nines,
                throughput_bytes_per_sec: self.qos.throughput_bytes_per_sec,
            },
            redundancy: self.redundancy,
            certificates: list("certificates", certificates)?,
            jurisdictions: list("jurisdictions", texts("jurisdictions", self.jurisdictions)?)?,
            compliance_docs: list("compliance_docs", compliance_docs)?,
            compute,
            created_at,
            expires_at,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use flashback_types::{SecretKey, samples};

    /// The draft's JSON is the offer's own JSON encoding less the fields a signer sets: the
    /// offer's JSON, with those removed, reads as a draft that makes the same offer.
    #[test]
    fn an_offers_json_without_the_signers_fields_is_a_draft_of_it() {
        let key = SecretKey::generate().public();
        let mut offers = vec![samples::offer(key, "eu-hot", 7, 1_000)];
        let mut compute = samples::offer(key, "gpu", 8, 1_000);
        compute.kind = ResourceKind::Compute;
        compute.price.unit = PriceUnit::UnitHour;
        compute.protocols = BoundedVec::try_from_vec(vec![
            DataProtocol::Https,
            DataProtocol::Other("grpc".try_into().unwrap()),
        ])
        .unwrap();
        compute.compute = Some(ComputeSpec {
            vcpus: 4,
            memory_bytes: 8 << 30,
            accelerator: "a100".try_into().unwrap(),
        });
        offers.push(compute);
        for offer in offers {
            let mut json = serde_json::to_value(&offer).unwrap();
            let map = json.as_object_mut().unwrap();
            for field in ["provider", "seq", "withdrawn", "created_at", "expires_at"] {
                map.remove(field);
            }
            let draft: OfferDraft = serde_json::from_value(json).unwrap();
            let back = draft
                .into_offer(key, offer.seq, offer.created_at, offer.expires_at)
                .unwrap();
            assert_eq!(back, offer);
        }
    }

    #[test]
    fn a_draft_too_long_says_which_field() {
        let key = SecretKey::generate().public();
        let mut json = serde_json::to_value(samples::offer(key, "eu-hot", 7, 1_000)).unwrap();
        let map = json.as_object_mut().unwrap();
        for field in ["provider", "seq", "withdrawn", "created_at", "expires_at"] {
            map.remove(field);
        }
        map.insert("endpoint".into(), "x".repeat(300).into());
        let draft: OfferDraft = serde_json::from_value(json).unwrap();
        let err = draft.into_offer(key, 1, 1, 2).unwrap_err();
        assert!(err.starts_with("endpoint"), "{err}");
    }
}

/// A deal request (`POST /api/v1/deals`), as `flashback deal make` takes it: the node makes the
/// deal in the background with an account key it holds (the consumer's): it publishes a
/// demand, collects quotes for `window_secs`, picks with the optimizer, proposes, verifies each
/// acceptance on the provider's data plane, and replaces any pick that fails. Only full copies
/// (`replicas`); every other field has the CLI's default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealDraft {
    /// The account's name (`flashback api import-key --name`): the consumer who signs.
    pub account: String,
    /// What is bought (default `storage`).
    #[serde(default = "storage")]
    pub kind: KindDraft,
    /// Bytes (storage) or units (compute).
    pub volume: u64,
    /// Seconds of service.
    pub duration_secs: u64,
    /// Full copies, each on its own provider (default 1, at most 255).
    #[serde(default = "one")]
    pub replicas: u8,
    /// Total budget, minor units of `asset` (default: none); offers in other assets are
    /// excluded.
    #[serde(default)]
    pub budget: Option<u64>,
    /// The asset costs are counted in (default `USD`).
    #[serde(default = "usd")]
    pub asset: String,
    /// Allowed regions (default: any).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Acceptable data protocols (`flashback_blob`, `s3`, …; default: any the node's client
    /// speaks on the data plane).
    #[serde(default)]
    pub protocols: Vec<String>,
    /// Each pick's availability at least this, basis points (9990 is 99.9 %).
    #[serde(default)]
    pub min_availability_bp: Option<u16>,
    /// Each pick's promised p95 latency at most this, milliseconds.
    #[serde(default)]
    pub max_p95_latency_ms: Option<u32>,
    /// Each pick's promised throughput at least this, bytes per second.
    #[serde(default)]
    pub min_throughput: Option<u64>,
    /// Probability of losing access to the data at most this (picks failing independently).
    #[serde(default)]
    pub loss_target: Option<f64>,
    /// At most this many picks in one region.
    #[serde(default)]
    pub max_per_region: Option<u32>,
    /// At least this many distinct regions among the picks.
    #[serde(default)]
    pub min_regions: u32,
    /// Each pick's provider reputation at least this (0.0 to 1.0).
    #[serde(default)]
    pub min_reputation: Option<f64>,
    /// With `min_reputation`: at most this many picks may be unrated providers.
    #[serde(default)]
    pub explore: u32,
    /// Claims every pick must hold, `name=value`, by the node's trust store unless
    /// `trust_issuers` say whom to trust.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Certificate issuers trusted for any claim, public keys in hex, instead of the node's
    /// trust store.
    #[serde(default)]
    pub trust_issuers: Vec<String>,
    /// Minimise the loss probability within the budget instead of the cost.
    #[serde(default)]
    pub maximize_availability: bool,
    /// Anti-herding: the answer may cost this much more than the optimum, basis points (0 to
    /// 1000, default 100).
    #[serde(default)]
    pub tolerance_bp: Option<u16>,
    /// How long quotes are collected after the demand is published, seconds (1 to 600,
    /// default 10).
    #[serde(default)]
    pub window_secs: Option<u64>,
    /// How long each provider has to decide a proposal, seconds (1 to 3600, default 30).
    #[serde(default)]
    pub decide_within_secs: Option<u64>,
    /// Store-and-read-back probes on each new agreement's data plane, 1 to 100 (default 3).
    #[serde(default)]
    pub probes: Option<u32>,
    /// Size of the blob each probe stores and reads back, bytes (default 65536).
    #[serde(default)]
    pub check_bytes: Option<u64>,
}

fn storage() -> KindDraft {
    KindDraft::Storage
}

fn one() -> u8 {
    1
}

fn usd() -> String {
    "USD".to_owned()
}
