//! The index against a simple model: a plain `Vec<Rule>` scanned for every check.
//!
//! The model implements product.md's precedence directly: rules for one target merge to the
//! greatest (status, date, reason); a check takes the pair rule for (IMEI, IMSI), else the
//! exact IMEI rule, else the narrowest containing range (equally wide: greater precedence,
//! then earlier start), else the TAC rule, else unknown.

mod common;

use std::collections::BTreeMap;

use common::strategy;
use imei_index::{
    Date, Entry, Imei, Imsi, IndexBuilder, OpenOptions, Rule, RuleCounts, RuleKind, Status, Target,
    Verdict, Verification,
};
use proptest::prelude::*;

/// The order in which entries for one target are resolved: the greatest wins.
/// The order of entries merged for one target (docs/semantics.md): the most severe status,
/// then the latest date, then the greater reasons, compared as texts.
fn precedence(e: &Entry) -> (Status, Option<Date>, imei_index::Reasons) {
    (e.status, e.date, e.reasons.clone())
}

/// What the builder should make of a list of rules.
struct Model {
    /// One rule per target, the winner of its duplicates.
    rules: Vec<Rule>,
    merged: u64,
    conflicts: u64,
}

impl Model {
    fn new(input: &[Rule]) -> Model {
        let mut by_target: BTreeMap<Target, Vec<Entry>> = BTreeMap::new();
        for r in input {
            by_target
                .entry(r.target())
                .or_default()
                .push(r.entry.clone());
        }
        let mut rules = Vec::new();
        let (mut merged, mut conflicts) = (0, 0);
        for (target, entries) in by_target {
            let winner = entries
                .iter()
                .max_by_key(|e| precedence(e))
                .unwrap()
                .clone();
            merged += entries.len() as u64 - 1;
            conflicts += entries.iter().filter(|e| e.status != winner.status).count() as u64;
            rules.push(rule_with(target, winner));
        }
        // BTreeMap order is Target order: kind by kind (pair, IMEI, range, TAC), each in
        // the order of its keys, which is the order `Index::rules` promises.
        Model {
            rules,
            merged,
            conflicts,
        }
    }

    fn check(&self, imei: Imei, imsi: Option<Imsi>) -> Verdict {
        let find = |want: Target| self.rules.iter().find(|r| r.target() == want);
        if let Some(s) = imsi
            && let Some(r) = find(Target::Pair(imei, s))
        {
            return Verdict::listed(RuleKind::Pair, &r.entry);
        }
        if let Some(r) = find(Target::Imei(imei)) {
            return Verdict::listed(RuleKind::Imei, &r.entry);
        }
        let best_range = self
            .rules
            .iter()
            .filter_map(|r| match r.target() {
                Target::Range(a, b) if a <= imei && imei <= b => Some((a, b, r.entry.clone())),
                _ => None,
            })
            .min_by(|x, y| {
                let width = |r: &(Imei, Imei, Entry)| r.1.as_u64() - r.0.as_u64();
                width(x)
                    .cmp(&width(y))
                    .then_with(|| (y.2.status, y.2.date).cmp(&(x.2.status, x.2.date)))
                    .then_with(|| x.0.cmp(&y.0))
            });
        if let Some((_, _, entry)) = best_range {
            return Verdict::listed(RuleKind::Range, &entry);
        }
        if let Some(r) = find(Target::Tac(imei.tac())) {
            return Verdict::listed(RuleKind::Tac, &r.entry);
        }
        Verdict::unknown()
    }

    fn counts(&self) -> BTreeMap<(RuleKind, u8), u64> {
        let mut c = BTreeMap::new();
        for r in &self.rules {
            *c.entry((r.kind(), r.entry.status.s13_code())).or_default() += 1;
        }
        c
    }
}

fn rule_with(target: Target, entry: Entry) -> Rule {
    match target {
        Target::Pair(i, s) => Rule::pair(i, s, entry),
        Target::Imei(i) => Rule::imei(i, entry),
        Target::Range(a, b) => Rule::range(a, b, entry).unwrap(),
        Target::Tac(t) => Rule::tac(t, entry),
    }
}

fn counts_of(c: &RuleCounts) -> BTreeMap<(RuleKind, u8), u64> {
    let mut m = BTreeMap::new();
    for kind in RuleKind::ALL {
        for status in Status::ALL {
            let n = c.get(kind, status);
            if n > 0 {
                m.insert((kind, status.s13_code()), n);
            }
        }
    }
    m
}

fn imei_at(n: i128) -> Option<Imei> {
    u64::try_from(n).ok().and_then(|n| Imei::from_u64(n).ok())
}

/// IMEIs where answers can change: every rule's IMEIs, range ends and TAC ends, each ±1,
/// plus extra random ones.
fn probes(rules: &[Rule], extra: &[Imei]) -> Vec<Imei> {
    let mut points: Vec<u64> = Vec::new();
    for r in rules {
        match r.target() {
            Target::Pair(i, _) | Target::Imei(i) => points.push(i.as_u64()),
            Target::Range(a, b) => points.extend([a.as_u64(), b.as_u64()]),
            Target::Tac(t) => points.extend([t.first_imei().as_u64(), t.last_imei().as_u64()]),
        }
    }
    points.extend([0, Imei::MAX.as_u64()]);
    let mut out: Vec<Imei> = points
        .iter()
        .flat_map(|&p| [-1i128, 0, 1].map(|d| imei_at(i128::from(p) + d)))
        .flatten()
        .chain(extra.iter().copied())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

thread_local! {
    /// Whether `build` writes the exact-IMEI rules in the `imei` transducer, as builds did
    /// before IMEI blocks, rather than in blocks.
    static TRANSDUCER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn build(rules: &[Rule]) -> (Vec<u8>, imei_index::BuildSummary) {
    let mut b = IndexBuilder::new();
    b.imei_transducer(TRANSDUCER.get());
    for r in rules {
        b.add(r.clone());
    }
    b.build_to_vec().unwrap()
}

fn check_against_model(rules: &[Rule], extra: &[Imei]) -> Result<(), TestCaseError> {
    let model = Model::new(rules);
    let (bytes, summary) = build(rules);

    // The summary accounts for every rule.
    prop_assert_eq!(summary.rules_in, rules.len() as u64);
    prop_assert_eq!(summary.rules_written, model.rules.len() as u64);
    prop_assert_eq!(summary.merged, model.merged);
    prop_assert_eq!(summary.conflicts, model.conflicts);
    prop_assert_eq!(summary.rejected, 0);
    prop_assert_eq!(
        summary.rows_read(),
        summary.rules_written + summary.merged + summary.rejected
    );
    prop_assert_eq!(summary.index_bytes, bytes.len() as u64);

    // A built index passes the strictest verification.
    let index = OpenOptions::new()
        .verification(Verification::Full)
        .open_bytes(bytes.clone().into())
        .unwrap();

    // Counts by kind and status.
    prop_assert_eq!(counts_of(&index.stats().counts), model.counts());
    prop_assert_eq!(counts_of(&summary.counts), model.counts());
    prop_assert_eq!(index.stats().file_bytes, bytes.len() as u64);

    // The index holds exactly the resolved rules, in key order.
    let listed: Vec<Rule> = index.rules().collect();
    prop_assert_eq!(&listed, &model.rules);

    // Every probe, alone and with every IMSI, answers as the model does.
    let imsis = strategy::imsis();
    let points = probes(rules, extra);
    let many = index.check_many(&points);
    for (&p, v) in points.iter().zip(&many) {
        let want = model.check(p, None);
        prop_assert_eq!(index.check(p), want, "check({})", p);
        prop_assert_eq!(*v, want, "check_many at {}", p);
        for s in &imsis {
            prop_assert_eq!(
                index.check_with_imsi(p, s),
                model.check(p, Some(*s)),
                "check_with_imsi({}, {})",
                p,
                s
            );
        }
    }

    // Rebuilding from the index's own rules gives the same file, byte for byte.
    let (again, again_summary) = build(&listed);
    prop_assert!(again == bytes, "rebuild from rules() differs");
    prop_assert_eq!(again_summary.merged, 0);

    // Input order does not matter either.
    let mut reversed = rules.to_vec();
    reversed.reverse();
    prop_assert!(
        build(&reversed).0 == bytes,
        "reversed input builds another file"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_index_answers_as_the_model(
        rules in strategy::rules(40),
        extra in prop::collection::vec(strategy::imei(), 0..16),
        transducer: bool,
    ) {
        TRANSDUCER.set(transducer);
        check_against_model(&rules, &extra)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Larger, denser rule sets: many ranges overlapping in few TACs.
    #[test]
    fn the_index_answers_as_the_model_on_dense_sets(
        rules in prop::collection::vec(
            prop_oneof![3 => strategy::range_rule(), 1 => strategy::rule()],
            100..300,
        ),
        extra in prop::collection::vec(strategy::imei(), 0..64),
        transducer: bool,
    ) {
        TRANSDUCER.set(transducer);
        check_against_model(&rules, &extra)?;
    }
}

/// The model itself, on a case worked out by hand, so that a wrong model cannot make the
/// property tests agree with a wrong index.
#[test]
fn the_model_follows_the_precedence_rules() {
    use common::{e, imei_n, range};
    let t = imei_index::Tac::from_u32(35209900).unwrap();
    let base = t.first_imei().as_u64();
    let sim = Imsi::parse("00101").unwrap();
    let rules = [
        Rule::tac(t, e(Status::Blocked)),
        range(imei_n(base + 10), imei_n(base + 30), e(Status::Tracked)),
        range(imei_n(base + 20), imei_n(base + 25), e(Status::Allowed)),
        range(imei_n(base + 24), imei_n(base + 29), e(Status::Blocked)),
        Rule::imei(imei_n(base + 22), e(Status::Blocked)),
        Rule::imei(imei_n(base + 22), e(Status::Tracked)),
        Rule::pair(imei_n(base + 22), sim, e(Status::Allowed)),
    ];
    let m = Model::new(&rules);
    assert_eq!((m.rules.len(), m.merged, m.conflicts), (6, 1, 1));
    let status = |off: u64, imsi: Option<Imsi>| {
        let v = m.check(imei_n(base + off), imsi);
        (v.rule(), v.status())
    };
    use RuleKind as K;
    use Status as S;
    assert_eq!(status(9, None), (Some(K::Tac), Some(S::Blocked)));
    assert_eq!(status(10, None), (Some(K::Range), Some(S::Tracked)));
    assert_eq!(status(21, None), (Some(K::Range), Some(S::Allowed)));
    assert_eq!(status(22, None), (Some(K::Imei), Some(S::Blocked)));
    assert_eq!(status(22, Some(sim)), (Some(K::Pair), Some(S::Allowed)));
    // 24 and 25 lie in two ranges of width 5: the blocked one has greater precedence.
    assert_eq!(status(24, None), (Some(K::Range), Some(S::Blocked)));
    assert_eq!(status(26, None), (Some(K::Range), Some(S::Blocked)));
    assert_eq!(status(30, None), (Some(K::Range), Some(S::Tracked)));
    assert_eq!(status(31, None), (Some(K::Tac), Some(S::Blocked)));
    assert_eq!(m.check(imei_n(base - 1), None), Verdict::unknown());
}
