//! Using netanalysis as a library: build a pipeline in Rust code (capture reader,
//! dispatcher, TCP, HTTP and a small collecting listener, no command line), collect
//! the capture's HTTP transactions into a `Vec`, then print them.
//!
//! ```text
//! cargo run --example library -- captures/http-sample.pcap
//! ```
//!
//! The pipeline is `netanalysis_examples::library::collect_http_transactions`
//! (examples/src/library.rs); read it next to this file.

use std::io::{self, Write};
use std::process::ExitCode;

use netanalysis_examples::library::collect_http_transactions;

fn main() -> ExitCode {
    let capture = netanalysis_examples::capture_from_args();
    netanalysis_examples::exit("library", print_transactions(&capture))
}

fn print_transactions(capture: &std::path::Path) -> anyhow::Result<()> {
    let transactions = collect_http_transactions(capture)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    for transaction in &transactions {
        let status = transaction.response.as_ref().map_or_else(|| "---".to_owned(), |r| r.status.to_string());
        let body = transaction.response.as_ref().map_or(0, |r| r.body.len);
        writeln!(
            out,
            "{} {} {} {} {} {} bytes in {} s",
            transaction.t_start,
            transaction.session,
            transaction.request.method,
            transaction.request.uri,
            status,
            body,
            transaction.t_elapsed
        )?;
    }
    writeln!(out, "{} transactions", transactions.len())?;
    out.flush()?;
    Ok(())
}
