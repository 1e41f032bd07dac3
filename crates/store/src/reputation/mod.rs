//! Reputation: a deterministic function of the stored objects, the trust settings and `now`.
//!
//! Three steps, one module each:
//!
//! 1. [`assess`]: which attestations count at all (the baseline: backed by an agreement that
//!    covers the window, by a trusted auditor's certificate or by one of the node's own keys;
//!    per `(attester, subject)` only the newest window), and what each agreement has at stake.
//! 2. [`standing`]: how much each counted attester's word weighs: anchored in what the node
//!    trusts, or earned by deals with providers the anchors rate, times the stake, with caps
//!    on what one source or one captive cluster adds (integer parts per million).
//! 3. [`assess`] again: the time-decayed Beta mean and the SLA compliance over the weighted
//!    attestations, summed in attester-key order with plain IEEE-754 `+ − × ÷` (no `powf`, no
//!    fused operations), so two nodes holding the same objects compute bit-identical scores.
//!    A provider whose counted evidence is below `rated_at` is **unrated**: no score at all.
//!
//! The formula and its constants are in `docs/STORE.md`, the reasons and the attacks measured
//! in decision 0059.

use std::fmt;

use flashback_types::{ObjectId, Party, PublicKey, Timestamp};

mod assess;
mod standing;

pub(crate) use assess::{Assessment, assess};
pub use standing::{Anchor, StandingKind, Unearned};

/// The share of a provider's score one trusted ruling against it takes away, while fresh (it
/// decays like an attestation, from the ruling's `created_at`). The same 25 % a consumer
/// loses per dispute lost (`payments::LOST_DISPUTE_PENALTY_BP`).
pub const RULING_PENALTY: f64 = 0.25;

/// A provider's reputation at some instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reputation {
    /// `(beta_weight · beta_mean + (1 − beta_weight) · compliance) · rulings`, in `[0, 1]`,
    /// where `rulings` is the product of the trusted rulings' factors (1 without one); `None`
    /// when the provider is unrated (its counted evidence is below the node's `rated_at`).
    pub score: Option<f64>,
    /// `α / (α + β)` of the time-decayed, weighted Beta distribution.
    pub beta_mean: f64,
    /// Weighted share of counted windows that met the agreed QoS (the prior when none).
    pub compliance: f64,
    /// The evidence the score rests on: the counted attestations' weights, summed (one
    /// attester with full standing and a full stake weighs 1).
    pub evidence: f64,
    /// The part of `evidence` from anchored attesters (own keys, auditors, certified consumers).
    pub anchored: f64,
    /// Attestations that passed the baseline rules (whatever their weight).
    pub counted: u32,
    /// Attestations held about the provider that did not.
    pub excluded: u32,
}

impl Reputation {
    /// Whether the provider has a score.
    pub fn is_rated(&self) -> bool {
        self.score.is_some()
    }
}

/// Why an attestation passed the baseline rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The attester is the consumer of this agreement (named by its proposal id) with the
    /// subject, and its service period covers the window.
    Agreement(ObjectId),
    /// The attester holds this valid `auditor` certificate from an issuer the trust store
    /// holds as an auditor.
    Auditor(ObjectId),
    /// The attester is one of the node's own keys (`reputation.own_keys`).
    Own,
}

/// What an attestation's agreement has at stake.
///
/// Today the value is what the agreement declares (`total`). Payments (consumer-signed
/// vouchers) will add the value actually paid as another variant, which then replaces the
/// declared total as the input to [`standing`]; nothing else changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stake {
    /// The agreement's declared total, against the amount that counts in full
    /// (`reputation.full_stake` for its asset).
    Declared {
        /// Minor units.
        total: u64,
        /// The asset.
        asset: String,
        /// Minor units at which an agreement counts in full.
        full: u64,
    },
    /// The asset has no `reputation.full_stake` entry: the node cannot value it.
    Unvalued {
        /// The asset.
        asset: String,
    },
    /// Not weighed by stake: the node's own key, or an accredited auditor.
    NotApplied,
}

/// How much an attester's word counts about one provider, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// `0.0..=1.0`.
    pub value: f64,
    /// Anchored, earned or none, with the reason.
    pub kind: StandingKind,
    /// Earned standing by source provider (before the source cap).
    pub sources: Vec<(PublicKey, f64)>,
}

/// An attestation that counted, and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedAttestation {
    /// Attestation id.
    pub id: ObjectId,
    /// Who attested.
    pub attester: PublicKey,
    /// Window start.
    pub window_start: Timestamp,
    /// Window end.
    pub window_end: Timestamp,
    /// Successful probes.
    pub successes: u32,
    /// Probes.
    pub probes: u32,
    /// 1, or `max_probes_per_attester / probes` when the window holds more probes.
    pub probe_scale: f64,
    /// `0.5^(age / half_life)`, age measured from the window's end.
    pub decay: f64,
    /// Why it passed the baseline.
    pub basis: Basis,
    /// Whether the window met the agreement's QoS (`None` without an agreement).
    pub met_sla: Option<bool>,
    /// The value at stake, `0.0..=1.0`, and where it comes from.
    pub stake: f64,
    /// Where the stake comes from.
    pub stake_basis: Stake,
    /// The attester's standing about this provider.
    pub standing: Standing,
    /// `standing × stake` after the caps: what the attestation counts for (0 to 1).
    pub weight: f64,
}

/// Why an attestation did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExclusionReason {
    /// The attestation has expired.
    Expired,
    /// The attester and the subject are the same key.
    AttesterIsSubject,
    /// The window holds no probes.
    NoProbes,
    /// The attester has no live agreement with the subject and no trusted auditor certificate.
    NoAgreement,
    /// The attester has agreements with the subject, but none covers the window.
    WindowOutsideAgreement,
    /// The same attester has a newer counted window about the subject.
    SupersededByNewerWindow,
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExclusionReason::Expired => "expired",
            ExclusionReason::AttesterIsSubject => "attester is the subject",
            ExclusionReason::NoProbes => "no probes in the window",
            ExclusionReason::NoAgreement => {
                "no agreement: the attester has no live agreement with the provider and no auditor certificate"
            }
            ExclusionReason::WindowOutsideAgreement => {
                "window is outside every agreement between attester and provider"
            }
            ExclusionReason::SupersededByNewerWindow => {
                "a newer window from the same attester counts instead"
            }
        })
    }
}

/// An attestation that did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludedAttestation {
    /// Attestation id.
    pub id: ObjectId,
    /// Who attested.
    pub attester: PublicKey,
    /// Window start.
    pub window_start: Timestamp,
    /// Window end.
    pub window_end: Timestamp,
    /// Why it did not count.
    pub reason: ExclusionReason,
}

/// What a ruling on one of the provider's agreements does to its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulingEffect {
    /// A trusted arbiter ruled for the consumer, and the ruling is in force: it counts against
    /// the provider.
    Against,
    /// A trusted arbiter ruled for the provider: nothing counts against it.
    InFavour,
    /// The node does not trust the signer as an arbiter: recorded, no effect.
    Untrusted,
    /// A later trusted ruling on the same agreement is in force instead.
    Superseded,
}

impl RulingEffect {
    /// A stable code: `against`, `in_favour`, `untrusted`, `superseded`.
    pub fn code(self) -> &'static str {
        match self {
            RulingEffect::Against => "against",
            RulingEffect::InFavour => "in_favour",
            RulingEffect::Untrusted => "untrusted",
            RulingEffect::Superseded => "superseded",
        }
    }
}

impl fmt::Display for RulingEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RulingEffect::Against => {
                "a trusted arbiter ruled for the consumer: counts against the provider"
            }
            RulingEffect::InFavour => {
                "a trusted arbiter ruled for the provider: nothing counts against it"
            }
            RulingEffect::Untrusted => {
                "the arbiter is not trusted here (no arbiter role): no effect"
            }
            RulingEffect::Superseded => {
                "a later trusted ruling on the same agreement is in force instead"
            }
        })
    }
}

/// A ruling on one of the provider's agreements, and what it did to the score.
#[derive(Debug, Clone, PartialEq)]
pub struct RulingOnProvider {
    /// Ruling id.
    pub id: ObjectId,
    /// Who ruled.
    pub arbiter: PublicKey,
    /// The agreement (its proposal id).
    pub agreement: ObjectId,
    /// The dispute ruled on.
    pub dispute: ObjectId,
    /// Who the arbiter found right.
    pub in_favour_of: Party,
    /// When it was signed.
    pub created_at: Timestamp,
    /// What it does.
    pub effect: RulingEffect,
    /// `0.5^(age / half_life)`, age measured from `created_at`.
    pub decay: f64,
    /// What the score is multiplied by: `1 − RULING_PENALTY × decay` against the provider,
    /// else 1.
    pub factor: f64,
}

/// What the counted attestations would have weighed at full standing and stake (one each),
/// less what they weigh, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Discounts {
    /// Attesters without independent standing: `Σ (1 − standing)`.
    pub no_standing: f64,
    /// Small stakes: `Σ standing · (1 − stake)`.
    pub low_stake: f64,
    /// The source and captive caps: `Σ (standing · stake − weight)`.
    pub capped: f64,
}

impl Discounts {
    /// Everything discounted.
    pub fn total(&self) -> f64 {
        self.no_standing + self.low_stake + self.capped
    }
}

/// Everything behind a provider's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The provider.
    pub provider: PublicKey,
    /// The instant the score is computed for.
    pub now: Timestamp,
    /// The result.
    pub reputation: Reputation,
    /// Beta α (prior plus decayed, weighted successes).
    pub alpha: f64,
    /// Beta β (prior plus decayed, weighted failures).
    pub beta: f64,
    /// Evidence needed for a score (`reputation.rated_at`).
    pub rated_at: f64,
    /// Whether the node has any anchor (own keys, trusted auditors or certifiers). Without
    /// one, nobody has standing and nothing is rated.
    pub anchored_node: bool,
    /// What the counted attestations lost, by reason.
    pub discounted: Discounts,
    /// Counted attestations, by attester key.
    pub counted: Vec<CountedAttestation>,
    /// Excluded attestations, by attester key then id.
    pub excluded: Vec<ExcludedAttestation>,
    /// Rulings on the provider's agreements, by id, with their effect.
    pub rulings: Vec<RulingOnProvider>,
    /// The product of the rulings' factors, what the score was multiplied by (1 without a
    /// trusted ruling against the provider).
    pub ruling_factor: f64,
}

impl Explanation {
    /// The explanation of a provider nobody has attested.
    pub(crate) fn empty(
        provider: PublicKey,
        now: Timestamp,
        rated_at: f64,
        anchored_node: bool,
    ) -> Self {
        Explanation {
            provider,
            now,
            reputation: Reputation {
                score: None,
                beta_mean: 0.0,
                compliance: 0.0,
                evidence: 0.0,
                anchored: 0.0,
                counted: 0,
                excluded: 0,
            },
            alpha: 0.0,
            beta: 0.0,
            rated_at,
            anchored_node,
            discounted: Discounts::default(),
            counted: Vec::new(),
            excluded: Vec::new(),
            rulings: Vec::new(),
            ruling_factor: 1.0,
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Basis::Agreement(id) => write!(f, "agreement {}", id.fmt_short()),
            Basis::Auditor(id) => write!(f, "auditor cert {}", id.fmt_short()),
            Basis::Own => f.write_str("own key"),
        }
    }
}

impl fmt::Display for Stake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stake::Declared { total, asset, full } => {
                write!(f, "{total} of {full} {asset} (minor units) declared")
            }
            Stake::Unvalued { asset } => write!(
                f,
                "{asset} has no reputation.full_stake entry: the node cannot value it"
            ),
            Stake::NotApplied => f.write_str("not weighed (own key or auditor)"),
        }
    }
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StandingKind::Anchored(Anchor::Own) => {
                f.write_str("anchored: one of this node's own keys")
            }
            StandingKind::Anchored(Anchor::Auditor(id)) => {
                write!(f, "anchored: trusted auditor (cert {})", id.fmt_short())
            }
            StandingKind::Anchored(Anchor::Certified(claim)) => {
                write!(f, "anchored: certified {claim} by a trusted certifier")
            }
            StandingKind::Earned => {
                f.write_str("earned from deals with rated providers")?;
                for (p, s) in &self.sources {
                    write!(f, " {} {s:.3}", p.fmt_short())?;
                }
                Ok(())
            }
            StandingKind::Unearned(Unearned::NoDeals) => {
                f.write_str("none: no live agreement with any provider")
            }
            StandingKind::Unearned(Unearned::OnlyThisProvider) => {
                f.write_str("none: deals with this provider only")
            }
            StandingKind::Unearned(Unearned::NoRatedCounterparty) => {
                f.write_str("none: its other providers are not rated by this node's anchors")
            }
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.reputation;
        match r.score {
            Some(score) => writeln!(
                f,
                "provider {} at {}: score {score:.4} (beta mean {:.4}, compliance {:.4}; α {:.3}, β {:.3})",
                self.provider.fmt_short(),
                self.now,
                r.beta_mean,
                r.compliance,
                self.alpha,
                self.beta
            )?,
            None => writeln!(
                f,
                "provider {} at {}: unrated (evidence {:.3}, {:.3} needed)",
                self.provider.fmt_short(),
                self.now,
                r.evidence,
                self.rated_at
            )?,
        }
        if !self.anchored_node {
            writeln!(
                f,
                "this node trusts no one yet (no own keys, auditors or certifiers): nobody has \
                 standing, so no provider is rated"
            )?;
        }
        writeln!(
            f,
            "evidence {:.3} ({:.3} anchored, {:.3} earned); discounted {:.3} (no standing {:.3}, \
             low stake {:.3}, caps {:.3})",
            r.evidence,
            r.anchored,
            r.evidence - r.anchored,
            self.discounted.total(),
            self.discounted.no_standing,
            self.discounted.low_stake,
            self.discounted.capped
        )?;
        writeln!(f, "counted ({}):", self.counted.len())?;
        for c in &self.counted {
            let sla = match c.met_sla {
                Some(true) => "met SLA",
                Some(false) => "missed SLA",
                None => "no SLA",
            };
            writeln!(
                f,
                "  {} by {} window [{}, {}) {}/{} weight {:.3} (standing {:.3}, stake {:.3}) \
                 decay {:.4} via {}, {sla}",
                c.id.fmt_short(),
                c.attester.fmt_short(),
                c.window_start,
                c.window_end,
                c.successes,
                c.probes,
                c.weight,
                c.standing.value,
                c.stake,
                c.decay,
                c.basis,
            )?;
            writeln!(f, "      standing {}; stake {}", c.standing, c.stake_basis)?;
        }
        writeln!(
            f,
            "rulings ({}), score multiplied by {:.4}:",
            self.rulings.len(),
            self.ruling_factor
        )?;
        for r in &self.rulings {
            writeln!(
                f,
                "  {} by {} on agreement {} for the {}: factor {:.4} (decay {:.4}); {}",
                r.id.fmt_short(),
                r.arbiter.fmt_short(),
                r.agreement.fmt_short(),
                r.in_favour_of.name(),
                r.factor,
                r.decay,
                r.effect
            )?;
        }
        writeln!(f, "excluded ({}):", self.excluded.len())?;
        for e in &self.excluded {
            writeln!(
                f,
                "  {} by {} window [{}, {}): {}",
                e.id.fmt_short(),
                e.attester.fmt_short(),
                e.window_start,
                e.window_end,
                e.reason
            )?;
        }
        Ok(())
    }
}

/// `0.5^(age / half_life)` from basic IEEE operations only: a fixed 24-term Taylor series for
/// the fractional part (|error| < 1e-17) times an exact power of two. Below 2^-1022 it is 0.
pub(crate) fn decay(age: u64, half_life: u64) -> f64 {
    let half_life = half_life.max(1);
    let halvings = age / half_life;
    if halvings > 1022 {
        return 0.0;
    }
    let frac = (age % half_life) as f64 / half_life as f64;
    let y = frac * std::f64::consts::LN_2;
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 1..=24u32 {
        term = term * -y / f64::from(n);
        sum += term;
    }
    sum * f64::from_bits((1023 - halvings) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_per_half_life() {
        let hl = 30 * 86_400;
        assert_eq!(decay(0, hl), 1.0);
        assert_eq!(decay(hl, hl), 0.5);
        assert_eq!(decay(3 * hl, hl), 0.125);
        let half_of_half = decay(hl / 2, hl);
        assert!((half_of_half - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
        assert!(decay(hl / 3, hl) > decay(hl / 2, hl));
        assert_eq!(decay(u64::MAX, 1), 0.0);
    }
}
