//! Link layers: each finds where the network layer starts and hands it on.
//!
//! Ethernet II and 802.1Q/802.1ad tags are read with etherparse's header slices; the rest
//! are a few fixed offsets each, written here from their specifications (tcpdump's
//! LINKTYPE_ registry describes every header).

use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};
use netanalysis_core::LinkType;

use super::{be16, be32, ip, le16, rest, Decoded, Undecoded, MAX_DEPTH};

mod ether_type {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const QINQ_OLD_9100: u16 = 0x9100;
    pub const QINQ_OLD_9200: u16 = 0x9200;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const TEB: u16 = 0x6558;
    pub const PPP: u16 = 0x880b;
}

/// Whether `link_type` has a decoder here.
pub(super) fn is_supported(link_type: LinkType) -> bool {
    matches!(
        link_type.0,
        0 | 1 | 9 | 10 | 50 | 51 | 101 | 104 | 105 | 108 | 113 | 127 | 129 | 228 | 229 | 239 | 274 | 276
    )
}

pub(super) fn decode_link(link_type: LinkType, frame: &[u8]) -> Decoded<'_> {
    match link_type.0 {
        1 => decode_ethernet(frame, 0),
        0 => decode_null(frame, false),
        108 => decode_null(frame, true),
        9 | 50 => decode_ppp(frame, 0),
        51 => decode_pppoe(frame, 0),
        10 => decode_fddi(frame),
        101 => ip::decode_ip(frame, 0),
        228 => ip::decode_ip_version(frame, 4, 0),
        229 => ip::decode_ip_version(frame, 6, 0),
        104 => decode_chdlc(frame),
        105 => decode_ieee80211(frame),
        127 => decode_radiotap(frame),
        119 => decode_prism(frame),
        163 => decode_avs(frame),
        192 => decode_ppi(frame),
        113 => decode_sll(frame),
        276 => decode_sll2(frame),
        129 => decode_arcnet_linux(frame),
        239 => decode_nflog(frame),
        274 => decode_mpacket(frame),
        _ => Decoded::fail(Undecoded::UnsupportedLinkType, false),
    }
}

fn cut() -> Decoded<'static> {
    Decoded::fail(Undecoded::BadLinkHeader, true)
}

fn not_ip() -> Decoded<'static> {
    Decoded::fail(Undecoded::NotIp, false)
}

/// Ethernet II, or IEEE 802.3 with an 802.2 LLC header when the type field is a length.
pub(super) fn decode_ethernet(data: &[u8], depth: u8) -> Decoded<'_> {
    let Ok(header) = Ethernet2HeaderSlice::from_slice(data) else { return cut() };
    let type_or_len = header.ether_type().0;
    let body = rest(data, header.slice().len());
    if type_or_len <= 1500 {
        return decode_llc(body, depth);
    }
    decode_ethertype(type_or_len, body, depth)
}

/// What an EtherType announces.
pub(super) fn decode_ethertype(ether_type: u16, data: &[u8], depth: u8) -> Decoded<'_> {
    if depth >= MAX_DEPTH {
        return not_ip();
    }
    match ether_type {
        ether_type::IPV4 => ip::decode_ip_version(data, 4, depth),
        ether_type::IPV6 => ip::decode_ip_version(data, 6, depth),
        ether_type::VLAN | ether_type::QINQ | ether_type::QINQ_OLD_9100 | ether_type::QINQ_OLD_9200 => {
            match SingleVlanHeaderSlice::from_slice(data) {
                Ok(tag) => decode_ethertype(tag.ether_type().0, rest(data, tag.slice().len()), depth + 1),
                Err(_) => cut(),
            }
        }
        ether_type::MPLS | ether_type::MPLS_MULTICAST => decode_mpls(data, depth + 1),
        ether_type::PPPOE_SESSION => decode_pppoe(data, depth + 1),
        ether_type::TEB => decode_ethernet(data, depth + 1),
        ether_type::PPP => decode_ppp(data, depth + 1),
        // A length after a VLAN tag: 802.3 with an LLC header.
        length if length <= 1500 => decode_llc(data, depth + 1),
        _ => not_ip(),
    }
}

/// IEEE 802.2 LLC: SNAP (AA AA 03, an OUI, then an EtherType) and the IP SAP (06).
fn decode_llc(data: &[u8], depth: u8) -> Decoded<'_> {
    match data.get(..3) {
        Some([0xaa, 0xaa, 0x03]) => match be16(data, 6) {
            Some(ether_type) => decode_ethertype(ether_type, rest(data, 8), depth + 1),
            None => cut(),
        },
        Some([0x06, 0x06, 0x03]) => ip::decode_ip_version(rest(data, 3), 4, depth + 1),
        Some(_) => not_ip(),
        None => cut(),
    }
}

/// An MPLS label stack (RFC 3032), then IPv4, IPv6, or Ethernet (RFC 4448, with or without
/// the control word), told apart by the first nibble as tcpdump and Wireshark do.
pub(super) fn decode_mpls(data: &[u8], depth: u8) -> Decoded<'_> {
    let mut at = 0usize;
    loop {
        let Some(entry) = be32(data, at) else { return cut() };
        at += 4;
        if entry & 0x100 != 0 {
            break;
        }
        if at >= 64 {
            return not_ip();
        }
    }
    let body = rest(data, at);
    match body.first().map(|b| b >> 4) {
        Some(4) => ip::decode_ip_version(body, 4, depth),
        Some(6) => ip::decode_ip_version(body, 6, depth),
        Some(0) => decode_ethernet(rest(body, 4), depth + 1),
        Some(_) => decode_ethernet(body, depth + 1),
        None => cut(),
    }
}

/// PPPoE session stage (RFC 2516): a 6-byte header, then a PPP protocol field.
fn decode_pppoe(data: &[u8], depth: u8) -> Decoded<'_> {
    if data.len() < 6 {
        return cut();
    }
    decode_ppp_protocol(rest(data, 6), depth)
}

/// PPP in HDLC-like framing (RFC 1662): optional FF 03 address and control, then the
/// protocol field.
pub(super) fn decode_ppp(data: &[u8], depth: u8) -> Decoded<'_> {
    match data.get(..2) {
        Some([0xff, 0x03]) => decode_ppp_protocol(rest(data, 2), depth),
        Some(_) => decode_ppp_protocol(data, depth),
        None => cut(),
    }
}

/// A PPP protocol field, one byte when compressed (odd first byte, RFC 1661 section 6.5).
fn decode_ppp_protocol(data: &[u8], depth: u8) -> Decoded<'_> {
    let (protocol, len) = match data.first() {
        Some(&b) if b & 1 == 1 => (u16::from(b), 1),
        Some(_) => match be16(data, 0) {
            Some(p) => (p, 2),
            None => return cut(),
        },
        None => return cut(),
    };
    let body = rest(data, len);
    match protocol {
        0x0021 => ip::decode_ip_version(body, 4, depth),
        0x0057 => ip::decode_ip_version(body, 6, depth),
        0x0281 | 0x0283 => decode_mpls(body, depth + 1),
        _ => not_ip(),
    }
}

/// BSD loopback: a 4-byte address family, in the capturing host's byte order for NULL
/// and in network byte order for LOOP.
fn decode_null(data: &[u8], network_order: bool) -> Decoded<'_> {
    let Some(family) = be32(data, 0) else { return cut() };
    let family = if network_order {
        family
    } else if family & 0xffff_0000 != 0 {
        // Little-endian host: the small number sits in the first bytes.
        family.swap_bytes()
    } else {
        family
    };
    let body = rest(data, 4);
    match family {
        2 => ip::decode_ip_version(body, 4, 0),
        // AF_INET6 on Linux, Windows, NetBSD/OpenBSD, FreeBSD, macOS.
        10 | 23 | 24 | 28 | 30 => ip::decode_ip_version(body, 6, 0),
        _ => not_ip(),
    }
}

/// FDDI: frame control, destination and source addresses (13 bytes), then 802.2 LLC.
fn decode_fddi(data: &[u8]) -> Decoded<'_> {
    if data.len() < 13 {
        return cut();
    }
    decode_llc(rest(data, 13), 0)
}

/// Cisco HDLC: address, control, then an EtherType.
fn decode_chdlc(data: &[u8]) -> Decoded<'_> {
    match be16(data, 2) {
        Some(ether_type) => decode_ethertype(ether_type, rest(data, 4), 0),
        None => cut(),
    }
}

/// Linux cooked capture v1: 16 bytes, the protocol last.
fn decode_sll(data: &[u8]) -> Decoded<'_> {
    let (Some(hardware), Some(protocol)) = (be16(data, 2), be16(data, 14)) else { return cut() };
    decode_cooked(hardware, protocol, rest(data, 16))
}

/// Linux cooked capture v2: 20 bytes, the protocol first.
fn decode_sll2(data: &[u8]) -> Decoded<'_> {
    let (Some(protocol), Some(hardware)) = (be16(data, 0), be16(data, 8)) else { return cut() };
    if data.len() < 20 {
        return cut();
    }
    decode_cooked(hardware, protocol, rest(data, 20))
}

fn decode_cooked(hardware: u16, protocol: u16, body: &[u8]) -> Decoded<'_> {
    const ARPHRD_NETLINK: u16 = 824;
    match (hardware, protocol) {
        (ARPHRD_NETLINK, _) => not_ip(),
        // LINUX_SLL_P_802_2: an 802.2 LLC header follows.
        (_, 0x0004) => decode_llc(body, 0),
        (_, p) if p < 0x0600 => not_ip(),
        (_, p) => decode_ethertype(p, body, 0),
    }
}

/// ARCNET as Linux captures it: source, destination, a 2-byte offset, the protocol type,
/// and for RFC 1201 protocols a split flag and sequence number (tcpdump's print-arcnet.c).
fn decode_arcnet_linux(data: &[u8]) -> Decoded<'_> {
    let Some(&kind) = data.get(4) else { return cut() };
    let header_len = match kind {
        // The old-style types, and diagnostics, have no split flag and sequence number.
        0xf0 | 0xf1 | 0x80 => 5,
        _ => 8,
    };
    if data.len() < header_len {
        return cut();
    }
    let body = rest(data, header_len);
    match kind {
        0xd4 | 0xf0 => ip::decode_ip_version(body, 4, 0),
        0xc4 => ip::decode_ip_version(body, 6, 0),
        _ => not_ip(),
    }
}

/// Linux NFLOG: family, version, resource id, then TLVs (lengths and types in the
/// capturing host's byte order, padded to 4); type 9 holds the packet.
fn decode_nflog(data: &[u8]) -> Decoded<'_> {
    if data.len() < 4 {
        return cut();
    }
    let tlvs = rest(data, 4);
    // Guess the byte order from the first TLV: its length must fit.
    let little = match (le16(tlvs, 0), be16(tlvs, 0)) {
        (Some(le), Some(be)) => usize::from(le) >= 4 && usize::from(le) <= tlvs.len() || be < 4,
        _ => return cut(),
    };
    let read = |at: usize| if little { le16(tlvs, at) } else { be16(tlvs, at) };
    let mut at = 0usize;
    while let (Some(len), Some(kind)) = (read(at), read(at + 2)) {
        let len = usize::from(len);
        if len < 4 {
            return cut();
        }
        if kind == 9 {
            return match tlvs.get(at + 4..at + len) {
                Some(packet) => ip::decode_ip(packet, 0),
                None => ip::decode_ip(rest(tlvs, at + 4), 0),
            };
        }
        at += (len + 3) & !3;
    }
    not_ip()
}

/// IEEE 802.11 with a radiotap header in front (its length is at bytes 2-3, little-endian).
fn decode_radiotap(data: &[u8]) -> Decoded<'_> {
    match (data.first(), le16(data, 2)) {
        (Some(0), Some(len)) if usize::from(len) <= data.len() => decode_ieee80211(rest(data, usize::from(len))),
        (Some(0), _) | (None, _) => cut(),
        (Some(_), _) => Decoded::fail(Undecoded::BadLinkHeader, false),
    }
}

/// IEEE 802.11 behind a PPI header (version 0, flags, little-endian length, then the
/// link type of what follows: 802.11 or Ethernet in practice).
fn decode_ppi(data: &[u8]) -> Decoded<'_> {
    let (Some(0), Some(len), Some(inner)) = (data.first(), le16(data, 2), be32(data, 4).map(u32::swap_bytes)) else {
        return cut();
    };
    match (inner, data.get(usize::from(len)..)) {
        (1, Some(body)) => decode_ethernet(body, 0),
        (105, Some(body)) => decode_ieee80211(body),
        (_, Some(_)) => Decoded::fail(Undecoded::UnsupportedLinkType, false),
        (_, None) => cut(),
    }
}

/// IEEE 802.11 behind a Prism monitoring header (its length at bytes 4-7, in host order;
/// 144 bytes in every capture known).
fn decode_prism(data: &[u8]) -> Decoded<'_> {
    let Some(len) = be32(data, 4) else { return cut() };
    let len = if len & 0xffff_0000 != 0 { len.swap_bytes() } else { len };
    match data.get(len as usize..) {
        Some(body) => decode_ieee80211(body),
        None => cut(),
    }
}

/// IEEE 802.11 behind an AVS monitoring header (big-endian length at bytes 4-7).
fn decode_avs(data: &[u8]) -> Decoded<'_> {
    match be32(data, 4).and_then(|len| data.get(len as usize..)) {
        Some(body) => decode_ieee80211(body),
        None => cut(),
    }
}

/// IEEE 802.11 data frames, through LLC/SNAP; management, control, null and protected
/// (encrypted) frames carry no IP we can read.
fn decode_ieee80211(data: &[u8]) -> Decoded<'_> {
    let (Some(&fc0), Some(&fc1)) = (data.first(), data.get(1)) else { return cut() };
    let frame_type = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    if frame_type != 2 || subtype & 0x4 != 0 || fc1 & 0x40 != 0 {
        return not_ip();
    }
    let mut header_len = 24;
    if fc1 & 0x3 == 0x3 {
        header_len += 6; // a fourth address between access points
    }
    if subtype & 0x8 != 0 {
        header_len += 2; // QoS control
        if fc1 & 0x80 != 0 {
            header_len += 4; // HT control
        }
    }
    if data.len() < header_len {
        return cut();
    }
    decode_llc(rest(data, header_len), 0)
}

/// IEEE 802.3br mPackets: 7 bytes of preamble, a start delimiter, then an Ethernet frame
/// (and a CRC that the IP length cuts off); only express and start-of-preemption frames
/// begin with an Ethernet header.
fn decode_mpacket(data: &[u8]) -> Decoded<'_> {
    match data.get(7) {
        Some(0xd5 | 0xe6 | 0x4c | 0x7f | 0xb3) => decode_ethernet(rest(data, 8), 0),
        Some(_) => not_ip(),
        None => cut(),
    }
}
