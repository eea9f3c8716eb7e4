//! Compares `--threads 1` with `--threads N` on damaged copies of capture files.
//!
//! ```sh
//! cargo build --release
//! cargo run --release -p netanalysis-cli --example threads-diff -- \
//!     target/release/netanalysis 600 1 captures/*.pcap more/*.pcap
//! ```
//!
//! Arguments: the binary, how many seconds to run, a seed, then the captures (pcap or
//! pcapng; files too small to damage are left out). Each round copies a capture with
//! damage of one kind: bits flipped, bytes set to 0, 0xff, 0x7f, 0x80 or anything, the
//! file cut anywhere, or a stretch of up to 400 bytes copied elsewhere in it; nineteen
//! rounds in twenty leave the first 24 bytes whole, so most copies of a classic pcap file
//! are still read in chunks (`chunked.rs`; pcapng files are read in turns, `shards.rs`).
//! Then it runs the binary on the copy with one thread and with 2, 3 or 4, in one
//! of a few plugin sets with the JSON log on standard output, and compares the exit
//! status, the log sorted as whole lines and standard error sorted, without what depends
//! on timing (`elapsed_seconds`, `mb_per_second`, the speed on the first summary line and
//! the "so far" counts of warnings). A copy that gives a difference is kept as
//! `threads-diff-K.pcap` in the working directory and the difference printed. Exits 1 if
//! there was any.
//!
//! Comparing runs this way found a shard that framed a chunk past the capture's end and
//! stopped the run before another shard had dispatched its last packets: two runs in
//! 50,078 differed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use netanalysis_test_support::runs::{timeless_log, timeless_stderr};
use netanalysis_test_support::Rng;

const PLUGIN_SETS: [&[&str]; 5] = [
    &["--json", "HTTP"],
    &["--json", "HTTP,decode=1"],
    &["--json", "TCP"],
    &["--json", "PortCounter"],
    &["--json", "HTTP", "PortCounter"],
];

/// The magic numbers of the classic pcap format (either resolution, and the modified
/// variant) and of a pcapng section header, in either byte order.
const MAGICS: [u32; 4] = [0xa1b2_c3d4, 0xa1b2_3c4d, 0xa1b2_cd34, 0x0a0d_0d0a];

fn is_capture(bytes: &[u8]) -> bool {
    let Some(head) = bytes.get(..4) else { return false };
    let word = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    MAGICS.iter().any(|&magic| word == magic || word.swap_bytes() == magic)
}

/// One damaged copy of `file`.
fn damage(file: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = file.to_vec();
    let from = if rng.below(20) == 0 { 0 } else { 24 };
    let span = (data.len() - from) as u64;
    let place = |rng: &mut Rng| from + rng.below(span) as usize;
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(19) {
                let at = place(rng);
                data[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            for _ in 0..1 + rng.below(9) {
                let at = place(rng);
                data[at] = [0, 0xff, 0x7f, 0x80, rng.next() as u8][rng.below(5) as usize];
            }
        }
        2 => data.truncate(place(rng)),
        _ => {
            let start = place(rng);
            let end = (start + 1 + rng.below(400) as usize).min(data.len());
            let stretch = data[start..end].to_vec();
            let at = place(rng);
            data.splice(at..at, stretch);
        }
    }
    data
}

/// A run's exit status, sorted log and sorted standard error, without what depends on
/// timing.
type Outcome = (Option<i32>, Vec<String>, Vec<String>);

fn run(binary: &Path, threads: u32, plugins: &[&str], capture: &Path) -> std::io::Result<Outcome> {
    let out = Command::new(binary).arg("--threads").arg(threads.to_string()).args(plugins).arg(capture).output()?;
    let log = timeless_log(&String::from_utf8_lossy(&out.stdout));
    let stderr = timeless_stderr(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code(), log, stderr))
}

/// The first few lines found in one list and not the other.
fn only_in<'a>(these: &'a [String], those: &[String]) -> Vec<&'a String> {
    these.iter().filter(|line| !those.contains(line)).take(3).collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(binary), Some(Ok(seconds)), Some(Ok(seed))) =
        (args.first(), args.get(1).map(|s| s.parse::<u64>()), args.get(2).map(|s| s.parse::<u64>()))
    else {
        eprintln!("usage: threads-diff BINARY SECONDS SEED CAPTURE...");
        return ExitCode::from(2);
    };
    let captures: Vec<(PathBuf, Vec<u8>)> = args[3..]
        .iter()
        .filter_map(|path| std::fs::read(path).ok().map(|bytes| (PathBuf::from(path), bytes)))
        .filter(|(_, bytes)| bytes.len() > 100 && is_capture(bytes))
        .collect();
    if captures.is_empty() {
        eprintln!("threads-diff: no pcap or pcapng file of more than 100 bytes among the captures given");
        return ExitCode::from(2);
    }
    let scratch = std::env::temp_dir().join(format!("threads-diff-{}.pcap", std::process::id()));
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (started, limit) = (Instant::now(), Duration::from_secs(seconds));
    let (mut rounds, mut differences) = (0u64, 0u64);
    while started.elapsed() < limit {
        let (source, bytes) = &captures[rng.below(captures.len() as u64) as usize];
        let copy = damage(bytes, &mut rng);
        let plugins = PLUGIN_SETS[rng.below(PLUGIN_SETS.len() as u64) as usize];
        let threads = [2, 2, 3, 4][rng.below(4) as usize];
        if let Err(err) = std::fs::write(&scratch, &copy) {
            eprintln!("threads-diff: cannot write {}: {err}", scratch.display());
            return ExitCode::from(2);
        }
        let (one, many) =
            match (run(Path::new(binary), 1, plugins, &scratch), run(Path::new(binary), threads, plugins, &scratch)) {
                (Ok(one), Ok(many)) => (one, many),
                (Err(err), _) | (_, Err(err)) => {
                    eprintln!("threads-diff: cannot run {binary}: {err}");
                    return ExitCode::from(2);
                }
            };
        rounds += 1;
        if one != many {
            differences += 1;
            let kept = PathBuf::from(format!("threads-diff-{differences}.pcap"));
            let _ = std::fs::write(&kept, &copy);
            println!(
                "{}: damaged copy of {}, {} at 1 and {threads} threads: exit status {:?} and {:?}\n  \
                 log only at 1: {:?}\n  log only at {threads}: {:?}\n  stderr only at 1: {:?}\n  stderr only at {threads}: {:?}",
                kept.display(),
                source.display(),
                plugins.join(" "),
                one.0,
                many.0,
                only_in(&one.1, &many.1),
                only_in(&many.1, &one.1),
                only_in(&one.2, &many.2),
                only_in(&many.2, &one.2),
            );
        }
    }
    let _ = std::fs::remove_file(&scratch);
    println!("{rounds} rounds, {differences} differences");
    if differences > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
