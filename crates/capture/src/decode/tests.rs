//! One test per link layer and encapsulation, on frames built here around a TCP segment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::PacketBuilder;
use netanalysis_core::{LinkType, Transport};

use super::*;

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

fn tcp_v4() -> Vec<u8> {
    let builder = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 80, 7, 1000).ack(9).psh();
    let mut out = Vec::new();
    builder.write(&mut out, PAYLOAD).unwrap();
    out
}

fn tcp_v6() -> Vec<u8> {
    let builder = PacketBuilder::ipv6([0xfe; 16], [0xfd; 16], 64).tcp(40000, 80, 7, 1000).ack(9);
    let mut out = Vec::new();
    builder.write(&mut out, PAYLOAD).unwrap();
    out
}

fn udp_v4(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64).udp(src_port, dst_port);
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

fn ip_v4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(20 + payload.len()).unwrap();
    let mut out = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, protocol, 0, 0, 172, 16, 0, 1, 172, 16, 0, 2];
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    cat(&[&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], &ether_type.to_be_bytes(), payload])
}

/// Asserts the frame decodes to the TCP segment of [`tcp_v4`].
#[track_caller]
fn assert_tcp_v4(decoded: &Decoded<'_>) {
    let ip = decoded.ip.expect("an IP header");
    assert_eq!(ip.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(ip.dst, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    match decoded.transport {
        Transport::Tcp(h) => {
            assert_eq!((h.src_port, h.dst_port, h.seq, h.ack), (40000, 80, 7, 9));
            assert!(h.flags.ack());
        }
        other => panic!("expected TCP, got {other:?}"),
    }
    assert_eq!(decoded.payload, PAYLOAD);
    assert!(!decoded.truncated);
    assert_eq!(decoded.undecoded, None);
}

#[track_caller]
fn assert_tcp_v6(decoded: &Decoded<'_>) {
    let ip = decoded.ip.expect("an IP header");
    assert_eq!(ip.src, IpAddr::V6(Ipv6Addr::from([0xfe; 16])));
    assert!(matches!(decoded.transport, Transport::Tcp(h) if h.dst_port == 80));
    assert_eq!(decoded.payload, PAYLOAD);
}

#[test]
fn ethernet_ipv4_tcp() {
    let frame = ethernet(0x0800, &tcp_v4());
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &frame));
}

#[test]
fn ethernet_padding_is_cut_at_the_ip_length() {
    let mut frame = ethernet(0x0800, &tcp_v4());
    frame.extend_from_slice(&[0xee; 20]);
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &frame));
}

#[test]
fn ethernet_ipv6_tcp() {
    let frame = ethernet(0x86dd, &tcp_v6());
    assert_tcp_v6(&decode_frame(LinkType::ETHERNET, &frame));
}

#[test]
fn ethernet_vlan_and_qinq() {
    let single = ethernet(0x8100, &cat(&[&[0, 100, 0x08, 0x00], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &single));
    let double = ethernet(0x88a8, &cat(&[&[0, 10, 0x81, 0x00], &[0, 20, 0x08, 0x00], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &double));
}

#[test]
fn ethernet_8023_llc_snap() {
    let body = cat(&[&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &tcp_v4()]);
    let frame = ethernet(u16::try_from(body.len()).unwrap(), &body);
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &frame));
}

#[test]
fn vlan_tag_followed_by_an_llc_length() {
    let llc = cat(&[&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &tcp_v4()]);
    let len = u16::try_from(llc.len()).unwrap().to_be_bytes();
    let frame = ethernet(0x8100, &cat(&[&[0, 5], &len, &llc]));
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &frame));
}

#[test]
fn ethernet_arp_is_not_ip() {
    let frame = ethernet(0x0806, &[0; 28]);
    let decoded = decode_frame(LinkType::ETHERNET, &frame);
    assert_eq!(decoded.undecoded, Some(Undecoded::NotIp));
    assert!(decoded.ip.is_none());
}

#[test]
fn linux_sll_and_sll2() {
    let sll = cat(&[&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00], &tcp_v4()]);
    assert_tcp_v4(&decode_frame(LinkType::LINUX_SLL, &sll));
    let sll2 = cat(&[&[0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0], &tcp_v6()]);
    assert_tcp_v6(&decode_frame(LinkType::LINUX_SLL2, &sll2));
}

#[test]
fn null_and_loop_in_both_byte_orders() {
    assert_tcp_v4(&decode_frame(LinkType::NULL, &cat(&[&2u32.to_le_bytes(), &tcp_v4()])));
    assert_tcp_v4(&decode_frame(LinkType::NULL, &cat(&[&2u32.to_be_bytes(), &tcp_v4()])));
    for family in [24u32, 28, 30] {
        assert_tcp_v6(&decode_frame(LinkType::NULL, &cat(&[&family.to_le_bytes(), &tcp_v6()])));
    }
    assert_tcp_v4(&decode_frame(LinkType::LOOP, &cat(&[&2u32.to_be_bytes(), &tcp_v4()])));
    let frame = cat(&[&99u32.to_le_bytes(), &tcp_v4()]);
    let unknown = decode_frame(LinkType::NULL, &frame);
    assert_eq!(unknown.undecoded, Some(Undecoded::NotIp));
}

#[test]
fn raw_ipv4_and_ipv6_link_types() {
    assert_tcp_v4(&decode_frame(LinkType::RAW, &tcp_v4()));
    assert_tcp_v6(&decode_frame(LinkType::RAW, &tcp_v6()));
    assert_tcp_v4(&decode_frame(LinkType::IPV4, &tcp_v4()));
    assert_tcp_v6(&decode_frame(LinkType::IPV6, &tcp_v6()));
    assert_eq!(decode_frame(LinkType::IPV4, &tcp_v6()).undecoded, Some(Undecoded::BadIpHeader));
}

#[test]
fn ppp_with_and_without_address_control_and_compressed_protocol() {
    assert_tcp_v4(&decode_frame(LinkType::PPP, &cat(&[&[0xff, 0x03, 0x00, 0x21], &tcp_v4()])));
    assert_tcp_v4(&decode_frame(LinkType::PPP, &cat(&[&[0x00, 0x21], &tcp_v4()])));
    assert_tcp_v4(&decode_frame(LinkType::PPP, &cat(&[&[0x21], &tcp_v4()])));
    assert_tcp_v6(&decode_frame(LinkType::PPP, &cat(&[&[0xff, 0x03, 0x00, 0x57], &tcp_v6()])));
    let lcp = decode_frame(LinkType::PPP, &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4]);
    assert_eq!(lcp.undecoded, Some(Undecoded::NotIp));
}

#[test]
fn cisco_hdlc() {
    assert_tcp_v4(&decode_frame(LinkType::C_HDLC, &cat(&[&[0x0f, 0x00, 0x08, 0x00], &tcp_v4()])));
    let slarp = decode_frame(LinkType::C_HDLC, &[0x8f, 0x00, 0x80, 0x35, 0, 0, 0, 0]);
    assert_eq!(slarp.undecoded, Some(Undecoded::NotIp));
}

fn nflog(packet: &[u8], big_endian: bool) -> Vec<u8> {
    let mut out = vec![2, 0, 0, 0];
    let mut tlv = |kind: u16, value: &[u8]| {
        let len = u16::try_from(4 + value.len()).unwrap();
        if big_endian {
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&kind.to_be_bytes());
        } else {
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
        }
        out.extend_from_slice(value);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    tlv(1, &[0x08, 0x00, 3, 0]);
    tlv(10, b"prefix\0");
    tlv(9, packet);
    out
}

#[test]
fn nflog_tlvs_in_either_byte_order() {
    assert_tcp_v4(&decode_frame(LinkType::NFLOG, &nflog(&tcp_v4(), false)));
    assert_tcp_v4(&decode_frame(LinkType::NFLOG, &nflog(&tcp_v4(), true)));
    let no_packet = decode_frame(LinkType::NFLOG, &[2, 0, 0, 0, 8, 0, 1, 0, 8, 0, 3, 0]);
    assert_eq!(no_packet.undecoded, Some(Undecoded::NotIp));
}

#[test]
fn fddi_llc_snap() {
    let frame = cat(&[&[0x50, 1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &tcp_v4()]);
    assert_tcp_v4(&decode_frame(LinkType::FDDI, &frame));
}

#[test]
fn arcnet_linux_new_and_old_types() {
    assert_tcp_v4(&decode_frame(LinkType::ARCNET_LINUX, &cat(&[&[1, 2, 0, 0, 0xd4, 0, 0, 1], &tcp_v4()])));
    assert_tcp_v4(&decode_frame(LinkType::ARCNET_LINUX, &cat(&[&[1, 2, 0, 0, 0xf0], &tcp_v4()])));
    let arp = decode_frame(LinkType::ARCNET_LINUX, &[1, 2, 0, 0, 0xd5, 0, 0, 1, 0, 0]);
    assert_eq!(arp.undecoded, Some(Undecoded::NotIp));
}

fn wifi_qos_data(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x88, flags, 0, 0];
    out.extend_from_slice(&[2, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 3, 0x10, 0]);
    if flags & 0x3 == 0x3 {
        out.extend_from_slice(&[2, 0, 0, 0, 0, 4]);
    }
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
    out.extend_from_slice(body);
    out
}

#[test]
fn ieee80211_with_and_without_radiotap() {
    assert_tcp_v4(&decode_frame(LinkType::IEEE802_11, &wifi_qos_data(0x01, &tcp_v4())));
    assert_tcp_v4(&decode_frame(LinkType::IEEE802_11, &wifi_qos_data(0x03, &tcp_v4())));
    let radiotap = cat(&[&[0, 0, 12, 0, 0x02, 0, 0, 0, 0x10, 0, 0, 0], &wifi_qos_data(0x01, &tcp_v4())]);
    assert_tcp_v4(&decode_frame(LinkType::IEEE802_11_RADIOTAP, &radiotap));
    let frame = wifi_qos_data(0x41, &tcp_v4());
    let protected = decode_frame(LinkType::IEEE802_11, &frame);
    assert_eq!(protected.undecoded, Some(Undecoded::NotIp));
    let beacon = decode_frame(LinkType::IEEE802_11, &[0x80, 0, 0, 0]);
    assert_eq!(beacon.undecoded, Some(Undecoded::NotIp));
}

#[test]
fn ieee80211_behind_ppi_prism_and_avs() {
    let wifi = wifi_qos_data(0x01, &tcp_v4());
    let ppi = cat(&[&[0, 0, 8, 0, 105, 0, 0, 0], &wifi]);
    assert_tcp_v4(&decode_frame(LinkType(192), &ppi));
    let mut prism = vec![0u8; 144];
    prism[4..8].copy_from_slice(&144u32.to_le_bytes());
    assert_tcp_v4(&decode_frame(LinkType(119), &cat(&[&prism, &wifi])));
    let mut avs = vec![0u8; 64];
    avs[4..8].copy_from_slice(&64u32.to_be_bytes());
    assert_tcp_v4(&decode_frame(LinkType(163), &cat(&[&avs, &wifi])));
}

#[test]
fn pppoe_session_with_full_and_compressed_protocol() {
    let full = ethernet(0x8864, &cat(&[&[0x11, 0, 0x12, 0x34, 0, 0, 0x00, 0x21], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &full));
    let compressed = ethernet(0x8864, &cat(&[&[0x11, 0, 0x12, 0x34, 0, 0, 0x21], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &compressed));
}

#[test]
fn mpls_label_stacks() {
    let two_labels = cat(&[&[0, 1, 0, 64], &[0, 2, 1, 64], &tcp_v4()]);
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &ethernet(0x8847, &two_labels)));
    // Ethernet over MPLS with a control word.
    let pseudowire = cat(&[&[0, 3, 1, 64], &[0, 0, 0, 0], &ethernet(0x0800, &tcp_v4())]);
    assert_tcp_v4(&decode_frame(LinkType::ETHERNET, &ethernet(0x8847, &pseudowire)));
    let endless = ethernet(0x8847, &[0; 200]);
    assert_eq!(decode_frame(LinkType::ETHERNET, &endless).undecoded, Some(Undecoded::NotIp));
}

#[test]
fn gre_and_erspan() {
    let plain = ip_v4(47, &cat(&[&[0x20, 0, 0x08, 0x00, 0, 0, 0, 1], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &plain));
    let inner = ethernet(0x0800, &tcp_v4());
    let erspan1 = ip_v4(47, &cat(&[&[0, 0, 0x88, 0xbe], &inner]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &erspan1));
    let erspan2 = ip_v4(47, &cat(&[&[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1], &[0x10, 0, 0, 1, 0, 0, 0, 0], &inner]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &erspan2));
    let erspan3 = ip_v4(
        47,
        &cat(&[&[0x10, 0, 0x22, 0xeb, 0, 0, 0, 1], &[0x20, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1], &[0; 8], &inner]),
    );
    assert_tcp_v4(&decode_frame(LinkType::RAW, &erspan3));
    // PPTP's enhanced GRE carrying PPP.
    let pptp = ip_v4(
        47,
        &cat(&[&[0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 4, 0xff, 0x03, 0, 0x21], &tcp_v4()]),
    );
    assert_tcp_v4(&decode_frame(LinkType::RAW, &pptp));
}

#[test]
fn gre_carrying_something_else_stays_gre() {
    let frame = ip_v4(47, &[0, 0, 0x08, 0x06, 0, 0, 0, 0]);
    let decoded = decode_frame(LinkType::RAW, &frame);
    assert_eq!(decoded.transport, Transport::Other(47));
    assert_eq!(decoded.ip.unwrap().src, IpAddr::V4(Ipv4Addr::new(172, 16, 0, 1)));
}

#[test]
fn ip_in_ip_and_ipv6_in_ipv4() {
    assert_tcp_v4(&decode_frame(LinkType::RAW, &ip_v4(4, &tcp_v4())));
    assert_tcp_v6(&decode_frame(LinkType::RAW, &ip_v4(41, &tcp_v6())));
}

#[test]
fn vxlan_and_teredo() {
    let vxlan = udp_v4(50000, 4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], &ethernet(0x0800, &tcp_v4())]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &vxlan));
    let teredo = udp_v4(3544, 50000, &cat(&[&[0, 0, 0x1f, 0x90, 1, 2, 3, 4], &tcp_v6()]));
    assert_tcp_v6(&decode_frame(LinkType::RAW, &teredo));
    let bare_teredo = udp_v4(3544, 50000, &tcp_v6());
    assert_tcp_v6(&decode_frame(LinkType::RAW, &bare_teredo));
    // Not a Teredo packet after all: the UDP datagram stands.
    let not_teredo = udp_v4(3544, 50000, b"hello");
    let decoded = decode_frame(LinkType::RAW, &not_teredo);
    assert!(matches!(decoded.transport, Transport::Udp(h) if h.src_port == 3544));
    assert_eq!(decoded.payload, b"hello");
}

#[test]
fn geneve_gtp_u_and_l2tp() {
    let geneve =
        udp_v4(50000, 6081, &cat(&[&[0x01, 0, 0x65, 0x58, 0, 0, 42, 0], &[0; 4], &ethernet(0x0800, &tcp_v4())]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &geneve));
    let gtp = udp_v4(2152, 2152, &cat(&[&[0x30, 0xff, 0, 0, 0, 0, 0, 1], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &gtp));
    // With a sequence number and one extension header (PDU session container).
    let gtp_ext =
        udp_v4(2152, 2152, &cat(&[&[0x36, 0xff, 0, 0, 0, 0, 0, 1], &[0, 1, 0, 0x85], &[1, 0x10, 9, 0], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &gtp_ext));
    let l2tp = udp_v4(1701, 1701, &cat(&[&[0x40, 0x02, 0, 0, 0, 1, 0, 2], &[0xff, 0x03, 0, 0x21], &tcp_v4()]));
    assert_tcp_v4(&decode_frame(LinkType::RAW, &l2tp));
    let l2tp_control = udp_v4(1701, 1701, &[0xc8, 0x02, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(decode_frame(LinkType::RAW, &l2tp_control).transport, Transport::Udp(_)));
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let tcp = tcp_v6();
    // Insert a hop-by-hop header (8 bytes) and a destination options header (8 bytes).
    let mut packet = tcp[..40].to_vec();
    let len = u16::from_be_bytes([packet[4], packet[5]]) + 16;
    packet[4..6].copy_from_slice(&len.to_be_bytes());
    packet[6] = 0;
    packet.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    packet.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    packet.extend_from_slice(&tcp[40..]);
    assert_tcp_v6(&decode_frame(LinkType::RAW, &packet));
}

#[test]
fn ipv4_fragment_is_reported_not_decoded() {
    let mut packet = tcp_v4();
    packet[6] = 0x20; // more fragments
    let decoded = decode_frame(LinkType::RAW, &packet);
    let fragment = decoded.fragment.expect("a fragment");
    assert_eq!((fragment.offset, fragment.more, fragment.protocol), (0, true, 6));
    assert_eq!(decoded.transport, Transport::None);
}

#[test]
fn udp_payload_is_cut_at_the_udp_length() {
    let mut packet = udp_v4(1000, 53, b"query");
    packet[24..26].copy_from_slice(&10u16.to_be_bytes()); // UDP length: header + 2 bytes
    let decoded = decode_frame(LinkType::RAW, &packet);
    assert_eq!(decoded.payload, b"qu");
}

#[test]
fn truncated_frame_reports_what_is_missing() {
    let frame = ethernet(0x0800, &tcp_v4());
    let cut = &frame[..frame.len() - 5];
    let decoded = decode_frame(LinkType::ETHERNET, cut);
    assert!(decoded.truncated);
    assert_eq!(decoded.uncaptured, 5);
    assert_eq!(decoded.payload, &PAYLOAD[..PAYLOAD.len() - 5]);
    assert!(matches!(decoded.transport, Transport::Tcp(_)));
    // Cut inside the TCP header: IP is known, the transport is not.
    let inside = decode_frame(LinkType::ETHERNET, &frame[..14 + 20 + 10]);
    assert!(inside.truncated && inside.ip.is_some() && inside.transport == Transport::None);
    // Cut inside the IP header.
    let ip_cut = decode_frame(LinkType::ETHERNET, &frame[..14 + 10]);
    assert_eq!(ip_cut.undecoded, Some(Undecoded::BadIpHeader));
    assert!(ip_cut.truncated);
}

#[test]
fn unsupported_link_type_is_named() {
    let decoded = decode_frame(LinkType(147), &[1, 2, 3]);
    assert_eq!(decoded.undecoded, Some(Undecoded::UnsupportedLinkType));
    assert!(!is_supported(LinkType(147)));
    assert!(is_supported(LinkType::ETHERNET));
}

#[test]
fn every_prefix_of_every_frame_decodes_without_panic() {
    let frames: Vec<(LinkType, Vec<u8>)> = vec![
        (LinkType::ETHERNET, ethernet(0x8100, &cat(&[&[0, 100, 0x08, 0x00], &tcp_v4()]))),
        (LinkType::ETHERNET, ethernet(0x8847, &cat(&[&[0, 3, 1, 64], &[0, 0, 0, 0], &ethernet(0x0800, &tcp_v4())]))),
        (LinkType::RAW, udp_v4(3544, 50000, &cat(&[&[0, 1, 2, 2, 1, 2, 3, 4], &[0; 9], &tcp_v6()]))),
        (LinkType::RAW, udp_v4(50000, 4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], &ethernet(0x0800, &tcp_v4())]))),
        (
            LinkType::RAW,
            udp_v4(2152, 2152, &cat(&[&[0x36, 0xff, 0, 0, 0, 0, 0, 1], &[0, 1, 0, 0x85], &[1, 0x10, 9, 0], &tcp_v4()])),
        ),
        (
            LinkType::RAW,
            udp_v4(6081, 6081, &cat(&[&[0x01, 0, 0x65, 0x58, 0, 0, 42, 0], &[0; 4], &ethernet(0x0800, &tcp_v4())])),
        ),
        (LinkType::NFLOG, nflog(&tcp_v4(), false)),
        (LinkType::IEEE802_11_RADIOTAP, cat(&[&[0, 0, 8, 0, 0, 0, 0, 0], &wifi_qos_data(0x03, &tcp_v4())])),
        (LinkType::LINUX_SLL2, cat(&[&[0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0], &tcp_v6()])),
        (LinkType::ARCNET_LINUX, cat(&[&[1, 2, 0, 0, 0xd4, 0, 0, 1], &tcp_v4()])),
    ];
    for (link_type, frame) in frames {
        for len in 0..=frame.len() {
            let _ = decode_frame(link_type, &frame[..len]);
        }
        // And with each byte flipped.
        for i in 0..frame.len() {
            let mut bent = frame.clone();
            bent[i] ^= 0xff;
            let _ = decode_frame(link_type, &bent);
        }
    }
    for link_type in 0..300 {
        for bytes in [&[][..], &[0xff; 3], &[0x45; 64], &[0x60; 80]] {
            let _ = decode_frame(LinkType(link_type), bytes);
        }
    }
}
