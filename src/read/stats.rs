//! What an index holds: counts, sizes and versions.

use crate::format::{RuleCounts, Section};

/// Counts, sizes and versions of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexStats {
    /// The file format version.
    pub format_version: u32,
    /// The serial number the builder recorded.
    pub serial: u64,
    /// Rules by kind and status.
    pub counts: RuleCounts,
    /// Bytes of the whole index.
    pub file_bytes: u64,
    /// Distinct (status, reason, date) entries.
    pub distinct_entries: u64,
    /// Bytes of each section the file has: the six every file has, in file order, then
    /// the delta section of a delta index, then the filter.
    pub section_bytes: Vec<(Section, u64)>,
}

impl IndexStats {
    /// All rules.
    pub fn rules(&self) -> u64 {
        self.counts.total()
    }

    /// Bytes of the index per rule, or `None` for an empty index.
    pub fn bytes_per_rule(&self) -> Option<f64> {
        let n = self.rules();
        (n > 0).then(|| self.file_bytes as f64 / n as f64)
    }
}
