//! Shared pieces of the fuzz targets: a byte reader that turns fuzz input into decisions,
//! a packet feeder that builds decoded TCP packets without going through a capture file,
//! and the pipelines the targets drive.
//!
//! A listener that panics is caught by the dispatcher and reported as a fault, so a
//! panic in TCP or HTTP would be invisible to the fuzzer if the targets did not look:
//! [`check_faults`] turns every panic and runaway frame back into a crash.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netanalysis_core::{
    Dispatcher, Endpoint, FaultKind, IpInfo, LinkType, Listener, Packet, Registry, TcpFlags, TcpHeader, Timestamp,
    Transport,
};

// Linked so their plugins are in the inventory registry.
use netanalysis_http as _;
use netanalysis_jsonlog as _;
use netanalysis_tcp as _;

/// Reads decisions from the fuzz input, front to back; past the end every read is zero.
#[derive(Debug, Clone)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, big-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Panics on every listener panic and runaway frame the dispatcher recorded.
///
/// Errors a listener returns are not crashes (a plugin may refuse bad input), so they are
/// only counted.
pub fn check_faults(dispatcher: &mut Dispatcher) -> usize {
    let mut errors = 0;
    for fault in dispatcher.take_faults() {
        match fault.kind {
            FaultKind::Panicked(_) | FaultKind::Runaway(_) => panic!("{fault}"),
            FaultKind::Failed(_) => errors += 1,
        }
    }
    errors
}

/// Builds a plugin's listener from a command-line spec (`TCP,max_session_size=100`),
/// through the same registry the command line uses.
///
/// # Panics
/// If the spec is refused: the targets only use specs that must work.
pub fn build_plugin(
    registry: &Registry,
    spec: &str,
) -> (&'static str, Option<netanalysis_core::Position>, Box<dyn Listener>) {
    let (plugin, config) = registry.parse(spec).unwrap_or_else(|e| panic!("plugin spec {spec:?}: {e}"));
    let listener = (plugin.build)(&config).unwrap_or_else(|e| panic!("plugin spec {spec:?}: {e}"));
    (plugin.name, plugin.position, listener)
}

/// A dispatcher with the listeners of `specs`, in order, and extra listeners after them.
pub fn dispatcher(specs: &[&str], extra: Vec<(&'static str, Box<dyn Listener>)>) -> Dispatcher {
    let registry = Registry::from_inventory().expect("the bundled plugins register cleanly");
    let mut builder = Dispatcher::builder();
    builder.trace_to(Box::new(std::io::sink()));
    for spec in specs {
        let (name, position, listener) = build_plugin(&registry, spec);
        builder.add(name, position, listener).expect("positions are free");
    }
    for (name, listener) in extra {
        builder.add(name, None, listener).expect("no position claimed");
    }
    builder.build()
}

/// The endpoint pairs the TCP and HTTP targets talk between: three IPv4 conversations
/// that share addresses or ports (so keys collide in interesting ways) and one IPv6.
pub const PAIRS: [(Endpoint, Endpoint); 4] = [
    (
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80),
    ),
    (
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40001),
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80),
    ),
    (
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80),
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 40000),
    ),
    (
        Endpoint::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), 40000),
        Endpoint::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)), 80),
    ),
];

/// Feeds decoded TCP packets straight into a dispatcher, numbering them from 1.
#[derive(Debug)]
pub struct Feeder {
    /// The dispatcher fed.
    pub dispatcher: Dispatcher,
    /// When set, one line per segment fed (for `examples/explain.rs`).
    pub log: Option<Vec<String>>,
    number: u64,
    ts: Timestamp,
}

impl Feeder {
    /// A feeder whose clock starts at a fixed time.
    pub fn new(dispatcher: Dispatcher) -> Feeder {
        let mut dispatcher = dispatcher;
        dispatcher.setup();
        check_faults(&mut dispatcher);
        Feeder { dispatcher, log: None, number: 0, ts: Timestamp::from_micros(1_700_000_000, 0) }
    }

    /// Moves the clock by `nanos` (backwards when negative, as badly merged captures do).
    pub fn advance(&mut self, nanos: i64) {
        let now = self.ts.as_nanos();
        let next = if nanos >= 0 { now.saturating_add(nanos as u64) } else { now.saturating_sub(nanos.unsigned_abs()) };
        self.ts = Timestamp::from_nanos(next, 9);
    }

    /// Dispatches one TCP segment from `src` to `dst`. `uncaptured` bytes of payload are
    /// announced but missing (cut by a snaplen); `truncated` marks a damaged header.
    pub fn segment(
        &mut self,
        src: Endpoint,
        dst: Endpoint,
        header: TcpHeader,
        payload: &[u8],
        uncaptured: u32,
        truncated: bool,
    ) {
        self.number += 1;
        if let Some(log) = &mut self.log {
            log.push(format!(
                "#{} t={} {}:{} > {}:{} flags={:#04x} ({}) seq={} ack={} len={} uncaptured={} truncated={} payload={:?}",
                self.number,
                self.ts.as_nanos(),
                src.addr,
                src.port,
                dst.addr,
                dst.port,
                header.flags.0,
                header.flags,
                header.seq,
                header.ack,
                payload.len(),
                uncaptured,
                truncated,
                String::from_utf8_lossy(payload)
            ));
        }
        let header_len = 54 + u32::from(matches!(src.addr, IpAddr::V6(_))) * 20;
        let caplen = header_len + payload.len() as u32;
        // The payload lies in a shared buffer, as a capture file's does, so that a
        // listener may keep slices of it.
        let buffer = bytes::Bytes::copy_from_slice(payload);
        let packet = Packet {
            number: self.number,
            ts: self.ts,
            interface: 0,
            link_type: LinkType::ETHERNET,
            caplen,
            orig_len: caplen.saturating_add(uncaptured),
            frame: &[],
            ip: Some(IpInfo { src: src.addr, dst: dst.addr, protocol: 6, ttl: 64, reassembled: false, fragment: false }),
            transport: Transport::Tcp(header),
            payload: &buffer,
            uncaptured,
            truncated,
            buffer: Some(&buffer),
        };
        self.dispatcher.dispatch_packet(&packet);
        check_faults(&mut self.dispatcher);
    }

    /// Tears the pipeline down and checks it for faults.
    pub fn finish(mut self) -> Dispatcher {
        self.dispatcher.teardown();
        check_faults(&mut self.dispatcher);
        let mut summary = netanalysis_core::Summary::new();
        self.dispatcher.report(&mut summary);
        self.dispatcher
    }
}

/// A TCP header with the given fields and a 20-byte header.
pub fn tcp_header(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8) -> TcpHeader {
    TcpHeader { src_port, dst_port, seq, ack, flags: TcpFlags(flags), window: 65535, urgent: 0, header_len: 20 }
}

/// A conversation's sequence bookkeeping: the next sequence number of each side.
#[derive(Debug, Clone, Copy)]
pub struct Seqs {
    /// Client, then server.
    pub next: [u32; 2],
}

impl Seqs {
    /// Initial sequence numbers just below the wrap, as the test fixtures use.
    pub fn new(salt: u32) -> Seqs {
        Seqs { next: [(u32::MAX - 100).wrapping_sub(salt), (u32::MAX - 1000).wrapping_add(salt)] }
    }
}

/// The separator between the parts of an `http_parse` input: parts alternate between the
/// client and the server.
pub const HTTP_PART_SEPARATOR: &[u8] = b"\x00~~\x00";

/// Splits `data` at every [`HTTP_PART_SEPARATOR`].
pub fn split_parts(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(HTTP_PART_SEPARATOR.len()).position(|w| w == HTTP_PART_SEPARATOR) {
        parts.push(&rest[..at]);
        rest = &rest[at + HTTP_PART_SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

/// Plays a complete HTTP-shaped TCP session between the first pair of [`PAIRS`]: the
/// handshake, then each part in turn (client, server, client, ...) cut into segments of
/// `mss` bytes, then a close chosen by `ending` (FIN both ways, RST, or nothing).
pub fn play_session(feeder: &mut Feeder, parts: &[&[u8]], mss: usize, ending: u8) {
    let (client, server) = PAIRS[0];
    let mut seqs = Seqs::new(0);
    let send = |feeder: &mut Feeder, seqs: &mut Seqs, side: usize, flags: u8, payload: &[u8]| {
        let (src, dst) = if side == 0 { (client, server) } else { (server, client) };
        let seq = seqs.next[side];
        let ack = if flags & TcpFlags::SYN != 0 && side == 0 { 0 } else { seqs.next[1 - side] };
        let flags = if side == 0 && flags & TcpFlags::SYN != 0 { flags } else { flags | TcpFlags::ACK };
        feeder.segment(src, dst, tcp_header(src.port, dst.port, seq, ack, flags), payload, 0, false);
        let consumed = payload.len() as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        seqs.next[side] = seq.wrapping_add(consumed);
        feeder.advance(1_000_000);
    };
    send(feeder, &mut seqs, 0, TcpFlags::SYN, &[]);
    send(feeder, &mut seqs, 1, TcpFlags::SYN, &[]);
    send(feeder, &mut seqs, 0, 0, &[]);
    for (i, part) in parts.iter().enumerate() {
        let side = i % 2;
        for chunk in part.chunks(mss.max(1)) {
            send(feeder, &mut seqs, side, TcpFlags::PSH, chunk);
        }
        if !part.is_empty() {
            send(feeder, &mut seqs, 1 - side, 0, &[]);
        }
    }
    match ending % 4 {
        0 => {
            send(feeder, &mut seqs, 0, TcpFlags::FIN, &[]);
            send(feeder, &mut seqs, 1, TcpFlags::FIN, &[]);
            send(feeder, &mut seqs, 0, 0, &[]);
        }
        1 => send(feeder, &mut seqs, 1, TcpFlags::FIN, &[]),
        2 => send(feeder, &mut seqs, 0, TcpFlags::RST, &[]),
        _ => {}
    }
}

/// Plays a byte-driven script of TCP segments: each step picks a conversation and a
/// direction, flags, sequence and acknowledgment numbers near (or far from) what that
/// side would send next, a payload, and a clock step.
pub fn play_script(feeder: &mut Feeder, input: &mut Bytes<'_>) {
    let mut seqs = [Seqs::new(0), Seqs::new(7), Seqs::new(1 << 20), Seqs::new(3)];
    let mut steps = 0;
    while !input.is_empty() && steps < 4096 {
        steps += 1;
        let op = input.u8();
        let pair = usize::from(op & 3);
        let side = usize::from((op >> 2) & 1);
        let (client, server) = PAIRS[pair];
        let (src, dst) = if side == 0 { (client, server) } else { (server, client) };
        let flags = input.u8();
        let seq = match (op >> 3) & 3 {
            0 => seqs[pair].next[side],
            1 => seqs[pair].next[side].wrapping_add(i32::from(input.u16() as i16) as u32),
            2 => input.u32(),
            _ => seqs[pair].next[side].wrapping_sub(u32::from(input.u8())),
        };
        let ack = if (op >> 5) & 1 == 0 { seqs[pair].next[1 - side] } else { input.u32() };
        let len = match input.u8() {
            n @ 0..=199 => usize::from(n),
            n => usize::from(n - 199) * 256,
        };
        let payload = input.take(len);
        let (uncaptured, truncated) = if (op >> 6) & 1 == 1 {
            let extra = input.u8();
            (u32::from(extra & 0x7f), extra & 0x80 != 0)
        } else {
            (0, false)
        };
        feeder.segment(src, dst, tcp_header(src.port, dst.port, seq, ack, flags), payload, uncaptured, truncated);
        let consumed = payload.len() as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        let end = seq.wrapping_add(consumed);
        // Track the furthest point each side reached, in sequence space.
        if (end.wrapping_sub(seqs[pair].next[side]) as i32) > 0 {
            seqs[pair].next[side] = end;
        }
        if op >> 7 == 1 {
            match input.u8() {
                255 => feeder.advance(3_600_000_000_000),
                254 => feeder.advance(-1_000_000_000),
                n => feeder.advance(i64::from(n) * 1_000_000),
            }
        } else {
            feeder.advance(1_000);
        }
    }
}

/// The link types `decode_frame` picks from with its first byte; one selector past the
/// end takes the link type from the next two bytes instead.
pub const LINK_TYPES: [LinkType; 15] = [
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::PPP,
    LinkType::C_HDLC,
    LinkType::IEEE802_11,
    LinkType::IEEE802_11_RADIOTAP,
    LinkType::NFLOG,
    LinkType::FDDI,
    LinkType::ARCNET_LINUX,
];

/// Reads the link type selector of a `decode_frame` input.
pub fn pick_link_type(input: &mut Bytes<'_>) -> LinkType {
    let selector = usize::from(input.u8()) % (LINK_TYPES.len() + 1);
    match LINK_TYPES.get(selector) {
        Some(link) => *link,
        None => LinkType(u32::from(input.u16())),
    }
}

/// Appends one `play_script` step that sends `payload` with `flags` from `side` (0 the
/// client, 1 the server) of pair `pair`, at the sequence number that side would send
/// next plus `skip` bytes (negative to resend), acknowledging what the peer sent.
///
/// # Panics
/// If `payload` is longer than 199 bytes and not a multiple of 256 up to 14336.
pub fn script_step(out: &mut Vec<u8>, pair: u8, side: u8, flags: u8, skip: i16, payload: &[u8]) {
    let seq_mode: u8 = if skip == 0 { 0 } else { 1 };
    out.push((pair & 3) | (side & 1) << 2 | seq_mode << 3);
    out.push(flags);
    if skip != 0 {
        out.extend_from_slice(&skip.to_be_bytes());
    }
    let len = payload.len();
    if len < 200 {
        out.push(len as u8);
    } else {
        assert!(len.is_multiple_of(256) && len / 256 <= 56, "script payloads are short or whole multiples of 256");
        out.push((len / 256 + 199) as u8);
    }
    out.extend_from_slice(payload);
}

/// Whether `part` lies inside `whole` (an empty `part` always does).
pub fn within(part: &[u8], whole: &[u8]) -> bool {
    if part.is_empty() {
        return true;
    }
    let whole = whole.as_ptr_range();
    let part = part.as_ptr_range();
    whole.start <= part.start && part.end <= whole.end
}
