//! A national register's (DIRBS) list files: every file name, full and delta, of every list;
//! which of a zip's members belong to a list; every row quirk the register has, and every
//! error with its file, line and column. The fixtures are DIRBS-Core's own test rows.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read};

use imei_index::list::dirbs::{
    ChangeType, DeltaRun, FileName, List, ListKind, NameError, NameProblem, Reader, Row, RunStamp,
    ZipName, select,
};
use imei_index::list::{ListError, RowError};
use imei_index::{Date, IdError, Imei, Imsi, Msisdn};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// File names.
// ---------------------------------------------------------------------------------------

fn stamp(text: &str) -> RunStamp {
    FileName::parse(&format!("{text}_blacklist.csv"))
        .unwrap()
        .stamp
}

fn notifications(op: &str) -> List {
    List::Notifications {
        operator: op.into(),
    }
}

fn exceptions(op: &str) -> List {
    List::Exceptions {
        operator: op.into(),
    }
}

fn name_error(name: &str) -> NameError {
    match FileName::parse(name) {
        Ok(n) => panic!("{name:?} parsed as {n:?}"),
        Err(e) => e,
    }
}

#[test]
fn the_stamp_is_the_runs_date_and_time() {
    let s = stamp("20160301_101502");
    assert_eq!(s.date, Date::from_ymd(2016, 3, 1).unwrap());
    assert_eq!((s.hour, s.minute, s.second), (10, 15, 2));
    assert_eq!(s.to_string(), "20160301_101502");
    assert!(stamp("20160301_101502") < stamp("20160301_101503"));
    assert!(stamp("20160301_235959") < stamp("20160302_000000"));
    // Leap days exist in leap years.
    assert_eq!(stamp("20240229_000000").to_string(), "20240229_000000");
}

#[test]
fn full_lists_of_every_kind() {
    for (name, list) in [
        ("20160301_101502_blacklist.csv", List::Blacklist),
        (
            "20160301_101502_notifications_op1.csv",
            notifications("op1"),
        ),
        ("20160301_101502_exceptions_op1.csv", exceptions("op1")),
        (
            "20160301_101502_notifications_op_1.csv",
            notifications("op_1"),
        ),
        ("20160301_101502_exceptions_a_b_c.csv", exceptions("a_b_c")),
        (
            "20160301_101502_notifications_abcdefghijklmno9.csv",
            notifications("abcdefghijklmno9"),
        ),
        ("20160301_101502_notifications_0.csv", notifications("0")),
        ("20160301_101502_notifications__.csv", notifications("_")),
        // Words of the name's grammar are operator ids like any other.
        ("20160301_101502_exceptions_delta.csv", exceptions("delta")),
        (
            "20160301_101502_exceptions_op_delta.csv",
            exceptions("op_delta"),
        ),
        (
            "20160301_101502_exceptions_delta_new.csv",
            exceptions("delta_new"),
        ),
    ] {
        let parsed = FileName::parse(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.list, list, "{name}");
        assert_eq!(parsed.delta, None, "{name}");
        assert!(!parsed.is_delta());
        assert_eq!(parsed.stamp, stamp("20160301_101502"));
        assert_eq!(parsed.to_string(), name);
    }
}

#[test]
fn deltas_of_every_kind_and_change() {
    let cases: [(&str, List, &[&str]); 3] = [
        (
            "blacklist",
            List::Blacklist,
            &["blocked", "unblocked", "changed"],
        ),
        (
            "notifications_op_1",
            notifications("op_1"),
            &[
                "new",
                "resolved",
                "blacklisted",
                "no_longer_seen",
                "changed",
            ],
        ),
        ("exceptions_op_1", exceptions("op_1"), &["added", "removed"]),
    ];
    let mut seen = 0;
    for (list_text, list, changes) in cases {
        assert_eq!(
            list.kind()
                .changes()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
            changes
        );
        for &change in changes {
            for (base, run, base_run, run_id) in [
                ("-1", "57", -1, 57),
                ("56", "57", 56, 57),
                ("0", "1", 0, 1),
                (
                    "9223372036854775807",
                    "18446744073709551615",
                    i64::MAX,
                    u64::MAX,
                ),
            ] {
                let name = format!("20160301_101502_{list_text}_delta_{base}_{run}_{change}.csv");
                let parsed = FileName::parse(&name).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(parsed.list, list, "{name}");
                let delta = parsed.delta.expect("a delta");
                assert_eq!((delta.base_run, delta.run), (base_run, run_id), "{name}");
                assert_eq!(delta.change.as_str(), change);
                assert_eq!(parsed.to_string(), name);
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 4 * 10);
}

#[test]
fn operator_ids_with_underscores_and_delta_words() {
    for (name, op, base, change) in [
        (
            "20160301_101502_notifications_no_longer_seen_delta_-1_57_no_longer_seen.csv",
            "no_longer_seen",
            -1,
            ChangeType::NoLongerSeen,
        ),
        (
            "20160301_101502_notifications_op_delta_1_2_new_delta_3_4_new.csv",
            "op_delta_1_2_new",
            3,
            ChangeType::New,
        ),
        (
            "20160301_101502_exceptions_x_1_2_delta_-1_9_removed.csv",
            "x_1_2",
            -1,
            ChangeType::Removed,
        ),
        // A name that ends like a delta's is one, though all of it could be an operator id.
        (
            "20160301_101502_notifications_a_delta_1_2_new.csv",
            "a",
            1,
            ChangeType::New,
        ),
    ] {
        let parsed = FileName::parse(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.list.operator(), Some(op), "{name}");
        let delta = parsed.delta.unwrap();
        assert_eq!((delta.base_run, delta.change), (base, change), "{name}");
        assert_eq!(parsed.to_string(), name);
    }
}

#[test]
fn paths_are_parsed_by_their_last_part() {
    for path in [
        "/srv/dirbs/listgen__20160301_101502__classid_12/20160301_101502_exceptions_op1.csv",
        "listgen__20160301_101502/20160301_101502_exceptions_op1.csv",
        r"C:\lists\20160301_101502_exceptions_op1.csv",
    ] {
        assert_eq!(FileName::parse(path).unwrap().list, exceptions("op1"));
    }
    // Positions count from the start of the path as given.
    let err = name_error("dir/20160301_101502_greylist.csv");
    assert_eq!(err.position, 21);
    assert_eq!(err.name, "dir/20160301_101502_greylist.csv");
    // Characters, not bytes.
    let err = name_error("données/20160301_101502_greylist.csv");
    assert_eq!(err.position, 25);
}

#[test]
fn source_names() {
    let name = |n: &str| FileName::parse(n).unwrap();
    assert_eq!(
        name("20160301_101502_blacklist.csv").source_name(),
        "dirbs/blacklist"
    );
    assert_eq!(
        name("20160301_101502_blacklist_delta_-1_57_changed.csv").source_name(),
        "dirbs/blacklist"
    );
    assert_eq!(
        name("20160301_101502_notifications_op_1_delta_5_7_new.csv").source_name(),
        "dirbs/notifications/op_1"
    );
    assert_eq!(
        name("20160301_101502_exceptions_op10.csv").source_name(),
        "dirbs/exceptions/op10"
    );
    assert_eq!(
        name("20160301_101502_exceptions_op10.csv").source_name_in("ng"),
        "ng/exceptions/op10"
    );
}

/// Each malformed name, the character its error points at, and the problem.
#[test]
fn every_name_error_is_located() {
    type Is = fn(&NameProblem) -> bool;
    let cases: Vec<(&str, usize, Is)> = vec![
        // The extension.
        ("20160301_101502_blacklist.txt", 26, |p| {
            matches!(
                p,
                NameProblem::Extension {
                    extension: ".csv",
                    ..
                }
            )
        }),
        ("20160301_101502_blacklist", 26, |p| {
            matches!(p, NameProblem::Extension { .. })
        }),
        ("20160301_101502_blacklist.CSV", 26, |p| {
            matches!(p, NameProblem::Extension { .. })
        }),
        ("20160301_101502_blacklist.zip", 26, |p| {
            matches!(p, NameProblem::Extension { .. })
        }),
        // The stamp: its shape, then its day and time.
        ("2016031_101502_blacklist.csv", 8, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("20160301-101502_blacklist.csv", 9, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("20160301_10150x_blacklist.csv", 15, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("20160301_101502blacklist.csv", 16, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("blacklist.csv", 1, |p| matches!(p, NameProblem::Stamp)),
        (".csv", 1, |p| matches!(p, NameProblem::Stamp)),
        ("20230229_101502_blacklist.csv", 1, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("20161301_101502_blacklist.csv", 1, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("19691231_101502_blacklist.csv", 1, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("20160301_241502_blacklist.csv", 10, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("20160301_106002_blacklist.csv", 10, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        ("20160301_101560_blacklist.csv", 10, |p| {
            matches!(p, NameProblem::Stamp)
        }),
        // The list.
        ("20160301_101502_greylist.csv", 17, |p| {
            matches!(p, NameProblem::List)
        }),
        ("20160301_101502_Blacklist.csv", 17, |p| {
            matches!(p, NameProblem::List)
        }),
        ("20160301_101502_notifications.csv", 17, |p| {
            matches!(p, NameProblem::List)
        }),
        ("20160301_101502_exceptions.csv", 17, |p| {
            matches!(p, NameProblem::List)
        }),
        ("20160301_101502_.csv", 17, |p| {
            matches!(p, NameProblem::List)
        }),
        (
            "20160301_101502_blacklist_op1.csv",
            26,
            |p| matches!(p, NameProblem::AfterList { text, .. } if text == "_op1"),
        ),
        ("20160301_101502_blacklist_delta_-1_57.csv", 26, |p| {
            matches!(p, NameProblem::AfterList { .. })
        }),
        // The operator.
        (
            "20160301_101502_notifications_.csv",
            31,
            |p| matches!(p, NameProblem::Operator { operator } if operator.is_empty()),
        ),
        (
            "20160301_101502_notifications_abcdefghijklmnopq.csv",
            31,
            |p| matches!(p, NameProblem::Operator { operator } if operator.len() == 17),
        ),
        ("20160301_101502_exceptions_Op1.csv", 28, |p| {
            matches!(p, NameProblem::Operator { .. })
        }),
        ("20160301_101502_exceptions_op-1.csv", 28, |p| {
            matches!(p, NameProblem::Operator { .. })
        }),
        ("20160301_101502_exceptions_opé.csv", 28, |p| {
            matches!(p, NameProblem::Operator { .. })
        }),
        (
            "20160301_101502_exceptions__delta_-1_57_added.csv",
            28,
            |p| matches!(p, NameProblem::Operator { operator } if operator.is_empty()),
        ),
        (
            "20160301_101502_exceptions_op-1_delta_-1_57_added.csv",
            28,
            |p| matches!(p, NameProblem::Operator { operator } if operator == "op-1"),
        ),
        // Run ids.
        (
            "20160301_101502_blacklist_delta_-9223372036854775809_57_blocked.csv",
            33,
            |p| matches!(p, NameProblem::RunId { text } if text == "-9223372036854775809"),
        ),
        (
            "20160301_101502_blacklist_delta_1_18446744073709551616_blocked.csv",
            35,
            |p| matches!(p, NameProblem::RunId { text } if text == "18446744073709551616"),
        ),
        // Changes that the list has no delta file for.
        (
            "20160301_101502_blacklist_delta_-1_57_added.csv",
            39,
            |p| matches!(p, NameProblem::Change { change, kind: ListKind::Blacklist } if change == "added"),
        ),
        (
            "20160301_101502_blacklist_delta_-1_57_no_longer_seen.csv",
            39,
            |p| matches!(p, NameProblem::Change { .. }),
        ),
        (
            "20160301_101502_notifications_op1_delta_1_57_removed.csv",
            46,
            |p| {
                matches!(
                    p,
                    NameProblem::Change {
                        kind: ListKind::Notifications,
                        ..
                    }
                )
            },
        ),
        (
            "20160301_101502_exceptions_op_1_delta_1_57_new.csv",
            44,
            |p| {
                matches!(
                    p,
                    NameProblem::Change {
                        kind: ListKind::Exceptions,
                        ..
                    }
                )
            },
        ),
        (
            "20160301_101502_exceptions_op_1_delta_1_57_changed.csv",
            44,
            |p| matches!(p, NameProblem::Change { change, .. } if change == "changed"),
        ),
    ];
    for (name, position, problem) in cases {
        let err = name_error(name);
        assert_eq!(err.position, position, "{name}: {err}");
        assert!(problem(&err.problem), "{name}: {:?}", err.problem);
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "the file name {name:?} is not a DIRBS list file's, at character {position}: "
            )),
            "{msg}"
        );
        // The message says what is wrong in a sentence of its own, not the problem's name.
        assert!(msg.ends_with(&err.problem.to_string()));
        assert!(!msg.contains("NameProblem"), "{msg}");
    }
}

#[test]
fn name_error_messages_say_how_to_fix() {
    let msg = |name: &str| name_error(name).problem.to_string();
    assert_eq!(
        msg("20160301_101502_blacklist_delta_-1_57_added.csv"),
        "\"added\" is not a change of the blacklist: its delta files are for blocked, unblocked \
         or changed"
    );
    assert_eq!(
        msg("20160301_101502_notifications_op1_delta_1_57_added.csv"),
        "\"added\" is not a change of a notification list: its delta files are for new, \
         resolved, blacklisted, no_longer_seen or changed"
    );
    assert!(
        msg("20160301_101502_greylist.csv")
            .contains("blacklist, notifications_OP or exceptions_OP")
    );
    assert!(msg("2016_blacklist.csv").contains("YYYYMMDD_HHMMSS_"));
    assert!(msg("20160301_101502_blacklist.txt").contains(".csv"));
    assert!(msg("20160301_101502_blacklist_x.csv").contains("_delta_BASE_RUN_CHANGE.csv"));
}

#[test]
fn zip_names() {
    for (name, list) in [
        ("20160301_101502_blacklist.zip", List::Blacklist),
        (
            "20160301_101502_notifications_op1.zip",
            notifications("op1"),
        ),
        (
            "out/20160301_101502_exceptions_op_10.zip",
            exceptions("op_10"),
        ),
    ] {
        let zip = ZipName::parse(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(zip.list, list);
        assert_eq!(zip.stamp, stamp("20160301_101502"));
        assert!(name.ends_with(&zip.to_string()));
    }
    let zip = ZipName::parse("20160301_101502_notifications_op1.zip").unwrap();
    assert!(
        zip.holds(
            &FileName::parse("20160301_101502_notifications_op1_delta_-1_5_new.csv").unwrap()
        )
    );
    assert!(!zip.holds(&FileName::parse("20160301_101502_notifications_op10.csv").unwrap()));
    assert!(!zip.holds(&FileName::parse("20160302_101502_notifications_op1.csv").unwrap()));
    assert!(!zip.holds(&FileName::parse("20160301_101502_exceptions_op1.csv").unwrap()));

    for (name, position) in [
        ("20160301_101502_blacklist.csv", 26),
        ("20160301_101502_blacklist_delta_-1_57_blocked.zip", 26),
        ("20160301_101502_notifications_op-1.zip", 31),
    ] {
        let err = ZipName::parse(name).unwrap_err();
        assert_eq!(err.position, position, "{err}");
        assert!(
            err.to_string().starts_with(&format!(
                "the file name {name:?} is not a DIRBS list zip's, at character {position}: "
            )),
            "{err}"
        );
    }
    let err = ZipName::parse("20160301_101502_blacklist_delta_-1_57_blocked.zip").unwrap_err();
    assert!(
        err.to_string()
            .ends_with("follows blacklist, but only .zip may"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Picking a list's files out of a zip's members or a directory.
// ---------------------------------------------------------------------------------------

/// The members of `20160301_101502_notifications_op1.zip`: the register picks them by the
/// glob `…_notifications_op1*.csv`, so `op10`'s files are in it too.
const OP1_ZIP: [&str; 12] = [
    "20160301_101502_notifications_op10.csv",
    "20160301_101502_notifications_op1_delta_-1_57_changed.csv",
    "20160301_101502_notifications_op10_delta_-1_57_new.csv",
    "20160301_101502_notifications_op1_delta_-1_57_no_longer_seen.csv",
    "20160301_101502_notifications_op1_delta_-1_57_blacklisted.csv",
    "20160301_101502_notifications_op10_delta_-1_57_resolved.csv",
    "20160301_101502_notifications_op1_delta_-1_57_resolved.csv",
    "20160301_101502_notifications_op1_delta_-1_57_new.csv",
    "20160301_101502_notifications_op10_delta_-1_57_blacklisted.csv",
    "20160301_101502_notifications_op1.csv",
    "20160301_101502_notifications_op10_delta_-1_57_no_longer_seen.csv",
    "20160301_101502_notifications_op10_delta_-1_57_changed.csv",
];

#[test]
fn op1s_zip_gives_op1s_files_in_order_and_leaves_op10s_out() {
    let zip = ZipName::parse("20160301_101502_notifications_op1.zip").unwrap();
    let selection = zip.select(OP1_ZIP);
    let changes: Vec<Option<ChangeType>> = selection
        .files
        .iter()
        .map(|(_, f)| f.delta.map(|d| d.change))
        .collect();
    use ChangeType::*;
    assert_eq!(
        changes,
        [
            None,
            Some(New),
            Some(Resolved),
            Some(Blacklisted),
            Some(NoLongerSeen),
            Some(Changed)
        ]
    );
    for (name, file) in &selection.files {
        assert_eq!(file.list, notifications("op1"));
        assert_eq!(file.to_string(), *name);
    }
    assert_eq!(selection.others.len(), 6);
    assert!(selection.others.iter().all(|n| n.contains("_op10")));
    assert!(selection.unrecognised.is_empty());

    // op10's zip has only op10's files (the register's glob for op10 does not match op1).
    let op10 = select(OP1_ZIP, &notifications("op10"), None);
    assert_eq!(op10.files.len(), 6);
    assert_eq!(op10.files[0].0, "20160301_101502_notifications_op10.csv");
}

#[test]
fn a_directory_of_several_runs_is_ordered_by_run() {
    let dir = [
        "20160302_101502_blacklist_delta_57_60_blocked.csv",
        "20160302_101502_blacklist.csv",
        "20160301_101502_blacklist_delta_-1_57_unblocked.csv",
        "20160301_101502_blacklist_delta_-1_57_blocked.csv",
        "20160301_101502_blacklist.csv",
        "20160301_101502_blacklist.zip",
        "20160301_101502_exceptions_op1.csv",
        "notes/README.md",
        "listgen__20160301_101502/",
    ];
    let all = select(dir, &List::Blacklist, None);
    let names: Vec<&str> = all.files.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "20160301_101502_blacklist.csv",
            "20160301_101502_blacklist_delta_-1_57_blocked.csv",
            "20160301_101502_blacklist_delta_-1_57_unblocked.csv",
            "20160302_101502_blacklist.csv",
            "20160302_101502_blacklist_delta_57_60_blocked.csv",
        ]
    );
    assert_eq!(all.others, ["20160301_101502_exceptions_op1.csv"]);
    let unrecognised: Vec<&str> = all.unrecognised.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        unrecognised,
        [
            "20160301_101502_blacklist.zip",
            "notes/README.md",
            "listgen__20160301_101502/"
        ]
    );
    let second = select(dir, &List::Blacklist, Some(stamp("20160302_101502")));
    assert_eq!(second.files.len(), 2);
    assert_eq!(second.others.len(), 4);
}

#[test]
fn deltas_of_one_run_from_several_bases_order_by_run_then_base() {
    let names = [
        "20160301_101502_exceptions_op1_delta_50_57_added.csv",
        "20160301_101502_exceptions_op1_delta_-1_57_removed.csv",
        "20160301_101502_exceptions_op1_delta_-1_57_added.csv",
    ];
    let s = select(names, &exceptions("op1"), None);
    let order: Vec<(i64, ChangeType)> = s
        .files
        .iter()
        .map(|(_, f)| {
            let d: DeltaRun = f.delta.unwrap();
            (d.base_run, d.change)
        })
        .collect();
    assert_eq!(
        order,
        [
            (-1, ChangeType::Added),
            (-1, ChangeType::Removed),
            (50, ChangeType::Added)
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Rows.
// ---------------------------------------------------------------------------------------

const NAME: &str = "20160301_101502_notifications_op1.csv";

fn read(kind: Option<ListKind>, text: &str) -> Vec<Result<Row, ListError>> {
    Reader::new(NAME, text.as_bytes(), kind).collect()
}

fn rows(kind: Option<ListKind>, text: &str) -> Vec<Row> {
    read(kind, text)
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The one error of reading `text`: its rows other than the error must all read.
fn error(kind: Option<ListKind>, text: &str) -> ListError {
    let mut errors: Vec<ListError> = read(kind, text)
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
    errors.remove(0)
}

/// Checks an error's place, and that its message names the file, line and column.
fn assert_at(err: &ListError, line: u64, column: usize) {
    assert_eq!((err.line, err.column), (line, column), "{err}");
    assert_eq!(err.source_name, NAME);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{NAME}:{line}:{column}: ")),
        "{msg}"
    );
}

fn imei(s: &str) -> Imei {
    Imei::parse_lenient(s).unwrap().imei
}

fn imsi(s: &str) -> Option<Imsi> {
    Some(Imsi::parse(s).unwrap())
}

fn msisdn(s: &str) -> Option<Msisdn> {
    Some(Msisdn::parse(s).unwrap())
}

fn date(y: u32, m: u32, d: u32) -> Option<Date> {
    Some(Date::from_ymd(y, m, d).unwrap())
}

fn reasons(r: &[&str]) -> Vec<String> {
    r.iter().map(|s| s.to_string()).collect()
}

const BLACKLIST: &str = "imei,block_date,reasons\r\n\
    12345678901230,20160401,Duplicate IMEI detected\r\n\
    12345678901231,20160201,TAC not found in GSMA TAC database\r\n\
    12345678901227,20160601,Duplicate IMEI detected\r\n\
    12345678901230,20160201,Duplicate IMEI detected|TAC not found in GSMA TAC database\r\n";

#[test]
fn blacklist_rows() {
    let got = rows(Some(ListKind::Blacklist), BLACKLIST);
    let row = |line, i: &str, d, r: &[&str]| Row {
        line,
        imei: imei(i),
        imsi: None,
        msisdn: None,
        block_date: d,
        reasons: reasons(r),
        amnesty_granted: None,
    };
    assert_eq!(
        got,
        [
            row(
                2,
                "12345678901230",
                date(2016, 4, 1),
                &["Duplicate IMEI detected"]
            ),
            row(
                3,
                "12345678901231",
                date(2016, 2, 1),
                &["TAC not found in GSMA TAC database"]
            ),
            row(
                4,
                "12345678901227",
                date(2016, 6, 1),
                &["Duplicate IMEI detected"]
            ),
            row(
                5,
                "12345678901230",
                date(2016, 2, 1),
                &[
                    "Duplicate IMEI detected",
                    "TAC not found in GSMA TAC database"
                ]
            ),
        ]
    );
}

const NOTIFICATIONS: &str = "imei,imsi,msisdn,block_date,reasons\r\n\
    12345678901227,11106678901234,1,20160401,Duplicate IMEI detected\r\n\
    12345678901233,11102678901234,1,20160401,Duplicate IMEI detected\r\n\
    12345678901230,11101678901234,1,20160401,Duplicate IMEI detected|TAC not found in GSMA TAC database\r\n";

#[test]
fn notification_rows() {
    let got = rows(Some(ListKind::Notifications), NOTIFICATIONS);
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0],
        Row {
            line: 2,
            imei: imei("12345678901227"),
            imsi: imsi("11106678901234"),
            msisdn: msisdn("1"),
            block_date: date(2016, 4, 1),
            reasons: reasons(&["Duplicate IMEI detected"]),
            amnesty_granted: None,
        }
    );
    assert_eq!(
        got[2].reasons,
        [
            "Duplicate IMEI detected",
            "TAC not found in GSMA TAC database"
        ]
    );
}

#[test]
fn notification_rows_with_amnesty() {
    let text = "imei,imsi,msisdn,block_date,reasons,amnesty_granted\r\n\
        35111111111110,111015111111111,223355000000,20170121,not_registered|stolen,False\r\n\
        86222222222226,111018001111111,223338000000,20170201,not_registered,True\r\n\
        86222222222227,111018001111111,223338000000,20170201,not_registered,true\r\n\
        86222222222228,111018001111111,223338000000,20170201,not_registered,FALSE\r\n\
        86222222222229,111018001111111,223338000000,20170201,not_registered,\r\n";
    let mut reader = Reader::new(NAME, text.as_bytes(), Some(ListKind::Notifications));
    let got: Vec<Row> = reader.by_ref().map(Result::unwrap).collect();
    assert_eq!(
        reader.columns().unwrap(),
        [
            "imei",
            "imsi",
            "msisdn",
            "block_date",
            "reasons",
            "amnesty_granted"
        ]
    );
    let flags: Vec<Option<bool>> = got.iter().map(|r| r.amnesty_granted).collect();
    assert_eq!(
        flags,
        [Some(false), Some(true), Some(true), Some(false), None]
    );
    assert_eq!(got[0].reasons, ["not_registered", "stolen"]);
    assert_eq!(got[0].msisdn, msisdn("223355000000"));
    assert_eq!(got[1].block_date, date(2017, 2, 1));

    let err = error(
        Some(ListKind::Notifications),
        "imei,imsi,msisdn,block_date,reasons,amnesty_granted\n\
         86222222222226,111018001111111,223338000000,20170201,not_registered,yes\n",
    );
    assert_at(&err, 2, 69);
    assert!(matches!(&err.kind, RowError::DirbsAmnesty(v) if v == "yes"));
    assert!(
        err.to_string()
            .ends_with("\"yes\" is not an amnesty flag: DIRBS writes True or False")
    );
}

#[test]
fn exception_rows() {
    let text = "imei,imsi,msisdn\r\n\
        12345678901233,11101678901234,333333333333334\r\n\
        81111101313646,111018001111111,555555555555551\r\n";
    let got = rows(Some(ListKind::Exceptions), text);
    assert_eq!(
        got[1],
        Row {
            line: 3,
            imei: imei("81111101313646"),
            imsi: imsi("111018001111111"),
            msisdn: msisdn("555555555555551"),
            block_date: None,
            reasons: vec![],
            amnesty_granted: None,
        }
    );
}

#[test]
fn the_header_names_the_list_when_the_name_does_not() {
    for (text, kind, columns) in [
        (BLACKLIST, ListKind::Blacklist, 3),
        (NOTIFICATIONS, ListKind::Notifications, 5),
        ("imei,imsi,msisdn\n", ListKind::Exceptions, 3),
        (
            "imei,imsi,msisdn,block_date,reasons,amnesty_granted\n",
            ListKind::Notifications,
            6,
        ),
    ] {
        let mut reader = Reader::new("list.csv", text.as_bytes(), None);
        assert_eq!((reader.kind(), reader.columns()), (None, None));
        for row in reader.by_ref() {
            row.unwrap();
        }
        assert_eq!(reader.kind(), Some(kind));
        assert_eq!(reader.columns().map(<[_]>::len), Some(columns));
    }
    // Given a kind, the reader says it before the header is read.
    let reader = Reader::new("x.csv", &b""[..], Some(ListKind::Exceptions));
    assert_eq!(reader.kind(), Some(ListKind::Exceptions));
}

#[test]
fn header_names_are_read_in_any_case_and_with_blanks() {
    let text = "IMEI, Block_Date ,REASONS\n12345678901230,20160401,Duplicate IMEI detected\n";
    assert_eq!(rows(Some(ListKind::Blacklist), text).len(), 1);
    let text =
        "\u{feff}# DIRBS run 57\r\nImei,Imsi,Msisdn\r\n\r\n12345678901233,11101678901234,3\r\n";
    let got = rows(None, text);
    assert_eq!((got[0].line, got[0].msisdn), (4, msisdn("3")));
}

#[test]
fn an_empty_delta_has_a_header_and_no_rows() {
    for (kind, header) in [
        (ListKind::Blacklist, "imei,block_date,reasons\r\n"),
        (
            ListKind::Notifications,
            "imei,imsi,msisdn,block_date,reasons\r\n",
        ),
        (ListKind::Exceptions, "imei,imsi,msisdn\r\n"),
        (ListKind::Exceptions, "imei,imsi,msisdn"),
    ] {
        let mut reader = Reader::new(NAME, header.as_bytes(), Some(kind));
        assert!(reader.next().is_none(), "{header:?}");
        assert!(reader.next().is_none());
        assert_eq!(reader.rows(), 0);
        assert_eq!(reader.bytes_read(), header.len() as u64);
        assert_eq!(reader.name(), NAME);
    }
}

#[test]
fn duplicate_rows_come_as_they_are() {
    let text = "imei,imsi,msisdn\n\
        12345678901233,11101678901234,333333333333334\n\
        12345678901233,11101678901234,333333333333334\n";
    let got = rows(None, text);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].line, got[1].line), (2, 3));
    assert_eq!(
        Row {
            line: 2,
            ..got[1].clone()
        },
        got[0]
    );
}

#[test]
fn reasons_are_split_trimmed_sorted_and_deduplicated() {
    for (field, expected) in [
        ("b|a", &["a", "b"][..]),
        (" b | a |b| a ", &["a", "b"]),
        ("a||b|", &["a", "b"]),
        ("|a", &["a"]),
        (
            "\"Stolen, reported to police\"",
            &["Stolen, reported to police"],
        ),
        (
            "\"TAC not found, or not allocated|Duplicate IMEI detected\"",
            &["Duplicate IMEI detected", "TAC not found, or not allocated"],
        ),
        ("\"Said \"\"stolen\"\"\"", &["Said \"stolen\""]),
        ("Zeta|alpha|Alpha", &["Alpha", "Zeta", "alpha"]),
        ("raison française|été", &["raison française", "été"]),
    ] {
        let text = format!("imei,block_date,reasons\r\n12345678901230,20160401,{field}\r\n");
        let got = rows(Some(ListKind::Blacklist), &text);
        assert_eq!(got[0].reasons, expected, "{field}");
    }
}

#[test]
fn imeis_of_14_15_and_16_digits_are_keyed_on_14() {
    let text = "imei,block_date,reasons\n\
        12345678901230,20160401,a\n\
        123456789012305,20160401,a\n\
        123456789012300,20160401,a\n\
        1234567890123023,20160401,a\n\
        00000000000000,20160401,a\n\
        \"12345678901230\",20160401,a\n";
    let got = rows(Some(ListKind::Blacklist), text);
    let expected = imei("12345678901230");
    // The check digit of 12345678901230 is 5: a wrong one (0) is keyed the same, as DIRBS does.
    assert_eq!(expected.check_digit(), 5);
    let imeis: Vec<Imei> = got.iter().map(|r| r.imei).collect();
    assert_eq!(
        imeis,
        [expected, expected, expected, expected, Imei::MIN, expected]
    );
}

#[test]
fn imeis_the_register_could_not_normalise_are_errors_at_their_character() {
    for (field, column, ch) in [
        ("3511AAB1111110", 5, 'A'),
        ("22A456789012345", 3, 'A'),
        ("A1234", 1, 'A'),
        ("AA", 1, 'A'),
        ("1000011#000000", 8, '#'),
        ("52003020863612#", 15, '#'),
        ("3520990017614*", 14, '*'),
        ("35-209900-176148", 3, '-'),
        ("imei-35209900176148", 1, 'i'),
        ("3520990017614x8", 14, 'x'),
        ("3520990017614٣", 14, '٣'),
    ] {
        let text = format!("imei,block_date,reasons\n{field},20160401,a\n");
        let err = error(Some(ListKind::Blacklist), &text);
        assert_at(&err, 2, column);
        assert!(
            matches!(&err.kind, RowError::DirbsImeiCharacter { imei, ch: c } if imei == field && *c == ch),
            "{field}: {:?}",
            err.kind
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("holds {ch:?}, which is not a digit")),
            "{msg}"
        );
        assert!(msg.contains("output_invalid_imeis"), "{msg}");
    }
    // Quoted and padded fields count columns from the IMEI's first character.
    let err = error(
        Some(ListKind::Blacklist),
        "imei,block_date,reasons\n  \"3511AAB1111110\",20160401,a\n",
    );
    assert_at(&err, 2, 8);
}

#[test]
fn imeis_of_other_lengths_are_errors() {
    for field in [
        "1",
        "1234567890123",
        "12345678901234567",
        "123456789012345678901",
    ] {
        let text = format!("imei,imsi,msisdn\n{field},11101678901234,1\n");
        let err = error(Some(ListKind::Exceptions), &text);
        assert_at(&err, 2, 1);
        assert!(
            matches!(&err.kind, RowError::DirbsImeiLength { imei, digits } if imei == field && *digits == field.len()),
            "{:?}",
            err.kind
        );
        assert!(
            err.to_string().contains(&format!(
                "has {} digits, but DIRBS writes 14 (15 with a check digit, 16 as an IMEISV)",
                field.len()
            )),
            "{err}"
        );
    }
}

#[test]
fn blank_fields_the_register_always_fills_are_errors() {
    for (kind, text, column, field) in [
        (ListKind::Blacklist, ",20160401,a", 1, "imei"),
        (ListKind::Blacklist, "12345678901230,,a", 16, "block_date"),
        (
            ListKind::Blacklist,
            "12345678901230,20160401,",
            25,
            "reasons",
        ),
        (
            ListKind::Blacklist,
            "12345678901230,20160401,  ",
            27,
            "reasons",
        ),
        (
            ListKind::Blacklist,
            "12345678901230,20160401,\"\"",
            26,
            "reasons",
        ),
        (
            ListKind::Notifications,
            "12345678901230,,1,20160401,a",
            16,
            "imsi",
        ),
        (
            ListKind::Notifications,
            "12345678901230,11101678901234,1,,a",
            33,
            "block_date",
        ),
        (
            ListKind::Notifications,
            "12345678901230,11101678901234,1,20160401,",
            42,
            "reasons",
        ),
        (ListKind::Exceptions, "12345678901230, ,1", 17, "imsi"),
        (ListKind::Exceptions, " ,11101678901234,1", 2, "imei"),
    ] {
        let header = kind.columns().join(",");
        let err = error(Some(kind), &format!("{header}\n{text}\n"));
        assert_at(&err, 2, column);
        assert!(
            matches!(err.kind, RowError::DirbsBlank { field: f } if f == field),
            "{text}: {:?}",
            err.kind
        );
        assert!(err.to_string().contains(&format!(
            "the {field} field is empty, but DIRBS always fills it"
        )));
    }
}

#[test]
fn reasons_that_name_no_reason_are_errors() {
    for (field, column) in [("|", 25), (" | | ", 26), ("||", 25)] {
        let err = error(
            Some(ListKind::Blacklist),
            &format!("imei,block_date,reasons\n12345678901230,20160401,{field}\n"),
        );
        assert_at(&err, 2, column);
        assert!(
            matches!(err.kind, RowError::DirbsNoReason),
            "{:?}",
            err.kind
        );
    }
}

#[test]
fn blank_msisdns_and_amnesty_flags_are_none() {
    let got = rows(
        None,
        "imei,imsi,msisdn,block_date,reasons,amnesty_granted\n\
         12345678901230,11101678901234,,20160401,a,\n",
    );
    assert_eq!((got[0].msisdn, got[0].amnesty_granted), (None, None));
    assert_eq!(got[0].imsi, imsi("11101678901234"));
    let got = rows(None, "imei,imsi,msisdn\n12345678901230,11101678901234, \n");
    assert_eq!(got[0].msisdn, None);
}

#[test]
fn bad_imsis_msisdns_and_dates_are_located() {
    let header = "imei,imsi,msisdn,block_date,reasons\n";
    // field text -> (column, check)
    type Is = fn(&RowError) -> bool;
    let cases: Vec<(&str, usize, Is)> = vec![
        ("12345678901230,1110167890123A,1,20160401,a", 29, |k| {
            matches!(k, RowError::Imsi(IdError::NonDigit { ch: 'A', .. }))
        }),
        ("12345678901230,1110,1,20160401,a", 16, |k| {
            matches!(k, RowError::Imsi(IdError::Length { found: 4, .. }))
        }),
        ("12345678901230,1110167890123456,1,20160401,a", 16, |k| {
            matches!(k, RowError::Imsi(IdError::Length { found: 16, .. }))
        }),
        ("12345678901230,11101678901234,+22335,20160401,a", 31, |k| {
            matches!(k, RowError::Msisdn(IdError::NonDigit { ch: '+', .. }))
        }),
        ("12345678901230,11101678901234,2233 5,20160401,a", 35, |k| {
            matches!(k, RowError::Msisdn(IdError::NonDigit { ch: ' ', .. }))
        }),
        (
            "12345678901230,11101678901234,1234567890123456,20160401,a",
            31,
            |k| matches!(k, RowError::Msisdn(IdError::Length { found: 16, .. })),
        ),
        (
            "12345678901230,11101678901234,1,2016-04-01,a",
            33,
            |k| matches!(k, RowError::DirbsDate(d) if d == "2016-04-01"),
        ),
        ("12345678901230,11101678901234,1,20160230,a", 33, |k| {
            matches!(k, RowError::DirbsDate(_))
        }),
        ("12345678901230,11101678901234,1,2016041,a", 33, |k| {
            matches!(k, RowError::DirbsDate(_))
        }),
        ("12345678901230,11101678901234,1,201604011,a", 33, |k| {
            matches!(k, RowError::DirbsDate(_))
        }),
        ("12345678901230,11101678901234,1,19691231,a", 33, |k| {
            matches!(k, RowError::DirbsDate(_))
        }),
        ("12345678901230,11101678901234,1,2016040x,a", 33, |k| {
            matches!(k, RowError::DirbsDate(_))
        }),
    ];
    for (line, column, check) in cases {
        let err = error(Some(ListKind::Notifications), &format!("{header}{line}\n"));
        assert_at(&err, 2, column);
        assert!(check(&err.kind), "{line}: {:?}", err.kind);
        assert_eq!(err.row, line);
    }
    let err = error(
        Some(ListKind::Notifications),
        &format!("{header}12345678901230,11101678901234,1,20160230,a\n"),
    );
    assert!(err.to_string().ends_with(
        "\"20160230\" is not a block date: DIRBS writes YYYYMMDD, a real day from 19700101 to 99991231"
    ));
    let err = error(
        Some(ListKind::Notifications),
        &format!("{header}12345678901230,11101678901234,+1,20160401,a\n"),
    );
    assert!(
        err.to_string()
            .contains("the msisdn field is not an MSISDN: character '+'"),
        "{err}"
    );
}

#[test]
fn rows_with_other_numbers_of_fields_are_errors() {
    // An unquoted comma in a reason makes one field too many.
    let err = error(
        Some(ListKind::Blacklist),
        "imei,block_date,reasons\n12345678901230,20160401,Stolen, reported to police\n",
    );
    assert_at(&err, 2, 33);
    assert!(matches!(
        err.kind,
        RowError::DirbsFieldCount {
            found: 4,
            expected: 3,
            columns: "imei,block_date,reasons"
        }
    ));
    assert!(err.to_string().ends_with(
        "the row has 4 fields, but the header names 3: imei,block_date,reasons; a field with a \
         comma (a reason) must be in double quotes"
    ));
    // Too few: the column just past the row's end.
    let err = error(
        Some(ListKind::Notifications),
        "imei,imsi,msisdn,block_date,reasons\n12345678901230,11101678901234,1,20160401\n",
    );
    assert_at(&err, 2, 41);
    assert!(err.to_string().ends_with(
        "the row has 4 fields, but the header names 5: imei,imsi,msisdn,block_date,reasons"
    ));
    // The amnesty column counts when the header has it, and only then.
    let err = error(
        None,
        "imei,imsi,msisdn,block_date,reasons,amnesty_granted\n12345678901230,11101678901234,1,20160401,a\n",
    );
    assert!(matches!(
        err.kind,
        RowError::DirbsFieldCount {
            found: 5,
            expected: 6,
            ..
        }
    ));
    let err = error(
        None,
        "imei,imsi,msisdn,block_date,reasons\n12345678901230,11101678901234,1,20160401,a,True\n",
    );
    assert!(matches!(
        err.kind,
        RowError::DirbsFieldCount {
            found: 6,
            expected: 5,
            ..
        }
    ));
    // A pre-v85 exception row without its msisdn.
    let err = error(None, "imei,imsi,msisdn\n12345678901230,11101678901234\n");
    assert_at(&err, 2, 30);
    // A trailing comma is a field.
    let err = error(None, "imei,imsi,msisdn\n12345678901230,11101678901234,1,\n");
    assert_at(&err, 2, 33);
}

#[test]
fn reading_goes_on_after_a_bad_row() {
    let text = "imei,block_date,reasons\n\
        12345678901230,20160401,a\n\
        3511AAB1111110,20160401,a\n\
        12345678901231,2016,a\n\
        # a comment\n\
        12345678901232,20160401,\"unclosed\n\
        12345678901233,20160401,b\n";
    let got = read(Some(ListKind::Blacklist), text);
    let lines: Vec<(u64, bool)> = got
        .iter()
        .map(|r| match r {
            Ok(row) => (row.line, true),
            Err(e) => (e.line, false),
        })
        .collect();
    assert_eq!(
        lines,
        [(2, true), (3, false), (4, false), (6, false), (7, true)]
    );
    let err = got[3].as_ref().unwrap_err();
    assert!(matches!(err.kind, RowError::UnterminatedQuote));
    assert!(
        got.iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| !e.is_fatal())
    );
    let mut reader = Reader::new(NAME, text.as_bytes(), None);
    reader.by_ref().for_each(drop);
    assert_eq!(reader.rows(), 5);
}

#[test]
fn a_header_of_another_list_is_refused_and_ends_reading() {
    for (text, kind, found, expected) in [
        (
            BLACKLIST,
            ListKind::Notifications,
            "the blacklist",
            "a notification list",
        ),
        (
            NOTIFICATIONS,
            ListKind::Blacklist,
            "a notification list",
            "the blacklist",
        ),
        (
            "imei,imsi,msisdn\n12345678901233,11101678901234,1\n",
            ListKind::Notifications,
            "an exception list",
            "a notification list",
        ),
        (
            "imei,imsi,msisdn,block_date,reasons,amnesty_granted\n",
            ListKind::Exceptions,
            "a notification list",
            "an exception list",
        ),
    ] {
        let got = read(Some(kind), text);
        assert_eq!(got.len(), 1, "{text:?}");
        let err = got[0].as_ref().unwrap_err();
        assert_at(err, 1, 1);
        assert!(err.is_fatal());
        assert!(
            matches!(err.kind, RowError::DirbsHeaderMismatch { found: f, expected: e } if f == found && e == expected),
            "{:?}",
            err.kind
        );
        assert!(err.to_string().contains(&format!(
            "the header row is {found}'s, but the file is read as {expected}"
        )));
    }
}

#[test]
fn an_unknown_header_is_refused_and_ends_reading() {
    for header in [
        "imei,status,reason,imsi,date",
        "imei,block_date",
        "imei,block_date,reasons,change_type",
        "imei,imsi",
        "imei,imsi,msisdn,block_date,reasons,amnesty",
        "IMEI,REPORTING_DATE,STATUS",
        "imei",
    ] {
        let text = format!("{header}\n12345678901230,20160401,a\n");
        let got = read(None, &text);
        assert_eq!(got.len(), 1, "{header}");
        let err = got[0].as_ref().unwrap_err();
        assert_at(err, 1, 1);
        assert!(err.is_fatal());
        let found: Vec<String> = header.split(',').map(str::to_string).collect();
        assert!(matches!(&err.kind, RowError::DirbsHeader { found: f } if *f == found));
        assert!(err.to_string().contains("which no DIRBS list has"));
    }
}

#[test]
fn a_file_without_a_header_is_refused() {
    for (text, line) in [
        ("12345678901230,20160401,a\n12345678901231,20160401,a\n", 1),
        ("", 1),
        ("\r\n\r\n", 1),
        ("# nothing but a comment\n", 1),
        ("\u{feff}", 1),
        ("# run 57\n12345678901230,20160401,a\n", 2),
    ] {
        for kind in [None, Some(ListKind::Blacklist)] {
            let got = read(kind, text);
            assert_eq!(got.len(), 1, "{text:?}");
            let err = got[0].as_ref().unwrap_err();
            assert_at(err, line, 1);
            assert!(err.is_fatal());
            assert!(
                matches!(err.kind, RowError::DirbsNoHeader),
                "{:?}",
                err.kind
            );
            assert!(err.to_string().contains("the file has no header row"));
        }
    }
}

/// A source that gives its first bytes, then fails.
struct FailingReader(Option<&'static [u8]>);

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(data) => {
                buf[..data.len()].copy_from_slice(data);
                Ok(data.len())
            }
            None => Err(io::Error::other("disk on fire")),
        }
    }
}

#[test]
fn an_io_error_ends_reading_without_a_second_error() {
    for data in [
        &b"imei,block_date,re"[..],
        b"imei,block_date,reasons\n12345678901230,20160401,a\n",
    ] {
        let source: Box<dyn BufRead> = Box::new(BufReader::new(FailingReader(Some(data))));
        let got: Vec<_> = Reader::new(NAME, source, None).collect();
        let errors: Vec<&ListError> = got.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errors.len(), 1, "{got:?}");
        assert!(errors[0].is_fatal());
        assert!(matches!(errors[0].kind, RowError::Io(_)));
        assert!(got.last().unwrap().is_err());
    }
}

#[test]
fn crlf_bom_comments_and_blank_lines_are_read_as_in_every_list() {
    let text = "\u{feff}imei,block_date,reasons\r\n\
        \r\n\
        # comment, with a comma\r\n\
        \x20 # indented comment\r\n\
        12345678901230,20160401,\"a, b\"\r\n\
        \t\r\n\
        12345678901231,20160402,c\n";
    let got = rows(Some(ListKind::Blacklist), text);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].line, got[1].line), (5, 7));
    assert_eq!(got[0].reasons, ["a, b"]);
    // A row that is not UTF-8 is an error naming the byte; the rows after it are read.
    let bytes = b"imei,block_date,reasons\n12345678901230,20160401,vol d\xe9clar\xe9\n12345678901231,20160401,a\n";
    let got: Vec<_> = Reader::new(NAME, &bytes[..], None).collect();
    let err = got[0].as_ref().unwrap_err();
    assert_at(err, 2, 30);
    assert!(matches!(err.kind, RowError::NotUtf8 { byte: 0xE9, .. }));
    assert!(got[1].is_ok());
}

// ---------------------------------------------------------------------------------------
// Rows written as the register writes them read back equal.
// ---------------------------------------------------------------------------------------

/// A field as Python's csv module writes it with QUOTE_MINIMAL.
fn quote_minimal(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn digits(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..10, len)
        .prop_map(|d| d.into_iter().map(|d| char::from(b'0' + d)).collect())
}

/// How an IMEI is written: 14 digits as the register does, or with a check digit (right or
/// wrong), or as an IMEISV.
fn imei_text() -> impl Strategy<Value = (Imei, String)> {
    (0u64..100_000_000_000_000, 0u8..4, 0u8..100).prop_map(|(n, form, extra)| {
        let imei = Imei::from_u64(n).unwrap();
        let body = format!("{n:014}");
        let text = match form {
            0 => body,
            1 => format!("{body}{}", imei.check_digit()),
            2 => format!("{body}{}", extra % 10),
            _ => format!("{body}{extra:02}"),
        };
        (imei, text)
    })
}

/// A reason as a register's condition config may spell it: no `|`, no surrounding blanks,
/// commas, spaces, quotes and non-ASCII letters allowed.
fn reason() -> impl Strategy<Value = String> {
    "[A-Za-zé0-9_][A-Za-zé0-9_ ,\"'.]{0,12}[A-Za-zé0-9_.]|[A-Za-z]"
}

#[derive(Debug, Clone)]
struct Written {
    kind: ListKind,
    amnesty: bool,
    rows: Vec<(Row, String)>,
}

fn written() -> impl Strategy<Value = Written> {
    let kinds = prop_oneof![
        Just((ListKind::Blacklist, false)),
        Just((ListKind::Notifications, false)),
        Just((ListKind::Notifications, true)),
        Just((ListKind::Exceptions, false)),
    ];
    let row = (
        imei_text(),
        digits(5..=15),
        prop::option::weighted(0.9, digits(1..=15)),
        (1970u32..2100, 1u32..13, 1u32..29),
        prop::collection::vec(reason(), 1..4),
        prop::option::weighted(0.9, any::<bool>()),
        any::<u8>(),
    );
    (kinds, prop::collection::vec(row, 0..12)).prop_map(|((kind, amnesty), rows)| {
        let rows = rows
            .into_iter()
            .enumerate()
            .map(
                |(i, ((imei, imei_text), imsi, msisdn, (y, m, d), reasons, granted, order))| {
                    let date = Date::from_ymd(y, m, d).unwrap();
                    let set: BTreeSet<String> = reasons.iter().cloned().collect();
                    // The register writes them sorted by its own collation: any order here.
                    let mut shuffled: Vec<&String> = reasons.iter().collect();
                    shuffled.rotate_left(usize::from(order) % reasons.len());
                    let reasons_text = shuffled
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("|");
                    let date_text = format!("{y:04}{m:02}{d:02}");
                    let granted_text = match granted {
                        Some(true) => "True",
                        Some(false) => "False",
                        None => "",
                    };
                    let msisdn_text = msisdn.clone().unwrap_or_default();
                    let (fields, row): (Vec<&str>, Row) = match kind {
                        ListKind::Blacklist => (
                            vec![
                                imei_text.as_str(),
                                date_text.as_str(),
                                reasons_text.as_str(),
                            ],
                            Row {
                                line: 0,
                                imei,
                                imsi: None,
                                msisdn: None,
                                block_date: Some(date),
                                reasons: set.into_iter().collect(),
                                amnesty_granted: None,
                            },
                        ),
                        ListKind::Notifications => {
                            let mut fields = vec![
                                imei_text.as_str(),
                                imsi.as_str(),
                                msisdn_text.as_str(),
                                date_text.as_str(),
                                reasons_text.as_str(),
                            ];
                            if amnesty {
                                fields.push(granted_text);
                            }
                            let row = Row {
                                line: 0,
                                imei,
                                imsi: Some(Imsi::parse(&imsi).unwrap()),
                                msisdn: msisdn.as_deref().map(|m| Msisdn::parse(m).unwrap()),
                                block_date: Some(date),
                                reasons: set.into_iter().collect(),
                                amnesty_granted: granted.filter(|_| amnesty),
                            };
                            (fields, row)
                        }
                        ListKind::Exceptions => (
                            vec![imei_text.as_str(), imsi.as_str(), msisdn_text.as_str()],
                            Row {
                                line: 0,
                                imei,
                                imsi: Some(Imsi::parse(&imsi).unwrap()),
                                msisdn: msisdn.as_deref().map(|m| Msisdn::parse(m).unwrap()),
                                block_date: None,
                                reasons: vec![],
                                amnesty_granted: None,
                            },
                        ),
                    };
                    let line: Vec<String> = fields.iter().map(|f| quote_minimal(f)).collect();
                    (
                        Row {
                            line: i as u64 + 2,
                            ..row
                        },
                        line.join(","),
                    )
                },
            )
            .collect();
        Written {
            kind,
            amnesty,
            rows,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rows_written_as_the_register_writes_them_read_back_equal(w in written()) {
        let mut header = w.kind.columns().join(",");
        if w.amnesty {
            header.push_str(",amnesty_granted");
        }
        let mut text = format!("{header}\r\n");
        for (_, line) in &w.rows {
            text.push_str(line);
            text.push_str("\r\n");
        }
        let expected: Vec<Row> = w.rows.iter().map(|(r, _)| r.clone()).collect();
        // By the name's kind, and by the header's alone.
        for kind in [Some(w.kind), None] {
            let got: Result<Vec<Row>, ListError> =
                Reader::new("run.csv", text.as_bytes(), kind).collect();
            prop_assert_eq!(got.map_err(|e| TestCaseError::fail(e.to_string()))?, expected.clone(), "{}", text);
        }
    }

    #[test]
    fn file_names_read_back_equal(
        (y, m, d) in (1970u32..2100, 1u32..13, 1u32..29),
        (hour, minute, second) in (0u8..24, 0u8..60, 0u8..60),
        list in 0u8..3,
        operator in "[a-z0-9_]{1,16}",
        delta in prop::option::of((-1i64..1000, 0u64..1_000_000, any::<prop::sample::Index>())),
    ) {
        // An operator id that ends like a delta's name would read as one.
        prop_assume!(!operator.contains("_delta_"));
        let list = match list {
            0 => List::Blacklist,
            1 => List::Notifications { operator },
            _ => List::Exceptions { operator },
        };
        let delta = delta.map(|(base_run, run, change)| DeltaRun {
            base_run,
            run,
            change: *change.get(list.kind().changes()),
        });
        let stamp = RunStamp { date: Date::from_ymd(y, m, d).unwrap(), hour, minute, second };
        let name = FileName { stamp, list, delta };
        let text = name.to_string();
        prop_assert_eq!(FileName::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?, name.clone());
        let zip = ZipName { stamp, list: name.list.clone() };
        prop_assert_eq!(ZipName::parse(&zip.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?, zip.clone());
        prop_assert!(zip.holds(&name));
    }
}
