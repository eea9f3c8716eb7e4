//! The decoded, borrowed packet every listener receives.
//!
//! A [`Packet`] points into the capture reader's buffer (or, for a reassembled IP
//! datagram, into the reassembly buffer) and lives only as long as its frame is being
//! dispatched. Listeners that need bytes past that point copy them.

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;

use crate::addr::Endpoint;
use crate::time::Timestamp;

/// A link-layer header type, as numbered by tcpdump's LINKTYPE_ registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback (4-byte address family in host byte order).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II.
    pub const ETHERNET: LinkType = LinkType(1);
    /// ARCNET (Linux).
    pub const ARCNET_LINUX: LinkType = LinkType(129);
    /// FDDI.
    pub const FDDI: LinkType = LinkType(10);
    /// PPP.
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP (either version).
    pub const RAW: LinkType = LinkType(101);
    /// Cisco HDLC.
    pub const C_HDLC: LinkType = LinkType(104);
    /// IEEE 802.11.
    pub const IEEE802_11: LinkType = LinkType(105);
    /// OpenBSD loopback (4-byte address family in network byte order).
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// 802.11 with a radiotap header.
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux netfilter log.
    pub const NFLOG: LinkType = LinkType(239);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The tcpdump name of the link type, where it has one we know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NULL",
            1 => "ETHERNET",
            9 => "PPP",
            10 => "FDDI",
            101 => "RAW",
            104 => "C_HDLC",
            105 => "IEEE802_11",
            108 => "LOOP",
            113 => "LINUX_SLL",
            127 => "IEEE802_11_RADIOTAP",
            129 => "ARCNET_LINUX",
            228 => "IPV4",
            229 => "IPV6",
            239 => "NFLOG",
            274 => "ETHERNET_MPACKET",
            276 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "link type {}", self.0),
        }
    }
}

impl fmt::Debug for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// TCP header flags (RFC 9293 section 3.1), as the low byte of the flags field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// Whether every bit of `mask` is set.
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// SYN is set.
    pub const fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// ACK is set.
    pub const fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    /// FIN is set.
    pub const fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// RST is set.
    pub const fn rst(self) -> bool {
        self.has(Self::RST)
    }
    /// URG is set.
    pub const fn urg(self) -> bool {
        self.has(Self::URG)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for TcpFlags {
    /// tcpdump's letters: `S`, `F`, `R`, `P`, `U`, `E`, `W`, and `.` for ACK.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LETTERS: [(u8, char); 8] = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
            (TcpFlags::ACK, '.'),
        ];
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (bit, letter) in LETTERS {
            if self.0 & bit != 0 {
                fmt::Write::write_char(f, letter)?;
            }
        }
        Ok(())
    }
}

/// The TCP header fields listeners use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first payload byte (or of the SYN/FIN).
    pub seq: u32,
    /// Acknowledgment number (meaningful when the ACK flag is set).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Receive window, unscaled.
    pub window: u16,
    /// Urgent pointer (meaningful when URG is set).
    pub urgent: u16,
    /// Header length in bytes, options included.
    pub header_len: u16,
}

/// The UDP header fields listeners use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The length field (header and payload).
    pub length: u16,
}

/// What was found above IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    /// Nothing above IP could be decoded (or there was no IP).
    #[default]
    None,
    /// A TCP segment.
    Tcp(TcpHeader),
    /// A UDP datagram.
    Udp(UdpHeader),
    /// Another IP protocol, by number (ICMP is 1, ICMPv6 58, ...).
    Other(u8),
}

/// The innermost IP header, the one that carries the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The protocol carried (TCP is 6, UDP 17).
    pub protocol: u8,
    /// Hop limit / TTL.
    pub ttl: u8,
    /// The packet was rebuilt from IP fragments.
    pub reassembled: bool,
    /// The packet is one fragment of an IP datagram that it does not complete (more are
    /// to come, or the datagram is lost): its transport is not decoded. The fragment
    /// that completes a datagram comes as the whole datagram, `reassembled`.
    pub fragment: bool,
}

/// One captured frame, decoded as far as it goes.
///
/// Borrowed: `frame` and `payload` point into the capture buffer and are valid only while
/// the frame is dispatched. Packets are numbered from 1, as tcpdump and tshark number them.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Position in the capture, from 1.
    pub number: u64,
    /// Capture time, with the capture's precision.
    pub ts: Timestamp,
    /// pcapng interface index (0 for pcap files and live capture).
    pub interface: u32,
    /// The frame's link type.
    pub link_type: LinkType,
    /// Bytes captured (may be less than `orig_len` when a snaplen cut the frame).
    pub caplen: u32,
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// The captured frame bytes, link layer first.
    pub frame: &'a [u8],
    /// The innermost IP header that carries the transport, if any.
    pub ip: Option<IpInfo>,
    /// The transport header, if decoded.
    pub transport: Transport,
    /// Transport payload as captured, cut at the IP length (link padding never included).
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the snaplen cut off.
    pub uncaptured: u32,
    /// Decoding stopped early: the frame is shorter than its headers say, or a header
    /// was malformed. What was decoded is still filled in.
    pub truncated: bool,
    /// The reader's buffer that `frame` and `payload` lie in, when the reader shares it
    /// (`None` for a datagram reassembled from fragments and for a live capture). A
    /// listener that keeps bytes of the packet past its frame may take them as a slice
    /// of it ([`Packet::share`]) instead of copying them; a slice keeps the whole buffer
    /// (a megabyte, or more for a capture with larger records) from being reused, so it
    /// suits bytes dropped soon after.
    pub buffer: Option<&'a Bytes>,
}

impl<'a> Packet<'a> {
    /// An empty packet with only a number and a time (for tests and synthetic sources).
    pub fn empty(number: u64, ts: Timestamp) -> Packet<'a> {
        Packet {
            number,
            ts,
            interface: 0,
            link_type: LinkType::ETHERNET,
            caplen: 0,
            orig_len: 0,
            frame: &[],
            ip: None,
            transport: Transport::None,
            payload: &[],
            uncaptured: 0,
            truncated: false,
            buffer: None,
        }
    }

    /// `part` (bytes of this packet, such as its payload or a piece of it) as a shared
    /// slice of the reader's buffer, without a copy; `None` when the packet has no
    /// shared buffer or `part` does not lie in it.
    pub fn share(&self, part: &[u8]) -> Option<Bytes> {
        share(self.buffer?, part)
    }

    /// The TCP header, for a TCP packet.
    pub fn tcp(&self) -> Option<&TcpHeader> {
        match &self.transport {
            Transport::Tcp(h) => Some(h),
            _ => None,
        }
    }

    /// The UDP header, for a UDP packet.
    pub fn udp(&self) -> Option<&UdpHeader> {
        match &self.transport {
            Transport::Udp(h) => Some(h),
            _ => None,
        }
    }

    /// Source endpoint, for TCP and UDP packets.
    pub fn src(&self) -> Option<Endpoint> {
        let ip = self.ip.as_ref()?;
        match self.transport {
            Transport::Tcp(h) => Some(Endpoint::new(ip.src, h.src_port)),
            Transport::Udp(h) => Some(Endpoint::new(ip.src, h.src_port)),
            _ => None,
        }
    }

    /// Destination endpoint, for TCP and UDP packets.
    pub fn dst(&self) -> Option<Endpoint> {
        let ip = self.ip.as_ref()?;
        match self.transport {
            Transport::Tcp(h) => Some(Endpoint::new(ip.dst, h.dst_port)),
            Transport::Udp(h) => Some(Endpoint::new(ip.dst, h.dst_port)),
            _ => None,
        }
    }
}

/// `part` as a slice of `buffer` (sharing its bytes, no copy), or `None` when `part`
/// does not lie in it (where [`Bytes::slice_ref`] would panic).
pub fn share(buffer: &Bytes, part: &[u8]) -> Option<Bytes> {
    let start = (part.as_ptr() as usize).checked_sub(buffer.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= buffer.len()).then(|| buffer.slice(start..end))
}
