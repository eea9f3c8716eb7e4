//! The byte buffer under the file reader: a window over the input that refills in large
//! reads and knows the file offset of every byte it holds.
//!
//! Records are framed in place: a record that fits is handed out as a slice of this
//! buffer, and consumed only when the next record is asked for. Memory stays bounded by
//! the largest record accepted plus one read.
//!
//! The buffer can be shared: a caller that keeps a clone of it ([`SharedBuffer`]) can
//! refer to frames by offset after the reader has moved on. A shared buffer is never
//! written again: the next read goes into a buffer of the reader's own (the unconsumed
//! tail, less than one record, copied over), and a buffer handed out is reused once
//! every clone of it is dropped.
//!
//! A regular file can also be read ahead on other threads ([`ReadAhead`]): the source
//! then takes each chunk read ahead as its buffer when it gets there, and reads by
//! itself, with positioned reads, when none is ready.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::ahead::{Ahead, ReadAhead, CHUNK, ROOM};

/// Bytes asked of the input in one read, and the buffer's initial size.
const READ_SIZE: usize = 1 << 20;

/// Bytes asked of the input in one read once the buffer has been shared. Small buffers
/// come back for reuse soon and keep memory low: on `--threads 2` over the 1 GB capture,
/// 64 KiB used the same CPU time as 1 MiB (1.08 s against 1.09 s, median of six runs) and
/// 1.3 MB less peak memory; with a thread that only read, it had saved 0.2 to 0.4 s of
/// CPU time, the buffers being read into again while still in the cache.
const SHARED_READ_SIZE: usize = 64 << 10;

/// Buffers left while shared, kept to be reused once their clones are dropped.
const MAX_RETIRED: usize = 64;

/// How long to wait before looking again at a growing file.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// What `fill` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// The bytes asked for are in the buffer.
    Ready,
    /// The input ended (or following gave up, or was stopped) first.
    End,
}

/// A read buffer of the reader's, shared with whoever keeps a clone: its bytes do not
/// change while a clone exists, and parts of it can be kept as [`Bytes`] slices (which
/// count as clones) without a copy.
#[derive(Clone)]
pub struct SharedBuffer(Bytes);

impl SharedBuffer {
    pub(crate) fn new(len: usize) -> SharedBuffer {
        // A vector whose length is its capacity becomes `Bytes` without an allocation.
        SharedBuffer(Bytes::from(vec![0; len]))
    }

    /// The buffer's bytes; frames lie in it at the offsets the reader gave.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The buffer as shared bytes: `as_shared().slice(range)` keeps a part of it.
    #[inline]
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// Whether both are the same buffer.
    #[inline]
    pub fn same(&self, other: &SharedBuffer) -> bool {
        // A buffer is never sliced: its first byte tells it.
        std::ptr::eq(self.0.as_ptr(), other.0.as_ptr())
    }

    /// Whether no clone of it (nor any slice of one) exists.
    pub(crate) fn unique(&self) -> bool {
        self.0.is_unique()
    }

    /// Runs `write` on the buffer's bytes. Callers make sure no clone exists; if one
    /// did, its bytes would be left as they are and a copy written instead.
    pub(crate) fn write<R>(&mut self, write: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut bytes = match std::mem::take(&mut self.0).try_into_mut() {
            Ok(bytes) => bytes,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        let result = write(&mut bytes);
        self.0 = bytes.freeze();
        result
    }

    /// Grows the buffer to `len` bytes, keeping `keep` (a range of it) at the front.
    pub(crate) fn grow(&mut self, len: usize, keep: std::ops::Range<usize>) {
        let mut grown = vec![0; len];
        let kept = self.0.get(keep).unwrap_or_default();
        if let Some(front) = grown.get_mut(..kept.len()) {
            front.copy_from_slice(kept);
        }
        *self = SharedBuffer(Bytes::from(grown));
    }
}

impl std::fmt::Debug for SharedBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBuffer").field("len", &self.0.len()).finish()
    }
}

pub(crate) struct ByteSource {
    reader: Box<dyn Read + Send>,
    buf: SharedBuffer,
    /// Buffers that were shared when reading moved on from them, oldest first.
    retired: VecDeque<SharedBuffer>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    /// Bytes read from the input so far.
    total_read: u64,
    /// `Some` when following a growing file: how long to wait without growth (`None` inside
    /// means forever).
    follow: Option<Option<Duration>>,
    stop: Arc<AtomicBool>,
    /// Another handle on the file being read, for reading ahead (a regular file only).
    file: Option<File>,
    /// Reading ahead, once asked for: the reader's own reads are then positioned reads.
    ahead: Option<Arc<Ahead>>,
}

impl std::fmt::Debug for ByteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteSource")
            .field("buffered", &(self.end - self.start))
            .field("offset", &self.offset)
            .field("total_read", &self.total_read)
            .finish()
    }
}

impl ByteSource {
    pub(crate) fn new(reader: Box<dyn Read + Send>, stop: Arc<AtomicBool>) -> ByteSource {
        ByteSource {
            reader,
            buf: SharedBuffer::new(READ_SIZE),
            retired: VecDeque::new(),
            start: 0,
            end: 0,
            offset: 0,
            total_read: 0,
            follow: None,
            stop,
            file: None,
            ahead: None,
        }
    }

    pub(crate) fn set_follow(&mut self, follow: Option<Option<Duration>>) {
        self.follow = follow;
    }

    /// Gives the source another handle on the regular file it reads, so that it can be
    /// read ahead ([`ByteSource::read_ahead`]).
    pub(crate) fn set_file(&mut self, file: Option<File>) {
        self.file = file;
    }

    /// A handle for reading the file ahead of this source on other threads; `None`
    /// unless the source reads a regular file it does not follow (a growing file's end
    /// moves) on a system with positioned reads.
    pub(crate) fn read_ahead(&mut self) -> Option<ReadAhead> {
        if self.ahead.is_none() && self.follow.is_none() && cfg!(unix) {
            self.ahead = self.file.take().map(|file| Arc::new(Ahead::new(file, self.total_read)));
        }
        self.ahead.as_ref().map(ReadAhead::new)
    }

    /// The regular file read, for reading it in chunks elsewhere: `None` if the source
    /// is not a regular file, follows it, or reads it ahead.
    pub(crate) fn take_file(&mut self) -> Option<File> {
        if self.follow.is_some() || self.ahead.is_some() || !cfg!(unix) {
            return None;
        }
        self.file.take()
    }

    /// The buffered bytes, from the current offset.
    #[inline]
    pub(crate) fn data(&self) -> &[u8] {
        self.buf.bytes().get(self.start..self.end).unwrap_or(&[])
    }

    /// The buffer, and where the buffered bytes start in it.
    #[inline]
    pub(crate) fn shared(&self) -> (&SharedBuffer, usize) {
        (&self.buf, self.start)
    }

    /// The buffered bytes `range` (relative to the current offset); empty if out of range.
    #[inline]
    pub(crate) fn slice(&self, from: usize, to: usize) -> &[u8] {
        self.data().get(from..to).unwrap_or(&[])
    }

    /// File offset of the first buffered byte.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Following was ended by the stop flag (a record left half-written is then not a cut).
    pub(crate) fn stopped(&self) -> bool {
        self.follow.is_some() && self.stop.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.end - self.start
    }

    /// Drops `n` bytes from the front (never more than are buffered).
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.available());
        self.start += n;
        self.offset = self.offset.saturating_add(n as u64);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes at least `need` bytes available, reading as needed.
    pub(crate) fn fill(&mut self, need: usize) -> io::Result<Fill> {
        if self.available() >= need {
            return Ok(Fill::Ready);
        }
        let mut idle_since: Option<Instant> = None;
        loop {
            if self.adopt_ahead() {
                if self.available() >= need {
                    return Ok(Fill::Ready);
                }
                continue;
            }
            self.make_room(need);
            // `make_room` left the buffer unshared, so this never copies it.
            let (reader, ahead, end, at) = (&mut self.reader, &self.ahead, self.end, self.total_read);
            let read = self.buf.write(|buf| match buf.get_mut(end..) {
                Some(space) if !space.is_empty() => Some(match ahead {
                    Some(ahead) => ahead.read_at(space, at),
                    None => reader.read(space),
                }),
                _ => None,
            });
            let got = match read {
                None => return Ok(Fill::Ready),
                Some(Ok(got)) => got,
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Some(Err(e)) => return Err(e),
            };
            self.end += got;
            self.total_read = self.total_read.saturating_add(got as u64);
            if self.available() >= need {
                return Ok(Fill::Ready);
            }
            if got > 0 {
                idle_since = None;
                continue;
            }
            // End of input for now.
            let Some(idle) = self.follow else { return Ok(Fill::End) };
            if self.stop.load(Ordering::Relaxed) {
                return Ok(Fill::End);
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if let Some(idle) = idle {
                if since.elapsed() >= idle {
                    return Ok(Fill::End);
                }
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

impl ByteSource {
    /// Takes the chunk read ahead, if it is ready and starts where the buffered bytes
    /// end: it becomes the buffer, with the buffered bytes (less than a record) copied
    /// into the room before it. False if there is none (the source reads by itself).
    fn adopt_ahead(&mut self) -> bool {
        let Some(ahead) = &self.ahead else { return false };
        let tail = self.end - self.start;
        if tail > ROOM {
            return false;
        }
        let Some((mut chunk, len)) = ahead.take(self.total_read) else { return false };
        let from = self.buf.bytes().get(self.start..self.end).unwrap_or(&[]);
        chunk.write(|to| {
            if let Some(room) = to.get_mut(ROOM - tail..ROOM) {
                room.copy_from_slice(from);
            }
        });
        self.retired.push_back(std::mem::replace(&mut self.buf, chunk));
        self.start = ROOM - tail;
        self.end = ROOM + len;
        self.total_read = self.total_read.saturating_add(len as u64);
        // Chunks nobody holds any more go back to be read ahead into.
        while let Some(index) =
            self.retired.iter().position(|buffer| buffer.unique() && buffer.bytes().len() == ROOM + CHUNK)
        {
            let kept = self.retired.remove(index).is_some_and(|buffer| ahead.give_back(buffer));
            if !kept {
                break;
            }
        }
        if self.retired.len() > MAX_RETIRED {
            self.retired.pop_front();
        }
        true
    }

    /// Leaves the buffer unshared, at least `need` bytes long, with room after the
    /// buffered bytes for a read.
    fn make_room(&mut self, need: usize) {
        if !self.buf.unique() {
            // Others may be reading it: carry the buffered bytes over to another buffer.
            let mut fresh = self.spare(need.max(SHARED_READ_SIZE));
            let from = self.buf.bytes().get(self.start..self.end).unwrap_or(&[]);
            fresh.write(|to| {
                if let Some(head) = to.get_mut(..from.len()) {
                    head.copy_from_slice(from);
                }
            });
            self.end -= self.start;
            self.start = 0;
            let old = std::mem::replace(&mut self.buf, fresh);
            self.retired.push_back(old);
            if self.retired.len() > MAX_RETIRED {
                self.retired.pop_front();
            }
        }
        let len = self.buf.bytes().len();
        if len < need {
            // A record larger than the buffer: what is left moves to the front of a
            // larger one.
            self.buf.grow(need, self.start..self.end);
            self.end -= self.start;
            self.start = 0;
        } else if len - self.start < need.max(READ_SIZE / 2) {
            // Move what is left to the front so the next read has room.
            let (start, end) = (self.start, self.end);
            self.buf.write(|buf| buf.copy_within(start..end, 0));
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// A retired buffer no one holds any more, or a new one; at least `len` bytes long.
    fn spare(&mut self, len: usize) -> SharedBuffer {
        let free = self.retired.iter().position(SharedBuffer::unique);
        match free.and_then(|index| self.retired.remove(index)) {
            Some(buffer) if buffer.bytes().len() >= len => buffer,
            _ => SharedBuffer::new(len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, as a slow pipe might.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.get(self.1), buf.first_mut()) {
                (Some(b), Some(slot)) => {
                    *slot = *b;
                    self.1 += 1;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn fill_gathers_short_reads_and_tracks_offsets() {
        let data: Vec<u8> = (0..=255).collect();
        let mut src = ByteSource::new(Box::new(Trickle(data, 0)), Arc::default());
        assert_eq!(src.fill(10).unwrap(), Fill::Ready);
        assert_eq!(&src.data()[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        src.consume(10);
        assert_eq!(src.offset(), 10);
        assert_eq!(src.fill(246).unwrap(), Fill::Ready);
        assert_eq!(src.data()[0], 10);
        assert_eq!(src.fill(247).unwrap(), Fill::End);
        src.consume(246);
        assert_eq!(src.available(), 0);
        assert_eq!(src.offset(), 256);
        assert_eq!(src.fill(1).unwrap(), Fill::End);
    }

    #[test]
    fn fill_grows_the_buffer_for_a_large_record() {
        let data = vec![7u8; READ_SIZE * 3];
        let mut src = ByteSource::new(Box::new(io::Cursor::new(data)), Arc::default());
        assert_eq!(src.fill(READ_SIZE * 2 + 5).unwrap(), Fill::Ready);
        assert!(src.available() >= READ_SIZE * 2 + 5);
    }

    #[test]
    fn a_shared_buffer_is_never_written_again_and_is_reused_once_released() {
        let data: Vec<u8> = (0..READ_SIZE * 4).map(|i| (i % 251) as u8).collect();
        let mut src = ByteSource::new(Box::new(io::Cursor::new(data.clone())), Arc::default());
        assert_eq!(src.fill(100).unwrap(), Fill::Ready);
        let held = src.shared().0.clone();
        let before = held.bytes().to_vec();
        let address = held.bytes().as_ptr();
        let filled = src.available();
        src.consume(filled - 10);
        // Ten bytes are left: reading more moves them to another buffer.
        assert_eq!(src.fill(100).unwrap(), Fill::Ready);
        assert!(!src.shared().0.same(&held));
        assert_eq!(held.bytes(), &before[..], "the shared buffer was not written");
        assert_eq!(&src.data()[..100], &data[filled - 10..filled + 90]);
        // Once released, the first buffer is the next one read into.
        drop(held);
        let second = src.shared().0.clone();
        let offset = src.offset() as usize + src.available();
        src.consume(src.available());
        assert_eq!(src.fill(100).unwrap(), Fill::Ready);
        assert_eq!(src.shared().0.bytes().as_ptr(), address);
        assert_eq!(src.offset() as usize, offset);
        assert_eq!(&src.data()[..100], &data[offset..offset + 100]);
        drop(second);
    }
}
