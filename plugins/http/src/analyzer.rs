//! The listener: a thin adapter from TCP events to [`HttpSession`]s and from their
//! results to emitted events.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use netanalysis_core::{
    AnyEvent, Config, ConfigError, Context, Flow, Listener, ListenerResult, OptionKind, OptionSpec, Plugin,
    Subscriptions, Summary,
};
use netanalysis_tcp::{SessionId, TcpData, TcpSessionEnd, TcpStreamEnd};

use crate::events::{HttpRequest, HttpResponse, HttpTransaction};
use crate::parser::Limits;
use crate::session::{Emitted, HttpSession, Shared};

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

    fn flush(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        if self.emitted.is_empty() {
            return Ok(());
        }
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

/// The sessions being analysed: a slab indexed by session id, with the last session
/// looked up kept at hand (consecutive `tcp_data` often belong to one session, and
/// comparing ids that share their allocation costs no hashing).
#[derive(Debug)]
struct Sessions {
    index: HashMap<SessionId, usize, KeyHashing>,
    slab: Vec<Option<HttpSession>>,
    free: Vec<usize>,
    last: Option<(SessionId, usize)>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { index: HashMap::with_hasher(KeyHashing::new()), slab: Vec::new(), free: Vec::new(), last: None }
    }
}

impl Sessions {
    fn slot(&mut self, id: &SessionId) -> Option<usize> {
        if let Some((last, slot)) = &self.last {
            if last == id {
                return Some(*slot);
            }
        }
        let slot = *self.index.get(id)?;
        self.last = Some((id.clone(), slot));
        Some(slot)
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut HttpSession> {
        let slot = self.slot(id)?;
        self.slab.get_mut(slot).and_then(Option::as_mut)
    }

    fn get_or_insert(&mut self, id: &SessionId) -> Option<&mut HttpSession> {
        let slot = match self.slot(id) {
            Some(slot) => slot,
            None => {
                let session = Some(HttpSession::new(id.clone()));
                let slot = match self.free.pop() {
                    Some(slot) => slot,
                    None => {
                        self.slab.push(None);
                        self.slab.len() - 1
                    }
                };
                if let Some(entry) = self.slab.get_mut(slot) {
                    *entry = session;
                }
                self.index.insert(id.clone(), slot);
                self.last = Some((id.clone(), slot));
                slot
            }
        };
        // The slot was just found in the index or filled: it holds a session.
        self.slab.get_mut(slot).and_then(Option::as_mut)
    }

    fn remove(&mut self, id: &SessionId) -> Option<HttpSession> {
        let slot = self.index.remove(id)?;
        if self.last.as_ref().is_some_and(|(last, _)| last == id) {
            self.last = None;
        }
        self.free.push(slot);
        self.slab.get_mut(slot).and_then(Option::take)
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
        Ok(())
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(data) = event.downcast_ref::<TcpData>() {
            let Some(session) = self.sessions.get_or_insert(&data.session) else { return Ok(()) };
            if session.is_inert() {
                return Ok(());
            }
            session.data(data.from, data.offset, &data.data, data.ts, &mut self.shared, &mut self.emitted);
        } else if let Some(end) = event.downcast_ref::<TcpStreamEnd>() {
            if let Some(session) = self.sessions.get_mut(&end.session) {
                session.stream_end(end.from, &mut self.shared, &mut self.emitted);
            }
        } else if let Some(end) = event.downcast_ref::<TcpSessionEnd>() {
            if let Some(mut session) = self.sessions.remove(&end.session) {
                session.session_end(&mut self.shared, &mut self.emitted);
            }
        }
        self.flush(ctx)
    }

    fn on_teardown(&mut self, ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        // The TCP listener flushes its open sessions first; anything left here had no
        // session end (a TCP listener that never closed it): one session per step.
        let Some(id) = self.sessions.any_id() else { return Ok(Flow::Done) };
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
