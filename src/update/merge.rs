//! Merging several full indexes into one, as a stream.

use std::cell::Cell;
use std::io::{Seek, Write};
use std::path::Path;

use crate::build::write::{self, RuleSource, SourceMeta, SubscriberRow, Visit};
use crate::error::Error;
use crate::format::{Record, RuleCounts};
use crate::model::rule::RuleKind;
use crate::read::index::Index;
use crate::update::union::{self, GlobalSources};

/// Which rule wins when several inputs of a [`Merge`] have one for the same target of the
/// same source.
///
/// Rules of different sources are all kept, and weighed at check time (docs/semantics.md),
/// so the precedence matters only for one (target, source) that several inputs list.
/// Between rules for *different* targets the most specific still wins at check time
/// (pair > IMEI > narrowest range > TAC), whatever the inputs' order: an operator's
/// allowed IMEI overrides a national TAC block either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precedence {
    /// The rules merge as a build merges one source's rules (the most severe status, then
    /// the earliest start, the latest date, the greater reasons): as if the inputs' lists
    /// were built together.
    #[default]
    Severity,
    /// The first input that has a rule for the target wins: list the inputs in order of
    /// authority (for example the operator's own list before the national one).
    Order,
}

/// What a merge did.
///
/// Every input rule is accounted for: `rules_in == rules_written + merged`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// The merged index's serial.
    pub serial: u64,
    /// Rules in all inputs together.
    pub rules_in: u64,
    /// Rules in the merged index.
    pub rules_written: u64,
    /// Input rules folded into another input's rule for the same target.
    pub merged: u64,
    /// Of the merged rules, those whose status differed from the winning rule's.
    pub conflicts: u64,
    /// Written rules by kind and status.
    pub counts: RuleCounts,
    /// Distinct entries (status, reasons, date, start, earlier status).
    pub distinct_entries: u64,
    /// Bytes of the index.
    pub index_bytes: u64,
}

/// Merges full indexes into one: the union of their rules, one rule per target.
///
/// A sorted merge of the inputs' transducers, written by the same writer as
/// [`IndexBuilder`](crate::IndexBuilder): time linear in the inputs' sizes, memory
/// independent of them, and with [`Precedence::Severity`] the same bytes as building the
/// inputs' lists together. Open inputs from untrusted sources with
/// [`Verification::Full`](crate::Verification::Full) first.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Imei, Index, IndexBuilder, Merge, Precedence, Rule, Status};
///
/// let imei = Imei::parse("35209900176148")?;
/// let index = |s| -> Result<Index, imei_index::Error> {
///     let mut b = IndexBuilder::new();
///     b.add(Rule::imei(imei, Entry::new(s)));
///     Index::from_bytes(b.build_to_vec()?.0.into())
/// };
/// let (own, national) = (index(Status::Allowed)?, index(Status::Blocked)?);
///
/// let (bytes, summary) = Merge::new(&[&own, &national]).build_to_vec()?;
/// assert_eq!((summary.rules_written, summary.conflicts), (1, 1));
/// let merged = Index::from_bytes(bytes.into())?;
/// assert_eq!(merged.check(imei).status(), Some(Status::Blocked));
///
/// let (bytes, _) = Merge::new(&[&own, &national]).precedence(Precedence::Order).build_to_vec()?;
/// let merged = Index::from_bytes(bytes.into())?;
/// assert_eq!(merged.check(imei).status(), Some(Status::Allowed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Merge<'a> {
    inputs: Vec<&'a Index>,
    precedence: Precedence,
    serial: Option<u64>,
}

impl<'a> Merge<'a> {
    /// A merge of the inputs, in order.
    pub fn new(inputs: &[&'a Index]) -> Merge<'a> {
        Merge {
            inputs: inputs.to_vec(),
            precedence: Precedence::default(),
            serial: None,
        }
    }

    /// Which rule wins for a target several inputs have (default [`Precedence::Severity`]).
    pub fn precedence(&mut self, precedence: Precedence) -> &mut Merge<'a> {
        self.precedence = precedence;
        self
    }

    /// The serial of the merged index (default: the greatest of the inputs').
    pub fn serial(&mut self, serial: u64) -> &mut Merge<'a> {
        self.serial = Some(serial);
        self
    }

    /// Writes the merged index in memory.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] if an input holds a value that names no entry (only in indexes
    /// that fail full verification).
    pub fn build_to_vec(&self) -> Result<(Vec<u8>, MergeSummary), Error> {
        write::to_vec(|w, io_err| self.write(w, io_err))
    }

    /// Writes the merged index into a file, atomically (see
    /// [`IndexBuilder::build_to_file`](crate::IndexBuilder::build_to_file)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written or renamed, or as
    /// [`Merge::build_to_vec`].
    pub fn build_to_file(&self, path: impl AsRef<Path>) -> Result<MergeSummary, Error> {
        write::to_file(path.as_ref(), |w, io_err| self.write(w, io_err))
    }

    fn write<W: Write + Seek>(
        &self,
        w: &mut W,
        io_err: write::IoContext<'_>,
    ) -> Result<MergeSummary, Error> {
        let sources = GlobalSources::of(&self.inputs)?;
        let metas = sources.metas(&self.inputs);
        let mut subscribers: Vec<SubscriberRow> = Vec::new();
        for (input, map) in self.inputs.iter().zip(&sources.maps) {
            for (mut row, reasons) in input.subscriber_rows() {
                row.source = map[usize::from(row.source)];
                subscribers.push((row, reasons));
            }
        }
        let source = Source {
            merge: self,
            sources,
            metas,
            subscribers,
            counted: Cell::new([false; 4]),
            merged: Cell::new(0),
            conflicts: Cell::new(0),
        };
        let serial = self
            .serial
            .unwrap_or_else(|| self.inputs.iter().map(|i| i.serial()).max().unwrap_or(0));
        let written = write::write_index(w, &source, serial, None, io_err)?;
        Ok(MergeSummary {
            serial,
            rules_in: self
                .inputs
                .iter()
                .fold(0, |n, i| n.saturating_add(i.stats().rules())),
            rules_written: written.counts.total(),
            merged: source.merged.get(),
            conflicts: source.conflicts.get(),
            counts: written.counts,
            distinct_entries: written.distinct_entries,
            index_bytes: written.bytes,
        })
    }
}

/// The merged rules, as the writer reads them; counts merges on its first pass of a kind.
struct Source<'m, 'a> {
    merge: &'m Merge<'a>,
    sources: GlobalSources,
    metas: Vec<SourceMeta>,
    subscribers: Vec<SubscriberRow>,
    counted: Cell<[bool; 4]>,
    merged: Cell<u64>,
    conflicts: Cell<u64>,
}

impl RuleSource for Source<'_, '_> {
    fn for_each(&self, kind: RuleKind, f: &mut Visit<'_>) -> Result<(), Error> {
        let k = usize::from(kind.code() - 1);
        let count = !self.counted.get()[k];
        union::for_each(
            &self.merge.inputs,
            kind,
            &self.sources,
            &mut |key, records| {
                // Full indexes hold no tombstones.
                let mut entries = records.iter().filter_map(|(_, r)| r.entry());
                let winner = match self.merge.precedence {
                    Precedence::Severity => {
                        entries.max_by(|a, b| a.merge_order().cmp(&b.merge_order()))
                    }
                    // The records are in input order.
                    Precedence::Order => entries.next(),
                };
                let Some(winner) = winner else {
                    return Ok(());
                };
                if count {
                    let others = records.len() as u64 - 1;
                    let differ = records
                        .iter()
                        .filter(|(_, r)| r.entry().is_some_and(|e| e.status != winner.status))
                        .count() as u64;
                    self.merged.set(self.merged.get() + others);
                    self.conflicts.set(self.conflicts.get() + differ);
                }
                f(key, &Record::Rule(winner.clone()))
            },
        )?;
        let mut counted = self.counted.get();
        counted[k] = true;
        self.counted.set(counted);
        Ok(())
    }

    fn sources(&self) -> Vec<SourceMeta> {
        self.metas.clone()
    }

    fn subscribers(&self) -> Vec<SubscriberRow> {
        self.subscribers.clone()
    }

    fn devices(&self) -> Option<bytes::Bytes> {
        self.merge.inputs.iter().find_map(|i| i.devices_section())
    }
}
