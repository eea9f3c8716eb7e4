//! Steady state does not allocate per packet: a long body streamed through the
//! analyzer costs no allocation per `tcp_data` once warm, and a keep-alive exchange
//! costs only what its messages hold.
//!
//! In a test binary of its own: tests in one binary run in parallel and would count
//! each other's allocations.

use bytes::Bytes;
use netanalysis_core::{Dispatcher, Endpoint, SocketPair, Timestamp};
use netanalysis_http::{HttpAnalyzer, Limits};
use netanalysis_tcp::{SessionId, TcpData};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn streaming_a_body_does_not_allocate_per_packet() {
    let client = Endpoint::new([10, 0, 0, 1].into(), 40000);
    let server = Endpoint::new([10, 0, 0, 2].into(), 80);
    let session = SessionId::new(&SocketPair::new(client, server), 1);
    let limits = Limits { max_body: 4096, ..Limits::default() };
    let mut builder = Dispatcher::builder();
    builder.add("HTTP", None, Box::new(HttpAnalyzer::new(limits, false))).unwrap();
    let mut dispatcher = builder.build();
    let ts = Timestamp::from_micros(1_700_000_000, 0);
    let data = |from, to, offset, bytes: Bytes| TcpData {
        session: session.clone(),
        from,
        to,
        offset,
        data: bytes,
        packet: 1,
        ts,
    };
    dispatcher.dispatch_event(data(client, server, 0, Bytes::from_static(b"GET /big HTTP/1.1\r\n\r\n")));
    let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
    let mut offset = head.len() as u64;
    dispatcher.dispatch_event(data(server, client, 0, head));
    let segment = Bytes::from(vec![b'x'; 1448]);
    // Warm up: the kept part of the body (max_body) fills, queues reach their size.
    for _ in 0..100 {
        dispatcher.dispatch_event(data(server, client, offset, segment.clone()));
        offset += segment.len() as u64;
    }
    let region = Region::new(GLOBAL);
    for _ in 0..10_000 {
        dispatcher.dispatch_event(data(server, client, offset, segment.clone()));
        offset += segment.len() as u64;
    }
    let stats = region.change();
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(dispatcher.take_faults().len(), 0);
}
