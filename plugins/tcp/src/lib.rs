//! TCP session reassembly: the backbone listener of netanalysis.
//!
//! The `TCP` plugin takes the first place in the listener queue, so it sees every
//! packet before anyone else. It slots each TCP segment into its session, reassembles
//! both directions (sequence numbers wrapping at 2^32, out-of-order segments buffered,
//! overlaps resolved by one policy, holes declared instead of stalling) and emits the
//! events higher-level analysers consume: `tcp_data` as bytes are released and
//! `tcp_monologue` as one side's turn ends, framed by `tcp_session_start` and
//! `tcp_session_end`.
//!
//! The crate has two layers. [`TcpSession`] is a pure state machine: it takes a
//! [`Segment`] and returns a [`SegmentOutcome`], a list of [`Action`]s, and knows
//! nothing of the dispatcher, so it is tested without one. [`TcpReassembler`] is the
//! listener: the session table, the run-wide limits, trace lines, dump files, and one
//! event per action.
//!
//! # Listens for
//!
//! Every packet (`on_packet`); non-TCP packets are ignored.
//!
//! # Emits
//!
//! Per packet, `tcp_packet` ([`TcpPacket`]) first, annotated with the session id, the
//! packet's class (`data`, `duplicate`, `future`, `non-data`) and the session's state
//! after it. Then, per session, in this order:
//!
//! - `tcp_session_start` ([`TcpSessionStart`]): on the packet that acknowledges the
//!   second SYN, or on the first data packet of a session picked up mid-stream
//!   (`mid_stream` set);
//! - `tcp_data` ([`TcpData`]): each stretch of in-order bytes of one direction as soon
//!   as it is released, with its stream offset; a receiver that does not need the next
//!   part of a stream (a body it only counts) says so with [`TcpData::skip_until`], and
//!   when it is the only receiver those bytes are withheld and counted into the next
//!   stretch's `skipped` instead of delivered;
//! - `tcp_monologue` ([`TcpMonologue`]): one side's bytes until data flows the other
//!   way, its stream ends, it reaches `max_monologue` (then the next part is
//!   `continued`) or the session ends; with the holes it contains (`gaps`,
//!   `missing_bytes`) and the payload the snaplen cut (`uncaptured_bytes`);
//! - `tcp_stream_end` ([`TcpStreamEnd`]): a direction will carry no more data (its FIN,
//!   an RST, or the session's end), after its last data and monologue;
//! - `tcp_session_end` ([`TcpSessionEnd`]): closing handshake (`fin`), reset (`rst`),
//!   `timeout`, `evicted` or `end_of_input`; last of all.
//!
//! The bytes of `tcp_data` and of the monologue are the same memory: each payload is
//! copied once into a per-direction arena and handed out as shared [`bytes::Bytes`].
//! Bytes nobody reads (no receiver of `tcp_data` or one that skips them, and no
//! receiver of the monologue's bytes) are not copied at all when they arrive in order.
//! A receiver of `tcp_monologue` that subscribed without its bytes
//! (`Subscriptions::event_without_bytes`, as the JSON log does unless it writes
//! digests) gets every field, the length included, with the bytes only counted
//! ([`StreamBytes::left_out`]); when no receiver reads them, none are kept.
//! When the only receiver of `tcp_data` keeps none of its bytes past its call and says
//! so ([`TcpData::lend_only`]), and no monologue keeps its bytes, a stretch released as
//! soon as its segment arrives is lent: a slice of the capture reader's buffer
//! ([`netanalysis_core::Packet::share`]) rather than a copy.
//!
//! Reassembly policy: the first captured copy of each byte wins (a later copy that
//! differs from bytes still buffered is counted in `tcp_conflicting_bytes`; bytes
//! already released are not kept for comparison); a hole is declared when the peer
//! acknowledged past it while later data waits (only up to the acknowledgment), when a
//! buffer cap is reached, when its direction's FIN is acknowledged, or when the session
//! ends; bytes that arrive after their hole was declared are counted as late, never
//! emitted; payload cut off by the snaplen is counted as uncaptured, never invented.
//! Data carried by a SYN (TCP Fast Open) and urgent data are ordinary stream data.
//!
//! Session ids are the original's socket-pair key (`ip:port-ip:port`, sorted as
//! strings), `key#2`, `key#3`, ... for later sessions after a port reuse. A closed
//! session is remembered as a small tombstone (72 bytes) for `linger` seconds of
//! capture time, so its late packets open no phantom session (their `tcp_packet` has
//! no session) and a reuse gets the next id; after that its bytes would open a new
//! (mid-stream) session. The generations of pairs forgotten since (evicted, or closed
//! long ago) are remembered too, 8 bytes each, up to `max_sessions` of them, so ids
//! stay unique. So the listener holds the live sessions plus those closed within the
//! last `linger` seconds, however long the capture (`max_sessions` caps the two
//! together). A connection
//! that visibly goes on after a reset its peer ignored (new bytes, or a SYN-ACK)
//! continues as the pair's next session.
//!
//! # Configuration
//!
//! - `v`: trace bitmask, `1` per packet, `2` per monologue, `4` per session.
//! - `k`: one session key (or id) to trace with every bit.
//! - `dump=DIR`: write each monologue to `DIR/<session id>.<index>` (an empty file for
//!   a monologue that only records a hole).
//! - `max_session_size`: discard a session's packets once the payload bytes already
//!   taken reach this size, so whole segments are kept up to the one that crosses it;
//!   discarded bytes are counted (`tcp_bytes_discarded`), not reported as holes.
//! - `idle_timeout` (default 300 s of capture time), `linger` (how long a closed
//!   session is remembered, default 30 s of capture time: late retransmissions come
//!   within a few retransmission timeouts), `max_monologue` (default 64 MiB),
//!   `max_session_buffer` (out-of-order bytes per session, default 8 MiB),
//!   `max_buffer` (all sessions, default 256 MiB), `max_sessions` (default 500,000;
//!   the oldest idle session is evicted past it).
//!
//! End-of-run counts: `tcp_sessions`, `tcp_monologues`, `tcp_bytes_reassembled`,
//! `tcp_gaps`, `tcp_missing_bytes`, `tcp_uncaptured_bytes`, `tcp_late_bytes`,
//! `tcp_conflicting_bytes`, `tcp_segments_dropped`, `tcp_bytes_discarded`,
//! `tcp_sessions_evicted`, `tcp_sessions_timed_out`, `tcp_late_packets` (packets
//! after their session closed) and `tcp_bytes_after_close` (their payload),
//! `tcp_stray_packets` (packets of no session: neither SYN nor payload on an unknown
//! pair).
//!
//! # Example
//!
//! `netanalysis TCP,v=6,dump=/tmp/monologues capture.pcap` traces sessions and
//! monologues and writes each monologue to a file. In code, compose it with a
//! listener of your own:
//!
//! ```
//! use netanalysis_core::*;
//! use netanalysis_tcp::{TcpMonologue, TcpReassembler};
//!
//! #[derive(Default)]
//! struct Sizes(Vec<u64>);
//! impl Listener for Sizes {
//!     fn subscribe(&self, subs: &mut Subscriptions) {
//!         subs.event::<TcpMonologue>();
//!     }
//!     fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
//!         if let Some(monologue) = event.downcast_ref::<TcpMonologue>() {
//!             self.0.push(monologue.data.len());
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut builder = Dispatcher::builder();
//! builder.add("TCP", Some(Position::First), Box::new(TcpReassembler::default())).unwrap();
//! builder.add("Sizes", None, Box::new(Sizes::default())).unwrap();
//! let mut dispatcher = builder.build();
//! dispatcher.setup();
//! // for each decoded packet: dispatcher.dispatch_packet(&packet);
//! dispatcher.teardown();
//! let mut summary = Summary::new();
//! dispatcher.report(&mut summary);
//! assert_eq!(summary.count("tcp_sessions"), 0);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod events;
mod reassembler;
mod seq;
mod session;
mod stream;
mod table;
mod tombs;

#[cfg(test)]
mod tests;

/// Puts a scratch vector, taken out of `slot` with `std::mem::take`, back. The slot
/// holds the empty placeholder `take` left, which owns no memory: it is forgotten
/// rather than dropped, which keeps a call into the drop code off the per-packet path.
/// Anything else found there is dropped as usual.
fn put_back<T>(slot: &mut Vec<T>, value: Vec<T>) {
    let placeholder = std::mem::replace(slot, value);
    if placeholder.capacity() == 0 {
        std::mem::forget(placeholder);
    }
}

pub use events::*;
pub use reassembler::{TcpOptions, TcpReassembler, TCP_OPTIONS};
pub use seq::SeqNumber;
pub use session::{Action, Direction, Monologue, Segment, SegmentOutcome, SessionLimits, SessionStats, TcpSession};
pub use stream::StreamStats;

netanalysis_core::inventory::submit! {
    netanalysis_core::Plugin {
        name: "TCP",
        summary: "reassembles TCP sessions into data, monologues and session events",
        position: Some(netanalysis_core::Position::First),
        options: TCP_OPTIONS,
        build: TcpReassembler::build,
        ..netanalysis_core::Plugin::DEFAULT
    }
}
