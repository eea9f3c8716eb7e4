//! Unit tests of the session state machine, named after the state and the input.
//!
//! Initial sequence numbers sit just below 2^32, so every test's data crosses the wrap.

mod props;
mod session;
mod table;
mod tombs;

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;

use netanalysis_core::{Endpoint, TcpFlags, Timestamp};

use crate::events::{Gap, PacketClass, SessionState};
use crate::seq::SeqNumber;
use crate::session::{Action, Direction, Segment, SegmentOutcome, SessionLimits, TcpSession};

const CLIENT_ISN: u32 = u32::MAX - 10;
const SERVER_ISN: u32 = u32::MAX - 1000;

fn client() -> Endpoint {
    Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000)
}

fn server() -> Endpoint {
    Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80)
}

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PSH: u8 = TcpFlags::PSH;

/// A session driven segment by segment, with every action it caused kept in order.
struct Harness {
    session: Option<TcpSession>,
    limits: SessionLimits,
    outcome: SegmentOutcome,
    log: Vec<Action>,
    packet: u64,
    /// Whether monologues keep their bytes (see `TcpSession::keep_monologue_data`).
    keep_data: bool,
    /// Whether released bytes are reported (see `TcpSession::report_data`).
    report_data: bool,
    /// What the receiver of data does not need, client first (see
    /// `TcpSession::set_unneeded_before`), applied before each segment and read back
    /// after it.
    unneeded: [u64; 2],
    /// Whether the stretch that ends at the offset in `unneeded` is withheld too (see
    /// `TcpSession::set_withhold_through`), applied and read back likewise.
    through: [bool; 2],
    /// Whether the receiver lets data be lent (see `TcpSession::set_lend_data`): each
    /// payload then lies in a shared buffer of its own, after a fake header.
    lend: bool,
    /// Data actions whose bytes were slices of their segment's buffer.
    lent: usize,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_limits(SessionLimits::default())
    }

    fn with_limits(limits: SessionLimits) -> Harness {
        Harness {
            session: None,
            limits,
            outcome: SegmentOutcome::default(),
            log: Vec::new(),
            packet: 0,
            keep_data: true,
            report_data: true,
            unneeded: [0, 0],
            through: [false, false],
            lend: false,
            lent: 0,
        }
    }

    /// Pushes one segment; returns its class and the state after it.
    fn push(
        &mut self,
        from_client: bool,
        seq: u32,
        ack: Option<u32>,
        flags: u8,
        payload: &[u8],
    ) -> (PacketClass, SessionState) {
        self.push_cut(from_client, seq, ack, flags, payload, 0)
    }

    fn push_cut(
        &mut self,
        from_client: bool,
        seq: u32,
        ack: Option<u32>,
        flags: u8,
        payload: &[u8],
        uncaptured: u32,
    ) -> (PacketClass, SessionState) {
        self.packet += 1;
        let (src, dst) = if from_client { (client(), server()) } else { (server(), client()) };
        let flags = if ack.is_some() { flags | ACK } else { flags & !ACK };
        let framed = self.lend.then(|| Bytes::from([&[0u8; 54][..], payload].concat()));
        let payload = framed.as_ref().and_then(|framed| framed.get(54..)).unwrap_or(payload);
        let segment = Segment {
            packet: self.packet,
            ts: Timestamp::from_micros(1_700_000_000, self.packet as u32),
            src,
            dst,
            seq: SeqNumber(seq),
            ack: ack.map(SeqNumber),
            flags: TcpFlags(flags),
            payload,
            uncaptured,
            buffer: framed.as_ref(),
        };
        let (limits, keep_data, report_data) = (self.limits, self.keep_data, self.report_data);
        let session = self.session.get_or_insert_with(|| {
            let mut session = TcpSession::new(&segment, limits);
            session.keep_monologue_data(keep_data);
            session.report_data(report_data);
            session
        });
        session.set_unneeded_before(Direction::ClientToServer, self.unneeded[0]);
        session.set_unneeded_before(Direction::ServerToClient, self.unneeded[1]);
        session.set_withhold_through(Direction::ClientToServer, self.through[0]);
        session.set_withhold_through(Direction::ServerToClient, self.through[1]);
        session.set_lend_data(self.lend);
        session.push(&segment, &mut self.outcome);
        if let Some(framed) = &framed {
            let within = framed.as_ptr_range();
            self.lent += self
                .outcome
                .actions
                .iter()
                .filter(
                    |a| matches!(a, Action::Data { data, .. } if !data.is_empty() && within.contains(&data.as_ptr())),
                )
                .count();
        }
        // As the listener does: a hole lapses the receiver's word.
        self.unneeded =
            [session.unneeded_before(Direction::ClientToServer), session.unneeded_before(Direction::ServerToClient)];
        for (through, unneeded) in self.through.iter_mut().zip(self.unneeded) {
            *through &= unneeded != 0;
        }
        self.log.append(&mut self.outcome.actions);
        (self.outcome.class.unwrap_or(PacketClass::NonData), self.outcome.state.unwrap_or(SessionState::Closed))
    }

    fn session(&mut self) -> &mut TcpSession {
        self.session.as_mut().expect("a segment was pushed first")
    }

    /// SYN, SYN-ACK, ACK; returns the next sequence numbers of client and server.
    fn handshake(&mut self) -> (u32, u32) {
        let c = CLIENT_ISN.wrapping_add(1);
        let s = SERVER_ISN.wrapping_add(1);
        self.push(true, CLIENT_ISN, None, SYN, b"");
        self.push(false, SERVER_ISN, Some(c), SYN, b"");
        self.push(true, c, Some(s), 0, b"");
        (c, s)
    }

    fn end(&mut self) {
        let now = Timestamp::from_micros(1_700_000_001, 0);
        let mut actions = Vec::new();
        if let Some(session) = self.session.as_mut() {
            session.end(crate::events::EndReason::EndOfInput, now, &mut actions);
        }
        self.log.append(&mut actions);
    }

    /// One word per action: start, data, released, mono, stream_end, end.
    fn names(&self) -> Vec<&'static str> {
        self.log
            .iter()
            .map(|a| match a {
                Action::Started { .. } => "start",
                Action::Data { .. } => "data",
                Action::Released { .. } => "released",
                Action::Monologue(_) | Action::MonologueCounted => "mono",
                Action::StreamEnd { .. } => "stream_end",
                Action::Ended { .. } => "end",
            })
            .collect()
    }

    /// A direction's bytes, from its monologues in index order.
    fn monologue_bytes(&self, direction: Direction) -> Vec<u8> {
        let mut bytes = Vec::new();
        for action in &self.log {
            if let Action::Monologue(m) = action {
                if m.direction == direction {
                    bytes.extend_from_slice(&m.data.to_vec());
                }
            }
        }
        bytes
    }

    /// A direction's bytes, from its data actions.
    fn data_bytes(&self, direction: Direction) -> Vec<u8> {
        let mut bytes = Vec::new();
        for action in &self.log {
            if let Action::Data { direction: d, data, .. } = action {
                if *d == direction {
                    bytes.extend_from_slice(data);
                }
            }
        }
        bytes
    }

    /// A direction's declared holes, from its monologues.
    fn gaps(&self, direction: Direction) -> Vec<Gap> {
        let mut gaps = Vec::new();
        for action in &self.log {
            if let Action::Monologue(m) = action {
                if m.direction == direction {
                    gaps.extend(m.gaps.iter().copied());
                }
            }
        }
        gaps
    }

    fn monologues(&self) -> Vec<&crate::session::Monologue> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::Monologue(m) => Some(&**m),
                _ => None,
            })
            .collect()
    }
}
