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
