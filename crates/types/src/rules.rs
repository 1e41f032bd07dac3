//! The stateless field rules of each signed kind (all labelled Reject: a body that breaks one
//! was signed that way, so it is provably bad).

use crate::bodies::{
    AccessGrant, Certificate, ComplianceDoc, DataProtocol, Demand, Dispute, Offer, PaymentVoucher,
    Price, PriceUnit, QosAttestation, QosTargets, Quote, ResourceKind, Revocation, Ruling,
    SlaDecision, SlaProposal, Termination, Timestamp,
};
use crate::encoding::BoundedString;
use crate::keys::PublicKey;
use crate::kind::Kind;
use crate::signed::SignedBody;
use crate::validate::ObjectError;

fn ensure(cond: bool, detail: impl FnOnce() -> String) -> Result<(), ObjectError> {
    if cond {
        Ok(())
    } else {
        Err(ObjectError::field(detail()))
    }
}

fn sorted_unique<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|w| w[0] < w[1])
}

fn is_ident(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// Offer keys: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn valid_offer_key(s: &str) -> bool {
    is_ident(s, &['.', '_', '-'])
}

/// Region codes: 1 to 64 of `[a-z0-9-]`.
pub fn valid_region(s: &str) -> bool {
    is_ident(s, &['-']) && !s.chars().any(|c| c.is_ascii_uppercase())
}

/// Names of data protocols outside the named ones (`DataProtocol::Other`): 1 to 64 of
/// `[a-z0-9._-]`.
pub fn valid_protocol_name(s: &str) -> bool {
    is_ident(s, &['.', '_', '-']) && !s.chars().any(|c| c.is_ascii_uppercase())
}

/// URL schemes an offer's endpoint may use: the data planes the protocol knows. Anything else
/// (`javascript:`, `data:`, `file:`) is refused: an endpoint is shown to people and opened by
/// tools, so it must name a data plane and nothing that runs.
pub const ENDPOINT_SCHEMES: [&str; 5] = ["http", "https", "s3", "ipfs", "sftp"];

/// An offer's endpoint (PROTOCOL.md §3): printable ASCII without spaces, quotes, angle
/// brackets, backslashes or control characters, and either a URL `<scheme>://<something>` with
/// a scheme of [`ENDPOINT_SCHEMES`] (lowercase), or a multiaddr (`/proto/value/…`, each part of
/// `[A-Za-z0-9._~:%+=-]`, at least one `/name/value` pair).
pub fn valid_endpoint(s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "endpoint holds {c:?}: only printable ASCII without spaces is allowed"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}'))
    {
        return Err(format!(
            "endpoint holds {c:?}, which no URL or multiaddr has"
        ));
    }
    if let Some(rest) = s.strip_prefix('/') {
        let parts: Vec<&str> = rest.split('/').collect();
        let part_ok = |p: &&str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._~:%+=-".contains(c))
        };
        return if parts.len() >= 2 && parts.iter().all(part_ok) {
            Ok(())
        } else {
            Err(format!(
                "endpoint {s:?} is not a multiaddr like /dns4/host/tcp/443"
            ))
        };
    }
    match s.split_once("://") {
        Some((scheme, rest)) if ENDPOINT_SCHEMES.contains(&scheme) && !rest.is_empty() => Ok(()),
        _ => Err(format!(
            "endpoint {s:?} is neither a URL with scheme {} nor a multiaddr",
            ENDPOINT_SCHEMES.join(", ")
        )),
    }
}

/// Asset codes: 1 to 12 of `[A-Z0-9]`.
pub fn valid_asset(s: &str) -> bool {
    is_ident(s, &[]) && !s.chars().any(|c| c.is_ascii_lowercase())
}

fn check_price(price: &Price, kind: ResourceKind, what: &str) -> Result<(), ObjectError> {
    ensure(valid_asset(&price.asset), || {
        format!(
            "{what}: asset code {:?} is not 1-12 of A-Z0-9",
            price.asset.as_str()
        )
    })?;
    ensure(price.unit == PriceUnit::for_kind(kind), || {
        format!(
            "{what}: a {kind:?} price must be quoted {:?}",
            PriceUnit::for_kind(kind)
        )
    })
}

fn check_qos(qos: &QosTargets) -> Result<(), ObjectError> {
    ensure(qos.availability_bp <= 10_000, || {
        format!("availability_bp {} exceeds 10000", qos.availability_bp)
    })?;
    ensure(qos.durability_nines <= 20, || {
        format!("durability_nines {} exceeds 20", qos.durability_nines)
    })
}

fn check_redundancy(r: u8) -> Result<(), ObjectError> {
    ensure((1..=16).contains(&r), || {
        format!("redundancy {r} is not 1..=16")
    })
}

fn check_protocols(protocols: &[DataProtocol]) -> Result<(), ObjectError> {
    for p in protocols {
        if let DataProtocol::Other(name) = p {
            ensure(valid_protocol_name(name), || {
                format!(
                    "protocol name {:?} is not 1-64 of [a-z0-9._-]",
                    name.as_str()
                )
            })?;
        }
    }
    ensure(sorted_unique(protocols), || {
        "protocols must be sorted and unique".into()
    })
}

fn check_regions(regions: &[BoundedString<64>]) -> Result<(), ObjectError> {
    check_codes("regions", regions)
}

/// Region and jurisdiction codes: lowercase `[a-z0-9-]`, sorted, unique.
fn check_codes(what: &str, codes: &[BoundedString<64>]) -> Result<(), ObjectError> {
    ensure(codes.iter().all(|r| valid_region(r)), || {
        format!("{what} must be lowercase [a-z0-9-]")
    })?;
    ensure(sorted_unique(codes), || {
        format!("{what} must be sorted and unique")
    })
}

/// Claim names (the schemes of a trust store): 1 to 64 of `[A-Za-z0-9._-]`.
pub fn valid_claim_name(s: &str) -> bool {
    is_ident(s, &['.', '_', '-'])
}

fn check_docs(docs: &[ComplianceDoc]) -> Result<(), ObjectError> {
    for d in docs {
        ensure(!d.title.trim().is_empty(), || {
            "a compliance document needs a title".into()
        })?;
        ensure(
            !d.url.is_empty() && !d.url.chars().any(|c| c.is_whitespace() || c.is_control()),
            || {
                format!(
                    "compliance document {:?}: its url must be non-empty, without spaces",
                    d.title.as_str()
                )
            },
        )?;
    }
    ensure(sorted_unique(docs), || {
        "compliance_docs must be sorted and unique".into()
    })
}

fn distinct(a: &PublicKey, b: &PublicKey, what: &str) -> Result<(), ObjectError> {
    ensure(a != b, || format!("{what} must be two different keys"))
}

macro_rules! signed_body {
    ($ty:ty, $kind:expr, $author:ident) => {
        impl SignedBody for $ty {
            const KIND: Kind = $kind;

            fn author(&self) -> &PublicKey {
                &self.$author
            }

            fn created_at(&self) -> Timestamp {
                self.created_at
            }

            fn expires_at(&self) -> Timestamp {
                self.expires_at
            }

            fn check_fields(&self) -> Result<(), ObjectError> {
                Fields::check(self)
            }
        }
    };
}

signed_body!(Offer, Kind::Offer, provider);
signed_body!(Demand, Kind::Demand, consumer);
signed_body!(SlaProposal, Kind::SlaProposal, consumer);
signed_body!(SlaDecision, Kind::SlaDecision, provider);
signed_body!(QosAttestation, Kind::QosAttestation, attester);
signed_body!(Certificate, Kind::Certificate, issuer);
signed_body!(Revocation, Kind::Revocation, issuer);
signed_body!(Quote, Kind::Quote, provider);
signed_body!(Termination, Kind::Termination, party);
signed_body!(AccessGrant, Kind::AccessGrant, provider);
signed_body!(PaymentVoucher, Kind::PaymentVoucher, consumer);
signed_body!(Dispute, Kind::Dispute, party);
signed_body!(Ruling, Kind::Ruling, arbiter);

trait Fields {
    fn check(&self) -> Result<(), ObjectError>;
}

impl Fields for Offer {
    fn check(&self) -> Result<(), ObjectError> {
        ensure(valid_offer_key(&self.offer_key), || {
            format!(
                "offer_key {:?} is not 1-64 of [A-Za-z0-9._-]",
                self.offer_key.as_str()
            )
        })?;
        ensure(self.capacity > 0 || self.withdrawn, || {
            "capacity must be positive".into()
        })?;
        ensure(self.withdrawn || self.seq <= Offer::MAX_LIVE_SEQ, || {
            format!(
                "seq {} leaves no seq for the offer's withdrawal: a live offer's seq is at most {}",
                self.seq,
                Offer::MAX_LIVE_SEQ
            )
        })?;
        check_price(&self.price, self.kind, "price")?;
        ensure(self.max_duration_secs > 0, || {
            "max_duration_secs must be positive".into()
        })?;
        ensure(self.min_duration_secs <= self.max_duration_secs, || {
            format!(
                "min_duration_secs {} exceeds max_duration_secs {}",
                self.min_duration_secs, self.max_duration_secs
            )
        })?;
        check_regions(&self.regions)?;
        ensure(!self.protocols.is_empty(), || {
            "at least one protocol is required".into()
        })?;
        check_protocols(&self.protocols)?;
        valid_endpoint(&self.endpoint).map_err(ObjectError::field)?;
        check_qos(&self.qos)?;
        check_redundancy(self.redundancy)?;
        ensure(sorted_unique(&self.certificates), || {
            "certificates must be sorted and unique".into()
        })?;
        check_codes("jurisdictions", &self.jurisdictions)?;
        check_docs(&self.compliance_docs)?;
        ensure(
            self.compute.is_some() == (self.kind == ResourceKind::Compute),
            || "compute details are required for compute offers and only for them".into(),
        )
    }
}

impl Fields for Demand {
    fn check(&self) -> Result<(), ObjectError> {
        ensure(self.volume > 0, || "volume must be positive".into())?;
        ensure(self.duration_secs > 0, || {
            "duration_secs must be positive".into()
        })?;
        check_redundancy(self.redundancy)?;
        check_qos(&self.qos)?;
        check_regions(&self.regions)?;
        check_protocols(&self.protocols)?;
        check_price(&self.max_price, self.kind, "max_price")
    }
}

impl Fields for Quote {
    fn check(&self) -> Result<(), ObjectError> {
        distinct(&self.provider, &self.consumer, "provider and consumer")?;
        ensure(self.demand_id != self.offer_id, || {
            "demand_id and offer_id must name two different objects".into()
        })?;
        ensure(
            self.demand_id != crate::keys::Hash32([0; 32])
                && self.offer_id != crate::keys::Hash32([0; 32]),
            || "demand_id and offer_id must be object ids, not zero".into(),
        )?;
        ensure(valid_asset(&self.price.asset), || {
            "price: invalid asset code".into()
        })?;
        ensure(self.price.amount > 0, || "price must be positive".into())
    }
}

impl Fields for SlaProposal {
    fn check(&self) -> Result<(), ObjectError> {
        distinct(&self.consumer, &self.provider, "consumer and provider")?;
        ensure(self.volume > 0, || "volume must be positive".into())?;
        ensure(self.duration_secs > 0, || {
            "duration_secs must be positive".into()
        })?;
        ensure(self.start.checked_add(self.duration_secs).is_some(), || {
            "start + duration_secs overflows".into()
        })?;
        check_redundancy(self.redundancy)?;
        check_qos(&self.qos)?;
        ensure(valid_asset(&self.price.asset), || {
            "invalid asset code".into()
        })?;
        let expected = self.price.total(self.volume, self.duration_secs);
        ensure(expected == Some(self.total), || match expected {
            Some(t) => format!(
                "total {} does not match price × volume × duration = {t}",
                self.total
            ),
            None => "price × volume × duration overflows".into(),
        })
    }
}

impl Fields for SlaDecision {
    fn check(&self) -> Result<(), ObjectError> {
        distinct(&self.consumer, &self.provider, "consumer and provider")
    }
}

impl Fields for QosAttestation {
    fn check(&self) -> Result<(), ObjectError> {
        distinct(&self.attester, &self.subject, "attester and subject")?;
        ensure(self.window_start < self.window_end, || {
            "window_start must be before window_end".into()
        })?;
        ensure(self.window_end <= self.created_at, || {
            "window_end is after created_at: a window is attested once it is over".into()
        })?;
        ensure(self.successes <= self.probes, || {
            format!("successes {} exceed probes {}", self.successes, self.probes)
        })?;
        ensure(self.latency_p50_ms <= self.latency_p95_ms, || {
            "latency_p50_ms exceeds latency_p95_ms".into()
        })
    }
}

impl Fields for Certificate {
    fn check(&self) -> Result<(), ObjectError> {
        distinct(&self.issuer, &self.subject, "issuer and subject")?;
        ensure(!self.claims.is_empty(), || {
            "a certificate needs a claim".into()
        })?;
        ensure(
            self.claims.iter().all(|c| valid_claim_name(&c.name)),
            || "claim names must be [A-Za-z0-9._-]".into(),
        )?;
        ensure(self.claims.iter().all(|c| !c.value.is_empty()), || {
            "claim values must not be empty".into()
        })?;
        ensure(sorted_unique(&self.claims), || {
            "claims must be sorted and unique".into()
        })
    }
}

impl Fields for Revocation {
    fn check(&self) -> Result<(), ObjectError> {
        Ok(())
    }
}

impl Fields for Termination {
    fn check(&self) -> Result<(), ObjectError> {
        ensure(!self.reason.trim().is_empty(), || {
            "a termination needs a reason".into()
        })
    }
}

impl Fields for AccessGrant {
    fn check(&self) -> Result<(), ObjectError> {
        distinct(&self.provider, &self.consumer, "provider and consumer")?;
        ensure(
            self.sealed.ciphertext.len() > crate::seal::TAG_BYTES,
            || "the sealed credentials are shorter than their authentication tag".into(),
        )
    }
}

impl Fields for PaymentVoucher {
    fn check(&self) -> Result<(), ObjectError> {
        distinct(&self.consumer, &self.provider, "consumer and provider")?;
        ensure(valid_asset(&self.asset), || {
            format!("asset code {:?} is not 1-12 of A-Z0-9", self.asset.as_str())
        })?;
        ensure(self.cumulative > 0, || {
            "a voucher promises a positive cumulative amount".into()
        })?;
        ensure(self.sequence > 0, || {
            "sequence starts at 1: 0 is below every voucher".into()
        })
    }
}

impl Fields for Dispute {
    fn check(&self) -> Result<(), ObjectError> {
        ensure(!self.claim.trim().is_empty(), || {
            "a dispute needs a claim".into()
        })?;
        ensure(sorted_unique(&self.evidence), || {
            "evidence ids must be sorted and unique".into()
        })
    }
}

impl Fields for Ruling {
    fn check(&self) -> Result<(), ObjectError> {
        ensure(!self.reason.trim().is_empty(), || {
            "a ruling needs a reason".into()
        })
    }
}
