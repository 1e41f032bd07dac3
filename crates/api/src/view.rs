//! The objects as JSON: one type per thing a gateway or a script reads, built from the signed
//! objects. The API and the CLI's `--json` print these and nothing else, so the same object
//! has the same fields everywhere.

use flashback_types::trust::Judged;
use flashback_types::wire::{NodeStatus, ProviderReport};
use flashback_types::{
    Agreement, DataProtocol, Offer, PriceUnit, QosAttestation, ResourceKind, Signed, Termination,
    Timestamp, TrustStore,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::units::{decimal, rfc3339};

mod agreement;
mod deal;
mod pay;

pub use agreement::{
    AgreementView, CommitmentView, ProposalOutcomeView, ProposalView, ProviderAgreementsView,
    ending_termination,
};
pub use deal::{
    DealAgreementView, DealFailureView, DealJobView, DealStepView, DealView, DemandView, QuoteView,
};
pub use pay::{
    AccountView, AssetTotalsView, ConsumerView, DisputeView, PaymentView, PaymentsView, PeriodView,
    RevenueView, RulingInForceView, RulingView, StandingView,
};

/// The name of a resource kind in JSON: `storage` or `compute`.
pub fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Storage => "storage",
        ResourceKind::Compute => "compute",
    }
}

/// The name of a pricing unit in JSON: `gib_month` or `unit_hour`.
pub fn unit_name(unit: PriceUnit) -> &'static str {
    match unit {
        PriceUnit::GibMonth => "gib_month",
        PriceUnit::UnitHour => "unit_hour",
    }
}

/// The name of a data protocol in JSON: `s3`, `https`, `ipfs`, `sftp`, `flashback_blob`, or
/// the name an offer gave any other.
pub fn protocol_name(protocol: &DataProtocol) -> String {
    match protocol {
        DataProtocol::S3 => "s3".into(),
        DataProtocol::Https => "https".into(),
        DataProtocol::Ipfs => "ipfs".into(),
        DataProtocol::Sftp => "sftp".into(),
        DataProtocol::FlashbackBlob => "flashback_blob".into(),
        DataProtocol::Other(name) => name.as_str().to_owned(),
    }
}

/// A time: Unix seconds and the same instant in RFC 3339 (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Time {
    /// Unix seconds.
    pub unix: u64,
    /// RFC 3339, UTC (`2026-12-05T10:00:00Z`); absent past the year 9999.
    pub rfc3339: Option<String>,
}

impl From<u64> for Time {
    fn from(unix: u64) -> Self {
        Self {
            unix,
            rfc3339: rfc3339(unix),
        }
    }
}

/// An amount: integer minor units of an asset, and the same in its major unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Amount {
    /// Integer minor units (cents for USD, stroops for XLM).
    pub amount: u64,
    /// Asset code (`USD`, `XLM`).
    pub asset: String,
    /// The amount in the asset's major unit (`"1.20"`); absent when its decimals are unknown.
    pub decimal: Option<String>,
}

impl Amount {
    /// `amount` minor units of `asset`.
    pub fn new(amount: u64, asset: &str) -> Self {
        Self {
            amount,
            asset: asset.to_owned(),
            decimal: decimal(amount, asset),
        }
    }
}

/// A unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceView {
    /// Integer minor units per `unit`.
    pub amount: u64,
    /// Asset code.
    pub asset: String,
    /// The amount in the asset's major unit; absent when its decimals are unknown.
    pub decimal: Option<String>,
    /// `gib_month` (per GiB, 2^30 bytes, for 30 days) or `unit_hour` (per compute unit-hour).
    pub unit: String,
}

impl From<&flashback_types::Price> for PriceView {
    fn from(p: &flashback_types::Price) -> Self {
        Self {
            amount: p.amount,
            asset: p.asset.as_str().to_owned(),
            decimal: decimal(p.amount, p.asset.as_str()),
            unit: unit_name(p.unit).to_owned(),
        }
    }
}

/// QoS targets an offer commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QosView {
    /// Availability, basis points (9990 = 99.90 %).
    pub availability_bp: u16,
    /// 95th-percentile latency, ms (0 = not promised).
    pub p95_latency_ms: u32,
    /// Durability as a count of nines.
    pub durability_nines: u8,
    /// Sustained throughput, bytes per second (0 = not promised).
    pub throughput_bytes_per_sec: u64,
}

/// Compute details of a compute offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComputeView {
    /// Virtual CPUs per unit.
    pub vcpus: u32,
    /// Memory per unit, bytes.
    pub memory_bytes: u64,
    /// Accelerator model, empty when none.
    pub accelerator: String,
}

/// A compliance document an offer declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceDocView {
    /// What it is.
    pub title: String,
    /// Where it is published.
    pub url: String,
    /// blake3 of its bytes, hex.
    pub digest: String,
}

/// An offer: its id, then every term of the signed body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfferView {
    /// Object id, hex.
    pub id: String,
    /// Provider key, hex.
    pub provider: String,
    /// The provider's name for the offer.
    pub offer_key: String,
    /// Version; the highest valid one per `(provider, offer_key)` is listed.
    pub seq: u64,
    /// A withdrawal (tombstone).
    pub withdrawn: bool,
    /// `storage` or `compute`.
    pub kind: String,
    /// Capacity: bytes for storage, units for compute.
    pub capacity: u64,
    /// Unit price.
    pub price: PriceView,
    /// Shortest agreement accepted, seconds.
    pub min_duration_secs: u64,
    /// Longest agreement accepted, seconds.
    pub max_duration_secs: u64,
    /// Region codes.
    pub regions: Vec<String>,
    /// Data protocols served.
    pub protocols: Vec<String>,
    /// Where the data plane is reached.
    pub endpoint: String,
    /// QoS targets.
    pub qos: QosView,
    /// Copies kept.
    pub redundancy: u8,
    /// Ids of certificates the offer cites, hex.
    pub certificates: Vec<String>,
    /// Declared jurisdictions.
    pub jurisdictions: Vec<String>,
    /// Compliance documents.
    pub compliance_docs: Vec<ComplianceDocView>,
    /// Compute details (compute offers only).
    pub compute: Option<ComputeView>,
    /// When signed.
    pub created_at: Time,
    /// When it stops being valid.
    pub expires_at: Time,
    /// Claims the provider holds under the node's trust store (`name=value`), when the listing
    /// was asked for them.
    pub certified: Vec<String>,
}

impl OfferView {
    /// The view of a signed offer, with the claims its provider holds.
    pub fn new(offer: &Signed<Offer>, certified: Vec<String>) -> Self {
        let b = offer.body();
        Self {
            id: offer.id().to_string(),
            provider: b.provider.to_string(),
            offer_key: b.offer_key.as_str().to_owned(),
            seq: b.seq,
            withdrawn: b.withdrawn,
            kind: kind_name(b.kind).to_owned(),
            capacity: b.capacity,
            price: PriceView::from(&b.price),
            min_duration_secs: b.min_duration_secs,
            max_duration_secs: b.max_duration_secs,
            regions: b.regions.iter().map(|r| r.as_str().to_owned()).collect(),
            protocols: b.protocols.iter().map(protocol_name).collect(),
            endpoint: b.endpoint.as_str().to_owned(),
            qos: QosView {
                availability_bp: b.qos.availability_bp,
                p95_latency_ms: b.qos.p95_latency_ms,
                durability_nines: b.qos.durability_nines,
                throughput_bytes_per_sec: b.qos.throughput_bytes_per_sec,
            },
            redundancy: b.redundancy,
            certificates: b.certificates.iter().map(ToString::to_string).collect(),
            jurisdictions: b
                .jurisdictions
                .iter()
                .map(|j| j.as_str().to_owned())
                .collect(),
            compliance_docs: b
                .compliance_docs
                .iter()
                .map(|d| ComplianceDocView {
                    title: d.title.as_str().to_owned(),
                    url: d.url.as_str().to_owned(),
                    digest: d.digest.to_string(),
                })
                .collect(),
            compute: b.compute.as_ref().map(|c| ComputeView {
                vcpus: c.vcpus,
                memory_bytes: c.memory_bytes,
                accelerator: c.accelerator.as_str().to_owned(),
            }),
            created_at: b.created_at.into(),
            expires_at: b.expires_at.into(),
            certified,
        }
    }
}

/// One page of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfferPageView {
    /// The offers, in the order asked for.
    pub offers: Vec<OfferView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// A claim (`name = value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimView {
    /// Claim name.
    pub name: String,
    /// Claim value.
    pub value: String,
}

/// A revocation of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevocationView {
    /// Revocation id, hex.
    pub id: String,
    /// Why.
    pub reason: String,
    /// When signed.
    pub created_at: Time,
}

/// A certificate as the node's trust store judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateView {
    /// Certificate id, hex.
    pub id: String,
    /// Issuer key, hex.
    pub issuer: String,
    /// The issuer's name in the trust store, if trusted.
    pub issuer_name: Option<String>,
    /// Subject key, hex.
    pub subject: String,
    /// Claims certified.
    pub claims: Vec<ClaimView>,
    /// Issuer's serial number.
    pub serial: u64,
    /// Evidence digest, hex.
    pub evidence: Option<String>,
    /// When signed.
    pub created_at: Time,
    /// When it stops being valid.
    pub expires_at: Time,
    /// Status code (`valid`, `revoked`, `expired`, `untrusted_issuer`, …).
    pub status: String,
    /// The status for people.
    pub detail: String,
    /// The revocation, if revoked.
    pub revocation: Option<RevocationView>,
}

impl CertificateView {
    /// The view of a judged certificate, naming its issuer from `trust`.
    pub fn new(c: &Judged, trust: &TrustStore) -> Self {
        let b = c.certificate.body();
        Self {
            id: c.certificate.id().to_string(),
            issuer: b.issuer.to_string(),
            issuer_name: trust.issuer(&b.issuer).map(|i| i.name.to_string()),
            subject: b.subject.to_string(),
            claims: b
                .claims
                .iter()
                .map(|x| ClaimView {
                    name: x.name.as_str().to_owned(),
                    value: x.value.as_str().to_owned(),
                })
                .collect(),
            serial: b.serial,
            evidence: b.evidence.map(|e| e.to_string()),
            created_at: b.created_at.into(),
            expires_at: b.expires_at.into(),
            status: c.status.code().to_owned(),
            detail: c.status.to_string(),
            revocation: c.revocation.as_ref().map(|r| RevocationView {
                id: r.id().to_string(),
                reason: r.body().reason.as_str().to_owned(),
                created_at: r.body().created_at.into(),
            }),
        }
    }
}

/// An attestation that counted towards a provider's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CountedView {
    /// Attestation id, hex.
    pub id: String,
    /// Who attested, hex.
    pub attester: String,
    /// End of the measured window.
    pub window_end: Time,
    /// Probes made.
    pub probes: u32,
    /// Probes that succeeded.
    pub successes: u32,
    /// What the attestation counts for, 0 to 1: the attester's standing times its
    /// agreement's stake, after the caps.
    pub weight: f64,
    /// The attester's standing about this provider, 0 to 1.
    pub standing: f64,
    /// The value at stake in the attested agreement, 0 to 1.
    pub stake: f64,
    /// How the attester came by its standing: `own`, `auditor`, `certified`, `earned`,
    /// `no_deals`, `only_this_provider`, `no_rated_counterparty`.
    pub standing_code: String,
    /// The same in words.
    pub why: String,
}

/// What a provider's score rests on, and what was discounted (one attester with full standing
/// and a full stake weighs 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// The counted weights, summed.
    pub total: f64,
    /// The part from anchored attesters (own keys, trusted auditors, certified consumers).
    pub anchored: f64,
    /// The part earned by deals with providers the anchors rate.
    pub earned: f64,
    /// Evidence needed for a score.
    pub rated_at: f64,
    /// Whether the node trusts anyone at all; without that no provider is rated.
    pub node_trusts_anyone: bool,
    /// What was discounted.
    pub discounted: DiscountedView,
}

/// Evidence lost to the rules of standing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiscountedView {
    /// Lost because attesters had no independent standing.
    pub no_standing: f64,
    /// Lost to small stakes.
    pub low_stake: f64,
    /// Lost to the caps on one source of standing and on captive consumers.
    pub capped: f64,
}

/// An attestation that did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExcludedView {
    /// Attestation id, hex.
    pub id: String,
    /// Who attested, hex.
    pub attester: String,
    /// Why it did not count.
    pub reason: String,
}

/// A provider's reputation, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReputationView {
    /// Whether the provider has a score (its counted evidence reaches `rated_at`); an unrated
    /// provider is not average, and has no number.
    pub rated: bool,
    /// Score, 0 to 1; `null` when unrated.
    pub score: Option<f64>,
    /// The beta-reputation component.
    pub beta_mean: f64,
    /// The SLA-compliance component.
    pub compliance: f64,
    /// Where the score comes from and what was discounted.
    pub evidence: EvidenceView,
    /// Attestations that counted.
    pub counted: Vec<CountedView>,
    /// Attestations that did not count, with the reason.
    pub excluded: Vec<ExcludedView>,
    /// What the score was multiplied by for trusted rulings against the provider (1 without
    /// one).
    pub ruling_factor: f64,
    /// Rulings on the provider's agreements, with what each did to the score.
    pub rulings: Vec<ProviderRulingView>,
}

/// A ruling on one of a provider's agreements, and what it did to the provider's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProviderRulingView {
    /// Ruling id, hex.
    pub id: String,
    /// Who ruled, hex.
    pub arbiter: String,
    /// The agreement (its proposal id), hex.
    pub agreement: String,
    /// Who the arbiter found right: `consumer` or `provider`.
    pub in_favour_of: String,
    /// When it was signed.
    pub created_at: Time,
    /// `against` (counted against the provider), `in_favour`, `untrusted` (the node does not
    /// trust the arbiter: no effect) or `superseded` (a later trusted ruling is in force).
    pub effect: String,
    /// What the score was multiplied by for it (1 unless `against`).
    pub factor: f64,
    /// Why, in words.
    pub why: String,
}

impl From<&ProviderReport> for ReputationView {
    fn from(r: &ProviderReport) -> Self {
        Self {
            rated: r.score.is_some(),
            score: r.score,
            beta_mean: r.beta_mean,
            compliance: r.compliance,
            evidence: EvidenceView {
                total: r.evidence.total,
                anchored: r.evidence.anchored,
                earned: r.evidence.total - r.evidence.anchored,
                rated_at: r.evidence.rated_at,
                node_trusts_anyone: r.evidence.anchored_node,
                discounted: DiscountedView {
                    no_standing: r.evidence.no_standing,
                    low_stake: r.evidence.low_stake,
                    capped: r.evidence.capped,
                },
            },
            counted: r
                .counted
                .iter()
                .map(|c| CountedView {
                    id: c.id.to_string(),
                    attester: c.attester.to_string(),
                    window_end: c.window_end.into(),
                    probes: c.probes,
                    successes: c.successes,
                    weight: c.weight,
                    standing: c.standing,
                    stake: c.stake,
                    standing_code: c.standing_code.as_str().to_owned(),
                    why: c.why.as_str().to_owned(),
                })
                .collect(),
            excluded: r
                .excluded
                .iter()
                .map(|x| ExcludedView {
                    id: x.id.to_string(),
                    attester: x.attester.to_string(),
                    reason: x.reason.as_str().to_owned(),
                })
                .collect(),
            ruling_factor: r.ruling_factor,
            rulings: r
                .rulings
                .iter()
                .map(|x| ProviderRulingView {
                    id: x.id.to_string(),
                    arbiter: x.arbiter.to_string(),
                    agreement: x.agreement.to_string(),
                    in_favour_of: x.in_favour_of.name().to_owned(),
                    created_at: x.created_at.into(),
                    effect: x.effect.as_str().to_owned(),
                    factor: x.factor,
                    why: x.why.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

/// A provider: its offers, agreements, certificates and reputation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    /// Provider key, hex.
    pub provider: String,
    /// Whether the node holds evidence that it signed two offers with one seq.
    pub flagged_equivocation: bool,
    /// Reputation with its explanation.
    pub reputation: ReputationView,
    /// Live offers.
    pub offers: Vec<OfferView>,
    /// Agreements as provider.
    pub agreements: Vec<AgreementView>,
    /// Certificates about the provider, judged by the node's trust store.
    pub certificates: Vec<CertificateView>,
    /// More certificates exist than listed.
    pub more_certificates: bool,
}

/// What a provider page is built from: the node's report, the decoded objects it lists, and
/// the certificates about the provider.
pub struct ProviderParts<'a> {
    /// The node's report.
    pub report: &'a ProviderReport,
    /// Its live offers.
    pub offers: &'a [Signed<Offer>],
    /// Its agreements, each with the terminations the node holds about it.
    pub agreements: &'a [(Agreement, Vec<Signed<Termination>>)],
    /// The instant the agreements' status is judged at.
    pub now: Timestamp,
    /// Certificates about it.
    pub certificates: &'a [Judged],
    /// The trust store that judged them.
    pub trust: &'a TrustStore,
    /// More certificates exist.
    pub more_certificates: bool,
}

impl From<ProviderParts<'_>> for ProviderView {
    fn from(p: ProviderParts<'_>) -> Self {
        Self {
            provider: p.report.provider.to_string(),
            flagged_equivocation: p.report.flagged,
            reputation: ReputationView::from(p.report),
            offers: p
                .offers
                .iter()
                .map(|o| OfferView::new(o, Vec::new()))
                .collect(),
            agreements: p
                .agreements
                .iter()
                .map(|(a, t)| AgreementView::new(a, t, p.now))
                .collect(),
            certificates: p
                .certificates
                .iter()
                .map(|c| CertificateView::new(c, p.trust))
                .collect(),
            more_certificates: p.more_certificates,
        }
    }
}

/// A QoS attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttestationView {
    /// Attestation id, hex.
    pub id: String,
    /// Who measured, hex.
    pub attester: String,
    /// The provider measured, hex.
    pub subject: String,
    /// The agreement measured under, hex.
    pub agreement: Option<String>,
    /// Window start.
    pub window_start: Time,
    /// Window end.
    pub window_end: Time,
    /// Probes made.
    pub probes: u32,
    /// Probes that succeeded.
    pub successes: u32,
    /// Median latency, ms.
    pub latency_p50_ms: u32,
    /// 95th-percentile latency, ms.
    pub latency_p95_ms: u32,
    /// Throughput, bytes per second.
    pub throughput_bytes_per_sec: u64,
    /// Bytes read back and checked.
    pub bytes_checked: u64,
    /// When signed.
    pub created_at: Time,
}

impl From<&Signed<QosAttestation>> for AttestationView {
    fn from(a: &Signed<QosAttestation>) -> Self {
        let b = a.body();
        Self {
            id: a.id().to_string(),
            attester: b.attester.to_string(),
            subject: b.subject.to_string(),
            agreement: b.agreement.map(|x| x.to_string()),
            window_start: b.window_start.into(),
            window_end: b.window_end.into(),
            probes: b.probes,
            successes: b.successes,
            latency_p50_ms: b.latency_p50_ms,
            latency_p95_ms: b.latency_p95_ms,
            throughput_bytes_per_sec: b.throughput_bytes_per_sec,
            bytes_checked: b.bytes_checked,
            created_at: b.created_at.into(),
        }
    }
}

/// Objects held of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KindCount {
    /// The kind (`offer`, `agreement`, …).
    pub kind: String,
    /// Objects held (offers: one per `(provider, offer_key)`).
    pub count: u64,
}

/// A node's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    /// libp2p peer id.
    pub peer_id: String,
    /// Node key, hex.
    pub node_key: String,
    /// Addresses, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// Connected peers.
    pub peers: u32,
    /// Objects held per kind.
    pub counts: Vec<KindCount>,
    /// Withdrawn offers among those held.
    pub withdrawn_offers: u64,
    /// Providers flagged for equivocation.
    pub flagged_providers: u64,
    /// Listing digest, hex.
    pub listing_digest: String,
    /// The node's clock.
    pub now: Time,
    /// Software version.
    pub version: String,
}

impl StatusView {
    /// The view of a node's status, with its peer id.
    pub fn new(peer_id: String, s: &NodeStatus) -> Self {
        Self {
            peer_id,
            node_key: s.node_key.to_string(),
            listen_addrs: s
                .listen_addrs
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            peers: s.peers,
            counts: s
                .counts
                .iter()
                .map(|(k, n)| KindCount {
                    kind: format!("{k:?}").to_lowercase(),
                    count: *n,
                })
                .collect(),
            withdrawn_offers: s.withdrawn_offers,
            flagged_providers: s.flagged_providers,
            listing_digest: s.listing_digest.to_string(),
            now: s.now.into(),
            version: s.version.as_str().to_owned(),
        }
    }
}

/// Price percentiles of one group of live offers (one kind, asset and region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceGroup {
    /// `storage` or `compute`.
    pub kind: String,
    /// Asset code.
    pub asset: String,
    /// Pricing unit (`gib_month`, `unit_hour`).
    pub unit: String,
    /// Region code; `any` for offers naming none.
    pub region: String,
    /// Offers in the group.
    pub offers: u64,
    /// Lowest price, minor units.
    pub min: u64,
    /// Median price.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// Highest price.
    pub max: u64,
    /// Capacity offered in the group: bytes (storage) or units (compute).
    pub capacity: u64,
}

/// The market: price distributions and capacity offered, over live offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MarketView {
    /// Live offers counted.
    pub offers: u64,
    /// Distinct providers among them.
    pub providers: u64,
    /// Storage capacity offered, bytes.
    pub storage_bytes: u64,
    /// Compute capacity offered, units.
    pub compute_units: u64,
    /// Price groups, by kind, asset and region.
    pub groups: Vec<PriceGroup>,
    /// Whether the statistics cover only part of the listing (the node counts at most a
    /// bounded number of offers per request).
    pub truncated: bool,
}

/// What a submit did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmitView {
    /// The object's id, hex.
    pub id: String,
    /// The node already held it.
    pub duplicate: bool,
}
