//! Where the TCP listener keeps what it remembers of recently closed sessions: small
//! records in closing order, found by socket pair.
//!
//! The listener holds every session closed within the last `linger` seconds, so on a
//! long capture these records outnumber the live sessions more than ten to one (on the
//! benchmark captures, up to 4,756 against 278) and grow with the rate of closing, not
//! with the sessions open. They come and go in closing order, so they live in a
//! queue; the queue is made of chunks of [`CHUNK`] records that never move (a chunk
//! emptied at the front is reused at the back), so its memory follows the most records
//! held at once in steps of one chunk, where a growing array would double, copy, and
//! leave its old copy in the allocator's hands. A hash index of 4-byte record numbers
//! finds a pair's record. A record taken out of the middle (its pair connected again)
//! leaves an empty place that is passed over when it reaches the front; when empty
//! places outnumber the records more than two to one, the queue is rebuilt without them.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use netanalysis_core::SocketPair;

use crate::table::PairHashBuilder;

/// Records per chunk.
pub(crate) const CHUNK: usize = 256;

/// A record: the pair, when it was put in (capture time, nanoseconds) and what the
/// caller keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<T> {
    pub(crate) pair: SocketPair,
    pub(crate) since: u64,
    pub(crate) value: T,
}

/// Records by pair, in the order they were put in; at most one per pair.
#[derive(Debug)]
pub(crate) struct Tombstones<T> {
    hasher: PairHashBuilder,
    /// The low 32 bits of each held record's number.
    index: HashTable<u32>,
    places: Places<T>,
    /// Empty places between `first` and `end`.
    empty: usize,
}

/// The queue itself: record number `n` lies at offset `n - base` of the chunks.
#[derive(Debug)]
struct Places<T> {
    chunks: VecDeque<Vec<Option<Record<T>>>>,
    /// A chunk emptied at the front, kept for the back.
    spare: Option<Vec<Option<Record<T>>>>,
    /// The number of the first place of the first chunk.
    base: u64,
    /// The number of the oldest place not yet passed.
    first: u64,
    /// The number the next record will get.
    end: u64,
}

impl<T> Places<T> {
    /// The full number of a held record from the low 32 bits the index keeps: the
    /// places from `first` to `end` never number more than `u32::MAX`.
    fn number(&self, low: u32) -> u64 {
        // A truncation: only the low 32 bits are compared.
        self.first + u64::from(low.wrapping_sub(self.first as u32))
    }

    fn get(&self, number: u64) -> Option<&Record<T>> {
        let offset = usize::try_from(number.checked_sub(self.base)?).ok()?;
        self.chunks.get(offset / CHUNK)?.get(offset % CHUNK)?.as_ref()
    }

    fn get_mut(&mut self, number: u64) -> Option<&mut Option<Record<T>>> {
        let offset = usize::try_from(number.checked_sub(self.base)?).ok()?;
        self.chunks.get_mut(offset / CHUNK)?.get_mut(offset % CHUNK)
    }

    /// The pair of the held record the index names with `low`.
    fn pair(&self, low: u32) -> Option<&SocketPair> {
        self.get(self.number(low)).map(|record| &record.pair)
    }

    /// Appends a place; gives `record` back when the queue cannot number another.
    fn push(&mut self, record: Record<T>) -> Result<(), Record<T>> {
        if self.end - self.first >= u64::from(u32::MAX) {
            return Err(record);
        }
        let full = self.chunks.back().is_none_or(|chunk| chunk.len() >= CHUNK);
        if full {
            let chunk = self.spare.take().unwrap_or_else(|| Vec::with_capacity(CHUNK));
            if self.chunks.is_empty() {
                self.base = self.end;
            }
            self.chunks.push_back(chunk);
        }
        match self.chunks.back_mut() {
            Some(chunk) => chunk.push(Some(record)),
            None => return Err(record),
        }
        self.end += 1;
        Ok(())
    }

    /// Passes the oldest place, giving back its chunk once the chunk is passed.
    fn pass(&mut self) {
        if self.first >= self.end {
            return;
        }
        self.first += 1;
        if self.first - self.base >= CHUNK as u64 || self.first == self.end {
            if let Some(mut chunk) = self.chunks.pop_front() {
                chunk.clear();
                self.spare = Some(chunk);
            }
            self.base = self.first;
        }
    }
}

impl<T> Default for Tombstones<T> {
    fn default() -> Self {
        Tombstones {
            hasher: PairHashBuilder::new(),
            index: HashTable::new(),
            places: Places { chunks: VecDeque::new(), spare: None, base: 0, first: 0, end: 0 },
            empty: 0,
        }
    }
}

impl<T> Tombstones<T> {
    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Chunks in use: the memory held, in steps of [`CHUNK`] records.
    #[cfg(test)]
    pub(crate) fn chunks(&self) -> usize {
        self.places.chunks.len()
    }

    /// `pair`'s record.
    pub(crate) fn get(&self, pair: &SocketPair) -> Option<&Record<T>> {
        let places = &self.places;
        let low = self.index.find(self.hasher.hash_one(pair), |low| places.pair(*low) == Some(pair))?;
        places.get(places.number(*low))
    }

    /// Takes `pair`'s record out.
    pub(crate) fn take(&mut self, pair: &SocketPair) -> Option<Record<T>> {
        let places = &self.places;
        let found = self.index.find_entry(self.hasher.hash_one(pair), |low| places.pair(*low) == Some(pair)).ok()?;
        let (low, _) = found.remove();
        let number = self.places.number(low);
        let record = self.places.get_mut(number)?.take()?;
        self.empty += 1;
        if self.empty > 2 * self.len() + CHUNK {
            self.rebuild();
        }
        Some(record)
    }

    /// Puts `record` in as the newest; gives back the record it replaces (`pair` had
    /// one), and `record` itself when the queue cannot number another (over four
    /// billion places between its oldest and newest record).
    pub(crate) fn put(&mut self, record: Record<T>) -> Result<Option<Record<T>>, Record<T>> {
        let replaced = self.take(&record.pair);
        let hash = self.hasher.hash_one(record.pair);
        // A truncation: the index keeps the low 32 bits (see `Places::number`).
        let low = self.places.end as u32;
        self.places.push(record)?;
        let (hasher, places) = (self.hasher, &self.places);
        let rehash = |low: &u32| places.pair(*low).map_or(0, |pair| hasher.hash_one(pair));
        self.index.insert_unique(hash, low, rehash);
        Ok(replaced)
    }

    /// The oldest record, if it was put in at or before `until`: taken out.
    pub(crate) fn pop_until(&mut self, until: u64) -> Option<Record<T>> {
        self.pass_empty();
        let first = self.places.first;
        if self.places.get(first)?.since > until {
            return None;
        }
        self.pop_oldest()
    }

    /// The oldest record, taken out.
    pub(crate) fn pop_oldest(&mut self) -> Option<Record<T>> {
        self.pass_empty();
        let first = self.places.first;
        let record = self.places.get_mut(first)?.take()?;
        let hash = self.hasher.hash_one(record.pair);
        // A truncation, as in `put`.
        if let Ok(found) = self.index.find_entry(hash, |low| *low == first as u32) {
            found.remove();
        }
        self.places.pass();
        Some(record)
    }

    /// Passes the empty places at the front.
    fn pass_empty(&mut self) {
        while self.places.first < self.places.end && self.places.get(self.places.first).is_none() {
            self.places.pass();
            self.empty = self.empty.saturating_sub(1);
        }
    }

    /// Every record, oldest first.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Record<T>> {
        self.places.chunks.iter().flatten().filter_map(Option::as_ref)
    }

    /// Moves the records together, oldest first, without the empty places.
    #[cold]
    #[inline(never)]
    fn rebuild(&mut self) {
        let old = std::mem::replace(
            &mut self.places,
            Places { chunks: VecDeque::new(), spare: None, base: 0, first: 0, end: 0 },
        );
        self.index.clear();
        self.empty = 0;
        for record in old.chunks.into_iter().flatten().flatten() {
            // Fewer records than the old queue numbered, so each finds a place.
            if self.put(record).is_err() {
                break;
            }
        }
    }
}
