//! Each example's pipeline run on the shipped capture, its output checked line by line.
//!
//! The expected values agree with `tests/golden/http-sample.json` (tshark's view of the
//! same capture): five connections, twenty monologues, ten HTTP exchanges.

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;

/// A trace sink the test reads back.
#[derive(Clone, Default)]
struct TraceBuffer(Arc<Mutex<Vec<u8>>>);

impl TraceBuffer {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

impl Write for TraceBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn sample() -> &'static Path {
    Path::new(SAMPLE_CAPTURE)
}

#[test]
fn example1_on_sample_prints_bandwidth_of_each_monologue() {
    let trace = TraceBuffer::default();
    let summary = example1(sample(), Box::new(trace.clone())).unwrap();
    let lines = trace.lines();
    assert_eq!(lines.len(), 20);
    assert_eq!(summary.count("tcp_monologues"), 20);
    assert_eq!(
        lines[..4],
        [
            "monologue_bandwidth 10.88.0.1:80-10.88.0.2:41001 #1 10.88.0.2:41001 -> 10.88.0.1:80 83 bytes in 0.000000 s: one instant",
            "monologue_bandwidth 10.88.0.1:80-10.88.0.2:41001 #2 10.88.0.1:80 -> 10.88.0.2:41001 2193 bytes in 0.000053 s: 41377358.49 bytes/s",
            "monologue_bandwidth 10.88.0.1:80-10.88.0.2:41001 #3 10.88.0.2:41001 -> 10.88.0.1:80 124 bytes in 0.000000 s: one instant",
            "monologue_bandwidth 10.88.0.1:80-10.88.0.2:41001 #4 10.88.0.1:80 -> 10.88.0.2:41001 2716 bytes in 0.000026 s: 104461538.46 bytes/s",
        ]
    );
    assert_eq!(
        lines[19],
        "monologue_bandwidth 10.88.0.1:80-10.88.0.2:41005 #4 10.88.0.1:80 -> 10.88.0.2:41005 180 bytes in 0.000000 s: one instant"
    );
}

#[test]
fn example2_on_sample_lists_every_monologue() {
    let trace = TraceBuffer::default();
    let summary = example2(sample(), None, 16, Box::new(trace.clone())).unwrap();
    let lines = trace.lines();
    assert_eq!(summary.count("example2_monologues_shown"), 20);
    assert_eq!(
        lines[..4],
        [
            "1795769045.031427 10.88.0.2:41001 -> 10.88.0.1:80 83 bytes",
            "1795769045.031824 10.88.0.1:80 -> 10.88.0.2:41001 2193 bytes",
            "1795769045.032200 10.88.0.2:41001 -> 10.88.0.1:80 124 bytes",
            "1795769045.032898 10.88.0.1:80 -> 10.88.0.2:41001 2716 bytes",
        ]
    );
    assert_eq!(lines.len(), 20);
}

#[test]
fn example2_with_regex_on_sample_shows_only_the_404() {
    let trace = TraceBuffer::default();
    let summary = example2(sample(), Some(r"HTTP/1\.1 404"), 16, Box::new(trace.clone())).unwrap();
    assert_eq!(
        trace.lines(),
        ["1795769045.354424 10.88.0.1:80 -> 10.88.0.2:41002 308 bytes, match at 0: [[HTTP/1.1 404]] Not Found\\r\\nServ..."]
    );
    assert_eq!(summary.count("example2_monologues_shown"), 1);
}

#[test]
fn example2_with_bad_regex_fails_before_reading() {
    let err = example2(Path::new("/nonexistent.pcap"), Some("a("), 16, Box::new(io::sink())).unwrap_err();
    assert_eq!(err.to_string(), "regex `a(` is not valid: unclosed group");
}

#[test]
fn example3_on_sample_prints_wait_of_each_transaction() {
    let trace = TraceBuffer::default();
    let summary = example3(sample(), Box::new(trace.clone())).unwrap();
    assert_eq!(
        trace.lines(),
        [
            "1795769045.031427 10.88.0.1:80-10.88.0.2:41001 #1 GET /index.html wait=0.000397",
            "1795769045.032200 10.88.0.1:80-10.88.0.2:41001 #2 GET /style.css wait=0.000698",
            "1795769045.033401 10.88.0.1:80-10.88.0.2:41001 #3 GET /logo.png wait=0.000153",
            "1795769045.033828 10.88.0.1:80-10.88.0.2:41001 #4 GET /api/items.json wait=0.000213",
            "1795769045.353658 10.88.0.1:80-10.88.0.2:41002 #1 GET /news.shtml wait=0.000298",
            "1795769045.354274 10.88.0.1:80-10.88.0.2:41002 #2 GET /old-page.html wait=0.000150",
            "1795769045.677348 10.88.0.1:80-10.88.0.2:41003 #1 POST /api/comments wait=0.000085",
            "1795769045.999297 10.88.0.1:80-10.88.0.2:41004 #1 GET /about.html wait=0.000152",
            "1795769046.320352 10.88.0.1:80-10.88.0.2:41005 #1 HEAD /logo.png wait=0.000173",
            "1795769046.320811 10.88.0.1:80-10.88.0.2:41005 #2 GET /index.html wait=0.000116",
        ]
    );
    assert_eq!(summary.count("http_transactions"), 10);
}

#[test]
fn port_counter_on_sample_prints_table_largest_first() {
    let trace = TraceBuffer::default();
    let summary = port_counter(sample(), Box::new(trace.clone())).unwrap();
    assert_eq!(
        trace.lines(),
        [
            "       bytes monologues  from -> to",
            "       17643          4  10.88.0.1:80 -> 10.88.0.2:41001",
            "        2442          2  10.88.0.1:80 -> 10.88.0.2:41002",
            "        1182          1  10.88.0.1:80 -> 10.88.0.2:41004",
            "         421          2  10.88.0.1:80 -> 10.88.0.2:41005",
            "         417          4  10.88.0.2:41001 -> 10.88.0.1:80",
            "         335          1  10.88.0.2:41003 -> 10.88.0.1:80",
            "         215          2  10.88.0.2:41005 -> 10.88.0.1:80",
            "         198          1  10.88.0.1:80 -> 10.88.0.2:41003",
            "         169          2  10.88.0.2:41002 -> 10.88.0.1:80",
            "          83          1  10.88.0.2:41004 -> 10.88.0.1:80",
        ]
    );
    assert_eq!(summary.count("portcounter_pairs"), 10);
    assert_eq!(summary.count("portcounter_bytes"), 23105);
    assert_eq!(summary.count("portcounter_bytes"), summary.count("tcp_bytes_reassembled"));
}

#[test]
fn library_collects_every_transaction_of_sample() {
    let transactions = library::collect_http_transactions(sample()).unwrap();
    let seen: Vec<(String, &str, Option<u16>, Option<u64>)> = transactions
        .iter()
        .map(|t| {
            (
                t.session.to_string(),
                t.request.uri.as_str(),
                t.response.as_ref().map(|r| r.status),
                t.response.as_ref().map(|r| r.body.len),
            )
        })
        .collect();
    let key = |port: u16| format!("10.88.0.1:80-10.88.0.2:{port}");
    assert_eq!(
        seen,
        [
            (key(41001), "/index.html", Some(200), Some(1954)),
            (key(41001), "/style.css", Some(200), Some(2455)),
            (key(41001), "/logo.png", Some(200), Some(11648)),
            (key(41001), "/api/items.json", Some(200), Some(577)),
            (key(41002), "/news.shtml", Some(200), Some(1940)),
            (key(41002), "/old-page.html", Some(404), Some(153)),
            (key(41003), "/api/comments", Some(201), Some(31)),
            (key(41004), "/about.html", Some(200), Some(949)),
            (key(41005), "/logo.png", Some(200), Some(0)),
            (key(41005), "/index.html", Some(304), Some(0)),
        ]
    );
    assert_eq!(transactions[6].request.method, "POST");
    assert_eq!(transactions[6].request.body.len, 196);
}

#[test]
fn missing_capture_is_one_error_naming_it() {
    let err = port_counter(Path::new("/nonexistent/x.pcap"), Box::new(io::sink())).unwrap_err();
    assert_eq!(format!("{err:#}"), "/nonexistent/x.pcap: no such file (check the path)");
}

#[test]
fn capture_cut_short_still_prints_what_came_before() {
    let whole = std::fs::read(SAMPLE_CAPTURE).unwrap();
    let dir = std::env::temp_dir().join(format!("netanalysis-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.pcap");
    // Cut in the middle of the last packet record.
    std::fs::write(&cut, &whole[..whole.len() - 10]).unwrap();
    let trace = TraceBuffer::default();
    let err = port_counter(&cut, Box::new(trace.clone())).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(format!("{err:#}").contains("cut short"), "{err:#}");
    assert_eq!(trace.lines().len(), 11, "the table is printed for the packets before the cut");
}
