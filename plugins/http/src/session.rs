//! One TCP session seen as HTTP: which side is the client, the two message parsers,
//! and the pairing of responses with requests. Pure: it returns events, the listener
//! emits them.
//!
//! # Pairing
//!
//! Responses answer requests in order (RFC 9112 §9.3.2), so the response parser is
//! told, as each request head is parsed, which request comes next ([`Expect`]); an
//! interim (1xx) response is attached to the request waiting at the front without
//! using it up. When either side loses its place, pairing becomes uncertain, and the
//! session says so instead of guessing:
//!
//! - the response side lost its place (a gap or garbage where responses may have
//!   been): every request still waiting is reported unanswered, and responses are
//!   reported with no request until pairing is safe again;
//! - the request side lost its place (requests may have been lost): responses keep
//!   answering the requests seen before the loss, and a barrier marks where the lost
//!   ones begin; the first final response past it starts the same unpaired stretch.
//!
//! Pairing is safe again when a request head is parsed while the response side stands
//! between messages: on a keep-alive connection that does not pipeline, the next
//! response answers that request.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use netanalysis_core::{Endpoint, Timestamp};
use netanalysis_tcp::SessionId;
use smallvec::SmallVec;

use crate::events::{HttpRequest, HttpResponse, HttpTransaction};
use crate::message::{is_interim, Request, Response};
use crate::parser::{start_check, Expect, Lent, Limits, MessageParser, ParserOutput, ParserStats, Role, StartCheck};

/// How many bytes of a direction are searched for a first message start before the
/// direction is taken to be something other than HTTP.
const DETECT_BUDGET: u64 = 16 << 10;

/// Requests that may wait for an answer at once in one session; past it, pairing is
/// given up (the waiting requests are reported unanswered) so memory stays bounded.
pub(crate) const MAX_PENDING: usize = 1024;

/// Interim responses an exchange keeps (all are reported as `http_response`).
const MAX_INTERIM: usize = 16;

/// What a session hands back for the listener to emit, in order.
#[derive(Debug)]
pub(crate) enum Emitted {
    Request(HttpRequest),
    Response(HttpResponse),
    Transaction(HttpTransaction),
}

/// Counts kept across sessions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionCounts {
    pub requests: u64,
    pub responses: u64,
    pub interim: u64,
    pub orphan_responses: u64,
    pub transactions: u64,
    pub unanswered: u64,
    pub http_sessions: u64,
    pub not_http_sessions: u64,
    pub upgraded_sessions: u64,
    pub requests_dropped: u64,
    pub pending_overflows: u64,
}

/// State shared by every session of one analyzer (reused buffers and counts).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub limits: Limits,
    pub stats: ParserStats,
    pub counts: SessionCounts,
    pub outputs: Vec<ParserOutput>,
    /// Nobody receives the messages: sessions only count them (and their parsers keep
    /// no details), building no events.
    pub count_only: bool,
    /// Nobody reads the bodies' bytes (the receivers subscribed without them, and
    /// bodies are not decoded): messages carry their bodies' lengths only, and the
    /// rest of a body is lent out to be counted.
    pub bodies_left_out: bool,
}

impl Shared {
    /// Whether sessions keep none of the bytes they are fed once a call returns: they
    /// only count (and do not decode bodies, which needs them kept).
    pub fn keeps_no_bytes(&self) -> bool {
        self.count_only && !self.limits.decode
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Detecting,
    Http,
    NotHttp,
    Upgraded,
}

/// A direction that has not shown an HTTP message start yet.
#[derive(Debug)]
struct Probe {
    from: Endpoint,
    /// Bytes of this direction searched so far.
    scanned: u64,
    /// Tail bytes that may begin a message (a prefix too short to judge), with their
    /// offset and time.
    stash: SmallVec<[u8; 16]>,
    stash_offset: u64,
    stash_ts: Timestamp,
    /// No byte of this direction came before the stash.
    stash_clean: bool,
}

/// A body one direction of a session is reading, lent out by its parser so that the
/// stretches continuing it are consumed without the session ([`HttpSession::lend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skip {
    from: Endpoint,
    side: usize,
    lent: Lent,
}

impl Skip {
    /// Takes a stretch from `from` at `offset` if it only continues the body.
    #[inline]
    pub fn take(&mut self, from: Endpoint, offset: u64, len: usize, ts: Timestamp) -> bool {
        from == self.from && self.lent.take(offset, len, ts)
    }

    /// Where the bytes it only counts end (see [`Lent::end`]).
    pub fn end(&self) -> u64 {
        self.lent.end()
    }

    /// Whether the `len` bytes from `from` at `offset` are exactly what is left of it.
    pub fn ends_with(&self, from: Endpoint, offset: u64, len: u64) -> bool {
        from == self.from && self.lent.ends_with(offset, len)
    }
}

#[derive(Debug)]
struct Entry {
    index: u32,
    /// The request ended (it is in `request` unless the session only counts).
    has_request: bool,
    request: Option<Arc<Request>>,
    interim: Vec<Arc<Response>>,
    /// A final response was paired with it (it is in `response` unless the session
    /// only counts).
    answered: bool,
    response: Option<Arc<Response>>,
    /// No response can be paired with it any more.
    unpairable: bool,
}

/// HTTP state of one TCP session.
#[derive(Debug)]
pub(crate) struct HttpSession {
    id: SessionId,
    phase: Phase,
    client: Option<Endpoint>,
    server: Option<Endpoint>,
    /// The directions searched for a first message start (on the heap: a session
    /// needs them only until its roles are known, and the record stays small).
    probes: Vec<Probe>,
    /// `[requests, responses]`, once the roles are known.
    parsers: Option<Box<[MessageParser; 2]>>,
    ended: [bool; 2],
    entries: VecDeque<Entry>,
    next_index: u32,
    unpaired: bool,
}

impl HttpSession {
    pub fn new(id: SessionId) -> HttpSession {
        HttpSession {
            id,
            phase: Phase::Detecting,
            client: None,
            server: None,
            probes: Vec::new(),
            parsers: None,
            ended: [false; 2],
            entries: VecDeque::new(),
            next_index: 1,
            unpaired: false,
        }
    }

    /// The session's id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// Requests waiting to be reported.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Whether the session will never produce anything more (its data can be ignored).
    pub fn is_inert(&self) -> bool {
        matches!(self.phase, Phase::NotHttp | Phase::Upgraded)
    }

    /// Which parser reads what `from` sends (0: requests, 1: responses).
    #[inline]
    fn side(&mut self, from: Endpoint) -> usize {
        if self.client == Some(from) {
            0
        } else if self.server == Some(from) {
            1
        } else if self.client.is_some() {
            self.server = Some(from);
            1
        } else {
            self.client = Some(from);
            0
        }
    }

    /// The body `from` is sending, lent out (see [`MessageParser::lend`]) when it has
    /// bytes left and the session only counts; the session must get it back
    /// ([`settle`](HttpSession::settle)) before anything else reaches it.
    pub fn lend(&self, from: Endpoint) -> Option<Skip> {
        if self.phase != Phase::Http {
            return None;
        }
        let side = if self.client == Some(from) {
            0
        } else if self.server == Some(from) {
            1
        } else {
            return None;
        };
        let lent = self.parsers.as_ref()?.get(side)?.lend()?;
        Some(Skip { from, side, lent })
    }

    /// Takes back a lent body.
    pub fn settle(&mut self, skip: &Skip) {
        if let Some(parser) = self.parsers.as_mut().and_then(|p| p.get_mut(skip.side)) {
            parser.settle(&skip.lent);
        }
    }

    /// The rest of the body `from` is sending arrived, known by its length only (see
    /// [`MessageParser::finish_lent`]), at `ts` if known. Any body lent out must have
    /// been given back first.
    pub fn finish_lent(
        &mut self,
        from: Endpoint,
        ts: Option<Timestamp>,
        shared: &mut Shared,
        emitted: &mut Vec<Emitted>,
    ) {
        if self.phase != Phase::Http {
            return;
        }
        let side = if self.client == Some(from) {
            0
        } else if self.server == Some(from) {
            1
        } else {
            return;
        };
        let Some(parser) = self.parsers.as_mut().and_then(|p| p.get_mut(side)) else { return };
        parser.finish_lent(ts, &mut shared.stats, &mut shared.outputs);
        let mut outputs = std::mem::take(&mut shared.outputs);
        self.handle(side, &mut outputs, shared, emitted);
        shared.outputs = outputs;
    }

    /// A stretch of in-order bytes from `from`.
    #[inline]
    pub fn data(
        &mut self,
        from: Endpoint,
        offset: u64,
        data: &Bytes,
        ts: Timestamp,
        shared: &mut Shared,
        emitted: &mut Vec<Emitted>,
    ) {
        match self.phase {
            Phase::NotHttp | Phase::Upgraded => {}
            Phase::Http => {
                let side = self.side(from);
                self.feed(side, offset, data, ts, shared, emitted);
            }
            Phase::Detecting => self.detect(from, offset, data, ts, shared, emitted),
        }
    }

    #[cold]
    #[inline(never)]
    fn detect(
        &mut self,
        from: Endpoint,
        offset: u64,
        data: &Bytes,
        ts: Timestamp,
        shared: &mut Shared,
        emitted: &mut Vec<Emitted>,
    ) {
        let probe_index = match self.probes.iter().position(|p| p.from == from) {
            Some(index) => index,
            None => {
                self.probes.push(Probe {
                    from,
                    scanned: 0,
                    stash: SmallVec::new(),
                    stash_offset: offset,
                    stash_ts: ts,
                    stash_clean: false,
                });
                self.probes.len() - 1
            }
        };
        let Some(probe) = self.probes.get_mut(probe_index) else { return };
        if probe.scanned >= DETECT_BUDGET {
            return;
        }
        let first_bytes = probe.scanned == 0 && probe.stash.is_empty();
        // A stashed prefix continued by the new bytes.
        let mut found: Option<Role> = None;
        if !probe.stash.is_empty() {
            let mut joined: SmallVec<[u8; 48]> = SmallVec::new();
            joined.extend_from_slice(&probe.stash);
            joined.extend_from_slice(data.get(..32.min(data.len())).unwrap_or_default());
            match classify(&joined) {
                Classified::Start(role) => found = Some(role),
                Classified::NeedMore if joined.len() < 16 => {
                    probe.stash = joined.iter().copied().collect();
                    probe.scanned = probe.scanned.saturating_add(data.len() as u64);
                    return;
                }
                _ => {
                    probe.stash.clear();
                }
            }
        }
        let mut stash_used = found.is_some();
        let mut found_at = 0usize;
        if found.is_none() {
            match scan(data) {
                Scan::Start(role, at) => {
                    found = Some(role);
                    found_at = at;
                }
                Scan::Tail(at) => {
                    let tail = data.get(at..).unwrap_or_default();
                    probe.stash = tail.iter().copied().collect();
                    probe.stash_offset = offset.saturating_add(at as u64);
                    probe.stash_ts = ts;
                    probe.stash_clean = first_bytes && at == 0;
                    stash_used = false;
                }
                Scan::Nothing => {}
            }
        }
        let Some(role) = found else {
            probe.scanned = probe.scanned.saturating_add(data.len() as u64);
            if self.probes.len() >= 2 && self.probes.iter().all(|p| p.scanned >= DETECT_BUDGET) {
                self.phase = Phase::NotHttp;
                shared.counts.not_http_sessions += 1;
                self.probes = Vec::new();
            }
            return;
        };
        // Roles are known: the sender of a request is the client.
        let (stash, stash_offset, stash_ts) = (std::mem::take(&mut probe.stash), probe.stash_offset, probe.stash_ts);
        let this_clean = if stash_used { probe.stash_clean } else { first_bytes && found_at == 0 };
        match role {
            Role::Request => self.client = Some(from),
            Role::Response => self.server = Some(from),
        }
        let this_side = self.side(from);
        let other_mid_stream = self.probes.iter().any(|p| p.from != from && p.scanned > 0);
        let new_parser = |role: Role, mid_stream: bool| {
            let mut parser = if mid_stream {
                MessageParser::mid_stream(role, shared.limits)
            } else {
                MessageParser::new(role, shared.limits)
            };
            parser.keep_details(!shared.count_only);
            parser.keep_bodies(!shared.bodies_left_out);
            parser
        };
        let (request_mid, response_mid) =
            if this_side == 0 { (!this_clean, other_mid_stream) } else { (other_mid_stream, !this_clean) };
        self.parsers =
            Some(Box::new([new_parser(Role::Request, request_mid), new_parser(Role::Response, response_mid)]));
        self.phase = Phase::Http;
        shared.counts.http_sessions += 1;
        // What the probes searched in vain was skipped (a stash about to be fed is not).
        let searched: u64 = self.probes.iter().map(|p| p.scanned).sum();
        let refed = if stash_used { stash.len() as u64 } else { 0 };
        shared.stats.skipped_bytes += searched.saturating_sub(refed);
        self.probes = Vec::new();
        if stash_used && !stash.is_empty() {
            let stash = Bytes::copy_from_slice(&stash);
            self.feed(this_side, stash_offset, &stash, stash_ts, shared, emitted);
        }
        self.feed(this_side, offset, data, ts, shared, emitted);
    }

    #[inline]
    fn feed(
        &mut self,
        side: usize,
        offset: u64,
        data: &Bytes,
        ts: Timestamp,
        shared: &mut Shared,
        emitted: &mut Vec<Emitted>,
    ) {
        let Some(parser) = self.parsers.as_mut().and_then(|p| p.get_mut(side)) else { return };
        // `shared.outputs` is empty between calls: `handle` drains it.
        parser.push(offset, data, ts, &mut shared.stats, &mut shared.outputs);
        if shared.outputs.is_empty() {
            return;
        }
        let mut outputs = std::mem::take(&mut shared.outputs);
        self.handle(side, &mut outputs, shared, emitted);
        shared.outputs = outputs;
    }

    /// One direction ended.
    pub fn stream_end(&mut self, from: Endpoint, shared: &mut Shared, emitted: &mut Vec<Emitted>) {
        if self.phase != Phase::Http && self.phase != Phase::Upgraded {
            return;
        }
        let side = self.side(from);
        self.finish_side(side, shared, emitted);
    }

    fn finish_side(&mut self, side: usize, shared: &mut Shared, emitted: &mut Vec<Emitted>) {
        if self.ended.get(side).copied().unwrap_or(true) {
            return;
        }
        if let Some(flag) = self.ended.get_mut(side) {
            *flag = true;
        }
        if self.phase == Phase::Http {
            if let Some(parser) = self.parsers.as_mut().and_then(|p| p.get_mut(side)) {
                parser.finish(&mut shared.stats, &mut shared.outputs);
                let mut outputs = std::mem::take(&mut shared.outputs);
                self.handle(side, &mut outputs, shared, emitted);
                shared.outputs = outputs;
            }
        }
        if side == 1 {
            // No response can come any more.
            for entry in self.entries.iter_mut() {
                if !entry.answered {
                    entry.unpairable = true;
                }
            }
        }
        self.drain(shared, emitted);
    }

    /// The session ended: everything still pending is reported.
    pub fn session_end(&mut self, shared: &mut Shared, emitted: &mut Vec<Emitted>) {
        if self.parsers.is_some() {
            self.finish_side(0, shared, emitted);
            self.finish_side(1, shared, emitted);
        }
        for entry in self.entries.iter_mut() {
            entry.unpairable = true;
        }
        self.drain(shared, emitted);
        shared.counts.requests_dropped += self.entries.len() as u64;
        self.entries.clear();
    }

    fn handle(
        &mut self,
        side: usize,
        outputs: &mut Vec<ParserOutput>,
        shared: &mut Shared,
        emitted: &mut Vec<Emitted>,
    ) {
        if outputs.is_empty() {
            return;
        }
        for output in outputs.drain(..) {
            match output {
                ParserOutput::RequestHead { head, connect } => {
                    let index = self.next_index;
                    self.next_index = self.next_index.saturating_add(1);
                    let mut unpairable = false;
                    if self.unpaired {
                        let response_idle = self.parsers.as_ref().is_some_and(|p| p[1].is_idle());
                        if response_idle {
                            self.unpaired = false;
                        } else {
                            unpairable = true;
                        }
                    }
                    if !unpairable {
                        if let Some(parsers) = self.parsers.as_mut() {
                            parsers[1].expect(Expect::Request { index, head, connect });
                        }
                    }
                    self.entries.push_back(Entry {
                        index,
                        has_request: false,
                        request: None,
                        interim: Vec::new(),
                        answered: false,
                        response: None,
                        unpairable: unpairable || self.ended[1],
                    });
                    if self.entries.len() > MAX_PENDING {
                        // Settled exchanges not yet drained (a session that only
                        // counts drains once per call) do not wait.
                        self.drain(shared, emitted);
                        if self.entries.len() > MAX_PENDING {
                            shared.counts.pending_overflows += 1;
                            self.lose_pairing();
                        }
                    }
                }
                ParserOutput::Request(request) => {
                    let id = self.id.clone();
                    let entry = self.request_ended(shared);
                    if !shared.count_only {
                        let index = match entry {
                            Some(entry) => {
                                entry.request = Some(Arc::clone(&request));
                                entry.index
                            }
                            None => 0,
                        };
                        emitted.push(Emitted::Request(HttpRequest { session: id, index, request }));
                    }
                }
                ParserOutput::RequestEnded => {
                    self.request_ended(shared);
                }
                ParserOutput::Response { response, answers } => {
                    let id = self.id.clone();
                    let interim = response.is_interim();
                    let entry = self.response_ended(interim, answers, shared);
                    if !shared.count_only {
                        emitted.push(Emitted::Response(HttpResponse {
                            session: id,
                            request_index: answers,
                            response: Arc::clone(&response),
                        }));
                        if let Some(entry) = entry {
                            if interim {
                                // Interim responses are reported as events; an exchange keeps a few.
                                if entry.interim.len() < MAX_INTERIM {
                                    entry.interim.push(response);
                                }
                            } else {
                                entry.response = Some(response);
                            }
                        }
                    }
                }
                ParserOutput::ResponseEnded { status, answers } => {
                    self.response_ended(is_interim(status), answers, shared);
                }
                ParserOutput::LostSync if side == 0 => {
                    if let Some(parsers) = self.parsers.as_mut() {
                        parsers[1].expect(Expect::Barrier);
                    }
                }
                ParserOutput::LostSync | ParserOutput::PairingLost => self.lose_pairing(),
                ParserOutput::Upgraded => {
                    self.phase = Phase::Upgraded;
                    shared.counts.upgraded_sessions += 1;
                }
            }
            if !shared.count_only {
                // Each settled exchange is reported right after the message that
                // settled it.
                self.drain(shared, emitted);
            }
        }
        if shared.count_only {
            // Nothing is reported, so the order is not seen: one pass counts them all.
            self.drain(shared, emitted);
        }
    }

    /// Counts a request that ended and marks its exchange (the latest one still
    /// waiting for its request), which it returns.
    fn request_ended(&mut self, shared: &mut Shared) -> Option<&mut Entry> {
        shared.counts.requests += 1;
        let entry = self.entries.iter_mut().rev().find(|e| !e.has_request)?;
        entry.has_request = true;
        Some(entry)
    }

    /// Counts a response that ended, answering the request of index `answers` if
    /// known, and marks that exchange answered unless the response is interim;
    /// returns the exchange.
    fn response_ended(&mut self, interim: bool, answers: Option<u32>, shared: &mut Shared) -> Option<&mut Entry> {
        let counts = &mut shared.counts;
        counts.responses += 1;
        counts.interim += u64::from(interim);
        counts.orphan_responses += u64::from(answers.is_none());
        let entry = self.entries.iter_mut().find(|e| Some(e.index) == answers)?;
        if !interim {
            entry.answered = true;
        }
        Some(entry)
    }

    /// Responses can no longer be matched to the requests waiting now.
    fn lose_pairing(&mut self) {
        self.unpaired = true;
        for entry in self.entries.iter_mut() {
            if !entry.answered {
                entry.unpairable = true;
            }
        }
        if let Some(parsers) = self.parsers.as_mut() {
            parsers[1].clear_expectations();
        }
    }

    /// Emits (or counts), in request order, every exchange that is settled.
    fn drain(&mut self, shared: &mut Shared, emitted: &mut Vec<Emitted>) {
        while let Some(front) = self.entries.front() {
            let settled = front.has_request && (front.answered || front.unpairable);
            if !settled {
                break;
            }
            let Some(entry) = self.entries.pop_front() else { break };
            shared.counts.transactions += 1;
            shared.counts.unanswered += u64::from(!entry.answered);
            let Some(request) = entry.request else { continue };
            emitted.push(Emitted::Transaction(HttpTransaction::new(
                self.id.clone(),
                entry.index,
                request,
                entry.response,
                entry.interim,
            )));
        }
    }
}

enum Classified {
    Start(Role),
    NeedMore,
    Neither,
}

fn classify(bytes: &[u8]) -> Classified {
    let request = start_check(Role::Request, bytes);
    let response = start_check(Role::Response, bytes);
    match (request, response) {
        (StartCheck::Valid, _) => Classified::Start(Role::Request),
        (_, StartCheck::Valid) => Classified::Start(Role::Response),
        (StartCheck::NeedMore, _) | (_, StartCheck::NeedMore) => Classified::NeedMore,
        _ => Classified::Neither,
    }
}

enum Scan {
    /// A message of this role starts at this index.
    Start(Role, usize),
    /// Nothing yet, but the bytes from here may begin a message.
    Tail(usize),
    Nothing,
}

/// Looks for a message start at the beginning of `data` or of any line in it.
fn scan(data: &[u8]) -> Scan {
    let mut candidate = Some(0usize);
    while let Some(at) = candidate {
        let Some(tail) = data.get(at..) else { break };
        if tail.is_empty() {
            break;
        }
        match classify(tail) {
            Classified::Start(role) => return Scan::Start(role, at),
            Classified::NeedMore if tail.len() < 16 => return Scan::Tail(at),
            _ => candidate = memchr::memchr(b'\n', tail).map(|n| at + n + 1),
        }
    }
    Scan::Nothing
}
