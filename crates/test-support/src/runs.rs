//! Comparing two runs of the `netanalysis` command.

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
}
