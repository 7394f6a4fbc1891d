//! Deltas: the changes from one version of a list to the next, as rows and as index files.
//!
//! A [`Change`] adds, changes or removes the rule of one target. A [`DeltaBuilder`] collects
//! changes (from code or from delta lists) into a [`Delta`]: a small index file holding the
//! new rules and a *tombstone* for every removed one, which a
//! [`LayeredIndex`](crate::LayeredIndex) checks above its base, and
//! [`Apply`](crate::Apply) folds into a new full index.

use std::io::{Seek, Write};
use std::path::Path;

use bytes::Bytes;

use std::collections::BTreeMap;

use crate::build::write::{self, RuleSource, SourceMeta, SubscriberRow, Visit};
use crate::error::Error;
use crate::format::key::{self, Key};
use crate::format::subscribers::{FLAG_REMOVED, RowRecord, msisdn_key};
use crate::format::{Record, RuleCounts};
use crate::list::ListError;
use crate::model::change::Change;
use crate::model::rule::RuleKind;
use crate::model::source::Source;
use crate::model::subscriber::Subscriber;
use crate::read::index::Index;
use crate::read::open::{OpenOptions, Verification};
use crate::read::stats::SourceStats;

/// A delta index: new and changed rules, and tombstones for removed ones, to be layered
/// over the full index it was made for.
///
/// Cheap to clone, `Send + Sync`, memory-mapped like an [`Index`]. A delta is not an index
/// to check on its own: its tombstones and ranges mean something only over its base.
///
/// # Example
///
/// ```
/// use imei_index::{Change, Delta, DeltaBuilder, Entry, Imei, Rule, RuleKind, Status, Target};
///
/// let mut b = DeltaBuilder::new();
/// b.serial(20240522).base_serial(20240521);
/// let imei = Imei::parse("35209900176148")?;
/// b.add(Change::Add(Rule::imei(imei, Entry::new(Status::Blocked))));
/// b.add(Change::Remove(Target::Tac(imei.tac()), imei_index::Source::local(), None));
/// let (bytes, summary) = b.build_to_vec()?;
/// assert_eq!((summary.rules, summary.tombstones), (1, 1));
///
/// let delta = Delta::from_bytes(bytes.into())?;
/// assert_eq!((delta.serial(), delta.base_serial()), (20240522, 20240521));
/// assert_eq!(delta.tombstones(RuleKind::Tac), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Delta {
    index: Index,
}

impl Delta {
    /// Opens and memory-maps a delta index file, verifying its checksums.
    ///
    /// # Errors
    ///
    /// As [`Index::open`]; [`FormatError::NotDelta`](crate::FormatError::NotDelta) for a
    /// full index.
    pub fn open(path: impl AsRef<Path>) -> Result<Delta, Error> {
        Delta::open_with(path, Verification::default())
    }

    /// Opens a delta index file, verifying it as much as asked.
    ///
    /// # Errors
    ///
    /// As [`Delta::open`].
    pub fn open_with(path: impl AsRef<Path>, verification: Verification) -> Result<Delta, Error> {
        let index = OpenOptions::new()
            .verification(verification)
            .delta(true)
            .open(path)?;
        Ok(Delta { index })
    }

    /// Reads a delta index from bytes, verifying its checksums.
    ///
    /// # Errors
    ///
    /// As [`Delta::open`].
    pub fn from_bytes(bytes: Bytes) -> Result<Delta, Error> {
        let index = OpenOptions::new().delta(true).open_bytes(bytes)?;
        Ok(Delta { index })
    }

    /// The version this delta brings its base to (0 when its builder set none).
    pub fn serial(&self) -> u64 {
        self.index.serial()
    }

    /// The serial of the index this delta was made for (0: any).
    pub fn base_serial(&self) -> u64 {
        self.info().base_serial
    }

    /// New and changed rules by kind and status.
    pub fn rules(&self) -> RuleCounts {
        self.index.stats().counts
    }

    /// Tombstones (removed rules) of one kind.
    pub fn tombstones(&self, kind: RuleKind) -> u64 {
        self.info().tombstones(kind)
    }

    /// The sources the delta changes, with the register runs it starts from and brings
    /// them to when recorded.
    pub fn sources(&self) -> &[SourceStats] {
        self.index.sources()
    }

    /// The delta's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.index.as_bytes()
    }

    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    fn info(&self) -> crate::format::DeltaInfo {
        self.index
            .delta_info()
            .expect("a Delta is opened only from a delta index")
    }
}

/// What a delta build did with the changes it was given.
///
/// Every change is accounted for: `changes_in == rules + tombstones + superseded`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeltaSummary {
    /// Changes given to the builder (rows that parsed).
    pub changes_in: u64,
    /// Changes replaced by a later change to the same target.
    pub superseded: u64,
    /// Delta rows rejected as unreadable (only with a reject handler that goes on).
    pub rejected: u64,
    /// New and changed rules in the delta.
    pub rules: u64,
    /// Tombstones in the delta.
    pub tombstones: u64,
    /// Bytes of the delta index.
    pub index_bytes: u64,
}

/// Collects changes and writes a delta index.
///
/// Changes apply in the order given: a later change to a target replaces an earlier one
/// (a handset blocked and unblocked on the same day ends unblocked), and the summary
/// counts every replaced change. `add` and `change` both set the target's rule; `remove`
/// leaves a tombstone. Memory is proportional to the changes, which are a day's worth.
///
/// # Example
///
/// ```
/// use imei_index::list::DeltaReader;
/// use imei_index::DeltaBuilder;
///
/// let csv = "add,35209900176148,blocked,stolen\nremove,35209900176148\nadd,35209900,tracked\n";
/// let mut b = DeltaBuilder::new();
/// b.add_list(DeltaReader::new("today.csv", csv.as_bytes()), Err)?;
/// let (_, summary) = b.build_to_vec()?;
/// assert_eq!((summary.rules, summary.tombstones, summary.superseded), (1, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct DeltaBuilder {
    /// By kind, in [`RuleKind::ALL`] order: (key without its source, source, arrival,
    /// record).
    changes: [Vec<(Key, Source, u64, Record)>; 4],
    /// Per source: the run it starts from, the run it brings the source to, its build time.
    runs: BTreeMap<Source, (Option<i64>, i64, i64)>,
    /// Subscriber rows added (false) or removed (true), in order.
    subscribers: Vec<(Subscriber, bool)>,
    serial: u64,
    base_serial: u64,
    changes_in: u64,
    rejected: u64,
}

impl DeltaBuilder {
    /// An empty builder.
    pub fn new() -> DeltaBuilder {
        DeltaBuilder::default()
    }

    /// Sets the version this delta brings its base to (default 0: none).
    pub fn serial(&mut self, serial: u64) -> &mut DeltaBuilder {
        self.serial = serial;
        self
    }

    /// Sets the serial of the index the delta is for (default 0: any). Layering or applying
    /// the delta over an index with another serial is then an error.
    pub fn base_serial(&mut self, serial: u64) -> &mut DeltaBuilder {
        self.base_serial = serial;
        self
    }

    /// Adds a change; it replaces any earlier change to the same target of the same
    /// source.
    pub fn add(&mut self, change: Change) {
        let (kind, key) = Key::of(&change.target());
        let source = change.source().clone();
        let record = match change {
            Change::Add(r) | Change::Change(r) => Record::Rule(r.entry),
            Change::Remove(..) => Record::Removed,
        };
        self.changes[usize::from(kind.code() - 1)].push((key, source, self.changes_in, record));
        self.changes_in += 1;
    }

    /// Records that the delta brings `source` from the register's run `from` (`None`: from
    /// any) to run `to`, built at `built` (unix seconds, 0 unknown). Applying the delta to an
    /// index that records another run than `from` for the source is then refused
    /// ([`Error::RunIdMismatch`]) unless forced; the applied index records run `to`.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Apply, Change, DeltaBuilder, Entry, Error, Imei, Index, IndexBuilder, Rule, Source, Status};
    ///
    /// let register: Source = "dirbs/blacklist".parse()?;
    /// let imei = Imei::parse("35209900176148")?;
    /// let mut b = IndexBuilder::new();
    /// b.source_info(&register, Some(56), 0);
    /// b.add(Rule::imei(imei, Entry::new(Status::Blocked)).with_source(register.clone()));
    /// let base = Index::from_bytes(b.build_to_vec()?.0.into())?;
    ///
    /// let mut d = DeltaBuilder::new();
    /// d.source_run(&register, Some(57), 58, 0);
    /// d.add(Change::Remove(imei_index::Target::Imei(imei), register.clone(), None));
    /// let (delta, _) = d.build()?;
    /// // Run 57 was skipped: refused.
    /// let err = Apply::new(&base, &[delta.clone()]).build_to_vec().unwrap_err();
    /// assert!(matches!(err, Error::RunIdMismatch { recorded: 56, delta_from: 57, .. }));
    /// let (bytes, _) = Apply::new(&base, &[delta]).force(true).build_to_vec()?;
    /// let applied = Index::from_bytes(bytes.into())?;
    /// assert_eq!(applied.sources()[0].run_id, Some(58));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn source_run(
        &mut self,
        source: &Source,
        from: Option<i64>,
        to: i64,
        built: i64,
    ) -> &mut DeltaBuilder {
        self.runs.insert(source.clone(), (from, to, built));
        self
    }

    /// Adds a subscriber row to the source's rows (`removed` false), or removes the row with
    /// its (source, IMEI, IMSI, MSISDN) (`removed` true), when the delta is applied.
    pub fn subscriber(&mut self, row: Subscriber, removed: bool) -> &mut DeltaBuilder {
        self.subscribers.push((row, removed));
        self
    }

    /// Adds every change of a delta list, in order: a [`DeltaReader`](crate::list::DeltaReader) (by value, or `&mut`
    /// to ask it for its row count afterwards), or any iterator of rows.
    ///
    /// Each unreadable row is passed to `on_reject`: returning `Ok(())` counts the row as
    /// rejected and goes on, returning the error stops with it. An I/O error always stops.
    ///
    /// # Errors
    ///
    /// The first row error that `on_reject` returns, or the source's I/O error.
    pub fn add_list(
        &mut self,
        list: impl IntoIterator<Item = Result<Change, ListError>>,
        mut on_reject: impl FnMut(ListError) -> Result<(), ListError>,
    ) -> Result<(), Error> {
        for row in list {
            match row {
                Ok(change) => self.add(change),
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => {
                    on_reject(e)?;
                    self.rejected += 1;
                }
            }
        }
        Ok(())
    }

    /// Builds the delta index in memory.
    ///
    /// # Errors
    ///
    /// Only if building the transducers fails, which a correct builder never does.
    pub fn build_to_vec(self) -> Result<(Vec<u8>, DeltaSummary), Error> {
        write::to_vec(|w, io_err| self.write(w, io_err))
    }

    /// Builds the delta in memory and opens it.
    ///
    /// # Errors
    ///
    /// As [`DeltaBuilder::build_to_vec`].
    pub fn build(self) -> Result<(Delta, DeltaSummary), Error> {
        let (bytes, summary) = self.build_to_vec()?;
        Ok((Delta::from_bytes(bytes.into())?, summary))
    }

    /// Builds the delta index into a file, atomically (see
    /// [`IndexBuilder::build_to_file`](crate::IndexBuilder::build_to_file)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written or renamed.
    pub fn build_to_file(self, path: impl AsRef<Path>) -> Result<DeltaSummary, Error> {
        write::to_file(path.as_ref(), |w, io_err| self.write(w, io_err))
    }

    fn write<W: Write + Seek>(
        self,
        w: &mut W,
        io_err: write::IoContext<'_>,
    ) -> Result<DeltaSummary, Error> {
        let mut summary = DeltaSummary {
            changes_in: self.changes_in,
            rejected: self.rejected,
            ..DeltaSummary::default()
        };
        // Source ids in the order of the names.
        let mut names: Vec<Source> = self
            .changes
            .iter()
            .flatten()
            .map(|c| c.1.clone())
            .chain(self.runs.keys().cloned())
            .chain(self.subscribers.iter().map(|(r, _)| r.source.clone()))
            .collect();
        names.sort();
        names.dedup();
        if names.len() > crate::format::sources::MAX_SOURCES {
            return Err(Error::TooManySources { count: names.len() });
        }
        let id = |s: &Source| names.binary_search(s).unwrap_or(0) as u8;
        let mut rules = DeltaRules::default();
        for (changes, out) in self.changes.into_iter().zip(&mut rules.changes) {
            let mut keyed: Vec<(Key, u64, Record)> = changes
                .into_iter()
                .map(|(k, s, at, r)| (k.with_source(id(&s)), at, r))
                .collect();
            // The latest change to a key sorts first, and is the one kept.
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let before = keyed.len();
            keyed.dedup_by_key(|c| c.0);
            summary.superseded += (before - keyed.len()) as u64;
            *out = keyed;
        }
        rules.metas = names
            .iter()
            .map(|n| match self.runs.get(n) {
                None => SourceMeta::named(n.clone()),
                Some(&(from, to, built)) => SourceMeta {
                    name: n.clone(),
                    run_id: Some(to),
                    base_run_id: from,
                    built,
                },
            })
            .collect();
        rules.subscribers = self
            .subscribers
            .iter()
            .map(|(row, removed)| {
                let record = RowRecord {
                    source: id(&row.source),
                    imei: row.imei.as_u64(),
                    imsi: key::imsi(row.imsi),
                    msisdn: msisdn_key(row.msisdn),
                    list: row.list.code(),
                    flags: if *removed { FLAG_REMOVED } else { 0 },
                    block_date: row.block_date.map_or(0, |d| d.days_since_epoch() + 1),
                    reasons: 0,
                };
                (record, row.reasons.clone())
            })
            .collect();
        // The last mention of a row wins.
        rules.subscribers.reverse();
        rules.subscribers.dedup_by(|a, b| {
            (a.0.source, a.0.imei, a.0.imsi, a.0.msisdn)
                == (b.0.source, b.0.imei, b.0.imsi, b.0.msisdn)
        });
        let written = write::write_index(w, &rules, self.serial, Some(self.base_serial), io_err)?;
        summary.rules = written.counts.total();
        summary.tombstones = written.tombstones.iter().sum();
        summary.index_bytes = written.bytes;
        Ok(summary)
    }
}

/// The resolved changes, one per key in key order, as the writer reads them.
#[derive(Default)]
struct DeltaRules {
    changes: [Vec<(Key, u64, Record)>; 4],
    metas: Vec<SourceMeta>,
    subscribers: Vec<SubscriberRow>,
}

impl RuleSource for DeltaRules {
    fn for_each(&self, kind: RuleKind, f: &mut Visit<'_>) -> Result<(), Error> {
        self.changes[usize::from(kind.code() - 1)]
            .iter()
            .try_for_each(|(k, _, r)| f(k.as_bytes(), r))
    }

    fn sources(&self) -> Vec<SourceMeta> {
        self.metas.clone()
    }

    fn subscribers(&self) -> Vec<SubscriberRow> {
        self.subscribers.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ident::Imei;
    use crate::model::rule::{Entry, Rule, Status, Target};

    #[test]
    fn full_indexes_and_deltas_refuse_each_other() {
        let (bytes, _) = DeltaBuilder::new().build_to_vec().unwrap();
        let e = Index::from_bytes(bytes.clone().into()).unwrap_err();
        assert_eq!(e.as_format(), Some(&crate::FormatError::IsDelta));
        assert!(Delta::from_bytes(bytes.into()).is_ok());
        let (bytes, _) = crate::IndexBuilder::new().build_to_vec().unwrap();
        let e = Delta::from_bytes(bytes.into()).unwrap_err();
        assert_eq!(e.as_format(), Some(&crate::FormatError::NotDelta));
    }

    /// A full index whose first entry record is rewritten as a tombstone, checksums and
    /// header signed again: what a buggy or hostile writer could produce.
    fn full_index_with_a_tombstone() -> Vec<u8> {
        use crate::format::{Header, Section, TOMBSTONE};
        let imei = Imei::parse("35209900176148").unwrap();
        let mut b = crate::IndexBuilder::new();
        b.layout_v1(true);
        b.add(Rule::imei(imei, Entry::new(Status::Blocked)));
        let (mut bytes, _) = b.build_to_vec().unwrap();
        let mut header = Header::parse(&bytes).unwrap();
        let entries = header.section(Section::Entries);
        bytes[entries.range()][..8].copy_from_slice(&TOMBSTONE);
        header.sections[0].crc = crc32fast::hash(&bytes[entries.range()]);
        let encoded = header.encode();
        bytes[..encoded.len()].copy_from_slice(&encoded);
        bytes
    }

    #[test]
    fn tombstones_are_not_rules_in_a_full_index() {
        let bytes = full_index_with_a_tombstone();
        let imei = Imei::parse("35209900176148").unwrap();
        // Checksums pass; the record is no entry, so it answers nothing...
        let index = Index::from_bytes(bytes.clone().into()).unwrap();
        assert!(!index.check(imei).is_listed());
        assert_eq!(index.rules().count(), 0);
        // ...and full verification refuses the file.
        let e = OpenOptions::new()
            .verification(Verification::Full)
            .open_bytes(bytes.into())
            .unwrap_err();
        assert!(
            crate::ErrorChain(&e)
                .to_string()
                .contains("entry 0 holds values no writer produces"),
            "{e}"
        );
    }

    #[test]
    fn deltas_pass_full_verification() {
        let imei = Imei::parse("35209900176148").unwrap();
        let mut b = DeltaBuilder::new();
        b.add(Change::Add(Rule::imei(imei, Entry::new(Status::Blocked))));
        b.add(Change::Remove(
            Target::Tac(imei.tac()),
            Source::local(),
            None,
        ));
        let last = Imei::from_u64(imei.as_u64() + 9).unwrap();
        b.add(Change::Remove(
            Target::Range(imei, last),
            Source::local(),
            None,
        ));
        b.add(Change::Change(
            Rule::range(imei, last, Entry::new(Status::Tracked)).unwrap(),
        ));
        let (bytes, s) = b.build_to_vec().unwrap();
        assert_eq!((s.rules, s.tombstones, s.superseded), (2, 1, 1));
        let d = Delta::from_bytes(bytes.clone().into()).unwrap();
        assert_eq!(
            (d.tombstones(RuleKind::Tac), d.tombstones(RuleKind::Range)),
            (1, 0)
        );
        OpenOptions::new()
            .verification(Verification::Full)
            .delta(true)
            .open_bytes(bytes.into())
            .unwrap();
    }
}
