//! The in-memory index of current offers: one compact entry per `(provider, offer_key)` head,
//! interned strings, and ordered lists per sort key (globally and per region). The signed
//! bytes stay in sled; a query finds ids here and fetches only the page it returns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use flashback_types::{
    BoundedString, Cursor, DataProtocol, ObjectId, Offer, PriceUnit, PublicKey, ResourceKind,
    ShortText, Signed, SortKey,
};

use crate::config::Rate;
use crate::ordered::{Ordered, Pos};
use crate::price;

/// Strings and keys stored once, referred to by small ids.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    items: Vec<T>,
    ids: HashMap<T, u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            ids: HashMap::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> Interner<T> {
    pub(crate) fn intern(&mut self, item: &T) -> u32 {
        if let Some(&id) = self.ids.get(item) {
            return id;
        }
        let id = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
        self.items.push(item.clone());
        self.ids.insert(item.clone(), id);
        id
    }

    pub(crate) fn get(&self, item: &T) -> Option<u32> {
        self.ids.get(item).copied()
    }

    pub(crate) fn resolve(&self, id: u32) -> &T {
        &self.items[id as usize]
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

const F_COMPUTE: u8 = 1;
const F_WITHDRAWN: u8 = 2;
const F_UNIT_HOUR: u8 = 4;
const F_REGION_OVERFLOW: u8 = 8;
const F_PROTO_OVERFLOW: u8 = 16;

/// Bits of the per-slot tag word checked before touching the slab.
const T_COMPUTE: u32 = 1;
const T_WITHDRAWN: u32 = 2;
const T_PROTO_SHIFT: u32 = 2;
/// Protocol ids below this have a tag bit; the rest are checked in the slab's overflow table.
const T_PROTO_BITS: u32 = 30;

/// The index entry of one offer head (about 100 bytes).
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    pub(crate) id: ObjectId,
    pub(crate) seq: u64,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) capacity: u64,
    pub(crate) price_key: u64,
    pub(crate) amount: u64,
    /// Region ids below 64; others in the overflow table.
    regions: u64,
    pub(crate) provider: u32,
    pub(crate) offer_key: u32,
    asset: u32,
    p95_ms: u32,
    avail_bp: u16,
    flags: u8,
}

impl Entry {
    pub(crate) fn withdrawn(&self) -> bool {
        self.flags & F_WITHDRAWN != 0
    }
}

/// A stored version of an offer that is not the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub(crate) seq: u64,
    pub(crate) id: ObjectId,
    pub(crate) expires_at: u64,
}

/// Orders kept for every head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Price = 0,
    Capacity = 1,
    Newest = 2,
    Id = 3,
}

const GLOBAL_ORDERS: [Order; 4] = [Order::Price, Order::Capacity, Order::Newest, Order::Id];
const REGION_ORDERS: [Order; 3] = [Order::Price, Order::Capacity, Order::Newest];

fn order_key(e: &Entry, order: Order) -> u64 {
    match order {
        Order::Price => e.price_key,
        Order::Capacity => !e.capacity,
        Order::Newest => !e.created_at,
        Order::Id => id_key(&e.id),
    }
}

fn id_key(id: &ObjectId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

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
        max_key: u64,
    },
}

/// Reputation scores used by a query: computed ones, and the prior for everyone else.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scores {
    pub(crate) prior: f64,
    pub(crate) by_provider: HashMap<u32, f64>,
}

impl Scores {
    fn of(&self, provider: u32) -> f64 {
        self.by_provider
            .get(&provider)
            .copied()
            .unwrap_or(self.prior)
    }
}

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
    pub(crate) certified: Option<&'a HashSet<u32>>,
    pub(crate) min_reputation_bp: Option<u16>,
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

/// The in-memory offer index.
#[derive(Debug, Default)]
pub(crate) struct OfferIndex {
    pub(crate) providers: Interner<PublicKey>,
    pub(crate) keys: Interner<ShortText>,
    assets: Interner<BoundedString<12>>,
    asset_rates: Vec<Option<Rate>>,
    regions: Interner<ShortText>,
    protocols: Interner<DataProtocol>,
    rates: BTreeMap<String, Rate>,
    slab: Vec<Entry>,
    tags: Vec<u32>,
    free: Vec<u32>,
    /// `(provider, offer_key)` → slot of the head.
    heads: HashMap<(u32, u32), u32>,
    /// Stored non-head versions, for keys that have any.
    history: HashMap<(u32, u32), Vec<Version>>,
    by_provider: HashMap<u32, Vec<u32>>,
    region_overflow: HashMap<u32, Box<[u32]>>,
    proto_overflow: HashMap<u32, Box<[u32]>>,
    global: [Ordered; 4],
    by_region: Vec<[Ordered; 3]>,
    /// Unpriced assets only: heads by amount, for same-asset price queries.
    by_asset: HashMap<u32, Ordered>,
    history_len: usize,
}

impl OfferIndex {
    pub(crate) fn new(rates: BTreeMap<String, Rate>) -> Self {
        Self {
            rates,
            ..Self::default()
        }
    }

    /// Number of interned providers (grows only).
    pub(crate) fn providers_len(&self) -> usize {
        self.providers.len()
    }

    /// Number of heads (live, expired-but-not-collected, and tombstones).
    pub(crate) fn heads_len(&self) -> usize {
        self.heads.len()
    }

    /// Number of stored non-head versions.
    pub(crate) fn history_len(&self) -> usize {
        self.history_len
    }

    pub(crate) fn intern_key(&mut self, provider: &PublicKey, key: &ShortText) -> (u32, u32) {
        (self.providers.intern(provider), self.keys.intern(key))
    }

    pub(crate) fn lookup_key(&self, provider: &PublicKey, key: &ShortText) -> Option<(u32, u32)> {
        Some((self.providers.get(provider)?, self.keys.get(key)?))
    }

    pub(crate) fn head(&self, pk: (u32, u32)) -> Option<&Entry> {
        self.heads.get(&pk).map(|&s| &self.slab[s as usize])
    }

    pub(crate) fn history(&self, pk: (u32, u32)) -> &[Version] {
        self.history.get(&pk).map_or(&[], Vec::as_slice)
    }

    /// Every stored version of a key, head first.
    pub(crate) fn versions(&self, pk: (u32, u32)) -> Vec<Version> {
        let mut out = Vec::new();
        if let Some(h) = self.head(pk) {
            out.push(Version {
                seq: h.seq,
                id: h.id,
                expires_at: h.expires_at,
            });
        }
        out.extend_from_slice(self.history(pk));
        out
    }

    pub(crate) fn add_history(&mut self, pk: (u32, u32), v: Version) {
        let list = self.history.entry(pk).or_default();
        let at = list.partition_point(|x| x < &v);
        list.insert(at, v);
        self.history_len += 1;
    }

    pub(crate) fn remove_history(&mut self, pk: (u32, u32), id: &ObjectId) -> bool {
        let Some(list) = self.history.get_mut(&pk) else {
            return false;
        };
        let before = list.len();
        list.retain(|v| &v.id != id);
        let removed = before != list.len();
        if list.is_empty() {
            self.history.remove(&pk);
        }
        if removed {
            self.history_len -= 1;
        }
        removed
    }

    /// Keys that have stored non-head versions.
    pub(crate) fn keys_with_history(&self) -> Vec<(u32, u32)> {
        self.history.keys().copied().collect()
    }

    /// Every head: key and entry.
    pub(crate) fn heads(&self) -> impl Iterator<Item = ((u32, u32), &Entry)> + '_ {
        self.heads
            .iter()
            .map(|(&pk, &s)| (pk, &self.slab[s as usize]))
    }

    /// Heads of one provider.
    pub(crate) fn provider_heads(&self, provider: &PublicKey) -> Vec<&Entry> {
        let Some(p) = self.providers.get(provider) else {
            return Vec::new();
        };
        self.by_provider
            .get(&p)
            .map(|slots| slots.iter().map(|&s| &self.slab[s as usize]).collect())
            .unwrap_or_default()
    }

    /// Providers that have at least one head.
    pub(crate) fn providers_with_heads(&self) -> impl Iterator<Item = (u32, &PublicKey)> + '_ {
        self.by_provider
            .keys()
            .map(|&p| (p, self.providers.resolve(p)))
    }

    fn asset_id(&mut self, asset: &BoundedString<12>) -> u32 {
        let id = self.assets.intern(asset);
        if self.asset_rates.len() < self.assets.len() {
            let rate = self.rates.get(asset.as_str()).copied();
            self.asset_rates.push(rate);
        }
        id
    }

    /// The rate of an asset code, if configured.
    pub(crate) fn rate_of(&self, asset: &str) -> Option<Rate> {
        self.rates.get(asset).copied()
    }

    pub(crate) fn asset_lookup(&self, asset: &BoundedString<12>) -> Option<u32> {
        self.assets.get(asset)
    }

    pub(crate) fn region_lookup(&self, region: &ShortText) -> Option<u32> {
        self.regions.get(region)
    }

    pub(crate) fn protocol_lookup(&self, protocol: &DataProtocol) -> Option<u32> {
        self.protocols.get(protocol)
    }

    pub(crate) fn provider_lookup(&self, provider: &PublicKey) -> Option<u32> {
        self.providers.get(provider)
    }

    fn build_entry(&mut self, o: &Signed<Offer>, slot: u32) -> (Entry, u32) {
        let b = o.body();
        let provider = self.providers.intern(&b.provider);
        let offer_key = self.keys.intern(&b.offer_key);
        let asset = self.asset_id(&b.price.asset);
        let rate = self.asset_rates.get(asset as usize).copied().flatten();
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
        let entry = Entry {
            id: o.id(),
            seq: b.seq,
            created_at: b.created_at,
            expires_at: b.expires_at,
            capacity: b.capacity,
            price_key: price::price_key(b.price.amount, rate),
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

    fn unpriced_asset(&self, slot: u32) -> Option<u32> {
        let e = &self.slab[slot as usize];
        match self.asset_rates.get(e.asset as usize) {
            Some(None) => Some(e.asset),
            _ => None,
        }
    }

    fn link(&mut self, slot: u32) {
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        let e = &slab[slot as usize];
        for (i, order) in GLOBAL_ORDERS.iter().enumerate() {
            self.global[i].insert(order_key(e, *order), slot, &id_of);
        }
        let regions = {
            let mut out: Vec<u32> = (0..64).filter(|i| e.regions & (1 << i) != 0).collect();
            if e.flags & F_REGION_OVERFLOW != 0
                && let Some(extra) = self.region_overflow.get(&slot)
            {
                out.extend_from_slice(extra);
            }
            out
        };
        for r in regions {
            let r = r as usize;
            if self.by_region.len() <= r {
                self.by_region.resize_with(r + 1, Default::default);
            }
            for (i, order) in REGION_ORDERS.iter().enumerate() {
                self.by_region[r][i].insert(order_key(e, *order), slot, &id_of);
            }
        }
        if let Some(None) = self.asset_rates.get(e.asset as usize) {
            self.by_asset
                .entry(e.asset)
                .or_default()
                .insert(e.amount, slot, &id_of);
        }
    }

    fn unlink(&mut self, slot: u32) {
        let regions = self.region_ids(slot);
        let unpriced = self.unpriced_asset(slot);
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        let e = &slab[slot as usize];
        for (i, order) in GLOBAL_ORDERS.iter().enumerate() {
            self.global[i].remove(order_key(e, *order), slot, &id_of);
        }
        for r in regions {
            if let Some(lists) = self.by_region.get_mut(r as usize) {
                for (i, order) in REGION_ORDERS.iter().enumerate() {
                    lists[i].remove(order_key(e, *order), slot, &id_of);
                }
            }
        }
        if let Some(asset) = unpriced
            && let Some(list) = self.by_asset.get_mut(&asset)
        {
            list.remove(e.amount, slot, &id_of);
        }
        self.region_overflow.remove(&slot);
        self.proto_overflow.remove(&slot);
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
        let mut per_asset: HashMap<u32, Vec<(u64, u32)>> = HashMap::new();
        for &s in &live {
            if let Some(a) = self.unpriced_asset(s) {
                per_asset
                    .entry(a)
                    .or_default()
                    .push((slab[s as usize].amount, s));
            }
        }
        self.by_asset = per_asset
            .into_iter()
            .map(|(a, pairs)| (a, sorted(pairs)))
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
                .by_asset
                .values()
                .map(Ordered::heap_bytes)
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

    // ----- queries -----

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
        if plan.provider.is_some_and(|p| p != e.provider) {
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
        if let Some(bp) = plan.min_reputation_bp
            && plan.scores.of(e.provider) * 10_000.0 < f64::from(bp)
        {
            return false;
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

    /// The internal (ascending) sort key of a slot, and the cursor value that names it.
    fn sort_value(&self, slot: u32, plan: &Plan<'_>, asset_mode: bool) -> (u64, u64) {
        let e = &self.slab[slot as usize];
        match plan.sort {
            SortKey::Price if asset_mode => (e.amount, e.amount),
            SortKey::Price => (e.price_key, e.price_key),
            SortKey::Capacity => (!e.capacity, e.capacity),
            SortKey::Newest => (!e.created_at, e.created_at),
            SortKey::Reputation => {
                let bits = plan.scores.of(e.provider).to_bits();
                (!bits, bits)
            }
        }
    }

    fn internal_cursor(plan: &Plan<'_>) -> Option<(u64, ObjectId)> {
        plan.cursor.map(|c| {
            let k = match plan.sort {
                SortKey::Price => c.after_value,
                _ => !c.after_value,
            };
            (k, c.after_id)
        })
    }

    fn finish(&self, plan: &Plan<'_>, mut slots: Vec<u32>, asset_mode: bool) -> PageIds {
        let more = slots.len() > plan.limit;
        slots.truncate(plan.limit);
        let next = if more {
            slots.last().map(|&s| Cursor {
                after_value: self.sort_value(s, plan, asset_mode).1,
                after_id: self.slab[s as usize].id,
            })
        } else {
            None
        };
        PageIds {
            ids: slots.iter().map(|&s| self.slab[s as usize].id).collect(),
            next,
        }
    }

    /// Sorts a candidate set in memory (one provider, one reputation level).
    fn sort_candidates(
        &self,
        plan: &Plan<'_>,
        candidates: impl Iterator<Item = u32>,
        asset_mode: bool,
        after: Option<(u64, ObjectId)>,
        want: usize,
    ) -> Vec<u32> {
        let mut found: Vec<(u64, ObjectId, u32)> = candidates
            .filter(|&s| self.matches(s, plan, true))
            .map(|s| {
                (
                    self.sort_value(s, plan, asset_mode).0,
                    self.slab[s as usize].id,
                    s,
                )
            })
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
        let asset_mode = plan.sort == SortKey::Price
            && matches!(plan.price, Some(PriceFilter::SameAsset { .. }));
        if let Some(p) = plan.provider {
            let slots = self.by_provider.get(&p).map_or(&[][..], Vec::as_slice);
            let found = self.sort_candidates(plan, slots.iter().copied(), asset_mode, after, want);
            return self.finish(plan, found, asset_mode);
        }
        if plan.sort == SortKey::Reputation {
            let found = self.query_reputation(plan, want);
            return self.finish(plan, found, false);
        }
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        // Same-asset price order: its own list, by amount.
        if let (SortKey::Price, Some(PriceFilter::SameAsset { asset, amount, .. })) =
            (plan.sort, plan.price)
        {
            let mut found = Vec::new();
            if let Some(list) = self.by_asset.get(&asset) {
                let mut pos = list.seek(after, &id_of);
                while let Some(((k, s), next)) = list.next(pos) {
                    pos = next;
                    if k > amount {
                        break;
                    }
                    if self.matches(s, plan, true) {
                        found.push(s);
                        if found.len() == want {
                            break;
                        }
                    }
                }
            }
            return self.finish(plan, found, true);
        }
        let order = match plan.sort {
            SortKey::Price => Order::Price,
            SortKey::Capacity => Order::Capacity,
            SortKey::Newest | SortKey::Reputation => Order::Newest,
        };
        let stop_above = match (plan.sort, plan.price) {
            (SortKey::Price, Some(PriceFilter::Cross { max_key, .. })) => max_key,
            _ => u64::MAX,
        };
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
        while let Some((k, s)) = self.merge_next(&mut merge) {
            if k > stop_above {
                break;
            }
            if self.matches(s, plan, false) {
                found.push(s);
                if found.len() == want {
                    break;
                }
            }
        }
        self.finish(plan, found, false)
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
        let prior_bits = scores.prior.to_bits();
        let mut levels: Vec<f64> = scores
            .by_provider
            .iter()
            .filter(|(p, _)| self.by_provider.contains_key(p))
            .map(|(_, s)| *s)
            .chain(std::iter::once(scores.prior))
            .collect();
        levels.sort_unstable_by(|a, b| b.total_cmp(a));
        levels.dedup_by(|a, b| a.to_bits() == b.to_bits());
        let cursor = plan
            .cursor
            .map(|c| (f64::from_bits(c.after_value), c.after_id));
        let mut found = Vec::new();
        let slab = &self.slab;
        let id_of = |s: u32| &slab[s as usize].id;
        for level in levels {
            let after_id = match cursor {
                Some((cs, _)) if level.total_cmp(&cs).is_gt() => continue,
                Some((cs, id)) if level.to_bits() == cs.to_bits() => Some(id),
                _ => None,
            };
            let need = want - found.len();
            if level.to_bits() == prior_bits {
                let list = &self.global[Order::Id as usize];
                let mut pos = list.seek(after_id.map(|id| (id_key(&id), id)), &id_of);
                let mut got = 0;
                while let Some(((_, s), next)) = list.next(pos) {
                    pos = next;
                    let e = &slab[s as usize];
                    if scores.of(e.provider).to_bits() == prior_bits && self.matches(s, plan, true)
                    {
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
                    .filter(|(_, s)| s.to_bits() == level.to_bits())
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
