//! What people at a terminal see: the progress bar and the end-of-run summary.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use netanalysis_core::{Summary, SummaryValue};

/// A progress bar on stderr that appears only once a run has taken about a second.
pub struct Progress {
    enabled: bool,
    total_bytes: Option<u64>,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress bar for a file of `total_bytes` (if known); `enabled` only when stderr
    /// is a terminal and nothing else writes there.
    pub fn new(enabled: bool, total_bytes: Option<u64>) -> Progress {
        Progress { enabled, total_bytes, started: Instant::now(), bar: None }
    }

    /// Updates the bar with the bytes and packets read so far.
    pub fn update(&mut self, bytes: u64, packets: u64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() {
            if self.started.elapsed() < Duration::from_secs(1) {
                return;
            }
            let bar = match self.total_bytes {
                Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if self.total_bytes.is_some() {
                "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} eta {eta}"
            } else {
                "{spinner} {bytes} {binary_bytes_per_sec} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{packets} packets"));
        }
    }

    /// Runs `f` with the bar hidden (to print a line).
    pub fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Prints the end-of-run summary on stderr: a headline, then one line per group of
/// counts (`packets`, `tcp`, `http`, ...), zero counts left out.
pub fn print_summary(source: &str, summary: &Summary) {
    let packets = summary.count("packets_read");
    let bytes = summary.count("capture_bytes");
    let float = |key: &str| {
        summary
            .iter()
            .find_map(|(k, v)| match v {
                SummaryValue::Float(f) if k == key => Some(f),
                _ => None,
            })
            .unwrap_or(0.0)
    };
    eprintln!(
        "netanalysis: {source}: {packets} packets, {} in {:.2} s ({:.1} MB/s)",
        human_bytes(bytes),
        float("elapsed_seconds"),
        float("mb_per_second")
    );
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in summary.iter() {
        if matches!(key, "packets_read" | "capture_bytes" | "elapsed_seconds" | "mb_per_second") {
            continue;
        }
        let SummaryValue::Count(count) = value else { continue };
        if count == 0 {
            continue;
        }
        let (group, rest) = key.split_once('_').unwrap_or(("other", key));
        let item = format!("{} {}", count, rest.replace('_', " "));
        match groups.iter_mut().find(|(g, _)| g == group) {
            Some((_, items)) => items.push(item),
            None => groups.push((group.to_owned(), vec![item])),
        }
    }
    for (group, items) in groups {
        eprintln!("  {group:<8} {}", items.join(", "));
    }
}
