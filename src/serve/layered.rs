//! A full index with deltas layered over it: updates between full rebuilds.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::Error;
use crate::format::key::{self, range_of_key};
use crate::format::records::{Rec, V2};
use crate::format::segments::Segments;
use crate::format::stacks::{self, Member, StackSweep, Words};
use crate::model::ident::{Imei, Imsi};
use crate::model::rule::{Date, Entry, RuleKind, Status, Verdict};
use crate::model::source::{Reasons, Source};
use crate::read::index::Index;
use crate::update::apply::{Apply, ApplySummary, layered_serial};
use crate::update::delta::Delta;
use crate::update::union::{GlobalSources, too_many_keys};

/// A base index with deltas over it, checked newest first: it answers as the index that
/// [`Apply`] (or [`LayeredIndex::compact_to_file`]) folds them into would.
///
/// For an exact target (pair, IMEI, TAC) the rules of every source are gathered from every
/// layer: for each source, the newest layer that has the target decides, with its rule or,
/// for a tombstone, none (a delta's unblock hides the base's block of that source only),
/// and the sources' applying rules are weighed as an index weighs them (docs/semantics.md). Ranges are checked against the layers'
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
/// d.add(Change::Remove(Target::Imei(imei), imei_index::Source::local(), None));
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
    /// The sources of every layer together; verdicts name them by their ids here.
    sources: GlobalSources,
    /// The reason sets of every layer, by the view's ids from 7 on (0 to 6 are implied).
    reason_sets: Vec<Reasons>,
    /// Per layer (base first), each of its reason set ids' id in the view.
    reason_maps: Vec<Vec<u32>>,
    /// True when some layer has rules with starts.
    dated: bool,
    utc_offset: i32,
}

/// The range answers where deltas touch ranges.
#[derive(Clone, Debug)]
struct RangeOverlay {
    /// Disjoint spans, in order, that the deltas' ranges cover: (first, last) IMEI.
    spans: Vec<(u64, u64)>,
    segments: OverlaySegments,
}

/// Segments of the layered ranges that meet the spans.
#[derive(Clone, Debug)]
enum OverlaySegments {
    /// Every layer without sources: (last IMEI, narrowest entry), as format 1 sweeps them.
    V1(Vec<(u64, Option<Entry>)>),
    /// (last IMEI, stack) over the rules in `rules` (a member's entry is its index there):
    /// each rule's record, source (the view's id) and layer.
    Stacks {
        segments: Vec<(u64, Option<Words>)>,
        rules: Vec<(Rec, usize)>,
    },
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
        let layers: Vec<&Index> = std::iter::once(&base)
            .chain(deltas.iter().map(Delta::index))
            .collect();
        let sources = GlobalSources::of(&layers)?;
        let mut reason_sets: Vec<Reasons> = Vec::new();
        let mut ids: HashMap<Reasons, u32> = HashMap::new();
        let mut reason_maps = Vec::with_capacity(layers.len());
        for layer in &layers {
            let n = layer.strings().map_or(7, |s| s.set_ids());
            let mut map = Vec::with_capacity(n as usize);
            for id in 0..n {
                let global = match (id, layer.strings()) {
                    (0..=6, _) | (_, None) => id as u32,
                    (_, Some(strings)) => match strings.reason_set(id as u32) {
                        None => 0,
                        Some(set) => *ids.entry(set.clone()).or_insert_with(|| {
                            reason_sets.push(set);
                            6 + reason_sets.len() as u32
                        }),
                    },
                };
                map.push(global);
            }
            reason_maps.push(map);
        }
        let dated = layers.iter().any(|l| l.is_dated());
        let utc_offset = base.utc_offset();
        let overlay = RangeOverlay::new(&base, &deltas, &sources)?;
        Ok(LayeredIndex {
            base,
            deltas,
            serial,
            overlay,
            sources,
            reason_sets,
            reason_maps,
            dated,
            utc_offset,
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

    /// The day checks without a date check on: today at the base's offset from UTC,
    /// read from the clock only when some layer has rules with starts.
    fn today(&self) -> Date {
        if self.dated {
            Date::today_at_offset(self.utc_offset)
        } else {
            Date::at_unix_seconds(0)
        }
    }

    /// What the layers say about a handset today, ignoring pair rules; see [`Index::check`].
    pub fn check(&self, imei: Imei) -> Verdict {
        self.check_at(imei, self.today())
    }

    /// What the layers say about a handset on `day`, ignoring pair rules; see
    /// [`Index::check_at`].
    pub fn check_at(&self, imei: Imei, day: Date) -> Verdict {
        if let Some(v) = self.exact(RuleKind::Imei, &key::imei(imei), day) {
            return v;
        }
        if let Some(v) = self.range(imei, day) {
            return v;
        }
        if let Some(v) = self.exact(RuleKind::Tac, &key::tac(imei.tac()), day) {
            return v;
        }
        self.base.unlisted(imei)
    }

    /// What the layers say about a handset used with a SIM today; see
    /// [`Index::check_with_imsi`].
    pub fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict {
        self.check_with_imsi_at(imei, imsi, self.today())
    }

    /// What the layers say about a handset used with a SIM on `day`; see
    /// [`Index::check_with_imsi_at`].
    pub fn check_with_imsi_at(&self, imei: Imei, imsi: &Imsi, day: Date) -> Verdict {
        if let Some(v) = self.exact(RuleKind::Pair, &key::pair(imei, *imsi), day) {
            return v;
        }
        self.check_at(imei, day)
    }

    /// Checks many handsets today; the verdicts are in the order of the IMEIs.
    pub fn check_many(&self, imeis: &[Imei]) -> Vec<Verdict> {
        let day = self.today();
        imeis.iter().map(|&i| self.check_at(i, day)).collect()
    }

    /// The texts of a verdict's reasons, as this view holds them (see [`Index::reasons`]).
    pub fn reasons(&self, verdict: &Verdict) -> Reasons {
        if !verdict.is_listed() {
            return Reasons::none();
        }
        if let Some(p) = verdict.policy() {
            return Reasons::new([p.text()]).unwrap_or_default();
        }
        match verdict.reasons_id() {
            0 => Reasons::none(),
            c @ 1..=6 => crate::model::field::Reason::from_code(c as u8)
                .map_or_else(Reasons::none, Reasons::from),
            c => self
                .reason_sets
                .get(c as usize - 7)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The name of a verdict's source, as this view holds it (see [`Index::source`]).
    pub fn source(&self, verdict: &Verdict) -> Option<&Source> {
        (verdict.is_listed() && verdict.policy().is_none())
            .then(|| self.sources.names.get(usize::from(verdict.source_id())))
            .flatten()
    }

    /// A layer's verdict with the view's ids.
    fn remap(&self, layer: usize, v: Verdict) -> Verdict {
        if !v.is_listed() {
            return v;
        }
        let source = self.sources.maps[layer][usize::from(v.source_id())];
        let reasons = self.reason_maps[layer]
            .get(v.reasons_id() as usize)
            .copied()
            .unwrap_or(0);
        v.with_ids(source, reasons)
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

    /// The layers, newest first, with their positions (base 0).
    fn layers_newest_first(&self) -> impl Iterator<Item = (usize, &Index)> {
        self.deltas
            .iter()
            .enumerate()
            .rev()
            .map(|(i, d)| (i + 1, d.index()))
            .chain([(0, &self.base)])
    }

    /// The verdict of one target's rules over the layers: per source, the newest layer
    /// that has the target decides; the applying rules are weighed. `None` when none
    /// applies.
    fn exact(&self, kind: RuleKind, target: &[u8], day: Date) -> Option<Verdict> {
        let day = day.days_since_epoch();
        let mut decided = [false; 256];
        // The best so far: status, date, the view's source id, the verdict.
        let mut best: Option<(Status, u32, u8, Verdict)> = None;
        let mut consider =
            |layer: usize, own_source: u8, rec: Option<V2>, decided: &mut [bool; 256]| {
                let global = self.sources.maps[layer][usize::from(own_source)];
                if std::mem::replace(&mut decided[usize::from(global)], true) {
                    return;
                }
                let Some(V2::Rule(rec)) = rec else {
                    return;
                };
                let Some((status, earlier)) = rec.status_on(day) else {
                    return;
                };
                let better = best.is_none_or(|(s, d, g, _)| {
                    (status, rec.date) > (s, d) || ((status, rec.date) == (s, d) && global < g)
                });
                if better {
                    let v = self.remap(layer, rec.verdict(kind, status, earlier, own_source));
                    best = Some((status, rec.date, global, v));
                }
            };
        for (layer, index) in self.layers_newest_first() {
            let map = index.map(kind);
            if index.has_sources() {
                map.for_each_suffix(target, |src, id| {
                    consider(layer, src, index.layer_rec(id), &mut decided)
                });
            } else if let Some(id) = map.get(target) {
                consider(layer, 0, index.layer_rec(id), &mut decided);
            }
        }
        best.map(|b| b.3)
    }

    /// The verdict of the narrowest layered range containing the IMEI with an applying
    /// rule, if one does.
    fn range(&self, imei: Imei, day: Date) -> Option<Verdict> {
        let n = imei.as_u64();
        if let Some(o) = &self.overlay {
            let i = o.spans.partition_point(|s| s.1 < n);
            if o.spans.get(i).is_some_and(|s| s.0 <= n) {
                return match &o.segments {
                    OverlaySegments::V1(segments) => {
                        let j = segments.partition_point(|s| s.0 < n);
                        let entry = segments.get(j)?.1.as_ref()?;
                        Some(Verdict::listed(RuleKind::Range, entry))
                    }
                    OverlaySegments::Stacks { segments, rules } => {
                        let j = segments.partition_point(|s| s.0 < n);
                        let words = segments.get(j)?.1.as_ref()?;
                        let day = day.days_since_epoch();
                        stacks::levels(words).find_map(|level| {
                            let mut best: Option<(Status, u32, u8, Verdict)> = None;
                            for m in level {
                                let Some(&(rec, layer)) = rules.get(m.entry as usize) else {
                                    continue;
                                };
                                let Some((status, earlier)) = rec.status_on(day) else {
                                    continue;
                                };
                                let better = best.is_none_or(|(s, d, g, _)| {
                                    (status, rec.date) > (s, d)
                                        || ((status, rec.date) == (s, d) && m.source < g)
                                });
                                if better {
                                    let v = rec.verdict(RuleKind::Range, status, earlier, m.source);
                                    let reasons = self.reason_maps[layer]
                                        .get(rec.reasons as usize)
                                        .copied()
                                        .unwrap_or(0);
                                    best = Some((
                                        status,
                                        rec.date,
                                        m.source,
                                        v.with_ids(m.source, reasons),
                                    ));
                                }
                            }
                            best.map(|b| b.3)
                        })
                    }
                };
            }
        }
        self.base.range_verdict(imei, day).map(|v| self.remap(0, v))
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
    fn new(
        base: &Index,
        deltas: &[Delta],
        sources: &GlobalSources,
    ) -> Result<Option<RangeOverlay>, Error> {
        // The newest record of every (range, source) a delta mentions, with its layer.
        let mut mentioned: BTreeMap<(u64, u64, u8), (Option<V2>, usize)> = BTreeMap::new();
        for (i, d) in deltas.iter().enumerate() {
            let layer = i + 1;
            let index = d.index();
            let mut s = index.stream(RuleKind::Range);
            while let Some((k, v)) = s.next() {
                let src = if index.has_sources() {
                    k.get(12).copied()
                } else {
                    Some(0)
                };
                if let (Some((a, b)), Some(src)) = (k.get(..12).and_then(range_of_key), src) {
                    let global = sources.maps[layer][usize::from(src)];
                    mentioned.insert((a, b, global), (index.layer_rec(v), layer));
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
        for &(a, b, _) in mentioned.keys() {
            match spans.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => spans.push((a, b)),
            }
        }
        // The base's ranges that meet a span and that no delta mentions.
        let mut layered: BTreeMap<(u64, u64, u8), (Rec, usize)> = BTreeMap::new();
        let mut s = base.stream(RuleKind::Range);
        while let Some((k, v)) = s.next() {
            let src = if base.has_sources() {
                k.get(12).copied()
            } else {
                Some(0)
            };
            let (Some((a, b)), Some(src), Some(V2::Rule(rec))) =
                (k.get(..12).and_then(range_of_key), src, base.layer_rec(v))
            else {
                continue;
            };
            let global = sources.maps[0][usize::from(src)];
            let i = spans.partition_point(|s| s.1 < a);
            let meets = spans.get(i).is_some_and(|s| s.0 <= b);
            if meets && !mentioned.contains_key(&(a, b, global)) {
                layered.insert((a, b, global), (rec, 0));
            }
        }
        if s.exhausted() {
            return Err(too_many_keys(base));
        }
        layered.extend(
            mentioned
                .into_iter()
                .filter_map(|(r, (rec, layer))| match rec {
                    Some(V2::Rule(rec)) => Some((r, (rec, layer))),
                    _ => None,
                }),
        );
        let all_v1 = !base.has_sources() && deltas.iter().all(|d| !d.index().has_sources());
        let segments = if all_v1 {
            // As format 1 sweeps them, so that such views answer as they always did.
            let mut segments = Vec::new();
            let mut sweep = Segments::default();
            let mut emit = |last, e| {
                segments.push((last, e));
                Ok::<(), std::convert::Infallible>(())
            };
            for (&(a, b, _), (rec, _)) in &layered {
                let mut e = Entry::new(rec.status);
                e.date = rec.date();
                if let c @ 1..=6 = rec.reasons {
                    e = e.with_reason(
                        crate::model::field::Reason::from_code(c as u8)
                            .unwrap_or(crate::model::field::Reason::Other),
                    );
                }
                let Ok(()) = sweep.push(a, b, e, &mut emit);
            }
            let Ok(()) = sweep.finish(&mut emit);
            OverlaySegments::V1(segments)
        } else {
            let mut segments = Vec::new();
            let mut rules = Vec::with_capacity(layered.len());
            let mut sweep = StackSweep::default();
            let mut emit = |last, w: Option<&Words>| {
                segments.push((last, w.cloned()));
                Ok::<(), std::convert::Infallible>(())
            };
            for (&(a, b, global), &(rec, layer)) in &layered {
                let member = Member {
                    entry: rules.len() as u32,
                    source: global,
                };
                rules.push((rec, layer));
                let Ok(()) = sweep.push(a, b, member, rec.always_applies(), &mut emit);
            }
            let Ok(()) = sweep.finish(&mut emit);
            OverlaySegments::Stacks { segments, rules }
        };
        Ok(Some(RangeOverlay { spans, segments }))
    }
}
