//! Reading index files: opening, checking equipment, statistics and iteration.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use bytes::Bytes;
use fst::{Map, Streamer};

use crate::error::{Error, Origin};
use crate::format::filter::{Domain, Filter};
use crate::format::{
    DeltaInfo, ENTRY_RECORD, FormatError, Header, Record, RuleCounts, Section, decode_entry,
};
use crate::model::ident::{Imei, Imsi, Tac};
use crate::format::node::Transducer;
use crate::model::rule::{Entry, Rule, RuleKind, Verdict};

/// IMEIs checked together by [`Index::check_many`]: their filter blocks fit in L1.
const BATCH: usize = 256;

/// How much of an index to check when opening it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Verification {
    /// Check the header only (magic, version, lengths, header checksum): O(1).
    ///
    /// For files verified when they were published and not writable since. Checks never
    /// panic whatever the bytes, but corrupt bytes give wrong answers, and iterating the
    /// rules of a corrupt file may panic (inside the `fst` crate).
    Trusted,
    /// Also check every section's checksum: one pass over the file. The default.
    #[default]
    Checksums,
    /// Also walk every transducer and entry: every key and value well-formed, counts equal
    /// to the header's, ranges in order. Catches files that are corrupt yet checksum-valid
    /// (for example written by a buggy or hostile tool). What `imei-index verify` runs.
    Full,
}

/// Options for opening an index.
///
/// # Example
///
/// ```no_run
/// use imei_index::{OpenOptions, Verification};
///
/// // An EIR worker: the file was verified by `imei-index publish`, so skip the checksum
/// // pass, and fault the whole file into memory now rather than on the first checks.
/// let index = OpenOptions::new()
///     .verification(Verification::Trusted)
///     .populate(true)
///     .open("/var/lib/eir/national.imeiidx")?;
/// # Ok::<(), imei_index::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    verification: Verification,
    populate: bool,
    lock: bool,
    advise_random: bool,
    /// Open delta indexes (and only them), for [`Delta`](crate::Delta).
    delta: bool,
}

impl OpenOptions {
    /// Default options: checksums verified, nothing populated or locked.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// How much to verify (default [`Verification::Checksums`]).
    pub fn verification(&mut self, v: Verification) -> &mut OpenOptions {
        self.verification = v;
        self
    }

    /// Read the whole file into the page cache when mapping it (`MAP_POPULATE` on Linux),
    /// so that the first checks do not wait for the disk. The open then takes as long as
    /// reading the file; measured at 20M rules (docs/performance.md), the first 1,000
    /// checks after opening an uncached file took 4 ms instead of 116 ms.
    pub fn populate(&mut self, yes: bool) -> &mut OpenOptions {
        self.populate = yes;
        self
    }

    /// Lock the mapping in memory (`mlock`), so that it is never paged out under memory
    /// pressure. Needs `RLIMIT_MEMLOCK` (or `CAP_IPC_LOCK`) to cover the file.
    pub fn lock(&mut self, yes: bool) -> &mut OpenOptions {
        self.lock = yes;
        self
    }

    /// Advise the kernel that access is random (`MADV_RANDOM`), which stops it reading
    /// ahead pages that a check will not touch. For latency-critical workers: measured at
    /// 20M rules (docs/performance.md), opening a file that is not in the page cache and
    /// answering the first check took 0.4 ms with it and about 30 ms without (read-ahead).
    /// Tools that read the whole file in order (verification, dumps) want read-ahead.
    pub fn advise_random(&mut self, yes: bool) -> &mut OpenOptions {
        self.advise_random = yes;
        self
    }

    /// Opens and memory-maps an index file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be opened or mapped (or locked, when asked),
    /// [`Error::Format`] when it is not a valid index at the chosen verification level.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Index, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("read", path, e))?;
        if !meta.is_file() {
            // Mapping a directory or a device fails with a baffling "No such device".
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            let msg = format!("it is {what}; pass the path of an index file");
            return Err(Error::io(
                "open",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, msg),
            ));
        }
        let len = meta.len();
        let origin = Origin::File(path.to_path_buf());
        if len == 0 {
            // Mapping zero bytes fails on some platforms; say what is really wrong.
            return Err(Error::format(&origin, FormatError::Empty));
        }
        let mut opts = memmap2::MmapOptions::new();
        if self.populate {
            opts.populate();
        }
        // SAFETY: the mapping is read-only. It is undefined behaviour for the file to change
        // while mapped; index files are never modified in place (every writer in this crate
        // writes a new file and renames it over the old), and the crate documents that
        // contract for everyone else. Every byte is treated as untrusted input regardless.
        let map = unsafe { opts.map(&file) }.map_err(|e| Error::io("map", path, e))?;
        if self.advise_random {
            #[cfg(unix)]
            map.advise(memmap2::Advice::Random)
                .map_err(|e| Error::io("advise the kernel about", path, e))?;
        }
        if self.lock {
            #[cfg(unix)]
            map.lock()
                .map_err(|e| Error::io("lock in memory", path, e))?;
        }
        Index::from_parts(
            Bytes::from_owner(map),
            origin,
            self.verification,
            self.delta,
        )
    }

    /// Reads an index from bytes in memory.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] when the bytes are not a valid index at the chosen level.
    pub fn open_bytes(&self, bytes: Bytes) -> Result<Index, Error> {
        Index::from_parts(bytes, Origin::Memory, self.verification, self.delta)
    }

    /// Opens delta indexes instead of full ones.
    pub(crate) fn delta(&mut self, yes: bool) -> &mut OpenOptions {
        self.delta = yes;
        self
    }
}

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
    bytes: Bytes,
    header: Header,
    entries: Bytes,
    imei: Transducer,
    tac: Transducer,
    pair: Transducer,
    range: Transducer,
    segments: Transducer,
    filter: Option<Filter>,
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
    /// Opens and memory-maps an index file, verifying its checksums.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Index, Error> {
        OpenOptions::new().open(path)
    }

    /// Reads an index from bytes, verifying its checksums.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open_bytes`].
    pub fn from_bytes(bytes: Bytes) -> Result<Index, Error> {
        OpenOptions::new().open_bytes(bytes)
    }

    fn from_parts(
        bytes: Bytes,
        origin: Origin,
        level: Verification,
        delta: bool,
    ) -> Result<Index, Error> {
        let fail = |e| Error::format(&origin, e);
        let header = Header::parse(&bytes).map_err(fail)?;
        match (header.delta.is_some(), delta) {
            (true, false) => return Err(fail(FormatError::IsDelta)),
            (false, true) => return Err(fail(FormatError::NotDelta)),
            _ => {}
        }
        if level >= Verification::Checksums {
            for (s, r) in header.present() {
                let computed = crc32fast::hash(&bytes[r.range()]);
                if computed != r.crc {
                    return Err(fail(FormatError::SectionChecksum {
                        section: s,
                        offset: r.offset,
                        end: r.offset + r.len,
                        stored: r.crc,
                        computed,
                    }));
                }
            }
        }
        let map = |s: Section| -> Result<Transducer, Error> {
            let data = bytes.slice(header.section(s).range());
            // fst checks only a few bytes here; a corrupt body is caught by the checksums.
            catch_unwind(AssertUnwindSafe(|| Map::new(data)))
                .map_err(|_| "the transducer's layout is invalid".to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(Transducer::new)
                .map_err(|what| fail(FormatError::Malformed { section: s, what }))
        };
        let filter = match header.filter {
            None => None,
            Some(r) => Some(Filter::parse(bytes.slice(r.range())).map_err(|what| {
                fail(FormatError::Malformed {
                    section: Section::Filter,
                    what,
                })
            })?),
        };
        let index = Index {
            filter,
            entries: bytes.slice(header.section(Section::Entries).range()),
            imei: map(Section::Imei)?,
            tac: map(Section::Tac)?,
            pair: map(Section::Pair)?,
            range: map(Section::Range)?,
            segments: map(Section::Segments)?,
            header,
            bytes,
        };
        if level >= Verification::Full {
            index.verify().map_err(fail)?;
        }
        Ok(index)
    }

    /// The entry with an id, or `None` when the id or record is out of bounds (only in files
    /// that fail [`Verification::Full`]).
    #[inline]
    fn entry(&self, id: u64) -> Option<Entry> {
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
        if self.may_list_imei(imei) {
            if let Some(id) = self.imei.get(&imei.to_key()) {
                return self.verdict(RuleKind::Imei, id);
            }
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
        if let Some(v) = self.check_range(&imei.to_key()) {
            return v;
        }
        if !self.tac.is_empty() {
            if let Some(id) = self.tac.get(&imei.tac().to_key()) {
                return self.verdict(RuleKind::Tac, id);
            }
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
        if may_pair {
            let mut key = [0u8; 14];
            key[..6].copy_from_slice(&imei.to_key());
            key[6..].copy_from_slice(&imsi.to_key());
            if let Some(id) = self.pair.get(&key) {
                return self.verdict(RuleKind::Pair, id);
            }
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
                .map(|(i, imei)| (i, imei.to_key()));
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
    fn check_range(&self, key: &[u8; 6]) -> Option<Verdict> {
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

    /// Every rule, kind by kind (pair, IMEI, range, TAC), each kind in key order.
    ///
    /// Rebuilding an index from these rules gives an index with the same rules.
    pub fn rules(&self) -> Rules<'_> {
        Rules {
            index: self,
            kind: 0,
            stream: None,
        }
    }

    /// Walks every section and checks every key and value. See [`Verification::Full`].
    fn verify(&self) -> Result<(), FormatError> {
        let n_entries = self.entries.len() / ENTRY_RECORD;
        let delta = self.delta_info();
        for (i, rec) in self.entries.chunks(ENTRY_RECORD).enumerate() {
            if Record::decode(rec, delta.is_some()).is_none() {
                return Err(FormatError::Malformed {
                    section: Section::Entries,
                    what: format!("entry {i} holds values no writer produces: {rec:02x?}"),
                });
            }
        }
        let mut counts = RuleCounts::default();
        let mut tombstones = [0u64; 4];
        let mut entry_of =
            |v: u64, counts: &mut RuleCounts, kind: RuleKind| -> Result<(), String> {
                let r = usize::try_from(v)
                    .ok()
                    .filter(|&i| i < n_entries)
                    .and_then(|i| self.record(i as u64))
                    .ok_or_else(|| format!("value {v} names no entry (there are {n_entries})"))?;
                match r {
                    Record::Rule(e) => counts.add(kind, e.status),
                    Record::Removed => tombstones[usize::from(kind.code() - 1)] += 1,
                }
                Ok(())
            };
        // A filter that misses a key of the IMEI or pair map would hide its rule.
        let mut unfiltered: Option<(Imei, RuleKind)> = None;
        let mut in_filter = |imei: Imei, domain: Domain, kind: RuleKind| {
            if let Some(f) = &self.filter {
                if unfiltered.is_none() && !f.contains(imei.as_u64(), domain) {
                    unfiltered = Some((imei, kind));
                }
            }
        };
        // The most keys each map may hold: its rules, and in a delta its tombstones.
        let limit = |kind: RuleKind| {
            let dead = delta
                .as_ref()
                .map_or(0, |d| d.tombstones[usize::from(kind.code() - 1)]);
            self.header.counts.of_kind(kind).saturating_add(dead)
        };
        walk_map(
            Section::Imei,
            self.imei.map(),
            limit(RuleKind::Imei),
            |k, v| {
                let imei =
                    Imei::from_key(k).ok_or_else(|| format!("key {k:02x?} is not an IMEI"))?;
                in_filter(imei, Domain::Imei, RuleKind::Imei);
                entry_of(v, &mut counts, RuleKind::Imei)
            },
        )?;
        walk_map(
            Section::Tac,
            self.tac.map(),
            limit(RuleKind::Tac),
            |k, v| {
                Tac::from_key(k).ok_or_else(|| format!("key {k:02x?} is not a TAC"))?;
                entry_of(v, &mut counts, RuleKind::Tac)
            },
        )?;
        walk_map(
            Section::Pair,
            self.pair.map(),
            limit(RuleKind::Pair),
            |k, v| {
                let imei =
                    Imei::from_key(&k[..6]).ok_or_else(|| format!("key {k:02x?} has no IMEI"))?;
                Imsi::from_key(&k[6..]).ok_or_else(|| format!("key {k:02x?} has no IMSI"))?;
                in_filter(imei, Domain::Pair, RuleKind::Pair);
                entry_of(v, &mut counts, RuleKind::Pair)
            },
        )?;
        if let Some((imei, kind)) = unfiltered {
            return Err(FormatError::Malformed {
                section: Section::Filter,
                what: format!("it says that IMEI {imei} has no {kind} rule, but it has one"),
            });
        }
        walk_map(
            Section::Range,
            self.range.map(),
            limit(RuleKind::Range),
            |k, v| {
                let a = Imei::from_key(&k[..6])
                    .ok_or_else(|| format!("key {k:02x?} has no first IMEI"))?;
                let b = Imei::from_key(&k[6..])
                    .ok_or_else(|| format!("key {k:02x?} has no last IMEI"))?;
                if a > b {
                    return Err(format!("range {a}..{b} ends before it starts"));
                }
                entry_of(v, &mut counts, RuleKind::Range)
            },
        )?;
        // Each range adds at most two segment boundaries.
        let segments_limit = limit(RuleKind::Range).saturating_mul(2).saturating_add(1);
        walk_map(
            Section::Segments,
            self.segments.map(),
            segments_limit,
            |k, v| {
                Imei::from_key(k).ok_or_else(|| format!("key {k:02x?} is not an IMEI"))?;
                if v > n_entries as u64 {
                    return Err(format!("value {v} names no entry (there are {n_entries})"));
                }
                Ok(())
            },
        )?;
        if counts != self.header.counts {
            return Err(FormatError::Header {
                offset: 32,
                what: format!(
                    "the header counts {} rules, but the sections hold {}",
                    self.header.counts.total(),
                    counts.total()
                ),
            });
        }
        if let Some(d) = delta {
            if d.tombstones != tombstones {
                return Err(FormatError::Malformed {
                    section: Section::Delta,
                    what: format!(
                        "it counts {} tombstones, but the sections hold {}",
                        d.tombstones.iter().sum::<u64>(),
                        tombstones.iter().sum::<u64>()
                    ),
                });
            }
            if !self.segments.is_empty() {
                return Err(FormatError::Malformed {
                    section: Section::Segments,
                    what: "a delta index has no segments".into(),
                });
            }
        } else if self.range.is_empty() != self.segments.is_empty() {
            return Err(FormatError::Malformed {
                section: Section::Segments,
                what: "it does not match the range section".into(),
            });
        }
        Ok(())
    }
}

/// Crate-internal access for the stream operations (diff, merge, apply) and layered views.
impl Index {
    /// The transducer of one kind's rules: key → entry id.
    pub(crate) fn map(&self, kind: RuleKind) -> &Map<Bytes> {
        match kind {
            RuleKind::Pair => self.pair.map(),
            RuleKind::Imei => self.imei.map(),
            RuleKind::Range => self.range.map(),
            RuleKind::Tac => self.tac.map(),
        }
    }

    /// The record with an id: an entry, or in a delta index a tombstone; `None` when the
    /// id or record is out of bounds (only in files that fail [`Verification::Full`]).
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
        self.check_range(&imei.to_key())
    }
}

/// Streams every key and value of a transducer through `check`, turning a panic inside
/// `fst` (which a crafted transducer can cause) into an error.
///
/// A transducer of a few crafted nodes can encode 2^48 keys; walking them would take years,
/// so the walk stops at `limit`, the most keys the header allows.
fn walk_map(
    section: Section,
    map: &Map<Bytes>,
    limit: u64,
    mut check: impl FnMut(&[u8], u64) -> Result<(), String>,
) -> Result<(), FormatError> {
    let malformed = |what| FormatError::Malformed { section, what };
    let key_len = section.key_len().unwrap_or(0);
    catch_unwind(AssertUnwindSafe(|| {
        let mut stream = map.stream();
        let mut seen = 0u64;
        while let Some((k, v)) = stream.next() {
            seen += 1;
            if seen > limit {
                return Err(format!(
                    "it holds more than the {limit} keys the header counts"
                ));
            }
            if k.len() != key_len {
                return Err(format!("key {k:02x?} is {} bytes, not {key_len}", k.len()));
            }
            check(k, v)?;
        }
        Ok(())
    }))
    .map_err(|_| malformed("walking the transducer failed: its nodes are invalid".into()))?
    .map_err(malformed)
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

/// An iterator over an index's rules; see [`Index::rules`].
pub struct Rules<'a> {
    index: &'a Index,
    kind: usize,
    stream: Option<fst::map::Stream<'a>>,
}

impl Iterator for Rules<'_> {
    type Item = Rule;

    fn next(&mut self) -> Option<Rule> {
        loop {
            let kind = *RuleKind::ALL.get(self.kind)?;
            let index = self.index;
            let stream = self.stream.get_or_insert_with(|| {
                let map = match kind {
                    RuleKind::Pair => index.pair.map(),
                    RuleKind::Imei => index.imei.map(),
                    RuleKind::Range => index.range.map(),
                    RuleKind::Tac => index.tac.map(),
                };
                map.stream()
            });
            let Some((k, v)) = stream.next() else {
                self.kind += 1;
                self.stream = None;
                continue;
            };
            // Keys or values that do not decode exist only in files that fail full
            // verification; skip them rather than invent rules.
            let Some(entry) = index.entry(v) else {
                continue;
            };
            let rule = crate::format::key::target_of(kind, k).and_then(|t| Rule::new(t, entry).ok());
            if let Some(rule) = rule {
                return Some(rule);
            }
        }
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
