//! Example3: for every HTTP transaction, its URI and the network wait between the
//! request's last byte and the response's first (`http_wait`).
//!
//! ```text
//! cargo run --example example3 -- captures/http-sample.pcap
//! ```
//!
//! The same on the command line: `netanalysis Example3 captures/http-sample.pcap`
//! (Example3 requires HTTP, which the command line then loads). The pipeline, TCP then
//! HTTP then Example3, is built in `netanalysis_examples::example3`
//! (examples/src/lib.rs).

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    let capture = netanalysis_examples::capture_from_args();
    let result = netanalysis_examples::example3(&capture, Box::new(io::BufWriter::new(io::stdout())));
    netanalysis_examples::exit("example3", result.map(drop))
}
