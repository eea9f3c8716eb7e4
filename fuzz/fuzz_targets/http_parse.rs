//! HTTP message parsing: arbitrary bytes as the two directions of one TCP session,
//! through TCP and HTTP, then the same parts straight into the HTTP crate's public
//! `MessageParser` (one per direction), with gaps, checking its memory bound.
//!
//! Input: one byte for the segment size and the ending, then parts separated by
//! `netanalysis_fuzz::HTTP_PART_SEPARATOR`, alternating client and server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netanalysis_core::Timestamp;
use netanalysis_fuzz::{dispatcher, play_session, split_parts, Bytes, Feeder};
use netanalysis_http::{Expect, Limits, MessageParser, ParserOutput, ParserStats, Role};

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let control = input.u8();
    let mss = match control & 0x3f {
        0 => 1460,
        n => usize::from(n) * 7,
    };
    let parts = split_parts(input.rest());
    // The input's length picks default limits with trace lines, tight limits with body
    // decoding, or counting only (TCP then withholds bodies and lends the rest).
    let roomy = data.len() % 3 != 1;
    let specs: &[&str] = match data.len() % 3 {
        0 => &["TCP", "HTTP,v=1"],
        1 => &["TCP,max_monologue=300", "HTTP,max_body=64,max_headers=4,max_header_bytes=120,decode=1"],
        _ => &["TCP", "HTTP"],
    };
    let mut feeder = Feeder::new(dispatcher(specs, Vec::new()));
    play_session(&mut feeder, &parts, mss, control >> 6);
    feeder.finish();
    parse_directly(&parts, mss, control >> 6, roomy);
});

/// Feeds client parts to a request parser and server parts to a response parser, in
/// segments of `mss` bytes; with `gaps` set, every third segment is skipped as lost.
fn parse_directly(parts: &[&[u8]], mss: usize, gaps: u8, roomy: bool) {
    let limits = if roomy {
        Limits::default()
    } else {
        Limits { max_body: 64, max_headers: 4, max_header_bytes: 120, decode: true }
    };
    let mut parsers = [MessageParser::new(Role::Request, limits), MessageParser::new(Role::Response, limits)];
    let mut offsets = [0u64; 2];
    let mut stats = ParserStats::default();
    let mut out = Vec::new();
    let mut requests = 0u32;
    for (i, part) in parts.iter().enumerate() {
        let side = i % 2;
        for (n, chunk) in part.chunks(mss.max(1)).enumerate() {
            let offset = offsets[side];
            offsets[side] += chunk.len() as u64;
            if gaps & 1 == 1 && n % 3 == 2 {
                continue;
            }
            let ts = Timestamp::from_micros(1_700_000_000 + i as u64, 0);
            parsers[side].push(offset, &bytes::Bytes::copy_from_slice(chunk), ts, &mut stats, &mut out);
            assert!(
                parsers[side].buffered() <= 2 * limits.max_header_bytes + 1024,
                "a head being assembled stays bounded by max_header_bytes: {} bytes held",
                parsers[side].buffered()
            );
            for output in out.drain(..) {
                if let ParserOutput::RequestHead { head, connect } = output {
                    requests += 1;
                    parsers[1].expect(Expect::Request { index: requests, head, connect });
                }
            }
        }
    }
    for parser in &mut parsers {
        parser.finish(&mut stats, &mut out);
    }
}
