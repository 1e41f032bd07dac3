//! Standing: how much an attester's word counts about one provider. A pure function of the
//! live deals, the counted attestations and the anchors, in integer parts per million, so that
//! two nodes holding the same objects and trust settings weigh every attestation the same to
//! the unit, whatever order their inputs come in (integer sums do not depend on order; the
//! inputs are sorted anyway). Decision 0059 gives the reasons and the attacks measured.
//!
//! 1. **Anchors** count in full: the node's own keys, accredited auditors and consumers
//!    certified by a trusted certifier. An own key's or an auditor's word weighs 1; a
//!    certified consumer's weighs the stake of its agreement, and certified consumers who deal
//!    with nobody but the subject count together as at most `captive_cap`.
//! 2. **Sources**: providers whose anchored evidence alone reaches `rated_at`. Only they give
//!    standing to others, so trust spreads one step from what the node itself trusts and a
//!    clique of made-up providers cannot vouch for itself.
//! 3. **Earned standing** of any other attester about provider *P*: its stake in deals with
//!    sources other than *P*, over `diversity` (two full-stake deals with sources give full
//!    standing), at most 1. Its word weighs its standing times the stake of the attested
//!    agreement, and the standing that one source gives, summed over the attesters of one
//!    provider, counts at most `source_cap`: fifty keys that bought from one source weigh
//!    what one does.

use std::collections::{BTreeMap, BTreeSet};

use flashback_types::{ObjectId, PublicKey};

/// Parts per million: [`ONE`] is 1.0.
pub(crate) type Ppm = u64;

/// 1.0 in parts per million.
pub(crate) const ONE: Ppm = 1_000_000;

/// `a × b / c` in 128 bits, rounded down (0 when `c` is 0).
pub(crate) fn mul_div(a: Ppm, b: Ppm, c: Ppm) -> Ppm {
    if c == 0 {
        return 0;
    }
    u64::try_from(u128::from(a) * u128::from(b) / u128::from(c)).unwrap_or(u64::MAX)
}

/// `ppm` as a float, for display and for the score's sums.
pub(crate) fn as_f64(ppm: Ppm) -> f64 {
    ppm as f64 / ONE as f64
}

/// Why an attester's word counts in full without having to earn standing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anchor {
    /// One of this node's own keys (`reputation.own_keys`): its measurements are the node's.
    Own,
    /// It holds this valid `auditor` certificate from an issuer the trust store holds as an
    /// auditor.
    Auditor(ObjectId),
    /// It holds this claim (`name=value`) from a certifier the trust store trusts: a consumer
    /// certificate.
    Certified(String),
}

/// Why an attester without an anchor has no standing about a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unearned {
    /// It has no live agreement at all.
    NoDeals,
    /// Its only live agreements are with the provider it attests.
    OnlyThisProvider,
    /// It deals with other providers, but none is rated by this node's anchors.
    NoRatedCounterparty,
}

/// How an attester came by its standing about one provider.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StandingKind {
    /// Anchored in what this node trusts.
    Anchored(Anchor),
    /// Earned by deals with providers this node's anchors rate (the sources).
    Earned,
    /// None.
    Unearned(Unearned),
}

impl StandingKind {
    /// A stable code for scripts: `own`, `auditor`, `certified`, `earned`, `no_deals`,
    /// `only_this_provider`, `no_rated_counterparty`.
    pub fn code(&self) -> &'static str {
        match self {
            StandingKind::Anchored(Anchor::Own) => "own",
            StandingKind::Anchored(Anchor::Auditor(_)) => "auditor",
            StandingKind::Anchored(Anchor::Certified(_)) => "certified",
            StandingKind::Earned => "earned",
            StandingKind::Unearned(Unearned::NoDeals) => "no_deals",
            StandingKind::Unearned(Unearned::OnlyThisProvider) => "only_this_provider",
            StandingKind::Unearned(Unearned::NoRatedCounterparty) => "no_rated_counterparty",
        }
    }
}

/// One live agreement, as standing reads it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deal {
    pub(crate) consumer: PublicKey,
    pub(crate) provider: PublicKey,
    /// Value at stake, `0..=ONE`.
    pub(crate) stake: Ppm,
}

/// An attester whose newest eligible attestation about `subject` counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Claimant {
    pub(crate) subject: PublicKey,
    pub(crate) attester: PublicKey,
    /// Stake of the agreement the attestation rests on (`ONE` without one: an auditor's or an
    /// own key's measurement).
    pub(crate) stake: Ppm,
    pub(crate) anchor: Option<Anchor>,
}

/// The constants of standing, in parts per million.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Stake in deals with sources that gives full standing.
    pub(crate) diversity: Ppm,
    /// Most one source's standing counts toward one provider, summed over its attesters.
    pub(crate) source_cap: Ppm,
    /// Most the certified consumers who deal only with a provider count together for it.
    pub(crate) captive_cap: Ppm,
    /// Evidence a provider needs to be rated (and, from anchors alone, to be a source).
    pub(crate) rated_at: Ppm,
}

/// What one attester's word weighs about one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Weight {
    /// `0..=ONE`.
    pub(crate) standing: Ppm,
    pub(crate) kind: StandingKind,
    /// Earned standing by source provider, before caps, by key.
    pub(crate) sources: Vec<(PublicKey, Ppm)>,
    /// The stake that applied (`ONE` for own keys and auditors).
    pub(crate) stake: Ppm,
    /// `standing × stake`, before caps.
    pub(crate) uncapped: Ppm,
    /// After the source and captive caps: what the attestation counts for.
    pub(crate) weight: Ppm,
}

/// The evidence behind one provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Evidence {
    /// Every counted weight, summed.
    pub(crate) total: Ppm,
    /// The part from anchored attesters.
    pub(crate) anchored: Ppm,
}

/// Every claimant weighed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Weighed {
    /// By `(subject, attester)`.
    pub(crate) weights: BTreeMap<(PublicKey, PublicKey), Weight>,
    /// Providers whose anchored evidence reaches `rated_at`: the ones that give standing.
    pub(crate) sources: BTreeSet<PublicKey>,
    /// By subject.
    pub(crate) evidence: BTreeMap<PublicKey, Evidence>,
}

/// Scales the entries of `group` (indexes into `values`) so that their sum is at most `cap`:
/// in proportion, rounded down, then the units lost to rounding given one each to the first
/// entries, so that a capped group sums to exactly `cap`.
fn cap_group(values: &mut [Ppm], group: &[usize], cap: Ppm) {
    let sum: Ppm = group.iter().map(|&i| values[i]).sum();
    if sum <= cap {
        return;
    }
    let mut left = cap;
    for &i in group {
        values[i] = mul_div(values[i], cap, sum);
        left -= values[i];
    }
    for &i in group {
        if left == 0 {
            break;
        }
        if values[i] > 0 {
            values[i] += 1;
            left -= 1;
        }
    }
}

/// Weighs every claimant. Deals and claimants may come in any order; one claimant per
/// `(subject, attester)` is expected (of duplicates, the one with the highest stake counts).
pub(crate) fn weigh(deals: &[Deal], claimants: &[Claimant], limits: &Limits) -> Weighed {
    // Stake per (consumer, provider), at most ONE: several small deals add up.
    let mut dealt: BTreeMap<PublicKey, BTreeMap<PublicKey, Ppm>> = BTreeMap::new();
    for d in deals.iter().filter(|d| d.consumer != d.provider) {
        let s = dealt
            .entry(d.consumer)
            .or_default()
            .entry(d.provider)
            .or_default();
        *s = s.saturating_add(d.stake).min(ONE);
    }
    let mut claimants: Vec<&Claimant> = claimants.iter().collect();
    claimants.sort_by(|a, b| {
        (a.subject, a.attester, std::cmp::Reverse(a.stake), &a.anchor).cmp(&(
            b.subject,
            b.attester,
            std::cmp::Reverse(b.stake),
            &b.anchor,
        ))
    });
    claimants.dedup_by(|b, a| (a.subject, a.attester) == (b.subject, b.attester));
    let only_with = |c: &PublicKey, subject: &PublicKey| {
        dealt.get(c).is_none_or(|m| m.keys().all(|q| q == subject))
    };

    // 1. Anchors, per subject; the captive cap on certified consumers who deal only with it.
    let mut anchored: Vec<Ppm> = claimants
        .iter()
        .map(|c| match &c.anchor {
            Some(Anchor::Own | Anchor::Auditor(_)) => ONE,
            Some(Anchor::Certified(_)) => c.stake,
            None => 0,
        })
        .collect();
    let by_subject = groups(&claimants, |c| c.subject);
    for range in &by_subject {
        let captive: Vec<usize> = range
            .clone()
            .filter(|&i| {
                matches!(claimants[i].anchor, Some(Anchor::Certified(_)))
                    && only_with(&claimants[i].attester, &claimants[i].subject)
            })
            .collect();
        cap_group(&mut anchored, &captive, limits.captive_cap);
    }
    // 2. Sources: providers rated by anchored evidence alone.
    let mut sources = BTreeSet::new();
    for range in &by_subject {
        let sum: Ppm = range.clone().map(|i| anchored[i]).sum();
        if sum >= limits.rated_at && sum > 0 {
            sources.insert(claimants[range.start].subject);
        }
    }
    // 3. Earned standing, by source, then the source cap per subject.
    let mut weights: Vec<Weight> = Vec::with_capacity(claimants.len());
    // (claimant, source, weight) triples, capped per (subject, source) below.
    let mut parts: Vec<(usize, PublicKey, Ppm)> = Vec::new();
    for (i, c) in claimants.iter().enumerate() {
        if let Some(anchor) = &c.anchor {
            let stake = match anchor {
                Anchor::Certified(_) => c.stake,
                Anchor::Own | Anchor::Auditor(_) => ONE,
            };
            weights.push(Weight {
                standing: ONE,
                kind: StandingKind::Anchored(anchor.clone()),
                sources: Vec::new(),
                stake,
                uncapped: stake,
                weight: anchored[i],
            });
            continue;
        }
        let mine = dealt.get(&c.attester);
        let mut from: Vec<(PublicKey, Ppm)> = mine
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(q, _)| **q != c.subject && **q != c.attester && sources.contains(*q))
            .map(|(q, s)| (*q, mul_div(*s, ONE, limits.diversity)))
            .collect();
        let total: Ppm = from.iter().map(|(_, s)| s).sum();
        if total > ONE {
            for (_, s) in &mut from {
                *s = mul_div(*s, ONE, total);
            }
        }
        let standing: Ppm = from.iter().map(|(_, s)| s).sum();
        let kind = if standing > 0 {
            StandingKind::Earned
        } else if mine.is_none() {
            StandingKind::Unearned(Unearned::NoDeals)
        } else if only_with(&c.attester, &c.subject) {
            StandingKind::Unearned(Unearned::OnlyThisProvider)
        } else {
            StandingKind::Unearned(Unearned::NoRatedCounterparty)
        };
        for (q, s) in &from {
            parts.push((i, *q, mul_div(*s, c.stake, ONE)));
        }
        weights.push(Weight {
            standing,
            kind,
            sources: from,
            stake: c.stake,
            uncapped: mul_div(standing, c.stake, ONE),
            weight: 0,
        });
    }
    parts.sort_by(|a, b| {
        (claimants[a.0].subject, a.1, a.0).cmp(&(claimants[b.0].subject, b.1, b.0))
    });
    let mut part_weights: Vec<Ppm> = parts.iter().map(|p| p.2).collect();
    for range in groups(&parts, |p| (claimants[p.0].subject, p.1)) {
        let group: Vec<usize> = range.collect();
        cap_group(&mut part_weights, &group, limits.source_cap);
    }
    for (p, w) in parts.iter().zip(part_weights) {
        weights[p.0].weight += w;
    }

    let mut out = Weighed {
        sources,
        ..Weighed::default()
    };
    for (c, w) in claimants.iter().zip(weights) {
        let e = out.evidence.entry(c.subject).or_default();
        e.total += w.weight;
        if c.anchor.is_some() {
            e.anchored += w.weight;
        }
        out.weights.insert((c.subject, c.attester), w);
    }
    out
}

/// Index ranges of runs of equal `key` in `items` (sorted by it).
fn groups<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        if i == items.len() || key(&items[i]) != key(&items[start]) {
            if start < i {
                out.push(start..i);
            }
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashback_types::SecretKey;
    use proptest::prelude::*;

    fn pk(n: u16) -> PublicKey {
        let mut s = [3u8; 32];
        s[..2].copy_from_slice(&n.to_le_bytes());
        SecretKey::from_seed(&s).public()
    }

    const LIMITS: Limits = Limits {
        diversity: 2 * ONE,
        source_cap: ONE / 2,
        captive_cap: ONE / 2,
        rated_at: ONE,
    };

    fn deal(consumer: PublicKey, provider: PublicKey, stake: Ppm) -> Deal {
        Deal {
            consumer,
            provider,
            stake,
        }
    }

    fn claim(
        subject: PublicKey,
        attester: PublicKey,
        stake: Ppm,
        anchor: Option<Anchor>,
    ) -> Claimant {
        Claimant {
            subject,
            attester,
            stake,
            anchor,
        }
    }

    #[test]
    fn keys_that_deal_only_with_the_subject_weigh_nothing() {
        let s = pk(1);
        let mut deals = Vec::new();
        let mut claims = Vec::new();
        for i in 0..50 {
            let y = pk(100 + i);
            deals.push(deal(y, s, ONE));
            claims.push(claim(s, y, ONE, None));
        }
        let w = weigh(&deals, &claims, &LIMITS);
        assert_eq!(w.evidence[&s], Evidence::default());
        assert!(
            w.weights
                .values()
                .all(|w| w.weight == 0
                    && w.kind == StandingKind::Unearned(Unearned::OnlyThisProvider))
        );
    }

    #[test]
    fn standing_spreads_one_step_from_the_anchors_and_one_source_counts_once() {
        let (own, p1, p2, h) = (pk(1), pk(2), pk(3), pk(4));
        let mut deals = vec![deal(own, p1, ONE), deal(own, p2, ONE)];
        let mut claims = vec![
            claim(p1, own, ONE, Some(Anchor::Own)),
            claim(p2, own, ONE, Some(Anchor::Own)),
        ];
        for i in 0..5 {
            let c = pk(10 + i);
            deals.extend([deal(c, p1, ONE), deal(c, p2, ONE), deal(c, h, ONE)]);
            claims.push(claim(h, c, ONE, None));
        }
        let w = weigh(&deals, &claims, &LIMITS);
        assert_eq!(w.sources, BTreeSet::from([p1, p2]));
        // Each consumer has full standing, half from each source; each source counts 0.5.
        let e = w.evidence[&h];
        assert_eq!((e.total, e.anchored), (ONE, 0));
        let one = &w.weights[&(h, pk(10))];
        assert_eq!(
            (one.standing, one.kind.clone()),
            (ONE, StandingKind::Earned)
        );
        assert_eq!(one.weight, ONE / 5);
        // Providers rated by earned standing alone give none: `h` is no source.
        assert!(!w.sources.contains(&h));
    }

    #[test]
    fn certified_consumers_captive_to_one_provider_count_as_half_an_attester() {
        let s = pk(1);
        let mut deals = Vec::new();
        let mut claims = Vec::new();
        for i in 0..10 {
            let y = pk(100 + i);
            deals.push(deal(y, s, ONE));
            claims.push(claim(s, y, ONE, Some(Anchor::Certified("kyc=yes".into()))));
        }
        let w = weigh(&deals, &claims, &LIMITS);
        assert_eq!(w.evidence[&s].total, ONE / 2);
        assert!(w.sources.is_empty());
    }

    fn world() -> impl Strategy<Value = (Vec<Deal>, Vec<Claimant>)> {
        let deals = proptest::collection::vec((0u16..12, 0u16..12, 0..=ONE), 0..40).prop_map(|v| {
            v.into_iter()
                .map(|(c, p, s)| deal(pk(c), pk(p), s))
                .collect()
        });
        let anchor = prop_oneof![
            Just(None),
            Just(Some(Anchor::Own)),
            Just(Some(Anchor::Certified("c=1".into()))),
        ];
        let claims = proptest::collection::vec((0u16..12, 0u16..12, 0..=ONE, anchor), 0..40)
            .prop_map(|v| {
                v.into_iter()
                    .map(|(s, a, st, an)| claim(pk(s), pk(a), st, an))
                    .collect()
            });
        (deals, claims)
    }

    proptest! {
        #[test]
        fn input_order_changes_nothing((deals, claims) in world(), seed in any::<u64>()) {
            use rand::SeedableRng;
            use rand::seq::SliceRandom;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let (mut d2, mut c2) = (deals.clone(), claims.clone());
            d2.shuffle(&mut rng);
            c2.shuffle(&mut rng);
            prop_assert_eq!(weigh(&deals, &claims, &LIMITS), weigh(&d2, &c2, &LIMITS));
        }

        #[test]
        fn weights_stay_within_standing_and_stake((deals, claims) in world()) {
            let w = weigh(&deals, &claims, &LIMITS);
            for x in w.weights.values() {
                prop_assert!(x.standing <= ONE);
                prop_assert!(x.weight <= x.uncapped);
                prop_assert!(x.uncapped <= x.stake);
            }
            for e in w.evidence.values() {
                prop_assert!(e.anchored <= e.total);
            }
        }
    }
}
