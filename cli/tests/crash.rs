//! Crash consistency (issue #12): `build`, `apply`, `merge` and `publish` killed with
//! SIGKILL at seeded random moments leave at their target the old index, byte for byte, or
//! the new one whole; what they leave beside it are temporary files named as this crate's,
//! which the next run removes (only those of dead processes). A full disk and a read-only
//! directory leave the target as it was, exit 2, name the file and say what happened.
//!
//! Linux only: it reads `/proc` for process start times, as the cleanup does.
#![cfg(target_os = "linux")]

mod cli_support;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use cli_support::text;

use imei_index::list::ListReader;
use imei_index::synth::{ListShape, Rng};
use imei_index::{Imei, Index, IndexBuilder, Merge, OpenOptions, Verdict, Verification};

/// Rules of the old list; the new one drops a tenth of them, changes the status of a
/// seventh and adds a tenth more. Enough that a debug build of a command takes about a
/// second, much of it writing. `IMEI_INDEX_CRASH_RULES` sets another number.
const RULES: u64 = 50_000;
/// Rules of the old list where a run need not take long: the outputs are still larger
/// than the file size limit.
const SMALL: u64 = 40_000;
/// Kills per command: half at a random moment of the measured run time, a quarter at a
/// random moment after the temporary file appeared, a quarter as soon as it appeared. `IMEI_INDEX_CRASH_KILLS` sets another
/// number (a longer soak: `IMEI_INDEX_CRASH_KILLS=500 IMEI_INDEX_CRASH_RULES=300000`).
const KILLS: usize = 20;

/// A number from the environment, or the default.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
/// No single run of a command may take longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_imei-index")
}

/// A directory with an old and a new list, their indexes (serials 1 and 2), and probes.
struct Fixture {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    probes: Vec<Imei>,
}

impl Fixture {
    fn new(rules: u64, seed: u64) -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let old: Vec<Imei> = ListShape::new(rules, seed).imeis().collect();
        let added: Vec<Imei> = ListShape::new(rules / 10, seed + 1)
            .imeis()
            .filter(|i| old.binary_search(i).is_err())
            .collect();
        let mut list1 = String::from("imei,status,reason,imsi,date\n");
        let mut list2 = list1.clone();
        for (n, imei) in old.iter().enumerate() {
            list1.push_str(&format!("{imei},blocked,stolen,,2024-05-01\n"));
            match n % 70 {
                0..=6 => {}
                7..=16 => list2.push_str(&format!("{imei},tracked,duplicate,,2024-05-02\n")),
                _ => list2.push_str(&format!("{imei},blocked,stolen,,2024-05-01\n")),
            }
        }
        for imei in &added {
            list2.push_str(&format!("{imei},blocked,fraud,,2024-05-02\n"));
        }
        fs::write(dir.join("old.csv"), list1).unwrap();
        fs::write(dir.join("new.csv"), list2).unwrap();
        let f = Fixture {
            _temp: temp,
            dir,
            probes: probes(&old, &added, seed),
        };
        f.build_reference("old.csv", 1, "old.imeiidx");
        f.build_reference("new.csv", 2, "new.imeiidx");
        f
    }

    /// Writes the delta list from the old index to the new one, `delta.csv`.
    fn with_delta(self) -> Fixture {
        let f = self;
        let out = run(&[
            "diff",
            &f.path("old.imeiidx"),
            &f.path("new.imeiidx"),
            "-o",
            &f.path("delta.csv"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        f
    }

    /// Builds a list into an index with the library, not the command under test.
    fn build_reference(&self, list: &str, serial: u64, index: &str) {
        let file = File::open(self.dir.join(list)).unwrap();
        let mut b = IndexBuilder::new();
        b.serial(serial);
        b.add_list(ListReader::new(list, BufReader::new(file)), Err)
            .unwrap();
        b.build_to_file(self.dir.join(index)).unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.dir.join(name)).unwrap()
    }

    /// Puts `from`'s bytes at `to` (the test's own files: no reader maps them).
    fn reset(&self, to: &str, from: &str) {
        let _ = fs::remove_file(self.dir.join(to));
        fs::copy(self.dir.join(from), self.dir.join(to)).unwrap();
    }

    fn names(&self) -> BTreeSet<String> {
        fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// Listed IMEIs of both lists and unlisted ones from their TACs.
fn probes(old: &[Imei], added: &[Imei], seed: u64) -> Vec<Imei> {
    let mut p: Vec<Imei> = old.iter().step_by(97).copied().collect();
    p.extend(added.iter().step_by(31).copied());
    p.extend(imei_index::synth::probes(old, 2_000, 0.0, seed));
    p
}

fn run(args: &[&str]) -> Output {
    cli_support::run(args, None)
}

fn answers(index: &Index, probes: &[Imei]) -> Vec<Verdict> {
    probes.iter().map(|&i| index.check(i)).collect()
}

/// The process that a temporary file's name says wrote it: id and start time.
type Owner = (u32, u64);

/// The owner of a temporary file of ours: `.{target}.{pid}.{start}.{n}.imeiidx.tmp`
/// beside the target, or `.imei-index-run.{pid}.{start}.{n}.tmp`, a run that
/// `build --memory` spilled.
fn owner_of(name: &str, target: &str) -> Option<Owner> {
    temporary_of(name, target).or_else(|| {
        name.strip_prefix(".imei-index-run.")
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(owner_fields)
    })
}

/// The owner of a temporary file of the target (not a spilled run).
fn temporary_of(name: &str, target: &str) -> Option<Owner> {
    name.strip_prefix(&format!(".{target}."))
        .and_then(|n| n.strip_suffix(".imeiidx.tmp"))
        .and_then(owner_fields)
}

/// `{pid}.{start}.{n}`, decimal.
fn owner_fields(middle: &str) -> Option<Owner> {
    let fields: Vec<&str> = middle.split('.').collect();
    if fields.len() != 3
        || fields
            .iter()
            .any(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((fields[0].parse().ok()?, fields[1].parse().ok()?))
}

/// A process's start time, field 22 of `/proc/PID/stat`.
fn start_of(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn me() -> Owner {
    let pid = std::process::id();
    (pid, start_of(pid).unwrap())
}

/// How a killed run ended.
#[derive(Debug, Default)]
struct Tally {
    old: usize,
    new: usize,
    completed: usize,
    /// Runs killed after creating their temporary file, which they left.
    with_leftovers: usize,
    /// Leftovers of earlier runs that a run removed.
    swept: usize,
    /// The most leftovers seen at once.
    most_left: usize,
}

/// One command under test: its arguments for the `i`th run, its target, and the file the
/// target holds before each run.
struct Subject<'a> {
    what: &'a str,
    args: &'a dyn Fn(usize) -> Vec<String>,
    target: &'a str,
    old: &'a str,
    /// An index built another way that the new target must answer like.
    reference: &'a str,
    seed: u64,
}

fn spawn(args: &[String]) -> Child {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

/// Waits until the child has created its temporary file beside the target (true), or
/// has exited (false).
fn wait_for_temporary(
    child: &mut Child,
    f: &Fixture,
    target: &str,
    known: &BTreeSet<String>,
) -> bool {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let pid = child.id();
        if f.names()
            .iter()
            .any(|n| !known.contains(n) && temporary_of(n, target).is_some_and(|(p, _)| p == pid))
        {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "the run takes too long");
        sleep(Duration::from_millis(2));
    }
}

fn kill_at_random_moments(f: &Fixture, s: &Subject<'_>) -> Tally {
    let probes = &f.probes;
    let reference = Index::open(f.dir.join(s.reference)).unwrap();
    let want = answers(&reference, probes);
    let old = f.read(s.old);
    f.reset(s.target, s.old);
    let inputs = f.names();

    // A run to the end: the new index, and how long the run and its writing take.
    let started = Instant::now();
    let mut child = spawn(&(s.args)(0));
    let wrote = wait_for_temporary(&mut child, f, s.target, &inputs);
    let temp_at = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(wrote, "{}: no temporary file seen", s.what);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        s.what,
        text(&out.stderr)
    );
    let new = f.read(s.target);
    assert_ne!(new, old, "{}", s.what);
    let check_new = |why: &str| {
        let index = OpenOptions::new()
            .verification(Verification::Full)
            .open(f.dir.join(s.target))
            .unwrap_or_else(|e| panic!("{}: {why}: the target fails verification: {e}", s.what));
        assert_eq!(answers(&index, probes), want, "{}: {why}", s.what);
    };
    check_new("after a run to the end");
    assert_eq!(f.names(), inputs, "{}: a run to the end left files", s.what);
    eprintln!(
        "{}: a run takes {:.0} ms, its temporary file appears after {:.0} ms",
        s.what,
        took.as_secs_f64() * 1e3,
        temp_at.as_secs_f64() * 1e3
    );

    let mut rng = Rng::new(s.seed);
    let mut tally = Tally::default();
    // Every process killed so far, with its start time when it could be read (process
    // ids are used again: this machine has 32768 of them).
    let mut killed: Vec<(u32, Option<u64>)> = Vec::new();
    let is = |(p, st): Owner, (kp, ks): (u32, Option<u64>)| p == kp && ks.is_none_or(|ks| ks == st);
    for i in 0..setting("IMEI_INDEX_CRASH_KILLS", KILLS as u64) as usize {
        if f.read(s.target) != old {
            f.reset(s.target, s.old);
        }
        let before = f.names();
        let run_started = Instant::now();
        let mut child = spawn(&(s.args)(i));
        let pid = child.id();
        let this = (pid, start_of(pid));
        killed.push(this);
        // Even runs: any moment of the run (and a little after). Odd runs: a moment of
        // the writing, once the temporary file is there; every other one as soon as it is
        // seen, so that some kills hit the writing however fast the machine is now.
        let mut reached_temporary = if i % 2 == 0 {
            sleep(rng_duration(&mut rng, took.mul_f64(1.25)));
            false
        } else {
            let seen = wait_for_temporary(&mut child, f, s.target, &before);
            if i % 4 == 3 {
                sleep(rng_duration(&mut rng, took.saturating_sub(temp_at)));
            }
            seen
        };
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            run_started.elapsed() < RUN_LIMIT,
            "{}: a run took too long",
            s.what
        );
        let what = format!("{} run {i}", s.what);
        match (out.status.signal(), out.status.code()) {
            (Some(9), _) => {}
            (None, Some(0)) => {
                tally.completed += 1;
                reached_temporary = true;
            }
            _ => panic!("{what}: {:?} {}", out.status, text(&out.stderr)),
        }

        // The target: the old index or the new one, a file, nothing else.
        let meta = fs::symlink_metadata(f.dir.join(s.target)).unwrap();
        assert!(meta.is_file(), "{what}: the target is not a file");
        let now = f.read(s.target);
        if now == old {
            tally.old += 1;
        } else if now == new {
            tally.new += 1;
            check_new(&what);
        } else {
            panic!(
                "{what}: the target is neither the old index nor the new one ({} bytes)",
                now.len()
            );
        }

        // What is left beside it: temporary files of killed processes, named as ours.
        let names = f.names();
        let left: Vec<&String> = names.difference(&inputs).collect();
        if left
            .iter()
            .any(|n| temporary_of(n, s.target).is_some_and(|o| is(o, this)))
        {
            reached_temporary = true;
            tally.with_leftovers += 1;
        }
        for name in &left {
            let owner = owner_of(name, s.target)
                .unwrap_or_else(|| panic!("{what}: {name} is not a temporary file of ours"));
            assert!(
                killed.iter().any(|&k| is(owner, k)),
                "{what}: {name} is not a killed process's"
            );
            // A run that got as far as its own temporary file removed the earlier ones.
            if reached_temporary && temporary_of(name, s.target).is_some() {
                assert!(
                    is(owner, this),
                    "{what}: {name} of an earlier run is still there"
                );
            }
        }
        tally.swept += before.difference(&names).count();
        tally.most_left = tally.most_left.max(left.len());
    }

    // Next to the leftovers: files that must stay. This process's (alive), and a dead
    // process's that someone holds a lock on (as a writer in another pid namespace does);
    // and one that must go: a dead process's, unlocked.
    let (my_pid, my_start) = me();
    let (dead_pid, dead_start) = killed
        .iter()
        .find_map(|&(p, s)| s.map(|s| (p, s)))
        .expect("a start time was read");
    let live = format!(".{}.{my_pid}.{my_start}.7.imeiidx.tmp", s.target);
    let locked = format!(".{}.{dead_pid}.{dead_start}.901.imeiidx.tmp", s.target);
    let stale = format!(".{}.{dead_pid}.{dead_start}.902.imeiidx.tmp", s.target);
    let live_run = format!(".imei-index-run.{my_pid}.{my_start}.7.tmp");
    let stale_run = format!(".imei-index-run.{dead_pid}.{dead_start}.902.tmp");
    for n in [&live, &locked, &stale, &live_run, &stale_run] {
        fs::write(f.dir.join(n), b"half an index").unwrap();
    }
    let lock = File::open(f.dir.join(&locked)).unwrap();
    lock.try_lock().unwrap();

    // The command again, to the end: it completes, and the dead processes' leftovers are
    // gone (run files too, when it spills).
    f.reset(s.target, s.old);
    let args = (s.args)(0);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        s.what,
        text(&out.stderr)
    );
    assert_eq!(f.read(s.target), new, "{}", s.what);
    check_new("after the kills");
    let spills = args.contains(&"--memory");
    let mut kept: BTreeSet<String> = [live, locked, live_run].into_iter().collect();
    if !spills {
        kept.insert(stale_run);
    }
    let left: BTreeSet<String> = f.names().difference(&inputs).cloned().collect();
    assert_eq!(left, kept, "{}: what the run after the kills left", s.what);
    drop(lock);
    for n in &kept {
        fs::remove_file(f.dir.join(n)).unwrap();
    }
    eprintln!("{}: {tally:?}", s.what);
    // The kills hit the writing: some left the old index and a temporary file.
    assert!(tally.with_leftovers > 0, "{}: {tally:?}", s.what);
    assert!(tally.old > 0, "{}: {tally:?}", s.what);
    tally
}

/// A seeded random duration from 0 to `max`.
fn rng_duration(rng: &mut Rng, max: Duration) -> Duration {
    let micros = max.as_micros() as u64;
    Duration::from_micros(if micros == 0 {
        0
    } else {
        rng.below(micros + 1)
    })
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_killed_build_leaves_the_old_index_or_the_new_one() {
    let f = Fixture::new(setting("IMEI_INDEX_CRASH_RULES", RULES), 11);
    let (list, target) = (f.path("new.csv"), f.path("target.imeiidx"));
    let args = |i: usize| {
        let mut a = strings(&["build", &list, "-o", &target, "--serial", "2"]);
        // Half the runs keep rules within 512 KiB, spilling sorted runs beside the target.
        if i % 4 < 2 {
            a.extend(strings(&["--memory", "512K"]));
        }
        a
    };
    kill_at_random_moments(
        &f,
        &Subject {
            what: "build",
            args: &args,
            target: "target.imeiidx",
            old: "old.imeiidx",
            reference: "new.imeiidx",
            seed: 1,
        },
    );
}

#[test]
fn a_killed_apply_leaves_the_old_index_or_the_new_one() {
    let f = Fixture::new(setting("IMEI_INDEX_CRASH_RULES", RULES), 12).with_delta();
    let (base, delta, target) = (
        f.path("old.imeiidx"),
        f.path("delta.csv"),
        f.path("target.imeiidx"),
    );
    let args = |_: usize| strings(&["apply", &base, &delta, "-o", &target, "--serial", "2"]);
    kill_at_random_moments(
        &f,
        &Subject {
            what: "apply",
            args: &args,
            target: "target.imeiidx",
            old: "old.imeiidx",
            reference: "new.imeiidx",
            seed: 2,
        },
    );
}

#[test]
fn a_killed_merge_leaves_the_old_index_or_the_new_one() {
    let f = Fixture::new(setting("IMEI_INDEX_CRASH_RULES", RULES), 13);
    let (old, new) = (
        Index::open(f.dir.join("old.imeiidx")).unwrap(),
        Index::open(f.dir.join("new.imeiidx")).unwrap(),
    );
    let mut m = Merge::new(&[&old, &new]);
    m.serial(3);
    m.build_to_file(f.dir.join("merged.imeiidx")).unwrap();
    let (a, b, target) = (
        f.path("old.imeiidx"),
        f.path("new.imeiidx"),
        f.path("target.imeiidx"),
    );
    let args = |_: usize| strings(&["merge", &a, &b, "-o", &target, "--serial", "3"]);
    kill_at_random_moments(
        &f,
        &Subject {
            what: "merge",
            args: &args,
            target: "target.imeiidx",
            old: "old.imeiidx",
            reference: "merged.imeiidx",
            seed: 3,
        },
    );
}

#[test]
fn a_killed_publish_leaves_the_old_index_or_the_new_one() {
    let f = Fixture::new(setting("IMEI_INDEX_CRASH_RULES", RULES), 14);
    let (source, target) = (f.path("new.imeiidx"), f.path("live.imeiidx"));
    let args = |_: usize| strings(&["publish", &source, &target]);
    kill_at_random_moments(
        &f,
        &Subject {
            what: "publish",
            args: &args,
            target: "live.imeiidx",
            old: "old.imeiidx",
            reference: "new.imeiidx",
            seed: 4,
        },
    );
    // What publish puts in place is its source, byte for byte.
    assert_eq!(f.read("live.imeiidx"), f.read("new.imeiidx"));
}

/// The four writing commands, with the target `target` in `dir`: (what, arguments).
fn writers(f: &Fixture, target: &str) -> Vec<(&'static str, Vec<String>)> {
    let (old, new, list, delta) = (
        f.path("old.imeiidx"),
        f.path("new.imeiidx"),
        f.path("new.csv"),
        f.path("delta.csv"),
    );
    vec![
        (
            "build",
            strings(&["build", &list, "-o", target, "--serial", "2"]),
        ),
        (
            "build --memory",
            strings(&["build", &list, "-o", target, "--memory", "256K"]),
        ),
        (
            "apply",
            strings(&["apply", &old, &delta, "-o", target, "--serial", "2"]),
        ),
        ("merge", strings(&["merge", &old, &new, "-o", target])),
        ("publish", strings(&["publish", &new, target])),
    ]
}

/// The command failed before replacing anything: exit 2, an error that names the target,
/// says it was left as it was, and says why (`cause`).
fn assert_failed_whole(what: &str, out: &Output, target: &str, cause: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(err.starts_with("imei-index: error: "), "{what}: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: {err}");
    assert!(
        err.contains(&format!("{target} was left as it was")),
        "{what}: {err}"
    );
    assert!(err.contains(cause), "{what}: {err}");
}

/// Runs the command with a file size limit of `kib` KiB and SIGXFSZ ignored, so that a
/// write past the limit fails with EFBIG, as on a full disk (RLIMIT_FSIZE needs no root).
fn run_limited(kib: u64, args: &[String]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs")
}

/// The file size limit: below the outputs, and below the runs that `build --memory 256K`
/// spills (16 Ki rules of 10 bytes).
const LIMIT_KIB: u64 = 48;

#[test]
fn a_full_disk_leaves_the_target_as_it_was_and_says_so() {
    let f = Fixture::new(SMALL, 15).with_delta();
    let target = f.path("target.imeiidx");
    let inputs = {
        f.reset("target.imeiidx", "old.imeiidx");
        f.names()
    };
    let old = f.read("old.imeiidx");
    eprintln!("the new index: {} bytes", f.read("new.imeiidx").len());
    // Each output is larger than the limit; so are the runs that `build --memory` spills
    // beside the target.
    assert!(f.read("new.imeiidx").len() > 2 * LIMIT_KIB as usize * 1024);
    for (what, args) in writers(&f, &target) {
        f.reset("target.imeiidx", "old.imeiidx");
        let out = run_limited(LIMIT_KIB, &args);
        assert_failed_whole(what, &out, &target, "File too large (os error 27)");
        if what == "build --memory" {
            // The runs spilled beside the target went past the limit first.
            let err = text(&out.stderr);
            assert!(err.contains("could not spill rules to"), "{err}");
        }
        assert_eq!(f.read("target.imeiidx"), old, "{what}");
        assert_eq!(f.names(), inputs, "{what}: files were left");
    }
}

/// Runs a command as an unprivileged user when this test runs as root, who may write
/// in a read-only directory; `None` when that user cannot run it.
fn run_unprivileged(args: &[String]) -> Option<Output> {
    let mut cmd = Command::new(bin());
    cmd.args(args).stdin(Stdio::null());
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // nobody: root's permissions would make every directory writable.
        cmd.uid(65534).gid(65534);
    }
    cmd.output().ok()
}

#[test]
fn a_read_only_directory_leaves_the_target_as_it_was_and_says_so() {
    let f = Fixture::new(SMALL, 16).with_delta();
    // SAFETY: as above.
    let root = unsafe { libc::geteuid() } == 0;
    if root && run_unprivileged(&strings(&["--version"])).is_none_or(|o| o.status.code() != Some(0))
    {
        eprintln!(
            "skipped: running as root, which ignores permissions, and the unprivileged user \
             65534 cannot run {}",
            bin()
        );
        return;
    }
    let ro = f.dir.join("ro");
    fs::create_dir(&ro).unwrap();
    fs::copy(f.dir.join("old.imeiidx"), ro.join("target.imeiidx")).unwrap();
    // A dead writer's leftover, which the commands cannot remove either.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let leftover = format!(".target.imeiidx.{dead}.0.0.imeiidx.tmp");
    fs::write(ro.join(&leftover), b"half").unwrap();
    // The inputs readable by anyone, the directory by anyone and writable by no one.
    for entry in fs::read_dir(&f.dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    fs::set_permissions(&f.dir, fs::Permissions::from_mode(0o755)).unwrap();
    // The target itself is writable: only a command that writes it in place could.
    fs::set_permissions(ro.join("target.imeiidx"), fs::Permissions::from_mode(0o666)).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let listing = |d: &Path| -> BTreeSet<String> {
        fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let (before, inputs) = (listing(&ro), f.names());
    let old = f.read("old.imeiidx");
    let target = ro.join("target.imeiidx").display().to_string();
    for (what, args) in writers(&f, &target) {
        let out = run_unprivileged(&args).expect("ran before");
        assert_failed_whole(what, &out, &target, "Permission denied (os error 13)");
        assert_eq!(fs::read(ro.join("target.imeiidx")).unwrap(), old, "{what}");
        assert_eq!(listing(&ro), before, "{what}");
        assert_eq!(f.names(), inputs, "{what}");
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}
