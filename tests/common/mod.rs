//! Helpers shared by the integration tests. Each test crate uses a subset.
#![allow(dead_code)]

use imei_index::{
    BuildSummary, Date, Entry, Imei, Imsi, Index, IndexBuilder, Reason, Rule, Status, Tac,
};

/// Parses an IMEI that the test knows to be valid.
pub fn imei(s: &str) -> Imei {
    Imei::parse(s).unwrap_or_else(|e| panic!("test IMEI {s:?}: {e}"))
}

/// An IMEI from its 14 digits as a number.
pub fn imei_n(n: u64) -> Imei {
    Imei::from_u64(n).unwrap_or_else(|e| panic!("test IMEI {n}: {e}"))
}

/// Parses a TAC that the test knows to be valid.
pub fn tac(s: &str) -> Tac {
    Tac::parse(s).unwrap_or_else(|e| panic!("test TAC {s:?}: {e}"))
}

/// Parses an IMSI that the test knows to be valid.
pub fn imsi(s: &str) -> Imsi {
    Imsi::parse(s).unwrap_or_else(|e| panic!("test IMSI {s:?}: {e}"))
}

/// Parses a date that the test knows to be valid.
pub fn date(s: &str) -> Date {
    s.parse().unwrap_or_else(|e| panic!("test date {s:?}: {e}"))
}

/// An entry with only a status.
pub fn e(status: Status) -> Entry {
    Entry::new(status)
}

/// A range rule that the test knows to be ordered.
pub fn range(first: Imei, last: Imei, entry: Entry) -> Rule {
    Rule::range(first, last, entry).expect("test range in order")
}

/// Builds rules into index bytes.
pub fn build_bytes(rules: &[Rule]) -> (Vec<u8>, BuildSummary) {
    let mut b = IndexBuilder::new();
    for r in rules {
        b.add(r.clone());
    }
    b.build_to_vec().expect("building in memory")
}

/// Builds rules with the exact-IMEI rules in the `imei` transducer, as builds did before
/// the `imei blocks` section (see `IndexBuilder::imei_transducer`).
pub fn build_bytes_transducer(rules: &[Rule]) -> (Vec<u8>, BuildSummary) {
    let mut b = IndexBuilder::new();
    b.imei_transducer(true);
    for r in rules {
        b.add(r.clone());
    }
    b.build_to_vec().expect("building in memory")
}

/// Builds rules into an opened index.
pub fn build(rules: &[Rule]) -> (Index, BuildSummary) {
    let (bytes, summary) = build_bytes(rules);
    let index = Index::from_bytes(bytes.into()).expect("a fresh index opens");
    (index, summary)
}

/// A small index with every kind of rule, every status, reasons and dates, so that every
/// section of the file is non-empty.
pub fn sample_rules() -> Vec<Rule> {
    let blocked = Entry::new(Status::Blocked)
        .with_reason(Reason::Stolen)
        .with_date(date("2024-05-21"));
    vec![
        Rule::tac(
            tac("35209900"),
            Entry::new(Status::Blocked).with_reason(Reason::Counterfeit),
        ),
        Rule::tac(tac("86990037"), e(Status::Tracked)),
        Rule::imei(imei("354178036859789"), blocked),
        Rule::imei(imei("490154203237518"), e(Status::Tracked)),
        Rule::imei(imei("35209900176149"), e(Status::Allowed)),
        Rule::pair(
            imei("352099001761481"),
            imsi("404685505601234"),
            Entry::new(Status::Allowed).with_reason(Reason::Duplicate),
        ),
        Rule::pair(imei("352099001761481"), imsi("00101"), e(Status::Tracked)),
        range(
            imei("35209900100000"),
            imei("35209900199999"),
            Entry::new(Status::Tracked).with_reason(Reason::Duplicate),
        ),
        range(
            imei("35209900150000"),
            imei("35209900150099"),
            e(Status::Allowed),
        ),
        range(
            imei("35417803000000"),
            imei("35417803099999"),
            Entry::new(Status::Blocked).with_date(date("2023-01-02")),
        ),
    ]
}

pub mod reference;
pub mod strategy;

/// The entry behind a verdict of a rule without a start, as `index` holds it: its status,
/// reasons and date.
pub fn entry_of(index: &Index, v: imei_index::Verdict) -> Option<Entry> {
    let mut e = Entry::new(v.status()?).with_reasons(index.reason_set(&v));
    e.date = v.date();
    e.start = v.start();
    Some(e)
}

/// Builds rules into index bytes in the first layout of format 1 (without sources), for
/// tests that craft its sections by hand.
pub fn build_bytes_v1(rules: &[Rule]) -> (Vec<u8>, BuildSummary) {
    let mut b = IndexBuilder::new();
    b.layout_v1(true);
    for r in rules {
        b.add(r.clone());
    }
    b.build_to_vec().expect("building in memory")
}

/// The reference model's rule of a library rule.
pub fn ref_rule(r: &Rule) -> reference::RefRule {
    use reference::{RefRule, RefStatus, RefTarget};
    let status = |s: Status| match s {
        Status::Allowed => RefStatus::Allowed,
        Status::Tracked => RefStatus::Tracked,
        Status::Blocked => RefStatus::Blocked,
    };
    let target = match r.target() {
        imei_index::Target::Pair(i, s) => RefTarget::Pair(i.as_u64(), s.to_string()),
        imei_index::Target::Imei(i) => RefTarget::Imei(i.as_u64()),
        imei_index::Target::Range(a, b) => RefTarget::Range(a.as_u64(), b.as_u64()),
        imei_index::Target::Tac(t) => RefTarget::Tac(t.as_u32()),
    };
    let day = |d: Option<Date>| d.map(|d| i64::from(d.days_since_epoch()));
    RefRule {
        target,
        source: r.source().to_string(),
        status: status(r.entry.status),
        reasons: r.entry.reasons.iter().map(str::to_string).collect(),
        date: day(r.entry.date),
        start: day(r.entry.start),
        earlier: r.entry.earlier_status().map(status),
    }
}

/// A verdict as plain values: status, whether it is the earlier one, kind, source, reasons,
/// date and start (days). Unknown equipment is `None`.
pub type Said = Option<(
    String,
    bool,
    String,
    String,
    Vec<String>,
    Option<i64>,
    Option<i64>,
)>;

/// What the reference answers, as plain values.
pub fn ref_said(v: Option<reference::RefVerdict>) -> Said {
    let v = v?;
    let status = format!("{:?}", v.status).to_lowercase();
    let kind = match v.rule.target {
        reference::RefTarget::Pair(..) => "pair",
        reference::RefTarget::Imei(_) => "imei",
        reference::RefTarget::Range(..) => "range",
        reference::RefTarget::Tac(_) => "tac",
    };
    Some((
        status,
        v.earlier,
        kind.to_string(),
        v.rule.source,
        v.rule.reasons,
        v.rule.date,
        v.rule.start,
    ))
}

/// What a library verdict says, as plain values, its texts resolved by `source` and
/// `reasons` (the index or view that answered).
pub fn said(
    v: &imei_index::Verdict,
    source: impl FnOnce(&imei_index::Verdict) -> Option<String>,
    reasons: impl FnOnce(&imei_index::Verdict) -> Vec<String>,
) -> Said {
    let status = v.status()?;
    Some((
        status.as_str().to_string(),
        v.is_earlier(),
        v.rule()?.as_str().to_string(),
        source(v).unwrap_or_default(),
        reasons(v),
        v.date().map(|d| i64::from(d.days_since_epoch())),
        v.start().map(|d| i64::from(d.days_since_epoch())),
    ))
}

/// What an index's verdict says, as plain values.
pub fn index_said(index: &Index, v: &imei_index::Verdict) -> Said {
    said(
        v,
        |v| index.source(v).map(str::to_string),
        |v| index.reasons(v).map(str::to_string).collect(),
    )
}
