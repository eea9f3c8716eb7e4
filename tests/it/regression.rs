//! Inputs that once crashed or hung netanalysis, each pinned by a test named after the
//! bug. Most were found by the fuzz targets (`fuzz/`): the `// See:` line says which
//! target and what the input is; `cargo run --manifest-path fuzz/Cargo.toml --example
//! explain -- TARGET FILE` prints the segments of a TCP or HTTP input.

use std::net::IpAddr;
use std::sync::mpsc;
use std::time::Duration;

use netanalysis_core::{
    Dispatcher, Endpoint, IpInfo, LinkType, Packet, Registry, Summary, TcpFlags, TcpHeader, Timestamp, Transport,
};

/// One TCP segment of a regression input.
struct Segment {
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
}

/// Plays `segments` between 10.0.0.1:40000 and 10.0.0.2:80, 1 ms apart, through the TCP
/// listener configured by `spec`, then tears down; returns the summary. Fails if the run
/// takes more than 30 seconds (these inputs once made it spin for ever).
fn play_tcp(spec: &'static str, segments: Vec<Segment>) -> Summary {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let registry = Registry::from_inventory().unwrap();
        let (plugin, config) = registry.parse(spec).unwrap();
        let mut builder = Dispatcher::builder();
        builder.trace_to(Box::new(std::io::sink()));
        builder.add(plugin.name, plugin.position, (plugin.build)(&config).unwrap()).unwrap();
        let mut dispatcher = builder.build();
        let client = Endpoint::new(IpAddr::from([10, 0, 0, 1]), 40000);
        let server = Endpoint::new(IpAddr::from([10, 0, 0, 2]), 80);
        dispatcher.setup();
        for (n, segment) in segments.iter().enumerate() {
            let (src, dst) = if segment.from_client { (client, server) } else { (server, client) };
            let len = 54 + segment.payload.len() as u32;
            let packet = Packet {
                number: n as u64 + 1,
                ts: Timestamp::from_micros(1_700_000_000, n as u32 * 1000),
                interface: 0,
                link_type: LinkType::ETHERNET,
                caplen: len,
                orig_len: len,
                frame: &[],
                ip: Some(IpInfo {
                    src: src.addr,
                    dst: dst.addr,
                    protocol: 6,
                    ttl: 64,
                    reassembled: false,
                    fragment: false,
                }),
                transport: Transport::Tcp(TcpHeader {
                    src_port: src.port,
                    dst_port: dst.port,
                    seq: segment.seq,
                    ack: segment.ack,
                    flags: TcpFlags(segment.flags),
                    window: 65535,
                    urgent: 0,
                    header_len: 20,
                }),
                payload: &segment.payload,
                uncaptured: 0,
                truncated: false,
                buffer: None,
            };
            dispatcher.dispatch_packet(&packet);
        }
        dispatcher.teardown();
        let faults: Vec<String> = dispatcher.take_faults().iter().map(|f| f.to_string()).collect();
        let mut summary = Summary::new();
        dispatcher.report(&mut summary);
        let _ = done.send((faults, summary));
    });
    let (faults, summary) = result.recv_timeout(Duration::from_secs(30)).expect("TCP finished within 30 seconds");
    assert!(faults.is_empty(), "no listener fault: {faults:?}");
    summary
}

// See: fuzz target tcp_reassembly, config 2 (tiny buffers), minimized from
// timeout-6e15a49a: a client SYN+FIN carrying 101 bytes, then a server SYN-ACK carrying
// 900 bytes that acknowledges 290 bytes past the client's SYN. Skipping the client's hole
// up to that ack found a buffered segment behind the next expected byte and looped for
// ever (fixed by "TCP: hole skipping stops if it cannot make progress").
#[test]
fn syn_fin_with_data_then_syn_ack_past_it_does_not_spin() {
    let summary = play_tcp(
        "TCP,max_sessions=2,max_session_buffer=1000,max_buffer=3000,max_monologue=500,idle_timeout=5",
        vec![
            Segment {
                from_client: true,
                flags: TcpFlags::SYN | TcpFlags::FIN,
                seq: 4_294_967_005,
                ack: 0,
                payload: vec![b'a'; 101],
            },
            Segment {
                from_client: false,
                flags: TcpFlags::SYN | TcpFlags::ACK,
                seq: 4_294_966_043,
                ack: 4_294_967_295,
                payload: vec![b'b'; 900],
            },
        ],
    );
    assert_eq!(summary.count("tcp_bytes_reassembled"), 101 + 900, "every byte once, none invented: {summary:?}");
    assert_eq!(summary.count("tcp_missing_bytes"), 0, "{summary:?}");
}
