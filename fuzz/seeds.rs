//! Writes the seed corpora of every fuzz target from captures built the way the tests
//! build theirs (the test-support fixture builder and the adversarial generator).
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus` writes
//! `fuzz/corpus/<target>/seed-*`; `fuzz/run.sh` runs it when a corpus is missing.
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use netanalysis_core::{LinkType, TcpFlags, Timestamp};
use netanalysis_fuzz::{script_step, HTTP_PART_SEPARATOR, LINK_TYPES};
use netanalysis_test_support::adversarial::Case;
use netanalysis_test_support::{PcapWriter, Resolution, Side, TcpFlow};

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PSH: u8 = TcpFlags::PSH;

/// HTTP exchanges, as (request, response) streams.
const HTTP: &[(&[u8], &[u8])] = &[
    (
        b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: seed\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nServer: GWS/2.1\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nhello world\n",
    ),
    (
        b"GET /chunked HTTP/1.1\r\nHost: example.test\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
    ),
    (
        b"GET /a HTTP/1.1\r\nHost: example.test\r\n\r\nGET /b HTTP/1.1\r\nHost: example.test\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
    ),
    (
        b"POST /form HTTP/1.1\r\nHost: example.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    ),
    (b"HEAD / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    (
        b"GET /close HTTP/1.0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nbody until the connection closes",
    ),
    (
        b"GET /gz HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
    ),
    (
        b"GET /cached HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    ),
];

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".to_owned()));
    let captures = captures();
    write_all(&root.join("capture_file"), captures.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    write_all(&root.join("pipeline"), captures.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let frames = frames();
    write_all(&root.join("decode_frame"), frames.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let scripts = scripts();
    write_all(&root.join("tcp_reassembly"), scripts.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let http = http_inputs();
    write_all(&root.join("http_parse"), http.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
}

fn write_all<'a>(dir: &Path, seeds: impl Iterator<Item = (&'a str, &'a [u8])>) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let mut count = 0;
    for (name, bytes) in seeds {
        let path = dir.join(format!("seed-{name}"));
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        count += 1;
    }
    println!("{}: {count} seeds", dir.display());
}

/// One HTTP session per exchange, plus a few TCP shapes, as capture files.
fn http_flows() -> Vec<(String, TcpFlow)> {
    let mut flows = Vec::new();
    for (i, (request, response)) in HTTP.iter().enumerate() {
        let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
        flow.handshake().send_segments(Side::Client, request, 40).ack(Side::Server);
        flow.send_segments(Side::Server, response, 60).ack(Side::Client).close();
        flows.push((format!("http-{i}"), flow));
    }
    let mut v6 = TcpFlow::new("[2001:db8::1]:40000", "[2001:db8::2]:80");
    v6.handshake().send(Side::Client, HTTP[0].0).send(Side::Server, HTTP[0].1).rst(Side::Client);
    flows.push(("ipv6-rst".to_owned(), v6));
    let mut reordered = TcpFlow::new("10.0.0.1:40001", "10.0.0.2:80");
    reordered.handshake().send_segments(Side::Client, HTTP[2].0, 16).send_segments(Side::Server, HTTP[2].1, 16);
    reordered.close().reorder(4, 7).duplicate(5).drop_frame(9);
    flows.push(("reordered".to_owned(), reordered));
    flows
}

/// Capture files: pcap in every flavour the writer has, pcapng, and small adversarial ones.
fn captures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let flows = http_flows();
    for (name, flow) in &flows {
        out.push((format!("{name}.pcap"), flow.to_pcap()));
    }
    let (_, first) = &flows[0];
    for (label, resolution, big_endian, snaplen) in
        [("nano-be", Resolution::Nano, true, 65535), ("micro-snap64", Resolution::Micro, false, 64)]
    {
        let mut pcap = PcapWriter::with_options(LinkType::ETHERNET, resolution, big_endian, snaplen);
        for (ts, frame) in first.frames() {
            let cut = &frame[..frame.len().min(snaplen as usize)];
            pcap.record_truncated(*ts, cut, frame.len() as u32);
        }
        out.push((format!("http-0-{label}.pcap"), pcap.into_bytes()));
    }
    let mut raw = PcapWriter::new(LinkType::RAW);
    for (ts, frame) in first.frames() {
        raw.record(*ts, &frame[14..]);
    }
    out.push(("http-0-raw.pcap".to_owned(), raw.into_bytes()));
    out.push(("http-0.pcapng".to_owned(), pcapng(first.frames())));
    for case in Case::ALL {
        let size = match case.unit() {
            "bytes" => 3000,
            "headers" => 20,
            _ => 6,
        };
        let mut bytes = Vec::new();
        case.write(size, &mut bytes).expect("writing to a Vec cannot fail");
        out.push((format!("adversarial-{}.pcap", case.name()), bytes));
    }
    out
}

/// A little-endian pcapng file: section header, one Ethernet interface, enhanced packets.
fn pcapng(frames: &[(Timestamp, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&total.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (ts, frame) in frames {
        let micros = ts.as_nanos() / 1000;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(micros as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(frame);
        block(&mut out, 6, &epb);
    }
    out
}

/// Single frames for `decode_frame`: a selector byte (an index into `LINK_TYPES`), then
/// the frame as that link layer carries it.
fn frames() -> Vec<(String, Vec<u8>)> {
    let selector = |link: LinkType| LINK_TYPES.iter().position(|l| *l == link).expect("listed") as u8;
    let mut out = Vec::new();
    let flows = http_flows();
    let mut ethernet_frames: Vec<Vec<u8>> = Vec::new();
    for (_, flow) in flows.iter().take(2).chain(flows.iter().filter(|(n, _)| n == "ipv6-rst")) {
        ethernet_frames.extend(flow.frames().iter().skip(2).take(3).map(|(_, f)| f.clone()));
    }
    let mut fragments = Vec::new();
    Case::FragmentsOverlapping.write(1, &mut fragments).expect("writing to a Vec cannot fail");
    // The three fragments are the 4th to 6th records of that capture.
    let mut rest = &fragments[24..];
    for index in 0..6 {
        let len = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes")) as usize;
        if index >= 3 {
            ethernet_frames.push(rest[16..16 + len].to_vec());
        }
        rest = &rest[16 + len..];
    }
    for (i, frame) in ethernet_frames.iter().enumerate() {
        let ip = &frame[14..];
        let ether_type = [frame[12], frame[13]];
        let v6 = ether_type == [0x86, 0xdd];
        let mut push = |link: LinkType, bytes: Vec<u8>| {
            let mut seed = vec![selector(link)];
            seed.extend_from_slice(&bytes);
            out.push((format!("{}-{i}", link.name().unwrap_or("link").to_lowercase()), seed));
        };
        push(LinkType::ETHERNET, frame.clone());
        push(LinkType::RAW, ip.to_vec());
        push(if v6 { LinkType::IPV6 } else { LinkType::IPV4 }, ip.to_vec());
        // Linux cooked v1: packet type, ARPHRD_ETHER, address length and address, protocol.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        sll.extend_from_slice(&ether_type);
        sll.extend_from_slice(ip);
        push(LinkType::LINUX_SLL, sll);
        // Linux cooked v2: protocol, reserved, interface, ARPHRD_ETHER, type, address.
        let mut sll2 = ether_type.to_vec();
        sll2.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        sll2.extend_from_slice(ip);
        push(LinkType::LINUX_SLL2, sll2);
        let family: u32 = if v6 { 10 } else { 2 };
        let mut null = family.to_le_bytes().to_vec();
        null.extend_from_slice(ip);
        push(LinkType::NULL, null);
        let mut lo = family.to_be_bytes().to_vec();
        lo.extend_from_slice(ip);
        push(LinkType::LOOP, lo);
        let mut ppp = if v6 { vec![0xff, 0x03, 0x00, 0x57] } else { vec![0xff, 0x03, 0x00, 0x21] };
        ppp.extend_from_slice(ip);
        push(LinkType::PPP, ppp);
        let mut hdlc = vec![0x0f, 0x00];
        hdlc.extend_from_slice(&ether_type);
        hdlc.extend_from_slice(ip);
        push(LinkType::C_HDLC, hdlc);
    }
    out
}

/// TCP scripts for `tcp_reassembly` (a configuration byte, then `script_step`s).
fn scripts() -> Vec<(String, Vec<u8>)> {
    let (request, response) = HTTP[0];
    let handshake = |s: &mut Vec<u8>, pair: u8| {
        script_step(s, pair, 0, SYN, 0, &[]);
        script_step(s, pair, 1, SYN | ACK, 0, &[]);
        script_step(s, pair, 0, ACK, 0, &[]);
    };
    let close = |s: &mut Vec<u8>, pair: u8| {
        script_step(s, pair, 0, FIN | ACK, 0, &[]);
        script_step(s, pair, 1, FIN | ACK, 0, &[]);
        script_step(s, pair, 0, ACK, 0, &[]);
    };
    let mut out = Vec::new();

    let mut plain = vec![0];
    handshake(&mut plain, 0);
    script_step(&mut plain, 0, 0, PSH | ACK, 0, request);
    script_step(&mut plain, 0, 1, ACK, 0, &[]);
    script_step(&mut plain, 0, 1, PSH | ACK, 0, response);
    close(&mut plain, 0);
    out.push(("session".to_owned(), plain));

    let mut holes = vec![0];
    handshake(&mut holes, 0);
    script_step(&mut holes, 0, 0, PSH | ACK, 40, &request[..30]);
    script_step(&mut holes, 0, 0, PSH | ACK, 0, &request[..40]);
    script_step(&mut holes, 0, 0, PSH | ACK, -20, &request[20..60]);
    script_step(&mut holes, 0, 1, PSH | ACK, 0, response);
    script_step(&mut holes, 0, 0, RST, 0, &[]);
    out.push(("out-of-order-then-rst".to_owned(), holes));

    let mut interleaved = vec![2];
    for pair in 0..4 {
        handshake(&mut interleaved, pair);
    }
    for pair in 0..4 {
        script_step(&mut interleaved, pair, 0, PSH | ACK, 0, &request[..20 + usize::from(pair) * 10]);
        script_step(&mut interleaved, pair, 1, PSH | ACK, 0, &response[..30]);
    }
    for pair in [3, 1, 0, 2] {
        close(&mut interleaved, pair);
    }
    out.push(("four-sessions".to_owned(), interleaved));

    let mut capped = vec![1];
    handshake(&mut capped, 1);
    for _ in 0..8 {
        script_step(&mut capped, 1, 1, PSH | ACK, 0, &[b'x'; 512]);
    }
    close(&mut capped, 1);
    out.push(("max-session-size".to_owned(), capped));

    let mut midstream = vec![0];
    script_step(&mut midstream, 0, 1, PSH | ACK, 0, response);
    script_step(&mut midstream, 0, 0, ACK, 0, &[]);
    script_step(&mut midstream, 0, 0, PSH | ACK, 0, request);
    script_step(&mut midstream, 0, 1, FIN | ACK, 0, &[]);
    out.push(("midstream".to_owned(), midstream));
    out
}

/// HTTP sessions for `http_parse`: a control byte, then client and server parts.
fn http_inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (request, response)) in HTTP.iter().enumerate() {
        let mut seed = vec![(i % 4) as u8 * 0x40 + if i.is_multiple_of(2) { 0 } else { 3 }];
        seed.extend_from_slice(request);
        seed.extend_from_slice(HTTP_PART_SEPARATOR);
        seed.extend_from_slice(response);
        out.push((format!("exchange-{i}"), seed));
    }
    let mut keep_alive = vec![0];
    for (request, response) in &HTTP[..3] {
        keep_alive.extend_from_slice(request);
        keep_alive.extend_from_slice(HTTP_PART_SEPARATOR);
        keep_alive.extend_from_slice(response);
        keep_alive.extend_from_slice(HTTP_PART_SEPARATOR);
    }
    out.push(("keep-alive".to_owned(), keep_alive));
    out
}
