//! Command-line arguments.

use clap::Parser;

const AFTER_HELP: &str = "\
Plugins are named as on the original's command line: NAME,key=value,key2=value2.
A value may be wrapped in double quotes to hold commas (Example2,regex=\"a{1,3}\");
a bare key is allowed only for a boolean option and means true; booleans accept
1/0/true/false; v is a bitmask number, so it needs v=N. TCP is loaded even when
not named. `netanalysis --list` shows every plugin with its options.

Examples:
  netanalysis HTTP,v=1 capture.pcap            one line per HTTP transaction
  netanalysis TCP,v=2 Example2,regex=img dump.pcap
  netanalysis --json HTTP capture.pcapng | jq 'select(.event==\"http_transaction\")'
  tcpdump -w - -U port 80 | netanalysis HTTP,v=1 -

Exit status: 0 when the run completed (bad packets are counted and warned about),
1 when a plugin failed or panicked, 2 for usage errors and unreadable, damaged or
cut-short capture files.";

/// Turns a network capture into typed events that plugins consume: TCP sessions
/// reassembled into monologues, HTTP transactions, and whatever a plugin defines.
#[derive(Debug, Parser)]
#[command(name = "netanalysis", version, about, after_help = AFTER_HELP)]
pub struct Args {
    /// Plugins to load (NAME[,key=value]...), then the capture file (`-` for stdin).
    #[arg(value_name = "PLUGIN[,key=value]... CAPTURE")]
    pub items: Vec<String>,

    /// List every plugin with its options, types and defaults, then exit.
    #[arg(long)]
    pub list: bool,

    /// Write the JSON event log (one object per line) to stdout; trace lines go to stderr.
    #[arg(long)]
    pub json: bool,

    /// Print nothing on stderr except errors.
    #[arg(short, long)]
    pub quiet: bool,

    /// Stop at the first plugin error or panic.
    #[arg(long)]
    pub strict: bool,

    /// Read and decode packets only, with no plugins (to measure the capture layer).
    #[arg(long)]
    pub decode_only: bool,

    /// Capture live from this interface (needs the `pcap` feature); no CAPTURE then.
    #[arg(long, value_name = "IFACE")]
    pub live: Option<String>,

    /// A tcpdump-style filter (BPF, compiled by libpcap; needs the `pcap` feature).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,

    /// Keep reading a capture that is still being written, like `tail -f`; Ctrl-C ends.
    #[arg(long)]
    pub follow: bool,

    /// Shard sessions across this many worker threads (by socket pair); output is the
    /// same as with one thread, up to the order of lines from different sessions.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,

    /// With --follow: end after this many seconds without growth.
    #[arg(long, value_name = "SECONDS")]
    pub follow_idle: Option<f64>,
}

impl Args {
    /// Splits the positional arguments into plugin specs and the capture.
    pub fn split_items(&self) -> anyhow::Result<(Vec<String>, Option<String>)> {
        if self.live.is_some() {
            return Ok((self.items.clone(), None));
        }
        match self.items.split_last() {
            Some((capture, plugins)) => Ok((plugins.to_vec(), Some(capture.clone()))),
            None => anyhow::bail!(
                "no capture given: name a capture file, - for standard input, or --live IFACE (see --help)"
            ),
        }
    }
}
