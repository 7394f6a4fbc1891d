//! proptest strategies for rule sets that collide: rules clustered in a few TACs (two of
//! them adjacent, plus the two extreme TACs), serials near both ends of a TAC, a few IMSIs
//! that share digits, and few distinct dates and reasons, so that duplicates, conflicts,
//! nested and equally wide overlapping ranges, and ranges across TAC boundaries all happen.

use imei_index::{Date, Entry, Imei, Imsi, Reason, Rule, Status, Tac};
use proptest::prelude::*;

/// The TACs rules fall into: the extremes, and a cluster with two adjacent TACs.
pub const TACS: [u32; 5] = [0, 35209900, 35209901, 35209903, 99999999];

/// IMSIs that pair rules use: two share their number but not their digits.
pub const IMSIS: [&str; 4] = ["001010", "01010", "404685505601234", "40468"];

/// An IMSI no rule uses.
pub const OTHER_IMSI: &str = "404685505601299";

pub fn imsis() -> Vec<Imsi> {
    IMSIS
        .iter()
        .chain([&OTHER_IMSI])
        .map(|s| Imsi::parse(s).expect("valid IMSI"))
        .collect()
}

pub fn tac() -> impl Strategy<Value = Tac> {
    prop::sample::select(TACS.to_vec()).prop_map(|t| Tac::from_u32(t).expect("8 digits"))
}

/// A serial near the start or the end of a TAC.
pub fn serial() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0u32..48, 1 => 999_960u32..1_000_000]
}

pub fn imei() -> impl Strategy<Value = Imei> {
    (tac(), serial()).prop_map(|(t, s)| Imei::from_parts(t, s).expect("serial below 10^6"))
}

pub fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

pub fn entry() -> impl Strategy<Value = Entry> {
    let reason = prop::option::weighted(0.5, prop::sample::select(Reason::ALL.to_vec()));
    let date = prop::option::weighted(
        0.5,
        prop::sample::select(vec![0u32, 19_864, 19_865])
            .prop_map(|d| Date::from_days_since_epoch(d).expect("a day before 9999")),
    );
    (status(), reason, date).prop_map(|(status, reason, date)| {
        let mut e = Entry::new(status);
        if let Some(r) = reason {
            e = e.with_reason(r);
        }
        e.date = date;
        e
    })
}

/// A range from a clustered IMEI: a few IMEIs, a few dozen (often crossing into the next
/// TAC), or whole TACs.
pub fn range_rule() -> impl Strategy<Value = Rule> {
    let len = prop_oneof![4 => 0u64..8, 3 => 0u64..64, 1 => 0u64..3_000_000];
    (imei(), len, entry()).prop_map(|(first, len, entry)| {
        let last =
            Imei::from_u64((first.as_u64() + len).min(Imei::MAX.as_u64())).expect("14 digits");
        Rule::range(first, last, entry).expect("first <= last")
    })
}

pub fn rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        3 => (imei(), entry()).prop_map(|(i, e)| Rule::imei(i, e)),
        2 => (imei(), prop::sample::select(IMSIS.to_vec()), entry())
            .prop_map(|(i, s, e)| Rule::pair(i, Imsi::parse(s).expect("valid IMSI"), e)),
        3 => range_rule(),
        1 => (tac(), entry()).prop_map(|(t, e)| Rule::tac(t, e)),
    ]
}

pub fn rules(max: usize) -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(rule(), 0..max)
}
