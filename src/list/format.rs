//! Rules and changes back to list rows, as `dump` and `diff` write them.

use crate::model::change::Change;
use crate::model::rule::{Entry, Rule, Target};
use crate::model::source::Source;

/// Formats a rule as a list row (without line end), as `imei-index dump` writes it.
///
/// IMEIs are written with their check digit, so that reading the row back is strict.
///
/// # Example
///
/// ```
/// use imei_index::list::format_row;
/// use imei_index::{Entry, Imei, Imsi, Reason, Rule, Status};
///
/// let rule = Rule::pair(
///     Imei::parse("35209900176148")?,
///     Imsi::parse("404685505601234")?,
///     Entry::new(Status::Allowed).with_reason(Reason::Duplicate),
/// );
/// assert_eq!(format_row(&rule), "352099001761481,allowed,duplicate,404685505601234,");
/// # Ok::<(), imei_index::IdError>(())
/// ```
pub fn format_row(rule: &Rule) -> String {
    fields_of(rule.target(), Some(&rule.entry), rule.source())
}

/// Formats a change as a delta list row (without line end), as `imei-index diff` writes it.
///
/// # Example
///
/// ```
/// use imei_index::list::format_change;
/// use imei_index::{Change, Entry, Imei, Rule, Status, Target};
///
/// let imei = Imei::parse("35209900176148")?;
/// let rule = Rule::imei(imei, Entry::new(Status::Blocked));
/// assert_eq!(format_change(&Change::Add(rule)), "add,352099001761481,blocked,,,");
/// let gone = Change::Remove(Target::Imei(imei), imei_index::Source::local(), None);
/// assert_eq!(format_change(&gone), "remove,352099001761481,,,,");
/// # Ok::<(), imei_index::IdError>(())
/// ```
pub fn format_change(change: &Change) -> String {
    let (op, target, entry) = match change {
        Change::Add(r) => ("add", r.target(), Some(&r.entry)),
        Change::Change(r) => ("change", r.target(), Some(&r.entry)),
        Change::Remove(t, _, e) => ("remove", *t, e.as_ref()),
    };
    format!("{op},{}", fields_of(target, entry, change.source()))
}

/// The fields `imei,status,reason,imsi,date` of a target and, if known, its entry, then
/// `start` and `source` when the entry has a start or the source is not `local`.
fn fields_of(target: Target, entry: Option<&Entry>, source: &Source) -> String {
    let (target, imsi) = match target {
        Target::Imei(i) => (i.to_string(), None),
        Target::Pair(i, s) => (i.to_string(), Some(s)),
        Target::Range(a, b) => (format!("{a}..{b}"), None),
        Target::Tac(t) => (t.to_string(), None),
    };
    let status = match entry.map(|e| (e.earlier_status(), e.status)) {
        None => String::new(),
        Some((None, s)) => s.as_str().to_string(),
        Some((Some(before), s)) => format!("{before}>{s}"),
    };
    let mut row = format!(
        "{target},{status},{},{},{}",
        entry
            .map(|e| quoted(&e.reasons.to_string()))
            .unwrap_or_default(),
        imsi.map(|s| s.to_string()).unwrap_or_default(),
        entry
            .and_then(|e| e.date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    let start = entry.and_then(|e| e.start);
    if start.is_some() || !source.is_local() {
        row.push(',');
        if let Some(d) = start {
            row.push_str(&d.to_string());
        }
    }
    if !source.is_local() {
        row.push(',');
        row.push_str(source.as_str());
    }
    row
}

/// A field as a list row holds it: in double quotes (with quotes doubled) when it holds a
/// comma, a quote or blanks at its ends.
fn quoted(text: &str) -> String {
    let plain = !text.contains([',', '"']) && text.trim_matches([' ', '\t']) == text;
    if plain {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('"', "\"\""))
    }
}
