//! Reading a capture file ahead of its reader, on other threads.
//!
//! Copying a file's bytes out of the page cache is a large share of reading it (on the
//! benchmark capture, more than the decoding). A [`ReadAhead`] lets threads that have
//! nothing else to do take that copy off the reading thread: each call reads the chunk
//! the reader will need next, with positioned reads of the same file, into a buffer of
//! its own. The reader adopts a ready chunk when it reaches it (copying only the few
//! bytes of the record cut by the chunk's start), and reads by itself otherwise, so
//! nothing waits for a thread reading ahead and the bytes read never change.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::source::SharedBuffer;

/// Bytes read ahead at once.
pub(crate) const CHUNK: usize = 512 << 10;

/// Room kept before a chunk's bytes for the start of a record the previous buffer cut.
pub(crate) const ROOM: usize = 16 << 10;

/// Chunks read ahead at most, waiting for the reader.
const DEPTH: usize = 4;

/// Buffers kept for reading ahead into.
const SPARE_BUFFERS: usize = DEPTH + 2;

/// How long the reader waits for a chunk another thread is reading right where it needs
/// it (such a read takes some tens of microseconds; a thread stopped inside it must not
/// stop the reader).
const WAIT: Duration = Duration::from_millis(20);

/// Reads the chunks a capture file's reader needs next, from any thread (see
/// [`CaptureReader::read_ahead`](crate::CaptureReader::read_ahead)). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReadAhead(Arc<Ahead>);

#[derive(Debug)]
pub(crate) struct Ahead {
    file: File,
    state: Mutex<State>,
    /// Signalled when a chunk has been read.
    read: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The file offset the reader reads from next.
    next: u64,
    /// Chunks read ahead, in file order from `next`: the file offset of the first
    /// byte, the buffer (its bytes from `ROOM` on) and the length.
    ready: VecDeque<(u64, SharedBuffer, usize)>,
    /// The file offset a thread is reading ahead from.
    reading: Option<u64>,
    /// The file ended (or failed) where reading ahead last read: nothing more to read.
    done: bool,
    /// Buffers to read ahead into.
    spare: Vec<SharedBuffer>,
}

impl State {
    /// Where the next chunk to read ahead starts.
    fn ahead_next(&self) -> u64 {
        self.ready.back().map_or(self.next, |(offset, _, len)| offset.saturating_add(*len as u64))
    }

    /// Forgets the chunks read ahead (the reader went elsewhere).
    fn drop_ready(&mut self) {
        while let Some((_, buffer, _)) = self.ready.pop_front() {
            self.spare.push(buffer);
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReadAhead {
    pub(crate) fn new(ahead: &Arc<Ahead>) -> ReadAhead {
        ReadAhead(Arc::clone(ahead))
    }

    /// Reads the next chunk the reader will need, unless enough are ready, another
    /// thread is reading one, or the file has ended. True if it read one.
    pub fn read_next(&self) -> bool {
        let ahead = &self.0;
        let (offset, mut buffer) = {
            let mut state = lock(&ahead.state);
            if state.reading.is_some() || state.ready.len() >= DEPTH || state.done {
                return false;
            }
            let offset = state.ahead_next();
            state.reading = Some(offset);
            let buffer = state.spare.pop().unwrap_or_else(|| SharedBuffer::new(ROOM + CHUNK));
            (offset, buffer)
        };
        let read = buffer.write(|bytes| match bytes.get_mut(ROOM..) {
            Some(space) => read_at(&ahead.file, space, offset),
            None => Ok(0),
        });
        let mut state = lock(&ahead.state);
        state.reading = None;
        ahead.read.notify_all();
        // Still where the reader will need it (it did not read past it meanwhile).
        let wanted = state.ahead_next() == offset;
        match read {
            Ok(len) if len > 0 && wanted => {
                state.ready.push_back((offset, buffer, len));
                return true;
            }
            // The end of the file, or an error the reader will meet and report itself.
            Ok(0) | Err(_) if wanted => state.done = true,
            _ => {}
        }
        state.spare.push(buffer);
        false
    }
}

impl Ahead {
    /// Reads ahead in `file`, whose reader reads from `next` on.
    pub(crate) fn new(file: File, next: u64) -> Ahead {
        Ahead { file, state: Mutex::new(State { next, ..State::default() }), read: Condvar::new() }
    }

    /// Reads `space` from the file at `offset` (the reader's own reads, so that the
    /// file offset is the reader's alone).
    pub(crate) fn read_at(&self, space: &mut [u8], offset: u64) -> io::Result<usize> {
        let read = read_at(&self.file, space, offset);
        if let Ok(len) = read {
            let mut state = lock(&self.state);
            state.drop_ready();
            state.next = offset.saturating_add(len as u64);
        }
        read
    }

    /// The chunk read ahead from `offset`, if one is ready (or being read right now):
    /// its buffer (bytes from `ROOM` on) and length. Chunks read from elsewhere are
    /// dropped.
    pub(crate) fn take(&self, offset: u64) -> Option<(SharedBuffer, usize)> {
        let mut state = lock(&self.state);
        loop {
            match state.ready.pop_front() {
                Some((at, buffer, len)) if at == offset => {
                    state.next = offset.saturating_add(len as u64);
                    return Some((buffer, len));
                }
                Some((_, buffer, _)) => {
                    state.spare.push(buffer);
                    state.drop_ready();
                    state.next = offset;
                    return None;
                }
                None if state.reading == Some(offset) => {
                    let (waited, timeout) = self.read.wait_timeout(state, WAIT).unwrap_or_else(PoisonError::into_inner);
                    state = waited;
                    if timeout.timed_out() {
                        return None;
                    }
                }
                None => return None,
            }
        }
    }

    /// Gives back a buffer the reader is done with (it must be unshared), for reading
    /// ahead into again; false if enough are kept already (it is dropped).
    pub(crate) fn give_back(&self, buffer: SharedBuffer) -> bool {
        let mut state = lock(&self.state);
        let keep = state.spare.len() < SPARE_BUFFERS && buffer.bytes().len() == ROOM + CHUNK;
        if keep {
            state.spare.push(buffer);
        }
        keep
    }
}

/// Reads until `space` is full or the file ends.
#[cfg(unix)]
pub(crate) fn read_at(file: &File, space: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut filled = 0;
    while let Some(rest) = space.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match file.read_at(rest, offset.saturating_add(filled as u64)) {
            Ok(0) => break,
            Ok(len) => filled += len,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(not(unix))]
pub(crate) fn read_at(_file: &File, _space: &mut [u8], _offset: u64) -> io::Result<usize> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "positioned reads"))
}
