//! Errors of opening and reading a capture.
//!
//! Each message is one lowercase line that names the capture, says what went wrong and,
//! where it helps, what to do. Problems inside a packet are never errors: they are counted
//! in [`CaptureStats`](crate::CaptureStats) and the packet is returned decoded as far as it goes.

use std::io;

/// Opening a capture failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file does not exist.
    #[error("{name}: no such file (check the path)")]
    Missing {
        /// The capture's name (its path, or `-` for stdin).
        name: String,
    },
    /// The file exists but could not be opened or read.
    #[error("{name}: cannot read the file (check its permissions)")]
    Unreadable {
        /// The capture's name.
        name: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The file does not start with a pcap or pcapng magic number.
    #[error("{name}: not a capture file (it starts with {magic}; netanalysis reads pcap and pcapng files)")]
    NotACapture {
        /// The capture's name.
        name: String,
        /// The first bytes of the file, in hex, or a note that the file is empty.
        magic: String,
    },
    /// The file ends inside its own file header.
    #[error("{name}: cut short inside the file header at byte offset {offset} (no packets could be read)")]
    CutShort {
        /// The capture's name.
        name: String,
        /// Where the file ends.
        offset: u64,
    },
    /// The file header is impossible (an unknown version, a bad section header).
    #[error("{name}: damaged or corrupt file header: {what}")]
    BadHeader {
        /// The capture's name.
        name: String,
        /// What is wrong with it.
        what: String,
    },
    /// Live capture or filters were asked for in a build without libpcap.
    #[error("{what} needs netanalysis built with --features pcap")]
    FeatureMissing {
        /// What was asked for: "live capture" or "a capture filter".
        what: &'static str,
    },
    /// libpcap refused to open the interface.
    #[error("{iface}: cannot start live capture: {message} (capturing usually needs root or CAP_NET_RAW)")]
    Live {
        /// The interface name.
        iface: String,
        /// What libpcap said.
        message: String,
    },
    /// libpcap could not compile a filter expression.
    #[error("bad capture filter '{expr}': {message}")]
    Filter {
        /// The expression as given.
        expr: String,
        /// What libpcap said.
        message: String,
    },
}

/// Reading the next packet failed; the packets before it were all delivered.
///
/// After an error, [`CaptureReader::next_packet`](crate::CaptureReader::next_packet) returns
/// `Ok(None)`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file ends in the middle of a record.
    #[error("{name}: cut short in the middle of a packet at byte offset {offset} (the packets before it were read)")]
    CutShort {
        /// The capture's name.
        name: String,
        /// Byte offset of the record that is cut.
        offset: u64,
    },
    /// A record header announces an impossible length.
    #[error(
        "{name}: damaged or corrupt: the record at byte offset {offset} claims {len} bytes, \
         more than the maximum of {limit} (the packets before it were read)"
    )]
    AbsurdLength {
        /// The capture's name.
        name: String,
        /// Byte offset of the record.
        offset: u64,
        /// The length it claims.
        len: u64,
        /// The largest length accepted.
        limit: u64,
    },
    /// A record is inconsistent in another way.
    #[error("{name}: damaged or corrupt at byte offset {offset}: {what} (the packets before it were read)")]
    Damaged {
        /// The capture's name.
        name: String,
        /// Byte offset of the record.
        offset: u64,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The operating system reported an error while reading.
    #[error("{name}: read error at byte offset {offset} (the packets before it were read)")]
    Io {
        /// The capture's name.
        name: String,
        /// How far the file had been read.
        offset: u64,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// libpcap reported an error during live capture.
    #[error("{iface}: live capture failed: {message}")]
    Live {
        /// The interface name.
        iface: String,
        /// What libpcap said.
        message: String,
    },
}
