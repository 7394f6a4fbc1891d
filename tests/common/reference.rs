//! The reference model of docs/semantics.md: what a check answers, computed the plain way,
//! from the rules alone, without the index or any of its code.
//!
//! It is deliberately slow and obvious: every check looks at every rule. Each surface (the
//! library's checks, check_many, layered views, the C API, the command line, scan, the
//! servers) is tested against [`answer`] on generated lists. It has its own types, so that a
//! mistake in the library's types cannot hide in both.
#![allow(dead_code)]

use std::cmp::Ordering;

/// A status, ordered by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefStatus {
    Allowed,
    Tracked,
    Blocked,
}

/// A rule's target. IMEIs are their 14-digit numbers; an IMSI is its digits as text (leading
/// zeros count).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RefTarget {
    Pair(u64, String),
    Imei(u64),
    Range(u64, u64),
    Tac(u32),
}

impl RefTarget {
    /// 0 for the most specific kind (pair) to 3 (tac).
    fn specificity(&self) -> u8 {
        match self {
            RefTarget::Pair(..) => 0,
            RefTarget::Imei(_) => 1,
            RefTarget::Range(..) => 2,
            RefTarget::Tac(_) => 3,
        }
    }

    fn matches(&self, imei: u64, imsi: Option<&str>) -> bool {
        match self {
            RefTarget::Pair(i, s) => *i == imei && imsi == Some(s.as_str()),
            RefTarget::Imei(i) => *i == imei,
            RefTarget::Range(a, b) => *a <= imei && imei <= *b,
            RefTarget::Tac(t) => u64::from(*t) == imei / 1_000_000,
        }
    }

    /// How many IMEIs a range covers (for "narrowest"); 0 for the other kinds.
    fn width(&self) -> u64 {
        match self {
            RefTarget::Range(a, b) => b - a,
            _ => 0,
        }
    }
}

/// A day, as days since 1970-01-01.
pub type Day = i64;

/// A rule, as docs/semantics.md defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefRule {
    pub target: RefTarget,
    pub source: String,
    pub status: RefStatus,
    /// Sorted, without duplicates.
    pub reasons: Vec<String>,
    pub date: Option<Day>,
    pub start: Option<Day>,
    /// Only with a start: what the rule answers before it.
    pub earlier: Option<RefStatus>,
}

impl RefRule {
    /// The status the rule answers on `day`, or `None` when it does not apply.
    pub fn status_on(&self, day: Day) -> Option<RefStatus> {
        match self.start {
            Some(start) if day < start => self.earlier,
            _ => Some(self.status),
        }
    }
}

/// What the reference answers: the deciding rule, and the status it answers that day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefVerdict {
    pub status: RefStatus,
    /// True when the status is the rule's earlier status (its start is still to come).
    pub earlier: bool,
    pub rule: RefRule,
}

/// Rule 4: between applying rules for one target (or equally narrow ranges), the most severe
/// status on the day, then the latest date, then the source that sorts first.
fn better(a: (&RefRule, RefStatus), b: (&RefRule, RefStatus)) -> Ordering {
    a.1.cmp(&b.1)
        .then_with(|| a.0.date.cmp(&b.0.date))
        .then_with(|| b.0.source.cmp(&a.0.source))
}

/// The verdict of docs/semantics.md for `imei` (with `imsi`, if given) on `day`.
pub fn answer(rules: &[RefRule], imei: u64, imsi: Option<&str>, day: Day) -> Option<RefVerdict> {
    // 1. Only rules that apply, and match, count.
    let applying: Vec<(&RefRule, RefStatus)> = rules
        .iter()
        .filter(|r| r.target.matches(imei, imsi))
        .filter_map(|r| r.status_on(day).map(|s| (r, s)))
        .collect();
    // 2. The most specific kind that has one decides.
    let kind = applying.iter().map(|(r, _)| r.target.specificity()).min()?;
    let mut candidates: Vec<(&RefRule, RefStatus)> = applying
        .into_iter()
        .filter(|(r, _)| r.target.specificity() == kind)
        .collect();
    // 3. Among ranges, the narrowest.
    let narrowest = candidates.iter().map(|(r, _)| r.target.width()).min()?;
    candidates.retain(|(r, _)| r.target.width() == narrowest);
    // 4 and 5: severity, date, source; then the range that starts first.
    let (rule, status) = candidates.into_iter().max_by(|a, b| {
        better(*a, *b).then_with(|| match (&a.0.target, &b.0.target) {
            (RefTarget::Range(x, _), RefTarget::Range(y, _)) => y.cmp(x),
            _ => Ordering::Equal,
        })
    })?;
    Some(RefVerdict {
        status,
        earlier: rule.start.is_some_and(|s| day < s),
        rule: rule.clone(),
    })
}

/// Merges the rules of one source for one target, as a build does (docs/semantics.md,
/// "Sources"): the most severe status, then the earliest start (none is earliest), then the
/// latest date, then the greater reasons, then the more severe earlier status (none is
/// the least), so that the result does not depend on the order of the rows.
pub fn merge_in_source(a: RefRule, b: RefRule) -> RefRule {
    let key = |r: &RefRule| {
        (
            r.status,
            std::cmp::Reverse(r.start.map_or(i64::MIN, |s| s)),
            r.date,
            r.reasons.clone(),
            r.start.and(r.earlier),
        )
    };
    if key(&b) > key(&a) { b } else { a }
}

/// One rule per (source, target): the rules a build of `rules` keeps.
pub fn build(rules: &[RefRule]) -> Vec<RefRule> {
    let mut out: Vec<RefRule> = Vec::new();
    for r in rules {
        match out
            .iter_mut()
            .find(|o| o.source == r.source && o.target == r.target)
        {
            Some(o) => *o = merge_in_source(o.clone(), r.clone()),
            None => out.push(r.clone()),
        }
    }
    out
}

/// The TAC policy (docs/semantics.md, "GSMA's TAC database"): the status it answers, and
/// the day after which an allocation is caught, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefTacPolicy {
    pub status: RefStatus,
    pub allocated_after: Option<Day>,
}

/// [`answer`], with a TAC database (TAC → allocation day, if known) and, if given, the TAC
/// policy: when no rule applies, a TAC the database does not list, or lists as allocated
/// after the policy's day, answers the policy's status as a `tac` verdict with no source,
/// date or start and the policy's reason text.
pub fn answer_with_tac_db(
    rules: &[RefRule],
    imei: u64,
    imsi: Option<&str>,
    day: Day,
    db: &std::collections::BTreeMap<u32, Option<Day>>,
    policy: Option<RefTacPolicy>,
) -> Option<RefVerdict> {
    if let Some(v) = answer(rules, imei, imsi, day) {
        return Some(v);
    }
    let policy = policy?;
    let tac = (imei / 1_000_000) as u32;
    let reason = match db.get(&tac) {
        None => "TAC not in the TAC database",
        Some(Some(allocated)) if policy.allocated_after.is_some_and(|d| *allocated > d) => {
            "TAC allocated after the policy's date"
        }
        Some(_) => return None,
    };
    Some(RefVerdict {
        status: policy.status,
        earlier: false,
        rule: RefRule {
            target: RefTarget::Tac(tac),
            source: String::new(),
            status: policy.status,
            reasons: vec![reason.to_string()],
            date: None,
            start: None,
            earlier: None,
        },
    })
}
