//! The events the TCP listener emits, and their JSON forms.
//!
//! Per session, events come in this order: `tcp_session_start` (when the handshake
//! completes, or at the first data packet of a session picked up mid-stream), then for
//! each direction interleaved as the capture goes: `tcp_data` as in-order bytes are
//! released and `tcp_monologue` when a direction's run of bytes ends (data flows the
//! other way, the monologue reached `max_monologue`, or the session ends); then
//! `tcp_stream_end` for each direction that carried or could carry data, and last
//! `tcp_session_end`. Every packet of the session also yields a `tcp_packet`, emitted
//! before anything else the packet caused.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use netanalysis_core::{Endpoint, Event, JsonEvent, JsonObject, JsonOptions, SocketPair, TcpFlags, Timestamp};
use smallvec::SmallVec;

use crate::session::Direction;

/// A session's identity within a run: the socket-pair key for the first session on a
/// pair, `key#2`, `key#3`, ... for later sessions after the pair was reused.
///
/// Cheap to clone (reference-counted). Compared, ordered and hashed as its text.
#[derive(Clone)]
pub struct SessionId(Arc<IdInner>);

#[derive(Default)]
struct IdInner {
    text: Box<str>,
    /// Per direction (from the client first): the stream offset before which the
    /// receiver of `tcp_data` needs no bytes ([`TcpData::skip_until`]).
    unneeded: [AtomicU64; 2],
    /// Per direction: the receiver asked for the stretch that ends right at its
    /// `unneeded` offset to be withheld too ([`TcpData::skip_through`]).
    through: [AtomicBool; 2],
    /// Per direction: the listener released the bytes up to the `unneeded` offset
    /// without delivering them ([`SessionId::take_released`]).
    released: [AtomicBool; 2],
    /// The receiver of `tcp_data` keeps no bytes past its call ([`TcpData::lend_only`]).
    lend: AtomicBool,
    /// What a listener keeps with the session ([`SessionId::hint`]).
    hint: AtomicU64,
}

impl SessionId {
    /// The id of the `generation`-th session (from 1) on `pair`.
    pub fn new(pair: &SocketPair, generation: u32) -> SessionId {
        let key = pair.key();
        let text = if generation <= 1 { key.into_boxed_str() } else { format!("{key}#{generation}").into_boxed_str() };
        SessionId(Arc::new(IdInner { text, ..IdInner::default() }))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// The socket-pair key part (without any `#N`).
    pub fn key(&self) -> &str {
        self.as_str().split('#').next().unwrap_or_default()
    }

    /// Whether `other` is this very id (the same allocation, shared by every event of
    /// one session), not only an equal one.
    pub fn same(&self, other: &SessionId) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A number a listener keeps with the session to find its own state for it again
    /// without a lookup (where in its table the session is, say); 0 until one is set.
    /// Every listener that sees the id sees the same number and may set it, and an
    /// equal id in another allocation has its own, so it is only a hint: check what it
    /// leads to before using it.
    pub fn hint(&self) -> u64 {
        self.0.hint.load(Ordering::Relaxed)
    }

    /// Sets the number [`hint`](SessionId::hint) returns.
    pub fn set_hint(&self, value: u64) {
        self.0.hint.store(value, Ordering::Relaxed);
    }

    /// What the receiver of `tcp_data` last said it does not need, per direction.
    pub(crate) fn unneeded(&self) -> [u64; 2] {
        let [c, s] = &self.0.unneeded;
        [c.load(Ordering::Relaxed), s.load(Ordering::Relaxed)]
    }

    /// Per direction, whether the receiver of `tcp_data` asked for the stretch that
    /// ends at its offset to be withheld too ([`TcpData::skip_through`]).
    pub(crate) fn through(&self) -> [bool; 2] {
        let [c, s] = &self.0.through;
        [c.load(Ordering::Relaxed), s.load(Ordering::Relaxed)]
    }

    /// The directions (client to server first) whose bytes up to the offset given to
    /// [`TcpData::skip_through`] the listener released without delivering them since
    /// the last call. The receiver that asked must call this before it handles any
    /// event of the session: the listener marks a release before it emits anything
    /// that follows the released bytes, so they come right before that event. Cheap
    /// when there is none (two loads).
    pub fn take_released(&self) -> [bool; 2] {
        let [c, s] = &self.0.released;
        let released = [c.load(Ordering::Relaxed), s.load(Ordering::Relaxed)];
        if released != [false, false] {
            c.store(false, Ordering::Relaxed);
            s.store(false, Ordering::Relaxed);
        }
        released
    }

    /// Marks `direction`'s bytes up to its offset as released without being delivered.
    pub(crate) fn mark_released(&self, direction: Direction) {
        if let Some(flag) = self.0.released.get(direction.index()) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the receiver of `tcp_data` said it keeps no bytes past its call.
    pub(crate) fn lent(&self) -> bool {
        self.0.lend.load(Ordering::Relaxed)
    }

    /// Records what the receiver of `tcp_data` does not need from `direction`, and
    /// whether the stretch that ends at `offset` is withheld too.
    pub(crate) fn set_unneeded(&self, direction: Direction, offset: u64, through: bool) {
        let index = direction.index();
        if let (Some(cell), Some(flag)) = (self.0.unneeded.get(index), self.0.through.get(index)) {
            cell.store(offset, Ordering::Relaxed);
            flag.store(through, Ordering::Relaxed);
        }
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SessionId {}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for SessionId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How the TCP listener classified a packet (the original's classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketClass {
    /// It carried new in-order bytes (or bytes that filled a hole).
    Data,
    /// All of its payload had been seen before (a retransmission).
    Duplicate,
    /// Its payload lies beyond the next expected byte; buffered until the hole fills.
    Future,
    /// No payload (a pure ACK, SYN, FIN, RST), or payload the session no longer takes.
    NonData,
}

impl PacketClass {
    /// The class's name in trace lines and JSON (`data`, `duplicate`, `future`, `non-data`).
    pub fn as_str(self) -> &'static str {
        match self {
            PacketClass::Data => "data",
            PacketClass::Duplicate => "duplicate",
            PacketClass::Future => "future",
            PacketClass::NonData => "non-data",
        }
    }
}

/// A session's state after a packet, with the original's rule: a SYN or FIN counts once
/// acknowledged; two acknowledged SYNs make it established, one acknowledged FIN
/// half-closed, two closed; an RST closes it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Handshake under way.
    Connecting,
    /// Handshake complete (or picked up mid-stream).
    Established,
    /// One FIN acknowledged.
    HalfClosed,
    /// Both FINs acknowledged, or reset.
    Closed,
}

impl SessionState {
    /// The state's name (`connecting`, `established`, `half-closed`, `closed`).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Connecting => "connecting",
            SessionState::Established => "established",
            SessionState::HalfClosed => "half-closed",
            SessionState::Closed => "closed",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Closing handshake: both FINs acknowledged.
    Fin,
    /// A reset.
    Rst,
    /// No packet for `idle_timeout` of capture time.
    Timeout,
    /// Evicted to respect the session cap (oldest idle first).
    Evicted,
    /// The capture ended with the session open.
    EndOfInput,
}

impl EndReason {
    /// The reason's name in JSON (`fin`, `rst`, `timeout`, `evicted`, `end_of_input`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Timeout => "timeout",
            EndReason::Evicted => "evicted",
            EndReason::EndOfInput => "end_of_input",
        }
    }
}

/// A stretch of sequence space no captured segment covered (a hole), in a direction's
/// stream offsets (0 is the byte after the SYN, or the first byte seen mid-stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gap {
    /// Stream offset of the first missing byte.
    pub offset: u64,
    /// Missing bytes.
    pub len: u64,
}

/// Which packet carried which bytes of a monologue (the original's `which_pkts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSpan {
    /// Packet number (from 1).
    pub packet: u64,
    /// Offset of its first new byte within the monologue's data.
    pub start: u64,
    /// New bytes it contributed.
    pub len: u32,
}

/// Reassembled bytes, held as shared chunks (the same buffers `tcp_data` handed out).
///
/// The bytes may also be only counted, not held: when every receiver of the event
/// that carries them subscribed without its bytes
/// ([`Subscriptions::event_without_bytes`](netanalysis_core::Subscriptions::event_without_bytes)),
/// [`len`](StreamBytes::len) still counts them and [`left_out`](StreamBytes::left_out)
/// says how many of them are not in the chunks.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StreamBytes {
    chunks: SmallVec<[Bytes; 2]>,
    len: u64,
    left_out: u64,
}

impl StreamBytes {
    /// Empty.
    pub fn new() -> StreamBytes {
        StreamBytes::default()
    }

    /// Appends a chunk (no copy).
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len() as u64;
            self.chunks.push(chunk);
        }
    }

    /// Counts `len` bytes without holding them (nobody reads them).
    pub fn count_left_out(&mut self, len: u64) {
        self.len += len;
        self.left_out += len;
    }

    /// Total length in bytes, those left out included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Bytes counted in [`len`](StreamBytes::len) but not held in the chunks (0 unless
    /// the emitter was told that nobody reads them).
    pub fn left_out(&self) -> u64 {
        self.left_out
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The bytes as one slice: borrowed when they are one chunk, copied otherwise.
    pub fn contiguous(&self) -> Cow<'_, [u8]> {
        match self.chunks.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            many => {
                let mut all = Vec::with_capacity(self.len as usize);
                for chunk in many {
                    all.extend_from_slice(chunk);
                }
                Cow::Owned(all)
            }
        }
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.contiguous().into_owned()
    }

    /// The sha256 of the bytes, in lowercase hex.
    pub fn sha256_hex(&self) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for chunk in &self.chunks {
            hasher.update(chunk);
        }
        hex::encode(hasher.finalize())
    }
}

impl fmt::Debug for StreamBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamBytes({} bytes in {} chunks, {} left out)", self.len, self.chunks.len(), self.left_out)
    }
}

/// Every TCP packet, after the TCP listener has seen it; emitted first among the
/// events its packet causes. Read the payload through `ctx.packet()`.
#[derive(Debug, Clone)]
pub struct TcpPacket {
    /// The session it belongs to (`None` for a late packet after close or a stray packet
    /// that opened no session).
    pub session: Option<SessionId>,
    /// Packet number (from 1).
    pub number: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Captured payload length.
    pub len: u32,
    /// Classification.
    pub class: PacketClass,
    /// The session's state after this packet.
    pub state: SessionState,
}

impl Event for TcpPacket {
    const NAME: &'static str = "tcp_packet";
}

impl JsonEvent for TcpPacket {
    const PER_PACKET: bool = true;
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.opt_str("session", self.session.as_ref().map(|s| s.as_str()))
            .u64("packet", self.number)
            .endpoint("from", self.from)
            .endpoint("to", self.to)
            .display("flags", self.flags)
            .u64("seq", u64::from(self.seq))
            .u64("ack", u64::from(self.ack))
            .u64("len", u64::from(self.len))
            .str("class", self.class.as_str())
            .str("state", self.state.as_str());
    }
}

/// A session started: on the packet that acknowledges the second SYN, or on the first
/// data packet of a session picked up mid-stream.
#[derive(Debug, Clone)]
pub struct TcpSessionStart {
    /// The session.
    pub session: SessionId,
    /// Its socket pair.
    pub pair: SocketPair,
    /// The side that sent the first SYN (or, mid-stream, the first packet seen).
    pub client: Endpoint,
    /// The other side.
    pub server: Endpoint,
    /// No handshake was seen.
    pub mid_stream: bool,
    /// The packet that started it.
    pub packet: u64,
    /// Its time.
    pub ts: Timestamp,
}

impl Event for TcpSessionStart {
    const NAME: &'static str = "tcp_session_start";
}

impl JsonEvent for TcpSessionStart {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str())
            .endpoint("client", self.client)
            .endpoint("server", self.server)
            .bool("mid_stream", self.mid_stream);
    }
}

/// A stretch of in-order bytes of one direction, emitted as soon as it is released.
/// The bytes are shared with the monologue (no copy). Not in the JSON log.
///
/// A receiver that does not need the bytes of the next part of a stream (an HTTP body
/// it only counts) may say so with [`TcpData::skip_until`]; see there for what changes.
#[derive(Debug, Clone)]
pub struct TcpData {
    /// The session.
    pub session: SessionId,
    /// Which way the bytes go.
    pub direction: Direction,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Stream offset of the first byte (sequence space from the byte after the SYN, so
    /// a jump from the previous stretch's end is a gap).
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// Bytes withheld just before `offset` (0 unless the receiver asked, with
    /// [`TcpData::skip_until`]): `[offset - skipped, offset)` was captured, in order
    /// and without a hole, but not delivered. A jump from there back to the previous
    /// stretch's end is a gap, as always.
    pub skipped: u64,
    /// Packet whose arrival released them.
    pub packet: u64,
    /// Time of that packet.
    pub ts: Timestamp,
}

impl TcpData {
    /// Tells the TCP listener that the receiver does not need the bytes this direction
    /// sends before stream offset `until` (`u64::MAX`: none of them). The listener
    /// then withholds each later stretch of the direction that ends before `until`,
    /// and need not copy its bytes; the next stretch it delivers says how many bytes it
    /// withheld just before it ([`skipped`](TcpData::skipped)). Before a hole, an
    /// uncaptured stretch, the end of the monologue and so the end of the stream, it
    /// delivers a stretch with no bytes that carries the count, so every byte is
    /// accounted for, in order, before anything that follows it. A stretch that ends at
    /// or after `until` is delivered whole. A later call replaces the earlier one, and
    /// a hole or an uncaptured stretch ends the request: what follows it is delivered
    /// (a receiver may need it to find its place again) until the receiver asks again.
    ///
    /// The listener reads the request before the session's first segment after the
    /// session's events were delivered: call it while handling this event (a request
    /// made later through a kept copy waits until the session next has events).
    ///
    /// Honoured only while the caller is the one subscriber of `tcp_data`: with
    /// several, every subscriber receives every byte and `skipped` stays 0.
    pub fn skip_until(&self, until: u64) {
        self.session.set_unneeded(self.direction, until, false);
    }

    /// As [`skip_until`](TcpData::skip_until), for a receiver that needs none of the
    /// bytes before `until`, only to know when all of them have arrived: the stretch
    /// that ends right at `until` is withheld too. When it is released, the listener
    /// does not deliver it: it marks the direction's bytes up to `until` released
    /// ([`SessionId::take_released`]), where the receiver finds the mark before the
    /// session's next event; nothing is delivered for those bytes, not even their
    /// count. (When an event of the session is already on its way in the same frame,
    /// the mark would come before it: the count is then delivered after it as usual,
    /// in a stretch with no bytes.) A stretch that runs past `until` is delivered
    /// whole. Like [`skip_until`](TcpData::skip_until)'s, the request ends at a hole or
    /// an uncaptured stretch, and a later call of either replaces it.
    ///
    /// What the receiver does not learn is when those bytes arrived: a receiver that
    /// reports times asks with [`skip_until`](TcpData::skip_until).
    pub fn skip_through(&self, until: u64) {
        self.session.set_unneeded(self.direction, until, true);
    }

    /// Tells the TCP listener that the receiver keeps none of this session's bytes
    /// (`data`, nor slices of it) once its call has returned. The listener may then
    /// lend it, instead of a copy, a slice of the capture reader's buffer for each
    /// stretch released as soon as its segment arrives ([`Packet::share`]); stretches
    /// that waited for a missing segment, and every stretch while monologues keep
    /// their bytes, are copied as before. The bytes are the same either way; a lent
    /// slice that is kept after all only holds the reader's whole buffer (a megabyte, or
    /// more for a capture with larger records) in memory longer. Applies to both directions, until the session ends.
    ///
    /// Honoured only while the caller is the one subscriber of `tcp_data`, and read as
    /// [`skip_until`](TcpData::skip_until)'s request is.
    ///
    /// [`Packet::share`]: netanalysis_core::Packet::share
    pub fn lend_only(&self) {
        self.session.0.lend.store(true, Ordering::Relaxed);
    }
}

impl Event for TcpData {
    const NAME: &'static str = "tcp_data";
}

/// The bytes one side sent until data flowed the other way or the session ended (or
/// the monologue reached `max_monologue` and continues in a next part).
///
/// Concatenating a direction's monologues in index order gives that direction's stream
/// (holes excluded, listed in `gaps`).
#[derive(Debug, Clone)]
pub struct TcpMonologue {
    /// The session.
    pub session: SessionId,
    /// Index within the session, from 1, over both directions.
    pub index: u32,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// The bytes (holes excluded); only counted when every receiver subscribed without
    /// them (see [`StreamBytes::left_out`]).
    pub data: StreamBytes,
    /// Stream offset of the monologue's first byte (or of its first gap).
    pub offset: u64,
    /// First packet that contributed.
    pub first_packet: u64,
    /// Time of the first contributing packet.
    pub t_start: Timestamp,
    /// Time of the last contributing packet.
    pub t_end: Timestamp,
    /// Packets that contributed bytes.
    pub packets: u32,
    /// Which packets carried which bytes.
    pub which_pkts: Vec<PacketSpan>,
    /// Holes in this monologue's stretch of sequence space.
    pub gaps: SmallVec<[Gap; 1]>,
    /// Sum of the gaps' lengths.
    pub missing_bytes: u64,
    /// Payload carried by captured segments but cut off by the snaplen.
    pub uncaptured_bytes: u64,
    /// This part continues the previous monologue of the same direction (it was split
    /// at `max_monologue`).
    pub continued: bool,
}

impl TcpMonologue {
    /// Elapsed time from first to last packet.
    pub fn t_elapsed(&self) -> netanalysis_core::Elapsed {
        self.t_end.since(self.t_start)
    }
}

impl Event for TcpMonologue {
    const NAME: &'static str = "tcp_monologue";
}

impl JsonEvent for TcpMonologue {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str())
            .u64("index", u64::from(self.index))
            .endpoint("from", self.from)
            .endpoint("to", self.to)
            .time("t_start", self.t_start)
            .time("t_end", self.t_end)
            .u64("packets", u64::from(self.packets))
            .u64("bytes", self.data.len())
            .u64("gaps", self.gaps.len() as u64)
            .u64("missing_bytes", self.missing_bytes)
            .u64("uncaptured_bytes", self.uncaptured_bytes)
            .bool("continued", self.continued);
        if out.options().digest {
            out.str("sha256", &self.data.sha256_hex());
        }
    }

    /// Only the digest reads the bytes; otherwise their length is written.
    fn reads_bytes(options: JsonOptions) -> bool {
        options.digest
    }
}

/// Why a direction will carry no more data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamEndReason {
    /// Its sender's FIN.
    Fin,
    /// A reset (from either side).
    Rst,
    /// The session ended for another reason (timeout, eviction, end of input).
    SessionEnd(EndReason),
}

impl StreamEndReason {
    /// The reason's name in JSON (`fin`, `rst`, or the session's end reason).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamEndReason::Fin => "fin",
            StreamEndReason::Rst => "rst",
            StreamEndReason::SessionEnd(reason) => reason.as_str(),
        }
    }
}

/// One direction will carry no more data: emitted after that direction's last
/// `tcp_data` and last monologue, and before `tcp_session_end`.
#[derive(Debug, Clone)]
pub struct TcpStreamEnd {
    /// The session.
    pub session: SessionId,
    /// Sender of the direction that ended.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Why.
    pub reason: StreamEndReason,
    /// Stream offset just past the last byte (sequence space, gaps included).
    pub end_offset: u64,
    /// Time of the packet that ended it, or the capture time.
    pub ts: Timestamp,
}

impl Event for TcpStreamEnd {
    const NAME: &'static str = "tcp_stream_end";
}

impl JsonEvent for TcpStreamEnd {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str()).endpoint("from", self.from).str("reason", self.reason.as_str());
    }
}

/// A session ended. Any open monologue and the stream ends were emitted first.
#[derive(Debug, Clone)]
pub struct TcpSessionEnd {
    /// The session.
    pub session: SessionId,
    /// Its socket pair.
    pub pair: SocketPair,
    /// Why.
    pub reason: EndReason,
    /// The packet that ended it; `None` when it ended without one (timeout, eviction,
    /// end of input).
    pub packet: Option<u64>,
    /// Time of that packet, or the capture time.
    pub ts: Timestamp,
}

impl Event for TcpSessionEnd {
    const NAME: &'static str = "tcp_session_end";
}

impl JsonEvent for TcpSessionEnd {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str()).str("reason", self.reason.as_str());
    }
}

netanalysis_core::json_event!(TcpPacket);
netanalysis_core::json_event!(TcpSessionStart);
netanalysis_core::json_event!(TcpMonologue);
netanalysis_core::json_event!(TcpStreamEnd);
netanalysis_core::json_event!(TcpSessionEnd);
