//! The per-packet path allocates nothing once warmed up: reading and decoding a capture of
//! TCP, UDP and non-IP frames makes no allocation after the first packets.
//!
//! A test binary of its own without the test harness (`harness = false`), so no other
//! thread (another test, the harness itself) allocates while this one counts.

use std::alloc::System;
use std::io::Cursor;

use etherparse::PacketBuilder;
use netanalysis_capture::CaptureReader;
use netanalysis_core::LinkType;
use netanalysis_test_support::PcapNgWriter;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn frame(i: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    match i % 3 {
        0 => builder.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 80, i, 1000).write(&mut out, &[b'x'; 700]),
        1 => builder.ipv6([1; 16], [2; 16], 64).udp(5353, 53).write(&mut out, b"query"),
        _ => {
            let mut arp = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06];
            arp.extend_from_slice(&[0; 28]);
            return arp;
        }
    }
    .unwrap();
    out
}

fn capture(n: u32) -> Vec<u8> {
    let mut file = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    file.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    file.extend_from_slice(&65535u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    for i in 0..n {
        let frame = frame(i);
        file.extend_from_slice(&i.to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&frame);
    }
    file
}

/// The same packets as pcapng, each block with an epb_flags option, as Wireshark writes.
fn capture_ng(n: u32) -> Vec<u8> {
    let mut file = PcapNgWriter::new(false);
    file.interface(LinkType::ETHERNET, None);
    for i in 0..n {
        file.packet(0, u64::from(i), &frame(i));
    }
    file.into_bytes()
}

fn reading_and_decoding_allocate_nothing_per_packet() {
    // Larger than the read buffer, so refills are part of the steady state.
    for file in [capture(6000), capture_ng(6000)] {
        count_steady_state_allocations(file);
    }
}

fn count_steady_state_allocations(file: Vec<u8>) {
    let mut reader = CaptureReader::from_reader("alloc.pcap", Box::new(Cursor::new(file))).unwrap();
    for _ in 0..10 {
        reader.next_packet().unwrap().unwrap();
    }
    let region = Region::new(GLOBAL);
    let mut packets = 0;
    let mut payload = 0;
    while let Some(packet) = reader.next_packet().unwrap() {
        packets += 1;
        payload += packet.payload.len();
    }
    let change = region.change();
    assert_eq!(packets, 5990);
    assert!(payload > 0);
    assert_eq!(change.allocations, 0, "{change:?}");
    assert_eq!(change.reallocations, 0, "{change:?}");
}

fn main() {
    reading_and_decoding_allocate_nothing_per_packet();
    eprintln!("alloc: 1 check passed");
}
