//! Typed events.

use std::any::Any;
use std::fmt;

/// A value that can travel on the bus.
///
/// Any crate can define an event: declare a type, implement `Event` with its wire name
/// (the original's vocabulary, `"tcp_monologue"`), and call [`Context::emit`]. Any
/// listener can subscribe to it by type with [`Subscriptions::event`], without the core
/// knowing it exists.
///
/// [`Context::emit`]: crate::Context::emit
/// [`Subscriptions::event`]: crate::Subscriptions::event
pub trait Event: fmt::Debug + Send + 'static {
    /// The wire name: the first word of trace lines and the `"event"` field of the JSON log.
    const NAME: &'static str;
}

/// The object-safe twin of [`Event`], through which listeners receive events.
///
/// Blanket-implemented for every `Event`; recover the concrete type with
/// [`downcast_ref`](trait.AnyEvent.html#method.downcast_ref).
pub trait AnyEvent: fmt::Debug + Send + 'static {
    /// The event's wire name.
    fn name(&self) -> &'static str;
    /// The event as `Any`, for downcasting.
    fn as_any(&self) -> &dyn Any;
}

impl<E: Event> AnyEvent for E {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl dyn AnyEvent {
    /// The event as `E`, if it is one.
    pub fn downcast_ref<E: Event>(&self) -> Option<&E> {
        self.as_any().downcast_ref::<E>()
    }

    /// Whether the event is an `E`.
    pub fn is<E: Event>(&self) -> bool {
        self.as_any().is::<E>()
    }
}

/// The event delivered last of all, after every listener's teardown: the run's counts.
///
/// The CLI fills it from the capture statistics and every listener's
/// [`Listener::report`](crate::Listener::report); the JSON log writes it as `run_summary`.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// The counts, in report order.
    pub summary: crate::Summary,
}

impl Event for RunSummary {
    const NAME: &'static str = "run_summary";
}
