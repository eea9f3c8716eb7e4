//! Builders of IP packets and of the link-layer and tunnel headers around them, so tests
//! can put a TCP segment inside any encapsulation the capture crate decodes.
//!
//! IP packets come from etherparse's `PacketBuilder`; the wrappers are written here from
//! each header's specification. Every function returns the bytes; wrap them in turn:
//!
//! ```
//! use netanalysis_test_support::frames;
//! let segment = frames::tcp_v4([10, 0, 0, 1], [10, 0, 0, 2], 40000, 80, 1, b"GET /");
//! let frame = frames::ethernet_vlan(&[100, 200], frames::ETHERTYPE_IPV4, &segment);
//! assert_eq!(frame.len(), 14 + 8 + segment.len());
//! ```

use etherparse::{IpNumber, Ipv4Header, PacketBuilder};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of MPLS unicast.
pub const ETHERTYPE_MPLS: u16 = 0x8847;
/// EtherType of PPPoE sessions.
pub const ETHERTYPE_PPPOE: u16 = 0x8864;

/// A TCP segment (ACK and PSH set, ack number 1) in an IPv4 packet.
pub fn tcp_v4(src: [u8; 4], dst: [u8; 4], src_port: u16, dst_port: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ipv4(src, dst, 64).tcp(src_port, dst_port, seq, 65535).ack(1).psh();
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("writing to a Vec cannot fail");
    out
}

/// A TCP segment (ACK and PSH set, ack number 1) in an IPv6 packet.
pub fn tcp_v6(src: [u8; 16], dst: [u8; 16], src_port: u16, dst_port: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ipv6(src, dst, 64).tcp(src_port, dst_port, seq, 65535).ack(1).psh();
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("writing to a Vec cannot fail");
    out
}

/// A UDP datagram in an IPv4 packet.
pub fn udp_v4(src: [u8; 4], dst: [u8; 4], src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ipv4(src, dst, 64).udp(src_port, dst_port);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("writing to a Vec cannot fail");
    out
}

/// An IPv4 packet carrying `payload` as protocol `protocol` (for tunnels: 4, 41, 47...).
pub fn ip_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("payload fits an IPv4 packet");
    let mut header = Ipv4Header::new(len, 64, IpNumber(protocol), src, dst).expect("payload fits an IPv4 packet");
    header.header_checksum = header.calc_header_checksum();
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// An IPv6 packet carrying `payload` with next header `next_header`.
pub fn ip_v6(src: [u8; 16], dst: [u8; 16], next_header: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("payload fits an IPv6 packet");
    let mut out = vec![0x60, 0, 0, 0];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[next_header, 64]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    out.extend_from_slice(payload);
    out
}

/// Splits an IPv4 packet (without options) into fragments of at most `chunk` payload
/// bytes (rounded down to a multiple of 8), with identification `id`.
pub fn ipv4_fragments(packet: &[u8], chunk: usize, id: u16) -> Vec<Vec<u8>> {
    let header_len = usize::from(packet[0] & 0xf) * 4;
    let payload = &packet[header_len..];
    let chunk = (chunk / 8).max(1) * 8;
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < payload.len() {
        let end = (offset + chunk).min(payload.len());
        let more = end < payload.len();
        let mut fragment = packet[..header_len].to_vec();
        let total = u16::try_from(header_len + end - offset).expect("fragment fits");
        fragment[2..4].copy_from_slice(&total.to_be_bytes());
        fragment[4..6].copy_from_slice(&id.to_be_bytes());
        let field = u16::try_from(offset / 8).expect("offset fits") | if more { 0x2000 } else { 0 };
        fragment[6..8].copy_from_slice(&field.to_be_bytes());
        fragment[10..12].copy_from_slice(&[0, 0]);
        let checksum = internet_checksum(&fragment[..header_len]);
        fragment[10..12].copy_from_slice(&checksum.to_be_bytes());
        fragment.extend_from_slice(&payload[offset..end]);
        out.push(fragment);
        offset = end;
    }
    out
}

/// The Internet checksum of `bytes` (RFC 1071; an odd last byte padded with zero).
pub(crate) fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Splits an IPv6 packet (without extension headers) into fragments of at most `chunk`
/// payload bytes (rounded down to a multiple of 8), each with a fragment header.
pub fn ipv6_fragments(packet: &[u8], chunk: usize, id: u32) -> Vec<Vec<u8>> {
    let next_header = packet[6];
    let payload = &packet[40..];
    let chunk = (chunk / 8).max(1) * 8;
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < payload.len() {
        let end = (offset + chunk).min(payload.len());
        let more = end < payload.len();
        let mut fragment = packet[..40].to_vec();
        let len = u16::try_from(8 + end - offset).expect("fragment fits");
        fragment[4..6].copy_from_slice(&len.to_be_bytes());
        fragment[6] = 44;
        let field = u16::try_from(offset).expect("offset fits") | u16::from(more);
        fragment.extend_from_slice(&[next_header, 0]);
        fragment.extend_from_slice(&field.to_be_bytes());
        fragment.extend_from_slice(&id.to_be_bytes());
        fragment.extend_from_slice(&payload[offset..end]);
        out.push(fragment);
        offset = end;
    }
    out
}

/// An Ethernet II frame.
pub fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An Ethernet II frame padded with zeros to `len` bytes (60 is Ethernet's minimum).
pub fn ethernet_padded(ether_type: u16, payload: &[u8], len: usize) -> Vec<u8> {
    let mut out = ethernet(ether_type, payload);
    if out.len() < len {
        out.resize(len, 0);
    }
    out
}

/// An Ethernet frame with VLAN tags, outermost first: one tag is 802.1Q (0x8100), the
/// outer tags of a stack are 802.1ad (0x88a8).
pub fn ethernet_vlan(vlan_ids: &[u16], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, id) in vlan_ids.iter().enumerate() {
        let next = if i + 1 == vlan_ids.len() { ether_type } else { 0x8100 };
        body.extend_from_slice(&(id & 0x0fff).to_be_bytes());
        body.extend_from_slice(&next.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let outer = match vlan_ids.len() {
        0 => ether_type,
        1 => 0x8100,
        _ => 0x88a8,
    };
    ethernet(outer, &body)
}

/// An IEEE 802.3 frame with LLC/SNAP carrying `ether_type`.
pub fn ethernet_snap(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let body = snap(ether_type, payload);
    ethernet(u16::try_from(body.len()).expect("802.3 frames are short"), &body)
}

fn snap(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xaa, 0xaa, 0x03, 0, 0, 0];
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Linux cooked capture v1 (LINKTYPE_LINUX_SLL).
pub fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2).
pub fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = protocol.to_be_bytes().to_vec();
    out.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// BSD loopback (LINKTYPE_NULL when `big_endian` is false on a little-endian host,
/// LINKTYPE_LOOP when true) with address family `family` (2 for IPv4, 24/28/30 for IPv6).
pub fn null(family: u32, big_endian: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = if big_endian { family.to_be_bytes().to_vec() } else { family.to_le_bytes().to_vec() };
    out.extend_from_slice(payload);
    out
}

/// PPP in HDLC-like framing (FF 03, then a 2-byte protocol: 0x0021 IPv4, 0x0057 IPv6).
pub fn ppp(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff, 0x03];
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Cisco HDLC with an EtherType.
pub fn chdlc(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0f, 0x00];
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A Linux NFLOG record (little-endian TLVs): a prefix TLV, then the packet (type 9).
pub fn nflog(family: u8, packet: &[u8]) -> Vec<u8> {
    let mut out = vec![family, 0, 0, 0];
    let prefix = b"netanalysis\0";
    tlv(&mut out, 10, prefix);
    tlv(&mut out, 9, packet);
    out
}

fn tlv(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = u16::try_from(4 + value.len()).expect("TLV fits");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// An FDDI frame with LLC/SNAP carrying `ether_type`.
pub fn fddi(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x50, 1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1];
    out.extend_from_slice(&snap(ether_type, payload));
    out
}

/// An ARCNET frame as Linux captures it, with RFC 1201 protocol type `kind` (0xd4 IPv4,
/// 0xc4 IPv6), split flag and sequence number.
pub fn arcnet_linux(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x01, 0x02, 0, 0, kind, 0, 0, 1];
    out.extend_from_slice(payload);
    out
}

/// An IEEE 802.11 QoS data frame (to the access point) with LLC/SNAP, behind a minimal
/// radiotap header (8 bytes, no fields).
pub fn radiotap_80211(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 0, 0, 0, 0, 0];
    out.extend_from_slice(&ieee80211(ether_type, payload));
    out
}

/// An IEEE 802.11 QoS data frame (to the access point) with LLC/SNAP.
pub fn ieee80211(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    // Frame control: type data (2), subtype QoS data (8); flags: to DS.
    let mut out = vec![0x88, 0x01, 0, 0];
    out.extend_from_slice(&[2, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 3, 0x10, 0]);
    out.extend_from_slice(&[0, 0]); // QoS control
    out.extend_from_slice(&snap(ether_type, payload));
    out
}

/// A PPPoE session header and PPP protocol field (IPv4) before an IPv4 packet; put it in
/// [`ethernet`] with [`ETHERTYPE_PPPOE`].
pub fn pppoe_ipv4(packet: &[u8]) -> Vec<u8> {
    let len = u16::try_from(packet.len() + 2).expect("PPPoE payload fits");
    let mut out = vec![0x11, 0x00, 0x12, 0x34];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0x00, 0x21]);
    out.extend_from_slice(packet);
    out
}

/// An MPLS label stack (outermost first) before `payload`.
pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let bottom = if i + 1 == labels.len() { 0x100 } else { 0 };
        out.extend_from_slice(&((label << 12) | bottom | 64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A GRE header (RFC 2784, with a key) carrying `protocol` (an EtherType).
pub fn gre(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x20, 0x00];
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 42]);
    out.extend_from_slice(payload);
    out
}

/// GRE with a sequence number carrying ERSPAN type II and an Ethernet frame.
pub fn gre_erspan2(ethernet_frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
    out.extend_from_slice(&[0x10, 0x00, 0x00, 0x01, 0, 0, 0, 0]);
    out.extend_from_slice(ethernet_frame);
    out
}

/// GRE with a sequence number carrying ERSPAN type III (with the optional platform
/// subheader) and an Ethernet frame.
pub fn gre_erspan3(ethernet_frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1];
    out.extend_from_slice(&[0x20, 0x00, 0x00, 0x01, 0, 0, 0, 9, 0, 0, 0, 1]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(ethernet_frame);
    out
}

/// A VXLAN header (VNI 42) before an Ethernet frame; send it over UDP port 4789.
pub fn vxlan(ethernet_frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    out.extend_from_slice(ethernet_frame);
    out
}

/// A Teredo origin indication before an IPv6 packet; send it over UDP port 3544.
pub fn teredo(ipv6_packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x1f, 0x90, 0xff, 0xff, 0xff, 0xfe];
    out.extend_from_slice(ipv6_packet);
    out
}
