//! Fields to rules: what each column of a list or delta list row means.

use std::borrow::Cow;

use crate::list::csv::Field;
use crate::list::error::RowError;
use crate::model::change::Change;
use crate::model::ident::{IdError, Imei, Imsi, Tac};
use crate::model::rule::{Entry, FieldError, Rule, RuleKind, Target};

/// The columns of a list file, in order.
pub const COLUMNS: [&str; 5] = ["imei", "status", "reason", "imsi", "date"];

/// The columns of a delta list, in order.
pub const DELTA_COLUMNS: [&str; 6] = ["op", "imei", "status", "reason", "imsi", "date"];

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
    if let Some((first, last)) = text.split_once("..") {
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
pub(super) fn parse_row(fields: &[Field<'_>], line_len: usize) -> Result<Rule, (RowError, usize)> {
    if fields.len() > COLUMNS.len() {
        return Err((
            RowError::TooManyFields {
                found: fields.len(),
            },
            fields[COLUMNS.len()].column,
        ));
    }
    let (target, entry) = parse_fields(fields, line_len, true)?;
    let entry = entry.expect("a required status was parsed");
    Ok(Rule::new(target, entry).expect("parse_fields checked the range"))
}

/// Parses the fields `imei,status,reason,imsi,date` (at most five) into a target and,
/// when there is a status, an entry. The status may be absent only if not `required`.
fn parse_fields(
    fields: &[Field<'_>],
    line_len: usize,
    required: bool,
) -> Result<(Target, Option<Entry>), (RowError, usize)> {
    let get = |i: usize| fields.get(i).filter(|f| !f.text.is_empty());
    let imei_field = &fields[0];
    let target = parse_target(&imei_field.text, imei_field.column)?;
    let field_err = |e: FieldError, f: &Field<'_>| (RowError::Field(e), f.column);
    let mut entry = match get(1) {
        Some(f) => Some(Entry::new(f.text.parse().map_err(|e| field_err(e, f))?)),
        None if required => {
            return Err((
                RowError::MissingStatus,
                fields.get(1).map_or(line_len + 1, |f| f.column),
            ));
        }
        None => None,
    };
    if let Some(f) = get(2) {
        let reason = f.text.parse().map_err(|e| field_err(e, f))?;
        entry = entry.map(|e| e.with_reason(reason));
    }
    if let Some(f) = get(4) {
        let date = f.text.parse().map_err(|e| field_err(e, f))?;
        entry = entry.map(|e| e.with_date(date));
    }
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
    Ok((target, entry))
}

/// Parses one delta row's fields (`op,imei,status,reason,imsi,date`) into a change.
pub(super) fn parse_delta_row(
    fields: &[Field<'_>],
    line_len: usize,
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
        let (target, entry) = parse_fields(rest, line_len, false)?;
        return Ok(Change::Remove(target, entry));
    }
    let (target, entry) = parse_fields(rest, line_len, true)?;
    let rule = Rule::new(target, entry.expect("a required status was parsed"))
        .expect("parse_fields checked the range");
    Ok(if op == 0 {
        Change::Add(rule)
    } else {
        Change::Change(rule)
    })
}
