//! The journal end to end: what is recorded is in the files, across rotation, restarts and
//! a killed process; a full queue drops and counts; files are private and expire; numbers
//! are hashed when asked; alerts come once per pair and day; several processes' files
//! export as one, equal to the distinct triplets computed directly.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imei_index::{Entry, Imei, Imsi, Reason, RuleKind, Status, Verdict};
use imei_index_trace::{
    DirbsExport, HEADER, HEADER_HASHED, Journal, JournalOptions, JournalReader, JournalRow, Msisdn,
    Policy, Recorded, Sighting, journal_file_day, pseudonym,
};
use proptest::prelude::*;

const DAY: u64 = 86_400_000;
/// 2024-05-21T00:00:00Z.
const MAY_21: u64 = 1_716_249_600_000;

fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

fn blocked() -> Verdict {
    Verdict::listed(
        RuleKind::Imei,
        &Entry::new(Status::Blocked).with_reason(Reason::Stolen),
    )
}

fn tracked() -> Verdict {
    Verdict::listed(RuleKind::Range, &Entry::new(Status::Tracked))
}

fn imei(n: u64) -> Imei {
    Imei::from_u64(35_417_803_000_000 + n).unwrap()
}

fn imsi(n: u64) -> Imsi {
    Imsi::parse(&format!("40468{:010}", n)).unwrap()
}

/// Every journal file in `dir`, sorted by name.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| journal_file_day(p.file_name().unwrap().to_str().unwrap()).is_some())
        .collect();
    out.sort();
    out
}

/// Every row of every journal file in `dir`, and how many rows could not be read.
fn read_all(dir: &Path) -> (Vec<JournalRow>, usize) {
    let (mut rows, mut bad) = (Vec::new(), 0);
    for path in files(dir) {
        let file = BufReader::new(std::fs::File::open(&path).unwrap());
        let reader = JournalReader::new(path.display().to_string(), file).unwrap();
        for row in reader {
            match row {
                Ok(r) => rows.push(r),
                Err(e) => {
                    assert!(e.incomplete, "{e}");
                    bad += 1;
                }
            }
        }
    }
    (rows, bad)
}

/// A sighting's identity as a row shows it: time, IMEI, IMSI, MSISDN.
fn key_of(s: &Sighting) -> (u64, u64, String, String) {
    (
        s.at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64,
        s.imei.as_u64(),
        s.imsi.map(|i| i.to_string()).unwrap_or_default(),
        s.msisdn.map(|m| m.to_string()).unwrap_or_default(),
    )
}

fn row_key(r: &JournalRow) -> (u64, u64, String, String) {
    (
        r.unix_millis,
        r.imei.as_u64(),
        r.imsi.clone(),
        r.msisdn.clone(),
    )
}

#[test]
fn nothing_recorded_is_lost_across_rotation_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorded = Vec::new();
    // Today (a journal opens today's file) and the days after it.
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        / DAY
        * DAY;
    for start in 0..3u64 {
        let journal = Journal::open(dir.path(), JournalOptions::new().policy(Policy::ALL)).unwrap();
        // Three days in each run, some sightings late by a day, with and without numbers.
        for i in 0..300u64 {
            let day = start + i / 100;
            let late = if i % 37 == 0 && day > 0 { DAY } else { 0 };
            let mut s = Sighting::new(
                imei(i),
                if i % 3 == 0 {
                    Verdict::unknown()
                } else {
                    blocked()
                },
            )
            .at(at(today + day * DAY + i * 1000 - late));
            if i % 2 == 0 {
                s = s.with_imsi(imsi(i % 11));
            }
            if i % 5 == 0 {
                s = s.with_msisdn(Msisdn::parse(&format!("9198765{:05}", i)).unwrap());
            }
            assert_eq!(journal.record(&s), Recorded::Queued);
            recorded.push(s);
        }
        let stats = journal.close().unwrap();
        assert_eq!(
            (stats.queued, stats.written, stats.dropped, stats.lost),
            (300, 300, 0, 0)
        );
    }
    let (rows, bad) = read_all(dir.path());
    assert_eq!(bad, 0);
    let mut want: Vec<_> = recorded.iter().map(key_of).collect();
    let mut got: Vec<_> = rows.iter().map(row_key).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // Rotation: a file of day D holds sightings of day D, or of the day before (late ones).
    for path in files(dir.path()) {
        let day = journal_file_day(path.file_name().unwrap().to_str().unwrap()).unwrap();
        let file = BufReader::new(std::fs::File::open(&path).unwrap());
        for row in JournalReader::new("f", file).unwrap() {
            let d = row.unwrap().day();
            assert!(
                d == day || d + 1 == day,
                "{}: a row of day {d}",
                path.display()
            );
        }
    }
    // Every run wrote its own files: today's (at open), then one per day of its sightings.
    assert!(files(dir.path()).len() >= 9, "{:?}", files(dir.path()));
}

#[test]
fn a_full_queue_drops_and_counts_and_never_waits() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(
        dir.path(),
        JournalOptions::new()
            .queue_capacity(8)
            .flush_interval(Duration::from_secs(60)),
    )
    .unwrap();
    let mut queued = Vec::new();
    let mut dropped = 0u64;
    let started = std::time::Instant::now();
    for i in 0..20_000u64 {
        let s = Sighting::new(imei(i), blocked()).with_imsi(imsi(i));
        match journal.record(&s) {
            Recorded::Queued => queued.push(s),
            Recorded::Dropped => dropped += 1,
            Recorded::Skipped => unreachable!(),
        }
    }
    let took = started.elapsed();
    let stats = journal.close().unwrap();
    assert!(
        dropped > 0,
        "a queue of 8 took 20,000 sightings in {took:?}"
    );
    assert_eq!(stats.dropped, dropped);
    assert_eq!(stats.queued, queued.len() as u64);
    assert_eq!(stats.written, stats.queued);
    let (rows, _) = read_all(dir.path());
    let mut want: Vec<_> = queued.iter().map(key_of).collect();
    let mut got: Vec<_> = rows.iter().map(row_key).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "exactly the queued sightings are in the files");
}

#[test]
fn the_policy_chooses_what_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::new()).unwrap();
    let allowed = Verdict::listed(RuleKind::Pair, &Entry::new(Status::Allowed));
    for (v, want) in [
        (blocked(), Recorded::Queued),
        (tracked(), Recorded::Queued),
        (allowed, Recorded::Skipped),
        (Verdict::unknown(), Recorded::Skipped),
    ] {
        assert_eq!(journal.record(&Sighting::new(imei(1), v)), want);
    }
    let stats = journal.close().unwrap();
    assert_eq!((stats.written, stats.skipped), (2, 2));
}

#[cfg(unix)]
#[test]
fn files_are_private_and_old_ones_expire() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("journal");
    std::fs::create_dir(&dir).unwrap();
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        / DAY;
    let name = |days_ago: u64, pid: u32| {
        let (y, m, d) = imei_index::Date::from_days_since_epoch((today - days_ago) as u32)
            .unwrap()
            .to_ymd();
        format!("sightings-{y:04}{m:02}{d:02}-20000101T000000000Z-{pid}.csv")
    };
    for (days_ago, pid) in [(40, 1), (31, 2), (30, 3), (29, 4), (1, 5)] {
        std::fs::write(dir.join(name(days_ago, pid)), format!("{HEADER}\n")).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "kept").unwrap();
    let journal = Journal::open(&dir, JournalOptions::new().retention_days(Some(30))).unwrap();
    journal.record(&Sighting::new(imei(1), blocked()));
    let stats = journal.close().unwrap();
    assert_eq!(
        stats.files_deleted, 3,
        "40, 31 and 30 days ago are past 30 days"
    );
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert!(left.contains(&name(29, 4)) && left.contains(&name(1, 5)));
    assert!(left.contains(&"notes.txt".to_string()));
    assert_eq!(left.len(), 4, "{left:?}");
    for path in files(&dir) {
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with(&format!("-{}.csv", std::process::id()))
        {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    // A directory the journal creates is private too.
    let fresh = root.path().join("a/b");
    Journal::open(&fresh, JournalOptions::new())
        .unwrap()
        .close()
        .unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn numbers_are_keyed_hashes_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let key = b"operator secret".to_vec();
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&alerts);
    let journal = Journal::open(
        dir.path(),
        JournalOptions::new()
            .key(key.clone())
            .on_alert(move |a| sink.lock().unwrap().push(a.clone())),
    )
    .unwrap();
    let n = Msisdn::parse("919876543210").unwrap();
    journal.record(
        &Sighting::new(imei(1), blocked())
            .with_imsi(imsi(1))
            .with_msisdn(n),
    );
    journal.close().unwrap();
    let text = std::fs::read_to_string(&files(dir.path())[0]).unwrap();
    assert!(text.starts_with(HEADER_HASHED), "{text}");
    assert!(!text.contains(&imsi(1).to_string()) && !text.contains("919876543210"));
    let (rows, _) = read_all(dir.path());
    assert_eq!(rows[0].imsi, pseudonym(&key, &imsi(1).to_string()));
    assert_eq!(rows[0].msisdn, pseudonym(&key, "919876543210"));
    let alerts = alerts.lock().unwrap();
    assert!(alerts[0].hashed);
    assert_eq!(alerts[0].imsi.as_deref(), Some(rows[0].imsi.as_str()));
}

#[test]
fn alerts_come_once_per_handset_sim_and_day() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&alerts);
    let journal = Journal::open(
        dir.path(),
        JournalOptions::new()
            .policy(Policy::ALL)
            .on_alert(move |a| sink.lock().unwrap().push((a.imei, a.imsi.clone()))),
    )
    .unwrap();
    let t = |d: u64, s: u64| at(MAY_21 + d * DAY + s * 1000);
    let seen = [
        Sighting::new(imei(1), blocked())
            .with_imsi(imsi(1))
            .at(t(0, 1)), // alert
        Sighting::new(imei(1), blocked())
            .with_imsi(imsi(1))
            .at(t(0, 2)),
        Sighting::new(imei(1), blocked())
            .with_imsi(imsi(2))
            .at(t(0, 3)), // alert: new SIM
        Sighting::new(imei(1), blocked()).at(t(0, 4)), // alert: no SIM named
        Sighting::new(imei(2), tracked())
            .with_imsi(imsi(1))
            .at(t(0, 5)), // alert: tracked
        Sighting::new(imei(3), Verdict::unknown())
            .with_imsi(imsi(1))
            .at(t(0, 6)),
        Sighting::new(
            imei(4),
            Verdict::listed(RuleKind::Pair, &Entry::new(Status::Allowed)),
        )
        .with_imsi(imsi(4))
        .at(t(0, 7)),
        Sighting::new(imei(1), blocked())
            .with_imsi(imsi(1))
            .at(t(1, 1)), // alert: a new day
    ];
    for s in &seen {
        journal.record(s);
    }
    let stats = journal.close().unwrap();
    assert_eq!(stats.alerts, 5);
    let got = alerts.lock().unwrap().clone();
    let sim = |n| Some(imsi(n).to_string());
    assert_eq!(
        got,
        [
            (imei(1), sim(1)),
            (imei(1), sim(2)),
            (imei(1), None),
            (imei(2), sim(1)),
            (imei(1), sim(1))
        ]
    );
    let (mut rows, _) = read_all(dir.path());
    rows.sort_by_key(|r| r.unix_millis);
    let flags: Vec<bool> = rows.iter().map(|r| r.alert).collect();
    assert_eq!(flags, [true, false, true, true, true, false, false, true]);
}

#[test]
fn a_hook_that_panics_is_counted_and_the_journal_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(
        dir.path(),
        JournalOptions::new().on_alert(|_| panic!("a broken hook")),
    )
    .unwrap();
    for i in 0..3 {
        journal.record(&Sighting::new(imei(i), blocked()));
    }
    let stats = journal.close().unwrap();
    assert_eq!((stats.hook_panics, stats.written), (3, 3));
}

#[test]
fn flush_writes_everything_recorded_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(
        dir.path(),
        JournalOptions::new().flush_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    for i in 0..100 {
        journal.record(&Sighting::new(imei(i), blocked()));
    }
    journal.flush().unwrap();
    assert_eq!(read_all(dir.path()).0.len(), 100);
    assert_eq!(journal.stats().written, 100);
}

/// Sightings for the export's property: a few days, handsets, SIMs and numbers, so that
/// repeats are common.
/// A sighting to make: time after May 21, IMEI, IMSI, MSISDN (numbers of each), process.
type Seen = (u64, u64, Option<u64>, Option<u64>, usize);

fn sightings() -> impl Strategy<Value = Vec<Seen>> {
    proptest::collection::vec(
        (
            0..3 * DAY,
            0..20u64,
            proptest::option::of(0..6u64),
            proptest::option::of(0..4u64),
            0..3usize,
        ),
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_export_is_the_distinct_triplets(seen in sightings()) {
        let dir = tempfile::tempdir().unwrap();
        // Three journals at once: three worker processes of one EIR.
        let journals: Vec<Journal> = (0..3)
            .map(|_| Journal::open(dir.path(), JournalOptions::new().policy(Policy::ALL)).unwrap())
            .collect();
        let mut want = BTreeSet::new();
        for &(t, i, s, n, process) in &seen {
            let mut sighting = Sighting::new(imei(i), blocked()).at(at(MAY_21 + t));
            if let Some(s) = s {
                sighting = sighting.with_imsi(imsi(s));
            }
            if let Some(n) = n {
                sighting = sighting.with_msisdn(Msisdn::parse(&format!("91987654{n:04}")).unwrap());
            }
            prop_assert_eq!(journals[process].record(&sighting), Recorded::Queued);
            let (y, m, d) = imei_index::Date::from_days_since_epoch(((MAY_21 + t) / DAY) as u32)
                .unwrap()
                .to_ymd();
            want.insert(format!(
                "{y:04}{m:02}{d:02},{:014},{},{}",
                imei(i).as_u64(),
                s.map(|s| imsi(s).to_string()).unwrap_or_default(),
                n.map(|n| format!("91987654{n:04}")).unwrap_or_default()
            ));
        }
        for j in journals {
            j.close().unwrap();
        }
        let mut export = DirbsExport::new();
        for path in files(dir.path()) {
            let file = BufReader::new(std::fs::File::open(&path).unwrap());
            for row in JournalReader::new("f", file).unwrap() {
                export.add(&row.unwrap());
            }
        }
        prop_assert_eq!(export.rows(), seen.len() as u64);
        let mut out = Vec::new();
        export.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        prop_assert_eq!(lines.next(), Some("date,imei,imsi,msisdn"));
        let got: Vec<String> = lines.map(str::to_string).collect();
        let want: Vec<String> = want.into_iter().collect();
        prop_assert_eq!(got, want);
    }
}

/// The writer process of the crash test (run only as a child of it): records sightings of
/// IMEIs 0, 1, 2, … one by one, printing each number once it is queued, until killed.
#[test]
#[ignore = "the child process of a_killed_process_loses_at_most_the_last_interval"]
fn killed_writer_child() {
    let Some(dir) = std::env::var_os("IMEI_INDEX_TRACE_CHILD_DIR") else {
        return;
    };
    let journal = Journal::open(
        &dir,
        JournalOptions::new().flush_interval(Duration::from_millis(50)),
    )
    .unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        while journal.record(&Sighting::new(imei(i), blocked()).with_imsi(imsi(i % 100)))
            != Recorded::Queued
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        use std::io::Write;
        writeln!(out, "queued {i}").unwrap();
        out.flush().unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[cfg(unix)]
#[test]
fn a_killed_process_loses_at_most_the_last_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "killed_writer_child", "--ignored", "--nocapture"])
        .env("IMEI_INDEX_TRACE_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut queued_at: HashMap<u64, std::time::Instant> = HashMap::new();
    let mut last = 0;
    while last < 3000 {
        let line = lines.next().expect("the child prints").unwrap();
        if let Some(n) = line.strip_prefix("queued ") {
            last = n.parse().unwrap();
            queued_at.insert(last, std::time::Instant::now());
        }
    }
    // SIGKILL: no destructor runs, nothing is flushed on the way out.
    // SAFETY: kill(2) with the pid of our own child.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    assert_eq!(rc, 0);
    let killed = std::time::Instant::now();
    child.wait().unwrap();
    // The flush interval is 50 ms; what was queued 300 ms before the kill (an interval,
    // and room for a descheduled writer on a busy machine) must be in the files.
    let (rows, incomplete) = read_all(dir.path());
    assert!(incomplete <= 1, "only a last line can be cut short");
    let written: BTreeSet<u64> = rows
        .iter()
        .map(|r| r.imei.as_u64() - imei(0).as_u64())
        .collect();
    let must: Vec<u64> = queued_at
        .iter()
        .filter(|(_, t)| killed.duration_since(**t) > Duration::from_millis(300))
        .map(|(&n, _)| n)
        .collect();
    assert!(must.len() > 1000, "the child was too slow to test anything");
    let missing: Vec<u64> = must
        .iter()
        .copied()
        .filter(|n| !written.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} sightings queued over 300 ms before the kill: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // And the files hold nothing that was not recorded: a prefix of the sequence.
    let max = *written.iter().max().unwrap();
    assert_eq!(
        written.len() as u64,
        max + 1,
        "the rows are 0..={max} without gaps"
    );
}
