//! Times as the journal writes them: UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`, and days since the
//! epoch for rotation, retention and exports.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imei_index::Date;

/// Milliseconds since 1970-01-01T00:00:00Z (0 for times before it).
pub(crate) fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The time `millis` after the epoch.
pub(crate) fn from_unix_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

const MILLIS_PER_DAY: u64 = 86_400_000;

/// The UTC day of a time, as days since 1970-01-01, clamped to what [`Date`] holds.
pub(crate) fn day_of(millis: u64) -> u32 {
    u32::try_from(millis / MILLIS_PER_DAY)
        .unwrap_or(Date::MAX_DAYS)
        .min(Date::MAX_DAYS)
}

/// The civil date of a day number.
pub(crate) fn ymd(day: u32) -> (u32, u32, u32) {
    Date::from_days_since_epoch(day.min(Date::MAX_DAYS))
        .expect("clamped to the range of Date")
        .to_ymd()
}

/// `YYYYMMDD`, as file names and DIRBS uploads write a day.
pub(crate) fn compact_day(day: u32) -> String {
    let (y, m, d) = ymd(day);
    format!("{y:04}{m:02}{d:02}")
}

/// Parses `YYYYMMDD` into a day number.
pub(crate) fn parse_compact_day(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    Date::from_ymd(n(0..4)?, n(4..6)?, n(6..8)?).map(Date::days_since_epoch)
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn push_rfc3339(out: &mut Vec<u8>, millis: u64) {
    use std::io::Write as _;
    let (y, mo, d) = ymd(day_of(millis));
    let in_day = millis % MILLIS_PER_DAY;
    let (h, mi, s, ms) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z");
}

/// Parses what [`push_rfc3339`] writes, and the same without milliseconds; UTC only.
pub(crate) fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let ms = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if digits.len() == 3 => num(20..23)?,
        _ => return None,
    };
    let date = Date::from_ymd(
        u32::try_from(num(0..4)?).ok()?,
        u32::try_from(num(5..7)?).ok()?,
        u32::try_from(num(8..10)?).ok()?,
    )?;
    Some(
        u64::from(date.days_since_epoch()) * MILLIS_PER_DAY
            + h * 3_600_000
            + mi * 60_000
            + sec * 1000
            + ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for millis in [
            0,
            1,
            999,
            86_399_999,
            86_400_000,
            1_716_286_530_123,
            253_402_300_799_999,
        ] {
            let mut out = Vec::new();
            push_rfc3339(&mut out, millis);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(parse_rfc3339(&text), Some(millis), "{text}");
        }
        let mut out = Vec::new();
        push_rfc3339(&mut out, 1_716_286_530_123);
        assert_eq!(out, b"2024-05-21T10:15:30.123Z");
        assert_eq!(
            parse_rfc3339("2024-05-21T10:15:30Z"),
            Some(1_716_286_530_000)
        );
        for bad in [
            "",
            "2024-05-21 10:15:30Z",
            "2024-05-21T10:15:30.12Z",
            "2024-05-21T24:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-05-21T10:15:30+01:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn compact_days_round_trip() {
        let day = day_of(1_716_286_530_123);
        assert_eq!(compact_day(day), "20240521");
        assert_eq!(parse_compact_day("20240521"), Some(day));
        assert_eq!(parse_compact_day("20240231"), None);
        assert_eq!(parse_compact_day("2024052"), None);
    }
}
