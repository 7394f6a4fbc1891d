//! Rules and changes back to list rows, as `dump` and `diff` write them.

use crate::model::change::Change;
use crate::model::rule::{Entry, Rule, Target};

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
    fields_of(rule.target(), Some(&rule.entry))
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
/// let gone = Change::Remove(Target::Imei(imei), None);
/// assert_eq!(format_change(&gone), "remove,352099001761481,,,,");
/// # Ok::<(), imei_index::IdError>(())
/// ```
pub fn format_change(change: &Change) -> String {
    let (op, target, entry) = match change {
        Change::Add(r) => ("add", r.target(), Some(&r.entry)),
        Change::Change(r) => ("change", r.target(), Some(&r.entry)),
        Change::Remove(t, e) => ("remove", *t, e.as_ref()),
    };
    format!("{op},{}", fields_of(target, entry))
}

/// The fields `imei,status,reason,imsi,date` of a target and, if known, its entry.
fn fields_of(target: Target, entry: Option<&Entry>) -> String {
    let (target, imsi) = match target {
        Target::Imei(i) => (i.to_string(), None),
        Target::Pair(i, s) => (i.to_string(), Some(s)),
        Target::Range(a, b) => (format!("{a}..{b}"), None),
        Target::Tac(t) => (t.to_string(), None),
    };
    format!(
        "{target},{},{},{},{}",
        entry.map(|e| e.status.as_str()).unwrap_or(""),
        entry
            .and_then(|e| e.reason)
            .map(|r| r.as_str())
            .unwrap_or(""),
        imsi.map(|s| s.to_string()).unwrap_or_default(),
        entry
            .and_then(|e| e.date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
    )
}
