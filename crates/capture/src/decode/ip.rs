//! IPv4, IPv6 (extension headers walked), TCP, UDP, and the encapsulations found inside IP:
//! IP-in-IP, IPv6-in-IPv4, GRE (with ERSPAN I, II and III), EtherIP, MPLS-in-IP, VXLAN and
//! Teredo.

use std::net::IpAddr;

use etherparse::{err, Ipv4HeaderSlice, Ipv6HeaderSlice, TcpHeaderSlice, UdpHeaderSlice};
use netanalysis_core::{IpInfo, TcpFlags, TcpHeader, Transport, UdpHeader};

use super::{be16, be32, link, rest, Decoded, Fragment, Undecoded, MAX_DEPTH};

/// IP protocol numbers we look inside.
mod proto {
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const AUTH: u8 = 51;
    pub const ETHERIP: u8 = 97;
    pub const MPLS: u8 = 137;
}

/// UDP ports of the tunnels we open (RFC 7348 VXLAN, RFC 4380 Teredo, RFC 8926 Geneve,
/// 3GPP TS 29.281 GTP-U, RFC 2661 L2TP).
const VXLAN_PORT: u16 = 4789;
const TEREDO_PORT: u16 = 3544;
const GENEVE_PORT: u16 = 6081;
const GTP_U_PORT: u16 = 2152;
const L2TP_PORT: u16 = 1701;

/// Longest chain of IPv6 extension headers we walk.
const MAX_IPV6_EXTENSIONS: usize = 16;

/// Decodes an IP packet of either version, from its first byte.
pub(super) fn decode_ip(data: &[u8], depth: u8) -> Decoded<'_> {
    match data.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(data, depth),
        Some(6) => decode_ipv6(data, depth),
        Some(_) => Decoded::fail(Undecoded::BadIpHeader, false),
        None => Decoded::fail(Undecoded::BadIpHeader, true),
    }
}

/// Decodes an IP packet that must be version `version` (raw IPv4 or IPv6 link types).
pub(super) fn decode_ip_version(data: &[u8], version: u8, depth: u8) -> Decoded<'_> {
    match data.first().map(|b| b >> 4) {
        Some(v) if v == version => decode_ip(data, depth),
        Some(_) => Decoded::fail(Undecoded::BadIpHeader, false),
        None => Decoded::fail(Undecoded::BadIpHeader, true),
    }
}

fn decode_ipv4(data: &[u8], depth: u8) -> Decoded<'_> {
    let header = match Ipv4HeaderSlice::from_slice(data) {
        Ok(header) => header,
        Err(err::ipv4::HeaderSliceError::Len(_)) => return Decoded::fail(Undecoded::BadIpHeader, true),
        Err(_) => return Decoded::fail(Undecoded::BadIpHeader, false),
    };
    let header_len = header.slice().len();
    let total_len = usize::from(header.total_len());
    // As etherparse's lax slices do: a total length shorter than the header (TCP
    // segmentation offload leaves it 0) falls back to the captured length; a longer one
    // than was captured means the capture cut the packet.
    let (end, missing) = if total_len < header_len {
        (data.len(), 0)
    } else if total_len > data.len() {
        (data.len(), total_len - data.len())
    } else {
        (total_len, 0)
    };
    let body = data.get(header_len..end).unwrap_or(&[]);
    let info = IpInfo {
        src: IpAddr::V4(header.source_addr()),
        dst: IpAddr::V4(header.destination_addr()),
        protocol: header.protocol().0,
        ttl: header.ttl(),
        reassembled: false,
        fragment: false,
    };
    let offset = u32::from(header.fragments_offset().value()) * 8;
    if header.more_fragments() || offset != 0 {
        let fragment = Fragment {
            src: info.src,
            dst: info.dst,
            id: u32::from(header.identification()),
            protocol: info.protocol,
            ttl: info.ttl,
            offset,
            more: header.more_fragments(),
            data: body,
            cut: missing > 0,
        };
        return fragment_decoded(info, fragment, missing);
    }
    decode_ip_payload(info, body, missing, depth)
}

fn decode_ipv6(data: &[u8], depth: u8) -> Decoded<'_> {
    let header = match Ipv6HeaderSlice::from_slice(data) {
        Ok(header) => header,
        Err(err::ipv6::HeaderSliceError::Len(_)) => return Decoded::fail(Undecoded::BadIpHeader, true),
        Err(_) => return Decoded::fail(Undecoded::BadIpHeader, false),
    };
    let after = rest(data, header.slice().len());
    let payload_len = usize::from(header.payload_length());
    // A zero payload length is a jumbogram or an offloaded packet: use what was captured.
    let (body, missing) = if payload_len == 0 {
        (after, 0)
    } else if payload_len > after.len() {
        (after, payload_len - after.len())
    } else {
        (after.get(..payload_len).unwrap_or(after), 0)
    };
    let info = IpInfo {
        src: IpAddr::V6(header.source_addr()),
        dst: IpAddr::V6(header.destination_addr()),
        protocol: header.next_header().0,
        ttl: header.hop_limit(),
        reassembled: false,
        fragment: false,
    };
    walk_ipv6(info, body, missing, depth)
}

/// Walks IPv6 extension headers from `info.protocol` to the upper-layer header (RFC 8200
/// section 4), stopping at a fragment header that really fragments.
fn walk_ipv6(mut info: IpInfo, mut body: &[u8], missing: usize, depth: u8) -> Decoded<'_> {
    let cut_here = |info: IpInfo| Decoded {
        ip: Some(info),
        truncated: true,
        uncaptured: clamp32(missing),
        undecoded: (missing == 0).then_some(Undecoded::BadTransportHeader),
        ..Decoded::default()
    };
    for _ in 0..MAX_IPV6_EXTENSIONS {
        let next = info.protocol;
        let len = match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6: (len + 1) * 8.
            0 | 43 | 60 | 135 | 139 | 140 => match body.get(1) {
                Some(&n) => (usize::from(n) + 1) * 8,
                None => return cut_here(info),
            },
            // Authentication header (RFC 4302): (len + 2) * 4.
            51 => match body.get(1) {
                Some(&n) => (usize::from(n) + 2) * 4,
                None => return cut_here(info),
            },
            44 => {
                let (Some(&next_header), Some(field), Some(id)) = (body.first(), be16(body, 2), be32(body, 4)) else {
                    return cut_here(info);
                };
                let offset = u32::from(field & 0xfff8);
                let more = field & 1 != 0;
                body = rest(body, 8);
                info.protocol = next_header;
                if offset != 0 || more {
                    let fragment = Fragment {
                        src: info.src,
                        dst: info.dst,
                        id,
                        protocol: next_header,
                        ttl: info.ttl,
                        offset,
                        more,
                        data: body,
                        cut: missing > 0,
                    };
                    return fragment_decoded(info, fragment, missing);
                }
                // An atomic fragment (RFC 6946): nothing to reassemble.
                continue;
            }
            _ => break,
        };
        let (Some(&next_header), Some(after)) = (body.first(), body.get(len..)) else {
            return cut_here(info);
        };
        info.protocol = next_header;
        body = after;
    }
    decode_ip_payload(info, body, missing, depth)
}

fn fragment_decoded(info: IpInfo, fragment: Fragment<'_>, missing: usize) -> Decoded<'_> {
    Decoded {
        ip: Some(IpInfo { fragment: true, ..info }),
        truncated: missing > 0,
        uncaptured: clamp32(missing),
        fragment: Some(fragment),
        ..Decoded::default()
    }
}

/// Decodes a datagram the defragmenter rebuilt: `data` is the whole IP payload, starting
/// with the header `info.protocol` names (for IPv6, possibly more extension headers).
pub(crate) fn decode_reassembled(info: IpInfo, data: &[u8]) -> Decoded<'_> {
    match info.src {
        IpAddr::V6(_) => walk_ipv6(info, data, 0, 0),
        IpAddr::V4(_) => decode_ip_payload(info, data, 0, 0),
    }
}

fn clamp32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decodes what an IP header carries: TCP, UDP, or a tunnel to open.
///
/// `missing` is the number of IP payload bytes the header announced but the capture lacks.
pub(crate) fn decode_ip_payload(info: IpInfo, data: &[u8], missing: usize, depth: u8) -> Decoded<'_> {
    let mut out = Decoded {
        ip: Some(info),
        transport: Transport::Other(info.protocol),
        payload: data,
        uncaptured: clamp32(missing),
        truncated: missing > 0,
        ..Decoded::default()
    };
    match info.protocol {
        proto::TCP => match TcpHeaderSlice::from_slice(data) {
            Ok(header) => {
                let bytes = header.slice();
                out.transport = Transport::Tcp(TcpHeader {
                    src_port: header.source_port(),
                    dst_port: header.destination_port(),
                    seq: header.sequence_number(),
                    ack: header.acknowledgment_number(),
                    flags: TcpFlags(bytes.get(13).copied().unwrap_or(0)),
                    window: header.window_size(),
                    urgent: header.urgent_pointer(),
                    header_len: u16::try_from(bytes.len()).unwrap_or(u16::MAX),
                });
                out.payload = rest(data, bytes.len());
            }
            Err(error) => {
                out.transport = Transport::None;
                out.payload = &[];
                out.truncated = true;
                let cut = matches!(error, err::tcp::HeaderSliceError::Len(_)) && missing > 0;
                if !cut {
                    out.undecoded = Some(Undecoded::BadTransportHeader);
                }
            }
        },
        proto::UDP => match UdpHeaderSlice::from_slice(data) {
            Ok(header) => {
                let udp = UdpHeader {
                    src_port: header.source_port(),
                    dst_port: header.destination_port(),
                    length: header.length(),
                };
                let body = rest(data, 8);
                // Cut at the UDP length too when it is sane (it may be 0 for jumbograms).
                let udp_len = usize::from(udp.length);
                out.payload = if udp_len >= 8 { body.get(..udp_len - 8).unwrap_or(body) } else { body };
                out.transport = Transport::Udp(udp);
                if depth < MAX_DEPTH {
                    if let Some(inner) = open_udp_tunnel(&udp, out.payload, depth) {
                        return inner;
                    }
                }
            }
            Err(_) => {
                out.transport = Transport::None;
                out.payload = &[];
                out.truncated = true;
                if missing == 0 {
                    out.undecoded = Some(Undecoded::BadTransportHeader);
                }
            }
        },
        // An IPv4 authentication header (RFC 4302): (len + 2) * 4 bytes, then the next header.
        proto::AUTH if depth < MAX_DEPTH => {
            if let (Some(&next), Some(&len)) = (data.first(), data.get(1)) {
                if let Some(after) = data.get((usize::from(len) + 2) * 4..) {
                    return decode_ip_payload(IpInfo { protocol: next, ..info }, after, missing, depth + 1);
                }
            }
            out.transport = Transport::None;
            out.payload = &[];
            out.truncated = true;
        }
        proto::IPV4 | proto::IPV6 | proto::GRE | proto::ETHERIP | proto::MPLS if depth < MAX_DEPTH => {
            let inner = match info.protocol {
                proto::IPV4 => decode_ip_version(data, 4, depth + 1),
                proto::IPV6 => decode_ip_version(data, 6, depth + 1),
                proto::GRE => decode_gre(data, depth + 1),
                proto::ETHERIP => link::decode_ethernet(rest(data, 2), depth + 1),
                _ => link::decode_mpls(data, depth + 1),
            };
            if inner.ip.is_some() {
                return inner;
            }
        }
        _ => {}
    }
    out
}

/// Opens VXLAN and Teredo tunnels; `None` when the datagram is not one (or what is inside
/// is not IP), so the outer UDP datagram stands.
fn open_udp_tunnel<'a>(udp: &UdpHeader, payload: &'a [u8], depth: u8) -> Option<Decoded<'a>> {
    let on = |port: u16| udp.src_port == port || udp.dst_port == port;
    let inner = if on(VXLAN_PORT) {
        // RFC 7348: 8 bytes, the I flag says the VNI is valid.
        if payload.first()? & 0x08 == 0 {
            return None;
        }
        link::decode_ethernet(rest(payload, 8), depth + 1)
    } else if on(TEREDO_PORT) {
        decode_ip_version(teredo_ipv6(payload)?, 6, depth + 1)
    } else if on(GENEVE_PORT) {
        // Version 0, options length in 4-byte words, then the protocol as an EtherType.
        let first = *payload.first()?;
        if first >> 6 != 0 {
            return None;
        }
        let header_len = 8 + usize::from(first & 0x3f) * 4;
        link::decode_ethertype(be16(payload, 2)?, payload.get(header_len..)?, depth + 1)
    } else if on(GTP_U_PORT) {
        decode_ip(gtp_u_payload(payload)?, depth + 1)
    } else if on(L2TP_PORT) {
        link::decode_ppp(l2tp_payload(payload)?, depth + 1)
    } else {
        return None;
    };
    (inner.ip.is_some() && inner.undecoded.is_none()).then_some(inner)
}

/// Skips Teredo's optional authentication and origin indication headers (RFC 4380
/// section 5.1.1) to the IPv6 packet.
fn teredo_ipv6(mut data: &[u8]) -> Option<&[u8]> {
    for _ in 0..2 {
        match be16(data, 0)? {
            // Authentication: id length, auth length, id, auth, nonce (8), confirmation (1).
            0x0001 => {
                let id_len = usize::from(*data.get(2)?);
                let auth_len = usize::from(*data.get(3)?);
                data = data.get(4 + id_len + auth_len + 9..)?;
            }
            // Origin indication: 8 bytes.
            0x0000 => data = data.get(8..)?,
            _ => break,
        }
    }
    (data.first()? >> 4 == 6).then_some(data)
}

/// The user packet of a GTP-U G-PDU (3GPP TS 29.281 section 5): 8 bytes, 4 more when any
/// of the E, S or PN flags is set, then the chain of extension headers E announces.
fn gtp_u_payload(data: &[u8]) -> Option<&[u8]> {
    let flags = *data.first()?;
    // Version 1, protocol type GTP, message type 255 (G-PDU).
    if flags >> 5 != 1 || flags & 0x10 == 0 || *data.get(1)? != 0xff {
        return None;
    }
    if flags & 0x07 == 0 {
        return data.get(8..);
    }
    let mut next = *data.get(11)?;
    let mut at = 12usize;
    for _ in 0..16 {
        if next == 0 {
            return data.get(at..);
        }
        // Each extension header: a length in 4-byte units, content, the next type last.
        let len = usize::from(*data.get(at)?) * 4;
        if len == 0 {
            return None;
        }
        at = at.checked_add(len)?;
        next = *data.get(at.checked_sub(1)?)?;
    }
    None
}

/// The PPP frame of an L2TPv2 data message (RFC 2661 section 3.1).
fn l2tp_payload(data: &[u8]) -> Option<&[u8]> {
    let flags = be16(data, 0)?;
    // Data messages only (T clear), version 2.
    if flags & 0x8000 != 0 || flags & 0x000f != 2 {
        return None;
    }
    let mut at = 2 + 4; // tunnel and session ids
    if flags & 0x4000 != 0 {
        at += 2; // length
    }
    if flags & 0x0800 != 0 {
        at += 4; // Ns and Nr
    }
    if flags & 0x0200 != 0 {
        let offset = usize::from(be16(data, at)?);
        at += 2 + offset;
    }
    data.get(at..)
}

/// GRE (RFC 2784, RFC 2890, and the enhanced GRE of PPTP, RFC 2637), with ERSPAN.
fn decode_gre(data: &[u8], depth: u8) -> Decoded<'_> {
    let (Some(flags), Some(protocol)) = (be16(data, 0), be16(data, 2)) else {
        return Decoded::fail(Undecoded::BadLinkHeader, true);
    };
    let version = flags & 0x7;
    let mut at = 4;
    if flags & 0x8000 != 0 || (version == 0 && flags & 0x4000 != 0) {
        at += 4; // checksum and offset
    }
    if flags & 0x2000 != 0 {
        at += 4; // key (PPTP: payload length and call id)
    }
    let sequenced = flags & 0x1000 != 0;
    if sequenced {
        at += 4;
    }
    if version == 1 && flags & 0x0080 != 0 {
        at += 4; // PPTP acknowledgment number
    }
    let body = rest(data, at);
    match protocol {
        // ERSPAN type II has an 8-byte header and a sequence number; type I has neither.
        0x88be => link::decode_ethernet(rest(body, if sequenced { 8 } else { 0 }), depth),
        // ERSPAN type III: 12 bytes, plus an 8-byte platform subheader when O is set.
        0x22eb => {
            let Some(last) = be16(body, 10) else {
                return Decoded::fail(Undecoded::BadLinkHeader, true);
            };
            link::decode_ethernet(rest(body, if last & 1 != 0 { 20 } else { 12 }), depth)
        }
        0x880b => link::decode_ppp(body, depth),
        ether_type => link::decode_ethertype(ether_type, body, depth),
    }
}
