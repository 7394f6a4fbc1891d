//! The index: checking equipment against the rules of a file, mapped or in memory.

use std::sync::Arc;

use bytes::Bytes;

use crate::format::blocks::{self, Blocks};
use crate::format::devices::Devices;
use crate::format::filter::{Domain, Filter};
use crate::format::key;
use crate::format::node::Transducer;
use crate::format::records::{self, Rec, V2, V2_RECORD};
use crate::format::stacks::{Member, SegmentValue, Stacks, decode_value};
use crate::format::strings::Strings;
use crate::format::{DeltaInfo, ENTRY_RECORD, FormatError, Header, Record, Section, walk_limit};
use crate::model::device::{Device, TacPolicy};
use crate::model::ident::{Imei, Imsi, Tac};
use crate::model::rule::{Date, Entry, RuleKind, Status, Verdict};
use crate::model::source::{Reasons, Source};
use crate::read::maps::{Keys, Map};
use crate::read::stats::{IndexStats, SourceStats};

/// IMEIs checked together by [`Index::check_many`]: their filter blocks fit in L1.
const BATCH: usize = 256;

/// An immutable index of IMEI rules, usually memory-mapped from a file.
///
/// Cloning is cheap (the bytes are shared), and an `Index` is `Send + Sync`: one instance
/// serves any number of threads. Every process that maps the same file shares one copy of
/// it in the page cache.
///
/// # Example
///
/// ```
/// use imei_index::{Imei, Imsi, Index, IndexBuilder, RuleKind, Status};
/// use imei_index::list::ListReader;
///
/// let list = "\
/// imei,status,reason,imsi,date
/// 35209900,blocked,counterfeit,,
/// 35-209900-176148-1,allowed,,404685505601234,2024-05-21
/// ";
/// let mut builder = IndexBuilder::new();
/// builder.add_list(ListReader::new("list.csv", list.as_bytes()), Err)?;
/// let (bytes, _) = builder.build_to_vec()?;
/// let index = Index::from_bytes(bytes.into())?;
///
/// let imei = Imei::parse("352099001761481")?;
/// assert_eq!(index.check(imei).status(), Some(Status::Blocked));
/// // The handset is allowed with the SIM it is paired with.
/// let v = index.check_with_imsi(imei, &Imsi::parse("404685505601234")?);
/// assert_eq!((v.status(), v.rule()), (Some(Status::Allowed), Some(RuleKind::Pair)));
/// // Unlisted equipment is unknown: the caller decides what that means.
/// assert!(!index.check(Imei::parse("490154203237518")?).is_listed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Index {
    pub(super) bytes: Bytes,
    pub(super) header: Header,
    /// Format 1's 8-byte records, or the 16-byte records of `entries v2` (after its header).
    pub(super) entries: Bytes,
    pub(super) imei: Transducer,
    /// The exact-IMEI rules by TAC, in files with the `imei blocks` section (`imei` is
    /// then empty).
    pub(super) blocks: Option<Blocks>,
    pub(super) tac: Transducer,
    pub(super) pair: Transducer,
    pub(super) range: Transducer,
    pub(super) segments: Transducer,
    pub(super) filter: Option<Filter>,
    /// What sections 8 to 12 hold, in files with sources.
    pub(super) v2: Option<V2Parts>,
    /// The sources, by id: one, `local`, in files without sources.
    pub(super) sources: Arc<[SourceStats]>,
    /// The offset from UTC, in seconds, of the day `check` checks on.
    pub(super) utc_offset: i32,
    /// GSMA's TAC database, in files that hold one.
    pub(super) devices: Option<Devices>,
    /// What checks that no rule decides answer (with `devices`; `open` makes sure).
    pub(super) tac_policy: Option<TacPolicy>,
}

/// What a file with sources adds.
#[derive(Clone, Debug)]
pub(super) struct V2Parts {
    /// Whether some rule has a start: checks read the clock only then.
    pub(super) dated: bool,
    pub(super) strings: Strings,
    pub(super) stacks: Stacks,
    pub(super) subscribers: Bytes,
}

/// The best applying rule so far while weighing (docs/semantics.md, rule 4): the most
/// severe status that day, then the latest date, then the source that sorts first.
#[derive(Clone, Copy)]
struct Weighed {
    status: Status,
    earlier: bool,
    source: u8,
    rec: Rec,
}

impl Weighed {
    /// Keeps `self` or takes the rule (`rec`, of `source`) if it applies on `day` and
    /// weighs more; sources come in id order, so ties keep the first.
    #[inline(always)]
    fn consider(best: &mut Option<Weighed>, rec: Rec, source: u8, day: u32) {
        let Some((status, earlier)) = rec.status_on(day) else {
            return;
        };
        let better = match best {
            None => true,
            Some(b) => {
                (status, rec.date) > (b.status, b.rec.date)
                    || ((status, rec.date) == (b.status, b.rec.date) && source < b.source)
            }
        };
        if better {
            *best = Some(Weighed {
                status,
                earlier,
                source,
                rec,
            });
        }
    }

    #[inline(always)]
    fn verdict(self, kind: RuleKind) -> Verdict {
        self.rec
            .verdict(kind, self.status, self.earlier, self.source)
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("bytes", &self.bytes.len())
            .field("serial", &self.header.serial)
            .field("rules", &self.header.counts.total())
            .finish()
    }
}

impl Index {
    /// The record with an id as checks read it, or `None` when the id or record is out of
    /// bounds or a tombstone (only in files that fail [`Verification::Full`](crate::Verification::Full),
    /// or deltas).
    #[inline(always)]
    pub(crate) fn rec(&self, id: u64) -> Option<Rec> {
        if self.v2.is_some() {
            let at = usize::try_from(id).ok()?.checked_mul(V2_RECORD)?;
            match records::decode_v2(self.entries.get(at..at.checked_add(V2_RECORD)?)?, false)? {
                V2::Rule(r) => Some(r),
                V2::Removed => None,
            }
        } else {
            let at = usize::try_from(id).ok()?.checked_mul(ENTRY_RECORD)?;
            records::decode_v1(self.entries.get(at..at.checked_add(ENTRY_RECORD)?)?)
        }
    }

    /// The day `check` checks on: today at the configured offset, read from the clock only
    /// when some rule has a start (otherwise the day changes no answer).
    #[inline(always)]
    fn today(&self) -> u32 {
        match &self.v2 {
            Some(v) if v.dated => Date::today_at_offset(self.utc_offset).days_since_epoch(),
            _ => 0,
        }
    }

    /// The verdict of the rules of one target in a map: in a file with sources, the
    /// applying rule of every source weighed by rule 4; `None` when none applies.
    #[inline(always)]
    fn exact(&self, kind: RuleKind, prefix: &[u8], day: u32) -> Option<Verdict> {
        let map = self.map(kind);
        if self.v2.is_none() {
            let id = map.get(prefix)?;
            // As before sources: a value that names no entry answers unknown.
            return Some(
                self.rec(id)
                    .map_or(Verdict::unknown(), |r| r.verdict(kind, r.status, false, 0)),
            );
        }
        let mut best = None;
        map.for_each_suffix(prefix, |source, id| {
            if let Some(rec) = self.rec(id) {
                Weighed::consider(&mut best, rec, source, day);
            }
        });
        best.map(|b| b.verdict(kind))
    }

    /// What the index says about a handset today, ignoring pair rules (which need the
    /// IMSI): see [`Index::check_at`]. Today is the current date at the offset from UTC set
    /// by [`OpenOptions::utc_offset`](crate::OpenOptions::utc_offset) (UTC by default); the
    /// clock is read only when some rule of the index has a start.
    #[inline]
    pub fn check(&self, imei: Imei) -> Verdict {
        self.check_on(imei, self.today())
    }

    /// What the index says about a handset on `day`, ignoring pair rules (which need the
    /// IMSI).
    ///
    /// Only rules that apply on the day count; the most specific kind that has one decides
    /// (an exact IMEI rule, else the narrowest range containing the IMEI, else a rule for
    /// its TAC), and the rules of several sources for one target are weighed: the most
    /// severe status, then the latest date, then the source that sorts first
    /// (docs/semantics.md). [`Verdict::unknown`] if none applies.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, Imei, Index, IndexBuilder, Rule, Status};
    ///
    /// let imei = Imei::parse("35209900176148")?;
    /// let notified = Entry::new(Status::Blocked)
    ///     .with_start("2024-06-01".parse()?)
    ///     .with_earlier(Status::Tracked)?;
    /// let mut b = IndexBuilder::new();
    /// b.add(Rule::imei(imei, notified));
    /// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
    /// let v = index.check_at(imei, "2024-05-31".parse()?);
    /// assert_eq!((v.status(), v.is_earlier()), (Some(Status::Tracked), true));
    /// assert_eq!(v.start().map(|d| d.to_string()).as_deref(), Some("2024-06-01"));
    /// assert_eq!(index.check_at(imei, "2024-06-01".parse()?).status(), Some(Status::Blocked));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn check_at(&self, imei: Imei, day: Date) -> Verdict {
        self.check_on(imei, day.days_since_epoch())
    }

    #[inline(always)]
    fn check_on(&self, imei: Imei, day: u32) -> Verdict {
        if self.may_list_imei(imei)
            && let Some(v) = self.exact(RuleKind::Imei, &key::imei(imei), day)
        {
            return v;
        }
        self.check_broader(imei, day)
    }

    /// False when no exact-IMEI rule can match: the map is empty, or the filter says so.
    #[inline]
    fn may_list_imei(&self, imei: Imei) -> bool {
        !self.map(RuleKind::Imei).is_empty()
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.contains(imei.as_u64(), Domain::Imei))
    }

    /// The narrowest range containing the IMEI with an applying rule, else the rule for its
    /// TAC, else unknown.
    #[inline]
    fn check_broader(&self, imei: Imei, day: u32) -> Verdict {
        if let Some(v) = self.check_range(&key::imei(imei), day) {
            return v;
        }
        if !self.tac.is_empty()
            && let Some(v) = self.exact(RuleKind::Tac, &key::tac(imei.tac()), day)
        {
            return v;
        }
        self.unlisted(imei)
    }

    /// The verdict when no rule applies: unknown, or the TAC policy's (docs/semantics.md,
    /// "GSMA's TAC database").
    #[inline]
    pub(crate) fn unlisted(&self, imei: Imei) -> Verdict {
        if let (Some(policy), Some(devices)) = (&self.tac_policy, &self.devices)
            && let Some(why) = policy.catches(devices.allocation(imei.tac().as_u32()))
        {
            return Verdict::of_policy(policy.status(), why);
        }
        Verdict::unknown()
    }

    /// What the index's TAC database says about a TAC: its manufacturer, brand, model,
    /// device type and allocation date; `None` when the database does not list it or the
    /// index holds none ([`Index::tac_db_len`]).
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::list::tacdb::{self, Reader};
    /// use imei_index::{Imei, Index, IndexBuilder, TacTable};
    ///
    /// let file = "TAC|Marketing Name|Manufacturer|Brand Name|Device Type|Allocation Date\n\
    ///             35209900|Galaxy S23|Samsung Korea|Samsung|Smartphone|01-Feb-2023\n";
    /// let mut db = TacTable::new();
    /// tacdb::read_into(&mut db, Reader::new("tacdb.txt", file.as_bytes()), Err)?;
    /// let mut b = IndexBuilder::new();
    /// b.tac_db(db);
    /// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
    /// let d = index.device(Imei::parse("35209900176148")?.tac()).unwrap();
    /// assert_eq!((d.manufacturer, d.model, d.device_type), ("Samsung Korea", "Galaxy S23", "Smartphone"));
    /// assert_eq!(d.allocated.unwrap().to_string(), "2023-02-01");
    /// assert_eq!(index.tac_db_len(), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn device(&self, tac: Tac) -> Option<Device<'_>> {
        self.devices.as_ref()?.get(tac)
    }

    /// How many TACs the index's TAC database lists, or `None` when it holds none.
    pub fn tac_db_len(&self) -> Option<usize> {
        self.devices.as_ref().map(Devices::len)
    }

    /// Every row of the index's TAC database, in TAC order (none when it holds none).
    pub fn devices(&self) -> impl Iterator<Item = Device<'_>> + '_ {
        self.devices.iter().flat_map(Devices::iter)
    }

    /// The TAC policy checks apply ([`OpenOptions::tac_policy`](crate::OpenOptions::tac_policy)).
    pub fn tac_policy(&self) -> Option<TacPolicy> {
        self.tac_policy
    }

    /// What the index says about a handset used with a SIM today: a rule pairing this
    /// IMEI with this IMSI first, then as [`Index::check`].
    #[inline]
    pub fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict {
        self.check_with_imsi_on(imei, imsi, self.today())
    }

    /// What the index says about a handset used with a SIM on `day`: an applying rule
    /// pairing this IMEI with this IMSI first, then as [`Index::check_at`].
    #[inline]
    pub fn check_with_imsi_at(&self, imei: Imei, imsi: &Imsi, day: Date) -> Verdict {
        self.check_with_imsi_on(imei, imsi, day.days_since_epoch())
    }

    #[inline(always)]
    fn check_with_imsi_on(&self, imei: Imei, imsi: &Imsi, day: u32) -> Verdict {
        let may_pair = !self.pair.is_empty()
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.contains(imei.as_u64(), Domain::Pair));
        if may_pair && let Some(v) = self.exact(RuleKind::Pair, &key::pair(imei, *imsi), day) {
            return v;
        }
        self.check_on(imei, day)
    }

    /// Checks many handsets today; the verdicts are in the order of the IMEIs, each equal
    /// to what [`Index::check`] answers.
    ///
    /// On indexes larger than the CPU's caches it is faster per IMEI than `check` in a
    /// loop (2–3× on lists of millions): the filter blocks of a batch are fetched
    /// together, and the IMEIs that pass are walked through the transducer together, one
    /// level of each in turn, so that their cache misses overlap.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Index, IndexBuilder, Imei, Entry, Rule, Status};
    /// use imei_index::synth::{ListShape, probes};
    ///
    /// let listed: Vec<Imei> = ListShape::new(5_000, 1).imeis().collect();
    /// let mut b = IndexBuilder::new();
    /// for &i in &listed {
    ///     b.add(Rule::imei(i, Entry::new(Status::Blocked)));
    /// }
    /// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
    /// let batch = probes(&listed, 1_000, 0.5, 7);
    /// let verdicts = index.check_many(&batch);
    /// assert!(verdicts.iter().zip(&batch).all(|(v, &i)| *v == index.check(i)));
    /// # Ok::<(), imei_index::Error>(())
    /// ```
    pub fn check_many(&self, imeis: &[Imei]) -> Vec<Verdict> {
        self.check_many_on(imeis, self.today())
    }

    /// Checks many handsets on `day`; each verdict equals what [`Index::check_at`]
    /// answers. See [`Index::check_many`].
    pub fn check_many_at(&self, imeis: &[Imei], day: Date) -> Vec<Verdict> {
        self.check_many_on(imeis, day.days_since_epoch())
    }

    fn check_many_on(&self, imeis: &[Imei], day: u32) -> Vec<Verdict> {
        let mut out = vec![Verdict::unknown(); imeis.len()];
        for (chunk, out) in imeis.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            self.check_batch(chunk, out, day);
        }
        out
    }

    /// [`Index::check_many`] on at most [`BATCH`] IMEIs.
    fn check_batch(&self, imeis: &[Imei], out: &mut [Verdict], day: u32) {
        debug_assert!(imeis.len() <= BATCH && imeis.len() == out.len());
        // Which IMEIs an exact-IMEI rule may match, and which one did.
        let mut candidate = [false; BATCH];
        let mut exact = [false; BATCH];
        if !self.map(RuleKind::Imei).is_empty() {
            match &self.filter {
                Some(f) => {
                    let mut probes = [None; BATCH];
                    for (p, imei) in probes.iter_mut().zip(imeis) {
                        let probe = f.probe(imei.as_u64(), Domain::Imei);
                        f.prefetch(probe);
                        *p = Some(probe);
                    }
                    for (c, p) in candidate.iter_mut().zip(probes.iter().flatten()) {
                        *c = f.may_contain(*p);
                    }
                }
                None => candidate[..imeis.len()].fill(true),
            }
            let keys = imeis
                .iter()
                .enumerate()
                .filter(|&(i, _)| candidate[i])
                .map(|(i, imei)| (i, key::imei(*imei)));
            if let Some(blocks) = &self.blocks {
                // In three rounds, so that the candidates' misses overlap: each one's block
                // and the line of bucket ends its lookup reads; then the lines of serials
                // and values that those ends point to; then the lookups.
                // Only the candidates' lookups, in a list: a lookup is some hundred bytes,
                // and an array of one per IMEI of the batch would be rewritten every batch.
                let mut found = Vec::with_capacity(imeis.len());
                let tacs = imeis
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| candidate[i])
                    .map(|(i, imei)| (i, blocks::split(imei.as_u64()).0));
                blocks.locate_many(tacs, |i, k| {
                    if let Some(l) = blocks.lookup(k, blocks::split(imeis[i].as_u64()).1) {
                        l.prefetch();
                        found.push((i, l));
                    }
                });
                for (_, l) in &found {
                    l.prefetch_more();
                }
                for (i, l) in &found {
                    let mut best = None;
                    l.for_each(&mut |source, id| {
                        if let Some(rec) = self.rec(id) {
                            Weighed::consider(&mut best, rec, source, day);
                        }
                    });
                    if let Some(b) = best {
                        out[*i] = b.verdict(RuleKind::Imei);
                        exact[*i] = true;
                    }
                }
            } else if self.v2.is_none() {
                self.imei.get_many(keys, false, |i, _, id| {
                    exact[i] = true;
                    out[i] = self.rec(id).map_or(Verdict::unknown(), |r| {
                        r.verdict(RuleKind::Imei, r.status, false, 0)
                    });
                });
            } else {
                let mut best: [Option<Weighed>; BATCH] = [None; BATCH];
                self.imei.get_many(keys, true, |i, source, id| {
                    if let Some(rec) = self.rec(id) {
                        Weighed::consider(&mut best[i], rec, source, day);
                    }
                });
                for ((b, v), e) in best.iter().zip(out.iter_mut()).zip(exact.iter_mut()) {
                    if let Some(b) = b {
                        *v = b.verdict(RuleKind::Imei);
                        *e = true;
                    }
                }
            }
        }
        for ((v, &imei), _) in out
            .iter_mut()
            .zip(imeis)
            .zip(exact)
            .filter(|&(_, found)| !found)
        {
            *v = self.check_broader(imei, day);
        }
    }

    /// The narrowest range containing the IMEI with a rule applying on `day`, through the
    /// segment map.
    #[inline]
    pub(super) fn check_range(&self, key: &[u8; 6], day: u32) -> Option<Verdict> {
        if self.segments.is_empty() {
            return None;
        }
        // Segments are keyed by their last IMEI: the first at or after this one is the
        // segment holding it.
        let v = self.segments.first_at_or_after(key)?;
        let Some(v2) = &self.v2 else {
            // Format 1: 0 for a gap between ranges, else entry id + 1.
            let id = v.checked_sub(1)?;
            return Some(self.rec(id).map_or(Verdict::unknown(), |r| {
                r.verdict(RuleKind::Range, r.status, false, 0)
            }));
        };
        match decode_value(v)? {
            SegmentValue::Gap => None,
            SegmentValue::Single(m) => {
                let mut best = None;
                Weighed::consider(&mut best, self.rec(u64::from(m.entry))?, m.source, day);
                best.map(|b| b.verdict(RuleKind::Range))
            }
            SegmentValue::Stack(id) => v2.stacks.get(id)?.find_level(|members| {
                self.weigh_level(members, day)
                    .map(|b| b.verdict(RuleKind::Range))
            }),
        }
    }

    /// The rule that decides among one level's members on `day`, if one applies.
    #[inline]
    fn weigh_level(&self, members: &mut dyn Iterator<Item = Member>, day: u32) -> Option<Weighed> {
        let mut best = None;
        for m in members {
            if let Some(rec) = self.rec(u64::from(m.entry)) {
                Weighed::consider(&mut best, rec, m.source, day);
            }
        }
        best
    }

    /// The texts of a verdict's reasons, as this index holds them: none for unknown
    /// equipment or a rule without reasons. Resolve a verdict only with the index that
    /// answered it: ids of one index mean nothing in another.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, Imei, Index, IndexBuilder, Reason, Reasons, Rule, Status};
    ///
    /// let imei = Imei::parse("35209900176148")?;
    /// let reasons = Reasons::new(["Duplicate IMEI detected", "stolen"])?;
    /// let mut b = IndexBuilder::new();
    /// b.add(Rule::imei(imei, Entry::new(Status::Blocked).with_reasons(reasons)));
    /// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
    /// let v = index.check(imei);
    /// assert_eq!(v.reason(), Some(Reason::Other));
    /// assert_eq!(index.reasons(&v).collect::<Vec<_>>(), ["Duplicate IMEI detected", "stolen"]);
    /// assert_eq!(index.source(&v), Some("local"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reasons(&self, verdict: &Verdict) -> impl Iterator<Item = &str> + '_ {
        let texts = match (&self.v2, verdict.is_listed()) {
            (_, false) => None,
            (Some(v2), true) => v2.strings.reasons(verdict.reasons_id()),
            // Format 1 holds the known reasons only, by code.
            (None, true) => crate::format::strings::known_texts(verdict.reasons_id()),
        };
        let policy = verdict.policy().map(|p| p.text());
        texts.into_iter().flatten().chain(policy)
    }

    /// The reasons of a verdict, as a set (see [`Index::reasons`]).
    pub fn reason_set(&self, verdict: &Verdict) -> Reasons {
        if !verdict.is_listed() {
            return Reasons::none();
        }
        if let Some(p) = verdict.policy() {
            return Reasons::new([p.text()]).unwrap_or_default();
        }
        match &self.v2 {
            Some(v2) => v2
                .strings
                .reason_set(verdict.reasons_id())
                .unwrap_or_default(),
            None => match verdict.reasons_id() {
                c @ 1..=6 => Reasons::from(
                    crate::model::field::Reason::from_code(c as u8)
                        .unwrap_or(crate::model::field::Reason::Other),
                ),
                _ => Reasons::none(),
            },
        }
    }

    /// The name of a verdict's source, as this index holds it; `None` for unknown
    /// equipment. Resolve a verdict only with the index that answered it.
    pub fn source(&self, verdict: &Verdict) -> Option<&str> {
        if !verdict.is_listed() || verdict.policy().is_some() {
            return None;
        }
        self.sources
            .get(usize::from(verdict.source_id()))
            .map(|s| s.name.as_str())
    }

    /// Checks a handset (with its SIM if given, on `day` if given, else today) and resolves
    /// the verdict's reasons and source with this index, as owned values.
    pub fn describe(&self, imei: Imei, imsi: Option<&Imsi>, day: Option<Date>) -> Described {
        let day = day.map_or_else(|| self.today(), Date::days_since_epoch);
        let verdict = match imsi {
            Some(imsi) => self.check_with_imsi_on(imei, imsi, day),
            None => self.check_on(imei, day),
        };
        self.described(verdict)
    }

    /// A verdict of this index with its reasons and source resolved.
    pub fn described(&self, verdict: Verdict) -> Described {
        let source = self
            .source(&verdict)
            .map(|_| self.sources[usize::from(verdict.source_id())].name.clone());
        Described {
            verdict,
            reasons: self.reason_set(&verdict),
            source,
        }
    }

    /// The sources of the index's rules, by id (in the order of their names); one, `local`,
    /// in files written before sources.
    pub fn sources(&self) -> &[SourceStats] {
        &self.sources
    }

    /// Counts, sizes and versions.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            format_version: self.header.version,
            serial: self.header.serial,
            counts: self.header.counts,
            file_bytes: self.bytes.len() as u64,
            distinct_entries: self.entry_count(),
            section_bytes: self.header.present().map(|(s, r)| (s, r.len)).collect(),
            sources: self.sources.to_vec(),
            dated: self.v2.as_ref().is_some_and(|v| v.dated),
            tac_db: self
                .devices
                .as_ref()
                .map(|d| (d.len() as u64, d.bytes() as u64)),
            imei_blocks: self.blocks.as_ref().map(Blocks::mix),
        }
    }

    /// How many entry records the file holds.
    pub(crate) fn entry_count(&self) -> u64 {
        let record = if self.v2.is_some() {
            V2_RECORD
        } else {
            ENTRY_RECORD
        };
        self.entries.len() as u64 / record as u64
    }

    /// The index's serial number, as set by [`IndexBuilder::serial`](crate::IndexBuilder::serial).
    pub fn serial(&self) -> u64 {
        self.header.serial
    }

    /// The raw devices section, for apply and merge to pass on.
    pub(crate) fn devices_section(&self) -> Option<Bytes> {
        self.header.devices.map(|r| self.bytes.slice(r.range()))
    }

    /// The index's bytes, e.g. to copy or hash them.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// Crate-internal access for the stream operations (diff, merge, apply) and layered views.
impl Index {
    /// The transducer of one kind's rules: key → entry id.
    pub(crate) fn map(&self, kind: RuleKind) -> Map<'_> {
        Map::Fst(match kind {
            RuleKind::Pair => &self.pair,
            RuleKind::Imei => match &self.blocks {
                Some(b) => return Map::Blocks(b),
                None => &self.imei,
            },
            RuleKind::Range => &self.range,
            RuleKind::Tac => &self.tac,
        })
    }

    /// The section that holds one kind's rules.
    pub(crate) fn section_of(&self, kind: RuleKind) -> Section {
        match (kind, &self.blocks) {
            (RuleKind::Imei, Some(_)) => Section::ImeiBlocks,
            _ => Section::of_kind(kind),
        }
    }

    /// The IMEI blocks, in files with them.
    pub(crate) fn imei_blocks(&self) -> Option<&Blocks> {
        self.blocks.as_ref()
    }

    /// One kind's keys in order, with their entry ids: strictly increasing and panic-free
    /// whatever the bytes (see [`Transducer::stream`]), and finite: it stops (and says
    /// so, [`Stream::exhausted`]) after as many steps as walking the most keys that
    /// [`Verification::Full`](crate::Verification::Full) accepts in a file of this size
    /// takes, so never early in a file that passes Full.
    pub(crate) fn stream(&self, kind: RuleKind) -> Keys<'_> {
        let key_len = self.key_len(kind);
        let budget = walk_limit(self.bytes.len() as u64).saturating_mul(key_len as u64 + 1);
        self.map(kind).stream(key_len, budget)
    }

    /// The length of one kind's keys: with the source byte in files with sources.
    pub(crate) fn key_len(&self, kind: RuleKind) -> usize {
        Section::of_kind(kind).key_len().unwrap_or(0) + usize::from(self.v2.is_some())
    }

    /// True when the file has sources (sections 8 to 12).
    pub(crate) fn has_sources(&self) -> bool {
        self.v2.is_some()
    }

    /// The error for a stream that stopped at its budget.
    pub(crate) fn too_many_keys(&self) -> FormatError {
        let file_bytes = self.bytes.len() as u64;
        FormatError::TooManyKeys {
            keys: walk_limit(file_bytes).saturating_add(1),
            file_bytes,
            limit: walk_limit(file_bytes),
        }
    }

    /// The record with an id: an entry, or in a delta index a tombstone; `None` when the
    /// id or record is out of bounds (only in files that fail [`Verification::Full`](crate::Verification::Full)).
    pub(crate) fn record(&self, id: u64) -> Option<Record> {
        let deltas = self.header.delta.is_some();
        let Some(v2) = &self.v2 else {
            let at = usize::try_from(id).ok()?.checked_mul(ENTRY_RECORD)?;
            return Record::decode(self.entries.get(at..at.checked_add(ENTRY_RECORD)?)?, deltas);
        };
        let at = usize::try_from(id).ok()?.checked_mul(V2_RECORD)?;
        match records::decode_v2(self.entries.get(at..at.checked_add(V2_RECORD)?)?, deltas)? {
            V2::Removed => Some(Record::Removed),
            V2::Rule(r) => Some(Record::Rule(Entry {
                status: r.status,
                reasons: v2.strings.reason_set(r.reasons)?,
                date: r.date(),
                start: r.start(),
                earlier: r.earlier,
            })),
        }
    }

    /// The record with an id, tombstones included (in deltas), as layered checks read it.
    pub(crate) fn layer_rec(&self, id: u64) -> Option<V2> {
        let deltas = self.header.delta.is_some();
        if self.v2.is_some() {
            let at = usize::try_from(id).ok()?.checked_mul(V2_RECORD)?;
            records::decode_v2(self.entries.get(at..at.checked_add(V2_RECORD)?)?, deltas)
        } else {
            let at = usize::try_from(id).ok()?.checked_mul(ENTRY_RECORD)?;
            let r = self.entries.get(at..at.checked_add(ENTRY_RECORD)?)?;
            if deltas && r == crate::format::TOMBSTONE {
                return Some(V2::Removed);
            }
            records::decode_v1(r).map(V2::Rule)
        }
    }

    /// The delta section, in a delta index.
    pub(crate) fn delta_info(&self) -> Option<DeltaInfo> {
        self.header
            .delta
            .map(|r| DeltaInfo::decode(&self.bytes[r.range()]))
    }

    /// The verdict of the narrowest range containing the IMEI with a rule applying on
    /// `day`, if one does.
    pub(crate) fn range_verdict(&self, imei: Imei, day: Date) -> Option<Verdict> {
        self.check_range(&key::imei(imei), day.days_since_epoch())
    }

    /// The configured offset from UTC of `check`'s today.
    pub(crate) fn utc_offset(&self) -> i32 {
        self.utc_offset
    }

    /// The strings of a file with sources.
    pub(crate) fn strings(&self) -> Option<&Strings> {
        self.v2.as_ref().map(|v| &v.strings)
    }

    /// The subscribers section's bytes, in a file with sources.
    pub(crate) fn subscriber_bytes(&self) -> Option<&Bytes> {
        self.v2.as_ref().map(|v| &v.subscribers)
    }

    /// The range stacks of a file with sources.
    pub(crate) fn stacks(&self) -> Option<&Stacks> {
        self.v2.as_ref().map(|v| &v.stacks)
    }

    /// The entries v2 header's flag: some rule has a start.
    pub(crate) fn is_dated(&self) -> bool {
        self.v2.as_ref().is_some_and(|v| v.dated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Index>();
    }
}

/// A verdict with the texts it names, resolved by the index that answered it
/// ([`Index::describe`], [`LiveIndex::describe`](crate::LiveIndex::describe)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Described {
    /// The verdict.
    pub verdict: Verdict,
    /// The deciding rule's reasons (none for unknown equipment).
    pub reasons: Reasons,
    /// The deciding rule's source (`None` for unknown equipment).
    pub source: Option<Source>,
}
