//! The README cannot go stale: its plugin list is the binary's `--list`, its JSON tables
//! list exactly the fields the binary writes, and its jq example runs.
//!
//! `UPDATE_GOLDEN=1 cargo test -p netanalysis-cli --test readme` rewrites the plugin list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).expect("README.md at the workspace root")
}

fn netanalysis(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_netanalysis")).current_dir(workspace()).args(args).output().unwrap();
    assert!(out.status.success(), "netanalysis {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const BEGIN: &str = "<!-- plugins:begin -->\n```text\n";
const END: &str = "```\n<!-- plugins:end -->";

#[test]
fn readme_plugin_list_is_the_registry_listing() {
    let text = readme();
    let start = text.find(BEGIN).expect("plugin list start marker") + BEGIN.len();
    let end = text[start..].find(END).expect("plugin list end marker") + start;
    let listing = netanalysis(&["--list"]);
    if text[start..end] != listing {
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let updated = format!("{}{}{}", &text[..start], listing, &text[end..]);
            std::fs::write(workspace().join("README.md"), updated).unwrap();
            return;
        }
        panic!(
            "README.md's plugin list differs from `netanalysis --list`; rerun with UPDATE_GOLDEN=1 to refresh it.\n\
             README:\n{}\n--list:\n{}",
            &text[start..end],
            listing
        );
    }
}

/// Event name -> documented fields, from the `### \`name\`` sections of "The JSON log".
fn documented_fields(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut tables = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### `") {
            current = heading.split('`').next().map(str::to_owned);
            if let Some(name) = &current {
                tables.entry(name.clone()).or_insert_with(BTreeSet::new);
            }
            continue;
        }
        if line.starts_with("## ") {
            current = None;
        }
        let Some(name) = &current else { continue };
        let Some(cells) = line.strip_prefix("| ") else { continue };
        let first = cells.split(" |").next().unwrap_or("");
        if first == "field" || first.starts_with("---") {
            continue;
        }
        for field in first.split(", ") {
            let field = field.trim().trim_matches('`');
            if !field.is_empty() {
                tables.get_mut(name).unwrap().insert(field.to_owned());
            }
        }
    }
    tables
}

#[test]
fn readme_json_tables_list_exactly_the_fields_written() {
    let text = readme();
    let documented = documented_fields(&text);
    let out = netanalysis(&[
        "--quiet",
        "--json",
        "JsonLog,packets=1,digest=1",
        "HTTP",
        "Example1",
        "Example3",
        "PortCounter",
        "captures/http-sample.pcap",
    ]);
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in out.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let object = value.as_object().unwrap();
        let event = object["event"].as_str().unwrap().to_owned();
        let fields = seen.entry(event).or_default();
        fields.extend(object.keys().filter(|k| *k != "event" && *k != "ts").cloned());
    }
    for event in ["tcp_monologue", "http_transaction", "monologue_bandwidth", "http_wait", "port_count"] {
        assert!(seen.contains_key(event), "{event} was not written: {:?}", seen.keys());
    }
    for (event, fields) in &seen {
        if event == "run_summary" {
            continue; // its fields are the summary's counts, described in prose
        }
        let Some(doc) = documented.get(event) else {
            panic!("README.md has no table for the `{event}` event (fields {fields:?})");
        };
        assert_eq!(doc, fields, "README.md's table for `{event}` vs the fields written");
    }
}

#[test]
fn readme_jq_example_runs() {
    if Command::new("jq").arg("--version").output().is_err() {
        eprintln!("skipped: jq is not installed");
        return;
    }
    let text = readme();
    let start = text.find("netanalysis --quiet --json HTTP captures/http-sample.pcap \\").expect("the jq example");
    let end = text[start..].find("\n```").unwrap() + start;
    let command = &text[start..end];
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_netanalysis")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {command}")])
        .current_dir(workspace())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(!rows.is_empty() && rows.len() <= 10, "{stdout}");
    for row in rows {
        assert_eq!(row.split('\t').count(), 4, "elapsed, method, URI, status: {row}");
    }
}
