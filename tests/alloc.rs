//! The per-packet hot path does not allocate in steady state: over a whole capture,
//! TCP + HTTP allocate only in frames that start a session or a monologue, or complete
//! a monologue, an HTTP message or a session, and then only a small fixed number of times;
//! every other packet allocates nothing. When HTTP only counts and TCP lends it the
//! reader's bytes, the one exception is a small handle per buffer read (1 MiB).
//!
//! A test binary of its own without the test harness (`harness = false`): the counting
//! allocator counts every thread's allocations, and the harness's threads (tests run in
//! parallel, its main thread reporting) would be counted too. `main` runs the checks
//! one after the other; a failed check panics, which fails `cargo test`.

use std::alloc::System;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use netanalysis_capture::CaptureReader;
use netanalysis_core::{AnyEvent, Context, Dispatcher, Endpoint, Listener, ListenerResult, Position, Subscriptions};
use netanalysis_http::{HttpAnalyzer, HttpRequest, HttpResponse, HttpTransaction};
use netanalysis_tcp::{SessionId, TcpData, TcpOptions, TcpReassembler, TcpSessionEnd, TcpSessionStart, TcpStreamEnd};
use netanalysis_test_support::{Side, TcpFlow};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations allowed per thing that may allocate in a frame.
const PER_THING: usize = 16;
/// Packets before the steady state: the first directions' arena blocks grow to their
/// full size and fill the pool that recycles them.
const WARM_UP: u64 = 100;

/// Counts, per frame, the things that are allowed to allocate. It does not subscribe to
/// `tcp_monologue`, so that (as in a TCP+HTTP run) nobody makes the TCP listener keep
/// monologue bytes: a monologue's end is seen as data flowing the other way.
#[derive(Default)]
struct Observer {
    things: Arc<Mutex<usize>>,
    directions_with_data: HashSet<(SessionId, Endpoint)>,
    last_speaker: HashMap<SessionId, Endpoint>,
}

impl Listener for Observer {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets()
            .event::<TcpSessionStart>()
            .event::<TcpStreamEnd>()
            .event::<TcpSessionEnd>()
            .event::<TcpData>()
            .event::<HttpRequest>()
            .event::<HttpResponse>()
            .event::<HttpTransaction>();
    }

    fn on_packet(&mut self, packet: &netanalysis_core::Packet<'_>, _ctx: &mut Context<'_>) -> ListenerResult {
        // A packet that may open a session (its state is allocated when first seen).
        if packet.tcp().is_some_and(|h| h.flags.syn()) {
            *self.things.lock().unwrap() += 1;
        }
        Ok(())
    }

    fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        let mut things = self.things.lock().unwrap();
        if let Some(data) = event.downcast_ref::<TcpData>() {
            // The first data of a direction opens its first monologue (and a session
            // picked up mid-stream); data the other way ends a monologue and opens one.
            // (Keys are the events' ids, reference-counted: the observer itself must not
            // allocate for a packet it has seen before.)
            if self.directions_with_data.insert((data.session.clone(), data.from)) {
                *things += 2;
            }
            if self.last_speaker.insert(data.session.clone(), data.from).is_some_and(|last| last != data.from) {
                *things += 2;
            }
        } else {
            *things += 1;
        }
        Ok(())
    }
}

fn check(name: &str, bytes: Vec<u8>) {
    check_with(name, bytes, true)
}

/// What one pass over a capture counted.
struct Run {
    packets: u64,
    /// Packets in whose frame nothing was allowed to allocate.
    quiet_packets: u64,
    total_allocations: usize,
    /// Packets past the warm-up that allocated more than allowed: (packet, allocations,
    /// allowed).
    offenders: Vec<(u64, usize, usize)>,
    /// The dispatcher, torn down, for its report.
    dispatcher: Dispatcher,
}

/// Dispatches `bytes` through TCP (and HTTP) and `observer`, which counts into `things`
/// what may allocate in each frame, counting each frame's allocations.
fn run(name: &str, bytes: Vec<u8>, http: bool, observer: Box<dyn Listener>, things: &Mutex<usize>) -> Run {
    let mut builder = Dispatcher::builder();
    builder.add("TCP", Some(Position::First), Box::new(TcpReassembler::new(TcpOptions::default()))).unwrap();
    if http {
        builder.add("HTTP", None, Box::new(HttpAnalyzer::new(Default::default(), false))).unwrap();
    }
    builder.add("Observer", Some(Position::Last), observer).unwrap();
    let mut dispatcher = builder.build();
    let mut reader = CaptureReader::from_reader(name, Box::new(std::io::Cursor::new(bytes))).unwrap();
    dispatcher.setup();
    let (mut packets, mut quiet_packets, mut total_allocations) = (0u64, 0u64, 0usize);
    let mut offenders = Vec::new();
    loop {
        *things.lock().unwrap() = 0;
        let region = Region::new(GLOBAL);
        let Some(packet) = reader.next_packet().unwrap() else { break };
        let number = packet.number;
        dispatcher.dispatch_packet(&packet);
        let allocations = region.change().allocations + region.change().reallocations;
        let allowed = *things.lock().unwrap() * PER_THING;
        packets += 1;
        total_allocations += allocations;
        if allowed == 0 {
            quiet_packets += 1;
        }
        if allocations > allowed && number > WARM_UP {
            offenders.push((number, allocations, allowed));
        }
    }
    dispatcher.teardown();
    assert_eq!(dispatcher.fault_count(), 0);
    Run { packets, quiet_packets, total_allocations, offenders, dispatcher }
}

fn check_with(name: &str, bytes: Vec<u8>, http: bool) {
    let things = Arc::new(Mutex::new(0usize));
    let observer = Observer { things: Arc::clone(&things), ..Default::default() };
    let Run { packets, quiet_packets, total_allocations, offenders, .. } =
        run(name, bytes, http, Box::new(observer), &things);
    eprintln!(
        "{name}: {packets} packets, {quiet_packets} with nothing to allocate for, {total_allocations} allocations in all"
    );
    assert!(quiet_packets > 0, "{name}: some packets are steady-state packets");
    let worst = offenders.iter().map(|o| o.1).max().unwrap_or(0);
    assert!(
        offenders.is_empty(),
        "{name}: {} packets allocated more than allowed (the most: {worst}); the first (packet, allocations, allowed): {:?}",
        offenders.len(),
        &offenders[..offenders.len().min(12)]
    );
}

/// The capture the project ships: real nginx and curl traffic.
fn the_shipped_capture_allocates_only_per_session_monologue_and_message() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures/http-sample.pcap");
    check("http-sample.pcap", std::fs::read(path).unwrap());
}

/// A long keep-alive session: 200 exchanges, each response many segments long.
fn keep_alive_capture() -> Vec<u8> {
    let mut flow = TcpFlow::new("10.1.0.1:50000", "10.1.0.2:80");
    flow.handshake();
    let body = vec![b'x'; 20_000];
    for k in 0..200 {
        flow.send(Side::Client, format!("GET /file/{k} HTTP/1.1\r\nHost: big\r\n\r\n").as_bytes());
        let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(&body);
        flow.send_segments(Side::Server, &response, 1448);
        flow.ack(Side::Client);
    }
    flow.close();
    flow.to_pcap()
}

fn a_long_keep_alive_session_allocates_nothing_per_data_packet() {
    check("keep-alive.pcap", keep_alive_capture());
}

fn tcp_alone_allocates_nothing_per_data_packet() {
    check_with("keep-alive.pcap (TCP only)", keep_alive_capture(), false);
}

/// Counts, per frame, what may allocate when HTTP only counts and is the one receiver of
/// `tcp_data` (TCP then withholds bodies and lends the bytes it delivers): packets that
/// may open a session, and sessions' starts and ends. It receives neither `tcp_data` nor
/// HTTP events, which would change that configuration.
#[derive(Default)]
struct SessionObserver {
    things: Arc<Mutex<usize>>,
}

impl Listener for SessionObserver {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets().event::<TcpSessionStart>().event::<TcpStreamEnd>().event::<TcpSessionEnd>();
    }

    fn on_packet(&mut self, packet: &netanalysis_core::Packet<'_>, _ctx: &mut Context<'_>) -> ListenerResult {
        if packet.tcp().is_some_and(|h| h.flags.syn()) {
            *self.things.lock().unwrap() += 1;
        }
        Ok(())
    }

    fn on_event(&mut self, _event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        *self.things.lock().unwrap() += 1;
        Ok(())
    }
}

/// Counting HTTP over a long keep-alive session: once warm, no packet allocates but for
/// the one small handle the `bytes` crate makes when the reader's buffer is first lent
/// after a read (the reader reads 1 MiB at a time).
fn counting_http_allocates_only_per_session_and_per_buffer_read() {
    let bytes = keep_alive_capture();
    let reads = bytes.len() / (1 << 20) + 1;
    let things = Arc::new(Mutex::new(0usize));
    let observer = SessionObserver { things: Arc::clone(&things) };
    let Run { offenders, dispatcher, .. } = run("counting", bytes, true, Box::new(observer), &things);
    let mut summary = netanalysis_core::Summary::new();
    dispatcher.report(&mut summary);
    assert_eq!(summary.count("http_transactions"), 200, "{summary:?}");
    eprintln!("counting: {} packets allocated, one handle each, for {reads} reads", offenders.len());
    assert!(
        offenders.len() <= reads && offenders.iter().all(|(_, allocations, _)| *allocations == 1),
        "packets that allocated (packet, allocations, allowed): {offenders:?}"
    );
}

fn main() {
    the_shipped_capture_allocates_only_per_session_monologue_and_message();
    a_long_keep_alive_session_allocates_nothing_per_data_packet();
    tcp_alone_allocates_nothing_per_data_packet();
    counting_http_allocates_only_per_session_and_per_buffer_read();
    eprintln!("alloc: 4 checks passed");
}
