//! Example2: one line per TCP monologue (time, from, to, size), or, given a regex, only
//! the monologues whose data matches, with the match shown in context.
//!
//! ```text
//! cargo run --example example2 -- captures/http-sample.pcap
//! cargo run --example example2 -- captures/http-sample.pcap 'HTTP/1\.1 404'
//! ```
//!
//! The same on the command line: `netanalysis Example2,regex="HTTP/1\.1 404"
//! captures/http-sample.pcap`. The pipeline is built in `netanalysis_examples::example2`
//! (examples/src/lib.rs).

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    let capture = netanalysis_examples::capture_from_args();
    let regex = std::env::args().nth(2);
    let out = Box::new(io::BufWriter::new(io::stdout()));
    let result = netanalysis_examples::example2(&capture, regex.as_deref(), 16, out);
    netanalysis_examples::exit("example2", result.map(drop))
}
