//! Fields to rules: what each column of a list or delta list row means.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::list::csv::Field;
use crate::list::error::RowError;
use crate::model::change::Change;
use crate::model::field::FieldError;
use crate::model::ident::{IdError, Imei, Imsi, Tac};
use crate::model::rule::{Entry, Rule, RuleKind, Status, Target};
use crate::model::source::{Reasons, Source};

/// The columns of a list file, in order; the last two (`start`, `source`) and the three
/// before them may be empty or absent.
pub const COLUMNS: [&str; 7] = [
    "imei", "status", "reason", "imsi", "date", "start", "source",
];

/// The columns of a delta list, in order.
pub const DELTA_COLUMNS: [&str; 8] = [
    "op", "imei", "status", "reason", "imsi", "date", "start", "source",
];

/// Reason fields seen, kept so that rows repeating one make no new allocation.
const REASON_CACHE: usize = 4096;

/// What reading rows keeps from row to row: the source of rows without one, and the reason
/// sets met.
#[derive(Debug, Default)]
pub(super) struct RowContext {
    pub(super) source: Source,
    reasons: HashMap<Box<str>, Reasons>,
}

impl RowContext {
    /// The reasons of a reason field: texts joined with `|`.
    fn reasons(&mut self, text: &str) -> Result<Reasons, FieldError> {
        if let Some(r) = self.reasons.get(text) {
            return Ok(r.clone());
        }
        let r = Reasons::parse_joined(text)?;
        if self.reasons.len() >= REASON_CACHE {
            self.reasons.clear();
        }
        self.reasons.insert(Box::from(text), r.clone());
        Ok(r)
    }
}

/// Parses a status field: a status, or `EARLIER>STATUS` (for a rule with a start: what it
/// answers before its start, then from it).
fn parse_status(text: &str) -> Result<(Status, Option<Status>), FieldError> {
    match text.split_once('>') {
        Some((earlier, status)) => Ok((status.parse()?, Some(earlier.parse()?))),
        None => Ok((text.parse()?, None)),
    }
}

/// Parses the imei field of a row: a range, a TAC or an IMEI.
fn parse_target(text: &str, column: usize) -> Result<ImeiField, (RowError, usize)> {
    // IdError positions are 1-based within the field; make them columns of the line.
    let at = |e: IdError, offset: usize| {
        let col = match &e {
            IdError::NonDigit { position, .. } | IdError::MisplacedSeparator { position, .. } => {
                column + offset + position - 1
            }
            _ => column + offset,
        };
        (RowError::Imei(e), col)
    };
    // A '.' first: a substring search for ".." costs more than the rest of the field.
    if text.contains('.')
        && let Some((first, last)) = text.split_once("..")
    {
        let first_imei = Imei::parse(first).map_err(|e| at(e, 0))?;
        let offset = first.chars().count() + 2;
        let last_imei = Imei::parse(last).map_err(|e| at(e, offset))?;
        return Ok(ImeiField::Range(first_imei, last_imei));
    }
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(ImeiField::Tac(Tac::parse(text).map_err(|e| at(e, 0))?));
    }
    Ok(ImeiField::Imei(Imei::parse(text).map_err(|e| at(e, 0))?))
}

/// What the imei field names, before the imsi field makes an IMEI a pair.
enum ImeiField {
    Imei(Imei),
    Range(Imei, Imei),
    Tac(Tac),
}

/// Parses one list row's fields into a rule.
pub(super) fn parse_row(
    fields: &[Field<'_>],
    line_len: usize,
    cx: &mut RowContext,
) -> Result<Rule, (RowError, usize)> {
    if fields.len() > COLUMNS.len() {
        return Err((
            RowError::TooManyFields {
                found: fields.len(),
            },
            fields[COLUMNS.len()].column,
        ));
    }
    let (target, entry, source) = parse_fields(fields, line_len, true, cx)?;
    let entry = entry.expect("a required status was parsed");
    Ok(Rule::of_source(target, entry, source).expect("parse_fields checked the range"))
}

/// Parses the fields `imei,status,reason,imsi,date,start,source` (at most seven) into a
/// target, when there is a status an entry, and the source. The status may be absent only
/// if not `required`.
fn parse_fields(
    fields: &[Field<'_>],
    line_len: usize,
    required: bool,
    cx: &mut RowContext,
) -> Result<(Target, Option<Entry>, Source), (RowError, usize)> {
    let get = |i: usize| fields.get(i).filter(|f| !f.text.is_empty());
    let imei_field = &fields[0];
    let target = parse_target(&imei_field.text, imei_field.column)?;
    let field_err = |e: FieldError, f: &Field<'_>| (RowError::Field(e), f.column);
    let mut earlier = None;
    let mut entry = match get(1) {
        Some(f) => {
            let (status, before) = parse_status(&f.text).map_err(|e| field_err(e, f))?;
            earlier = before.map(|s| (s, f));
            Some(Entry::new(status))
        }
        None if required => {
            return Err((
                RowError::MissingStatus,
                fields.get(1).map_or(line_len + 1, |f| f.column),
            ));
        }
        None => None,
    };
    if let Some(f) = get(2) {
        let reasons = cx.reasons(&f.text).map_err(|e| field_err(e, f))?;
        entry = entry.map(|e| e.with_reasons(reasons));
    }
    if let Some(f) = get(4) {
        let date = f.text.parse().map_err(|e| field_err(e, f))?;
        entry = entry.map(|e| e.with_date(date));
    }
    if let Some(f) = get(5) {
        let start = f.text.parse().map_err(|e| field_err(e, f))?;
        entry = entry.map(|e| e.with_start(start));
    }
    if let Some((s, f)) = earlier
        && let Some(e) = entry.take()
    {
        entry = Some(e.with_earlier(s).map_err(|e| field_err(e, f))?);
    }
    let source = match get(6) {
        Some(f) => Source::new(&f.text).map_err(|e| field_err(e, f))?,
        None => cx.source.clone(),
    };
    let imsi = match get(3) {
        Some(f) => Some((
            Imsi::parse(&f.text).map_err(|e| (RowError::Imsi(e), f.column))?,
            f.column,
        )),
        None => None,
    };
    let target = match (target, imsi) {
        (ImeiField::Imei(imei), Some((imsi, _))) => Target::Pair(imei, imsi),
        (ImeiField::Imei(imei), None) => Target::Imei(imei),
        (ImeiField::Range(..), Some((_, col))) => {
            return Err((RowError::PairNeedsImei(RuleKind::Range), col));
        }
        (ImeiField::Tac(_), Some((_, col))) => {
            return Err((RowError::PairNeedsImei(RuleKind::Tac), col));
        }
        (ImeiField::Range(first, last), None) if first > last => {
            return Err(field_err(
                FieldError::RangeOrder { first, last },
                imei_field,
            ));
        }
        (ImeiField::Range(first, last), None) => Target::Range(first, last),
        (ImeiField::Tac(tac), None) => Target::Tac(tac),
    };
    Ok((target, entry, source))
}

/// Parses one delta row's fields (`op,imei,status,reason,imsi,date,start,source`) into a
/// change.
pub(super) fn parse_delta_row(
    fields: &[Field<'_>],
    line_len: usize,
    cx: &mut RowContext,
) -> Result<Change, (RowError, usize)> {
    if fields.len() > DELTA_COLUMNS.len() {
        return Err((
            RowError::TooManyDeltaFields {
                found: fields.len(),
            },
            fields[DELTA_COLUMNS.len()].column,
        ));
    }
    let op_field = &fields[0];
    let op = ["add", "change", "remove"]
        .into_iter()
        .position(|op| op.eq_ignore_ascii_case(&op_field.text))
        .ok_or_else(|| (RowError::Op(op_field.text.to_string()), op_field.column))?;
    // A row of only an operation has an empty target just past its end.
    let missing = [Field {
        text: Cow::Borrowed(""),
        column: line_len + 1,
    }];
    let rest = if fields.len() > 1 {
        &fields[1..]
    } else {
        &missing[..]
    };
    if op == 2 {
        let (target, entry, source) = parse_fields(rest, line_len, false, cx)?;
        return Ok(Change::Remove(target, source, entry));
    }
    let (target, entry, source) = parse_fields(rest, line_len, true, cx)?;
    let rule = Rule::new(target, entry.expect("a required status was parsed"))
        .expect("parse_fields checked the range")
        .with_source(source);
    Ok(if op == 0 {
        Change::Add(rule)
    } else {
        Change::Change(rule)
    })
}
