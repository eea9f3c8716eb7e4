//! The dispatcher: ordered, allocation-free delivery of packets and events.
//!
//! # Delivery order
//!
//! 1. Frames are dispatched one at a time in capture order; a frame (one packet, one
//!    listener's setup or teardown step, or one root event) is fully delivered before
//!    the next begins.
//! 2. An event reaches all of its subscribers, in listener order, before anything it
//!    caused.
//! 3. Then everything it caused is delivered, in emission order, each together with all
//!    of its own consequences, before the event's next sibling (pre-order).
//! 4. Listener order: the one holding [`Position::First`], then everyone else in
//!    registration order, then the one holding [`Position::Last`].
//!
//! # Cost
//!
//! Routing is decided at registration: each event type gets a dense index and a list of
//! subscriber indexes. Emitting moves the event into a queue kept per type (created on
//! first use, cleared but never freed after each frame) and pushes a small handle; no
//! search by name and no allocation once the queues have grown to their working size.
//! An emitter can ask [`Context::wants`] whether anyone subscribed to a type and skip
//! building events nobody will receive.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};

use smallvec::SmallVec;

use crate::event::{AnyEvent, Event};
use crate::listener::{Flow, Listener, ListenerError, Position, Subscriptions};
use crate::packet::Packet;
use crate::plugin::RegistryError;
use crate::summary::Summary;
use crate::time::Timestamp;

/// Events one frame may emit before it is stopped as a runaway.
pub const DEFAULT_EVENT_BUDGET: usize = 10_000;

thread_local! {
    static IN_LISTENER: Cell<bool> = const { Cell::new(false) };
}

/// Installs a panic hook that stays silent for panics inside listener callbacks (the
/// dispatcher reports those itself, once, as `<listener> panicked on <event>: <message>`)
/// and defers to the previous hook for every other panic.
pub fn quiet_listener_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_LISTENER.with(|flag| flag.get()) {
            previous(info);
        }
    }));
}

/// A listener's failure, reported by the dispatcher.
#[derive(Debug)]
pub struct Fault {
    /// The listener's name.
    pub listener: String,
    /// What it was handling: an event's wire name, `packet`, `setup` or `teardown`.
    pub event: &'static str,
    /// What went wrong.
    pub kind: FaultKind,
}

/// What went wrong in a [`Fault`].
#[derive(Debug)]
pub enum FaultKind {
    /// The listener panicked; it has been disabled.
    Panicked(String),
    /// The listener returned an error.
    Failed(ListenerError),
    /// The frame emitted more events than its budget; the rest of the frame was dropped.
    Runaway(usize),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FaultKind::Panicked(msg) => write!(f, "{} panicked on {}: {}", self.listener, self.event, msg),
            FaultKind::Failed(err) => write!(f, "{} failed on {}: {}", self.listener, self.event, err),
            FaultKind::Runaway(budget) => write!(
                f,
                "{} emitted more than {} events in one frame while handling {}; the rest of the frame was dropped",
                self.listener, budget, self.event
            ),
        }
    }
}

/// A hasher for `TypeId` keys, which are already well-distributed hashes.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type DeliverFn = fn(&mut Bus, &mut Listeners, usize, usize);
type ClearFn = fn(&mut dyn Any);

/// One event type known to the bus.
struct TypeEntry {
    name: &'static str,
    subscribers: SmallVec<[usize; 4]>,
    /// Some subscriber reads the captured bytes these events carry.
    bytes_read: bool,
    /// `Vec<Option<E>>`, created on first emit.
    queue: Option<Box<dyn Any + Send>>,
    deliver: Option<DeliverFn>,
    clear: Option<ClearFn>,
}

#[derive(Clone, Copy, Debug)]
struct Handle {
    type_index: u32,
    slot: u32,
}

/// The emitting half of the dispatcher: event queues and the pending-delivery stack.
pub(crate) struct Bus {
    types: Vec<TypeEntry>,
    index: HashMap<TypeId, usize, BuildHasherDefault<TypeIdHasher>>,
    /// Events emitted by the callback running now, in emission order.
    emitted: Vec<Handle>,
    /// Events waiting for delivery; the top is delivered next.
    stack: Vec<Handle>,
    /// Type indexes whose queue holds events of the current frame.
    dirty: Vec<usize>,
    frame_events: usize,
    budget: usize,
    runaway: bool,
    now: Timestamp,
    /// The listener whose callback runs now (named in runaway reports).
    current_listener: usize,
    /// Where human-readable trace lines go (discarded unless the embedder sets it).
    trace: Box<dyn std::io::Write + Send>,
}

impl Bus {
    fn push<E: Event>(&mut self, event: E) {
        let Some(&type_index) = self.index.get(&TypeId::of::<E>()) else {
            return; // nobody listens: dropped here
        };
        if self.runaway {
            return;
        }
        self.frame_events += 1;
        if self.frame_events > self.budget {
            self.runaway = true;
            return;
        }
        let entry = &mut self.types[type_index];
        let queue = match &mut entry.queue {
            Some(queue) => queue,
            None => {
                entry.deliver = Some(deliver_typed::<E>);
                entry.clear = Some(clear_typed::<E>);
                entry.queue.insert(Box::new(Vec::<Option<E>>::new()))
            }
        };
        // The queue of this entry was created with exactly this type, the first time.
        let queue = queue.downcast_mut::<Vec<Option<E>>>().expect("queue type matches its TypeId");
        if queue.is_empty() {
            self.dirty.push(type_index);
        }
        let slot = queue.len();
        queue.push(Some(event));
        self.emitted.push(Handle { type_index: type_index as u32, slot: slot as u32 });
    }
}

fn deliver_typed<E: Event>(bus: &mut Bus, listeners: &mut Listeners, type_index: usize, slot: usize) {
    let event = bus.types[type_index]
        .queue
        .as_mut()
        .and_then(|q| q.downcast_mut::<Vec<Option<E>>>())
        .and_then(|q| q.get_mut(slot))
        .and_then(Option::take);
    if let Some(event) = event {
        listeners.deliver_event(bus, type_index, &event);
    }
}

fn clear_typed<E: Event>(queue: &mut dyn Any) {
    if let Some(queue) = queue.downcast_mut::<Vec<Option<E>>>() {
        queue.clear();
    }
}

/// What a listener callback receives besides its input: the way to emit events, the
/// current packet and the capture clock.
pub struct Context<'a> {
    bus: &'a mut Bus,
    packet: Option<&'a Packet<'a>>,
}

impl<'a> Context<'a> {
    /// Emits an event. It is delivered after the event being handled now has reached
    /// every listener, in emission order, each with its own consequences (see the module
    /// docs). An event nobody subscribed to is dropped at once.
    pub fn emit<E: Event>(&mut self, event: E) {
        self.bus.push(event);
    }

    /// Whether any listener subscribed to events of type `E`. When none did, [`emit`]
    /// drops such an event at once, so an emitter may skip building it (and whatever
    /// copying or counting only that event needs). The answer comes from the routing
    /// table, which is fixed when the dispatcher is built, so it never changes during a
    /// run and may be asked once, in [`Listener::on_setup`], and kept.
    ///
    /// [`emit`]: Context::emit
    pub fn wants<E: Event>(&self) -> bool {
        self.bus.index.contains_key(&TypeId::of::<E>())
    }

    /// Whether some listener that subscribed to events of type `E` reads the captured
    /// bytes they carry: false when every subscriber asked for them without bytes
    /// ([`Subscriptions::event_without_bytes`]), or none subscribed. An emitter may then
    /// leave the bytes out (their lengths stay). Fixed when the dispatcher is built.
    ///
    /// [`Subscriptions::event_without_bytes`]: crate::Subscriptions::event_without_bytes
    pub fn wants_bytes<E: Event>(&self) -> bool {
        self.bus
            .index
            .get(&TypeId::of::<E>())
            .and_then(|&index| self.bus.types.get(index))
            .is_some_and(|entry| entry.bytes_read)
    }

    /// How many listeners subscribed to events of type `E` (0 when [`wants`] is false).
    /// Fixed when the dispatcher is built, like [`wants`]. An emitter may honour what
    /// a receiver asks of it (skip work for it) only when that receiver is alone.
    ///
    /// [`wants`]: Context::wants
    pub fn subscribers<E: Event>(&self) -> usize {
        self.bus
            .index
            .get(&TypeId::of::<E>())
            .and_then(|&index| self.bus.types.get(index))
            .map_or(0, |entry| entry.subscribers.len())
    }

    /// The packet of the current frame, if the frame has one (setup, teardown and root
    /// events have none). Events about the current packet read its bytes here.
    pub fn packet(&self) -> Option<&Packet<'a>> {
        self.packet
    }

    /// Capture time: the highest packet timestamp seen so far (for an event without a
    /// packet, the last capture time seen).
    pub fn now(&self) -> Timestamp {
        self.bus.now
    }

    /// Writes one human-readable trace line (the `v=` output of plugins). The embedder
    /// chooses where these go ([`DispatcherBuilder::trace_to`]): the CLI sends them to
    /// stdout, or to stderr when the JSON log owns stdout. A newline is added.
    pub fn trace(&mut self, line: fmt::Arguments<'_>) -> Result<(), ListenerError> {
        self.bus.trace.write_fmt(line)?;
        self.bus.trace.write_all(b"\n")?;
        Ok(())
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("now", &self.bus.now).finish_non_exhaustive()
    }
}

struct Slot {
    name: String,
    listener: Box<dyn Listener>,
    enabled: bool,
}

struct Listeners {
    slots: Vec<Slot>,
    packet_subscribers: Vec<usize>,
    tick_subscribers: Vec<usize>,
    faults: Vec<Fault>,
    fault_count: usize,
}

impl Listeners {
    /// Runs one callback of listener `index`, catching panics and recording failures.
    fn call<T: Default>(
        &mut self,
        index: usize,
        what: &'static str,
        bus: &mut Bus,
        packet: Option<&Packet<'_>>,
        f: impl FnOnce(&mut dyn Listener, &mut Context<'_>) -> Result<T, ListenerError>,
    ) -> T {
        let slot = &mut self.slots[index];
        if !slot.enabled {
            return T::default();
        }
        bus.current_listener = index;
        let mut ctx = Context { bus, packet };
        IN_LISTENER.with(|flag| flag.set(true));
        let result = catch_unwind(AssertUnwindSafe(|| f(slot.listener.as_mut(), &mut ctx)));
        IN_LISTENER.with(|flag| flag.set(false));
        match result {
            Ok(Ok(value)) => value,
            Ok(Err(err)) => {
                self.fault_count += 1;
                self.faults.push(Fault { listener: slot.name.clone(), event: what, kind: FaultKind::Failed(err) });
                T::default()
            }
            Err(payload) => {
                slot.enabled = false;
                let message = if let Some(s) = payload.downcast_ref::<&str>() {
                    (*s).to_owned()
                } else if let Some(s) = payload.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "non-string panic payload".to_owned()
                };
                self.fault_count += 1;
                self.faults.push(Fault {
                    listener: slot.name.clone(),
                    event: what,
                    kind: FaultKind::Panicked(message),
                });
                T::default()
            }
        }
    }

    fn deliver_event(&mut self, bus: &mut Bus, type_index: usize, event: &dyn AnyEvent) {
        let name = bus.types[type_index].name;
        let n = bus.types[type_index].subscribers.len();
        for k in 0..n {
            let index = bus.types[type_index].subscribers[k];
            self.call(index, name, bus, None, |l, ctx| l.on_event(event, ctx));
        }
    }
}

/// Builds a [`Dispatcher`]: listeners in registration order, with positions.
#[derive(Default)]
pub struct DispatcherBuilder {
    entries: Vec<(String, Option<Position>, Box<dyn Listener>)>,
    budget: Option<usize>,
    trace: Option<Box<dyn std::io::Write + Send>>,
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(n, p, _)| (n, p))).finish()
    }
}

impl DispatcherBuilder {
    /// Adds a listener under `name`, optionally claiming a position. A second claim of
    /// the same position fails with [`RegistryError::PositionTaken`] naming both.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        position: Option<Position>,
        listener: Box<dyn Listener>,
    ) -> Result<&mut Self, RegistryError> {
        let name = name.into();
        if let Some(position) = position {
            if let Some((held_by, _, _)) = self.entries.iter().find(|(_, p, _)| *p == Some(position)) {
                return Err(RegistryError::PositionTaken { position, held_by: held_by.clone(), claimed_by: name });
            }
        }
        self.entries.push((name, position, listener));
        Ok(self)
    }

    /// Sets how many events one frame may emit (default [`DEFAULT_EVENT_BUDGET`]).
    pub fn event_budget(&mut self, budget: usize) -> &mut Self {
        self.budget = Some(budget);
        self
    }

    /// Sends trace lines ([`Context::trace`]) to `out` (by default they are discarded).
    pub fn trace_to(&mut self, out: Box<dyn std::io::Write + Send>) -> &mut Self {
        self.trace = Some(out);
        self
    }

    /// Orders the listeners and routes every subscription.
    pub fn build(self) -> Dispatcher {
        let mut first = Vec::new();
        let mut middle = Vec::new();
        let mut last = Vec::new();
        for entry in self.entries {
            match entry.1 {
                Some(Position::First) => first.push(entry),
                Some(Position::Last) => last.push(entry),
                None => middle.push(entry),
            }
        }
        let mut bus = Bus {
            types: Vec::new(),
            index: HashMap::default(),
            emitted: Vec::with_capacity(64),
            stack: Vec::with_capacity(64),
            dirty: Vec::with_capacity(16),
            frame_events: 0,
            budget: self.budget.unwrap_or(DEFAULT_EVENT_BUDGET),
            runaway: false,
            now: Timestamp::ZERO,
            current_listener: 0,
            trace: self.trace.unwrap_or_else(|| Box::new(std::io::sink())),
        };
        let mut listeners = Listeners {
            slots: Vec::new(),
            packet_subscribers: Vec::new(),
            tick_subscribers: Vec::new(),
            faults: Vec::new(),
            fault_count: 0,
        };
        for (index, (name, _, listener)) in first.into_iter().chain(middle).chain(last).enumerate() {
            let mut subs = Subscriptions::default();
            listener.subscribe(&mut subs);
            if subs.packets {
                listeners.packet_subscribers.push(index);
            }
            if subs.ticks {
                listeners.tick_subscribers.push(index);
            }
            for (type_id, type_name, bytes) in subs.events {
                let type_index = *bus.index.entry(type_id).or_insert_with(|| {
                    bus.types.push(TypeEntry {
                        name: type_name,
                        subscribers: SmallVec::new(),
                        bytes_read: false,
                        queue: None,
                        deliver: None,
                        clear: None,
                    });
                    bus.types.len() - 1
                });
                bus.types[type_index].subscribers.push(index);
                bus.types[type_index].bytes_read |= bytes;
            }
            listeners.slots.push(Slot { name, listener, enabled: true });
        }
        Dispatcher { bus, listeners, auto_tick: true, ticked_second: None }
    }
}

/// Delivers packets and events to listeners, in the documented order.
pub struct Dispatcher {
    bus: Bus,
    listeners: Listeners,
    /// Whether `dispatch_packet` ticks the clock itself (see [`Dispatcher::tick`]).
    auto_tick: bool,
    /// The capture second of the last tick.
    ticked_second: Option<u64>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher").field("listeners", &self.listener_names().collect::<Vec<_>>()).finish()
    }
}

impl Dispatcher {
    /// A builder.
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder::default()
    }

    /// Listener names in delivery order.
    pub fn listener_names(&self) -> impl Iterator<Item = &str> {
        self.listeners.slots.iter().map(|s| s.name.as_str())
    }

    /// Calls every listener's `on_setup`, in order, each as its own frame.
    pub fn setup(&mut self) {
        for index in 0..self.listeners.slots.len() {
            self.listeners.call(index, "setup", &mut self.bus, None, |l, ctx| l.on_setup(ctx));
            self.finish_frame("setup");
        }
    }

    /// Dispatches one packet: every packet subscriber's `on_packet`, in order, then
    /// everything they emitted, in pre-order. Advances the capture clock; when the packet
    /// takes it into a new whole second, a tick frame comes first (see [`tick`](Self::tick)).
    pub fn dispatch_packet(&mut self, packet: &Packet<'_>) {
        if self.auto_tick && self.ticked_second.is_none_or(|second| packet.ts.secs() > second) {
            self.tick(packet.ts);
        }
        self.bus.now = self.bus.now.max(packet.ts);
        for k in 0..self.listeners.packet_subscribers.len() {
            let index = self.listeners.packet_subscribers[k];
            self.listeners.call(index, "packet", &mut self.bus, Some(packet), |l, ctx| l.on_packet(packet, ctx));
        }
        self.finish_frame("packet");
    }

    /// Dispatches a tick of the capture clock (see [`Listener::on_tick`]) as its own
    /// frame, and advances the clock to `now`. [`dispatch_packet`](Self::dispatch_packet)
    /// ticks by itself whenever a packet takes the clock into a new whole second; an
    /// embedder that splits one capture across several dispatchers turns that off
    /// ([`set_auto_tick`](Self::set_auto_tick)) and ticks them all at the same moments.
    pub fn tick(&mut self, now: Timestamp) {
        self.bus.now = self.bus.now.max(now);
        self.ticked_second = Some(now.secs());
        for k in 0..self.listeners.tick_subscribers.len() {
            let index = self.listeners.tick_subscribers[k];
            self.listeners.call(index, "tick", &mut self.bus, None, |l, ctx| l.on_tick(now, ctx));
        }
        self.finish_frame("tick");
    }

    /// Dispatches an event as the root of its own frame (no packet).
    pub fn dispatch_event<E: Event>(&mut self, event: E) {
        self.bus.push(event);
        self.finish_frame(E::NAME);
    }

    /// Calls every listener's `on_teardown`, listener by listener; what each emits is
    /// delivered (with its consequences) before the next step.
    pub fn teardown(&mut self) {
        for index in 0..self.listeners.slots.len() {
            loop {
                let flow = self.listeners.call(index, "teardown", &mut self.bus, None, |l, ctx| l.on_teardown(ctx));
                self.finish_frame("teardown");
                if flow != Flow::More || !self.listeners.slots[index].enabled {
                    break;
                }
            }
        }
    }

    /// Folds `other`'s listeners into this dispatcher's, pairwise by position (both must
    /// have been built from the same plugin list), through [`Listener::merge`].
    pub fn merge_from(&mut self, other: &mut Dispatcher) {
        for index in 0..self.listeners.slots.len().min(other.listeners.slots.len()) {
            let Some(theirs) = other.listeners.slots.get_mut(index) else { break };
            if !theirs.enabled {
                continue;
            }
            let theirs: &mut dyn Listener = theirs.listener.as_mut();
            self.listeners.call(index, "merge", &mut self.bus, None, |l, _ctx| l.merge(theirs));
            self.finish_frame("merge");
        }
    }

    /// Calls every listener's `on_finish`, in order, each as its own frame.
    pub fn finish(&mut self) {
        for index in 0..self.listeners.slots.len() {
            self.listeners.call(index, "finish", &mut self.bus, None, |l, ctx| l.on_finish(ctx));
            self.finish_frame("finish");
        }
    }

    /// Collects every enabled listener's counts.
    pub fn report(&self, summary: &mut Summary) {
        for slot in &self.listeners.slots {
            slot.listener.report(summary);
        }
    }

    /// Whether `dispatch_packet` ticks the clock by itself (the default).
    pub fn set_auto_tick(&mut self, auto_tick: bool) {
        self.auto_tick = auto_tick;
    }

    /// Advances the capture clock without a packet (and without a tick).
    pub fn advance_clock(&mut self, now: Timestamp) {
        self.bus.now = self.bus.now.max(now);
    }

    /// Capture time: the highest timestamp seen.
    pub fn now(&self) -> Timestamp {
        self.bus.now
    }

    /// Flushes the trace output.
    pub fn flush_trace(&mut self) -> std::io::Result<()> {
        self.bus.trace.flush()
    }

    /// Takes the faults recorded since the last call.
    pub fn take_faults(&mut self) -> Vec<Fault> {
        std::mem::take(&mut self.listeners.faults)
    }

    /// Faults recorded so far in the run (taken or not).
    pub fn fault_count(&self) -> usize {
        self.listeners.fault_count
    }

    /// Delivers the current frame's pending events in pre-order, then clears the queues.
    fn finish_frame(&mut self, root: &'static str) {
        let bus = &mut self.bus;
        if bus.emitted.is_empty() && bus.dirty.is_empty() && !bus.runaway {
            // Nothing was emitted (most packets of most runs): nothing to deliver or clear.
            bus.frame_events = 0;
            return;
        }
        // Children of the root, first child on top of the stack.
        while let Some(handle) = bus.emitted.pop() {
            bus.stack.push(handle);
        }
        while let Some(handle) = bus.stack.pop() {
            if bus.runaway {
                break;
            }
            let type_index = handle.type_index as usize;
            if let Some(deliver) = bus.types[type_index].deliver {
                deliver(bus, &mut self.listeners, type_index, handle.slot as usize);
            }
            // Its children go on top, first child last pushed, so they come next.
            while let Some(child) = bus.emitted.pop() {
                bus.stack.push(child);
            }
        }
        if bus.runaway {
            let listener = self.listeners.slots.get(bus.current_listener).map(|s| s.name.clone()).unwrap_or_default();
            self.listeners.fault_count += 1;
            self.listeners.faults.push(Fault { listener, event: root, kind: FaultKind::Runaway(bus.budget) });
            bus.stack.clear();
            bus.emitted.clear();
            bus.runaway = false;
        }
        for type_index in bus.dirty.drain(..) {
            let entry = &mut bus.types[type_index];
            if let (Some(clear), Some(queue)) = (entry.clear, entry.queue.as_mut()) {
                clear(queue.as_mut());
            }
        }
        bus.frame_events = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::ListenerResult;

    #[derive(Debug)]
    struct Wanted;
    impl Event for Wanted {
        const NAME: &'static str = "wanted";
    }

    #[derive(Debug)]
    struct Unwanted;
    impl Event for Unwanted {
        const NAME: &'static str = "unwanted";
    }

    /// Per event type asked about: its name, `wants` and `subscribers`.
    type Answers = Vec<(&'static str, bool, usize)>;

    /// Records, at setup, which events the dispatcher says someone wants.
    #[derive(Default)]
    struct Asker {
        answers: std::sync::Arc<std::sync::Mutex<Answers>>,
    }
    impl Listener for Asker {
        fn on_setup(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
            let mut answers = self.answers.lock().unwrap();
            answers.push((Wanted::NAME, ctx.wants::<Wanted>(), ctx.subscribers::<Wanted>()));
            answers.push((Unwanted::NAME, ctx.wants::<Unwanted>(), ctx.subscribers::<Unwanted>()));
            Ok(())
        }
    }

    struct Subscriber;
    impl Listener for Subscriber {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.event::<Wanted>();
        }
    }

    /// What an asker at `asker` learns at setup, with a subscriber of `Wanted` added at
    /// each of `subscribers` after it.
    fn answers(asker: Option<Position>, subscribers: &[Option<Position>]) -> Answers {
        let listener = Asker::default();
        let answers = std::sync::Arc::clone(&listener.answers);
        let mut builder = Dispatcher::builder();
        builder.add("asker", asker, Box::new(listener)).unwrap();
        for (k, position) in subscribers.iter().enumerate() {
            builder.add(format!("subscriber{k}"), *position, Box::new(Subscriber)).unwrap();
        }
        builder.build().setup();
        let answers = answers.lock().unwrap().clone();
        answers
    }

    #[test]
    fn wants_answers_from_the_subscriptions_of_every_listener() {
        // The asker comes first: the answer covers listeners registered after it too.
        assert_eq!(answers(Some(Position::First), &[None]), vec![("wanted", true, 1), ("unwanted", false, 0)]);
    }

    #[test]
    fn subscribers_counts_every_listener_of_a_type() {
        assert_eq!(answers(None, &[None, Some(Position::Last)]), vec![("wanted", true, 2), ("unwanted", false, 0)]);
    }

    #[test]
    fn wants_nothing_without_subscribers() {
        assert_eq!(answers(None, &[]), vec![("wanted", false, 0), ("unwanted", false, 0)]);
    }

    #[derive(Debug)]
    struct Carrier;
    impl Event for Carrier {
        const NAME: &'static str = "carrier";
    }

    /// Subscribes to `Carrier` with or without its bytes, or both ways.
    struct Reader {
        bytes: Option<bool>,
        answer: std::sync::Arc<std::sync::Mutex<Option<(bool, bool, usize)>>>,
    }
    impl Listener for Reader {
        fn subscribe(&self, subs: &mut Subscriptions) {
            match self.bytes {
                Some(true) => {
                    subs.event::<Carrier>();
                }
                Some(false) => {
                    subs.event_without_bytes::<Carrier>();
                }
                None => {
                    subs.event_without_bytes::<Carrier>().event_by_id(TypeId::of::<Carrier>(), Carrier::NAME);
                }
            }
        }
        fn on_setup(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
            *self.answer.lock().unwrap() =
                Some((ctx.wants::<Carrier>(), ctx.wants_bytes::<Carrier>(), ctx.subscribers::<Carrier>()));
            Ok(())
        }
    }

    /// `wants`, `wants_bytes` and `subscribers` for `Carrier`, with one subscriber per
    /// entry of `readers` (`Some(b)`: with bytes or not; `None`: both ways at once).
    fn ask(readers: &[Option<bool>]) -> Option<(bool, bool, usize)> {
        let answer = std::sync::Arc::new(std::sync::Mutex::new(None));
        let mut builder = Dispatcher::builder();
        for (k, bytes) in readers.iter().enumerate() {
            let reader = Reader { bytes: *bytes, answer: std::sync::Arc::clone(&answer) };
            builder.add(format!("reader{k}"), None, Box::new(reader)).unwrap();
        }
        builder.build().setup();
        let answer = *answer.lock().unwrap();
        answer
    }

    #[test]
    fn bytes_are_wanted_when_one_subscriber_reads_them() {
        assert_eq!(ask(&[Some(false)]), Some((true, false, 1)));
        assert_eq!(ask(&[Some(false), Some(false)]), Some((true, false, 2)));
        assert_eq!(ask(&[Some(false), Some(true)]), Some((true, true, 2)));
        assert_eq!(ask(&[Some(true), Some(false)]), Some((true, true, 2)));
        // Subscribing both ways counts once, with the bytes.
        assert_eq!(ask(&[None]), Some((true, true, 1)));
    }

    #[test]
    fn subscriptions_list_a_type_once_whatever_its_bytes() {
        let mut subs = Subscriptions::default();
        subs.event_without_bytes::<Carrier>().event::<Carrier>().event_without_bytes::<Carrier>();
        assert_eq!(subs.event_names().collect::<Vec<_>>(), ["carrier"]);
        assert_eq!(subs.events.first().map(|e| e.2), Some(true));
    }

    /// A node of a binary tree of events: node `n` has children `2n + 1` and `2n + 2`.
    #[derive(Debug)]
    struct Node(u32);
    impl Event for Node {
        const NAME: &'static str = "node";
    }

    /// Emitted beside each node, so that two types share every frame.
    #[derive(Debug)]
    struct Mark(u32);
    impl Event for Mark {
        const NAME: &'static str = "mark";
    }

    /// Emits, for each node below `below`, a mark and the node's two children.
    struct Grower {
        below: u32,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }
    impl Listener for Grower {
        fn subscribe(&self, subs: &mut Subscriptions) {
            subs.event::<Node>().event::<Mark>();
        }
        fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
            if let Some(Node(n)) = event.downcast_ref::<Node>() {
                self.seen.lock().unwrap().push(format!("n{n}"));
                if *n < self.below {
                    ctx.emit(Mark(*n));
                    ctx.emit(Node(2 * n + 1));
                    ctx.emit(Node(2 * n + 2));
                }
            } else if let Some(Mark(n)) = event.downcast_ref::<Mark>() {
                self.seen.lock().unwrap().push(format!("m{n}"));
            }
            Ok(())
        }
    }

    /// The pre-order of the tree below `below`: each node, its mark, then its children.
    fn pre_order(n: u32, below: u32, out: &mut Vec<String>) {
        out.push(format!("n{n}"));
        if n < below {
            out.push(format!("m{n}"));
            pre_order(2 * n + 1, below, out);
            pre_order(2 * n + 2, below, out);
        }
    }

    #[test]
    fn every_queued_event_is_delivered_once_in_pre_order_frame_after_frame() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut builder = Dispatcher::builder();
        builder.add("grower", None, Box::new(Grower { below: 31, seen: std::sync::Arc::clone(&seen) })).unwrap();
        builder.event_budget(40);
        let mut dispatcher = builder.build();
        let mut expected = Vec::new();
        pre_order(0, 31, &mut expected);
        // Frames of several sizes, the whole tree's overrunning the budget: whatever a
        // frame left queued, the next one starts with empty queues.
        for root in [0, 14, 0, 30, 0, 3, 0] {
            seen.lock().unwrap().clear();
            dispatcher.dispatch_event(Node(root));
            let got = seen.lock().unwrap().clone();
            if root == 0 {
                // 63 nodes and 31 marks: more than the budget of 40 events a frame, so
                // delivery stops where it ran out, after a prefix of the pre-order.
                assert!((30..expected.len()).contains(&got.len()), "{}", got.len());
                assert_eq!(got[..], expected[..got.len()]);
            } else {
                let mut subtree = Vec::new();
                pre_order(root, 31, &mut subtree);
                assert_eq!(got, subtree, "root {root}");
            }
        }
        assert_eq!(dispatcher.fault_count(), 4);
        // With room for every event, the whole tree, twice.
        let mut builder = Dispatcher::builder();
        builder.add("grower", None, Box::new(Grower { below: 31, seen: std::sync::Arc::clone(&seen) })).unwrap();
        let mut dispatcher = builder.build();
        for _ in 0..2 {
            seen.lock().unwrap().clear();
            dispatcher.dispatch_event(Node(0));
            assert_eq!(*seen.lock().unwrap(), expected);
        }
        assert_eq!(dispatcher.fault_count(), 0);
    }
}
