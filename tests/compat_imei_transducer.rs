//! Compatibility: files written with sources but before IMEI blocks, whose exact-IMEI rules
//! are in the `imei` transducer (`tests/fixtures/imei-transducer/`, see its README), keep
//! opening and answer as today's build of the same list, which keeps those rules in IMEI
//! blocks. Answers and rules are compared, never bytes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use imei_index::list::ListReader;
use imei_index::{
    Apply, Date, ErrorChain, Imei, Imsi, Index, IndexBuilder, OpenOptions, Rule, Section, Target,
    Verification,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/imei-transducer")
        .join(name)
}

fn rows() -> Vec<Rule> {
    let path = fixture("national.csv");
    ListReader::new("national.csv", BufReader::new(File::open(&path).unwrap()))
        .map(|r| r.unwrap_or_else(|e| panic!("{}", ErrorChain(&e))))
        .collect()
}

/// Every IMEI the list names, its neighbours, the ends of its ranges and TACs; and every
/// IMSI it pairs, and one it does not.
fn probes(rows: &[Rule]) -> (Vec<Imei>, Vec<Imsi>) {
    let mut imeis = BTreeSet::new();
    let mut imsis = vec![Imsi::parse("404685505601299").unwrap()];
    let mut near = |n: u64| {
        for d in [n.saturating_sub(1), n, n + 1] {
            if let Ok(i) = Imei::from_u64(d) {
                imeis.insert(i);
            }
        }
    };
    for r in rows {
        match r.target() {
            Target::Imei(i) => near(i.as_u64()),
            Target::Pair(i, s) => {
                near(i.as_u64());
                imsis.push(s);
            }
            Target::Range(a, b) => {
                near(a.as_u64());
                near(b.as_u64());
            }
            Target::Tac(t) => near(t.first_imei().as_u64()),
        }
    }
    (imeis.into_iter().collect(), imsis)
}

fn assert_same_answers(what: &str, a: &Index, b: &Index, imeis: &[Imei], imsis: &[Imsi]) {
    assert_eq!(
        a.rules().collect::<Vec<_>>(),
        b.rules().collect::<Vec<_>>(),
        "{what}: rules"
    );
    for day in ["2020-01-01", "2024-05-21", "2030-01-01"] {
        let day: Date = day.parse().unwrap();
        assert_eq!(
            a.check_many_at(imeis, day),
            b.check_many_at(imeis, day),
            "{what}"
        );
        for &i in imeis {
            assert_eq!(
                a.check_at(i, day),
                b.check_at(i, day),
                "{what}: {i} on {day}"
            );
            for s in imsis {
                assert_eq!(
                    a.check_with_imsi_at(i, s, day),
                    b.check_with_imsi_at(i, s, day),
                    "{what}: {i} with {s} on {day}"
                );
            }
        }
    }
}

#[test]
fn files_with_an_imei_transducer_open_and_answer_as_todays_build() {
    let rows = rows();
    let (imeis, imsis) = probes(&rows);
    for (name, filter) in [("national.imeiidx", true), ("nofilter.imeiidx", false)] {
        let mut b = IndexBuilder::new();
        b.serial(20240521);
        if !filter {
            b.filter_bits(0);
        }
        for r in &rows {
            b.add(r.clone());
        }
        let today = Index::from_bytes(b.build_to_vec().unwrap().0.into()).unwrap();
        assert!(today.stats().imei_blocks.is_some());
        for level in [
            Verification::Trusted,
            Verification::Checksums,
            Verification::Full,
        ] {
            let old = OpenOptions::new()
                .verification(level)
                .open(fixture(name))
                .unwrap_or_else(|e| panic!("{name} at {level:?}: {}", ErrorChain(&e)));
            let stats = old.stats();
            assert!(stats.imei_blocks.is_none(), "{name}");
            assert!(
                stats
                    .section_bytes
                    .iter()
                    .any(|&(s, n)| s == Section::Imei && n > 100),
                "{name}: its exact-IMEI rules are in the transducer"
            );
            assert_eq!(stats.counts, today.stats().counts, "{name}");
            assert_same_answers(name, &old, &today, &imeis, &imsis);
        }
        // Applying nothing rewrites the file in today's layout, answering the same.
        let old = Index::open(fixture(name)).unwrap();
        let (bytes, _) = Apply::new(&old, &[]).build_to_vec().unwrap();
        let applied = OpenOptions::new()
            .verification(Verification::Full)
            .open_bytes(bytes.into())
            .unwrap();
        assert!(applied.stats().imei_blocks.is_some());
        assert_same_answers("applied", &applied, &old, &imeis, &imsis);
    }
}
