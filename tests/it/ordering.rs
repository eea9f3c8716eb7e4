//! The bus's documented delivery order, pinned.

use std::sync::{Arc, Mutex};

use netanalysis_core::{
    AnyEvent, Context, Dispatcher, Event, Listener, ListenerError, ListenerResult, Packet, Position, RegistryError,
    Subscriptions, Timestamp,
};

#[derive(Debug)]
struct Ping(&'static str);
impl Event for Ping {
    const NAME: &'static str = "ping";
}

#[derive(Debug)]
struct Pong(&'static str);
impl Event for Pong {
    const NAME: &'static str = "pong";
}

type Log = Arc<Mutex<Vec<String>>>;

/// A listener that logs what it receives and emits scripted events in response.
struct Scripted {
    name: &'static str,
    log: Log,
    on_packet: Vec<&'static str>,
    /// (received ping label, pong label to emit)
    on_ping: Vec<(&'static str, &'static str)>,
    wants_pong: bool,
}

impl Scripted {
    fn new(name: &'static str, log: &Log) -> Scripted {
        Scripted { name, log: Arc::clone(log), on_packet: vec![], on_ping: vec![], wants_pong: true }
    }
}

impl Listener for Scripted {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets().event::<Ping>();
        if self.wants_pong {
            subs.event::<Pong>();
        }
    }

    fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        self.log.lock().unwrap().push(format!("{} packet {}", self.name, packet.number));
        for label in &self.on_packet {
            ctx.emit(Ping(label));
        }
        Ok(())
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(Ping(label)) = event.downcast_ref::<Ping>() {
            self.log.lock().unwrap().push(format!("{} ping {}", self.name, label));
            for (trigger, pong) in &self.on_ping {
                if trigger == label {
                    ctx.emit(Pong(pong));
                }
            }
        } else if let Some(Pong(label)) = event.downcast_ref::<Pong>() {
            self.log.lock().unwrap().push(format!("{} pong {}", self.name, label));
        }
        Ok(())
    }
}

fn packet(n: u64) -> Packet<'static> {
    Packet::empty(n, Timestamp::from_micros(1_000 + n, 0))
}

#[test]
fn first_and_last_positions_frame_registration_order() {
    let log: Log = Log::default();
    let mut builder = Dispatcher::builder();
    builder.add("B", None, Box::new(Scripted::new("B", &log))).unwrap();
    builder.add("Z", Some(Position::Last), Box::new(Scripted::new("Z", &log))).unwrap();
    builder.add("C", None, Box::new(Scripted::new("C", &log))).unwrap();
    builder.add("A", Some(Position::First), Box::new(Scripted::new("A", &log))).unwrap();
    let mut dispatcher = builder.build();
    assert_eq!(dispatcher.listener_names().collect::<Vec<_>>(), ["A", "B", "C", "Z"]);
    dispatcher.dispatch_packet(&packet(1));
    assert_eq!(*log.lock().unwrap(), ["A packet 1", "B packet 1", "C packet 1", "Z packet 1"]);
}

#[test]
fn second_claim_of_a_position_names_both_listeners() {
    let log: Log = Log::default();
    let mut builder = Dispatcher::builder();
    builder.add("TCP", Some(Position::First), Box::new(Scripted::new("TCP", &log))).unwrap();
    let err = builder.add("Greedy", Some(Position::First), Box::new(Scripted::new("G", &log))).err().unwrap();
    assert_eq!(
        err,
        RegistryError::PositionTaken { position: Position::First, held_by: "TCP".into(), claimed_by: "Greedy".into() }
    );
    assert_eq!(err.to_string(), "Greedy cannot take the first place: TCP already holds it");
    // Last is still free, and a second Last is refused too.
    builder.add("Log", Some(Position::Last), Box::new(Scripted::new("L", &log))).unwrap();
    assert!(builder.add("Log2", Some(Position::Last), Box::new(Scripted::new("L2", &log))).is_err());
}

/// The exact causal pre-order: an event reaches every listener before anything it
/// caused; its children follow in emission order, each with its whole subtree, before
/// the event's next sibling.
#[test]
fn nested_emits_are_delivered_in_causal_pre_order() {
    let log: Log = Log::default();
    let mut a = Scripted::new("A", &log);
    a.on_packet = vec!["a1", "a2"];
    a.on_ping = vec![("a1", "p1")];
    let mut b = Scripted::new("B", &log);
    b.on_packet = vec!["b1"];
    b.on_ping = vec![("a1", "p2")];
    let c = Scripted::new("C", &log);

    let mut builder = Dispatcher::builder();
    builder.add("A", Some(Position::First), Box::new(a)).unwrap();
    builder.add("B", None, Box::new(b)).unwrap();
    builder.add("C", None, Box::new(c)).unwrap();
    let mut dispatcher = builder.build();
    dispatcher.dispatch_packet(&packet(7));

    let expected = [
        // The packet reaches everyone first, even though A emitted while handling it.
        "A packet 7",
        "B packet 7",
        "C packet 7",
        // Children of the packet in emission order: a1 (A's), a2 (A's), b1 (B's).
        // a1 reaches every listener before its own children p1 and p2 ...
        "A ping a1",
        "B ping a1",
        "C ping a1",
        // ... which come next (in emission order: A emitted p1 before B emitted p2),
        "A pong p1",
        "B pong p1",
        "C pong p1",
        "A pong p2",
        "B pong p2",
        "C pong p2",
        // ... and only then a1's next sibling, a2, and then b1.
        "A ping a2",
        "B ping a2",
        "C ping a2",
        "A ping b1",
        "B ping b1",
        "C ping b1",
    ];
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn an_event_nobody_subscribed_to_is_dropped() {
    let log: Log = Log::default();
    let mut a = Scripted::new("A", &log);
    a.wants_pong = false;
    a.on_packet = vec!["x"];
    a.on_ping = vec![("x", "lost")];
    let mut builder = Dispatcher::builder();
    builder.add("A", None, Box::new(a)).unwrap();
    let mut dispatcher = builder.build();
    dispatcher.dispatch_packet(&packet(1));
    assert_eq!(*log.lock().unwrap(), ["A packet 1", "A ping x"]);
}

/// A plugin-defined event type reaches another plugin that subscribed to it by type,
/// with core knowing nothing of it.
#[test]
fn plugin_defined_event_reaches_another_plugin() {
    #[derive(Debug)]
    struct Bandwidth {
        bytes: u64,
    }
    impl Event for Bandwidth {
        const NAME: &'static str = "bandwidth";
    }
    struct Meter;
    impl Listener for Meter {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.packets();
        }
        fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
            ctx.emit(Bandwidth { bytes: packet.number * 100 });
            Ok(())
        }
    }
    struct Totals(Arc<Mutex<u64>>);
    impl Listener for Totals {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.event::<Bandwidth>();
        }
        fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
            let bw = event.downcast_ref::<Bandwidth>().expect("only Bandwidth is subscribed");
            *self.0.lock().unwrap() += bw.bytes;
            Ok(())
        }
    }
    let total = Arc::new(Mutex::new(0));
    let mut builder = Dispatcher::builder();
    builder.add("Meter", None, Box::new(Meter)).unwrap();
    builder.add("Totals", None, Box::new(Totals(Arc::clone(&total)))).unwrap();
    let mut dispatcher = builder.build();
    for n in 1..=3 {
        dispatcher.dispatch_packet(&packet(n));
    }
    assert_eq!(*total.lock().unwrap(), 600);
}

struct Faulty {
    panic_on: u64,
    error_on: u64,
    log: Log,
}

impl Listener for Faulty {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets();
    }
    fn on_packet(&mut self, packet: &Packet<'_>, _ctx: &mut Context<'_>) -> ListenerResult {
        self.log.lock().unwrap().push(format!("faulty {}", packet.number));
        if packet.number == self.error_on {
            return Err(ListenerError::msg("bad packet"));
        }
        if packet.number == self.panic_on {
            panic!("boom at {}", packet.number);
        }
        Ok(())
    }
}

#[test]
fn a_panicking_listener_is_reported_once_and_disabled_while_others_carry_on() {
    netanalysis_core::quiet_listener_panics();
    let log: Log = Log::default();
    let mut builder = Dispatcher::builder();
    builder.add("Faulty", None, Box::new(Faulty { panic_on: 2, error_on: 1, log: Arc::clone(&log) })).unwrap();
    builder.add("Other", None, Box::new(Scripted::new("other", &log))).unwrap();
    let mut dispatcher = builder.build();
    for n in 1..=3 {
        dispatcher.dispatch_packet(&packet(n));
    }
    dispatcher.teardown();
    let faults: Vec<String> = dispatcher.take_faults().iter().map(|f| f.to_string()).collect();
    assert_eq!(faults, ["Faulty failed on packet: bad packet", "Faulty panicked on packet: boom at 2"]);
    assert_eq!(dispatcher.fault_count(), 2);
    assert_eq!(
        *log.lock().unwrap(),
        ["faulty 1", "other packet 1", "faulty 2", "other packet 2", "other packet 3"],
        "after its panic the faulty listener gets nothing more; the other one carries on"
    );
}

#[test]
fn a_runaway_frame_is_stopped_at_its_budget() {
    struct Echo;
    impl Listener for Echo {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.packets().event::<Ping>();
        }
        fn on_packet(&mut self, _packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
            ctx.emit(Ping("start"));
            Ok(())
        }
        fn on_event(&mut self, _event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
            ctx.emit(Ping("again")); // every ping causes another: an endless chain
            Ok(())
        }
    }
    let mut builder = Dispatcher::builder();
    builder.add("Echo", None, Box::new(Echo)).unwrap();
    builder.event_budget(100);
    let mut dispatcher = builder.build();
    dispatcher.dispatch_packet(&packet(1));
    let faults = dispatcher.take_faults();
    assert_eq!(faults.len(), 1);
    assert_eq!(
        faults[0].to_string(),
        "Echo emitted more than 100 events in one frame while handling packet; the rest of the frame was dropped"
    );
    // The next frame starts afresh.
    dispatcher.dispatch_packet(&packet(2));
    assert_eq!(dispatcher.take_faults().len(), 1);
}

/// Teardown runs listener by listener: what the first emits is delivered (with its
/// consequences) before the next listener's teardown; `Flow::More` asks to be called again.
#[test]
fn teardown_delivers_each_listeners_flush_before_the_next_teardown() {
    struct Flusher {
        left: u32,
    }
    impl Listener for Flusher {
        fn on_teardown(&mut self, ctx: &mut Context<'_>) -> ListenerResult<netanalysis_core::Flow> {
            if self.left == 0 {
                return Ok(netanalysis_core::Flow::Done);
            }
            self.left -= 1;
            ctx.emit(Ping(if self.left == 1 { "flush-1" } else { "flush-2" }));
            Ok(netanalysis_core::Flow::More)
        }
    }
    struct Summariser(Log);
    impl Listener for Summariser {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.event::<Ping>();
        }
        fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
            let Ping(label) = event.downcast_ref::<Ping>().unwrap();
            self.0.lock().unwrap().push(format!("got {label}"));
            Ok(())
        }
        fn on_teardown(&mut self, _ctx: &mut Context<'_>) -> ListenerResult<netanalysis_core::Flow> {
            self.0.lock().unwrap().push("summary".into());
            Ok(netanalysis_core::Flow::Done)
        }
    }
    let log: Log = Log::default();
    let mut builder = Dispatcher::builder();
    builder.add("Summariser", None, Box::new(Summariser(Arc::clone(&log)))).unwrap();
    builder.add("Flusher", Some(Position::First), Box::new(Flusher { left: 2 })).unwrap();
    let mut dispatcher = builder.build();
    dispatcher.setup();
    dispatcher.teardown();
    assert_eq!(*log.lock().unwrap(), ["got flush-1", "got flush-2", "summary"]);
}

/// Ticks reach only the listeners that asked for them, and what a tick causes is
/// delivered in the tick's own frame.
#[test]
fn ticks_reach_their_subscribers_and_their_consequences_follow() {
    struct Sweeper(Log);
    impl Listener for Sweeper {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.ticks();
        }
        fn on_tick(&mut self, now: Timestamp, ctx: &mut Context<'_>) -> ListenerResult {
            self.0.lock().unwrap().push(format!("tick {now}"));
            ctx.emit(Ping("expired"));
            Ok(())
        }
    }
    let log: Log = Log::default();
    let mut builder = Dispatcher::builder();
    builder.add("Sweeper", None, Box::new(Sweeper(Arc::clone(&log)))).unwrap();
    builder.add("Other", None, Box::new(Scripted::new("other", &log))).unwrap();
    let mut dispatcher = builder.build();
    dispatcher.tick(Timestamp::from_micros(1002, 0));
    dispatcher.dispatch_packet(&packet(2));
    assert_eq!(*log.lock().unwrap(), ["tick 1002.000000", "other ping expired", "other packet 2"]);
    assert_eq!(dispatcher.now(), Timestamp::from_micros(1002, 0));
}
