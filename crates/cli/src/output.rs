//! Line-atomic output for trace lines.

use std::io::{self, Write};

/// Where trace lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Nowhere (`--quiet` while the JSON log owns stdout).
    Discard,
}

/// Buffers trace lines and writes them out in chunks of whole lines, each chunk under the
/// stream's lock, so the shards of a `--threads` run never interleave inside a line.
/// Lines for a terminal are written as they complete.
#[derive(Debug)]
pub struct LineSink {
    stream: Stream,
    buf: Vec<u8>,
    threshold: usize,
}

impl LineSink {
    const FLUSH_AT: usize = 1 << 15;

    /// A sink writing to `stream`.
    pub fn new(stream: Stream) -> LineSink {
        use std::io::IsTerminal;
        let interactive = match stream {
            Stream::Stdout => io::stdout().is_terminal(),
            Stream::Stderr => true,
            Stream::Discard => false,
        };
        LineSink { stream, buf: Vec::new(), threshold: if interactive { 0 } else { Self::FLUSH_AT } }
    }

    fn write_out(&mut self, upto: usize) -> io::Result<()> {
        let chunk = self.buf.get(..upto).unwrap_or(&self.buf);
        let result = match self.stream {
            Stream::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(chunk).and_then(|()| out.flush())
            }
            Stream::Stderr => io::stderr().lock().write_all(chunk),
            Stream::Discard => Ok(()),
        };
        self.buf.drain(..upto.min(self.buf.len()));
        result
    }
}

impl Write for LineSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.stream == Stream::Discard {
            return Ok(data.len());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() > self.threshold {
            if let Some(last_newline) = self.buf.iter().rposition(|&b| b == b'\n') {
                self.write_out(last_newline + 1)?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let len = self.buf.len();
        self.write_out(len)
    }
}

impl Drop for LineSink {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
