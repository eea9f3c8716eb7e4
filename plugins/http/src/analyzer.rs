//! The listener: a thin adapter from TCP events to [`HttpSession`]s and from their
//! results to emitted events.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use netanalysis_core::{
    AnyEvent, Config, ConfigError, Context, Endpoint, Flow, Listener, ListenerResult, OptionKind, OptionSpec, Plugin,
    Subscriptions, Summary,
};
use netanalysis_tcp::{Direction, SessionId, TcpData, TcpSessionEnd, TcpStreamEnd};

use crate::events::{HttpRequest, HttpResponse, HttpTransaction};
use crate::parser::Limits;
use crate::session::{Emitted, HttpSession, Shared, Skip};

/// The options of the `HTTP` plugin.
pub const HTTP_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "v",
        kind: OptionKind::Uint,
        default: Some("0"),
        help: "verbosity: 1 prints one line per transaction (elapsed, method, URI, status, body size)",
    },
    OptionSpec {
        name: "max_body",
        kind: OptionKind::Size,
        default: Some("1M"),
        help: "body bytes kept per message; the rest is counted, not kept",
    },
    OptionSpec {
        name: "decode",
        kind: OptionKind::Bool,
        default: Some("0"),
        help: "also decode gzip and deflate bodies",
    },
    OptionSpec {
        name: "max_headers",
        kind: OptionKind::Uint,
        default: Some("128"),
        help: "header fields accepted per message",
    },
    OptionSpec {
        name: "max_header_bytes",
        kind: OptionKind::Size,
        default: Some("64K"),
        help: "bytes accepted per message head (start line and fields)",
    },
];

netanalysis_core::inventory::submit! {
    Plugin {
        name: "HTTP",
        summary: "HTTP/1.x requests, responses and transactions (keep-alive, pipelining, chunked and compressed bodies)",
        requires: &["TCP"],
        options: HTTP_OPTIONS,
        build: HttpAnalyzer::build,
        ..Plugin::DEFAULT
    }
}

/// The `HTTP` plugin's listener: turns `tcp_data` and `tcp_stream_end` into
/// `http_request`, `http_response` and `http_transaction` (see the crate docs).
#[derive(Debug)]
pub struct HttpAnalyzer {
    verbose: bool,
    sessions: Sessions,
    shared: Shared,
    emitted: Vec<Emitted>,
}

impl HttpAnalyzer {
    /// An analyzer with these limits; `verbose` prints one trace line per transaction.
    pub fn new(limits: Limits, verbose: bool) -> HttpAnalyzer {
        HttpAnalyzer {
            verbose,
            sessions: Sessions::default(),
            shared: Shared { limits, ..Shared::default() },
            emitted: Vec::new(),
        }
    }

    /// Builds the analyzer from its checked options (the registry's `build`).
    pub fn build(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        let defaults = Limits::default();
        let max_headers = cfg.u64("max_headers")?.unwrap_or(defaults.max_headers as u64);
        let max_header_bytes = cfg.u64("max_header_bytes")?.unwrap_or(defaults.max_header_bytes as u64);
        if max_headers == 0 || max_headers > 65_536 {
            return Err(cfg.invalid("max_headers must be between 1 and 65536"));
        }
        if max_header_bytes < 16 {
            return Err(cfg.invalid("max_header_bytes must be at least 16"));
        }
        let limits = Limits {
            max_body: cfg.u64("max_body")?.unwrap_or(defaults.max_body),
            max_headers: usize::try_from(max_headers).unwrap_or(defaults.max_headers),
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            decode: cfg.bool("decode")?,
        };
        let verbose = cfg.u64("v")?.unwrap_or(0) & 1 == 1;
        Ok(Box::new(HttpAnalyzer::new(limits, verbose)))
    }

    /// A direction or a session ended (kept out of the per-`tcp_data` path).
    #[inline(never)]
    fn on_end(&mut self, event: &dyn AnyEvent) {
        if let Some(end) = event.downcast_ref::<TcpStreamEnd>() {
            self.settle_released(&end.session);
            if let Some(session) = self.sessions.get_mut(&end.session) {
                session.stream_end(end.from, &mut self.shared, &mut self.emitted);
            }
        } else if let Some(end) = event.downcast_ref::<TcpSessionEnd>() {
            self.settle_released(&end.session);
            if let Some(mut session) = self.sessions.remove(&end.session) {
                session.session_end(&mut self.shared, &mut self.emitted);
            }
        }
    }

    /// Finishes the bodies of session `id` that TCP released unreported (only a session
    /// that asked has any, so it is there to find).
    #[inline]
    fn settle_released(&mut self, id: &SessionId) {
        let released = id.take_released();
        if released != [false, false] {
            if let Some(slot) = self.sessions.find(id) {
                self.sessions.released(slot, released, &mut self.shared, &mut self.emitted);
            }
        }
    }

    #[inline]
    fn flush(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        if self.emitted.is_empty() {
            return Ok(());
        }
        self.emit_all(ctx)
    }

    fn emit_all(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        for emitted in self.emitted.drain(..) {
            match emitted {
                Emitted::Request(event) => ctx.emit(event),
                Emitted::Response(event) => ctx.emit(event),
                Emitted::Transaction(event) => {
                    if self.verbose {
                        trace_transaction(&event, ctx)?;
                    }
                    ctx.emit(event);
                }
            }
        }
        Ok(())
    }
}

/// The sessions being analysed: a slab, and an index from session id to slot. A
/// session's slot (plus one) is also kept with its id ([`SessionId::hint`]), which every
/// event of the session shares, so finding it costs no hashing and no string
/// comparison; a hint is used only when the slot holds that very id (or an equal one),
/// so a stale or foreign hint only costs a lookup in the index.
///
/// A session may have lent out the body one of its directions is reading ([`Skip`],
/// kept beside it): the stretches that only continue it are consumed right here.
/// Whatever else reaches the session (through `enter`, `withheld`, `slot` or `remove`)
/// gives the body back first.
#[derive(Debug)]
struct Sessions {
    index: HashMap<SessionId, usize, KeyHashing>,
    slab: Vec<Option<SlabEntry>>,
    free: Vec<usize>,
}

/// A session in the slab, with the body it lent out, if any.
#[derive(Debug)]
struct SlabEntry {
    session: HttpSession,
    skip: Option<Skip>,
    /// Per TCP direction (client to server first), who sends it, once TCP was asked
    /// to release a body of it unreported (`TcpData::skip_through`).
    senders: [Option<Endpoint>; 2],
}

impl SlabEntry {
    /// The session, with any body it lent out given back.
    fn settled(&mut self) -> &mut HttpSession {
        if let Some(skip) = self.skip.take() {
            self.session.settle(&skip);
        }
        &mut self.session
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { index: HashMap::with_hasher(KeyHashing::new()), slab: Vec::new(), free: Vec::new() }
    }
}

impl Sessions {
    /// The slot of the session with this id, if there is one: where its hint leads,
    /// or else where the index says (and the hint is set to it).
    #[inline]
    fn find(&self, id: &SessionId) -> Option<usize> {
        let hinted = usize::try_from(id.hint()).ok().and_then(|hint| hint.checked_sub(1));
        if let Some(slot) = hinted {
            if let Some(Some(entry)) = self.slab.get(slot) {
                let held = entry.session.id();
                if held.same(id) || held == id {
                    return Some(slot);
                }
            }
        }
        self.look_up(id)
    }

    /// Finds a session by its id in the index, and sets the id's hint to its slot.
    #[cold]
    #[inline(never)]
    fn look_up(&self, id: &SessionId) -> Option<usize> {
        let slot = *self.index.get(id)?;
        id.set_hint(slot as u64 + 1);
        Some(slot)
    }

    /// The slot of the session with this id, a new session's for a new id.
    #[inline]
    fn place(&mut self, id: &SessionId) -> usize {
        match self.find(id) {
            Some(slot) => slot,
            None => self.insert(id),
        }
    }

    /// Whether `data` goes to the session in `slot`: not when it only continues a body
    /// the session lent out (it is consumed here, by its length); otherwise the session
    /// holds its body again.
    #[inline]
    fn enter(&mut self, slot: usize, data: &TcpData) -> bool {
        if let Some(Some(entry)) = self.slab.get_mut(slot) {
            if let Some(skip) = entry.skip.as_mut() {
                if skip.take(data.from, data.offset, data.data.len(), data.ts) {
                    return false;
                }
            }
            entry.settled();
        }
        true
    }

    /// Notes that `from` sends `direction` of the session in `slot`.
    fn sent_by(&mut self, slot: usize, direction: Direction, from: Endpoint) {
        if let Some(Some(entry)) = self.slab.get_mut(slot) {
            if let Some(sender) = entry.senders.get_mut(direction.index()) {
                *sender = Some(from);
            }
        }
    }

    /// Keeps the body the session in `slot` lent out beside it.
    fn hold(&mut self, slot: usize, skip: Skip) {
        if let Some(Some(entry)) = self.slab.get_mut(slot) {
            entry.settled();
            entry.skip = Some(skip);
        }
    }

    /// Accounts for the bytes TCP withheld just before `data` (`data.skipped`), which
    /// goes to the session in `slot`. TCP withholds only what it was asked to: the rest
    /// of a body lent out (see [`HttpSession::lend`]), or everything of a session that
    /// reads nothing more. False if they continue no such body (not expected); the
    /// session then sees them as a hole.
    fn withheld(&mut self, slot: usize, data: &TcpData, shared: &mut Shared, emitted: &mut Vec<Emitted>) -> bool {
        let start = data.offset.saturating_sub(data.skipped);
        let Ok(len) = usize::try_from(data.skipped) else { return false };
        let Some(Some(entry)) = self.slab.get_mut(slot) else { return false };
        if let Some(skip) = entry.skip.as_mut() {
            if skip.take(data.from, start, len, data.ts) {
                return true;
            }
        }
        let session = entry.settled();
        if session.is_inert() {
            return true;
        }
        // The body beside the session is not the one these bytes continue (a session
        // keeps one lent out, from the direction it saw last): it lends it for them.
        let Some(mut skip) = session.lend(data.from) else { return false };
        let taken = skip.take(data.from, start, len, data.ts);
        session.settle(&skip);
        if !taken && skip.ends_with(data.from, start, data.skipped) {
            // The rest of a body TCP was asked to release unreported, reported after all
            // (an event of the session came first in the frame).
            session.finish_lent(data.from, Some(data.ts), shared, emitted);
            return true;
        }
        taken
    }

    /// Finishes the bodies TCP released unreported in the `released` directions (see
    /// `SessionId::take_released`) for the session in `slot`.
    #[cold]
    #[inline(never)]
    fn released(&mut self, slot: usize, released: [bool; 2], shared: &mut Shared, emitted: &mut Vec<Emitted>) {
        let Some(Some(entry)) = self.slab.get_mut(slot) else { return };
        let senders = entry.senders;
        let session = entry.settled();
        for (sender, released) in senders.into_iter().zip(released) {
            if let (Some(from), true) = (sender, released) {
                session.finish_lent(from, None, shared, emitted);
            }
        }
    }

    /// The slot of a session, which gets back any body it lent out.
    fn slot(&mut self, id: &SessionId) -> Option<usize> {
        let slot = self.find(id)?;
        if let Some(Some(entry)) = self.slab.get_mut(slot) {
            entry.settled();
        }
        Some(slot)
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut HttpSession> {
        let slot = self.slot(id)?;
        self.slab.get_mut(slot).and_then(Option::as_mut).map(|entry| &mut entry.session)
    }

    #[cfg(test)]
    fn get_or_insert(&mut self, id: &SessionId) -> Option<&mut HttpSession> {
        let slot = match self.slot(id) {
            Some(slot) => slot,
            None => self.insert(id),
        };
        // The slot was just found in the index or filled: it holds a session.
        self.slab.get_mut(slot).and_then(Option::as_mut).map(|entry| &mut entry.session)
    }

    /// Starts a session, in a free slot if there is one; returns its slot.
    #[cold]
    #[inline(never)]
    fn insert(&mut self, id: &SessionId) -> usize {
        let new = Some(SlabEntry { session: HttpSession::new(id.clone()), skip: None, senders: [None, None] });
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slab.push(None);
                self.slab.len() - 1
            }
        };
        if let Some(place) = self.slab.get_mut(slot) {
            *place = new;
        }
        self.index.insert(id.clone(), slot);
        id.set_hint(slot as u64 + 1);
        slot
    }

    /// Takes a session out (with any body it lent out given back); its slot serves the
    /// next new session.
    fn remove(&mut self, id: &SessionId) -> Option<HttpSession> {
        let slot = self.index.remove(id)?;
        self.free.push(slot);
        let mut entry = self.slab.get_mut(slot).and_then(Option::take)?;
        entry.settled();
        Some(entry.session)
    }

    fn any_id(&self) -> Option<SessionId> {
        self.index.keys().next().cloned()
    }

    fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// A fast hasher for session ids (short strings looked up once per `tcp_data`),
/// seeded at random per analyzer so that senders cannot choose colliding addresses.
#[derive(Debug, Clone)]
struct KeyHashing {
    seed: u64,
}

impl KeyHashing {
    fn new() -> KeyHashing {
        KeyHashing { seed: RandomState::new().hash_one(0x6874_7470u64) }
    }
}

impl BuildHasher for KeyHashing {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.seed)
    }
}

struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut value = [0u8; 8];
            value.copy_from_slice(word);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(value)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        for &byte in words.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
}

/// The `v=1` line: elapsed time, method, URI, status and response body size.
fn trace_transaction(event: &HttpTransaction, ctx: &mut Context<'_>) -> ListenerResult {
    match &event.response {
        Some(response) => ctx.trace(format_args!(
            "{} {} {} {} {} {}",
            event.t_elapsed, event.session, event.request.method, event.request.uri, response.status, response.body.len
        )),
        None => ctx.trace(format_args!(
            "{} {} {} {} unanswered",
            event.t_elapsed, event.session, event.request.method, event.request.uri
        )),
    }
}

impl Listener for HttpAnalyzer {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.event::<TcpData>().event::<TcpStreamEnd>().event::<TcpSessionEnd>();
    }

    fn on_setup(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        // With no one to receive the messages (and no trace lines to write), sessions
        // only count them.
        self.shared.count_only = !self.verbose
            && !ctx.wants::<HttpRequest>()
            && !ctx.wants::<HttpResponse>()
            && !ctx.wants::<HttpTransaction>();
        self.shared.bodies_left_out = !self.shared.limits.decode
            && !ctx.wants_bytes::<HttpRequest>()
            && !ctx.wants_bytes::<HttpResponse>()
            && !ctx.wants_bytes::<HttpTransaction>();
        Ok(())
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(data) = event.downcast_ref::<TcpData>() {
            // Bodies that ended before this stretch, released unreported.
            self.settle_released(&data.session);
            let slot = self.sessions.place(&data.session);
            if data.skipped > 0 {
                // Bytes withheld as asked; unaccounted ones (never expected) reach the
                // parser as the hole before this stretch.
                let accounted = self.sessions.withheld(slot, data, &mut self.shared, &mut self.emitted);
                if accounted && data.data.is_empty() {
                    return Ok(());
                }
            }
            if !self.sessions.enter(slot, data) {
                return Ok(());
            }
            if self.shared.keeps_no_bytes() {
                // Parsing reads the bytes in place (a head cut across stretches is
                // copied into the parser's own buffer), so TCP need not copy them.
                data.lend_only();
            }
            let lends = self.shared.count_only || self.shared.bodies_left_out;
            // The slot was just found or filled: it holds a session.
            if let Some(Some(SlabEntry { session, .. })) = self.sessions.slab.get_mut(slot) {
                session.data(data.from, data.offset, &data.data, data.ts, &mut self.shared, &mut self.emitted);
                if session.is_inert() {
                    // Sessions that are not (or no longer) HTTP ignore their data.
                    data.skip_until(u64::MAX);
                } else if lends {
                    if let Some(skip) = session.lend(data.from) {
                        // A body whose bytes are only counted: TCP withholds them, and
                        // the stretches that continue it are consumed beside it. When
                        // nobody receives the messages, when it ends is not seen
                        // either: TCP withholds its last stretch too, and says it came
                        // (before the session's next event).
                        if self.shared.count_only {
                            data.skip_through(skip.end());
                            self.sessions.sent_by(slot, data.direction, data.from);
                        } else {
                            data.skip_until(skip.end());
                        }
                        self.sessions.hold(slot, skip);
                    }
                }
            }
        } else {
            self.on_end(event);
        }
        self.flush(ctx)
    }

    fn on_teardown(&mut self, ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        // The TCP listener flushes its open sessions first; anything left here had no
        // session end (a TCP listener that never closed it): one session per step.
        let Some(id) = self.sessions.any_id() else { return Ok(Flow::Done) };
        self.settle_released(&id);
        if let Some(mut session) = self.sessions.remove(&id) {
            session.session_end(&mut self.shared, &mut self.emitted);
        }
        self.flush(ctx)?;
        Ok(if self.sessions.is_empty() { Flow::Done } else { Flow::More })
    }

    fn report(&self, summary: &mut Summary) {
        let stats = &self.shared.stats;
        let counts = &self.shared.counts;
        summary.add("http_sessions", counts.http_sessions);
        summary.add("http_requests", counts.requests);
        summary.add("http_responses", counts.responses);
        summary.add("http_interim_responses", counts.interim);
        summary.add("http_responses_without_request", counts.orphan_responses);
        summary.add("http_transactions", counts.transactions);
        summary.add("http_unanswered", counts.unanswered);
        summary.add("http_skipped_bytes", stats.skipped_bytes);
        summary.add("http_gap_bytes", stats.gap_bytes);
        summary.add("http_resyncs", stats.resyncs);
        summary.add("http_incomplete_messages", stats.incomplete);
        summary.add("http_sessions_not_http_after_upgrade", counts.upgraded_sessions);
        summary.add("http_sessions_not_http", counts.not_http_sessions);
        summary.add("http_decode_errors", stats.decode_errors);
        summary.add("http_decode_unsupported", stats.decode_unsupported);
        summary.add("http_too_many_headers", stats.too_many_headers);
        summary.add("http_header_too_long", stats.header_too_long);
        summary.add("http_bad_heads", stats.bad_heads);
        summary.add("http_bad_chunks", stats.bad_chunks);
        summary.add("http_conflicting_content_length", stats.conflicting_lengths);
        summary.add("http_requests_dropped", counts.requests_dropped);
        summary.add("http_pending_overflows", counts.pending_overflows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use netanalysis_core::{Dispatcher, Endpoint, SocketPair, Timestamp};
    use netanalysis_tcp::{EndReason, StreamEndReason};
    use netanalysis_test_support::{tcp_data, Rng};

    fn id(port: u16) -> SessionId {
        let pair = SocketPair::new(Endpoint::new([10, 0, 0, 1].into(), port), Endpoint::new([10, 0, 0, 2].into(), 80));
        SessionId::new(&pair, 1)
    }

    #[test]
    fn sessions_are_found_by_content_whatever_allocation_their_id_has() {
        let mut sessions = Sessions::default();
        let ids: Vec<SessionId> = (0..100).map(|k| id(40_000 + k)).collect();
        for id in &ids {
            assert!(sessions.get_or_insert(id).is_some());
        }
        let slots: Vec<Option<usize>> = ids.iter().map(|id| sessions.slot(id)).collect();
        // The same ids again, in other allocations, lead to the same sessions.
        for (k, slot) in slots.iter().enumerate() {
            assert_eq!(sessions.slot(&id(40_000 + k as u16)), *slot);
            assert_eq!(sessions.slot(&ids[k]), *slot);
        }
        // A removed session is gone, and its slot serves the next new one alone.
        let Some(removed) = ids.get(7) else { panic!() };
        assert!(sessions.remove(removed).is_some());
        assert_eq!(sessions.slot(removed), None);
        assert!(sessions.get_mut(removed).is_none());
        let newcomer = id(50_000);
        assert!(sessions.get_or_insert(&newcomer).is_some());
        assert_eq!(sessions.slot(&newcomer), slots[7]);
        assert_eq!(sessions.slot(removed), None);
        for (k, slot) in slots.iter().enumerate().filter(|(k, _)| *k != 7) {
            assert_eq!(sessions.slot(&ids[k]), *slot);
        }
        // A hint set by someone else (to the first slot, another session's for all but
        // the first session, or past the slab) only costs a lookup.
        for (k, slot) in slots.iter().enumerate().filter(|(k, _)| *k != 7) {
            ids[k].set_hint(if k % 2 == 0 { 1 } else { u64::MAX });
            assert_eq!(sessions.slot(&ids[k]), *slot);
            assert_eq!(ids[k].hint(), slot.map_or(0, |s| s as u64 + 1));
        }
    }

    /// Receives every HTTP event and keeps none.
    struct Subscriber;
    impl Listener for Subscriber {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.event::<HttpRequest>().event::<HttpResponse>().event::<HttpTransaction>();
        }
    }

    /// The analyzer's summary after a random script of many interleaved sessions
    /// (up to 150 at once), whose events carry ids in several allocations.
    fn summary_of_script(seed: u64, received: bool) -> Vec<(String, u64)> {
        let mut builder = Dispatcher::builder();
        builder.add("HTTP", None, Box::new(HttpAnalyzer::new(Limits::default(), false))).unwrap();
        if received {
            builder.add("Subscriber", None, Box::new(Subscriber)).unwrap();
        }
        let mut dispatcher = builder.build();
        dispatcher.setup();
        let client_says: &[&[u8]] = &[
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /p HTTP/1.1\r\nContent-Length: 3000\r\n\r\n",
            b"HEAD /h HTTP/1.1\r\n\r\n",
        ];
        let server_says: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n",
            b"\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
        ];
        static FILL: [u8; 1000] = [b'x'; 1000];
        let mut rng = Rng(seed);
        let ts = Timestamp::from_micros(1_700_000_000, 0);
        // Per session: its ids (several allocations of one text), offsets, ended.
        let mut sessions: Vec<(Vec<SessionId>, [u64; 2], bool)> = Vec::new();
        let server = Endpoint::new([10, 0, 0, 2].into(), 80);
        let client_at = |k: u16| Endpoint::new([10, 0, 0, 1].into(), 10_000 + k);
        for _ in 0..4000 {
            if sessions.len() < 150 && rng.below(8) == 0 {
                let k = sessions.len() as u16;
                let ids = vec![id(10_000 + k), id(10_000 + k)];
                sessions.push((ids, [0, 0], false));
            }
            let Some(k) = (!sessions.is_empty()).then(|| rng.below(sessions.len() as u64) as usize) else { continue };
            let (ids, offsets, ended) = &mut sessions[k];
            if *ended {
                continue;
            }
            let session = ids[rng.below(ids.len() as u64) as usize].clone();
            let client = client_at(k as u16);
            let side = rng.below(2) as usize;
            let (from, to) = if side == 0 { (client, server) } else { (server, client) };
            let bytes = match rng.below(20) {
                0 => {
                    offsets[side] += 1 + rng.below(100);
                    continue;
                }
                1 => {
                    let end_offset = offsets[side];
                    dispatcher.dispatch_event(TcpStreamEnd {
                        session,
                        from,
                        to,
                        reason: StreamEndReason::Fin,
                        end_offset,
                        ts,
                    });
                    continue;
                }
                2 => {
                    *ended = true;
                    let pair = SocketPair::new(client, server);
                    dispatcher.dispatch_event(TcpSessionEnd {
                        session,
                        pair,
                        reason: EndReason::Fin,
                        packet: None,
                        ts,
                    });
                    continue;
                }
                3..=7 => {
                    let says = if side == 0 { client_says } else { server_says };
                    Bytes::from_static(says[rng.below(says.len() as u64) as usize])
                }
                _ => Bytes::from_static(&FILL[..1 + rng.below(999) as usize]),
            };
            let offset = offsets[side];
            offsets[side] += bytes.len() as u64;
            dispatcher.dispatch_event(tcp_data(&session, client, server, side == 0, offset, bytes, ts));
        }
        dispatcher.teardown();
        let mut summary = Summary::new();
        dispatcher.report(&mut summary);
        summary
            .iter()
            .filter(|(key, _)| key.starts_with("http"))
            .map(|(key, _)| (key.to_owned(), summary.count(key)))
            .collect()
    }

    #[test]
    fn counting_sessions_gives_the_summary_of_receiving_every_event() {
        for seed in 1..6u64 {
            let counted = summary_of_script(seed * 0x9e37_79b9, false);
            let received = summary_of_script(seed * 0x9e37_79b9, true);
            assert_eq!(counted, received, "seed {seed}");
            let count = |key: &str| counted.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
            assert!(count("http_transactions") > 100, "{counted:?}");
        }
    }
}
