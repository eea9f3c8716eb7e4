//! Faults the pipeline must survive: a plugin that panics or fails, output written to a
//! closed pipe, and a capture that grows while it is read.
//!
//! Plugin faults run the command in process (`netanalysis_cli::run`), so the faulty plugin
//! registered below is on its command line. Pipes and `--follow` need the real binary:
//! [`netanalysis_bin`] builds it once with the cargo running these tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use netanalysis_core::{
    inventory, Config, ConfigError, Context, Event, Flow, LinkType, Listener, ListenerError, ListenerResult,
    OptionKind, OptionSpec, Packet, Plugin, Subscriptions, Timestamp,
};
use netanalysis_test_support::{PcapWriter, Side, TcpFlow};

/// The `netanalysis` binary of this build (the profile these tests were built with);
/// `NETANALYSIS_BIN` overrides it.
///
/// A binary linked after the newest build of the CLI library is used as it is, so a run
/// of `cargo test --workspace --all-features` keeps the binary its features built. Only
/// a missing or stale one (this package tested alone after a change) is built, once,
/// with the cargo running these tests.
pub(crate) fn netanalysis_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("NETANALYSIS_BIN") {
            return PathBuf::from(path);
        }
        // This test binary is <target>/<profile>/deps/it-<hash>.
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("test binaries live in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("the profile folder has a parent");
        let bin = profile_dir.join(format!("netanalysis{}", std::env::consts::EXE_SUFFIX));
        if is_fresh(&bin, &profile_dir.join("deps")) {
            return bin;
        }
        let profile = profile_dir.file_name().and_then(|p| p.to_str()).unwrap_or("debug");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "netanalysis-cli", "--bin", "netanalysis"])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        match profile {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the netanalysis binary failed: {status}");
        bin
    })
    .clone()
}

/// Whether `bin` exists and was linked after the newest CLI library in `deps`.
fn is_fresh(bin: &Path, deps: &Path) -> bool {
    let Some(linked) = std::fs::metadata(bin).and_then(|m| m.modified()).ok() else { return false };
    let newest_lib = std::fs::read_dir(deps).ok().and_then(|entries| {
        entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libnetanalysis_cli-") && name.ends_with(".rlib")
            })
            .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
            .max()
    });
    newest_lib.is_some_and(|lib| linked >= lib)
}

/// Frames in each session of [`http_sessions`]: handshake, request, response, close.
pub(crate) const FRAMES_PER_SESSION: u64 = 8;

/// `sessions` HTTP sessions, one GET and one 200 each, as a pcap file.
pub(crate) fn http_sessions(sessions: u16) -> Vec<u8> {
    let mut frames = Vec::new();
    for n in 0..sessions {
        let mut flow = TcpFlow::new(&format!("10.0.{}.{}:{}", n / 250, n % 250 + 1, 20_000 + n), "10.9.9.9:80");
        flow.handshake()
            .send(Side::Client, format!("GET /item/{n} HTTP/1.1\r\nHost: example.test\r\n\r\n").as_bytes())
            .send(Side::Server, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nitem!\n")
            .close();
        frames.extend(flow.frames().iter().map(|(_, frame)| frame.clone()));
    }
    // Every frame on one clock, 1 ms apart, so the capture is in time order.
    let mut pcap = PcapWriter::new(LinkType::ETHERNET);
    for (i, frame) in frames.iter().enumerate() {
        pcap.record(Timestamp::from_micros(1_700_000_000 + i as u64 / 1000, (i % 1000) as u32 * 1000), frame);
    }
    pcap.into_bytes()
}

/// Reads the JSON log and returns its lines.
pub(crate) fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

/// The `run_summary` line of a JSON log.
pub(crate) fn run_summary(lines: &[serde_json::Value]) -> &serde_json::Value {
    lines.iter().rev().find(|l| l["event"] == "run_summary").expect("the log ends with a run_summary line")
}

pub(crate) fn count_events(lines: &[serde_json::Value], event: &str) -> usize {
    lines.iter().filter(|l| l["event"] == event).count()
}

// ---------------------------------------------------------------------------------------
// A deliberately faulty plugin.

#[derive(Debug)]
struct FaultyTick;
impl Event for FaultyTick {
    const NAME: &'static str = "faulty_tick";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Panic,
    Fail,
    Teardown,
    Runaway,
}

#[derive(Debug)]
struct Faulty {
    mode: Mode,
    at: u64,
    seen: u64,
}

impl Listener for Faulty {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets().event::<FaultyTick>();
    }

    fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        self.seen += 1;
        if self.seen < self.at {
            return Ok(());
        }
        match self.mode {
            Mode::Panic => panic!("FaultyTest gives up at packet {}", packet.number),
            Mode::Fail => Err(ListenerError::msg(format!("FaultyTest refuses packet {}", packet.number))),
            Mode::Runaway => {
                ctx.emit(FaultyTick);
                Ok(())
            }
            Mode::Teardown => Ok(()),
        }
    }

    fn on_event(&mut self, _event: &dyn netanalysis_core::AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        // Every tick causes two more: the frame never ends on its own.
        ctx.emit(FaultyTick);
        ctx.emit(FaultyTick);
        Ok(())
    }

    fn on_teardown(&mut self, _ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        if self.mode == Mode::Teardown {
            panic!("FaultyTest panics in teardown");
        }
        Ok(Flow::Done)
    }
}

fn build_faulty(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
    let mode = match cfg.text("mode")?.unwrap_or("panic") {
        "panic" => Mode::Panic,
        "fail" => Mode::Fail,
        "teardown" => Mode::Teardown,
        "runaway" => Mode::Runaway,
        other => return Err(cfg.invalid(format!("unknown mode {other}"))),
    };
    Ok(Box::new(Faulty { mode, at: cfg.u64("at")?.unwrap_or(1), seen: 0 }))
}

inventory::submit! {
    Plugin {
        name: "FaultyTest",
        summary: "test plugin: panics, fails or runs away on purpose",
        options: &[
            OptionSpec { name: "mode", kind: OptionKind::Text, default: Some("panic"), help: "panic, fail, teardown or runaway" },
            OptionSpec { name: "at", kind: OptionKind::Uint, default: Some("1"), help: "the packet it starts at" },
        ],
        build: build_faulty,
        ..Plugin::DEFAULT
    }
}

/// Runs the command in process with the faulty plugin placed before HTTP, the JSON log
/// written to a file; returns the exit code and the log's lines.
fn run_with_faulty(spec: &str, extra: &[&str]) -> (ExitCode, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("http.pcap");
    std::fs::write(&capture, http_sessions(3)).unwrap();
    let log = dir.path().join("log.jsonl");
    let json = format!("JsonLog,out={}", log.display());
    let mut args = vec!["netanalysis", "--quiet"];
    args.extend_from_slice(extra);
    args.extend([spec, "HTTP", json.as_str(), capture.to_str().unwrap()]);
    let code = netanalysis_cli::run(args);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    (code, json_lines(&text))
}

#[test]
fn panicking_plugin_is_disabled_and_the_pipeline_finishes() {
    let (code, lines) = run_with_faulty("FaultyTest,mode=panic,at=4", &[]);
    assert_eq!(code, ExitCode::from(1), "a plugin failure exits 1");
    assert_eq!(count_events(&lines, "http_transaction"), 3, "HTTP saw every transaction");
    let summary = run_summary(&lines);
    assert_eq!(summary["plugin_errors"], 1, "the panic is reported once, then the plugin is off: {summary}");
    assert_eq!(summary["packets_read"], 3 * FRAMES_PER_SESSION);
}

#[test]
fn failing_plugin_is_reported_each_time_and_the_pipeline_finishes() {
    let (code, lines) = run_with_faulty("FaultyTest,mode=fail", &[]);
    assert_eq!(code, ExitCode::from(1));
    assert_eq!(count_events(&lines, "http_transaction"), 3);
    let summary = run_summary(&lines);
    assert_eq!(summary["plugin_errors"], 3 * FRAMES_PER_SESSION, "one error per packet: {summary}");
}

#[test]
fn plugin_panicking_in_teardown_does_not_stop_the_others_teardown() {
    let (code, lines) = run_with_faulty("FaultyTest,mode=teardown", &[]);
    assert_eq!(code, ExitCode::from(1));
    assert_eq!(count_events(&lines, "http_transaction"), 3);
    assert_eq!(run_summary(&lines)["plugin_errors"], 1);
}

#[test]
fn runaway_plugin_is_cut_off_per_frame_and_the_pipeline_finishes() {
    let (code, lines) = run_with_faulty("FaultyTest,mode=runaway,at=20", &[]);
    assert_eq!(code, ExitCode::from(1));
    assert_eq!(count_events(&lines, "http_transaction"), 3);
    let summary = run_summary(&lines);
    assert_eq!(summary["packets_read"], 3 * FRAMES_PER_SESSION);
    assert!(summary["plugin_errors"].as_u64() >= Some(1), "each runaway frame is a fault: {summary}");
}

#[test]
fn strict_stops_at_the_first_plugin_fault() {
    let (code, lines) = run_with_faulty("FaultyTest,mode=fail,at=2", &["--strict"]);
    assert_eq!(code, ExitCode::from(1));
    assert!(count_events(&lines, "http_transaction") < 3, "the run stopped early");
}

// ---------------------------------------------------------------------------------------
// Output to a closed pipe.

/// Spawns the binary with `args`, reads one line of its stdout, closes the pipe and
/// returns the exit status and stderr.
fn read_one_line_then_close(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(netanalysis_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the netanalysis binary starts");
    let mut first = String::new();
    {
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        stdout.read_line(&mut first).unwrap();
        // Dropping the reader closes the read end while the writer is still busy.
    }
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).unwrap();
    (child.wait().unwrap(), first, stderr)
}

#[test]
fn json_log_into_a_closed_pipe_ends_quietly_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("many.pcap");
    std::fs::write(&capture, http_sessions(600)).unwrap();
    let (status, first, stderr) = read_one_line_then_close(&["--json", "HTTP", capture.to_str().unwrap()]);
    assert!(first.starts_with("{\"event\":"), "the first line is JSON: {first}");
    assert_eq!(status.code(), Some(0), "status 0 after a closed pipe; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"), "quiet: {stderr}");
}

#[test]
fn trace_lines_into_a_closed_pipe_end_quietly_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("many.pcap");
    std::fs::write(&capture, http_sessions(600)).unwrap();
    let (status, first, stderr) = read_one_line_then_close(&["TCP,v=7", "HTTP,v=1", capture.to_str().unwrap()]);
    assert!(!first.is_empty());
    assert_eq!(status.code(), Some(0), "status 0 after a closed pipe; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"), "quiet: {stderr}");
}

#[test]
fn shell_pipe_into_head_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("many.pcap");
    std::fs::write(&capture, http_sessions(600)).unwrap();
    let out = Command::new("bash")
        .args(["-c", "set -o pipefail; \"$0\" --json HTTP \"$1\" | head -1"])
        .arg(netanalysis_bin())
        .arg(&capture)
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "`netanalysis --json HTTP FILE | head -1` exits 0; stderr:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(!stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"), "quiet: {stderr}");
}

// ---------------------------------------------------------------------------------------
// A capture that grows while it is read.

/// Waits for `child` at most `limit`, killing it past that.
fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("netanalysis did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn follow_reads_a_growing_capture_to_the_end_and_stops_after_idle() {
    const SESSIONS: u16 = 40;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.pcap");
    let bytes = http_sessions(SESSIONS);
    // The file starts with its header and a record cut in the middle, as tcpdump leaves it
    // between two writes.
    let first = 24 + 50;
    std::fs::write(&path, &bytes[..first]).unwrap();

    let mut child = Command::new(netanalysis_bin())
        .args(["--follow", "--follow-idle", "1.5", "--json", "HTTP", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the netanalysis binary starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            // Odd-sized steps, so records are split across writes.
            for chunk in bytes[first..].chunks(bytes.len() / 7 + 13) {
                std::thread::sleep(Duration::from_millis(300));
                file.write_all(chunk).unwrap();
                file.flush().unwrap();
            }
        })
    };
    writer.join().unwrap();
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).unwrap();
    let lines = json_lines(&reader.join().unwrap());
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(!stderr.contains("cut short"), "no false cut-short error: {stderr}");
    assert_eq!(run_summary(&lines)["packets_read"], u64::from(SESSIONS) * FRAMES_PER_SESSION, "every packet was seen");
    assert_eq!(count_events(&lines, "http_transaction"), usize::from(SESSIONS));
}

#[test]
fn without_follow_a_half_written_capture_is_reported_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.pcap");
    let bytes = http_sessions(2);
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let out = Command::new(netanalysis_bin()).args(["HTTP", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a cut-short file is a file-level error");
}

/// Waits until process `pid` holds `path` open (Linux: through /proc), at most 60 s.
fn wait_until_open(pid: u32, path: &Path) {
    let started = Instant::now();
    let path = path.canonicalize().unwrap();
    while started.elapsed() < Duration::from_secs(60) {
        let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path)))
            .unwrap_or(false);
        if open {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("netanalysis never opened {}", path.display());
}

#[test]
fn follow_ends_on_interrupt_and_teardown_flushes_open_sessions() {
    if !Path::new("/proc/self/fd").is_dir() {
        eprintln!("skipped: needs /proc to see when the capture is open");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.pcap");
    // One session left open: handshake and a request, no answer, no close.
    let mut flow = TcpFlow::new("10.0.0.1:40000", "10.0.0.2:80");
    flow.handshake().send(Side::Client, b"GET /pending HTTP/1.1\r\nHost: example.test\r\n\r\n");
    std::fs::write(&path, flow.to_pcap()).unwrap();

    let mut child = Command::new(netanalysis_bin())
        .args(["--follow", "--json", "HTTP", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the netanalysis binary starts");
    wait_until_open(child.id(), &path);
    // The Ctrl-C handler is installed right after the capture is opened.
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let mut stdout = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout).unwrap();
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends a followed run cleanly; stderr:\n{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(count_events(&lines, "tcp_session_end"), 1, "teardown ended the open session");
    assert_eq!(run_summary(&lines)["packets_read"], 4);
}

/// On a quiet live capture the wall clock still moves: a session that stops talking ends
/// by its idle timeout while nothing else arrives. Says "skipped" without the `pcap`
/// feature or without capture permission.
#[test]
fn live_capture_times_out_a_quiet_session_by_the_wall_clock() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(netanalysis_bin())
        .args(["--live", "lo", "--filter", &format!("tcp port {port}"), "TCP,idle_timeout=1,v=4"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the netanalysis binary starts");
    // Time to open the capture (or to refuse to).
    std::thread::sleep(Duration::from_millis(1500));
    if child.try_wait().unwrap().is_some() {
        let mut stderr = String::new();
        child.stderr.take().expect("piped").read_to_string(&mut stderr).unwrap();
        println!("skipped: {}", stderr.trim());
        return;
    }
    // A session that says hello and then nothing, kept open.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"hello").unwrap();
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    // The timeout (1 s) passes with no packet; the wall clock ticks once a second.
    std::thread::sleep(Duration::from_secs(4));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = wait_at_most(&mut child, Duration::from_secs(30));
    drop((client, server));
    let mut stdout = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout).unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}");
    let key = format!("127.0.0.1:{port}");
    let end = stdout
        .lines()
        .find(|l| l.starts_with("tcp_session_end") && l.contains(&key))
        .unwrap_or_else(|| panic!("the session ended: {stdout}"));
    assert!(end.contains("reason=timeout"), "{end}");
}
