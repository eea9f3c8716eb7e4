//! The code behind the runnable examples, as functions the examples' `main`s and the
//! tests both call.
//!
//! Each function builds a pipeline in Rust, with no command line: a
//! [`CaptureReader`] lends packets, a [`Dispatcher`] delivers them to the TCP listener
//! (always first) and to the listeners of the example, and their trace lines go to the
//! writer given. It is what `netanalysis Example2,regex=... capture.pcap` does, minus
//! argument parsing and the summary on stderr.
//!
//! | example | function | command |
//! |---|---|---|
//! | `example1.rs` | [`example1`] | `cargo run --example example1` |
//! | `example2.rs` | [`example2`] | `cargo run --example example2 -- captures/http-sample.pcap 'GET /[a-z]+'` |
//! | `example3.rs` | [`example3`] | `cargo run --example example3` |
//! | `port_counter.rs` | [`port_counter`] | `cargo run --example port_counter` |
//! | `library.rs` | [`library::collect_http_transactions`] | `cargo run --example library` |
//!
//! Every example reads the capture named by its first argument, or the one the project
//! ships, [`SAMPLE_CAPTURE`], when there is none.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use netanalysis_capture::CaptureReader;
use netanalysis_core::{Dispatcher, Fault, FaultKind, Listener, ListenerError, Position, Summary};
use netanalysis_example_plugins::{Example1, Example2, Example3, PortCounter};
use netanalysis_http::{HttpAnalyzer, Limits};
use netanalysis_tcp::TcpReassembler;

pub mod library;

/// The capture the project ships (`captures/http-sample.pcap`).
pub const SAMPLE_CAPTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../captures/http-sample.pcap");

/// Ends an example: prints an error as one line on stderr (`example2: <cause>: ...`)
/// and exits 2, or exits 0; a closed pipe (`| head`) is not an error.
pub fn exit(example: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{example}: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = |e: &io::Error| e.kind() == io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(broken)
            || matches!(cause.downcast_ref::<ListenerError>(), Some(ListenerError::Io(e)) if broken(e))
    })
}

/// The capture named by the first command-line argument, or [`SAMPLE_CAPTURE`].
pub fn capture_from_args() -> PathBuf {
    std::env::args_os().nth(1).map_or_else(|| PathBuf::from(SAMPLE_CAPTURE), PathBuf::from)
}

/// Runs the capture at `path` through TCP and then `listeners`, in order, with their
/// trace lines going to `trace`, and returns the run's counts.
///
/// A listener's failure does not stop the run (the dispatcher carries on, as the
/// command line does); it is returned as the error once the run is over.
pub fn run_pipeline(
    path: &Path,
    listeners: Vec<(&str, Box<dyn Listener>)>,
    trace: Box<dyn Write + Send>,
) -> anyhow::Result<Summary> {
    // Capture errors name the file and say what to do; no context needed.
    let mut reader = CaptureReader::open(path)?;

    let mut builder = Dispatcher::builder();
    builder.trace_to(trace);
    builder.add("TCP", Some(Position::First), Box::new(TcpReassembler::default()))?;
    for (name, listener) in listeners {
        builder.add(name, None, listener)?;
    }
    let mut dispatcher = builder.build();

    dispatcher.setup();
    // Each packet borrows the reader's buffer, so it is dispatched before the next read.
    // A damaged file ends the reading, but what came before it is still analysed to the
    // end (teardown flushes the open sessions) before the error is returned.
    let read_error = loop {
        match reader.next_packet() {
            Ok(Some(packet)) => dispatcher.dispatch_packet(&packet),
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };
    dispatcher.teardown();
    // Counts first, then `on_finish`, where aggregating listeners (PortCounter) print.
    let mut summary = Summary::new();
    reader.report(&mut summary);
    dispatcher.report(&mut summary);
    dispatcher.finish();
    dispatcher.flush_trace().context("cannot write trace output")?;
    if let Some(err) = read_error {
        return Err(err.into());
    }

    // A closed pipe downstream (`| head`) is how a reader says it has seen enough.
    let faults: Vec<Fault> = dispatcher
        .take_faults()
        .into_iter()
        .filter(|fault| !matches!(&fault.kind, FaultKind::Failed(ListenerError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe))
        .collect();
    if let Some(first) = faults.first() {
        bail!("{first} ({} listener errors in all)", faults.len());
    }
    Ok(summary)
}

/// Example1: one line per monologue with its bandwidth, printed when Example1 catches
/// the `monologue_bandwidth` event it emitted itself.
pub fn example1(path: &Path, trace: Box<dyn Write + Send>) -> anyhow::Result<Summary> {
    run_pipeline(path, vec![("Example1", Box::new(Example1::new()))], trace)
}

/// Example2: one line per monologue; with `regex`, only the monologues that match, each
/// with its first match in context (`context` bytes either side).
pub fn example2(
    path: &Path,
    regex: Option<&str>,
    context: usize,
    trace: Box<dyn Write + Send>,
) -> anyhow::Result<Summary> {
    let listener = match regex {
        Some(pattern) => Example2::with_regex(pattern, context).map_err(anyhow::Error::msg)?,
        None => Example2::new(),
    };
    run_pipeline(path, vec![("Example2", Box::new(listener))], trace)
}

/// Example3: per HTTP transaction, the URI and the wait between the request's end and
/// the response's start. HTTP sits between TCP and Example3.
pub fn example3(path: &Path, trace: Box<dyn Write + Send>) -> anyhow::Result<Summary> {
    run_pipeline(
        path,
        vec![("HTTP", Box::new(HttpAnalyzer::new(Limits::default(), false))), ("Example3", Box::new(Example3::new()))],
        trace,
    )
}

/// PortCounter: the table of bytes per `from -> to` pair, largest first, printed at the
/// end of the run.
pub fn port_counter(path: &Path, trace: Box<dyn Write + Send>) -> anyhow::Result<Summary> {
    run_pipeline(path, vec![("PortCounter", Box::new(PortCounter::new()))], trace)
}

#[cfg(test)]
mod tests;
