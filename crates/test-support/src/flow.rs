//! Scripted TCP conversations, built into Ethernet/IPv4 (or IPv6) frames.

use std::net::IpAddr;

use etherparse::PacketBuilder;
use netanalysis_core::{Endpoint, LinkType, Timestamp};

use crate::pcap::PcapWriter;

/// Which side of a [`TcpFlow`] sends a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The side that opens the connection.
    Client,
    /// The side that accepts it.
    Server,
}

/// A scripted TCP conversation between a client and a server: each call appends one
/// Ethernet frame, with sequence and acknowledgment numbers kept for you.
///
/// Initial sequence numbers start just below 2^32 by default, so every fixture crosses
/// the wrap. Time advances by `step` (default 1 ms) per segment.
#[derive(Debug, Clone)]
pub struct TcpFlow {
    client: Endpoint,
    server: Endpoint,
    /// Next sequence number each side will send.
    next_seq: [u32; 2],
    ts: Timestamp,
    step_nanos: u64,
    frames: Vec<(Timestamp, Vec<u8>)>,
}

impl TcpFlow {
    /// A flow from `client` to `server` (e.g. `"10.0.0.1:40000"`, `"[::1]:80"`).
    ///
    /// # Panics
    /// If an endpoint does not parse (fixtures are written by hand).
    pub fn new(client: &str, server: &str) -> TcpFlow {
        TcpFlow {
            client: parse_endpoint(client),
            server: parse_endpoint(server),
            next_seq: [u32::MAX - 100, u32::MAX - 1000],
            ts: Timestamp::from_micros(1_700_000_000, 0),
            step_nanos: 1_000_000,
            frames: Vec::new(),
        }
    }

    /// Sets the initial sequence numbers (of the SYN) for client and server.
    pub fn isn(mut self, client: u32, server: u32) -> TcpFlow {
        self.next_seq = [client, server];
        self
    }

    /// Sets the time of the next segment and the step between segments.
    pub fn clock(mut self, start: Timestamp, step_micros: u64) -> TcpFlow {
        self.ts = start;
        self.step_nanos = step_micros * 1000;
        self
    }

    fn index(side: Side) -> usize {
        match side {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    /// The next sequence number `side` will send.
    pub fn next_seq(&self, side: Side) -> u32 {
        self.next_seq[Self::index(side)]
    }

    /// Appends a raw segment with explicit fields; does not move the sequence counters.
    #[allow(clippy::too_many_arguments)]
    pub fn raw(
        &mut self,
        side: Side,
        seq: u32,
        ack: Option<u32>,
        syn: bool,
        fin: bool,
        rst: bool,
        payload: &[u8],
    ) -> &mut Self {
        let (src, dst) = match side {
            Side::Client => (self.client, self.server),
            Side::Server => (self.server, self.client),
        };
        let builder = match (src.addr, dst.addr) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(s.octets(), d.octets(), 64)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6(s.octets(), d.octets(), 64)
            }
            _ => panic!("fixture endpoints must share an IP version"),
        };
        let mut tcp = builder.tcp(src.port, dst.port, seq, 65535);
        if let Some(ack) = ack {
            tcp = tcp.ack(ack);
        }
        if syn {
            tcp = tcp.syn();
        }
        if fin {
            tcp = tcp.fin();
        }
        if rst {
            tcp = tcp.rst();
        }
        if !payload.is_empty() {
            tcp = tcp.psh();
        }
        let mut frame = Vec::with_capacity(builder_len(payload.len()));
        tcp.write(&mut frame, payload).expect("writing to a Vec cannot fail");
        self.frames.push((self.ts, frame));
        self.ts = Timestamp::from_nanos(self.ts.as_nanos() + self.step_nanos, self.ts.digits());
        self
    }

    fn peer_ack(&self, side: Side) -> u32 {
        self.next_seq[1 - Self::index(side)]
    }

    /// The three-way handshake (SYN, SYN-ACK, ACK).
    pub fn handshake(&mut self) -> &mut Self {
        let c = self.next_seq[0];
        self.raw(Side::Client, c, None, true, false, false, &[]);
        self.next_seq[0] = c.wrapping_add(1);
        let s = self.next_seq[1];
        self.raw(Side::Server, s, Some(self.next_seq[0]), true, false, false, &[]);
        self.next_seq[1] = s.wrapping_add(1);
        let (c, a) = (self.next_seq[0], self.next_seq[1]);
        self.raw(Side::Client, c, Some(a), false, false, false, &[])
    }

    /// A data segment from `side`, acknowledging everything the peer sent.
    pub fn send(&mut self, side: Side, payload: &[u8]) -> &mut Self {
        let seq = self.next_seq[Self::index(side)];
        let ack = self.peer_ack(side);
        self.raw(side, seq, Some(ack), false, false, false, payload);
        self.next_seq[Self::index(side)] = seq.wrapping_add(payload.len() as u32);
        self
    }

    /// Sends `payload` in segments of at most `mss` bytes.
    pub fn send_segments(&mut self, side: Side, payload: &[u8], mss: usize) -> &mut Self {
        for chunk in payload.chunks(mss.max(1)) {
            self.send(side, chunk);
        }
        self
    }

    /// A pure ACK from `side`.
    pub fn ack(&mut self, side: Side) -> &mut Self {
        let seq = self.next_seq[Self::index(side)];
        let ack = self.peer_ack(side);
        self.raw(side, seq, Some(ack), false, false, false, &[])
    }

    /// A FIN from `side`.
    pub fn fin(&mut self, side: Side) -> &mut Self {
        let seq = self.next_seq[Self::index(side)];
        let ack = self.peer_ack(side);
        self.raw(side, seq, Some(ack), false, true, false, &[]);
        self.next_seq[Self::index(side)] = seq.wrapping_add(1);
        self
    }

    /// The closing handshake: client FIN, server ACK+FIN, client ACK.
    pub fn close(&mut self) -> &mut Self {
        self.fin(Side::Client).fin(Side::Server).ack(Side::Client)
    }

    /// An RST from `side`.
    pub fn rst(&mut self, side: Side) -> &mut Self {
        let seq = self.next_seq[Self::index(side)];
        let ack = self.peer_ack(side);
        self.raw(side, seq, Some(ack), false, false, true, &[])
    }

    /// Moves the frame at `from` to position `to` (to script reordering).
    pub fn reorder(&mut self, from: usize, to: usize) -> &mut Self {
        let frame = self.frames.remove(from);
        self.frames.insert(to, frame);
        self
    }

    /// Removes the frame at `index` (to script loss).
    pub fn drop_frame(&mut self, index: usize) -> &mut Self {
        self.frames.remove(index);
        self
    }

    /// Appends a copy of frame `index` (to script a retransmission).
    pub fn duplicate(&mut self, index: usize) -> &mut Self {
        let frame = self.frames[index].1.clone();
        self.frames.push((self.ts, frame));
        self.ts = Timestamp::from_nanos(self.ts.as_nanos() + self.step_nanos, self.ts.digits());
        self
    }

    /// Frames so far, with their times.
    pub fn frames(&self) -> &[(Timestamp, Vec<u8>)] {
        &self.frames
    }

    /// The flow as an Ethernet pcap file.
    pub fn to_pcap(&self) -> Vec<u8> {
        let mut pcap = PcapWriter::new(LinkType::ETHERNET);
        for (ts, frame) in &self.frames {
            pcap.record(*ts, frame);
        }
        pcap.into_bytes()
    }
}

fn builder_len(payload: usize) -> usize {
    14 + 40 + 20 + payload
}

fn parse_endpoint(text: &str) -> Endpoint {
    let sock: std::net::SocketAddr = text.parse().expect("fixture endpoint like 10.0.0.1:80 or [::1]:80");
    Endpoint::new(sock.ip(), sock.port())
}
