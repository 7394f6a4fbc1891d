//! A national register's (DIRBS) files at the command line: `build --format dirbs` from full
//! lists (files, zips, standard input), `apply --format dirbs` of every delta kind, run ids
//! and `--force`, the register's quirks, rejected rows, and sources kept apart
//! (docs/semantics.md, docs/register-files.md).

mod cli_support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use cli_support::text;
use imei_index::{Date, Imei, Imsi, Index, Status};
use zip::write::{SimpleFileOptions, ZipWriter};

fn run(args: &[&str]) -> Output {
    cli_support::run(args, None)
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

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

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path.join(name);
        fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn zip(&self, name: &str, members: &[(&str, &str)]) -> String {
        let p = self.path.join(name);
        let mut zip = ZipWriter::new(fs::File::create(&p).unwrap());
        for (member, text) in members {
            zip.start_file(*member, SimpleFileOptions::default())
                .unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        p.display().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }
}

fn imei(s: &str) -> Imei {
    Imei::parse(s).unwrap()
}

fn imsi(s: &str) -> Imsi {
    Imsi::parse(s).unwrap()
}

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

fn open(p: &str) -> Index {
    Index::open(Path::new(p)).unwrap()
}

/// The status on a day, `None` for unknown.
fn status(index: &Index, i: &str, on: &str) -> Option<Status> {
    index.check_at(imei(i), day(on)).status()
}

const RUN1: &str = "20240601_020000";
const BLACKLIST: &str = "imei,block_date,reasons\r\n\
    35209900176148,20240501,Duplicate IMEI detected|IMEI in local stolen list\r\n\
    35417803685978,20240520,\"Stolen, reported by police\"\r\n";
const NOTIFICATIONS: &str = "imei,imsi,msisdn,block_date,reasons\r\n\
    49015420323751,404685505601234,919876543210,20240610,not_registered\r\n\
    49015420323751,404685505601235,919876543211,20240615,Duplicate IMEI detected\r\n\
    86000002000015,404685505601236,919876543212,20240620,not_registered\r\n";
const EXCEPTIONS: &str = "imei,imsi,msisdn\r\n\
    35209900176148,404685505609999,919800000000\r\n";

/// A register's first run, as separate CSV files; the index built from it with run id 57.
fn first_run(d: &Dir, extra: &[&str]) -> String {
    let b = d.write(&format!("{RUN1}_blacklist.csv"), BLACKLIST);
    let n = d.write(&format!("{RUN1}_notifications_op1.csv"), NOTIFICATIONS);
    let e = d.write(&format!("{RUN1}_exceptions_op1.csv"), EXCEPTIONS);
    let out = d.path("run1.imeiidx");
    let mut args = vec![
        "build", "--format", "dirbs", "--run-id", "57", &b, &n, &e, "-o", &out,
    ];
    args.extend_from_slice(extra);
    let stdout = ok(&args);
    // 2 + 3 + 1 rows: 2 blacklist rules, 2 notified IMEIs (one from two rows), 1 pair.
    assert!(
        stdout.contains(
            "read 6 rows from 3 lists: 5 rules written + 1 merged (0 with conflicting status) + 0 rejected"
        ),
        "{stdout}"
    );
    out
}

#[test]
fn every_full_list_makes_its_rules() {
    let d = Dir::new();
    let index = open(&first_run(&d, &[]));
    // Blacklisted from the block date: before it, the rule does not apply.
    assert_eq!(status(&index, "35209900176148", "2024-04-30"), None);
    let v = index.check_at(imei("35209900176148"), day("2024-05-01"));
    assert_eq!(v.status(), Some(Status::Blocked));
    assert_eq!(
        index.reasons(&v).collect::<Vec<_>>(),
        ["Duplicate IMEI detected", "IMEI in local stolen list"]
    );
    assert_eq!(index.source(&v), Some("dirbs/blacklist"));
    let v = index.check_at(imei("35417803685978"), day("2024-06-01"));
    assert_eq!(
        index.reasons(&v).collect::<Vec<_>>(),
        ["Stolen, reported by police"]
    );
    // Notified: tracked until the earliest block date of its rows, blocked from it, with
    // every row's reasons.
    let v = index.check_at(imei("49015420323751"), day("2024-06-09"));
    assert_eq!((v.status(), v.is_earlier()), (Some(Status::Tracked), true));
    assert_eq!(v.start(), Some(day("2024-06-10")));
    assert_eq!(
        index.reasons(&v).collect::<Vec<_>>(),
        ["Duplicate IMEI detected", "not_registered"]
    );
    assert_eq!(index.source(&v), Some("dirbs/notifications/op1"));
    assert_eq!(
        status(&index, "49015420323751", "2024-06-10"),
        Some(Status::Blocked)
    );
    // The exception pair is allowed with its SIM, whatever the blacklist says.
    let paired = index.check_with_imsi_at(
        imei("35209900176148"),
        &imsi("404685505609999"),
        day("2024-06-01"),
    );
    assert_eq!(paired.status(), Some(Status::Allowed));
    assert_eq!(index.source(&paired), Some("dirbs/exceptions/op1"));
    let other_sim = index.check_with_imsi_at(
        imei("35209900176148"),
        &imsi("404685505601111"),
        day("2024-06-01"),
    );
    assert_eq!(other_sim.status(), Some(Status::Blocked));
    // The subscribers to notify are kept, and every source records the run.
    assert_eq!(index.subscribers().count(), 4);
    let sources: Vec<_> = index
        .sources()
        .iter()
        .map(|s| (s.name.to_string(), s.run_id))
        .collect();
    assert_eq!(
        sources,
        [
            ("dirbs/blacklist".to_string(), Some(57)),
            ("dirbs/exceptions/op1".to_string(), Some(57)),
            ("dirbs/notifications/op1".to_string(), Some(57)),
        ]
    );
    // stats lists them.
    let stats = ok(&["stats", &d.path("run1.imeiidx")]);
    assert!(stats.contains("dirbs/notifications/op1"), "{stats}");
    let line = stats
        .lines()
        .find(|l| l.contains("dirbs/blacklist"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((cols[1], cols[5]), ("57", "2"), "{line}");
    assert_eq!(cols[4].len(), 16, "a content hash: {line}");
}

#[test]
fn notified_imeis_can_stay_tracked_until_the_blacklist_lists_them() {
    let d = Dir::new();
    let index = open(&first_run(&d, &["--notified-stay-tracked"]));
    for on in ["2024-06-09", "2024-06-10", "2030-01-01"] {
        assert_eq!(
            status(&index, "49015420323751", on),
            Some(Status::Tracked),
            "{on}"
        );
    }
}

#[test]
fn zips_and_standard_input_are_read() {
    let d = Dir::new();
    let zip = d.zip(
        &format!("{RUN1}_blacklist.zip"),
        &[
            (&format!("{RUN1}_blacklist.csv"), BLACKLIST),
            // Every register zip holds the deltas too: build leaves them for apply.
            (
                &format!("{RUN1}_blacklist_delta_-1_57_blocked.csv"),
                BLACKLIST,
            ),
        ],
    );
    let out = d.path("zip.imeiidx");
    let stdout = ok(&["build", "--format", "dirbs", &zip, "-o", &out]);
    assert!(
        stdout.contains("read 2 rows from 1 list: 2 rules written"),
        "{stdout}"
    );
    assert_eq!(
        status(&open(&out), "35417803685978", "2024-05-20"),
        Some(Status::Blocked)
    );
    // Standard input: the header says which list it is.
    let out = d.path("stdin.imeiidx");
    let o = cli_support::run(
        &["build", "--format", "dirbs", "-", "-o", &out],
        Some(EXCEPTIONS.as_bytes()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let index = open(&out);
    assert_eq!(index.sources()[0].name.as_str(), "dirbs/exceptions");
    // Another register's name starts the sources' names.
    let out = d.path("ng.imeiidx");
    ok(&[
        "build", "--format", "dirbs", "--source", "ng-dirbs", &zip, "-o", &out,
    ]);
    assert_eq!(open(&out).sources()[0].name.as_str(), "ng-dirbs/blacklist");
}

#[test]
fn the_registers_quirks() {
    let d = Dir::new();
    // Header in any case; 14-, 15- and 16-digit IMEIs keyed on their first 14 (duplicates
    // of one another, merged); a duplicate row; `|` separating reasons, blanks around them
    // and empty ones dropped; CRLF line ends.
    let b = d.write(
        &format!("{RUN1}_blacklist.csv"),
        "IMEI,Block_Date,REASONS\r\n\
         35209900176148,20240501,b reason| a reason ||\r\n\
         352099001761481,20240501,a reason|b reason\r\n\
         3520990017614800,20240501,a reason|b reason\r\n\
         35417803685978,20240520,stolen\r\n\
         35417803685978,20240520,stolen\r\n",
    );
    let n = d.write(
        &format!("{RUN1}_notifications_op_1.csv"),
        "imei,imsi,msisdn,block_date,reasons\n\
         49015420323751,404685505601234,,20240610,not_registered\n",
    );
    let out = d.path("q.imeiidx");
    let stdout = ok(&["build", "--format", "dirbs", &b, &n, "-o", &out]);
    assert!(
        stdout.contains("read 6 rows from 2 lists: 3 rules written + 3 merged (0 with conflicting status) + 0 rejected"),
        "{stdout}"
    );
    let index = open(&out);
    let v = index.check_at(imei("35209900176148"), day("2024-06-01"));
    assert_eq!(
        index.reasons(&v).collect::<Vec<_>>(),
        ["a reason", "b reason"]
    );
    // A blank MSISDN is none; the operator id with an underscore names the source.
    let s: Vec<_> = index.subscribers().collect();
    assert_eq!((s.len(), s[0].msisdn), (1, None));
    assert_eq!(s[0].source.as_str(), "dirbs/notifications/op_1");

    // Blank fields that must not be, and an IMEI the register could not normalise: each
    // stops the build at its place, or with --skip-invalid goes to the rejects file.
    let bad = d.write(
        &format!("{RUN1}_blacklist.csv"),
        "imei,block_date,reasons\n\
         35209900176148,20240501,stolen\n\
         35417803685978,,stolen\n\
         3511AAB1111110,20240501,stolen\n\
         49015420323751,20240501,\n",
    );
    let out = d.path("bad.imeiidx");
    let err = fails(&["build", "--format", "dirbs", &bad, "-o", &out], 1);
    assert!(
        err.contains(&format!("{bad}:3:16: ")),
        "located at the block date's column: {err}"
    );
    assert!(!Path::new(&out).exists());
    let o = run(&[
        "build",
        "--format",
        "dirbs",
        &bad,
        "--skip-invalid",
        "-o",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("read 4 rows from 1 list: 1 rules written + 0 merged (0 with conflicting status) + 3 rejected"),
        "{}",
        text(&o.stdout)
    );
    let rejects = fs::read_to_string(format!("{out}.rejects.csv")).unwrap();
    assert_eq!(rejects.lines().filter(|l| l.starts_with("# ")).count(), 4);
    assert!(rejects.contains(&format!("# {bad}:4:5: ")), "{rejects}");
    assert!(
        rejects.contains("3511AAB1111110,20240501,stolen"),
        "{rejects}"
    );

    // A delta given to build, or a file whose header is another list's: refused whole.
    let delta = d.write(
        &format!("{RUN1}_blacklist_delta_56_57_blocked.csv"),
        BLACKLIST,
    );
    let err = fails(&["build", "--format", "dirbs", &delta, "-o", &out], 1);
    assert!(err.contains("apply the deltas to it"), "{err}");
    let mixed = d.write(&format!("{RUN1}_exceptions_op1.csv"), BLACKLIST);
    let err = fails(&["build", "--format", "dirbs", &mixed, "-o", &out], 1);
    assert!(
        err.contains(&format!("{mixed}:1:1: the header row is the blacklist's")),
        "{err}"
    );
}

const RUN2: &str = "20240602_020000";

/// The next day's deltas, from run 57 to 58, as the register zips them.
fn next_day(d: &Dir) -> Vec<String> {
    let b = |change: &str| format!("{RUN2}_blacklist_delta_57_58_{change}.csv");
    let n = |change: &str| format!("{RUN2}_notifications_op1_delta_57_58_{change}.csv");
    let e = |change: &str| format!("{RUN2}_exceptions_op1_delta_57_58_{change}.csv");
    let bl_header = "imei,block_date,reasons\r\n";
    let n_header = "imei,imsi,msisdn,block_date,reasons\r\n";
    vec![
        d.zip(
            &format!("{RUN2}_blacklist.zip"),
            &[
                // The full list is for build: apply leaves it.
                (&format!("{RUN2}_blacklist.csv"), BLACKLIST),
                (
                    &b("blocked"),
                    &format!("{bl_header}86000002000015,20240602,not_registered\r\n"),
                ),
                (
                    &b("unblocked"),
                    &format!("{bl_header}35417803685978,20240520,stolen\r\n"),
                ),
                (
                    &b("changed"),
                    &format!("{bl_header}35209900176148,20240401,Duplicate IMEI detected\r\n"),
                ),
            ],
        ),
        d.zip(
            &format!("{RUN2}_notifications_op1.zip"),
            &[
                (
                    &n("new"),
                    &format!(
                        "{n_header}35000000000013,404685505601237,919876543213,20240612,not_registered\r\n"
                    ),
                ),
                // One of the IMEI's two subscribers is resolved: the rule stays for the
                // other, its date and reasons now the other's.
                (
                    &n("resolved"),
                    &format!(
                        "{n_header}49015420323751,404685505601234,919876543210,20240610,not_registered\r\n"
                    ),
                ),
                (
                    &n("blacklisted"),
                    &format!(
                        "{n_header}86000002000015,404685505601236,919876543212,20240620,not_registered\r\n"
                    ),
                ),
                (&n("no_longer_seen"), n_header),
                (
                    &n("changed"),
                    &format!(
                        "{n_header}49015420323751,404685505601235,919876543211,20240618,Duplicate IMEI detected\r\n"
                    ),
                ),
            ],
        ),
        d.zip(
            &format!("{RUN2}_exceptions_op1.zip"),
            &[
                (
                    &e("added"),
                    "imei,imsi,msisdn\r\n35417803685978,404685505608888,919811111111\r\n",
                ),
                (
                    &e("removed"),
                    "imei,imsi,msisdn\r\n35209900176148,404685505609999,919800000000\r\n",
                ),
            ],
        ),
    ]
}

#[test]
fn every_delta_kind_changes_what_it_names() {
    let d = Dir::new();
    let base = first_run(&d, &[]);
    let zips = next_day(&d);
    let out = d.path("run2.imeiidx");
    let mut args = vec!["apply", &base, "--format", "dirbs"];
    args.extend(zips.iter().map(String::as_str));
    args.extend(["-o", &out]);
    let stdout = ok(&args);
    // 3 blacklist rows, 4 notification rows (two IMEIs, two rows one of them), 2
    // exception rows.
    assert!(
        stdout.contains("read 9 rows from 10 delta files: 8 changes + 1 merged + 0 rejected"),
        "{stdout}"
    );
    let index = open(&out);
    let on = "2024-06-30";
    // blocked, unblocked, changed.
    assert_eq!(status(&index, "86000002000015", on), Some(Status::Blocked));
    let v = index.check_at(imei("86000002000015"), day(on));
    assert_eq!(index.source(&v), Some("dirbs/blacklist"));
    assert_eq!(status(&index, "35417803685978", on), None);
    assert_eq!(
        status(&index, "35209900176148", "2024-04-01"),
        Some(Status::Blocked)
    );
    // new: notified.
    assert_eq!(
        status(&index, "35000000000013", "2024-06-11"),
        Some(Status::Tracked)
    );
    // resolved one subscriber, changed the other: the rule stays, from the other's date.
    let v = index.check_at(imei("49015420323751"), day("2024-06-17"));
    assert_eq!(
        (v.status(), v.start()),
        (Some(Status::Tracked), Some(day("2024-06-18")))
    );
    assert_eq!(
        index.reasons(&v).collect::<Vec<_>>(),
        ["Duplicate IMEI detected"]
    );
    // blacklisted: the notification's rule went (the blacklist's decides now).
    let subscribers: Vec<_> = index
        .subscribers()
        .map(|s| (s.source.to_string(), s.imei.to_string()))
        .collect();
    assert!(!subscribers.contains(&(
        "dirbs/notifications/op1".to_string(),
        imei("86000002000015").to_string()
    )));
    assert_eq!(subscribers.len(), 3, "{subscribers:?}");
    // added, removed.
    let paired = |i: &str, s: &str| {
        index
            .check_with_imsi_at(imei(i), &imsi(s), day(on))
            .status()
    };
    assert_eq!(
        paired("35417803685978", "404685505608888"),
        Some(Status::Allowed)
    );
    assert_eq!(
        paired("35209900176148", "404685505609999"),
        Some(Status::Blocked)
    );
    // Every source now records run 58.
    assert!(index.sources().iter().all(|s| s.run_id == Some(58)));
}

#[test]
fn out_of_order_deltas_are_refused_unless_forced() {
    let d = Dir::new();
    let base = first_run(&d, &[]);
    let skipped = d.write(
        "20240603_020000_blacklist_delta_58_59_unblocked.csv",
        "imei,block_date,reasons\n35209900176148,20240501,stolen\n",
    );
    let out = d.path("run3.imeiidx");
    let err = fails(
        &["apply", &base, "--format", "dirbs", &skipped, "-o", &out],
        1,
    );
    assert!(
        err.contains("a delta of dirbs/blacklist starts from the register's run 58, but")
            && err.contains("records run 57 for it")
            && err.contains("--force"),
        "{err}"
    );
    assert!(!Path::new(&out).exists());
    // Forced: applied, and the source records the delta's run.
    ok(&[
        "apply", &base, "--format", "dirbs", &skipped, "--force", "-o", &out,
    ]);
    let index = open(&out);
    assert_eq!(status(&index, "35209900176148", "2024-06-30"), None);
    let bl = index
        .sources()
        .iter()
        .find(|s| s.name.as_str() == "dirbs/blacklist")
        .unwrap()
        .clone();
    assert_eq!(bl.run_id, Some(59));
    // Two days given in the wrong order: the first already does not follow.
    let zips = next_day(&d);
    let mut args = vec!["apply", &base, "--format", "dirbs", &skipped];
    args.extend(zips.iter().map(String::as_str));
    args.extend(["-o", &out]);
    let err = fails(&args, 1);
    assert!(err.contains("starts from the register's run 58"), "{err}");
    // In order: both apply.
    let mut args = vec!["apply", &base, "--format", "dirbs"];
    args.extend(zips.iter().map(String::as_str));
    args.extend([skipped.as_str(), "-o", &out]);
    ok(&args);
}

#[test]
fn bad_delta_rows_are_located_and_can_be_set_aside() {
    let d = Dir::new();
    let base = first_run(&d, &[]);
    let delta = d.write(
        &format!("{RUN2}_blacklist_delta_57_58_blocked.csv"),
        "imei,block_date,reasons\n\
         86000002000015,20240602,not_registered\n\
         86000002000023,2024-06-02,not_registered\n",
    );
    let out = d.path("run2.imeiidx");
    let err = fails(
        &["apply", &base, "--format", "dirbs", &delta, "-o", &out],
        1,
    );
    assert!(err.contains(&format!("{delta}:3:16: ")), "{err}");
    assert!(!Path::new(&out).exists());
    let o = run(&[
        "apply",
        &base,
        "--format",
        "dirbs",
        &delta,
        "--skip-invalid",
        "-o",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout)
            .contains("read 2 rows from 1 delta file: 1 changes + 0 merged + 1 rejected"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        fs::read_to_string(format!("{out}.rejects.csv"))
            .unwrap()
            .contains("86000002000023,2024-06-02,not_registered")
    );
    assert_eq!(
        status(&open(&out), "86000002000015", "2024-06-30"),
        Some(Status::Blocked)
    );
    // A full list given to apply: refused.
    let full = d.write(&format!("{RUN2}_blacklist.csv"), BLACKLIST);
    let err = fails(&["apply", &base, "--format", "dirbs", &full, "-o", &out], 1);
    assert!(
        err.contains("is not a delta of the register's list"),
        "{err}"
    );
}

#[test]
fn an_operators_own_block_survives_a_national_unblock() {
    let d = Dir::new();
    let national = first_run(&d, &[]);
    let own = d.write(
        "own.csv",
        "imei,status,reason\n35417803685978,blocked,fraud\n",
    );
    let operator = d.path("operator.imeiidx");
    ok(&["build", "--source", "operator", &own, "-o", &operator]);
    let both = d.path("both.imeiidx");
    ok(&["merge", &national, &operator, "-o", &both]);
    let unblock = d.write(
        &format!("{RUN2}_blacklist_delta_57_58_unblocked.csv"),
        "imei,block_date,reasons\n35417803685978,20240520,stolen\n",
    );
    let out = d.path("next.imeiidx");
    ok(&["apply", &both, "--format", "dirbs", &unblock, "-o", &out]);
    let index = open(&out);
    let v = index.check_at(imei("35417803685978"), day("2024-06-30"));
    assert_eq!(v.status(), Some(Status::Blocked));
    assert_eq!(index.source(&v), Some("operator"));
    assert_eq!(index.reasons(&v).collect::<Vec<_>>(), ["fraud"]);
}
