//! Every provider's reputation at one instant: the baseline rules per attestation, the anchors
//! and stakes that [`standing`](super::standing) weighs, then the weighted Beta mean and SLA
//! compliance. Computed for all attested providers at once (standing is a property of the
//! whole market) and cached by the store per `(now, market state, trust settings)`.

use std::collections::{BTreeMap, BTreeSet};

use flashback_types::payments::ruling_order;
use flashback_types::{ObjectId, Party, PublicKey, Role, Timestamp, TrustStore};

use super::standing::{
    self, Anchor, Claimant, Deal, Limits, ONE, Ppm, StandingKind, as_f64, mul_div,
};
use super::{
    Basis, CountedAttestation, Discounts, ExcludedAttestation, ExclusionReason, Explanation,
    RULING_PENALTY, Reputation, RulingEffect, RulingOnProvider, Stake, Standing, decay,
};
use crate::config::ReputationParams;
use crate::summaries::{AgrMeta, AttMeta, Summaries};

/// Every attested provider's explanation at one instant.
#[derive(Debug, Clone)]
pub(crate) struct Assessment {
    pub(crate) explanations: BTreeMap<PublicKey, Explanation>,
    pub(crate) now: Timestamp,
    pub(crate) rated_at: f64,
    pub(crate) anchored_node: bool,
}

impl Assessment {
    /// `provider`'s explanation (an empty, unrated one when nobody attested it).
    pub(crate) fn explain(&self, provider: &PublicKey) -> Explanation {
        self.explanations.get(provider).cloned().unwrap_or_else(|| {
            Explanation::empty(*provider, self.now, self.rated_at, self.anchored_node)
        })
    }
}

/// A value in parts per million, from a configured number.
fn ppm(x: f64) -> Ppm {
    (x * ONE as f64).round().clamp(0.0, u64::MAX as f64) as Ppm
}

fn limits(p: &ReputationParams) -> Limits {
    Limits {
        diversity: ppm(p.diversity).max(1),
        source_cap: ppm(p.source_cap),
        captive_cap: ppm(p.captive_cap),
        rated_at: ppm(p.rated_at).max(1),
    }
}

/// What `agr` has at stake: its declared total against `full_stake` for its asset. (When
/// payments exist, the value paid replaces the declared total here.)
fn stake_of(agr: &AgrMeta, p: &ReputationParams) -> (Ppm, Stake) {
    let asset = agr.asset.as_str();
    match p.full_stake.get(asset) {
        Some(&full) if full > 0 => (
            mul_div(agr.total, ONE, full).min(ONE),
            Stake::Declared {
                total: agr.total,
                asset: asset.to_owned(),
                full,
            },
        ),
        _ => (
            0,
            Stake::Unvalued {
                asset: asset.to_owned(),
            },
        ),
    }
}

fn met_sla(a: &AttMeta, agr: &AgrMeta) -> bool {
    let availability =
        u64::from(a.successes) * 10_000 >= u64::from(agr.availability_bp) * u64::from(a.probes);
    let latency = agr.p95_latency_ms == 0 || a.latency_p95_ms <= agr.p95_latency_ms;
    availability && latency
}

/// An attestation that passed the baseline, with its agreement's stake.
struct Pick<'a> {
    att: &'a AttMeta,
    basis: Basis,
    met: Option<bool>,
    stake: Ppm,
    stake_basis: Stake,
}

/// Why `a` can count, or why not (before the newest-window rule).
fn baseline<'a>(
    summaries: &Summaries,
    a: &'a AttMeta,
    now: Timestamp,
    params: &ReputationParams,
    trust: &TrustStore,
) -> Result<Pick<'a>, ExclusionReason> {
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
        let (stake, stake_basis) = stake_of(agr, params);
        return Ok(Pick {
            att: a,
            basis: Basis::Agreement(agr.proposal_id),
            met: Some(met_sla(a, agr)),
            stake,
            stake_basis,
        });
    }
    let unweighed = |basis| Pick {
        att: a,
        basis,
        met: None,
        stake: ONE,
        stake_basis: Stake::NotApplied,
    };
    if params.own_keys.contains(&a.attester) {
        return Ok(unweighed(Basis::Own));
    }
    if let Some(cert) = summaries.auditor_cert(&a.attester, trust, now) {
        return Ok(unweighed(Basis::Auditor(cert)));
    }
    Err(if any_live {
        ExclusionReason::WindowOutsideAgreement
    } else {
        ExclusionReason::NoAgreement
    })
}

/// The attestations about `subject` that pass the baseline (the newest window per attester,
/// in attester order), and the others with the reason.
fn pick<'a>(
    summaries: &'a Summaries,
    subject: &PublicKey,
    now: Timestamp,
    params: &ReputationParams,
    trust: &TrustStore,
) -> (Vec<Pick<'a>>, Vec<ExcludedAttestation>) {
    let mut picked = Vec::new();
    let mut excluded = Vec::new();
    let excluded_of = |a: &AttMeta, reason| ExcludedAttestation {
        id: a.id,
        attester: a.attester,
        window_start: a.window_start,
        window_end: a.window_end,
        reason,
    };
    // Attestations come ordered by (attester, id): one group per attester.
    let atts = summaries.attestations_about(subject);
    for group in atts.chunk_by(|a, b| a.attester == b.attester) {
        let mut best: Option<Pick<'a>> = None;
        let mut eligible = Vec::new();
        for &a in group {
            match baseline(summaries, a, now, params, trust) {
                Err(reason) => excluded.push(excluded_of(a, reason)),
                Ok(p) => {
                    eligible.push(p.att);
                    // Newest window: latest end, then latest start, then smallest id.
                    let newer = best.as_ref().is_none_or(|cur| {
                        (a.window_end, a.window_start, std::cmp::Reverse(a.id))
                            > (
                                cur.att.window_end,
                                cur.att.window_start,
                                std::cmp::Reverse(cur.att.id),
                            )
                    });
                    if newer {
                        best = Some(p);
                    }
                }
            }
        }
        if let Some(p) = best {
            for other in eligible.into_iter().filter(|o| o.id != p.att.id) {
                excluded.push(excluded_of(other, ExclusionReason::SupersededByNewerWindow));
            }
            picked.push(p);
        }
    }
    excluded.sort_by_key(|a| (a.attester, a.id));
    (picked, excluded)
}

/// What anchors `key` in this node's trust: an own key, an auditor, a certified consumer.
fn anchor_of(
    summaries: &Summaries,
    key: &PublicKey,
    now: Timestamp,
    params: &ReputationParams,
    trust: &TrustStore,
) -> Option<Anchor> {
    if params.own_keys.contains(key) {
        return Some(Anchor::Own);
    }
    if let Some(cert) = summaries.auditor_cert(key, trust, now) {
        return Some(Anchor::Auditor(cert));
    }
    summaries
        .held_claims(key, trust, now)
        .first()
        .map(|c| Anchor::Certified(format!("{}={}", c.name, c.value)))
}

/// The rulings on each provider's agreements, by provider then ruling id, with their effect.
///
/// A ruling counts where `Account::of` counts it for the amount due: its dispute is held, its
/// arbiter has the `arbiter` role in `trust`, and it is the greatest trusted one on its
/// agreement by [`ruling_order`]. Only then does one for the consumer count against the
/// provider; an arbiter is never bought, since only the node's own trust store names one.
fn rulings(
    summaries: &Summaries,
    now: Timestamp,
    params: &ReputationParams,
    trust: &TrustStore,
) -> BTreeMap<PublicKey, Vec<RulingOnProvider>> {
    let mut found = Vec::new();
    for m in summaries.rulings.values() {
        let Some(ruled) = m.ruled else { continue };
        if !summaries.disputes.contains_key(&ruled.dispute) {
            continue;
        }
        let Some(agr) = summaries
            .agreement_for_proposal(&m.agreement)
            .and_then(|id| summaries.agreements.get(&id))
        else {
            continue;
        };
        found.push((m.id, m.agreement, agr.provider, ruled));
    }
    let mut in_force: BTreeMap<ObjectId, (Timestamp, ObjectId)> = BTreeMap::new();
    for (id, agreement, _, ruled) in &found {
        if trust.has_role(&ruled.arbiter, Role::Arbiter) {
            let order = ruling_order(ruled.created_at, *id);
            let best = in_force.entry(*agreement).or_insert(order);
            *best = (*best).max(order);
        }
    }
    let mut out: BTreeMap<PublicKey, Vec<RulingOnProvider>> = BTreeMap::new();
    for (id, agreement, provider, ruled) in found {
        let effect = if !trust.has_role(&ruled.arbiter, Role::Arbiter) {
            RulingEffect::Untrusted
        } else if in_force.get(&agreement) != Some(&ruling_order(ruled.created_at, id)) {
            RulingEffect::Superseded
        } else if ruled.in_favour_of == Party::Consumer {
            RulingEffect::Against
        } else {
            RulingEffect::InFavour
        };
        let decay = decay(now.saturating_sub(ruled.created_at), params.half_life_secs);
        let factor = if effect == RulingEffect::Against {
            1.0 - RULING_PENALTY * decay
        } else {
            1.0
        };
        out.entry(provider).or_default().push(RulingOnProvider {
            id,
            arbiter: ruled.arbiter,
            agreement,
            dispute: ruled.dispute,
            in_favour_of: ruled.in_favour_of,
            created_at: ruled.created_at,
            effect,
            decay,
            factor,
        });
    }
    out
}

/// Every attested (or ruled-on) provider's reputation at `now`.
pub(crate) fn assess(
    summaries: &Summaries,
    now: Timestamp,
    params: &ReputationParams,
    trust: &TrustStore,
) -> Assessment {
    let anchored_node =
        !params.own_keys.is_empty() || trust.issuers.iter().any(|i| i.issues_certificates());
    let mut rulings = rulings(summaries, now, params, trust);
    let mut subjects: Vec<PublicKey> = summaries
        .attested_subjects()
        .chain(rulings.keys())
        .copied()
        .collect();
    subjects.sort_unstable();
    subjects.dedup();
    let mut picks: BTreeMap<PublicKey, (Vec<Pick<'_>>, Vec<ExcludedAttestation>)> = subjects
        .iter()
        .map(|s| (*s, pick(summaries, s, now, params, trust)))
        .collect();

    let attesters: BTreeSet<PublicKey> = picks
        .values()
        .flat_map(|(p, _)| p.iter().map(|p| p.att.attester))
        .collect();
    let anchors: BTreeMap<PublicKey, Anchor> = attesters
        .iter()
        .filter_map(|k| Some((*k, anchor_of(summaries, k, now, params, trust)?)))
        .collect();
    let deals: Vec<Deal> = summaries
        .agreements
        .values()
        .filter(|a| a.end > now)
        .map(|a| Deal {
            consumer: a.consumer,
            provider: a.provider,
            stake: stake_of(a, params).0,
        })
        .collect();
    let claimants: Vec<Claimant> = picks
        .iter()
        .flat_map(|(subject, (p, _))| {
            p.iter().map(|p| Claimant {
                subject: *subject,
                attester: p.att.attester,
                stake: p.stake,
                anchor: anchors.get(&p.att.attester).cloned(),
            })
        })
        .collect();
    let weighed = standing::weigh(&deals, &claimants, &limits(params));

    let explanations = subjects
        .iter()
        .map(|subject| {
            let e = explain_one(
                subject,
                picks.remove(subject).unwrap_or_default(),
                rulings.remove(subject).unwrap_or_default(),
                &weighed,
                now,
                params,
                anchored_node,
            );
            (*subject, e)
        })
        .collect();
    Assessment {
        explanations,
        now,
        rated_at: params.rated_at,
        anchored_node,
    }
}

/// One provider's explanation from its picks and everyone's weights.
fn explain_one(
    subject: &PublicKey,
    (picked, excluded): (Vec<Pick<'_>>, Vec<ExcludedAttestation>),
    rulings: Vec<RulingOnProvider>,
    weighed: &standing::Weighed,
    now: Timestamp,
    params: &ReputationParams,
    anchored_node: bool,
) -> Explanation {
    let mut counted = Vec::with_capacity(picked.len());
    let mut discounted = [0 as Ppm; 3];
    for p in picked {
        let a = p.att;
        let Some(w) = weighed.weights.get(&(*subject, a.attester)) else {
            continue;
        };
        discounted[0] += ONE - w.standing;
        discounted[1] += w.standing - w.uncapped;
        discounted[2] += w.uncapped - w.weight;
        let unweighed = matches!(
            w.kind,
            StandingKind::Anchored(Anchor::Own | Anchor::Auditor(_))
        );
        let cap = params.max_probes_per_attester;
        counted.push(CountedAttestation {
            id: a.id,
            attester: a.attester,
            window_start: a.window_start,
            window_end: a.window_end,
            successes: a.successes,
            probes: a.probes,
            probe_scale: if a.probes <= cap {
                1.0
            } else {
                f64::from(cap) / f64::from(a.probes)
            },
            decay: decay(now.saturating_sub(a.window_end), params.half_life_secs),
            basis: p.basis,
            met_sla: p.met,
            stake: as_f64(w.stake),
            stake_basis: if unweighed {
                Stake::NotApplied
            } else {
                p.stake_basis
            },
            standing: Standing {
                value: as_f64(w.standing),
                kind: w.kind.clone(),
                sources: w.sources.iter().map(|(k, s)| (*k, as_f64(*s))).collect(),
            },
            weight: as_f64(w.weight),
        });
    }

    // Sums in attester order; a zero weight adds nothing (and is skipped, so an attester
    // without standing leaves the sums bit for bit as they were).
    let mut alpha = params.prior_alpha;
    let mut beta = params.prior_beta;
    let mut met_weight = 0.0f64;
    let mut sla_weight = 0.0f64;
    for c in counted.iter().filter(|c| c.weight > 0.0) {
        let s = f64::from(c.successes);
        let f = f64::from(c.probes - c.successes);
        let w = c.weight * c.probe_scale;
        alpha += w * s * c.decay;
        beta += w * f * c.decay;
        if let Some(met) = c.met_sla {
            sla_weight += c.weight * c.decay;
            if met {
                met_weight += c.weight * c.decay;
            }
        }
    }
    let beta_mean = alpha / (alpha + beta);
    let compliance = if sla_weight > 0.0 {
        met_weight / sla_weight
    } else {
        params.prior_compliance
    };
    let evidence = weighed.evidence.get(subject).copied().unwrap_or_default();
    let rated = evidence.total > 0 && evidence.total >= limits(params).rated_at;
    // In ruling id order, each factor 1 unless it counts against the provider.
    let ruling_factor = rulings.iter().fold(1.0f64, |acc, r| acc * r.factor);
    let score = rated.then_some(
        (params.beta_weight * beta_mean + (1.0 - params.beta_weight) * compliance) * ruling_factor,
    );
    Explanation {
        provider: *subject,
        now,
        reputation: Reputation {
            score,
            beta_mean,
            compliance,
            evidence: as_f64(evidence.total),
            anchored: as_f64(evidence.anchored),
            counted: u32::try_from(counted.len()).unwrap_or(u32::MAX),
            excluded: u32::try_from(excluded.len()).unwrap_or(u32::MAX),
        },
        alpha,
        beta,
        rated_at: params.rated_at,
        anchored_node,
        discounted: Discounts {
            no_standing: as_f64(discounted[0]),
            low_stake: as_f64(discounted[1]),
            capped: as_f64(discounted[2]),
        },
        counted,
        excluded,
        rulings,
        ruling_factor,
    }
}
