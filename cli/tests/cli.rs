//! The command line, end to end: build → check → dump → build, output formats, exit codes,
//! and damaged files that must give errors, never panics.

mod cli_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use cli_support::{count, run, text};

use imei_index::synth::NationalList;
use imei_index::{Imei, Index, Rule};

/// A panic exits with 101 and says "panicked"; a crash has no exit code at all.
fn assert_no_panic(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert!(
        out.status.code().is_some(),
        "{what}: killed by a signal: {stderr}"
    );
    assert_ne!(out.status.code(), Some(101), "{what}: panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: panicked: {stderr}");
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    list: NationalList,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        let list = NationalList::generate(7);
        let mut csv = Vec::new();
        imei_index::synth::write_list(&mut csv, &list.rules).expect("write list");
        fs::write(path.join("list.csv"), csv).expect("write list");
        Fixture {
            _dir: dir,
            dir: path,
            list,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn build(&self, list: &str, index: &str) -> Output {
        run(&["build", &self.path(list), "-o", &self.path(index)], None)
    }
}

fn sorted_rules(index: &Path) -> Vec<String> {
    let index = Index::open(index).expect("open");
    let mut rows: Vec<String> = index
        .rules()
        .map(|r: Rule| imei_index::list::format_row(&r))
        .collect();
    rows.sort();
    rows
}

#[test]
fn build_check_dump_build_round_trip() {
    let f = Fixture::new();
    let out = f.build("list.csv", "a.imeiidx");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains(&format!("read {} rows", count(f.list.rules.len() as u64))),
        "{summary}"
    );

    let dump = run(
        &["dump", &f.path("a.imeiidx"), "-o", &f.path("dumped.csv")],
        None,
    );
    assert_eq!(dump.status.code(), Some(0), "{}", text(&dump.stderr));
    let again = f.build("dumped.csv", "b.imeiidx");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(
        sorted_rules(&f.dir.join("a.imeiidx")),
        sorted_rules(&f.dir.join("b.imeiidx"))
    );
    // Same rules in, same bytes out: the build is deterministic.
    assert_eq!(
        fs::read(f.dir.join("a.imeiidx")).unwrap(),
        fs::read(f.dir.join("b.imeiidx")).unwrap()
    );

    // Every verdict the CLI prints equals the library's.
    let index = Index::open(f.dir.join("a.imeiidx")).unwrap();
    let mut probes: Vec<Imei> = f.list.blocked.iter().step_by(97).copied().collect();
    probes.extend(imei_index::synth::probes(&f.list.blocked, 50, 0.0, 3));
    probes.extend(f.list.ranges.iter().map(|r| r.0));
    let args: Vec<String> = probes.iter().map(|i| i.to_string()).collect();
    let mut argv = vec!["check", "--json", "--index"];
    let idx = f.path("a.imeiidx");
    argv.push(&idx);
    argv.extend(args.iter().map(String::as_str));
    let out = run(&argv, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), probes.len());
    for (line, imei) in lines.iter().zip(&probes) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let want = index.check(*imei);
        assert_eq!(v["input"], imei.to_string());
        assert_eq!(v["imei"], imei.to_string());
        assert_eq!(v["status"], want.status().map_or("unknown", |s| s.as_str()));
        assert_eq!(v["reason"].as_str(), want.reason().map(|r| r.as_str()));
        assert_eq!(v["rule"].as_str(), want.rule().map(|r| r.as_str()));
        assert_eq!(
            v["date"].as_str().map(String::from),
            want.date().map(|d| d.to_string())
        );
    }
}

#[test]
fn check_reads_stdin_reports_invalid_lines_and_goes_on() {
    let f = Fixture::new();
    assert_eq!(f.build("list.csv", "a.imeiidx").status.code(), Some(0));
    let blocked = f.list.blocked[0];
    let input = format!(
        "{blocked}\nnot-an-imei\n\n{:014}\r\nmac-00-11-22-33-44-55\n35-209900-176148-1\n",
        blocked.as_u64()
    );
    let out = run(
        &["check", "--json", "--index", &f.path("a.imeiidx")],
        Some(input.as_bytes()),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "invalid lines make exit status 1"
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    // The blank line is not an input; every other line gets an answer, in order.
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["status"], "blocked");
    assert!(lines[1]["error"].as_str().unwrap().contains("position 1"));
    assert_eq!(lines[2]["input"], format!("{:014}", blocked.as_u64()));
    assert_eq!(lines[2]["status"], "blocked");
    assert!(lines[3]["error"].as_str().unwrap().contains("MAC address"));
    assert_eq!(lines[4]["imei"], "352099001761481");

    // Human output: results on stdout, complaints on stderr.
    let out = run(
        &["check", "--index", &f.path("a.imeiidx")],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 3);
    assert!(text(&out.stderr).contains("line 2 \"not-an-imei\" is not an IMEI"));
}

#[test]
fn check_with_imsi_applies_pair_rules_and_lenient_accepts_forged_digits() {
    let f = Fixture::new();
    assert_eq!(f.build("list.csv", "a.imeiidx").status.code(), Some(0));
    let index = Index::open(f.dir.join("a.imeiidx")).unwrap();
    let (imei, imsi) = f.list.pairs[0];
    let out = run(
        &[
            "check",
            "--json",
            "--index",
            &f.path("a.imeiidx"),
            "--imsi",
            &imsi.to_string(),
            &imei.to_string(),
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let want = index.check_with_imsi(imei, &imsi);
    assert_eq!(v["status"], want.status().unwrap().as_str());
    assert_eq!(v["rule"], "pair");

    let bad = run(
        &[
            "check",
            "--index",
            &f.path("a.imeiidx"),
            "--imsi",
            "12",
            &imei.to_string(),
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("--imsi"));

    let blocked = f.list.blocked[3];
    let forged = format!(
        "{:014}{}",
        blocked.as_u64(),
        (blocked.check_digit() + 1) % 10
    );
    let strict = run(
        &["check", "--json", "--index", &f.path("a.imeiidx"), &forged],
        None,
    );
    assert_eq!(strict.status.code(), Some(1));
    assert!(text(&strict.stdout).contains("check digit"));
    let lenient = run(
        &[
            "check",
            "--json",
            "--lenient",
            "--index",
            &f.path("a.imeiidx"),
            &forged,
        ],
        None,
    );
    assert_eq!(lenient.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(text(&lenient.stdout).trim()).unwrap();
    assert_eq!(v["status"], index.check(blocked).status().unwrap().as_str());
}

#[test]
fn build_stops_at_a_bad_row_or_writes_it_aside() {
    let f = Fixture::new();
    let list = "imei,status\n352099001761481,blocked\n35209900176148X,blocked\n352099001761499,blocked\n35209900,nope\n";
    fs::write(f.dir.join("bad.csv"), list).unwrap();
    let out = f.build("bad.csv", "bad.imeiidx");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("bad.csv:3:15:"), "{err}");
    assert!(
        !f.dir.join("bad.imeiidx").exists(),
        "nothing is written on error"
    );

    let rejects = f.path("rejects.csv");
    let skip = format!("--skip-invalid={rejects}");
    let out = run(
        &[
            "build",
            &f.path("bad.csv"),
            "-o",
            &f.path("bad.imeiidx"),
            &skip,
        ],
        None,
    );
    // The index is written without the bad rows, but some input was invalid: exit 1.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(f.dir.join("bad.imeiidx").exists());
    assert!(
        text(&out.stderr).starts_with("imei-index: error: 2 rows could not be read"),
        "{}",
        text(&out.stderr)
    );
    let summary = text(&out.stdout);
    assert!(summary.contains("read 4 rows"), "{summary}");
    assert!(
        summary.contains("2 rules written + 0 merged (0 with conflicting status) + 2 rejected"),
        "{summary}"
    );
    let rejected = fs::read_to_string(&rejects).unwrap();
    assert!(rejected.contains("35209900176148X,blocked"));
    assert!(rejected.contains("35209900,nope"));
    assert!(rejected.contains("is not a status"));
    // The rejects file is itself a list: its rows are the bad ones, its reasons comments.
    let again = run(&["build", &rejects, "-o", &f.path("r.imeiidx")], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains(":3:"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn imei_transducer_builds_the_layout_before_imei_blocks_answering_the_same() {
    let f = Fixture::new();
    assert!(f.build("list.csv", "blocks.imeiidx").status.success());
    let old = run(
        &[
            "build",
            &f.path("list.csv"),
            "-o",
            &f.path("old.imeiidx"),
            "--imei-transducer",
        ],
        None,
    );
    assert!(old.status.success(), "{}", text(&old.stderr));
    let stats = |name: &str| text(&run(&["stats", &f.path(name)], None).stdout);
    assert!(stats("blocks.imeiidx").contains("IMEI blocks: "));
    assert!(stats("blocks.imeiidx").contains("imei blocks "));
    assert!(!stats("old.imeiidx").contains("imei blocks"));
    for name in ["blocks.imeiidx", "old.imeiidx"] {
        assert!(run(&["verify", &f.path(name)], None).status.success());
    }
    assert_eq!(
        sorted_rules(Path::new(&f.path("blocks.imeiidx"))),
        sorted_rules(Path::new(&f.path("old.imeiidx")))
    );
    let imeis: String = f
        .list
        .rules
        .iter()
        .filter_map(|r| match r.target() {
            imei_index::Target::Imei(i) => Some(format!(
                "{i}\n{}\n",
                Imei::from_u64(i.as_u64() ^ 1).map_or(String::new(), |j| j.to_string())
            )),
            _ => None,
        })
        .collect();
    let check = |name: &str| {
        let out = run(&["check", "--index", &f.path(name)], Some(imeis.as_bytes()));
        text(&out.stdout)
    };
    assert!(check("blocks.imeiidx").contains("blocked"));
    assert_eq!(check("blocks.imeiidx"), check("old.imeiidx"));
}

#[test]
fn stats_and_verify_report_an_index() {
    let f = Fixture::new();
    assert_eq!(f.build("list.csv", "a.imeiidx").status.code(), Some(0));
    let out = run(&["stats", &f.path("a.imeiidx")], None);
    assert_eq!(out.status.code(), Some(0));
    let stats = text(&out.stdout);
    let total = count(
        Index::open(f.dir.join("a.imeiidx"))
            .unwrap()
            .stats()
            .rules(),
    );
    assert!(stats.contains(&format!("{total} rules")), "{stats}");
    let out = run(&["verify", &f.path("a.imeiidx")], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let missing = run(&["verify", &f.path("missing.imeiidx")], None);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn damaged_index_files_give_errors_not_panics() {
    let f = Fixture::new();
    // A small index, so that every truncation and many flips can be tried.
    let small = "352099001761481,blocked,stolen,,2024-05-21\n35209900,tracked\n35209900176149..35209900179999,allowed\n352099001761481,allowed,,404685505601234,\n";
    fs::write(f.dir.join("small.csv"), small).unwrap();
    let built = f.build("small.csv", "small.imeiidx");
    assert_eq!(built.status.code(), Some(0), "{}", text(&built.stderr));
    let good = fs::read(f.dir.join("small.imeiidx")).unwrap();
    let damaged = f.path("damaged.imeiidx");
    // What `verify` says of each: 2 for a file that is not an index of this format and
    // version (it could not verify it), 1 for a damaged one (what it is there to find).
    const NOT_AN_INDEX: i32 = 2;
    const DAMAGED: i32 = 1;
    let mut cases: Vec<(String, Vec<u8>, i32)> = vec![
        ("empty".into(), Vec::new(), NOT_AN_INDEX),
        (
            "a list, not an index".into(),
            small.as_bytes().to_vec(),
            NOT_AN_INDEX,
        ),
    ];
    for len in (0..good.len()).step_by(good.len() / 40 + 1) {
        // Truncated to nothing is empty; any longer prefix keeps the magic, or part of it.
        let code = if len == 0 { NOT_AN_INDEX } else { DAMAGED };
        cases.push((format!("truncated to {len}"), good[..len].to_vec(), code));
    }
    for at in (0..good.len()).step_by(good.len() / 40 + 1) {
        let mut b = good.clone();
        b[at] ^= 0x5a;
        // Bytes 0..8 are the magic, 8..12 the format version.
        let code = if at < 12 { NOT_AN_INDEX } else { DAMAGED };
        cases.push((format!("byte {at} flipped"), b, code));
    }
    let mut appended = good.clone();
    appended.extend_from_slice(b"junk");
    cases.push(("bytes appended".into(), appended, DAMAGED));
    for (what, bytes, verify_code) in cases {
        fs::write(&damaged, &bytes).unwrap();
        for args in [
            vec!["check", "--index", &damaged, "352099001761481"],
            vec!["stats", &damaged],
            vec!["dump", &damaged],
        ] {
            let out = run(&args, None);
            assert_no_panic(&out, &what);
            assert_eq!(out.status.code(), Some(2), "{what}: {:?}", args[0]);
            assert!(text(&out.stderr).contains("imei-index: error:"), "{what}");
        }
        let out = run(&["verify", &damaged], None);
        assert_no_panic(&out, &what);
        assert_eq!(
            out.status.code(),
            Some(verify_code),
            "{what}: verify: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).starts_with("imei-index: error: "),
            "{what}"
        );
    }
}

#[test]
fn a_memory_bound_spills_and_builds_the_same_index() {
    let f = Fixture::new();
    assert_eq!(f.build("list.csv", "a.imeiidx").status.code(), Some(0));
    let out = run(
        &[
            "build",
            &f.path("list.csv"),
            "-o",
            &f.path("b.imeiidx"),
            "--memory",
            "64K",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        fs::read(f.dir.join("a.imeiidx")).unwrap(),
        fs::read(f.dir.join("b.imeiidx")).unwrap()
    );
    // No spilled run is left behind the output.
    let left: Vec<_> = fs::read_dir(&f.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.contains("run"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let bad = run(
        &[
            "build",
            &f.path("list.csv"),
            "-o",
            &f.path("c.imeiidx"),
            "--memory",
            "lots",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("is not a size"),
        "{}",
        text(&bad.stderr)
    );
}
