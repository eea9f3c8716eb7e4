//! The example plugins, loaded by name as the command line loads them, run on the
//! capture the project ships; their output checked against tshark's view of it
//! (`tests/golden/http-sample.json`).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use netanalysis_capture::CaptureReader;
use netanalysis_core::{Dispatcher, JsonOptions, Position, Registry, RunSummary, Summary};
use netanalysis_example_plugins::{HttpWait, MonologueBandwidth, PortCount};
use netanalysis_jsonlog::JsonLog;
use serde_json::Value;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../captures/http-sample.pcap");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/http-sample.json");

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What one run produced.
struct Run {
    trace: Vec<String>,
    json: Vec<Value>,
    summary: Summary,
}

impl Run {
    fn events(&self, name: &str) -> Vec<&Value> {
        self.json.iter().filter(|line| line["event"] == name).collect()
    }
}

/// Runs the sample through TCP and the plugins `specs` (`NAME,key=value`), built from
/// the registry as the command line builds them, with the JSON log last.
fn run(specs: &[&str]) -> Run {
    run_on(SAMPLE.as_ref(), specs)
}

/// As [`run`], on another capture.
fn run_on(capture: &std::path::Path, specs: &[&str]) -> Run {
    // Naming the types links the crates, so their plugins are in the registry.
    let _ = (std::any::type_name::<MonologueBandwidth>(), std::any::type_name::<HttpWait>());
    let registry = Registry::from_inventory().unwrap();
    let trace = Buffer::default();
    let json = Buffer::default();
    let mut builder = Dispatcher::builder();
    builder.trace_to(Box::new(trace.clone()));
    for spec in ["TCP"].iter().chain(specs) {
        let (plugin, config) = registry.parse(spec).unwrap();
        builder.add(plugin.name, plugin.position, (plugin.build)(&config).unwrap()).unwrap();
    }
    let log = JsonLog::new(Box::new(json.clone()), false, JsonOptions::default());
    builder.add("JsonLog", Some(Position::Last), Box::new(log)).unwrap();
    let mut dispatcher = builder.build();

    let mut reader = CaptureReader::open(capture).unwrap();
    dispatcher.setup();
    while let Some(packet) = reader.next_packet().unwrap() {
        dispatcher.dispatch_packet(&packet);
    }
    dispatcher.teardown();
    let mut summary = Summary::new();
    reader.report(&mut summary);
    dispatcher.report(&mut summary);
    dispatcher.finish();
    dispatcher.dispatch_event(RunSummary { summary: summary.clone() });
    let faults: Vec<String> = dispatcher.take_faults().iter().map(ToString::to_string).collect();
    assert!(faults.is_empty(), "{faults:?}");
    drop(dispatcher); // flushes the JSON log
    let json = json.lines().iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    Run { trace: trace.lines(), json, summary }
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap()
}

/// tshark's monologues: per stream, in order, (sender, receiver, bytes).
fn golden_monologues() -> Vec<(String, String, u64)> {
    let golden = golden();
    let mut monologues = Vec::new();
    for stream in golden["tcp_streams"].as_array().unwrap() {
        let nodes = [stream["node0"].as_str().unwrap(), stream["node1"].as_str().unwrap()];
        for turn in stream["turns"].as_array().unwrap() {
            let side = turn[0].as_u64().unwrap() as usize;
            let (from, to) = (nodes[side], nodes[1 - side]);
            monologues.push((from.to_owned(), to.to_owned(), turn[1].as_u64().unwrap()));
        }
    }
    monologues
}

/// tshark's requests, in capture order: (method, URI).
fn golden_requests() -> Vec<(String, String)> {
    golden()["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["type"] == "request")
        .map(|m| (m["method"].as_str().unwrap().to_owned(), m["uri"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn example1_on_sample_emits_and_catches_one_bandwidth_per_monologue() {
    let run = run(&["Example1"]);
    let expected = golden_monologues();
    assert_eq!(expected.len(), 20);
    assert_eq!(run.trace.len(), expected.len());
    for (line, (from, to, bytes)) in run.trace.iter().zip(&expected) {
        let shape = format!(" {from} -> {to} {bytes} bytes in ");
        assert!(line.starts_with("monologue_bandwidth ") && line.contains(&shape), "{line} has{shape}");
    }
    assert_eq!(
        run.trace[1],
        "monologue_bandwidth 10.88.0.1:80-10.88.0.2:41001 #2 10.88.0.1:80 -> 10.88.0.2:41001 2193 bytes in 0.000053 s: 41377358.49 bytes/s"
    );
    let events = run.events("monologue_bandwidth");
    assert_eq!(events.len(), 20, "every bandwidth event is in the JSON log");
    assert_eq!(events[1]["bytes"], 2193);
    assert_eq!(events[1]["elapsed"], "0.000053");
    assert_eq!(events[0]["bytes_per_second"], Value::Null, "a one-packet monologue has no bandwidth");
}

#[test]
fn example2_on_sample_lists_monologues_like_tshark() {
    let run = run(&["Example2"]);
    let shapes: Vec<String> = run
        .trace
        .iter()
        .map(|line| line.split_once(' ').map(|(_, rest)| rest.to_owned()).unwrap_or_default())
        .collect();
    let expected: Vec<String> =
        golden_monologues().iter().map(|(from, to, bytes)| format!("{from} -> {to} {bytes} bytes")).collect();
    assert_eq!(shapes, expected);
    assert_eq!(run.trace[0], "1795769045.031427 10.88.0.2:41001 -> 10.88.0.1:80 83 bytes");
    assert_eq!(run.summary.count("example2_monologues_shown"), 20);
}

#[test]
fn example2_regex_with_comma_on_sample_shows_matches_in_context() {
    let run = run(&[r#"Example2,regex="(?i)content-length: [0-9]{3,4}\r",context=8"#]);
    // tshark: the Content-Length values of 3 or 4 digits are 1954, 153, 196 (the POST's
    // request) and 949; 11648 has five, the chunked responses have none.
    assert_eq!(
        run.trace,
        [
            r#"1795769045.031824 10.88.0.1:80 -> 10.88.0.2:41001 2193 bytes, match at 101: ...t/html\r\n[[Content-Length: 1954\r]]\nLast-Mo..."#,
            r#"1795769045.354424 10.88.0.1:80 -> 10.88.0.2:41002 308 bytes, match at 108: ...t/html\r\n[[Content-Length: 153\r]]\nConnect..."#,
            r#"1795769045.677348 10.88.0.2:41003 -> 10.88.0.1:80 335 bytes, match at 116: ...n/json\r\n[[Content-Length: 196\r]]\n\r\n{"pag..."#,
            r#"1795769045.999449 10.88.0.1:80 -> 10.88.0.2:41004 1182 bytes, match at 101: ...t/html\r\n[[Content-Length: 949\r]]\nLast-Mo..."#,
        ]
    );
}

#[test]
fn example3_on_sample_prints_each_uri_with_its_wait() {
    let run = run(&["HTTP", "Example3"]);
    let uris: Vec<(String, String)> = run
        .trace
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields[3].to_owned(), fields[4].to_owned())
        })
        .collect();
    assert_eq!(uris, golden_requests());
    assert_eq!(run.trace[0], "1795769045.031427 10.88.0.1:80-10.88.0.2:41001 #1 GET /index.html wait=0.000397");
    assert_eq!(run.trace[6], "1795769045.677348 10.88.0.1:80-10.88.0.2:41003 #1 POST /api/comments wait=0.000085");
    let waits = run.events("http_wait");
    assert_eq!(waits.len(), 10, "every wait is in the JSON log");
    assert_eq!(waits[5]["uri"], "/old-page.html");
    assert_eq!(waits[5]["status"], 404);
    assert_eq!(waits[5]["wait"], "0.000150");
    // The wait is the gap between the transaction's own times, as the HTTP event has them.
    let transactions = run.events("http_transaction");
    assert_eq!(transactions[0]["request_end"], waits[0]["request_end"]);
    assert_eq!(transactions[0]["response_start"], waits[0]["response_start"]);
}

#[test]
fn port_counter_on_sample_matches_tshark_byte_counts() {
    let run = run(&["PortCounter"]);
    assert_eq!(run.trace[0], "       bytes monologues  from -> to");
    assert_eq!(run.trace[1], "       17643          4  10.88.0.1:80 -> 10.88.0.2:41001");
    assert_eq!(run.trace[10], "          83          1  10.88.0.2:41004 -> 10.88.0.1:80");

    let golden = golden();
    let mut expected: Vec<(String, String, u64)> = Vec::new();
    for stream in golden["tcp_streams"].as_array().unwrap() {
        for dir in stream["dir"].as_array().unwrap() {
            let (from, to) = (dir["from"].as_str().unwrap(), dir["to"].as_str().unwrap());
            expected.push((from.to_owned(), to.to_owned(), dir["bytes"].as_u64().unwrap()));
        }
    }
    expected.sort_by_key(|e| std::cmp::Reverse(e.2));
    let counts = run.events("port_count");
    let got: Vec<(String, String, u64)> = counts
        .iter()
        .map(|c| {
            (c["from"].as_str().unwrap().to_owned(), c["to"].as_str().unwrap().to_owned(), c["bytes"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(got, expected);

    assert_eq!(run.summary.count("portcounter_pairs"), 10);
    assert_eq!(run.summary.count("portcounter_bytes"), expected.iter().map(|e| e.2).sum::<u64>());
    let summary = run.events("run_summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["portcounter_pairs"], 10);
}

#[test]
fn example_plugins_are_listed_with_their_options() {
    let _ = std::any::type_name::<PortCount>();
    let list = Registry::from_inventory().unwrap().list_text();
    for name in ["Example1", "Example2", "Example3", "PortCounter"] {
        assert!(list.lines().any(|line| line.starts_with(name)), "{name} in --list:\n{list}");
    }
    assert!(list.contains("    regex "), "{list}");
    assert!(list.contains("    top "), "{list}");
}

#[test]
fn example2_bad_regex_is_refused_by_the_command_line() {
    let code = netanalysis_cli::run(["netanalysis", "--quiet", "Example2,regex=a(b", SAMPLE]);
    assert_eq!(code, std::process::ExitCode::from(2), "a bad plugin argument is a usage error");
}

#[test]
fn port_counter_in_sharded_run_counts_each_pair_once() {
    let _ = std::any::type_name::<PortCount>();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let json = format!("JsonLog,out={}", log.display());
    // top=0 would print the whole table on stdout; one row is enough here.
    let code =
        netanalysis_cli::run(["netanalysis", "--quiet", "--threads", "3", "PortCounter,top=1", json.as_str(), SAMPLE]);
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let lines: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let mut counts: Vec<(String, u64)> = lines
        .iter()
        .filter(|line| line["event"] == "port_count")
        .map(|c| {
            (format!("{} -> {}", c["from"].as_str().unwrap(), c["to"].as_str().unwrap()), c["bytes"].as_u64().unwrap())
        })
        .collect();
    counts.sort();
    assert_eq!(counts.len(), 10, "one event per pair, whichever shard counted it");
    assert!(counts.contains(&("10.88.0.1:80 -> 10.88.0.2:41001".to_owned(), 17643)));
    let summary = lines.iter().find(|line| line["event"] == "run_summary").unwrap();
    assert_eq!(summary["portcounter_pairs"], 10, "{summary}");
    assert_eq!(summary["portcounter_bytes"], 23105, "{summary}");
}

/// The sample tiled (the training capture of the profile-guided build): every copy is
/// analysed as the original is, on sessions of its own.
#[test]
fn the_tiled_sample_gives_each_copy_the_transactions_of_the_original() {
    let fields = |run: &Run| -> Vec<String> {
        run.events("http_transaction")
            .iter()
            .map(|t| {
                let keys = ["method", "uri", "status", "request_body_bytes", "response_body_bytes", "unanswered"];
                keys.iter().map(|k| t[*k].to_string()).collect::<Vec<_>>().join(" ")
            })
            .collect()
    };
    let original = run(&["HTTP"]);
    let dir = tempfile::tempdir().unwrap();
    let tiled_path = dir.path().join("tiled.pcap");
    let sample = std::fs::read(SAMPLE).unwrap();
    let file = std::fs::File::create(&tiled_path).unwrap();
    let tiled = netanalysis_test_support::tile::tile(&sample, 4, std::io::BufWriter::new(file)).unwrap();
    assert_eq!(tiled.bytes, std::fs::metadata(&tiled_path).unwrap().len());

    let copies = run_on(&tiled_path, &["HTTP"]);
    let once = fields(&original);
    assert_eq!(once.len(), 10);
    let expected: Vec<String> = (0..4).flat_map(|_| once.iter().cloned()).collect();
    assert_eq!(fields(&copies), expected);
    let sessions = |run: &Run| {
        let mut ids: Vec<String> = run.events("tcp_session_end").iter().map(|e| e["session"].to_string()).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    assert_eq!(sessions(&original), 5);
    assert_eq!(sessions(&copies), 20);
    for key in ["packets_read", "tcp_sessions", "tcp_bytes_reassembled", "http_transactions"] {
        assert!(original.summary.count(key) > 0, "{key}");
        assert_eq!(copies.summary.count(key), 4 * original.summary.count(key), "{key}");
    }
}
