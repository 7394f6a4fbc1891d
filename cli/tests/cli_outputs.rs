//! Operations never take an EIR down: no command writes a file in place, an output that is
//! one of the inputs is refused before any work, a process that maps an index keeps
//! answering whatever is written to its path, a full disk leaves the old file whole, and
//! `publish` refuses a suspect index unless forced.

mod cli_support;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use cli_support::text;

use imei_index::synth::{ConnectionLog, NationalList};
use imei_index::{Imei, Index, Verdict};

fn run(args: &[&str]) -> Output {
    cli_support::run(args, None)
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&out.stderr)
    );
    out
}

/// A directory with a national list (tens of thousands of rules), its index, an older
/// index with a few of its rules, a connection log and a list with bad rows.
struct Fixture {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    list: NationalList,
}

impl Fixture {
    fn new() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let list = NationalList::generate(7);
        let mut csv = Vec::new();
        imei_index::synth::write_list(&mut csv, &list.rules).unwrap();
        fs::write(dir.join("list.csv"), csv).unwrap();
        let mut log = Vec::new();
        ConnectionLog {
            listed_share: 0.1,
            invalid_share: 0.05,
            ..ConnectionLog::new(20_000, 5)
        }
        .write(&list, &mut log)
        .unwrap();
        fs::write(dir.join("log.csv"), log).unwrap();
        // A few of the list's rules, and a bad row.
        let mut small = String::from("imei,status,reason,imsi,date\n");
        for imei in list.blocked.iter().take(3) {
            small.push_str(&format!("{imei},blocked,stolen,,\n"));
        }
        fs::write(dir.join("small.csv"), &small).unwrap();
        small.push_str("35209900176148X,blocked\n");
        fs::write(dir.join("bad.csv"), &small).unwrap();
        let f = Fixture {
            _temp: temp,
            dir,
            list,
        };
        ok(&[
            "build",
            &f.path("list.csv"),
            "-o",
            &f.path("national.imeiidx"),
        ]);
        ok(&[
            "build",
            &f.path("small.csv"),
            "-o",
            &f.path("small.imeiidx"),
        ]);
        f
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.dir.join(name)).unwrap()
    }

    /// Files a killed or failed write left behind.
    fn temporaries(&self) -> Vec<String> {
        fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") || n.starts_with('.'))
            .collect()
    }

    fn probes(&self) -> Vec<Imei> {
        let mut p: Vec<Imei> = self.list.blocked.iter().step_by(50).copied().collect();
        p.extend(imei_index::synth::probes(&self.list.blocked, 50, 0.0, 3));
        p.extend(self.list.ranges.iter().map(|r| r.0));
        p
    }
}

fn answers(index: &Index, probes: &[Imei]) -> Vec<Verdict> {
    probes.iter().map(|&i| index.check(i)).collect()
}

/// A command's error names both files and the run changed nothing.
fn assert_refused(out: &Output, names: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("imei-index: error: "), "{err}");
    for n in names {
        assert!(err.contains(n), "{n} not named: {err}");
    }
    assert!(err.contains("same file"), "{err}");
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work() {
    let f = Fixture::new();
    // Other names for the same files: a hard link, and a path through `.`.
    fs::hard_link(f.dir.join("national.imeiidx"), f.dir.join("link.imeiidx")).unwrap();
    let (national, link) = (f.path("national.imeiidx"), f.path("link.imeiidx"));
    let dotted = |name: &str| f.dir.join(".").join(name).display().to_string();
    let (list, log, small) = (
        f.path("list.csv"),
        f.path("log.csv"),
        f.path("small.imeiidx"),
    );
    let before = (
        f.read("national.imeiidx"),
        f.read("list.csv"),
        f.read("log.csv"),
    );
    let small_before = f.read("small.imeiidx");

    let delta = f.path("delta.csv");
    ok(&["diff", &small, &national, "-o", &delta]);
    let cases: Vec<(Vec<String>, [String; 2])> = vec![
        (
            vec!["dump".into(), national.clone(), "-o".into(), link.clone()],
            [national.clone(), link.clone()],
        ),
        (
            vec![
                "diff".into(),
                small.clone(),
                national.clone(),
                "-o".into(),
                link.clone(),
            ],
            [national.clone(), link.clone()],
        ),
        (
            vec![
                "build".into(),
                list.clone(),
                "-o".into(),
                dotted("list.csv"),
            ],
            [list.clone(), dotted("list.csv")],
        ),
        (
            vec![
                "build".into(),
                list.clone(),
                "-o".into(),
                f.path("new.imeiidx"),
                format!("--skip-invalid={}", dotted("list.csv")),
            ],
            [list.clone(), dotted("list.csv")],
        ),
        (
            vec![
                "build".into(),
                list.clone(),
                "-o".into(),
                f.path("new.imeiidx"),
                format!("--skip-invalid={}", dotted("new.imeiidx")),
            ],
            [f.path("new.imeiidx"), dotted("new.imeiidx")],
        ),
        (
            vec![
                "apply".into(),
                small.clone(),
                delta.clone(),
                "-o".into(),
                dotted("delta.csv"),
            ],
            [delta.clone(), dotted("delta.csv")],
        ),
        (
            vec![
                "merge".into(),
                small.clone(),
                national.clone(),
                "-o".into(),
                link.clone(),
            ],
            [national.clone(), link.clone()],
        ),
        (
            vec!["publish".into(), national.clone(), link.clone()],
            [national.clone(), link.clone()],
        ),
        (
            vec![
                "scan".into(),
                "--index".into(),
                small.clone(),
                log.clone(),
                "-o".into(),
                dotted("log.csv"),
            ],
            [log.clone(), dotted("log.csv")],
        ),
        (
            vec![
                "scan".into(),
                "--index".into(),
                national.clone(),
                log.clone(),
                "--rejects".into(),
                link.clone(),
            ],
            [national.clone(), link.clone()],
        ),
    ];
    for (args, names) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        assert_refused(&out, &[&names[0], &names[1]]);
        assert!(out.stdout.is_empty(), "{args:?}: no work was done");
    }
    assert_eq!(
        (
            f.read("national.imeiidx"),
            f.read("list.csv"),
            f.read("log.csv")
        ),
        before
    );
    assert_eq!(f.read("small.imeiidx"), small_before);
    assert!(!f.dir.join("new.imeiidx").exists());
    assert!(f.temporaries().is_empty(), "{:?}", f.temporaries());
}

#[test]
fn a_mapped_index_keeps_answering_whatever_is_written_to_its_path() {
    let f = Fixture::new();
    let target = f.path("served.imeiidx");
    fs::copy(f.dir.join("national.imeiidx"), &target).unwrap();
    // An EIR process serving the file: it is mapped, and checks read it.
    let served = Index::open(&target).unwrap();
    let probes = f.probes();
    let before = answers(&served, &probes);
    let rules = served.rules().count();
    assert!(before.iter().any(|v| v.is_listed()));

    let (national, small, list, log, bad) = (
        f.path("national.imeiidx"),
        f.path("small.imeiidx"),
        f.path("list.csv"),
        f.path("log.csv"),
        f.path("bad.csv"),
    );
    let delta = f.path("delta.csv");
    ok(&["diff", &small, &national, "-o", &delta]);
    let skip = format!("--skip-invalid={target}");
    let other = f.path("other.imeiidx");
    let small_list = f.path("small.csv");
    let commands: Vec<Vec<&str>> = vec![
        vec!["dump", &small, "-o", &target],
        vec!["diff", &national, &small, "-o", &target],
        vec!["build", &bad, "-o", &other, &skip],
        vec!["build", &small_list, "-o", &target],
        vec!["apply", &small, &delta, "-o", &target],
        vec!["merge", &small, &national, "-o", &target, "--serial", "9"],
        vec!["scan", "--index", &national, &log, "-o", &target],
        vec!["scan", "--index", &national, &log, "--rejects", &target],
        vec!["build", &list, "-o", &target, "--serial", "9"],
        vec!["publish", &small, &target, "--force"],
    ];
    // Another name for the mapped file, to put it back at the path before each command.
    let keep = f.dir.join("keep.imeiidx");
    fs::hard_link(&target, &keep).unwrap();
    for args in commands {
        fs::remove_file(&target).unwrap();
        fs::hard_link(&keep, &target).unwrap();
        let out = run(&args);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        // Every page of the old file is still there, with its old bytes.
        assert_eq!(answers(&served, &probes), before, "{args:?}");
        assert_eq!(served.rules().count(), rules, "{args:?}");
        // The command replaced the path, and left the mapped file as it was.
        assert_ne!(
            fs::read(&target).unwrap(),
            fs::read(&keep).unwrap(),
            "{args:?}"
        );
    }
    assert!(f.temporaries().is_empty(), "{:?}", f.temporaries());
}

/// Runs the command with a file size limit of `kib` KiB and SIGXFSZ ignored, so that a
/// write past the limit fails with EFBIG, as on a full disk (RLIMIT_FSIZE needs no root).
fn run_limited(kib: u64, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_imei-index"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs")
}

#[test]
fn a_full_disk_leaves_the_old_file_whole_and_names_it() {
    let f = Fixture::new();
    // Rows the build rejects, far more bytes of them than the limit.
    let mut rejected = String::from("imei,status\n352099001761481,blocked\n");
    for i in 0..5_000 {
        rejected.push_str(&format!("3520990017{i:04}X,blocked\n"));
    }
    fs::write(f.dir.join("rejected.csv"), rejected).unwrap();
    let (national, small, list) = (
        f.path("national.imeiidx"),
        f.path("small.imeiidx"),
        f.path("list.csv"),
    );
    let target = f.path("target");
    let limit = 64;
    // Each command writes more than `limit` KiB to `target`, and nothing else that large.
    let skip = format!("--skip-invalid={target}");
    let (rejected, r_index, log) = (
        f.path("rejected.csv"),
        f.path("r.imeiidx"),
        f.path("log.csv"),
    );
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("dump -o", vec!["dump", &national, "-o", &target]),
        ("diff -o", vec!["diff", &small, &national, "-o", &target]),
        ("build -o", vec!["build", &list, "-o", &target]),
        (
            "build --skip-invalid",
            vec!["build", &rejected, "-o", &r_index, &skip],
        ),
        ("publish", vec!["publish", &national, &target, "--force"]),
        (
            "scan -o",
            vec!["scan", "--index", &national, &log, "-o", &target],
        ),
    ];
    for (what, args) in cases {
        // The old file: a small valid index, so that publish has something to replace.
        fs::copy(f.dir.join("small.imeiidx"), &target).unwrap();
        let old = f.read("target");
        // Without the limit, the command succeeds.
        let unlimited = run_limited(1 << 20, &args);
        assert!(
            matches!(unlimited.status.code(), Some(0 | 1)),
            "{what}: {}",
            text(&unlimited.stderr)
        );
        assert!(f.read("target").len() > limit as usize * 1024, "{what}");
        fs::copy(f.dir.join("small.imeiidx"), &target).unwrap();
        let _ = fs::remove_file(&r_index);

        let out = run_limited(limit, &args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.starts_with("imei-index: error: "), "{what}: {err}");
        assert!(
            err.contains(&format!("{target} was left as it was")),
            "{what}: {err}"
        );
        assert_eq!(f.read("target"), old, "{what}: the old file changed");
        assert!(f.temporaries().is_empty(), "{what}: {:?}", f.temporaries());
        // The rejects could not be written: the index was not put in place either.
        assert!(!f.dir.join("r.imeiidx").exists(), "{what}");
    }
}

/// Builds `rows` (list rows after a header) into `name` with a serial.
fn build(f: &Fixture, name: &str, serial: u64, rows: &[String]) -> String {
    let list = format!("{name}.csv");
    let mut csv = String::from("imei,status,reason,imsi,date\n");
    for r in rows {
        csv.push_str(r);
        csv.push('\n');
    }
    fs::write(f.dir.join(&list), csv).unwrap();
    let index = f.path(name);
    ok(&[
        "build",
        &f.path(&list),
        "-o",
        &index,
        "--serial",
        &serial.to_string(),
    ]);
    index
}

fn rows(f: &Fixture, range: std::ops::Range<usize>) -> Vec<String> {
    f.list.blocked[range]
        .iter()
        .map(|i| format!("{i},blocked,stolen,,"))
        .collect()
}

/// Publishing is refused with exit 1, a message saying why and what to do, and the target
/// exactly as it was.
fn assert_guarded(f: &Fixture, args: &[&str], why: &str) {
    let target = f.path("current.imeiidx");
    let before = f.read("current.imeiidx");
    let out = run(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        err.starts_with("imei-index: error: refused to publish ")
            && err.contains(&format!("over {target}, which was left as it was"))
            && err.contains(why)
            && err.contains("--force"),
        "{err}"
    );
    assert!(
        text(&out.stdout).starts_with("not published: "),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(f.read("current.imeiidx"), before);
    assert!(f.temporaries().is_empty(), "{:?}", f.temporaries());
}

#[test]
fn publish_refuses_an_empty_index_unless_forced() {
    let f = Fixture::new();
    let current = f.path("current.imeiidx");
    let good = build(&f, "good.imeiidx", 5, &rows(&f, 0..10));
    ok(&["publish", &good, &current]);

    // A header-only list builds, with a warning, into an index with no rules.
    fs::write(f.dir.join("header.csv"), "imei,status,reason,imsi,date\n").unwrap();
    let empty = f.path("empty.imeiidx");
    let out = ok(&[
        "build",
        &f.path("header.csv"),
        "-o",
        &empty,
        "--serial",
        "6",
    ]);
    let err = text(&out.stderr);
    assert!(
        err.starts_with("imei-index: warning: the list gave no rules") && err.contains(&empty),
        "{err}"
    );
    assert_eq!(Index::open(&empty).unwrap().stats().rules(), 0);
    // A list with rules gives no warning.
    assert!(
        text(&ok(&["build", &f.path("small.csv"), "-o", &f.path("s.imeiidx")]).stderr).is_empty()
    );

    assert_guarded(&f, &["publish", &empty, &current], "holds no rules");
    // Over nothing too: an empty index is suspect wherever it goes.
    let out = run(&["publish", &empty, &f.path("new.imeiidx")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!f.dir.join("new.imeiidx").exists());

    let out = ok(&["publish", &empty, &current, "--force"]);
    assert!(
        text(&out.stderr).starts_with("imei-index: warning: --force published an index")
            && text(&out.stderr).contains("it holds no rules"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("changes: 0 added, 0 changed, 10 removed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(Index::open(&current).unwrap().stats().rules(), 0);
}

#[test]
fn publish_counts_removals_rule_by_rule_and_refuses_too_many() {
    let f = Fixture::new();
    let current = f.path("current.imeiidx");
    let old = build(&f, "old.imeiidx", 5, &rows(&f, 0..10));
    ok(&["publish", &old, &current]);

    // As many rules as the target, but six of its ten swapped for others: a count of rules
    // sees no change, the diff sees six removals.
    let mut swapped = rows(&f, 0..4);
    swapped.extend(rows(&f, 100..106));
    let new = build(&f, "new.imeiidx", 6, &swapped);
    assert_guarded(
        &f,
        &["publish", &new, &current],
        "it removes 6 of the 10 rules of the index it would replace, more than the 50% allowed",
    );
    assert_guarded(
        &f,
        &["publish", &new, &current, "--max-removed", "55%"],
        "more than the 55% allowed",
    );
    let bad = run(&["publish", &new, &current, "--max-removed", "150"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("is not a percentage"));

    let out = ok(&["publish", &new, &current, "--max-removed", "60"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("changes: 6 added, 0 changed, 6 removed")
            && stdout.contains("serial: 5 -> 6")
            && stdout.contains("rules by kind: pair 0 -> 0, imei 10 -> 10")
            && stdout.contains("rules by status: blocked 10 -> 10"),
        "{stdout}"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // Exactly half may go.
    let half = build(&f, "half.imeiidx", 7, &swapped[..5]);
    ok(&["publish", &half, &current]);
    // And with --force, anything.
    let one = build(&f, "one.imeiidx", 8, &swapped[..1]);
    assert_guarded(
        &f,
        &["publish", &one, &current],
        "it removes 4 of the 5 rules",
    );
    let out = ok(&["publish", &one, &current, "--force"]);
    assert!(
        text(&out.stderr).contains("it removed 4 of the 5 rules of the index it replaced"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn publish_refuses_an_older_serial_and_serial_0_is_unset() {
    let f = Fixture::new();
    let current = f.path("current.imeiidx");
    let r = rows(&f, 0..10);
    ok(&["publish", &build(&f, "v5.imeiidx", 5, &r), &current]);

    let older = build(&f, "v4.imeiidx", 4, &r);
    assert_guarded(
        &f,
        &["publish", &older, &current],
        "its serial 4 is lower than the serial 5 of the index it would replace",
    );
    // The same serial again is a re-publish; 0 on either side skips the check.
    ok(&["publish", &build(&f, "again.imeiidx", 5, &r), &current]);
    ok(&["publish", &build(&f, "unset.imeiidx", 0, &r), &current]);
    ok(&["publish", &older, &current]);
    let v3 = build(&f, "v3.imeiidx", 3, &r);
    assert_guarded(
        &f,
        &["publish", &v3, &current],
        "its serial 3 is lower than the serial 4",
    );
}

#[test]
fn publish_with_force_goes_back() {
    let f = Fixture::new();
    let current = f.path("current.imeiidx");
    let r = rows(&f, 0..10);
    ok(&["publish", &build(&f, "v5.imeiidx", 5, &r), &current]);
    let older = build(&f, "v4.imeiidx", 4, &r);
    assert_guarded(&f, &["publish", &older, &current], "is lower than");
    let out = ok(&["publish", &older, &current, "--force"]);
    assert!(
        text(&out.stderr).contains("its serial 4 is lower than the serial 5"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(Index::open(&current).unwrap().serial(), 4);
}

/// `-o` a named pipe (as `-o /dev/null` or `-o /dev/stdout`, which a test run as root must
/// not risk replacing): a text output is written into it and the command succeeds; an index,
/// which is written with seeks, fails with the system's reason. Either way the pipe stays a
/// pipe. Such outputs cannot be flushed to disk (`fsync` refuses them), and opening one to
/// compare it with the inputs waits for its other end: a command that did either failed
/// after its work, or hung.
#[cfg(unix)]
#[test]
fn an_output_that_is_a_pipe_is_written_through() {
    use std::os::unix::fs::FileTypeExt;
    let f = Fixture::new();
    let text_outputs: [(&str, Vec<String>, &[u8]); 2] = [
        (
            "scan",
            vec![
                "scan".into(),
                "--index".into(),
                f.path("national.imeiidx"),
                f.path("log.csv"),
                "--rejects".into(),
                f.path("rejects.csv"),
            ],
            b"imsi,msisdn,imei,",
        ),
        (
            "dump",
            vec!["dump".into(), f.path("small.imeiidx")],
            b"imei,status,",
        ),
    ];
    let through_pipe = |name: &str, mut args: Vec<String>| {
        let fifo = f.dir.join(format!("{name}.fifo"));
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        args.extend(["-o".to_string(), fifo.display().to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let got = reader.join().unwrap();
        assert!(
            fs::metadata(&fifo).unwrap().file_type().is_fifo(),
            "{name}: the pipe was replaced"
        );
        (out, got)
    };
    for (name, args, starts) in text_outputs {
        let (out, got) = through_pipe(name, args);
        // The log has bad rows, for which scan exits 1; a failed write is 2.
        let stderr = text(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 1)) && !stderr.contains("could not write"),
            "{name}: {stderr}"
        );
        assert!(
            got.starts_with(starts),
            "{name}: the pipe received {:?}",
            String::from_utf8_lossy(&got[..got.len().min(40)])
        );
    }
    let (out, _) = through_pipe("build", vec!["build".into(), f.path("small.csv")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Illegal seek"),
        "{}",
        text(&out.stderr)
    );
}
