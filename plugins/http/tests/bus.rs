//! The analyzer on the bus: registration, options, trace lines, and where its events
//! fall relative to the TCP events that caused them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use netanalysis_core::{
    AnyEvent, Context, Dispatcher, Endpoint, Event, Listener, ListenerResult, Registry, SocketPair, Subscriptions,
    Timestamp,
};
use netanalysis_http::{HttpRequest, HttpResponse, HttpTransaction};
use netanalysis_tcp::{EndReason, SessionId, StreamEndReason, TcpSessionEnd, TcpSessionStart, TcpStreamEnd};
use netanalysis_test_support::{tcp_data, Recorder};

fn endpoints() -> (Endpoint, Endpoint) {
    (Endpoint::new([10, 0, 0, 1].into(), 40000), Endpoint::new([10, 0, 0, 2].into(), 80))
}

/// One scripted step of a fake TCP listener: all of it is emitted as one frame.
#[derive(Debug)]
struct Script(Vec<Step>);
impl Event for Script {
    const NAME: &'static str = "script";
}

#[derive(Debug, Clone)]
enum Step {
    Start,
    Data { client: bool, offset: u64, bytes: &'static [u8] },
    StreamEnd { client: bool },
    SessionEnd,
}

/// Stands in for the TCP listener: turns scripts into TCP events.
struct FakeTcp {
    session: SessionId,
}

impl Listener for FakeTcp {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.event::<Script>();
    }
    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        let Some(Script(steps)) = event.downcast_ref::<Script>() else { return Ok(()) };
        let (client, server) = endpoints();
        let pair = SocketPair::new(client, server);
        let ts = ctx.now();
        for step in steps {
            let session = self.session.clone();
            match step.clone() {
                Step::Start => {
                    ctx.emit(TcpSessionStart { session, pair, client, server, mid_stream: false, packet: 1, ts })
                }
                Step::Data { client: from_client, offset, bytes } => {
                    ctx.emit(tcp_data(&session, client, server, from_client, offset, Bytes::from_static(bytes), ts))
                }
                Step::StreamEnd { client: from_client } => {
                    let (from, to) = if from_client { (client, server) } else { (server, client) };
                    ctx.emit(TcpStreamEnd { session, from, to, reason: StreamEndReason::Fin, end_offset: 0, ts })
                }
                Step::SessionEnd => {
                    ctx.emit(TcpSessionEnd { session, pair, reason: EndReason::Fin, packet: Some(1), ts })
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);
impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn http_plugin(spec: &str) -> Box<dyn Listener> {
    let registry = Registry::from_inventory().expect("no duplicate plugin names");
    let (plugin, config) = registry.parse(spec).expect("a valid HTTP argument");
    assert_eq!(plugin.requires, ["TCP"]);
    (plugin.build)(&config).expect("HTTP builds")
}

fn recorder() -> Recorder {
    Recorder::empty()
        .with(|e: &TcpSessionEnd| format!("tcp_session_end {}", e.session))
        .with(|e: &TcpStreamEnd| format!("tcp_stream_end from={}", e.from))
        .with(|e: &HttpRequest| format!("http_request {} {}", e.request.method, e.request.uri))
        .with(|e: &HttpResponse| format!("http_response {} for={:?}", e.response.status, e.request_index))
        .with(|e: &HttpTransaction| {
            format!(
                "http_transaction {} {} unanswered={}",
                e.request.uri,
                e.response.as_ref().map_or(0, |r| r.status),
                e.unanswered
            )
        })
}

#[test]
fn close_delimited_response_and_unanswered_request_precede_session_end() {
    let (client, server) = endpoints();
    let session = SessionId::new(&SocketPair::new(client, server), 1);
    let recorder = recorder();
    let lines = recorder.lines();
    let trace = SharedBuf::default();
    let mut builder = Dispatcher::builder();
    builder.add("TCP", None, Box::new(FakeTcp { session })).unwrap();
    builder.add("HTTP", None, http_plugin("HTTP,v=1")).unwrap();
    builder.add("Recorder", None, Box::new(recorder)).unwrap();
    builder.trace_to(Box::new(trace.clone()));
    let mut dispatcher = builder.build();
    dispatcher.advance_clock(Timestamp::from_micros(1_700_000_000, 0));
    dispatcher.dispatch_event(Script(vec![
        Step::Start,
        Step::Data { client: true, offset: 0, bytes: b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n" },
    ]));
    // One frame, as when one packet closes the session.
    dispatcher.dispatch_event(Script(vec![
        Step::Data { client: false, offset: 0, bytes: b"HTTP/1.0 200 OK\r\n\r\nuntil the close" },
        Step::StreamEnd { client: false },
        Step::StreamEnd { client: true },
        Step::SessionEnd,
    ]));
    dispatcher.flush_trace().unwrap();
    assert_eq!(
        lines.get(),
        [
            "http_request GET /a",
            "http_request GET /b",
            "tcp_stream_end from=10.0.0.2:80",
            "http_response 200 for=Some(1)",
            "http_transaction /a 200 unanswered=false",
            "http_transaction /b 0 unanswered=true",
            "tcp_stream_end from=10.0.0.1:40000",
            "tcp_session_end 10.0.0.1:40000-10.0.0.2:80",
        ]
    );
    let trace = String::from_utf8(trace.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        trace,
        "0.000000 10.0.0.1:40000-10.0.0.2:80 GET /a 200 15\n0.000000 10.0.0.1:40000-10.0.0.2:80 GET /b unanswered\n"
    );
    assert_eq!(dispatcher.take_faults().len(), 0);
    let mut summary = netanalysis_core::Summary::new();
    dispatcher.report(&mut summary);
    assert_eq!(summary.count("http_requests"), 2);
    assert_eq!(summary.count("http_responses"), 1);
    assert_eq!(summary.count("http_transactions"), 2);
    assert_eq!(summary.count("http_unanswered"), 1);
}

#[test]
fn options_are_checked_by_the_registry() {
    let registry = Registry::from_inventory().unwrap();
    assert!(registry.parse("HTTP,max_body=64K,decode,max_headers=10,max_header_bytes=1M").is_ok());
    assert!(registry.parse("HTTP,max_body=lots").is_err());
    assert!(registry.parse("HTTP,nonsense=1").is_err());
    let (plugin, config) = registry.parse("HTTP,max_headers=0").unwrap();
    assert!((plugin.build)(&config).is_err());
}
