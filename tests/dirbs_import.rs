//! A register's rows into an index (`list::dirbs::Import`, `DeltaImport`): applying the
//! deltas between two runs to the first run's index gives the rules and subscriber rows that
//! building from the second run's full lists gives, whatever the lists (a property test);
//! and the rules answer as docs/semantics.md says.

use std::collections::BTreeMap;

use imei_index::list::dirbs::FileName;
use imei_index::register::{DeltaImport, Import, RegisterOptions};
use imei_index::{Apply, Imei, Index, IndexBuilder, Rule, Status, Subscriber};
use proptest::prelude::*;

/// One run's lists: the blacklist by IMEI (block day, reasons), notification rows by (IMEI,
/// IMSI, MSISDN) (block day, reasons), exception rows (IMEI, IMSI, MSISDN).
#[derive(Clone, Debug, Default)]
struct Run {
    blacklist: BTreeMap<u8, (u8, u8)>,
    notifications: BTreeMap<(u8, u8, u8), (u8, u8)>,
    exceptions: BTreeMap<(u8, u8, u8), ()>,
}

const REASONS: [&str; 4] = [
    "Duplicate IMEI detected",
    "IMEI in local stolen list",
    "Duplicate IMEI detected|not_registered",
    "\"Stolen, reported\"",
];

fn imei(n: u8) -> String {
    format!("{:014}", 35_209_900_000_000u64 + u64::from(n % 12))
}

fn imsi(n: u8) -> String {
    format!("4046855056{:05}", n % 3)
}

fn msisdn(n: u8) -> String {
    format!("9198765{:05}", n % 2)
}

fn day(n: u8) -> String {
    format!("202406{:02}", 1 + n % 20)
}

fn csv<K, V>(header: &str, rows: &BTreeMap<K, V>, row: impl Fn(&K, &V) -> String) -> String {
    let mut out = format!("{header}\r\n");
    for (k, v) in rows {
        out.push_str(&row(k, v));
        out.push_str("\r\n");
    }
    out
}

fn blacklist(rows: &BTreeMap<u8, (u8, u8)>) -> String {
    csv("imei,block_date,reasons", rows, |i, (d, r)| {
        format!("{},{},{}", imei(*i), day(*d), REASONS[usize::from(r % 4)])
    })
}

fn notifications(rows: &BTreeMap<(u8, u8, u8), (u8, u8)>) -> String {
    csv(
        "imei,imsi,msisdn,block_date,reasons",
        rows,
        |(i, s, m), (d, r)| {
            format!(
                "{},{},{},{},{}",
                imei(*i),
                imsi(*s),
                msisdn(*m),
                day(*d),
                REASONS[usize::from(r % 4)]
            )
        },
    )
}

fn exceptions(rows: &BTreeMap<(u8, u8, u8), ()>) -> String {
    csv("imei,imsi,msisdn", rows, |(i, s, m), ()| {
        format!("{},{},{}", imei(*i), imsi(*s), msisdn(*m))
    })
}

/// The rows of `new` that are not in `old` or differ, and those of `old` not in `new`.
fn changes<K: Ord + Clone, V: PartialEq + Clone>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
) -> (BTreeMap<K, V>, BTreeMap<K, V>, BTreeMap<K, V>) {
    let added = new
        .iter()
        .filter(|(k, _)| !old.contains_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let changed = new
        .iter()
        .filter(|(k, v)| old.get(k).is_some_and(|o| o != *v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = old
        .iter()
        .filter(|(k, _)| !new.contains_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (added, changed, removed)
}

fn build(run: &Run, options: &RegisterOptions) -> Index {
    let stamp = "20240601_020000";
    let mut b = IndexBuilder::new();
    let mut import = Import::new(options.clone());
    for (name, text) in [
        (format!("{stamp}_blacklist.csv"), blacklist(&run.blacklist)),
        (
            format!("{stamp}_notifications_op1.csv"),
            notifications(&run.notifications),
        ),
        (
            format!("{stamp}_exceptions_op1.csv"),
            exceptions(&run.exceptions),
        ),
    ] {
        let file = FileName::parse(&name).unwrap();
        import
            .add_file(&mut b, &name, Some(&file), text.as_bytes(), Err)
            .unwrap();
    }
    import.finish(&mut b, Some(57), 0);
    Index::from_bytes(b.build_to_vec().unwrap().0.into()).unwrap()
}

/// The delta files from `old` to `new`, as the register writes them (one per change, the
/// notification removals spread over its three removal changes).
fn delta_files(old: &Run, new: &Run) -> Vec<(String, String)> {
    let name =
        |list: &str, change: &str| format!("20240602_020000_{list}_delta_57_58_{change}.csv");
    let (blocked, changed, unblocked) = changes(&old.blacklist, &new.blacklist);
    let (n_new, n_changed, n_gone) = changes(&old.notifications, &new.notifications);
    let (e_added, _, e_removed) = changes(&old.exceptions, &new.exceptions);
    let mut gone = [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()];
    for (k, v) in n_gone {
        gone[usize::from(k.0 % 3)].insert(k, v);
    }
    let [resolved, blacklisted, no_longer_seen] = gone;
    vec![
        (name("blacklist", "blocked"), blacklist(&blocked)),
        (name("blacklist", "unblocked"), blacklist(&unblocked)),
        (name("blacklist", "changed"), blacklist(&changed)),
        (name("notifications_op1", "new"), notifications(&n_new)),
        (
            name("notifications_op1", "resolved"),
            notifications(&resolved),
        ),
        (
            name("notifications_op1", "blacklisted"),
            notifications(&blacklisted),
        ),
        (
            name("notifications_op1", "no_longer_seen"),
            notifications(&no_longer_seen),
        ),
        (
            name("notifications_op1", "changed"),
            notifications(&n_changed),
        ),
        (name("exceptions_op1", "added"), exceptions(&e_added)),
        (name("exceptions_op1", "removed"), exceptions(&e_removed)),
    ]
}

fn apply(base: &Index, files: &[(String, String)], options: &RegisterOptions) -> Index {
    let mut d = DeltaImport::new(base, options.clone());
    for (name, text) in files {
        let file = FileName::parse(name).unwrap();
        d.add_file(name, &file, text.as_bytes(), 0, Err).unwrap();
    }
    let (deltas, summary) = d.finish().unwrap();
    let rows: u64 = files
        .iter()
        .map(|(_, t)| t.lines().count() as u64 - 1)
        .sum();
    assert_eq!(summary.rows, rows);
    assert_eq!(summary.changes + summary.merged + summary.rejected, rows);
    let (bytes, _) = Apply::new(base, &deltas).build_to_vec().unwrap();
    Index::from_bytes(bytes.into()).unwrap()
}

fn rules(index: &Index) -> Vec<Rule> {
    let mut r: Vec<Rule> = index.rules().collect();
    r.sort_by_key(|r| format!("{r:?}"));
    r
}

fn subscribers(index: &Index) -> Vec<Subscriber> {
    let mut s: Vec<Subscriber> = index.subscribers().collect();
    s.sort_by_key(|s| format!("{s:?}"));
    s
}

fn run() -> impl Strategy<Value = Run> {
    (
        prop::collection::btree_map(any::<u8>(), (any::<u8>(), any::<u8>()), 0..8),
        prop::collection::btree_map((0u8..12, 0u8..3, 0u8..2), (any::<u8>(), any::<u8>()), 0..10),
        prop::collection::btree_map((0u8..12, 0u8..3, 0u8..2), Just(()), 0..6),
    )
        .prop_map(|(b, n, e)| Run {
            // Keys are the IMEI's number modulo 12: one row per IMEI.
            blacklist: b.into_iter().map(|(k, v)| (k % 12, v)).collect(),
            notifications: n,
            exceptions: e,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Applying the register's deltas to the first run's index gives the index of the
    /// second run's full lists: the same rules (of every source) and subscriber rows.
    #[test]
    fn applying_the_deltas_equals_building_the_next_run(
        old in run(),
        new in run(),
        stay_tracked in any::<bool>(),
    ) {
        let mut options = RegisterOptions::new();
        options.notified_stay_tracked(stay_tracked);
        let base = build(&old, &options);
        let applied = apply(&base, &delta_files(&old, &new), &options);
        let rebuilt = build(&new, &options);
        prop_assert_eq!(rules(&applied), rules(&rebuilt));
        prop_assert_eq!(subscribers(&applied), subscribers(&rebuilt));
        prop_assert!(applied.sources().iter().all(|s| s.run_id == Some(58)));
    }
}

#[test]
fn a_notified_imei_answers_by_its_earliest_row_and_every_reason() {
    let mut run = Run::default();
    run.notifications.insert((1, 0, 0), (9, 0)); // 2024-06-10, Duplicate IMEI detected
    run.notifications.insert((1, 1, 1), (4, 1)); // 2024-06-05, IMEI in local stolen list
    run.exceptions.insert((1, 2, 0), ());
    let index = build(&run, &RegisterOptions::new());
    let handset = Imei::parse(&imei(1)).unwrap();
    let on = |d: &str| index.check_at(handset, d.parse().unwrap());
    let v = on("2024-06-04");
    assert_eq!((v.status(), v.is_earlier()), (Some(Status::Tracked), true));
    assert_eq!(
        index.reasons(&v).collect::<Vec<_>>(),
        ["Duplicate IMEI detected", "IMEI in local stolen list"]
    );
    assert_eq!(on("2024-06-05").status(), Some(Status::Blocked));
    // The exception's SIM is allowed; the notified subscribers' SIMs are not.
    let with = |s: u8| {
        index
            .check_with_imsi_at(
                handset,
                &imei_index::Imsi::parse(&imsi(s)).unwrap(),
                "2024-06-30".parse().unwrap(),
            )
            .status()
    };
    assert_eq!(with(2), Some(Status::Allowed));
    assert_eq!(with(0), Some(Status::Blocked));
}
