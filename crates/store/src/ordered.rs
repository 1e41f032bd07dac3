//! A compact ordered multiset of offer slots, sorted by `(key, object id)`.
//!
//! Entries are 12 bytes (`u64` key, `u32` slot) in chunks of at most [`CHUNK_MAX`]; the object
//! id that breaks ties lives in the slab and is looked up only when keys are equal. A million
//! entries take about 16 MB, an insert or removal moves at most one chunk.

use std::cmp::Ordering;

use flashback_types::ObjectId;

/// Largest chunk before it splits in two.
const CHUNK_MAX: usize = 512;
/// Fill of the chunks built in bulk at open, leaving room for inserts.
const CHUNK_BULK: usize = 384;
/// Entries a full chunk grows by. A chunk grows in steps rather than doubling, and keeps no
/// more than a step of room when it splits: chunks are half to fully used between splits, so
/// doubling would leave a third of the lists' memory (tens of MB at a million offers) empty.
const CHUNK_STEP: usize = 32;

#[derive(Debug, Default, Clone)]
struct Chunk {
    keys: Vec<u64>,
    slots: Vec<u32>,
}

/// A position in an [`Ordered`]: chunk and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    chunk: usize,
    at: usize,
}

/// Sorted `(key, slot)` pairs, ordered by `(key, id(slot))`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ordered {
    chunks: Vec<Chunk>,
    len: usize,
}

impl Ordered {
    /// Builds from pairs already sorted by `(key, id)`.
    pub(crate) fn from_sorted(pairs: &[(u64, u32)]) -> Self {
        let chunks = pairs
            .chunks(CHUNK_BULK)
            .map(|c| {
                let mut keys = Vec::with_capacity(c.len() + 16);
                let mut slots = Vec::with_capacity(c.len() + 16);
                for &(k, s) in c {
                    keys.push(k);
                    slots.push(s);
                }
                Chunk { keys, slots }
            })
            .collect();
        Self {
            chunks,
            len: pairs.len(),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first position whose entry is greater than `(key, id)` (`strict`) or not less.
    fn search<'a>(
        &self,
        key: u64,
        id: &ObjectId,
        strict: bool,
        id_of: &impl Fn(u32) -> &'a ObjectId,
    ) -> Pos {
        let after = |k: u64, s: u32| -> bool {
            match k.cmp(&key) {
                Ordering::Less => false,
                Ordering::Greater => true,
                Ordering::Equal => match id_of(s).cmp(id) {
                    Ordering::Less => false,
                    Ordering::Greater => true,
                    Ordering::Equal => !strict,
                },
            }
        };
        // First chunk whose last entry is "after".
        let chunk = self.chunks.partition_point(|c| {
            let (k, s) = (c.keys[c.keys.len() - 1], c.slots[c.slots.len() - 1]);
            !after(k, s)
        });
        if chunk == self.chunks.len() {
            return Pos { chunk, at: 0 };
        }
        let c = &self.chunks[chunk];
        let mut lo = 0;
        let mut hi = c.keys.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            if after(c.keys[mid], c.slots[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Pos { chunk, at: lo }
    }

    /// Inserts `(key, slot)` where `id_of(slot)` is its id.
    pub(crate) fn insert<'a>(&mut self, key: u64, slot: u32, id_of: &impl Fn(u32) -> &'a ObjectId) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(Chunk {
                keys: vec![key],
                slots: vec![slot],
            });
            return;
        }
        let id = *id_of(slot);
        let mut pos = self.search(key, &id, true, id_of);
        if pos.chunk == self.chunks.len() {
            pos.chunk -= 1;
            pos.at = self.chunks[pos.chunk].keys.len();
        }
        let c = &mut self.chunks[pos.chunk];
        if c.keys.len() == c.keys.capacity() {
            c.keys.reserve_exact(CHUNK_STEP);
        }
        if c.slots.len() == c.slots.capacity() {
            c.slots.reserve_exact(CHUNK_STEP);
        }
        c.keys.insert(pos.at, key);
        c.slots.insert(pos.at, slot);
        if c.keys.len() > CHUNK_MAX {
            let half = c.keys.len() / 2;
            let keys = c.keys.split_off(half);
            let slots = c.slots.split_off(half);
            c.keys.shrink_to(half + CHUNK_STEP);
            c.slots.shrink_to(half + CHUNK_STEP);
            self.chunks.insert(pos.chunk + 1, Chunk { keys, slots });
        }
    }

    /// Removes `(key, slot)`; false when it was not there.
    pub(crate) fn remove<'a>(
        &mut self,
        key: u64,
        slot: u32,
        id_of: &impl Fn(u32) -> &'a ObjectId,
    ) -> bool {
        let id = *id_of(slot);
        let pos = self.search(key, &id, false, id_of);
        let Some(c) = self.chunks.get_mut(pos.chunk) else {
            return false;
        };
        if c.keys.get(pos.at) != Some(&key) || c.slots.get(pos.at) != Some(&slot) {
            return false;
        }
        c.keys.remove(pos.at);
        c.slots.remove(pos.at);
        if c.keys.is_empty() {
            self.chunks.remove(pos.chunk);
        }
        self.len -= 1;
        true
    }

    /// The first position after `(key, id)`, or the start.
    pub(crate) fn seek<'a>(
        &self,
        after: Option<(u64, ObjectId)>,
        id_of: &impl Fn(u32) -> &'a ObjectId,
    ) -> Pos {
        match after {
            None => Pos { chunk: 0, at: 0 },
            Some((key, id)) => self.search(key, &id, true, id_of),
        }
    }

    /// The entry at `pos` (advancing over chunk ends), and the position after it.
    pub(crate) fn next(&self, mut pos: Pos) -> Option<((u64, u32), Pos)> {
        loop {
            let c = self.chunks.get(pos.chunk)?;
            if pos.at < c.keys.len() {
                let item = (c.keys[pos.at], c.slots[pos.at]);
                return Some((
                    item,
                    Pos {
                        chunk: pos.chunk,
                        at: pos.at + 1,
                    },
                ));
            }
            pos = Pos {
                chunk: pos.chunk + 1,
                at: 0,
            };
        }
    }

    /// Every slot, in order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().flat_map(|c| c.slots.iter().copied())
    }

    /// Heap bytes held (for tests and the benchmark's accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.keys.capacity() * 8 + c.slots.capacity() * 4)
            .sum::<usize>()
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashback_types::Hash32;

    #[test]
    fn inserts_in_any_order_keep_the_lists_compact() {
        // A node syncing a listing inserts its offers one by one in no useful order.
        let n = 100_000u32;
        let ids: Vec<ObjectId> = (0..n).map(|i| Hash32::of(&i.to_le_bytes())).collect();
        let id_of = |s: u32| &ids[s as usize];
        let mut ord = Ordered::default();
        for s in 0..n {
            ord.insert(u64::from(s.wrapping_mul(2_654_435_761)), s, &id_of);
        }
        // 12 bytes an entry, plus at most a step of room per chunk of 256 to 512.
        let per_entry = ord.heap_bytes() as f64 / f64::from(n);
        assert!(per_entry < 14.0, "{per_entry:.1} bytes per entry");
    }

    #[test]
    fn behaves_like_a_sorted_vec() {
        let ids: Vec<ObjectId> = (0..5000u32).map(|i| Hash32::of(&i.to_le_bytes())).collect();
        let id_of = |s: u32| &ids[s as usize];
        let mut ord = Ordered::default();
        let mut model: Vec<(u64, ObjectId, u32)> = Vec::new();
        for s in 0..5000u32 {
            let key = u64::from(s.wrapping_mul(2_654_435_761) % 97);
            ord.insert(key, s, &id_of);
            model.push((key, ids[s as usize], s));
        }
        for s in (0..5000u32).step_by(3) {
            let key = u64::from(s.wrapping_mul(2_654_435_761) % 97);
            assert!(ord.remove(key, s, &id_of));
            assert!(!ord.remove(key, s, &id_of));
            model.retain(|m| m.2 != s);
        }
        model.sort();
        assert_eq!(ord.len(), model.len());
        let mut pos = ord.seek(None, &id_of);
        let mut got = Vec::new();
        while let Some(((k, s), next)) = ord.next(pos) {
            got.push((k, ids[s as usize], s));
            pos = next;
        }
        assert_eq!(got, model);
        // Seeking after any element continues right after it.
        for i in (0..model.len()).step_by(101) {
            let (k, id, _) = model[i];
            let pos = ord.seek(Some((k, id)), &id_of);
            let next = ord.next(pos).map(|((k, s), _)| (k, s));
            assert_eq!(next, model.get(i + 1).map(|m| (m.0, m.2)));
        }
    }
}
