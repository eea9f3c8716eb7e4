//! Reassembly benchmarks: the session table under many concurrent sessions, in-order
//! appends, and out-of-order inserts released by the segment that fills the hole.
//!
//! Run with `cargo bench -p netanalysis-tcp --bench reassembly`.

use std::net::{IpAddr, Ipv4Addr};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use netanalysis_core::{
    Dispatcher, Endpoint, IpInfo, LinkType, Packet, Position, TcpFlags, TcpHeader, Timestamp, Transport,
};
use netanalysis_tcp::{Segment, SegmentOutcome, SeqNumber, SessionLimits, TcpReassembler, TcpSession};

const MSS: usize = 1448;

fn endpoint(host: u32, port: u16) -> Endpoint {
    Endpoint::new(IpAddr::V4(Ipv4Addr::from(host)), port)
}

/// A decoded TCP packet, built by hand; `ack` sets the ACK flag.
fn packet(
    number: u64,
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: Option<u32>,
    flags: u8,
    payload: &[u8],
) -> Packet<'_> {
    let mut packet = Packet::empty(number, Timestamp::from_nanos(1_700_000_000_000_000_000 + number * 1000, 6));
    packet.link_type = LinkType::ETHERNET;
    packet.ip =
        Some(IpInfo { src: src.addr, dst: dst.addr, protocol: 6, ttl: 64, reassembled: false, fragment: false });
    packet.transport = Transport::Tcp(TcpHeader {
        src_port: src.port,
        dst_port: dst.port,
        seq,
        ack: ack.unwrap_or(0),
        flags: TcpFlags(if ack.is_some() { flags | TcpFlags::ACK } else { flags }),
        window: 65535,
        urgent: 0,
        header_len: 20,
    });
    packet.payload = payload;
    packet
}

/// Many concurrent sessions through the whole listener: each packet is a hash lookup
/// by socket pair, a push, a direction flip (one monologue per packet) and its events.
fn session_lookup(c: &mut Criterion) {
    const SESSIONS: u32 = 10_000;
    const PAYLOAD: usize = 100;
    let payload = vec![b'x'; PAYLOAD];
    let mut builder = Dispatcher::builder();
    builder.add("TCP", Some(Position::First), Box::new(TcpReassembler::default())).expect("first place is free");
    let mut dispatcher = builder.build();
    dispatcher.setup();
    let server = endpoint(0x0a00_0001, 80);
    let clients: Vec<Endpoint> = (0..SESSIONS).map(|i| endpoint(0x0b00_0000 + i, 40000)).collect();
    let mut seqs: Vec<(u32, u32)> = vec![(u32::MAX - 100, u32::MAX - 5000); clients.len()];
    let mut number = 0;
    for (client, (c_seq, s_seq)) in clients.iter().zip(seqs.iter_mut()) {
        number += 1;
        dispatcher.dispatch_packet(&packet(number, *client, server, *c_seq, None, TcpFlags::SYN, &[]));
        *c_seq = c_seq.wrapping_add(1);
        number += 1;
        dispatcher.dispatch_packet(&packet(number, server, *client, *s_seq, Some(*c_seq), TcpFlags::SYN, &[]));
        *s_seq = s_seq.wrapping_add(1);
        number += 1;
        dispatcher.dispatch_packet(&packet(number, *client, server, *c_seq, Some(*s_seq), 0, &[]));
    }
    let mut group = c.benchmark_group("session_lookup");
    group.throughput(Throughput::Elements(2 * u64::from(SESSIONS)));
    group.bench_function("10k_sessions_one_exchange_each", |b| {
        b.iter(|| {
            for (client, (c_seq, s_seq)) in clients.iter().zip(seqs.iter_mut()) {
                number += 1;
                dispatcher.dispatch_packet(&packet(
                    number,
                    *client,
                    server,
                    *c_seq,
                    Some(*s_seq),
                    TcpFlags::PSH,
                    &payload,
                ));
                *c_seq = c_seq.wrapping_add(PAYLOAD as u32);
                number += 1;
                dispatcher.dispatch_packet(&packet(
                    number,
                    server,
                    *client,
                    *s_seq,
                    Some(*c_seq),
                    TcpFlags::PSH,
                    &payload,
                ));
                *s_seq = s_seq.wrapping_add(PAYLOAD as u32);
            }
        })
    });
    group.finish();
}

fn established(isn: u32) -> (TcpSession, u32, SegmentOutcome) {
    let client = endpoint(0x0a00_0001, 40000);
    let server = endpoint(0x0a00_0002, 80);
    let limits = SessionLimits { max_monologue: 1 << 20, ..SessionLimits::default() };
    let syn = Segment {
        packet: 1,
        ts: Timestamp::from_micros(1_700_000_000, 0),
        src: client,
        dst: server,
        seq: SeqNumber(isn),
        ack: None,
        flags: TcpFlags(TcpFlags::SYN),
        payload: &[],
        uncaptured: 0,
        buffer: None,
    };
    let mut session = TcpSession::new(&syn, limits);
    let mut out = SegmentOutcome::default();
    session.push(&syn, &mut out);
    let syn_ack = Segment {
        src: server,
        dst: client,
        seq: SeqNumber(7),
        ack: Some(SeqNumber(isn.wrapping_add(1))),
        flags: TcpFlags(TcpFlags::SYN | TcpFlags::ACK),
        ..syn
    };
    session.push(&syn_ack, &mut out);
    let ack =
        Segment { seq: SeqNumber(isn.wrapping_add(1)), ack: Some(SeqNumber(8)), flags: TcpFlags(TcpFlags::ACK), ..syn };
    session.push(&ack, &mut out);
    (session, isn.wrapping_add(1), out)
}

fn data_segment(seq: u32, payload: &[u8], number: u64) -> Segment<'_> {
    Segment {
        packet: number,
        ts: Timestamp::from_micros(1_700_000_000, 1),
        src: endpoint(0x0a00_0001, 40000),
        dst: endpoint(0x0a00_0002, 80),
        seq: SeqNumber(seq),
        ack: Some(SeqNumber(8)),
        flags: TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
        payload,
        uncaptured: 0,
        buffer: None,
    }
}

/// One session's in-order segments: copy into the arena, one data action each.
fn in_order_append(c: &mut Criterion) {
    const SEGMENTS: usize = 1000;
    let payload = vec![b'y'; MSS];
    let mut group = c.benchmark_group("in_order_append");
    group.throughput(Throughput::Bytes((SEGMENTS * MSS) as u64));
    group.bench_function("1000_segments_of_1448", |b| {
        b.iter_batched(
            || established(u32::MAX - 100_000),
            |(mut session, mut seq, mut out)| {
                for n in 0..SEGMENTS {
                    session.push(&data_segment(seq, &payload, n as u64 + 4), &mut out);
                    seq = seq.wrapping_add(MSS as u32);
                }
                black_box(out.actions.len())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Segments arriving in swapped pairs: the later one is buffered, the earlier one fills
/// the hole and releases both.
fn out_of_order_insert_release(c: &mut Criterion) {
    const SEGMENTS: usize = 1000;
    let payload = vec![b'z'; MSS];
    let mut group = c.benchmark_group("out_of_order");
    group.throughput(Throughput::Bytes((SEGMENTS * MSS) as u64));
    group.bench_function("1000_segments_in_swapped_pairs", |b| {
        b.iter_batched(
            || established(u32::MAX - 100_000),
            |(mut session, seq, mut out)| {
                let mut n = 4;
                for pair in 0..SEGMENTS / 2 {
                    let first = seq.wrapping_add((2 * pair * MSS) as u32);
                    let second = first.wrapping_add(MSS as u32);
                    session.push(&data_segment(second, &payload, n), &mut out);
                    session.push(&data_segment(first, &payload, n + 1), &mut out);
                    n += 2;
                }
                black_box(out.actions.len())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, session_lookup, in_order_append, out_of_order_insert_release);
criterion_main!(benches);
