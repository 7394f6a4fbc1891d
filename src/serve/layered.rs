//! A full index with deltas layered over it: updates between full rebuilds.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Error;
use crate::format::Record;
use crate::format::key::{self, range_of_key};
use crate::format::segments::Segments;
use crate::model::ident::{Imei, Imsi};
use crate::model::rule::{Entry, RuleKind, Verdict};
use crate::read::index::Index;
use crate::update::apply::{Apply, ApplySummary, layered_serial};
use crate::update::delta::Delta;
use crate::update::union::too_many_keys;

/// A base index with deltas over it, checked newest first: it answers as the index that
/// [`Apply`] (or [`LayeredIndex::compact_to_file`]) folds them into would.
///
/// For an exact key (pair, IMEI, TAC) the newest layer that has the key decides: its rule,
/// or, for a tombstone, no rule of that kind, so that a delta's unblock hides the base's
/// block and the check goes on to broader rules. Ranges are checked against the layers'
/// ranges together: where a delta adds, changes or removes a range, the narrowest covering
/// range is worked out when the view is opened, from the deltas' ranges and the base
/// ranges that meet them; elsewhere the base answers alone.
///
/// Checks cost one lookup per layer per kind, so keep deltas few and small, and fold them
/// into a new base when they grow. Opening reads the deltas' ranges and, when a delta has
/// any, the base's ranges once.
///
/// # Example
///
/// ```
/// use imei_index::{Change, DeltaBuilder, Entry, Imei, Index, IndexBuilder, LayeredIndex, Rule,
///                  RuleKind, Status, Target};
///
/// let imei = Imei::parse("35209900176148")?;
/// let mut b = IndexBuilder::new();
/// b.add(Rule::tac(imei.tac(), Entry::new(Status::Tracked)));
/// b.add(Rule::imei(imei, Entry::new(Status::Blocked)));
/// let base = Index::from_bytes(b.build_to_vec()?.0.into())?;
///
/// // Today's delta unblocks the handset.
/// let mut d = DeltaBuilder::new();
/// d.add(Change::Remove(Target::Imei(imei), None));
/// let (delta, _) = d.build()?;
///
/// let view = LayeredIndex::new(base, vec![delta])?;
/// let v = view.check(imei);
/// assert_eq!((v.status(), v.rule()), (Some(Status::Tracked), Some(RuleKind::Tac)));
///
/// // Folding the layers gives an index that answers the same.
/// let (bytes, summary) = view.compact_to_vec()?;
/// assert_eq!(summary.removed, 1);
/// assert_eq!(Index::from_bytes(bytes.into())?.check(imei), v);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayeredIndex {
    base: Index,
    /// Oldest first.
    deltas: Vec<Delta>,
    serial: u64,
    overlay: Option<RangeOverlay>,
}

/// The range answers where deltas touch ranges.
#[derive(Clone, Debug)]
struct RangeOverlay {
    /// Disjoint spans, in order, that the deltas' ranges cover: (first, last) IMEI.
    spans: Vec<(u64, u64)>,
    /// Segments of the layered ranges that meet the spans: (last IMEI, narrowest entry).
    segments: Vec<(u64, Option<Entry>)>,
}

impl LayeredIndex {
    /// A view of `base` with `deltas` over it, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::DeltaBase`] when a delta was made for another serial than the one below it;
    /// [`Error::Format`] when a layer holds more ranges than can be streamed (only in
    /// files that fail full verification).
    pub fn new(base: Index, deltas: Vec<Delta>) -> Result<LayeredIndex, Error> {
        let serial = layered_serial(&base, &deltas)?;
        let overlay = RangeOverlay::new(&base, &deltas)?;
        Ok(LayeredIndex {
            base,
            deltas,
            serial,
            overlay,
        })
    }

    /// Adds a delta on top.
    ///
    /// # Errors
    ///
    /// As [`LayeredIndex::new`]; the view is unchanged then.
    pub fn push(&mut self, delta: Delta) -> Result<(), Error> {
        let mut deltas = self.deltas.clone();
        deltas.push(delta);
        *self = LayeredIndex::new(self.base.clone(), deltas)?;
        Ok(())
    }

    /// The base index.
    pub fn base(&self) -> &Index {
        &self.base
    }

    /// The deltas, oldest first.
    pub fn deltas(&self) -> &[Delta] {
        &self.deltas
    }

    /// The version the layers add up to: the serial [`Apply`] gives the folded index.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// What the layers say about a handset, ignoring pair rules; see [`Index::check`].
    pub fn check(&self, imei: Imei) -> Verdict {
        if let Some(v) = self.exact(RuleKind::Imei, &key::imei(imei)) {
            return v;
        }
        if let Some(v) = self.range(imei) {
            return v;
        }
        if let Some(v) = self.exact(RuleKind::Tac, &key::tac(imei.tac())) {
            return v;
        }
        Verdict::unknown()
    }

    /// What the layers say about a handset used with a SIM; see [`Index::check_with_imsi`].
    pub fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict {
        if let Some(v) = self.exact(RuleKind::Pair, &key::pair(imei, *imsi)) {
            return v;
        }
        self.check(imei)
    }

    /// Checks many handsets; the verdicts are in the order of the IMEIs.
    pub fn check_many(&self, imeis: &[Imei]) -> Vec<Verdict> {
        imeis.iter().map(|&i| self.check(i)).collect()
    }

    /// Folds the layers into a new full index in memory.
    ///
    /// # Errors
    ///
    /// As [`Apply::build_to_vec`].
    pub fn compact_to_vec(&self) -> Result<(Vec<u8>, ApplySummary), Error> {
        Apply::new(&self.base, &self.deltas).build_to_vec()
    }

    /// Folds the layers into a new full index file, atomically.
    ///
    /// # Errors
    ///
    /// As [`Apply::build_to_file`].
    pub fn compact_to_file(&self, path: impl AsRef<Path>) -> Result<ApplySummary, Error> {
        Apply::new(&self.base, &self.deltas).build_to_file(path)
    }

    /// The verdict of the newest layer that has an exact key: `None` when none has it or
    /// the newest that has it holds a tombstone.
    fn exact(&self, kind: RuleKind, key: &[u8]) -> Option<Verdict> {
        let layers = self
            .deltas
            .iter()
            .rev()
            .map(Delta::index)
            .chain([&self.base]);
        for index in layers {
            if let Some(id) = index.map(kind).get(key) {
                return match index.record(id) {
                    Some(Record::Rule(e)) => Some(Verdict::listed(kind, e)),
                    Some(Record::Removed) => None,
                    // As `Index::check` does, in files that fail full verification.
                    None => Some(Verdict::unknown()),
                };
            }
        }
        None
    }

    /// The verdict of the narrowest layered range containing the IMEI, if one does.
    fn range(&self, imei: Imei) -> Option<Verdict> {
        let n = imei.as_u64();
        if let Some(o) = &self.overlay {
            let i = o.spans.partition_point(|s| s.1 < n);
            if o.spans.get(i).is_some_and(|s| s.0 <= n) {
                let j = o.segments.partition_point(|s| s.0 < n);
                let entry = o.segments.get(j)?.1?;
                return Some(Verdict::listed(RuleKind::Range, entry));
            }
        }
        self.base.range_verdict(imei)
    }
}

impl RangeOverlay {
    /// The overlay of the deltas' ranges, or `None` when no delta has a range or a range
    /// tombstone.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] when a layer holds more ranges than can be streamed (more keys
    /// than full verification accepts for its size).
    fn new(base: &Index, deltas: &[Delta]) -> Result<Option<RangeOverlay>, Error> {
        // The newest record of every range a delta mentions.
        let mut mentioned: BTreeMap<(u64, u64), Record> = BTreeMap::new();
        for d in deltas {
            let index = d.index();
            let mut s = index.stream(RuleKind::Range);
            while let Some((k, v)) = s.next() {
                if let (Some(r), Some(rec)) = (range_of_key(k), index.record(v)) {
                    mentioned.insert(r, rec);
                }
            }
            if s.exhausted() {
                return Err(too_many_keys(index));
            }
        }
        if mentioned.is_empty() {
            return Ok(None);
        }
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for &(a, b) in mentioned.keys() {
            match spans.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => spans.push((a, b)),
            }
        }
        // The base's ranges that meet a span and that no delta mentions.
        let mut layered: BTreeMap<(u64, u64), Entry> = BTreeMap::new();
        let mut s = base.stream(RuleKind::Range);
        while let Some((k, v)) = s.next() {
            let (Some((a, b)), Some(Record::Rule(e))) = (range_of_key(k), base.record(v)) else {
                continue;
            };
            let i = spans.partition_point(|s| s.1 < a);
            let meets = spans.get(i).is_some_and(|s| s.0 <= b);
            if meets && !mentioned.contains_key(&(a, b)) {
                layered.insert((a, b), e);
            }
        }
        if s.exhausted() {
            return Err(too_many_keys(base));
        }
        layered.extend(
            mentioned
                .into_iter()
                .filter_map(|(r, rec)| rec.entry().map(|e| (r, e))),
        );
        let mut segments = Vec::new();
        let mut sweep = Segments::default();
        let mut emit = |last, e| {
            segments.push((last, e));
            Ok::<(), std::convert::Infallible>(())
        };
        for (&(a, b), &e) in &layered {
            let Ok(()) = sweep.push(a, b, e, &mut emit);
        }
        let Ok(()) = sweep.finish(&mut emit);
        Ok(Some(RangeOverlay { spans, segments }))
    }
}
