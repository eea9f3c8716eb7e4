//! Reassembly allocates per arena block and per monologue, never per packet, and
//! nothing at all in steady state when nobody keeps the monologue's bytes.
//!
//! A test binary of its own without the test harness (`harness = false`): the counting
//! allocator counts every thread's allocations, the harness's threads included.

use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr};

use netanalysis_core::{Endpoint, TcpFlags, Timestamp};
use netanalysis_tcp::{Segment, SegmentOutcome, SeqNumber, SessionLimits, TcpSession};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const MSS: usize = 1448;

fn segment(from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8], number: u64) -> Segment<'_> {
    let client = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
    let server = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);
    let (src, dst) = if from_client { (client, server) } else { (server, client) };
    Segment {
        packet: number,
        ts: Timestamp::from_micros(1_700_000_000, number as u32),
        src,
        dst,
        seq: SeqNumber(seq),
        ack: (flags & TcpFlags::ACK != 0).then_some(SeqNumber(ack)),
        flags: TcpFlags(flags),
        payload,
        uncaptured: 0,
        buffer: None,
    }
}

/// Pushes `SEGMENTS` in-order client segments through a session, after a handshake
/// and a warm-up; returns the allocations counted during those segments.
fn in_order_allocations(keep_monologue_data: bool) -> usize {
    let payload = vec![b'x'; MSS];
    let client_isn = u32::MAX - 5000;
    let server_isn = 77;
    let first = segment(true, client_isn, 0, TcpFlags::SYN, &[], 1);
    let mut session = TcpSession::new(&first, SessionLimits::default());
    session.keep_monologue_data(keep_monologue_data);
    let mut out = SegmentOutcome::default();
    session.push(&first, &mut out);
    session
        .push(&segment(false, server_isn, client_isn.wrapping_add(1), TcpFlags::SYN | TcpFlags::ACK, &[], 2), &mut out);
    let mut seq = client_isn.wrapping_add(1);
    let ack = server_isn.wrapping_add(1);
    session.push(&segment(true, seq, ack, TcpFlags::ACK, &[], 3), &mut out);
    // Warm up: the outcome's action list and the first arena blocks.
    let mut number = 4;
    for _ in 0..16 {
        session.push(&segment(true, seq, ack, TcpFlags::ACK | TcpFlags::PSH, &payload, number), &mut out);
        seq = seq.wrapping_add(MSS as u32);
        number += 1;
    }

    let region = Region::new(GLOBAL);
    for _ in 0..SEGMENTS {
        session.push(&segment(true, seq, ack, TcpFlags::ACK | TcpFlags::PSH, &payload, number), &mut out);
        seq = seq.wrapping_add(MSS as u32);
        number += 1;
    }
    let stats = region.change();
    eprintln!(
        "alloc: {} allocations, {} bytes for {SEGMENTS} in-order segments, monologue bytes {}",
        stats.allocations,
        stats.bytes_allocated,
        if keep_monologue_data { "kept" } else { "not kept" }
    );
    stats.allocations + stats.reallocations
}

const SEGMENTS: u32 = 2000;

fn main() {
    // The monologue holds every segment's bytes: arena blocks cannot be recycled, so a
    // new one is allocated per 16 KiB (11 segments), with a small shared header, and the
    // monologue's chunk and span lists double as they grow.
    let kept = in_order_allocations(true);
    let blocks = SEGMENTS as usize / (16 * 1024 / MSS);
    let allowed = 2 * blocks + 2 * 32;
    assert!(kept <= allowed, "{kept} allocations for {SEGMENTS} segments (allowed {allowed})");
    assert!(kept < SEGMENTS as usize / 4);

    // Nobody keeps the bytes (a TCP+HTTP run): each full block is reclaimed whole from
    // the pool once its bytes are released, so nothing is allocated.
    let not_kept = in_order_allocations(false);
    assert_eq!(not_kept, 0, "{not_kept} allocations for {SEGMENTS} segments whose bytes nobody keeps");
    eprintln!("alloc: 2 checks passed");
}
