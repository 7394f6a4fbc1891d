//! One record of a log: finding its fields and reading its IMEI, without allocating.
//!
//! Fields follow the list files' rules ([`split_record`]): separated by the delimiter,
//! trimmed of spaces and tabs, optionally double-quoted with `""` for a quote inside. A
//! record without a quote (nearly every log row) is split here byte by byte; one with a
//! quote goes through [`split_record`] itself, so quoting has one implementation.

use std::ops::Range;

use crate::list::{RowError, is_comment, split_record};
use crate::model::ident::{CheckDigit, IdError, Imei, LenientImei};

/// The most columns a scan reads from a record: IMEI, IMSI, MSISDN and time.
pub(crate) const WANTED: usize = 4;

/// Where a field's text is: in the chunk (a record without quotes) or, unquoted, in a
/// scratch arena (a record with quotes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
    in_arena: bool,
}

impl Span {
    /// The field's text.
    #[inline]
    pub(crate) fn text<'a>(self, data: &'a [u8], arena: &'a [u8]) -> &'a [u8] {
        let from = if self.in_arena { arena } else { data };
        &from[self.start..self.end]
    }
}

/// The fields a scan reads from one record.
#[derive(Debug)]
pub(crate) struct Fields {
    /// The fields at the requested positions (`None` for a position the scan does not
    /// read, or one past the record's last field).
    pub(crate) values: [Option<Span>; WANTED],
    /// How many fields the record has, counting only up to the last requested position.
    pub(crate) seen: usize,
}

/// Why a record could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// A quoted field has no closing quote on its line.
    UnterminatedQuote {
        /// 1-based character column of the field.
        column: usize,
    },
    /// Text between a closing quote and the next delimiter.
    TextAfterQuote {
        /// 1-based character column of the text.
        column: usize,
    },
}

/// The fields at `columns` (0-based, `usize::MAX` for none) of the record at `line` in
/// `data` (without its line end). `last` is the largest wanted position. A quoted record's
/// fields are copied, unquoted, to `arena`. `quotes` is false when the caller knows that
/// `data` holds no quote, which spares a search per record.
#[inline]
pub(crate) fn fields(
    data: &[u8],
    line: Range<usize>,
    delimiter: u8,
    columns: &[usize; WANTED],
    last: usize,
    arena: &mut Vec<u8>,
    quotes: bool,
) -> Result<Fields, SplitError> {
    let text = &data[line.clone()];
    if quotes && memchr::memchr(b'"', text).is_some() {
        return quoted_fields(text, delimiter, columns, last, arena);
    }
    let mut values = [None; WANTED];
    let mut start = 0;
    let mut column = 0;
    loop {
        let end = memchr::memchr(delimiter, &text[start..]).map_or(text.len(), |p| start + p);
        for (slot, &want) in values.iter_mut().zip(columns) {
            if want == column {
                let (a, b) = trim(text, start, end, delimiter);
                *slot = Some(Span {
                    start: line.start + a,
                    end: line.start + b,
                    in_arena: false,
                });
            }
        }
        if column == last || end == text.len() {
            return Ok(Fields {
                values,
                seen: column + 1,
            });
        }
        column += 1;
        start = end + 1;
    }
}

/// The slow path for records with quotes: [`split_record`] on the record as text.
#[cold]
fn quoted_fields(
    line: &[u8],
    delimiter: u8,
    columns: &[usize; WANTED],
    last: usize,
    arena: &mut Vec<u8>,
) -> Result<Fields, SplitError> {
    // Bytes that are not UTF-8 become U+FFFD: only fields the scan reads are affected, and
    // an IMEI or IMSI holding such bytes is invalid either way.
    let text = String::from_utf8_lossy(line);
    let split = split_record(&text, char::from(delimiter)).map_err(|(e, column)| match e {
        RowError::TextAfterQuote => SplitError::TextAfterQuote { column },
        _ => SplitError::UnterminatedQuote { column },
    })?;
    let mut values = [None; WANTED];
    for (slot, &want) in values.iter_mut().zip(columns) {
        if let Some(f) = split.get(want) {
            let start = arena.len();
            arena.extend_from_slice(f.text.as_bytes());
            *slot = Some(Span {
                start,
                end: arena.len(),
                in_arena: true,
            });
        }
    }
    Ok(Fields {
        values,
        seen: split.len().min(last + 1),
    })
}

/// The bounds of `line[start..end]` without the spaces and tabs around it (unless one is
/// the delimiter).
#[inline]
fn trim(line: &[u8], mut start: usize, mut end: usize, delimiter: u8) -> (usize, usize) {
    let blank = |b: u8| (b == b' ' || b == b'\t') && b != delimiter;
    while start < end && blank(line[start]) {
        start += 1;
    }
    while end > start && blank(line[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// True when a record holds nothing but spaces and tabs: a blank line, not a row.
#[inline]
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t')
}

/// True when a line is not a row: blank, or a comment as list files have them
/// ([`is_comment`], decided on bytes whatever their encoding), unless `#` is the delimiter,
/// where a line starting with it starts with an empty field.
#[inline]
pub(crate) fn is_skipped(line: &[u8], delimiter: u8) -> bool {
    is_blank(line) || (delimiter != b'#' && is_comment(line))
}

/// Reads an IMEI field as [`Imei::parse_lenient`] does.
///
/// The common forms (14, 15 or 16 plain digits) are read here directly; anything else
/// (separators, `imei-` prefixes, errors) goes through [`Imei::parse_lenient`], so both
/// accept exactly the same inputs.
#[inline]
pub(crate) fn parse_imei(field: &[u8]) -> Result<LenientImei, IdError> {
    if let Some(parsed) = plain_digits(field) {
        return Ok(parsed);
    }
    parse_imei_slow(field)
}

#[cold]
fn parse_imei_slow(field: &[u8]) -> Result<LenientImei, IdError> {
    match std::str::from_utf8(field) {
        Ok(text) => Imei::parse_lenient(text),
        // The first byte that is not UTF-8 is not a digit either; report it as the
        // character it most likely was (Latin-1), at its position.
        Err(e) => {
            let valid = &field[..e.valid_up_to()];
            let position = std::str::from_utf8(valid).map_or(1, |s| s.chars().count() + 1);
            Err(IdError::NonDigit {
                what: "IMEI",
                ch: char::from(field[e.valid_up_to()]),
                position,
            })
        }
    }
}

/// 14, 15 or 16 ASCII digits, read without any other check; `None` for anything else.
///
/// Reads eight digits at a time in a register ("SWAR"): two overlapping words validate
/// every byte, two more give the value, and the Luhn sum is added up byte-parallel.
#[inline]
fn plain_digits(field: &[u8]) -> Option<LenientImei> {
    let n = field.len();
    if !(14..=16).contains(&n) {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(field[at..at + 8].try_into().expect("8 bytes"));
    if !all_digits(word(0)) || !all_digits(word(n - 8)) {
        return None;
    }
    // Digit values, the first digit in the lowest byte: digits 0 to 7, and 6 to 13.
    let head = word(0) - ZEROS;
    let tail = word(6) - ZEROS;
    let value = eight_digits(head) / 100 * 100_000_000 + eight_digits(tail);
    let imei = Imei::from_u64(value).ok()?;
    let check_digit = if n == 15 {
        // Luhn over the 14 digits: counted from the right, every first digit is doubled,
        // which is every odd position from the left. `tail` adds digits 8 to 13.
        const EVEN: u64 = 0x00ff_00ff_00ff_00ff;
        const ODD: u64 = 0xff00_ff00_ff00_ff00;
        const FROM_8: u64 = 0xffff_ffff_ffff_0000;
        let sum = sum_bytes(head & EVEN)
            + sum_bytes(doubled(head & ODD))
            + sum_bytes(tail & EVEN & FROM_8)
            + sum_bytes(doubled(tail & ODD & FROM_8));
        CheckDigit::of(((10 - sum % 10) % 10) as u8, field[14] - b'0')
    } else {
        CheckDigit::Absent
    };
    Some(LenientImei { imei, check_digit })
}

/// `'0'` in every byte.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// True when all eight bytes are ASCII digits.
#[inline]
fn all_digits(x: u64) -> bool {
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    // Every byte 0x30 to 0x3f, and still 0x3_ after adding 6 (which cannot carry once the
    // first test holds): 0x30 to 0x39.
    x & HIGH == ZEROS && (x + 0x0606_0606_0606_0606) & HIGH == ZEROS
}

/// The number that eight digit values (0 to 9, the first in the lowest byte) spell.
#[inline]
fn eight_digits(d: u64) -> u64 {
    // Pairs, then quadruples, then all eight: each product fits in its lane.
    let d = (d * 10 + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d * 100 + (d >> 16)) & 0x0000_ffff_0000_ffff;
    (d * 10_000 + (d >> 32)) & 0xffff_ffff
}

/// Each byte's digit value `d` replaced by the digit sum of `2d` (Luhn's doubling).
#[inline]
fn doubled(d: u64) -> u64 {
    // 2d - 9 when d >= 5, else 2d; d + 3 has bit 3 set exactly when d >= 5.
    let at_least_5 = ((d + 0x0303_0303_0303_0303) >> 3) & 0x0101_0101_0101_0101;
    2 * d - 9 * at_least_5
}

/// The sum of the eight bytes (when it is below 256).
#[inline]
fn sum_bytes(x: u64) -> u32 {
    (x.wrapping_mul(0x0101_0101_0101_0101) >> 56) as u32
}

/// Line ranges of a chunk: every record, with its line end (LF or CRLF) removed. The last
/// record may have no line end.
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', data);
    std::iter::from_fn(move || {
        let end = match ends.next() {
            Some(p) => p,
            None if start < data.len() => data.len(),
            None => return None,
        };
        let line_start = start;
        start = end + 1;
        let stop = if end > line_start && data[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        Some(line_start..stop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn get(line: &str, cols3: [usize; 3]) -> Result<(Vec<Option<String>>, usize), SplitError> {
        let cols = [cols3[0], cols3[1], cols3[2], usize::MAX];
        let last = cols
            .iter()
            .copied()
            .filter(|&c| c != usize::MAX)
            .max()
            .unwrap();
        // The record sits inside a chunk, after another line, as scans see it.
        let data = format!("x\n{line}\n");
        let mut arena = b"junk".to_vec();
        let f = fields(
            data.as_bytes(),
            2..2 + line.len(),
            b',',
            &cols,
            last,
            &mut arena,
            true,
        )?;
        let text = |s: Span| String::from_utf8_lossy(s.text(data.as_bytes(), &arena)).into_owned();
        Ok((
            f.values.iter().take(3).map(|v| v.map(text)).collect(),
            f.seen,
        ))
    }

    #[test]
    fn plain_records_split_like_list_rows() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            get("a, b ,c,d", [2, 0, usize::MAX]),
            Ok((vec![s("c"), s("a"), None], 3))
        );
        assert_eq!(get("a,b", [2, 0, 1]), Ok((vec![None, s("a"), s("b")], 2)));
        assert_eq!(get("", [0, usize::MAX, usize::MAX]).unwrap().0[0], s(""));
        assert_eq!(
            get("x,\"a,b\" ,y", [1, 2, usize::MAX]),
            Ok((vec![s("a,b"), s("y"), None], 3))
        );
        assert_eq!(
            get("x,\"a", [1, usize::MAX, usize::MAX]),
            Err(SplitError::UnterminatedQuote { column: 3 })
        );
        assert_eq!(
            get("\"a\"b,c", [1, usize::MAX, usize::MAX]),
            Err(SplitError::TextAfterQuote { column: 4 })
        );
    }

    #[test]
    fn lines_drop_lf_and_crlf_and_keep_a_last_line_without_one() {
        let data = b"a\r\nb\n\nc";
        let got: Vec<&[u8]> = lines(data).map(|r| &data[r]).collect();
        assert_eq!(got, [&b"a"[..], b"b", b"", b"c"]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 1);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_not_an_imei() {
        let e = parse_imei(b"35209900\xff").unwrap_err();
        assert!(matches!(e, IdError::NonDigit { position: 9, .. }), "{e:?}");
    }

    proptest! {
        /// The fast path accepts exactly what `Imei::parse_lenient` accepts, with the same
        /// result, for digit strings of every interesting length and for noise.
        #[test]
        fn fast_parse_agrees_with_parse_lenient(
            digits in "[0-9]{12,17}",
            noise in "[0-9 a-z-]{0,20}",
        ) {
            for input in [&digits, &noise] {
                prop_assert_eq!(parse_imei(input.as_bytes()), Imei::parse_lenient(input));
            }
        }

        /// Splitting agrees with `split_record` on the fields it returns.
        #[test]
        fn split_agrees_with_split_record(line in "[a-c ,\"]{0,16}", col in 0usize..4) {
            let mut arena = Vec::new();
            let cols = [col, usize::MAX, usize::MAX, usize::MAX];
            let ours = fields(line.as_bytes(), 0..line.len(), b',', &cols, col, &mut arena, true);
            match split_record(&line, ',') {
                Ok(theirs) => {
                    let ours = ours.unwrap();
                    let want = theirs.get(col).map(|f| f.text.as_bytes().to_vec());
                    let got = ours.values[0].map(|s| s.text(line.as_bytes(), &arena).to_vec());
                    prop_assert_eq!(got, want);
                    prop_assert_eq!(ours.seen, theirs.len().min(col + 1));
                }
                Err(_) => prop_assert!(ours.is_err()),
            }
        }
    }
}

/// The day of a row's time, at `offset` seconds from UTC: `YYYY-MM-DD`, optionally followed
/// by `T` or a space and `HH:MM[:SS[.fraction]]`, optionally followed by `Z` or an offset
/// (`+05:30`, `-0800`). A time with an offset or `Z` is an instant, whose day is taken at
/// `offset`; a time without one is taken as written (the operator's own clock). `None` when
/// the text is not such a time.
pub(crate) fn row_day(text: &[u8], offset: i32) -> Option<crate::model::rule::Date> {
    use crate::model::rule::Date;
    let num = |b: &[u8]| -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if text.len() < 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let date = Date::from_ymd(num(&text[0..4])?, num(&text[5..7])?, num(&text[8..10])?)?;
    let mut rest = &text[10..];
    if rest.is_empty() {
        return Some(date);
    }
    if !matches!(rest[0], b'T' | b't' | b' ') || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let (h, m) = (num(&rest[1..3])?, num(&rest[4..6])?);
    let mut secs = 0;
    rest = &rest[6..];
    if rest.first() == Some(&b':') {
        secs = num(rest.get(1..3)?)?;
        rest = &rest[3..];
        if rest.first() == Some(&b'.') {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            rest = &rest[1 + digits..];
        }
    }
    if h > 23 || m > 59 || secs > 60 {
        return None;
    }
    let zone: i64 = match rest {
        [] => return Some(date),
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), zh1, zh2, tail @ ..] => {
            let zm = match tail {
                [] => 0,
                [b':', a, b] | [a, b] => num(&[*a, *b])?,
                _ => return None,
            };
            let z = i64::from(num(&[*zh1, *zh2])?) * 3600 + i64::from(zm) * 60;
            if *sign == b'-' { -z } else { z }
        }
        _ => return None,
    };
    let utc =
        i64::from(date.days_since_epoch()) * 86_400 + i64::from(h * 3600 + m * 60 + secs) - zone;
    Some(Date::at_unix_seconds(utc + i64::from(offset)))
}

#[cfg(test)]
mod row_day_tests {
    use super::row_day;

    #[test]
    fn times_give_their_day_in_the_operators_zone() {
        let day = |t: &str, offset| row_day(t.as_bytes(), offset).map(|d| d.to_string());
        let ist = 19_800;
        for (text, offset, want) in [
            ("2024-05-31", 0, Some("2024-05-31")),
            ("2024-05-31T19:00:00Z", 0, Some("2024-05-31")),
            ("2024-05-31T19:00:00Z", ist, Some("2024-06-01")),
            ("2024-05-31T19:00:00.123Z", ist, Some("2024-06-01")),
            ("2024-05-31 19:00", ist, Some("2024-05-31")),
            ("2024-06-01T00:30:00+05:30", 0, Some("2024-05-31")),
            ("2024-06-01T00:30:00+0530", ist, Some("2024-06-01")),
            ("2024-05-31T23:30:00-01:00", 0, Some("2024-06-01")),
            ("2024-02-30", 0, None),
            ("2024-05-31T25:00:00Z", 0, None),
            ("2024-05-31T19:00:00X", 0, None),
            ("20240531", 0, None),
            ("yesterday", 0, None),
            ("", 0, None),
        ] {
            assert_eq!(day(text, offset).as_deref(), want, "{text} at {offset}");
        }
    }
}
