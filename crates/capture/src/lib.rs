//! Capture input for netanalysis: reads pcap and pcapng files, standard input and (with
//! the `pcap` feature) live interfaces, and decodes each frame into the borrowed
//! [`Packet`](netanalysis_core::Packet) the dispatcher hands to listeners.
//!
//! It sits at the start of the pipeline: [`CaptureReader::next_packet`] lends one packet
//! at a time, pointing into the reader's buffer (or, for a datagram rebuilt from IP
//! fragments, into the defragmenter's), and the caller dispatches it before asking for the
//! next. Plugins never depend on this crate; they see only core's `Packet`.
//!
//! - **Formats**: pcap in both byte orders, with microsecond or nanosecond timestamps, and
//!   the "modified" (Kuznetzov) variant; pcapng with any number of sections and
//!   interfaces, each with its own link type, snapshot length and timestamp resolution.
//!   The format is told by the magic number, never by the file name.
//! - **Link layers**: Ethernet II and 802.3/LLC/SNAP, 802.1Q and QinQ, Linux SLL and SLL2,
//!   raw IP (RAW, IPV4, IPV6), BSD NULL and LOOP, PPP, PPPoE, Cisco HDLC, NFLOG, FDDI,
//!   ARCNET (Linux), 802.11 (bare, or behind radiotap, PPI, Prism or AVS headers),
//!   802.3br mPackets.
//! - **Inside IP or Ethernet**: MPLS label stacks, GRE (and ERSPAN I, II, III), VXLAN,
//!   Geneve, Teredo, GTP-U, L2TPv2, IP-in-IP, IPv6-in-IPv4, EtherIP. The innermost IP
//!   header gives the addresses.
//! - **IP**: IPv4 and IPv6 (extension headers walked), fragments reassembled in bounded
//!   memory with a timeout; payloads cut at the IP length, so link padding never leaks in.
//! - **Not decoded** (packets still returned, counted as `not_ip` or
//!   `unsupported_link_type`): Token Ring, ATM, SLIP, USB, Bluetooth, DOCSIS and other
//!   link types without a decoder; encrypted 802.11 frames; IPX, AppleTalk and other
//!   non-IP protocols; IPsec ESP payloads (seen as IP protocol 50); tunnels on ports
//!   other than their standard ones.
//!
//! Problems inside packets are data, not errors: a packet is decoded as far as it goes,
//! returned, and counted by reason in [`CaptureStats`]. Problems with the file itself (cut
//! short, an impossible record length) end the reading with a [`ReadError`] after every
//! packet before the damage was returned. Nothing here panics on any input.
//!
//! # Example
//!
//! ```
//! use netanalysis_capture::CaptureReader;
//! use netanalysis_core::Summary;
//!
//! // A classic pcap header (little-endian, microseconds, Ethernet) and no packets.
//! let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
//! file.extend_from_slice(&[0; 8]);
//! file.extend_from_slice(&65535u32.to_le_bytes());
//! file.extend_from_slice(&1u32.to_le_bytes());
//!
//! let mut reader = CaptureReader::from_reader("empty.pcap", Box::new(std::io::Cursor::new(file)))?;
//! while let Some(packet) = reader.next_packet()? {
//!     println!("{} {}", packet.number, packet.ts);
//! }
//! let mut summary = Summary::new();
//! reader.report(&mut summary);
//! assert_eq!(summary.count("packets_read"), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! `pcap` adds [`CaptureReader::live`] and [`CaptureReader::set_filter`] through libpcap.
//! Without it both return an error saying which feature to enable.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ahead;
mod chunks;
pub mod decode;
mod defrag;
mod error;
#[cfg(feature = "pcap")]
mod live;
mod reader;
mod source;
mod stats;

pub use ahead::ReadAhead;
pub use chunks::{Boundary, Chunk, ChunkReader, Chunks, Framing, Turn};
pub use decode::{decode_frame, Decoded, Fragment, Undecoded};
pub use defrag::{DefragLimits, DefragStats};
pub use error::{OpenError, ReadError};
pub use reader::{CaptureReader, FrameAt, Next};
pub use source::SharedBuffer;
pub use stats::CaptureStats;
