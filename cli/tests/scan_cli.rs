//! `imei-index scan` end to end: the same rows as the library, compressed and piped input,
//! the summary, rejects and exit codes.

mod cli_support;

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use cli_support::{count, run, text};

use imei_index::scan::{ScanOptions, Scanner};
use imei_index::synth::{ConnectionLog, NationalList};
use imei_index::{Index, IndexBuilder};

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    index: Index,
    log: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        let list = NationalList::generate(5);
        let mut b = IndexBuilder::new();
        for r in &list.rules {
            b.add(r.clone());
        }
        b.build_to_file(path.join("n.imeiidx")).expect("build");
        let mut log = Vec::new();
        ConnectionLog {
            listed_share: 0.1,
            ..ConnectionLog::new(20_000, 5)
        }
        .write(&list, &mut log)
        .expect("log");
        fs::write(path.join("log.csv"), &log).expect("write log");
        Fixture {
            index: Index::open(path.join("n.imeiidx")).expect("open"),
            _dir: dir,
            dir: path,
            log,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn library_scan(&self, options: &ScanOptions) -> (Vec<u8>, imei_index::scan::ScanSummary) {
        let mut scanner = Scanner::new(&self.index, options).unwrap();
        let mut out = Vec::new();
        scanner.scan("log", &self.log[..], &mut out, None).unwrap();
        (out, scanner.summary())
    }
}

#[test]
fn scan_writes_what_the_library_finds_and_accounts_for_every_row() {
    let f = Fixture::new();
    let (want, s) = f.library_scan(&ScanOptions::new());
    assert!(s.matched > 0 && s.not_imei > 0);
    let rejects = f.path("rejects.csv");
    let out = run(
        &[
            "scan",
            "--index",
            &f.path("n.imeiidx"),
            &f.path("log.csv"),
            "--rejects",
            &rejects,
        ],
        None,
    );
    // Rows whose IMEI field is not an IMEI make the exit status 1.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), text(&want));
    let stderr = text(&out.stderr);
    for needle in [
        format!("scanned {} rows", count(s.rows)),
        format!("matched      {} rows", count(s.matched)),
        format!("{} distinct listed handsets", count(s.handsets)),
        format!("{} distinct IMSIs", count(s.imsis.unwrap())),
        format!("{} distinct MSISDNs", count(s.msisdns.unwrap())),
        format!("{} rows whose IMEI field is not an IMEI", count(s.not_imei)),
        format!(
            "{} rows = {} matched + {} unmatched + {} rejected",
            count(s.rows),
            count(s.matched),
            count(s.unmatched),
            count(s.rejected())
        ),
    ] {
        assert!(stderr.contains(&needle), "{stderr} should say {needle}");
    }
    let rejected = fs::read_to_string(&rejects).unwrap();
    assert_eq!(
        rejected.lines().filter(|l| l.starts_with("# ")).count() as u64,
        s.rejected()
    );
    assert!(rejected.contains("log.csv:"), "{rejected}");
}

#[test]
fn gzip_files_and_standard_input_give_the_same_rows() {
    let f = Fixture::new();
    let (want, _) = f.library_scan(&ScanOptions::new());
    let gz = f.dir.join("log.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Two gzip members, as `cat a.gz b.gz` makes: both are read.
    let half = f.log.len() / 2;
    let cut = half + f.log[half..].iter().position(|&b| b == b'\n').unwrap() + 1;
    enc.write_all(&f.log[..cut]).unwrap();
    let mut bytes = enc.finish().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&f.log[cut..]).unwrap();
    bytes.extend(enc.finish().unwrap());
    fs::write(&gz, &bytes).unwrap();
    let index = f.path("n.imeiidx");
    let from_gz = run(
        &["scan", "--index", &index, &gz.display().to_string()],
        None,
    );
    assert_eq!(text(&from_gz.stdout), text(&want));
    let from_stdin = run(&["scan", "--index", &index, "-"], Some(&f.log));
    assert_eq!(text(&from_stdin.stdout), text(&want));
    let compressed_stdin = run(&["scan", "--index", &index, "--threads", "1"], Some(&bytes));
    assert_eq!(text(&compressed_stdin.stdout), text(&want));
}

#[test]
fn options_reach_the_scanner() {
    let f = Fixture::new();
    let index = f.path("n.imeiidx");
    // Allowed verdicts only: the genuine handsets seen with their own SIMs.
    let mut o = ScanOptions::new();
    o.statuses(&[imei_index::Status::Allowed]);
    let (want, s) = f.library_scan(&o);
    assert!(s.matched > 0);
    let out = run(
        &[
            "scan",
            "--index",
            &index,
            "--status",
            "allowed",
            &f.path("log.csv"),
        ],
        None,
    );
    assert_eq!(text(&out.stdout), text(&want));

    // No header, tab-separated, columns by position, written to a file.
    let tsv: String = text(&f.log)
        .lines()
        .skip(1)
        .map(|l| l.replace(',', "\t") + "\n")
        .collect();
    fs::write(f.dir.join("log.tsv"), &tsv).unwrap();
    let mut o = ScanOptions::new();
    o.delimiter(b'\t')
        .header(imei_index::scan::Header::Absent)
        .imei_column(imei_index::scan::Column::At(2))
        .imsi_column(Some(imei_index::scan::Column::At(0)))
        .msisdn_column(None);
    let mut scanner = Scanner::new(&f.index, &o).unwrap();
    let mut want = Vec::new();
    scanner
        .scan("tsv", tsv.as_bytes(), &mut want, None)
        .unwrap();
    let matched = f.path("matched.tsv");
    let out = run(
        &[
            "scan",
            "--index",
            &index,
            "--delimiter",
            "tab",
            "--header",
            "no",
            "--column",
            "3",
            "--imsi-column",
            "1",
            "-o",
            &matched,
            &f.path("log.tsv"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(fs::read_to_string(&matched).unwrap(), text(&want));
}

#[test]
fn lenient_scans_find_forged_check_digits() {
    let f = Fixture::new();
    let index = f.path("n.imeiidx");
    let blocked = f
        .index
        .rules()
        .find(|r| r.kind() == imei_index::RuleKind::Imei)
        .unwrap();
    let imei = match blocked.target() {
        imei_index::Target::Imei(i) => i,
        _ => unreachable!(),
    };
    let forged = format!("{:014}{}", imei.as_u64(), (imei.check_digit() + 1) % 10);
    let log = format!("imei\n{forged}\n");
    let strict = run(&["scan", "--index", &index], Some(log.as_bytes()));
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(text(&strict.stdout), "imei,status,reason,rule,date\n");
    let lenient = run(
        &["scan", "--index", &index, "--lenient"],
        Some(log.as_bytes()),
    );
    assert_eq!(lenient.status.code(), Some(0), "{}", text(&lenient.stderr));
    assert!(text(&lenient.stdout).contains(&format!("{forged},blocked,")));
    assert!(text(&lenient.stderr).contains("1 rows accepted with a wrong check digit"));
}

#[test]
fn what_cannot_run_exits_2_with_a_message() {
    let f = Fixture::new();
    let index = f.path("n.imeiidx");
    let log = f.path("log.csv");
    let cases: [(&[&str], &str); 5] = [
        (&["--column", "0", &log], "positions count from 1"),
        (
            &["--column", "handset", &log],
            "no IMEI column named \"handset\"",
        ),
        (&["--delimiter", "\"", &log], "cannot separate fields"),
        (&["--status", "purple", &log], "purple"),
        (&[&f.path("missing.csv")], "could not open"),
    ];
    for (args, message) in cases {
        let mut argv = vec!["scan", "--index", &index];
        argv.extend(args);
        let out = run(&argv, None);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let no_index = run(&["scan", "--index", &f.path("none.imeiidx"), &log], None);
    assert_eq!(no_index.status.code(), Some(2));
}
