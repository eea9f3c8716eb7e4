//! The TCP listener: a thin adapter from session outcomes to events.
//!
//! It keeps the session table ([`crate::table`], keyed by [`SocketPair`], so the
//! per-packet lookup formats nothing) and the tombstones of closed sessions
//! ([`crate::tombs`]), applies the run-wide limits (idle timeout,
//! session cap with oldest-idle eviction, global buffer cap), writes trace lines and
//! dump files, and turns each [`Action`] into its event, in order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;

use bytes::Bytes;

use netanalysis_core::{
    Config, ConfigError, Context, Endpoint, Flow, Listener, ListenerError, ListenerResult, OptionKind, OptionSpec,
    Packet, SocketPair, Subscriptions, Summary, Timestamp,
};

use crate::events::{
    EndReason, PacketClass, SessionId, SessionState, TcpData, TcpMonologue, TcpPacket, TcpSessionEnd, TcpSessionStart,
    TcpStreamEnd,
};
use crate::seq::SeqNumber;
use crate::session::{Action, Direction, Monologue, Segment, SegmentOutcome, SessionLimits, TcpSession};
use crate::stream::StreamStats;
use crate::table::{Generations, SessionTable, Slot};
use crate::tombs::{Record, Tombstones};

/// Trace bit: one line per packet.
const TRACE_PACKETS: u64 = 1;
/// Trace bit: one line per monologue.
const TRACE_MONOLOGUES: u64 = 2;
/// Trace bit: one line per session start and end.
const TRACE_SESSIONS: u64 = 4;
/// Sessions one tick may end for idle timeout, so a tick's frame stays within its event
/// budget (a session's end is a handful of events); the rest end at the next tick.
const TIMEOUTS_PER_TICK: usize = 1024;

/// The TCP plugin's options, as the registry checks them.
pub const TCP_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "v",
        kind: OptionKind::Uint,
        default: Some("0"),
        help: "trace bitmask: 1 per packet, 2 per monologue, 4 per session",
    },
    OptionSpec { name: "k", kind: OptionKind::Text, default: None, help: "trace this one session key verbosely" },
    OptionSpec {
        name: "dump",
        kind: OptionKind::Path,
        default: None,
        help: "write each monologue to DIR/<session id>.<index>",
    },
    OptionSpec {
        name: "max_session_size",
        kind: OptionKind::Size,
        default: None,
        help: "discard a session's packets once this many payload bytes were taken",
    },
    OptionSpec {
        name: "idle_timeout",
        kind: OptionKind::Seconds,
        default: Some("300"),
        help: "end a session after this much capture time without a packet",
    },
    OptionSpec {
        name: "linger",
        kind: OptionKind::Seconds,
        default: Some("30"),
        help: "remember a closed session this much capture time, so its late packets open none",
    },
    OptionSpec {
        name: "max_monologue",
        kind: OptionKind::Size,
        default: Some("64M"),
        help: "emit longer monologues in parts of this size",
    },
    OptionSpec {
        name: "max_session_buffer",
        kind: OptionKind::Size,
        default: Some("8M"),
        help: "out-of-order bytes one session may buffer before declaring holes",
    },
    OptionSpec {
        name: "max_buffer",
        kind: OptionKind::Size,
        default: Some("256M"),
        help: "out-of-order bytes all sessions together may buffer",
    },
    OptionSpec {
        name: "max_sessions",
        kind: OptionKind::Uint,
        default: Some("500000"),
        help: "sessions tracked at once; the oldest idle one is evicted past it",
    },
];

/// The run-wide settings of a [`TcpReassembler`].
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOptions {
    /// Trace bitmask (1 per packet, 2 per monologue, 4 per session).
    pub verbosity: u64,
    /// One session key to trace with every bit set.
    pub key: Option<String>,
    /// Where to write monologues, one file each.
    pub dump: Option<PathBuf>,
    /// Per-session limits.
    pub limits: SessionLimits,
    /// Idle timeout in capture-time nanoseconds.
    pub idle_timeout_nanos: u64,
    /// How long a closed session is remembered, in capture-time nanoseconds.
    pub linger_nanos: u64,
    /// Out-of-order bytes all sessions may buffer together.
    pub max_buffer: u64,
    /// Sessions (and recently closed ones) tracked at once.
    pub max_sessions: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            verbosity: 0,
            key: None,
            dump: None,
            limits: SessionLimits::default(),
            idle_timeout_nanos: 300_000_000_000,
            linger_nanos: 30_000_000_000,
            max_buffer: 256 << 20,
            max_sessions: 500_000,
        }
    }
}

impl TcpOptions {
    /// Reads the options from a checked configuration.
    pub fn from_config(cfg: &Config) -> Result<TcpOptions, ConfigError> {
        let defaults = TcpOptions::default();
        let idle = cfg.seconds("idle_timeout")?.unwrap_or(300.0);
        let linger = cfg.seconds("linger")?.unwrap_or(30.0);
        let max_monologue = cfg.u64("max_monologue")?.unwrap_or(defaults.limits.max_monologue);
        if max_monologue == 0 {
            return Err(cfg.invalid("max_monologue must be at least 1 byte"));
        }
        let max_sessions = cfg.u64("max_sessions")?.unwrap_or(500_000);
        if max_sessions == 0 {
            return Err(cfg.invalid("max_sessions must be at least 1"));
        }
        Ok(TcpOptions {
            verbosity: cfg.u64("v")?.unwrap_or(0),
            key: cfg.text("k")?.map(str::to_owned),
            dump: cfg.text("dump")?.map(PathBuf::from),
            limits: SessionLimits {
                max_session_size: cfg.u64("max_session_size")?,
                max_monologue,
                max_buffered: cfg.u64("max_session_buffer")?.unwrap_or(defaults.limits.max_buffered),
            },
            // Seconds to nanoseconds; the float is non-negative and finite (checked by
            // the parser) and the cast saturates.
            idle_timeout_nanos: (idle * 1e9) as u64,
            linger_nanos: (linger * 1e9) as u64,
            max_buffer: cfg.u64("max_buffer")?.unwrap_or(defaults.max_buffer),
            max_sessions: usize::try_from(max_sessions).unwrap_or(usize::MAX),
        })
    }
}

/// Run-wide counts, reported as flat `tcp_*` keys.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    sessions: u64,
    monologues: u64,
    stream: StreamStats,
    discarded_bytes: u64,
    evicted: u64,
    timed_out: u64,
    late_packets: u64,
    /// Payload of packets that arrived after their session closed.
    bytes_after_close: u64,
    stray_packets: u64,
}

impl Totals {
    fn absorb(&mut self, session: &TcpSession) {
        let stats = session.stats();
        let s = &mut self.stream;
        s.reassembled_bytes += stats.stream.reassembled_bytes;
        s.gaps += stats.stream.gaps;
        s.missing_bytes += stats.stream.missing_bytes;
        s.uncaptured_bytes += stats.stream.uncaptured_bytes;
        s.late_bytes += stats.stream.late_bytes;
        s.conflicting_bytes += stats.stream.conflicting_bytes;
        s.segments_dropped += stats.stream.segments_dropped;
        self.discarded_bytes += stats.discarded_bytes;
    }
}

/// A live session in the session table.
#[derive(Debug)]
struct Entry {
    serial: u64,
    generation: u32,
    live: Box<Live>,
    /// Capture time of its latest packet, in nanoseconds.
    last_seen: u64,
    /// Capture time of its latest place in the recency queue, in nanoseconds.
    queued_at: u64,
}

/// The tombstone of a closed session, kept for the linger time (with its pair and
/// closing time, in [`Tombstones`]): it absorbs late packets and remembers the pair's
/// generation for the next id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grave {
    /// Capture time of its latest packet, in nanoseconds.
    last_seen: u64,
    generation: u32,
    tomb: Tomb,
}

/// The size of one tombstone's record (pair, closing time and [`Grave`]): the listener
/// holds one for every session closed within the linger time.
#[cfg(test)]
pub(crate) fn tombstone_size() -> usize {
    std::mem::size_of::<Option<Record<Grave>>>()
}

/// What only a live session needs.
#[derive(Debug)]
struct Live {
    session: TcpSession,
    id: SessionId,
    /// Trace bits for this session (the `k` option adds every bit).
    verbosity: u64,
    /// Its out-of-order bytes, as last added to the global count.
    buffered: u64,
    /// Events went out for it since the receiver's word in `id` (`skip_until`,
    /// `lend_only`) was last read: only a receiver of its events can change that word,
    /// so the session reads it again only then, not on every packet.
    reread: bool,
}

/// What a closed session leaves behind to tell late packets from a connection that
/// goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tomb {
    /// It never started, or a reset ended it: a peer may have ignored that reset (an
    /// RST with a bad signature, an evasion attempt), so the connection can go on.
    reopenable: bool,
    /// Whether each endpoint was seen sending, the pair's lower endpoint first.
    sent: [bool; 2],
    /// The sequence number after the last byte each endpoint was seen sending.
    ends: [SeqNumber; 2],
}

impl Tomb {
    /// What `session` leaves behind.
    fn of(session: &TcpSession) -> Tomb {
        let pair = SocketPair::new(session.client(), session.server());
        let mut ends = [session.next_seq(Direction::ClientToServer), session.next_seq(Direction::ServerToClient)];
        if session.client() != pair.endpoints().0 {
            ends.swap(0, 1);
        }
        let [lower, upper] = ends;
        Tomb {
            reopenable: !session.started() || session.end_reason() == Some(EndReason::Rst),
            sent: [lower.is_some(), upper.is_some()],
            ends: [lower.unwrap_or(SeqNumber(0)), upper.unwrap_or(SeqNumber(0))],
        }
    }

    /// Whether `segment` shows the connection going on past the session's end: a
    /// SYN-ACK, or bytes beyond what its sender had sent.
    fn continues(&self, pair: &SocketPair, segment: &Segment<'_>) -> bool {
        if !self.reopenable {
            return false;
        }
        if segment.flags.syn() {
            return true;
        }
        if segment.claimed_len() == 0 {
            return false;
        }
        let end = segment.seq.add_u64(segment.claimed_len());
        let sender = usize::from(segment.src != pair.endpoints().0);
        match (self.sent.get(sender), self.ends.get(sender)) {
            (Some(true), Some(next)) => end.distance(*next) > 0,
            _ => true,
        }
    }
}

/// A place in the recency queue (idle timeout and eviction), in capture-time order;
/// stale when the slot's entry has another serial or was queued again since.
#[derive(Debug, Clone, Copy)]
struct Recency {
    slot: Slot,
    serial: u64,
    /// Capture time, in nanoseconds.
    seen: u64,
}

impl Recency {
    /// Nanoseconds from this place's time to `now` (zero if it is later).
    fn age(&self, now: Timestamp) -> u64 {
        now.as_nanos().saturating_sub(self.seen)
    }
}

/// What the emitter needs to know about a session.
#[derive(Debug, Clone)]
struct SessionInfo {
    id: SessionId,
    pair: SocketPair,
    client: Endpoint,
    server: Endpoint,
    verbosity: u64,
}

impl SessionInfo {
    fn endpoints(&self, direction: Direction) -> (Endpoint, Endpoint) {
        match direction {
            Direction::ClientToServer => (self.client, self.server),
            Direction::ServerToClient => (self.server, self.client),
        }
    }
}

/// Which of the per-packet and per-monologue events some listener subscribed to. Asked of
/// the dispatcher once, at setup (its routing never changes afterwards); everything is
/// wanted until then, so a listener driven without setup still emits every event.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    packet: bool,
    data: bool,
    /// Exactly one listener receives `tcp_data`, so what it says it does not need
    /// ([`TcpData::skip_until`]) is withheld, and what it says it does not keep
    /// ([`TcpData::lend_only`]) is lent.
    data_alone: bool,
    monologue: bool,
    /// Some receiver of `tcp_monologue` reads its bytes.
    monologue_bytes: bool,
}

impl Default for Wanted {
    fn default() -> Self {
        Wanted { packet: true, data: true, data_alone: false, monologue: true, monologue_bytes: true }
    }
}

/// The parts of the listener that opening and closing a session touch, borrowed apart
/// from the session table.
struct Table<'a> {
    options: &'a TcpOptions,
    wanted: Wanted,
    next_serial: &'a mut u64,
    recency: &'a mut VecDeque<Recency>,
    totals: &'a mut Totals,
    buffered_total: &'a mut u64,
    tombs: &'a mut Tombstones<Grave>,
    forgotten: &'a mut Generations,
}

/// What became of a live session before a segment was pushed to it.
enum Renewal {
    /// It goes on.
    Kept,
    /// It ended and the segment opened the pair's next session in its place.
    Opened,
    /// It ended, leaving this tombstone; the segment belongs to no session.
    Ended(Grave),
}

impl Grave {
    /// Whether `segment`, on the pair of this closed session, opens the pair's next
    /// session: a new connection (a SYN), one that goes on past a reset its peer
    /// ignored, or any opening segment once the session would have timed out.
    fn reopens(&self, pair: &SocketPair, segment: &Segment<'_>, now: Timestamp, timeout: u64) -> bool {
        let opens_session = segment.flags.syn() || segment.claimed_len() > 0;
        let pure_syn = segment.flags.syn() && segment.ack.is_none();
        let expired = now.as_nanos().saturating_sub(self.last_seen) > timeout;
        pure_syn || self.tomb.continues(pair, segment) || (expired && opens_session)
    }
}

impl Table<'_> {
    /// Before `segment` is pushed to the pair's `entry`: ends its live session if that
    /// was idle too long or a new connection replaces it (what that causes goes to
    /// `side`, about `side_info`), and opens the next session in its place where the
    /// segment starts one. Rare, so out of the per-packet path.
    #[allow(clippy::too_many_arguments)]
    #[cold]
    #[inline(never)]
    fn renew(
        &mut self,
        entry: &mut Entry,
        slot: Slot,
        pair: SocketPair,
        segment: &Segment<'_>,
        now: Timestamp,
        side: &mut Vec<Action>,
        side_info: &mut Option<SessionInfo>,
    ) -> Renewal {
        let timeout = self.options.idle_timeout_nanos;
        let pure_syn = segment.flags.syn() && segment.ack.is_none();
        let Live { session, id, verbosity, .. } = &mut *entry.live;
        let idle = now.since(session.last_seen()).as_nanos() > timeout;
        let reused = pure_syn
            && session.saw_client_syn().is_some_and(|isn| isn != segment.seq)
            && session.state() != SessionState::Connecting;
        let reason = if idle {
            EndReason::Timeout
        } else if reused {
            // The old connection ended unseen (its close was not captured); a SYN with
            // another initial sequence number starts a new one.
            if session.state() == SessionState::HalfClosed {
                EndReason::Fin
            } else {
                EndReason::Timeout
            }
        } else {
            return Renewal::Kept;
        };
        session.end(reason, now, side);
        *side_info = Some(TcpReassembler::info(id, *verbosity, session, pair));
        if reason == EndReason::Timeout {
            self.totals.timed_out += 1;
        }
        let grave = TcpReassembler::retire(self.totals, self.buffered_total, entry);
        if !grave.reopens(&pair, segment, now, timeout) {
            return Renewal::Ended(grave);
        }
        *entry = TcpReassembler::new_entry(
            self.options,
            self.wanted,
            self.next_serial,
            pair,
            grave.generation.saturating_add(1),
            segment,
            now,
        );
        self.recency.push_back(Recency { slot, serial: entry.serial, seen: now.as_nanos() });
        Renewal::Opened
    }

    /// A segment for a pair with no live session: it opens the pair's next session
    /// (whose slot it returns) if it starts one, or belongs to the pair's closed
    /// session (a late packet), or to none (a stray packet).
    #[cold]
    #[inline(never)]
    fn arrive(
        &mut self,
        sessions: &mut SessionTable<Entry>,
        pair: SocketPair,
        segment: &Segment<'_>,
        now: Timestamp,
    ) -> Option<Slot> {
        let Table { options, wanted, next_serial, recency, totals, tombs, forgotten, .. } = self;
        let generation = match tombs.get(&pair) {
            Some(record) => {
                if !record.value.reopens(&pair, segment, now, options.idle_timeout_nanos) {
                    totals.late_packets += 1;
                    totals.bytes_after_close += segment.claimed_len();
                    return None;
                }
                let generation = record.value.generation;
                tombs.take(&pair);
                generation.saturating_add(1)
            }
            None if segment.flags.syn() || segment.claimed_len() > 0 => {
                forgotten.get(pair.stable_hash()).map_or(1, |generation| generation.saturating_add(1))
            }
            None => {
                totals.stray_packets += 1;
                return None;
            }
        };
        let entry = TcpReassembler::new_entry(options, *wanted, next_serial, pair, generation, segment, now);
        let serial = entry.serial;
        let slot = sessions.insert(pair, entry)?;
        recency.push_back(Recency { slot, serial, seen: now.as_nanos() });
        Some(slot)
    }
}

/// The TCP listener: reassembles every TCP session of the capture and emits
/// `tcp_packet`, `tcp_session_start`, `tcp_data`, `tcp_monologue`, `tcp_stream_end` and
/// `tcp_session_end` (see the crate docs).
#[derive(Debug)]
pub struct TcpReassembler {
    options: TcpOptions,
    sessions: SessionTable<Entry>,
    /// Live sessions by latest activity.
    recency: VecDeque<Recency>,
    /// Closed sessions (tombstones) by closing time.
    tombs: Tombstones<Grave>,
    next_serial: u64,
    outcome: SegmentOutcome,
    side_actions: Vec<Action>,
    buffered_total: u64,
    totals: Totals,
    /// The sessions still open when the input ended, in the order they opened.
    teardown: Option<VecDeque<Slot>>,
    /// Generations of pairs the listener forgot (evicted sessions, tombstones past
    /// their time), so a later session on the pair still gets a new id; 8 bytes a
    /// pair. Cleared when it reaches `max_sessions` pairs, which bounds its memory.
    forgotten: Generations,
    /// Events nobody subscribed to are not built.
    wanted: Wanted,
    /// The recency step (see [`TcpReassembler::recency_step`]), computed once: a
    /// division per packet shows.
    step: u64,
}

impl Default for TcpReassembler {
    fn default() -> Self {
        TcpReassembler::new(TcpOptions::default())
    }
}

impl TcpReassembler {
    /// A listener with these options.
    pub fn new(options: TcpOptions) -> TcpReassembler {
        let step = (options.idle_timeout_nanos / 16).max(1);
        TcpReassembler {
            options,
            sessions: SessionTable::default(),
            recency: VecDeque::new(),
            tombs: Tombstones::default(),
            next_serial: 0,
            outcome: SegmentOutcome::default(),
            side_actions: Vec::new(),
            buffered_total: 0,
            totals: Totals::default(),
            teardown: None,
            forgotten: Generations::default(),
            wanted: Wanted::default(),
            step,
        }
    }

    /// The plugin's build function: reads the checked configuration.
    pub fn build(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        Ok(Box::new(TcpReassembler::new(TcpOptions::from_config(cfg)?)))
    }

    /// Sessions held: live ones, and the tombstones of those closed recently.
    pub fn tracked_sessions(&self) -> usize {
        self.sessions.len() + self.tombs.len()
    }

    fn info(id: &SessionId, verbosity: u64, session: &TcpSession, pair: SocketPair) -> SessionInfo {
        SessionInfo { id: id.clone(), pair, client: session.client(), server: session.server(), verbosity }
    }

    /// A new table entry for the `generation`-th session on `pair` (its caller queues
    /// it for recency, in the slot it puts it in).
    #[cold]
    #[inline(never)]
    fn new_entry(
        options: &TcpOptions,
        wanted: Wanted,
        next_serial: &mut u64,
        pair: SocketPair,
        generation: u32,
        segment: &Segment<'_>,
        now: Timestamp,
    ) -> Entry {
        let id = SessionId::new(&pair, generation);
        let verbosity = match &options.key {
            Some(key) if key == id.key() || key == id.as_str() => {
                options.verbosity | TRACE_PACKETS | TRACE_MONOLOGUES | TRACE_SESSIONS
            }
            _ => options.verbosity,
        };
        *next_serial += 1;
        let mut session = TcpSession::new(segment, options.limits);
        // Monologue bytes are kept only for someone who reads them: a subscriber that
        // asked for them, the dump files or the monologue trace; monologues are built
        // for any subscriber.
        let traced = options.dump.is_some() || verbosity & TRACE_MONOLOGUES != 0;
        session.keep_monologue_data(wanted.monologue_bytes || traced);
        session.report_monologues(wanted.monologue || traced);
        session.report_data(wanted.data);
        Entry {
            serial: *next_serial,
            generation,
            live: Box::new(Live { session, id, verbosity, buffered: 0, reread: true }),
            last_seen: segment.ts.as_nanos(),
            queued_at: now.as_nanos(),
        }
    }

    /// The tombstone of `entry`'s session, which has ended: its counts go to the
    /// totals, its out-of-order bytes leave the global count.
    #[cold]
    #[inline(never)]
    fn retire(totals: &mut Totals, buffered_total: &mut u64, entry: &Entry) -> Grave {
        let Live { session, buffered, .. } = &*entry.live;
        totals.absorb(session);
        *buffered_total = buffered_total.saturating_sub(*buffered);
        Grave { last_seen: entry.last_seen, generation: entry.generation, tomb: Tomb::of(session) }
    }

    /// Keeps `grave` for `pair` for the linger time (from `now`), or only its
    /// generation when the tombstones cannot take another.
    #[cold]
    #[inline(never)]
    fn bury(
        tombs: &mut Tombstones<Grave>,
        forgotten: &mut Generations,
        max_sessions: usize,
        pair: SocketPair,
        grave: Grave,
        now: Timestamp,
    ) {
        // A live session's pair has no tombstone, so nothing is replaced.
        if let Err(record) = tombs.put(Record { pair, since: now.as_nanos(), value: grave }) {
            Self::remember(forgotten, max_sessions, &record.pair, record.value.generation);
        }
    }

    /// Remembers the generation of a pair that leaves the listener's sight.
    fn remember(forgotten: &mut Generations, max_sessions: usize, pair: &SocketPair, generation: u32) {
        if forgotten.len() >= max_sessions {
            forgotten.clear();
        }
        forgotten.set(pair.stable_hash(), generation);
    }

    /// The packet's `tcp_packet` event and trace line, for a subscriber or a trace.
    #[cold]
    #[inline(never)]
    fn emit_packet(
        &self,
        ctx: &mut Context<'_>,
        segment: &Segment<'_>,
        session: Option<SessionId>,
        class: PacketClass,
        state: SessionState,
        traced: bool,
    ) -> ListenerResult {
        let packet_event = TcpPacket {
            session,
            number: segment.packet,
            ts: segment.ts,
            from: segment.src,
            to: segment.dst,
            flags: segment.flags,
            seq: segment.seq.0,
            ack: segment.ack.map_or(0, |a| a.0),
            len: u32::try_from(segment.payload.len()).unwrap_or(u32::MAX),
            class,
            state,
        };
        let result = if traced { Self::trace_packet(ctx, &packet_event) } else { Ok(()) };
        if self.wanted.packet {
            ctx.emit(packet_event);
        }
        result
    }

    /// Emits the events of `actions`, in order; writes trace lines and dump files.
    /// `emitted`: an event of the session was emitted already in this frame.
    fn emit_actions(
        &mut self,
        ctx: &mut Context<'_>,
        info: &SessionInfo,
        actions: &mut Vec<Action>,
        mut emitted: bool,
    ) -> ListenerResult {
        let mut first_error = None;
        for action in actions.drain(..) {
            let action = match action {
                // The receiver would find the mark before an event that came first: the
                // bytes are reported after it, the usual way.
                Action::Released { direction, end, len, packet, ts } if emitted => {
                    Action::Data { direction, offset: end, data: Bytes::new(), skipped: len, packet, ts }
                }
                action => action,
            };
            let result = match action {
                Action::Started { mid_stream, packet, ts } => {
                    self.totals.sessions += 1;
                    emitted = true;
                    Self::emit_start(ctx, info, mid_stream, packet, ts)
                }
                Action::Released { direction, .. } => {
                    info.id.mark_released(direction);
                    Ok(())
                }
                Action::Data { direction, offset, data, skipped, packet, ts } => {
                    if self.wanted.data {
                        emitted = true;
                        let (from, to) = info.endpoints(direction);
                        ctx.emit(TcpData {
                            session: info.id.clone(),
                            direction,
                            from,
                            to,
                            offset,
                            data,
                            skipped,
                            packet,
                            ts,
                        });
                    }
                    Ok(())
                }
                Action::MonologueCounted => {
                    self.totals.monologues += 1;
                    Ok(())
                }
                Action::Monologue(boxed) => {
                    self.totals.monologues += 1;
                    if self.wanted.monologue || self.options.dump.is_some() || info.verbosity & TRACE_MONOLOGUES != 0 {
                        emitted |= self.wanted.monologue;
                        self.emit_monologue(ctx, info, boxed)
                    } else {
                        // Counted; nobody receives, dumps or traces it.
                        Ok(())
                    }
                }
                Action::StreamEnd { direction, reason, end_offset, ts } => {
                    emitted = true;
                    let (from, to) = info.endpoints(direction);
                    ctx.emit(TcpStreamEnd { session: info.id.clone(), from, to, reason, end_offset, ts });
                    Ok(())
                }
                Action::Ended { reason, packet, ts } => {
                    emitted = true;
                    Self::emit_end(ctx, info, reason, packet, ts)
                }
            };
            if let Err(err) = result {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A session started: its trace line and event (once per session, out of the
    /// per-packet path).
    #[cold]
    #[inline(never)]
    fn emit_start(
        ctx: &mut Context<'_>,
        info: &SessionInfo,
        mid_stream: bool,
        packet: u64,
        ts: Timestamp,
    ) -> ListenerResult {
        let result = if info.verbosity & TRACE_SESSIONS != 0 {
            ctx.trace(format_args!(
                "tcp_session_start {} client={} server={}{} pkt={}",
                info.id,
                info.client,
                info.server,
                if mid_stream { " mid_stream" } else { "" },
                packet
            ))
        } else {
            Ok(())
        };
        ctx.emit(TcpSessionStart {
            session: info.id.clone(),
            pair: info.pair,
            client: info.client,
            server: info.server,
            mid_stream,
            packet,
            ts,
        });
        result
    }

    /// A monologue ended: dumped, traced and emitted as asked.
    #[inline(never)]
    fn emit_monologue(&self, ctx: &mut Context<'_>, info: &SessionInfo, monologue: Box<Monologue>) -> ListenerResult {
        let monologue = *monologue;
        let result = self.dump_and_trace(ctx, info, &monologue);
        if !self.wanted.monologue {
            return result;
        }
        let (from, to) = info.endpoints(monologue.direction);
        ctx.emit(TcpMonologue {
            session: info.id.clone(),
            index: monologue.index,
            from,
            to,
            data: monologue.data,
            offset: monologue.offset,
            first_packet: monologue.first_packet,
            t_start: monologue.t_start,
            t_end: monologue.t_end,
            packets: monologue.packets,
            which_pkts: monologue.which_pkts,
            gaps: monologue.gaps,
            missing_bytes: monologue.missing_bytes,
            uncaptured_bytes: monologue.uncaptured_bytes,
            continued: monologue.continued,
        });
        result
    }

    /// A session ended: its trace line and event (once per session).
    #[cold]
    #[inline(never)]
    fn emit_end(
        ctx: &mut Context<'_>,
        info: &SessionInfo,
        reason: EndReason,
        packet: Option<u64>,
        ts: Timestamp,
    ) -> ListenerResult {
        let result = if info.verbosity & TRACE_SESSIONS != 0 {
            match packet {
                Some(n) => ctx.trace(format_args!("tcp_session_end {} reason={} pkt={}", info.id, reason.as_str(), n)),
                None => ctx.trace(format_args!("tcp_session_end {} reason={} nopkt", info.id, reason.as_str())),
            }
        } else {
            Ok(())
        };
        ctx.emit(TcpSessionEnd { session: info.id.clone(), pair: info.pair, reason, packet, ts });
        result
    }

    fn dump_and_trace(&self, ctx: &mut Context<'_>, info: &SessionInfo, monologue: &Monologue) -> ListenerResult {
        if info.verbosity & TRACE_MONOLOGUES != 0 {
            let (from, to) = info.endpoints(monologue.direction);
            ctx.trace(format_args!(
                "tcp_monologue {} #{} {} > {} bytes={} pkts={} t_start={} t_end={} t_elapsed={} gaps={} missing={}{}",
                info.id,
                monologue.index,
                from,
                to,
                monologue.data.len(),
                monologue.packets,
                monologue.t_start,
                monologue.t_end,
                monologue.t_end.since(monologue.t_start),
                monologue.gaps.len(),
                monologue.missing_bytes,
                if monologue.continued { " continued" } else { "" }
            ))?;
        }
        if let Some(dir) = &self.options.dump {
            let path = dir.join(format!("{}.{}", info.id, monologue.index));
            let mut file = File::create(&path).map_err(|err| {
                ListenerError::msg(format!("cannot write the monologue dump {}: {err}", path.display()))
            })?;
            for chunk in monologue.data.chunks() {
                file.write_all(chunk)?;
            }
        }
        Ok(())
    }

    fn trace_packet(ctx: &mut Context<'_>, packet: &TcpPacket) -> ListenerResult {
        ctx.trace(format_args!(
            "tcp_packet {} #{} {} {} > {} [{}] seq={} ack={} len={} {} {}",
            packet.session.as_ref().map_or("-", |s| s.as_str()),
            packet.number,
            packet.ts,
            packet.from,
            packet.to,
            packet.flags,
            packet.seq,
            packet.ack,
            packet.len,
            packet.class.as_str(),
            packet.state.as_str()
        ))
    }

    /// Ends the live session in `slot` for `reason` (no packet) and emits what that
    /// causes. It leaves a tombstone, unless it was evicted: then only its generation
    /// is remembered.
    #[cold]
    #[inline(never)]
    fn end_session(&mut self, ctx: &mut Context<'_>, slot: Slot, reason: EndReason) -> ListenerResult {
        let now = ctx.now();
        let mut actions = std::mem::take(&mut self.side_actions);
        let info = match self.sessions.remove(slot) {
            Some((pair, mut entry)) => {
                let live = &mut *entry.live;
                live.session.end(reason, now, &mut actions);
                let info = Self::info(&live.id, live.verbosity, &live.session, pair);
                let grave = Self::retire(&mut self.totals, &mut self.buffered_total, &entry);
                let max_sessions = self.options.max_sessions;
                if reason == EndReason::Evicted {
                    Self::remember(&mut self.forgotten, max_sessions, &pair, grave.generation);
                } else {
                    Self::bury(&mut self.tombs, &mut self.forgotten, max_sessions, pair, grave, now);
                }
                Some(info)
            }
            None => None,
        };
        let result = match info {
            Some(info) => self.emit_actions(ctx, &info, &mut actions, false),
            None => Ok(()),
        };
        crate::put_back(&mut self.side_actions, actions);
        result
    }

    /// How stale a session's place in the recency queue may get before it is queued
    /// again: a session is queued at most once per step, so touching it costs nothing
    /// on most packets, and it ends at most one step after its idle timeout.
    fn recency_step(&self) -> u64 {
        self.step
    }

    /// Forgets the oldest tombstone, remembering its pair's generation.
    fn forget_oldest_tomb(&mut self) -> bool {
        match self.tombs.pop_oldest() {
            Some(record) => {
                Self::remember(&mut self.forgotten, self.options.max_sessions, &record.pair, record.value.generation);
                true
            }
            None => false,
        }
    }

    /// Whether `item` still stands for the live session it queued.
    fn is_current(&self, item: &Recency) -> bool {
        self.sessions.get(item.slot).is_some_and(|entry| entry.serial == item.serial && entry.queued_at == item.seen)
    }

    /// Forgets tombstones past their linger time, ends sessions idle for longer than the
    /// timeout (at most [`TIMEOUTS_PER_TICK`]), and drops stale places from the recency
    /// queue once they outnumber the live sessions, so that neither queue grows with the
    /// length of the capture. Runs on the clock's ticks, once per second of capture
    /// time, so all this happens at the same capture times however a run is sharded.
    /// The queues are in capture-time order, and a session's latest activity is less
    /// than one step after its latest place in the recency queue.
    fn sweep(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        let now = ctx.now();
        // Tombstones closed more than the linger time ago.
        if let Some(until) = now.as_nanos().checked_sub(self.options.linger_nanos.saturating_add(1)) {
            while let Some(record) = self.tombs.pop_until(until) {
                let generation = record.value.generation;
                Self::remember(&mut self.forgotten, self.options.max_sessions, &record.pair, generation);
            }
        }
        let horizon = self.options.idle_timeout_nanos.saturating_add(self.recency_step());
        let mut result = Ok(());
        let mut ended = 0;
        while ended < TIMEOUTS_PER_TICK {
            let Some(front) = self.recency.front().copied() else { break };
            if front.age(now) <= horizon {
                break;
            }
            self.recency.pop_front();
            if !self.is_current(&front) {
                continue;
            }
            self.totals.timed_out += 1;
            ended += 1;
            if let Err(err) = self.end_session(ctx, front.slot, EndReason::Timeout) {
                result = Err(err);
            }
        }
        // Only live sessions have current places.
        if self.recency.len() > 2 * self.sessions.len() + 1024 {
            let mut recency = std::mem::take(&mut self.recency);
            recency.retain(|item| self.is_current(item));
            self.recency = recency;
        }
        result
    }

    /// Makes room until the sessions held respect the cap: forgets the oldest tombstones
    /// first, then evicts the least recently active sessions.
    #[cold]
    #[inline(never)]
    fn enforce_cap(&mut self, ctx: &mut Context<'_>, keep: SocketPair) -> ListenerResult {
        let mut result = Ok(());
        while self.tracked_sessions() > self.options.max_sessions {
            if self.forget_oldest_tomb() {
                continue;
            }
            let Some(front) = self.recency.pop_front() else { break };
            if !self.is_current(&front) || self.sessions.pair(front.slot) == Some(keep) {
                continue;
            }
            self.totals.evicted += 1;
            if let Err(err) = self.end_session(ctx, front.slot, EndReason::Evicted) {
                result = Err(err);
            }
        }
        result
    }

    /// One TCP packet: finds (or opens) its session with one hash lookup, pushes the
    /// segment, then emits `tcp_packet` and everything the packet caused.
    fn handle(&mut self, segment: &Segment<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        let pair = SocketPair::new(segment.src, segment.dst);
        let now = ctx.now();
        let step = self.recency_step();
        let mut side = std::mem::take(&mut self.side_actions);
        let mut outcome = std::mem::take(&mut self.outcome);
        let mut side_info = None;
        let mut info = None;
        let mut opened = false;
        // The packet's annotation; its event is built only for a subscriber or a trace.
        let mut packet_session = None;
        let mut class = PacketClass::NonData;
        let mut state = SessionState::Closed;
        let mut verbosity = self.options.verbosity;
        {
            let TcpReassembler {
                options,
                sessions,
                recency,
                next_serial,
                buffered_total,
                totals,
                tombs,
                forgotten,
                wanted,
                ..
            } = self;
            let timeout = options.idle_timeout_nanos;
            // The parts that opening and closing a session touch, borrowed apart in the
            // rare paths that need them (borrowed before the lookup, they cost every
            // packet a few stores).
            macro_rules! table {
                () => {
                    Table {
                        options: &*options,
                        wanted: *wanted,
                        next_serial,
                        recency,
                        totals,
                        buffered_total,
                        tombs,
                        forgotten,
                    }
                };
            }
            // A session that ends here, with its tombstone: it leaves the table once
            // the table's entry is no longer borrowed.
            let mut ended = None;
            let slot = match sessions.find_mut(&pair) {
                Some((slot, entry)) => {
                    // The pair's session may end here (idle too long, or replaced by
                    // a new connection: port reuse), and the segment open the next.
                    let session = &entry.live.session;
                    let renew = now.since(session.last_seen()).as_nanos() > timeout
                        || (segment.flags.syn()
                            && segment.ack.is_none()
                            && session.saw_client_syn().is_some_and(|isn| isn != segment.seq)
                            && session.state() != SessionState::Connecting);
                    if renew {
                        match table!().renew(entry, slot, pair, segment, now, &mut side, &mut side_info) {
                            Renewal::Kept => Some((slot, entry)),
                            Renewal::Opened => {
                                opened = true;
                                Some((slot, entry))
                            }
                            Renewal::Ended(grave) => {
                                ended = Some((slot, grave));
                                totals.late_packets += 1;
                                totals.bytes_after_close += segment.claimed_len();
                                None
                            }
                        }
                    } else {
                        Some((slot, entry))
                    }
                }
                None => {
                    let slot = table!().arrive(sessions, pair, segment, now);
                    opened = slot.is_some();
                    slot.and_then(|slot| sessions.get_mut(slot).map(|entry| (slot, entry)))
                }
            };
            if let Some((slot, entry)) = slot {
                if now.as_nanos().saturating_sub(entry.queued_at) >= step {
                    entry.queued_at = now.as_nanos();
                    recency.push_back(Recency { slot, serial: entry.serial, seen: now.as_nanos() });
                }
                let Live { session, id, verbosity: session_verbosity, buffered: session_buffered, reread } =
                    &mut *entry.live;
                if wanted.data_alone && std::mem::take(reread) {
                    // What the one receiver of the data asked to have withheld.
                    let [client, server] = id.unneeded();
                    let [client_through, server_through] = id.through();
                    session.set_unneeded_before(Direction::ClientToServer, client);
                    session.set_unneeded_before(Direction::ServerToClient, server);
                    session.set_withhold_through(Direction::ClientToServer, client_through);
                    session.set_withhold_through(Direction::ServerToClient, server_through);
                    session.set_lend_data(id.lent());
                }
                session.push(segment, &mut outcome);
                if session.take_lapsed() && wanted.data_alone {
                    // A hole lapses the receiver's word; it may say it again when it
                    // has seen what follows.
                    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
                        if session.unneeded_before(direction) == 0 {
                            id.set_unneeded(direction, 0, false);
                        }
                    }
                }
                entry.last_seen = entry.last_seen.max(segment.ts.as_nanos());
                if wanted.packet || *session_verbosity & TRACE_PACKETS != 0 {
                    packet_session = Some(id.clone());
                }
                class = outcome.class.unwrap_or(PacketClass::NonData);
                state = outcome.state.unwrap_or(SessionState::Closed);
                verbosity = *session_verbosity;
                let buffered = session.buffered_bytes();
                *buffered_total = buffered_total.saturating_sub(*session_buffered).saturating_add(buffered);
                *session_buffered = buffered;
                if *buffered_total > options.max_buffer {
                    // The global cap: this session declares its holes now.
                    session.flush_buffers(now, &mut outcome.actions);
                    *buffered_total = buffered_total.saturating_sub(*session_buffered);
                    *session_buffered = session.buffered_bytes();
                    *buffered_total = buffered_total.saturating_add(*session_buffered);
                }
                if !outcome.actions.is_empty() {
                    info = Some(Self::info(id, *session_verbosity, session, pair));
                    *reread = true;
                }
                let ending = session.end_reason().is_some();
                if ending {
                    ended = Some((slot, Self::retire(totals, buffered_total, entry)));
                }
            }
            if let Some((slot, grave)) = ended {
                sessions.remove(slot);
                Self::bury(tombs, forgotten, options.max_sessions, pair, grave, now);
            }
        }

        let mut first_error = None;
        let traced = verbosity & TRACE_PACKETS != 0;
        if traced || self.wanted.packet {
            if let Err(err) = self.emit_packet(ctx, segment, packet_session, class, state, traced) {
                first_error.get_or_insert(err);
            }
        }
        if let Some(side_info) = side_info {
            // The old session's: the packet's event is the new one's.
            if let Err(err) = self.emit_actions(ctx, &side_info, &mut side, false) {
                first_error.get_or_insert(err);
            }
        }
        // Emitting drained them; clearing an empty list still calls into its drop code.
        if !side.is_empty() {
            side.clear();
        }
        crate::put_back(&mut self.side_actions, side);
        if let Some(info) = info {
            // After the packet's event, if it was emitted.
            if let Err(err) = self.emit_actions(ctx, &info, &mut outcome.actions, self.wanted.packet) {
                first_error.get_or_insert(err);
            }
        }
        if !outcome.actions.is_empty() {
            outcome.actions.clear();
        }
        self.outcome.class = outcome.class;
        self.outcome.state = outcome.state;
        crate::put_back(&mut self.outcome.actions, outcome.actions);

        if opened {
            if let Err(err) = self.enforce_cap(ctx, pair) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Listener for TcpReassembler {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets().ticks();
    }

    fn on_tick(&mut self, _now: Timestamp, ctx: &mut Context<'_>) -> ListenerResult {
        self.sweep(ctx)
    }

    fn on_setup(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        self.wanted = Wanted {
            packet: ctx.wants::<TcpPacket>(),
            data: ctx.wants::<TcpData>(),
            data_alone: ctx.subscribers::<TcpData>() == 1,
            monologue: ctx.wants::<TcpMonologue>(),
            monologue_bytes: ctx.wants_bytes::<TcpMonologue>(),
        };
        if let Some(dir) = &self.options.dump {
            std::fs::create_dir_all(dir).map_err(|err| {
                ListenerError::msg(format!("cannot create the dump directory {}: {err}", dir.display()))
            })?;
        }
        Ok(())
    }

    fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        match Segment::from_packet(packet) {
            Some(segment) => self.handle(&segment, ctx),
            None => Ok(()),
        }
    }

    /// Ends the open sessions one per call, in the order they were opened, each with
    /// its own event budget.
    fn on_teardown(&mut self, ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        if self.teardown.is_none() {
            let mut open: Vec<(u64, Slot)> = self.sessions.iter().map(|(slot, _, e)| (e.serial, slot)).collect();
            open.sort_unstable_by_key(|(serial, _)| *serial);
            self.teardown = Some(open.into_iter().map(|(_, slot)| slot).collect());
        }
        let next = self.teardown.as_mut().and_then(VecDeque::pop_front);
        if let Some(slot) = next {
            self.end_session(ctx, slot, EndReason::EndOfInput)?;
        }
        let more = self.teardown.as_ref().is_some_and(|queue| !queue.is_empty());
        Ok(if more { Flow::More } else { Flow::Done })
    }

    fn report(&self, summary: &mut Summary) {
        let mut totals = self.totals;
        for entry in self.sessions.values() {
            totals.absorb(&entry.live.session);
        }
        summary.add("tcp_sessions", totals.sessions);
        summary.add("tcp_monologues", totals.monologues);
        summary.add("tcp_bytes_reassembled", totals.stream.reassembled_bytes);
        summary.add("tcp_gaps", totals.stream.gaps);
        summary.add("tcp_missing_bytes", totals.stream.missing_bytes);
        summary.add("tcp_uncaptured_bytes", totals.stream.uncaptured_bytes);
        summary.add("tcp_late_bytes", totals.stream.late_bytes);
        summary.add("tcp_conflicting_bytes", totals.stream.conflicting_bytes);
        summary.add("tcp_segments_dropped", totals.stream.segments_dropped);
        summary.add("tcp_bytes_discarded", totals.discarded_bytes);
        summary.add("tcp_sessions_evicted", totals.evicted);
        summary.add("tcp_sessions_timed_out", totals.timed_out);
        summary.add("tcp_late_packets", totals.late_packets);
        summary.add("tcp_bytes_after_close", totals.bytes_after_close);
        summary.add("tcp_stray_packets", totals.stray_packets);
    }
}
