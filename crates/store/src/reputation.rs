//! Reputation: a deterministic function of the stored objects and `now`.
//!
//! Only attestations backed by an agreement (or by a certificate from an issuer the trust
//! store holds as an auditor) count; per
//! `(attester, subject)` only the newest eligible window counts; one attester contributes at
//! most `max_probes_per_attester` probes. The score mixes a time-decayed Beta mean with the
//! share of windows that met the agreed QoS. Every sum runs in attester-key order with plain
//! IEEE-754 `+ − × ÷` (no `powf`, no fused operations), so two nodes holding the same objects
//! compute bit-identical scores. The formula and constants are in `docs/STORE.md`.

use std::fmt;

use flashback_types::{ObjectId, PublicKey, Timestamp, TrustStore};

use crate::config::ReputationParams;
use crate::summaries::{AgrMeta, AttMeta, Summaries};

/// A provider's reputation at some instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reputation {
    /// `beta_weight · beta_mean + (1 − beta_weight) · compliance`, in `[0, 1]`.
    pub score: f64,
    /// `α / (α + β)` of the time-decayed Beta distribution.
    pub beta_mean: f64,
    /// Decay-weighted share of counted windows that met the agreed QoS (the prior when none).
    pub compliance: f64,
    /// Attestations that counted.
    pub counted: u32,
    /// Attestations held about the provider that did not count.
    pub excluded: u32,
}

/// Why an attestation counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The attester is the consumer of this agreement (named by its proposal id) with the
    /// subject, and its service period covers the window.
    Agreement(ObjectId),
    /// The attester holds this valid `auditor` certificate from an issuer the trust store
    /// holds as an auditor.
    Auditor(ObjectId),
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
    /// Probe weight: 1, or `max_probes_per_attester / probes` when capped.
    pub weight: f64,
    /// `0.5^(age / half_life)`, age measured from the window's end.
    pub decay: f64,
    /// Why it counted.
    pub basis: Basis,
    /// Whether the window met the agreement's QoS (`None` without an agreement).
    pub met_sla: Option<bool>,
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
    /// Counted attestations, by attester key.
    pub counted: Vec<CountedAttestation>,
    /// Excluded attestations, by attester key then id.
    pub excluded: Vec<ExcludedAttestation>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.reputation;
        writeln!(
            f,
            "provider {} at {}: score {:.4} (beta mean {:.4}, compliance {:.4}; α {:.3}, β {:.3})",
            self.provider.fmt_short(),
            self.now,
            r.score,
            r.beta_mean,
            r.compliance,
            self.alpha,
            self.beta
        )?;
        writeln!(f, "counted ({}):", self.counted.len())?;
        for c in &self.counted {
            let basis = match c.basis {
                Basis::Agreement(id) => format!("agreement {}", id.fmt_short()),
                Basis::Auditor(id) => format!("auditor cert {}", id.fmt_short()),
            };
            let sla = match c.met_sla {
                Some(true) => "met SLA",
                Some(false) => "missed SLA",
                None => "no SLA",
            };
            writeln!(
                f,
                "  {} by {} window [{}, {}) {}/{} weight {:.3} decay {:.4} via {basis}, {sla}",
                c.id.fmt_short(),
                c.attester.fmt_short(),
                c.window_start,
                c.window_end,
                c.successes,
                c.probes,
                c.weight,
                c.decay
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

/// The score of a provider nobody has (countably) attested.
pub(crate) fn prior_score(p: &ReputationParams) -> f64 {
    let mean = p.prior_alpha / (p.prior_alpha + p.prior_beta);
    p.beta_weight * mean + (1.0 - p.beta_weight) * p.prior_compliance
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

fn met_sla(a: &AttMeta, agr: &AgrMeta) -> bool {
    let availability =
        u64::from(a.successes) * 10_000 >= u64::from(agr.availability_bp) * u64::from(a.probes);
    let latency = agr.p95_latency_ms == 0 || a.latency_p95_ms <= agr.p95_latency_ms;
    availability && latency
}

/// Why `a` can count, or why not (before the newest-window rule).
fn basis(
    summaries: &Summaries,
    a: &AttMeta,
    now: Timestamp,
    trust: &TrustStore,
) -> Result<(Basis, Option<bool>), ExclusionReason> {
    if a.expires_at <= now {
        return Err(ExclusionReason::Expired);
    }
    if a.attester == a.subject {
        return Err(ExclusionReason::AttesterIsSubject);
    }
    if a.probes == 0 {
        return Err(ExclusionReason::NoProbes);
    }
    let mut any_live = false;
    let mut covering: Option<&AgrMeta> = None;
    for agr in summaries.agreements_between(&a.attester, &a.subject) {
        if agr.end <= now {
            continue;
        }
        any_live = true;
        if agr.start <= a.window_start && a.window_end <= agr.end {
            // Prefer the agreement the attestation names; else the smallest id (iteration order).
            let named = a.agreement == Some(agr.proposal_id);
            if covering.is_none() || named {
                covering = Some(agr);
            }
        }
    }
    if let Some(agr) = covering {
        return Ok((Basis::Agreement(agr.proposal_id), Some(met_sla(a, agr))));
    }
    if let Some(cert) = summaries.auditor_cert(&a.attester, trust, now) {
        return Ok((Basis::Auditor(cert), None));
    }
    Err(if any_live {
        ExclusionReason::WindowOutsideAgreement
    } else {
        ExclusionReason::NoAgreement
    })
}

/// Computes the reputation of `provider` at `now`, with its explanation.
pub(crate) fn explain(
    summaries: &Summaries,
    provider: &PublicKey,
    now: Timestamp,
    params: &ReputationParams,
    trust: &TrustStore,
) -> Explanation {
    let mut counted: Vec<CountedAttestation> = Vec::new();
    let mut excluded: Vec<ExcludedAttestation> = Vec::new();
    let excluded_of = |a: &AttMeta, reason| ExcludedAttestation {
        id: a.id,
        attester: a.attester,
        window_start: a.window_start,
        window_end: a.window_end,
        reason,
    };
    // Attestations come ordered by (attester, id): one group per attester.
    let atts = summaries.attestations_about(provider);
    let mut i = 0;
    while i < atts.len() {
        let attester = atts[i].attester;
        let mut j = i;
        let mut best: Option<(&AttMeta, Basis, Option<bool>)> = None;
        let mut eligible: Vec<&AttMeta> = Vec::new();
        while j < atts.len() && atts[j].attester == attester {
            let a = atts[j];
            match basis(summaries, a, now, trust) {
                Err(reason) => excluded.push(excluded_of(a, reason)),
                Ok((b, met)) => {
                    eligible.push(a);
                    let newer = match &best {
                        None => true,
                        // Newest window: latest end, then latest start, then smallest id.
                        Some((cur, _, _)) => {
                            (a.window_end, a.window_start, std::cmp::Reverse(a.id))
                                > (cur.window_end, cur.window_start, std::cmp::Reverse(cur.id))
                        }
                    };
                    if newer {
                        best = Some((a, b, met));
                    }
                }
            }
            j += 1;
        }
        if let Some((a, basis, met)) = best {
            for other in eligible.into_iter().filter(|o| o.id != a.id) {
                excluded.push(excluded_of(other, ExclusionReason::SupersededByNewerWindow));
            }
            let cap = params.max_probes_per_attester;
            let weight = if a.probes <= cap {
                1.0
            } else {
                f64::from(cap) / f64::from(a.probes)
            };
            counted.push(CountedAttestation {
                id: a.id,
                attester: a.attester,
                window_start: a.window_start,
                window_end: a.window_end,
                successes: a.successes,
                probes: a.probes,
                weight,
                decay: decay(now.saturating_sub(a.window_end), params.half_life_secs),
                basis,
                met_sla: met,
            });
        }
        i = j;
    }
    excluded.sort_by_key(|a| (a.attester, a.id));

    let mut alpha = params.prior_alpha;
    let mut beta = params.prior_beta;
    let mut met_weight = 0.0f64;
    let mut sla_weight = 0.0f64;
    for c in &counted {
        let s = f64::from(c.successes);
        let f = f64::from(c.probes - c.successes);
        alpha += c.weight * s * c.decay;
        beta += c.weight * f * c.decay;
        if let Some(met) = c.met_sla {
            sla_weight += c.decay;
            if met {
                met_weight += c.decay;
            }
        }
    }
    let beta_mean = alpha / (alpha + beta);
    let compliance = if sla_weight > 0.0 {
        met_weight / sla_weight
    } else {
        params.prior_compliance
    };
    let score = params.beta_weight * beta_mean + (1.0 - params.beta_weight) * compliance;
    Explanation {
        provider: *provider,
        now,
        reputation: Reputation {
            score,
            beta_mean,
            compliance,
            counted: u32::try_from(counted.len()).unwrap_or(u32::MAX),
            excluded: u32::try_from(excluded.len()).unwrap_or(u32::MAX),
        },
        alpha,
        beta,
        counted,
        excluded,
    }
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

    #[test]
    fn prior_is_the_default_score() {
        assert_eq!(prior_score(&ReputationParams::default()), 0.5);
    }
}
