//! Hostile captures from the adversarial generator, analysed by the command line: no
//! panic, the run completes, and what was dropped, evicted or skipped is counted in the
//! run summary.
//!
//! The small versions run here with caps set low enough for them to bite. The full sizes
//! (2 million half-open sessions, a 4 GB monologue, ...) are ignored tests run by
//! `tools/adversarial/run-full.sh`, which also records the peak RSS of each run.

use std::process::{Command, ExitCode};

use netanalysis_test_support::adversarial::Case;
use serde_json::Value;

use crate::faults::{count_events, json_lines, netanalysis_bin, run_summary};

/// Writes `case` at `size` into a temporary folder and runs the command on it in process
/// with `plugins` and the JSON log; returns the log's lines.
fn analyse(case: Case, size: u64, plugins: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join(format!("{}.pcap", case.name()));
    let written = case.write_file(size, &capture).unwrap();
    let log = dir.path().join("log.jsonl");
    let json = format!("JsonLog,out={}", log.display());
    let mut args = vec!["netanalysis", "--quiet"];
    args.extend_from_slice(plugins);
    args.push(&json);
    args.push(capture.to_str().unwrap());
    let code = netanalysis_cli::run(&args);
    assert_eq!(code, ExitCode::SUCCESS, "{} exits 0", case.name());
    let lines = json_lines(&std::fs::read_to_string(&log).unwrap());
    let summary = run_summary(&lines);
    assert_eq!(summary["packets_read"], written.packets, "{}: every packet read: {summary}", case.name());
    lines
}

fn count(summary: &Value, key: &str) -> u64 {
    summary[key].as_u64().unwrap_or(0)
}

#[test]
fn syn_flood_past_the_session_cap_evicts_and_counts() {
    let size = Case::SynFlood.small();
    let lines = analyse(Case::SynFlood, size, &["TCP,max_sessions=1000"]);
    let summary = run_summary(&lines);
    assert!(count(summary, "tcp_sessions_evicted") >= size - 1000, "evictions counted: {summary}");
    assert_eq!(count_events(&lines, "tcp_session_start"), 0, "no handshake ever completes");
}

#[test]
fn hole_never_filled_is_bounded_by_the_session_buffer() {
    let size = Case::OutOfOrder.small();
    let lines = analyse(Case::OutOfOrder, size, &["TCP,max_session_buffer=256K"]);
    let summary = run_summary(&lines);
    assert!(count(summary, "tcp_missing_bytes") >= 1000, "the hole is counted as missing: {summary}");
    assert!(
        count(summary, "tcp_gaps") >= 1 && count(summary, "tcp_bytes_reassembled") <= size * 1000,
        "gaps declared, nothing invented: {summary}"
    );
}

#[test]
fn long_monologue_is_delivered_in_parts_without_losing_a_byte() {
    let size = Case::Monologue.small();
    let lines = analyse(Case::Monologue, size, &["TCP,max_monologue=1M"]);
    let summary = run_summary(&lines);
    assert_eq!(count(summary, "tcp_bytes_reassembled"), size, "{summary}");
    assert!(count_events(&lines, "tcp_monologue") >= 4, "delivered in parts of 1 MiB");
    assert_eq!(count(summary, "tcp_missing_bytes"), 0);
}

#[test]
fn huge_header_line_is_skipped_and_counted() {
    let lines = analyse(Case::HttpHugeHeaderLine, Case::HttpHugeHeaderLine.small(), &["HTTP"]);
    let summary = run_summary(&lines);
    assert!(count(summary, "http_header_too_long") >= 1, "{summary}");
    assert!(count(summary, "http_skipped_bytes") > 0 || count(summary, "http_bad_heads") > 0, "{summary}");
    assert!(count_events(&lines, "http_transaction") >= 1, "the next session is analysed");
}

#[test]
fn too_many_headers_are_refused_and_counted() {
    let lines = analyse(Case::HttpManyHeaders, Case::HttpManyHeaders.small(), &["HTTP"]);
    let summary = run_summary(&lines);
    assert!(count(summary, "http_too_many_headers") + count(summary, "http_header_too_long") >= 1, "{summary}");
    assert!(count_events(&lines, "http_transaction") >= 1, "the next session is analysed");
}

#[test]
fn chunk_size_overflowing_u64_is_a_bad_chunk() {
    let lines = analyse(Case::HttpChunkOverflow, Case::HttpChunkOverflow.small(), &["HTTP"]);
    let summary = run_summary(&lines);
    assert!(count(summary, "http_bad_chunks") >= 1, "{summary}");
    assert!(count_events(&lines, "http_transaction") >= 1, "the next session is analysed");
}

#[test]
fn content_length_of_2_pow_63_is_bounded_by_max_body() {
    let size = Case::HttpContentLength2p63.small();
    let lines = analyse(Case::HttpContentLength2p63, size, &["HTTP,max_body=4K"]);
    let summary = run_summary(&lines);
    assert!(count(summary, "http_incomplete_messages") >= 1, "the endless body is incomplete: {summary}");
    for tx in lines.iter().filter(|l| l["event"] == "http_transaction") {
        let body = tx["response_body_bytes"].as_u64().unwrap_or(0);
        assert!(body <= size, "never more body than was sent: {tx}");
    }
}

#[test]
fn fragments_that_never_complete_are_dropped_and_counted() {
    let size = Case::FragmentsIncomplete.small();
    let lines = analyse(Case::FragmentsIncomplete, size, &[]);
    let summary = run_summary(&lines);
    assert_eq!(count(summary, "ip_fragments"), size, "{summary}");
    assert_eq!(count(summary, "ip_fragments_reassembled"), 0, "{summary}");
    assert!(
        count(summary, "ip_fragments_dropped") + count(summary, "ip_fragments_timed_out") >= size - 1024,
        "past the datagram cap the oldest are dropped: {summary}"
    );
}

#[test]
fn overlapping_fragments_with_conflicting_bytes_are_counted() {
    let size = Case::FragmentsOverlapping.small();
    let lines = analyse(Case::FragmentsOverlapping, size, &[]);
    let summary = run_summary(&lines);
    assert_eq!(count(summary, "ip_fragments"), size * 3, "{summary}");
    assert!(count(summary, "ip_fragments_overlapping") >= size, "{summary}");
    // Whichever copy of the overlap wins, every datagram carries its 96 bytes once.
    assert_eq!(count(summary, "tcp_bytes_reassembled"), size * 96, "{summary}");
}

// ---------------------------------------------------------------------------------------
// Full sizes: `tools/adversarial/run-full.sh` (ignored tests, one at a time, in release).

/// Generates `case` at full size, runs the binary on it under `/usr/bin/time -v`, prints
/// a table row with the peak RSS, checks the peak against `budget_mib` and returns the
/// run summary.
///
/// The budgets follow the default caps: 500,000 tracked sessions (about 1.8 KiB each
/// while half-open), 64 MiB monologue parts, 64 MiB of fragments, 1 MiB of kept body.
fn analyse_full(case: Case, plugins: &[&str], budget_mib: u64) -> Value {
    let dir = match std::env::var_os("ADVERSARIAL_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let capture = dir.path().join(format!("{}.pcap", case.name()));
    let size = case.full();
    let written = case.write_file(size, &capture).unwrap();
    let log = dir.path().join("log.jsonl");
    let json = format!("JsonLog,out={}", log.display());
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(netanalysis_bin())
        .arg("--quiet")
        .args(plugins)
        .arg(&json)
        .arg(&capture)
        .output()
        .expect("/usr/bin/time runs (Debian package `time`)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: exit status {}:\n{stderr}", case.name(), out.status);
    let peak_kb = time_field(&stderr, "Maximum resident set size (kbytes)");
    let seconds = time_field(&stderr, "Elapsed (wall clock) time (h:mm:ss or m:ss)");
    let lines = json_lines(&std::fs::read_to_string(&log).unwrap());
    let summary = run_summary(&lines).clone();
    assert_eq!(summary["packets_read"], written.packets);
    let row = format!(
        "RSS {:<26} {:>12} {:<9} {:>14} bytes {:>10} MiB peak RSS {:>9} wall",
        case.name(),
        size,
        case.unit(),
        written.bytes,
        peak_kb.parse::<u64>().map(|kb| kb / 1024).unwrap_or(0),
        seconds
    );
    println!("{row}");
    if let Some(table) = std::env::var_os("ADVERSARIAL_RSS_TABLE") {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(table).unwrap();
        std::io::Write::write_all(&mut file, format!("{row}\n").as_bytes()).unwrap();
    }
    drop(dir);
    let peak_mib = peak_kb.parse::<u64>().expect("/usr/bin/time reports the peak RSS") / 1024;
    assert!(peak_mib <= budget_mib, "{}: peak RSS {peak_mib} MiB is over its {budget_mib} MiB budget", case.name());
    summary
}

fn time_field(report: &str, name: &str) -> String {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim_start_matches(':').trim().to_owned()))
        .unwrap_or_else(|| "?".to_owned())
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_syn_flood() {
    let summary = analyse_full(Case::SynFlood, &["TCP"], 1536);
    assert!(count(&summary, "tcp_sessions_evicted") > 0, "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_out_of_order() {
    let summary = analyse_full(Case::OutOfOrder, &["TCP"], 256);
    assert!(count(&summary, "tcp_missing_bytes") >= 1000, "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_monologue() {
    let summary = analyse_full(Case::Monologue, &["TCP"], 512);
    assert_eq!(count(&summary, "tcp_bytes_reassembled"), Case::Monologue.full(), "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_http_huge_header_line() {
    let summary = analyse_full(Case::HttpHugeHeaderLine, &["HTTP"], 256);
    assert!(count(&summary, "http_header_too_long") >= 1, "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_http_many_headers() {
    let summary = analyse_full(Case::HttpManyHeaders, &["HTTP"], 256);
    assert!(count(&summary, "http_too_many_headers") + count(&summary, "http_header_too_long") >= 1, "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_http_chunk_overflow() {
    let summary = analyse_full(Case::HttpChunkOverflow, &["HTTP"], 256);
    assert!(count(&summary, "http_bad_chunks") >= 1, "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_http_content_length_2p63() {
    let summary = analyse_full(Case::HttpContentLength2p63, &["HTTP"], 256);
    assert!(count(&summary, "http_incomplete_messages") >= 1, "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_fragments_incomplete() {
    let summary = analyse_full(Case::FragmentsIncomplete, &["TCP"], 256);
    assert!(count(&summary, "ip_fragments_dropped") + count(&summary, "ip_fragments_timed_out") > 0, "{summary}");
}

#[test]
#[ignore = "full size: tools/adversarial/run-full.sh"]
fn full_fragments_overlapping() {
    let summary = analyse_full(Case::FragmentsOverlapping, &["TCP"], 256);
    assert!(count(&summary, "ip_fragments_overlapping") > 0, "{summary}");
}
