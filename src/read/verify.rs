//! Full verification: every key and value of every section, for files nobody vouches for.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use fst::{Map, Streamer};

use crate::format::filter::Domain;
use crate::format::key;
use crate::format::{ENTRY_RECORD, FormatError, Record, RuleCounts, Section};
use crate::model::ident::Imei;
use crate::model::rule::RuleKind;
use crate::read::index::Index;

impl Index {
    /// Walks every section and checks every key and value. See [`Verification::Full`].
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
            if let Some(f) = &self.filter
                && unfiltered.is_none()
                && !f.contains(imei.as_u64(), domain)
            {
                unfiltered = Some((imei, kind));
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
                let imei = key::to_imei(k).ok_or_else(|| format!("key {k:02x?} is not an IMEI"))?;
                in_filter(imei, Domain::Imei, RuleKind::Imei);
                entry_of(v, &mut counts, RuleKind::Imei)
            },
        )?;
        walk_map(
            Section::Tac,
            self.tac.map(),
            limit(RuleKind::Tac),
            |k, v| {
                key::to_tac(k).ok_or_else(|| format!("key {k:02x?} is not a TAC"))?;
                entry_of(v, &mut counts, RuleKind::Tac)
            },
        )?;
        walk_map(
            Section::Pair,
            self.pair.map(),
            limit(RuleKind::Pair),
            |k, v| {
                let imei = k
                    .get(..6)
                    .and_then(key::to_imei)
                    .ok_or_else(|| format!("key {k:02x?} has no IMEI"))?;
                k.get(6..)
                    .and_then(key::to_imsi)
                    .ok_or_else(|| format!("key {k:02x?} has no IMSI"))?;
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
                key::to_imei(k).ok_or_else(|| format!("key {k:02x?} is not an IMEI"))?;
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
