//! Full verification: proof that every answer a check can give is the answer the rules in
//! the file define, for files nobody vouches for.
//!
//! It runs in three passes, each with the code that checks use:
//!
//! 1. **Structure**, in time linear in the section bytes: every transducer node is decoded
//!    once by the crate's own reader (`format/node.rs`), which checks that lookups, the
//!    "first key at or after" search and the key stream read it the same way (inputs in
//!    order, transition indexes that name exactly the transitions, one depth per node,
//!    keys of the section's width), and counts the keys without walking them.
//! 2. **Bound**: the counts must match the header's, and the file must hold at most
//!    [`walk_limit`](crate::walk_limit) keys for its size, so that the walk below takes time proportional
//!    to the file's bytes, not to numbers the file claims (a few hand-made nodes can hold
//!    2^48 keys, and a header can claim them).
//! 3. **Every key**: each key decodes to an identifier (and, in files with sources, a
//!    source id in bounds), each value names an entry, the counts by status equal the
//!    header's (and each source's its record's, with its content hash), the filter holds
//!    every IMEI and pair key, and the segments section equals the segments swept from the
//!    range section by the writer's own sweep (`format/segments.rs` before sources,
//!    `format/stacks.rs` since: every segment's stack, level by level, rule by rule).
//!
//! In files with sources, the sections 8 to 12 are checked first: every entry record
//! decodes and names a reason set that exists, the `dated` flag says whether one has a
//! start, the strings are reason texts in order and the sets well-formed, the sources'
//! names are source names in strictly increasing order, the stacks' offsets fit, and the
//! subscriber rows decode, name sources and reason sets that exist, and are in strictly
//! increasing order. The stacks a check reads are walked within the same bound as the
//! keys.

use crate::format::filter::Domain;
use crate::format::key;
use crate::format::records::{self, V2, V2_RECORD};
use crate::format::segments::Segments;
use crate::format::sources::{ContentHash, reasons_digest};
use crate::format::stacks::{self, Member, SegmentValue, StackSweep, Words, decode_value};
use crate::format::subscribers;
use crate::format::{
    ENTRY_RECORD, FormatError, Record, RuleCounts, Section, saturating_sum, walk_limit,
};
use crate::model::ident::Imei;
use crate::model::rule::{Entry, RuleKind};
use crate::read::index::Index;
use crate::read::maps::{Keys, Map};

/// A key checked: its target bytes, its source id, and its entry's (id, dated) if any.
type Checked = (Vec<u8>, u8, Option<(u64, bool)>);

/// What verifying a file with sources keeps while walking its keys.
struct SourcesCheck {
    /// Per entry id: whether it applies every day, and its reasons' digest.
    entries: Vec<(bool, u64)>,
    counts: Vec<RuleCounts>,
    hashes: Vec<[ContentHash; 4]>,
}

impl Index {
    /// Checks sections 8 to 12 of a file with sources; returns what the walk needs.
    fn verify_v2(&self) -> Result<Option<SourcesCheck>, FormatError> {
        let Some(strings) = self.strings() else {
            return Ok(None);
        };
        let malformed = |section, what| FormatError::Malformed { section, what };
        strings
            .verify()
            .map_err(|w| malformed(Section::Strings, w))?;
        let deltas = self.delta_info().is_some();
        let mut entries = Vec::with_capacity(self.entries.len() / V2_RECORD);
        let mut dated = false;
        for (i, r) in self.entries.chunks(V2_RECORD).enumerate() {
            let bad = || {
                malformed(
                    Section::EntriesV2,
                    format!("entry {i} holds values no writer produces: {r:02x?}"),
                )
            };
            match records::decode_v2(r, deltas).ok_or_else(bad)? {
                V2::Removed => entries.push((true, 0)),
                V2::Rule(rec) => {
                    if u64::from(rec.reasons) >= strings.set_ids() {
                        return Err(malformed(
                            Section::EntriesV2,
                            format!(
                                "entry {i} names reason set {}, but there are {}",
                                rec.reasons,
                                strings.set_ids()
                            ),
                        ));
                    }
                    dated |= rec.start != 0;
                    let digest = reasons_digest(strings.reasons(rec.reasons).into_iter().flatten());
                    entries.push((rec.always_applies(), digest));
                }
            }
        }
        if dated != self.is_dated() {
            return Err(malformed(
                Section::EntriesV2,
                format!(
                    "its flag says that {} rule has a start, but {} has",
                    if dated { "no" } else { "some" },
                    if dated { "one" } else { "none" }
                ),
            ));
        }
        let sources = self.sources();
        for w in sources.windows(2) {
            if w[0].name >= w[1].name {
                return Err(malformed(
                    Section::Sources,
                    format!(
                        "source {} ({}) is not after source {} ({}): sources are in the order of their names",
                        w[1].id, w[1].name, w[0].id, w[0].name
                    ),
                ));
            }
        }
        if let Some(base) = sources.iter().find(|s| s.base_run_id.is_some())
            && !deltas
        {
            return Err(malformed(
                Section::Sources,
                format!(
                    "source {} records a base run, which only deltas have",
                    base.name
                ),
            ));
        }
        if let Some(stacks) = self.stacks() {
            stacks.verify().map_err(|w| malformed(Section::Stacks, w))?;
        }
        if let Some(bytes) = self.subscriber_bytes() {
            let n = subscribers::parse(bytes).map_err(|w| malformed(Section::Subscribers, w))?;
            let mut last = None;
            for i in 0..n {
                let row = subscribers::row(bytes, i, deltas).ok_or_else(|| {
                    malformed(
                        Section::Subscribers,
                        format!("row {i} holds values no writer produces"),
                    )
                })?;
                if usize::from(row.source) >= sources.len()
                    || u64::from(row.reasons) >= strings.set_ids()
                {
                    return Err(malformed(
                        Section::Subscribers,
                        format!("row {i} names a source or reason set that does not exist"),
                    ));
                }
                let key = (row.source, row.imei, row.imsi, row.msisdn);
                if last.is_some_and(|l| l >= key) {
                    return Err(malformed(
                        Section::Subscribers,
                        format!("row {i} is not after the row before it"),
                    ));
                }
                last = Some(key);
            }
        }
        Ok(Some(SourcesCheck {
            entries,
            counts: vec![RuleCounts::default(); sources.len()],
            hashes: vec![[ContentHash::default(); 4]; sources.len()],
        }))
    }
}

impl Index {
    /// Proves the file answers as its rules say. See [`Verification::Full`](crate::Verification::Full)
    /// and the module documentation.
    pub(super) fn verify(&self) -> Result<(), FormatError> {
        let n_entries = self.entry_count() as usize;
        let delta = self.delta_info();
        let mut v2 = self.verify_v2()?;
        if let Some(d) = &self.devices {
            d.verify().map_err(|what| FormatError::Malformed {
                section: Section::Devices,
                what,
            })?;
        }
        if v2.is_none() {
            for (i, rec) in self.entries.chunks(ENTRY_RECORD).enumerate() {
                if Record::decode(rec, delta.is_some()).is_none() {
                    return Err(FormatError::Malformed {
                        section: Section::Entries,
                        what: format!("entry {i} holds values no writer produces: {rec:02x?}"),
                    });
                }
            }
        }

        // Pass 1: structure, and the keys of each map, in time linear in the bytes.
        let structure = |section: Section, t: Map<'_>, len: usize| {
            t.verify(len)
                .map_err(|what| FormatError::Malformed { section, what })
        };
        let mut keys = [0u64; 4];
        for kind in RuleKind::ALL {
            keys[usize::from(kind.code() - 1)] =
                structure(self.section_of(kind), self.map(kind), self.key_len(kind))?;
        }
        if self.imei_blocks().is_some()
            && structure(
                Section::Imei,
                Map::Fst(&self.imei),
                self.key_len(RuleKind::Imei),
            )? != 0
        {
            return Err(FormatError::Malformed {
                section: Section::Imei,
                what: "it holds keys in a file with the imei blocks section".into(),
            });
        }
        let segment_keys = structure(Section::Segments, Map::Fst(&self.segments), 6)?;

        // Pass 2: counts the header vouches for, and the bound on the walk.
        // The most keys each map may hold: its rules, and in a delta its tombstones.
        let limit = |kind: RuleKind| {
            let dead = delta
                .as_ref()
                .map_or(0, |d| d.tombstones[usize::from(kind.code() - 1)]);
            self.header.counts.of_kind(kind).saturating_add(dead)
        };
        for kind in RuleKind::ALL {
            let (held, limit) = (keys[usize::from(kind.code() - 1)], limit(kind));
            if held > limit {
                return Err(FormatError::Malformed {
                    section: self.section_of(kind),
                    what: format!(
                        "it holds {held} keys, more than the {limit} keys the header counts"
                    ),
                });
            }
        }
        let total = keys.iter().fold(segment_keys, |a, &k| a.saturating_add(k));
        let file_bytes = self.bytes.len() as u64;
        if total > walk_limit(file_bytes) {
            return Err(FormatError::TooManyKeys {
                keys: total,
                file_bytes,
                limit: walk_limit(file_bytes),
            });
        }

        // Pass 3: every key and value.
        let mut counts = RuleCounts::default();
        let mut tombstones = [0u64; 4];
        let n_sources = self.sources().len();
        let has_v2 = v2.is_some();
        // Splits a key into its target's bytes and source id (0 before sources).
        let split = |k: &[u8]| -> Result<(Vec<u8>, u8), String> {
            if !has_v2 {
                return Ok((k.to_vec(), 0));
            }
            let (&src, target) = k.split_last().ok_or_else(|| "a key is empty".to_string())?;
            if usize::from(src) >= n_sources {
                return Err(format!(
                    "key {k:02x?} names source {src}, but there are {n_sources}"
                ));
            }
            Ok((target.to_vec(), src))
        };
        let mut entry_of = |k: &[u8],
                            v: u64,
                            counts: &mut RuleCounts,
                            kind: RuleKind|
         -> Result<Checked, String> {
            let (target, src) = split(k)?;
            let id = usize::try_from(v)
                .ok()
                .filter(|&i| i < n_entries)
                .ok_or_else(|| format!("value {v} names no entry (there are {n_entries})"))?;
            let rec = self.layer_rec(id as u64);
            match rec {
                None => return Err(format!("value {v} names an entry that does not decode")),
                Some(V2::Removed) => tombstones[usize::from(kind.code() - 1)] += 1,
                Some(V2::Rule(r)) => {
                    counts.add(kind, r.status);
                    if let Some(c) = &mut v2 {
                        c.counts[usize::from(src)].add(kind, r.status);
                        c.hashes[usize::from(src)][usize::from(kind.code() - 1)].add(
                            kind,
                            &target,
                            r.status.s13_code(),
                            r.earlier.map_or(0, |s| s.s13_code() + 1),
                            r.date,
                            r.start,
                            c.entries[id].1,
                        );
                        return Ok((target, src, Some((id as u64, c.entries[id].0))));
                    }
                }
            }
            Ok((
                target,
                src,
                rec.and_then(|r| match r {
                    V2::Rule(_) => Some((id as u64, true)),
                    V2::Removed => None,
                }),
            ))
        };
        // A filter that misses a key of the IMEI or pair map would hide its rule.
        let mut unfiltered: Option<(Imei, RuleKind)> = None;
        let mut in_filter = |imei: Imei, domain: Domain, kind: RuleKind| {
            if let Some(f) = &self.filter
                && unfiltered.is_none()
                && !f.contains(imei.as_u64(), domain)
            {
                unfiltered = Some((imei, kind));
            }
        };
        let held = |kind: RuleKind| keys[usize::from(kind.code() - 1)];
        walk(
            self.section_of(RuleKind::Imei),
            self.stream(RuleKind::Imei),
            held(RuleKind::Imei),
            |k, v| {
                let (t, _, _) = entry_of(k, v, &mut counts, RuleKind::Imei)?;
                let imei =
                    key::to_imei(&t).ok_or_else(|| format!("key {k:02x?} is not an IMEI"))?;
                in_filter(imei, Domain::Imei, RuleKind::Imei);
                Ok(())
            },
        )?;
        walk(
            Section::Tac,
            self.stream(RuleKind::Tac),
            held(RuleKind::Tac),
            |k, v| {
                let (t, _, _) = entry_of(k, v, &mut counts, RuleKind::Tac)?;
                key::to_tac(&t).ok_or_else(|| format!("key {k:02x?} is not a TAC"))?;
                Ok(())
            },
        )?;
        walk(
            Section::Pair,
            self.stream(RuleKind::Pair),
            held(RuleKind::Pair),
            |k, v| {
                let (t, _, _) = entry_of(k, v, &mut counts, RuleKind::Pair)?;
                let imei = t
                    .get(..6)
                    .and_then(key::to_imei)
                    .ok_or_else(|| format!("key {k:02x?} has no IMEI"))?;
                t.get(6..)
                    .and_then(key::to_imsi)
                    .ok_or_else(|| format!("key {k:02x?} has no IMSI"))?;
                in_filter(imei, Domain::Pair, RuleKind::Pair);
                Ok(())
            },
        )?;
        if let Some((imei, kind)) = unfiltered {
            return Err(FormatError::Malformed {
                section: Section::Filter,
                what: format!("it says that IMEI {imei} has no {kind} rule, but it has one"),
            });
        }

        // The ranges, swept into segments as the writer sweeps them, against the segments
        // section: a check reads the segments only, so they must be what the ranges make.
        let mut segments = self.segments.stream(6, u64::MAX);
        let sweeping = delta.is_none();
        let file_bytes = self.bytes.len() as u64;
        // Words of stacks read, against the bound of the walk.
        let mut words_read = 0u64;
        let mut check = |last: u64, want: Expected<'_>| -> Result<(), String> {
            let Some((k, v)) = segments.next() else {
                return Err(format!(
                    "it ends before {}, where the ranges still make a segment",
                    imei_text(last)
                ));
            };
            let at = key::imei_of_key(k);
            let got: Result<Expected<'_>, String> = match &want {
                Expected::V1(_) => match v.checked_sub(1) {
                    None => Ok(Expected::V1(None)),
                    Some(id) => match self.record(id) {
                        Some(Record::Rule(e)) => Ok(Expected::V1(Some(e))),
                        _ => Err(format!("value {v} names no entry (there are {n_entries})")),
                    },
                },
                Expected::V2(_) => match decode_value(v) {
                    Some(SegmentValue::Gap) => Ok(Expected::Owned(None)),
                    Some(SegmentValue::Single(m)) => {
                        Ok(Expected::Owned(Some(stacks::single_words(m).to_vec())))
                    }
                    Some(SegmentValue::Stack(id)) => match self.stacks().and_then(|s| s.get(id)) {
                        Some(w) => {
                            words_read += w.len() as u64;
                            if words_read > walk_limit(file_bytes) {
                                return Err(TOO_MANY.into());
                            }
                            Ok(Expected::Owned(Some(w.to_vec())))
                        }
                        None => Err(format!("value {v} names no stack")),
                    },
                    None => Err(format!("value {v} names no stack")),
                },
                Expected::Owned(_) => unreachable!("the sweep expects V1 or V2"),
            };
            let got = got?;
            if at == last && got.same(&want) {
                return Ok(());
            }
            Err(format!(
                "its segment ending at {} answers {}, but the ranges make a segment ending at \
                 {} that answers {}",
                imei_text(at),
                got.describe(),
                imei_text(last),
                want.describe()
            ))
        };
        let mut sweep = if has_v2 {
            Sweep::V2(StackSweep::default())
        } else {
            Sweep::V1(Segments::default())
        };
        // A segment that differs from the sweep's stops the walk; it is reported as the
        // segments section's.
        let mut mismatch: Option<String> = None;
        let ranges = walk(
            Section::Range,
            self.stream(RuleKind::Range),
            held(RuleKind::Range),
            |k, v| {
                let (t, src, applies) = entry_of(k, v, &mut counts, RuleKind::Range)?;
                let a = t
                    .get(..6)
                    .and_then(key::to_imei)
                    .ok_or_else(|| format!("key {k:02x?} has no first IMEI"))?;
                let b = t
                    .get(6..)
                    .and_then(key::to_imei)
                    .ok_or_else(|| format!("key {k:02x?} has no last IMEI"))?;
                if a > b {
                    return Err(format!("range {a}..{b} ends before it starts"));
                }
                let Some((id, always)) = applies.filter(|_| sweeping) else {
                    return Ok(());
                };
                let pushed = match &mut sweep {
                    Sweep::V1(s) => match self.record(id) {
                        Some(Record::Rule(e)) => s.push(a.as_u64(), b.as_u64(), e, &mut |l, e| {
                            check(l, Expected::V1(e))
                        }),
                        _ => Ok(()),
                    },
                    Sweep::V2(s) => {
                        let m = Member {
                            entry: id as u32,
                            source: src,
                        };
                        let pushed = s.push(a.as_u64(), b.as_u64(), m, always, &mut |l, w| {
                            check(l, Expected::V2(w))
                        });
                        if s.words > walk_limit(file_bytes) {
                            Err(TOO_MANY.to_string())
                        } else {
                            pushed
                        }
                    }
                };
                if let Err(what) = pushed {
                    mismatch = Some(what);
                    return Err(String::new());
                }
                Ok(())
            },
        );
        let segments_error = |what: String| {
            if what == TOO_MANY {
                return FormatError::TooManyKeys {
                    keys: walk_limit(file_bytes).saturating_add(1),
                    file_bytes,
                    limit: walk_limit(file_bytes),
                };
            }
            FormatError::Malformed {
                section: Section::Segments,
                what,
            }
        };
        if let Some(what) = mismatch.take() {
            return Err(segments_error(what));
        }
        ranges?;
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
        if let Some(c) = &v2 {
            for (s, (counts, hashes)) in self.sources().iter().zip(c.counts.iter().zip(&c.hashes)) {
                let hash = ContentHash::of_kinds(hashes);
                if s.counts != *counts || s.hash != Some(hash) {
                    return Err(FormatError::Malformed {
                        section: Section::Sources,
                        what: format!(
                            "source {} records {} rules and content hash {:#018x}, but its \
                             rules are {} with hash {:#018x}",
                            s.name,
                            s.rules(),
                            s.hash.unwrap_or(0),
                            counts.total(),
                            hash
                        ),
                    });
                }
            }
        }
        if let Some(d) = delta {
            if d.tombstones != tombstones {
                return Err(FormatError::Malformed {
                    section: Section::Delta,
                    what: format!(
                        "it counts {} tombstones, but the sections hold {}",
                        saturating_sum(d.tombstones),
                        saturating_sum(tombstones)
                    ),
                });
            }
            if !self.segments.is_empty() {
                return Err(segments_error("a delta index has no segments".into()));
            }
            if self.stacks().is_some_and(|s| s.len() > 0) {
                return Err(FormatError::Malformed {
                    section: Section::Stacks,
                    what: "a delta index has no range stacks".into(),
                });
            }
        } else {
            let finished = match &mut sweep {
                Sweep::V1(s) => s.finish(&mut |l, e| check(l, Expected::V1(e))),
                Sweep::V2(s) => s.finish(&mut |l, w| check(l, Expected::V2(w))),
            };
            finished.map_err(segments_error)?;
            if let Some((k, _)) = segments.next() {
                return Err(segments_error(format!(
                    "it has a segment ending at {} past the end of the last range",
                    imei_text(key::imei_of_key(k))
                )));
            }
        }
        Ok(())
    }
}

/// The message of a walk past its bound, turned into [`FormatError::TooManyKeys`].
const TOO_MANY: &str = "too many stack words";

/// The sweep of the ranges into segments: format 1's, or with sources.
enum Sweep {
    V1(Segments),
    V2(StackSweep),
}

/// What a segment answers: an entry (format 1) or a stack (with sources).
enum Expected<'a> {
    V1(Option<Entry>),
    V2(Option<&'a Words>),
    Owned(Option<Words>),
}

impl Expected<'_> {
    fn words(&self) -> Option<&[u32]> {
        match self {
            Expected::V2(w) => w.map(|w| &w[..]),
            Expected::Owned(w) => w.as_deref(),
            Expected::V1(_) => None,
        }
    }

    fn same(&self, other: &Expected<'_>) -> bool {
        match (self, other) {
            (Expected::V1(a), Expected::V1(b)) => a == b,
            (Expected::V1(_), _) | (_, Expected::V1(_)) => false,
            _ => self.words() == other.words(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Expected::V1(e) => answer(e.clone()),
            _ => match self.words() {
                None => "unknown (no range)".into(),
                Some(w) => format!(
                    "the ranges {:?} (levels of (entry, source))",
                    stacks::levels(w)
                        .map(|l| l.map(|m| (m.entry, m.source)).collect::<Vec<_>>())
                        .collect::<Vec<_>>()
                ),
            },
        }
    }
}

/// An IMEI number as text, or the number when it is none.
fn imei_text(n: u64) -> String {
    Imei::from_u64(n).map_or_else(|_| n.to_string(), |i| format!("IMEI {i}"))
}

/// What a segment answers, in words.
fn answer(e: Option<Entry>) -> String {
    match e {
        None => "unknown (no range)".into(),
        Some(e) => format!("{} (a range rule)", e.status),
    }
}

/// Streams every key and value of a verified transducer through `check`; returns an error
/// in the section's name for the first key `check` refuses, or if the stream does not
/// hold the `expected` keys that the structural pass counted.
fn walk(
    section: Section,
    mut stream: Keys<'_>,
    expected: u64,
    mut check: impl FnMut(&[u8], u64) -> Result<(), String>,
) -> Result<(), FormatError> {
    let malformed = |what| FormatError::Malformed { section, what };
    let mut seen = 0u64;
    while let Some((k, v)) = stream.next() {
        seen += 1;
        check(k, v).map_err(malformed)?;
    }
    if seen != expected {
        return Err(malformed(format!(
            "walking it found {seen} keys, but its nodes hold {expected}"
        )));
    }
    Ok(())
}
