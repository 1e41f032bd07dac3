//! A small cache of decoded offers for query answers.
//!
//! Queries return the same popular offers again and again (the cheapest in a region, say).
//! Fetching one from sled costs a lookup, a blake3 checksum and a decode, about 1.5–3 µs; a
//! cached copy costs a clone. Entries are immutable (an id names exactly one encoding), so
//! nothing is ever stale: deleted offers are dropped from the cache only to free memory.
//! Eviction is CLOCK (second chance).

use std::collections::HashMap;

use flashback_types::{ObjectId, Offer, Signed};

struct Slot {
    offer: Signed<Offer>,
    referenced: bool,
}

pub(crate) struct OfferCache {
    capacity: usize,
    map: HashMap<ObjectId, usize>,
    slots: Vec<Slot>,
    hand: usize,
}

impl OfferCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: HashMap::with_capacity(capacity.min(1 << 16)),
            slots: Vec::new(),
            hand: 0,
        }
    }

    pub(crate) fn get(&mut self, id: &ObjectId) -> Option<Signed<Offer>> {
        let &i = self.map.get(id)?;
        let slot = &mut self.slots[i];
        slot.referenced = true;
        Some(slot.offer.clone())
    }

    pub(crate) fn insert(&mut self, offer: Signed<Offer>) {
        if self.capacity == 0 || self.map.contains_key(&offer.id()) {
            return;
        }
        let id = offer.id();
        if self.slots.len() < self.capacity {
            self.map.insert(id, self.slots.len());
            self.slots.push(Slot {
                offer,
                referenced: false,
            });
            return;
        }
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[i];
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            self.map.remove(&slot.offer.id());
            self.map.insert(id, i);
            *slot = Slot {
                offer,
                referenced: false,
            };
            return;
        }
    }

    pub(crate) fn remove(&mut self, id: &ObjectId) {
        let Some(i) = self.map.remove(id) else {
            return;
        };
        let last = self.slots.len() - 1;
        self.slots.swap_remove(i);
        if i != last {
            let moved = self.slots[i].offer.id();
            self.map.insert(moved, i);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
    }
}
