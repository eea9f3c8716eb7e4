//! Example2: one line per monologue, optionally only those matching a regex.
//!
//! The original's second example: a `grep` over reassembled streams. Without `regex=`
//! it lists every monologue; with it, only the monologues whose data matches, each with
//! its first match shown in context.
//!
//! # Listens for
//!
//! `tcp_monologue` ([`TcpMonologue`]).
//!
//! # Emits
//!
//! No events. One trace line per monologue shown: its start time, sender, receiver and
//! size (and the bytes lost in capture holes, if any: `(1448 missing)`); with `regex=`, then the offset of the first match and the match with up to
//! `context` bytes either side. Bytes that are not printable ASCII are escaped (`\r`,
//! `\n`, `\t`, `\\`, `\xNN`), the match is marked with `[[` and `]]`, and `...` says the
//! data goes on. A match longer than 64 bytes is shown by its two ends.
//!
//! ```text
//! 1795769045.031427 10.88.0.2:41001 -> 10.88.0.1:80 83 bytes
//! 1795769045.031824 10.88.0.1:80 -> 10.88.0.2:41001 2193 bytes
//! ```
//!
//! With `regex=/[a-z]+\.html`:
//!
//! ```text
//! 1795769045.031427 10.88.0.2:41001 -> 10.88.0.1:80 83 bytes, match at 4: GET [[/index.html]] HTTP/1.1\r\nHost:...
//! ```
//!
//! The regex is matched against the monologue's bytes (holes excluded), with the syntax
//! of the `regex` crate, in its bytes mode: `.` matches any byte but `\n` unless `(?s)`
//! is given, and `(?i)` ignores case. The run summary gets `example2_monologues_shown`.
//!
//! # Configuration
//!
//! - `regex` (text): show only monologues matching it; a pattern that does not compile
//!   is refused before the run starts. Quote it when it holds a comma:
//!   `Example2,regex="a{1,3}"`.
//! - `context` (number, default 16): bytes shown either side of the match.
//!
//! # Example
//!
//! `netanalysis Example2,regex=png capture.pcap`, or
//! `cargo run --example example2 -- captures/http-sample.pcap 'HTTP/1\.[01] 404'`.

use std::fmt::Write as _;

use netanalysis_core::{
    AnyEvent, Config, ConfigError, Context, Listener, ListenerResult, OptionKind, OptionSpec, Plugin, Subscriptions,
    Summary,
};
use netanalysis_tcp::TcpMonologue;
use regex::bytes::{Regex, RegexBuilder};

/// The options of the `Example2` plugin.
pub const EXAMPLE2_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "regex",
        kind: OptionKind::Text,
        default: None,
        help: "show only monologues whose data matches, with the match in context",
    },
    OptionSpec {
        name: "context",
        kind: OptionKind::Uint,
        default: Some("16"),
        help: "bytes shown either side of a match",
    },
];

/// The longest match shown whole; longer ones are shown by their two ends.
const MAX_MATCH_SHOWN: usize = 64;

/// The `Example2` plugin's listener (see the [module docs](self)).
#[derive(Debug)]
pub struct Example2 {
    regex: Option<Regex>,
    context: usize,
    shown: u64,
    line: String,
}

impl Example2 {
    /// A listener that shows every monologue.
    pub fn new() -> Example2 {
        Example2 { regex: None, context: 16, shown: 0, line: String::new() }
    }

    /// A listener that shows only the monologues matching `pattern`, each match with up
    /// to `context` bytes either side. The error is one line saying what is wrong.
    pub fn with_regex(pattern: &str, context: usize) -> Result<Example2, String> {
        // A size limit keeps a hostile pattern from taking all memory at build time.
        let regex = RegexBuilder::new(pattern).size_limit(16 << 20).build().map_err(|err| describe(pattern, &err))?;
        Ok(Example2 { regex: Some(regex), context, ..Example2::new() })
    }

    /// Builds the listener from its checked options: the registry's `build`.
    pub fn build(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        let context = cfg.u64("context")?.unwrap_or(16);
        let context = usize::try_from(context).unwrap_or(usize::MAX).min(1 << 20);
        match cfg.text("regex")? {
            None => Ok(Box::new(Example2 { context, ..Example2::new() })),
            Some(pattern) => {
                Ok(Box::new(Example2::with_regex(pattern, context).map_err(|message| cfg.invalid(message))?))
            }
        }
    }

    /// Monologues shown so far.
    pub fn shown(&self) -> u64 {
        self.shown
    }
}

impl Default for Example2 {
    fn default() -> Self {
        Example2::new()
    }
}

/// A regex error as one line (the syntax errors of the `regex` crate span several).
fn describe(pattern: &str, err: &regex::Error) -> String {
    let reason = match err {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|line| line.trim().strip_prefix("error:"))
            .map(|reason| reason.trim().to_owned())
            .unwrap_or_else(|| text.replace('\n', " ")),
        regex::Error::CompiledTooBig(limit) => format!("it compiles to more than {limit} bytes; simplify it"),
        other => other.to_string().replace('\n', " "),
    };
    format!("regex `{pattern}` is not valid: {reason}")
}

/// Appends `bytes` to `out`, printable ASCII as is and everything else escaped.
fn escape_into(out: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
}

/// Appends the match `data[start..end]` with up to `context` bytes either side.
fn excerpt_into(out: &mut String, data: &[u8], start: usize, end: usize, context: usize) {
    let before = start.saturating_sub(context);
    let after = end.saturating_add(context).min(data.len());
    if before > 0 {
        out.push_str("...");
    }
    escape_into(out, data.get(before..start).unwrap_or_default());
    out.push_str("[[");
    let matched = data.get(start..end).unwrap_or_default();
    if matched.len() > MAX_MATCH_SHOWN {
        let half = MAX_MATCH_SHOWN / 2;
        escape_into(out, &matched[..half]);
        let _ = write!(out, "...({} bytes)...", matched.len());
        escape_into(out, &matched[matched.len() - half..]);
    } else {
        escape_into(out, matched);
    }
    out.push_str("]]");
    escape_into(out, data.get(end..after).unwrap_or_default());
    if after < data.len() {
        out.push_str("...");
    }
}

impl Listener for Example2 {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.event::<TcpMonologue>();
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        let Some(monologue) = event.downcast_ref::<TcpMonologue>() else {
            return Ok(());
        };
        self.line.clear();
        let _ = write!(
            self.line,
            "{} {} -> {} {} bytes",
            monologue.t_start,
            monologue.from,
            monologue.to,
            monologue.data.len()
        );
        if monologue.missing_bytes > 0 {
            // Bytes on either side of a hole are adjacent in `data`; say so.
            let _ = write!(self.line, " ({} missing)", monologue.missing_bytes);
        }
        if let Some(regex) = &self.regex {
            let data = monologue.data.contiguous();
            let Some(found) = regex.find(&data) else {
                return Ok(());
            };
            let _ = write!(self.line, ", match at {}: ", found.start());
            excerpt_into(&mut self.line, &data, found.start(), found.end(), self.context);
        }
        self.shown += 1;
        ctx.trace(format_args!("{}", self.line))
    }

    fn report(&self, summary: &mut Summary) {
        summary.add("example2_monologues_shown", self.shown);
    }
}

netanalysis_core::inventory::submit! {
    Plugin {
        name: "Example2",
        summary: "one line per TCP monologue (time, from, to, size); regex= shows only matches, in context",
        options: EXAMPLE2_OPTIONS,
        build: Example2::build,
        ..Plugin::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use netanalysis_core::{Registry, Summary};

    use super::*;
    use crate::testing::{dispatcher_with, micros, monologue};

    const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: 10.88.0.1\r\nUser-Agent: curl/7.88.1\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n\x00\xffz";

    fn feed(listener: Example2) -> (Vec<String>, Summary) {
        let (mut dispatcher, trace) = dispatcher_with("Example2", Box::new(listener));
        dispatcher.dispatch_event(monologue(
            "10.88.0.2:41001",
            "10.88.0.1:80",
            1,
            REQUEST,
            micros(1_795_769_045, 31_427),
            micros(1_795_769_045, 31_427),
        ));
        dispatcher.dispatch_event(monologue(
            "10.88.0.1:80",
            "10.88.0.2:41001",
            2,
            RESPONSE,
            micros(1_795_769_045, 31_600),
            micros(1_795_769_045, 31_877),
        ));
        assert!(dispatcher.take_faults().is_empty());
        let mut summary = Summary::new();
        dispatcher.report(&mut summary);
        (trace.lines(), summary)
    }

    #[test]
    fn without_regex_every_monologue_gets_a_line() {
        let (lines, summary) = feed(Example2::new());
        assert_eq!(
            lines,
            [
                "1795769045.031427 10.88.0.2:41001 -> 10.88.0.1:80 70 bytes",
                "1795769045.031600 10.88.0.1:80 -> 10.88.0.2:41001 48 bytes",
            ]
        );
        assert_eq!(summary.count("example2_monologues_shown"), 2);
    }

    #[test]
    fn regex_shows_only_matching_monologue_with_context() {
        let (lines, _) = feed(Example2::with_regex("/[a-z]+\\.html", 9).unwrap());
        assert_eq!(
            lines,
            ["1795769045.031427 10.88.0.2:41001 -> 10.88.0.1:80 70 bytes, match at 4: GET [[/index.html]] HTTP/1.1..."]
        );
    }

    #[test]
    fn regex_match_near_binary_bytes_escapes_them() {
        let (lines, summary) = feed(Example2::with_regex("\\r\\n\\r\\n", 6).unwrap());
        assert_eq!(
            lines,
            [
                "1795769045.031427 10.88.0.2:41001 -> 10.88.0.1:80 70 bytes, match at 66: ...7.88.1[[\\r\\n\\r\\n]]",
                "1795769045.031600 10.88.0.1:80 -> 10.88.0.2:41001 48 bytes, match at 41: ...gth: 3[[\\r\\n\\r\\n]]\\x00\\xffz",
            ]
        );
        assert_eq!(summary.count("example2_monologues_shown"), 2);
    }

    #[test]
    fn monologue_with_hole_says_how_much_is_missing() {
        let mut with_hole = monologue("10.0.0.2:80", "10.0.0.1:4000", 2, b"abc", micros(3, 0), micros(3, 0));
        with_hole.missing_bytes = 1448;
        let (mut dispatcher, trace) = dispatcher_with("Example2", Box::new(Example2::with_regex("b", 1).unwrap()));
        dispatcher.dispatch_event(with_hole);
        assert_eq!(
            trace.lines(),
            ["3.000000 10.0.0.2:80 -> 10.0.0.1:4000 3 bytes (1448 missing), match at 1: a[[b]]c"]
        );
    }

    #[test]
    fn long_match_is_shown_by_its_ends() {
        let mut line = String::new();
        let data = [b'a'; 200];
        excerpt_into(&mut line, &data, 10, 190, 2);
        assert_eq!(line, format!("...aa[[{}...(180 bytes)...{}]]aa...", "a".repeat(32), "a".repeat(32)));
    }

    #[test]
    fn bad_regex_is_a_one_line_config_error() {
        let registry = Registry::from_plugins(&[inventory_example2()]).unwrap();
        let (plugin, config) = registry.parse("Example2,regex=a(b").unwrap();
        let err = (plugin.build)(&config).err().expect("an unclosed group does not compile");
        let message = err.to_string();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{message}");
        assert_eq!(message, "Example2: regex `a(b` is not valid: unclosed group");
    }

    #[test]
    fn quoted_regex_with_comma_is_accepted() {
        let registry = Registry::from_plugins(&[inventory_example2()]).unwrap();
        let (plugin, config) = registry.parse("Example2,regex=\"p{1,2}ng\",context=4").unwrap();
        assert!((plugin.build)(&config).is_ok());
    }

    fn inventory_example2() -> &'static Plugin {
        netanalysis_core::inventory::iter::<Plugin>
            .into_iter()
            .find(|p| p.name == "Example2")
            .expect("Example2 is registered by this crate")
    }
}
