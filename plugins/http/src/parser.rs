//! The per-direction HTTP/1.x message parser: a pure state machine fed with in-order
//! stretches of one TCP direction, which knows nothing of the dispatcher.
//!
//! # Contract
//!
//! [`MessageParser::push`] takes any stretch of bytes at its stream offset, in offset
//! order, and never panics or fails: a jump in offsets is a gap, bytes that are not
//! HTTP are skipped (and counted) until the next plausible message start, and every
//! limit ([`Limits`]) holds whatever the input. Memory stays bounded by
//! `max_header_bytes` (a head being assembled) plus `max_body` (the kept part of the
//! body being read), however long the message.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::Arc;

use bytes::Bytes;
use netanalysis_core::Timestamp;

use crate::message::{find_header, Body, ContentCoding, DecodedBody, Header, Request, Response, Version};

/// Which side of the conversation a parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The client's direction: requests.
    Request,
    /// The server's direction: responses.
    Response,
}

/// Limits that bound what one parser keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Body bytes kept per message (the rest is counted, not kept).
    pub max_body: u64,
    /// Header fields accepted in one head.
    pub max_headers: usize,
    /// Bytes accepted in one head (start line, fields and blank line), and in one
    /// chunked body's trailer section.
    pub max_header_bytes: usize,
    /// Undo gzip and deflate content codings.
    pub decode: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body: 1 << 20, max_headers: 128, max_header_bytes: 64 << 10, decode: false }
    }
}

/// Counts the parsers keep while they work, summed over all parsers of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParserStats {
    /// Bytes skipped because they did not belong to any message (garbage, or the
    /// unframed rest of a stream after a gap).
    pub skipped_bytes: u64,
    /// Times a parser lost its place (a gap it could not bridge, or garbage).
    pub resyncs: u64,
    /// Heads refused for having more than `max_headers` fields.
    pub too_many_headers: u64,
    /// Heads (or trailer sections) refused for being longer than `max_header_bytes`.
    pub header_too_long: u64,
    /// Heads httparse refused as malformed.
    pub bad_heads: u64,
    /// Chunk-size lines that were not a hexadecimal size fitting 64 bits.
    pub bad_chunks: u64,
    /// Messages with conflicting `Content-Length` values (the last was used).
    pub conflicting_lengths: u64,
    /// Bodies whose content coding failed to decode.
    pub decode_errors: u64,
    /// Bodies whose content coding was not one the analyzer decodes.
    pub decode_unsupported: u64,
    /// Messages cut short by the end of their stream or by a gap.
    pub incomplete: u64,
    /// Stream bytes that fell in gaps.
    pub gap_bytes: u64,
}

/// What the response parser needs to know of the request a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The next request waiting for an answer.
    Request {
        /// Its index in the session (from 1).
        index: u32,
        /// It was a HEAD request: the answer has no body.
        head: bool,
        /// It was a CONNECT request: a 2xx answer turns the session into a tunnel.
        connect: bool,
    },
    /// Requests may have been lost here (the request side lost its place): the
    /// responses from this point answer requests nobody can name.
    Barrier,
}

/// What a parser reports, in stream order.
#[derive(Debug)]
pub enum ParserOutput {
    /// A request's head was parsed (its body may still follow).
    RequestHead {
        /// It is a HEAD request.
        head: bool,
        /// It is a CONNECT request.
        connect: bool,
    },
    /// A request ended.
    Request(Arc<Request>),
    /// A response ended.
    Response {
        /// The response.
        response: Arc<Response>,
        /// The index of the request it answers, if known.
        answers: Option<u32>,
    },
    /// The parser lost its place (gap or garbage) and is looking for the next
    /// message start: on the request side requests may be lost, on the response side
    /// responses may be.
    LostSync,
    /// A final response passed an [`Expect::Barrier`]: from here, responses answer
    /// requests nobody can name.
    PairingLost,
    /// `101 Switching Protocols` or a successful CONNECT: the rest of the stream is not
    /// HTTP, and the parser ignores it.
    Upgraded,
    /// A request ended, read by a parser that keeps no details of its messages (the
    /// analyzer's own, when nobody receives the HTTP events): it is only counted.
    RequestEnded,
    /// A response ended, read by a parser that keeps no details of its messages: its
    /// status and the index of the request it answers, if known.
    ResponseEnded {
        /// The status code.
        status: u16,
        /// The index of the request it answers, if known.
        answers: Option<u32>,
    },
}

/// How one check of a possible message start came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartCheck {
    /// A plausible start line begins here.
    Valid,
    /// Not a message start.
    Invalid,
    /// A prefix of one: more bytes are needed to tell.
    NeedMore,
}

/// Whether `token` is one of the well-known methods.
fn is_known_method(token: &[u8]) -> bool {
    matches!(
        token,
        b"GET"
            | b"POST"
            | b"HEAD"
            | b"PUT"
            | b"DELETE"
            | b"OPTIONS"
            | b"TRACE"
            | b"CONNECT"
            | b"PATCH"
            | b"PROPFIND"
            | b"PROPPATCH"
            | b"MKCOL"
            | b"COPY"
            | b"MOVE"
            | b"LOCK"
            | b"UNLOCK"
            | b"SEARCH"
            | b"REPORT"
            | b"MKACTIVITY"
            | b"CHECKOUT"
            | b"MERGE"
            | b"NOTIFY"
            | b"SUBSCRIBE"
            | b"UNSUBSCRIBE"
            | b"M-SEARCH"
            | b"PURGE"
            | b"LINK"
            | b"UNLINK"
            | b"POLL"
            | b"BCOPY"
            | b"BDELETE"
            | b"BMOVE"
            | b"BPROPFIND"
            | b"BPROPPATCH"
            | b"VERSION-CONTROL"
            | b"RPC_IN_DATA"
            | b"RPC_OUT_DATA"
    )
}

/// The longest method token accepted at a message start.
const MAX_METHOD: usize = 24;

/// Whether `bytes` begins a plausible message of `role`.
///
/// A request starts with a method token, one space and the first character of a
/// request target; a method outside the well-known list is accepted only when
/// followed by ` /`. A response starts with `HTTP/d.d ddd`.
pub(crate) fn start_check(role: Role, bytes: &[u8]) -> StartCheck {
    match role {
        Role::Response => {
            const PATTERN: &[u8] = b"HTTP/1.d ddd";
            for (k, want) in PATTERN.iter().enumerate() {
                let Some(&got) = bytes.get(k) else { return StartCheck::NeedMore };
                let ok = match want {
                    b'd' => got.is_ascii_digit(),
                    _ => got == *want,
                };
                if !ok {
                    return StartCheck::Invalid;
                }
            }
            StartCheck::Valid
        }
        Role::Request => {
            let token_len = bytes.iter().take(MAX_METHOD + 1).take_while(|b| is_method_char(**b)).count();
            if token_len > MAX_METHOD {
                return StartCheck::Invalid;
            }
            let Some(&after) = bytes.get(token_len) else { return StartCheck::NeedMore };
            let token = bytes.get(..token_len).unwrap_or_default();
            let known = is_known_method(token);
            if known && (after == b'\r' || after == b'\n') {
                // A bare method line, which Wireshark still shows as a request.
                return StartCheck::Valid;
            }
            if token_len == 0 || after != b' ' {
                return StartCheck::Invalid;
            }
            let Some(&target) = bytes.get(token_len + 1) else { return StartCheck::NeedMore };
            let plausible = if known {
                target == b'/' || target == b'*' || target.is_ascii_alphanumeric() || target == b'['
            } else {
                token_len >= 3 && target == b'/'
            };
            if plausible {
                StartCheck::Valid
            } else {
                StartCheck::Invalid
            }
        }
    }
}

fn is_method_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'_' || b == b'-'
}

/// Where the head's blank line ends in `bytes`, searching from `from`: the index just
/// past `\n\r\n` or `\n\n`, or past a leading blank line when `blank_first` (a trailer
/// section with no fields).
fn find_head_end(bytes: &[u8], from: usize, blank_first: bool) -> Option<usize> {
    if blank_first && from == 0 {
        if bytes.starts_with(b"\r\n") {
            return Some(2);
        }
        if bytes.starts_with(b"\n") {
            return Some(1);
        }
    }
    let mut k = from;
    while let Some(rest) = bytes.get(k..) {
        let nl = memchr::memchr(b'\n', rest)?;
        let at = k + nl;
        match bytes.get(at + 1) {
            Some(b'\n') => return Some(at + 2),
            Some(b'\r') if bytes.get(at + 2) == Some(&b'\n') => return Some(at + 3),
            _ => {}
        }
        k = at + 1;
    }
    None
}

/// A `Bytes` handle on `part`, which should lie inside `whole`; copied when it does not.
fn sub_bytes(whole: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize);
    match start {
        Some(start) if start.checked_add(part.len()).is_some_and(|end| end <= whole.len()) => {
            whole.slice(start..start + part.len())
        }
        _ => Bytes::copy_from_slice(part),
    }
}

/// A parsed head: what frames and pairs its message. The rest of it (texts and fields)
/// goes to the parser's [`Details`] when the parser keeps them.
#[derive(Debug, Clone, Copy)]
struct Head {
    line: StartLine,
    /// What the fields say about the body.
    fields: BodyFields,
}

/// A head's first line, as far as framing and pairing need it.
#[derive(Debug, Clone, Copy)]
enum StartLine {
    Request { version: Version, is_head: bool, connect: bool },
    Response { version: Version, status: u16 },
}

/// What the message being read carries beyond its numbers: its start line's texts, its
/// header fields and its trailers. Filled only by a parser that keeps details, and
/// handed over (taken) when the message completes; a parser that only counts never
/// touches it, so the record it moves per message stays small.
#[derive(Debug, Default)]
struct Details {
    method: String,
    uri: String,
    reason: String,
    headers: Vec<Header>,
    trailers: Vec<Header>,
}

impl Details {
    /// Records a head's texts and fields (taking copies of the texts, sharing the
    /// fields' bytes with `owner`).
    fn record(&mut self, method: &str, uri: &str, reason: &str, owner: &Bytes, fields: &[httparse::Header<'_>]) {
        self.method = method.to_owned();
        self.uri = uri.to_owned();
        self.reason = reason.to_owned();
        self.headers = own_headers(owner, fields);
        self.trailers = Vec::new();
    }
}

/// What a head's fields say about its body, read in one pass over them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BodyFields {
    /// `Content-Length`: `Ok(None)` when absent, `Err(())` when malformed. Several equal
    /// values (or a list of equal values) count as one; of conflicting ones the last is
    /// used, as Wireshark does.
    length: Result<Option<u64>, ()>,
    /// `Content-Length` values disagreed.
    conflict: bool,
    /// Whether the last transfer coding is `chunked`, if `Transfer-Encoding` is present.
    chunked: Option<bool>,
}

impl BodyFields {
    fn read(fields: &[httparse::Header<'_>]) -> BodyFields {
        let mut length = Ok(None);
        let mut conflict = false;
        let mut last_coding: Option<&[u8]> = None;
        for field in fields {
            let name = field.name.as_bytes();
            if name_is(name, b"content-length") {
                // A malformed value settles it: later ones are not read.
                if let Ok(value) = length {
                    length = read_content_length(value, field.value, &mut conflict);
                }
            } else if name_is(name, b"transfer-encoding") {
                for item in field.value.split(|b| *b == b',') {
                    let coding = item.trim_ascii();
                    if !coding.is_empty() {
                        last_coding = Some(coding);
                    }
                }
            }
        }
        BodyFields { length, conflict, chunked: last_coding.map(|coding| coding.eq_ignore_ascii_case(b"chunked")) }
    }
}

/// Whether the field name `name` is `lower` (lower-case letters and `-` only), whatever
/// the case of its letters. From eight bytes on, compared eight bytes at a time with the
/// letter-case bit set on `name`'s: exact for the token characters a name consists of
/// (httparse read it), since no token character other than a letter's upper case
/// differs from a lower-case letter or `-` in that bit alone.
#[inline]
fn name_is(name: &[u8], lower: &[u8]) -> bool {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let len = lower.len();
    if name.len() != len || len < 8 {
        return name.len() == len && name.eq_ignore_ascii_case(lower);
    }
    let word = |bytes: &[u8], at: usize| {
        bytes.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map_or(0, u64::from_le_bytes)
    };
    // Words at 0, 8, ... and one ending at the last byte (overlapping the one before).
    let mut at = 0;
    loop {
        let from = at.min(len - 8);
        if word(name, from) | CASE != word(lower, from) {
            return false;
        }
        if from + 8 >= len {
            return true;
        }
        at += 8;
    }
}

/// Reads one `Content-Length` field's value (a comma-separated list) after the earlier
/// ones gave `value`; flags a value that differs from the one before it.
fn read_content_length(mut value: Option<u64>, field: &[u8], conflict: &mut bool) -> Result<Option<u64>, ()> {
    if let Some(parsed) = plain_number(field) {
        // The common case: one value, digits only.
        if value.is_some_and(|earlier| earlier != parsed) {
            *conflict = true;
        }
        return Ok(Some(parsed));
    }
    for item in field.split(|b| *b == b',') {
        let text = item.trim_ascii();
        if text.is_empty() {
            return Err(());
        }
        let mut parsed: u64 = 0;
        for digit in text {
            if !digit.is_ascii_digit() {
                return Err(());
            }
            parsed = parsed.checked_mul(10).and_then(|n| n.checked_add(u64::from(digit - b'0'))).ok_or(())?;
        }
        if value.is_some_and(|earlier| earlier != parsed) {
            *conflict = true;
        }
        value = Some(parsed);
    }
    Ok(value)
}

/// `text` as a number if it is 1 to 19 decimal digits and nothing else (so it cannot
/// overflow).
#[inline]
fn plain_number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    let mut parsed: u64 = 0;
    for digit in text {
        let d = digit.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        parsed = parsed * 10 + u64::from(d);
    }
    Some(parsed)
}

/// Why a head could not be parsed.
enum HeadError {
    TooMany,
    Malformed,
}

/// What parsing the start of a buffer as a head gave.
enum Parsed {
    /// A head, and its length (blank line included).
    Done(Head, usize),
    /// The head does not end in the buffer yet.
    Partial,
    /// Not a valid head; it ends after this many bytes.
    Failed(HeadError, usize),
}

/// Where a section being assembled (a head, or a trailer section) stands once a
/// stretch's bytes were read into it.
enum Section {
    /// It ended `used` bytes into the stretch; here it is, whole.
    Ended { section: Bytes, used: usize },
    /// It grew past `max_header_bytes` (and was dropped): `buffered` bytes had been held
    /// from earlier stretches and `take` bytes of this one were read.
    TooLong { buffered: usize, take: usize },
    /// It goes on: all `take` bytes read from the stretch are held.
    Open { take: usize },
}

/// Header slots tried first; a head with more fields is parsed again with
/// `max_headers` slots.
const FIRST_SLOTS: usize = 32;

/// How heads are read: as leniently as the browsers and Wireshark read them.
#[inline(always)]
fn parser_config() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    config
}

/// Parses the head at the start of `buf`, which lies in `owner` (kept fields share its
/// bytes), with httparse (falling back to a lenient reading of a request line it
/// refuses). The fields go to slots on the stack, left uninitialised (httparse writes
/// each slot it uses before it is read); a head with more than `FIRST_SLOTS` of them is
/// parsed again into the field array kept in `scratch`, recycled so that it is allocated
/// once. Without `keep`, only what frames the body is read out of the head.
fn parse_head(
    role: Role,
    buf: &[u8],
    owner: &Bytes,
    max_headers: usize,
    mut details: Option<&mut Details>,
    scratch: &mut Vec<httparse::Header<'static>>,
) -> Parsed {
    let mut first = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; FIRST_SLOTS];
    let slots = max_headers.min(FIRST_SLOTS);
    let attempt = parse_head_with(
        role,
        buf,
        owner,
        details.as_deref_mut(),
        max_headers,
        first.get_mut(..slots).unwrap_or_default(),
    );
    if !matches!(attempt, Parsed::Failed(HeadError::TooMany, _)) || slots >= max_headers {
        return attempt;
    }
    let mut fields: Vec<httparse::Header<'_>> = std::mem::take(scratch);
    fields.clear();
    fields.resize(max_headers, httparse::EMPTY_HEADER);
    let mut slots: Vec<MaybeUninit<httparse::Header<'_>>> = fields.into_iter().map(MaybeUninit::new).collect();
    let result = parse_head_with(role, buf, owner, details, max_headers, &mut slots);
    slots.clear();
    // An empty vector collected in place keeps its allocation for the next head.
    *scratch = slots.into_iter().map(|_| httparse::EMPTY_HEADER).collect();
    result
}

fn parse_head_with<'b>(
    role: Role,
    buf: &'b [u8],
    owner: &Bytes,
    mut details: Option<&mut Details>,
    max_headers: usize,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Parsed {
    let config = parser_config();
    // Where the head ends, for the slow paths (httparse knows it on success).
    let head_end = || find_head_end(buf, 0, false);
    let failed = |error: HeadError| match head_end() {
        Some(end) => Parsed::Failed(error, end),
        None => Parsed::Partial,
    };
    match role {
        Role::Request => {
            let status = {
                let mut request = httparse::Request::new(&mut []);
                match config.parse_request_with_uninit_headers(&mut request, buf, slots) {
                    Ok(httparse::Status::Complete(end)) => {
                        let method = request.method.unwrap_or_default();
                        let line = StartLine::Request {
                            version: Version::http1(request.version.unwrap_or(1)),
                            is_head: method == "HEAD",
                            connect: method == "CONNECT",
                        };
                        if let Some(details) = details.as_deref_mut() {
                            details.record(method, request.path.unwrap_or_default(), "", owner, request.headers);
                        }
                        Ok(Parsed::Done(Head { line, fields: BodyFields::read(request.headers) }, end))
                    }
                    Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
                    Err(httparse::Error::TooManyHeaders) => Err(true),
                    Err(_) => Err(false),
                }
            };
            match status {
                Ok(Parsed::Partial) if head_end().is_none() => Parsed::Partial,
                Ok(parsed @ Parsed::Done(..)) => parsed,
                Err(true) => failed(HeadError::TooMany),
                _ => match head_end() {
                    None => Parsed::Partial,
                    Some(end) => match lenient_request(buf, owner, end, details, max_headers) {
                        Ok(parsed) => Parsed::Done(parsed, end),
                        Err(error) => Parsed::Failed(error, end),
                    },
                },
            }
        }
        Role::Response => {
            let mut response = httparse::Response::new(&mut []);
            match config.parse_response_with_uninit_headers(&mut response, buf, slots) {
                Ok(httparse::Status::Complete(end)) => {
                    let line = StartLine::Response {
                        version: Version::http1(response.version.unwrap_or(1)),
                        status: response.code.unwrap_or_default(),
                    };
                    if let Some(details) = details {
                        details.record("", "", response.reason.unwrap_or_default(), owner, response.headers);
                    }
                    Parsed::Done(Head { line, fields: BodyFields::read(response.headers) }, end)
                }
                Ok(httparse::Status::Partial) => Parsed::Partial,
                Err(httparse::Error::TooManyHeaders) => failed(HeadError::TooMany),
                Err(_) => failed(HeadError::Malformed),
            }
        }
    }
}

/// Reads a request head httparse refused, the way Wireshark still shows it: the first
/// line split at spaces into method, target and version (either may be missing, as in
/// an HTTP/0.9 `GET /` or a mangled `GET /HTTP/1.1`), then its header fields as httparse
/// reads them (up to `max_headers` of them; lines it cannot read are left out).
#[cold]
#[inline(never)]
fn lenient_request(
    head: &[u8],
    owner: &Bytes,
    end: usize,
    details: Option<&mut Details>,
    max_headers: usize,
) -> Result<Head, HeadError> {
    let region = head.get(..end).ok_or(HeadError::Malformed)?;
    let line_end = region.iter().position(|b| *b == b'\n').ok_or(HeadError::Malformed)?;
    let line = region.get(..line_end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let method = parts.next().ok_or(HeadError::Malformed)?;
    if method.len() > MAX_METHOD || !method.iter().all(|b| is_method_char(*b)) {
        return Err(HeadError::Malformed);
    }
    let uri = parts.next().unwrap_or_default();
    if uri.iter().any(|b| b.is_ascii_control()) {
        return Err(HeadError::Malformed);
    }
    let version = match parts.next() {
        Some(v) if v.len() == 8 && v.starts_with(b"HTTP/") && v.get(6) == Some(&b'.') => {
            let digit = |k: usize| v.get(k).filter(|d| d.is_ascii_digit()).map(|d| d - b'0');
            match (digit(5), digit(7)) {
                (Some(major), Some(minor)) => Version { major, minor },
                _ => Version::HTTP_09,
            }
        }
        _ => Version::HTTP_09,
    };
    let rest = region.get(line_end + 1..).unwrap_or_default();
    let lines = rest.iter().filter(|b| **b == b'\n').count();
    let mut fields = vec![httparse::EMPTY_HEADER; max_headers.min(lines.saturating_add(1))];
    let parsed: &[httparse::Header<'_>] = match httparse::parse_headers(rest, &mut fields) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooMany),
        _ => &[],
    };
    let line = StartLine::Request { version, is_head: method == b"HEAD", connect: method == b"CONNECT" };
    if let Some(details) = details {
        details.record(&String::from_utf8_lossy(method), &String::from_utf8_lossy(uri), "", owner, parsed);
    }
    Ok(Head { line, fields: BodyFields::read(parsed) })
}

fn own_headers(head: &Bytes, fields: &[httparse::Header<'_>]) -> Vec<Header> {
    let mut headers = Vec::with_capacity(fields.len());
    for field in fields.iter().filter(|f| !f.name.is_empty()) {
        headers.push(Header::new(sub_bytes(head, field.name.as_bytes()), sub_bytes(head, field.value)));
    }
    headers
}

/// How a message's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Where a chunked body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line (into `line`).
    Size,
    /// Reading chunk data.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd { seen_cr: bool },
    /// Reading the trailer section (into `head_buf`).
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between messages (empty lines are skipped here).
    Boundary,
    /// Assembling a head in `head_buf`; `verified` once its first bytes were checked.
    Head { verified: bool },
    /// Reading a body of known length.
    Length(u64),
    /// Reading a chunked body.
    Chunked(Chunk),
    /// Reading a body that ends with the stream.
    UntilClose,
    /// Looking for the next message start; `line_start` when the next byte begins a line.
    Resync { line_start: bool },
    /// After an upgrade: nothing more is parsed.
    Done,
}

/// A message whose head was parsed and whose body is being read. Its body becomes a
/// [`Body`] when it completes; until then only its numbers are kept here (the text and
/// fields its message will carry wait in the parser's [`Details`]), so a parser that only
/// counts moves and drops a small record per message.
#[derive(Debug)]
struct Current {
    line: StartLine,
    /// Body bytes seen, kept or not (chunk framing and gaps excluded).
    body_len: u64,
    /// Body bytes that fell in capture gaps.
    body_missing: u64,
    /// The body comes in chunked transfer coding.
    chunked: bool,
    start: u64,
    head_end: u64,
    t_start: Timestamp,
    t_end: Timestamp,
    answers: Option<u32>,
    /// After this message, the stream is a tunnel.
    upgrade: bool,
    /// Body bytes kept so far (in the parser's `pieces` and `spill`).
    kept: u64,
}

/// Kept body pieces held as shared handles per message; past this many, the rest of
/// the kept body is copied together (so a body sent a byte at a time does not cost a
/// handle per byte).
const MAX_PIECES: usize = 1024;

/// Piece handles a parser keeps room for between messages.
const RETAINED_PIECES: usize = 64;

/// Spill bytes a parser keeps room for between messages.
const RETAINED_SPILL: usize = 4096;

/// The longest chunk-size line accepted (size, extensions and CRLF).
const MAX_CHUNK_LINE: usize = 4096;

/// A body lent out by a parser that keeps no body bytes ([`MessageParser::lend`]): the
/// stretches that continue it are consumed by their lengths alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lent {
    /// Stream offset of the next byte expected.
    next: u64,
    left: Left,
    /// Body bytes taken since it was lent.
    bytes: u64,
    /// Time of the last stretch taken.
    ts: Timestamp,
    /// The latest time of a stretch taken.
    t_end: Timestamp,
}

/// What is left of a lent body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    /// This many bytes of a body of known length.
    Length(u64),
    /// This many bytes of a chunk.
    ChunkData(u64),
    /// Everything until the stream ends.
    UntilClose,
}

impl Lent {
    /// The stream offset where the body (or, chunked, the chunk) ends: the bytes
    /// before it are only counted (`u64::MAX` for a body that runs until the close).
    pub(crate) fn end(&self) -> u64 {
        match self.left {
            Left::Length(n) | Left::ChunkData(n) => self.next.saturating_add(n),
            Left::UntilClose => u64::MAX,
        }
    }

    /// Whether the `len` bytes at `offset` are exactly what is left of the body (or,
    /// chunked, of the chunk).
    pub(crate) fn ends_with(&self, offset: u64, len: u64) -> bool {
        offset == self.next && matches!(self.left, Left::Length(n) | Left::ChunkData(n) if n == len)
    }

    /// Takes the `len` bytes at `offset`, seen at `ts`, if they continue the body
    /// without ending it (exactly the stretches `MessageParser::push` reads by their
    /// lengths alone); false leaves them to the parser.
    #[inline]
    pub(crate) fn take(&mut self, offset: u64, len: usize, ts: Timestamp) -> bool {
        let len = len as u64;
        if offset != self.next || len == 0 {
            return false;
        }
        match &mut self.left {
            Left::Length(n) | Left::ChunkData(n) if len < *n => *n -= len,
            Left::UntilClose => {}
            _ => return false,
        }
        self.next = offset.saturating_add(len);
        self.bytes = self.bytes.saturating_add(len);
        self.ts = ts;
        self.t_end = self.t_end.max(ts);
        true
    }
}

/// Parses one direction of an HTTP/1.x conversation: see the module docs.
///
/// ```
/// use bytes::Bytes;
/// use netanalysis_core::Timestamp;
/// use netanalysis_http::{Limits, MessageParser, ParserOutput, ParserStats, Role};
///
/// let mut parser = MessageParser::new(Role::Request, Limits::default());
/// let mut stats = ParserStats::default();
/// let mut out = Vec::new();
/// let ts = Timestamp::from_micros(1, 0);
/// parser.push(0, &Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\n"), ts, &mut stats, &mut out);
/// parser.push(25, &Bytes::from_static(b"\r\n"), ts, &mut stats, &mut out);
/// assert!(matches!(&out[..], [ParserOutput::RequestHead { .. }, ParserOutput::Request(r)] if r.uri == "/"));
/// ```
#[derive(Debug)]
pub struct MessageParser {
    role: Role,
    limits: Limits,
    state: State,
    /// Stream offset of the next byte expected (`None` before the first push).
    next_offset: Option<u64>,
    /// Time of the stretch being parsed.
    ts: Timestamp,
    /// Head (or trailer section) being assembled across stretches.
    head_buf: Vec<u8>,
    /// Stream offset of `head_buf`'s first byte.
    head_start: u64,
    /// Time of `head_buf`'s first byte.
    head_ts: Timestamp,
    /// Chunk-size line being assembled.
    line: Vec<u8>,
    current: Option<Current>,
    /// What only a parser that keeps details fills (made on first use).
    kept: Option<Box<Kept>>,
    expect: VecDeque<Expect>,
    scratch: Vec<httparse::Header<'static>>,
    /// Messages carry their header fields, method, target, reason, kept body and
    /// trailers; without it they carry only what frames and pairs them, and their sizes.
    keep: bool,
    /// Messages with details carry their body's bytes (up to `max_body`); without it,
    /// only its length (see [`MessageParser::keep_bodies`]).
    keep_body: bool,
}

/// What a parser that keeps details holds for the message being read, on the heap so
/// that a parser that only counts stays a few cache lines long.
#[derive(Debug, Default)]
struct Kept {
    /// The message's texts and fields.
    details: Details,
    /// Its kept body pieces (reused between messages).
    pieces: Vec<Bytes>,
    /// Its kept body past `MAX_PIECES` pieces, copied together.
    spill: Vec<u8>,
}

impl Kept {
    /// The parser's kept part, made on first use.
    fn of(slot: &mut Option<Box<Kept>>) -> &mut Kept {
        slot.get_or_insert_with(Box::default)
    }

    /// Where a head's details go when the parser keeps them.
    fn details(slot: &mut Option<Box<Kept>>, keep: bool) -> Option<&mut Details> {
        keep.then(|| &mut Kept::of(slot).details)
    }
}

impl MessageParser {
    /// A parser for one direction, starting at a message boundary.
    pub fn new(role: Role, limits: Limits) -> MessageParser {
        MessageParser {
            role,
            limits,
            state: State::Boundary,
            next_offset: None,
            ts: Timestamp::ZERO,
            head_buf: Vec::new(),
            head_start: 0,
            head_ts: Timestamp::ZERO,
            line: Vec::new(),
            current: None,
            kept: None,
            expect: VecDeque::new(),
            scratch: Vec::new(),
            keep: true,
            keep_body: true,
        }
    }

    /// Whether messages carry their details (header fields, method, target, reason,
    /// body bytes and trailers), which is the default; without them, they carry only
    /// their start line's numbers, framing, ranges, times and body sizes. Decoding
    /// bodies (`Limits::decode`) needs the details, so it keeps them anyway.
    pub(crate) fn keep_details(&mut self, keep: bool) {
        self.keep = keep || self.limits.decode;
    }

    /// Whether messages that carry their details carry their body's bytes too (the
    /// default); without, a body's bytes are only counted (its `data` holds none of
    /// them, [`StreamBytes::left_out`] says how many it would hold), and the rest of a
    /// body may be lent out ([`MessageParser::lend`]). Decoding bodies needs the bytes,
    /// so it keeps them anyway.
    ///
    /// [`StreamBytes::left_out`]: netanalysis_tcp::StreamBytes::left_out
    pub(crate) fn keep_bodies(&mut self, keep: bool) {
        self.keep_body = keep || self.limits.decode;
    }

    /// Whether body bytes are kept.
    fn keeps_body(&self) -> bool {
        self.keep && self.keep_body
    }

    /// The body being read, lent out to be consumed by its lengths ([`Lent::take`])
    /// without this parser: only from a parser that keeps no body bytes, in the middle
    /// of a body that has bytes left. The parser must get it back ([`settle`]) before it is
    /// used again.
    ///
    /// [`settle`]: MessageParser::settle
    pub(crate) fn lend(&self) -> Option<Lent> {
        if self.keeps_body() || self.current.is_none() {
            return None;
        }
        let left = match self.state {
            State::Length(n) if n > 0 => Left::Length(n),
            State::Chunked(Chunk::Data(n)) if n > 0 => Left::ChunkData(n),
            State::UntilClose => Left::UntilClose,
            _ => return None,
        };
        Some(Lent { next: self.next_offset?, left, bytes: 0, ts: self.ts, t_end: Timestamp::ZERO })
    }

    /// Takes back a lent body: what [`push`](MessageParser::push) would have made of
    /// the stretches it took.
    pub(crate) fn settle(&mut self, lent: &Lent) {
        if lent.bytes == 0 {
            return;
        }
        self.ts = lent.ts;
        self.next_offset = Some(lent.next);
        self.state = match lent.left {
            Left::Length(n) => State::Length(n),
            Left::ChunkData(n) => State::Chunked(Chunk::Data(n)),
            Left::UntilClose => State::UntilClose,
        };
        if let Some(current) = self.current.as_mut() {
            current.t_end = current.t_end.max(lent.t_end);
            current.body_len = current.body_len.saturating_add(lent.bytes);
        }
    }

    /// The rest of the body being read (or, chunked, of the chunk) arrived, known by its
    /// length only (TCP released it without delivering it: `TcpData::skip_through`),
    /// at `ts` if known: what [`push`](MessageParser::push) would make of those bytes.
    /// Only for a parser that keeps no body bytes, in such a body; otherwise nothing.
    pub(crate) fn finish_lent(&mut self, ts: Option<Timestamp>, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        let left = match self.state {
            State::Length(n) | State::Chunked(Chunk::Data(n)) if !self.keeps_body() => n,
            _ => return,
        };
        let Some(next) = self.next_offset else { return };
        if let Some(ts) = ts {
            self.ts = ts;
        }
        let end = next.saturating_add(left);
        self.next_offset = Some(end);
        if let Some(current) = self.current.as_mut() {
            current.t_end = current.t_end.max(self.ts);
            current.body_len = current.body_len.saturating_add(left);
        }
        match self.state {
            State::Length(_) => self.complete(end, true, stats, out),
            _ => self.state = State::Chunked(Chunk::DataEnd { seen_cr: false }),
        }
    }

    /// A parser that joins its stream at an unknown point: it looks for a message start
    /// before parsing (its first bytes are counted as skipped until then).
    pub fn mid_stream(role: Role, limits: Limits) -> MessageParser {
        let mut parser = MessageParser::new(role, limits);
        parser.state = State::Resync { line_start: true };
        parser
    }

    /// Bytes held for a head being assembled (bounded by `max_header_bytes`).
    pub fn buffered(&self) -> usize {
        self.head_buf.capacity()
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the parser stands between messages, in step with its stream.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Boundary) && self.head_buf.is_empty()
    }

    /// Tells a response parser about the next request waiting for an answer (or a
    /// barrier where requests may have been lost).
    pub fn expect(&mut self, expect: Expect) {
        if expect == Expect::Barrier && self.expect.back() == Some(&Expect::Barrier) {
            return;
        }
        self.expect.push_back(expect);
    }

    /// Forgets every expected request: from now on, responses answer nobody known.
    pub fn clear_expectations(&mut self) {
        self.expect.clear();
    }

    /// Feeds the stretch of the stream that starts at `offset`. Stretches must come in
    /// offset order; a jump is a gap and a stretch overlapping what was already fed is
    /// trimmed.
    #[inline]
    pub fn push(
        &mut self,
        offset: u64,
        data: &Bytes,
        ts: Timestamp,
        stats: &mut ParserStats,
        out: &mut Vec<ParserOutput>,
    ) {
        // In the middle of a body that goes on past these bytes (most of a long body's
        // stretches), only sizes, times and the kept part change.
        if self.next_offset == Some(offset) && !data.is_empty() {
            let len = data.len() as u64;
            let next = match self.state {
                State::Length(remaining) if len < remaining => Some(State::Length(remaining - len)),
                State::Chunked(Chunk::Data(remaining)) if len < remaining => {
                    Some(State::Chunked(Chunk::Data(remaining - len)))
                }
                State::UntilClose => Some(State::UntilClose),
                _ => None,
            };
            if let Some(state) = next {
                self.ts = ts;
                self.next_offset = Some(offset.saturating_add(len));
                self.state = state;
                self.body_bytes(data, 0, data.len());
                return;
            }
        }
        self.push_stretch(offset, data, ts, stats, out);
    }

    /// [`push`](MessageParser::push) in general: gaps, overlaps, heads, and every step
    /// of the state machine.
    fn push_stretch(
        &mut self,
        offset: u64,
        data: &Bytes,
        ts: Timestamp,
        stats: &mut ParserStats,
        out: &mut Vec<ParserOutput>,
    ) {
        if matches!(self.state, State::Done) {
            return;
        }
        self.ts = ts;
        let expected = *self.next_offset.get_or_insert(offset);
        let end = offset.saturating_add(data.len() as u64);
        let mut pos = 0usize;
        if offset > expected {
            self.gap(offset - expected, stats, out);
        } else if offset < expected {
            if end <= expected {
                return;
            }
            // Trim what was already fed; the difference is below data.len() here.
            pos = usize::try_from(expected - offset).unwrap_or(data.len());
        }
        self.next_offset = Some(end.max(expected));
        let base = offset;
        while pos < data.len() && !matches!(self.state, State::Done) {
            pos = self.step(base, data, pos, stats, out);
        }
    }

    /// The stream ended: a body that runs to the end of the stream is complete; any
    /// other message in progress is reported cut short.
    pub fn finish(&mut self, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        let end = self.next_offset.unwrap_or(0);
        match self.state {
            State::UntilClose => self.complete(end, true, stats, out),
            State::Length(_) | State::Chunked(_) => self.complete(end, false, stats, out),
            State::Head { verified: true } if self.role == Role::Request && self.head_buf.contains(&b'\n') => {
                // A request head the stream cut short (an HTTP/0.9 request has no blank
                // line at all): report what it holds.
                stats.incomplete += 1;
                self.head_buf.extend_from_slice(b"\r\n\r\n");
                let head = Bytes::copy_from_slice(&self.head_buf);
                self.head_buf.clear();
                match parse_head(
                    self.role,
                    &head,
                    &head,
                    self.limits.max_headers,
                    Kept::details(&mut self.kept, self.keep),
                    &mut self.scratch,
                ) {
                    Parsed::Done(parsed, end) => self.head_done(parsed, end, stats, out),
                    Parsed::Failed(error, end) => self.head_failed(error, end, stats, out),
                    Parsed::Partial => {}
                }
                if let State::Length(_) | State::Chunked(_) = self.state {
                    self.complete(end, false, stats, out);
                }
            }
            State::Head { .. } => {
                stats.skipped_bytes += self.head_buf.len() as u64;
                stats.incomplete += 1;
                self.head_buf.clear();
            }
            State::Boundary | State::Resync { .. } | State::Done => {}
        }
        self.state = State::Done;
    }

    /// Handles a gap of `len` bytes before the next stretch.
    #[cold]
    #[inline(never)]
    fn gap(&mut self, len: u64, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        stats.gap_bytes = stats.gap_bytes.saturating_add(len);
        let expected = self.next_offset.unwrap_or(0);
        match self.state {
            State::Length(remaining) => {
                if let Some(current) = self.current.as_mut() {
                    current.body_missing = current.body_missing.saturating_add(len.min(remaining));
                }
                if len < remaining {
                    self.state = State::Length(remaining - len);
                    return;
                }
                // The body ended inside the gap; what follows it is unframed.
                self.complete(expected.saturating_add(remaining), false, stats, out);
                self.lose_sync(stats, out);
            }
            State::UntilClose => {
                if let Some(current) = self.current.as_mut() {
                    current.body_missing = current.body_missing.saturating_add(len);
                }
            }
            State::Chunked(_) => {
                if let Some(current) = self.current.as_mut() {
                    current.body_missing = current.body_missing.saturating_add(len);
                }
                self.complete(expected, false, stats, out);
                self.lose_sync(stats, out);
            }
            State::Head { .. } => {
                stats.skipped_bytes += self.head_buf.len() as u64;
                self.head_buf.clear();
                self.lose_sync(stats, out);
            }
            State::Boundary => self.lose_sync(stats, out),
            State::Resync { .. } => self.state = State::Resync { line_start: true },
            State::Done => {}
        }
    }

    #[cold]
    #[inline(never)]
    fn lose_sync(&mut self, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        stats.resyncs += 1;
        if self.role == Role::Response {
            // Responses may have been lost: the next one found cannot be matched.
            self.expect.clear();
        }
        self.head_buf.clear();
        self.line.clear();
        self.current = None;
        if let Some(kept) = self.kept.as_mut() {
            kept.details = Details::default();
            kept.pieces.clear();
            kept.spill.clear();
        }
        self.state = State::Resync { line_start: true };
        out.push(ParserOutput::LostSync);
    }

    /// One step of the state machine over `data[pos..]`; returns the new position.
    fn step(
        &mut self,
        base: u64,
        data: &Bytes,
        pos: usize,
        stats: &mut ParserStats,
        out: &mut Vec<ParserOutput>,
    ) -> usize {
        let rest = data.get(pos..).unwrap_or_default();
        let at = base.saturating_add(pos as u64);
        match self.state {
            State::Boundary => {
                let blank = rest.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
                if blank > 0 {
                    return pos + blank;
                }
                match start_check(self.role, rest) {
                    StartCheck::Valid => {
                        self.begin_head(at);
                        self.state = State::Head { verified: true };
                        pos
                    }
                    StartCheck::NeedMore => {
                        self.begin_head(at);
                        self.head_buf.extend_from_slice(rest);
                        self.state = State::Head { verified: false };
                        data.len()
                    }
                    StartCheck::Invalid => {
                        self.lose_sync(stats, out);
                        self.state = State::Resync { line_start: false };
                        pos
                    }
                }
            }
            State::Head { verified } => self.step_head(verified, base, data, pos, stats, out),
            State::Length(remaining) => {
                let take = usize::try_from(remaining).unwrap_or(usize::MAX).min(rest.len());
                self.body_bytes(data, pos, take);
                let left = remaining - take as u64;
                if left == 0 {
                    self.complete(at.saturating_add(take as u64), true, stats, out);
                } else {
                    self.state = State::Length(left);
                }
                pos + take
            }
            State::UntilClose => {
                self.body_bytes(data, pos, rest.len());
                data.len()
            }
            State::Chunked(chunk) => self.step_chunked(chunk, base, data, pos, stats, out),
            State::Resync { line_start } => self.step_resync(line_start, base, data, pos, stats),
            State::Done => data.len(),
        }
    }

    fn begin_head(&mut self, at: u64) {
        self.head_buf.clear();
        self.head_start = at;
        self.head_ts = self.ts;
    }

    fn step_head(
        &mut self,
        verified: bool,
        base: u64,
        data: &Bytes,
        pos: usize,
        stats: &mut ParserStats,
        out: &mut Vec<ParserOutput>,
    ) -> usize {
        let rest = data.get(pos..).unwrap_or_default();
        if !verified {
            // The buffered prefix and the first new bytes decide whether this is a start.
            let mut probe = [0u8; 32];
            let have = self.head_buf.len().min(probe.len());
            let from_rest = (probe.len() - have).min(rest.len());
            for (slot, byte) in probe.iter_mut().zip(self.head_buf.iter().chain(rest.iter()).take(have + from_rest)) {
                *slot = *byte;
            }
            let check = match start_check(self.role, probe.get(..have + from_rest).unwrap_or_default()) {
                // A start is told within its first 32 bytes; more undecided bytes are not one.
                StartCheck::NeedMore if self.head_buf.len() >= probe.len() => StartCheck::Invalid,
                check => check,
            };
            match check {
                StartCheck::Valid => self.state = State::Head { verified: true },
                StartCheck::NeedMore => {
                    self.head_buf.extend_from_slice(rest);
                    return data.len();
                }
                StartCheck::Invalid => {
                    stats.skipped_bytes += self.head_buf.len() as u64;
                    self.head_buf.clear();
                    self.lose_sync(stats, out);
                    self.state = State::Resync { line_start: false };
                    return pos;
                }
            }
        }
        if self.head_buf.is_empty() {
            // The common case: the whole head lies in this stretch, parsed in place.
            self.head_start = base.saturating_add(pos as u64);
            self.head_ts = self.ts;
            match parse_head(
                self.role,
                rest,
                data,
                self.limits.max_headers,
                Kept::details(&mut self.kept, self.keep),
                &mut self.scratch,
            ) {
                Parsed::Done(_, end) | Parsed::Failed(_, end) if end > self.limits.max_header_bytes => {
                    // Skip the whole refused head; the next message may follow at once.
                    let next = self.head_too_long(end, pos, stats, out);
                    self.state = State::Resync { line_start: true };
                    return next;
                }
                Parsed::Done(head, end) => {
                    self.head_done(head, end, stats, out);
                    return pos + end;
                }
                Parsed::Failed(error, end) => {
                    self.head_failed(error, end, stats, out);
                    return pos + end;
                }
                Parsed::Partial => {}
            }
            if rest.len() > self.limits.max_header_bytes {
                return self.head_too_long(rest.len(), pos, stats, out);
            }
            self.head_buf.extend_from_slice(rest);
            return data.len();
        }
        match self.read_section(data, pos, false) {
            Section::Ended { section, used } => {
                let end = section.len();
                match parse_head(
                    self.role,
                    &section,
                    &section,
                    self.limits.max_headers,
                    Kept::details(&mut self.kept, self.keep),
                    &mut self.scratch,
                ) {
                    Parsed::Done(parsed, _) => self.head_done(parsed, end, stats, out),
                    Parsed::Failed(error, _) => self.head_failed(error, end, stats, out),
                    Parsed::Partial => self.head_failed(HeadError::Malformed, end, stats, out),
                }
                pos + used
            }
            Section::TooLong { buffered, take } => {
                stats.skipped_bytes += buffered as u64;
                self.head_too_long(take, pos, stats, out)
            }
            Section::Open { take } => pos + take,
        }
    }

    /// Reads `data` from `pos` into the section being assembled in `head_buf` (a head,
    /// or a chunked body's trailer section), at most `max_header_bytes` and the few
    /// bytes of a blank line more, and looks for the blank line that ends it (or, with
    /// `blank_first`, a leading blank line). A section that begins and ends within the
    /// stretch is handed out as a slice of it, without a copy.
    fn read_section(&mut self, data: &Bytes, pos: usize, blank_first: bool) -> Section {
        let rest = data.get(pos..).unwrap_or_default();
        let max = self.limits.max_header_bytes;
        let old_len = self.head_buf.len();
        let take = rest.len().min(max.saturating_sub(old_len).saturating_add(4));
        let new = rest.get(..take).unwrap_or_default();
        let found = if old_len == 0 {
            find_head_end(new, 0, blank_first)
        } else {
            self.head_buf.extend_from_slice(new);
            // The old bytes held no end; one may begin in their last three.
            find_head_end(&self.head_buf, old_len.saturating_sub(3), blank_first)
        };
        match found {
            Some(end) if end <= max => {
                let section = if old_len == 0 {
                    data.slice(pos..pos + end)
                } else {
                    Bytes::copy_from_slice(self.head_buf.get(..end).unwrap_or_default())
                };
                self.head_buf.clear();
                // The section ends inside the new bytes.
                Section::Ended { section, used: end.saturating_sub(old_len) }
            }
            _ if old_len.saturating_add(take) > max => {
                self.head_buf.clear();
                Section::TooLong { buffered: old_len, take }
            }
            _ => {
                if old_len == 0 {
                    self.head_buf.extend_from_slice(new);
                }
                Section::Open { take }
            }
        }
    }

    /// Refuses a head longer than `max_header_bytes`: `consumed` bytes of the stretch
    /// from `pos` are skipped and the parser looks for the next message start.
    #[cold]
    #[inline(never)]
    fn head_too_long(
        &mut self,
        consumed: usize,
        pos: usize,
        stats: &mut ParserStats,
        out: &mut Vec<ParserOutput>,
    ) -> usize {
        stats.header_too_long += 1;
        stats.skipped_bytes += consumed as u64;
        self.lose_sync(stats, out);
        self.state = State::Resync { line_start: false };
        pos + consumed
    }

    /// A head of `len` bytes was refused: it is skipped and the parser looks for the
    /// next message start right after it.
    #[cold]
    #[inline(never)]
    fn head_failed(&mut self, error: HeadError, len: usize, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        match error {
            HeadError::TooMany => stats.too_many_headers += 1,
            HeadError::Malformed => stats.bad_heads += 1,
        }
        stats.skipped_bytes += len as u64;
        self.lose_sync(stats, out);
        self.state = State::Resync { line_start: true };
    }

    /// A head of `len` bytes was parsed: decides how its body is framed.
    fn head_done(&mut self, parsed: Head, len: usize, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        let head_len = len as u64;
        let BodyFields { length, conflict, chunked } = parsed.fields;
        if conflict {
            stats.conflicting_lengths += 1;
        }
        let mut answers = None;
        let mut upgrade = false;
        let framing = match &parsed.line {
            StartLine::Request { is_head, connect, .. } => {
                out.push(ParserOutput::RequestHead { head: *is_head, connect: *connect });
                match (chunked, length) {
                    (Some(true), _) => Framing::Chunked,
                    (Some(false), _) => Framing::None,
                    (None, Ok(Some(n))) => Framing::Length(n),
                    (None, _) => Framing::None,
                }
            }
            StartLine::Response { status, .. } => {
                let status = *status;
                let (index, head_request, connect) = if (100..200).contains(&status) && status != 101 {
                    match self.expect.front() {
                        Some(Expect::Request { index, .. }) => (Some(*index), false, false),
                        _ => (None, false, false),
                    }
                } else {
                    match self.expect.pop_front() {
                        Some(Expect::Request { index, head, connect }) => (Some(index), head, connect),
                        Some(Expect::Barrier) => {
                            out.push(ParserOutput::PairingLost);
                            (None, false, false)
                        }
                        None => (None, false, false),
                    }
                };
                answers = index;
                if status == 101 || (connect && (200..300).contains(&status)) {
                    upgrade = true;
                    Framing::None
                } else if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
                    Framing::None
                } else {
                    match (chunked, length) {
                        (Some(true), _) => Framing::Chunked,
                        (Some(false), _) => Framing::UntilClose,
                        (None, Ok(Some(n))) => Framing::Length(n),
                        (None, _) => Framing::UntilClose,
                    }
                }
            }
        };
        let head_end = self.head_start.saturating_add(head_len);
        self.current = Some(Current {
            line: parsed.line,
            body_len: 0,
            body_missing: 0,
            chunked: framing == Framing::Chunked,
            start: self.head_start,
            head_end,
            t_start: self.head_ts,
            t_end: self.ts,
            answers,
            upgrade,
            kept: 0,
        });
        // Room for the body's pieces, taken now (with the head) rather than as the
        // body's packets arrive.
        let expected = match framing {
            Framing::Length(n) => n.min(self.limits.max_body) / 512 + 2,
            Framing::Chunked | Framing::UntilClose => 16,
            Framing::None => 0,
        };
        if self.keeps_body() {
            let pieces = &mut Kept::of(&mut self.kept).pieces;
            pieces.reserve(usize::try_from(expected).unwrap_or(MAX_PIECES).min(MAX_PIECES));
        }
        match framing {
            Framing::None | Framing::Length(0) => self.complete(head_end, true, stats, out),
            Framing::Length(n) => self.state = State::Length(n),
            Framing::Chunked => {
                self.line.clear();
                self.state = State::Chunked(Chunk::Size);
            }
            Framing::UntilClose => self.state = State::UntilClose,
        }
    }

    /// Adds `len` body bytes at `data[pos..]`, keeping what fits under `max_body`.
    #[inline]
    fn body_bytes(&mut self, data: &Bytes, pos: usize, len: usize) {
        let Some(current) = self.current.as_mut() else { return };
        current.t_end = current.t_end.max(self.ts);
        current.body_len = current.body_len.saturating_add(len as u64);
        if !(self.keep && self.keep_body) {
            return;
        }
        let room = self.limits.max_body.saturating_sub(current.kept);
        let keep = usize::try_from(room).unwrap_or(usize::MAX).min(len);
        let Some(piece) = pos.checked_add(keep).and_then(|end| data.get(pos..end)) else { return };
        if keep == 0 {
            return;
        }
        current.kept = current.kept.saturating_add(keep as u64);
        let kept = Kept::of(&mut self.kept);
        if kept.pieces.len() < MAX_PIECES && kept.spill.is_empty() {
            kept.pieces.push(data.slice(pos..pos + keep));
        } else {
            kept.spill.extend_from_slice(piece);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step_chunked(
        &mut self,
        chunk: Chunk,
        base: u64,
        data: &Bytes,
        pos: usize,
        stats: &mut ParserStats,
        out: &mut Vec<ParserOutput>,
    ) -> usize {
        let rest = data.get(pos..).unwrap_or_default();
        let at = base.saturating_add(pos as u64);
        match chunk {
            Chunk::Size => {
                let (line_part, complete) = match memchr::memchr(b'\n', rest) {
                    Some(nl) => (rest.get(..=nl).unwrap_or_default(), true),
                    None => (rest, false),
                };
                if self.line.len().saturating_add(line_part.len()) > MAX_CHUNK_LINE {
                    stats.bad_chunks += 1;
                    self.fail_body(at, stats, out);
                    return pos;
                }
                self.line.extend_from_slice(line_part);
                if let Some(current) = self.current.as_mut() {
                    current.t_end = current.t_end.max(self.ts);
                }
                if !complete {
                    return data.len();
                }
                let size = parse_chunk_size(&self.line);
                self.line.clear();
                match size {
                    Some(0) => {
                        self.head_buf.clear();
                        self.state = State::Chunked(Chunk::Trailers);
                    }
                    Some(n) => self.state = State::Chunked(Chunk::Data(n)),
                    None => {
                        stats.bad_chunks += 1;
                        self.fail_body(at, stats, out);
                    }
                }
                pos + line_part.len()
            }
            Chunk::Data(remaining) => {
                let take = usize::try_from(remaining).unwrap_or(usize::MAX).min(rest.len());
                self.body_bytes(data, pos, take);
                let left = remaining - take as u64;
                self.state =
                    State::Chunked(if left == 0 { Chunk::DataEnd { seen_cr: false } } else { Chunk::Data(left) });
                pos + take
            }
            Chunk::DataEnd { seen_cr } => match rest.first() {
                Some(b'\r') if !seen_cr => {
                    self.state = State::Chunked(Chunk::DataEnd { seen_cr: true });
                    pos + 1
                }
                Some(b'\n') => {
                    self.state = State::Chunked(Chunk::Size);
                    pos + 1
                }
                _ => {
                    // Lenient: a missing CRLF after chunk data; read the next size line here.
                    stats.bad_chunks += 1;
                    self.state = State::Chunked(Chunk::Size);
                    pos
                }
            },
            Chunk::Trailers => {
                let section = self.read_section(data, pos, true);
                if let Some(current) = self.current.as_mut() {
                    current.t_end = current.t_end.max(self.ts);
                }
                match section {
                    Section::Ended { section, used } => {
                        // A section of two bytes or fewer is a blank line alone: no fields.
                        if self.keep && section.len() > 2 {
                            Kept::of(&mut self.kept).details.trailers =
                                parse_trailers(&section, self.limits.max_headers, &mut self.scratch);
                        }
                        self.complete(at.saturating_add(used as u64), true, stats, out);
                        pos + used
                    }
                    Section::TooLong { take, .. } => {
                        stats.header_too_long += 1;
                        self.complete(at.saturating_add(take as u64), false, stats, out);
                        self.lose_sync(stats, out);
                        pos + take
                    }
                    Section::Open { take } => pos + take,
                }
            }
        }
    }

    /// A chunked body went wrong: report the message cut short and look for the next start.
    #[cold]
    #[inline(never)]
    fn fail_body(&mut self, at: u64, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        self.complete(at, false, stats, out);
        self.lose_sync(stats, out);
    }

    #[cold]
    #[inline(never)]
    fn step_resync(&mut self, line_start: bool, base: u64, data: &Bytes, pos: usize, stats: &mut ParserStats) -> usize {
        let rest = data.get(pos..).unwrap_or_default();
        let mut candidate = if line_start { Some(0) } else { memchr::memchr(b'\n', rest).map(|n| n + 1) };
        while let Some(c) = candidate {
            let Some(tail) = rest.get(c..) else { break };
            if tail.is_empty() {
                break;
            }
            match start_check(self.role, tail) {
                StartCheck::Valid => {
                    stats.skipped_bytes += c as u64;
                    self.begin_head(base.saturating_add((pos + c) as u64));
                    self.state = State::Head { verified: true };
                    return pos + c;
                }
                StartCheck::NeedMore => {
                    stats.skipped_bytes += c as u64;
                    self.begin_head(base.saturating_add((pos + c) as u64));
                    self.head_buf.extend_from_slice(tail);
                    self.state = State::Head { verified: false };
                    return data.len();
                }
                StartCheck::Invalid => {
                    candidate = memchr::memchr(b'\n', tail).map(|n| c + n + 1);
                }
            }
        }
        stats.skipped_bytes += rest.len() as u64;
        self.state = State::Resync { line_start: rest.last() == Some(&b'\n') };
        data.len()
    }

    /// [`complete`](MessageParser::complete) for a parser that keeps no details: the
    /// message is reported by its numbers, and dropped where it lies.
    fn complete_numbers(&mut self, complete: bool, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        self.state = State::Boundary;
        let Some(current) = self.current.as_ref() else { return };
        if !complete {
            stats.incomplete += 1;
        }
        let upgrade = current.upgrade;
        out.push(match current.line {
            StartLine::Request { .. } => ParserOutput::RequestEnded,
            StartLine::Response { status, .. } => ParserOutput::ResponseEnded { status, answers: current.answers },
        });
        self.current = None;
        if upgrade {
            self.state = State::Done;
            out.push(ParserOutput::Upgraded);
        }
    }

    /// Ends the current message at stream offset `end` and reports it.
    fn complete(&mut self, end: u64, complete: bool, stats: &mut ParserStats, out: &mut Vec<ParserOutput>) {
        if !self.keep {
            return self.complete_numbers(complete, stats, out);
        }
        self.state = State::Boundary;
        let Some(current) = self.current.take() else { return };
        let kept = Kept::of(&mut self.kept);
        let Details { method, uri, reason, headers, trailers } = std::mem::take(&mut kept.details);
        let end = end.max(current.head_end);
        if !complete {
            stats.incomplete += 1;
        }
        let mut body = Body {
            len: current.body_len,
            missing: current.body_missing,
            chunked: current.chunked,
            trailers,
            ..Body::default()
        };
        if !self.keep_body {
            // What would have been kept, only counted.
            body.data.count_left_out(body.len.min(self.limits.max_body));
        }
        for piece in kept.pieces.drain(..) {
            body.data.push(piece);
        }
        if !kept.spill.is_empty() {
            body.data.push(Bytes::copy_from_slice(&kept.spill));
            kept.spill.clear();
        }
        if kept.pieces.capacity() > RETAINED_PIECES {
            kept.pieces = Vec::new();
        }
        if kept.spill.capacity() > RETAINED_SPILL {
            kept.spill = Vec::new();
        }
        if self.limits.decode {
            decode_body(&headers, &mut body, self.limits.max_body, stats);
        }
        let upgrade = current.upgrade;
        match current.line {
            StartLine::Request { version, .. } => {
                out.push(ParserOutput::Request(Arc::new(Request {
                    method,
                    uri,
                    version,
                    headers,
                    body,
                    head_range: current.start..current.head_end,
                    range: current.start..end,
                    t_start: current.t_start,
                    t_end: current.t_end,
                    complete,
                })));
            }
            StartLine::Response { version, status } => {
                out.push(ParserOutput::Response {
                    response: Arc::new(Response {
                        version,
                        status,
                        reason,
                        headers,
                        body,
                        head_range: current.start..current.head_end,
                        range: current.start..end,
                        t_start: current.t_start,
                        t_end: current.t_end,
                        complete,
                    }),
                    answers: current.answers,
                });
            }
        }
        if upgrade {
            self.state = State::Done;
            out.push(ParserOutput::Upgraded);
        }
    }
}

/// Parses a chunk-size line (`1a;ext=x\r\n`): the hexadecimal size, or `None` when it
/// is missing, malformed or does not fit 64 bits.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let text = line.trim_ascii();
    let digits_end = text.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(text.len());
    let (digits, rest) = text.split_at(digits_end);
    if digits.is_empty() {
        return None;
    }
    let rest = rest.trim_ascii_start();
    if !(rest.is_empty() || rest.starts_with(b";")) {
        return None;
    }
    let mut size: u64 = 0;
    for digit in digits {
        let value = char::from(*digit).to_digit(16)?;
        size = size.checked_mul(16)?.checked_add(u64::from(value))?;
    }
    Some(size)
}

fn parse_trailers(section: &Bytes, max_headers: usize, scratch: &mut Vec<httparse::Header<'static>>) -> Vec<Header> {
    let lines = section.iter().filter(|b| **b == b'\n').count();
    let mut fields: Vec<httparse::Header<'_>> = std::mem::take(scratch);
    fields.clear();
    fields.resize(max_headers.min(lines.saturating_add(1)), httparse::EMPTY_HEADER);
    let trailers = match httparse::parse_headers(section, &mut fields) {
        Ok(httparse::Status::Complete((_, parsed))) => own_headers(section, parsed),
        _ => Vec::new(),
    };
    fields.clear();
    *scratch = fields.into_iter().map(|_| httparse::EMPTY_HEADER).collect();
    trailers
}

/// Undoes the body's content coding into `body.decoded` (bounded by `max_body`).
#[cold]
#[inline(never)]
fn decode_body(headers: &[Header], body: &mut Body, max_body: u64, stats: &mut ParserStats) {
    use std::io::Read as _;
    let Some(encoding) = find_header(headers, "content-encoding") else { return };
    let value = encoding.value().trim_ascii();
    let coding = if value.eq_ignore_ascii_case(b"gzip") || value.eq_ignore_ascii_case(b"x-gzip") {
        ContentCoding::Gzip
    } else if value.eq_ignore_ascii_case(b"deflate") {
        ContentCoding::Deflate
    } else {
        if !value.eq_ignore_ascii_case(b"identity") && !value.is_empty() {
            stats.decode_unsupported += 1;
        }
        return;
    };
    if body.data.is_empty() {
        return;
    }
    let input = body.data.contiguous();
    let limit = max_body.saturating_add(1);
    let mut data = Vec::new();
    let result = match coding {
        ContentCoding::Gzip => flate2::read::MultiGzDecoder::new(&input[..]).take(limit).read_to_end(&mut data),
        ContentCoding::Deflate => {
            let zlib = flate2::read::ZlibDecoder::new(&input[..]).take(limit).read_to_end(&mut data);
            if zlib.is_err() {
                data.clear();
                flate2::read::DeflateDecoder::new(&input[..]).take(limit).read_to_end(&mut data)
            } else {
                zlib
            }
        }
    };
    let truncated = data.len() as u64 > max_body;
    if truncated {
        data.truncate(usize::try_from(max_body).unwrap_or(usize::MAX));
    }
    let mut error = result.err().map(|e| e.to_string());
    if error.is_none() && body.truncated() && !truncated {
        error = Some("the body was longer than max_body; only its kept part was decoded".to_owned());
    }
    if error.is_some() {
        stats.decode_errors += 1;
    }
    body.decoded = Some(DecodedBody { coding, data, truncated, error });
}
