//! Parsed HTTP messages: what a request or a response carried, where it lay in its
//! stream and when it was seen.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use netanalysis_core::Timestamp;
use netanalysis_tcp::StreamBytes;

/// The HTTP version of a message (`HTTP/<major>.<minor>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// The major version: 1, or 0 for a request line without a version.
    pub major: u8,
    /// The minor version.
    pub minor: u8,
}

impl Version {
    /// What a request line without a (valid) version means: HTTP/0.9.
    pub const HTTP_09: Version = Version { major: 0, minor: 9 };

    /// `HTTP/1.<minor>`.
    pub const fn http1(minor: u8) -> Version {
        Version { major: 1, minor }
    }
}

impl Default for Version {
    fn default() -> Self {
        Version::http1(1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP/{}.{}", self.major, self.minor)
    }
}

/// One header field, as sent (name case kept, value bytes untouched).
///
/// Both halves share the message's head bytes; cloning a header copies no bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    name: Bytes,
    value: Bytes,
}

impl Header {
    /// A header from its name and value.
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Header {
        Header { name: name.into(), value: value.into() }
    }

    /// The field name (a token, so plain ASCII; empty if it was not valid UTF-8).
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or("")
    }

    /// The raw value bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The value as text, when it is valid UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// Whether the name is `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", String::from_utf8_lossy(&self.name), String::from_utf8_lossy(&self.value))
    }
}

/// The first header called `name` (ASCII case ignored).
pub(crate) fn find_header<'h>(headers: &'h [Header], name: &str) -> Option<&'h Header> {
    headers.iter().find(|h| h.is(name))
}

/// A content coding the analyzer can undo with `decode=1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentCoding {
    /// `gzip` or `x-gzip` (RFC 1952).
    Gzip,
    /// `deflate`: a zlib stream (RFC 1950), or a raw deflate stream as some servers send.
    Deflate,
}

impl ContentCoding {
    /// The coding's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentCoding::Gzip => "gzip",
            ContentCoding::Deflate => "deflate",
        }
    }
}

/// A body with its content coding undone (`decode=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBody {
    /// The coding that was undone.
    pub coding: ContentCoding,
    /// The decoded bytes, at most `max_body` of them.
    pub data: Vec<u8>,
    /// Decoding stopped at `max_body` bytes of output; the rest was not produced.
    pub truncated: bool,
    /// Why decoding failed, if it did (`data` then holds what was decoded before the
    /// failure). A body cut by `max_body` or by a capture gap usually fails this way.
    pub error: Option<String>,
}

/// A message body: the transfer coding removed, the content coding kept (and also
/// undone in [`Body::decoded`] with `decode=1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// The first `max_body` bytes of the body, sharing the TCP listener's buffers (no
    /// copy, except that past 1024 pieces the rest is copied together). Bytes lost in
    /// capture gaps are absent.
    pub data: StreamBytes,
    /// Body bytes seen in the capture, kept or not (chunk framing excluded, gaps
    /// excluded).
    pub len: u64,
    /// Body bytes that fell in capture gaps.
    pub missing: u64,
    /// The body came in chunked transfer coding (now removed).
    pub chunked: bool,
    /// Trailer fields after the last chunk, in order.
    pub trailers: Vec<Header>,
    /// The body with its content coding undone, when `decode=1` and the coding is
    /// gzip or deflate.
    pub decoded: Option<DecodedBody>,
}

impl Body {
    /// Whether bytes were seen beyond `max_body` and not kept.
    pub fn truncated(&self) -> bool {
        self.len > self.data.len()
    }
}

/// An HTTP request, complete or cut short by the end of its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`).
    pub method: String,
    /// The request target as sent (`/index.html`, `http://host/x`, `host:443`); empty
    /// when the request line had none.
    pub uri: String,
    /// The version.
    pub version: Version,
    /// Header fields, in order.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Body,
    /// Stream offsets of the start line and header fields (blank line included).
    pub head_range: Range<u64>,
    /// Stream offsets of the whole message, body included.
    pub range: Range<u64>,
    /// Time of the packet that carried the first byte.
    pub t_start: Timestamp,
    /// Capture time at which the whole message was available: the latest packet that
    /// contributed (a retransmission that filled a hole counts).
    pub t_end: Timestamp,
    /// False when the stream ended (or lost sync) before the body was complete.
    pub complete: bool,
}

impl Request {
    /// The first header called `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&Header> {
        find_header(&self.headers, name)
    }

    /// The `Host` header's value, when it is text.
    pub fn host(&self) -> Option<&str> {
        self.header("host").and_then(Header::value_str)
    }
}

/// An HTTP response, final or interim (1xx), complete or cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The version.
    pub version: Version,
    /// The status code.
    pub status: u16,
    /// The reason phrase (empty when absent or not printable).
    pub reason: String,
    /// Header fields, in order.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Body,
    /// Stream offsets of the status line and header fields (blank line included).
    pub head_range: Range<u64>,
    /// Stream offsets of the whole message, body included.
    pub range: Range<u64>,
    /// Time of the packet that carried the first byte.
    pub t_start: Timestamp,
    /// Capture time at which the whole message was available: the latest packet that
    /// contributed (a retransmission that filled a hole counts).
    pub t_end: Timestamp,
    /// False when the stream ended (or lost sync) before the body was complete.
    pub complete: bool,
}

impl Response {
    /// The first header called `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&Header> {
        find_header(&self.headers, name)
    }

    /// An interim (1xx) response. `101 Switching Protocols` is not one: it is the
    /// final answer of the last HTTP exchange on its connection.
    pub fn is_interim(&self) -> bool {
        is_interim(self.status)
    }
}

/// Whether a response of this status is interim (1xx, except `101 Switching
/// Protocols`).
pub(crate) fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}
