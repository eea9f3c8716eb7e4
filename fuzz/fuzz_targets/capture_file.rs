//! pcap and pcapng parsing: arbitrary bytes as a capture file, through
//! `CaptureReader::from_reader`, read to the end or the first file-level error.
//!
//! The input's length picks tight or default defragmentation limits, so eviction is
//! exercised without a prefix byte spoiling the magic number.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use netanalysis_capture::{CaptureReader, DefragLimits};
use netanalysis_core::Summary;
use netanalysis_fuzz::within;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::from_reader("fuzz", Box::new(Cursor::new(data.to_vec()))) else {
        return;
    };
    if !data.len().is_multiple_of(2) {
        reader.set_defrag_limits(DefragLimits { max_datagrams: 3, max_bytes: 3000, timeout_nanos: 1_000_000 });
    }
    let mut packets = 0u64;
    while let Ok(Some(packet)) = reader.next_packet() {
        packets += 1;
        assert_eq!(packet.number, packets, "packets are numbered from 1 without gaps");
        assert!(packet.frame.len() <= data.len(), "a frame is never longer than the file");
        let reassembled = packet.ip.is_some_and(|ip| ip.reassembled);
        if !reassembled {
            assert!(within(packet.payload, packet.frame), "the payload lies inside the frame");
        }
    }
    let _ = reader.take_warnings();
    let mut summary = Summary::new();
    reader.report(&mut summary);
    assert_eq!(summary.count("packets_read"), packets);
});
