//! `imei-index journal export` and `scan` on sightings journals: several processes' files
//! export as one, outputs are never inputs, hashed journals and bad rows are refused as the
//! exit-code table says, and a scan of a journal finds the listed handsets recorded in it.

mod cli_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use cli_support::{run, text};
use imei_index::{Entry, Imei, Imsi, Index, IndexBuilder, Reason, Rule, Status};
use imei_index_trace::{Journal, JournalOptions, Msisdn, Policy, Sighting};

const HEADER: &str = "time,imei,imsi,msisdn,status,reason,rule,alert";
/// 2024-05-21T00:00:00Z in milliseconds.
const MAY_21: u64 = 1_716_249_600_000;

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// An index blocking one handset and tracking one TAC, and an EIR's journals: two worker
/// processes checking handsets listed and not, with and without SIMs and numbers.
struct Eir {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    index: PathBuf,
    journal: PathBuf,
}

fn eir() -> Eir {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let stolen = Imei::parse("354178036859789").unwrap();
    let mut b = IndexBuilder::new();
    b.add(Rule::imei(
        stolen,
        Entry::new(Status::Blocked).with_reason(Reason::Stolen),
    ));
    b.add(Rule::tac(
        imei_index::Tac::parse("86990000").unwrap(),
        Entry::new(Status::Tracked),
    ));
    let index_path = dir.join("national.imeiidx");
    b.build_to_file(&index_path).unwrap();
    let index = Index::open(&index_path).unwrap();
    let journal_dir = dir.join("journal");
    let probes = [
        (
            "354178036859789",
            Some("404685505601234"),
            Some("919876543210"),
        ),
        ("354178036859789", Some("404685505601235"), None),
        ("869900001234567", None, Some("919876543211")),
        ("490154203237518", Some("404685505601236"), None),
        ("352099001761481", None, None),
    ];
    for process in 0..2u64 {
        let journal =
            Journal::open(&journal_dir, JournalOptions::new().policy(Policy::ALL)).unwrap();
        for (i, (imei, imsi, msisdn)) in probes.iter().enumerate() {
            let imei = Imei::parse(imei).unwrap();
            let mut s = Sighting::new(imei, index.check(imei))
                .at(UNIX_EPOCH
                    + Duration::from_millis(MAY_21 + process * 86_400_000 + i as u64 * 1000));
            if let Some(imsi) = imsi {
                s = s.with_imsi(Imsi::parse(imsi).unwrap());
            }
            if let Some(m) = msisdn {
                s = s.with_msisdn(Msisdn::parse(m).unwrap());
            }
            journal.record(&s);
        }
        journal.close().unwrap();
    }
    Eir {
        _dir: temp,
        dir,
        index: index_path,
        journal: journal_dir,
    }
}

fn journal_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| p(&e.unwrap().path()))
        .collect();
    v.sort();
    v
}

const EXPORT: &str = "\
date,imei,imsi,msisdn
20240521,35209900176148,,
20240521,35417803685978,404685505601234,919876543210
20240521,35417803685978,404685505601235,
20240521,49015420323751,404685505601236,
20240521,86990000123456,,919876543211
20240522,35209900176148,,
20240522,35417803685978,404685505601234,919876543210
20240522,35417803685978,404685505601235,
20240522,49015420323751,404685505601236,
20240522,86990000123456,,919876543211
";

#[test]
fn several_processes_files_export_as_one() {
    let e = eir();
    let files = journal_files(&e.journal);
    assert!(files.len() >= 2, "{files:?}");
    let mut args = vec!["journal", "export", "--dirbs"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), EXPORT);
    assert!(
        text(&out.stderr).contains("exported 10 distinct triplets from 10 sightings"),
        "{}",
        text(&out.stderr)
    );
    // A directory reads its journal files; the same file twice adds nothing; -o writes
    // a file; --date keeps one day.
    let file = e.dir.join("upload.csv");
    let out = run(
        &[
            "journal",
            "export",
            "--dirbs",
            &p(&e.journal),
            &files[0],
            "-o",
            &p(&file),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(&file).unwrap(), EXPORT);
    let out = run(
        &[
            "journal",
            "export",
            "--dirbs",
            "--date",
            "2024-05-22",
            &p(&e.journal),
        ],
        None,
    );
    let day2: String = EXPORT
        .lines()
        .filter(|l| !l.starts_with("20240521"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(text(&out.stdout), day2);
}

#[test]
fn an_output_that_is_an_input_is_refused() {
    let e = eir();
    let files = journal_files(&e.journal);
    let before = fs::read(&files[0]).unwrap();
    let out = run(
        &[
            "journal",
            "export",
            "--dirbs",
            &p(&e.journal),
            "-o",
            &files[0],
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("imei-index: error: the output "),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read(&files[0]).unwrap(), before);
}

#[test]
fn hashed_journals_bad_rows_and_cut_lines() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        fs::write(&path, body).unwrap();
        p(&path)
    };
    let row =
        "2024-05-21T10:15:30.123Z,35417803685978,404685505601234,,blocked,stolen,imei,new-sim\n";
    // Keyed hashes cannot go to DIRBS.
    let hashed = write(
        "hashed.csv",
        &format!(
            "time,imei,imsi_hmac,msisdn_hmac,status,reason,rule,alert\n{}",
            row.replace("404685505601234", &"ab".repeat(32))
        ),
    );
    let out = run(&["journal", "export", "--dirbs", &hashed], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("keyed hashes"),
        "{}",
        text(&out.stderr)
    );
    // A bad row: reported with its place, the rest exported, exit 1.
    let bad = write(
        "bad.csv",
        &format!("{HEADER}\n{row}2024-05-21T25:00:00Z,35417803685978,,,blocked,,imei,\n"),
    );
    let out = run(&["journal", "export", "--dirbs", &bad], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.csv:3: time"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).lines().count(), 2);
    // A last line cut short by a killed writer: a warning, exit 0; a byte-order mark is fine.
    let cut = write(
        "cut.csv",
        &format!("\u{feff}{HEADER}\n{row}2024-05-21T10:15:31.000Z,354178"),
    );
    let out = run(&["journal", "export", "--dirbs", &cut], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("imei-index: warning: "),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn scan_reads_a_journal_as_it_is_and_finds_the_listed_handsets() {
    let e = eir();
    let mut args = vec!["scan".to_string(), "--index".into(), p(&e.index)];
    args.extend(journal_files(&e.journal));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&argv, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{HEADER},status,reason,rule,date").as_str())
    );
    let matched: Vec<&str> = lines.collect();
    // The stolen handset with two SIMs and the tracked TAC, in each process's file.
    assert_eq!(matched.len(), 6, "{stdout}");
    for line in &matched {
        let imei = line.split(',').nth(1).unwrap();
        assert!(
            imei == "35417803685978" || imei == "86990000123456",
            "{line}"
        );
    }
    assert!(
        text(&out.stderr).contains("seen with 2 distinct IMSIs"),
        "{}",
        text(&out.stderr)
    );
}
