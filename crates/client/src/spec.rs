//! [`OfferSpec`]: the human-written form of an offer (an `offer.toml` file or CLI flags), turned
//! into a signed-ready [`Offer`] body with every value checked and a clear error otherwise.

use std::str::FromStr;

use flashback_types::{
    BoundedVec, ComplianceDoc, ComputeSpec, DataProtocol, Hash32, Offer, Price, PriceUnit,
    PublicKey, QosTargets, ResourceKind, SignedBody, Text, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::ClientError;
use crate::human::parse_duration;

/// An offer as a provider writes it. Sizes and durations are human strings (`"1 TiB"`,
/// `"30d"`); see `docs/examples/offer.toml` for every field explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferSpec {
    /// The offer's name among the provider's offers (`[A-Za-z0-9._-]`, up to 64).
    pub offer_key: String,
    /// `storage` (default) or `compute`.
    #[serde(default = "default_kind")]
    pub kind: ResourceKind,
    /// Capacity: a size (`"500 GiB"`, `"2 TB"`, or a byte count) for storage, a unit count
    /// for compute (`8` or `"8"`).
    #[serde(deserialize_with = "text_or_integer")]
    pub capacity: String,
    /// Price per GiB-month (storage) or per unit-hour (compute).
    pub price: PriceSpec,
    /// Shortest agreement (`"1h"`, `"30d"`). Default `1h`.
    #[serde(default = "default_min_duration")]
    pub min_duration: String,
    /// Longest agreement. Default `365d`.
    #[serde(default = "default_max_duration")]
    pub max_duration: String,
    /// Region codes (lowercase, `[a-z0-9-]`).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Data protocols: `s3`, `https`, `ipfs`, `sftp`, `flashback_blob`, or any other name.
    pub protocols: Vec<String>,
    /// Where consumers reach the data plane (URL or multiaddr).
    pub endpoint: String,
    /// Service levels promised.
    #[serde(default)]
    pub qos: QosSpec,
    /// Copies kept. Default 1.
    #[serde(default = "default_redundancy")]
    pub redundancy: u8,
    /// Ids (hex) of certificates about the provider.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Jurisdictions the provider operates under (lowercase codes: `eu`, `de`, `us-ca`).
    #[serde(default)]
    pub jurisdictions: Vec<String>,
    /// Legal and compliance documents: title, URL and the blake3 of the document's bytes.
    #[serde(default)]
    pub compliance_docs: Vec<ComplianceDocSpec>,
    /// Compute details (compute offers only).
    #[serde(default)]
    pub compute: Option<ComputeSpecText>,
    /// How long the offer stays valid after publishing (`"30d"`). Default `30d`.
    #[serde(default = "default_valid_for")]
    pub valid_for: String,
    /// Sequence number. Default: the next free one, chosen when publishing
    /// ([`crate::Client::publish_offer`]: above every seq signed for the offer, no lower than
    /// the publishing time); [`OfferSpec::to_offer`] then puts the time here.
    #[serde(default)]
    pub seq: Option<u64>,
}

/// A compliance document as written by a provider (`[[compliance_docs]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceDocSpec {
    /// What it is (up to 128 bytes).
    pub title: String,
    /// Where anyone can fetch it.
    pub url: String,
    /// blake3 of its bytes (64 hex; `b3sum <file>` prints it).
    pub digest: String,
}

/// Price as written by a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSpec {
    /// Integer minor units (cents for USD).
    pub amount: u64,
    /// Asset code, e.g. `USD`, `XLM`.
    pub asset: String,
}

/// QoS as written by a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QosSpec {
    /// Availability in basis points (9990 = 99.90 %).
    pub availability_bp: u16,
    /// 95th-percentile latency in ms (0 = not promised).
    pub p95_latency_ms: u32,
    /// Durability nines (11 = 99.999999999 %).
    pub durability_nines: u8,
    /// Throughput (`"100 MiB"` per second; empty = not promised).
    pub throughput_per_sec: Option<String>,
}

/// Compute details as written by a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeSpecText {
    /// vCPUs per unit.
    pub vcpus: u32,
    /// Memory per unit (`"16 GiB"`, or a byte count).
    #[serde(deserialize_with = "text_or_integer")]
    pub memory: String,
    /// Accelerator model, if any.
    #[serde(default)]
    pub accelerator: String,
}

/// A field written either as a string (`"8"`, `"16 GiB"`) or as a TOML integer (`8`).
fn text_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrInteger {
        Text(String),
        Integer(u64),
    }
    match TextOrInteger::deserialize(d) {
        Ok(TextOrInteger::Text(s)) => Ok(s),
        Ok(TextOrInteger::Integer(n)) => Ok(n.to_string()),
        Err(_) => Err(serde::de::Error::custom(
            "expected a whole number (8) or a string (\"8\", \"16 GiB\")",
        )),
    }
}

fn default_kind() -> ResourceKind {
    ResourceKind::Storage
}
fn default_min_duration() -> String {
    "1h".into()
}
fn default_max_duration() -> String {
    "365d".into()
}
fn default_redundancy() -> u8 {
    1
}
fn default_valid_for() -> String {
    "30d".into()
}

fn bad(field: &str, detail: impl std::fmt::Display) -> ClientError {
    ClientError::InvalidInput(format!("{field}: {detail}"))
}

/// Parses a size: `"1 TiB"`, `"500GB"`, `"1.5 GiB"`, or a plain byte count. Units are those of
/// `bytesize` (B, K/KB … E/EB by 1000, Ki/KiB … Ei/EiB by 1024, any case). A size that does not
/// fit in 64 bits (16 EiB) is refused, never rounded down to the largest.
pub fn parse_size(field: &str, text: &str) -> Result<u64, ClientError> {
    let text = text.trim();
    let not_a_size = |why: String| {
        bad(
            field,
            format!("{text:?} is not a size like \"500 GiB\" ({why})"),
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor = size_unit(unit.trim_start())
        .ok_or_else(|| not_a_size(format!("unknown unit {:?}", unit.trim_start())))?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(not_a_size("no number".into()));
    }
    let too_large = || {
        bad(
            field,
            format!("{text:?} is larger than 16 EiB, the largest size"),
        )
    };
    // Exact arithmetic: whole × factor + fraction × factor, rounded down to a byte.
    let mut bytes: u128 = 0;
    for d in whole.bytes() {
        bytes = bytes
            .checked_mul(10)
            .and_then(|b| b.checked_add(u128::from(d - b'0')))
            .filter(|&b| b <= u128::from(u64::MAX))
            .ok_or_else(too_large)?;
    }
    bytes = bytes
        .checked_mul(u128::from(factor))
        .ok_or_else(too_large)?;
    let mut scale = u128::from(factor);
    for d in fraction.bytes() {
        if d == b'.' {
            return Err(not_a_size("two decimal points".into()));
        }
        bytes += scale * u128::from(d - b'0') / 10;
        scale /= 10;
        if scale == 0 {
            break;
        }
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

/// Bytes per unit of a size, `None` for an unknown unit.
fn size_unit(unit: &str) -> Option<u64> {
    let unit = unit.to_ascii_lowercase();
    let (prefix, binary) = match unit.as_str() {
        "" | "b" => return Some(1),
        u => match u.strip_suffix("ib").or_else(|| u.strip_suffix('i')) {
            Some(p) => (p, true),
            None => (u.strip_suffix('b').unwrap_or(u), false),
        },
    };
    let power = match prefix {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: u64 = if binary { 1024 } else { 1000 };
    Some(base.pow(power))
}

/// Parses a protocol name.
pub fn parse_protocol(text: &str) -> Result<DataProtocol, ClientError> {
    flashback_api::params::parse_protocol(text).map_err(|e| bad("protocols", e))
}

fn sorted_unique<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items.dedup();
    items
}

fn bounded<T, const N: usize>(field: &str, items: Vec<T>) -> Result<BoundedVec<T, N>, ClientError> {
    BoundedVec::try_from_vec(items).map_err(|e| bad(field, e))
}

impl OfferSpec {
    /// Reads an offer file (TOML).
    pub fn from_toml(text: &str) -> Result<Self, ClientError> {
        toml::from_str(text).map_err(|e| {
            ClientError::InvalidInput(format!(
                "offer file: {}",
                e.to_string().lines().collect::<Vec<_>>().join(" ")
            ))
        })
    }

    /// Builds the offer body for `provider` at time `now`, checking every rule an honest node
    /// applies, so a mistake is reported here rather than by the network.
    pub fn to_offer(&self, provider: PublicKey, now: Timestamp) -> Result<Offer, ClientError> {
        let capacity =
            match self.kind {
                ResourceKind::Storage => parse_size("capacity", &self.capacity)?,
                ResourceKind::Compute => self.capacity.trim().parse().map_err(|_| {
                    bad("capacity", "a compute capacity is a whole number of units")
                })?,
            };
        let regions = sorted_unique(
            self.regions
                .iter()
                .map(|r| r.as_str().try_into().map_err(|e| bad("regions", e)))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let protocols = sorted_unique(
            self.protocols
                .iter()
                .map(|p| parse_protocol(p))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let hashes = |field: &str, list: &[String]| -> Result<Vec<Hash32>, ClientError> {
            list.iter()
                .map(|h| Hash32::from_str(h).map_err(|e| bad(field, e)))
                .collect::<Result<Vec<_>, _>>()
                .map(sorted_unique)
        };
        let jurisdictions = sorted_unique(
            self.jurisdictions
                .iter()
                .map(|j| j.trim().try_into().map_err(|e| bad("jurisdictions", e)))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let docs = sorted_unique(
            self.compliance_docs
                .iter()
                .map(|d| {
                    let field = format!("compliance_docs {:?}", d.title);
                    Ok(ComplianceDoc {
                        title: d.title.trim().try_into().map_err(|e| bad(&field, e))?,
                        url: d.url.trim().try_into().map_err(|e| bad(&field, e))?,
                        digest: Hash32::from_str(d.digest.trim()).map_err(|e| bad(&field, e))?,
                    })
                })
                .collect::<Result<Vec<_>, ClientError>>()?,
        );
        let throughput = match &self.qos.throughput_per_sec {
            Some(t) if !t.trim().is_empty() => parse_size("qos.throughput_per_sec", t)?,
            _ => 0,
        };
        let compute = match &self.compute {
            None if self.kind == ResourceKind::Compute => {
                return Err(bad(
                    "compute",
                    "a compute offer needs its compute details: a [compute] section with vcpus \
                     and memory (and accelerator, if any), or --vcpus and --memory",
                ));
            }
            Some(_) if self.kind == ResourceKind::Storage => {
                return Err(bad(
                    "compute",
                    "compute details belong to compute offers only: set kind = \"compute\" or \
                     remove the [compute] section",
                ));
            }
            Some(c) => Some(ComputeSpec {
                vcpus: c.vcpus,
                memory_bytes: parse_size("compute.memory", &c.memory)?,
                accelerator: c
                    .accelerator
                    .as_str()
                    .try_into()
                    .map_err(|e| bad("compute.accelerator", e))?,
            }),
            None => None,
        };
        let offer = Offer {
            provider,
            offer_key: self
                .offer_key
                .as_str()
                .try_into()
                .map_err(|e| bad("offer_key", e))?,
            seq: self.seq.unwrap_or(now),
            withdrawn: false,
            kind: self.kind,
            capacity,
            price: Price {
                amount: self.price.amount,
                asset: self
                    .price
                    .asset
                    .as_str()
                    .try_into()
                    .map_err(|e| bad("price.asset", e))?,
                unit: PriceUnit::for_kind(self.kind),
            },
            min_duration_secs: parse_duration("min_duration", &self.min_duration)?,
            max_duration_secs: parse_duration("max_duration", &self.max_duration)?,
            regions: bounded("regions", regions)?,
            protocols: bounded("protocols", protocols)?,
            endpoint: Text::new(self.endpoint.clone()).map_err(|e| bad("endpoint", e))?,
            qos: QosTargets {
                availability_bp: self.qos.availability_bp,
                p95_latency_ms: self.qos.p95_latency_ms,
                durability_nines: self.qos.durability_nines,
                throughput_bytes_per_sec: throughput,
            },
            redundancy: self.redundancy,
            certificates: bounded("certificates", hashes("certificates", &self.certificates)?)?,
            jurisdictions: bounded("jurisdictions", jurisdictions)?,
            compliance_docs: bounded("compliance_docs", docs)?,
            compute,
            created_at: now,
            expires_at: now.saturating_add(parse_duration("valid_for", &self.valid_for)?),
        };
        offer
            .check()
            .map_err(|e| ClientError::InvalidInput(format!("offer is not valid: {}", e.detail)))?;
        Ok(offer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
offer_key = "eu"
capacity = "1 TiB"
protocols = ["s3"]
endpoint = "https://s3.example.net"
jurisdictions = ["eu", "de"]
[price]
amount = 120
asset = "USD"
"#;

    fn doc(digest: &str) -> String {
        format!(
            "{BASE}[[compliance_docs]]\ntitle = \"DPA\"\nurl = \"http://legal.example.net/dpa\"\n\
             digest = \"{digest}\"\n"
        )
    }

    #[test]
    fn jurisdictions_and_documents_become_sorted_signed_fields() {
        let digest = Hash32::of(b"dpa").to_string();
        let key = flashback_types::SecretKey::generate().public();
        let offer = OfferSpec::from_toml(&doc(&digest))
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap();
        let codes: Vec<&str> = offer.jurisdictions.iter().map(|j| j.as_str()).collect();
        assert_eq!(codes, ["de", "eu"]);
        assert_eq!(offer.compliance_docs[0].title.as_str(), "DPA");
        assert_eq!(offer.compliance_docs[0].digest.to_string(), digest);
    }

    const COMPUTE: &str = r#"
offer_key = "gpu"
kind = "compute"
capacity = 8
protocols = ["https"]
endpoint = "https://compute.example.net"
[price]
amount = 90
asset = "USD"
[compute]
vcpus = 16
memory = "64 GiB"
accelerator = "a100"
"#;

    #[test]
    fn a_compute_capacity_is_an_integer_or_a_string() {
        let key = flashback_types::SecretKey::generate().public();
        let as_integer = OfferSpec::from_toml(COMPUTE)
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap();
        assert_eq!(as_integer.capacity, 8);
        let compute = as_integer.compute.expect("compute details");
        assert_eq!(
            (compute.vcpus, compute.memory_bytes),
            (16, 64 * flashback_types::GIB)
        );
        let as_string = COMPUTE.replace("capacity = 8", "capacity = \"8\"");
        let offer = OfferSpec::from_toml(&as_string)
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap();
        assert_eq!(offer.capacity, 8);
        // Memory as a plain byte count, too.
        let bytes = COMPUTE.replace("\"64 GiB\"", "68719476736");
        let offer = OfferSpec::from_toml(&bytes)
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap();
        assert_eq!(
            offer.compute.unwrap().memory_bytes,
            64 * flashback_types::GIB
        );
        let err = OfferSpec::from_toml(&COMPUTE.replace("capacity = 8", "capacity = 8.5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("whole number"), "{err}");
    }

    #[test]
    fn a_compute_offer_without_its_details_says_what_is_missing() {
        let key = flashback_types::SecretKey::generate().public();
        let without = &COMPUTE[..COMPUTE.find("[compute]").unwrap()];
        let err = OfferSpec::from_toml(without)
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[compute] section"), "{err}");
        let storage = COMPUTE.replace("kind = \"compute\"", "kind = \"storage\"");
        let err = OfferSpec::from_toml(&storage)
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("compute offers only"), "{err}");
    }

    #[test]
    fn bad_documents_and_codes_name_the_field() {
        let key = flashback_types::SecretKey::generate().public();
        let err = OfferSpec::from_toml(&doc("not-hex"))
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("compliance_docs \"DPA\""), "{err}");
        let upper = BASE.replace("\"eu\", \"de\"", "\"EU\"");
        let err = OfferSpec::from_toml(&upper)
            .unwrap()
            .to_offer(key, 1_800_000_000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("jurisdictions"), "{err}");
    }
}
