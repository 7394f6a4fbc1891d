//! The daily workflow at the command line: yesterday's index and today's delta list,
//! `apply`, `publish`, and a running process that picks the new index up; plus `diff`,
//! `merge`, and the errors each gives for bad input.

mod cli_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use cli_support::text;
use std::sync::mpsc;
use std::time::Duration;

use imei_index::list::{DeltaReader, ListReader};
use imei_index::{Change, Imei, Imsi, Index, LiveIndex, Rule, RuleKind, Status, Target};

fn run(args: &[&str]) -> Output {
    cli_support::run(args, None)
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

const YESTERDAY: &str = "\
imei,status,reason,imsi,date
35-209900-176148-1,blocked,stolen,,2024-05-20
354178036859789,blocked,fraud,,2024-05-21
49015420323751,allowed,,404685505601234,
86000001,blocked,counterfeit,,
86000002000000..86000002099999,tracked,duplicate,,
";

const TODAY: &str = "\
# national register, changes of 2024-05-22
op,imei,status,reason,imsi,date
add,350077-52-323751-3,blocked,stolen,,2024-05-22
change,354178036859789,tracked,fraud,,2024-05-22
remove,35-209900-176148-1
remove,49015420323751,,,404685505601234
remove,86000002000000..86000002099999
add,86000002000100..86000002000199,blocked,duplicate,,
";

struct Dir {
    _temp: tempfile::TempDir,
    path: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().to_path_buf();
        Dir { _temp: temp, path }
    }

    fn file(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }

    fn write(&self, name: &str, contents: &str) -> String {
        fs::write(self.path.join(name), contents).unwrap();
        self.file(name)
    }
}

/// The rules of a list, with a delta list applied, the slow way.
fn expected_rules(list: &str, delta: &str) -> Vec<Rule> {
    let mut rules: std::collections::BTreeMap<Target, Rule> = ListReader::new("l", list.as_bytes())
        .map(|r| r.unwrap())
        .map(|r| (r.target(), r))
        .collect();
    for c in DeltaReader::new("d", delta.as_bytes()) {
        match c.unwrap() {
            Change::Add(r) | Change::Change(r) => {
                rules.insert(r.target(), r);
            }
            Change::Remove(t, _, _) => {
                rules.remove(&t);
            }
        }
    }
    rules.into_values().collect()
}

fn sorted_rules(index: &Index) -> Vec<Rule> {
    let mut r: Vec<Rule> = index.rules().collect();
    r.sort_by_key(|r| r.target());
    r
}

#[test]
fn yesterday_plus_todays_delta_is_published_and_picked_up() {
    let d = Dir::new();
    let list = d.write("national.csv", YESTERDAY);
    let delta = d.write("today.csv", TODAY);
    let (yesterday, today, current) = (
        d.file("2024-05-21.imeiidx"),
        d.file("2024-05-22.imeiidx"),
        d.file("current.imeiidx"),
    );
    ok(&["build", &list, "-o", &yesterday, "--serial", "20240521"]);
    ok(&["publish", &yesterday, &current]);

    // A running EIR process follows `current`.
    let live = LiveIndex::open(&current).unwrap();
    let (tx, rx) = mpsc::channel();
    let watcher = live
        .watch(Duration::from_millis(5), move |r| {
            tx.send(r.map(|r| r.new.serial)).unwrap()
        })
        .unwrap();
    let stolen = Imei::parse("352099001761481").unwrap();
    assert_eq!(live.check(stolen).status(), Some(Status::Blocked));

    let out = ok(&[
        "apply", &yesterday, &delta, "-o", &today, "--serial", "20240522",
    ]);
    assert!(out.contains("2 added, 1 changed, 3 removed"), "{out}");
    // Today's delta removes 3 of yesterday's 5 rules: more than the half allowed by default.
    let refused = run(&["publish", &today, &current]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let out = ok(&["publish", &today, &current, "--max-removed", "60"]);
    assert!(
        out.contains("serial 20240522") && out.contains("replacing serial 20240521"),
        "{out}"
    );
    assert!(
        out.contains("changes: 2 added, 1 changed, 3 removed")
            && out.contains("serial: 20240521 -> 20240522"),
        "{out}"
    );
    let reloaded = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!((reloaded, live.serial()), (20240522, 20240522));
    watcher.stop();

    // The process now answers from today's rules.
    let want = expected_rules(YESTERDAY, TODAY);
    assert_eq!(sorted_rules(&live.current()), want);
    assert_eq!(live.check(stolen).status(), None);
    let sim = Imsi::parse("404685505601234").unwrap();
    let paired = Imei::parse("49015420323751").unwrap();
    assert_eq!(live.check_with_imsi(paired, &sim).status(), None);
    let in_range = Imei::parse("86000002000150").unwrap();
    let v = live.check(in_range);
    assert_eq!(
        (v.status(), v.rule()),
        (Some(Status::Blocked), Some(RuleKind::Range))
    );
    assert_eq!(
        live.check(Imei::parse("86000002000050").unwrap()).status(),
        None
    );

    // diff gives the delta back: applying it to yesterday gives today's bytes.
    let redo = d.file("redo.csv");
    ok(&["diff", &yesterday, &today, "-o", &redo]);
    let again = d.file("again.imeiidx");
    ok(&[
        "apply", &yesterday, &redo, "-o", &again, "--serial", "20240522",
    ]);
    assert_eq!(fs::read(&again).unwrap(), fs::read(&today).unwrap());
    // The diff of an index with itself has no rows, only the header.
    let same = ok(&["diff", &today, &today]);
    assert_eq!(
        same.lines().filter(|l| !l.starts_with('#')).count(),
        1,
        "{same}"
    );
}

#[test]
fn bad_delta_rows_stop_apply_and_say_where() {
    let d = Dir::new();
    let list = d.write("national.csv", YESTERDAY);
    let base = d.file("base.imeiidx");
    ok(&["build", &list, "-o", &base]);
    let delta = d.write(
        "bad.csv",
        "op,imei,status\nadd,35209900,blocked\nblock,354178036859789,blocked\n",
    );
    let out_path = d.file("out.imeiidx");
    let out = run(&["apply", &base, &delta, "-o", &out_path]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.csv:3:1:") && err.contains("\"block\" is not an operation"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!Path::new(&out_path).exists());

    // A full index where a delta should be.
    let out = run(&["apply", &base, &base, "-o", &out_path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a delta index"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn publish_refuses_what_is_not_a_valid_index() {
    let d = Dir::new();
    let list = d.write("national.csv", YESTERDAY);
    let (good, current) = (d.file("good.imeiidx"), d.file("current.imeiidx"));
    ok(&["build", &list, "-o", &good, "--serial", "7"]);
    ok(&["publish", &good, &current]);
    let before = fs::read(&current).unwrap();
    let mut flipped = before.clone();
    let at = flipped.len() - 3;
    flipped[at] ^= 1;
    for (name, bytes) in [
        ("list.csv", YESTERDAY.as_bytes().to_vec()),
        ("half.imeiidx", before[..before.len() / 2].to_vec()),
        ("flipped.imeiidx", flipped),
    ] {
        fs::write(d.path.join(name), bytes).unwrap();
        let out = run(&["publish", &d.file(name), &current]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(name) && err.contains("was left as it was"),
            "{err}"
        );
        assert_eq!(fs::read(&current).unwrap(), before, "{name}");
    }
    let out = run(&["publish", &d.file("missing.imeiidx"), &current]);
    assert_eq!(out.status.code(), Some(2));
    // No temporary files are left behind.
    let names: Vec<String> = fs::read_dir(&d.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn merge_chooses_by_severity_or_by_order() {
    let d = Dir::new();
    let own = d.write(
        "own.csv",
        "354178036859789,allowed,,,\n86000001,blocked,,,\n",
    );
    let national = d.write("national.csv", YESTERDAY);
    let (own_idx, nat_idx) = (d.file("own.imeiidx"), d.file("national.imeiidx"));
    ok(&["build", &own, "-o", &own_idx, "--serial", "3"]);
    ok(&["build", &national, "-o", &nat_idx, "--serial", "20240521"]);
    let imei = Imei::parse("354178036859789").unwrap();

    let merged = d.file("merged.imeiidx");
    let out = ok(&["merge", &own_idx, &nat_idx, "-o", &merged]);
    assert!(
        out.contains("7 rules in = 5 written + 2 merged (1 with conflicting status)"),
        "{out}"
    );
    let index = Index::open(&merged).unwrap();
    assert_eq!(
        (index.check(imei).status(), index.serial()),
        (Some(Status::Blocked), 20240521)
    );

    ok(&[
        "merge",
        &own_idx,
        &nat_idx,
        "-o",
        &merged,
        "--precedence",
        "order",
        "--serial",
        "9",
    ]);
    let index = Index::open(&merged).unwrap();
    assert_eq!(
        (index.check(imei).status(), index.serial()),
        (Some(Status::Allowed), 9)
    );
}
