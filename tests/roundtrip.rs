//! Round trips through files and lists: build → file → open, build → rules → list → build,
//! atomic replacement under a reader, and one index shared by threads.

mod common;

use common::{build, build_bytes, sample_rules, strategy};
use imei_index::list::ListReader;
use imei_index::synth::{NationalList, probes, write_list};
use imei_index::{Imei, Index, IndexBuilder, OpenOptions, Rule, RuleKind, Status, Verification};
use proptest::prelude::*;

/// Writes rules as a list file and reads them back through a builder.
fn through_list(rules: &[Rule]) -> Vec<u8> {
    let mut text = Vec::new();
    write_list(&mut text, rules).unwrap();
    let mut b = IndexBuilder::new();
    b.add_list(ListReader::new("dump.csv", &text[..]), Err)
        .unwrap();
    b.build_to_vec().unwrap().0
}

#[test]
fn a_file_built_on_disk_is_the_file_built_in_memory() {
    let rules = sample_rules();
    let (in_memory, summary) = build_bytes(&rules);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("national.imeiidx");
    let mut b = IndexBuilder::new();
    for r in &rules {
        b.add(r.clone());
    }
    let file_summary = b.build_to_file(&path).unwrap();
    assert_eq!(file_summary, summary);
    assert_eq!(std::fs::read(&path).unwrap(), in_memory);
    assert_eq!(summary.index_bytes, in_memory.len() as u64);

    for level in [
        Verification::Trusted,
        Verification::Checksums,
        Verification::Full,
    ] {
        let index = OpenOptions::new()
            .verification(level)
            .populate(true)
            .advise_random(true)
            .open(&path)
            .unwrap();
        assert_eq!(index.as_bytes().as_ref(), in_memory.as_slice());
        assert_eq!(index.rules().count() as u64, summary.rules_written);
    }
    // Nothing but the index is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["national.imeiidx"]);
}

#[test]
fn replacing_an_index_leaves_open_readers_on_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.imeiidx");
    let handset = common::imei("354178036859789");
    let mut b = IndexBuilder::new();
    b.add(Rule::imei(handset, common::e(Status::Blocked)));
    b.build_to_file(&path).unwrap();
    let old = Index::open(&path).unwrap();

    let mut b = IndexBuilder::new();
    b.add(Rule::imei(handset, common::e(Status::Allowed)));
    b.build_to_file(&path).unwrap();
    let new = Index::open(&path).unwrap();

    // The mapped old file is untouched: it still answers what it said.
    assert_eq!(old.check(handset).status(), Some(Status::Blocked));
    assert_eq!(new.check(handset).status(), Some(Status::Allowed));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn building_into_a_missing_directory_is_an_io_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/x.imeiidx");
    let err = IndexBuilder::new().build_to_file(&path).unwrap_err();
    assert!(matches!(err, imei_index::Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("x.imeiidx"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_national_list_round_trips_through_a_dump() {
    let list = NationalList::generate(2024);
    let (index, summary) = build(&list.rules);
    assert_eq!(summary.rules_in, list.rules.len() as u64);
    assert_eq!(
        summary.rows_read(),
        summary.rules_written + summary.merged + summary.rejected
    );
    // Every individually blocked handset is blocked by its own rule or a more specific
    // one; every pair exception is allowed with its SIM and blocked without it.
    for &i in &list.blocked {
        let v = index.check(i);
        assert_eq!(v.status(), Some(Status::Blocked), "{i}");
    }
    for &(i, s) in &list.pairs {
        assert_eq!(index.check_with_imsi(i, &s).rule(), Some(RuleKind::Pair));
        assert_eq!(index.check(i).rule(), Some(RuleKind::Tac));
    }
    // Unlisted handsets from the same models are unknown unless a range covers them.
    let unlisted = probes(&list.blocked, 2000, 0.0, 1);
    for i in unlisted {
        let v = index.check(i);
        let in_range = list.ranges.iter().any(|&(a, b)| a <= i && i <= b);
        assert_eq!(v.is_listed(), in_range, "{i}");
    }

    // build → rules → list → build gives the same file.
    let rules: Vec<Rule> = index.rules().collect();
    assert_eq!(rules.len() as u64, summary.rules_written);
    assert!(through_list(&rules) == index.as_bytes().as_ref());
}

#[test]
fn one_index_serves_many_threads() {
    let list = NationalList::generate(5);
    let (index, _) = build(&list.rules);
    let probes: Vec<Imei> = probes(&list.blocked, 4000, 0.5, 9);
    let want = index.check_many(&probes);
    std::thread::scope(|s| {
        for t in 0..4 {
            let index = &index;
            let probes = &probes;
            let want = &want;
            s.spawn(move || {
                for (i, p) in probes.iter().enumerate().skip(t) {
                    assert_eq!(index.check(*p), want[i]);
                }
            });
        }
        // Clones share the bytes and answer the same.
        let clone = index.clone();
        let (probes, want) = (&probes, &want);
        s.spawn(move || assert_eq!(&clone.check_many(probes), want));
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any rule set written as a list and read back builds the same index, and so does
    /// the index's own dump.
    #[test]
    fn lists_round_trip(rules in strategy::rules(40)) {
        let (direct, _) = build_bytes(&rules);
        prop_assert!(through_list(&rules) == direct);
        let index = Index::from_bytes(direct.clone().into()).unwrap();
        let dumped: Vec<Rule> = index.rules().collect();
        prop_assert!(through_list(&dumped) == direct);
    }
}
