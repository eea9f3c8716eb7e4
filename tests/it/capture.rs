//! The capture reader on captures built here: file formats, link layers, fragments,
//! truncation and every kind of bad file; then on the shared corpus, and live on loopback.

use std::io::{self, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use netanalysis_capture::{CaptureReader, CaptureStats, OpenError, ReadError, Undecoded};
use netanalysis_core::{IpInfo, LinkType, Summary, Timestamp, Transport};
use netanalysis_test_support::{frames, PcapNgWriter, PcapWriter, Resolution, TcpFlow};

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];

/// What a test keeps of a packet once the reader has moved on.
#[derive(Debug, Clone)]
struct Seen {
    number: u64,
    ts: Timestamp,
    interface: u32,
    link_type: LinkType,
    caplen: u32,
    orig_len: u32,
    ip: Option<IpInfo>,
    transport: Transport,
    payload: Vec<u8>,
    uncaptured: u32,
    truncated: bool,
    /// `ip:port` of each end, for TCP and UDP packets.
    endpoints: Option<(String, String)>,
}

struct Run {
    packets: Vec<Seen>,
    error: Option<ReadError>,
    stats: CaptureStats,
    warnings: Vec<String>,
    summary: Summary,
}

fn drain(mut reader: CaptureReader) -> Run {
    let mut packets = Vec::new();
    let error = loop {
        match reader.next_packet() {
            Ok(Some(p)) => packets.push(Seen {
                number: p.number,
                ts: p.ts,
                interface: p.interface,
                link_type: p.link_type,
                caplen: p.caplen,
                orig_len: p.orig_len,
                ip: p.ip,
                transport: p.transport,
                payload: p.payload.to_vec(),
                uncaptured: p.uncaptured,
                truncated: p.truncated,
                endpoints: p.src().zip(p.dst()).map(|(a, b)| (a.to_string(), b.to_string())),
            }),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    // Calls after the end (or an error) keep returning nothing.
    assert!(matches!(reader.next_packet(), Ok(None)));
    let mut summary = Summary::new();
    reader.report(&mut summary);
    let warnings = reader.take_warnings();
    Run { packets, error, stats: reader.stats().clone(), warnings, summary }
}

fn read_bytes(name: &str, bytes: Vec<u8>) -> Run {
    let reader = CaptureReader::from_reader(name, Box::new(io::Cursor::new(bytes))).expect("a capture");
    drain(reader)
}

fn open_error(name: &str, bytes: Vec<u8>) -> OpenError {
    CaptureReader::from_reader(name, Box::new(io::Cursor::new(bytes))).expect_err("not a capture")
}

fn segment(seq: u32, payload: &[u8]) -> Vec<u8> {
    frames::tcp_v4(CLIENT, SERVER, 40000, 80, seq, payload)
}

fn pcap_of(link_type: LinkType, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut pcap = PcapWriter::new(link_type);
    for (i, frame) in frames.iter().enumerate() {
        pcap.record(Timestamp::from_micros(1_700_000_000 + i as u64, 250), frame);
    }
    pcap.into_bytes()
}

#[track_caller]
fn assert_tcp(seen: &Seen, seq: u32, payload: &[u8]) {
    match seen.transport {
        Transport::Tcp(h) => assert_eq!((h.src_port, h.dst_port, h.seq), (40000, 80, seq)),
        other => panic!("packet {} is not TCP: {other:?}", seen.number),
    }
    assert_eq!(seen.payload, payload, "payload of packet {}", seen.number);
    let ip = seen.ip.expect("an IP header");
    assert_eq!(ip.src, IpAddr::from(CLIENT));
    assert_eq!(ip.dst, IpAddr::from(SERVER));
}

#[test]
fn pcap_in_both_byte_orders_and_resolutions() {
    for big_endian in [false, true] {
        for resolution in [Resolution::Micro, Resolution::Nano] {
            let mut pcap = PcapWriter::with_options(LinkType::ETHERNET, resolution, big_endian, 65535);
            let ts = Timestamp::from_nanos(1_700_000_000_123_456_789, 9);
            pcap.record(ts, &frames::ethernet(frames::ETHERTYPE_IPV4, &segment(5, b"hello")));
            pcap.record(ts, &frames::ethernet(frames::ETHERTYPE_IPV4, &segment(10, b"world")));
            let run = read_bytes("order.pcap", pcap.into_bytes());
            assert!(run.error.is_none(), "{:?}", run.error);
            assert_eq!(run.packets.len(), 2);
            assert_eq!(run.packets[0].number, 1);
            assert_eq!(run.packets[1].number, 2);
            assert_tcp(&run.packets[0], 5, b"hello");
            assert_tcp(&run.packets[1], 10, b"world");
            let (nanos, digits) = match resolution {
                Resolution::Micro => (1_700_000_000_123_456_000, 6),
                Resolution::Nano => (1_700_000_000_123_456_789, 9),
            };
            assert_eq!(run.packets[0].ts.as_nanos(), nanos);
            assert_eq!(run.packets[0].ts.digits(), digits);
            assert_eq!(run.packets[0].link_type, LinkType::ETHERNET);
        }
    }
}

#[test]
fn pcap_modified_kuznetzov_format() {
    // Header with magic a1b2cd34; records carry 8 extra bytes (ifindex, protocol, type).
    let mut file = Vec::new();
    file.extend_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    file.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    file.extend_from_slice(&65535u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    for (secs, seq) in [(100u32, 1u32), (101, 2)] {
        let frame = frames::ethernet(frames::ETHERTYPE_IPV4, &segment(seq, b"abc"));
        file.extend_from_slice(&secs.to_le_bytes());
        file.extend_from_slice(&7u32.to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&[1, 0, 0, 0, 0, 8, 0, 0]);
        file.extend_from_slice(&frame);
    }
    let run = read_bytes("modified.pcap", file);
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.packets.len(), 2);
    assert_tcp(&run.packets[1], 2, b"abc");
    assert_eq!(run.packets[1].ts.as_nanos(), 101_000_007_000);
}

#[test]
fn pcapng_sections_interfaces_link_types_and_resolutions() {
    let mut file = PcapNgWriter::new(false);
    file.interface(LinkType::ETHERNET, Some(9))
        .interface(LinkType::LINUX_SLL, None)
        .interface(LinkType::RAW, Some(0x80 | 20))
        .block(0x0bad, b"a block readers skip")
        .packet(0, 1_700_000_000_000_000_001, &frames::ethernet(frames::ETHERTYPE_IPV4, &segment(1, b"eth")))
        .packet(1, 1_700_000_000_000_001, &frames::sll(frames::ETHERTYPE_IPV4, &segment(2, b"sll")))
        .packet(2, 3 << 19, &segment(3, b"raw"))
        .simple_packet(&frames::ethernet(frames::ETHERTYPE_IPV4, &segment(4, b"spb")));
    // A second section, big-endian, whose interface 0 is NULL/loopback.
    file.section(true).interface(LinkType::NULL, Some(6)).packet(
        0,
        5_000_000,
        &frames::null(2, false, &segment(5, b"null")),
    );
    let run = read_bytes("multi.pcapng", file.into_bytes());
    assert!(run.error.is_none(), "{:?}", run.error);
    let numbers: Vec<u64> = run.packets.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    let link_types: Vec<LinkType> = run.packets.iter().map(|p| p.link_type).collect();
    assert_eq!(
        link_types,
        [LinkType::ETHERNET, LinkType::LINUX_SLL, LinkType::RAW, LinkType::ETHERNET, LinkType::NULL]
    );
    for (packet, (seq, payload)) in
        run.packets.iter().zip([(1, &b"eth"[..]), (2, b"sll"), (3, b"raw"), (4, b"spb"), (5, b"null")])
    {
        assert_tcp(packet, seq, payload);
    }
    assert_eq!((run.packets[0].ts.as_nanos(), run.packets[0].ts.digits()), (1_700_000_000_000_000_001, 9));
    assert_eq!((run.packets[1].ts.as_nanos(), run.packets[1].ts.digits()), (1_700_000_000_000_001_000, 6));
    assert_eq!(run.packets[2].ts.as_nanos(), 1_500_000_000);
    assert_eq!(run.packets[4].ts.as_nanos(), 5_000_000_000);
    // Interfaces are numbered across sections, as tshark numbers them.
    let interfaces: Vec<u32> = run.packets.iter().map(|p| p.interface).collect();
    assert_eq!(interfaces, [0, 1, 2, 0, 3]);
}

#[test]
fn pcapng_packet_on_an_undescribed_interface_is_counted() {
    let mut file = PcapNgWriter::new(false);
    file.interface(LinkType::ETHERNET, None).packet(5, 0, &[0; 20]).packet(0, 0, &[0; 20]);
    let run = read_bytes("ghost.pcapng", file.into_bytes());
    assert!(run.error.is_none());
    assert_eq!(run.packets.len(), 2);
    assert_eq!(run.stats.undecoded(Undecoded::UnknownInterface), 1);
    assert_eq!(run.summary.count("packets_undecoded_unknown_interface"), 1);
}

/// A reader that returns a few bytes at a time, as a pipe from tcpdump does.
struct Dribble {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn stdin_like_stream_delivers_short_reads() {
    let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
    flow.handshake().send(netanalysis_test_support::Side::Client, b"GET / HTTP/1.0\r\n\r\n").close();
    let expected = flow.frames().len();
    for file in [flow.to_pcap(), {
        let mut ng = PcapNgWriter::new(false);
        ng.interface(LinkType::ETHERNET, None);
        for (ts, frame) in flow.frames() {
            ng.packet(0, ts.as_nanos() / 1000, frame);
        }
        ng.into_bytes()
    }] {
        let reader = CaptureReader::from_reader("-", Box::new(Dribble { data: file, at: 0, step: 0 })).unwrap();
        let run = drain(reader);
        assert!(run.error.is_none(), "{:?}", run.error);
        assert_eq!(run.packets.len(), expected);
        assert_eq!(run.packets[3].payload, b"GET / HTTP/1.0\r\n\r\n");
    }
}

#[test]
fn vlan_qinq_and_ipv6_frames() {
    let v6 = frames::tcp_v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0xfe; 16], 40000, 80, 9, b"six");
    let run = read_bytes(
        "vlan.pcap",
        pcap_of(
            LinkType::ETHERNET,
            &[
                frames::ethernet_vlan(&[42], frames::ETHERTYPE_IPV4, &segment(1, b"one tag")),
                frames::ethernet_vlan(&[10, 20], frames::ETHERTYPE_IPV4, &segment(2, b"two tags")),
                frames::ethernet_vlan(&[7], frames::ETHERTYPE_IPV6, &v6),
                frames::ethernet(frames::ETHERTYPE_IPV6, &v6),
            ],
        ),
    );
    assert_tcp(&run.packets[0], 1, b"one tag");
    assert_tcp(&run.packets[1], 2, b"two tags");
    for packet in &run.packets[2..] {
        assert_eq!(packet.ip.unwrap().src, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(packet.payload, b"six");
    }
}

#[test]
fn every_link_layer_in_a_pcap_file() {
    let ip = segment(77, b"link");
    let eth = frames::ethernet(frames::ETHERTYPE_IPV4, &ip);
    let cases: Vec<(LinkType, Vec<u8>)> = vec![
        (LinkType::ETHERNET, frames::ethernet_padded(frames::ETHERTYPE_IPV4, &ip, 120)),
        (LinkType::ETHERNET, frames::ethernet_snap(frames::ETHERTYPE_IPV4, &ip)),
        (LinkType::ETHERNET, frames::ethernet(frames::ETHERTYPE_PPPOE, &frames::pppoe_ipv4(&ip))),
        (LinkType::ETHERNET, frames::ethernet(frames::ETHERTYPE_MPLS, &frames::mpls(&[16, 17], &ip))),
        (LinkType::LINUX_SLL, frames::sll(frames::ETHERTYPE_IPV4, &ip)),
        (LinkType::LINUX_SLL2, frames::sll2(frames::ETHERTYPE_IPV4, &ip)),
        (LinkType::NULL, frames::null(2, false, &ip)),
        (LinkType::NULL, frames::null(2, true, &ip)),
        (LinkType::LOOP, frames::null(2, true, &ip)),
        (LinkType::RAW, ip.clone()),
        (LinkType::IPV4, ip.clone()),
        (LinkType::PPP, frames::ppp(0x0021, &ip)),
        (LinkType::C_HDLC, frames::chdlc(frames::ETHERTYPE_IPV4, &ip)),
        (LinkType::NFLOG, frames::nflog(2, &ip)),
        (LinkType::FDDI, frames::fddi(frames::ETHERTYPE_IPV4, &ip)),
        (LinkType::ARCNET_LINUX, frames::arcnet_linux(0xd4, &ip)),
        (LinkType::IEEE802_11, frames::ieee80211(frames::ETHERTYPE_IPV4, &ip)),
        (LinkType::IEEE802_11_RADIOTAP, frames::radiotap_80211(frames::ETHERTYPE_IPV4, &ip)),
        // Encapsulations: the innermost IP header gives the addresses.
        (LinkType::RAW, frames::ip_v4([1, 1, 1, 1], [2, 2, 2, 2], 4, &ip)),
        (LinkType::RAW, frames::ip_v4([1, 1, 1, 1], [2, 2, 2, 2], 47, &frames::gre(frames::ETHERTYPE_IPV4, &ip))),
        (LinkType::RAW, frames::ip_v4([1, 1, 1, 1], [2, 2, 2, 2], 47, &frames::gre_erspan2(&eth))),
        (LinkType::RAW, frames::ip_v4([1, 1, 1, 1], [2, 2, 2, 2], 47, &frames::gre_erspan3(&eth))),
        (LinkType::RAW, frames::udp_v4([1, 1, 1, 1], [2, 2, 2, 2], 50000, 4789, &frames::vxlan(&eth))),
    ];
    for (link_type, frame) in &cases {
        let run = read_bytes("link.pcap", pcap_of(*link_type, std::slice::from_ref(frame)));
        assert_eq!(run.packets.len(), 1, "{link_type}");
        assert_tcp(&run.packets[0], 77, b"link");
        assert_eq!(run.packets[0].link_type, *link_type);
    }
    // IPv6 inside Teredo inside IPv4/UDP.
    let v6 = frames::tcp_v6([0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], [0xfe; 16], 40000, 80, 3, b"teredo");
    let run = read_bytes(
        "teredo.pcap",
        pcap_of(LinkType::RAW, &[frames::udp_v4([1, 1, 1, 1], [2, 2, 2, 2], 3544, 3544, &frames::teredo(&v6))]),
    );
    assert_eq!(run.packets[0].payload, b"teredo");
    assert!(matches!(run.packets[0].ip.unwrap().src, IpAddr::V6(_)));
}

#[test]
fn udp_and_other_protocols_reach_the_caller() {
    let udp = frames::udp_v4(CLIENT, SERVER, 5353, 53, b"dns?");
    let icmp = frames::ip_v4(CLIENT, SERVER, 1, &[8, 0, 0, 0, 0, 1, 0, 1]);
    let arp = frames::ethernet(frames::ETHERTYPE_ARP, &[0; 28]);
    let run = read_bytes(
        "mixed.pcap",
        pcap_of(
            LinkType::ETHERNET,
            &[frames::ethernet(frames::ETHERTYPE_IPV4, &udp), frames::ethernet(frames::ETHERTYPE_IPV4, &icmp), arp],
        ),
    );
    assert_eq!(run.packets.len(), 3);
    assert!(matches!(run.packets[0].transport, Transport::Udp(h) if h.src_port == 5353 && h.dst_port == 53));
    assert_eq!(run.packets[0].payload, b"dns?");
    assert_eq!(run.packets[1].transport, Transport::Other(1));
    assert_eq!(run.packets[2].transport, Transport::None);
    assert!(run.packets[2].ip.is_none());
    assert_eq!(run.stats.undecoded(Undecoded::NotIp), 1);
    assert_eq!(run.stats.udp_packets, 1);
}

fn fragment_run(name: &str, fragments: Vec<Vec<u8>>) -> Run {
    let frames: Vec<Vec<u8>> = fragments.iter().map(|f| frames::ethernet(frames::ETHERTYPE_IPV4, f)).collect();
    read_bytes(name, pcap_of(LinkType::ETHERNET, &frames))
}

fn big_payload() -> Vec<u8> {
    (0..3000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn ipv4_fragments_in_order_are_reassembled_on_the_last_one() {
    let payload = big_payload();
    let fragments = frames::ipv4_fragments(&segment(1000, &payload), 1200, 0x1234);
    assert_eq!(fragments.len(), 3);
    let run = fragment_run("frag.pcap", fragments);
    assert_eq!(run.packets.len(), 3);
    for pending in &run.packets[..2] {
        assert_eq!(pending.transport, Transport::None);
        assert!(!pending.ip.unwrap().reassembled);
        assert!(pending.ip.unwrap().fragment, "a fragment that completes nothing says so");
    }
    let whole = &run.packets[2];
    assert_eq!(whole.number, 3);
    assert!(whole.ip.unwrap().reassembled);
    assert!(!whole.ip.unwrap().fragment);
    assert_tcp(whole, 1000, &payload);
    assert_eq!(run.summary.count("ip_fragments_reassembled"), 1);
    assert_eq!(run.summary.count("ip_fragments"), 3);
}

#[test]
fn ipv4_fragments_out_of_order_complete_on_the_last_to_arrive() {
    let payload = big_payload();
    let mut fragments = frames::ipv4_fragments(&segment(1000, &payload), 800, 7);
    fragments.reverse();
    let n = fragments.len();
    let run = fragment_run("reversed.pcap", fragments);
    assert_eq!(run.packets.len(), n);
    assert_tcp(&run.packets[n - 1], 1000, &payload);
    assert!(run.packets[..n - 1].iter().all(|p| p.transport == Transport::None));
}

#[test]
fn overlapping_ipv4_fragments_keep_the_first_copy() {
    let payload = big_payload();
    let fragments = frames::ipv4_fragments(&segment(1000, &payload), 1200, 9);
    // A forged copy of the second fragment with different bytes arrives first... after
    // the original: the original's bytes stay.
    let mut forged = fragments[1].clone();
    for b in &mut forged[20..] {
        *b ^= 0xff;
    }
    let run =
        fragment_run("overlap.pcap", vec![fragments[1].clone(), forged, fragments[0].clone(), fragments[2].clone()]);
    assert_eq!(run.packets.len(), 4);
    assert_tcp(&run.packets[3], 1000, &payload);
    assert_eq!(run.stats.fragments.overlapping, 1);
}

#[test]
fn ipv4_fragments_that_never_complete_are_counted() {
    let fragments = frames::ipv4_fragments(&segment(1000, &big_payload()), 1200, 11);
    let run = fragment_run("incomplete.pcap", vec![fragments[0].clone(), fragments[2].clone()]);
    assert_eq!(run.packets.len(), 2);
    assert!(run.packets.iter().all(|p| p.transport == Transport::None));
    assert_eq!(run.summary.count("ip_fragments_pending"), 1);
    assert_eq!(run.summary.count("ip_fragments_reassembled"), 0);
}

#[test]
fn ipv4_fragments_time_out_in_capture_time() {
    let fragments = frames::ipv4_fragments(&segment(1000, &big_payload()), 1200, 11);
    let mut pcap = PcapWriter::new(LinkType::ETHERNET);
    pcap.record(Timestamp::from_micros(100, 0), &frames::ethernet(frames::ETHERTYPE_IPV4, &fragments[0]));
    pcap.record(Timestamp::from_micros(101, 0), &frames::ethernet(frames::ETHERTYPE_IPV4, &fragments[1]));
    // The last fragment arrives a minute later: the datagram was given up.
    pcap.record(Timestamp::from_micros(170, 0), &frames::ethernet(frames::ETHERTYPE_IPV4, &fragments[2]));
    let run = read_bytes("late.pcap", pcap.into_bytes());
    assert!(run.packets.iter().all(|p| p.transport == Transport::None));
    assert_eq!(run.stats.fragments.timed_out, 1);
    assert!(run.warnings.iter().any(|w| w.contains("could not be reassembled")), "{:?}", run.warnings);
}

#[test]
fn ipv6_fragments_in_and_out_of_order() {
    let payload = big_payload();
    let packet = frames::tcp_v6([0xfd; 16], [0xfe; 16], 40000, 80, 5, &payload);
    for reverse in [false, true] {
        let mut fragments = frames::ipv6_fragments(&packet, 1000, 0xdead_beef);
        if reverse {
            fragments.reverse();
        }
        let n = fragments.len();
        let frames: Vec<Vec<u8>> = fragments.iter().map(|f| frames::ethernet(frames::ETHERTYPE_IPV6, f)).collect();
        let run = read_bytes("frag6.pcap", pcap_of(LinkType::ETHERNET, &frames));
        assert_eq!(run.packets.len(), n);
        let whole = &run.packets[n - 1];
        assert!(whole.ip.unwrap().reassembled);
        assert_eq!(whole.payload, payload);
        assert!(matches!(whole.transport, Transport::Tcp(h) if h.seq == 5));
        assert!(run.packets[..n - 1].iter().all(|p| p.transport == Transport::None));
        assert!(run.packets[..n - 1].iter().all(|p| p.ip.is_some_and(|ip| ip.fragment)));
        assert!(!whole.ip.unwrap().fragment);
    }
}

#[test]
fn truncated_frames_report_the_missing_payload() {
    let frame = frames::ethernet(frames::ETHERTYPE_IPV4, &segment(1, &[b'x'; 100]));
    let mut pcap = PcapWriter::new(LinkType::ETHERNET);
    // Snapped 30 bytes into the payload.
    pcap.record_truncated(Timestamp::from_micros(1, 0), &frame[..14 + 40 + 30], frame.len() as u32);
    // Snapped inside the TCP header.
    pcap.record_truncated(Timestamp::from_micros(2, 0), &frame[..14 + 20 + 8], frame.len() as u32);
    let run = read_bytes("snap.pcap", pcap.into_bytes());
    let first = &run.packets[0];
    assert!(first.truncated);
    assert_eq!(first.payload.len(), 30);
    assert_eq!(first.uncaptured, 70);
    assert_eq!((first.caplen, first.orig_len), (84, frame.len() as u32));
    assert_tcp(first, 1, &[b'x'; 30]);
    let second = &run.packets[1];
    assert!(second.truncated && second.ip.is_some());
    assert_eq!(second.transport, Transport::None);
    assert_eq!(run.summary.count("packets_truncated"), 2);
    assert!(run.warnings.iter().any(|w| w.contains("packets_truncated")));
}

#[test]
fn unsupported_link_type_is_warned_once_and_counted() {
    let run = read_bytes("usb.pcap", pcap_of(LinkType(189), &[vec![0; 64], vec![0; 64], vec![0; 64]]));
    assert_eq!(run.packets.len(), 3);
    assert_eq!(run.summary.count("link_type_unsupported"), 3);
    assert_eq!(run.summary.count("packets_undecoded_unsupported_link_type"), 3);
    assert_eq!(run.warnings.len(), 1, "{:?}", run.warnings);
    assert!(run.warnings[0].contains("unsupported link type") && run.warnings[0].contains("189"));
}

#[test]
fn bad_packets_are_warned_once_per_reason_and_counted() {
    let mut bad_ip = segment(1, b"x");
    bad_ip[0] = 0x75; // version 7
    let mut bad_tcp = segment(1, b"x");
    bad_tcp[32] = 0x20; // TCP data offset 2 words: shorter than the header itself
    let frames: Vec<Vec<u8>> = [&bad_ip, &bad_ip, &bad_tcp]
        .iter()
        .map(|ip| frames::ethernet(frames::ETHERTYPE_IPV4, ip))
        .chain([vec![1, 2, 3]])
        .collect();
    let mut reader =
        CaptureReader::from_reader("bad.pcap", Box::new(io::Cursor::new(pcap_of(LinkType::ETHERNET, &frames))))
            .unwrap();
    let mut numbers = Vec::new();
    while let Some(packet) = reader.next_packet().unwrap() {
        numbers.push(packet.number);
    }
    assert_eq!(numbers, [1, 2, 3, 4]);
    let warnings = reader.take_warnings();
    // One per reason, and one for the packets that end early (the cut and the bad TCP header).
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("(2 so far, packets_truncated)")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("(2 so far, packets_undecoded_bad_ip_header)")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("packets_undecoded_bad_transport_header")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("packets_undecoded_bad_link_header")), "{warnings:?}");
    assert!(reader.take_warnings().is_empty());
    let mut summary = Summary::new();
    reader.report(&mut summary);
    assert_eq!(summary.count("packets_undecoded_bad_ip_header"), 2);
    assert_eq!(summary.count("packets_undecoded_bad_transport_header"), 1);
    assert_eq!(summary.count("packets_undecoded_bad_link_header"), 1);
}

#[test]
fn missing_file_names_the_file() {
    let err = CaptureReader::open(Path::new("/nonexistent/capture.pcap")).unwrap_err();
    assert!(matches!(err, OpenError::Missing { .. }));
    assert_eq!(err.to_string(), "/nonexistent/capture.pcap: no such file (check the path)");
}

#[test]
fn a_directory_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let err = CaptureReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, OpenError::Unreadable { .. }), "{err:?}");
}

#[test]
fn not_a_capture_shows_the_magic() {
    let err = open_error("page.html", b"<!DOCTYPE html><html></html>".to_vec());
    assert_eq!(
        err.to_string(),
        "page.html: not a capture file (it starts with 3c 21 44 4f \"<!DO\"; netanalysis reads pcap and pcapng files)"
    );
    let empty = open_error("empty.pcap", Vec::new());
    assert!(empty.to_string().contains("the file is empty"), "{empty}");
    let short = open_error("short.pcap", 0xa1b2_c3d4u32.to_le_bytes()[..].to_vec());
    assert!(matches!(short, OpenError::CutShort { .. }), "{short:?}");
}

#[test]
fn cut_short_reports_the_offset_after_the_packets_before_it() {
    let frame = frames::ethernet(frames::ETHERTYPE_IPV4, &segment(1, b"complete"));
    let file = pcap_of(LinkType::ETHERNET, &[frame.clone(), frame.clone(), frame.clone()]);
    let record = 16 + frame.len();
    // Cut in the third record's data, then in its header.
    for cut in [file.len() - 3, 24 + 2 * record + 7] {
        let run = read_bytes("cut.pcap", file[..cut].to_vec());
        assert_eq!(run.packets.len(), 2);
        let err = run.error.expect("a cut");
        assert!(matches!(err, ReadError::CutShort { offset, .. } if offset == (24 + 2 * record) as u64));
        assert_eq!(
            err.to_string(),
            format!(
                "cut.pcap: cut short in the middle of a packet at byte offset {} (the packets before it were read)",
                24 + 2 * record
            )
        );
    }
    // pcapng too.
    let mut ng = PcapNgWriter::new(false);
    ng.interface(LinkType::ETHERNET, None).packet(0, 1, &frame).packet(0, 2, &frame);
    let bytes = ng.into_bytes();
    let run = read_bytes("cut.pcapng", bytes[..bytes.len() - 10].to_vec());
    assert_eq!(run.packets.len(), 1);
    assert!(matches!(run.error, Some(ReadError::CutShort { .. })));
}

#[test]
fn absurd_record_length_is_damage_not_an_allocation() {
    let frame = frames::ethernet(frames::ETHERTYPE_IPV4, &segment(1, b"fine"));
    let mut file = pcap_of(LinkType::ETHERNET, std::slice::from_ref(&frame));
    let offset = file.len();
    file.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    file.extend_from_slice(&(4u32 << 20).to_le_bytes());
    file.extend_from_slice(&(4u32 << 20).to_le_bytes());
    file.extend_from_slice(&frame);
    let run = read_bytes("corrupt.pcap", file);
    assert_eq!(run.packets.len(), 1);
    let err = run.error.expect("damage");
    assert!(matches!(err, ReadError::AbsurdLength { offset: o, len, .. } if o == offset as u64 && len == 4 << 20));
    assert!(err
        .to_string()
        .starts_with(&format!("corrupt.pcap: damaged or corrupt: the record at byte offset {offset}")));
    // A pcapng block whose length is not a multiple of 4.
    let mut ng = PcapNgWriter::new(false);
    ng.interface(LinkType::ETHERNET, None).packet(0, 1, &frame);
    let mut bytes = ng.into_bytes();
    bytes.extend_from_slice(&6u32.to_le_bytes());
    bytes.extend_from_slice(&13u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 20]);
    let run = read_bytes("damaged.pcapng", bytes);
    assert_eq!(run.packets.len(), 1);
    assert!(matches!(run.error, Some(ReadError::Damaged { .. })), "{:?}", run.error);
}

#[test]
fn report_has_flat_keys() {
    let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
    flow.handshake().close();
    let bytes = flow.to_pcap();
    let len = bytes.len() as u64;
    let run = read_bytes("flow.pcap", bytes);
    assert_eq!(run.summary.count("packets_read"), 6);
    assert_eq!(run.summary.count("capture_bytes"), len);
    assert_eq!(run.stats.tcp_packets, 6);
    assert!(run.warnings.is_empty());
}

#[test]
fn stop_flag_ends_reading_cleanly() {
    let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
    flow.handshake().close();
    let mut reader = CaptureReader::from_reader("flow.pcap", Box::new(io::Cursor::new(flow.to_pcap()))).unwrap();
    assert!(reader.next_packet().unwrap().is_some());
    reader.stop_handle().store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.next_packet().unwrap().is_none());
}

#[test]
fn follow_waits_for_a_growing_file() {
    use std::io::Write;
    let frame = frames::ethernet(frames::ETHERTYPE_IPV4, &segment(1, b"grow"));
    let file = pcap_of(LinkType::ETHERNET, &[frame.clone(), frame.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.pcap");
    // The header, the first record, and half of the second.
    let split = 24 + 16 + frame.len() + 10;
    std::fs::write(&path, &file[..split]).unwrap();
    let mut reader = CaptureReader::open(&path).unwrap();
    reader.set_follow(Some(std::time::Duration::from_secs(5)));
    assert_eq!(reader.next_packet().unwrap().unwrap().number, 1);
    let writer = std::thread::spawn({
        let path = path.clone();
        let rest = file[split..].to_vec();
        move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            f.write_all(&rest).unwrap();
        }
    });
    let second = reader.next_packet().unwrap().unwrap();
    assert_eq!(second.payload, b"grow");
    writer.join().unwrap();
    // Without growth, the idle time ends the run without a false cut.
    reader.set_follow(Some(std::time::Duration::from_millis(200)));
    assert!(reader.next_packet().unwrap().is_none());
}

#[test]
fn follow_reports_a_half_written_record_as_cut_only_when_idle() {
    let frame = frames::ethernet(frames::ETHERTYPE_IPV4, &segment(1, b"half"));
    let file = pcap_of(LinkType::ETHERNET, &[frame.clone(), frame.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.pcap");
    std::fs::write(&path, &file[..file.len() - 5]).unwrap();
    // Idle: the writer is gone, the record is cut.
    let mut reader = CaptureReader::open(&path).unwrap();
    reader.set_follow(Some(std::time::Duration::from_millis(150)));
    assert!(reader.next_packet().unwrap().is_some());
    assert!(matches!(reader.next_packet(), Err(ReadError::CutShort { .. })));
    // Stopped (Ctrl-C): the writer was still at work, so no cut is reported.
    let mut reader = CaptureReader::open(&path).unwrap();
    reader.set_follow(None);
    assert!(reader.next_packet().unwrap().is_some());
    let stop = reader.stop_handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(reader.next_packet().unwrap().is_none());
    stopper.join().unwrap();
}

#[test]
fn following_a_file_waits_for_its_header() {
    use std::io::Write;
    let frame = frames::ethernet(frames::ETHERTYPE_IPV4, &segment(1, b"late"));
    let file = pcap_of(LinkType::ETHERNET, &[frame]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.pcap");
    std::fs::write(&path, b"").unwrap();
    let writer = std::thread::spawn({
        let path = path.clone();
        move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(&file).unwrap();
        }
    });
    let mut reader = CaptureReader::open_following(&path, Some(std::time::Duration::from_secs(5))).unwrap();
    assert_eq!(reader.next_packet().unwrap().unwrap().payload, b"late");
    writer.join().unwrap();
    let stop = reader.stop_handle();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.next_packet().unwrap().is_none());
}

#[test]
fn filter_and_live_need_the_feature_or_say_so() {
    let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
    flow.handshake().send(netanalysis_test_support::Side::Client, b"x").close();
    let mut reader = CaptureReader::from_reader("flow.pcap", Box::new(io::Cursor::new(flow.to_pcap()))).unwrap();
    match reader.set_filter("tcp[tcpflags] & tcp-syn != 0") {
        Err(e @ OpenError::FeatureMissing { .. }) => {
            assert_eq!(e.to_string(), "a capture filter needs netanalysis built with --features pcap");
            println!("skipped: built without the pcap feature");
        }
        Err(e) => panic!("{e}"),
        Ok(()) => {
            let run = drain(reader);
            // Only the SYN and the SYN-ACK pass; numbering still counts every record.
            let numbers: Vec<u64> = run.packets.iter().map(|p| p.number).collect();
            assert_eq!(numbers, [1, 2]);
            assert_eq!(run.stats.packets_filtered_out, 5);
        }
    }
}

/// A live capture on loopback through `filter`, or `None` after saying "skipped" when
/// this build has no libpcap or may not capture.
fn live_on_loopback(filter: &str) -> Option<CaptureReader> {
    match CaptureReader::live("lo", Some(filter)) {
        Ok(reader) => Some(reader),
        Err(e @ (OpenError::FeatureMissing { .. } | OpenError::Live { .. })) => {
            println!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Live capture on loopback of an HTTP exchange between a server and a client started
/// here. Says "skipped" without the `pcap` feature or without capture permission.
#[test]
fn live_capture_sees_a_loopback_http_exchange() {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let filter = format!("tcp port {port}");
    let Some(mut reader) = live_on_loopback(&filter) else { return };
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let n = stream.read(&mut request).unwrap();
        assert!(request[..n].starts_with(b"GET /live"));
        stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap();
    });
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"GET /live HTTP/1.0\r\n\r\n").unwrap();
    let mut response = Vec::new();
    client.read_to_end(&mut response).unwrap();
    server.join().unwrap();
    assert!(response.ends_with(b"hello"));
    // Stop after a few seconds at most, in case packets are missing.
    let stop = reader.stop_handle();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if finished.recv_timeout(std::time::Duration::from_secs(5)).is_err() {
            stop.store(true, Ordering::Relaxed);
        }
    });
    let (mut saw_request, mut saw_response) = (false, false);
    while let Some(packet) = reader.next_packet().unwrap() {
        saw_request |= packet.payload.starts_with(b"GET /live");
        saw_response |= packet.payload.ends_with(b"hello");
        if saw_request && saw_response {
            break;
        }
    }
    assert!(saw_request && saw_response, "request seen: {saw_request}, response seen: {saw_response}");
    let _ = done.send(());
    timer.join().unwrap();
    // The stop flag ends a live capture cleanly.
    reader.stop_handle().store(true, Ordering::Relaxed);
    assert!(reader.next_packet().unwrap().is_none());
}

/// A live capture with nothing to see reports idleness with the wall clock, so time-based
/// work goes on while the network is quiet; `next_packet` never does. Says "skipped"
/// without the `pcap` feature or without capture permission.
#[test]
fn live_capture_reports_idleness_with_the_wall_clock() {
    use netanalysis_capture::Next;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    // A port nobody connects to: no packet passes the filter.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let filter = format!("tcp port {}", unused.local_addr().unwrap().port());
    let Some(mut reader) = live_on_loopback(&filter) else { return };
    let wall = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (before, started) = (wall(), Instant::now());
    match reader.next_or_idle(Duration::from_millis(200)).unwrap() {
        Next::Idle(now) => assert!((before..=wall()).contains(&now.secs()), "{now} is the wall clock"),
        other => panic!("expected idleness, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    reader.stop_handle().store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(reader.next_or_idle(Duration::from_millis(200)).unwrap(), Next::End));
}

#[test]
fn a_file_is_never_idle() {
    use netanalysis_capture::Next;
    let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
    flow.handshake().close();
    let mut reader = CaptureReader::from_reader("flow.pcap", Box::new(io::Cursor::new(flow.to_pcap()))).unwrap();
    let mut packets = 0;
    loop {
        match reader.next_or_idle(std::time::Duration::ZERO).unwrap() {
            Next::Packet(_) => packets += 1,
            Next::Idle(now) => panic!("a file reported idleness at {now}"),
            Next::End => break,
        }
    }
    assert_eq!(packets, flow.frames().len());
}

fn corpus_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            corpus_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every capture of the shared corpus: the packet count tshark reports, the same file
/// errors, and TCP found where tshark found TCP streams.
#[test]
fn corpus_packet_counts_match_tshark() {
    let Some(corpus) = netanalysis_test_support::shared_corpus() else {
        println!("skipped: no shared corpus");
        return;
    };
    let pcaps = corpus.join("pcaps");
    let mut files = Vec::new();
    corpus_files(&pcaps, &mut files);
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&pcaps).unwrap();
        let golden_path = corpus.join("golden").join(relative).with_extension("json");
        let golden: serde_json::Value = serde_json::from_slice(&std::fs::read(&golden_path).unwrap()).unwrap();
        let summary = &golden["summary"];
        let run = drain(CaptureReader::open(path).unwrap());
        let name = relative.display();
        let expected = summary["packets"].as_u64().unwrap();
        if run.packets.len() as u64 != expected {
            failures.push(format!("{name}: {} packets, tshark {expected}", run.packets.len()));
        }
        // Numbers run from 1 without gaps.
        if run.packets.iter().enumerate().any(|(i, p)| p.number != i as u64 + 1) {
            failures.push(format!("{name}: packet numbers have gaps"));
        }
        let cut_short = summary["cut_short"].as_bool().unwrap_or(false);
        let damaged = summary["damaged_or_corrupt"].as_bool().unwrap_or(false);
        match (&run.error, cut_short, damaged) {
            (None, false, false) => {}
            (Some(ReadError::CutShort { .. }), true, _) => {}
            (Some(ReadError::AbsurdLength { .. } | ReadError::Damaged { .. }), _, true) => {}
            (error, _, _) => {
                failures.push(format!("{name}: error {error:?}, tshark cut_short={cut_short} damaged={damaged}"))
            }
        }
        // TCP packets: tshark counts a frame as TCP when TCP appears in it, which for a
        // fragmented datagram is the frame that completes it, as here. Our count may only
        // be larger where tshark gives up on a frame we decode: none in this corpus.
        let tcp_frames = summary["tcp_frames"].as_u64().unwrap();
        let streams = golden["tcp_streams"].as_array().map_or(0, Vec::len);
        let ours = run.packets.iter().filter(|p| matches!(p.transport, Transport::Tcp(_))).count() as u64;
        if streams > 0 && ours == 0 {
            failures.push(format!("{name}: no TCP packets, tshark has {streams} streams"));
        }
        if ours != tcp_frames {
            failures.push(format!("{name}: {ours} TCP packets, tshark {tcp_frames}"));
        }
        // Every TCP stream's endpoints, as tshark names them (innermost IP for tunnels).
        let ends: std::collections::HashSet<&str> = run
            .packets
            .iter()
            .filter(|p| matches!(p.transport, Transport::Tcp(_)))
            .filter_map(|p| p.endpoints.as_ref())
            .flat_map(|(a, b)| [a.as_str(), b.as_str()])
            .collect();
        for stream in golden["tcp_streams"].as_array().into_iter().flatten() {
            for node in [&stream["node0"], &stream["node1"]] {
                let node = node.as_str().unwrap();
                if !ends.contains(node) {
                    failures.push(format!("{name}: endpoint {node} of a tshark stream not seen"));
                }
            }
        }
        // First and last times, to the nanosecond, as tshark prints them.
        let time = |ts: Timestamp| format!("{}.{:09}", ts.as_nanos() / 1_000_000_000, ts.as_nanos() % 1_000_000_000);
        if let (Some(first), Some(last)) = (run.packets.first(), run.packets.last()) {
            for (ours, theirs) in [(time(first.ts), &summary["first_time"]), (time(last.ts), &summary["last_time"])] {
                if Some(ours.as_str()) != theirs.as_str() {
                    failures.push(format!("{name}: time {ours}, tshark {theirs}"));
                }
            }
        }
        let snaplen_cut = summary["snaplen_truncated_frames"].as_u64().unwrap_or(0);
        if run.stats.packets_snaplen_cut != snaplen_cut {
            failures
                .push(format!("{name}: {} snaplen-cut frames, tshark {snaplen_cut}", run.stats.packets_snaplen_cut));
        }
        println!(
            "{name}: {} packets, {ours} TCP, error {:?}, warnings {:?}",
            run.packets.len(),
            run.error.map(|e| e.to_string()),
            run.warnings
        );
    }
    assert!(failures.is_empty(), "{} corpus mismatches:\n{}", failures.len(), failures.join("\n"));
}
