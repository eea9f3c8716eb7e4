//! Hostile captures, written as a stream so even the largest never sits in memory.
//!
//! Each [`Case`] is one kind of abuse a capture from a compromised or overloaded network
//! can hold: a SYN flood, a stream whose hole is never filled, a monologue of gigabytes,
//! HTTP messages built to overflow parsers, IP fragments that never complete or that
//! overlap with conflicting bytes. [`Case::write`] takes a size knob; [`Case::small`]
//! is what CI analyses and [`Case::full`] the full size of each case.
//!
//! ```
//! use netanalysis_test_support::adversarial::Case;
//! let mut file = Vec::new();
//! let written = Case::SynFlood.write(10, &mut file).unwrap();
//! assert_eq!(written.packets, 20); // a SYN and a SYN-ACK per half-open session
//! assert_eq!(file.len() as u64, written.bytes);
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;

use etherparse::{IpFragOffset, IpNumber, Ipv4Header, TcpHeader};

/// One kind of hostile capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    /// `size` half-open sessions: a SYN and a SYN-ACK each, never the final ACK.
    SynFlood,
    /// One session whose first data segment is missing, then `size` segments of 1000
    /// bytes after the hole, sent last first; the hole is never filled.
    OutOfOrder,
    /// One session in which the client sends `size` bytes and the server never answers.
    Monologue,
    /// An HTTP request with one header line of `size` bytes, then a normal session.
    HttpHugeHeaderLine,
    /// An HTTP request with `size` headers, then a normal session.
    HttpManyHeaders,
    /// An HTTP response whose chunk size (`1ffffffffffffffff`) overflows u64, followed by
    /// `size` body bytes, then a normal session.
    HttpChunkOverflow,
    /// An HTTP response with `Content-Length: 9223372036854775808` (2^63), followed by
    /// `size` body bytes and a close, then a normal session.
    HttpContentLength2p63,
    /// `size` IPv4 datagrams of which only the first fragment ever arrives.
    FragmentsIncomplete,
    /// One session whose `size` data segments each arrive as three IPv4 fragments, the
    /// second overlapping the first with different bytes.
    FragmentsOverlapping,
}

/// What [`Case::write`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Packets (pcap records).
    pub packets: u64,
    /// Bytes of the file, headers included.
    pub bytes: u64,
}

impl Case {
    /// Every case, in a fixed order.
    pub const ALL: [Case; 9] = [
        Case::SynFlood,
        Case::OutOfOrder,
        Case::Monologue,
        Case::HttpHugeHeaderLine,
        Case::HttpManyHeaders,
        Case::HttpChunkOverflow,
        Case::HttpContentLength2p63,
        Case::FragmentsIncomplete,
        Case::FragmentsOverlapping,
    ];

    /// A short name for file names and tables (`syn_flood`).
    pub fn name(self) -> &'static str {
        match self {
            Case::SynFlood => "syn_flood",
            Case::OutOfOrder => "out_of_order",
            Case::Monologue => "monologue",
            Case::HttpHugeHeaderLine => "http_huge_header_line",
            Case::HttpManyHeaders => "http_many_headers",
            Case::HttpChunkOverflow => "http_chunk_overflow",
            Case::HttpContentLength2p63 => "http_content_length_2p63",
            Case::FragmentsIncomplete => "fragments_incomplete",
            Case::FragmentsOverlapping => "fragments_overlapping",
        }
    }

    /// What the size knob counts.
    pub fn unit(self) -> &'static str {
        match self {
            Case::SynFlood => "sessions",
            Case::OutOfOrder => "segments",
            Case::Monologue | Case::HttpHugeHeaderLine | Case::HttpChunkOverflow | Case::HttpContentLength2p63 => {
                "bytes"
            }
            Case::HttpManyHeaders => "headers",
            Case::FragmentsIncomplete => "datagrams",
            Case::FragmentsOverlapping => "segments",
        }
    }

    /// The full size of each case (2 million sessions, 200k segments, 4 GB,
    /// a 100 MB header line, 100k headers).
    pub fn full(self) -> u64 {
        match self {
            Case::SynFlood => 2_000_000,
            Case::OutOfOrder => 200_000,
            Case::Monologue => 4 << 30,
            Case::HttpHugeHeaderLine => 100 << 20,
            Case::HttpManyHeaders => 100_000,
            Case::HttpChunkOverflow | Case::HttpContentLength2p63 => 100 << 20,
            Case::FragmentsIncomplete => 300_000,
            Case::FragmentsOverlapping => 100_000,
        }
    }

    /// A size that runs in a second or two in a debug build, yet past the caps a test
    /// configures.
    pub fn small(self) -> u64 {
        match self {
            Case::SynFlood => 5_000,
            Case::OutOfOrder => 2_000,
            Case::Monologue => 4 << 20,
            Case::HttpHugeHeaderLine => 1 << 20,
            Case::HttpManyHeaders => 2_000,
            Case::HttpChunkOverflow | Case::HttpContentLength2p63 => 64 << 10,
            Case::FragmentsIncomplete => 2_000,
            Case::FragmentsOverlapping => 200,
        }
    }

    /// Writes this case with the given size as an Ethernet pcap file to `out`.
    pub fn write<W: Write>(self, size: u64, out: W) -> io::Result<Written> {
        let mut pcap = PcapStream::new(out)?;
        match self {
            Case::SynFlood => syn_flood(&mut pcap, size)?,
            Case::OutOfOrder => out_of_order(&mut pcap, size)?,
            Case::Monologue => monologue(&mut pcap, size)?,
            Case::HttpHugeHeaderLine => {
                let mut s = Session::new(&mut pcap, client(1, 40000), SERVER);
                s.handshake()?;
                s.send(CLIENT, b"GET /huge-header HTTP/1.1\r\nHost: example.test\r\nX-Huge: ")?;
                s.send_pattern(CLIENT, size, b'a')?;
                s.send(CLIENT, b"\r\n\r\n")?;
                s.send(SERVER_SIDE, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                s.close()?;
                normal_session(&mut pcap)?;
            }
            Case::HttpManyHeaders => {
                let mut s = Session::new(&mut pcap, client(1, 40000), SERVER);
                s.handshake()?;
                s.send(CLIENT, b"GET /many-headers HTTP/1.1\r\nHost: example.test\r\n")?;
                let mut block = Vec::with_capacity(1400);
                for n in 0..size {
                    block.extend_from_slice(format!("X-Header-{n}: value {n}\r\n").as_bytes());
                    if block.len() > 1300 {
                        s.send(CLIENT, &block)?;
                        block.clear();
                    }
                }
                block.extend_from_slice(b"\r\n");
                s.send(CLIENT, &block)?;
                s.send(SERVER_SIDE, b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n")?;
                s.close()?;
                normal_session(&mut pcap)?;
            }
            Case::HttpChunkOverflow => {
                let mut s = Session::new(&mut pcap, client(1, 40000), SERVER);
                s.handshake()?;
                s.send(CLIENT, b"GET /chunked HTTP/1.1\r\nHost: example.test\r\n\r\n")?;
                s.send(SERVER_SIDE, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n")?;
                s.send_pattern(SERVER_SIDE, size, b'c')?;
                s.send(SERVER_SIDE, b"\r\n0\r\n\r\n")?;
                s.close()?;
                normal_session(&mut pcap)?;
            }
            Case::HttpContentLength2p63 => {
                let mut s = Session::new(&mut pcap, client(1, 40000), SERVER);
                s.handshake()?;
                s.send(CLIENT, b"GET /endless HTTP/1.1\r\nHost: example.test\r\n\r\n")?;
                s.send(SERVER_SIDE, b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n")?;
                s.send_pattern(SERVER_SIDE, size, b'l')?;
                s.close()?;
                normal_session(&mut pcap)?;
            }
            Case::FragmentsIncomplete => fragments_incomplete(&mut pcap, size)?,
            Case::FragmentsOverlapping => fragments_overlapping(&mut pcap, size)?,
        }
        pcap.finish()
    }

    /// Writes this case with the given size to a new file at `path`.
    pub fn write_file(self, size: u64, path: &Path) -> io::Result<Written> {
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        self.write(size, file)
    }
}

/// Writes a classic little-endian microsecond pcap of Ethernet frames, record by record.
#[derive(Debug)]
pub struct PcapStream<W: Write> {
    out: W,
    written: Written,
    micros: u64,
}

impl<W: Write> PcapStream<W> {
    /// Writes the file header (snaplen 262144, link type Ethernet).
    pub fn new(mut out: W) -> io::Result<PcapStream<W>> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&262_144u32.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapStream { out, written: Written { packets: 0, bytes: 24 }, micros: 1_700_000_000_000_000 })
    }

    /// Appends one frame, 10 microseconds after the previous one.
    pub fn record(&mut self, frame: &[u8]) -> io::Result<()> {
        self.micros += 10;
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&((self.micros / 1_000_000) as u32).to_le_bytes());
        header[4..8].copy_from_slice(&((self.micros % 1_000_000) as u32).to_le_bytes());
        header[8..12].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(frame)?;
        self.written.packets += 1;
        self.written.bytes += 16 + frame.len() as u64;
        Ok(())
    }

    /// Flushes the output and says what was written.
    pub fn finish(mut self) -> io::Result<Written> {
        self.out.flush()?;
        Ok(self.written)
    }
}

const CLIENT: usize = 0;
const SERVER_SIDE: usize = 1;
const SERVER: ([u8; 4], u16) = ([192, 0, 2, 80], 80);
const MSS: usize = 1448;

fn client(n: u32, port: u16) -> ([u8; 4], u16) {
    let ip = Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff));
    (ip.octets(), port)
}

/// Appends an Ethernet II header for IPv4 to `frame`.
fn ethernet(frame: &mut Vec<u8>) {
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
}

/// TCP flags for [`tcp_frame`].
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
}

/// The IPv4 payload of a TCP segment (header and data), checksummed.
fn tcp_segment(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: Flags,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let mut tcp = TcpHeader::new(src.1, dst.1, seq, 65535);
    tcp.syn = flags.syn;
    tcp.fin = flags.fin;
    tcp.rst = flags.rst;
    tcp.psh = !payload.is_empty();
    if flags.ack {
        tcp.ack = true;
        tcp.acknowledgment_number = ack;
    }
    tcp.checksum = tcp.calc_checksum_ipv4_raw(src.0, dst.0, payload).expect("segments are small");
    tcp.write(out).expect("writing to a Vec cannot fail");
    out.extend_from_slice(payload);
}

/// One Ethernet/IPv4 frame with `ip_payload`, optionally a fragment.
fn ipv4_frame(
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    fragment: Option<(u16, bool)>,
    ip_payload: &[u8],
    frame: &mut Vec<u8>,
) {
    frame.clear();
    ethernet(frame);
    let mut ip = Ipv4Header::new(ip_payload.len() as u16, 64, IpNumber::TCP, src, dst).expect("payload fits");
    ip.identification = id;
    if let Some((offset_bytes, more)) = fragment {
        ip.dont_fragment = false;
        ip.more_fragments = more;
        ip.fragment_offset = IpFragOffset::try_new(offset_bytes / 8).expect("offset fits 13 bits");
    }
    ip.write(frame).expect("writing to a Vec cannot fail");
    frame.extend_from_slice(ip_payload);
}

/// A TCP conversation written straight to a [`PcapStream`].
struct Session<'p, W: Write> {
    pcap: &'p mut PcapStream<W>,
    ends: [([u8; 4], u16); 2],
    next_seq: [u32; 2],
    id: u16,
    segment: Vec<u8>,
    frame: Vec<u8>,
}

impl<'p, W: Write> Session<'p, W> {
    fn new(pcap: &'p mut PcapStream<W>, client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Session<'p, W> {
        Session {
            pcap,
            ends: [client, server],
            // Just below the wrap, so every hostile stream also crosses 2^32.
            next_seq: [u32::MAX - 2_000, u32::MAX - 20_000],
            id: 1,
            segment: Vec::with_capacity(MSS + 60),
            frame: Vec::with_capacity(MSS + 80),
        }
    }

    fn raw(&mut self, side: usize, seq: u32, flags: Flags, payload: &[u8]) -> io::Result<()> {
        let (src, dst) = (self.ends[side], self.ends[1 - side]);
        let ack = self.next_seq[1 - side];
        self.segment.clear();
        tcp_segment(src, dst, seq, ack, flags, payload, &mut self.segment);
        self.id = self.id.wrapping_add(1);
        ipv4_frame(src.0, dst.0, self.id, None, &self.segment, &mut self.frame);
        self.pcap.record(&self.frame)
    }

    fn handshake(&mut self) -> io::Result<()> {
        let syn = Flags { syn: true, ..Flags::default() };
        self.raw(CLIENT, self.next_seq[CLIENT], syn, &[])?;
        self.next_seq[CLIENT] = self.next_seq[CLIENT].wrapping_add(1);
        self.raw(SERVER_SIDE, self.next_seq[SERVER_SIDE], Flags { ack: true, ..syn }, &[])?;
        self.next_seq[SERVER_SIDE] = self.next_seq[SERVER_SIDE].wrapping_add(1);
        self.ack(CLIENT)
    }

    fn ack(&mut self, side: usize) -> io::Result<()> {
        self.raw(side, self.next_seq[side], Flags { ack: true, ..Flags::default() }, &[])
    }

    /// Sends `data` from `side` in segments of at most [`MSS`] bytes.
    fn send(&mut self, side: usize, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(MSS) {
            let seq = self.next_seq[side];
            self.raw(side, seq, Flags { ack: true, ..Flags::default() }, chunk)?;
            self.next_seq[side] = seq.wrapping_add(chunk.len() as u32);
        }
        Ok(())
    }

    /// Sends `len` bytes of `fill` from `side` without ever holding them all, the peer
    /// acknowledging every 64 segments.
    fn send_pattern(&mut self, side: usize, len: u64, fill: u8) -> io::Result<()> {
        let block = vec![fill; MSS];
        let mut left = len;
        let mut segments = 0u64;
        while left > 0 {
            let n = left.min(MSS as u64) as usize;
            self.send(side, &block[..n])?;
            left -= n as u64;
            segments += 1;
            if segments % 64 == 0 {
                self.ack(1 - side)?;
            }
        }
        Ok(())
    }

    /// FIN from the client, FIN-ACK from the server, the client's last ACK.
    fn close(&mut self) -> io::Result<()> {
        for side in [CLIENT, SERVER_SIDE] {
            let seq = self.next_seq[side];
            self.raw(side, seq, Flags { ack: true, fin: true, ..Flags::default() }, &[])?;
            self.next_seq[side] = seq.wrapping_add(1);
        }
        self.ack(CLIENT)
    }
}

/// A well-formed HTTP exchange after the hostile one, to show the analyser carries on.
fn normal_session<W: Write>(pcap: &mut PcapStream<W>) -> io::Result<()> {
    let mut s = Session::new(pcap, client(2, 40001), SERVER);
    s.handshake()?;
    s.send(CLIENT, b"GET /after HTTP/1.1\r\nHost: example.test\r\n\r\n")?;
    s.send(SERVER_SIDE, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter")?;
    s.close()
}

fn syn_flood<W: Write>(pcap: &mut PcapStream<W>, sessions: u64) -> io::Result<()> {
    let mut segment = Vec::with_capacity(64);
    let mut frame = Vec::with_capacity(80);
    for n in 0..sessions {
        let src = client(n as u32 + 1, 1024 + (n % 60_000) as u16);
        let isn = (n as u32).wrapping_mul(2_654_435_761);
        segment.clear();
        tcp_segment(src, SERVER, isn, 0, Flags { syn: true, ..Flags::default() }, &[], &mut segment);
        ipv4_frame(src.0, SERVER.0, n as u16, None, &segment, &mut frame);
        pcap.record(&frame)?;
        segment.clear();
        let syn_ack = Flags { syn: true, ack: true, ..Flags::default() };
        tcp_segment(SERVER, src, !isn, isn.wrapping_add(1), syn_ack, &[], &mut segment);
        ipv4_frame(SERVER.0, src.0, n as u16, None, &segment, &mut frame);
        pcap.record(&frame)?;
    }
    Ok(())
}

fn out_of_order<W: Write>(pcap: &mut PcapStream<W>, segments: u64) -> io::Result<()> {
    const LEN: u32 = 1000;
    let mut s = Session::new(pcap, client(1, 40000), SERVER);
    s.handshake()?;
    let start = s.next_seq[CLIENT];
    let payload = [b'o'; LEN as usize];
    // Segment 0 (the hole) is never sent; the rest arrive last first.
    for k in (1..=segments).rev() {
        let seq = start.wrapping_add((k as u32).wrapping_mul(LEN));
        s.raw(CLIENT, seq, Flags { ack: true, ..Flags::default() }, &payload)?;
        if k % 64 == 0 {
            s.ack(SERVER_SIDE)?;
        }
    }
    Ok(())
}

fn monologue<W: Write>(pcap: &mut PcapStream<W>, bytes: u64) -> io::Result<()> {
    let mut s = Session::new(pcap, client(1, 40000), SERVER);
    s.handshake()?;
    s.send_pattern(CLIENT, bytes, b'm')?;
    s.close()
}

fn fragments_incomplete<W: Write>(pcap: &mut PcapStream<W>, datagrams: u64) -> io::Result<()> {
    let mut segment = Vec::with_capacity(1500);
    let mut frame = Vec::with_capacity(1600);
    let payload = [b'f'; 1400];
    for n in 0..datagrams {
        let src = client(n as u32 / 60_000 + 1, 1024 + (n % 60_000) as u16);
        segment.clear();
        tcp_segment(src, SERVER, n as u32, 1, Flags { ack: true, ..Flags::default() }, &payload, &mut segment);
        // Only the first 1480 bytes (offset 0, more fragments to come) ever arrive; the
        // datagram is 1420 bytes, so the missing tail is announced, never sent.
        let first = &segment[..segment.len().min(1480) / 8 * 8];
        ipv4_frame(src.0, SERVER.0, n as u16, Some((0, true)), first, &mut frame);
        pcap.record(&frame)?;
    }
    Ok(())
}

fn fragments_overlapping<W: Write>(pcap: &mut PcapStream<W>, segments: u64) -> io::Result<()> {
    let (src, dst) = (client(1, 40000), SERVER);
    let mut s = Session::new(pcap, src, dst);
    s.handshake()?;
    let mut segment = Vec::with_capacity(200);
    let mut frame = Vec::with_capacity(300);
    let payload = [b'T'; 96];
    for n in 0..segments {
        let seq = s.next_seq[CLIENT];
        segment.clear();
        let ack = s.next_seq[SERVER_SIDE];
        tcp_segment(src, dst, seq, ack, Flags { ack: true, ..Flags::default() }, &payload, &mut segment);
        s.next_seq[CLIENT] = seq.wrapping_add(payload.len() as u32);
        // 116 bytes: [0, 64) first, [32, 96) second with conflicting bytes over
        // [32, 64), then [96, 116) last.
        let id = 0x8000 | (n as u16 & 0x7fff);
        ipv4_frame(src.0, dst.0, id, Some((0, true)), &segment[..64], &mut frame);
        s.pcap.record(&frame)?;
        let mut conflicting = segment[32..96].to_vec();
        conflicting[..32].fill(b'X');
        ipv4_frame(src.0, dst.0, id, Some((32, true)), &conflicting, &mut frame);
        s.pcap.record(&frame)?;
        ipv4_frame(src.0, dst.0, id, Some((96, false)), &segment[96..], &mut frame);
        s.pcap.record(&frame)?;
    }
    s.ack(SERVER_SIDE)?;
    s.close()
}
