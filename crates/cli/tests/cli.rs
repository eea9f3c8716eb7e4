//! The `netanalysis` command as users run it: exit codes, messages, `--list`, `--json`,
//! trace routing, faulty plugins, and a plugin of one's own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use netanalysis_core::{
    inventory, Config, ConfigError, Context, Event, JsonEvent, JsonObject, Listener, ListenerError, ListenerResult,
    OptionKind, OptionSpec, Packet, Plugin, Subscriptions,
};
use netanalysis_test_support::runs::{timeless_log, timeless_stderr};
use netanalysis_test_support::{Rng, Side, TcpFlow};

// The custom-plugin example, compiled into this test binary: its plugin registers
// itself here exactly as it does in the example's own binary.
#[allow(dead_code)]
#[path = "../../../examples/custom_plugin.rs"]
mod custom_plugin;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netanalysis"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the netanalysis binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One keep-alive HTTP session with two exchanges, closed by FINs: 15 packets.
fn http_capture(dir: &Path) -> PathBuf {
    let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
    flow.handshake()
        .send(Side::Client, b"GET /a HTTP/1.1\r\nHost: example\r\n\r\n")
        .send(Side::Server, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        .send(Side::Client, b"GET /b HTTP/1.1\r\nHost: example\r\n\r\n")
        .send_segments(Side::Server, b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", 10)
        .close();
    let path = dir.join("http.pcap");
    std::fs::write(&path, flow.to_pcap()).unwrap();
    path
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

#[test]
fn list_shows_every_bundled_plugin_with_its_options() {
    let out = run(&["--list"]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    for name in netanalysis_cli::BUNDLED {
        assert!(listing.lines().any(|l| l.split_whitespace().next() == Some(name)), "--list lacks {name}:\n{listing}");
    }
    assert!(listing.contains("max_session_size"), "TCP's options are listed");
}

#[test]
fn json_output_parses_line_by_line_and_ends_with_a_matching_run_summary() {
    let dir = tempfile::tempdir().unwrap();
    let capture = http_capture(dir.path());
    let out = run(&["--quiet", "--json", "HTTP", capture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "--quiet prints nothing: {}", text(&out.stderr));
    let events = json_lines(&out.stdout);
    let count = |name: &str| events.iter().filter(|e| e["event"] == name).count() as u64;
    let summary = events.last().expect("at least the summary");
    assert_eq!(summary["event"], "run_summary");
    assert_eq!(summary["packets_read"], 15);
    assert_eq!(summary["tcp_sessions"], count("tcp_session_start"));
    assert_eq!(summary["tcp_monologues"], count("tcp_monologue"));
    assert_eq!(count("tcp_monologue"), 4);
    for event in &events {
        assert!(event["ts"].as_str().is_some_and(|ts| ts.contains('.')), "ts is a decimal string: {event}");
    }
}

#[test]
fn json_log_digests_read_the_monologue_bytes_and_lengths_need_none() {
    // With `digest`, the log reads the monologues' bytes (their sha256 is of what was
    // said); without, it subscribes without them and TCP keeps none, yet every line but
    // the digest is the same.
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let capture = http_capture(dir.path());
    let capture = capture.to_str().unwrap();
    let with = run(&["--quiet", "JsonLog,digest=1", "HTTP", capture]);
    let without = run(&["--quiet", "--json", "HTTP", capture]);
    assert_eq!(with.status.code(), Some(0), "stderr: {}", text(&with.stderr));
    assert_eq!(without.status.code(), Some(0), "stderr: {}", text(&without.stderr));
    let said: [&[u8]; 4] = [
        b"GET /a HTTP/1.1\r\nHost: example\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /b HTTP/1.1\r\nHost: example\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
    ];
    let expected: Vec<String> =
        said.iter().map(|bytes| sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()).collect();
    let mut with = json_lines(&with.stdout);
    let without = json_lines(&without.stdout);
    let digests: Vec<String> = with
        .iter_mut()
        .filter(|e| e["event"] == "tcp_monologue")
        .map(|e| e.as_object_mut().unwrap().remove("sha256").unwrap().as_str().unwrap().to_owned())
        .collect();
    assert_eq!(digests, expected);
    let drop_times = |events: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        events
            .into_iter()
            .map(|mut e| {
                if e["event"] == "run_summary" {
                    let o = e.as_object_mut().unwrap();
                    o.remove("elapsed_seconds");
                    o.remove("mb_per_second");
                }
                e
            })
            .collect()
    };
    assert_eq!(drop_times(with), drop_times(without));
}

#[test]
fn trace_lines_go_to_stderr_when_json_owns_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let capture = http_capture(dir.path());
    let out = run(&["--json", "TCP,v=2", capture.to_str().unwrap()]);
    assert!(out.status.success());
    json_lines(&out.stdout); // every stdout line is JSON
    assert!(text(&out.stderr).contains("tcp_monologue"), "trace lines on stderr: {}", text(&out.stderr));

    let out = run(&["--quiet", "TCP,v=2", capture.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("tcp_monologue"), "without --json, trace lines go to stdout");
}

#[test]
fn reads_a_capture_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(http_capture(dir.path())).unwrap();
    let mut child =
        bin().args(["--quiet", "--json", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(json_lines(&out.stdout).last().unwrap()["packets_read"], 15);
}

#[test]
fn file_errors_are_one_line_naming_the_file_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pcap");
    let out = run(&[missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nope.pcap"), "{err}");

    let not_capture = dir.path().join("notes.txt");
    std::fs::write(&not_capture, b"these are not packets, just some words\n").unwrap();
    let out = run(&[not_capture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("notes.txt"), "{err}");
}

#[test]
fn a_cut_short_file_is_analysed_up_to_the_cut_then_reported_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(http_capture(dir.path())).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() - 20]).unwrap();
    let out = run(&["--json", "HTTP", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let events = json_lines(&out.stdout);
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "run_summary", "teardown and the summary still ran");
    assert_eq!(summary["packets_read"], 14, "every packet before the cut was analysed");
    assert!(events.iter().any(|e| e["event"] == "tcp_session_end"), "open sessions were flushed");
    let err = text(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("cut.pcap") && last.contains("cut short"), "{err}");
}

#[test]
fn usage_errors_exit_2_with_a_suggestion() {
    let out = run(&["HTPT,v=1", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "netanalysis: unknown plugin `HTPT` (did you mean `HTTP`?); valid plugins: \
         Example1, Example2, Example3, HTTP, JsonLog, PortCounter, TCP"
    );
    let out = run(&["TCP,v", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("needs a value (v=...)"));
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no capture given"));
}

// ---- In-process runs, with plugins registered in this test binary ----

#[derive(Debug)]
struct Milestone {
    packet: u64,
}
impl Event for Milestone {
    const NAME: &'static str = "milestone";
}
impl JsonEvent for Milestone {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        out.u64("packet", self.packet);
    }
}
netanalysis_core::json_event!(Milestone);

/// Emits a plugin-defined event every `every` packets; panics or fails on request.
struct Milestones {
    every: u64,
    panic_at: Option<u64>,
    fail_at: Option<u64>,
}

impl Listener for Milestones {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets();
    }
    fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        if Some(packet.number) == self.panic_at {
            panic!("deliberate panic at packet {}", packet.number);
        }
        if Some(packet.number) == self.fail_at {
            return Err(ListenerError::msg("deliberate failure"));
        }
        if packet.number % self.every == 0 {
            ctx.emit(Milestone { packet: packet.number });
        }
        Ok(())
    }
}

fn build_milestones(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
    let every = cfg.u64("every")?.unwrap_or(1).max(1);
    Ok(Box::new(Milestones { every, panic_at: cfg.u64("panic_at")?, fail_at: cfg.u64("fail_at")? }))
}

inventory::submit! {
    Plugin {
        name: "Milestones",
        summary: "test plugin: a milestone event every N packets",
        options: &[
            OptionSpec { name: "every", kind: OptionKind::Uint, default: Some("5"), help: "packets between milestones" },
            OptionSpec { name: "panic_at", kind: OptionKind::Uint, default: None, help: "panic at this packet" },
            OptionSpec { name: "fail_at", kind: OptionKind::Uint, default: None, help: "fail at this packet" },
        ],
        build: build_milestones,
        ..Plugin::DEFAULT
    }
}

fn run_in_process(args: &[&str]) -> std::process::ExitCode {
    netanalysis_cli::run(std::iter::once("netanalysis").chain(args.iter().copied()))
}

#[test]
fn json_log_writes_a_plugin_defined_event() {
    let dir = tempfile::tempdir().unwrap();
    let capture = http_capture(dir.path());
    let log = dir.path().join("events.jsonl");
    let log_arg = format!("JsonLog,out={}", log.display());
    let status = run_in_process(&["--quiet", "Milestones,every=5", &log_arg, capture.to_str().unwrap()]);
    assert_eq!(status, std::process::ExitCode::SUCCESS);
    let events = json_lines(&std::fs::read(&log).unwrap());
    let milestones: Vec<u64> =
        events.iter().filter(|e| e["event"] == "milestone").map(|e| e["packet"].as_u64().unwrap()).collect();
    assert_eq!(milestones, [5, 10, 15]);
}

#[test]
fn a_panicking_plugin_is_disabled_the_run_completes_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let capture = http_capture(dir.path());
    let log = dir.path().join("events.jsonl");
    let log_arg = format!("JsonLog,out={}", log.display());
    let status = run_in_process(&["--quiet", "Milestones,every=1,panic_at=3", &log_arg, capture.to_str().unwrap()]);
    assert_eq!(status, std::process::ExitCode::from(1));
    let events = json_lines(&std::fs::read(&log).unwrap());
    let milestones = events.iter().filter(|e| e["event"] == "milestone").count();
    assert_eq!(milestones, 2, "milestones 1 and 2, then the plugin was disabled");
    let summary = events.last().unwrap();
    assert_eq!(summary["packets_read"], 15, "the others carried on to the end");
    assert_eq!(summary["plugin_errors"], 1);
}

#[test]
fn a_failing_plugin_is_reported_and_strict_stops_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let capture = http_capture(dir.path());
    let log = dir.path().join("events.jsonl");
    let log_arg = format!("JsonLog,out={}", log.display());
    let status = run_in_process(&["--quiet", "Milestones,fail_at=2", &log_arg, capture.to_str().unwrap()]);
    assert_eq!(status, std::process::ExitCode::from(1));
    assert_eq!(json_lines(&std::fs::read(&log).unwrap()).last().unwrap()["packets_read"], 15);

    let status = run_in_process(&["--quiet", "--strict", "Milestones,fail_at=2", &log_arg, capture.to_str().unwrap()]);
    assert_eq!(status, std::process::ExitCode::from(1));
    assert_eq!(json_lines(&std::fs::read(&log).unwrap()).last().unwrap()["packets_read"], 2, "stopped at packet 2");
}

#[test]
fn the_custom_plugin_example_registers_and_runs_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let capture = http_capture(dir.path());
    let registry = netanalysis_core::Registry::from_inventory().unwrap();
    assert!(registry.list_text().contains("BigMonologues"));
    let status = run_in_process(&["--quiet", "BigMonologues,min=10", capture.to_str().unwrap()]);
    assert_eq!(status, std::process::ExitCode::SUCCESS);
}

#[test]
fn tcp_listens_first_even_when_named_last() {
    let order =
        netanalysis_cli::listener_order(["netanalysis", "--json", "Example2", "HTTP", "TCP,v=1", "x.pcap"]).unwrap();
    assert_eq!(order, ["TCP", "Example2", "HTTP", "JsonLog"]);
    let order = netanalysis_cli::listener_order(["netanalysis", "Example3", "x.pcap"]).unwrap();
    assert_eq!(order, ["TCP", "HTTP", "Example3"], "TCP and the plugins Example3 requires are loaded unnamed");
}

/// Writes the frames of several flows, in time order, as one Ethernet capture.
fn write_interleaved(dir: &Path, name: &str, mut frames: Vec<(netanalysis_core::Timestamp, Vec<u8>)>) -> PathBuf {
    frames.sort_by_key(|(ts, _)| *ts);
    let mut pcap = netanalysis_test_support::PcapWriter::new(netanalysis_core::LinkType::ETHERNET);
    for (ts, frame) in &frames {
        pcap.record(*ts, frame);
    }
    let path = dir.join(name);
    std::fs::write(&path, pcap.into_bytes()).unwrap();
    path
}

/// Forty HTTP sessions, interleaved in time.
fn many_sessions_capture(dir: &Path) -> PathBuf {
    use netanalysis_core::Timestamp;
    let mut frames = Vec::new();
    for k in 0..40u64 {
        let client = format!("10.0.{}.{}:{}", k % 3, 10 + k, 40000 + k);
        let mut flow =
            TcpFlow::new(&client, "10.0.9.9:8080").clock(Timestamp::from_micros(1_700_000_000, k as u32 * 37), 250);
        let body = format!("body of response {k}").repeat(k as usize + 1);
        flow.handshake()
            .send(Side::Client, format!("GET /item/{k} HTTP/1.1\r\nHost: shop\r\n\r\n").as_bytes())
            .send_segments(
                Side::Server,
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
                300,
            )
            .close();
        frames.extend(flow.frames().iter().cloned());
    }
    write_interleaved(dir, "many.pcap", frames)
}

fn sorted_json(args: &[&str]) -> Vec<String> {
    let out = run(args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    sorted_lines(&out.stdout)
}

/// A JSON log's lines, sorted, without the run's wall-clock measurements.
fn sorted_lines(stdout: &[u8]) -> Vec<String> {
    json_lines(stdout); // every line is JSON
    timeless_log(&text(stdout))
}

#[test]
fn sharded_runs_log_the_same_events_as_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let capture = many_sessions_capture(dir.path());
    let capture = capture.to_str().unwrap();
    let one = sorted_json(&["--quiet", "--json", "JsonLog,packets=1", "HTTP", "Example1", "Example3", capture]);
    assert!(one.iter().filter(|l| l.contains("\"http_transaction\"")).count() == 40);
    for threads in ["2", "3"] {
        let sharded = sorted_json(&[
            "--quiet",
            "--threads",
            threads,
            "--json",
            "JsonLog,packets=1",
            "HTTP",
            "Example1",
            "Example3",
            capture,
        ]);
        let missing: Vec<&String> = one.iter().filter(|l| !sharded.contains(l)).take(5).collect();
        let extra: Vec<&String> = sharded.iter().filter(|l| !one.contains(l)).take(5).collect();
        assert!(
            one == sharded,
            "--threads {threads}: lines only in one thread's log {missing:#?}, only in the sharded {extra:#?}"
        );
    }
}

/// Thirty sessions opened 0.3 s apart that never close: with a one-second idle timeout
/// they end on the clock's ticks, at the same capture times however the run is sharded.
fn idle_sessions_capture(dir: &Path) -> PathBuf {
    use netanalysis_core::Timestamp;
    let mut frames = Vec::new();
    for k in 0..30u64 {
        let client = format!("10.2.{}.{}:{}", k % 4, 20 + k, 41000 + k);
        let start = Timestamp::from_nanos(1_700_000_000_000_000_000 + k * 300_000_000, 6);
        let mut flow = TcpFlow::new(&client, "10.2.9.9:80").clock(start, 1_000);
        flow.handshake().send(Side::Client, format!("GET /idle/{k} HTTP/1.1\r\nHost: idle\r\n\r\n").as_bytes());
        frames.extend(flow.frames().iter().cloned());
    }
    write_interleaved(dir, "idle.pcap", frames)
}

#[test]
fn sharded_runs_time_sessions_out_as_one_thread_does() {
    let dir = tempfile::tempdir().unwrap();
    let capture = idle_sessions_capture(dir.path());
    let capture = capture.to_str().unwrap();
    let args =
        |threads: &'static str| ["--quiet", "--threads", threads, "--json", "TCP,idle_timeout=1", "HTTP", capture];
    let one = sorted_json(&args("1"));
    let timeouts = one.iter().filter(|l| l.contains("\"reason\":\"timeout\"") && l.contains("tcp_session_end")).count();
    assert!(timeouts >= 20, "most sessions idle out before the capture ends ({timeouts})");
    assert!(one.iter().any(|l| l.contains("\"unanswered\":true")), "their requests end unanswered");
    for threads in ["2", "3"] {
        assert!(sorted_json(&args(threads)) == one, "--threads {threads} differs from one thread");
    }
}

#[test]
fn a_sharded_run_from_standard_input_logs_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let capture = many_sessions_capture(dir.path());
    let one = sorted_json(&["--quiet", "--json", "HTTP", capture.to_str().unwrap()]);
    let mut child = bin()
        .args(["--quiet", "--threads", "2", "--json", "HTTP", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &std::fs::read(&capture).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let sharded = sorted_lines(&out.stdout);
    assert!(sharded == one, "a stream read once and shared out gives the one-thread log");
}

/// Session `k`'s client and server: every fourth on IPv6 (`V6_PREFIX::`), the others on
/// IPv4 (`V4_NET.x.y`).
fn session_endpoints(k: u64, v6_prefix: &str, v4_net: &str, base_port: u64) -> (String, String) {
    if k % 4 == 3 {
        (format!("[{v6_prefix}::{:x}]:{}", k + 1, base_port + k), format!("[{v6_prefix}::99]:80"))
    } else {
        (format!("{v4_net}.{}.{}:{}", k % 5, 10 + k, base_port + k), format!("{v4_net}.9.9:80"))
    }
}

/// A `200 OK` response with a body of `len` letters.
fn sized_response(len: usize) -> Vec<u8> {
    let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    response.extend((0..len).map(|i| b'a' + (i % 26) as u8));
    response
}

/// The Ethernet frames of an Ethernet frame's IP packet cut into fragments of 512 bytes
/// (IPv4 or IPv6, identification `id`).
fn fragmented_frames(frame: &[u8], id: u64) -> Vec<Vec<u8>> {
    use netanalysis_test_support::frames;
    let ip = &frame[14..];
    let pieces = if ip[0] >> 4 == 4 {
        frames::ipv4_fragments(ip, 512, id as u16)
    } else {
        frames::ipv6_fragments(ip, 512, id as u32)
    };
    pieces
        .iter()
        .map(|piece| {
            let ether_type = if piece[0] >> 4 == 4 { frames::ETHERTYPE_IPV4 } else { frames::ETHERTYPE_IPV6 };
            frames::ethernet(ether_type, piece)
        })
        .collect()
}

/// The first fragment (an Ethernet frame) of a UDP datagram whose rest never comes.
fn lost_first_fragment() -> Vec<u8> {
    use netanalysis_test_support::frames;
    let lost = frames::udp_v4([10, 6, 0, 1], [10, 6, 0, 2], 6000, 6001, &[7; 3000]);
    let first = frames::ipv4_fragments(&lost, 1024, 4242).remove(0);
    frames::ethernet(frames::ETHERTYPE_IPV4, &first)
}

/// A UDP frame padded to `len` bytes.
fn jumbo_frame(len: usize) -> Vec<u8> {
    use netanalysis_test_support::frames;
    let mut jumbo = frames::ethernet(frames::ETHERTYPE_IPV4, &frames::udp_v4([10, 7, 0, 1], [10, 7, 0, 2], 7, 7, b"x"));
    jumbo.resize(len, 0x5a);
    jumbo
}

/// A pcapng capture mixing what a sharded run must give the same as one thread: HTTP
/// sessions over IPv4 and IPv6 on Ethernet, Linux cooked and raw IP interfaces, some of
/// them sent in IP fragments; a datagram that never completes; UDP, ARP, undecodable
/// frames, frames on an interface with no decoder and on one never described; a record
/// larger than the reader's buffer; several megabytes, so the reader goes through many
/// buffers; and a capture time spanning several seconds of ticks.
fn mixed_capture(dir: &Path) -> PathBuf {
    use netanalysis_core::{LinkType, Timestamp};
    use netanalysis_test_support::frames;
    use netanalysis_test_support::PcapNgWriter;

    let at =
        |k: u64, micros: u64| Timestamp::from_nanos(1_700_000_000_000_000_000 + k * 173_000_000 + micros * 1000, 6);
    // (time, interface, frame); interface 0 is Ethernet, 1 Linux cooked, 2 raw IP.
    let mut records: Vec<(Timestamp, u32, Vec<u8>)> = Vec::new();
    let wrap = |interface: u32, ethernet: &[u8]| -> Vec<u8> {
        let ether_type = u16::from_be_bytes([ethernet[12], ethernet[13]]);
        match interface {
            0 => ethernet.to_vec(),
            1 => frames::sll(ether_type, &ethernet[14..]),
            _ => ethernet[14..].to_vec(),
        }
    };
    for k in 0..36u64 {
        let interface = (k % 3) as u32;
        let (client, server) = session_endpoints(k, "fd00", "10.3", 42000);
        let mut flow = TcpFlow::new(&client, &server).clock(at(k, 0), 700);
        let response = sized_response(20_000 + k as usize * 4_000);
        flow.handshake()
            .send(Side::Client, format!("GET /mixed/{k} HTTP/1.1\r\nHost: mixed\r\n\r\n").as_bytes())
            .send_segments(Side::Server, &response, 1400)
            .close();
        let fragmented = k % 5 == 1;
        for (index, (ts, frame)) in flow.frames().iter().enumerate() {
            if fragmented && frame.len() > 600 {
                for piece in fragmented_frames(frame, k * 100 + index as u64) {
                    records.push((*ts, interface, wrap(interface, &piece)));
                }
            } else {
                records.push((*ts, interface, wrap(interface, frame)));
            }
        }
        // Datagrams of other kinds, between the session's packets.
        let udp = frames::udp_v4([10, 4, 0, k as u8], [10, 4, 1, 1], 5000 + k as u16, 53, b"query");
        records.push((at(k, 350), 0, frames::ethernet(frames::ETHERTYPE_IPV4, &udp)));
        records.push((at(k, 360), 0, frames::ethernet(frames::ETHERTYPE_ARP, &[0, 1, 8, 0, 6, 4, 0, 1])));
        let short_tcp = frames::ip_v4([10, 5, 0, k as u8], [10, 5, 0, 1], 6, &[0, 80, 0]);
        records.push((at(k, 370), 2, short_tcp));
        records.push((at(k, 380), 0, vec![0xff; 9]));
        records.push((at(k, 390), 3, vec![0xab; 64]));
        records.push((at(k, 395), 7, vec![0xcd; 64]));
    }
    // The first fragment of a datagram whose rest never comes, and a record larger than
    // the reader's buffer.
    records.push((at(3, 500), 0, lost_first_fragment()));
    records.push((at(20, 100), 0, jumbo_frame(3 << 20)));
    records.sort_by_key(|(ts, _, _)| *ts);

    let mut file = PcapNgWriter::new(false);
    file.interface(LinkType::ETHERNET, Some(9))
        .interface(LinkType::LINUX_SLL, None)
        .interface(LinkType::RAW, None)
        .interface(LinkType(147), None);
    for (ts, interface, frame) in &records {
        let units = if *interface == 0 { ts.as_nanos() } else { ts.as_nanos() / 1000 };
        file.packet(*interface, units, frame);
    }
    let path = dir.join("mixed.pcapng");
    std::fs::write(&path, file.into_bytes()).unwrap();
    path
}

/// A classic pcap file of several megabytes (a sharded run reads it in many chunks, on
/// every shard) with what reading in chunks must get right: records across chunk
/// boundaries, a record longer than a chunk, IP fragments of one datagram far apart (in
/// different chunks), frames that do not decode or were cut by the snapshot length, and
/// packets over a dozen seconds (ticks, idle timeouts). Returns the file's bytes and
/// where each record starts.
fn chunked_capture(big_endian: bool) -> (Vec<u8>, Vec<usize>) {
    use netanalysis_core::{LinkType, Timestamp};
    use netanalysis_test_support::frames;
    use netanalysis_test_support::{PcapWriter, Resolution};

    let at =
        |k: u64, micros: u64| Timestamp::from_nanos(1_700_000_000_000_000_000 + k * 310_000_000 + micros * 1000, 9);
    let mut records: Vec<(Timestamp, Vec<u8>, u32)> = Vec::new();
    for k in 0..40u64 {
        let (client, server) = session_endpoints(k, "fd01", "10.8", 43000);
        let mut flow = TcpFlow::new(&client, &server).clock(at(k, 0), 900);
        let response = sized_response(40_000 + k as usize * 3_000);
        flow.handshake().send(Side::Client, format!("GET /chunked/{k} HTTP/1.1\r\nHost: chunks\r\n\r\n").as_bytes());
        if k % 7 != 6 {
            flow.send_segments(Side::Server, &response, 1400).close();
        }
        for (index, (ts, frame)) in flow.frames().iter().enumerate() {
            if k % 5 == 1 && frame.len() > 600 {
                // Each fragment 40 ms after the one before: other sessions' packets, and
                // chunk boundaries, come between them.
                for (n, piece) in fragmented_frames(frame, k * 100 + index as u64).into_iter().enumerate() {
                    let ts = Timestamp::from_nanos(ts.as_nanos() + n as u64 * 40_000_000, 9);
                    let len = piece.len() as u32;
                    records.push((ts, piece, len));
                }
            } else {
                records.push((*ts, frame.clone(), frame.len() as u32));
            }
        }
        let udp = frames::udp_v4([10, 9, 0, k as u8], [10, 9, 1, 1], 5000 + k as u16, 53, b"query");
        records.push((at(k, 350), frames::ethernet(frames::ETHERTYPE_IPV4, &udp), 100));
        records.push((at(k, 360), frames::ethernet(frames::ETHERTYPE_ARP, &[0, 1, 8, 0, 6, 4, 0, 1]), 42));
        let short_tcp = frames::ip_v4([10, 5, 0, k as u8], [10, 5, 0, 1], 6, &[0, 80, 0]);
        records.push((at(k, 370), frames::ethernet(frames::ETHERTYPE_IPV4, &short_tcp), 60));
        records.push((at(k, 380), vec![0xff; 9], 9));
    }
    // The first fragment of a datagram whose rest never comes, and a record longer than
    // a chunk.
    records.push((at(3, 500), lost_first_fragment(), 1058));
    records.push((at(20, 100), jumbo_frame(600 << 10), 700 << 10));
    records.sort_by_key(|(ts, _, _)| *ts);
    let mut pcap = PcapWriter::with_options(LinkType::ETHERNET, Resolution::Nano, big_endian, 1 << 20);
    let mut starts = Vec::new();
    for (ts, frame, orig_len) in &records {
        starts.push(pcap.bytes().len());
        pcap.record_truncated(*ts, frame, (*orig_len).max(frame.len() as u32));
    }
    (pcap.into_bytes(), starts)
}

#[test]
fn sharded_runs_reading_a_pcap_in_chunks_log_and_count_as_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    for big_endian in [false, true] {
        let (file, starts) = chunked_capture(big_endian);
        assert!(file.len() > 12 * (256 << 10), "{} bytes: many chunks", file.len());
        let path = dir.path().join("chunks.pcap");
        let capture = path.to_str().unwrap();
        let args = |threads: &'static str| {
            ["--threads", threads, "--json", "JsonLog,packets=1", "TCP,idle_timeout=2", "HTTP", "PortCounter", capture]
        };
        // The whole file; cut inside a record two thirds in; an impossible length in a
        // record's header halfway.
        let mut damaged = file.clone();
        let half = starts[starts.len() / 2];
        damaged[half + 8..half + 12].copy_from_slice(&[0x7f, 0xff, 0xff, 0x7f]);
        for (bytes, error) in [
            (&file[..], None),
            (&file[..starts[starts.len() * 2 / 3] + 30], Some("cut short")),
            (&damaged[..], Some("claims")),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let outcome = |threads| comparable_outcome(&args(threads));
            let one = outcome("1");
            assert_eq!(one.0, Some(if error.is_some() { 2 } else { 0 }), "{:#?}", one.2);
            assert!(error.is_none_or(|e| one.2.iter().any(|l| l.contains(e))), "{:#?}", one.2);
            let summary: serde_json::Value =
                serde_json::from_str(one.1.iter().find(|l| l.contains("\"run_summary\"")).unwrap()).unwrap();
            if error.is_none() {
                for key in [
                    "ip_fragments_reassembled",
                    "ip_fragments_pending",
                    "packets_snaplen_cut",
                    "packets_undecoded_not_ip",
                    "packets_undecoded_bad_link_header",
                    "packets_undecoded_bad_transport_header",
                    "tcp_sessions_timed_out",
                ] {
                    assert!(summary[key].as_u64().is_some_and(|n| n > 0), "the capture has some {key}: {summary}");
                }
                assert_eq!(summary["packets_read"].as_u64(), Some(starts.len() as u64));
                assert_eq!(one.1.iter().filter(|l| l.contains("\"http_transaction\"")).count(), 40);
            }
            for threads in ["2", "3", "4"] {
                let sharded = outcome(threads);
                let missing: Vec<&String> = one.1.iter().filter(|l| !sharded.1.contains(l)).take(5).collect();
                let extra: Vec<&String> = sharded.1.iter().filter(|l| !one.1.contains(l)).take(5).collect();
                assert!(
                    sharded == one,
                    "--threads {threads}, error {error:?}: only in one thread's log {missing:#?}, \
                     only in the sharded {extra:#?}; stderr {:#?} against {:#?}",
                    sharded.2,
                    one.2
                );
            }
        }
        // Bytes overwritten at random, half of them in record headers (what framing
        // reads): whatever the damage does to the records that follow, a sharded run
        // ends, logs and counts as one thread does.
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ u64::from(big_endian));
        for round in 0..5 {
            let mut bytes = file.clone();
            let mut places = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let at = if rng.below(2) == 0 {
                    starts[rng.below(starts.len() as u64) as usize] + rng.below(16) as usize
                } else {
                    24 + rng.below(file.len() as u64 - 24) as usize
                };
                bytes[at] = rng.next() as u8;
                places.push(at);
            }
            std::fs::write(&path, &bytes).unwrap();
            let threads = if round % 2 == 0 { "2" } else { "3" };
            let (one, sharded) = (comparable_outcome(&args("1")), comparable_outcome(&args(threads)));
            assert!(
                sharded == one,
                "--threads {threads}, bytes overwritten at {places:?}: stderr {:#?} against {:#?}",
                sharded.2,
                one.2
            );
        }
    }
}

/// A run's exit status, sorted JSON log and sorted stderr, without what depends on
/// timing (`timeless_stderr`).
fn comparable_outcome(args: &[&str]) -> (Option<i32>, Vec<String>, Vec<String>) {
    let out = run(args);
    (out.status.code(), sorted_lines(&out.stdout), timeless_stderr(&text(&out.stderr)))
}

/// Runs the command with `stdin` written from another thread (the output may fill its
/// pipe before the input is all written).
fn run_with_stdin(args: &[&str], stdin: Vec<u8>) -> Output {
    let mut child =
        bin().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut input, &stdin);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn sharded_runs_of_a_mixed_capture_log_and_count_the_same_as_one_thread() {
    fn args<'a>(threads: &'a str, input: &'a str) -> [&'a str; 9] {
        ["--quiet", "--threads", threads, "--json", "JsonLog,packets=1", "HTTP", "Example3", "PortCounter", input]
    }
    let dir = tempfile::tempdir().unwrap();
    let capture = mixed_capture(dir.path());
    let capture = capture.to_str().unwrap();
    let one = sorted_json(&args("1", capture));
    let summary: serde_json::Value =
        serde_json::from_str(one.iter().find(|l| l.contains("\"run_summary\"")).expect("a run summary")).unwrap();
    for key in [
        "ip_fragments_reassembled",
        "ip_fragments_pending",
        "packets_undecoded_not_ip",
        "packets_undecoded_bad_link_header",
        "packets_undecoded_bad_transport_header",
        "packets_undecoded_unknown_interface",
        "link_type_unsupported",
    ] {
        assert!(summary[key].as_u64().is_some_and(|n| n > 0), "the capture has some {key}: {summary}");
    }
    assert_eq!(one.iter().filter(|l| l.contains("\"http_transaction\"")).count(), 36);
    for threads in ["2", "3", "4"] {
        let sharded = sorted_json(&args(threads, capture));
        let missing: Vec<&String> = one.iter().filter(|l| !sharded.contains(l)).take(5).collect();
        let extra: Vec<&String> = sharded.iter().filter(|l| !one.contains(l)).take(5).collect();
        assert!(
            one == sharded,
            "--threads {threads}: only in one thread's log {missing:#?}, only in the sharded {extra:#?}"
        );
    }
    let piped = run_with_stdin(&args("2", "-"), std::fs::read(capture).unwrap());
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    assert!(sorted_lines(&piped.stdout) == one, "a stream read once and shared out gives the one-thread log");
}

#[test]
fn sharded_runs_print_the_same_summary_and_warnings_as_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let capture = mixed_capture(dir.path());
    let stderr = |threads: &str| {
        let out = run(&["--threads", threads, "HTTP", capture.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        // The first summary line has the run's wall-clock time and speed.
        text(&out.stderr).lines().filter(|l| !l.contains(" MB/s)")).map(str::to_owned).collect::<Vec<_>>()
    };
    let one = stderr("1");
    assert!(one.iter().any(|l| l.contains("warning")), "the capture draws warnings: {one:#?}");
    for threads in ["2", "3"] {
        assert_eq!(stderr(threads), one, "--threads {threads}");
    }
}

#[test]
fn sharded_runs_end_on_plugin_failures_as_one_thread_does() {
    let dir = tempfile::tempdir().unwrap();
    let capture = many_sessions_capture(dir.path());
    let capture = capture.to_str().unwrap();
    let log = dir.path().join("events.jsonl");
    let log_arg = format!("JsonLog,out={}", log.display());
    let read = || json_lines(&std::fs::read(&log).unwrap()).last().unwrap()["packets_read"].as_u64().unwrap();
    let all = {
        assert_eq!(run_in_process(&["--quiet", &log_arg, capture]), std::process::ExitCode::from(0));
        read()
    };
    for threads in ["2", "3"] {
        let panics = ["--quiet", "--threads", threads, "Milestones,every=1,panic_at=3", &log_arg, capture];
        assert_eq!(run_in_process(&panics), std::process::ExitCode::from(1), "--threads {threads}");
        assert_eq!(read(), all, "a panicking plugin does not stop the run");
        let strict = ["--quiet", "--threads", threads, "--strict", "Milestones,fail_at=2", &log_arg, capture];
        assert_eq!(run_in_process(&strict), std::process::ExitCode::from(1), "--threads {threads} --strict");
    }
}

#[test]
fn a_sharded_run_into_a_closed_pipe_ends_with_status_0() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    // A pcapng file, read in turns; a pcap file, read in chunks.
    let pcap = dir.path().join("chunks.pcap");
    std::fs::write(&pcap, chunked_capture(false).0).unwrap();
    for capture in [mixed_capture(dir.path()), pcap] {
        let mut child = bin()
            .args(["--threads", "2", "--json", "JsonLog,packets=1", "HTTP", capture.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.starts_with("{\"event\":"), "{first}");
        // The reader is dropped: the pipe is closed. The run must end by itself.
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                let _ = child.kill();
                panic!("a sharded run into a closed pipe did not end ({})", capture.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "{}", capture.display());
    }
}
