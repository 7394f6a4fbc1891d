//! What an index holds: counts, sizes and versions.

use crate::format::{RuleCounts, Section};
use crate::model::source::Source;

/// One source of an index: its name, what the index records of it, and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStats {
    /// The source's id in the index (verdicts name it, see
    /// [`Verdict::source_id`](crate::Verdict::source_id)).
    pub id: u8,
    /// Its name.
    pub name: Source,
    /// The register run its rules are from, when recorded.
    pub run_id: Option<i64>,
    /// In a delta index: the run the delta starts from.
    pub base_run_id: Option<i64>,
    /// When its rules were built, in unix seconds (0: unknown).
    pub built: i64,
    /// The content hash of its rules (64 bits; see docs/register-files.md), `None` in files
    /// written before sources.
    pub hash: Option<u64>,
    /// Its rules by kind and status.
    pub counts: RuleCounts,
}

impl SourceStats {
    /// The source's rules.
    pub fn rules(&self) -> u64 {
        self.counts.total()
    }
}

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
    /// Distinct entries (status, reasons, date, start, earlier status).
    pub distinct_entries: u64,
    /// Bytes of each section the file has: the six every file has, in file order, then
    /// the delta section of a delta index, then the filter.
    pub section_bytes: Vec<(Section, u64)>,
    /// The sources, by id (one, `local`, in files written before sources).
    pub sources: Vec<SourceStats>,
    /// True when some rule has a start, so that answers change with the day.
    pub dated: bool,
    /// The TAC database, when the index holds one: TACs listed, and bytes of its section.
    pub tac_db: Option<(u64, u64)>,
    /// How the exact-IMEI rules are encoded, in files with the `imei blocks` section.
    pub imei_blocks: Option<crate::ImeiBlockStats>,
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
