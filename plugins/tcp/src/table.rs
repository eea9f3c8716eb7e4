//! Where the TCP listener keeps its sessions: a table by socket pair whose memory
//! follows the number of entries it holds, and the generations of pairs that left it.
//!
//! A hash table's slots come in powers of two, and over a long run every slot is
//! written, so a table of entries costs its whole capacity: one more session than
//! 7/8 of a power of two doubles it. Here the hash table holds only 4-byte slot
//! numbers; the entries live in a slab whose freed places are reused first, so the
//! slab's memory follows the most entries held at once (a vector's capacity past its
//! length is never touched). The generations of forgotten pairs, 8 bytes each, grow
//! the same way.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use netanalysis_core::SocketPair;

/// The place of an entry in a [`SessionTable`]; it stays the entry's until the entry
/// is removed, and may then be given to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot(u32);

#[cfg(test)]
impl Slot {
    pub(crate) fn for_tests(slot: u32) -> Slot {
        Slot(slot)
    }
}

/// Entries by socket pair: an index of slot numbers over a slab of entries.
#[derive(Debug)]
pub(crate) struct SessionTable<V> {
    hasher: PairHashBuilder,
    index: HashTable<u32>,
    slab: Vec<Place<V>>,
    /// Free places of the slab, the latest freed last.
    free: Vec<u32>,
    /// The place the last per-packet lookup found: segments come in bursts per
    /// connection, and a held place whose pair matches is that pair's entry (a pair
    /// has one entry at most), so a repeat needs no hashing.
    last: u32,
}

/// A place of the slab: the pair it was last given to, and its entry while held. The
/// index only names held places, so a lookup compares pairs without looking further.
#[derive(Debug)]
struct Place<V> {
    pair: SocketPair,
    value: Option<V>,
}

impl<V> Default for SessionTable<V> {
    fn default() -> Self {
        SessionTable {
            hasher: PairHashBuilder::new(),
            index: HashTable::new(),
            slab: Vec::new(),
            free: Vec::new(),
            last: u32::MAX,
        }
    }
}

impl<V> SessionTable<V> {
    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The slot of `pair`'s entry.
    #[inline(always)]
    pub(crate) fn find(&self, pair: &SocketPair) -> Option<Slot> {
        self.find_hashed(self.hasher.hash_one(pair), pair)
    }

    /// The slot of `pair`'s entry, `hash` being the pair's hash.
    #[inline(always)]
    fn find_hashed(&self, hash: u64, pair: &SocketPair) -> Option<Slot> {
        let slab = &self.slab;
        let held = |slot: &u32| slab.get(*slot as usize).is_some_and(|place| place.pair == *pair);
        self.index.find(hash, held).map(|slot| Slot(*slot))
    }

    /// The slot of `pair`'s entry and the entry, to change: the per-packet lookup.
    #[inline(always)]
    pub(crate) fn find_mut(&mut self, pair: &SocketPair) -> Option<(Slot, &mut V)> {
        let repeat =
            self.slab.get(self.last as usize).is_some_and(|place| place.pair == *pair && place.value.is_some());
        let slot = if repeat { Slot(self.last) } else { self.find(pair)? };
        self.last = slot.0;
        Some((slot, self.slab.get_mut(slot.0 as usize)?.value.as_mut()?))
    }

    /// The entry in `slot`.
    pub(crate) fn get(&self, slot: Slot) -> Option<&V> {
        self.slab.get(slot.0 as usize)?.value.as_ref()
    }

    /// The entry in `slot`, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, slot: Slot) -> Option<&mut V> {
        self.slab.get_mut(slot.0 as usize)?.value.as_mut()
    }

    /// The pair whose entry is in `slot`.
    pub(crate) fn pair(&self, slot: Slot) -> Option<SocketPair> {
        let place = self.slab.get(slot.0 as usize)?;
        place.value.as_ref().map(|_| place.pair)
    }

    /// Puts `value` as `pair`'s entry (replacing the one it had) and returns its slot;
    /// `None` when the table cannot number another slot (four billion entries).
    pub(crate) fn insert(&mut self, pair: SocketPair, value: V) -> Option<Slot> {
        let hash = self.hasher.hash_one(pair);
        if let Some(slot) = self.find_hashed(hash, &pair) {
            if let Some(held) = self.get_mut(slot) {
                *held = value;
            }
            return Some(slot);
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(place) = self.slab.get_mut(slot as usize) {
                    *place = Place { pair, value: Some(value) };
                }
                slot
            }
            None => {
                let slot = u32::try_from(self.slab.len()).ok()?;
                self.slab.push(Place { pair, value: Some(value) });
                slot
            }
        };
        let hasher = self.hasher;
        let slab = &self.slab;
        let rehash = |slot: &u32| slab.get(*slot as usize).map_or(0, |place| hasher.hash_one(place.pair));
        self.index.insert_unique(hash, slot, rehash);
        Some(Slot(slot))
    }

    /// Takes the entry out of `slot`, which becomes free.
    pub(crate) fn remove(&mut self, slot: Slot) -> Option<(SocketPair, V)> {
        let pair = self.pair(slot)?;
        if let Ok(found) = self.index.find_entry(self.hasher.hash_one(pair), |held| *held == slot.0) {
            found.remove();
        }
        let value = self.slab.get_mut(slot.0 as usize)?.value.take()?;
        self.free.push(slot.0);
        Some((pair, value))
    }

    /// Places in the slab, held or free: the most entries it held at once.
    #[cfg(test)]
    pub(crate) fn places(&self) -> usize {
        self.slab.len()
    }

    /// Every entry with its slot and pair, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Slot, SocketPair, &V)> {
        self.slab
            .iter()
            .enumerate()
            .filter_map(|(slot, place)| Some((Slot(u32::try_from(slot).ok()?), place.pair, place.value.as_ref()?)))
    }

    /// Every entry, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.slab.iter().filter_map(|place| place.value.as_ref())
    }
}

/// The generation of the latest session on each pair that left the session table, so
/// that the next session on it still gets a new id.
///
/// A pair is known by its stable hash's top 56 bits, which share a word with the
/// generation (the low byte; 255 means "see `large`", for pairs reused that often):
/// 8 bytes a pair, in three runs. New pairs go to a short unsorted tail; every [`TAIL`]
/// of them are merged into a sorted middle run, and the middle run into the large
/// sorted array once it holds a sixteenth as many words (at least [`TAIL`]). So the
/// large array, which a merge moves whole, is moved once per many new pairs however
/// many are remembered (a flood evicting sessions remembers a pair per packet). A
/// lookup is two binary searches and a scan of the tail. A pair that comes back keeps
/// its word, updated when it leaves again, so no word is ever taken out of a run.
/// Two pairs whose hashes share the 56 bits share a word: the later pair's ids then
/// start at a higher number, still unique, since an id holds its pair's key.
#[derive(Debug, Default)]
pub(crate) struct Generations {
    sorted: Vec<u64>,
    middle: Vec<u64>,
    tail: Vec<u64>,
    large: HashMap<u64, u32>,
}

/// The low byte of a word: the generation.
const LOW: u64 = 0xff;
/// New pairs kept unsorted before they are merged into the middle run: a lookup scans
/// them.
const TAIL: usize = 256;

impl Generations {
    /// Pairs remembered.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len() + self.middle.len() + self.tail.len()
    }

    /// Forgets every pair.
    pub(crate) fn clear(&mut self) {
        self.sorted.clear();
        self.middle.clear();
        self.tail.clear();
        self.large.clear();
    }

    /// The word of the pair whose hash has this prefix, to change.
    fn word_mut(&mut self, prefix: u64) -> Option<&mut u64> {
        let Generations { sorted, middle, tail, .. } = self;
        match position(sorted, prefix) {
            Some(at) => sorted.get_mut(at),
            None => match position(middle, prefix) {
                Some(at) => middle.get_mut(at),
                None => tail.iter_mut().find(|word| **word & !LOW == prefix),
            },
        }
    }

    /// The generation remembered for the pair of this stable hash.
    pub(crate) fn get(&self, hash: u64) -> Option<u32> {
        let prefix = hash & !LOW;
        let word = match position(&self.sorted, prefix) {
            Some(at) => self.sorted.get(at),
            None => match position(&self.middle, prefix) {
                Some(at) => self.middle.get(at),
                None => self.tail.iter().find(|word| **word & !LOW == prefix),
            },
        }?;
        // The low byte is below 256 (a truncation that loses nothing).
        let low = (word & LOW) as u32;
        Some(if word & LOW == LOW { self.large.get(&prefix).copied().unwrap_or(low) } else { low })
    }

    /// Remembers `generation` for the pair of this stable hash.
    pub(crate) fn set(&mut self, hash: u64, generation: u32) {
        let prefix = hash & !LOW;
        let word = prefix | u64::from(generation).min(LOW);
        if word & LOW == LOW {
            self.large.insert(prefix, generation);
        } else if !self.large.is_empty() {
            self.large.remove(&prefix);
        }
        if let Some(held) = self.word_mut(prefix) {
            *held = word;
            return;
        }
        self.tail.push(word);
        if self.tail.len() >= TAIL {
            merge(&mut self.middle, &mut self.tail);
            if self.middle.len() >= TAIL.max(self.sorted.len() / 16) {
                merge(&mut self.sorted, &mut self.middle);
            }
        }
    }
}

/// Where the word of this prefix lies in a sorted run.
fn position(run: &[u64], prefix: u64) -> Option<usize> {
    let at = run.partition_point(|word| *word & !LOW < prefix);
    run.get(at).is_some_and(|word| *word & !LOW == prefix).then_some(at)
}

/// Merges the words of `from` into the sorted run `into`, from the back, in place: no
/// second copy of the run, so the memory stays at 8 bytes a pair. Leaves `from` empty.
fn merge(into: &mut Vec<u64>, from: &mut Vec<u64>) {
    from.sort_unstable();
    let mut kept = into.len();
    into.resize(kept + from.len(), 0);
    let mut to = into.len();
    while let Some(&next) = from.last() {
        to -= 1;
        let previous = kept.checked_sub(1).and_then(|at| into.get(at).copied());
        let word = match previous {
            Some(word) if word > next => {
                kept -= 1;
                word
            }
            _ => {
                from.pop();
                next
            }
        };
        if let Some(place) = into.get_mut(to) {
            *place = word;
        }
    }
}

/// Builds [`PairHasher`]s with a key drawn from the standard library's random source,
/// so crafted addresses cannot aim every session at one bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairHashBuilder {
    key: u64,
}

impl PairHashBuilder {
    pub(crate) fn new() -> PairHashBuilder {
        PairHashBuilder { key: std::hash::RandomState::new().hash_one(0x7463_705f_7061_6972_u64) }
    }
}

impl BuildHasher for PairHashBuilder {
    type Hasher = PairHasher;
    fn build_hasher(&self) -> PairHasher {
        PairHasher(self.key)
    }
}

/// A keyed hasher for socket pairs: one folded 64x64-bit multiply per word, several
/// times cheaper than SipHash on the per-packet lookup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairHasher(u64);

const FOLD_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a).wrapping_mul(u128::from(b));
    // Truncations keep the low and the high half of the 128-bit product.
    (product as u64) ^ ((product >> 64) as u64)
}

impl PairHasher {
    fn mix(&mut self, word: u64) {
        self.0 = folded_multiply(self.0 ^ word, FOLD_MULTIPLIER);
    }
}

impl Hasher for PairHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (slot, byte) in word.iter_mut().zip(chunk) {
                *slot = *byte;
            }
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, value: u8) {
        self.mix(u64::from(value));
    }
    fn write_u16(&mut self, value: u16) {
        self.mix(u64::from(value));
    }
    fn write_u32(&mut self, value: u32) {
        self.mix(u64::from(value));
    }
    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }
    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }
    fn finish(&self) -> u64 {
        folded_multiply(self.0, FOLD_MULTIPLIER.rotate_left(17))
    }
}
