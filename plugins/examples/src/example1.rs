//! Example1: the bandwidth of each monologue, through an event of its own.
//!
//! The original's first example: it shows a listener emitting an event of a type it
//! defines and catching it again, the way any plugin adds to the event vocabulary.
//!
//! # Listens for
//!
//! - `tcp_monologue` ([`TcpMonologue`]): computes the monologue's bandwidth and emits a
//!   [`MonologueBandwidth`].
//! - `monologue_bandwidth` ([`MonologueBandwidth`]), its own event: prints one trace line.
//!   The event reaches every subscriber after the monologue has reached all of its own,
//!   so a listener placed after Example1 sees the monologue first, then the bandwidth.
//!
//! # Emits
//!
//! [`MonologueBandwidth`] (`monologue_bandwidth`), one per monologue. JSON: `session`,
//! `index`, `from`, `to`, `bytes`, `elapsed` (seconds, a decimal string),
//! `bytes_per_second` (null when the monologue took no time).
//!
//! Trace line:
//!
//! ```text
//! monologue_bandwidth 10.88.0.1:80-10.88.0.2:41001 #2 10.88.0.1:80 -> 10.88.0.2:41001 2193 bytes in 0.000053 s: 41377358.49 bytes/s
//! ```
//!
//! A monologue whose packets all carry the same time (one packet, say) has no
//! bandwidth; its line ends `in 0.000000 s: one instant` instead.
//!
//! # Configuration
//!
//! None.
//!
//! # Example
//!
//! `netanalysis Example1 capture.pcap`, or `cargo run --example example1`.

use netanalysis_core::{
    AnyEvent, Config, ConfigError, Context, Elapsed, Endpoint, Event, JsonEvent, JsonObject, Listener, ListenerResult,
    Plugin, Subscriptions,
};
use netanalysis_tcp::{SessionId, TcpMonologue};

/// The bandwidth of one monologue: emitted by Example1 right after each
/// `tcp_monologue`, as that monologue's consequence.
#[derive(Debug, Clone)]
pub struct MonologueBandwidth {
    /// The monologue's session.
    pub session: SessionId,
    /// The monologue's index in its session (from 1).
    pub index: u32,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Bytes in the monologue (holes excluded).
    pub bytes: u64,
    /// Time from its first to its last packet.
    pub elapsed: Elapsed,
    /// `bytes / elapsed`; `None` when `elapsed` is zero.
    pub bytes_per_second: Option<f64>,
}

impl MonologueBandwidth {
    /// The bandwidth of `monologue`.
    pub fn of(monologue: &TcpMonologue) -> MonologueBandwidth {
        let bytes = monologue.data.len();
        let elapsed = monologue.t_elapsed();
        let bytes_per_second = (elapsed.as_nanos() > 0).then(|| bytes as f64 / elapsed.as_secs_f64());
        MonologueBandwidth {
            session: monologue.session.clone(),
            index: monologue.index,
            from: monologue.from,
            to: monologue.to,
            bytes,
            elapsed,
            bytes_per_second,
        }
    }
}

impl Event for MonologueBandwidth {
    const NAME: &'static str = "monologue_bandwidth";
}

impl JsonEvent for MonologueBandwidth {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.str("session", self.session.as_str())
            .u64("index", u64::from(self.index))
            .display("from", self.from)
            .display("to", self.to)
            .u64("bytes", self.bytes)
            .display("elapsed", self.elapsed);
        match self.bytes_per_second {
            Some(rate) => out.f64("bytes_per_second", rate),
            None => out.null("bytes_per_second"),
        };
    }
}

netanalysis_core::json_event!(MonologueBandwidth);

/// The `Example1` plugin's listener (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct Example1 {
    _private: (),
}

impl Example1 {
    /// A new listener.
    pub fn new() -> Example1 {
        Example1::default()
    }

    /// Builds the listener from its (empty) configuration: the registry's `build`.
    pub fn build(_cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        Ok(Box::new(Example1::new()))
    }
}

impl Listener for Example1 {
    fn subscribe(&self, subs: &mut Subscriptions) {
        // It reads monologues' lengths, not their bytes.
        subs.event_without_bytes::<TcpMonologue>().event::<MonologueBandwidth>();
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(monologue) = event.downcast_ref::<TcpMonologue>() {
            // Not printed here: the line comes when our own event comes back to us.
            ctx.emit(MonologueBandwidth::of(monologue));
        } else if let Some(bandwidth) = event.downcast_ref::<MonologueBandwidth>() {
            let MonologueBandwidth { session, index, from, to, bytes, elapsed, .. } = bandwidth;
            match bandwidth.bytes_per_second {
                Some(rate) => ctx.trace(format_args!(
                    "{} {session} #{index} {from} -> {to} {bytes} bytes in {elapsed} s: {rate:.2} bytes/s",
                    MonologueBandwidth::NAME
                ))?,
                None => ctx.trace(format_args!(
                    "{} {session} #{index} {from} -> {to} {bytes} bytes in {elapsed} s: one instant",
                    MonologueBandwidth::NAME
                ))?,
            }
        }
        Ok(())
    }
}

netanalysis_core::inventory::submit! {
    Plugin {
        name: "Example1",
        summary: "bandwidth of each TCP monologue, through an event of its own (monologue_bandwidth)",
        build: Example1::build,
        ..Plugin::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use netanalysis_core::{JsonOptions, Position};

    use super::*;
    use crate::testing::{dispatcher_with, micros, monologue, TraceBuffer};

    /// Records the order in which events reach a listener placed after Example1.
    #[derive(Default)]
    struct Order(std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>);

    impl Listener for Order {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.event::<TcpMonologue>().event::<MonologueBandwidth>();
        }
        fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
            self.0.lock().map_err(|_| ListenerError::msg("poisoned"))?.push(event.name());
            Ok(())
        }
    }

    use netanalysis_core::ListenerError;

    #[test]
    fn monologue_over_half_a_second_prints_its_bandwidth() {
        let (mut dispatcher, trace) = dispatcher_with("Example1", Box::new(Example1::new()));
        dispatcher.dispatch_event(monologue(
            "10.0.0.2:80",
            "10.0.0.1:40000",
            2,
            &[b'x'; 1000],
            micros(1_700_000_000, 250_000),
            micros(1_700_000_000, 750_000),
        ));
        assert!(dispatcher.take_faults().is_empty());
        assert_eq!(
            trace.lines(),
            ["monologue_bandwidth 10.0.0.1:40000-10.0.0.2:80 #2 10.0.0.2:80 -> 10.0.0.1:40000 1000 bytes in 0.500000 s: 2000.00 bytes/s"]
        );
    }

    #[test]
    fn single_instant_monologue_has_no_bandwidth() {
        let (mut dispatcher, trace) = dispatcher_with("Example1", Box::new(Example1::new()));
        let t = micros(1_700_000_000, 0);
        dispatcher.dispatch_event(monologue("10.0.0.1:40000", "10.0.0.2:80", 1, b"GET / HTTP/1.0\r\n\r\n", t, t));
        assert_eq!(
            trace.lines(),
            ["monologue_bandwidth 10.0.0.1:40000-10.0.0.2:80 #1 10.0.0.1:40000 -> 10.0.0.2:80 18 bytes in 0.000000 s: one instant"]
        );
    }

    #[test]
    fn later_listener_sees_monologue_then_bandwidth() {
        let order = Order::default();
        let seen = order.0.clone();
        let trace = TraceBuffer::default();
        let mut builder = netanalysis_core::Dispatcher::builder();
        builder.trace_to(Box::new(trace.clone()));
        builder.add("Example1", None, Box::new(Example1::new())).unwrap();
        builder.add("Order", Some(Position::Last), Box::new(order)).unwrap();
        let mut dispatcher = builder.build();
        for index in 1..=2 {
            dispatcher.dispatch_event(monologue(
                "10.0.0.1:40000",
                "10.0.0.2:80",
                index,
                b"abcd",
                micros(1, 0),
                micros(2, 0),
            ));
        }
        assert_eq!(
            *seen.lock().unwrap(),
            ["tcp_monologue", "monologue_bandwidth", "tcp_monologue", "monologue_bandwidth"]
        );
        assert_eq!(trace.lines().len(), 2);
    }

    #[test]
    fn monologues_from_upstream_listener_each_get_a_line() {
        let monologues = vec![
            monologue("10.0.0.1:40000", "10.0.0.2:80", 1, b"GET / HTTP/1.0\r\n\r\n", micros(5, 0), micros(5, 0)),
            monologue("10.0.0.2:80", "10.0.0.1:40000", 2, &[b'x'; 3000], micros(5, 100), micros(5, 1100)),
        ];
        let (lines, _) = crate::testing::feed("Example1", Box::new(Example1::new()), monologues);
        assert_eq!(
            lines,
            [
                "monologue_bandwidth 10.0.0.1:40000-10.0.0.2:80 #1 10.0.0.1:40000 -> 10.0.0.2:80 18 bytes in 0.000000 s: one instant",
                "monologue_bandwidth 10.0.0.1:40000-10.0.0.2:80 #2 10.0.0.2:80 -> 10.0.0.1:40000 3000 bytes in 0.001000 s: 3000000.00 bytes/s",
            ]
        );
    }

    #[test]
    fn bandwidth_json_has_flat_fields() {
        let event =
            MonologueBandwidth::of(&monologue("10.0.0.1:40000", "10.0.0.2:80", 1, b"abcd", micros(1, 0), micros(1, 0)));
        let mut line = String::new();
        let mut out = JsonObject::begin(&mut line, JsonOptions::default());
        event.write_json(&mut out);
        out.end();
        assert_eq!(
            line,
            r#"{"session":"10.0.0.1:40000-10.0.0.2:80","index":1,"from":"10.0.0.1:40000","to":"10.0.0.2:80","bytes":4,"elapsed":"0.000000","bytes_per_second":null}"#
        );
        assert!(netanalysis_core::JsonSchema::registered().iter().any(|s| s.name == "monologue_bandwidth"));
    }
}
