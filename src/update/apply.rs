//! Folding deltas into their base: a new full index, as a stream.

use std::cell::Cell;
use std::io::{Seek, Write};
use std::path::Path;

use crate::build::write::{self, RuleSource, SourceMeta, SubscriberRow, Visit};
use crate::error::Error;
use crate::format::key::target_of;
use crate::format::{Record, RuleCounts};
use crate::model::rule::RuleKind;
use crate::read::index::Index;
use crate::update::delta::Delta;
use crate::update::union::{self, GlobalSources, bad_key};

/// What applying deltas did, relative to the base.
///
/// Every rule is accounted for: `rules_written == base_rules + added - removed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// The new index's serial.
    pub serial: u64,
    /// Rules in the base.
    pub base_rules: u64,
    /// Targets the base has no rule for that now have one.
    pub added: u64,
    /// Targets whose entry changed.
    pub changed: u64,
    /// Targets set to the entry the base already had.
    pub unchanged: u64,
    /// Targets whose rule was removed.
    pub removed: u64,
    /// Removes of targets that neither the base nor an earlier delta has a rule for: a
    /// sign that a delta was made for another base.
    pub missing: u64,
    /// Rules in the new index.
    pub rules_written: u64,
    /// Written rules by kind and status.
    pub counts: RuleCounts,
    /// Distinct entries (status, reasons, date, start, earlier status).
    pub distinct_entries: u64,
    /// Bytes of the index.
    pub index_bytes: u64,
}

/// Folds deltas, oldest first, into their base: the full index that the layered view
/// [`LayeredIndex`](crate::LayeredIndex) of the same base and deltas answers like.
///
/// The newest layer that mentions a target decides its rule; a tombstone removes it. A
/// sorted merge of the layers' transducers, written by the same writer as
/// [`IndexBuilder`](crate::IndexBuilder): time linear in the sizes, memory independent of
/// them, and the same bytes as building the resulting rules from scratch.
///
/// The new index's serial is, unless set, the newest delta's, or the base's plus one for
/// each delta that has none. A delta whose base serial is set must sit on exactly that
/// serial.
///
/// # Example
///
/// ```
/// use imei_index::{Apply, Change, DeltaBuilder, Entry, Imei, Index, IndexBuilder, Rule, Status, Target};
///
/// let imei = Imei::parse("35209900176148")?;
/// let mut b = IndexBuilder::new();
/// b.serial(20240521);
/// b.add(Rule::imei(imei, Entry::new(Status::Blocked)));
/// let base = Index::from_bytes(b.build_to_vec()?.0.into())?;
///
/// let mut d = DeltaBuilder::new();
/// d.serial(20240522).base_serial(20240521);
/// d.add(Change::Remove(Target::Imei(imei), imei_index::Source::local(), None));
/// let (delta, _) = d.build()?;
///
/// let (bytes, summary) = Apply::new(&base, &[delta]).build_to_vec()?;
/// assert_eq!((summary.removed, summary.rules_written), (1, 0));
/// let today = Index::from_bytes(bytes.into())?;
/// assert_eq!(today.serial(), 20240522);
/// assert!(!today.check(imei).is_listed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Apply<'a> {
    base: &'a Index,
    deltas: &'a [Delta],
    serial: Option<u64>,
    force: bool,
    /// A TAC database replacing the base's.
    devices: Option<bytes::Bytes>,
}

impl<'a> Apply<'a> {
    /// Applies `deltas`, oldest first, to `base`.
    pub fn new(base: &'a Index, deltas: &'a [Delta]) -> Apply<'a> {
        Apply {
            base,
            deltas,
            serial: None,
            force: false,
            devices: None,
        }
    }

    /// Writes `table` as the new index's TAC database instead of the base's: GSMA's
    /// database is refreshed more often than a full rebuild is worth. Without it the base's
    /// database (if any) is kept.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Apply, DeviceInfo, Index, IndexBuilder, Tac, TacTable};
    ///
    /// let base = Index::from_bytes(IndexBuilder::new().build_to_vec()?.0.into())?;
    /// let mut db = TacTable::new();
    /// db.insert(Tac::parse("35209900")?, DeviceInfo { model: "R3".into(), ..Default::default() });
    /// let (bytes, _) = Apply::new(&base, &[]).tac_db(db).build_to_vec()?;
    /// let next = Index::from_bytes(bytes.into())?;
    /// assert_eq!(next.device(Tac::parse("35209900")?).map(|d| d.model), Some("R3"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tac_db(&mut self, table: crate::model::device::TacTable) -> &mut Apply<'a> {
        self.devices = Some(bytes::Bytes::from(crate::format::devices::encode(&table)));
        self
    }

    /// Applies deltas even when a delta starts from another register run than the one
    /// the index records for its source (default: refused with [`Error::RunIdMismatch`]).
    pub fn force(&mut self, yes: bool) -> &mut Apply<'a> {
        self.force = yes;
        self
    }

    /// The serial of the new index (default: see [`Apply`]).
    pub fn serial(&mut self, serial: u64) -> &mut Apply<'a> {
        self.serial = Some(serial);
        self
    }

    /// Writes the new index in memory.
    ///
    /// # Errors
    ///
    /// [`Error::DeltaBase`] when a delta was made for another serial; [`Error::Format`] if
    /// an input holds a value that names no entry (only in files that fail full
    /// verification).
    pub fn build_to_vec(&self) -> Result<(Vec<u8>, ApplySummary), Error> {
        write::to_vec(|w, io_err| self.write(w, io_err))
    }

    /// Writes the new index into a file, atomically (see
    /// [`IndexBuilder::build_to_file`](crate::IndexBuilder::build_to_file)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written or renamed, or as
    /// [`Apply::build_to_vec`].
    pub fn build_to_file(&self, path: impl AsRef<Path>) -> Result<ApplySummary, Error> {
        write::to_file(path.as_ref(), |w, io_err| self.write(w, io_err))
    }

    fn write<W: Write + Seek>(
        &self,
        w: &mut W,
        io_err: write::IoContext<'_>,
    ) -> Result<ApplySummary, Error> {
        let serial = match self.serial {
            Some(s) => {
                layered_serial(self.base, self.deltas)?;
                s
            }
            None => layered_serial(self.base, self.deltas)?,
        };
        let mut inputs = vec![self.base];
        inputs.extend(self.deltas.iter().map(Delta::index));
        let sources = GlobalSources::of(&inputs)?;
        let metas = applied_metas(&inputs, &sources, self.force)?;
        let subscribers = applied_subscribers(&inputs, &sources);
        let source = Source {
            inputs,
            sources,
            metas,
            subscribers,
            counted: Cell::new([false; 4]),
            summary: Cell::new(ApplySummary::default()),
            devices: self.devices.clone(),
        };
        let written = write::write_index(w, &source, serial, None, io_err)?;
        Ok(ApplySummary {
            serial,
            base_rules: self.base.stats().rules(),
            rules_written: written.counts.total(),
            counts: written.counts,
            distinct_entries: written.distinct_entries,
            index_bytes: written.bytes,
            ..source.summary.get()
        })
    }
}

/// The serial of a base with deltas on it, checking that each delta sits on the serial it
/// was made for.
pub(crate) fn layered_serial(base: &Index, deltas: &[Delta]) -> Result<u64, Error> {
    let mut serial = base.serial();
    for (i, d) in deltas.iter().enumerate() {
        if d.base_serial() != 0 && d.base_serial() != serial {
            return Err(Error::DeltaBase {
                position: i + 1,
                expected: d.base_serial(),
                found: serial,
            });
        }
        serial = match d.serial() {
            // A crafted base may carry the largest serial: no overflow, ever.
            0 => serial.saturating_add(1),
            s => s,
        };
    }
    Ok(serial)
}

/// The sources' metadata after the deltas: each delta brings the sources it lists to its
/// run and build time, after checking that it starts from the run recorded.
fn applied_metas(
    inputs: &[&Index],
    sources: &GlobalSources,
    force: bool,
) -> Result<Vec<SourceMeta>, Error> {
    let mut metas: Vec<SourceMeta> = sources
        .names
        .iter()
        .map(|n| SourceMeta::named(n.clone()))
        .collect();
    for s in inputs[0].sources() {
        let m = &mut metas[usize::from(sources.maps[0][usize::from(s.id)])];
        m.run_id = s.run_id;
        m.built = s.built;
    }
    for (input, map) in inputs.iter().zip(&sources.maps).skip(1) {
        for s in input.sources() {
            let m = &mut metas[usize::from(map[usize::from(s.id)])];
            if let (Some(recorded), Some(from)) = (m.run_id, s.base_run_id)
                && recorded != from
                && !force
            {
                return Err(Error::RunIdMismatch {
                    source_name: s.name.to_string(),
                    recorded,
                    delta_from: from,
                });
            }
            if s.run_id.is_some() {
                m.run_id = s.run_id;
            }
            if s.built != 0 {
                m.built = s.built;
            }
        }
    }
    Ok(metas)
}

/// The subscriber rows after the deltas: a delta's row replaces the row with its key, or
/// removes it when it is flagged removed.
fn applied_subscribers(inputs: &[&Index], sources: &GlobalSources) -> Vec<SubscriberRow> {
    use std::collections::BTreeMap;
    let mut rows: BTreeMap<(u8, u64, [u8; 8], [u8; 8]), SubscriberRow> = BTreeMap::new();
    for (input, map) in inputs.iter().zip(&sources.maps) {
        for (mut row, reasons) in input.subscriber_rows() {
            row.source = map[usize::from(row.source)];
            let key = (row.source, row.imei, row.imsi, row.msisdn);
            if row.flags & crate::format::subscribers::FLAG_REMOVED != 0 {
                rows.remove(&key);
            } else {
                rows.insert(key, (row, reasons));
            }
        }
    }
    rows.into_values().collect()
}

/// The folded rules, as the writer reads them; counts outcomes on its first pass of a kind.
struct Source<'a> {
    /// The base, then the deltas oldest first.
    inputs: Vec<&'a Index>,
    sources: GlobalSources,
    metas: Vec<SourceMeta>,
    subscribers: Vec<SubscriberRow>,
    counted: Cell<[bool; 4]>,
    summary: Cell<ApplySummary>,
    /// A TAC database replacing the base's.
    devices: Option<bytes::Bytes>,
}

impl RuleSource for Source<'_> {
    fn for_each(&self, kind: RuleKind, f: &mut Visit<'_>) -> Result<(), Error> {
        let k = usize::from(kind.code() - 1);
        let count = !self.counted.get()[k];
        union::for_each(&self.inputs, kind, &self.sources, &mut |key, records| {
            let newest = &records
                .last()
                .expect("a key of the union is in one input at least")
                .1;
            let base = records
                .first()
                .filter(|(i, _)| *i == 0)
                .and_then(|(_, r)| r.entry());
            if count {
                let mut s = self.summary.get();
                match (base, newest) {
                    (None, Record::Rule(_)) => s.added += 1,
                    (Some(b), Record::Rule(e)) if b == e => {
                        // Only a delta's mention is news; the base alone is not.
                        if records.len() > 1 {
                            s.unchanged += 1;
                        }
                    }
                    (Some(_), Record::Rule(_)) => s.changed += 1,
                    (Some(_), Record::Removed) => s.removed += 1,
                    (None, Record::Removed) => {
                        if records.iter().all(|(_, r)| *r == Record::Removed) {
                            s.missing += 1;
                        }
                    }
                }
                self.summary.set(s);
            }
            match newest {
                // A key that names no target comes only from an input that fails full
                // verification: refuse it rather than write it into the new index.
                Record::Rule(_) if target_of(kind, &key[..key.len() - 1]).is_none() => {
                    Err(bad_key(kind, key))
                }
                Record::Rule(_) => f(key, newest),
                Record::Removed => Ok(()),
            }
        })?;
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
        self.devices
            .clone()
            .or_else(|| self.inputs.iter().rev().find_map(|i| i.devices_section()))
    }
}
