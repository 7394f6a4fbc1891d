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
