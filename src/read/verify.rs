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
//! 3. **Every key**: each key decodes to an identifier, each value names an entry, the
//!    counts by status equal the header's, the filter holds every IMEI and pair key, and
//!    the segments section equals the segments swept from the range section by the
//!    writer's own sweep (`format/segments.rs`), entry for entry.

use crate::format::filter::Domain;
use crate::format::key;
use crate::format::node::{Stream, Transducer};
use crate::format::segments::Segments;
use crate::format::{
    ENTRY_RECORD, FormatError, Record, RuleCounts, Section, saturating_sum, walk_limit,
};
use crate::model::ident::Imei;
use crate::model::rule::{Entry, RuleKind};
use crate::read::index::Index;

impl Index {
    /// Proves the file answers as its rules say. See [`Verification::Full`](crate::Verification::Full)
    /// and the module documentation.
    pub(super) fn verify(&self) -> Result<(), FormatError> {
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

        // Pass 1: structure, and the keys of each map, in time linear in the bytes.
        let structure = |section: Section, t: &Transducer| {
            t.verify(section.key_len().unwrap_or(0))
                .map_err(|what| FormatError::Malformed { section, what })
        };
        let mut keys = [0u64; 4];
        for kind in RuleKind::ALL {
            keys[usize::from(kind.code() - 1)] = structure(Section::of_kind(kind), self.map(kind))?;
        }
        let segment_keys = structure(Section::Segments, &self.segments)?;

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
                    section: Section::of_kind(kind),
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
        let mut entry_of =
            |v: u64, counts: &mut RuleCounts, kind: RuleKind| -> Result<Record, String> {
                let r = usize::try_from(v)
                    .ok()
                    .filter(|&i| i < n_entries)
                    .and_then(|i| self.record(i as u64))
                    .ok_or_else(|| format!("value {v} names no entry (there are {n_entries})"))?;
                match r {
                    Record::Rule(e) => counts.add(kind, e.status),
                    Record::Removed => tombstones[usize::from(kind.code() - 1)] += 1,
                }
                Ok(r)
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
            Section::Imei,
            self.stream(RuleKind::Imei),
            held(RuleKind::Imei),
            |k, v| {
                let imei = key::to_imei(k).ok_or_else(|| format!("key {k:02x?} is not an IMEI"))?;
                in_filter(imei, Domain::Imei, RuleKind::Imei);
                entry_of(v, &mut counts, RuleKind::Imei).map(drop)
            },
        )?;
        walk(
            Section::Tac,
            self.stream(RuleKind::Tac),
            held(RuleKind::Tac),
            |k, v| {
                key::to_tac(k).ok_or_else(|| format!("key {k:02x?} is not a TAC"))?;
                entry_of(v, &mut counts, RuleKind::Tac).map(drop)
            },
        )?;
        walk(
            Section::Pair,
            self.stream(RuleKind::Pair),
            held(RuleKind::Pair),
            |k, v| {
                let imei = k
                    .get(..6)
                    .and_then(key::to_imei)
                    .ok_or_else(|| format!("key {k:02x?} has no IMEI"))?;
                k.get(6..)
                    .and_then(key::to_imsi)
                    .ok_or_else(|| format!("key {k:02x?} has no IMSI"))?;
                in_filter(imei, Domain::Pair, RuleKind::Pair);
                entry_of(v, &mut counts, RuleKind::Pair).map(drop)
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
        let mut segments = self
            .segments
            .stream(Section::Segments.key_len().unwrap_or(0), u64::MAX);
        let mut sweep = Segments::default();
        let sweeping = delta.is_none();
        let mut emit = |last: u64, want: Option<Entry>| -> Result<(), String> {
            let what = match segments.next() {
                None => format!(
                    "it ends before {}, where the ranges still make a segment",
                    imei_text(last)
                ),
                Some((k, v)) => {
                    let got = match v.checked_sub(1) {
                        None => Some(None),
                        Some(id) => match self.record(id) {
                            Some(Record::Rule(e)) => Some(Some(e)),
                            _ => None,
                        },
                    };
                    let at = key::imei_of_key(k);
                    match got {
                        None => format!("value {v} names no entry (there are {n_entries})"),
                        Some(got) if at == last && got == want => return Ok(()),
                        Some(got) => format!(
                            "its segment ending at {} answers {}, but the ranges make a \
                             segment ending at {} that answers {}",
                            imei_text(at),
                            answer(got),
                            imei_text(last),
                            answer(want)
                        ),
                    }
                }
            };
            Err(what)
        };
        // A segment that differs from the sweep's stops the walk; it is reported as the
        // segments section's.
        let mut mismatch: Option<String> = None;
        let ranges = walk(
            Section::Range,
            self.stream(RuleKind::Range),
            held(RuleKind::Range),
            |k, v| {
                let a = k
                    .get(..6)
                    .and_then(key::to_imei)
                    .ok_or_else(|| format!("key {k:02x?} has no first IMEI"))?;
                let b = k
                    .get(6..)
                    .and_then(key::to_imei)
                    .ok_or_else(|| format!("key {k:02x?} has no last IMEI"))?;
                if a > b {
                    return Err(format!("range {a}..{b} ends before it starts"));
                }
                let record = entry_of(v, &mut counts, RuleKind::Range)?;
                if sweeping
                    && let Record::Rule(e) = record
                    && let Err(what) = sweep.push(a.as_u64(), b.as_u64(), e, &mut emit)
                {
                    mismatch = Some(what);
                    return Err(String::new());
                }
                Ok(())
            },
        );
        let segments_error = |what| FormatError::Malformed {
            section: Section::Segments,
            what,
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
        } else {
            sweep.finish(&mut emit).map_err(segments_error)?;
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
    mut stream: Stream<'_>,
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
