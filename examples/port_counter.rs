//! PortCounter: the payload bytes each endpoint sent each other, as a table printed at
//! the end of the run, largest first (and one `port_count` event per pair).
//!
//! ```text
//! cargo run --example port_counter -- captures/http-sample.pcap
//! ```
//!
//! The same on the command line: `netanalysis PortCounter captures/http-sample.pcap`.
//! The pipeline is built in `netanalysis_examples::port_counter` (examples/src/lib.rs).

use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let capture = netanalysis_examples::capture_from_args();
    let result = netanalysis_examples::port_counter(&capture, Box::new(io::BufWriter::new(io::stdout())));
    let result = result.and_then(|summary| {
        // The counts the plugin added to the run summary (Listener::report).
        let pairs = summary.count("portcounter_pairs");
        let bytes = summary.count("portcounter_bytes");
        writeln!(io::stdout(), "{pairs} pairs, {bytes} bytes in all")?;
        Ok(())
    });
    netanalysis_examples::exit("port_counter", result)
}
