//! Answering a query: the [`Plan`] resolved against the interners, the walk along the list of
//! its sort (merged across regions; for price, group after group), the filters, cursors, and
//! the reputation sort.

use std::collections::{HashMap, HashSet};

use flashback_types::{Cursor, ObjectId, ResourceKind, SortKey};

use super::{
    Entry, F_PROTO_OVERFLOW, F_REGION_OVERFLOW, F_UNIT_HOUR, GroupLists, OfferIndex, Order,
    T_COMPUTE, T_PROTO_BITS, T_PROTO_SHIFT, T_WITHDRAWN, id_key,
};
use crate::config::Rate;
use crate::ordered::{Ordered, Pos};
use crate::price;

/// A max-price filter, prepared against the rate table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PriceFilter {
    /// The query's asset has no rate: only offers in that asset, compared by amount.
    SameAsset {
        unit_hour: bool,
        asset: u32,
        amount: u64,
    },
    /// The query's asset has a rate: every priced offer, compared exactly.
    Cross {
        unit_hour: bool,
        asset: Option<u32>,
        amount: u64,
        rate: Rate,
    },
}

/// Reputation scores used by a query: rated providers only (the rest are unrated).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scores {
    pub(crate) by_provider: HashMap<u32, f64>,
}

impl Scores {
    fn of(&self, provider: u32) -> Option<f64> {
        self.by_provider.get(&provider).copied()
    }
}

/// The cursor value of the unrated, who sort after every rated provider: no score's bits
/// (scores are in `[0, 1]`, whose bits are at most those of 1.0).
const UNRATED: u64 = u64::MAX;

/// A query resolved against the interners: every field is cheap to test.
pub(crate) struct Plan<'a> {
    pub(crate) now: u64,
    pub(crate) kind: Option<ResourceKind>,
    pub(crate) regions: Option<Vec<u32>>,
    pub(crate) protocol: Option<u32>,
    pub(crate) price: Option<PriceFilter>,
    pub(crate) min_capacity: Option<u64>,
    pub(crate) min_avail: Option<u16>,
    pub(crate) max_p95: Option<u32>,
    pub(crate) provider: Option<u32>,
    /// Jurisdiction ids, any of which the offer must declare.
    pub(crate) jurisdictions: Option<Vec<u32>>,
    pub(crate) asset: Option<u32>,
    pub(crate) offer_key: Option<u32>,
    pub(crate) certified: Option<&'a HashSet<u32>>,
    pub(crate) min_reputation_bp: Option<u16>,
    /// With `min_reputation_bp`: unrated providers pass too.
    pub(crate) include_unrated: bool,
    pub(crate) scores: &'a Scores,
    pub(crate) include_withdrawn: bool,
    pub(crate) sort: SortKey,
    pub(crate) limit: usize,
    pub(crate) cursor: Option<Cursor>,
}

/// A page of results: slots and ids in order, and the cursor for the next page.
#[derive(Debug, Default)]
pub(crate) struct PageIds {
    pub(crate) ids: Vec<ObjectId>,
    pub(crate) next: Option<Cursor>,
}

/// One list being merged: the list, the position after its head, and its head.
type MergeInput<'i> = (&'i Ordered, Pos, Option<(u64, u32)>);

/// Lists iterated in order, merged when a query names several regions.
struct Merge<'i> {
    lists: Vec<MergeInput<'i>>,
    last: Option<u32>,
}

impl OfferIndex {
    fn matches(&self, slot: u32, plan: &Plan<'_>, check_regions: bool) -> bool {
        let t = self.tags[slot as usize];
        if let Some(kind) = plan.kind
            && (t & T_COMPUTE != 0) != (kind == ResourceKind::Compute)
        {
            return false;
        }
        if !plan.include_withdrawn && t & T_WITHDRAWN != 0 {
            return false;
        }
        if let Some(p) = plan.protocol {
            if p < T_PROTO_BITS {
                if t & (1 << (T_PROTO_SHIFT + p)) == 0 {
                    return false;
                }
            } else {
                let has = self.slab[slot as usize].flags & F_PROTO_OVERFLOW != 0
                    && self
                        .proto_overflow
                        .get(&slot)
                        .is_some_and(|extra| extra.contains(&p));
                if !has {
                    return false;
                }
            }
        }
        let e = &self.slab[slot as usize];
        if e.expires_at <= plan.now {
            return false;
        }
        if plan.provider.is_some_and(|p| p != e.provider)
            || plan.asset.is_some_and(|a| a != e.asset)
            || plan.offer_key.is_some_and(|k| k != e.offer_key)
        {
            return false;
        }
        if plan.min_capacity.is_some_and(|c| e.capacity < c) {
            return false;
        }
        if plan.min_avail.is_some_and(|a| e.avail_bp < a) {
            return false;
        }
        if plan.max_p95.is_some_and(|m| e.p95_ms == 0 || e.p95_ms > m) {
            return false;
        }
        if let Some(pf) = &plan.price
            && !self.price_ok(e, pf)
        {
            return false;
        }
        if check_regions && let Some(regions) = &plan.regions {
            let hit = regions.iter().any(|&r| {
                if r < 64 {
                    e.regions & (1 << r) != 0
                } else {
                    e.flags & F_REGION_OVERFLOW != 0
                        && self
                            .region_overflow
                            .get(&slot)
                            .is_some_and(|x| x.contains(&r))
                }
            });
            if !hit {
                return false;
            }
        }
        if plan.certified.is_some_and(|c| !c.contains(&e.provider)) {
            return false;
        }
        if let Some(wanted) = &plan.jurisdictions {
            let declared = self.jurisdiction_sets.get(&slot);
            if !declared.is_some_and(|d| wanted.iter().any(|j| d.contains(j))) {
                return false;
            }
        }
        if let Some(bp) = plan.min_reputation_bp {
            let pass = match plan.scores.of(e.provider) {
                Some(score) => score * 10_000.0 >= f64::from(bp),
                None => plan.include_unrated,
            };
            if !pass {
                return false;
            }
        }
        true
    }

    fn price_ok(&self, e: &Entry, pf: &PriceFilter) -> bool {
        let unit_hour = e.flags & F_UNIT_HOUR != 0;
        match *pf {
            PriceFilter::SameAsset {
                unit_hour: u,
                asset,
                amount,
            } => u == unit_hour && e.asset == asset && e.amount <= amount,
            PriceFilter::Cross {
                unit_hour: u,
                asset,
                amount,
                rate,
                ..
            } => {
                if u != unit_hour {
                    return false;
                }
                if asset == Some(e.asset) {
                    return e.amount <= amount;
                }
                match self.asset_rates.get(e.asset as usize).copied().flatten() {
                    Some(r) => price::at_most(e.amount, r, amount, rate),
                    None => false,
                }
            }
        }
    }

    /// The internal (ascending) sort key of a slot (for price: its group, then its amount),
    /// and the cursor that names it.
    fn sort_value(&self, slot: u32, plan: &Plan<'_>) -> (u128, Cursor) {
        let e = &self.slab[slot as usize];
        let cursor = |after_value, after_group| Cursor {
            after_value,
            after_id: e.id,
            after_group,
        };
        match plan.sort {
            SortKey::Price => (
                (u128::from(e.group) << 64) | u128::from(e.amount),
                cursor(e.amount, e.group),
            ),
            SortKey::Capacity => (u128::from(!e.capacity), cursor(e.capacity, 0)),
            SortKey::Newest => (u128::from(!e.created_at), cursor(e.created_at, 0)),
            // Highest first; the unrated last.
            SortKey::Reputation => match plan.scores.of(e.provider) {
                Some(score) => (u128::from(!score.to_bits()), cursor(score.to_bits(), 0)),
                None => (u128::from(u64::MAX), cursor(UNRATED, 0)),
            },
        }
    }

    fn internal_cursor(plan: &Plan<'_>) -> Option<(u128, ObjectId)> {
        plan.cursor.map(|c| {
            let k = match plan.sort {
                SortKey::Price => (u128::from(c.after_group) << 64) | u128::from(c.after_value),
                SortKey::Reputation if c.after_value == UNRATED => u128::from(u64::MAX),
                _ => u128::from(!c.after_value),
            };
            (k, c.after_id)
        })
    }

    fn finish(&self, plan: &Plan<'_>, mut slots: Vec<u32>) -> PageIds {
        let more = slots.len() > plan.limit;
        slots.truncate(plan.limit);
        let next = if more {
            slots.last().map(|&s| self.sort_value(s, plan).1)
        } else {
            None
        };
        PageIds {
            ids: slots.iter().map(|&s| self.slab[s as usize].id).collect(),
            next,
        }
    }

    /// Sorts a candidate set in memory (one provider).
    fn sort_candidates(
        &self,
        plan: &Plan<'_>,
        candidates: impl Iterator<Item = u32>,
        after: Option<(u128, ObjectId)>,
        want: usize,
    ) -> Vec<u32> {
        let mut found: Vec<(u128, ObjectId, u32)> = candidates
            .filter(|&s| self.matches(s, plan, true))
            .map(|s| (self.sort_value(s, plan).0, self.slab[s as usize].id, s))
            .filter(|(k, id, _)| after.is_none_or(|a| (*k, *id) > a))
            .collect();
        found.sort_unstable();
        found.truncate(want);
        found.into_iter().map(|(_, _, s)| s).collect()
    }

    /// Runs a query plan: the ids of one page, in order, and the next cursor.
    pub(crate) fn query(&self, plan: &Plan<'_>) -> PageIds {
        let want = plan.limit + 1;
        let after = Self::internal_cursor(plan);
        if let Some(p) = plan.provider {
            let slots = self.by_provider.get(&p).map_or(&[][..], Vec::as_slice);
            let found = self.sort_candidates(plan, slots.iter().copied(), after, want);
            return self.finish(plan, found);
        }
        let order = match plan.sort {
            SortKey::Reputation => {
                let found = self.query_reputation(plan, want);
                return self.finish(plan, found);
            }
            SortKey::Price => {
                let found = self.query_price(plan, want);
                return self.finish(plan, found);
            }
            SortKey::Capacity => Order::Capacity,
            SortKey::Newest => Order::Newest,
        };
        // Capacity and newest keys fit in 64 bits (see `sort_value`).
        let after = after.map(|(k, id)| (k as u64, id));
        let mut merge = match &plan.regions {
            Some(regions) => {
                let lists = regions
                    .iter()
                    .filter_map(|&r| self.by_region.get(r as usize))
                    .map(|l| &l[order as usize])
                    .collect::<Vec<_>>();
                self.merge(lists, after)
            }
            None => self.merge(vec![&self.global[order as usize]], after),
        };
        let mut found = Vec::new();
        while let Some((_, s)) = self.merge_next(&mut merge) {
            if self.matches(s, plan, false) {
                found.push(s);
                if found.len() == want {
                    break;
                }
            }
        }
        self.finish(plan, found)
    }

    /// The price sort: the price groups in order (from the cursor's), each cheapest first,
    /// merged across the query's regions; a group is skipped when the query's kind, asset or
    /// price filter rules it out, and left at the first amount above the price filter.
    fn query_price(&self, plan: &Plan<'_>, want: usize) -> Vec<u32> {
        let start = plan.cursor.map_or(0, |c| c.after_group);
        let mut found = Vec::new();
        for (&group, lists) in self.by_group.range(start..) {
            if !self.group_ok(lists, plan) {
                continue;
            }
            let ordered: Vec<&crate::ordered::Ordered> = match &plan.regions {
                Some(regions) => regions
                    .iter()
                    .filter_map(|r| lists.by_region.get(r))
                    .collect(),
                None => vec![&lists.all],
            };
            let after = plan
                .cursor
                .filter(|c| c.after_group == group)
                .map(|c| (c.after_value, c.after_id));
            let mut merge = self.merge(ordered, after);
            while let Some((amount, s)) = self.merge_next(&mut merge) {
                if !self.amount_ok(lists, amount, plan) {
                    break;
                }
                if self.matches(s, plan, false) {
                    found.push(s);
                    if found.len() == want {
                        return found;
                    }
                }
            }
        }
        found
    }

    /// Whether any offer of a price group can match the plan's kind, asset and price filter.
    fn group_ok(&self, g: &GroupLists, plan: &Plan<'_>) -> bool {
        if plan
            .kind
            .is_some_and(|k| (k == ResourceKind::Compute) != g.unit_hour)
            || plan.asset.is_some_and(|a| a != g.asset)
        {
            return false;
        }
        match plan.price {
            None => true,
            Some(PriceFilter::SameAsset {
                unit_hour, asset, ..
            }) => g.unit_hour == unit_hour && g.asset == asset,
            Some(PriceFilter::Cross {
                unit_hour, asset, ..
            }) => {
                g.unit_hour == unit_hour
                    && (asset == Some(g.asset)
                        || self
                            .asset_rates
                            .get(g.asset as usize)
                            .copied()
                            .flatten()
                            .is_some())
            }
        }
    }

    /// Whether `amount` of a group's asset passes the plan's price filter; amounts only grow
    /// along a group's list, so the first one that does not ends the group.
    fn amount_ok(&self, g: &GroupLists, amount: u64, plan: &Plan<'_>) -> bool {
        match plan.price {
            None => true,
            Some(PriceFilter::SameAsset { amount: max, .. }) => amount <= max,
            Some(PriceFilter::Cross {
                asset,
                amount: max,
                rate,
                ..
            }) => {
                if asset == Some(g.asset) {
                    return amount <= max;
                }
                match self.asset_rates.get(g.asset as usize).copied().flatten() {
                    Some(r) => price::at_most(amount, r, max, rate),
                    None => false,
                }
            }
        }
    }

    fn merge<'i>(&'i self, lists: Vec<&'i Ordered>, after: Option<(u64, ObjectId)>) -> Merge<'i> {
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        Merge {
            lists: lists
                .into_iter()
                .map(|l| {
                    let pos = l.seek(after, &id_of);
                    match l.next(pos) {
                        Some((item, next)) => (l, next, Some(item)),
                        None => (l, pos, None),
                    }
                })
                .collect(),
            last: None,
        }
    }

    fn merge_next(&self, m: &mut Merge<'_>) -> Option<(u64, u32)> {
        loop {
            let mut best: Option<usize> = None;
            for (i, (_, _, head)) in m.lists.iter().enumerate() {
                let Some((k, s)) = *head else { continue };
                best = match best {
                    None => Some(i),
                    Some(b) => {
                        let (bk, bs) = m.lists[b].2.unwrap_or((u64::MAX, 0));
                        let less =
                            (k, &self.slab[s as usize].id) < (bk, &self.slab[bs as usize].id);
                        if less { Some(i) } else { Some(b) }
                    }
                };
            }
            let b = best?;
            let (list, pos, head) = &mut m.lists[b];
            let item = head.take()?;
            if let Some((next_item, next_pos)) = list.next(*pos) {
                *head = Some(next_item);
                *pos = next_pos;
            }
            if m.last == Some(item.1) {
                continue;
            }
            m.last = Some(item.1);
            return Some(item);
        }
    }

    fn query_reputation(&self, plan: &Plan<'_>, want: usize) -> Vec<u32> {
        let scores = plan.scores;
        // Score levels of providers with offers, best first, then the unrated.
        let mut levels: Vec<u64> = scores
            .by_provider
            .iter()
            .filter(|(p, _)| self.by_provider.contains_key(p))
            .map(|(_, s)| s.to_bits())
            .collect();
        levels.sort_unstable_by(|a, b| f64::from_bits(*b).total_cmp(&f64::from_bits(*a)));
        levels.dedup();
        levels.push(UNRATED);
        let cursor = plan.cursor.map(|c| (c.after_value, c.after_id));
        // Whether `level` comes before `other` in the order (unrated last).
        let before = |level: u64, other: u64| match (level == UNRATED, other == UNRATED) {
            (_, true) => level != UNRATED,
            (true, false) => false,
            (false, false) => f64::from_bits(level)
                .total_cmp(&f64::from_bits(other))
                .is_gt(),
        };
        let mut found = Vec::new();
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        for level in levels {
            let after_id = match cursor {
                Some((cs, _)) if before(level, cs) => continue,
                Some((cs, id)) if level == cs => Some(id),
                _ => None,
            };
            let need = want - found.len();
            if level == UNRATED {
                // Usually most providers: walk the id list rather than sort them.
                let list = &self.global[Order::Id as usize];
                let mut pos = list.seek(after_id.map(|id| (id_key(&id), id)), &id_of);
                let mut got = 0;
                while let Some(((_, s), next)) = list.next(pos) {
                    pos = next;
                    let e = &slab[s as usize];
                    if scores.of(e.provider).is_none() && self.matches(s, plan, true) {
                        found.push(s);
                        got += 1;
                        if got == need {
                            break;
                        }
                    }
                }
            } else {
                let providers = scores
                    .by_provider
                    .iter()
                    .filter(|(_, s)| s.to_bits() == level)
                    .filter_map(|(p, _)| self.by_provider.get(p));
                let mut cands: Vec<(ObjectId, u32)> = providers
                    .flat_map(|slots| slots.iter().copied())
                    .filter(|&s| self.matches(s, plan, true))
                    .map(|s| (slab[s as usize].id, s))
                    .filter(|(id, _)| after_id.is_none_or(|a| *id > a))
                    .collect();
                cands.sort_unstable();
                found.extend(cands.into_iter().take(need).map(|(_, s)| s));
            }
            if found.len() >= want {
                break;
            }
        }
        found
    }
}
