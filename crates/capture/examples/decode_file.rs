//! Decodes a capture file (or `-` for stdin) and prints what the reader counted, the time
//! taken and the throughput: the decode-only figure compared with `tcpdump -r FILE -w /dev/null`.
//!
//! ```text
//! cargo run --release -p netanalysis-capture --example decode_file -- FILE.pcap
//! /usr/bin/time -v target/release/examples/decode_file FILE.pcap   # peak RSS
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use netanalysis_capture::CaptureReader;
use netanalysis_core::{Summary, SummaryValue};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: decode_file FILE");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let mut reader = match CaptureReader::open(&path) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut payload_bytes = 0u64;
    let mut status = ExitCode::SUCCESS;
    loop {
        match reader.next_packet() {
            Ok(Some(packet)) => payload_bytes += packet.payload.len() as u64,
            Ok(None) => break,
            Err(e) => {
                eprintln!("{e}");
                status = ExitCode::from(2);
                break;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    for warning in reader.take_warnings() {
        eprintln!("warning: {warning}");
    }
    let mut summary = Summary::new();
    reader.report(&mut summary);
    for (key, value) in summary.iter() {
        match value {
            SummaryValue::Count(n) => println!("{key}: {n}"),
            SummaryValue::Float(x) => println!("{key}: {x}"),
        }
    }
    let stats = reader.stats();
    println!("payload_bytes: {payload_bytes}");
    println!("seconds: {seconds:.3}");
    println!("MB_per_s: {:.1}", stats.capture_bytes as f64 / 1e6 / seconds);
    println!("packets_per_s: {:.0}", stats.packets_read as f64 / seconds);
    status
}
