//! Every surface of the library against the reference model of docs/semantics.md
//! (tests/common/reference.rs), on generated lists with several sources, several reasons,
//! starts and earlier statuses, checked at days before, on and after the starts, with and
//! without IMSIs: `check_at`, `check_with_imsi_at`, `check_many_at` and `check` (today),
//! a file read back from its bytes at every verification level, a layered view of a base
//! and a delta per source, `Apply`, `Merge` of indexes split by source, `diff`, and the
//! rules written as list rows and read back (what `dump` and `build` do).

mod common;

use std::collections::BTreeSet;

use common::reference::{self, RefRule};
use common::strategy::{self, IMSIS, OTHER_IMSI};
use common::{Said, index_said, ref_rule, ref_said, said};
use imei_index::list::{ListReader, format_row};
use imei_index::{
    Apply, Change, Date, DeltaBuilder, DeviceInfo, Entry, Imei, Imsi, Index, IndexBuilder,
    LayeredIndex, Merge, OpenOptions, Reasons, Rule, Source, Status, Tac, TacPolicy, TacTable,
    Verification, diff,
};
use proptest::prelude::*;

/// The sources lists come from; "local" sorts after "dirbs/…" and before "op/…".
const SOURCES: [&str; 3] = ["dirbs/blacklist", "local", "op/a"];
/// Reason texts: two known names, a register's text, and one that needs quotes in a list.
const REASONS: [&str; 4] = [
    "stolen",
    "lost",
    "Duplicate IMEI detected",
    "a, \"quoted\" one",
];
/// Days that dates and starts fall on, and the days checks are made on around them.
const DAYS: [u32; 4] = [19_860, 19_864, 19_865, 19_870];
const STARTS: [u32; 3] = [19_862, 19_864, 19_866];
const CHECK_DAYS: [u32; 7] = [19_861, 19_862, 19_863, 19_864, 19_865, 19_866, 19_867];

fn day(d: u32) -> Date {
    Date::from_days_since_epoch(d).unwrap()
}

fn entry() -> impl Strategy<Value = Entry> {
    let reasons = prop::sample::subsequence(REASONS.to_vec(), 0..=2);
    let date = prop::option::weighted(0.6, prop::sample::select(DAYS.to_vec()));
    let start = prop::option::weighted(0.5, prop::sample::select(STARTS.to_vec()));
    let earlier = prop::option::weighted(0.5, strategy::status());
    (strategy::status(), reasons, date, start, earlier).prop_map(
        |(status, reasons, date, start, earlier)| {
            let mut e = Entry::new(status).with_reasons(Reasons::new(reasons).unwrap());
            e.date = date.map(day);
            if let Some(s) = start {
                e = e.with_start(day(s));
                if let Some(before) = earlier {
                    e = e.with_earlier(before).unwrap();
                }
            }
            e
        },
    )
}

/// Targets in a small space, so that rules of several sources for one target, nested and
/// equally wide ranges are common; now and then the strategy's wider spread.
fn target() -> impl Strategy<Value = imei_index::Target> {
    use imei_index::{Tac, Target};
    let tac = prop::sample::select(vec![35_209_900u32, 35_209_901]);
    let imei = (tac.clone(), 0u32..8)
        .prop_map(|(t, s)| Imei::from_parts(Tac::from_u32(t).unwrap(), s).unwrap());
    let imsi = prop::sample::select(IMSIS[..2].to_vec()).prop_map(|s| Imsi::parse(s).unwrap());
    let width = prop_oneof![Just(0u64), Just(3), Just(7), Just(1_999_999)];
    prop_oneof![
        3 => imei.clone().prop_map(Target::Imei),
        2 => (imei.clone(), imsi).prop_map(|(i, s)| Target::Pair(i, s)),
        3 => (imei, width).prop_map(|(i, w)| Target::Range(i, Imei::from_u64(i.as_u64() + w).unwrap())),
        1 => tac.prop_map(|t| Target::Tac(Tac::from_u32(t).unwrap())),
        1 => strategy::rule().prop_map(|r| r.target()),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    let source = prop::sample::select(SOURCES.to_vec());
    (target(), entry(), source)
        .prop_map(|(t, e, s)| Rule::new(t, e).unwrap().with_source(s.parse().unwrap()))
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(rule(), 0..40)
}

/// IMEIs to check: every listed IMEI and range end ±1, every TAC's first and last IMEI,
/// and a few others.
fn probes(rules: &[Rule]) -> Vec<Imei> {
    let mut points: BTreeSet<u64> = [0, 35_209_900_000_000, 99_999_999_999_999].into();
    for r in rules {
        let ends = match r.target() {
            imei_index::Target::Pair(i, _) | imei_index::Target::Imei(i) => vec![i.as_u64()],
            imei_index::Target::Range(a, b) => vec![a.as_u64(), b.as_u64()],
            imei_index::Target::Tac(t) => vec![t.first_imei().as_u64(), t.last_imei().as_u64()],
        };
        for p in ends {
            points.extend([p.saturating_sub(1), p, p + 1]);
        }
    }
    points
        .into_iter()
        .filter_map(|n| Imei::from_u64(n).ok())
        .collect()
}

fn imsis() -> Vec<Imsi> {
    IMSIS
        .iter()
        .chain([&OTHER_IMSI])
        .map(|s| Imsi::parse(s).unwrap())
        .collect()
}

fn build(rules: &[Rule]) -> Index {
    build_with(rules, false)
}

/// Builds with the exact-IMEI rules in IMEI blocks (today's builds) or, with
/// `transducer`, in the `imei` transducer (builds before the blocks).
fn build_with(rules: &[Rule], transducer: bool) -> Index {
    let mut b = IndexBuilder::new();
    b.imei_transducer(transducer);
    for r in rules {
        b.add(r.clone());
    }
    Index::from_bytes(b.build_to_vec().unwrap().0.into()).unwrap()
}

fn want(model: &[RefRule], imei: Imei, imsi: Option<&Imsi>, d: u32) -> Said {
    let imsi = imsi.map(|s| s.to_string());
    ref_said(reference::answer(
        model,
        imei.as_u64(),
        imsi.as_deref(),
        i64::from(d),
    ))
}

/// Checks `index` against the reference over `rules` on every probe, day and IMSI.
fn assert_index(
    what: &str,
    index: &Index,
    model: &[RefRule],
    imeis: &[Imei],
) -> Result<(), TestCaseError> {
    for d in CHECK_DAYS {
        let many = index.check_many_at(imeis, day(d));
        for (k, &i) in imeis.iter().enumerate() {
            let w = want(model, i, None, d);
            let v = index.check_at(i, day(d));
            prop_assert_eq!(
                &index_said(index, &v),
                &w,
                "{}: check_at({}, {})",
                what,
                i,
                d
            );
            prop_assert_eq!(many[k], v, "{}: check_many_at({}, {})", what, i, d);
            for s in imsis() {
                let v = index.check_with_imsi_at(i, &s, day(d));
                prop_assert_eq!(
                    index_said(index, &v),
                    want(model, i, Some(&s), d),
                    "{}: check_with_imsi_at({}, {}, {})",
                    what,
                    i,
                    s,
                    d
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A built index answers as the reference on every day, with and without IMSIs, through
    /// every check and at every verification level; `check` checks on today.
    #[test]
    fn an_index_answers_as_the_reference(rules in rules()) {
        let model = reference::build(&rules.iter().map(ref_rule).collect::<Vec<_>>());
        let index = build(&rules);
        let imeis = probes(&rules);
        assert_index("built", &index, &model, &imeis)?;
        // Both layouts of the exact-IMEI rules answer alike and hold the same rules.
        let transducer = build_with(&rules, true);
        prop_assert!(transducer.stats().imei_blocks.is_none() && index.stats().imei_blocks.is_some());
        assert_index("built, IMEI transducer", &transducer, &model, &imeis)?;
        prop_assert_eq!(transducer.rules().collect::<Vec<_>>(), index.rules().collect::<Vec<_>>());
        for level in [Verification::Trusted, Verification::Checksums, Verification::Full] {
            let reopened = OpenOptions::new().verification(level).open_bytes(index.as_bytes().clone()).unwrap();
            for &i in &imeis {
                prop_assert_eq!(reopened.check_at(i, day(19_864)), index.check_at(i, day(19_864)));
            }
        }
        let today = Date::today_utc().days_since_epoch();
        for &i in &imeis {
            prop_assert_eq!(index_said(&index, &index.check(i)), want(&model, i, None, today));
        }
        // Rules read back are the rules the reference keeps.
        let mut got: Vec<RefRule> = index.rules().map(|r| ref_rule(&r)).collect();
        let mut kept = model.clone();
        let key = |r: &RefRule| format!("{:?}", r);
        got.sort_by_key(key);
        kept.sort_by_key(key);
        prop_assert_eq!(got, kept);
    }

    /// Rules written as list rows (as `dump` writes them) and read back build an index that
    /// answers the same.
    #[test]
    fn list_rows_round_trip(rules in rules()) {
        let index = build(&rules);
        let text: String = index.rules().map(|r| format_row(&r) + "\n").collect();
        let read: Vec<Rule> = ListReader::new("dump.csv", text.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let again = build(&read);
        prop_assert_eq!(again.rules().collect::<Vec<_>>(), index.rules().collect::<Vec<_>>());
    }

    /// A base with one delta per source layered over it, and the delta applied, answer as
    /// the reference over the rules after the changes; a diff of the two indexes is those
    /// changes.
    #[test]
    fn layers_apply_and_diff_answer_as_the_reference(old in rules(), new in rules(), transducer: bool) {
        // A base of either layout under deltas of today's.
        let base = build_with(&old, transducer);
        let target = build(&new);
        // One delta per source, made by diff.
        let changes: Vec<Change> = diff(&base, &target).collect::<Result<_, _>>().unwrap();
        let mut deltas = Vec::new();
        for s in SOURCES {
            let mut d = DeltaBuilder::new();
            for c in changes.iter().filter(|c| c.source().as_str() == s) {
                d.add(c.clone());
            }
            deltas.push(d.build().unwrap().0);
        }
        let model = reference::build(&new.iter().map(ref_rule).collect::<Vec<_>>());
        let imeis: Vec<Imei> = probes(&old).into_iter().chain(probes(&new)).collect::<BTreeSet<_>>().into_iter().collect();
        let view = LayeredIndex::new(base.clone(), deltas.clone()).unwrap();
        for d in CHECK_DAYS {
            for &i in &imeis {
                let v = view.check_at(i, day(d));
                let got = said(&v, |v| view.source(v).map(|s| s.to_string()), |v| view.reasons(v).iter().map(str::to_string).collect());
                prop_assert_eq!(got, want(&model, i, None, d), "layered check_at({}, {})", i, d);
                for s in imsis() {
                    let v = view.check_with_imsi_at(i, &s, day(d));
                    let got = said(&v, |v| view.source(v).map(|s| s.to_string()), |v| view.reasons(v).iter().map(str::to_string).collect());
                    prop_assert_eq!(got, want(&model, i, Some(&s), d), "layered check_with_imsi_at({}, {}, {})", i, s, d);
                }
            }
        }
        let (bytes, _) = Apply::new(&base, &deltas).build_to_vec().unwrap();
        let applied = OpenOptions::new().verification(Verification::Full).open_bytes(bytes.into()).unwrap();
        assert_index("applied", &applied, &model, &imeis)?;
        prop_assert_eq!(applied.rules().collect::<Vec<_>>(), target.rules().collect::<Vec<_>>());
    }

    /// Indexes of one source each, merged, answer as the reference over all their rules;
    /// merging is building the lists together.
    #[test]
    fn merging_sources_answers_as_the_reference(rules in rules()) {
        let parts: Vec<Index> = SOURCES
            .iter()
            .map(|s| build(&rules.iter().filter(|r| r.source().as_str() == *s).cloned().collect::<Vec<_>>()))
            .collect();
        let inputs: Vec<&Index> = parts.iter().collect();
        let (bytes, _) = Merge::new(&inputs).build_to_vec().unwrap();
        let merged = OpenOptions::new().verification(Verification::Full).open_bytes(bytes.clone().into()).unwrap();
        let model = reference::build(&rules.iter().map(ref_rule).collect::<Vec<_>>());
        assert_index("merged", &merged, &model, &probes(&rules))?;
        let together = build(&rules);
        prop_assert_eq!(bytes, together.as_bytes().to_vec());
    }
}

/// A TAC database over the two TACs the rules use and a third; allocation days around the
/// policy's dates, or none.
fn tac_db() -> impl Strategy<Value = Vec<(u32, Option<u32>)>> {
    let tac = prop::sample::select(vec![35_209_900u32, 35_209_901, 35_209_902]);
    let allocated = prop::option::weighted(
        0.8,
        prop::sample::select(vec![19_000u32, 19_862, 19_863, 19_900]),
    );
    prop::collection::vec((tac, allocated), 0..4)
}

fn tac_policy() -> impl Strategy<Value = Option<(Status, Option<u32>)>> {
    let after = prop::option::weighted(0.5, prop::sample::select(vec![19_862u32, 19_863]));
    prop::option::weighted(
        0.8,
        (
            prop::sample::select(vec![Status::Tracked, Status::Blocked]),
            after,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With a TAC database and a TAC policy (or none), every check of an index, of the index
    /// read back fully verified, of a layered view and of an applied index answers as the
    /// reference: the policy only where no rule applies.
    #[test]
    fn the_tac_policy_answers_as_the_reference(rules in rules(), db in tac_db(), policy in tac_policy()) {
        let mut table = TacTable::new();
        let mut ref_db = std::collections::BTreeMap::new();
        for &(tac, allocated) in &db {
            let info = DeviceInfo { manufacturer: format!("maker {tac}"), allocated: allocated.map(day), ..Default::default() };
            if table.insert(Tac::from_u32(tac).unwrap(), info) {
                ref_db.insert(tac, allocated.map(i64::from));
            }
        }
        let mut b = IndexBuilder::new();
        b.tac_db(table);
        for r in &rules {
            b.add(r.clone());
        }
        let bytes = bytes::Bytes::from(b.build_to_vec().unwrap().0);
        let lib_policy = policy.map(|(s, after)| {
            let p = TacPolicy::new(s);
            after.map_or(p, |d| p.allocated_after(day(d)))
        });
        let ref_policy = policy.map(|(s, after)| reference::RefTacPolicy {
            status: match s { Status::Allowed => reference::RefStatus::Allowed, Status::Tracked => reference::RefStatus::Tracked, Status::Blocked => reference::RefStatus::Blocked },
            allocated_after: after.map(i64::from),
        });
        let model = reference::build(&rules.iter().map(ref_rule).collect::<Vec<_>>());
        let mut imeis: BTreeSet<Imei> = probes(&rules).into_iter().collect();
        for t in [35_209_900u32, 35_209_901, 35_209_902, 35_209_903] {
            let t = Tac::from_u32(t).unwrap();
            imeis.extend([t.first_imei(), t.last_imei()]);
        }
        let imeis: Vec<Imei> = imeis.into_iter().collect();
        let want = |i: Imei, s: Option<&Imsi>, d: u32| {
            let s = s.map(|s| s.to_string());
            ref_said(reference::answer_with_tac_db(&model, i.as_u64(), s.as_deref(), i64::from(d), &ref_db, ref_policy))
        };
        for level in [Verification::Checksums, Verification::Full] {
            let index = OpenOptions::new().verification(level).tac_policy(lib_policy).open_bytes(bytes.clone()).unwrap();
            prop_assert_eq!(index.tac_db_len(), Some(ref_db.len()));
            let view = LayeredIndex::new(index.clone(), Vec::new()).unwrap();
            let (applied, _) = Apply::new(&index, &[]).build_to_vec().unwrap();
            let applied = OpenOptions::new().tac_policy(lib_policy).open_bytes(applied.into()).unwrap();
            for d in [19_861, 19_864, 19_867] {
                let many = index.check_many_at(&imeis, day(d));
                for (k, &i) in imeis.iter().enumerate() {
                    let v = index.check_at(i, day(d));
                    prop_assert_eq!(index_said(&index, &v), want(i, None, d), "check_at({}, {})", i, d);
                    prop_assert_eq!(many[k], v, "check_many_at({}, {})", i, d);
                    prop_assert_eq!(applied.check_at(i, day(d)), v, "applied check_at({}, {})", i, d);
                    let lv = view.check_at(i, day(d));
                    let got = said(&lv, |v| view.source(v).map(|s| s.to_string()), |v| view.reasons(v).iter().map(str::to_string).collect());
                    prop_assert_eq!(got, want(i, None, d), "layered check_at({}, {})", i, d);
                    for s in imsis() {
                        let v = index.check_with_imsi_at(i, &s, day(d));
                        prop_assert_eq!(index_said(&index, &v), want(i, Some(&s), d), "check_with_imsi_at({}, {}, {})", i, s, d);
                    }
                }
            }
        }
    }
}

#[test]
fn a_tac_policy_needs_a_tac_database_and_is_off_unless_asked_for() {
    let unallocated = Imei::parse("49015420323751").unwrap();
    let plain = build(&[]);
    let err = OpenOptions::new()
        .tac_policy(TacPolicy::new(Status::Tracked))
        .open_bytes(plain.as_bytes().clone())
        .unwrap_err();
    assert!(
        err.to_string().contains("holds no TAC database, so the TAC policy (tracked for TACs not in the TAC database) cannot be applied"),
        "{err}"
    );
    let mut b = IndexBuilder::new();
    b.tac_db(TacTable::new());
    let bytes = bytes::Bytes::from(b.build_to_vec().unwrap().0);
    // Off: unknown, though the database lists no TAC at all.
    let off = Index::from_bytes(bytes.clone()).unwrap();
    assert!(!off.check(unallocated).is_listed());
    assert_eq!(off.tac_db_len(), Some(0));
    let on = OpenOptions::new()
        .tac_policy(TacPolicy::new(Status::Blocked))
        .open_bytes(bytes)
        .unwrap();
    let v = on.check(unallocated);
    assert_eq!(v.status(), Some(Status::Blocked));
    assert_eq!(on.source(&v), None);
    assert_eq!(
        on.described(v).reasons.iter().collect::<Vec<_>>(),
        ["TAC not in the TAC database"]
    );
}

#[test]
fn a_notified_handset_is_tracked_until_its_block_date() {
    let imei = Imei::parse("35209900176148").unwrap();
    let notified = Entry::new(Status::Blocked)
        .with_reasons(Reasons::new(["not_registered"]).unwrap())
        .with_date(day(19_875))
        .with_start(day(19_875))
        .with_earlier(Status::Tracked)
        .unwrap();
    let register: Source = "dirbs/notifications/op1".parse().unwrap();
    let index = build(&[Rule::imei(imei, notified).with_source(register)]);
    let v = index.check_at(imei, day(19_874));
    assert_eq!((v.status(), v.is_earlier()), (Some(Status::Tracked), true));
    assert_eq!(v.start(), Some(day(19_875)));
    assert_eq!(index.source(&v), Some("dirbs/notifications/op1"));
    assert_eq!(index.reasons(&v).collect::<Vec<_>>(), ["not_registered"]);
    let v = index.check_at(imei, day(19_875));
    assert_eq!((v.status(), v.is_earlier()), (Some(Status::Blocked), false));
    assert!(index.stats().dated);
}

#[test]
fn no_source_lifts_another_sources_block_but_a_more_specific_rule_does() {
    let imei = Imei::parse("35209900176148").unwrap();
    let imsi = Imsi::parse("404685505601234").unwrap();
    let register: Source = "dirbs/blacklist".parse().unwrap();
    let exceptions: Source = "dirbs/exceptions/op1".parse().unwrap();
    let index = build(&[
        Rule::imei(imei, Entry::new(Status::Blocked)).with_source(register.clone()),
        Rule::imei(imei, Entry::new(Status::Allowed)),
        Rule::pair(imei, imsi, Entry::new(Status::Allowed)).with_source(exceptions),
    ]);
    let v = index.check(imei);
    assert_eq!(
        (v.status(), index.source(&v)),
        (Some(Status::Blocked), Some("dirbs/blacklist"))
    );
    let v = index.check_with_imsi(imei, &imsi);
    assert_eq!(
        (v.status(), index.source(&v)),
        (Some(Status::Allowed), Some("dirbs/exceptions/op1"))
    );
    // The register's unblock (a delta of its source) leaves the operator's rule.
    let mut d = DeltaBuilder::new();
    d.add(Change::Remove(
        imei_index::Target::Imei(imei),
        register,
        None,
    ));
    let view = LayeredIndex::new(index, vec![d.build().unwrap().0]).unwrap();
    let v = view.check(imei);
    assert_eq!(
        (v.status(), view.source(&v).map(Source::as_str)),
        (Some(Status::Allowed), Some("local"))
    );
}

#[test]
fn a_rule_before_its_start_hides_nothing() {
    // A dated range narrower than an undated one: before its start the wider range decides.
    let a = Imei::parse("35209900000000").unwrap();
    let b = Imei::parse("35209900000099").unwrap();
    let (c, e) = (
        Imei::parse("35209900000010").unwrap(),
        Imei::parse("35209900000020").unwrap(),
    );
    let index = build(&[
        Rule::range(a, b, Entry::new(Status::Tracked)).unwrap(),
        Rule::range(c, e, Entry::new(Status::Blocked).with_start(day(19_870))).unwrap(),
        Rule::tac(a.tac(), Entry::new(Status::Allowed)),
    ]);
    let at = Imei::parse("35209900000015").unwrap();
    assert_eq!(
        index.check_at(at, day(19_869)).status(),
        Some(Status::Tracked)
    );
    assert_eq!(
        index.check_at(at, day(19_870)).status(),
        Some(Status::Blocked)
    );
    assert_eq!(
        index.check_at(b, day(19_869)).status(),
        Some(Status::Tracked)
    );
}
