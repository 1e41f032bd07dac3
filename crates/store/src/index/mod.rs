//! The in-memory index of current offers: one compact entry per `(provider, offer_key)` head,
//! interned strings, and ordered lists per sort key (globally and per region; for price, per
//! price group, i.e. pricing unit and asset, since prices in two assets are never ranked
//! against each other). The signed bytes stay in sled; a query finds ids here and fetches only
//! the page it returns.
//!
//! - this module: the entries, the interners and the lookups;
//! - [`heads`]: writing heads (building entries, linking them into the ordered lists, history);
//! - [`query`]: answering a [`Plan`], one page at a time.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use flashback_types::{BoundedString, DataProtocol, ObjectId, PublicKey, ShortText};

use crate::config::Rate;
use crate::ordered::Ordered;

mod heads;
mod query;

pub(crate) use query::{PageIds, Plan, PriceFilter, Scores};

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
    /// [`flashback_types::price_group`] of its pricing unit and asset.
    pub(crate) group: u64,
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

/// Orders kept for every head, besides price (kept per price group: [`GroupLists`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Capacity = 0,
    Newest = 1,
    Id = 2,
}

const GLOBAL_ORDERS: [Order; 3] = [Order::Capacity, Order::Newest, Order::Id];
const REGION_ORDERS: [Order; 2] = [Order::Capacity, Order::Newest];

fn order_key(e: &Entry, order: Order) -> u64 {
    match order {
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
    jurisdictions: Interner<ShortText>,
    /// Slot → the jurisdictions its offer declares, for offers that declare any.
    jurisdiction_sets: HashMap<u32, Box<[u32]>>,
    global: [Ordered; 3],
    by_region: Vec<[Ordered; 2]>,
    /// Heads by amount, per price group, in group order (the price sort walks them in turn).
    by_group: BTreeMap<u64, GroupLists>,
    history_len: usize,
}

/// The price order of one price group (one pricing unit, one asset): its heads by amount,
/// all of them and per region.
#[derive(Debug, Default)]
pub(crate) struct GroupLists {
    /// The group's asset (interned).
    asset: u32,
    /// Priced per unit-hour (compute) rather than per GiB-month (storage).
    unit_hour: bool,
    all: Ordered,
    by_region: HashMap<u32, Ordered>,
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

    /// The id of every head (tombstones and expired heads included), sorted, read off the id
    /// order: the listing digest hashes a million of them without collecting them.
    pub(crate) fn head_ids_sorted(&self) -> impl Iterator<Item = &ObjectId> + '_ {
        self.global[Order::Id as usize]
            .slots()
            .map(|s| &self.slab[s as usize].id)
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

    pub(crate) fn jurisdiction_lookup(&self, code: &ShortText) -> Option<u32> {
        self.jurisdictions.get(code)
    }

    pub(crate) fn protocol_lookup(&self, protocol: &DataProtocol) -> Option<u32> {
        self.protocols.get(protocol)
    }

    pub(crate) fn provider_lookup(&self, provider: &PublicKey) -> Option<u32> {
        self.providers.get(provider)
    }
}
