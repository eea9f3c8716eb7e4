//! The engine of netanalysis: typed events, listeners, their ordering, the plugin
//! registry and configuration.
//!
//! A capture source (the `netanalysis-capture` crate) decodes each frame into a borrowed
//! [`Packet`] and hands it to a [`Dispatcher`]. The dispatcher calls every [`Listener`]
//! that subscribed to packets, in listener order; listeners [`emit`](Context::emit)
//! typed [`Event`]s, which the dispatcher delivers to the listeners subscribed to their
//! type. The TCP listener turns packets into sessions and monologues, the HTTP listener
//! turns those into transactions, and so on up; this crate knows none of them and does
//! no I/O.
//!
//! # Delivery order
//!
//! Delivery is *causal pre-order*, identical on every run:
//!
//! 1. Frames (one packet, one setup or teardown step, or one root event) are dispatched
//!    one at a time; a frame is fully delivered before the next starts.
//! 2. An event reaches all its subscribers, in listener order, before anything it caused.
//! 3. Then everything it caused is delivered in emission order, each with all of its own
//!    consequences, before the event's next sibling.
//! 4. Listener order is: the holder of [`Position::First`], everyone else in registration
//!    order, then the holder of [`Position::Last`]. At most one listener holds each.
//!
//! So no listener ever sees an event before its cause. When one packet closes a TCP
//! session, TCP emits `tcp_packet`, the last `tcp_data`, the last `tcp_monologue`,
//! `tcp_stream_end` for each direction and `tcp_session_end`, in that order; whatever
//! HTTP emits in response to the data or to the end of a direction (a close-delimited
//! body, an unanswered request) is delivered right after its cause, hence before
//! `tcp_session_end`.
//!
//! # Faults
//!
//! A listener that returns an error is reported (by name, with the event) and carries on;
//! one that panics is caught, reported once as `<listener> panicked on <event>: <message>`
//! and disabled, and the others carry on. A frame that emits more than its event budget
//! (default 10,000) is stopped as a runaway. See [`Dispatcher::take_faults`].
//!
//! # Example
//!
//! A listener that defines its own event, emits it and catches it:
//!
//! ```
//! use netanalysis_core::*;
//!
//! #[derive(Debug)]
//! struct Tick(u64);
//! impl Event for Tick {
//!     const NAME: &'static str = "tick";
//! }
//!
//! #[derive(Default)]
//! struct Clock { seen: Vec<u64> }
//! impl Listener for Clock {
//!     fn subscribe(&self, subs: &mut Subscriptions) {
//!         subs.packets().event::<Tick>();
//!     }
//!     fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
//!         ctx.emit(Tick(packet.number));
//!         Ok(())
//!     }
//!     fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
//!         if let Some(Tick(n)) = event.downcast_ref::<Tick>() {
//!             self.seen.push(*n);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut builder = Dispatcher::builder();
//! builder.add("Clock", None, Box::new(Clock::default())).unwrap();
//! let mut dispatcher = builder.build();
//! dispatcher.setup();
//! for n in 1..=3 {
//!     dispatcher.dispatch_packet(&Packet::empty(n, Timestamp::from_micros(n, 0)));
//! }
//! dispatcher.teardown();
//! assert_eq!(dispatcher.take_faults().len(), 0);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod addr;
mod config;
mod dispatch;
mod event;
mod json;
mod listener;
mod packet;
mod plugin;
mod summary;
mod text;
mod time;

pub use addr::{Endpoint, SocketPair};
pub use config::{Config, ConfigError, Value};
pub use dispatch::{
    quiet_listener_panics, Context, Dispatcher, DispatcherBuilder, Fault, FaultKind, DEFAULT_EVENT_BUDGET,
};
pub use event::{AnyEvent, Event, RunSummary};
pub use json::{write_json_string, JsonEvent, JsonObject, JsonOptions, JsonSchema};
pub use listener::{Flow, Listener, ListenerError, ListenerResult, Position, Subscriptions};
pub use packet::{share, IpInfo, LinkType, Packet, TcpFlags, TcpHeader, Transport, UdpHeader};
pub use plugin::{BuildFn, OptionKind, OptionSpec, Plugin, Registry, RegistryError};
pub use summary::{Summary, SummaryValue};
pub use time::{Elapsed, Timestamp};

/// Re-exported so plugins can register with `netanalysis_core::inventory::submit!`.
pub use inventory;
