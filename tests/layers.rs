//! Diff, apply, merge and layered views, against a simple model of rule sets.
//!
//! The model is a map from target to entry, and a check is a scan of it for the most
//! specific matching rule. Rule sets are drawn from a small space (two TACs, a few dozen
//! serials, two IMSIs) so that targets collide, ranges nest and deltas hit listed rules.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use imei_index::list::{DeltaReader, format_change};
use imei_index::{
    Apply, Change, Date, Delta, DeltaBuilder, Entry, Imei, Imsi, Index, IndexBuilder, LayeredIndex,
    Merge, Precedence, Reason, Rule, RuleKind, Status, Tac, Target, Verdict, diff,
};
use proptest::prelude::*;

const TACS: [u64; 2] = [35_209_900, 86_000_001];
const SERIALS: u64 = 40;

type Model = BTreeMap<Target, Entry>;

fn imei(tac: usize, snr: u64) -> Imei {
    Imei::from_u64(TACS[tac] * 1_000_000 + snr).unwrap()
}

fn imsis() -> [Imsi; 2] {
    [
        Imsi::parse("404685505601234").unwrap(),
        Imsi::parse("31026").unwrap(),
    ]
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (0usize..3, 0u8..3, prop::option::of(0u32..3)).prop_map(|(s, r, d)| {
        let mut e = Entry::new(Status::ALL[s]);
        if r > 0 {
            e = e.with_reason(Reason::from_code(r).unwrap());
        }
        if let Some(d) = d {
            e = e.with_date(Date::from_days_since_epoch(19_000 + d).unwrap());
        }
        e
    })
}

fn arb_target() -> impl Strategy<Value = Target> {
    let tac = 0usize..2;
    prop_oneof![
        4 => (tac.clone(), 0..SERIALS).prop_map(|(t, s)| Target::Imei(imei(t, s))),
        2 => (tac.clone(), 0..SERIALS, 0usize..2)
            .prop_map(|(t, s, i)| Target::Pair(imei(t, s), imsis()[i])),
        3 => (tac.clone(), 0..SERIALS, 0..SERIALS / 2)
            .prop_map(|(t, s, w)| Target::Range(imei(t, s), imei(t, (s + w).min(SERIALS)))),
        1 => tac.prop_map(|t| Target::Tac(Tac::parse(&TACS[t].to_string()).unwrap())),
    ]
}

fn arb_model(max: usize) -> impl Strategy<Value = Model> {
    prop::collection::btree_map(arb_target(), arb_entry(), 0..max)
}

fn arb_change() -> impl Strategy<Value = Change> {
    (arb_target(), arb_entry(), 0..3).prop_map(|(t, e, op)| match op {
        0 => Change::Add(Rule::new(t, e).unwrap()),
        1 => Change::Change(Rule::new(t, e).unwrap()),
        _ => Change::Remove(t, imei_index::Source::local(), None),
    })
}

fn build(model: &Model, serial: u64) -> (Vec<u8>, Index) {
    let mut b = IndexBuilder::new();
    b.serial(serial);
    for (t, e) in model {
        b.add(Rule::new(*t, e.clone()).unwrap());
    }
    let (bytes, _) = b.build_to_vec().unwrap();
    let index = Index::from_bytes(bytes.clone().into()).unwrap();
    (bytes, index)
}

fn rules_of(index: &Index) -> Model {
    index.rules().map(|r| (r.target(), r.entry)).collect()
}

fn apply_changes(model: &mut Model, changes: &[Change]) {
    for c in changes {
        match c {
            Change::Add(r) | Change::Change(r) => {
                model.insert(r.target(), r.entry.clone());
            }
            Change::Remove(t, _, _) => {
                model.remove(t);
            }
        }
    }
}

/// The model's answer: the most specific matching rule, by a scan.
fn model_check(model: &Model, imei: Imei, imsi: Option<&Imsi>) -> Verdict {
    if let Some(imsi) = imsi
        && let Some(e) = model.get(&Target::Pair(imei, *imsi))
    {
        return Verdict::listed(RuleKind::Pair, e);
    }
    if let Some(e) = model.get(&Target::Imei(imei)) {
        return Verdict::listed(RuleKind::Imei, e);
    }
    let narrowest = model
        .iter()
        .filter_map(|(t, e)| match t {
            Target::Range(a, b) if (*a..=*b).contains(&imei) => Some((*a, *b, e.clone())),
            _ => None,
        })
        // docs/semantics.md, rules 3 to 5: the narrowest, then the most severe status, the
        // latest date (one source here), then the range that starts first.
        .max_by_key(|(a, b, e)| {
            (
                Reverse(b.as_u64() - a.as_u64()),
                (e.status, e.date),
                Reverse(*a),
            )
        });
    if let Some((_, _, e)) = narrowest {
        return Verdict::listed(RuleKind::Range, &e);
    }
    match model.get(&Target::Tac(imei.tac())) {
        Some(e) => Verdict::listed(RuleKind::Tac, e),
        None => Verdict::unknown(),
    }
}

/// Every IMEI of the space (and a few past it), with and without each IMSI.
fn probes() -> impl Iterator<Item = (Imei, Option<Imsi>)> {
    let [a, b] = imsis();
    (0..2).flat_map(move |t| {
        (0..SERIALS + 3).flat_map(move |s| {
            [
                (imei(t, s), None),
                (imei(t, s), Some(a)),
                (imei(t, s), Some(b)),
            ]
        })
    })
}

fn delta_of(changes: &[Change]) -> Delta {
    let mut b = DeltaBuilder::new();
    for c in changes {
        b.add(c.clone());
    }
    b.build().unwrap().0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Diff, written as a delta list and read back, applied to the old index, gives the
    /// new index: the same rules and the same bytes.
    #[test]
    fn diff_then_apply_gives_the_new_index(old in arb_model(30), new in arb_model(30)) {
        let (_, old_index) = build(&old, 1);
        let (new_bytes, new_index) = build(&new, 2);
        let changes: Vec<Change> = diff(&old_index, &new_index).collect::<Result<_, _>>().unwrap();
        // Every change is needed, and the counts add up.
        let adds = changes.iter().filter(|c| matches!(c, Change::Add(_))).count();
        let removes = changes.iter().filter(|c| matches!(c, Change::Remove(..))).count();
        prop_assert_eq!(old.len() + adds - removes, new.len());
        let mut model = old.clone();
        apply_changes(&mut model, &changes);
        prop_assert_eq!(&model, &new);

        let csv: String = changes.iter().map(|c| format_change(c) + "\n").collect();
        let mut b = DeltaBuilder::new();
        b.add_list(DeltaReader::new("delta.csv", csv.as_bytes()), Err).unwrap();
        let (delta, summary) = b.build().unwrap();
        prop_assert_eq!(summary.changes_in as usize, changes.len());
        let deltas = [delta];
        let (bytes, s) = Apply::new(&old_index, &deltas).serial(2).build_to_vec().unwrap();
        prop_assert_eq!(s.rules_written, s.base_rules + s.added - s.removed);
        prop_assert_eq!((s.added as usize, s.removed as usize, s.missing), (adds, removes, 0));
        prop_assert_eq!(&bytes, &new_bytes);
        // A diff of an index with itself is empty.
        prop_assert_eq!(diff(&new_index, &new_index).count(), 0);
    }

    /// Checks through layers agree with the model, with the folded index, and with an
    /// index built from scratch; folding gives that index's bytes.
    #[test]
    fn layers_answer_like_the_folded_index(
        base in arb_model(40),
        deltas in prop::collection::vec(prop::collection::vec(arb_change(), 0..12), 1..4),
    ) {
        let (_, base_index) = build(&base, 10);
        let mut model = base.clone();
        for d in &deltas {
            apply_changes(&mut model, d);
        }
        let layers: Vec<Delta> = deltas.iter().map(|d| delta_of(d)).collect();
        let view = LayeredIndex::new(base_index, layers).unwrap();
        prop_assert_eq!(view.serial(), 10 + deltas.len() as u64);
        let (folded_bytes, summary) = view.compact_to_vec().unwrap();
        let folded = Index::from_bytes(folded_bytes.clone().into()).unwrap();
        let (fresh_bytes, _) = build(&model, view.serial());
        prop_assert_eq!(&folded_bytes, &fresh_bytes);
        prop_assert_eq!(rules_of(&folded), model.clone());
        prop_assert_eq!(summary.rules_written, summary.base_rules + summary.added - summary.removed);
        for (imei, imsi) in probes() {
            let want = model_check(&model, imei, imsi.as_ref());
            let (layered, compact) = match &imsi {
                Some(s) => (view.check_with_imsi(imei, s), folded.check_with_imsi(imei, s)),
                None => (view.check(imei), folded.check(imei)),
            };
            prop_assert_eq!(layered, want, "layered {} {:?}", imei, imsi);
            prop_assert_eq!(compact, want, "folded {} {:?}", imei, imsi);
        }
    }

    /// Merging indexes gives the union of their rules, the winner chosen by precedence;
    /// by severity it is the same index as building their rules together.
    #[test]
    fn merge_follows_its_precedence(inputs in prop::collection::vec(arb_model(20), 1..4)) {
        let built: Vec<(Vec<u8>, Index)> =
            inputs.iter().enumerate().map(|(i, m)| build(m, i as u64 + 5)).collect();
        let refs: Vec<&Index> = built.iter().map(|b| &b.1).collect();

        let (bytes, s) = Merge::new(&refs).build_to_vec().unwrap();
        let mut together = IndexBuilder::new();
        together.serial(inputs.len() as u64 + 4);
        for m in &inputs {
            for (t, e) in m {
                together.add(Rule::new(*t, e.clone()).unwrap());
            }
        }
        let (want_bytes, want) = together.build_to_vec().unwrap();
        prop_assert_eq!(&bytes, &want_bytes);
        prop_assert_eq!((s.merged, s.conflicts), (want.merged, want.conflicts));
        prop_assert_eq!(s.rules_in, s.rules_written + s.merged);

        let (bytes, _) = Merge::new(&refs).precedence(Precedence::Order).build_to_vec().unwrap();
        let mut first_wins = Model::new();
        for m in &inputs {
            for (t, e) in m {
                first_wins.entry(*t).or_insert(e.clone());
            }
        }
        prop_assert_eq!(rules_of(&Index::from_bytes(bytes.into()).unwrap()), first_wins);
    }
}

fn one_rule_index(rule: Rule, serial: u64) -> Index {
    let mut b = IndexBuilder::new();
    b.serial(serial);
    b.add(rule);
    Index::from_bytes(b.build_to_vec().unwrap().0.into()).unwrap()
}

#[test]
fn merge_precedence_cases() {
    let i = imei(0, 7);
    let day = |d| Date::from_days_since_epoch(d).unwrap();
    let own = one_rule_index(Rule::imei(i, Entry::new(Status::Allowed)), 3);
    let national = one_rule_index(
        Rule::imei(i, Entry::new(Status::Blocked).with_reason(Reason::Stolen)),
        9,
    );
    let gsma = one_rule_index(
        Rule::imei(i, Entry::new(Status::Tracked).with_date(day(5))),
        4,
    );
    let merged = |inputs: &[&Index], p| {
        let (bytes, s) = Merge::new(inputs).precedence(p).build_to_vec().unwrap();
        (Index::from_bytes(bytes.into()).unwrap(), s)
    };
    // Severity: blocked beats tracked beats allowed, whatever the order.
    for inputs in [[&own, &national, &gsma], [&gsma, &own, &national]] {
        let (m, s) = merged(&inputs, Precedence::Severity);
        assert_eq!(m.check(i).status(), Some(Status::Blocked));
        assert_eq!(m.check(i).reason(), Some(Reason::Stolen));
        assert_eq!(
            (s.rules_in, s.rules_written, s.merged, s.conflicts),
            (3, 1, 2, 2)
        );
        assert_eq!(m.serial(), 9, "the greatest input serial");
    }
    // Order: the first input that lists the target wins.
    let (m, _) = merged(&[&own, &national, &gsma], Precedence::Order);
    assert_eq!(m.check(i).status(), Some(Status::Allowed));
    let (m, _) = merged(&[&gsma, &own, &national], Precedence::Order);
    assert_eq!(m.check(i).date(), Some(day(5)));
    // Equal statuses: the later date wins under severity.
    let older = one_rule_index(
        Rule::imei(i, Entry::new(Status::Tracked).with_date(day(2))),
        1,
    );
    let (m, s) = merged(&[&gsma, &older], Precedence::Severity);
    assert_eq!((m.check(i).date(), s.conflicts), (Some(day(5)), 0));
    // Different targets do not compete: the most specific rule answers at check time.
    let tac_block = one_rule_index(Rule::tac(i.tac(), Entry::new(Status::Blocked)), 1);
    let (m, s) = merged(&[&tac_block, &own], Precedence::Severity);
    assert_eq!((s.merged, m.check(i).status()), (0, Some(Status::Allowed)));
    assert_eq!(m.check(imei(0, 8)).status(), Some(Status::Blocked));
}

#[test]
fn deltas_must_sit_on_the_serial_they_were_made_for() {
    let base = one_rule_index(
        Rule::imei(imei(0, 1), Entry::new(Status::Blocked)),
        20240521,
    );
    let delta = |serial, base_serial| {
        let mut b = DeltaBuilder::new();
        b.serial(serial).base_serial(base_serial);
        b.add(Change::Remove(
            Target::Imei(imei(0, 1)),
            imei_index::Source::local(),
            None,
        ));
        b.build().unwrap().0
    };
    let ok = [delta(20240522, 20240521), delta(20240523, 20240522)];
    let view = LayeredIndex::new(base.clone(), ok.to_vec()).unwrap();
    assert_eq!(view.serial(), 20240523);
    let (bytes, s) = Apply::new(&base, &ok).build_to_vec().unwrap();
    assert_eq!(Index::from_bytes(bytes.into()).unwrap().serial(), 20240523);
    // The second removal finds nothing left to remove, but the first did remove it.
    assert_eq!((s.removed, s.missing), (1, 0));

    let skipped = [delta(20240523, 20240522)];
    let err = LayeredIndex::new(base.clone(), skipped.to_vec()).unwrap_err();
    assert!(matches!(
        err,
        imei_index::Error::DeltaBase {
            position: 1,
            expected: 20240522,
            found: 20240521
        }
    ));
    assert!(err.to_string().contains("apply deltas in order"));
    assert!(Apply::new(&base, &skipped).build_to_vec().is_err());
}

#[test]
fn removing_what_is_not_there_is_counted() {
    let base = one_rule_index(Rule::imei(imei(0, 1), Entry::new(Status::Blocked)), 1);
    let deltas = [delta_of(&[
        Change::Remove(Target::Imei(imei(0, 2)), imei_index::Source::local(), None),
        Change::Change(Rule::imei(imei(0, 1), Entry::new(Status::Blocked))),
    ])];
    let (_, s) = Apply::new(&base, &deltas).build_to_vec().unwrap();
    assert_eq!(
        (s.missing, s.unchanged, s.changed, s.rules_written),
        (1, 1, 0, 1)
    );
}

#[test]
fn a_tombstone_in_a_delta_hides_a_range_of_the_base() {
    let (a, b) = (imei(0, 10), imei(0, 20));
    let mut model = Model::new();
    model.insert(Target::Range(a, b), Entry::new(Status::Blocked));
    model.insert(
        Target::Range(imei(0, 5), imei(0, 30)),
        Entry::new(Status::Tracked),
    );
    let (_, base) = build(&model, 1);
    let view = LayeredIndex::new(
        base,
        vec![delta_of(&[Change::Remove(
            Target::Range(a, b),
            imei_index::Source::local(),
            None,
        )])],
    )
    .unwrap();
    // The wider range answers where the narrower one was.
    assert_eq!(view.check(imei(0, 15)).status(), Some(Status::Tracked));
    assert_eq!(view.check(imei(0, 31)).status(), None);
}
