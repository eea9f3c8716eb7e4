//! Unit tests: the parser on streams built here, and the session's pairing.

use std::io::Write as _;

use bytes::Bytes;
use netanalysis_core::{Endpoint, SocketPair, Timestamp};
use netanalysis_tcp::SessionId;
use netanalysis_test_support::Rng;

use crate::parser::{start_check, StartCheck};
use crate::session::{Emitted, HttpSession, Shared};
use crate::{Expect, Limits, MessageParser, ParserOutput, ParserStats, Request, Response, Role};

fn ts(micros: u64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + micros * 1000, 6)
}

/// Feeds one direction stretch by stretch, at consecutive offsets.
struct Direction {
    parser: MessageParser,
    offset: u64,
    clock: u64,
    stats: ParserStats,
    out: Vec<ParserOutput>,
}

impl Direction {
    fn new(role: Role) -> Direction {
        Direction::with_limits(role, Limits::default())
    }

    fn with_limits(role: Role, limits: Limits) -> Direction {
        Direction {
            parser: MessageParser::new(role, limits),
            offset: 0,
            clock: 0,
            stats: ParserStats::default(),
            out: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> &mut Self {
        self.push_bytes(Bytes::copy_from_slice(bytes))
    }

    fn push_bytes(&mut self, bytes: Bytes) -> &mut Self {
        self.clock += 1;
        self.parser.push(self.offset, &bytes, ts(self.clock), &mut self.stats, &mut self.out);
        self.offset += bytes.len() as u64;
        self
    }

    /// Skips `len` bytes of the stream (a capture gap).
    fn gap(&mut self, len: u64) -> &mut Self {
        self.offset += len;
        self
    }

    fn finish(&mut self) -> &mut Self {
        self.parser.finish(&mut self.stats, &mut self.out);
        self
    }

    fn requests(&self) -> Vec<&Request> {
        self.out.iter().filter_map(|o| if let ParserOutput::Request(r) = o { Some(&**r) } else { None }).collect()
    }

    fn responses(&self) -> Vec<(&Response, Option<u32>)> {
        self.out
            .iter()
            .filter_map(|o| {
                if let ParserOutput::Response { response, answers } = o {
                    Some((&**response, *answers))
                } else {
                    None
                }
            })
            .collect()
    }
}

fn body_text(body: &crate::Body) -> String {
    String::from_utf8_lossy(&body.data.to_vec()).into_owned()
}

#[test]
fn start_check_knows_requests_and_status_lines() {
    assert_eq!(start_check(Role::Request, b"GET / HTTP/1.1"), StartCheck::Valid);
    assert_eq!(start_check(Role::Request, b"CCM_POST /x HTTP/1.1"), StartCheck::Valid);
    assert_eq!(start_check(Role::Request, b"GE"), StartCheck::NeedMore);
    assert_eq!(start_check(Role::Request, b"get / HTTP/1.1"), StartCheck::Invalid);
    assert_eq!(start_check(Role::Request, b"\x16\x03\x01\x02"), StartCheck::Invalid);
    assert_eq!(start_check(Role::Response, b"HTTP/1.1 200 OK"), StartCheck::Valid);
    assert_eq!(start_check(Role::Response, b"HTTP/1."), StartCheck::NeedMore);
    assert_eq!(start_check(Role::Response, b"HTTP/2 200"), StartCheck::Invalid);
}

#[test]
fn request_split_across_many_segments_is_parsed() {
    let message = b"POST /form HTTP/1.1\r\nHost: example.org\r\nContent-Length: 11\r\n\r\nhello world";
    let mut dir = Direction::new(Role::Request);
    for byte in message.iter() {
        dir.push(&[*byte]);
    }
    let requests = dir.requests();
    assert_eq!(requests.len(), 1);
    let request = requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri, "/form");
    assert_eq!(request.host(), Some("example.org"));
    assert_eq!(body_text(&request.body), "hello world");
    assert_eq!(request.range, 0..message.len() as u64);
    assert_eq!(request.head_range.end, message.len() as u64 - 11);
    assert_eq!(request.t_start, ts(1));
    assert_eq!(request.t_end, ts(message.len() as u64));
    assert!(request.complete);
    assert_eq!(dir.stats.skipped_bytes, 0);
}

#[test]
fn headers_keep_their_order_and_case() {
    let mut dir = Direction::new(Role::Request);
    dir.push(b"GET / HTTP/1.0\r\nX-B: 2\r\nx-a: 1\r\nX-B: 3\r\n\r\n");
    let request = dir.requests()[0];
    let names: Vec<&str> = request.headers.iter().map(|h| h.name()).collect();
    assert_eq!(names, ["X-B", "x-a", "X-B"]);
    assert_eq!(request.header("x-b").and_then(|h| h.value_str()), Some("2"));
    assert_eq!(request.version.to_string(), "HTTP/1.0");
}

#[test]
fn chunked_response_with_chunk_header_straddling_packets() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe");
    dir.push(b"llo\r\n1");
    dir.push(b"0;ext=1\r");
    dir.push(b"\n0123456789abcdef\r\n0\r\nX-Checksum: 42\r");
    dir.push(b"\n\r\n");
    let responses = dir.responses();
    assert_eq!(responses.len(), 1);
    let response = responses[0].0;
    assert!(response.body.chunked);
    assert_eq!(body_text(&response.body), "hello0123456789abcdef");
    assert_eq!(response.body.len, 21);
    assert_eq!(response.body.trailers.len(), 1);
    assert_eq!(response.body.trailers[0].name(), "X-Checksum");
    assert_eq!(response.range.end, dir.offset);
    assert!(response.complete);
}

#[test]
fn chunked_body_without_trailers_ends_at_the_blank_line() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    let responses = dir.responses();
    assert_eq!(responses.len(), 2);
    assert_eq!(body_text(&responses[0].0.body), "abc");
    assert!(responses[0].0.body.trailers.is_empty());
    assert_eq!(responses[1].0.status, 204);
}

#[test]
fn chunk_size_overflowing_u64_is_a_counted_error() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffffffff\r\nxx\r\n");
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(dir.stats.bad_chunks, 1);
    let responses = dir.responses();
    assert_eq!(responses.len(), 2);
    assert!(!responses[0].0.complete);
    assert!(responses[1].0.complete);
}

#[test]
fn content_length_body_spans_segments() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
    assert!(dir.responses().is_empty());
    dir.push(b"456789HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let responses = dir.responses();
    assert_eq!(responses.len(), 2);
    assert_eq!(body_text(&responses[0].0.body), "0123456789");
    assert_eq!(responses[0].0.t_end, ts(2));
    assert_eq!(responses[1].0.status, 404);
    assert_eq!(responses[1].0.reason, "Not Found");
}

#[test]
fn close_delimited_response_completes_at_stream_end() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ");
    dir.push(b"this");
    assert!(dir.responses().is_empty());
    dir.finish();
    let responses = dir.responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(body_text(&responses[0].0.body), "all of this");
    assert!(responses[0].0.complete);
}

#[test]
fn response_to_head_has_no_body() {
    let mut dir = Direction::new(Role::Response);
    dir.parser.expect(Expect::Request { index: 1, head: true, connect: false });
    dir.parser.expect(Expect::Request { index: 2, head: false, connect: false });
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let responses = dir.responses();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].0.body.len, 0);
    assert_eq!(responses[0].1, Some(1));
    assert_eq!(body_text(&responses[1].0.body), "ok");
    assert_eq!(responses[1].1, Some(2));
}

#[test]
fn status_204_and_304_have_no_body() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n");
    dir.push(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n");
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsevenbb");
    let responses = dir.responses();
    assert_eq!(
        responses.iter().map(|r| (r.0.status, r.0.body.len)).collect::<Vec<_>>(),
        [(204, 0), (304, 0), (200, 7)]
    );
}

#[test]
fn empty_lines_between_messages_are_not_garbage() {
    let mut dir = Direction::new(Role::Request);
    dir.push(b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    assert_eq!(dir.requests().len(), 2);
    assert_eq!(dir.stats.skipped_bytes, 0);
}

#[test]
fn garbage_is_skipped_up_to_the_next_request_line() {
    let mut dir = Direction::new(Role::Request);
    dir.push(b"\x00\x01binary junk\r\nmore junk\nGET /after HTTP/1.1\r\n\r\n");
    let requests = dir.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].uri, "/after");
    assert_eq!(dir.stats.skipped_bytes, 25);
    assert_eq!(dir.stats.resyncs, 1);
    assert!(dir.out.iter().any(|o| matches!(o, ParserOutput::LostSync)));
}

#[test]
fn gap_inside_content_length_body_is_bridged() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n012");
    dir.gap(4);
    dir.push(b"789HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    let responses = dir.responses();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].0.body.missing, 4);
    assert_eq!(responses[0].0.body.len, 6);
    assert_eq!(dir.stats.resyncs, 0);
    assert!(!dir.out.iter().any(|o| matches!(o, ParserOutput::LostSync)));
}

#[test]
fn gap_in_a_head_resyncs_at_the_next_message() {
    let mut dir = Direction::new(Role::Request);
    dir.push(b"GET /first HTTP/1.1\r\nHo");
    dir.gap(100);
    dir.push(b"ader: lost\r\n\r\nGET /second HTTP/1.1\r\n\r\n");
    let requests = dir.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].uri, "/second");
    assert_eq!(dir.stats.gap_bytes, 100);
    assert_eq!(dir.stats.skipped_bytes, 23 + 14);
}

#[test]
fn too_many_headers_is_a_counted_error() {
    let limits = Limits { max_headers: 4, ..Limits::default() };
    let mut dir = Direction::with_limits(Role::Request, limits);
    let mut message = b"GET /many HTTP/1.1\r\n".to_vec();
    for k in 0..100_000 {
        write!(message, "X-{k}: v\r\n").unwrap();
    }
    message.extend_from_slice(b"\r\nGET /ok HTTP/1.1\r\nA: 1\r\n\r\n");
    dir.push(&message);
    assert_eq!(dir.stats.header_too_long, 1);
    assert_eq!(dir.requests().iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(), ["/ok"]);
    let mut dir = Direction::with_limits(Role::Request, limits);
    dir.push(b"GET /five HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
    assert_eq!(dir.stats.too_many_headers, 1);
    assert_eq!(dir.requests().iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(), ["/ok"]);
    // The same limit for a request line only the lenient reading accepts.
    let mut dir = Direction::with_limits(Role::Request, limits);
    dir.push(b"GET /five HTTP/1.\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\nGET /four HTTP/1.\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    assert_eq!(dir.stats.too_many_headers, 1);
    assert_eq!(dir.requests().iter().map(|r| (r.uri.as_str(), r.headers.len())).collect::<Vec<_>>(), [("/four", 4)]);
}

#[test]
fn heads_with_more_fields_than_the_first_try_holds_keep_every_field_in_order() {
    // The first parse has room for 32 fields; a head with more is parsed again with
    // `max_headers` slots, twice here so that the recycled slots are used too.
    let mut dir = Direction::new(Role::Request);
    let mut message = Vec::new();
    for uri in ["/first", "/second"] {
        write!(message, "GET {uri} HTTP/1.1\r\n").unwrap();
        for k in 0..40 {
            write!(message, "X-{k}: {k}\r\n").unwrap();
        }
        message.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    }
    dir.push(&message);
    let requests = dir.requests();
    assert_eq!(requests.iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(), ["/first", "/second"]);
    for request in &requests {
        let names: Vec<String> = request.headers.iter().map(|h| h.name().to_owned()).collect();
        let mut expected: Vec<String> = (0..40).map(|k| format!("X-{k}")).collect();
        expected.push("Content-Length".to_owned());
        assert_eq!(names, expected);
        assert_eq!(request.body.len, 2);
    }
    // A request line httparse refuses still gets its fields, past the first 32 too.
    let mut dir = Direction::new(Role::Request);
    let mut message = b"GET /lenient HTTP/1.\r\n".to_vec();
    for k in 0..40 {
        write!(message, "X-{k}: {k}\r\n").unwrap();
    }
    message.extend_from_slice(b"Host: example\r\n\r\n");
    dir.push(&message);
    let requests = dir.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].uri, "/lenient");
    assert_eq!(requests[0].headers.len(), 41);
    assert_eq!(requests[0].host(), Some("example"));
}

#[test]
fn a_huge_header_line_stays_within_max_header_bytes() {
    let limits = Limits { max_header_bytes: 4096, ..Limits::default() };
    let mut dir = Direction::with_limits(Role::Request, limits);
    dir.push(b"GET /huge HTTP/1.1\r\nX-Long: ");
    let filler = Bytes::from(vec![b'a'; 1 << 20]);
    for _ in 0..100 {
        dir.push_bytes(filler.clone());
        assert!(dir.parser.buffered() <= 2 * 4096 + 64);
    }
    dir.push(b"\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
    assert_eq!(dir.stats.header_too_long, 1);
    assert_eq!(dir.requests().iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(), ["/next"]);
}

#[test]
fn a_four_gigabyte_body_keeps_only_max_body() {
    let limits = Limits { max_body: 1000, ..Limits::default() };
    let mut dir = Direction::with_limits(Role::Response, limits);
    let total: u64 = 4 << 30;
    dir.push(format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n").as_bytes());
    let block = Bytes::from(vec![b'z'; 1 << 20]);
    for _ in 0..(total >> 20) {
        dir.push_bytes(block.clone());
    }
    let responses = dir.responses();
    assert_eq!(responses.len(), 1);
    let body = &responses[0].0.body;
    assert_eq!(body.len, total);
    assert_eq!(body.data.len(), 1000);
    assert!(body.truncated());
}

#[test]
fn content_length_near_u64_max_never_overflows() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nabc");
    dir.gap(u64::MAX / 2);
    dir.push(b"def");
    dir.finish();
    let responses = dir.responses();
    assert_eq!(responses.len(), 1);
    assert!(!responses[0].0.complete);
    let mut dir = Direction::new(Role::Request);
    dir.push(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(dir.requests().len(), 2);
}

#[test]
fn conflicting_content_lengths_are_counted() {
    let mut dir = Direction::new(Role::Request);
    dir.push(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n\r\n");
    assert_eq!(dir.stats.conflicting_lengths, 1);
    // The last value wins, as in Wireshark.
    let requests = dir.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(body_text(&requests[0].body), "abcde");
}

#[test]
fn framing_fields_are_read_whatever_their_case_and_only_by_their_exact_names() {
    // Names in any case frame the body; near misses do not.
    for name in ["Content-Length", "content-length", "CONTENT-LENGTH", "cOnTeNt-LeNgTh"] {
        let mut dir = Direction::new(Role::Request);
        dir.push(format!("POST / HTTP/1.1\r\n{name}: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n").as_bytes());
        let requests = dir.requests();
        assert_eq!(requests.len(), 2, "{name}");
        assert_eq!(body_text(&requests[0].body), "abc", "{name}");
    }
    for name in ["Content-Lengths", "Content-Lengt", "Content_Length", "Content-Lenhth", "XContent-Length"] {
        let mut dir = Direction::new(Role::Request);
        dir.push(format!("POST / HTTP/1.1\r\n{name}: 3\r\n\r\nGET / HTTP/1.1\r\n\r\n").as_bytes());
        let requests = dir.requests();
        assert_eq!(requests.len(), 2, "{name}");
        assert_eq!(requests[0].body.len, 0, "{name}");
    }
    for name in ["Transfer-Encoding", "TRANSFER-ENCODING", "transfer-encoding"] {
        let mut dir = Direction::new(Role::Response);
        dir.push(format!("HTTP/1.1 200 OK\r\n{name}: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").as_bytes());
        let responses = dir.responses();
        assert_eq!(responses.len(), 1, "{name}");
        assert_eq!(body_text(&responses[0].0.body), "abc", "{name}");
    }
    // A response whose coding field is misnamed is read until the connection closes.
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nTransfer-Encodings: chunked\r\n\r\n3\r\nabc\r\n");
    dir.finish();
    assert_eq!(body_text(&dir.responses()[0].0.body), "3\r\nabc\r\n");
}

#[test]
fn content_length_values_plain_listed_and_malformed() {
    let cases: &[(&str, Option<&str>, u64)] = &[
        // (value, body read before the next request, conflicts counted)
        ("3", Some("abc"), 0),
        ("0000003", Some("abc"), 0),
        ("3, 3", Some("abc"), 0),
        ("5,3", Some("abc"), 1),
        ("3 ,", None, 0),
        ("+3", None, 0),
        ("3a", None, 0),
        ("", None, 0),
    ];
    for (value, body, conflicts) in cases {
        let mut dir = Direction::new(Role::Request);
        dir.push(format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\nabc\r\nGET / HTTP/1.1\r\n\r\n").as_bytes());
        assert_eq!(dir.stats.conflicting_lengths, *conflicts, "{value}");
        let requests = dir.requests();
        match body {
            Some(body) => {
                assert_eq!(requests.len(), 2, "{value}");
                assert_eq!(body_text(&requests[0].body), *body, "{value}");
            }
            // Malformed: no body, and the line after the head is skipped to the next
            // request.
            None => {
                assert_eq!(requests.len(), 2, "{value}");
                assert_eq!(requests[0].body.len, 0, "{value}");
                assert_eq!(dir.stats.skipped_bytes, 5, "{value}");
            }
        }
    }
    // Nineteen digits are read as a number: the body then swallows the 23 bytes that
    // follow, up to the end of the stream.
    let mut dir = Direction::new(Role::Request);
    dir.push(b"POST / HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\nabc\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(dir.requests().len(), 0);
    dir.finish();
    let requests = dir.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body.len, 23);
}

#[test]
fn gzip_body_is_decoded_and_a_bad_one_reported() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"hello, compressed world").unwrap();
    let compressed = gz.finish().unwrap();
    let limits = Limits { decode: true, ..Limits::default() };
    let mut dir = Direction::with_limits(Role::Response, limits);
    let head = format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", compressed.len());
    dir.push(head.as_bytes());
    dir.push(&compressed);
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nnope!");
    let responses = dir.responses();
    let good = responses[0].0.body.decoded.as_ref().unwrap();
    assert_eq!(good.data, b"hello, compressed world");
    assert!(good.error.is_none());
    let bad = responses[1].0.body.decoded.as_ref().unwrap();
    assert!(bad.error.is_some());
    assert_eq!(dir.stats.decode_errors, 1);
}

#[test]
fn deflate_body_is_decoded_zlib_or_raw() {
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(b"zlib wrapped").unwrap();
    let zlib = zlib.finish().unwrap();
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(b"raw deflate").unwrap();
    let raw = raw.finish().unwrap();
    let limits = Limits { decode: true, ..Limits::default() };
    let mut dir = Direction::with_limits(Role::Response, limits);
    for body in [&zlib, &raw] {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: {}\r\n\r\n", body.len());
        dir.push(head.as_bytes());
        dir.push(body);
    }
    let responses = dir.responses();
    assert_eq!(responses[0].0.body.decoded.as_ref().unwrap().data, b"zlib wrapped");
    assert_eq!(responses[1].0.body.decoded.as_ref().unwrap().data, b"raw deflate");
    assert_eq!(dir.stats.decode_errors, 0);
}

#[test]
fn decoded_output_is_bounded_by_max_body() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 1 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    let limits = Limits { decode: true, max_body: 64 << 10, ..Limits::default() };
    let mut dir = Direction::with_limits(Role::Response, limits);
    let head = format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", bomb.len());
    dir.push(head.as_bytes());
    dir.push(&bomb);
    let decoded = dir.responses()[0].0.body.decoded.clone().unwrap();
    assert_eq!(decoded.data.len(), 64 << 10);
    assert!(decoded.truncated);
}

// Session-level tests: pairing.

struct Conversation {
    session: HttpSession,
    client: Endpoint,
    server: Endpoint,
    offsets: [u64; 2],
    clock: u64,
    shared: Shared,
    emitted: Vec<Emitted>,
}

impl Conversation {
    fn new() -> Conversation {
        Conversation::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Conversation {
        Conversation::with_mode(limits, false)
    }

    /// A conversation whose session only counts (as when nobody subscribed to the
    /// HTTP events), or builds every event.
    fn with_mode(limits: Limits, count_only: bool) -> Conversation {
        let client = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
        let server = Endpoint::new("10.0.0.2".parse().unwrap(), 8080);
        let id = SessionId::new(&SocketPair::new(client, server), 1);
        Conversation {
            session: HttpSession::new(id),
            client,
            server,
            offsets: [0, 0],
            clock: 0,
            shared: Shared { limits, count_only, ..Shared::default() },
            emitted: Vec::new(),
        }
    }

    fn send(&mut self, side: usize, bytes: &[u8]) -> &mut Self {
        self.clock += 1;
        let from = if side == 0 { self.client } else { self.server };
        let data = Bytes::copy_from_slice(bytes);
        self.session.data(from, self.offsets[side], &data, ts(self.clock), &mut self.shared, &mut self.emitted);
        self.offsets[side] += bytes.len() as u64;
        self
    }

    fn c(&mut self, bytes: &[u8]) -> &mut Self {
        self.send(0, bytes)
    }

    fn s(&mut self, bytes: &[u8]) -> &mut Self {
        self.send(1, bytes)
    }

    fn gap(&mut self, side: usize, len: u64) -> &mut Self {
        self.offsets[side] += len;
        self
    }

    fn end(&mut self) -> &mut Self {
        let (client, server) = (self.client, self.server);
        self.session.stream_end(client, &mut self.shared, &mut self.emitted);
        self.session.stream_end(server, &mut self.shared, &mut self.emitted);
        self.session.session_end(&mut self.shared, &mut self.emitted);
        self
    }

    /// One line per emitted event.
    fn lines(&self) -> Vec<String> {
        self.emitted
            .iter()
            .map(|e| match e {
                Emitted::Request(r) => format!("request {} {} {}", r.index, r.request.method, r.request.uri),
                Emitted::Response(r) => format!(
                    "response {} for {}",
                    r.response.status,
                    r.request_index.map_or("-".to_owned(), |i| i.to_string())
                ),
                Emitted::Transaction(t) => format!(
                    "transaction {} {} {}{}",
                    t.index,
                    t.request.uri,
                    t.response.as_ref().map_or("-".to_owned(), |r| r.status.to_string()),
                    if t.interim.is_empty() { String::new() } else { format!(" interim={}", t.interim.len()) }
                ),
            })
            .collect()
    }

    fn transactions(&self) -> Vec<String> {
        self.lines().into_iter().filter(|l| l.starts_with("transaction")).collect()
    }
}

#[test]
fn keep_alive_requests_pair_in_turn() {
    let mut conv = Conversation::new();
    conv.c(b"GET /1 HTTP/1.1\r\n\r\n").s(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
    conv.c(b"GET /2 HTTP/1.1\r\n\r\n").s(b"HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n").end();
    assert_eq!(
        conv.lines(),
        [
            "request 1 GET /1",
            "response 200 for 1",
            "transaction 1 /1 200",
            "request 2 GET /2",
            "response 404 for 2",
            "transaction 2 /2 404"
        ]
    );
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut conv = Conversation::new();
    conv.c(b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
    conv.s(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    conv.s(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc").end();
    assert_eq!(conv.transactions(), ["transaction 1 /a 200", "transaction 2 /b 200", "transaction 3 /c 200"]);
}

#[test]
fn continue_100_is_an_interim_response_of_its_request() {
    let mut conv = Conversation::new();
    conv.c(b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    conv.s(b"HTTP/1.1 100 Continue\r\n\r\n");
    conv.c(b"data");
    conv.s(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").end();
    assert_eq!(
        conv.lines(),
        ["response 100 for 1", "request 1 POST /up", "response 201 for 1", "transaction 1 /up 201 interim=1"]
    );
}

#[test]
fn unanswered_request_is_reported_before_the_session_ends() {
    let mut conv = Conversation::new();
    conv.c(b"GET /a HTTP/1.1\r\n\r\n").s(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    conv.c(b"GET /b HTTP/1.1\r\n\r\n");
    let server = conv.server;
    conv.session.stream_end(server, &mut conv.shared, &mut conv.emitted);
    assert_eq!(conv.transactions(), ["transaction 1 /a 200", "transaction 2 /b -"]);
}

#[test]
fn response_without_request_has_no_index() {
    let mut conv = Conversation::new();
    conv.s(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    conv.c(b"GET /next HTTP/1.1\r\n\r\n").s(b"HTTP/1.1 304 Not Modified\r\n\r\n").end();
    assert_eq!(
        conv.lines(),
        [
            "response 200 for -",
            "response 200 for -",
            "request 1 GET /next",
            "response 304 for 1",
            "transaction 1 /next 304"
        ]
    );
}

#[test]
fn capture_starting_mid_body_resyncs_and_detects() {
    let mut conv = Conversation::new();
    conv.s(b"tail of an earlier body\r\n");
    conv.c(b"GET /x HTTP/1.1\r\n\r\n").s(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").end();
    assert_eq!(conv.transactions(), ["transaction 1 /x 200"]);
    assert_eq!(conv.shared.stats.skipped_bytes, 25);
}

#[test]
fn response_side_gap_never_pairs_a_response_with_the_wrong_request() {
    let mut conv = Conversation::new();
    conv.c(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    // The first response's head is lost: nobody can tell which request the next answers.
    conv.s(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").gap(1, 500);
    conv.s(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    conv.c(b"GET /c HTTP/1.1\r\n\r\n").s(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").end();
    assert_eq!(
        conv.transactions(),
        ["transaction 1 /a 200", "transaction 2 /b -", "transaction 3 /c 202"],
        "{:#?}",
        conv.lines()
    );
    assert!(conv.lines().contains(&"response 200 for -".to_owned()), "{:#?}", conv.lines());
}

#[test]
fn request_side_gap_keeps_earlier_pairs_and_drops_uncertain_ones() {
    let mut conv = Conversation::new();
    conv.c(b"GET /a HTTP/1.1\r\n\r\n").gap(0, 40).c(b"GET /c HTTP/1.1\r\n\r\n");
    conv.s(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    conv.s(b"HTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n");
    conv.s(b"HTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n").end();
    assert_eq!(conv.transactions(), ["transaction 1 /a 200", "transaction 2 /c -"], "{:#?}", conv.lines());
    assert_eq!(conv.lines().iter().filter(|l| l.ends_with("for -")).count(), 2);
}

#[test]
fn switching_protocols_stops_parsing_the_session() {
    let mut conv = Conversation::new();
    conv.c(b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    conv.s(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello");
    conv.c(b"\x81\x85GET / HTTP/1.1\r\n\r\n").end();
    assert_eq!(conv.lines(), ["request 1 GET /chat", "response 101 for 1", "transaction 1 /chat 101"]);
    assert_eq!(conv.shared.counts.upgraded_sessions, 1);
    assert_eq!(conv.shared.stats.skipped_bytes, 0);
}

#[test]
fn successful_connect_turns_the_session_into_a_tunnel() {
    let mut conv = Conversation::new();
    conv.c(b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n");
    conv.s(b"HTTP/1.1 200 Connection established\r\n\r\n");
    conv.c(b"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n\r\n").s(b"\x16\x03\x03").end();
    assert_eq!(conv.transactions(), ["transaction 1 example.org:443 200"]);
    assert_eq!(conv.shared.counts.upgraded_sessions, 1);
}

#[test]
fn non_http_session_is_left_alone() {
    let mut conv = Conversation::new();
    conv.c(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").s(b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76");
    let big = vec![0x17u8; 20_000];
    conv.c(&big).s(&big).end();
    assert!(conv.lines().is_empty());
    assert!(conv.session.is_inert());
    assert_eq!(conv.shared.counts.not_http_sessions, 1);
}

#[test]
fn request_line_typed_a_byte_at_a_time_is_detected() {
    let mut conv = Conversation::new();
    for byte in b"GET /slow HTTP/1.0\r\n\r\n" {
        conv.c(&[*byte]);
    }
    conv.s(b"HTTP/1.0 200 OK\r\n\r\nbody until close").end();
    assert_eq!(conv.transactions(), ["transaction 1 /slow 200"]);
    assert_eq!(conv.shared.stats.skipped_bytes, 0);
}

#[test]
fn transaction_times_span_request_start_to_response_end() {
    let mut conv = Conversation::new();
    conv.c(b"GET / HTTP/1.1\r\n").c(b"\r\n");
    conv.s(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab").s(b"cd").end();
    let Some(Emitted::Transaction(t)) = conv.emitted.iter().find(|e| matches!(e, Emitted::Transaction(_))) else {
        panic!("no transaction: {:?}", conv.lines())
    };
    assert_eq!(t.t_start, ts(1));
    assert_eq!(t.request_end, ts(2));
    assert_eq!(t.response_start, Some(ts(3)));
    assert_eq!(t.t_end, ts(4));
    assert_eq!(t.t_elapsed.to_string(), "0.000003");
    assert!(!t.unanswered);
}

/// A summary of what a parser reported, independent of how the stream was cut.
fn summary(out: &[ParserOutput]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            ParserOutput::RequestHead { head, connect } => format!("head {head} {connect}"),
            ParserOutput::Request(r) => format!(
                "request {} {} {:?} body={:?} trailers={:?} {:?} {}",
                r.method,
                r.uri,
                r.headers,
                r.body.data.to_vec(),
                r.body.trailers,
                r.range,
                r.complete
            ),
            ParserOutput::Response { response: r, answers } => format!(
                "response {} {:?} body={:?} trailers={:?} {:?} {} {answers:?}",
                r.status,
                r.headers,
                r.body.data.to_vec(),
                r.body.trailers,
                r.range,
                r.complete
            ),
            ParserOutput::LostSync => "lost".to_owned(),
            ParserOutput::PairingLost => "pairing lost".to_owned(),
            ParserOutput::Upgraded => "upgraded".to_owned(),
            ParserOutput::RequestEnded => "request".to_owned(),
            ParserOutput::ResponseEnded { status, answers } => format!("response {status} {answers:?}"),
        })
        .collect()
}

const REQUESTS: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n\
\r\nPUT /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
junk line\r\nDELETE /d HTTP/1.0\n\n";

const RESPONSES: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n\
HTTP/1.0 200 OK\r\n\r\nto the end";

fn parse_in_pieces(role: Role, stream: &[u8], cuts: &[usize]) -> (Vec<String>, ParserStats) {
    let mut dir = Direction::new(role);
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let cut = cut.clamp(start, stream.len());
        dir.push(&stream[start..cut]);
        start = cut;
    }
    dir.finish();
    (summary(&dir.out), dir.stats)
}

#[test]
fn any_single_cut_gives_the_same_messages() {
    for (role, stream) in [(Role::Request, REQUESTS), (Role::Response, RESPONSES)] {
        let (whole, whole_stats) = parse_in_pieces(role, stream, &[]);
        assert!(whole.len() >= 5, "{whole:#?}");
        for cut in 1..stream.len() {
            let (pieces, stats) = parse_in_pieces(role, stream, &[cut]);
            assert_eq!(pieces, whole, "{role:?} cut at {cut}");
            assert_eq!(stats.skipped_bytes, whole_stats.skipped_bytes, "{role:?} cut at {cut}");
        }
    }
}

#[test]
fn random_cuts_give_the_same_messages() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (role, stream) in [(Role::Request, REQUESTS), (Role::Response, RESPONSES)] {
        let (whole, _) = parse_in_pieces(role, stream, &[]);
        for _ in 0..500 {
            let mut cuts: Vec<usize> = (0..rng.below(12)).map(|_| rng.below(stream.len() as u64) as usize).collect();
            cuts.sort_unstable();
            assert_eq!(parse_in_pieces(role, stream, &cuts).0, whole, "{role:?} cuts {cuts:?}");
        }
    }
}

#[test]
fn random_bytes_gaps_and_fragments_never_panic() {
    let mut rng = Rng(42);
    let pieces: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 18446744073709551616\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
        b"ffffffffffffffffff\r\n",
        b"3\r\nabc\r\n",
        b"0\r\n\r\n",
        b"\x00\xff\x80junk",
        b"HTTP/1.1 101 Switching\r\n\r\n",
        b"HEAD /x HTTP/1.1\r\n\r\n",
    ];
    for round in 0..300 {
        let limits = Limits {
            max_headers: 1 + rng.below(8) as usize,
            max_header_bytes: 16 + rng.below(200) as usize,
            max_body: rng.below(64),
            decode: round % 2 == 0,
        };
        for role in [Role::Request, Role::Response] {
            let mut dir = Direction::with_limits(role, limits);
            for _ in 0..rng.below(40) {
                match rng.below(10) {
                    0 => {
                        dir.gap(rng.below(1 << 20));
                    }
                    1 => {
                        let noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
                        dir.push(&noise);
                    }
                    _ => {
                        let piece = pieces[rng.below(pieces.len() as u64) as usize];
                        let cut = rng.below(piece.len() as u64 + 1) as usize;
                        dir.push(&piece[..cut]);
                        dir.push(&piece[cut..]);
                    }
                }
                assert!(dir.parser.buffered() <= 2 * (limits.max_header_bytes + 64).max(64));
            }
            dir.finish();
        }
    }
}

#[test]
fn malformed_request_lines_are_read_leniently() {
    let mut dir = Direction::new(Role::Request);
    dir.push(b"OPTIONS HTTP/1.1\r\nHost: a\r\n\r\nGET /HTTP/1.1\r\n\r\nGET / HTTP/1.\r\n\r\nOPTIONS\r\n\r\n");
    let seen: Vec<(String, String, String)> =
        dir.requests().iter().map(|r| (r.method.clone(), r.uri.clone(), r.version.to_string())).collect();
    let expect = |m: &str, u: &str, v: &str| (m.to_owned(), u.to_owned(), v.to_owned());
    assert_eq!(
        seen,
        [
            expect("OPTIONS", "HTTP/1.1", "HTTP/0.9"),
            expect("GET", "/HTTP/1.1", "HTTP/0.9"),
            expect("GET", "/", "HTTP/0.9"),
            expect("OPTIONS", "", "HTTP/0.9"),
        ]
    );
    assert_eq!(dir.requests()[0].host(), Some("a"));
}

#[test]
fn http09_request_cut_by_the_stream_end_is_reported() {
    let mut dir = Direction::new(Role::Request);
    dir.push(b"GET /old\r\n").finish();
    assert_eq!(dir.requests().iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(), ["/old"]);
}

#[test]
fn endless_pipelining_without_answers_stays_bounded() {
    let mut conv = Conversation::new();
    let request = b"GET /again HTTP/1.1\r\n\r\n";
    for _ in 0..(3 * crate::session::MAX_PENDING) {
        conv.c(request);
    }
    assert!(conv.session.pending() <= crate::session::MAX_PENDING);
    assert!(conv.shared.counts.pending_overflows >= 1);
    assert!(conv.transactions().len() >= crate::session::MAX_PENDING);
}

#[test]
fn endless_interim_responses_stay_bounded() {
    let mut conv = Conversation::new();
    conv.c(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    for _ in 0..1000 {
        conv.s(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    conv.c(b"x").s(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").end();
    assert_eq!(conv.transactions(), ["transaction 1 /x 200 interim=16"]);
}

#[test]
fn a_body_sent_a_byte_at_a_time_is_kept_in_bounded_pieces() {
    let mut dir = Direction::new(Role::Response);
    dir.push(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    for k in 0..5000u32 {
        dir.push(&[b'a' + (k % 26) as u8]);
    }
    let responses = dir.responses();
    let body = &responses[0].0.body;
    assert_eq!(body.data.len(), 5000);
    assert!(body.data.chunks().len() <= 1025, "{} pieces", body.data.chunks().len());
    let expected: Vec<u8> = (0..5000u32).map(|k| b'a' + (k % 26) as u8).collect();
    assert_eq!(body.data.to_vec(), expected);
}

#[test]
fn chunked_gzip_body_is_dechunked_then_decoded() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"chunked and compressed").unwrap();
    let compressed = gz.finish().unwrap();
    let (first, second) = compressed.split_at(compressed.len() / 2);
    let mut stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
    for part in [first, second] {
        stream.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        stream.extend_from_slice(part);
        stream.extend_from_slice(b"\r\n");
    }
    stream.extend_from_slice(b"0\r\n\r\n");
    let limits = Limits { decode: true, ..Limits::default() };
    let mut dir = Direction::with_limits(Role::Response, limits);
    for piece in stream.chunks(7) {
        dir.push(piece);
    }
    let responses = dir.responses();
    let decoded = responses[0].0.body.decoded.as_ref().unwrap();
    assert_eq!(decoded.data, b"chunked and compressed");
    assert_eq!(decoded.coding, crate::ContentCoding::Gzip);
    assert!(decoded.error.is_none());
}

#[test]
fn counting_only_gives_the_counts_of_the_events() {
    let mut rng = Rng(0x5eed_c0de);
    let client: &[&[u8]] = &[
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /h HTTP/1.1\r\n\r\n",
        b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        b"CONNECT h:443 HTTP/1.1\r\n\r\n",
        b"GET /09\r\n",
        b"\x00\xffjunk\r\n",
    ];
    let server: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    ];
    let mut seen = [0u64; 4];
    for round in 0..400 {
        let limits = Limits { max_header_bytes: 16 + rng.below(100) as usize, ..Limits::default() };
        let seed = rng.next();
        let run = |count_only: bool| {
            let mut rng = Rng(seed);
            let mut conv = Conversation::with_mode(limits, count_only);
            for _ in 0..rng.below(30) {
                let side = rng.below(2) as usize;
                let pieces = if side == 0 { client } else { server };
                match rng.below(12) {
                    0 => {
                        conv.gap(side, 1 + rng.below(50));
                    }
                    1 => {
                        let server = conv.server;
                        conv.session.stream_end(server, &mut conv.shared, &mut conv.emitted);
                    }
                    _ => {
                        let piece = pieces[rng.below(pieces.len() as u64) as usize];
                        let cut = rng.below(piece.len() as u64 + 1) as usize;
                        conv.send(side, &piece[..cut]).send(side, &piece[cut..]);
                    }
                }
            }
            conv.end();
            conv
        };
        let full = run(false);
        let counted = run(true);
        assert!(counted.emitted.is_empty(), "round {round}");
        assert_eq!(format!("{:?}", counted.shared.counts), format!("{:?}", full.shared.counts), "round {round}");
        assert_eq!(counted.shared.stats, full.shared.stats, "round {round}");
        let count = |kind: fn(&Emitted) -> bool| full.emitted.iter().filter(|e| kind(e)).count() as u64;
        let counts = &full.shared.counts;
        assert_eq!(counts.requests, count(|e| matches!(e, Emitted::Request(_))), "round {round}");
        assert_eq!(counts.responses, count(|e| matches!(e, Emitted::Response(_))), "round {round}");
        assert_eq!(counts.transactions, count(|e| matches!(e, Emitted::Transaction(_))), "round {round}");
        assert_eq!(counts.unanswered, count(|e| matches!(e, Emitted::Transaction(t) if t.unanswered)), "round {round}");
        for (total, n) in
            seen.iter_mut().zip([counts.transactions, counts.unanswered, counts.interim, counts.orphan_responses])
        {
            *total += n;
        }
    }
    // The scripts reach every kind of count.
    assert!(seen.iter().all(|n| *n > 0), "{seen:?}");
}

/// What a parser reported, reduced to what one that keeps no details reports too.
fn numbers(out: &[ParserOutput]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            ParserOutput::Request(_) | ParserOutput::RequestEnded => "request".to_owned(),
            ParserOutput::Response { response, answers } => format!("response {} {answers:?}", response.status),
            ParserOutput::ResponseEnded { status, answers } => format!("response {status} {answers:?}"),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn parsers_without_details_report_the_same_messages_and_counts() {
    let mut rng = Rng(0xde7a_115e);
    for (role, stream) in [(Role::Request, REQUESTS), (Role::Response, RESPONSES)] {
        for round in 0..300 {
            let mut cuts: Vec<usize> = (0..rng.below(12)).map(|_| rng.below(stream.len() as u64) as usize).collect();
            cuts.sort_unstable();
            let gap_at = rng.below(stream.len() as u64 * 2) as usize;
            let run = |keep: bool| {
                let mut dir = Direction::new(role);
                dir.parser.keep_details(keep);
                for k in 0..4u32 {
                    dir.parser.expect(Expect::Request { index: k + 1, head: false, connect: false });
                }
                let mut start = 0;
                for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
                    let cut = cut.clamp(start, stream.len());
                    if (start..cut).contains(&gap_at) {
                        dir.gap(7);
                    }
                    dir.push(&stream[start..cut]);
                    start = cut;
                }
                dir.finish();
                (numbers(&dir.out), dir.stats)
            };
            let (with_details, stats) = run(true);
            let (without, lean_stats) = run(false);
            assert_eq!(without, with_details, "{role:?} round {round} cuts {cuts:?}");
            assert_eq!(lean_stats, stats, "{role:?} round {round}");
            assert!(!without.is_empty());
        }
    }
}
