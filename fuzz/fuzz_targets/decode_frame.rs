//! Packet decoding for each link type: the first byte picks the link type (see
//! `netanalysis_fuzz::LINK_TYPES`), the rest is one frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netanalysis_capture::decode_frame;
use netanalysis_fuzz::{pick_link_type, within, Bytes};

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let link_type = pick_link_type(&mut input);
    let frame = input.rest();
    let decoded = decode_frame(link_type, frame);
    assert!(within(decoded.payload, frame), "the payload lies inside the frame");
    if let Some(fragment) = decoded.fragment {
        assert!(within(fragment.data, frame), "a fragment's bytes lie inside the frame");
        assert!(decoded.ip.is_some() || decoded.undecoded.is_some() || fragment.offset <= 65_535 * 8);
    }
    if decoded.undecoded.is_some() {
        assert!(decoded.payload.is_empty() || decoded.ip.is_some(), "an undecoded frame has no payload without IP");
    }
});
