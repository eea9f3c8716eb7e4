//! The events the HTTP analyzer emits, and their flat JSON forms.
//!
//! Per session, in stream order: `http_request` as soon as a request is complete;
//! `http_response` as soon as a response is complete (interim 1xx ones included);
//! `http_transaction` when a final response completes an exchange, or, for a request
//! that got no answer, when no answer can come any more (the server's direction
//! ended, or pairing was lost). Transactions come in request order. Each is delivered
//! right after the `tcp_data` or `tcp_stream_end` that completed it, so a session's
//! last transaction precedes its `tcp_session_end`.

use std::sync::Arc;

use netanalysis_core::{Elapsed, Event, JsonEvent, JsonObject, JsonOptions, Timestamp};
use netanalysis_tcp::SessionId;

use crate::message::{Request, Response};

/// A request is complete (or its stream ended before it was).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The session.
    pub session: SessionId,
    /// Index of the request in its session, from 1.
    pub index: u32,
    /// The request (shared with the transaction that will carry it).
    pub request: Arc<Request>,
}

impl Event for HttpRequest {
    const NAME: &'static str = "http_request";
}

impl JsonEvent for HttpRequest {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str())
            .str("method", &self.request.method)
            .opt_str("uri", Some(self.request.uri.as_str()).filter(|u| !u.is_empty()))
            .opt_str("host", self.request.host())
            .display("version", self.request.version)
            .u64("body_bytes", self.request.body.len);
    }
    /// Bodies are written as their lengths.
    fn reads_bytes(_options: JsonOptions) -> bool {
        false
    }
}

/// A response is complete (or its stream ended before it was): final or interim.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The session.
    pub session: SessionId,
    /// Index (from 1) of the request it answers; `None` when no request can be named
    /// (the capture began mid-session, or pairing was lost after a gap).
    pub request_index: Option<u32>,
    /// The response (shared with the transaction that will carry it).
    pub response: Arc<Response>,
}

impl Event for HttpResponse {
    const NAME: &'static str = "http_response";
}

impl JsonEvent for HttpResponse {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str())
            .u64("status", u64::from(self.response.status))
            .str("reason", &self.response.reason)
            .display("version", self.response.version)
            .u64("body_bytes", self.response.body.len)
            .bool("interim", self.response.is_interim())
            .opt_u64("request_index", self.request_index.map(u64::from));
    }
    /// Bodies are written as their lengths.
    fn reads_bytes(_options: JsonOptions) -> bool {
        false
    }
}

/// One exchange: a request and its final response (or none, `unanswered`), with the
/// interim responses in between. The original's `http_transaction`, typed.
#[derive(Debug, Clone)]
pub struct HttpTransaction {
    /// The session.
    pub session: SessionId,
    /// Index of the request in its session, from 1.
    pub index: u32,
    /// The request.
    pub request: Arc<Request>,
    /// The final response; `None` when unanswered.
    pub response: Option<Arc<Response>>,
    /// Interim (1xx) responses, in order (the first 16; each is also an `http_response`).
    pub interim: Vec<Arc<Response>>,
    /// Time of the request's first byte.
    pub t_start: Timestamp,
    /// Time of the request's last byte.
    pub request_end: Timestamp,
    /// Time of the final response's first byte (`None` when unanswered).
    pub response_start: Option<Timestamp>,
    /// Time of the final response's last byte (the request's last byte when
    /// unanswered).
    pub t_end: Timestamp,
    /// `t_end - t_start`.
    pub t_elapsed: Elapsed,
    /// No final response was paired with the request.
    pub unanswered: bool,
}

impl HttpTransaction {
    /// A transaction from its parts, with the times derived from them.
    pub fn new(
        session: SessionId,
        index: u32,
        request: Arc<Request>,
        response: Option<Arc<Response>>,
        interim: Vec<Arc<Response>>,
    ) -> HttpTransaction {
        let t_start = request.t_start;
        let request_end = request.t_end;
        let response_start = response.as_ref().map(|r| r.t_start);
        let t_end = response.as_ref().map_or(request_end, |r| r.t_end.max(request_end));
        HttpTransaction {
            session,
            index,
            unanswered: response.is_none(),
            request,
            response,
            interim,
            t_start,
            request_end,
            response_start,
            t_end,
            t_elapsed: t_end.since(t_start),
        }
    }
}

impl Event for HttpTransaction {
    const NAME: &'static str = "http_transaction";
}

impl JsonEvent for HttpTransaction {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str())
            .str("method", &self.request.method)
            .opt_str("uri", Some(self.request.uri.as_str()).filter(|u| !u.is_empty()))
            .opt_str("host", self.request.host())
            .opt_u64("status", self.response.as_ref().map(|r| u64::from(r.status)))
            .u64("request_body_bytes", self.request.body.len)
            .opt_u64("response_body_bytes", self.response.as_ref().map(|r| r.body.len))
            .time("t_start", self.t_start)
            .time("request_end", self.request_end);
        match self.response_start {
            Some(ts) => out.time("response_start", ts),
            None => out.null("response_start"),
        };
        out.time("t_end", self.t_end).elapsed("t_elapsed", self.t_elapsed).bool("unanswered", self.unanswered);
    }
    /// Bodies are written as their lengths.
    fn reads_bytes(_options: JsonOptions) -> bool {
        false
    }
}

netanalysis_core::json_event!(HttpRequest);
netanalysis_core::json_event!(HttpResponse);
netanalysis_core::json_event!(HttpTransaction);
