//! The command line against the reference model of docs/semantics.md
//! (tests/common/reference.rs): generated lists with several sources, reasons, dates, starts
//! and earlier statuses, written as list files and built with `imei-index build`, then
//! `check --at DAY --json` (without an IMSI and with each listed one) and `scan` of a log
//! whose rows carry their time, on days before, on and after the starts. The library's
//! surfaces meet the same model in tests/semantics.rs.

mod cli_support;
#[path = "../../tests/common/generated.rs"]
mod generated;
#[path = "../../tests/common/reference.rs"]
mod reference;

use std::collections::BTreeMap;
use std::fs;

use cli_support::{run, text};
use generated::{
    CHECK_DAYS, IMSIS, day_text, list_file, probes, probes_with_tacs, rules, status_text, tac_db,
    tac_db_file,
};
use reference::{Day, RefRule, RefTarget};

/// What a check says, as the command line prints it: status, rule, source, reasons, date.
type Said = (
    String,
    Option<String>,
    Option<String>,
    Vec<String>,
    Option<String>,
);

/// A scanned row: its IMSI (or empty), IMEI (14 digits) and time.
type ScanKey = (String, String, String);
/// What scan reports of a row: status, reasons, rule.
type Reported = (String, Vec<String>, String);

/// The TAC database and policy of a run, if any.
type TacDb = Option<(BTreeMap<u32, Option<Day>>, Option<reference::RefTacPolicy>)>;

fn want(model: &[RefRule], imei: u64, imsi: Option<&str>, day: Day, tac: &TacDb) -> Said {
    let v = match tac {
        None => reference::answer(model, imei, imsi, day),
        Some((db, policy)) => reference::answer_with_tac_db(model, imei, imsi, day, db, *policy),
    };
    match v {
        None => ("unknown".into(), None, None, Vec::new(), None),
        Some(v) => (
            status_text(v.status).into(),
            Some(
                match v.rule.target {
                    RefTarget::Pair(..) => "pair",
                    RefTarget::Imei(_) => "imei",
                    RefTarget::Range(..) => "range",
                    RefTarget::Tac(_) => "tac",
                }
                .into(),
            ),
            // A verdict of the TAC policy has no source: JSON's null.
            Some(v.rule.source.clone()).filter(|s| !s.is_empty()),
            v.rule.reasons.clone(),
            v.rule.date.map(day_text),
        ),
    }
}

fn reasons_of(joined: &str) -> Vec<String> {
    let mut v: Vec<String> = joined
        .split('|')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn check_and_scan_answer_as_the_reference_model() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=12u64 {
        check_seed(dir.path(), seed, &None);
    }
}

/// With a TAC database built in (`build --tac-db`) and a TAC policy given to `check` and
/// `scan` (or none), both answer as the reference model with the database; `check --json`
/// names each listed TAC's model.
#[test]
fn check_and_scan_with_a_tac_policy_answer_as_the_reference_model() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=10u64 {
        check_seed(dir.path(), seed, &Some(tac_db(seed)));
    }
}

fn check_seed(dir: &std::path::Path, seed: u64, tac: &TacDb) {
    let path = |name: &str| dir.join(name).display().to_string();
    {
        let generated = rules(seed);
        let model = reference::build(&generated);
        fs::write(path("list.csv"), list_file(&generated)).unwrap();
        let mut build = vec![
            "build".to_string(),
            path("list.csv"),
            "-o".into(),
            path("list.imeiidx"),
        ];
        // The flags that ask for the policy, for check and scan.
        let mut policy_flags: Vec<String> = Vec::new();
        if let Some((db, policy)) = tac {
            fs::write(path("tacdb.txt"), tac_db_file(db)).unwrap();
            build.extend(["--tac-db".into(), path("tacdb.txt")]);
            if let Some(p) = policy {
                policy_flags.extend(["--tac-policy".into(), status_text(p.status).into()]);
                if let Some(d) = p.allocated_after {
                    policy_flags.extend(["--allocated-after".into(), day_text(d)]);
                }
            }
        }
        let build: Vec<&str> = build.iter().map(String::as_str).collect();
        let out = run(&build, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "seed {seed}: {}",
            text(&out.stderr)
        );
        let probed = if tac.is_some() {
            probes_with_tacs(&model)
        } else {
            probes(&model)
        };
        let imeis: Vec<String> = probed.iter().map(|i| format!("{i:014}")).collect();
        let imsis: Vec<Option<&str>> = [None, Some(IMSIS[0]), Some(IMSIS[1])].into();

        // check --at DAY --json [--imsi IMSI] IMEI...
        for &day in &CHECK_DAYS {
            for &imsi in &imsis {
                let (index, at) = (path("list.imeiidx"), day_text(day));
                let mut args = vec!["check", "--index", &index, "--json", "--at", &at];
                args.extend(policy_flags.iter().map(String::as_str));
                if let Some(s) = imsi {
                    args.extend(["--imsi", s]);
                }
                args.extend(imeis.iter().map(String::as_str));
                let out = run(&args, None);
                assert!(
                    matches!(out.status.code(), Some(0 | 1)),
                    "seed {seed}: {}",
                    text(&out.stderr)
                );
                let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
                assert_eq!(lines.len(), imeis.len(), "seed {seed}");
                for (imei, line) in imeis.iter().zip(&lines) {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let s = |k: &str| v[k].as_str().map(str::to_string);
                    let got: Said = (
                        s("status").unwrap(),
                        s("rule"),
                        s("source"),
                        reasons_of(&s("reason").unwrap_or_default()),
                        s("date"),
                    );
                    let expected = want(&model, imei.parse().unwrap(), imsi, day, tac);
                    if let Some((db, _)) = tac {
                        let t: u32 = imei[..8].parse().unwrap();
                        let model_name = db.contains_key(&t).then(|| format!("Model {t}"));
                        assert_eq!(s("model"), model_name, "seed {seed}: model of {imei}");
                    }
                    assert_eq!(
                        got,
                        expected,
                        "seed {seed}: check {imei} with IMSI {imsi:?} on {at}\n{}",
                        list_file(&generated)
                    );
                }
            }
        }

        // scan: every probe with each IMSI (or none) on each day, as a log with a time
        // column; blocked and tracked rows are reported, with their status, reason and rule.
        let mut log = String::from("imsi,msisdn,imei,time\n");
        let mut wanted: BTreeMap<ScanKey, Reported> = BTreeMap::new();
        for &day in &CHECK_DAYS {
            let time = format!("{}T12:00:00Z", day_text(day));
            for &imsi in &imsis {
                for imei in &imeis {
                    log.push_str(&format!(
                        "{},919800000000,{imei},{time}\n",
                        imsi.unwrap_or("")
                    ));
                    let (status, rule, _, reasons, _) =
                        want(&model, imei.parse().unwrap(), imsi, day, tac);
                    if status == "blocked" || status == "tracked" {
                        let key = (imsi.unwrap_or("").to_string(), imei.clone(), time.clone());
                        wanted.insert(key, (status, reasons, rule.unwrap()));
                    }
                }
            }
        }
        fs::write(path("log.csv"), &log).unwrap();
        let (index, log_path, found_path) =
            (path("list.imeiidx"), path("log.csv"), path("found.csv"));
        let mut args = vec!["scan", "--index", &index, &log_path, "-o", &found_path];
        args.extend(policy_flags.iter().map(String::as_str));
        let out = run(&args, None);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "seed {seed}: {}",
            text(&out.stderr)
        );
        let found = fs::read_to_string(path("found.csv")).unwrap();
        let mut lines = found.lines();
        assert_eq!(
            lines.next(),
            Some("imsi,msisdn,imei,time,status,reason,rule,date")
        );
        let mut got = BTreeMap::new();
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            // A reason with a comma would be quoted; the generated ones have none.
            assert_eq!(f.len(), 8, "seed {seed}: {line}");
            let imei = f[2][..14].to_string();
            got.insert(
                (f[0].to_string(), imei, f[3].to_string()),
                (f[4].to_string(), reasons_of(f[5]), f[6].to_string()),
            );
        }
        assert_eq!(got, wanted, "seed {seed}: scan\n{}", list_file(&generated));
    }
}
