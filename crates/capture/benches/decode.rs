//! Decode throughput: MB of capture and packets per second, on an HTTP-like capture built
//! here (many connections, full-size segments, small requests, a VLAN-tagged share and a
//! few IP fragments), read from memory so the figures measure decoding, not the disk.
//!
//! ```text
//! cargo bench -p netanalysis-capture --bench decode
//! ```
//!
//! `decode_frame` runs the frame decoder alone over the frames; `reader` adds record
//! framing, statistics and defragmentation, as the command line runs it. Set
//! `NETANALYSIS_BENCH_CAPTURE=/path/to/file.pcap` to time the reader on a file as well.

use std::hint::black_box;
use std::io::Read;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use netanalysis_capture::{decode_frame, CaptureReader};
use netanalysis_core::LinkType;

/// Builds Ethernet frames of `connections` HTTP exchanges: a request, then a response of
/// `segments` full-size segments, each acknowledged every other segment.
fn http_frames(connections: u16, segments: u32) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let body = vec![b'x'; 1448];
    for conn in 0..connections {
        let client = [10, 0, (conn >> 8) as u8, conn as u8];
        let server = [10, 1, 0, 1];
        let port = 30000 + conn;
        let request = b"GET /index.html HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(client, server, 64)
            .tcp(port, 80, 1, 65535)
            .ack(1)
            .psh()
            .write(&mut frame, request)
            .expect("writing to a Vec cannot fail");
        frames.push(frame);
        for i in 0..segments {
            let mut frame = Vec::new();
            let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
            // Every fourth connection is VLAN-tagged, as on a trunk port.
            let seq = 1 + i * 1448;
            if conn % 4 == 0 {
                builder
                    .single_vlan(etherparse::VlanId::try_new(42).expect("a valid id"))
                    .ipv4(server, client, 64)
                    .tcp(80, port, seq, 65535)
                    .ack(1 + request.len() as u32)
                    .write(&mut frame, &body)
            } else {
                builder
                    .ipv4(server, client, 64)
                    .tcp(80, port, seq, 65535)
                    .ack(1 + request.len() as u32)
                    .write(&mut frame, &body)
            }
            .expect("writing to a Vec cannot fail");
            frames.push(frame);
            if i % 2 == 1 {
                let mut ack = Vec::new();
                PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                    .ipv4(client, server, 64)
                    .tcp(port, 80, 1 + request.len() as u32, 65535)
                    .ack(seq + 1448)
                    .write(&mut ack, &[])
                    .expect("writing to a Vec cannot fail");
                // Pad to Ethernet's 60-byte minimum, as a NIC does.
                ack.resize(ack.len().max(60), 0);
                frames.push(ack);
            }
        }
    }
    frames
}

fn pcap_file(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut file = Vec::with_capacity(frames.iter().map(|f| f.len() + 16).sum::<usize>() + 24);
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    file.extend_from_slice(&262_144u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        let len = frame.len() as u32;
        file.extend_from_slice(&(1_700_000_000 + (i / 1000) as u32).to_le_bytes());
        file.extend_from_slice(&((i % 1000) as u32 * 1000).to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(frame);
    }
    file
}

/// Reads a shared buffer without copying it first, so the timing excludes the setup.
struct Shared(Arc<Vec<u8>>, usize);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.0.get(self.1..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.1 += n;
        Ok(n)
    }
}

fn read_all(name: &str, reader: Box<dyn Read + Send>) -> u64 {
    let mut reader = CaptureReader::from_reader(name, reader).expect("a capture");
    let mut payload = 0u64;
    while let Ok(Some(packet)) = reader.next_packet() {
        payload += packet.payload.len() as u64;
    }
    payload
}

fn bench(c: &mut Criterion) {
    let frames = http_frames(200, 200);
    let file = Arc::new(pcap_file(&frames));
    let packets = frames.len() as u64;
    let bytes = file.len() as u64;
    println!("built capture: {packets} packets, {bytes} bytes");

    for (unit, throughput) in [("MB", Throughput::Bytes(bytes)), ("packets", Throughput::Elements(packets))] {
        let mut group = c.benchmark_group(format!("decode_{unit}"));
        group.throughput(throughput);
        group.sample_size(20);
        group.bench_function("decode_frame", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for frame in &frames {
                    n += decode_frame(LinkType::ETHERNET, black_box(frame)).payload.len();
                }
                n
            })
        });
        group.bench_function("reader", |b| b.iter(|| read_all("bench.pcap", Box::new(Shared(Arc::clone(&file), 0)))));
        group.finish();
    }

    if let Ok(path) = std::env::var("NETANALYSIS_BENCH_CAPTURE") {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut group = c.benchmark_group("decode_file");
        group.throughput(Throughput::Bytes(size));
        group.sample_size(10);
        group.bench_function("reader", |b| {
            b.iter(|| read_all(&path, Box::new(std::fs::File::open(&path).expect("the capture opens"))))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
