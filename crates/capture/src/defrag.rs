//! IPv4 and IPv6 fragment reassembly (RFC 791 section 3.2, RFC 8200 section 4.5) in
//! bounded memory.
//!
//! Datagrams are keyed by addresses, protocol family and identification. Where fragments
//! overlap, the bytes that arrived first are kept (later copies never overwrite them), so
//! a conflicting retransmission cannot change data already placed; overlaps are counted.
//! A datagram is dropped, and counted, when it would exceed 65,535 bytes, when its
//! fragments disagree on where it ends, when the capture cut one of them, when it has
//! waited longer than the timeout (in capture time), or when the table is full and it is
//! the oldest.
//!
//! This is the one place in the capture crate that copies packet bytes.

use std::collections::HashMap;
use std::net::IpAddr;

use netanalysis_core::Timestamp;
use smallvec::SmallVec;

use crate::decode::Fragment;

/// Limits of the defragmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragLimits {
    /// Datagrams being reassembled at once; the oldest is dropped to make room.
    pub max_datagrams: usize,
    /// Bytes buffered across all datagrams; the oldest are dropped to make room.
    pub max_bytes: usize,
    /// How long (capture time, nanoseconds) a datagram may wait for its last fragment.
    pub timeout_nanos: u64,
}

impl Default for DefragLimits {
    /// 1024 datagrams, 64 MiB, and the 30 seconds Linux waits (`ipfrag_time`).
    fn default() -> Self {
        DefragLimits { max_datagrams: 1024, max_bytes: 64 << 20, timeout_nanos: 30_000_000_000 }
    }
}

/// The largest IP payload a fragmented datagram can have.
const MAX_DATAGRAM: u32 = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    protocol: u8,
}

#[derive(Debug)]
struct Datagram {
    first_seen: Timestamp,
    /// Arrival order, to find the oldest.
    serial: u64,
    data: Vec<u8>,
    /// Sorted, disjoint, non-adjacent byte ranges received so far.
    have: SmallVec<[(u32, u32); 4]>,
    /// Where the datagram ends, once the last fragment has arrived.
    total: Option<u32>,
    ttl: u8,
}

/// Counters of the defragmenter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams rebuilt whole.
    pub reassembled: u64,
    /// Datagrams given up: impossible, cut by the capture, or evicted to stay within limits.
    pub dropped: u64,
    /// Datagrams whose last fragment never came within the timeout.
    pub timed_out: u64,
    /// Fragments that overlapped bytes already received.
    pub overlapping: u64,
}

/// What happened to one fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Held until the rest arrives.
    Pending,
    /// The datagram is complete: see [`Defragmenter::completed`].
    Complete { protocol: u8, ttl: u8 },
    /// The datagram was dropped.
    Dropped,
}

/// Rebuilds fragmented IP datagrams.
#[derive(Debug)]
pub(crate) struct Defragmenter {
    limits: DefragLimits,
    table: HashMap<Key, Datagram>,
    buffered: usize,
    serial: u64,
    /// The last datagram completed; packets borrow its bytes.
    completed: Vec<u8>,
    /// Buffers of finished datagrams, kept for reuse.
    spare: Vec<Vec<u8>>,
    stats: DefragStats,
    /// The earliest `first_seen` in the table may have expired once time passes this.
    next_expiry: u64,
}

impl Defragmenter {
    pub(crate) fn new(limits: DefragLimits) -> Defragmenter {
        Defragmenter {
            limits,
            table: HashMap::new(),
            buffered: 0,
            serial: 0,
            completed: Vec::new(),
            spare: Vec::new(),
            stats: DefragStats::default(),
            next_expiry: u64::MAX,
        }
    }

    pub(crate) fn stats(&self) -> &DefragStats {
        &self.stats
    }

    /// Datagrams still waiting for fragments.
    pub(crate) fn pending(&self) -> usize {
        self.table.len()
    }

    /// The payload of the datagram the last `Complete` outcome announced.
    pub(crate) fn completed(&self) -> &[u8] {
        &self.completed
    }

    /// Adds one fragment seen at `now`.
    pub(crate) fn push(&mut self, fragment: &Fragment<'_>, now: Timestamp) -> Outcome {
        self.stats.fragments += 1;
        self.expire(now);
        let key = Key { src: fragment.src, dst: fragment.dst, id: fragment.id, protocol: fragment.protocol };
        let len = u32::try_from(fragment.data.len()).unwrap_or(u32::MAX);
        let end = fragment.offset.saturating_add(len);
        let impossible = end > MAX_DATAGRAM || (fragment.more && len % 8 != 0) || fragment.cut;
        if impossible {
            if let Some(datagram) = self.table.remove(&key) {
                self.release(datagram);
            }
            self.stats.dropped += 1;
            return Outcome::Dropped;
        }
        if !self.table.contains_key(&key) {
            self.make_room(end as usize);
            self.serial += 1;
            let data = self.spare.pop().unwrap_or_default();
            let datagram = Datagram {
                first_seen: now,
                serial: self.serial,
                data,
                have: SmallVec::new(),
                total: None,
                ttl: fragment.ttl,
            };
            self.next_expiry = self.next_expiry.min(now.as_nanos().saturating_add(self.limits.timeout_nanos));
            self.table.insert(key, datagram);
        }
        let Some(datagram) = self.table.get_mut(&key) else { return Outcome::Dropped };
        // Where the datagram ends must be consistent across fragments.
        let conflict = match (datagram.total, fragment.more) {
            (Some(total), false) => total != end,
            (Some(total), true) => end > total,
            (None, false) => datagram.have.last().is_some_and(|&(_, e)| e > end),
            (None, true) => false,
        };
        if conflict {
            if let Some(datagram) = self.table.remove(&key) {
                self.release(datagram);
            }
            self.stats.dropped += 1;
            return Outcome::Dropped;
        }
        if !fragment.more {
            datagram.total = Some(end);
        }
        if datagram.data.len() < end as usize {
            self.buffered += end as usize - datagram.data.len();
            datagram.data.resize(end as usize, 0);
        }
        if place(datagram, fragment.offset, fragment.data) {
            self.stats.overlapping += 1;
        }
        let complete = match (datagram.total, datagram.have.as_slice()) {
            (Some(total), [(0, e)]) => *e == total,
            (Some(0), []) => true,
            _ => false,
        };
        if !complete {
            return Outcome::Pending;
        }
        let ttl = datagram.ttl;
        let Some(mut datagram) = self.table.remove(&key) else { return Outcome::Dropped };
        self.buffered = self.buffered.saturating_sub(datagram.data.len());
        datagram.data.truncate(datagram.total.unwrap_or(0) as usize);
        std::mem::swap(&mut self.completed, &mut datagram.data);
        datagram.data.clear();
        if self.spare.len() < 16 {
            self.spare.push(datagram.data);
        }
        self.stats.reassembled += 1;
        Outcome::Complete { protocol: fragment.protocol, ttl }
    }

    /// Drops the datagrams that waited longer than the timeout.
    fn expire(&mut self, now: Timestamp) {
        let now = now.as_nanos();
        if now < self.next_expiry {
            return;
        }
        let timeout = self.limits.timeout_nanos;
        let expired: SmallVec<[Key; 8]> = self
            .table
            .iter()
            .filter(|(_, d)| d.first_seen.as_nanos().saturating_add(timeout) <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            if let Some(datagram) = self.table.remove(&key) {
                self.release(datagram);
                self.stats.timed_out += 1;
            }
        }
        self.next_expiry =
            self.table.values().map(|d| d.first_seen.as_nanos().saturating_add(timeout)).min().unwrap_or(u64::MAX);
    }

    /// Evicts the oldest datagrams until one more of up to `bytes` fits the limits.
    fn make_room(&mut self, bytes: usize) {
        while !self.table.is_empty()
            && (self.table.len() >= self.limits.max_datagrams
                || self.buffered.saturating_add(bytes) > self.limits.max_bytes)
        {
            let Some(oldest) = self.table.iter().min_by_key(|(_, d)| d.serial).map(|(k, _)| *k) else { break };
            if let Some(datagram) = self.table.remove(&oldest) {
                self.release(datagram);
                self.stats.dropped += 1;
            }
        }
    }

    fn release(&mut self, mut datagram: Datagram) {
        self.buffered = self.buffered.saturating_sub(datagram.data.len());
        datagram.data.clear();
        if self.spare.len() < 16 {
            self.spare.push(datagram.data);
        }
    }
}

/// Copies the bytes of `data` at `offset` that are not there yet, and records them;
/// returns whether any byte overlapped what was already there.
fn place(datagram: &mut Datagram, offset: u32, data: &[u8]) -> bool {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let end = offset.saturating_add(len);
    if offset == end {
        return false;
    }
    let mut overlapped = false;
    // Fill each gap between the ranges already held, within [offset, end).
    let mut cursor = offset;
    let mut gaps: SmallVec<[(u32, u32); 4]> = SmallVec::new();
    for &(s, e) in datagram.have.iter() {
        if e <= cursor {
            continue;
        }
        if s >= end {
            break;
        }
        if s > cursor {
            gaps.push((cursor, s));
        }
        overlapped = true;
        cursor = cursor.max(e);
    }
    if cursor < end {
        gaps.push((cursor, end));
    }
    for (s, e) in gaps {
        let from = (s - offset) as usize;
        let to = (e - offset) as usize;
        if let (Some(dst), Some(src)) = (datagram.data.get_mut(s as usize..e as usize), data.get(from..to)) {
            dst.copy_from_slice(src);
        }
    }
    // Merge [offset, end) into the held ranges.
    let mut merged: SmallVec<[(u32, u32); 4]> = SmallVec::new();
    let (mut new_s, mut new_e) = (offset, end);
    let mut inserted = false;
    for &(s, e) in datagram.have.iter() {
        if e < new_s {
            merged.push((s, e));
        } else if s > new_e {
            if !inserted {
                merged.push((new_s, new_e));
                inserted = true;
            }
            merged.push((s, e));
        } else {
            new_s = new_s.min(s);
            new_e = new_e.max(e);
        }
    }
    if !inserted {
        merged.push((new_s, new_e));
    }
    datagram.have = merged;
    overlapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn frag(id: u32, offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id,
            protocol: 6,
            ttl: 64,
            offset,
            more,
            data,
            cut: false,
        }
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_micros(secs, 0)
    }

    #[test]
    fn in_order_fragments_complete_the_datagram() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert_eq!(d.push(&frag(1, 0, true, &[1; 8]), at(1)), Outcome::Pending);
        assert_eq!(d.push(&frag(1, 8, true, &[2; 8]), at(1)), Outcome::Pending);
        assert_eq!(d.push(&frag(1, 16, false, &[3; 3]), at(1)), Outcome::Complete { protocol: 6, ttl: 64 });
        assert_eq!(d.completed(), &[1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3]);
        assert_eq!(d.pending(), 0);
        assert_eq!(d.stats().reassembled, 1);
    }

    #[test]
    fn out_of_order_and_overlapping_fragments_keep_the_first_bytes() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert_eq!(d.push(&frag(7, 16, false, &[3; 4]), at(1)), Outcome::Pending);
        assert_eq!(d.push(&frag(7, 8, true, &[2; 8]), at(1)), Outcome::Pending);
        // Overlaps bytes 8..16 with different data: the first copy wins.
        assert_eq!(d.push(&frag(7, 0, true, &[9; 16]), at(1)), Outcome::Complete { protocol: 6, ttl: 64 });
        assert_eq!(&d.completed()[..8], &[9; 8]);
        assert_eq!(&d.completed()[8..16], &[2; 8]);
        assert_eq!(d.stats().overlapping, 1);
    }

    #[test]
    fn incomplete_datagram_times_out_in_capture_time() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert_eq!(d.push(&frag(1, 0, true, &[1; 8]), at(100)), Outcome::Pending);
        assert_eq!(d.push(&frag(2, 0, true, &[1; 8]), at(200)), Outcome::Pending);
        assert_eq!(d.stats().timed_out, 1);
        assert_eq!(d.pending(), 1);
    }

    #[test]
    fn conflicting_ends_drop_the_datagram() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert_eq!(d.push(&frag(1, 8, false, &[1; 8]), at(1)), Outcome::Pending);
        assert_eq!(d.push(&frag(1, 8, false, &[1; 16]), at(1)), Outcome::Dropped);
        assert_eq!(d.push(&frag(2, 65_528, true, &[1; 16]), at(1)), Outcome::Dropped);
        assert_eq!(d.stats().dropped, 2);
        assert_eq!(d.pending(), 0);
    }

    proptest::proptest! {
        /// Against a byte-map model: fragments of a datagram in any order, overlapping,
        /// with conflicting bytes; the datagram completes exactly when every byte and the
        /// end are known, and holds, for each byte, the first copy that arrived.
        #[test]
        fn reassembly_matches_a_first_copy_wins_model(
            blocks in 1usize..40,
            tail in 1usize..8,
            pieces in proptest::collection::vec((0usize..40, 1usize..6, proptest::num::u8::ANY), 1..60),
        ) {
            let total = blocks * 8 + tail;
            let mut model: Vec<Option<u8>> = vec![None; total];
            let mut end_known = false;
            let mut d = Defragmenter::new(DefragLimits::default());
            for (start_block, len_blocks, fill) in pieces {
                let start = (start_block % (blocks + 1)) * 8;
                let end = (start + len_blocks * 8).min(total);
                let more = end < total;
                // Fragments that do not end the datagram must be whole 8-byte blocks.
                let end = if more { end - (end - start) % 8 } else { end };
                if end <= start {
                    continue;
                }
                let data = vec![fill; end - start];
                for (slot, byte) in model[start..end].iter_mut().zip(&data) {
                    slot.get_or_insert(*byte);
                }
                end_known |= !more;
                let outcome = d.push(&frag(1, start as u32, more, &data), at(1));
                let complete = end_known && model.iter().all(Option::is_some);
                if complete {
                    proptest::prop_assert_eq!(outcome, Outcome::Complete { protocol: 6, ttl: 64 });
                    let expected: Vec<u8> = model.iter().map(|b| b.unwrap_or(0)).collect();
                    proptest::prop_assert_eq!(d.completed(), &expected[..]);
                    break;
                }
                proptest::prop_assert_eq!(outcome, Outcome::Pending);
            }
        }
    }

    #[test]
    fn table_limit_evicts_the_oldest() {
        let limits = DefragLimits { max_datagrams: 2, ..DefragLimits::default() };
        let mut d = Defragmenter::new(limits);
        for id in 0..5 {
            d.push(&frag(id, 0, true, &[0; 8]), at(1));
        }
        assert_eq!(d.pending(), 2);
        assert_eq!(d.stats().dropped, 3);
        assert_eq!(d.push(&frag(4, 8, false, &[5; 2]), at(1)), Outcome::Complete { protocol: 6, ttl: 64 });
    }
}
