//! Writing heads: building an offer's entry, linking it into the ordered lists (globally, per
//! region, per price group), replacing and removing heads, and the history of superseded
//! versions.

use flashback_types::{Offer, PriceUnit, ResourceKind, Signed, price_group};

use std::collections::{BTreeMap, HashMap};

use super::{
    Entry, F_COMPUTE, F_PROTO_OVERFLOW, F_REGION_OVERFLOW, F_UNIT_HOUR, F_WITHDRAWN, GLOBAL_ORDERS,
    GroupLists, OfferIndex, REGION_ORDERS, T_COMPUTE, T_PROTO_BITS, T_PROTO_SHIFT, T_WITHDRAWN,
    Version, order_key,
};
use crate::ordered::Ordered;

/// `(key, slot)` pairs to sort into an [`Ordered`].
type Pairs = Vec<(u64, u32)>;

impl OfferIndex {
    fn build_entry(&mut self, o: &Signed<Offer>, slot: u32) -> (Entry, u32) {
        let b = o.body();
        let provider = self.providers.intern(&b.provider);
        let offer_key = self.keys.intern(&b.offer_key);
        let asset = self.asset_id(&b.price.asset);
        let mut flags = 0u8;
        let mut tags = 0u32;
        if b.kind == ResourceKind::Compute {
            flags |= F_COMPUTE;
            tags |= T_COMPUTE;
        }
        if b.withdrawn {
            flags |= F_WITHDRAWN;
            tags |= T_WITHDRAWN;
        }
        if b.price.unit == PriceUnit::UnitHour {
            flags |= F_UNIT_HOUR;
        }
        let mut regions = 0u64;
        let mut region_extra = Vec::new();
        for r in b.regions.iter() {
            let id = self.regions.intern(r);
            if id < 64 {
                regions |= 1 << id;
            } else {
                region_extra.push(id);
            }
        }
        if !region_extra.is_empty() {
            flags |= F_REGION_OVERFLOW;
            self.region_overflow
                .insert(slot, region_extra.into_boxed_slice());
        }
        let mut proto_extra = Vec::new();
        for p in b.protocols.iter() {
            let id = self.protocols.intern(p);
            if id < T_PROTO_BITS {
                tags |= 1 << (T_PROTO_SHIFT + id);
            } else {
                proto_extra.push(id);
            }
        }
        if !proto_extra.is_empty() {
            flags |= F_PROTO_OVERFLOW;
            self.proto_overflow
                .insert(slot, proto_extra.into_boxed_slice());
        }
        if !b.jurisdictions.is_empty() {
            let ids: Vec<u32> = b
                .jurisdictions
                .iter()
                .map(|j| self.jurisdictions.intern(j))
                .collect();
            self.jurisdiction_sets.insert(slot, ids.into_boxed_slice());
        }
        let entry = Entry {
            id: o.id(),
            seq: b.seq,
            created_at: b.created_at,
            expires_at: b.expires_at,
            capacity: b.capacity,
            group: price_group(b.price.unit, &b.price.asset),
            amount: b.price.amount,
            regions,
            provider,
            offer_key,
            asset,
            p95_ms: b.qos.p95_latency_ms,
            avail_bp: b.qos.availability_bp,
            flags,
        };
        (entry, tags)
    }

    fn region_ids(&self, slot: u32) -> Vec<u32> {
        let e = &self.slab[slot as usize];
        let mut out: Vec<u32> = (0..64).filter(|i| e.regions & (1 << i) != 0).collect();
        if e.flags & F_REGION_OVERFLOW != 0
            && let Some(extra) = self.region_overflow.get(&slot)
        {
            out.extend_from_slice(extra);
        }
        out
    }

    fn link(&mut self, slot: u32) {
        let regions = self.region_ids(slot);
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        let e = &slab[slot as usize];
        for (i, order) in GLOBAL_ORDERS.iter().enumerate() {
            self.global[i].insert(order_key(e, *order), slot, &id_of);
        }
        let group = self.by_group.entry(e.group).or_insert_with(|| GroupLists {
            asset: e.asset,
            unit_hour: e.flags & F_UNIT_HOUR != 0,
            ..GroupLists::default()
        });
        group.all.insert(e.amount, slot, &id_of);
        for &r in &regions {
            let at = r as usize;
            if self.by_region.len() <= at {
                self.by_region.resize_with(at + 1, Default::default);
            }
            for (i, order) in REGION_ORDERS.iter().enumerate() {
                self.by_region[at][i].insert(order_key(e, *order), slot, &id_of);
            }
            group
                .by_region
                .entry(r)
                .or_default()
                .insert(e.amount, slot, &id_of);
        }
    }

    fn unlink(&mut self, slot: u32) {
        let regions = self.region_ids(slot);
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        let e = &slab[slot as usize];
        for (i, order) in GLOBAL_ORDERS.iter().enumerate() {
            self.global[i].remove(order_key(e, *order), slot, &id_of);
        }
        for &r in &regions {
            if let Some(lists) = self.by_region.get_mut(r as usize) {
                for (i, order) in REGION_ORDERS.iter().enumerate() {
                    lists[i].remove(order_key(e, *order), slot, &id_of);
                }
            }
        }
        if let Some(group) = self.by_group.get_mut(&e.group) {
            group.all.remove(e.amount, slot, &id_of);
            for r in &regions {
                if let Some(list) = group.by_region.get_mut(r) {
                    list.remove(e.amount, slot, &id_of);
                    if list.is_empty() {
                        group.by_region.remove(r);
                    }
                }
            }
            if group.all.is_empty() {
                self.by_group.remove(&e.group);
            }
        }
        self.region_overflow.remove(&slot);
        self.proto_overflow.remove(&slot);
        self.jurisdiction_sets.remove(&slot);
    }

    fn alloc_slot(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            return s;
        }
        self.slab.push(Entry::default());
        self.tags.push(0);
        u32::try_from(self.slab.len() - 1).unwrap_or(u32::MAX)
    }

    /// Makes `o` the head of its key. Returns the previous head as a version, if any.
    pub(crate) fn set_head(&mut self, o: &Signed<Offer>) -> Option<Version> {
        self.put_head(o, true)
    }

    /// Like [`OfferIndex::set_head`] without touching the ordered lists (bulk load at open;
    /// call [`OfferIndex::rebuild_orders`] afterwards).
    pub(crate) fn load_head(&mut self, o: &Signed<Offer>) -> Option<Version> {
        self.put_head(o, false)
    }

    fn put_head(&mut self, o: &Signed<Offer>, linked: bool) -> Option<Version> {
        let pk = self.intern_key(&o.body().provider, &o.body().offer_key);
        let (slot, old) = match self.heads.get(&pk).copied() {
            Some(slot) => {
                let e = &self.slab[slot as usize];
                let old = Version {
                    seq: e.seq,
                    id: e.id,
                    expires_at: e.expires_at,
                };
                if linked {
                    self.unlink(slot);
                } else {
                    self.region_overflow.remove(&slot);
                    self.proto_overflow.remove(&slot);
                    self.jurisdiction_sets.remove(&slot);
                }
                (slot, Some(old))
            }
            None => {
                let slot = self.alloc_slot();
                self.heads.insert(pk, slot);
                self.by_provider.entry(pk.0).or_default().push(slot);
                (slot, None)
            }
        };
        let (entry, tags) = self.build_entry(o, slot);
        self.slab[slot as usize] = entry;
        self.tags[slot as usize] = tags;
        if linked {
            self.link(slot);
        }
        old
    }

    /// Sorts every ordered list from scratch (after a bulk load).
    pub(crate) fn rebuild_orders(&mut self) {
        let live: Vec<u32> = self.heads.values().copied().collect();
        let slab = &self.slab;
        let sorted = |mut pairs: Vec<(u64, u32)>| {
            pairs.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| slab[a.1 as usize].id.cmp(&slab[b.1 as usize].id))
            });
            Ordered::from_sorted(&pairs)
        };
        for (i, order) in GLOBAL_ORDERS.iter().enumerate() {
            let pairs = live
                .iter()
                .map(|&s| (order_key(&slab[s as usize], *order), s))
                .collect();
            self.global[i] = sorted(pairs);
        }
        let mut per_region: Vec<Vec<u32>> = vec![Vec::new(); self.regions.len()];
        for &s in &live {
            for r in self.region_ids(s) {
                per_region[r as usize].push(s);
            }
        }
        self.by_region = per_region
            .into_iter()
            .map(|slots| {
                REGION_ORDERS.map(|order| {
                    sorted(
                        slots
                            .iter()
                            .map(|&s| (order_key(&slab[s as usize], order), s))
                            .collect(),
                    )
                })
            })
            .collect();
        // Per price group: by amount, all heads and per region.
        let mut per_group: BTreeMap<u64, (Pairs, HashMap<u32, Pairs>)> = BTreeMap::new();
        for &s in &live {
            let e = &slab[s as usize];
            let (all, regions) = per_group.entry(e.group).or_default();
            all.push((e.amount, s));
            for r in self.region_ids(s) {
                regions.entry(r).or_default().push((e.amount, s));
            }
        }
        self.by_group = per_group
            .into_iter()
            .map(|(group, (all, regions))| {
                let first = &slab[all[0].1 as usize];
                let lists = GroupLists {
                    asset: first.asset,
                    unit_hour: first.flags & F_UNIT_HOUR != 0,
                    all: sorted(all),
                    by_region: regions
                        .into_iter()
                        .map(|(r, pairs)| (r, sorted(pairs)))
                        .collect(),
                };
                (group, lists)
            })
            .collect();
    }

    /// Removes the head of a key (collection); its history is left alone.
    pub(crate) fn remove_head(&mut self, pk: (u32, u32)) -> Option<Entry> {
        let slot = self.heads.remove(&pk)?;
        self.unlink(slot);
        let entry = std::mem::take(&mut self.slab[slot as usize]);
        self.tags[slot as usize] = 0;
        self.free.push(slot);
        if let Some(list) = self.by_provider.get_mut(&pk.0) {
            list.retain(|&s| s != slot);
            if list.is_empty() {
                self.by_provider.remove(&pk.0);
            }
        }
        Some(entry)
    }

    /// Approximate heap bytes of the index (the benchmark prints it).
    pub(crate) fn approx_bytes(&self) -> usize {
        let orders: usize = self.global.iter().map(Ordered::heap_bytes).sum::<usize>()
            + self
                .by_region
                .iter()
                .flat_map(|l| l.iter())
                .map(Ordered::heap_bytes)
                .sum::<usize>()
            + self
                .by_group
                .values()
                .map(|g| {
                    g.all.heap_bytes()
                        + g.by_region.values().map(Ordered::heap_bytes).sum::<usize>()
                        + g.by_region.capacity() * 48
                })
                .sum::<usize>();
        let slab = self.slab.capacity() * (std::mem::size_of::<Entry>() + 4);
        let heads = self.heads.capacity() * 13;
        let by_provider: usize = self
            .by_provider
            .values()
            .map(|v| v.capacity() * 4 + 40)
            .sum();
        orders + slab + heads + by_provider
    }
}
