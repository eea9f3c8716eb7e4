//! What the unit tests share: a trace sink they can read back and synthetic events.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use netanalysis_core::{
    Context, Dispatcher, Endpoint, Event, Listener, ListenerResult, Packet, Position, SocketPair, Subscriptions,
    Summary, Timestamp,
};
use netanalysis_tcp::{SessionId, StreamBytes, TcpMonologue};

/// A trace sink whose contents the test reads back.
#[derive(Clone, Default)]
pub(crate) struct TraceBuffer(Arc<Mutex<Vec<u8>>>);

impl TraceBuffer {
    /// Everything written so far, as text.
    pub(crate) fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The lines written so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

impl Write for TraceBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("trace buffer poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A dispatcher with `listener` alone, tracing into the returned buffer.
pub(crate) fn dispatcher_with(name: &str, listener: Box<dyn Listener>) -> (Dispatcher, TraceBuffer) {
    let trace = TraceBuffer::default();
    let mut builder = Dispatcher::builder();
    builder.trace_to(Box::new(trace.clone()));
    builder.add(name, None, listener).expect("no position is claimed");
    (builder.build(), trace)
}

pub(crate) fn endpoint(text: &str) -> Endpoint {
    let (addr, port) = text.rsplit_once(':').expect("test endpoints are ip:port");
    Endpoint::new(addr.parse().expect("test address"), port.parse().expect("test port"))
}

pub(crate) fn micros(secs: u64, micros: u32) -> Timestamp {
    Timestamp::from_micros(secs, micros)
}

/// A monologue of `data` from `from` to `to`, spanning `t_start..t_end`.
pub(crate) fn monologue(
    from: &str,
    to: &str,
    index: u32,
    data: &'static [u8],
    t_start: Timestamp,
    t_end: Timestamp,
) -> TcpMonologue {
    let (from, to) = (endpoint(from), endpoint(to));
    let mut bytes = StreamBytes::new();
    // Two chunks, so readers that need one slice are exercised.
    let half = data.len() / 2;
    bytes.push(Bytes::from_static(&data[..half]));
    bytes.push(Bytes::from_static(&data[half..]));
    TcpMonologue {
        session: SessionId::new(&SocketPair::new(from, to), 1),
        index,
        from,
        to,
        data: bytes,
        offset: 0,
        first_packet: 1,
        t_start,
        t_end,
        packets: 2,
        which_pkts: Vec::new(),
        gaps: Default::default(),
        missing_bytes: 0,
        uncaptured_bytes: 0,
        continued: false,
    }
}

/// A listener standing in for TCP or HTTP: on each packet it emits its next scripted
/// event, so the events under test arrive as consequences of packets, as in a run.
pub(crate) struct Feeder<E: Event> {
    script: std::collections::VecDeque<E>,
}

impl<E: Event> Feeder<E> {
    pub(crate) fn new(script: impl IntoIterator<Item = E>) -> Feeder<E> {
        Feeder { script: script.into_iter().collect() }
    }
}

impl<E: Event> Listener for Feeder<E> {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets();
    }

    fn on_packet(&mut self, _packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(event) = self.script.pop_front() {
            ctx.emit(event);
        }
        Ok(())
    }
}

/// Runs `listener` behind a [`Feeder`] of `script`, one packet per event, setup to
/// finish; returns the trace lines and the run summary.
pub(crate) fn feed<E: Event>(name: &str, listener: Box<dyn Listener>, script: Vec<E>) -> (Vec<String>, Summary) {
    let trace = TraceBuffer::default();
    let mut builder = Dispatcher::builder();
    builder.trace_to(Box::new(trace.clone()));
    let packets = script.len() as u64;
    builder.add("Feeder", Some(Position::First), Box::new(Feeder::new(script))).expect("first place is free");
    builder.add(name, None, listener).expect("no position is claimed");
    let mut dispatcher = builder.build();
    dispatcher.setup();
    for number in 1..=packets {
        dispatcher.dispatch_packet(&Packet::empty(number, micros(1_700_000_000 + number, 0)));
    }
    dispatcher.teardown();
    let mut summary = Summary::new();
    dispatcher.report(&mut summary);
    dispatcher.finish();
    let faults: Vec<String> = dispatcher.take_faults().iter().map(ToString::to_string).collect();
    assert!(faults.is_empty(), "{faults:?}");
    (trace.lines(), summary)
}
