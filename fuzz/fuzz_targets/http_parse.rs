//! HTTP message parsing: arbitrary bytes as the two directions of one TCP session,
//! through TCP and HTTP.
//!
//! Input: one byte for the segment size and the ending, then parts separated by
//! `netanalysis_fuzz::HTTP_PART_SEPARATOR`, alternating client and server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netanalysis_fuzz::{dispatcher, play_session, split_parts, Bytes, Feeder};

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let control = input.u8();
    let mss = match control & 0x3f {
        0 => 1460,
        n => usize::from(n) * 7,
    };
    let parts = split_parts(input.rest());
    // The input's length picks default or tight limits (and body decoding).
    let specs: &[&str] = if data.len().is_multiple_of(2) {
        &["TCP", "HTTP,v=1"]
    } else {
        &["TCP,max_monologue=300", "HTTP,max_body=64,max_headers=4,max_header_bytes=120,decode=1"]
    };
    let mut feeder = Feeder::new(dispatcher(specs, Vec::new()));
    play_session(&mut feeder, &parts, mss, control >> 6);
    feeder.finish();
});
