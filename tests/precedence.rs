//! Precedence: the most specific rule answers (pair > IMEI > narrowest range > TAC), and the
//! builder resolves several rules for one target (most severe status, then latest date, then
//! greater reason code), accounting for every rule and row.

mod common;

use common::{build, build_bytes, date, e, imei, imei_n, imsi, range, tac};
use imei_index::list::ListReader;
use imei_index::synth::Rng;
use imei_index::{Entry, Imei, ImeiSv, IndexBuilder, Reason, Rule, RuleKind, Status, Verdict};

fn verdict(kind: RuleKind, entry: Entry) -> Verdict {
    Verdict::listed(kind, &entry)
}

#[test]
fn an_allowed_pair_inside_a_blocked_tac() {
    let handset = imei("35-209900-176148-1");
    let sim = imsi("404685505601234");
    let blocked = Entry::new(Status::Blocked).with_reason(Reason::Counterfeit);
    let allowed = Entry::new(Status::Allowed).with_reason(Reason::Duplicate);
    let (index, _) = build(&[
        Rule::tac(handset.tac(), blocked.clone()),
        Rule::pair(handset, sim, allowed.clone()),
    ]);
    // Without the SIM, or with another SIM, the TAC rule answers.
    assert_eq!(
        index.check(handset),
        verdict(RuleKind::Tac, blocked.clone())
    );
    assert_eq!(
        index.check_with_imsi(handset, &imsi("404685505601235")),
        verdict(RuleKind::Tac, blocked.clone())
    );
    // With its SIM, the pair overrides the blocked TAC.
    assert_eq!(
        index.check_with_imsi(handset, &sim),
        verdict(RuleKind::Pair, allowed)
    );
    // Another handset of the model, even with that SIM, stays blocked.
    let sibling = Imei::from_u64(handset.as_u64() + 1).unwrap();
    assert_eq!(
        index.check_with_imsi(sibling, &sim),
        verdict(RuleKind::Tac, blocked)
    );
}

#[test]
fn a_pair_matches_only_its_imsi_digits_including_leading_zeros() {
    let handset = imei("352099001761481");
    let (index, _) = build(&[Rule::pair(handset, imsi("001010"), e(Status::Allowed))]);
    assert_eq!(
        index.check_with_imsi(handset, &imsi("001010")).rule(),
        Some(RuleKind::Pair)
    );
    // Same number, different digits: not the paired SIM.
    assert!(!index.check_with_imsi(handset, &imsi("01010")).is_listed());
    assert!(!index.check_with_imsi(handset, &imsi("0001010")).is_listed());
    // `check` never consults pair rules.
    assert!(!index.check(handset).is_listed());
}

#[test]
fn a_range_inside_a_tac_overrides_it_endpoints_included() {
    let t = tac("35209900");
    let first = Imei::from_parts(t, 100_000).unwrap();
    let last = Imei::from_parts(t, 199_999).unwrap();
    let blocked = e(Status::Blocked);
    let allowed = Entry::new(Status::Allowed).with_date(date("2024-05-21"));
    let (index, _) = build(&[
        Rule::tac(t, blocked.clone()),
        range(first, last, allowed.clone()),
    ]);
    let at = |snr| index.check(Imei::from_parts(t, snr).unwrap());
    for snr in [100_000, 100_001, 150_000, 199_998, 199_999] {
        assert_eq!(at(snr), verdict(RuleKind::Range, allowed.clone()), "{snr}");
    }
    for snr in [0, 99_999, 200_000, 999_999] {
        assert_eq!(at(snr), verdict(RuleKind::Tac, blocked.clone()), "{snr}");
    }
    // Outside the TAC nothing matches.
    assert!(!index.check(imei_n(t.first_imei().as_u64() - 1)).is_listed());
    assert!(!index.check(imei_n(t.last_imei().as_u64() + 1)).is_listed());
}

#[test]
fn nested_ranges_the_narrowest_wins() {
    let base = tac("35209900").first_imei().as_u64();
    let outer = Entry::new(Status::Blocked).with_reason(Reason::Fraud);
    let middle = e(Status::Tracked);
    let inner = e(Status::Allowed);
    // Given in an order that is neither by start nor by width.
    let (index, _) = build(&[
        range(imei_n(base + 40), imei_n(base + 60), inner.clone()),
        range(imei_n(base), imei_n(base + 1000), outer.clone()),
        range(imei_n(base + 20), imei_n(base + 80), middle.clone()),
    ]);
    let at = |off: u64| common::entry_of(&index, index.check(imei_n(base + off)));
    for (off, want) in [
        (0, Some(outer.clone())),
        (19, Some(outer.clone())),
        (20, Some(middle.clone())),
        (39, Some(middle.clone())),
        (40, Some(inner.clone())),
        (50, Some(inner.clone())),
        (60, Some(inner)),
        (61, Some(middle.clone())),
        (80, Some(middle)),
        (81, Some(outer.clone())),
        (1000, Some(outer)),
        (1001, None),
    ] {
        assert_eq!(at(off), want, "offset {off}");
    }
    assert!(common::entry_of(&index, index.check(imei_n(base - 1))).is_none());
}

#[test]
fn equally_wide_ranges_the_greater_precedence_then_the_earlier_start_wins() {
    let base = tac("86990000").first_imei().as_u64();
    // Two ranges of 11 IMEIs overlapping in [5, 10].
    let (index, _) = build(&[
        range(imei_n(base + 5), imei_n(base + 15), e(Status::Blocked)),
        range(imei_n(base), imei_n(base + 10), e(Status::Tracked)),
    ]);
    let status = |off| index.check(imei_n(base + off)).status();
    assert_eq!(status(4), Some(Status::Tracked));
    assert_eq!(status(5), Some(Status::Blocked));
    assert_eq!(status(10), Some(Status::Blocked));
    assert_eq!(status(11), Some(Status::Blocked));

    // Equal precedence: the earlier start wins the overlap.
    let a = Entry::new(Status::Tracked).with_reason(Reason::Lost);
    let (index, _) = build(&[
        range(imei_n(base + 5), imei_n(base + 15), a.clone()),
        range(imei_n(base), imei_n(base + 10), a.clone()),
        range(imei_n(base + 100), imei_n(base + 110), a.clone()),
        range(
            imei_n(base + 95),
            imei_n(base + 105),
            Entry::new(Status::Tracked),
        ),
    ]);
    let at = |off| common::entry_of(&index, index.check(imei_n(base + off))).unwrap();
    // Same entries on both: any answer is that entry.
    assert_eq!(at(7), a);
    // Entries equal in status and date: the range that starts first wins, whatever the
    // reasons (docs/semantics.md, rule 5).
    assert_eq!(at(100), Entry::new(Status::Tracked));
    assert_eq!(at(96), Entry::new(Status::Tracked));
    assert_eq!(at(108), a);
}

#[test]
fn exact_imei_beats_range_beats_tac() {
    let t = tac("35417803");
    let target = Imei::from_parts(t, 685_978).unwrap();
    let by_tac = e(Status::Allowed);
    let by_range = e(Status::Tracked);
    let by_imei = Entry::new(Status::Blocked).with_reason(Reason::Stolen);
    let rules = [
        Rule::tac(t, by_tac.clone()),
        range(
            Imei::from_parts(t, 600_000).unwrap(),
            Imei::from_parts(t, 700_000).unwrap(),
            by_range.clone(),
        ),
        Rule::imei(target, by_imei.clone()),
    ];
    let (index, _) = build(&rules);
    assert_eq!(index.check(target), verdict(RuleKind::Imei, by_imei));
    assert_eq!(
        index.check(imei_n(target.as_u64() + 1)),
        verdict(RuleKind::Range, by_range)
    );
    assert_eq!(
        index.check(Imei::from_parts(t, 700_001).unwrap()),
        verdict(RuleKind::Tac, by_tac)
    );

    // Specificity, not severity, decides between kinds: an allowed IMEI inside a blocked
    // range inside a blocked TAC is allowed.
    let (index, _) = build(&[
        Rule::tac(t, e(Status::Blocked)),
        range(t.first_imei(), t.last_imei(), e(Status::Blocked)),
        Rule::imei(target, e(Status::Allowed)),
    ]);
    assert_eq!(index.check(target).status(), Some(Status::Allowed));

    // And a pair beats the exact IMEI.
    let sim = imsi("404685505601234");
    let (index, _) = build(&[
        Rule::imei(target, e(Status::Blocked)),
        Rule::pair(target, sim, e(Status::Allowed)),
    ]);
    assert_eq!(
        index.check_with_imsi(target, &sim),
        verdict(RuleKind::Pair, e(Status::Allowed))
    );
    assert_eq!(
        index.check_with_imsi(target, &imsi("404685505601299")),
        verdict(RuleKind::Imei, e(Status::Blocked))
    );
}

#[test]
fn imeisv_and_imei_of_one_handset_hit_the_same_rule_of_every_kind() {
    let handset = "35-209900-176148";
    let forms = [
        format!("{handset}-1"),
        format!("{handset}-23"),
        format!("{handset}-00"),
        handset.to_string(),
        "imei-352099001761481".to_string(),
        "imeisv-3520990017614899".to_string(),
    ];
    let target = imei("352099001761481");
    let sim = imsi("404685505601234");
    let rule_sets: [(RuleKind, Vec<Rule>); 4] = [
        (
            RuleKind::Pair,
            vec![Rule::pair(target, sim, e(Status::Allowed))],
        ),
        (RuleKind::Imei, vec![Rule::imei(target, e(Status::Blocked))]),
        (
            RuleKind::Range,
            vec![range(
                imei_n(target.as_u64() - 3),
                imei_n(target.as_u64() + 3),
                e(Status::Tracked),
            )],
        ),
        (
            RuleKind::Tac,
            vec![Rule::tac(target.tac(), e(Status::Blocked))],
        ),
    ];
    for (kind, rules) in rule_sets {
        let (index, _) = build(&rules);
        let want = index.check_with_imsi(target, &sim);
        assert_eq!(want.rule(), Some(kind));
        for form in &forms {
            let parsed = Imei::parse(form).unwrap();
            assert_eq!(index.check_with_imsi(parsed, &sim), want, "{kind:?} {form}");
            if form.chars().filter(char::is_ascii_digit).count() == 16 {
                let sv = ImeiSv::parse(form).unwrap();
                assert_eq!(index.check_with_imsi(sv.imei(), &sim), want, "{form}");
            }
        }
    }
}

#[test]
fn check_many_answers_in_order_like_check() {
    let rules = common::sample_rules();
    let (index, _) = build(&rules);
    let mut probes: Vec<Imei> = Vec::new();
    for r in &rules {
        match r.target() {
            imei_index::Target::Imei(i) | imei_index::Target::Pair(i, _) => probes.push(i),
            imei_index::Target::Range(a, b) => probes.extend([a, b, imei_n(b.as_u64() + 1)]),
            imei_index::Target::Tac(t) => probes.extend([t.first_imei(), t.last_imei()]),
        }
    }
    probes.push(Imei::MIN);
    probes.push(Imei::MAX);
    probes.reverse();
    let many = index.check_many(&probes);
    assert_eq!(many.len(), probes.len());
    for (p, v) in probes.iter().zip(&many) {
        assert_eq!(*v, index.check(*p), "{p}");
    }
    assert!(index.check_many(&[]).is_empty());
}

#[test]
fn the_extreme_imeis_can_be_listed() {
    let (index, _) = build(&[
        Rule::imei(Imei::MIN, e(Status::Blocked)),
        range(imei_n(99_999_999_999_990), Imei::MAX, e(Status::Tracked)),
        Rule::tac(tac("00000000"), e(Status::Allowed)),
        Rule::tac(tac("99999999"), e(Status::Blocked)),
    ]);
    assert_eq!(index.check(Imei::MIN).rule(), Some(RuleKind::Imei));
    assert_eq!(index.check(imei_n(1)).rule(), Some(RuleKind::Tac));
    assert_eq!(index.check(Imei::MAX).rule(), Some(RuleKind::Range));
    assert_eq!(
        index.check(imei_n(99_999_999_999_989)).rule(),
        Some(RuleKind::Tac)
    );
}

// ---------------------------------------------------------------------------------------
// Resolution of several rules for one target, in the builder.
// ---------------------------------------------------------------------------------------

#[test]
fn the_most_severe_status_wins_and_each_loser_is_a_conflict() {
    let target = imei("354178036859789");
    let rules = [
        Rule::imei(target, e(Status::Allowed)),
        Rule::imei(target, e(Status::Blocked)),
        Rule::imei(target, e(Status::Tracked)),
        Rule::imei(target, e(Status::Allowed)),
    ];
    // Whatever the input order.
    let mut orders = vec![rules.to_vec()];
    let mut rng = Rng::new(7);
    for _ in 0..8 {
        let mut r = rules.to_vec();
        rng.shuffle(&mut r);
        orders.push(r);
    }
    let (want_bytes, _) = build_bytes(&rules);
    for order in orders {
        let (index, s) = build(&order);
        assert_eq!(index.check(target).status(), Some(Status::Blocked));
        assert_eq!(
            (
                s.rules_in,
                s.rules_written,
                s.merged,
                s.conflicts,
                s.rejected
            ),
            (4, 1, 3, 3, 0)
        );
        assert_eq!(s.rows_read(), s.rules_written + s.merged + s.rejected);
        assert_eq!(index.as_bytes().as_ref(), want_bytes.as_slice());
    }
}

#[test]
fn between_equal_statuses_the_latest_date_then_the_greater_reasons_win() {
    let target = imei("490154203237518");
    let old = date("2023-01-01");
    let new = date("2024-05-21");
    let (index, s) = build(&[
        Rule::imei(
            target,
            Entry::new(Status::Blocked)
                .with_date(old)
                .with_reason(Reason::Other),
        ),
        Rule::imei(
            target,
            Entry::new(Status::Blocked)
                .with_date(new)
                .with_reason(Reason::Stolen),
        ),
        Rule::imei(
            target,
            Entry::new(Status::Blocked).with_reason(Reason::Other),
        ),
    ]);
    assert_eq!(index.check(target).date(), Some(new));
    assert_eq!(index.check(target).reason(), Some(Reason::Stolen));
    // Same status: merged, not conflicts.
    assert_eq!((s.merged, s.conflicts), (2, 0));

    let (index, _) = build(&[
        Rule::imei(
            target,
            Entry::new(Status::Tracked)
                .with_date(new)
                .with_reason(Reason::Lost),
        ),
        Rule::imei(
            target,
            Entry::new(Status::Tracked)
                .with_date(new)
                .with_reason(Reason::Duplicate),
        ),
        Rule::imei(target, Entry::new(Status::Tracked).with_date(new)),
    ]);
    // The greater reasons, compared as texts: "lost" > "duplicate" (docs/semantics.md).
    assert_eq!(index.check(target).reason(), Some(Reason::Lost));
    // A severe status without date or reason beats a milder one with both.
    let (index, s) = build(&[
        Rule::imei(
            target,
            Entry::new(Status::Tracked)
                .with_date(new)
                .with_reason(Reason::Other),
        ),
        Rule::imei(target, Entry::new(Status::Blocked)),
    ]);
    assert_eq!(
        common::entry_of(&index, index.check(target)),
        Some(Entry::new(Status::Blocked))
    );
    assert_eq!(s.conflicts, 1);
}

#[test]
fn merges_are_per_target_and_kind() {
    let i = imei("352099001761481");
    let (index, s) = build(&[
        // Same IMEI, different kinds and IMSIs: distinct targets, nothing merged.
        Rule::imei(i, e(Status::Blocked)),
        Rule::pair(i, imsi("404685505601234"), e(Status::Allowed)),
        Rule::pair(i, imsi("404685505601235"), e(Status::Tracked)),
        Rule::pair(i, imsi("04685505601234"), e(Status::Tracked)),
        range(i, i, e(Status::Tracked)),
        Rule::tac(i.tac(), e(Status::Allowed)),
        // Duplicates of each kind.
        Rule::tac(i.tac(), e(Status::Blocked)),
        range(i, i, e(Status::Tracked)),
        Rule::pair(i, imsi("404685505601234"), e(Status::Tracked)),
    ]);
    assert_eq!(
        (s.rules_in, s.rules_written, s.merged, s.conflicts),
        (9, 6, 3, 2)
    );
    let c = index.stats().counts;
    assert_eq!(c.of_kind(RuleKind::Pair), 3);
    assert_eq!(c.of_kind(RuleKind::Imei), 1);
    assert_eq!(c.of_kind(RuleKind::Range), 1);
    assert_eq!(c.of_kind(RuleKind::Tac), 1);
    assert_eq!(c.get(RuleKind::Tac, Status::Blocked), 1);
    // The allowed pair lost to a tracked duplicate; the other two were tracked already.
    assert_eq!(c.get(RuleKind::Pair, Status::Tracked), 3);
    assert_eq!(c.of_status(Status::Allowed), 0);
    assert_eq!(c.total(), s.rules_written);
    assert_eq!(s.counts, c);
}

#[test]
fn every_row_is_read_written_merged_or_rejected() {
    let csv = "\
# a list with duplicates, conflicts and bad rows
imei,status,reason,imsi,date
35209900,blocked,counterfeit,,
35209900,tracked,,,
35209900,blocked,,,2024-05-21
352099001761481,allowed,,404685505601234,
35-209900-176148-1,blocked,,404685505601234,
not-an-imei,blocked
354178036859789,maybe
354178036859789,blocked,stolen
35417803000000..35417803099999,tracked

35417803000000..35417803099999,tracked,duplicate
";
    let mut b = IndexBuilder::new();
    let mut rejected = Vec::new();
    b.add_list(ListReader::new("national.csv", csv.as_bytes()), |err| {
        rejected.push((err.line, err.column));
        Ok(())
    })
    .unwrap();
    let (bytes, s) = b.build_to_vec().unwrap();
    assert_eq!(rejected, [(8, 1), (9, 17)]);
    // 10 data rows: 2 rejected, 8 rules; TAC ×3, pair ×2, range ×2 merge to 1 each.
    assert_eq!(s.rows_read(), 10);
    assert_eq!(
        (
            s.rules_in,
            s.rules_written,
            s.merged,
            s.conflicts,
            s.rejected
        ),
        (8, 4, 4, 2, 2)
    );
    assert_eq!(s.rows_read(), s.rules_written + s.merged + s.rejected);
    let index = imei_index::Index::from_bytes(bytes.into()).unwrap();
    // The TAC's winner: blocked, and between the blocked rows the dated one.
    let v = index.check(imei("35209900000000"));
    assert_eq!(
        common::entry_of(&index, v),
        Some(Entry::new(Status::Blocked).with_date(date("2024-05-21")))
    );
    let v = index.check_with_imsi(imei("352099001761481"), &imsi("404685505601234"));
    assert_eq!(
        (v.rule(), v.status()),
        (Some(RuleKind::Pair), Some(Status::Blocked))
    );
    let v = index.check(imei("35417803000005"));
    assert_eq!(v.reason(), Some(Reason::Duplicate));
}

#[test]
fn a_rejecting_handler_stops_the_build_with_the_row_error() {
    let csv = "35209900,blocked\nbad,blocked\n35209901,blocked\n";
    let mut b = IndexBuilder::new();
    let err = b
        .add_list(ListReader::new("l.csv", csv.as_bytes()), Err)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("l.csv:2:1: "), "{msg}");
    // Rows before the bad one were added; none after.
    assert_eq!(b.len(), 1);
}

#[test]
fn an_empty_builder_builds_an_index_that_knows_nothing() {
    let (index, s) = build(&[]);
    assert_eq!((s.rules_written, s.merged, s.rows_read()), (0, 0, 0));
    assert!(!index.check(Imei::MIN).is_listed());
    assert!(!index.check(Imei::MAX).is_listed());
    assert!(!index.check_with_imsi(Imei::MAX, &imsi("00101")).is_listed());
    assert_eq!(index.rules().count(), 0);
    assert_eq!(index.stats().rules(), 0);
    assert_eq!(index.stats().bytes_per_rule(), None);
}

#[test]
fn the_serial_is_recorded() {
    let mut b = IndexBuilder::new();
    b.serial(20240521);
    b.add(Rule::tac(tac("35209900"), e(Status::Blocked)));
    let (bytes, _) = b.build_to_vec().unwrap();
    let index = imei_index::Index::from_bytes(bytes.into()).unwrap();
    assert_eq!(index.serial(), 20240521);
    assert_eq!(index.stats().serial, 20240521);
}
