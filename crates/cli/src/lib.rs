//! The `netanalysis` command line, as a library so other binaries can call it.
//!
//! `netanalysis [OPTIONS] [PLUGIN[,key=value]...] <CAPTURE>` reads a capture file (or
//! `-` for standard input), loads the named plugins (TCP always), dispatches every packet
//! through them and prints a summary. A binary of your own that links extra plugin crates
//! gets them on the command line and in `--list` by calling [`main`]:
//!
//! ```no_run
//! use my_plugins as _; // links the crate, so its plugins register themselves
//! # mod my_plugins {}
//! fn main() -> std::process::ExitCode {
//!     netanalysis_cli::main()
//! }
//! ```
//!
//! Exit status: 0 when the run completed (bad packets inside a capture are counted and
//! warned about, not failures); 1 when a plugin failed or panicked; 2 for usage errors
//! and file-level input errors (missing, unreadable, not a capture, cut short).
#![forbid(unsafe_code)]

mod args;
mod chunked;
mod output;
mod plugins;
mod report;
mod shards;

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::Parser;
use netanalysis_capture::{CaptureReader, Next};
use netanalysis_core::{Dispatcher, Fault, FaultKind, ListenerError, Registry, RunSummary, Summary};

pub use args::Args;
use output::{LineSink, Stream};
pub use plugins::BUNDLED;

/// Exit status when the run completed.
pub const EXIT_OK: u8 = 0;
/// Exit status when a plugin failed or panicked.
pub const EXIT_PLUGIN_FAILED: u8 = 1;
/// Exit status for usage errors and file-level input errors.
pub const EXIT_USAGE: u8 = 2;

/// How long a live capture may stay quiet before its clock (the wall clock) ticks anyway.
const LIVE_IDLE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the command with the process's arguments and returns its exit status; prints
/// every error as one line on stderr.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// Runs the command with `args` (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(err) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    match execute(&args) {
        Ok(status) => ExitCode::from(status),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(EXIT_OK),
        Err(err) => {
            eprintln!("netanalysis: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || matches!(cause.downcast_ref::<ListenerError>(), Some(ListenerError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn fault_is_broken_pipe(fault: &Fault) -> bool {
    matches!(&fault.kind, FaultKind::Failed(ListenerError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe)
}

/// The plugins of a run, checked, in command-line order (requirements resolved).
struct Pipeline {
    plugins: Vec<(&'static netanalysis_core::Plugin, netanalysis_core::Config)>,
    trace: Stream,
    json_on_stdout: bool,
}

fn build_pipeline(args: &Args, registry: &Registry, plugin_specs: &[String]) -> anyhow::Result<Pipeline> {
    let mut chosen = Vec::new();
    for spec in plugin_specs {
        let (plugin, config) = registry.parse(spec)?;
        if chosen.iter().any(|(p, _): &(&netanalysis_core::Plugin, _)| p.name == plugin.name) {
            bail!("plugin {} is named twice; give all its options in one argument", plugin.name);
        }
        chosen.push((plugin, config));
    }
    if args.json && !chosen.iter().any(|(p, _)| p.name == "JsonLog") {
        chosen.push(registry.parse("JsonLog")?);
    }
    if !args.decode_only {
        // TCP is loaded even when not named, and every plugin's requirements (with their
        // own requirements) before it, with default options.
        let mut resolved: Vec<(&'static netanalysis_core::Plugin, netanalysis_core::Config)> = Vec::new();
        let tcp = registry.parse("TCP")?;
        let named = std::mem::take(&mut chosen);
        let mut pending: Vec<_> = std::iter::once(tcp).chain(named.iter().cloned()).collect();
        pending.reverse();
        let mut depth = 0;
        while let Some((plugin, config)) = pending.pop() {
            if resolved.iter().any(|(p, _)| p.name == plugin.name) {
                continue;
            }
            let missing: Vec<&str> =
                plugin.requires.iter().copied().filter(|r| !resolved.iter().any(|(p, _)| p.name == *r)).collect();
            if missing.is_empty() || depth > 64 {
                // A plugin named on the command line keeps its options even when another
                // plugin required it first.
                let config = named.iter().find(|(p, _)| p.name == plugin.name).map_or(config, |(_, c)| c.clone());
                resolved.push((plugin, config));
                continue;
            }
            depth += 1;
            pending.push((plugin, config));
            for name in missing.into_iter().rev() {
                match named.iter().find(|(p, _)| p.name == name) {
                    Some(entry) => pending.push(entry.clone()),
                    None => pending.push(registry.parse(name)?),
                }
            }
        }
        chosen = resolved;
    } else if !chosen.is_empty() && chosen.iter().any(|(p, _)| p.name != "JsonLog") {
        bail!("--decode-only runs no plugins; drop the plugin arguments");
    }

    let json_on_stdout =
        chosen.iter().any(|(p, c)| p.name == "JsonLog" && matches!(c.text("out"), Ok(None) | Ok(Some("-"))));
    let trace = match (json_on_stdout, args.quiet) {
        (false, _) => Stream::Stdout,
        (true, false) => Stream::Stderr,
        (true, true) => Stream::Discard,
    };
    let pipeline = Pipeline { plugins: chosen, trace, json_on_stdout };
    pipeline.build()?; // every plugin's build-time checks, before anything is read
    Ok(pipeline)
}

impl Pipeline {
    /// Builds a dispatcher with a fresh instance of every listener (one per shard).
    fn build(&self) -> anyhow::Result<Dispatcher> {
        let mut builder = Dispatcher::builder();
        builder.trace_to(Box::new(LineSink::new(self.trace)));
        for (plugin, config) in &self.plugins {
            let listener = (plugin.build)(config)?;
            builder.add(plugin.name, plugin.position, listener)?;
        }
        Ok(builder.build())
    }
}

/// The listeners a command line would run, in delivery order (TCP first, the JSON log
/// last), without reading anything.
pub fn listener_order<I, T>(args: I) -> anyhow::Result<Vec<String>>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::try_parse_from(args)?;
    let registry = Registry::from_inventory()?;
    let (plugin_specs, _) = args.split_items()?;
    let pipeline = build_pipeline(&args, &registry, &plugin_specs)?;
    Ok(pipeline.build()?.listener_names().map(str::to_owned).collect())
}

/// Prints faults as they happen: each listener's first few, then only counts.
#[derive(Default)]
struct FaultPrinter {
    printed: Vec<(String, usize)>,
    broken_pipe: bool,
    strict_stop: bool,
    /// Faults reported (a broken pipe is not one).
    total: usize,
    /// The dispatcher's fault count when last handled.
    seen: usize,
}

impl FaultPrinter {
    const PER_LISTENER: usize = 10;

    fn handle(&mut self, dispatcher: &mut Dispatcher, strict: bool) {
        self.seen = dispatcher.fault_count();
        for fault in dispatcher.take_faults() {
            self.report(fault, strict);
        }
    }

    fn report(&mut self, fault: Fault, strict: bool) {
        if fault_is_broken_pipe(&fault) {
            self.broken_pipe = true;
            return;
        }
        self.total += 1;
        if strict {
            self.strict_stop = true;
        }
        let count = match self.printed.iter_mut().find(|(name, _)| *name == fault.listener) {
            Some((_, count)) => count,
            None => {
                self.printed.push((fault.listener.clone(), 0));
                &mut self.printed.last_mut().expect("just pushed").1
            }
        };
        *count += 1;
        if *count <= Self::PER_LISTENER {
            eprintln!("netanalysis: {fault}");
        } else if *count == Self::PER_LISTENER + 1 {
            eprintln!("netanalysis: {}: further errors are counted in the summary, not shown", fault.listener);
        }
    }

    /// Adds another printer's counts (a shard's).
    fn absorb(&mut self, other: FaultPrinter) {
        self.total += other.total;
        self.broken_pipe |= other.broken_pipe;
        self.strict_stop |= other.strict_stop;
    }
}

fn execute(args: &Args) -> anyhow::Result<u8> {
    let registry = Registry::from_inventory()?;
    if args.list {
        print!("{}", registry.list_text());
        return Ok(EXIT_OK);
    }
    netanalysis_core::quiet_listener_panics();

    let (plugin_specs, capture) = args.split_items()?;
    let pipeline = build_pipeline(args, &registry, &plugin_specs)?;
    if args.threads == 0 {
        bail!("--threads needs at least 1");
    }

    let mut reader = open_source(args, capture.as_deref())?;
    let stop = reader.stop_handle();
    {
        let stop = Arc::clone(&stop);
        // Ctrl-C ends the run cleanly: teardown flushes open sessions. A second one kills.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let source_name = capture.clone().unwrap_or_else(|| format!("live:{}", args.live.clone().unwrap_or_default()));
    let started = Instant::now();
    let mut progress = report::Progress::new(
        !args.quiet && !pipeline.json_on_stdout && io::stderr().is_terminal() && args.live.is_none(),
        capture.as_deref().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len()),
    );
    let warn = |reader: &mut CaptureReader, progress: &report::Progress| {
        print_warnings(args.quiet, reader.take_warnings(), progress);
    };

    // Read and dispatch: on this thread, or sharded across worker threads.
    let (mut dispatchers, read_error, mut faults) = if args.threads == 1 {
        let mut dispatcher = pipeline.build()?;
        let mut faults = FaultPrinter::default();
        dispatcher.setup();
        faults.handle(&mut dispatcher, args.strict);
        let mut read_error = None;
        let mut n: u64 = 0;
        loop {
            if faults.broken_pipe || faults.strict_stop {
                break;
            }
            match reader.next_or_idle(LIVE_IDLE_TICK) {
                Ok(Next::Packet(packet)) => {
                    dispatcher.dispatch_packet(&packet);
                    if dispatcher.fault_count() > faults.seen {
                        faults.handle(&mut dispatcher, args.strict);
                    }
                }
                // A quiet live capture: its clock (the wall clock) goes on, and with it
                // idle timeouts.
                Ok(Next::Idle(now)) => {
                    dispatcher.tick(now);
                    if dispatcher.fault_count() > faults.seen {
                        faults.handle(&mut dispatcher, args.strict);
                    }
                    continue;
                }
                Ok(Next::End) => break,
                Err(err) => {
                    read_error = Some(err);
                    break;
                }
            }
            n += 1;
            if n % 4096 == 0 {
                warn(&mut reader, &progress);
                progress.update(reader.stats().capture_bytes, reader.stats().packets_read);
            }
        }
        progress.finish();
        if faults.broken_pipe {
            return Ok(EXIT_OK);
        }
        warn(&mut reader, &progress);
        dispatcher.teardown();
        faults.handle(&mut dispatcher, args.strict);
        (vec![dispatcher], read_error, faults)
    } else {
        let outcome = shards::run(&pipeline, args, &mut reader, &mut progress)?;
        progress.finish();
        if outcome.faults.broken_pipe {
            return Ok(EXIT_OK);
        }
        warn(&mut reader, &progress);
        (outcome.dispatchers, outcome.read_error, outcome.faults)
    };

    // Counts from every shard, then the first shard folds in the others and finishes.
    let elapsed = started.elapsed();
    let mut summary = Summary::new();
    reader.report(&mut summary);
    for dispatcher in &dispatchers {
        dispatcher.report(&mut summary);
    }
    let (first, others) = dispatchers.split_first_mut().context("at least one pipeline ran")?;
    for other in others {
        first.merge_from(other);
    }
    first.finish();
    faults.handle(first, args.strict);
    summary.add("plugin_errors", faults.total as u64);
    summary.set_float("elapsed_seconds", elapsed.as_secs_f64());
    let bytes = summary.count("capture_bytes");
    let seconds = elapsed.as_secs_f64();
    summary.set_float("mb_per_second", if seconds > 0.0 { bytes as f64 / 1e6 / seconds } else { 0.0 });
    for dispatcher in &mut dispatchers {
        // Trace lines first, so the summary comes last on a terminal.
        if let Err(err) = dispatcher.flush_trace() {
            if err.kind() == io::ErrorKind::BrokenPipe {
                return Ok(EXIT_OK);
            }
            return Err(err).context("cannot write trace output");
        }
    }
    if !args.quiet {
        report::print_summary(&source_name, &summary);
    }
    let first = dispatchers.first_mut().context("at least one pipeline ran")?;
    first.dispatch_event(RunSummary { summary });
    faults.handle(first, args.strict);
    for dispatcher in &mut dispatchers {
        if let Err(err) = dispatcher.flush_trace() {
            if err.kind() != io::ErrorKind::BrokenPipe {
                return Err(err).context("cannot write trace output");
            }
        }
    }
    if faults.broken_pipe {
        return Ok(EXIT_OK);
    }
    if let Some(err) = read_error {
        eprintln!("netanalysis: {err}");
        return Ok(EXIT_USAGE);
    }
    Ok(if faults.total > 0 { EXIT_PLUGIN_FAILED } else { EXIT_OK })
}

/// Prints the reader's warnings, unless quiet.
fn print_warnings(quiet: bool, warnings: Vec<String>, progress: &report::Progress) {
    for warning in warnings {
        if !quiet {
            progress.suspend(|| eprintln!("netanalysis: warning: {warning}"));
        }
    }
}

fn open_source(args: &Args, capture: Option<&str>) -> anyhow::Result<CaptureReader> {
    let mut reader = match (&args.live, capture) {
        (Some(iface), _) => CaptureReader::live(iface, args.filter.as_deref())?,
        (None, Some(path)) => CaptureReader::open(Path::new(path))?,
        (None, None) => bail!("no capture given: name a capture file, - for standard input, or --live IFACE"),
    };
    if args.live.is_none() {
        if let Some(filter) = &args.filter {
            reader.set_filter(filter)?;
        }
    }
    if args.follow || args.follow_idle.is_some() {
        reader.set_follow(args.follow_idle.map(std::time::Duration::from_secs_f64));
    }
    Ok(reader)
}
