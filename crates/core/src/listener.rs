//! The listener trait and what listeners declare.

use std::any::TypeId;

use smallvec::SmallVec;

use crate::dispatch::Context;
use crate::event::{AnyEvent, Event};
use crate::packet::Packet;
use crate::summary::Summary;

/// Where a listener wants to stand in the delivery order.
///
/// At most one listener can hold each position; a second claim is a registration error
/// naming both. Everyone else is called in registration (command-line) order, after
/// `First` and before `Last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// Called before every other listener (the TCP listener holds it, to annotate each
    /// packet before anyone else sees it).
    First,
    /// Called after every other listener.
    Last,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Position::First => "first",
            Position::Last => "last",
        })
    }
}

/// What a listener's teardown still has to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flow {
    /// Teardown is complete.
    #[default]
    Done,
    /// Deliver what I emitted, then call `on_teardown` again (used to flush a large
    /// state one piece at a time, each piece with its own event budget).
    More,
}

/// The error a listener callback returns.
///
/// The dispatcher reports it with the listener's name and the event, and carries on;
/// the run then exits with status 1.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// A message for the user.
    #[error("{0}")]
    Message(String),
    /// An I/O error (writing output, a dump file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Any other error.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl ListenerError {
    /// An error with a message.
    pub fn msg(message: impl Into<String>) -> ListenerError {
        ListenerError::Message(message.into())
    }
}

/// The result of every listener callback.
pub type ListenerResult<T = ()> = Result<T, ListenerError>;

/// A plugin's worker: it receives packets and events and may emit events of its own.
///
/// Every callback has a default that does nothing, so a listener implements only what it
/// needs. Callbacks take `&mut self`: one pipeline runs on one thread (`Send`, not `Sync`).
///
/// Order of calls in a run: [`subscribe`](Listener::subscribe) once at registration;
/// [`on_setup`](Listener::on_setup) before the first packet; then, for each frame,
/// [`on_packet`](Listener::on_packet) and [`on_event`](Listener::on_event) as the bus
/// delivers; [`on_teardown`](Listener::on_teardown) after the last packet; and
/// [`report`](Listener::report) when the run summary is gathered.
pub trait Listener: Send {
    /// Declares, once, what this listener wants to receive. Nothing is delivered that
    /// was not subscribed to.
    fn subscribe(&self, subs: &mut Subscriptions) {
        let _ = subs;
    }

    /// Called once before the first packet, in listener order.
    fn on_setup(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        let _ = ctx;
        Ok(())
    }

    /// Called for every packet of the capture, if subscribed with
    /// [`Subscriptions::packets`]. The packet borrows the capture buffer and is valid
    /// only during this call.
    fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        let _ = (packet, ctx);
        Ok(())
    }

    /// Called once per second of capture time (when the clock first reaches a new whole
    /// second, before the packet that reached it), if subscribed with
    /// [`Subscriptions::ticks`]: where time-based work (idle timeouts) belongs, so that it
    /// happens at the same capture times however the run is split across threads.
    fn on_tick(&mut self, now: crate::Timestamp, ctx: &mut Context<'_>) -> ListenerResult {
        let _ = (now, ctx);
        Ok(())
    }

    /// Called for every event of a subscribed type. Recover the type with
    /// `event.downcast_ref::<T>()`.
    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        let _ = (event, ctx);
        Ok(())
    }

    /// Called after the last packet, listener by listener in listener order; what a
    /// listener emits here (with its consequences) is delivered before the next
    /// listener's teardown. Return [`Flow::More`] to be called again after delivery.
    fn on_teardown(&mut self, ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        let _ = ctx;
        Ok(Flow::Done)
    }

    /// Adds this listener's counts to the run summary. Called after teardown (in a
    /// sharded run, on every shard's instance, and the counts are added up).
    fn report(&self, summary: &mut Summary) {
        let _ = summary;
    }

    /// In a run sharded across threads (`--threads N`), called after every shard's
    /// teardown on the first shard's instance, once with each other shard's instance of
    /// the same plugin, so a listener that aggregates (counts per port, say) can fold the
    /// other shards' results into its own before [`on_finish`](Listener::on_finish).
    /// Recover the other instance with `other.as_any_mut()` and a downcast.
    fn merge(&mut self, other: &mut dyn Listener) -> ListenerResult {
        let _ = other;
        Ok(())
    }

    /// The listener as `Any`, for [`merge`](Listener::merge). Listeners that merge return
    /// `Some(self)`.
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }

    /// Called once at the very end of a run, after teardown (and, in a sharded run, after
    /// merging), in listener order: where an aggregating listener reports its totals.
    /// What it emits is delivered before the next listener's `on_finish`.
    fn on_finish(&mut self, ctx: &mut Context<'_>) -> ListenerResult {
        let _ = ctx;
        Ok(())
    }
}

/// What a listener subscribes to, declared once in [`Listener::subscribe`].
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub(crate) packets: bool,
    pub(crate) ticks: bool,
    /// Event types, with whether the listener reads the captured bytes they carry.
    pub(crate) events: SmallVec<[(TypeId, &'static str, bool); 8]>,
}

impl Subscriptions {
    /// Receive every packet through [`Listener::on_packet`].
    pub fn packets(&mut self) -> &mut Self {
        self.packets = true;
        self
    }

    /// Receive a tick per second of capture time through [`Listener::on_tick`].
    pub fn ticks(&mut self) -> &mut Self {
        self.ticks = true;
        self
    }

    /// Receive every event of type `E` through [`Listener::on_event`].
    pub fn event<E: Event>(&mut self) -> &mut Self {
        self.add(TypeId::of::<E>(), E::NAME, true)
    }

    /// Receive every event of type `E`, reading none of the captured bytes it carries
    /// (a monologue's data, a message's body): their lengths and every other field are
    /// as usual, but when no listener reads them ([`Context::wants_bytes`]) the emitter
    /// may leave the bytes themselves out, and spare copying and holding them.
    ///
    /// [`Context::wants_bytes`]: crate::Context::wants_bytes
    pub fn event_without_bytes<E: Event>(&mut self) -> &mut Self {
        self.add(TypeId::of::<E>(), E::NAME, false)
    }

    /// Receive events by type id (for listeners that subscribe to types they only know
    /// at run time, like the JSON log).
    pub fn event_by_id(&mut self, type_id: TypeId, name: &'static str) -> &mut Self {
        self.add(type_id, name, true)
    }

    /// [`event_without_bytes`](Subscriptions::event_without_bytes) by type id.
    pub fn event_by_id_without_bytes(&mut self, type_id: TypeId, name: &'static str) -> &mut Self {
        self.add(type_id, name, false)
    }

    fn add(&mut self, type_id: TypeId, name: &'static str, bytes: bool) -> &mut Self {
        match self.events.iter_mut().find(|(t, _, _)| *t == type_id) {
            // Subscribed twice: the bytes are read if either asked for them.
            Some((_, _, read)) => *read |= bytes,
            None => self.events.push((type_id, name, bytes)),
        }
        self
    }

    /// Whether packets were subscribed to.
    pub fn wants_packets(&self) -> bool {
        self.packets
    }

    /// The wire names of the subscribed event types.
    pub fn event_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.events.iter().map(|(_, n, _)| *n)
    }
}
