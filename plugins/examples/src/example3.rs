//! Example3: per HTTP transaction, the URI and the network wait.
//!
//! The original's third example: how long the client waited between sending the last
//! byte of its request and receiving the first byte of the response, the part of a
//! transaction's time spent in the network and the server rather than in transfer.
//!
//! # Listens for
//!
//! `http_transaction` ([`HttpTransaction`]), which the HTTP plugin emits (name `HTTP`
//! first on the command line, or compose [`netanalysis_http::HttpAnalyzer`]).
//!
//! # Emits
//!
//! [`HttpWait`] (`http_wait`), one per transaction, right after it. JSON: `session`,
//! `index`, `method`, `uri`, `status` (null when unanswered), `request_end`,
//! `response_start` (null when unanswered), `wait` (seconds as a decimal string, null
//! when unanswered).
//!
//! And one trace line per transaction: its start time, session and index, method, URI
//! and wait, or `no response`:
//!
//! ```text
//! 1795769045.031427 10.88.0.1:80-10.88.0.2:41001 #1 GET /index.html wait=0.000397
//! ```
//!
//! The wait is `response_start - request_end`, zero when the server began answering
//! before the request was complete (an early error response to a large upload).
//!
//! # Configuration
//!
//! None.
//!
//! # Example
//!
//! `netanalysis HTTP Example3 capture.pcap`, or `cargo run --example example3`.

use std::sync::Arc;

use netanalysis_core::{
    AnyEvent, Config, ConfigError, Context, Elapsed, Event, JsonEvent, JsonObject, Listener, ListenerResult, Plugin,
    Subscriptions, Timestamp,
};
use netanalysis_http::{HttpTransaction, Request};
use netanalysis_tcp::SessionId;

/// The network wait of one HTTP transaction: emitted by Example3 right after each
/// `http_transaction`, as its consequence.
#[derive(Debug, Clone)]
pub struct HttpWait {
    /// The session.
    pub session: SessionId,
    /// The transaction's index in its session (from 1).
    pub index: u32,
    /// The request (shared with the transaction).
    pub request: Arc<Request>,
    /// The final response's status; `None` when unanswered.
    pub status: Option<u16>,
    /// Time of the request's last byte.
    pub request_end: Timestamp,
    /// Time of the final response's first byte; `None` when unanswered.
    pub response_start: Option<Timestamp>,
    /// `response_start - request_end` (zero when the response began first); `None`
    /// when unanswered.
    pub wait: Option<Elapsed>,
}

impl HttpWait {
    /// The wait of `transaction`.
    pub fn of(transaction: &HttpTransaction) -> HttpWait {
        HttpWait {
            session: transaction.session.clone(),
            index: transaction.index,
            request: Arc::clone(&transaction.request),
            status: transaction.response.as_ref().map(|r| r.status),
            request_end: transaction.request_end,
            response_start: transaction.response_start,
            wait: transaction.response_start.map(|start| start.since(transaction.request_end)),
        }
    }
}

impl Event for HttpWait {
    const NAME: &'static str = "http_wait";
}

impl JsonEvent for HttpWait {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str())
            .u64("index", u64::from(self.index))
            .str("method", &self.request.method)
            .str("uri", &self.request.uri)
            .opt_u64("status", self.status.map(u64::from))
            .display("request_end", self.request_end);
        match self.response_start {
            Some(ts) => out.display("response_start", ts),
            None => out.null("response_start"),
        };
        match self.wait {
            Some(wait) => out.display("wait", wait),
            None => out.null("wait"),
        };
    }
}

netanalysis_core::json_event!(HttpWait);

/// The `Example3` plugin's listener (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct Example3 {
    _private: (),
}

impl Example3 {
    /// A new listener.
    pub fn new() -> Example3 {
        Example3::default()
    }

    /// Builds the listener from its (empty) configuration: the registry's `build`.
    pub fn build(_cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        Ok(Box::new(Example3::new()))
    }
}

impl Listener for Example3 {
    fn subscribe(&self, subs: &mut Subscriptions) {
        // It reads times, never the bodies' bytes.
        subs.event_without_bytes::<HttpTransaction>();
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        let Some(transaction) = event.downcast_ref::<HttpTransaction>() else {
            return Ok(());
        };
        let wait = HttpWait::of(transaction);
        let (session, index, method, uri) =
            (&transaction.session, transaction.index, &transaction.request.method, &transaction.request.uri);
        match wait.wait {
            Some(elapsed) => {
                ctx.trace(format_args!("{} {session} #{index} {method} {uri} wait={elapsed}", transaction.t_start))?
            }
            None => ctx.trace(format_args!("{} {session} #{index} {method} {uri} no response", transaction.t_start))?,
        }
        ctx.emit(wait);
        Ok(())
    }
}

netanalysis_core::inventory::submit! {
    Plugin {
        name: "Example3",
        summary: "per HTTP transaction, the URI and the wait between request end and response start (http_wait)",
        requires: &["HTTP"],
        build: Example3::build,
        ..Plugin::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use netanalysis_core::{JsonOptions, SocketPair};
    use netanalysis_http::{Body, Response, Version};

    use super::*;
    use crate::testing::{dispatcher_with, endpoint, feed, micros};

    fn request(method: &str, uri: &str, t_start: Timestamp, t_end: Timestamp) -> Arc<Request> {
        Arc::new(Request {
            method: method.to_owned(),
            uri: uri.to_owned(),
            version: Version::http1(1),
            headers: Vec::new(),
            body: Body::default(),
            head_range: 0..40,
            range: 0..40,
            t_start,
            t_end,
            complete: true,
        })
    }

    fn response(status: u16, t_start: Timestamp, t_end: Timestamp) -> Arc<Response> {
        Arc::new(Response {
            version: Version::http1(1),
            status,
            reason: "OK".to_owned(),
            headers: Vec::new(),
            body: Body::default(),
            head_range: 0..40,
            range: 0..40,
            t_start,
            t_end,
            complete: true,
        })
    }

    fn session() -> SessionId {
        SessionId::new(&SocketPair::new(endpoint("10.88.0.2:41001"), endpoint("10.88.0.1:80")), 1)
    }

    #[test]
    fn answered_transaction_prints_uri_and_wait() {
        let (mut dispatcher, trace) = dispatcher_with("Example3", Box::new(Example3::new()));
        let req = request("GET", "/index.html", micros(100, 10), micros(100, 20));
        let resp = response(200, micros(100, 250), micros(100, 900));
        dispatcher.dispatch_event(HttpTransaction::new(session(), 1, req, Some(resp), Vec::new()));
        assert!(dispatcher.take_faults().is_empty());
        assert_eq!(trace.lines(), ["100.000010 10.88.0.1:80-10.88.0.2:41001 #1 GET /index.html wait=0.000230"]);
    }

    #[test]
    fn unanswered_transaction_says_no_response() {
        let (mut dispatcher, trace) = dispatcher_with("Example3", Box::new(Example3::new()));
        let req = request("POST", "/api", micros(7, 0), micros(7, 5));
        dispatcher.dispatch_event(HttpTransaction::new(session(), 3, req, None, Vec::new()));
        assert_eq!(trace.lines(), ["7.000000 10.88.0.1:80-10.88.0.2:41001 #3 POST /api no response"]);
    }

    #[test]
    fn transactions_from_upstream_listener_each_get_a_line() {
        let transactions = vec![
            HttpTransaction::new(
                session(),
                1,
                request("GET", "/a", micros(10, 0), micros(10, 100)),
                Some(response(200, micros(10, 400), micros(10, 900))),
                Vec::new(),
            ),
            HttpTransaction::new(session(), 2, request("GET", "/b", micros(11, 0), micros(11, 0)), None, Vec::new()),
        ];
        let (lines, _) = feed("Example3", Box::new(Example3::new()), transactions);
        assert_eq!(
            lines,
            [
                "10.000000 10.88.0.1:80-10.88.0.2:41001 #1 GET /a wait=0.000300",
                "11.000000 10.88.0.1:80-10.88.0.2:41001 #2 GET /b no response",
            ]
        );
    }

    #[test]
    fn early_response_waits_zero() {
        let req = request("PUT", "/big", micros(5, 0), micros(6, 0));
        let resp = response(413, micros(5, 500_000), micros(5, 600_000));
        let wait = HttpWait::of(&HttpTransaction::new(session(), 1, req, Some(resp), Vec::new()));
        assert_eq!(wait.wait.map(|w| w.as_nanos()), Some(0));
    }

    #[test]
    fn wait_json_has_flat_fields() {
        let req = request("GET", "/a\"b", micros(1, 0), micros(1, 1));
        let wait = HttpWait::of(&HttpTransaction::new(session(), 2, req, None, Vec::new()));
        let mut line = String::new();
        let mut out = JsonObject::begin(&mut line, JsonOptions::default());
        wait.write_json(&mut out);
        out.end();
        assert_eq!(
            line,
            r#"{"session":"10.88.0.1:80-10.88.0.2:41001","index":2,"method":"GET","uri":"/a\"b","status":null,"request_end":"1.000001","response_start":null,"wait":null}"#
        );
        assert!(netanalysis_core::JsonSchema::registered().iter().any(|s| s.name == "http_wait"));
    }
}
