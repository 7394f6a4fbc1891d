//! Entry records as checks read them: format 1's 8-byte records and the 16-byte records of
//! `entries v2`, decoded into one small view without touching any text.

use crate::model::rule::{Date, RuleKind, Status, Verdict};

/// Bytes of the `entries v2` section's header.
pub(crate) const V2_HEADER: usize = 16;
/// Bytes of one `entries v2` record.
pub(crate) const V2_RECORD: usize = 16;
/// The `entries v2` section's magic.
pub(crate) const V2_MAGIC: [u8; 4] = *b"ENT2";
/// The `entries v2` header flag: some record has a start.
pub(crate) const FLAG_DATED: u32 = 1;
/// The 16-byte record of a tombstone.
pub(crate) const V2_TOMBSTONE: [u8; V2_RECORD] = {
    let mut r = [0u8; V2_RECORD];
    r[0] = 3;
    r
};

/// An entry record, as a check reads it: its texts are ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Rec {
    pub status: Status,
    pub earlier: Option<Status>,
    /// Days since the epoch + 1, 0 for none.
    pub date: u32,
    /// Days since the epoch + 1, 0 for none.
    pub start: u32,
    /// The reason set id: 0 none, 1 to 6 a known reason alone, 7 and up a stored set.
    pub reasons: u32,
}

impl Rec {
    /// The status on day `day` (days since the epoch), with whether it is the earlier one;
    /// `None` when the rule does not apply that day.
    #[inline(always)]
    pub(crate) fn status_on(&self, day: u32) -> Option<(Status, bool)> {
        if self.start != 0 && day < self.start - 1 {
            self.earlier.map(|s| (s, true))
        } else {
            Some((self.status, false))
        }
    }

    /// True when the rule applies on every day.
    pub(crate) fn always_applies(&self) -> bool {
        self.start == 0 || self.earlier.is_some()
    }

    /// The verdict of this record answering `status` for a rule of `kind` and `source`.
    #[inline(always)]
    pub(crate) fn verdict(
        &self,
        kind: RuleKind,
        status: Status,
        earlier: bool,
        source: u8,
    ) -> Verdict {
        Verdict::of_parts(
            kind,
            status,
            earlier,
            source,
            self.reasons,
            self.date,
            self.start,
        )
    }

    /// The date, as a `Date`.
    pub(crate) fn date(&self) -> Option<Date> {
        self.date
            .checked_sub(1)
            .and_then(Date::from_days_since_epoch)
    }

    /// The start, as a `Date`.
    pub(crate) fn start(&self) -> Option<Date> {
        self.start
            .checked_sub(1)
            .and_then(Date::from_days_since_epoch)
    }
}

/// Decodes a format-1 record into a view (tombstones and malformed records: `None`).
#[inline(always)]
pub(crate) fn decode_v1(r: &[u8]) -> Option<Rec> {
    let r: &[u8; 8] = r.try_into().ok()?;
    let status = Status::from_s13_code(r[0])?;
    if r[1] > 6 || r[2] != 0 || r[3] != 0 {
        return None;
    }
    let date = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
    if date > Date::MAX_DAYS + 1 {
        return None;
    }
    Some(Rec {
        status,
        earlier: None,
        date,
        start: 0,
        reasons: u32::from(r[1]),
    })
}

/// What a 16-byte record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum V2 {
    Rule(Rec),
    Removed,
}

/// Decodes a 16-byte record; `None` if it holds values no writer produces (a reason set id
/// is not checked against the strings here: see `strings.rs`). Tombstones decode only when
/// `tombstones` is true (in delta indexes).
#[inline(always)]
pub(crate) fn decode_v2(r: &[u8], tombstones: bool) -> Option<V2> {
    let r: &[u8; V2_RECORD] = r.try_into().ok()?;
    if *r == V2_TOMBSTONE {
        return tombstones.then_some(V2::Removed);
    }
    let status = Status::from_s13_code(r[0])?;
    let earlier = match r[1] {
        0 => None,
        c => Some(Status::from_s13_code(c - 1)?),
    };
    if r[2] != 0 || r[3] != 0 {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let (date, start, reasons) = (word(4), word(8), word(12));
    if date > Date::MAX_DAYS + 1 || start > Date::MAX_DAYS + 1 || (earlier.is_some() && start == 0)
    {
        return None;
    }
    Some(V2::Rule(Rec {
        status,
        earlier,
        date,
        start,
        reasons,
    }))
}

/// Encodes a record's fields as 16 bytes.
pub(crate) fn encode_v2(rec: &Rec) -> [u8; V2_RECORD] {
    let mut r = [0u8; V2_RECORD];
    r[0] = rec.status.s13_code();
    r[1] = if rec.start == 0 {
        0
    } else {
        rec.earlier.map_or(0, |s| s.s13_code() + 1)
    };
    r[4..8].copy_from_slice(&rec.date.to_le_bytes());
    r[8..12].copy_from_slice(&rec.start.to_le_bytes());
    r[12..16].copy_from_slice(&rec.reasons.to_le_bytes());
    r
}

/// The `entries v2` header.
pub(crate) fn encode_v2_header(dated: bool, count: u64) -> [u8; V2_HEADER] {
    let mut h = [0u8; V2_HEADER];
    h[..4].copy_from_slice(&V2_MAGIC);
    h[4..8].copy_from_slice(&(if dated { FLAG_DATED } else { 0 }).to_le_bytes());
    h[8..16].copy_from_slice(&count.to_le_bytes());
    h
}

/// Reads the `entries v2` header: (dated, records), or what is wrong with it.
pub(crate) fn parse_v2_header(section: &[u8]) -> Result<(bool, u64), String> {
    if section.len() < V2_HEADER {
        return Err(format!(
            "it is {} bytes, shorter than its {V2_HEADER}-byte header",
            section.len()
        ));
    }
    if section[..4] != V2_MAGIC {
        return Err(format!("it starts with {:02x?}, not ENT2", &section[..4]));
    }
    let flags = u32::from_le_bytes(section[4..8].try_into().expect("4 bytes"));
    if flags & !FLAG_DATED != 0 {
        return Err(format!(
            "its flags {flags:#x} name no flag this library knows"
        ));
    }
    let count = u64::from_le_bytes(section[8..16].try_into().expect("8 bytes"));
    let body = (section.len() - V2_HEADER) as u64;
    if count.checked_mul(V2_RECORD as u64) != Some(body) {
        return Err(format!(
            "its header counts {count} records, but it holds {body} bytes of {V2_RECORD}-byte records"
        ));
    }
    Ok((flags & FLAG_DATED != 0, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let rec = Rec {
            status: Status::Blocked,
            earlier: Some(Status::Tracked),
            date: 19_865,
            start: 19_866,
            reasons: 9,
        };
        assert_eq!(decode_v2(&encode_v2(&rec), false), Some(V2::Rule(rec)));
        assert_eq!(decode_v2(&V2_TOMBSTONE, false), None);
        assert_eq!(decode_v2(&V2_TOMBSTONE, true), Some(V2::Removed));
        let mut bad = encode_v2(&rec);
        bad[8..12].fill(0);
        assert_eq!(
            decode_v2(&bad, true),
            None,
            "an earlier status without a start"
        );
        assert_eq!(rec.status_on(19_864), Some((Status::Tracked, true)));
        assert_eq!(rec.status_on(19_865), Some((Status::Blocked, false)));
        let h = encode_v2_header(true, 2);
        let mut section = h.to_vec();
        section.extend([0u8; 32]);
        assert_eq!(parse_v2_header(&section), Ok((true, 2)));
        assert!(parse_v2_header(&section[..40]).is_err());
    }
}
