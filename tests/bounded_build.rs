//! Builds within a memory bound spill sorted runs to disk and merge them, and write the
//! very bytes that an in-memory build writes; progress is reported phase by phase.

use std::sync::{Arc, Mutex};

use imei_index::synth::{ListShape, Rng, random_imsi};
use imei_index::{BuildPhase, Entry, Imei, Index, IndexBuilder, Progress, Reason, Rule, Status};
use imei_index::{Date, Tac};

/// An unsorted list with duplicates and conflicts, pairs, ranges and TAC rules.
fn rules(n: u64, seed: u64) -> Vec<Rule> {
    let shape = ListShape::new(n, seed);
    let mut rng = Rng::new(seed);
    let mut rules = Vec::new();
    let entry = |rng: &mut Rng| {
        let status = Status::ALL[rng.below(3) as usize];
        let e = Entry::new(status).with_reason(Reason::ALL[rng.below(6) as usize]);
        if rng.chance(0.5) {
            e.with_date(Date::from_days_since_epoch(19_000 + rng.below(400) as u32).unwrap())
        } else {
            e
        }
    };
    let listed: Vec<Imei> = shape.imeis_unsorted(seed).collect();
    for &i in &listed {
        rules.push(Rule::imei(i, entry(&mut rng)));
        if rng.chance(0.05) {
            // The same IMEI again, perhaps with another status.
            rules.push(Rule::imei(i, entry(&mut rng)));
        }
        if rng.chance(0.1) {
            rules.push(Rule::pair(i, random_imsi(&mut rng), entry(&mut rng)));
        }
    }
    for _ in 0..20 {
        let a = listed[rng.below(listed.len() as u64) as usize];
        let b = Imei::from_u64((a.as_u64() + rng.below(5_000)).min(Imei::MAX.as_u64())).unwrap();
        rules.push(Rule::range(a, b, entry(&mut rng)).unwrap());
        rules.push(Rule::tac(a.tac(), entry(&mut rng)));
    }
    rules.push(Rule::tac(
        Tac::from_u32(86_990_000).unwrap(),
        entry(&mut rng),
    ));
    rules
}

#[test]
fn spilled_builds_write_the_same_bytes() {
    let rules = rules(40_000, 3);
    let mut memory = IndexBuilder::new();
    for r in &rules {
        memory.add(r.clone());
    }
    let (expected, expected_summary) = memory.build_to_vec().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let mut bounded = IndexBuilder::new();
    let log = Arc::clone(&seen);
    // 64 KiB: about 4,000 IMEI rules per run, so a dozen runs and more.
    bounded
        .memory_limit(64 * 1024)
        .temp_dir(dir.path())
        .progress(move |p| log.lock().unwrap().push(p));
    for r in &rules {
        bounded.add(r.clone());
    }
    let out = dir.path().join("list.imeiidx");
    let summary = bounded.build_to_file(&out).unwrap();
    assert_eq!(summary, expected_summary);
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    assert!(summary.merged > 0 && summary.conflicts > 0);
    assert_eq!(
        summary.rows_read(),
        summary.rules_written + summary.merged + summary.rejected
    );
    // The runs are gone: only the index is left.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");

    let seen = seen.lock().unwrap();
    let spills = seen
        .iter()
        .filter(|p| p.phase == BuildPhase::Spilling)
        .count();
    assert!(spills >= 10, "{spills} spills");
    // Phases come in order, and each ends done.
    assert!(seen.windows(2).all(|w| w[0].phase <= w[1].phase));
    for phase in [BuildPhase::Resolving, BuildPhase::Writing] {
        let last = seen.iter().rev().find(|p| p.phase == phase).unwrap();
        assert_eq!(last.done, last.total, "{phase:?}");
    }
    let writing = seen
        .iter()
        .rev()
        .find(|p| p.phase == BuildPhase::Writing)
        .unwrap();
    assert_eq!(writing.total, summary.rules_written);
}

#[test]
fn bounded_builds_answer_like_unbounded_ones() {
    let rules = rules(5_000, 9);
    let dir = tempfile::tempdir().unwrap();
    let mut b = IndexBuilder::new();
    b.memory_limit(0).temp_dir(dir.path()); // raised to the minimum
    for r in &rules {
        b.add(r.clone());
    }
    let index = Index::from_bytes(b.build_to_vec().unwrap().0.into()).unwrap();
    let mut m = IndexBuilder::new();
    for r in &rules {
        m.add(r.clone());
    }
    let model = Index::from_bytes(m.build_to_vec().unwrap().0.into()).unwrap();
    assert_eq!(
        index.rules().collect::<Vec<_>>(),
        model.rules().collect::<Vec<_>>()
    );
}

#[test]
fn a_missing_temp_dir_fails_the_build_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = IndexBuilder::new();
    b.memory_limit(64 * 1024)
        .temp_dir(dir.path().join("does-not-exist"));
    for imei in ListShape::new(20_000, 1).imeis() {
        b.add(Rule::imei(imei, Entry::new(Status::Blocked)));
    }
    let err = b.build_to_vec().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("does-not-exist"), "{msg}");
}
