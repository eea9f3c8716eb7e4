//! PortCounter: the payload bytes each endpoint sent each other, as a table printed at
//! the end of the run, largest first (and one `port_count` event per pair).
//!
//! ```text
//! cargo run --example port_counter -- captures/http-sample.pcap
//! ```
//!
//! The same on the command line: `netanalysis PortCounter captures/http-sample.pcap`.
//! The pipeline is built in `netanalysis_examples::port_counter` (examples/src/lib.rs).

use std::io;

fn main() -> anyhow::Result<()> {
    let capture = netanalysis_examples::capture_from_args();
    let summary = netanalysis_examples::port_counter(&capture, Box::new(io::BufWriter::new(io::stdout())))?;
    println!("{} pairs, {} bytes in all", summary.count("port_counter_pairs"), summary.count("port_counter_bytes"));
    Ok(())
}
