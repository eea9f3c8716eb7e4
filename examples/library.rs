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

use netanalysis_examples::library::collect_http_transactions;

fn main() -> anyhow::Result<()> {
    let capture = netanalysis_examples::capture_from_args();
    let transactions = collect_http_transactions(&capture)?;
    for transaction in &transactions {
        let status = transaction.response.as_ref().map_or_else(|| "---".to_owned(), |r| r.status.to_string());
        let body = transaction.response.as_ref().map_or(0, |r| r.body.len);
        println!(
            "{} {} {} {} {} {} bytes in {} s",
            transaction.t_start,
            transaction.session,
            transaction.request.method,
            transaction.request.uri,
            status,
            body,
            transaction.t_elapsed
        );
    }
    println!("{} transactions", transactions.len());
    Ok(())
}
