//! One direction of a session: sequence space to stream offsets, the out-of-order
//! buffer, the overlap policy and declared holes.
//!
//! # Contract
//!
//! - Stream offset 0 is the sequence number after the SYN, or the first payload byte
//!   seen when no SYN was seen. Offsets are `u64`, so a stream may be longer than the
//!   2^32 sequence space; sequence numbers are mapped to offsets by their wrapping
//!   distance from the next byte expected.
//! - Bytes are released strictly in order, each stream offset exactly once, as data, as
//!   a declared gap (no captured segment covered it), or as uncaptured payload (a
//!   captured segment claimed it but the snaplen cut it off). Nothing is invented.
//! - Overlaps: the first captured copy of each byte wins. A later copy whose bytes
//!   differ from the buffered ones is counted as conflicting.
//! - A hole is declared only when the owner asks: [`StreamAssembler::skip_to`] (the peer
//!   acknowledged past it), [`StreamAssembler::flush`] (the monologue or the session
//!   must end) or [`StreamAssembler::flush_one_hole`] (a buffer cap). Bytes of a declared
//!   hole that arrive afterwards are counted as late and dropped.
//! - Payload is copied once, into a per-direction arena, and handed out as frozen
//!   [`Bytes`] splits of it. Arena blocks are recycled: a direction whose block is full,
//!   or whose monologue ended, leaves the block in a small per-thread pool, and a
//!   direction needing a block takes one from there once nobody holds its bytes any
//!   more. So in steady state a data packet costs no allocation, and only the
//!   directions speaking now (not every open session) hold a block.

use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use netanalysis_core::Timestamp;

use crate::seq::SeqNumber;

/// A segment more than this far ahead of the next expected byte is dropped: no real
/// window is this large, and buffering it would let a forged sequence number open a
/// gigantic hole.
const MAX_AHEAD: i64 = 1 << 30;
/// First arena block of a direction; blocks double up to [`MAX_BLOCK`], which stays
/// small so that the blocks being written by many concurrent sessions stay in cache
/// (16 KiB measured about 10% faster than 64 KiB on a capture of real HTTP traffic).
const MIN_BLOCK: usize = 2 * 1024;
const MAX_BLOCK: usize = 16 * 1024;
/// Declared holes remembered to recognise their late bytes.
const RECENT_GAPS: usize = 8;
/// Arena blocks a thread keeps for reuse (at most 128 KiB of 16 KiB blocks). The pool
/// fills on a long capture, at its worst loss episodes (directions holding out-of-order
/// bytes at once), so what it keeps shows in peak memory: 16 blocks cost 128 KiB more
/// on the 4 GB benchmark capture and saved 25 of 3,311 allocations over 61 MB of it
/// with `HTTP`, 63 of 33,880 with `--json HTTP`; 64 blocks cost 768 KiB more and
/// saved 2 of 30,356 allocations over 30 MB logged with `--json HTTP`...
const SPARE_BLOCKS: usize = 8;
/// ... and how many of them a direction looks at for one whose bytes are all released.
const SPARE_TRIES: usize = 4;

thread_local! {
    /// Arena blocks left by directions, oldest first; their bytes may still be held by
    /// events' consumers, so each is reused only once it can be reclaimed whole.
    static SPARE: RefCell<VecDeque<BytesMut>> = const { RefCell::new(VecDeque::new()) };
}

/// Leaves `block` for reuse (dropping the oldest spare past [`SPARE_BLOCKS`]). A
/// thread being torn down just drops it.
fn retire(block: BytesMut) {
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() >= SPARE_BLOCKS {
            spare.pop_front();
        }
        spare.push_back(block);
    });
}

/// A spare block with room for `size` bytes whose earlier bytes nobody holds, if one of
/// the few most recently left is.
fn reuse(size: usize) -> Option<BytesMut> {
    SPARE
        .try_with(|spare| {
            let mut spare = spare.borrow_mut();
            // The most recently left blocks first: the likeliest to be in the CPU's cache.
            let len = spare.len();
            let found = (len.saturating_sub(SPARE_TRIES)..len)
                .rev()
                .find(|&at| spare.get_mut(at).is_some_and(|block| block.try_reclaim(size)))?;
            spare.remove(found)
        })
        .ok()
        .flatten()
}

/// What a direction releases, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Captured bytes.
    Data { offset: u64, bytes: Bytes, packet: u64, ts: Timestamp },
    /// Captured bytes nobody needs, released in order without being copied.
    Uncopied { offset: u64, len: u64, packet: u64, ts: Timestamp },
    /// Sequence space no captured segment covered.
    Gap { offset: u64, len: u64 },
    /// Payload a captured segment carried but the snaplen cut off.
    Uncaptured { offset: u64, len: u64, packet: u64, ts: Timestamp },
}

/// What became of one segment's payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// Bytes (captured or not) no earlier segment had covered.
    pub new_bytes: u64,
    /// The new bytes start at the next expected offset (in order, or filling the hole
    /// at the front).
    pub in_order: bool,
    /// The segment was too far ahead and was dropped.
    pub dropped: bool,
}

/// Counts kept per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes released as data.
    pub reassembled_bytes: u64,
    /// Holes declared.
    pub gaps: u64,
    /// Bytes in declared holes.
    pub missing_bytes: u64,
    /// Payload cut off by the snaplen.
    pub uncaptured_bytes: u64,
    /// Bytes that arrived after their hole was declared, or before the stream's start.
    pub late_bytes: u64,
    /// Buffered bytes a later copy contradicted.
    pub conflicting_bytes: u64,
    /// Segments dropped for lying absurdly far ahead.
    pub segments_dropped: u64,
}

#[derive(Debug, Clone)]
struct Pending {
    offset: u64,
    len: u64,
    /// `None`: uncaptured payload.
    data: Option<Bytes>,
    packet: u64,
    ts: Timestamp,
}

impl Pending {
    fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// One direction's reassembly state.
#[derive(Debug)]
pub(crate) struct StreamAssembler {
    origin: Option<SeqNumber>,
    next: u64,
    pending: VecDeque<Pending>,
    pending_bytes: u64,
    arena: BytesMut,
    /// The arena is (a handle on) a block, not yet left for reuse.
    holds_block: bool,
    block: usize,
    hold: bool,
    /// A stretch released at once that ends before this offset is not copied.
    unneeded_before: u64,
    recent_gaps: [(u64, u64); RECENT_GAPS],
    recent_next: usize,
    stats: StreamStats,
}

impl Default for StreamAssembler {
    fn default() -> Self {
        StreamAssembler {
            origin: None,
            next: 0,
            pending: VecDeque::new(),
            pending_bytes: 0,
            arena: BytesMut::new(),
            holds_block: false,
            block: MIN_BLOCK,
            hold: false,
            unneeded_before: 0,
            recent_gaps: [(0, 0); RECENT_GAPS],
            recent_next: 0,
            stats: StreamStats::default(),
        }
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl StreamAssembler {
    /// Sets the sequence number of stream offset 0, unless already known.
    pub fn set_origin(&mut self, seq: SeqNumber) {
        if self.origin.is_none() {
            self.origin = Some(seq);
        }
    }

    /// The sequence number of the next byte to release, once offset 0 is known.
    pub fn next_seq(&self) -> Option<SeqNumber> {
        self.origin.map(|origin| origin.add_u64(self.next))
    }

    /// The stream offset of the next byte to release.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Captured bytes waiting in the out-of-order buffer.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// While held, nothing is released (data of a handshake still under way).
    pub fn set_hold(&mut self, hold: bool) {
        self.hold = hold;
    }

    /// Nobody needs the bytes before `offset`: a stretch released as soon as it
    /// arrives that ends before it is released as [`Piece::Uncopied`] (its length
    /// only). Bytes that wait in the out-of-order buffer are copied all the same (a
    /// later copy is compared with them).
    pub fn set_unneeded_before(&mut self, offset: u64) {
        self.unneeded_before = offset;
    }

    /// The stream offset of `seq` (negative: before the stream's start).
    pub fn offset_of(&self, seq: SeqNumber) -> Option<i64> {
        let origin = self.origin?;
        let delta = i64::from(seq.distance(origin.add_u64(self.next)));
        Some(to_i64(self.next).saturating_add(delta))
    }

    /// Takes a segment's payload: `payload` was captured, `uncaptured` more bytes were
    /// announced but cut off. `seq` is the sequence number of the first payload byte.
    /// With `lend_from` (the shared buffer `payload` lies in), a stretch released at
    /// once is a slice of that buffer instead of a copy.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        seq: SeqNumber,
        payload: &[u8],
        lend_from: Option<&Bytes>,
        uncaptured: u32,
        packet: u64,
        ts: Timestamp,
        out: &mut Vec<Piece>,
    ) -> Inserted {
        let captured = payload.len() as u64;
        let claimed = captured.saturating_add(u64::from(uncaptured));
        if claimed == 0 {
            return Inserted::default();
        }
        self.set_origin(seq);
        let Some(start) = self.offset_of(seq) else {
            return Inserted::default();
        };
        let next = to_i64(self.next);
        if start.saturating_sub(next) > MAX_AHEAD {
            self.stats.segments_dropped += 1;
            return Inserted { dropped: true, ..Inserted::default() };
        }
        let end = start.saturating_add(to_i64(claimed));
        if start < next {
            let late = self.late_overlap(start, end.min(next));
            self.stats.late_bytes += late;
        }
        if end <= next {
            return Inserted::default();
        }
        // From here on every offset is at or past `next`, hence not negative.
        let new_start = self.next;
        let new_start = if start > next { start as u64 } else { new_start };
        let end = end as u64;
        let cap_end = start.saturating_add(to_i64(captured)).clamp(to_i64(new_start), to_i64(end)) as u64;
        if self.pending.is_empty() && new_start == self.next && !self.hold {
            if cap_end > new_start {
                if cap_end < self.unneeded_before {
                    self.stats.reassembled_bytes += cap_end - new_start;
                    out.push(Piece::Uncopied { offset: new_start, len: cap_end - new_start, packet, ts });
                } else if let Some(slice) = slice_at(payload, start, new_start, cap_end) {
                    let lent = lend_from.and_then(|buffer| netanalysis_core::share(buffer, slice));
                    let bytes = match lent {
                        Some(bytes) => bytes,
                        None => self.copy(slice),
                    };
                    self.stats.reassembled_bytes += bytes.len() as u64;
                    out.push(Piece::Data { offset: new_start, bytes, packet, ts });
                }
            }
            if end > cap_end {
                self.stats.uncaptured_bytes += end - cap_end;
                out.push(Piece::Uncaptured { offset: cap_end, len: end - cap_end, packet, ts });
            }
            self.next = end;
            return Inserted { new_bytes: end - new_start, in_order: true, dropped: false };
        }
        let new_bytes = self.insert_pending(new_start, end, cap_end, start, payload, packet, ts);
        let in_order = new_bytes > 0 && new_start == self.next;
        self.release(out);
        Inserted { new_bytes, in_order, dropped: false }
    }

    /// Buffers the parts of `[from, end)` no buffered segment covers; returns how many
    /// bytes were new. `start` is the offset of `payload[0]`, `cap_end` where the
    /// captured bytes stop.
    #[allow(clippy::too_many_arguments)]
    #[cold]
    #[inline(never)]
    fn insert_pending(
        &mut self,
        from: u64,
        end: u64,
        cap_end: u64,
        start: i64,
        payload: &[u8],
        packet: u64,
        ts: Timestamp,
    ) -> u64 {
        let mut cursor = from;
        let mut index = self.pending.partition_point(|p| p.end() <= cursor);
        let mut new_bytes = 0;
        while cursor < end {
            let existing = self.pending.get(index).map(|p| (p.offset, p.end()));
            match existing {
                Some((offset, existing_end)) if offset <= cursor => {
                    let overlap_end = end.min(existing_end);
                    let compared_end = overlap_end.min(cap_end);
                    if compared_end > cursor {
                        let conflicting = self.pending.get(index).map_or(0, |p| {
                            let old = p.data.as_ref().and_then(|d| slice_at(d, to_i64(p.offset), cursor, compared_end));
                            let new = slice_at(payload, start, cursor, compared_end);
                            match (old, new) {
                                (Some(old), Some(new)) => old.iter().zip(new).filter(|(a, b)| a != b).count() as u64,
                                _ => 0,
                            }
                        });
                        self.stats.conflicting_bytes += conflicting;
                    }
                    cursor = overlap_end;
                    index += 1;
                }
                other => {
                    let limit = other.map_or(end, |(offset, _)| offset.min(end));
                    if cursor < cap_end {
                        let piece_end = limit.min(cap_end);
                        if let Some(slice) = slice_at(payload, start, cursor, piece_end) {
                            let bytes = self.copy(slice);
                            self.pending_bytes += bytes.len() as u64;
                            self.pending.insert(
                                index,
                                Pending { offset: cursor, len: piece_end - cursor, data: Some(bytes), packet, ts },
                            );
                            index += 1;
                        }
                        new_bytes += piece_end - cursor;
                        cursor = piece_end;
                    }
                    if cursor < limit {
                        self.pending
                            .insert(index, Pending { offset: cursor, len: limit - cursor, data: None, packet, ts });
                        index += 1;
                        new_bytes += limit - cursor;
                        cursor = limit;
                    }
                }
            }
        }
        new_bytes
    }

    /// Releases what is contiguous with the next expected byte.
    pub fn release(&mut self, out: &mut Vec<Piece>) {
        if self.hold {
            return;
        }
        while self.pending.front().is_some_and(|p| p.offset == self.next) {
            let Some(piece) = self.pending.pop_front() else { break };
            self.next = piece.end();
            match piece.data {
                Some(bytes) => {
                    self.pending_bytes = self.pending_bytes.saturating_sub(bytes.len() as u64);
                    self.stats.reassembled_bytes += bytes.len() as u64;
                    out.push(Piece::Data { offset: piece.offset, bytes, packet: piece.packet, ts: piece.ts });
                }
                None => {
                    self.stats.uncaptured_bytes += piece.len;
                    out.push(Piece::Uncaptured {
                        offset: piece.offset,
                        len: piece.len,
                        packet: piece.packet,
                        ts: piece.ts,
                    });
                }
            }
        }
    }

    /// The peer acknowledged everything before `ack`: if later data waits, declares the
    /// holes before `ack` (never past it) and releases what follows them.
    pub fn acknowledge(&mut self, ack: SeqNumber, out: &mut Vec<Piece>) {
        if self.hold || self.pending.is_empty() {
            return;
        }
        let Some(limit) = self.offset_of(ack) else { return };
        if limit > to_i64(self.next) {
            self.skip_to(limit as u64, out);
        }
    }

    /// Declares holes up to `limit` where later data waits, releasing as it goes.
    pub fn skip_to(&mut self, limit: u64, out: &mut Vec<Piece>) {
        while self.next < limit {
            let Some(front) = self.pending.front().map(|p| p.offset) else { break };
            let before = self.next;
            if front > self.next {
                self.declare_gap(front.min(limit), out);
            }
            self.release(out);
            if self.next == before {
                // No progress: nothing is released while the direction is held (its
                // handshake is under way). Stop rather than spin.
                break;
            }
        }
    }

    /// Declares every hole and releases everything buffered (the monologue or the
    /// session must end).
    pub fn flush(&mut self, out: &mut Vec<Piece>) {
        self.hold = false;
        self.skip_to(u64::MAX, out);
    }

    /// Declares the first hole and releases what follows it (a buffer cap was reached).
    pub fn flush_one_hole(&mut self, out: &mut Vec<Piece>) {
        self.hold = false;
        if let Some(front) = self.pending.front().map(|p| p.offset) {
            if front > self.next {
                self.declare_gap(front, out);
            }
            self.release(out);
        }
    }

    fn declare_gap(&mut self, until: u64, out: &mut Vec<Piece>) {
        let len = until.saturating_sub(self.next);
        if len == 0 {
            return;
        }
        out.push(Piece::Gap { offset: self.next, len });
        if let Some(slot) = self.recent_gaps.get_mut(self.recent_next % RECENT_GAPS) {
            *slot = (self.next, until);
        }
        self.recent_next = self.recent_next.wrapping_add(1);
        self.stats.gaps += 1;
        self.stats.missing_bytes += len;
        self.next = until;
    }

    /// Bytes of `[from, to)` (already behind `next`) that fell in a declared hole or
    /// before the stream's start.
    #[cold]
    #[inline(never)]
    fn late_overlap(&self, from: i64, to: i64) -> u64 {
        let mut late = 0u64;
        if from < 0 {
            late += to.min(0).saturating_sub(from).unsigned_abs();
        }
        let from = from.max(0) as u64;
        let to = to.max(0) as u64;
        for &(gap_start, gap_end) in &self.recent_gaps {
            let a = from.max(gap_start);
            let b = to.min(gap_end);
            if b > a {
                late += b - a;
            }
        }
        late
    }

    /// Copies `bytes` into the arena and hands them out as a frozen split.
    fn copy(&mut self, bytes: &[u8]) -> Bytes {
        if self.arena.capacity() < bytes.len() {
            let size = self.block.max(bytes.len());
            self.block = self.block.saturating_mul(2).min(MAX_BLOCK);
            let used = std::mem::replace(&mut self.arena, reuse(size).unwrap_or_else(|| BytesMut::with_capacity(size)));
            if std::mem::replace(&mut self.holds_block, true) {
                retire(used);
            }
        }
        self.arena.extend_from_slice(bytes);
        self.arena.split().freeze()
    }

    /// Leaves the arena block for reuse: the direction will not write for a while (its
    /// monologue ended), and its block's remaining room would sit idle meanwhile.
    pub fn release_arena(&mut self) {
        if std::mem::take(&mut self.holds_block) {
            retire(std::mem::take(&mut self.arena));
        }
    }
}

impl Drop for StreamAssembler {
    /// A direction that ends leaves its block for the next sessions.
    fn drop(&mut self) {
        self.release_arena();
    }
}

/// The part of `data` (whose first byte sits at stream offset `data_start`) covering
/// stream offsets `[from, to)`.
fn slice_at(data: &[u8], data_start: i64, from: u64, to: u64) -> Option<&[u8]> {
    let a = usize::try_from(to_i64(from).checked_sub(data_start)?).ok()?;
    let b = usize::try_from(to_i64(to).checked_sub(data_start)?).ok()?;
    data.get(a..b)
}
