//! Comparing two runs of the `netanalysis` command: their JSON logs and standard error
//! without what depends on timing.

/// Standard error's lines, sorted, without what depends on timing: the first summary
/// line (it has the run's speed) and the counts in warnings' "so far" (they depend on
/// when the warning was printed), so that runs of one capture compare equal however
/// fast they went and however many threads they had.
pub fn timeless_stderr(stderr: &str) -> Vec<String> {
    let mut lines: Vec<String> = stderr
        .lines()
        .filter(|line| !line.contains(" MB/s)"))
        .map(|line| match line.split_once(" so far") {
            Some((before, after)) => {
                format!("{}N so far{after}", before.trim_end_matches(|c: char| c.is_ascii_digit()))
            }
            None => line.to_owned(),
        })
        .collect();
    lines.sort();
    lines
}

/// A JSON log's lines, sorted, without the run summary's wall-clock measurements
/// (`elapsed_seconds`, `mb_per_second`); a line that is not a JSON object stays as it is.
pub fn timeless_log(stdout: &str) -> Vec<String> {
    let mut lines: Vec<String> = stdout
        .lines()
        .map(|line| match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(mut object)) => {
                object.remove("elapsed_seconds");
                object.remove("mb_per_second");
                serde_json::Value::Object(object).to_string()
            }
            _ => line.to_owned(),
        })
        .collect();
    lines.sort();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_left_out_and_the_rest_sorted() {
        let stderr = "netanalysis: warning: f.pcap: some packets are cut (12 so far, packets_snaplen_cut)\n\
                      netanalysis: f.pcap: 81 packets, 29.1 KiB in 0.01 s (3.0 MB/s)\n  tcp      5 sessions\n";
        assert_eq!(
            timeless_stderr(stderr),
            [
                "  tcp      5 sessions",
                "netanalysis: warning: f.pcap: some packets are cut (N so far, packets_snaplen_cut)"
            ]
        );
    }

    #[test]
    fn the_log_loses_only_its_wall_clock_figures() {
        let stdout = concat!(
            r#"{"event":"run_summary","packets_read":3,"elapsed_seconds":0.5,"mb_per_second":9.1}"#,
            "\n",
            r#"{"event":"http_request","uri":"/"}"#,
            "\nnot json\n"
        );
        assert_eq!(
            timeless_log(stdout),
            ["not json", r#"{"event":"http_request","uri":"/"}"#, r#"{"event":"run_summary","packets_read":3}"#]
        );
    }
}
