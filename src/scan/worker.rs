//! Scanning one chunk of lines: split, parse, filter, check in a batch, format the matches.

use std::fmt;
use std::ops::Range;

use super::chunk::{MAX_LINE, Piece};
use super::prefilter::Prefilter;
use super::record::{self, Span, SplitError, WANTED};
use super::summary::{Hit, MsisdnKey, Tally};
use crate::list::RowError;
use crate::model::ident::{CheckDigit, IdError, Imei, Imsi};
use crate::model::rule::{Date, Verdict};
use crate::read::index::Index;

/// Positions of the IMEI, IMSI and MSISDN fields (`NONE` for a column an input lacks).
pub(crate) const IMEI: usize = 0;
pub(crate) const IMSI: usize = 1;
pub(crate) const MSISDN: usize = 2;
pub(crate) const TIME: usize = 3;
pub(crate) const NONE: usize = usize::MAX;

/// How to scan the lines of one input: shared by every worker.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) index: &'a Index,
    pub(crate) filter: Option<&'a Prefilter>,
    pub(crate) delimiter: u8,
    /// Field positions of IMEI, IMSI and MSISDN.
    pub(crate) columns: [usize; WANTED],
    /// The largest position in `columns`.
    pub(crate) last: usize,
    pub(crate) statuses: [bool; 3],
    pub(crate) lenient: bool,
    /// Append the TAC database's manufacturer and model to each match.
    pub(crate) device_columns: bool,
    /// Whether the index has pair rules (so that IMSIs matter for verdicts).
    pub(crate) pairs: bool,
    /// The day rows without a time are checked on (today at the index's offset), and the
    /// offset rows' times are read at; rows with a time are checked on its day when the
    /// index has dated rules and the log a time column (`columns[TIME]`).
    pub(crate) today: Date,
    pub(crate) offset: i32,
}

/// A chunk of input and, once scanned, what it gave.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    /// Order of the chunk in its input.
    pub(crate) seq: u64,
    /// The input bytes.
    pub(crate) data: Vec<u8>,
    /// Where the records start in `data` (after a header row).
    pub(crate) start: usize,
    /// An overlong line's length, when `data` is the start of one.
    pub(crate) overlong: Option<u64>,
    /// The matching rows, each with the verdict appended, LF-terminated.
    pub(crate) out: Vec<u8>,
    /// Rows that could not be read.
    pub(crate) rejects: Vec<Reject>,
    /// Keys of the matching rows, for the distinct counts.
    pub(crate) hits: Vec<Hit>,
    pub(crate) tally: Tally,
    /// Lines in the chunk, from `start`, blank ones included.
    pub(crate) lines: u64,
}

impl Chunk {
    /// Empties the results and sets what the next piece is.
    pub(crate) fn prepare(&mut self, seq: u64, piece: &Piece) {
        self.seq = seq;
        self.start = 0;
        self.overlong = match *piece {
            Piece::Lines => None,
            Piece::Overlong { len } => Some(len),
        };
        self.out.clear();
        self.rejects.clear();
        self.hits.clear();
        self.tally = Tally::default();
        self.lines = 0;
    }
}

/// A row that could not be read: its line (1-based, counted from the chunk's start), what
/// is wrong, and where its text is in the chunk.
#[derive(Debug)]
pub(crate) struct Reject {
    pub(crate) line: u64,
    pub(crate) problem: Problem,
    pub(crate) row: Range<usize>,
}

/// What is wrong with a row.
#[derive(Debug)]
pub(crate) enum Problem {
    Split(SplitError),
    MissingColumn { column: usize, fields: usize },
    NotAnImei { column: usize, error: IdError },
    TooLong { len: u64 },
    BadTime { column: usize },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Split(SplitError::UnterminatedQuote { column }) => {
                write!(f, "column {column}: {}", RowError::UnterminatedQuote)
            }
            Problem::Split(SplitError::TextAfterQuote { column }) => {
                write!(f, "column {column}: {}", RowError::TextAfterQuote)
            }
            Problem::MissingColumn { column, fields } => write!(
                f,
                "the row has {fields} field{}, so no field {} to read the IMEI from",
                if *fields == 1 { "" } else { "s" },
                column + 1
            ),
            Problem::NotAnImei { column, error } => {
                write!(f, "field {} is not an IMEI: {error}", column + 1)
            }
            Problem::BadTime { column } => write!(
                f,
                "field {} is not a time: write it YYYY-MM-DD, optionally with THH:MM[:SS] and Z \
                 or an offset such as +05:30 (RFC 3339), or leave it empty to check the row today",
                column + 1
            ),
            Problem::TooLong { len } => write!(
                f,
                "the line is {len} bytes long, more than any record ({MAX_LINE} bytes): \
                 only its start is shown"
            ),
        }
    }
}

/// A row with an IMEI: waiting for the filter, then (if it cannot rule the row out) for
/// its verdict.
#[derive(Debug)]
struct Row {
    line: Range<usize>,
    imei: Imei,
    imsi: Option<Span>,
    msisdn: Option<Span>,
    verdict: Verdict,
    /// True when the verdict is already known (checked with the IMSI, or answered by the
    /// TAC policy for a row the filter ruled out).
    checked: bool,
    /// The day of the row's time, when the log has a time column and the index dated rules.
    day: Option<Date>,
}

/// Rows are filtered this many at a time: the filter's memory accesses for a run of rows
/// then overlap, rather than each waiting for the one before.
const BATCH: usize = 64;

/// A worker's reusable buffers, so that scanning allocates nothing per row.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Rows parsed, not yet filtered.
    parsed: Vec<Row>,
    /// Rows the filter let through.
    candidates: Vec<Row>,
    batch: Vec<Imei>,
    /// The unquoted fields of quoted records.
    arena: Vec<u8>,
}

/// Scans one chunk.
pub(crate) fn scan_chunk(plan: &Plan<'_>, chunk: &mut Chunk, scratch: &mut Scratch) {
    if let Some(len) = chunk.overlong {
        chunk.lines = 1;
        chunk.tally.rows = 1;
        chunk.tally.malformed = 1;
        chunk.rejects.push(Reject {
            line: 1,
            problem: Problem::TooLong { len },
            row: 0..chunk.data.len(),
        });
        return;
    }
    scratch.parsed.clear();
    scratch.candidates.clear();
    scratch.arena.clear();
    let data = &chunk.data[..];
    let tally = &mut chunk.tally;
    // Logs rarely quote: one search of the chunk spares one per row.
    let quotes = memchr::memchr(b'"', &data[chunk.start..]).is_some();
    let mut line_no = 0u64;
    for range in record::lines(&data[chunk.start..]) {
        line_no += 1;
        let range = range.start + chunk.start..range.end + chunk.start;
        match parse_row(plan, data, range, &mut scratch.arena, quotes) {
            Parsed::Blank => continue,
            Parsed::Row(row, wrong_check_digit) => {
                tally.rows += 1;
                tally.wrong_check_digit += u64::from(wrong_check_digit);
                scratch.parsed.push(row);
                if scratch.parsed.len() == BATCH {
                    filter(plan, scratch, tally);
                }
            }
            Parsed::Reject(problem, row) => {
                tally.rows += 1;
                if matches!(problem, Problem::NotAnImei { .. }) {
                    tally.not_imei += 1;
                } else {
                    tally.malformed += 1;
                }
                chunk.rejects.push(Reject {
                    line: line_no,
                    problem,
                    row,
                });
            }
        }
    }
    filter(plan, scratch, tally);
    chunk.lines = line_no;
    check(plan, data, scratch);
    report(plan, chunk, scratch);
}

/// What one line holds.
enum Parsed {
    Blank,
    /// A row with an IMEI, and whether its check digit was wrong (accepted leniently).
    Row(Row, bool),
    /// A row that cannot be read, and the part of the chunk to show for it.
    Reject(Problem, Range<usize>),
}

/// Reads the line at `range`: its IMEI, and where its IMSI and MSISDN are.
#[inline]
fn parse_row(
    plan: &Plan<'_>,
    data: &[u8],
    range: Range<usize>,
    arena: &mut Vec<u8>,
    quotes: bool,
) -> Parsed {
    let line = &data[range.clone()];
    if record::is_skipped(line, plan.delimiter) {
        return Parsed::Blank;
    }
    if line.len() > MAX_LINE {
        let len = line.len() as u64;
        return Parsed::Reject(Problem::TooLong { len }, range.start..range.start + 256);
    }
    let (d, columns, last) = (plan.delimiter, &plan.columns, plan.last);
    let fields = match record::fields(data, range.clone(), d, columns, last, arena, quotes) {
        Ok(f) => f,
        Err(e) => return Parsed::Reject(Problem::Split(e), range),
    };
    let column = plan.columns[IMEI];
    let Some(imei_field) = fields.values[IMEI] else {
        let problem = Problem::MissingColumn {
            column,
            fields: fields.seen,
        };
        return Parsed::Reject(problem, range);
    };
    let parsed = match record::parse_imei(imei_field.text(data, arena)) {
        Ok(p) => p,
        Err(error) => return Parsed::Reject(Problem::NotAnImei { column, error }, range),
    };
    let wrong = match parsed.check_digit {
        CheckDigit::Invalid { expected, found } if !plan.lenient => {
            let error = IdError::CheckDigit { expected, found };
            return Parsed::Reject(Problem::NotAnImei { column, error }, range);
        }
        CheckDigit::Invalid { .. } => true,
        _ => false,
    };
    let day = match fields.values[TIME].map(|t| t.text(data, arena)) {
        Some(t) if !t.is_empty() => match record::row_day(t, plan.offset) {
            Some(d) => Some(d),
            None => {
                let column = plan.columns[TIME];
                return Parsed::Reject(Problem::BadTime { column }, range);
            }
        },
        _ => None,
    };
    let row = Row {
        line: range,
        imei: parsed.imei,
        imsi: fields.values[IMSI],
        msisdn: fields.values[MSISDN],
        verdict: Verdict::unknown(),
        checked: false,
        day,
    };
    Parsed::Row(row, wrong)
}

/// Moves the parsed rows that the filter cannot rule out to the candidates.
fn filter(plan: &Plan<'_>, scratch: &mut Scratch, tally: &mut Tally) {
    match plan.filter {
        Some(f) => {
            if f.worth_prefetching() {
                for row in &scratch.parsed {
                    f.prefetch(row.imei);
                }
            }
            let policy = plan.index.tac_policy().is_some();
            for mut row in scratch.parsed.drain(..) {
                if f.may_match(row.imei) {
                    scratch.candidates.push(row);
                    continue;
                }
                // No rule can match: the TAC policy, when on, may still answer.
                if policy {
                    row.verdict = plan.index.unlisted(row.imei);
                    if row.verdict.is_listed() {
                        row.checked = true;
                        scratch.candidates.push(row);
                        continue;
                    }
                }
                tally.unmatched += 1;
            }
        }
        None => scratch.candidates.append(&mut scratch.parsed),
    }
}

/// Gives every candidate its verdict: with its IMSI when a pair rule may name its handset,
/// the rest in one batch.
fn check(plan: &Plan<'_>, data: &[u8], scratch: &mut Scratch) {
    let Scratch {
        candidates,
        batch,
        arena,
        ..
    } = scratch;
    batch.clear();
    if plan.columns[TIME] != NONE {
        // Each row on its own day: one at a time.
        for c in candidates.iter_mut().filter(|c| !c.checked) {
            let day = c.day.unwrap_or(plan.today);
            let imsi = plan
                .pairs
                .then(|| c.imsi.and_then(|s| parse_imsi(s.text(data, arena))))
                .flatten();
            c.verdict = match imsi {
                Some(Ok(imsi)) => plan.index.check_with_imsi_at(c.imei, &imsi, day),
                _ => plan.index.check_at(c.imei, day),
            };
            c.checked = true;
        }
        return;
    }
    for c in candidates.iter_mut().filter(|c| !c.checked) {
        let may_pair = plan.pairs && plan.filter.is_none_or(|f| f.may_pair(c.imei));
        let imsi = || c.imsi.and_then(|s| parse_imsi(s.text(data, arena)));
        match may_pair.then(imsi).flatten() {
            Some(Ok(imsi)) => {
                c.verdict = plan.index.check_with_imsi(c.imei, &imsi);
                c.checked = true;
            }
            _ => batch.push(c.imei),
        }
    }
    if batch.is_empty() {
        return;
    }
    let verdicts = plan.index.check_many(batch);
    let unchecked = candidates.iter_mut().filter(|c| !c.checked);
    for (c, v) in unchecked.zip(verdicts) {
        c.verdict = v;
    }
}

/// The IMSI of a field: `None` when empty.
fn parse_imsi(field: &[u8]) -> Option<Result<Imsi, ()>> {
    if field.is_empty() {
        return None;
    }
    Some(
        std::str::from_utf8(field)
            .ok()
            .and_then(|s| Imsi::parse(s).ok())
            .ok_or(()),
    )
}

/// Counts every candidate and writes the matching ones, verdict appended.
fn report(plan: &Plan<'_>, chunk: &mut Chunk, scratch: &Scratch) {
    let d = plan.delimiter;
    let (data, arena) = (&chunk.data[..], &scratch.arena[..]);
    for c in &scratch.candidates {
        let Some(status) = c.verdict.status() else {
            chunk.tally.unmatched += 1;
            continue;
        };
        let code = usize::from(status.s13_code());
        chunk.tally.listed[code] += 1;
        if !plan.statuses[code] {
            chunk.tally.unmatched += 1;
            continue;
        }
        chunk.tally.matched += 1;
        let out = &mut chunk.out;
        out.extend_from_slice(&data[c.line.clone()]);
        out.push(d);
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(d);
        for (i, r) in plan.index.reasons(&c.verdict).enumerate() {
            if i > 0 {
                out.push(b'|');
            }
            out.extend_from_slice(r.as_bytes());
        }
        out.push(d);
        if let Some(k) = c.verdict.rule() {
            out.extend_from_slice(k.as_str().as_bytes());
        }
        out.push(d);
        if let Some(date) = c.verdict.date() {
            push_date(out, date);
        }
        if plan.device_columns {
            let device = plan.index.device(c.imei.tac());
            for text in [device.map(|d| d.manufacturer), device.map(|d| d.model)] {
                out.push(d);
                push_field(out, text.unwrap_or(""), d);
            }
        }
        out.push(b'\n');
        let imsi = match c.imsi.and_then(|s| parse_imsi(s.text(data, arena))) {
            Some(Ok(imsi)) => Some(imsi),
            Some(Err(())) => {
                chunk.tally.bad_imsi += 1;
                None
            }
            None => None,
        };
        let msisdn = c
            .msisdn
            .map(|s| s.text(data, arena))
            .filter(|t| !t.is_empty())
            .map(MsisdnKey::new);
        chunk.hits.push(Hit {
            imei: c.imei.as_u64(),
            imsi,
            msisdn,
        });
    }
}

/// Appends a date as `YYYY-MM-DD`, as its `Display` does, without the formatting machinery.
fn push_date(out: &mut Vec<u8>, date: Date) {
    let (y, m, d) = date.to_ymd();
    for (n, width) in [(y, 4), (m, 2), (d, 2)] {
        if width == 2 {
            out.push(b'-');
        }
        out.extend(
            (0..width)
                .rev()
                .map(|i| b'0' + (n / 10u32.pow(i) % 10) as u8),
        );
    }
}

/// Appends a text field, double-quoted (quotes doubled) when it holds the delimiter, a
/// quote or a line end, so that the row still splits into its columns.
fn push_field(out: &mut Vec<u8>, text: &str, delimiter: u8) {
    let b = text.as_bytes();
    if !b
        .iter()
        .any(|&c| c == delimiter || c == b'"' || c == b'\n' || c == b'\r')
    {
        out.extend_from_slice(b);
        return;
    }
    out.push(b'"');
    for &c in b {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_they_display() {
        for days in [0, 1, 59, 19_864, Date::MAX_DAYS] {
            let date = Date::from_days_since_epoch(days).unwrap();
            let mut out = Vec::new();
            push_date(&mut out, date);
            assert_eq!(String::from_utf8(out).unwrap(), date.to_string());
        }
    }
}
