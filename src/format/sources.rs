//! The `sources` section (layout in `format/mod.rs`), and the content hash of a source's rules.

use super::RuleCounts;
use crate::format::filter::mix;
use crate::model::rule::RuleKind;

/// Bytes of one source record.
pub(crate) const SOURCE_RECORD: usize = 136;
/// Bytes before the first record.
const SOURCES_HEADER: usize = 8;
/// The most sources one index holds: ids are one byte (and 255 is never one).
pub(crate) const MAX_SOURCES: usize = 255;
const FLAG_RUN_ID: u32 = 1;
const FLAG_BASE_RUN_ID: u32 = 2;

/// One source's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SourceRecord {
    /// The name's string id.
    pub name: u32,
    pub run_id: Option<i64>,
    pub base_run_id: Option<i64>,
    pub built: i64,
    pub hash: u64,
    pub counts: RuleCounts,
}

impl SourceRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        let flags = u32::from(self.run_id.is_some()) * FLAG_RUN_ID
            + u32::from(self.base_run_id.is_some()) * FLAG_BASE_RUN_ID;
        out.extend_from_slice(&self.name.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&self.run_id.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.base_run_id.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.built.to_le_bytes());
        out.extend_from_slice(&self.hash.to_le_bytes());
        for c in self.counts.0.iter().flatten() {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }

    fn decode(r: &[u8]) -> Result<SourceRecord, String> {
        let u32_at = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().expect("4 bytes"));
        let i64_at = |i: usize| i64::from_le_bytes(r[i..i + 8].try_into().expect("8 bytes"));
        let flags = u32_at(4);
        if flags & !(FLAG_RUN_ID | FLAG_BASE_RUN_ID) != 0 {
            return Err(format!(
                "its flags {flags:#x} name no flag this library knows"
            ));
        }
        let (run, base) = (i64_at(8), i64_at(16));
        if (flags & FLAG_RUN_ID == 0 && run != 0) || (flags & FLAG_BASE_RUN_ID == 0 && base != 0) {
            return Err("it holds a run id that its flags say it has not".into());
        }
        let mut counts = RuleCounts::default();
        for (k, row) in counts.0.iter_mut().enumerate() {
            for (s, c) in row.iter_mut().enumerate() {
                *c = i64_at(40 + 8 * (3 * k + s)) as u64;
            }
        }
        Ok(SourceRecord {
            name: u32_at(0),
            run_id: (flags & FLAG_RUN_ID != 0).then_some(run),
            base_run_id: (flags & FLAG_BASE_RUN_ID != 0).then_some(base),
            built: i64_at(24),
            hash: i64_at(32) as u64,
            counts,
        })
    }
}

/// Encodes the section.
pub(crate) fn encode(records: &[SourceRecord]) -> Vec<u8> {
    let mut b = Vec::with_capacity(SOURCES_HEADER + SOURCE_RECORD * records.len());
    b.extend_from_slice(&(records.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for r in records {
        r.encode(&mut b);
    }
    b
}

/// Decodes the section's records (names unresolved), or says what is wrong.
pub(crate) fn decode(section: &[u8]) -> Result<Vec<SourceRecord>, String> {
    if section.len() < SOURCES_HEADER {
        return Err(format!(
            "it is {} bytes, shorter than its {SOURCES_HEADER}-byte header",
            section.len()
        ));
    }
    let n = u32::from_le_bytes(section[..4].try_into().expect("4 bytes")) as usize;
    if section[4..8] != [0; 4] {
        return Err("its reserved bytes are not zero".into());
    }
    if n > MAX_SOURCES {
        return Err(format!(
            "it counts {n} sources, more than the {MAX_SOURCES} an index holds"
        ));
    }
    if section.len() != SOURCES_HEADER + SOURCE_RECORD * n {
        return Err(format!(
            "it counts {n} sources, but holds {} bytes instead of {}",
            section.len(),
            SOURCES_HEADER + SOURCE_RECORD * n
        ));
    }
    section[SOURCES_HEADER..]
        .chunks(SOURCE_RECORD)
        .enumerate()
        .map(|(i, r)| SourceRecord::decode(r).map_err(|what| format!("source {i}: {what}")))
        .collect()
}

/// The content hash of one source's rules: for each kind, the rules of the source in key
/// order folded into a 64-bit state, starting from `0x1eb1_2024_5eed_0013`, by
/// `h = mix(h ^ w)` for each of the rule's words `w`, where `mix` is MurmurHash3's 64-bit
/// finaliser; then the four kinds' states folded the same way in the order pair, IMEI,
/// range, TAC ([`ContentHash::of_kinds`]). A rule's words:
///
/// 1. kind code (1 pair … 4 tac) | status S13 code << 8 | earlier (0 none, 1 + code) << 16
///    | date (days + 1, 0 none) << 32;
/// 2. start (days + 1, 0 none) | key length << 32;
/// 3. the target's key bytes (without the source byte) zero-padded to 16 bytes, as two
///    little-endian words;
/// 4. the reasons' digest: 64-bit FNV-1a of the texts in order, each followed by a 0xff
///    byte (0 for no reasons).
///
/// Equal rules give equal hashes whatever index holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ContentHash(pub u64);

impl Default for ContentHash {
    fn default() -> ContentHash {
        ContentHash(0x1eb1_2024_5eed_0013)
    }
}

impl ContentHash {
    /// The hash of a source from its kinds' hashes, in [`RuleKind::ALL`] order.
    pub(crate) fn of_kinds(kinds: &[ContentHash; 4]) -> u64 {
        let mut h = ContentHash::default();
        for k in kinds {
            h.0 = mix(h.0 ^ k.0);
        }
        h.0
    }

    /// Folds one rule in.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        kind: RuleKind,
        target_key: &[u8],
        status: u8,
        earlier: u8,
        date: u32,
        start: u32,
        reasons_digest: u64,
    ) {
        let mut key = [0u8; 16];
        let n = target_key.len().min(16);
        key[..n].copy_from_slice(&target_key[..n]);
        let words = [
            u64::from(kind.code())
                | u64::from(status) << 8
                | u64::from(earlier) << 16
                | u64::from(date) << 32,
            u64::from(start) | (n as u64) << 32,
            u64::from_le_bytes(key[..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(key[8..].try_into().expect("8 bytes")),
            reasons_digest,
        ];
        for w in words {
            self.0 = mix(self.0 ^ w);
        }
    }
}

/// The digest of reason texts that [`ContentHash`] folds in: FNV-1a of each text followed by
/// 0xff; 0 for none.
pub(crate) fn reasons_digest<'a>(texts: impl Iterator<Item = &'a str>) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::model::source::Fnv::default();
    let mut any = false;
    for t in texts {
        any = true;
        h.write(t.as_bytes());
        h.write(&[0xff]);
    }
    if any { h.finish() } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut counts = RuleCounts::default();
        counts.add(RuleKind::Imei, crate::model::rule::Status::Blocked);
        let r = SourceRecord {
            name: 3,
            run_id: Some(-1),
            base_run_id: None,
            built: 1_717_182_000,
            hash: u64::MAX - 3,
            counts,
        };
        let b = encode(&[r, SourceRecord::default()]);
        assert_eq!(decode(&b).unwrap(), vec![r, SourceRecord::default()]);
        assert!(decode(&b[..b.len() - 1]).is_err());
        let mut flagless = b.clone();
        flagless[8 + 4] = 0;
        assert!(decode(&flagless).is_err());
    }
}
