//! Building index files from rules.

use std::io::{Seek, Write};
use std::path::Path;

use crate::error::Error;
use crate::format::{Record, RuleCounts};
use crate::ident::Imsi;
use crate::key::{imei_key, range_key};
use crate::list::ListError;
use crate::rule::{Entry, Rule, RuleKind, Target};
use crate::write::{self, RuleSource, Visit};

/// What a build did with the rules and rows it was given.
///
/// Every row is accounted for: `rows_read() == rules_written + merged + rejected`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildSummary {
    /// Rules given to the builder (rows that parsed).
    pub rules_in: u64,
    /// Rules in the index.
    pub rules_written: u64,
    /// Rules folded into another rule for the same target (duplicates and conflicts).
    pub merged: u64,
    /// Of the merged rules, those whose status differed from the winning rule's.
    pub conflicts: u64,
    /// List rows rejected as unreadable (only with a reject handler that goes on).
    pub rejected: u64,
    /// Written rules by kind and status.
    pub counts: RuleCounts,
    /// Distinct (status, reason, date) entries.
    pub distinct_entries: u64,
    /// Bytes of the index.
    pub index_bytes: u64,
}

impl BuildSummary {
    /// Rows read from lists, plus rules added directly.
    pub fn rows_read(&self) -> u64 {
        self.rules_in + self.rejected
    }
}

/// Collects rules and writes an index file.
///
/// Rules may come in any order. Several rules for one target (the same IMEI, pair, range
/// or TAC) are merged: the most severe status wins (blocked > tracked > allowed); between
/// equal statuses the latest date, then the greater reason code. The summary counts every
/// merge and every conflict.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Imei, Index, IndexBuilder, Reason, Rule, RuleKind, Status, Tac};
///
/// let mut b = IndexBuilder::new();
/// b.add(Rule::tac(Tac::parse("35209900")?, Entry::new(Status::Blocked)));
/// b.add(Rule::imei(Imei::parse("352099001761481")?, Entry::new(Status::Allowed)));
/// b.add(Rule::imei(Imei::parse("352099001761481")?, Entry::new(Status::Tracked)));
/// let (bytes, summary) = b.build_to_vec()?;
/// assert_eq!((summary.rules_written, summary.merged, summary.conflicts), (2, 1, 1));
///
/// let index = Index::from_bytes(bytes.into())?;
/// // The exact IMEI rule is more specific than the TAC rule; tracked beat allowed.
/// let v = index.check(Imei::parse("352099001761481")?);
/// assert_eq!((v.status(), v.rule()), (Some(Status::Tracked), Some(RuleKind::Imei)));
/// let v = index.check(Imei::parse("35209900176149")?);
/// assert_eq!(v.rule(), Some(RuleKind::Tac));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct IndexBuilder {
    imei: Vec<(u64, Entry)>,
    tac: Vec<(u32, Entry)>,
    pair: Vec<((u64, Imsi), Entry)>,
    range: Vec<((u64, u64), Entry)>,
    serial: u64,
    rules_in: u64,
    rejected: u64,
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Sets the serial number recorded in the index: a list version of the builder's
    /// choosing (for example the list's date as `20240521`), reported by `stats` and reloads.
    pub fn serial(&mut self, serial: u64) -> &mut IndexBuilder {
        self.serial = serial;
        self
    }

    /// Adds a rule.
    pub fn add(&mut self, rule: Rule) {
        self.rules_in += 1;
        let entry = rule.entry;
        match rule.target() {
            Target::Imei(i) => self.imei.push((i.as_u64(), entry)),
            Target::Tac(t) => self.tac.push((t.as_u32(), entry)),
            Target::Pair(i, s) => self.pair.push(((i.as_u64(), s), entry)),
            Target::Range(a, b) => self.range.push(((a.as_u64(), b.as_u64()), entry)),
        }
    }

    /// Adds every rule of a list: a [`ListReader`](crate::list::ListReader) (by value, or `&mut` to ask it for its
    /// row count afterwards), or any iterator of rows.
    ///
    /// Each unreadable row is passed to `on_reject`: returning `Ok(())` counts the row as
    /// rejected and goes on (the caller may write it aside), returning the error stops the
    /// build with it. An I/O error always stops it.
    ///
    /// # Errors
    ///
    /// The first row error that `on_reject` returns, or the source's I/O error.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::IndexBuilder;
    /// use imei_index::list::ListReader;
    ///
    /// let csv = "35209900,blocked\nnot-an-imei,blocked\n35209900,tracked\n";
    /// let mut b = IndexBuilder::new();
    /// let mut rejected = Vec::new();
    /// b.add_list(ListReader::new("list.csv", csv.as_bytes()), |e| Ok(rejected.push(e)))?;
    /// let (_, summary) = b.build_to_vec()?;
    /// assert_eq!(rejected.len(), 1);
    /// assert_eq!((summary.rules_written, summary.merged, summary.rejected), (1, 1, 1));
    /// assert_eq!(summary.rows_read(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_list(
        &mut self,
        list: impl IntoIterator<Item = Result<Rule, ListError>>,
        mut on_reject: impl FnMut(ListError) -> Result<(), ListError>,
    ) -> Result<(), Error> {
        for row in list {
            match row {
                Ok(rule) => self.add(rule),
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => {
                    on_reject(e)?;
                    self.rejected += 1;
                }
            }
        }
        Ok(())
    }

    /// Rules added so far.
    pub fn len(&self) -> u64 {
        self.rules_in
    }

    /// True when no rule was added.
    pub fn is_empty(&self) -> bool {
        self.rules_in == 0
    }

    /// Builds the index in memory.
    ///
    /// # Errors
    ///
    /// Only if building the transducers fails, which a correct builder never does.
    pub fn build_to_vec(self) -> Result<(Vec<u8>, BuildSummary), Error> {
        write::to_vec(|w, io_err| self.write(w, io_err))
    }

    /// Builds the index into a file, atomically: it is written beside `path` under a
    /// temporary name, flushed to disk and renamed over `path`, so that readers see the old
    /// file or the new one, never a mix, and a failed build leaves `path` as it was.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written or renamed.
    pub fn build_to_file(self, path: impl AsRef<Path>) -> Result<BuildSummary, Error> {
        write::to_file(path.as_ref(), |w, io_err| self.write(w, io_err))
    }

    /// Resolves the rules and writes the index to `w`.
    fn write<W: Write + Seek>(
        mut self,
        w: &mut W,
        io_err: write::IoContext<'_>,
    ) -> Result<BuildSummary, Error> {
        let mut summary = BuildSummary {
            rules_in: self.rules_in,
            rejected: self.rejected,
            ..BuildSummary::default()
        };
        resolve(&mut self.imei, &mut summary);
        resolve(&mut self.tac, &mut summary);
        resolve(&mut self.pair, &mut summary);
        resolve(&mut self.range, &mut summary);
        let written = write::write_index(w, &self, self.serial, None, io_err)?;
        summary.counts = written.counts;
        summary.rules_written = written.counts.total();
        summary.distinct_entries = written.distinct_entries;
        summary.index_bytes = written.bytes;
        Ok(summary)
    }
}

/// The resolved rules, sorted by key and one per key, as the writer reads them.
impl RuleSource for IndexBuilder {
    fn for_each(&self, kind: RuleKind, f: &mut Visit<'_>) -> Result<(), Error> {
        match kind {
            RuleKind::Imei => self
                .imei
                .iter()
                .try_for_each(|&(k, e)| f(&imei_key(k), Record::Rule(e))),
            RuleKind::Tac => self
                .tac
                .iter()
                .try_for_each(|&(k, e)| f(&k.to_be_bytes(), Record::Rule(e))),
            RuleKind::Pair => self.pair.iter().try_for_each(|&((i, s), e)| {
                let mut k = [0u8; 14];
                k[..6].copy_from_slice(&imei_key(i));
                k[6..].copy_from_slice(&s.to_key());
                f(&k, Record::Rule(e))
            }),
            RuleKind::Range => self
                .range
                .iter()
                .try_for_each(|&((a, b), e)| f(&range_key(a, b), Record::Rule(e))),
        }
    }
}

/// Sorts rules by target and merges those for one target, counting merges and conflicts.
fn resolve<K: Ord + Copy>(rules: &mut Vec<(K, Entry)>, summary: &mut BuildSummary) {
    // Within a target, the winner sorts first.
    rules.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.precedence().cmp(&a.1.precedence()))
    });
    let before = rules.len();
    let mut conflicts = 0u64;
    rules.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same && later.1.status != kept.1.status {
            conflicts += 1;
        }
        same
    });
    summary.merged += (before - rules.len()) as u64;
    summary.conflicts += conflicts;
}
