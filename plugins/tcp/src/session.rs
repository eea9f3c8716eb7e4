//! The session state machine: one TCP connection, both directions, no dispatcher.
//!
//! [`TcpSession::push`] takes one [`Segment`] and says what it caused, as an ordered
//! list of [`Action`]s the listener turns into events one for one. The rules:
//!
//! - **States** follow the original tool: a SYN or a FIN counts once the other side
//!   acknowledges it; two acknowledged SYNs make the session established, one
//!   acknowledged FIN half-closed, two closed; an RST closes it at once. A session first
//!   seen carrying data without a handshake is established at that packet and flagged
//!   `mid_stream`; so is one whose handshake was only partly captured.
//! - **Data** of a direction is released in order as soon as it is contiguous; data
//!   carried by a SYN (TCP Fast Open, RFC 7413) waits until the handshake completes, so
//!   the session's start always comes before its first byte.
//! - **Monologues**: a direction's monologue ends when the other direction releases
//!   content, when it reaches `max_monologue` (the next part is `continued`), when its
//!   stream ends, or when the session ends. Concatenating a direction's monologues gives
//!   its stream, holes excluded and listed.
//! - **Holes** are declared when the peer acknowledged past them while later data
//!   waits (RFC 9293 section 3.10.7.4: the receiver has what it acknowledged, so a
//!   retransmission will not come), when a buffer cap is reached, and when the session
//!   ends. Data beyond the peer's acknowledgment keeps waiting when the other side
//!   speaks: the receiver has not got it either, so its retransmission is still to come.
//! - **Stream end**: a direction ends when its FIN is reached in the stream or
//!   acknowledged, on an RST, or when the session ends.

use bytes::Bytes;
use netanalysis_core::{Endpoint, Packet, TcpFlags, Timestamp};
use smallvec::SmallVec;

use crate::events::{EndReason, Gap, PacketClass, PacketSpan, SessionState, StreamBytes, StreamEndReason};
use crate::seq::SeqNumber;
use crate::stream::{Piece, StreamAssembler, StreamStats};

/// One TCP segment, as the session sees it: decoded header fields and the captured
/// payload, borrowed from the packet.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Packet number (from 1).
    pub packet: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// Sequence number (of the SYN when SYN is set, else of the first payload byte).
    pub seq: SeqNumber,
    /// Acknowledgment number, when the ACK flag is set.
    pub ack: Option<SeqNumber>,
    /// Flags.
    pub flags: TcpFlags,
    /// Payload as captured.
    pub payload: &'a [u8],
    /// Payload bytes the IP header announced but the snaplen cut off.
    pub uncaptured: u32,
    /// The reader's buffer the payload lies in, if it shares it ([`Packet::buffer`]).
    pub buffer: Option<&'a Bytes>,
}

impl<'a> Segment<'a> {
    /// The segment a TCP packet carries (`None` for anything else).
    pub fn from_packet(packet: &Packet<'a>) -> Option<Segment<'a>> {
        let tcp = packet.tcp()?;
        let ip = packet.ip.as_ref()?;
        Some(Segment {
            packet: packet.number,
            ts: packet.ts,
            src: Endpoint::new(ip.src, tcp.src_port),
            dst: Endpoint::new(ip.dst, tcp.dst_port),
            seq: SeqNumber(tcp.seq),
            ack: tcp.flags.ack().then_some(SeqNumber(tcp.ack)),
            flags: tcp.flags,
            payload: packet.payload,
            uncaptured: packet.uncaptured,
            buffer: packet.buffer,
        })
    }

    /// Payload bytes the segment claims, captured or not.
    pub fn claimed_len(&self) -> u64 {
        self.payload.len() as u64 + u64::from(self.uncaptured)
    }
}

/// A direction of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (the side that sent the first SYN, or was seen first).
    ClientToServer,
    /// From the server.
    ServerToClient,
}

impl Direction {
    /// 0 from the client, 1 from the server.
    pub fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }

    fn from_index(index: usize) -> Direction {
        if index == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }
}

/// Limits a session enforces on itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Discard the session's packets once the payload bytes already taken reach this
    /// (the original's rule: whole segments are kept up to the one that crosses it).
    pub max_session_size: Option<u64>,
    /// Emit a monologue in parts of at least this many bytes.
    pub max_monologue: u64,
    /// Out-of-order bytes the session may buffer before it declares holes.
    pub max_buffered: u64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits { max_session_size: None, max_monologue: 64 << 20, max_buffered: 8 << 20 }
    }
}

/// A finished monologue: the bytes one side sent until data flowed the other way, its
/// stream ended, it reached `max_monologue`, or the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monologue {
    /// Who spoke.
    pub direction: Direction,
    /// Index within the session, from 1, over both directions.
    pub index: u32,
    /// The bytes, holes excluded.
    pub data: StreamBytes,
    /// Stream offset of its first byte (or first hole).
    pub offset: u64,
    /// First packet that contributed.
    pub first_packet: u64,
    /// Earliest time of a contributing packet.
    pub t_start: Timestamp,
    /// Latest time of a contributing packet.
    pub t_end: Timestamp,
    /// Packets that contributed.
    pub packets: u32,
    /// Which packets carried which bytes.
    pub which_pkts: Vec<PacketSpan>,
    /// Holes in its stretch of sequence space.
    pub gaps: SmallVec<[Gap; 1]>,
    /// Sum of the holes.
    pub missing_bytes: u64,
    /// Payload cut off by the snaplen.
    pub uncaptured_bytes: u64,
    /// It continues the previous monologue of its direction.
    pub continued: bool,
}

impl Monologue {
    fn new(direction: Direction, offset: u64, continued: bool, ts: Timestamp) -> Monologue {
        Monologue {
            direction,
            index: 0,
            data: StreamBytes::new(),
            offset,
            first_packet: 0,
            t_start: ts,
            t_end: ts,
            packets: 0,
            which_pkts: Vec::new(),
            gaps: SmallVec::new(),
            missing_bytes: 0,
            uncaptured_bytes: 0,
            continued,
        }
    }

    /// Records that `packet` contributed `len` bytes starting at the current end.
    fn note_packet(&mut self, packet: u64, ts: Timestamp, len: u64) {
        self.note_time(packet, ts);
        let start = self.data.len();
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        match self.which_pkts.last_mut() {
            Some(last) if last.packet == packet => {
                if len > 0 && last.start + u64::from(last.len) == start {
                    last.len = last.len.saturating_add(len32);
                } else if len > 0 {
                    self.which_pkts.push(PacketSpan { packet, start, len: len32 });
                }
            }
            _ => {
                self.packets = self.packets.saturating_add(1);
                self.which_pkts.push(PacketSpan { packet, start, len: len32 });
            }
        }
    }

    /// Records that `packet` contributed, counting it without keeping spans; `last` is
    /// the packet that contributed before it (as the last span would say).
    fn count_packet(&mut self, packet: u64, ts: Timestamp, last: &mut Option<u64>) {
        self.note_time(packet, ts);
        if *last != Some(packet) {
            self.packets = self.packets.saturating_add(1);
            *last = Some(packet);
        }
    }

    /// Records a hole (a gap or uncaptured bytes); `keep` and `last` as for
    /// [`Monologue::note_packet`] and [`Monologue::count_packet`].
    #[cold]
    #[inline(never)]
    fn note_hole(&mut self, piece: Piece, keep: bool, last: &mut Option<u64>) {
        match piece {
            Piece::Gap { offset, len } => {
                self.gaps.push(Gap { offset, len });
                self.missing_bytes = self.missing_bytes.saturating_add(len);
            }
            Piece::Uncaptured { len, packet, ts, .. } => {
                if keep {
                    self.note_packet(packet, ts, 0);
                } else {
                    self.count_packet(packet, ts, last);
                }
                self.uncaptured_bytes = self.uncaptured_bytes.saturating_add(len);
            }
            Piece::Data { .. } | Piece::Uncopied { .. } => {}
        }
    }

    /// The first packet and the time span, as `packet` at `ts` extends them.
    fn note_time(&mut self, packet: u64, ts: Timestamp) {
        if self.packets == 0 {
            self.first_packet = packet;
            self.t_start = ts;
            self.t_end = ts;
        } else {
            self.t_start = self.t_start.min(ts);
            self.t_end = self.t_end.max(ts);
        }
    }
}

/// What a segment (or a timeout, an eviction, the end of input) caused, in the order
/// the events must be emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The session started (`tcp_session_start`).
    Started {
        /// No handshake was seen.
        mid_stream: bool,
        /// The packet that started it.
        packet: u64,
        /// Its time.
        ts: Timestamp,
    },
    /// In-order bytes were released (`tcp_data`).
    Data {
        /// Whose bytes.
        direction: Direction,
        /// Stream offset of the first byte.
        offset: u64,
        /// The bytes (shared with the monologue).
        data: Bytes,
        /// Bytes withheld just before `offset`: released in order, but not reported
        /// because the receiver said it does not need them
        /// ([`TcpSession::set_unneeded_before`]).
        skipped: u64,
        /// The packet whose arrival released them.
        packet: u64,
        /// Its time.
        ts: Timestamp,
    },
    /// In-order bytes were released without being reported: withheld up to the offset
    /// the receiver gave, the stretch that ends there included
    /// ([`TcpSession::set_withhold_through`]). The receiver learns that they arrived
    /// in another way (`tcp_data` receivers: [`SessionId::take_released`]).
    ///
    /// [`SessionId::take_released`]: crate::SessionId::take_released
    Released {
        /// Whose bytes.
        direction: Direction,
        /// Stream offset just past them: the receiver's offset.
        end: u64,
        /// How many (withheld since the last data action).
        len: u64,
        /// The packet that released the last of them.
        packet: u64,
        /// Its time.
        ts: Timestamp,
    },
    /// A monologue ended (`tcp_monologue`). Boxed, so that the much more frequent
    /// data actions stay small to move.
    Monologue(Box<Monologue>),
    /// A monologue ended, for a caller that only counts them
    /// ([`TcpSession::report_monologues`]).
    MonologueCounted,
    /// A direction will carry no more data (`tcp_stream_end`).
    StreamEnd {
        /// Which one.
        direction: Direction,
        /// Why.
        reason: StreamEndReason,
        /// Stream offset just past its last byte.
        end_offset: u64,
        /// When.
        ts: Timestamp,
    },
    /// The session ended (`tcp_session_end`); nothing follows.
    Ended {
        /// Why.
        reason: EndReason,
        /// The packet that ended it, if one did.
        packet: Option<u64>,
        /// When.
        ts: Timestamp,
    },
}

/// The verdict on one segment plus what it caused. Reused across calls so steady-state
/// processing does not allocate.
#[derive(Debug, Default)]
pub struct SegmentOutcome {
    /// The packet's class.
    pub class: Option<PacketClass>,
    /// The session's state after it.
    pub state: Option<SessionState>,
    /// What it caused, in emission order.
    pub actions: Vec<Action>,
}

/// Counts of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Both directions' reassembly counts, summed.
    pub stream: StreamStats,
    /// Payload bytes discarded by `max_session_size`.
    pub discarded_bytes: u64,
    /// Monologues emitted.
    pub monologues: u64,
}

#[derive(Debug, Default)]
struct Half {
    assembler: StreamAssembler,
    syn: Option<SeqNumber>,
    syn_acked: bool,
    /// Sequence number of the FIN.
    fin: Option<SeqNumber>,
    fin_acked: bool,
    ended: bool,
    monologue: Option<Monologue>,
    /// Bytes of the open monologue (its data's length, counted also when the data is
    /// not kept).
    monologue_len: u64,
    /// The latest packet that contributed to the open monologue, when its spans are not
    /// kept.
    monologue_last_packet: Option<u64>,
    continued_next: bool,
    /// Released stretches that end before this offset are withheld, not reported.
    unneeded_before: u64,
    /// The stretch that ends right at `unneeded_before` is withheld too, and reported
    /// as [`Action::Released`] with what was withheld before it.
    through: bool,
    /// Bytes withheld since the last data action.
    withheld: Option<Withheld>,
}

/// Whether a released stretch that ends at `end` is withheld rather than reported,
/// given the receiver's offset and whether the stretch that ends there is withheld too.
#[inline]
fn withholds(end: u64, unneeded_before: u64, through: bool) -> bool {
    end < unneeded_before || (through && end == unneeded_before)
}

/// In-order bytes released but not reported yet (see [`Action::Data`]'s `skipped`).
#[derive(Debug, Clone, Copy)]
struct Withheld {
    len: u64,
    /// Stream offset just past them.
    end: u64,
    /// The latest packet that carried them, and its time.
    packet: u64,
    ts: Timestamp,
}

impl Withheld {
    /// After withheld bytes that end at `end`: when they reach the receiver's offset and
    /// the stretch that ends there is withheld too, all of those in `slot` are
    /// reported as released.
    #[inline]
    fn release_through(
        slot: &mut Option<Withheld>,
        end: u64,
        (unneeded_before, through): (u64, bool),
        direction: Direction,
        actions: &mut Vec<Action>,
    ) {
        if through && end == unneeded_before {
            if let Some(withheld) = slot.take() {
                actions.push(Action::Released {
                    direction,
                    end: withheld.end,
                    len: withheld.len,
                    packet: withheld.packet,
                    ts: withheld.ts,
                });
            }
        }
    }

    /// Adds a released stretch of `len` bytes ending at `end` to `slot`.
    fn add(slot: &mut Option<Withheld>, end: u64, len: u64, packet: u64, ts: Timestamp) {
        let withheld = slot.get_or_insert(Withheld { len: 0, end, packet, ts });
        withheld.len = withheld.len.saturating_add(len);
        withheld.end = end;
        withheld.packet = packet;
        withheld.ts = ts;
    }

    /// How many withheld bytes end right at `offset` (taken: the caller reports them).
    fn take(slot: &mut Option<Withheld>, offset: u64, direction: Direction, actions: &mut Vec<Action>) -> u64 {
        match slot.take() {
            Some(withheld) if withheld.end == offset => withheld.len,
            Some(withheld) => {
                // Not contiguous (never expected: holes report them first): reported
                // on their own.
                actions.push(withheld.into_action(direction));
                0
            }
            None => 0,
        }
    }

    /// Reports the bytes withheld in `slot`, if any, with a data action of no bytes.
    fn report(slot: &mut Option<Withheld>, direction: Direction, actions: &mut Vec<Action>) {
        if let Some(withheld) = slot.take() {
            actions.push(withheld.into_action(direction));
        }
    }

    fn into_action(self, direction: Direction) -> Action {
        Action::Data {
            direction,
            offset: self.end,
            data: Bytes::new(),
            skipped: self.len,
            packet: self.packet,
            ts: self.ts,
        }
    }
}

/// One TCP connection: its state, both directions' reassembly and open monologues.
#[derive(Debug)]
pub struct TcpSession {
    client: Endpoint,
    server: Endpoint,
    halves: [Half; 2],
    state: SessionState,
    started: bool,
    mid_stream: bool,
    limits: SessionLimits,
    taken: u64,
    discarded: u64,
    monologues: u64,
    next_index: u32,
    ended: Option<EndReason>,
    last_seen: Timestamp,
    /// The latest packet pushed (what a start without a packet of its own names).
    last_packet: u64,
    pieces: Vec<Piece>,
    /// Whether monologues carry their bytes and packet spans.
    keep_monologue_data: bool,
    /// Whether released bytes are reported as [`Action::Data`].
    data_actions: bool,
    /// Whether the bytes of data actions may be lent from the reader's buffer.
    lend_data: bool,
    /// A hole or an uncaptured stretch reset a direction's `unneeded_before` since
    /// [`TcpSession::take_lapsed`] was last called.
    lapsed: bool,
    /// Whether ended monologues are reported as [`Action::Monologue`].
    monologue_actions: bool,
}

impl TcpSession {
    /// A session opened by `first` (which is not yet processed: pass it to
    /// [`TcpSession::push`] next). The client is the SYN's sender, the receiver of a
    /// SYN-ACK seen first, or else the sender of the first packet.
    pub fn new(first: &Segment<'_>, limits: SessionLimits) -> TcpSession {
        let (client, server) =
            if first.flags.syn() && first.ack.is_some() { (first.dst, first.src) } else { (first.src, first.dst) };
        TcpSession {
            client,
            server,
            halves: [Half::default(), Half::default()],
            state: SessionState::Connecting,
            started: false,
            mid_stream: false,
            limits,
            taken: 0,
            discarded: 0,
            monologues: 0,
            next_index: 0,
            ended: None,
            last_seen: first.ts,
            last_packet: first.packet,
            pieces: Vec::new(),
            keep_monologue_data: true,
            data_actions: true,
            lend_data: false,
            lapsed: false,
            monologue_actions: true,
        }
    }

    /// Whether monologues carry their bytes (`data`) and which packet carried which of
    /// them (`which_pkts`); they do unless this is set to `false` before the first
    /// segment. Without, a monologue keeps everything else (index, offset, times, packet
    /// count, gaps, missing and uncaptured bytes) and still ends at the same points,
    /// `max_monologue` included, but its `data` only counts its bytes
    /// ([`StreamBytes::left_out`](crate::StreamBytes::left_out)) and `which_pkts` is
    /// empty: for a caller whose receivers do not read the bytes, which then neither
    /// clones a handle per chunk nor grows those lists.
    pub fn keep_monologue_data(&mut self, keep: bool) {
        self.keep_monologue_data = keep;
    }

    /// Whether ended monologues are reported as [`Action::Monologue`]; they are unless
    /// this is set to `false`, for a caller that only counts them (nobody receives,
    /// dumps or traces them): each is then reported as [`Action::MonologueCounted`],
    /// without building its event. Every other action, and the counts, stay the same.
    pub fn report_monologues(&mut self, report: bool) {
        self.monologue_actions = report;
    }

    /// Whether released bytes are reported as [`Action::Data`]; they are unless this is
    /// set to `false`, for a caller that emits no `tcp_data` (nobody subscribed). Every
    /// other action, and the counts, stay the same.
    pub fn report_data(&mut self, report: bool) {
        self.data_actions = report;
    }

    /// The receiver of data actions does not need the bytes `direction` sends before
    /// stream offset `offset` (`0`, the default: it needs every byte; `u64::MAX`: none).
    /// Released stretches of that direction that end before it are then withheld:
    /// counted into the next data action's `skipped` instead of reported (and not
    /// copied when monologues do not keep their bytes either). Before a hole, an
    /// uncaptured stretch or the end of the direction's monologue, withheld bytes are
    /// reported by a data action of no bytes. A hole or an uncaptured stretch also
    /// resets the offset to 0 (see [`TcpSession::unneeded_before`]). Every other
    /// action, and the counts, stay the same. Has no effect while data actions are off
    /// ([`TcpSession::report_data`]).
    pub fn set_unneeded_before(&mut self, direction: Direction, offset: u64) {
        self.halves[direction.index()].unneeded_before = offset;
    }

    /// Whether the stretch of `direction` that ends right at the offset of
    /// [`TcpSession::set_unneeded_before`] is withheld too (off by default). Once the
    /// withheld bytes reach that offset they are reported as one [`Action::Released`]
    /// instead of a data action. Reset with the offset by a hole or an uncaptured
    /// stretch.
    pub fn set_withhold_through(&mut self, direction: Direction, through: bool) {
        self.halves[direction.index()].through = through;
    }

    /// Whether the receiver of data actions lets their bytes be lent: it keeps neither
    /// them nor slices of them once it has handled the action (off by default). Bytes
    /// released as soon as their segment arrives are then slices of the segment's
    /// shared buffer ([`Segment::buffer`]) rather than copies, unless monologues keep
    /// their bytes. Bytes that wait in the out-of-order buffer are copied all the same.
    pub fn set_lend_data(&mut self, lend: bool) {
        self.lend_data = lend;
    }

    /// Whether a hole or an uncaptured stretch reset a direction's offset
    /// ([`TcpSession::unneeded_before`]) to 0 since the last call: the caller that keeps
    /// the receiver's word elsewhere learns here that it lapsed, without comparing
    /// offsets after every segment.
    pub fn take_lapsed(&mut self) -> bool {
        std::mem::take(&mut self.lapsed)
    }

    /// The offset set by [`TcpSession::set_unneeded_before`], or 0 once a hole or an
    /// uncaptured stretch of the direction was released after it was set.
    pub fn unneeded_before(&self, direction: Direction) -> u64 {
        self.halves[direction.index()].unneeded_before
    }

    /// The client endpoint.
    pub fn client(&self) -> Endpoint {
        self.client
    }

    /// The server endpoint.
    pub fn server(&self) -> Endpoint {
        self.server
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Why it ended, once it has.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.ended
    }

    /// Time of the latest packet.
    pub fn last_seen(&self) -> Timestamp {
        self.last_seen
    }

    /// The client's initial sequence number, if its SYN was seen (or implied by a
    /// SYN-ACK).
    pub fn saw_client_syn(&self) -> Option<SeqNumber> {
        self.halves[0].syn
    }

    /// Whether the session ever started (emitted its start).
    pub fn started(&self) -> bool {
        self.started
    }

    /// The sequence number of the next byte expected from `direction`, once known.
    pub fn next_seq(&self, direction: Direction) -> Option<SeqNumber> {
        self.halves[direction.index()].assembler.next_seq()
    }

    /// Captured bytes waiting in both out-of-order buffers.
    pub fn buffered_bytes(&self) -> u64 {
        self.halves.iter().map(|h| h.assembler.pending_bytes()).sum()
    }

    /// Counts so far.
    pub fn stats(&self) -> SessionStats {
        let mut stream = StreamStats::default();
        for half in &self.halves {
            let s = half.assembler.stats();
            stream.reassembled_bytes += s.reassembled_bytes;
            stream.gaps += s.gaps;
            stream.missing_bytes += s.missing_bytes;
            stream.uncaptured_bytes += s.uncaptured_bytes;
            stream.late_bytes += s.late_bytes;
            stream.conflicting_bytes += s.conflicting_bytes;
            stream.segments_dropped += s.segments_dropped;
        }
        SessionStats { stream, discarded_bytes: self.discarded, monologues: self.monologues }
    }

    /// The direction `segment` travels in, if it belongs to this session.
    pub fn direction_of(&self, segment: &Segment<'_>) -> Option<Direction> {
        if segment.src == self.client && segment.dst == self.server {
            Some(Direction::ClientToServer)
        } else if segment.src == self.server && segment.dst == self.client {
            Some(Direction::ServerToClient)
        } else {
            None
        }
    }

    /// Processes one segment of this session; `out` receives the packet's class, the
    /// state after it and what it caused (previous contents are cleared).
    pub fn push(&mut self, segment: &Segment<'_>, out: &mut SegmentOutcome) {
        if !out.actions.is_empty() {
            out.actions.clear();
        }
        out.class = Some(PacketClass::NonData);
        out.state = Some(self.state);
        let Some(direction) = self.direction_of(segment) else { return };
        if self.ended.is_some() {
            return;
        }
        let d = direction.index();
        let o = 1 - d;
        let flags = segment.flags;
        let ts = segment.ts;
        self.last_seen = self.last_seen.max(ts);
        self.last_packet = segment.packet;
        let actions = &mut out.actions;

        // A SYN fixes the direction's stream offset 0.
        let data_seq = if flags.syn() { self.take_syn(segment, d) } else { segment.seq };

        // What the acknowledgment says about the other direction's SYN and FIN.
        if let Some(ack) = segment.ack {
            let other = &mut self.halves[o];
            if let Some(isn) = other.syn {
                if !other.syn_acked && ack.distance(isn) > 0 {
                    other.syn_acked = true;
                }
            }
            if let Some(fin) = other.fin {
                if !other.fin_acked && ack.distance(fin) > 0 {
                    other.fin_acked = true;
                }
            }
        }

        let claimed = segment.claimed_len();
        if self.state == SessionState::Connecting {
            self.connecting(segment, actions);
        }

        // Holes of the other direction that this side acknowledged past.
        if let Some(ack) = segment.ack {
            if self.state != SessionState::Connecting {
                let mut pieces = std::mem::take(&mut self.pieces);
                self.halves[o].assembler.acknowledge(ack, &mut pieces);
                self.absorb(o, &mut pieces, ts, actions);
                crate::put_back(&mut self.pieces, pieces);
            }
        }

        // The payload.
        let mut class = PacketClass::NonData;
        if claimed > 0 {
            let over_limit = self.limits.max_session_size.is_some_and(|limit| self.taken >= limit);
            if over_limit {
                self.discarded = self.discarded.saturating_add(claimed);
            } else {
                let mut pieces = std::mem::take(&mut self.pieces);
                let half = &mut self.halves[d];
                half.assembler.set_hold(self.state == SessionState::Connecting);
                // Bytes nobody will read are not copied.
                half.assembler.set_unneeded_before(if self.keep_monologue_data {
                    0
                } else if self.data_actions {
                    // Past the stretch that ends at the offset when that one is withheld too.
                    half.unneeded_before.saturating_add(u64::from(half.through))
                } else {
                    u64::MAX
                });
                // Lent bytes are dropped with the frame: monologues must not keep them.
                let lend_from = segment.buffer.filter(|_| self.lend_data && !self.keep_monologue_data);
                let inserted = half.assembler.insert(
                    data_seq,
                    segment.payload,
                    lend_from,
                    segment.uncaptured,
                    segment.packet,
                    ts,
                    &mut pieces,
                );
                self.taken = self.taken.saturating_add(inserted.new_bytes);
                class = if inserted.dropped {
                    PacketClass::NonData
                } else if inserted.new_bytes == 0 {
                    PacketClass::Duplicate
                } else if inserted.in_order {
                    PacketClass::Data
                } else {
                    PacketClass::Future
                };
                self.absorb(d, &mut pieces, ts, actions);
                crate::put_back(&mut self.pieces, pieces);
                if self.buffered_bytes() > self.limits.max_buffered {
                    self.enforce_buffer_cap(d, ts, actions);
                }
            }
        }

        if flags.fin() || flags.rst() || self.halves[0].fin.is_some() || self.halves[1].fin.is_some() {
            self.closing(segment, d, data_seq, ts, actions);
        }
        out.class = Some(class);
        out.state = Some(self.state);
    }

    /// A SYN from direction `d`: fixes its stream offset 0 (RFC 9293 section 3.4: the
    /// SYN occupies one sequence number; data, if any, follows it). Returns the
    /// sequence number of the segment's first data byte. Rare, so out of the
    /// per-packet path.
    #[cold]
    #[inline(never)]
    fn take_syn(&mut self, segment: &Segment<'_>, d: usize) -> SeqNumber {
        let o = 1 - d;
        let data_seq = segment.seq.add(1);
        if self.state == SessionState::Connecting
            && self.halves[d].syn.is_some_and(|isn| isn != segment.seq)
            && !self.halves[d].assembler.has_pending()
        {
            // Another connection attempt on the same pair before the handshake
            // completed (a SYN flood reusing the port, or a retried connect): the new
            // initial sequence number replaces the old one, and a SYN also forgets the
            // peer's answer to the old attempt.
            self.halves[d] = Half::default();
            if segment.ack.is_none() {
                self.halves[o] = Half::default();
            }
        }
        let half = &mut self.halves[d];
        if half.syn.is_none() {
            half.syn = Some(segment.seq);
            half.assembler.set_origin(data_seq);
        }
        if let Some(ack) = segment.ack {
            let other = &mut self.halves[o];
            if other.syn.is_none() && self.state == SessionState::Connecting {
                // A SYN-ACK whose SYN was not (yet) seen: that SYN was sent, at ack - 1.
                other.syn = Some(ack.add(u32::MAX));
                other.assembler.set_origin(ack);
            }
        }
        data_seq
    }

    /// The handshake is under way: the session starts once both SYNs are acknowledged,
    /// or at the first data that comes without a SYN.
    #[cold]
    #[inline(never)]
    fn connecting(&mut self, segment: &Segment<'_>, actions: &mut Vec<Action>) {
        let handshake_done = self.halves[0].syn_acked && self.halves[1].syn_acked;
        let data_without_syn = segment.claimed_len() > 0 && !segment.flags.syn();
        if handshake_done || data_without_syn {
            self.state = SessionState::Established;
            self.mid_stream = !handshake_done && self.halves[0].syn.is_none();
            self.start(segment.packet, segment.ts, actions);
        }
    }

    /// The per-session buffer cap: declares holes, oldest first, until the buffered
    /// bytes fit (`d` sent the segment that crossed it).
    #[cold]
    #[inline(never)]
    fn enforce_buffer_cap(&mut self, d: usize, ts: Timestamp, actions: &mut Vec<Action>) {
        let o = 1 - d;
        let mut pieces = std::mem::take(&mut self.pieces);
        while self.buffered_bytes() > self.limits.max_buffered {
            let fullest = if self.halves[d].assembler.has_pending() { d } else { o };
            self.halves[fullest].assembler.flush_one_hole(&mut pieces);
            if pieces.is_empty() {
                break;
            }
            self.absorb(fullest, &mut pieces, ts, actions);
        }
        crate::put_back(&mut self.pieces, pieces);
    }

    /// A FIN or an RST came, or one was seen before: ends the directions whose FIN
    /// was reached or acknowledged, and the session on an RST or when both FINs are
    /// acknowledged.
    #[cold]
    #[inline(never)]
    fn closing(
        &mut self,
        segment: &Segment<'_>,
        d: usize,
        data_seq: SeqNumber,
        ts: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let o = 1 - d;
        if segment.flags.fin() {
            let half = &mut self.halves[d];
            if half.fin.is_none() {
                half.fin = Some(data_seq.add_u64(segment.claimed_len()));
            }
        }

        // Directions whose FIN was reached or acknowledged.
        for x in [d, o] {
            self.check_stream_end(x, ts, actions);
        }

        if segment.flags.rst() {
            self.finish(EndReason::Rst, Some(segment.packet), ts, actions);
        } else {
            let fins_acked = self.halves.iter().filter(|h| h.fin_acked).count();
            if fins_acked == 2 {
                self.finish(EndReason::Fin, Some(segment.packet), ts, actions);
            } else if fins_acked == 1 && self.state == SessionState::Established {
                self.state = SessionState::HalfClosed;
            }
        }
    }

    /// Ends the session without a packet (idle timeout, eviction, end of input):
    /// releases everything, declaring the remaining holes, and emits the open
    /// monologue, the stream ends and the session end.
    pub fn end(&mut self, reason: EndReason, now: Timestamp, actions: &mut Vec<Action>) {
        if self.ended.is_none() {
            self.finish(reason, None, now, actions);
        }
    }

    /// Declares every hole and releases everything buffered (a global buffer cap).
    #[cold]
    #[inline(never)]
    pub fn flush_buffers(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        if self.ended.is_some() || self.state == SessionState::Connecting {
            return;
        }
        let mut pieces = std::mem::take(&mut self.pieces);
        for x in 0..2 {
            self.halves[x].assembler.flush(&mut pieces);
            self.absorb(x, &mut pieces, now, actions);
        }
        crate::put_back(&mut self.pieces, pieces);
    }

    fn start(&mut self, packet: u64, ts: Timestamp, actions: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        actions.push(Action::Started { mid_stream: self.mid_stream, packet, ts });
        // Data held during the handshake (TCP Fast Open) is released now.
        let mut pieces = std::mem::take(&mut self.pieces);
        for x in 0..2 {
            self.halves[x].assembler.set_hold(false);
            self.halves[x].assembler.release(&mut pieces);
            self.absorb(x, &mut pieces, ts, actions);
        }
        crate::put_back(&mut self.pieces, pieces);
    }

    fn check_stream_end(&mut self, x: usize, ts: Timestamp, actions: &mut Vec<Action>) {
        let half = &self.halves[x];
        if half.ended || self.state == SessionState::Connecting {
            return;
        }
        let Some(fin) = half.fin else { return };
        let Some(fin_offset) = half.assembler.offset_of(fin) else { return };
        let fin_offset = u64::try_from(fin_offset).unwrap_or(0);
        if half.fin_acked {
            let mut pieces = std::mem::take(&mut self.pieces);
            self.halves[x].assembler.skip_to(fin_offset, &mut pieces);
            self.absorb(x, &mut pieces, ts, actions);
            crate::put_back(&mut self.pieces, pieces);
        }
        let half = &self.halves[x];
        if half.fin_acked || half.assembler.next_offset() >= fin_offset {
            self.end_stream(x, StreamEndReason::Fin, ts, actions);
        }
    }

    fn end_stream(&mut self, x: usize, reason: StreamEndReason, ts: Timestamp, actions: &mut Vec<Action>) {
        let mut pieces = std::mem::take(&mut self.pieces);
        self.halves[x].assembler.flush(&mut pieces);
        self.absorb(x, &mut pieces, ts, actions);
        crate::put_back(&mut self.pieces, pieces);
        self.emit_monologue(x, actions);
        let half = &mut self.halves[x];
        half.ended = true;
        actions.push(Action::StreamEnd {
            direction: Direction::from_index(x),
            reason,
            end_offset: half.assembler.next_offset(),
            ts,
        });
    }

    fn finish(&mut self, reason: EndReason, packet: Option<u64>, ts: Timestamp, actions: &mut Vec<Action>) {
        if self.ended.is_some() {
            return;
        }
        let mut pieces = std::mem::take(&mut self.pieces);
        for x in 0..2 {
            if !self.halves[x].ended {
                self.halves[x].assembler.flush(&mut pieces);
                self.absorb(x, &mut pieces, ts, actions);
            }
        }
        crate::put_back(&mut self.pieces, pieces);
        for x in 0..2 {
            if self.halves[x].monologue.is_some() {
                self.emit_monologue(x, actions);
            }
        }
        for x in 0..2 {
            if !self.halves[x].ended && self.started {
                let stream_reason = match reason {
                    EndReason::Rst => StreamEndReason::Rst,
                    EndReason::Fin => StreamEndReason::Fin,
                    other => StreamEndReason::SessionEnd(other),
                };
                self.end_stream(x, stream_reason, ts, actions);
            }
        }
        self.state = SessionState::Closed;
        self.ended = Some(reason);
        if self.started {
            actions.push(Action::Ended { reason, packet, ts });
        }
    }

    /// Turns released pieces of direction `x` into data actions and monologue content;
    /// content of one direction ends the other direction's open monologue first.
    fn absorb(&mut self, x: usize, pieces: &mut Vec<Piece>, now: Timestamp, actions: &mut Vec<Action>) {
        if pieces.is_empty() {
            return;
        }
        if !self.started {
            // Content before the start (a stray flush): the start comes first.
            self.start_without_release(now, actions);
        }
        let o = 1 - x;
        if self.halves[o].monologue.is_some() {
            self.emit_monologue(o, actions);
        }
        let direction = Direction::from_index(x);
        let keep = self.keep_monologue_data;
        let report = self.data_actions;
        for piece in pieces.drain(..) {
            let half = &mut self.halves[x];
            let continued = std::mem::take(&mut half.continued_next);
            let offset = match &piece {
                Piece::Data { offset, .. } | Piece::Uncopied { offset, .. } => *offset,
                Piece::Gap { offset, .. } | Piece::Uncaptured { offset, .. } => {
                    // Withheld bytes are reported before a discontinuity, and the
                    // receiver's word lapses: after a hole it may need what follows
                    // (to find its place again).
                    Withheld::report(&mut half.withheld, direction, actions);
                    if half.unneeded_before != 0 {
                        half.unneeded_before = 0;
                        half.through = false;
                        self.lapsed = true;
                    }
                    *offset
                }
            };
            let monologue = half.monologue.get_or_insert_with(|| Monologue::new(direction, offset, continued, now));
            match piece {
                Piece::Data { offset, bytes, packet, ts } => {
                    let len = bytes.len() as u64;
                    half.monologue_len += len;
                    if keep {
                        monologue.note_packet(packet, ts, len);
                    } else {
                        monologue.count_packet(packet, ts, &mut half.monologue_last_packet);
                        monologue.data.count_left_out(len);
                    }
                    let end = offset.saturating_add(len);
                    let offered = (half.unneeded_before, half.through);
                    let deliver = report && !withholds(end, offered.0, offered.1);
                    if report && !deliver {
                        Withheld::add(&mut half.withheld, end, len, packet, ts);
                        Withheld::release_through(&mut half.withheld, end, offered, direction, actions);
                    }
                    match (keep, deliver) {
                        (true, true) => {
                            monologue.data.push(bytes.clone());
                            let skipped = Withheld::take(&mut half.withheld, offset, direction, actions);
                            actions.push(Action::Data { direction, offset, data: bytes, skipped, packet, ts });
                        }
                        (true, false) => monologue.data.push(bytes),
                        (false, true) => {
                            let skipped = Withheld::take(&mut half.withheld, offset, direction, actions);
                            actions.push(Action::Data { direction, offset, data: bytes, skipped, packet, ts });
                        }
                        (false, false) => {}
                    }
                }
                Piece::Uncopied { offset, len, packet, ts } => {
                    // Only released as such when monologues keep no bytes.
                    half.monologue_len += len;
                    monologue.count_packet(packet, ts, &mut half.monologue_last_packet);
                    monologue.data.count_left_out(len);
                    if report {
                        let end = offset.saturating_add(len);
                        Withheld::add(&mut half.withheld, end, len, packet, ts);
                        let offered = (half.unneeded_before, half.through);
                        Withheld::release_through(&mut half.withheld, end, offered, direction, actions);
                    }
                }
                hole => monologue.note_hole(hole, keep, &mut half.monologue_last_packet),
            }
            if half.monologue_len >= self.limits.max_monologue {
                self.emit_monologue(x, actions);
                self.halves[x].continued_next = true;
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn start_without_release(&mut self, ts: Timestamp, actions: &mut Vec<Action>) {
        self.mid_stream = self.halves[0].syn.is_none();
        self.started = true;
        // Data held for the handshake is held no longer: what is contiguous goes out at
        // the direction's next release (its next segment, acknowledgment, FIN or end).
        for half in &mut self.halves {
            half.assembler.set_hold(false);
        }
        if self.state == SessionState::Connecting {
            self.state = SessionState::Established;
        }
        actions.push(Action::Started { mid_stream: self.mid_stream, packet: self.last_packet, ts });
    }

    fn emit_monologue(&mut self, x: usize, actions: &mut Vec<Action>) {
        Withheld::report(&mut self.halves[x].withheld, Direction::from_index(x), actions);
        self.halves[x].assembler.release_arena();
        self.halves[x].monologue_len = 0;
        self.halves[x].monologue_last_packet = None;
        if let Some(mut monologue) = self.halves[x].monologue.take() {
            self.next_index = self.next_index.saturating_add(1);
            self.monologues += 1;
            monologue.index = self.next_index;
            actions.push(if self.monologue_actions {
                Action::Monologue(Box::new(monologue))
            } else {
                Action::MonologueCounted
            });
        }
    }
}
