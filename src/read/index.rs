//! The index: checking equipment against the rules of a file, mapped or in memory.

use bytes::Bytes;

use crate::format::filter::{Domain, Filter};
use crate::format::key;
use crate::format::node::{Stream, Transducer};
use crate::format::{
    DeltaInfo, ENTRY_RECORD, FormatError, Header, Record, Section, decode_entry, walk_limit,
};
use crate::model::ident::{Imei, Imsi};
use crate::model::rule::{Entry, RuleKind, Verdict};
use crate::read::stats::IndexStats;

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
    pub(super) entries: Bytes,
    pub(super) imei: Transducer,
    pub(super) tac: Transducer,
    pub(super) pair: Transducer,
    pub(super) range: Transducer,
    pub(super) segments: Transducer,
    pub(super) filter: Option<Filter>,
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
    /// The entry with an id, or `None` when the id or record is out of bounds (only in files
    /// that fail [`Verification::Full`](crate::Verification::Full)).
    #[inline]
    pub(super) fn entry(&self, id: u64) -> Option<Entry> {
        let at = usize::try_from(id).ok()?.checked_mul(ENTRY_RECORD)?;
        decode_entry(self.entries.get(at..at + ENTRY_RECORD)?)
    }

    #[inline]
    fn verdict(&self, kind: RuleKind, id: u64) -> Verdict {
        self.entry(id)
            .map_or(Verdict::unknown(), |e| Verdict::listed(kind, e))
    }

    /// What the index says about a handset, ignoring pair rules (which need the IMSI).
    ///
    /// The most specific matching rule answers: an exact IMEI rule, else the narrowest
    /// range containing the IMEI, else a rule for its TAC; [`Verdict::unknown`] if none.
    #[inline]
    pub fn check(&self, imei: Imei) -> Verdict {
        if self.may_list_imei(imei)
            && let Some(id) = self.imei.get(&key::imei(imei))
        {
            return self.verdict(RuleKind::Imei, id);
        }
        self.check_broader(imei)
    }

    /// False when no exact-IMEI rule can match: the map is empty, or the filter says so.
    #[inline]
    fn may_list_imei(&self, imei: Imei) -> bool {
        !self.imei.is_empty()
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.contains(imei.as_u64(), Domain::Imei))
    }

    /// The narrowest range containing the IMEI, else the rule for its TAC, else unknown.
    #[inline]
    fn check_broader(&self, imei: Imei) -> Verdict {
        if let Some(v) = self.check_range(&key::imei(imei)) {
            return v;
        }
        if !self.tac.is_empty()
            && let Some(id) = self.tac.get(&key::tac(imei.tac()))
        {
            return self.verdict(RuleKind::Tac, id);
        }
        Verdict::unknown()
    }

    /// What the index says about a handset used with a SIM: a rule pairing this IMEI with
    /// this IMSI first, then as [`Index::check`].
    #[inline]
    pub fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict {
        let may_pair = !self.pair.is_empty()
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.contains(imei.as_u64(), Domain::Pair));
        if may_pair && let Some(id) = self.pair.get(&key::pair(imei, *imsi)) {
            return self.verdict(RuleKind::Pair, id);
        }
        self.check(imei)
    }

    /// Checks many handsets; the verdicts are in the order of the IMEIs, each equal to what
    /// [`Index::check`] answers.
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
        let mut out = vec![Verdict::unknown(); imeis.len()];
        for (chunk, out) in imeis.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            self.check_batch(chunk, out);
        }
        out
    }

    /// [`Index::check_many`] on at most [`BATCH`] IMEIs.
    fn check_batch(&self, imeis: &[Imei], out: &mut [Verdict]) {
        debug_assert!(imeis.len() <= BATCH && imeis.len() == out.len());
        // Which IMEIs an exact-IMEI rule may match, and which one did.
        let mut candidate = [false; BATCH];
        let mut exact = [false; BATCH];
        if !self.imei.is_empty() {
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
            self.imei.get_many(keys, |i, id| {
                exact[i] = true;
                out[i] = self.verdict(RuleKind::Imei, id);
            });
        }
        for ((v, &imei), _) in out
            .iter_mut()
            .zip(imeis)
            .zip(exact)
            .filter(|&(_, found)| !found)
        {
            *v = self.check_broader(imei);
        }
    }

    /// The narrowest range containing the IMEI, through the segment map.
    #[inline]
    pub(super) fn check_range(&self, key: &[u8; 6]) -> Option<Verdict> {
        if self.segments.is_empty() {
            return None;
        }
        // Segments are keyed by their last IMEI: the first at or after this one is the
        // segment holding it. Its value is 0 for a gap between ranges, else entry id + 1.
        let id = self.segments.first_at_or_after(key)?.checked_sub(1)?;
        Some(self.verdict(RuleKind::Range, id))
    }

    /// Counts, sizes and versions.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            format_version: self.header.version,
            serial: self.header.serial,
            counts: self.header.counts,
            file_bytes: self.bytes.len() as u64,
            distinct_entries: self.entries.len() as u64 / ENTRY_RECORD as u64,
            section_bytes: self.header.present().map(|(s, r)| (s, r.len)).collect(),
        }
    }

    /// The index's serial number, as set by [`IndexBuilder::serial`](crate::IndexBuilder::serial).
    pub fn serial(&self) -> u64 {
        self.header.serial
    }

    /// The index's bytes, e.g. to copy or hash them.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// Crate-internal access for the stream operations (diff, merge, apply) and layered views.
impl Index {
    /// The transducer of one kind's rules: key → entry id.
    pub(crate) fn map(&self, kind: RuleKind) -> &Transducer {
        match kind {
            RuleKind::Pair => &self.pair,
            RuleKind::Imei => &self.imei,
            RuleKind::Range => &self.range,
            RuleKind::Tac => &self.tac,
        }
    }

    /// One kind's keys in order, with their entry ids: strictly increasing and panic-free
    /// whatever the bytes (see [`Transducer::stream`]), and finite: it stops (and says
    /// so, [`Stream::exhausted`]) after as many steps as walking the most keys that
    /// [`Verification::Full`](crate::Verification::Full) accepts in a file of this size
    /// takes, so never early in a file that passes Full.
    pub(crate) fn stream(&self, kind: RuleKind) -> Stream<'_> {
        let key_len = Section::of_kind(kind).key_len().unwrap_or(0);
        let budget = walk_limit(self.bytes.len() as u64).saturating_mul(key_len as u64 + 1);
        self.map(kind).stream(key_len, budget)
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
        let at = usize::try_from(id).ok()?.checked_mul(ENTRY_RECORD)?;
        Record::decode(
            self.entries.get(at..at + ENTRY_RECORD)?,
            self.header.delta.is_some(),
        )
    }

    /// The delta section, in a delta index.
    pub(crate) fn delta_info(&self) -> Option<DeltaInfo> {
        self.header
            .delta
            .map(|r| DeltaInfo::decode(&self.bytes[r.range()]))
    }

    /// The verdict of the narrowest range containing the IMEI, if one does.
    pub(crate) fn range_verdict(&self, imei: Imei) -> Option<Verdict> {
        self.check_range(&key::imei(imei))
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
