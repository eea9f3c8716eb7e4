//! HTTP/1.x analysis for netanalysis: every request and response of a keep-alive or
//! pipelined connection, paired into transactions, bodies with their transfer coding
//! removed (and their content coding too, on request).
//!
//! It sits after the TCP listener: TCP reassembles each direction and hands its bytes
//! over as `tcp_data` as soon as they are in order; this crate parses them
//! incrementally, one [`MessageParser`] per direction, and pairs responses with
//! requests per session. It replaces both of the original Net::Analysis HTTP listeners
//! (HTTP and HTTPPipelining): messages are framed by their own headers, never by
//! monologue boundaries, so pipelining, 100-continue and bodies of any size work the
//! same way, in memory bounded by `max_body` and `max_header_bytes`.
//!
//! # Listens for
//!
//! - `tcp_data` (netanalysis_tcp::TcpData): in-order bytes of one direction. A session
//!   is taken to be HTTP when the first bytes of either direction (or the first line
//!   start within its first 16 KiB) look like a request line or a status line, on any
//!   port; the side that sends requests is the client.
//! - `tcp_stream_end`: a direction ended; a body delimited by the close is complete,
//!   and once the server's direction ended, requests still waiting are reported
//!   unanswered.
//! - `tcp_session_end`: anything still pending is reported, and the session is
//!   forgotten.
//!
//! # Emits
//!
//! - [`HttpRequest`] (`http_request`): a request is complete. JSON: `session`, `method`,
//!   `uri`, `host`, `version`, `body_bytes`.
//! - [`HttpResponse`] (`http_response`): a response is complete, interim 1xx ones
//!   included, and responses that answer no known request (`request_index` null).
//!   JSON: `session`, `status`, `reason`, `version`, `body_bytes`, `interim`,
//!   `request_index`.
//! - [`HttpTransaction`] (`http_transaction`): a request with its final response and
//!   interim responses, or flagged `unanswered`. JSON: `session`, `method`, `uri`,
//!   `host`, `status`, `request_body_bytes`, `response_body_bytes`, `t_start`,
//!   `request_end`, `response_start`, `t_end`, `t_elapsed`, `unanswered`.
//!
//! Each is delivered right after the TCP event that completed it, so a session's last
//! transaction precedes its `tcp_session_end`.
//!
//! Bodies follow RFC 9112 §6.3: none for responses to HEAD, for 1xx, 204 and 304;
//! chunked transfer coding (removed, trailers kept); `Content-Length`; otherwise, for
//! responses, until the connection closes. After `101 Switching Protocols` or a 2xx
//! answer to CONNECT, the rest of the session is not HTTP and is left alone (counted as
//! `http_sessions_not_http_after_upgrade`).
//!
//! Heads are read with httparse; a request line it refuses (no version, `HTTP/1.`, a
//! bare `OPTIONS`) is still read the way Wireshark shows it, split at spaces, with the
//! header fields httparse can read after it (more than `max_headers` of them are too
//! many, as for any head), and an HTTP/0.9 request (`GET /` alone) is a request with
//! version `HTTP/0.9`. Of several
//! conflicting `Content-Length` values the last is used, as Wireshark does (counted as
//! `http_conflicting_content_length`). `101 Switching Protocols` is the final answer
//! of its exchange, not an interim response.
//!
//! Gaps and garbage: a gap inside a body of known length is bridged (the body reports
//! its `missing` bytes); anywhere else the parser resynchronises at the next plausible
//! message start and counts the bytes it skipped (`http_skipped_bytes`). A response is
//! never paired with a request it may not answer: after a loss, responses are reported
//! with no request, and waiting requests unanswered, until pairing is safe again (see
//! the `session` module).
//!
//! The run summary gets `http_requests`, `http_responses`, `http_transactions`,
//! `http_unanswered`, `http_skipped_bytes`, `http_sessions_not_http_after_upgrade`,
//! `http_decode_errors` and further counts of every limit and error.
//!
//! When no listener subscribed to any of the three events and `v` is 0, the analyzer
//! only counts: heads are still parsed to frame bodies and pair responses, but no
//! events are built and, unless `decode` needs them, no fields or bodies are kept (the
//! bytes of a body are consumed by their lengths, and when the analyzer is the only
//! receiver of `tcp_data` the TCP listener is told to withhold them: see
//! `TcpData::skip_until`, and to lend it the bytes it does read from the capture
//! reader's buffer rather than copy them: see `TcpData::lend_only`); the run summary is
//! the same. When the listeners that receive the events all subscribed without the
//! bytes they carry (`Subscriptions::event_without_bytes`, as the JSON log does) and
//! `decode` is off, messages keep every detail but hold no body bytes (`Body::len`
//! counts them, `Body::data` only counts what `max_body` would have kept), and bodies
//! are consumed by their lengths and withheld as when counting. Sessions that are not
//! (or no longer) HTTP have the rest of their bytes withheld in every mode.
//!
//! # Configuration
//!
//! | option | type | default | meaning |
//! |---|---|---|---|
//! | `v` | number | 0 | 1: one trace line per transaction: elapsed time, session, method, URI, status, response body size |
//! | `max_body` | size | 1M | body bytes kept per message (the rest is counted) |
//! | `decode` | bool | 0 | also undo gzip and deflate content codings (`Body::decoded`); failures are reported, not fatal |
//! | `max_headers` | number | 128 | header fields per message; more is a counted error |
//! | `max_header_bytes` | size | 64K | bytes per head; longer is a counted error |
//!
//! # Example
//!
//! On the command line: `netanalysis HTTP,v=1,decode capture.pcap`. In code, compose
//! it after the TCP listener, or feed it `tcp_data` events yourself:
//!
//! ```
//! use bytes::Bytes;
//! use netanalysis_core::{Dispatcher, Endpoint, SocketPair, Timestamp};
//! use netanalysis_http::{HttpAnalyzer, HttpTransaction, Limits};
//! use netanalysis_tcp::{Direction, SessionId, TcpData, TcpSessionEnd, EndReason};
//!
//! # #[derive(Default)] struct Got(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
//! # impl netanalysis_core::Listener for Got {
//! #     fn subscribe(&self, subs: &mut netanalysis_core::Subscriptions) { subs.event::<HttpTransaction>(); }
//! #     fn on_event(&mut self, e: &dyn netanalysis_core::AnyEvent, _: &mut netanalysis_core::Context<'_>) -> netanalysis_core::ListenerResult {
//! #         if let Some(t) = e.downcast_ref::<HttpTransaction>() {
//! #             self.0.lock().unwrap().push(format!("{} {} {:?}", t.request.method, t.request.uri, t.response.as_ref().map(|r| r.status)));
//! #         }
//! #         Ok(())
//! #     }
//! # }
//! let client: Endpoint = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
//! let server: Endpoint = Endpoint::new("10.0.0.2".parse().unwrap(), 80);
//! let pair = SocketPair::new(client, server);
//! let session = SessionId::new(&pair, 1);
//! let seen = Got::default();
//! let lines = seen.0.clone();
//!
//! let mut builder = Dispatcher::builder();
//! builder.add("HTTP", None, Box::new(HttpAnalyzer::new(Limits::default(), false))).unwrap();
//! builder.add("Got", None, Box::new(seen)).unwrap();
//! let mut dispatcher = builder.build();
//! let ts = Timestamp::from_micros(1_700_000_000, 0);
//! let data = |from, to, offset, bytes: &'static [u8]| TcpData {
//!     session: session.clone(),
//!     direction: if from == client { Direction::ClientToServer } else { Direction::ServerToClient },
//!     from, to, offset, data: Bytes::from_static(bytes), skipped: 0, packet: 1, ts,
//! };
//! dispatcher.dispatch_event(data(client, server, 0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
//! dispatcher.dispatch_event(data(server, client, 0, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));
//! assert_eq!(lines.lock().unwrap().as_slice(), ["GET / Some(200)"]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod analyzer;
mod events;
mod message;
mod parser;
mod session;

pub use analyzer::{HttpAnalyzer, HTTP_OPTIONS};
pub use events::{HttpRequest, HttpResponse, HttpTransaction};
pub use message::{Body, ContentCoding, DecodedBody, Header, Request, Response, Version};
pub use parser::{Expect, Limits, MessageParser, ParserOutput, ParserStats, Role};

#[cfg(test)]
mod tests;
