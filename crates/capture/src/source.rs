//! The byte buffer under the file reader: a window over the input that refills in large
//! reads and knows the file offset of every byte it holds.
//!
//! Records are framed in place: a record that fits is handed out as a slice of this
//! buffer, and consumed only when the next record is asked for. Memory stays bounded by
//! the largest record accepted plus one read.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes asked of the input in one read, and the buffer's initial size.
const READ_SIZE: usize = 1 << 20;

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

pub(crate) struct ByteSource {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
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
        ByteSource { reader, buf: vec![0; READ_SIZE], start: 0, end: 0, offset: 0, total_read: 0, follow: None, stop }
    }

    pub(crate) fn set_follow(&mut self, follow: Option<Option<Duration>>) {
        self.follow = follow;
    }

    /// The buffered bytes, from the current offset.
    #[inline]
    pub(crate) fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
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
            if self.buf.len() - self.start < need.max(READ_SIZE / 2) {
                // Move what is left to the front so the next read has room.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
            let space = match self.buf.get_mut(self.end..) {
                Some(space) if !space.is_empty() => space,
                _ => return Ok(Fill::Ready),
            };
            let got = match self.reader.read(space) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
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
}
