//! The original Net::Analysis examples, as plugins: small, complete listeners to read
//! before writing your own.
//!
//! Each is registered with the plugin registry, so it loads by name on the command line
//! (`netanalysis Example2,regex=png capture.pcap`), and each is a public listener type
//! you can compose in code. They sit at the top of the pipeline: TCP (always loaded)
//! feeds them monologues, HTTP feeds Example3 transactions.
//!
//! | plugin | listener | listens for | emits | prints |
//! |---|---|---|---|---|
//! | `Example1` | [`Example1`] | `tcp_monologue`, `monologue_bandwidth` | [`MonologueBandwidth`] | one line per monologue: its bandwidth |
//! | `Example2` | [`Example2`] | `tcp_monologue` | nothing | one line per monologue (only those matching `regex=`, with the match in context) |
//! | `Example3` | [`Example3`] | `http_transaction` | [`HttpWait`] | one line per transaction: URI and network wait |
//! | `PortCounter` | [`PortCounter`] | `tcp_monologue` | [`PortCount`] at teardown | a table of bytes per direction, largest first |
//!
//! Their lines go to the trace output ([`Context::trace`]): standard output on the
//! command line, standard error when the JSON log owns standard output. Their own events
//! ([`MonologueBandwidth`], [`HttpWait`], [`PortCount`]) opt into the JSON log.
//!
//! Each module documents its plugin under the headings **Listens for**, **Emits**,
//! **Configuration** and **Example**.
//!
//! # Example
//!
//! Example1 emits an event for each monologue and catches it again to print it:
//!
//! ```
//! use bytes::Bytes;
//! use netanalysis_core::{Dispatcher, Endpoint, SocketPair, Timestamp};
//! use netanalysis_example_plugins::Example1;
//! use netanalysis_tcp::{SessionId, StreamBytes, TcpMonologue};
//!
//! let client = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
//! let server = Endpoint::new("10.0.0.2".parse().unwrap(), 80);
//! let mut data = StreamBytes::new();
//! data.push(Bytes::from_static(&[0; 1000]));
//! let monologue = TcpMonologue {
//!     session: SessionId::new(&SocketPair::new(client, server), 1),
//!     index: 1,
//!     from: server,
//!     to: client,
//!     data,
//!     offset: 0,
//!     first_packet: 4,
//!     t_start: Timestamp::from_micros(1_700_000_000, 0),
//!     t_end: Timestamp::from_micros(1_700_000_000, 500_000),
//!     packets: 1,
//!     which_pkts: Vec::new(),
//!     gaps: Default::default(),
//!     missing_bytes: 0,
//!     uncaptured_bytes: 0,
//!     continued: false,
//! };
//!
//! let mut builder = Dispatcher::builder();
//! builder.trace_to(Box::new(std::io::stdout()));
//! builder.add("Example1", None, Box::new(Example1::new())).unwrap();
//! let mut dispatcher = builder.build();
//! dispatcher.dispatch_event(monologue);
//! // prints: monologue_bandwidth 10.0.0.1:40000-10.0.0.2:80 #1 10.0.0.2:80 -> 10.0.0.1:40000 1000 bytes in 0.500000 s: 2000.00 bytes/s
//! assert!(dispatcher.take_faults().is_empty());
//! ```
//!
//! [`Context::trace`]: netanalysis_core::Context::trace
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod example1;
pub mod example2;
pub mod example3;
pub mod port_counter;

#[cfg(test)]
mod testing;

pub use example1::{Example1, MonologueBandwidth};
pub use example2::Example2;
pub use example3::{Example3, HttpWait};
pub use port_counter::{PortCount, PortCounter};
