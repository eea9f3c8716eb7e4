//! Steady state does not allocate per packet: a long body streamed through the
//! analyzer costs no allocation per `tcp_data` once warm, and a keep-alive exchange
//! costs only what its messages hold.
//!
//! A test binary of its own without the test harness (`harness = false`): the counting
//! allocator counts every thread's allocations, the harness's threads included.

use bytes::Bytes;
use netanalysis_core::{Dispatcher, Endpoint, SocketPair, Timestamp};
use netanalysis_http::{HttpAnalyzer, HttpRequest, HttpResponse, HttpTransaction, Limits};
use netanalysis_tcp::SessionId;
use netanalysis_test_support::tcp_data;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The checks, one after the other: the allocator's counts are global.
fn main() {
    streaming_a_body_does_not_allocate_per_packet();
    keep_alive_exchanges_nobody_receives_cost_no_allocation();
    a_received_keep_alive_exchange_costs_only_what_its_messages_hold();
    eprintln!("alloc: 3 checks passed");
}

fn streaming_a_body_does_not_allocate_per_packet() {
    let client = Endpoint::new([10, 0, 0, 1].into(), 40000);
    let server = Endpoint::new([10, 0, 0, 2].into(), 80);
    let session = SessionId::new(&SocketPair::new(client, server), 1);
    let limits = Limits { max_body: 4096, ..Limits::default() };
    let mut builder = Dispatcher::builder();
    builder.add("HTTP", None, Box::new(HttpAnalyzer::new(limits, false))).unwrap();
    let mut dispatcher = builder.build();
    let ts = Timestamp::from_micros(1_700_000_000, 0);
    let data = |from_client, offset, bytes: Bytes| tcp_data(&session, client, server, from_client, offset, bytes, ts);
    dispatcher.dispatch_event(data(true, 0, Bytes::from_static(b"GET /big HTTP/1.1\r\n\r\n")));
    let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
    let mut offset = head.len() as u64;
    dispatcher.dispatch_event(data(false, 0, head));
    let segment = Bytes::from(vec![b'x'; 1448]);
    // Warm up: the kept part of the body (max_body) fills, queues reach their size.
    for _ in 0..100 {
        dispatcher.dispatch_event(data(false, offset, segment.clone()));
        offset += segment.len() as u64;
    }
    let region = Region::new(GLOBAL);
    for _ in 0..10_000 {
        dispatcher.dispatch_event(data(false, offset, segment.clone()));
        offset += segment.len() as u64;
    }
    let stats = region.change();
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(dispatcher.take_faults().len(), 0);
}

/// Sends `exchanges` keep-alive exchanges (a GET with three header fields; a response
/// with a Content-Length body in two segments) on one session through `dispatcher`
/// and returns the allocations they cost.
fn keep_alive_allocations(dispatcher: &mut Dispatcher, exchanges: usize, offsets: &mut [u64; 2]) -> usize {
    let client = Endpoint::new([10, 0, 0, 1].into(), 40000);
    let server = Endpoint::new([10, 0, 0, 2].into(), 80);
    let session = SessionId::new(&SocketPair::new(client, server), 1);
    let request =
        Bytes::from_static(b"GET /index.html HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\nUser-Agent: test\r\n\r\n");
    let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2000\r\n\r\n");
    static BODY: [u8; 1000] = [b'x'; 1000];
    let body = Bytes::from_static(&BODY);
    let ts = Timestamp::from_micros(1_700_000_000, 0);
    let mut send = |dispatcher: &mut Dispatcher, side: usize, bytes: Bytes| {
        let offset = offsets[side];
        offsets[side] += bytes.len() as u64;
        dispatcher.dispatch_event(tcp_data(&session, client, server, side == 0, offset, bytes, ts));
    };
    let region = Region::new(GLOBAL);
    for _ in 0..exchanges {
        send(dispatcher, 0, request.clone());
        send(dispatcher, 1, head.clone());
        send(dispatcher, 1, body.clone());
        send(dispatcher, 1, body.clone());
    }
    region.change().allocations
}

fn keep_alive_exchanges_nobody_receives_cost_no_allocation() {
    let mut builder = Dispatcher::builder();
    builder.add("HTTP", None, Box::new(HttpAnalyzer::new(Limits::default(), false))).unwrap();
    let mut dispatcher = builder.build();
    // Without subscribers to its events, the analyzer only counts messages.
    dispatcher.setup();
    let mut offsets = [0, 0];
    keep_alive_allocations(&mut dispatcher, 100, &mut offsets);
    assert_eq!(keep_alive_allocations(&mut dispatcher, 1000, &mut offsets), 0);
    assert_eq!(dispatcher.take_faults().len(), 0);
}

/// Receives every HTTP event and keeps none.
struct Subscriber;
impl netanalysis_core::Listener for Subscriber {
    fn subscribe(&self, subs: &mut netanalysis_core::Subscriptions) {
        subs.event::<HttpRequest>().event::<HttpResponse>().event::<HttpTransaction>();
    }
}

fn a_received_keep_alive_exchange_costs_only_what_its_messages_hold() {
    let mut builder = Dispatcher::builder();
    builder.add("HTTP", None, Box::new(HttpAnalyzer::new(Limits::default(), false))).unwrap();
    builder.add("Subscriber", None, Box::new(Subscriber)).unwrap();
    let mut dispatcher = builder.build();
    dispatcher.setup();
    let mut offsets = [0, 0];
    keep_alive_allocations(&mut dispatcher, 100, &mut offsets);
    let allocations = keep_alive_allocations(&mut dispatcher, 1000, &mut offsets);
    // The request: its fields, method, target and shared handle; the response: its
    // fields, reason and shared handle. Nothing else.
    assert_eq!(allocations, 7 * 1000);
    assert_eq!(dispatcher.take_faults().len(), 0);
}
