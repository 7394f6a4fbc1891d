//! `check --at` and `--tz`: the day a check is made on, and in which time zone today is;
//! `check --json`'s `source` and `reason` joining several reasons (docs/semantics.md).

mod cli_support;

use std::fs;
use std::process::Output;

use cli_support::text;
use imei_index::{Date, Entry, Imei, IndexBuilder, Reasons, Rule, Source, Status};

fn run(args: &[&str]) -> Output {
    cli_support::run(args, None)
}

/// An index with one notified handset: tracked until `start`, blocked from it.
fn notified(dir: &std::path::Path, start: Date) -> String {
    let mut b = IndexBuilder::new();
    let entry = Entry::new(Status::Blocked)
        .with_start(start)
        .with_date(start)
        .with_earlier(Status::Tracked)
        .unwrap()
        .with_reasons(Reasons::parse_joined("Duplicate IMEI detected|not_registered").unwrap());
    b.add(
        Rule::imei(Imei::parse("35209900176148").unwrap(), entry)
            .with_source(Source::new("dirbs/notifications/op1").unwrap()),
    );
    let path = dir.join("n.imeiidx");
    b.build_to_file(&path).unwrap();
    path.display().to_string()
}

fn status_of(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout).split('\t').nth(2).unwrap().to_string()
}

#[test]
fn a_dated_rule_before_on_and_after_its_day() {
    let dir = tempfile::tempdir().unwrap();
    let index = notified(dir.path(), "2024-06-10".parse().unwrap());
    for (at, status) in [
        ("2024-06-09", "tracked"),
        ("2024-06-10", "blocked"),
        ("2024-06-11", "blocked"),
    ] {
        let out = run(&["check", "--index", &index, "--at", at, "35209900176148"]);
        assert_eq!(status_of(&out), status, "{at}");
        // The reasons, joined, in the tab-separated output too.
        assert!(
            text(&out.stdout).contains("\tDuplicate IMEI detected|not_registered\t"),
            "{}",
            text(&out.stdout)
        );
    }
    let out = run(&[
        "check",
        "--index",
        &index,
        "--at",
        "2024-06-09",
        "--json",
        "35209900176148",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "tracked");
    assert_eq!(v["reason"], "Duplicate IMEI detected|not_registered");
    assert_eq!(v["source"], "dirbs/notifications/op1");
    assert_eq!(v["date"], "2024-06-10");
    // An unknown handset has no source.
    let out = run(&["check", "--index", &index, "--json", "490154203237518"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["source"].is_null()),
        (Some("unknown"), true)
    );
}

#[test]
fn today_turns_in_the_time_zone_given() {
    // At any instant, today in UTC+14 (Pacific/Kiritimati) is one or two days after today in
    // UTC-12 (Etc/GMT+12). A rule starting on Kiritimati's today is in force there, and not
    // yet at the other end of the day line.
    let dir = tempfile::tempdir().unwrap();
    for _attempt in 0..3 {
        let east = Date::today_at_offset(14 * 3600);
        let west = Date::today_at_offset(-12 * 3600);
        assert!(west < east);
        let index = notified(dir.path(), east);
        let check = |tz: &str| {
            status_of(&run(&[
                "check",
                "--index",
                &index,
                "--tz",
                tz,
                "35209900176148",
            ]))
        };
        let (e, w, utc) = (
            check("Pacific/Kiritimati"),
            check("Etc/GMT+12"),
            check("UTC"),
        );
        // A day that turned meanwhile makes the answers another day's: ask again.
        if Date::today_at_offset(14 * 3600) != east {
            continue;
        }
        assert_eq!((e.as_str(), w.as_str()), ("blocked", "tracked"));
        let utc_today = Date::today_utc();
        assert_eq!(
            utc,
            if utc_today >= east {
                "blocked"
            } else {
                "tracked"
            }
        );
        return;
    }
    panic!("the day turned during every attempt");
}

#[test]
fn a_bad_day_or_zone_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let index = notified(dir.path(), "2024-06-10".parse().unwrap());
    let out = run(&[
        "check",
        "--index",
        &index,
        "--at",
        "2024-13-01",
        "35209900176148",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--at \"2024-13-01\" is not a day"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "check",
        "--index",
        &index,
        "--tz",
        "Mars/Olympus",
        "35209900176148",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--tz \"Mars/Olympus\" is not a time zone"),
        "{}",
        text(&out.stderr)
    );
    fs::remove_file(&index).unwrap();
}
