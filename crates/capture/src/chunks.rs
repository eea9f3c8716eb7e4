//! Reading a classic pcap file in chunks, on several threads at once.
//!
//! The file is cut at fixed offsets into chunks of [`Chunks::SIZE`] bytes, and a record
//! belongs to the chunk its header starts in. Any thread can copy a chunk's bytes out of
//! the page cache at any time (a positioned read into a buffer of its own, [`ChunkReader::read`]);
//! framing its records needs where the first one starts, which framing the chunk before
//! tells (a [`Boundary`]). So framing, which only walks the record headers, is the one
//! step taken chunk after chunk in file order; copying and decoding run on every thread
//! at once, each on the chunks it reads.
//!
//! Decoding a chunk's records counts them into the caller's [`CaptureStats`] (add up every
//! thread's for the whole file); IP fragments go to the one defragmenter all threads
//! share, in file order: a chunk's decoding takes its [`Turn`] at it, which comes once
//! every chunk before it has been decoded. Records are returned exactly as
//! [`CaptureReader::next_packet_shared`] returns them, numbered, decoded and counted the
//! same way, frames lying in the chunk's shared buffer.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use netanalysis_core::{Packet, Timestamp};

use crate::ahead::read_at;
use crate::defrag::Defragmenter;
use crate::error::ReadError;
use crate::reader::{assemble, FrameAt, PcapFormat, Record};
use crate::source::SharedBuffer;
use crate::stats::CaptureStats;

/// Bytes read past a chunk's end when its last record runs over, at least.
const OVERRUN: usize = 16 << 10;

/// How long a wait for the defragmenter's turn sleeps before looking at the halt flag.
const TURN_POLL: Duration = Duration::from_millis(10);

/// A classic pcap file to be read in chunks (see the module docs); from
/// [`CaptureReader::chunks`](crate::CaptureReader::chunks). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Chunks(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    name: String,
    file: File,
    /// File offset of the first record.
    first: u64,
    format: PcapFormat,
    stop: Arc<AtomicBool>,
    halted: AtomicBool,
    lane: Mutex<Lane>,
    /// Signalled when a chunk's turn at the defragmenter ends.
    turned: Condvar,
}

/// The defragmenter, and the chunk whose turn at it it is.
#[derive(Debug)]
struct Lane {
    next: u64,
    defrag: Defragmenter,
}

/// Where the records of a chunk start: what framing the chunks before found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    /// File offset of the next record.
    pub offset: u64,
    /// Records framed before it.
    pub packets: u64,
}

/// What framing a chunk found after its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Where the next chunk's records start (or, at the end, where the capture ended).
    pub next: Boundary,
    /// False when the capture ended inside this chunk (or reading was stopped).
    pub more: bool,
}

/// A chunk's bytes and, once framed, its records.
#[derive(Debug)]
pub struct Chunk {
    index: u64,
    buffer: SharedBuffer,
    /// Bytes read into `buffer`.
    len: usize,
    /// The file ended within the bytes read.
    eof: bool,
    /// The read failed: reported when framing needs the bytes.
    error: Option<std::io::Error>,
    records: Vec<Record>,
    /// Records framed before this chunk's first.
    before: u64,
}

impl Chunk {
    /// The chunk's number in the file, from 0.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Records framed in it.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record starts in it.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The timestamp of record `i`.
    pub fn ts(&self, i: usize) -> Option<Timestamp> {
        self.records.get(i).map(|record| record.ts)
    }
}

/// One thread's reading of chunks: keeps the buffers it read into, and reuses each once
/// no frame of it is held any more.
#[derive(Debug)]
pub struct ChunkReader {
    chunks: Chunks,
    spare: Vec<SharedBuffer>,
    /// A record list to reuse.
    records: Vec<Record>,
}

/// Buffers a [`ChunkReader`] keeps for reuse.
const SPARE: usize = 16;

impl Chunks {
    /// Bytes of the file per chunk.
    pub const SIZE: usize = 256 << 10;

    pub(crate) fn new(
        name: &str,
        file: File,
        first: u64,
        format: PcapFormat,
        stop: Arc<AtomicBool>,
        defrag: Defragmenter,
    ) -> Chunks {
        Chunks(Arc::new(Shared {
            name: name.to_owned(),
            file,
            first,
            format,
            stop,
            halted: AtomicBool::new(false),
            lane: Mutex::new(Lane { next: 0, defrag }),
            turned: Condvar::new(),
        }))
    }

    /// Where the first chunk's records start.
    pub fn start(&self) -> Boundary {
        Boundary { offset: self.0.first, packets: 0 }
    }

    /// A reader of chunks for one thread.
    pub fn reader(&self) -> ChunkReader {
        ChunkReader { chunks: self.clone(), spare: Vec::new(), records: Vec::new() }
    }

    /// Chunk `index`'s turn at the defragmenter: take one for each chunk decoded, in any
    /// order; each waits for the turns of the chunks before it when it needs the
    /// defragmenter, and when it ends.
    pub fn turn(&self, index: u64) -> Turn<'_> {
        Turn { shared: &self.0, index, guard: None, done: false }
    }

    /// Stops every wait for a turn (another thread will not take its own): after this,
    /// turns no longer wait and what is decoded no longer matters.
    pub fn halt(&self) {
        self.0.halted.store(true, Ordering::SeqCst);
        let _guard = lock(&self.0.lane);
        self.0.turned.notify_all();
    }

    /// Runs `f` on the shared defragmenter (its counts, or taking it back at the end).
    pub(crate) fn with_defrag<R>(&self, f: impl FnOnce(&mut Defragmenter) -> R) -> R {
        f(&mut lock(&self.0.lane).defrag)
    }

    fn start_of(&self, index: u64) -> u64 {
        self.0.first.saturating_add(index.saturating_mul(Chunks::SIZE as u64))
    }
}

fn lock(lane: &Mutex<Lane>) -> MutexGuard<'_, Lane> {
    lane.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ChunkReader {
    /// Copies chunk `index`'s bytes out of the file. A failed read is reported by
    /// [`frame`](ChunkReader::frame), if the capture has not ended before the chunk.
    pub fn read(&mut self, index: u64) -> Chunk {
        let free = self.spare.iter().position(|buffer| buffer.unique());
        let mut buffer = match free {
            Some(at) => self.spare.swap_remove(at),
            None => SharedBuffer::new(Chunks::SIZE + OVERRUN),
        };
        let offset = self.chunks.start_of(index);
        let file = &self.chunks.0.file;
        let read = buffer.write(|bytes| match bytes.get_mut(..Chunks::SIZE) {
            Some(space) => read_at(file, space, offset),
            None => Ok(0),
        });
        let (len, error) = match read {
            Ok(len) => (len, None),
            Err(error) => (0, Some(error)),
        };
        let records = std::mem::take(&mut self.records);
        Chunk { index, buffer, len, eof: len < Chunks::SIZE, error, records, before: 0 }
    }

    /// Gives back a chunk whose packets are all handed out: its buffer is reused once no
    /// frame of it is held any more.
    pub fn recycle(&mut self, mut chunk: Chunk) {
        chunk.records.clear();
        if chunk.records.capacity() > self.records.capacity() {
            self.records = chunk.records;
        }
        if self.spare.len() < SPARE && chunk.buffer.bytes().len() == Chunks::SIZE + OVERRUN {
            self.spare.push(chunk.buffer);
        }
    }

    /// Frames the records that start in `chunk`, the first at `at` (what framing the
    /// chunk before returned). An error means the file is damaged or unreadable at the
    /// record it names: the records before it are framed, and the capture ends there.
    pub fn frame(&mut self, chunk: &mut Chunk, at: Boundary) -> (Framing, Option<ReadError>) {
        let mut next = at;
        match self.frame_records(chunk, &mut next) {
            Ok(more) => (Framing { next, more }, None),
            Err(error) => (Framing { next, more: false }, Some(error)),
        }
    }

    /// Frames records from `next` on, moving it past each; true if the records go on
    /// in the next chunk.
    fn frame_records(&mut self, chunk: &mut Chunk, next: &mut Boundary) -> Result<bool, ReadError> {
        let shared = &*self.chunks.0;
        chunk.records.clear();
        chunk.before = next.packets;
        let start = self.chunks.start_of(chunk.index);
        let end = start.saturating_add(Chunks::SIZE as u64);
        let format = shared.format;
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        while next.offset < end {
            let Some(pos) = next.offset.checked_sub(start).and_then(|pos| usize::try_from(pos).ok()) else {
                break;
            };
            if let Some(source) = chunk.error.take() {
                return Err(ReadError::Io { name: shared.name.clone(), offset: next.offset, source });
            }
            let cut_short = || ReadError::CutShort { name: shared.name.clone(), offset: next.offset };
            if !self.have(chunk, pos + format.header_len())? {
                if pos >= chunk.len {
                    return Ok(false);
                }
                return Err(cut_short());
            }
            let Some(record) = format.record(&shared.name, next.offset, chunk.buffer.bytes(), pos)? else {
                return Err(cut_short());
            };
            if !self.have(chunk, record.to)? {
                return Err(cut_short());
            }
            chunk.records.push(record);
            let total = (record.to - pos) as u64;
            *next = Boundary { offset: next.offset.saturating_add(total), packets: next.packets + 1 };
        }
        Ok(true)
    }

    /// Whether the chunk holds `need` bytes, reading past its end (the start of the next
    /// chunk, which a record running over needs) if the file goes on.
    fn have(&self, chunk: &mut Chunk, need: usize) -> Result<bool, ReadError> {
        if chunk.len >= need {
            return Ok(true);
        }
        if chunk.eof {
            return Ok(false);
        }
        let shared = &*self.chunks.0;
        let want = need.max(chunk.len + OVERRUN);
        if chunk.buffer.bytes().len() < want {
            chunk.buffer.grow(want, 0..chunk.len);
        }
        let offset = self.chunks.start_of(chunk.index).saturating_add(chunk.len as u64);
        let from = chunk.len;
        let read = chunk.buffer.write(|bytes| match bytes.get_mut(from..want) {
            Some(space) => read_at(&shared.file, space, offset),
            None => Ok(0),
        });
        match read {
            Ok(len) => {
                chunk.len += len;
                chunk.eof = chunk.len < want;
                Ok(chunk.len >= need)
            }
            Err(source) => Err(ReadError::Io { name: shared.name.clone(), offset, source }),
        }
    }

    /// Record `i` of a framed chunk, decoded and counted into `stats` as the capture
    /// reader does, with where its frame lies in the chunk's buffer; `turn` is the
    /// chunk's turn at the defragmenter (taken only if the record is a fragment).
    pub fn packet<'a>(
        &self,
        chunk: &'a Chunk,
        i: usize,
        stats: &mut CaptureStats,
        turn: &'a mut Turn<'_>,
    ) -> Option<(Packet<'a>, FrameAt<'a>)> {
        let record = chunk.records.get(i)?;
        let frame = chunk.buffer.bytes().get(record.from..record.to)?;
        let number = chunk.before + i as u64 + 1;
        let packet = assemble(number, record, frame, Some(chunk.buffer.as_shared()), move || turn.defrag(), stats);
        Some((packet, FrameAt { buffer: &chunk.buffer, start: record.from }))
    }
}

/// A chunk's turn at the shared defragmenter (see [`Chunks::turn`]); it ends when dropped.
#[derive(Debug)]
pub struct Turn<'c> {
    shared: &'c Shared,
    index: u64,
    guard: Option<MutexGuard<'c, Lane>>,
    done: bool,
}

impl<'c> Turn<'c> {
    /// The defragmenter, once the chunks before this one have had their turns.
    fn defrag(&mut self) -> &mut Defragmenter {
        let guard = match self.guard.take() {
            Some(guard) => guard,
            None => Turn::wait(self.shared, self.index),
        };
        &mut self.guard.insert(guard).defrag
    }

    fn wait(shared: &'c Shared, index: u64) -> MutexGuard<'c, Lane> {
        let mut lane = lock(&shared.lane);
        while lane.next < index && !shared.halted.load(Ordering::SeqCst) {
            lane = match shared.turned.wait_timeout(lane, TURN_POLL) {
                Ok((lane, _)) => lane,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        lane
    }

    /// Ends the turn: the next chunk's may begin.
    pub fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let mut lane = match self.guard.take() {
            Some(guard) => guard,
            None => Turn::wait(self.shared, self.index),
        };
        lane.next = lane.next.max(self.index + 1);
        drop(lane);
        self.shared.turned.notify_all();
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}
