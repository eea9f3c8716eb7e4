//! PortCounter: payload bytes per direction of each conversation, largest first.
//!
//! The original's counting example: it listens all run long, keeps one count per
//! `from -> to` pair of endpoints, and reports at the end. It is also the example of an
//! aggregating listener in a run sharded across threads (`--threads N`): each shard
//! counts its own sessions, and the counts are merged ([`Listener::merge`]) before the
//! table is printed ([`Listener::on_finish`]).
//!
//! # Listens for
//!
//! `tcp_monologue` ([`TcpMonologue`]): adds the monologue's bytes (reassembled payload,
//! holes excluded) and one monologue to the count of its `from -> to` pair.
//!
//! # Emits
//!
//! At teardown, after TCP has flushed the sessions still open, one [`PortCount`]
//! (`port_count`) per pair, largest first (ties by sender, then receiver). JSON:
//! `from`, `to`, `bytes`, `monologues`. They are emitted in batches of 1,000, each batch
//! its own frame, so no event budget is exceeded however many pairs there are. (In a
//! sharded run each shard emits its own pairs at its own teardown; a pair's sessions
//! all belong to one shard, so every count is whole, but the order is per shard.)
//!
//! At the very end (`on_finish`, after any merge), a table on the trace output,
//! largest first:
//!
//! ```text
//!        bytes monologues  from -> to
//!        17643          4  10.88.0.1:80 -> 10.88.0.2:41001
//!         2442          2  10.88.0.1:80 -> 10.88.0.2:41002
//! ```
//!
//! A monologue split at TCP's `max_monologue` counts once per part.
//!
//! The run summary gets `portcounter_pairs` and `portcounter_bytes`, and, when
//! `max_pairs` was reached, `portcounter_overflow_bytes`.
//!
//! # Configuration
//!
//! - `top` (number, default 0): print only the first `top` rows of the table (0: all).
//!   Every pair is still emitted as an event.
//! - `max_pairs` (number, default 1000000): pairs counted one by one. Past it, the
//!   bytes of pairs not yet seen are added up together and shown in a last row,
//!   `(other pairs)`, so memory stays bounded on a capture with millions of
//!   connections.
//!
//! # Example
//!
//! `netanalysis PortCounter,top=10 capture.pcap`, or `cargo run --example port_counter`.

use std::collections::HashMap;

use netanalysis_core::{
    AnyEvent, Config, ConfigError, Context, Endpoint, Event, Flow, JsonEvent, JsonObject, Listener, ListenerResult,
    OptionKind, OptionSpec, Plugin, Subscriptions, Summary,
};
use netanalysis_tcp::TcpMonologue;

/// The options of the `PortCounter` plugin.
pub const PORT_COUNTER_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "top",
        kind: OptionKind::Uint,
        default: Some("0"),
        help: "rows of the table printed at the end (0: all)",
    },
    OptionSpec {
        name: "max_pairs",
        kind: OptionKind::Uint,
        default: Some("1000000"),
        help: "pairs counted one by one; the bytes of later pairs are added up together",
    },
];

/// Pairs counted one by one unless `max_pairs` says otherwise.
pub const DEFAULT_MAX_PAIRS: usize = 1_000_000;

/// Pairs emitted per teardown frame.
const BATCH: usize = 1_000;

/// The bytes one endpoint sent another over the whole run: emitted by PortCounter at
/// teardown, one per pair, largest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCount {
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Payload bytes reassembled from `from` to `to`.
    pub bytes: u64,
    /// Monologues from `from` to `to`.
    pub monologues: u64,
}

impl Event for PortCount {
    const NAME: &'static str = "port_count";
}

impl JsonEvent for PortCount {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.display("from", self.from)
            .display("to", self.to)
            .u64("bytes", self.bytes)
            .u64("monologues", self.monologues);
    }
}

netanalysis_core::json_event!(PortCount);

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    bytes: u64,
    monologues: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.monologues = self.monologues.saturating_add(other.monologues);
    }
}

/// The `PortCounter` plugin's listener (see the [module docs](self)).
#[derive(Debug)]
pub struct PortCounter {
    counts: HashMap<(Endpoint, Endpoint), Tally>,
    max_pairs: usize,
    /// What pairs past `max_pairs` carried, together.
    overflow: Tally,
    /// The pairs to emit at teardown, largest first, built at the first teardown call.
    ranked: Option<Vec<PortCount>>,
    /// Rows of `ranked` already emitted.
    emitted: usize,
    top: Option<usize>,
}

impl Default for PortCounter {
    fn default() -> Self {
        PortCounter {
            counts: HashMap::new(),
            max_pairs: DEFAULT_MAX_PAIRS,
            overflow: Tally::default(),
            ranked: None,
            emitted: 0,
            top: None,
        }
    }
}

impl PortCounter {
    /// A counter that prints every row.
    pub fn new() -> PortCounter {
        PortCounter::default()
    }

    /// A counter that prints only the first `top` rows (every pair is still emitted).
    pub fn with_top(top: usize) -> PortCounter {
        PortCounter { top: Some(top), ..PortCounter::default() }
    }

    /// Counts at most `max_pairs` pairs one by one; later pairs are added up together.
    pub fn max_pairs(mut self, max_pairs: usize) -> PortCounter {
        self.max_pairs = max_pairs;
        self
    }

    /// Builds the listener from its checked options: the registry's `build`.
    pub fn build(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        let counter = match cfg.u64("top")? {
            None | Some(0) => PortCounter::new(),
            Some(top) => PortCounter::with_top(usize::try_from(top).unwrap_or(usize::MAX)),
        };
        let max_pairs = cfg.u64("max_pairs")?.map_or(DEFAULT_MAX_PAIRS, |n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(Box::new(counter.max_pairs(max_pairs)))
    }

    /// The counts so far, largest first (ties by sender, then receiver).
    pub fn ranking(&self) -> Vec<PortCount> {
        ranking(&self.counts)
    }
}

/// The counts, largest first (ties by sender, then receiver).
fn ranking(counts: &HashMap<(Endpoint, Endpoint), Tally>) -> Vec<PortCount> {
    let mut rows: Vec<PortCount> = counts
        .iter()
        .map(|(&(from, to), tally)| PortCount { from, to, bytes: tally.bytes, monologues: tally.monologues })
        .collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.from.cmp(&b.from)).then(a.to.cmp(&b.to)));
    rows
}

impl Listener for PortCounter {
    fn subscribe(&self, subs: &mut Subscriptions) {
        // It counts bytes without reading them.
        subs.event_without_bytes::<TcpMonologue>();
    }

    fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(monologue) = event.downcast_ref::<TcpMonologue>() {
            let key = (monologue.from, monologue.to);
            let tally = if self.counts.len() < self.max_pairs || self.counts.contains_key(&key) {
                self.counts.entry(key).or_default()
            } else {
                &mut self.overflow
            };
            tally.bytes = tally.bytes.saturating_add(monologue.data.len());
            tally.monologues += 1;
        }
        Ok(())
    }

    fn on_teardown(&mut self, ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        let rows = self.ranked.get_or_insert_with(|| ranking(&self.counts));
        let end = self.emitted.saturating_add(BATCH).min(rows.len());
        for row in rows.get(self.emitted..end).unwrap_or_default() {
            ctx.emit(row.clone());
        }
        self.emitted = end;
        if end < rows.len() {
            return Ok(Flow::More);
        }
        // All emitted: the copy can go (`Some` stays, so a later call emits nothing).
        *rows = Vec::new();
        Ok(Flow::Done)
    }

    fn merge(&mut self, other: &mut dyn Listener) -> ListenerResult {
        let Some(other) = other.as_any_mut().and_then(|any| any.downcast_mut::<PortCounter>()) else {
            return Ok(());
        };
        for (key, theirs) in other.counts.drain() {
            let tally = if self.counts.len() < self.max_pairs || self.counts.contains_key(&key) {
                self.counts.entry(key).or_default()
            } else {
                &mut self.overflow
            };
            tally.add(theirs);
        }
        self.overflow.add(std::mem::take(&mut other.overflow));
        Ok(())
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn on_finish(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        ctx.trace(format_args!("{:>12} {:>10}  from -> to", "bytes", "monologues"))?;
        let shown = self.top.unwrap_or(usize::MAX);
        for row in ranking(&self.counts).iter().take(shown) {
            ctx.trace(format_args!("{:>12} {:>10}  {} -> {}", row.bytes, row.monologues, row.from, row.to))?;
        }
        if self.overflow.monologues > 0 {
            let Tally { bytes, monologues } = self.overflow;
            ctx.trace(format_args!("{bytes:>12} {monologues:>10}  (other pairs, past max_pairs={})", self.max_pairs))?;
        }
        Ok(())
    }

    fn report(&self, summary: &mut Summary) {
        summary.add("portcounter_pairs", self.counts.len() as u64);
        let counted = self.counts.values().fold(0u64, |sum, t| sum.saturating_add(t.bytes));
        summary.add("portcounter_bytes", counted.saturating_add(self.overflow.bytes));
        if self.overflow.monologues > 0 {
            summary.add("portcounter_overflow_bytes", self.overflow.bytes);
        }
    }
}

netanalysis_core::inventory::submit! {
    Plugin {
        name: "PortCounter",
        summary: "payload bytes per from -> to pair, printed largest first at the end (port_count)",
        options: PORT_COUNTER_OPTIONS,
        build: PortCounter::build,
        ..Plugin::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use netanalysis_core::{Dispatcher, JsonOptions, Position};

    use super::*;
    use crate::testing::{micros, monologue, TraceBuffer};

    /// Keeps every `port_count` it receives.
    #[derive(Default)]
    struct Counts(Arc<Mutex<Vec<PortCount>>>);

    impl Listener for Counts {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.event::<PortCount>();
        }
        fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
            if let Some(count) = event.downcast_ref::<PortCount>() {
                self.0.lock().map_err(|_| netanalysis_core::ListenerError::msg("poisoned"))?.push(count.clone());
            }
            Ok(())
        }
    }

    fn run(
        counter: PortCounter,
        monologues: Vec<netanalysis_tcp::TcpMonologue>,
    ) -> (Vec<String>, Vec<PortCount>, Summary) {
        let counts = Counts::default();
        let received = counts.0.clone();
        let trace = TraceBuffer::default();
        let mut builder = Dispatcher::builder();
        builder.trace_to(Box::new(trace.clone()));
        builder.add("PortCounter", None, Box::new(counter)).unwrap();
        builder.add("Counts", Some(Position::Last), Box::new(counts)).unwrap();
        let mut dispatcher = builder.build();
        dispatcher.setup();
        for monologue in monologues {
            dispatcher.dispatch_event(monologue);
        }
        dispatcher.teardown();
        let mut summary = Summary::new();
        dispatcher.report(&mut summary);
        dispatcher.finish();
        assert!(dispatcher.take_faults().is_empty());
        let received = received.lock().unwrap().clone();
        (trace.lines(), received, summary)
    }

    fn conversation() -> Vec<netanalysis_tcp::TcpMonologue> {
        let t = micros(1, 0);
        vec![
            monologue("10.0.0.1:40000", "10.0.0.9:80", 1, b"GET / HTTP/1.1\r\n\r\n", t, t),
            monologue("10.0.0.9:80", "10.0.0.1:40000", 2, &[b'x'; 300], t, t),
            monologue("10.0.0.1:40000", "10.0.0.9:80", 3, b"GET /a HTTP/1.1\r\n\r\n", t, t),
            monologue("10.0.0.9:80", "10.0.0.1:40000", 4, &[b'y'; 200], t, t),
            monologue("10.0.0.2:40001", "10.0.0.9:80", 1, &[b'z'; 37], t, t),
        ]
    }

    #[test]
    fn pairs_are_printed_and_emitted_largest_first() {
        let (lines, counts, summary) = run(PortCounter::new(), conversation());
        assert_eq!(
            lines,
            [
                "       bytes monologues  from -> to",
                "         500          2  10.0.0.9:80 -> 10.0.0.1:40000",
                "          37          2  10.0.0.1:40000 -> 10.0.0.9:80",
                "          37          1  10.0.0.2:40001 -> 10.0.0.9:80",
            ]
        );
        let summary_of = |c: &PortCount| (c.from.to_string(), c.to.to_string(), c.bytes, c.monologues);
        assert_eq!(
            counts.iter().map(summary_of).collect::<Vec<_>>(),
            [
                ("10.0.0.9:80".to_owned(), "10.0.0.1:40000".to_owned(), 500, 2),
                ("10.0.0.1:40000".to_owned(), "10.0.0.9:80".to_owned(), 37, 2),
                ("10.0.0.2:40001".to_owned(), "10.0.0.9:80".to_owned(), 37, 1),
            ]
        );
        assert_eq!(summary.count("portcounter_pairs"), 3);
        assert_eq!(summary.count("portcounter_bytes"), 574);
    }

    #[test]
    fn monologues_from_upstream_listener_are_counted_before_teardown() {
        let (lines, summary) = crate::testing::feed("PortCounter", Box::new(PortCounter::new()), conversation());
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "         500          2  10.0.0.9:80 -> 10.0.0.1:40000");
        assert_eq!(summary.count("portcounter_bytes"), 574);
    }

    #[test]
    fn top_limits_the_table_but_not_the_events() {
        let (lines, counts, _) = run(PortCounter::with_top(1), conversation());
        assert_eq!(lines.len(), 2);
        assert_eq!(counts.len(), 3);
    }

    #[test]
    fn pairs_past_max_pairs_are_added_up_in_a_last_row() {
        let (lines, counts, summary) = run(PortCounter::new().max_pairs(2), conversation());
        assert_eq!(
            lines,
            [
                "       bytes monologues  from -> to",
                "         500          2  10.0.0.9:80 -> 10.0.0.1:40000",
                "          37          2  10.0.0.1:40000 -> 10.0.0.9:80",
                "          37          1  (other pairs, past max_pairs=2)",
            ]
        );
        assert_eq!(counts.len(), 2);
        assert_eq!(summary.count("portcounter_pairs"), 2);
        assert_eq!(summary.count("portcounter_bytes"), 574);
        assert_eq!(summary.count("portcounter_overflow_bytes"), 37);
    }

    #[test]
    fn shards_are_merged_before_the_table_is_printed() {
        let trace = TraceBuffer::default();
        let mut shards: Vec<Dispatcher> = Vec::new();
        let mut conversation = conversation();
        // Shard 2 gets the second client's session, shard 1 the first client's.
        let second_client = conversation.split_off(4);
        for monologues in [conversation, second_client] {
            let mut builder = Dispatcher::builder();
            builder.trace_to(Box::new(trace.clone()));
            builder.add("PortCounter", None, Box::new(PortCounter::new())).unwrap();
            let mut shard = builder.build();
            shard.setup();
            for monologue in monologues {
                shard.dispatch_event(monologue);
            }
            shard.teardown();
            shards.push(shard);
        }
        let mut summary = Summary::new();
        for shard in &shards {
            shard.report(&mut summary);
        }
        let (first, others) = shards.split_first_mut().unwrap();
        for other in others {
            first.merge_from(other);
        }
        first.finish();
        assert!(first.take_faults().is_empty());
        assert_eq!(
            trace.lines(),
            [
                "       bytes monologues  from -> to",
                "         500          2  10.0.0.9:80 -> 10.0.0.1:40000",
                "          37          2  10.0.0.1:40000 -> 10.0.0.9:80",
                "          37          1  10.0.0.2:40001 -> 10.0.0.9:80",
            ]
        );
        assert_eq!(summary.count("portcounter_pairs"), 3);
        assert_eq!(summary.count("portcounter_bytes"), 574);
    }

    #[test]
    fn no_traffic_prints_only_the_header() {
        let (lines, counts, summary) = run(PortCounter::new(), Vec::new());
        assert_eq!(lines, ["       bytes monologues  from -> to"]);
        assert!(counts.is_empty());
        assert_eq!(summary.count("portcounter_pairs"), 0);
    }

    #[test]
    fn many_pairs_are_emitted_in_batches_within_the_budget() {
        let t = micros(1, 0);
        let monologues: Vec<_> = (0..2_500u32)
            .map(|n| {
                let from = format!("10.1.{}.{}:1000", n / 250, n % 250);
                let from: &'static str = Box::leak(from.into_boxed_str());
                monologue(from, "10.0.0.9:80", 1, b"hello", t, t)
            })
            .collect();
        let (lines, counts, summary) = run(PortCounter::with_top(5), monologues);
        assert_eq!(lines.len(), 6);
        assert_eq!(counts.len(), 2_500);
        assert!(counts.windows(2).all(|pair| pair[0].from < pair[1].from), "ties are ordered by sender");
        assert_eq!(summary.count("portcounter_bytes"), 12_500);
    }

    #[test]
    fn port_count_json_has_flat_fields() {
        let count = PortCount {
            from: crate::testing::endpoint("10.0.0.9:80"),
            to: crate::testing::endpoint("10.0.0.1:40000"),
            bytes: 500,
            monologues: 2,
        };
        let mut line = String::new();
        let mut out = JsonObject::begin(&mut line, JsonOptions::default());
        count.write_json(&mut out);
        out.end();
        assert_eq!(line, r#"{"from":"10.0.0.9:80","to":"10.0.0.1:40000","bytes":500,"monologues":2}"#);
        assert!(netanalysis_core::JsonSchema::registered().iter().any(|s| s.name == "port_count"));
    }
}
