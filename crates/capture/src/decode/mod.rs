//! Frame decoding: from link-layer bytes to the innermost IP header, the transport header
//! and the payload, borrowing everything from the frame.
//!
//! # Contract
//!
//! [`decode_frame`] is a pure function: it never panics, never allocates and never copies,
//! whatever the bytes. A frame is decoded as far as it goes; what could not be decoded is
//! said by [`Decoded::undecoded`] and [`Decoded::truncated`]. Payloads are cut at the
//! length the IP header announces, so link-layer padding and trailers never reach them.
//!
//! Link layers and encapsulations are small functions that find where the network layer
//! starts and hand it on; headers etherparse knows (Ethernet II, 802.1Q, Linux SLL, IPv4,
//! IPv6, TCP, UDP) are read with its header slices.

pub(crate) mod ip;
mod link;

use std::net::IpAddr;

use netanalysis_core::{IpInfo, LinkType, Transport};

/// How deep encapsulations may nest before decoding gives up (a GRE in a GRE in ...).
const MAX_DEPTH: u8 = 12;

/// Why no IP header could be found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Undecoded {
    /// The link type has no decoder.
    UnsupportedLinkType,
    /// The frame carries something other than IP (ARP, LLDP, spanning tree, encrypted 802.11...).
    NotIp,
    /// The link-layer header is cut short or impossible.
    BadLinkHeader,
    /// The IP header is cut short or impossible.
    BadIpHeader,
    /// The IP header is fine but the TCP or UDP header is cut short or impossible.
    BadTransportHeader,
    /// A pcapng packet names an interface the file never described.
    UnknownInterface,
}

impl Undecoded {
    /// Every reason, in a fixed order.
    pub const ALL: [Undecoded; 6] = [
        Undecoded::UnsupportedLinkType,
        Undecoded::NotIp,
        Undecoded::BadLinkHeader,
        Undecoded::BadIpHeader,
        Undecoded::BadTransportHeader,
        Undecoded::UnknownInterface,
    ];

    /// The reason as a `snake_case` word, used in summary keys (`packets_undecoded_<key>`).
    pub const fn key(self) -> &'static str {
        match self {
            Undecoded::UnsupportedLinkType => "unsupported_link_type",
            Undecoded::NotIp => "not_ip",
            Undecoded::BadLinkHeader => "bad_link_header",
            Undecoded::BadIpHeader => "bad_ip_header",
            Undecoded::BadTransportHeader => "bad_transport_header",
            Undecoded::UnknownInterface => "unknown_interface",
        }
    }

    /// The reason in words, for warnings.
    pub const fn describe(self) -> &'static str {
        match self {
            Undecoded::UnsupportedLinkType => "their link type has no decoder",
            Undecoded::NotIp => "they carry no IP (ARP, spanning tree, encrypted wireless...)",
            Undecoded::BadLinkHeader => "their link-layer header is cut short or impossible",
            Undecoded::BadIpHeader => "their IP header is cut short or impossible",
            Undecoded::BadTransportHeader => "their TCP or UDP header is cut short or impossible",
            Undecoded::UnknownInterface => "they name a pcapng interface the file never described",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Undecoded::UnsupportedLinkType => 0,
            Undecoded::NotIp => 1,
            Undecoded::BadLinkHeader => 2,
            Undecoded::BadIpHeader => 3,
            Undecoded::BadTransportHeader => 4,
            Undecoded::UnknownInterface => 5,
        }
    }
}

/// One IP fragment found in a frame: what the defragmenter needs to place it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Source address of the fragmented datagram.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The identification field (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// The protocol of the reassembled payload (for IPv6, the fragment header's next header).
    pub protocol: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Byte offset of `data` in the reassembled payload.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// The fragment's bytes as captured.
    pub data: &'a [u8],
    /// The capture cut the fragment: `data` is shorter than the IP header announces.
    pub cut: bool,
}

/// What [`decode_frame`] found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The innermost IP header that carries the transport, if any.
    pub ip: Option<IpInfo>,
    /// The transport header, if decoded.
    pub transport: Transport,
    /// The transport payload as captured, cut at the IP (and UDP) length.
    pub payload: &'a [u8],
    /// Payload bytes the headers announce but the capture lacks.
    pub uncaptured: u32,
    /// Decoding stopped early because bytes were missing or a header was malformed.
    pub truncated: bool,
    /// Why no IP header (or no transport header) could be decoded, if so.
    pub undecoded: Option<Undecoded>,
    /// The innermost IP header was a fragment of a larger datagram: `transport` is `None`
    /// until the defragmenter has all of it.
    pub fragment: Option<Fragment<'a>>,
}

impl Default for Decoded<'_> {
    fn default() -> Self {
        Decoded {
            ip: None,
            transport: Transport::None,
            payload: &[],
            uncaptured: 0,
            truncated: false,
            undecoded: None,
            fragment: None,
        }
    }
}

impl<'a> Decoded<'a> {
    fn fail(reason: Undecoded, truncated: bool) -> Decoded<'a> {
        Decoded { undecoded: Some(reason), truncated, ..Decoded::default() }
    }
}

/// Whether `link_type` has a decoder.
pub fn is_supported(link_type: LinkType) -> bool {
    link::is_supported(link_type)
}

/// Decodes one captured frame of the given link type.
///
/// `frame` is the captured bytes (link layer first). Pure: it never panics, allocates or
/// copies; see the module's contract.
///
/// ```
/// use netanalysis_capture::decode_frame;
/// use netanalysis_core::{LinkType, Transport};
///
/// // A raw-IP frame: an IPv4 header, a UDP header and four payload bytes.
/// let mut frame = vec![0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
/// frame.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 12, 0, 0, b'p', b'i', b'n', b'g']);
/// let decoded = decode_frame(LinkType::RAW, &frame);
/// assert!(matches!(decoded.transport, Transport::Udp(h) if h.dst_port == 53));
/// assert_eq!(decoded.payload, b"ping");
/// ```
pub fn decode_frame(link_type: LinkType, frame: &[u8]) -> Decoded<'_> {
    link::decode_link(link_type, frame)
}

/// Reads a big-endian u16 at `at`, if the bytes are there.
#[inline]
fn be16(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Reads a little-endian u16 at `at`, if the bytes are there.
#[inline]
fn le16(data: &[u8], at: usize) -> Option<u16> {
    be16(data, at).map(u16::swap_bytes)
}

/// Reads a big-endian u32 at `at`, if the bytes are there.
#[inline]
fn be32(data: &[u8], at: usize) -> Option<u32> {
    let hi = be16(data, at)?;
    let lo = be16(data, at.checked_add(2)?)?;
    Some((u32::from(hi) << 16) | u32::from(lo))
}

/// The bytes from `at` on, or an empty slice.
#[inline]
fn rest(data: &[u8], at: usize) -> &[u8] {
    data.get(at..).unwrap_or(&[])
}

#[cfg(test)]
mod tests;
