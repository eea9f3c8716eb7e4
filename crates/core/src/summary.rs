//! End-of-run counts.

/// Named counts that listeners and sources contribute at the end of a run.
///
/// Keys are flat `snake_case` names (`tcp_sessions`, `packets_skipped_truncated`); they
/// are the field names of the JSON log's `run_summary` and the lines of the stderr
/// summary. Adding to an existing key adds to its value, so per-shard summaries merge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    items: Vec<(String, SummaryValue)>,
}

/// One value of a [`Summary`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SummaryValue {
    /// A count.
    Count(u64),
    /// A measured quantity (seconds, MB/s).
    Float(f64),
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Adds `value` to the count `key` (creating it at zero).
    pub fn add(&mut self, key: &str, value: u64) {
        match self.items.iter_mut().find(|(k, _)| k == key) {
            Some((_, SummaryValue::Count(v))) => *v = v.saturating_add(value),
            Some((_, slot)) => *slot = SummaryValue::Count(value),
            None => self.items.push((key.to_owned(), SummaryValue::Count(value))),
        }
    }

    /// Sets the measured quantity `key`.
    pub fn set_float(&mut self, key: &str, value: f64) {
        match self.items.iter_mut().find(|(k, _)| k == key) {
            Some((_, slot)) => *slot = SummaryValue::Float(value),
            None => self.items.push((key.to_owned(), SummaryValue::Float(value))),
        }
    }

    /// The count `key`, or 0.
    pub fn count(&self, key: &str) -> u64 {
        self.items
            .iter()
            .find_map(|(k, v)| match v {
                SummaryValue::Count(c) if k == key => Some(*c),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Adds every value of `other` into this summary.
    pub fn merge(&mut self, other: &Summary) {
        for (key, value) in &other.items {
            match value {
                SummaryValue::Count(c) => self.add(key, *c),
                SummaryValue::Float(f) => self.set_float(key, *f),
            }
        }
    }

    /// The entries, in the order they were first added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, SummaryValue)> {
        self.items.iter().map(|(k, v)| (k.as_str(), *v))
    }
}
