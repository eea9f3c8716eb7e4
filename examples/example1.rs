//! Example1: the bandwidth of every TCP monologue, through an event the plugin emits
//! and catches itself (`monologue_bandwidth`).
//!
//! ```text
//! cargo run --example example1 -- captures/http-sample.pcap
//! ```
//!
//! The same on the command line: `netanalysis Example1 captures/http-sample.pcap`.
//! The pipeline is built in `netanalysis_examples::example1` (examples/src/lib.rs).

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    let capture = netanalysis_examples::capture_from_args();
    let result = netanalysis_examples::example1(&capture, Box::new(io::BufWriter::new(io::stdout())));
    netanalysis_examples::exit("example1", result.map(drop))
}
