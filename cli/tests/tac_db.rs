//! GSMA's TAC database on the command line: `build --tac-db` with both exports and bad
//! rows, `apply` and `merge` keeping or replacing it, `stats`, `scan --device-columns`, and
//! the refusals. What checks answer with the policy is tested against the reference model
//! in semantics_cli.rs.

mod cli_support;

use std::fs;

use cli_support::{run, text};

const CURRENT: &str = "TAC|Marketing Name|Internal Model Name|Manufacturer|Bands|Allocation Date|Country Code|Fixed Code|Manufacturer Code|Radio Interface|Brand Name|Model Name|Operating System|NFC|Bluetooth|WLAN|Device Type
35209900|Galaxy S23|SM-S911B|Samsung Korea|GSM 900|01-Feb-2023|410|N|SM|LTE|Samsung|SM-S911B|Android|Y|Y|Y|Smartphone
35417803|\"iPhone 15, 5G | Pro\"|A3090|Apple Inc|GSM 900|12-Sep-2023|310|N|AP|NR|Apple|A3090|iOS|Y|Y|Y|Smartphone
";
const OLD: &str = "tac|manufacturer|model_name|bands|allocation_date|device_type|optional_fields
35209900|Samsung|SM-S911B|GSM 900|2023-02-01|Smartphone|extra|fields
86000002|Acme|R3|GSM 900||Modem|
";

struct Dir(tempfile::TempDir);

impl Dir {
    fn path(&self, name: &str) -> String {
        self.0.path().join(name).display().to_string()
    }
}

fn json(index: &str, imei: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["check", "--index", index, "--json"];
    args.extend(extra);
    args.push(imei);
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_str(text(&out.stdout).trim()).unwrap()
}

fn setup() -> Dir {
    let d = Dir(tempfile::tempdir().unwrap());
    fs::write(
        d.path("list.csv"),
        "imei,status,reason\n35209900176148,blocked,stolen\n",
    )
    .unwrap();
    fs::write(d.path("current.txt"), CURRENT).unwrap();
    fs::write(d.path("old.txt"), OLD).unwrap();
    d
}

#[test]
fn both_exports_build_and_name_the_model() {
    let d = setup();
    for (db, model, manufacturer) in [
        ("current.txt", "Galaxy S23", "Samsung Korea"),
        ("old.txt", "SM-S911B", "Samsung"),
    ] {
        let (list, db_path, index) = (d.path("list.csv"), d.path(db), d.path("i.imeiidx"));
        let out = run(&["build", &list, "--tac-db", &db_path, "-o", &index], None);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout)
                .contains("2 rows = 2 TACs stored + 0 duplicates (first row kept) + 0 rejected"),
            "{}",
            text(&out.stdout)
        );
        let v = json(&index, "35209900176148", &[]);
        assert_eq!(
            (v["model"].as_str(), v["manufacturer"].as_str()),
            (Some(model), Some(manufacturer))
        );
        assert_eq!(v["status"], "blocked");
        let stats = text(&run(&["stats", &index], None).stdout);
        assert!(stats.contains("TAC database: 2 TACs in"), "{stats}");
    }
    // A quoted field keeps its '|'.
    let v = json(&d.path("i.imeiidx"), "86000002000015", &[]);
    assert_eq!(v["model"], "R3");
    let (list, db_path, index) = (
        d.path("list.csv"),
        d.path("current.txt"),
        d.path("c.imeiidx"),
    );
    run(&["build", &list, "--tac-db", &db_path, "-o", &index], None);
    assert_eq!(
        json(&index, "35417803000000", &[])["model"],
        "iPhone 15, 5G | Pro"
    );
    // Without a database, JSON keeps its earlier keys.
    run(&["build", &list, "-o", &d.path("plain.imeiidx")], None);
    let v = json(&d.path("plain.imeiidx"), "35209900176148", &[]);
    assert!(v.get("model").is_none() && v.get("policy").is_none(), "{v}");
}

#[test]
fn bad_rows_stop_the_build_or_go_to_the_rejects_file() {
    let d = setup();
    let bad = format!(
        "{CURRENT}3520990|Galaxy|x|Samsung|GSM|01-Feb-2023|||||||||||Smartphone\n35209901|Galaxy|x|Samsung|GSM|31-Feb-2023|||||||||||Smartphone\n"
    );
    fs::write(d.path("bad.txt"), bad).unwrap();
    let (list, db, index) = (d.path("list.csv"), d.path("bad.txt"), d.path("b.imeiidx"));
    let out = run(&["build", &list, "--tac-db", &db, "-o", &index], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.txt:4:1: the TAC field is not a TAC"),
        "{err}"
    );
    assert!(!std::path::Path::new(&index).exists(), "nothing is written");
    let out = run(
        &[
            "build",
            &list,
            "--tac-db",
            &db,
            "-o",
            &index,
            "--skip-invalid",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout)
            .contains("4 rows = 2 TACs stored + 0 duplicates (first row kept) + 2 rejected"),
        "{}",
        text(&out.stdout)
    );
    let rejects = fs::read_to_string(format!("{index}.rejects.csv")).unwrap();
    assert!(
        rejects.contains("# ") && rejects.contains("bad.txt:5:"),
        "{rejects}"
    );
    assert!(
        rejects.contains("\"31-Feb-2023\" is not an allocation date"),
        "{rejects}"
    );
    // A header without the columns stops at once.
    fs::write(d.path("noheader.txt"), "35209900|Samsung|x\n").unwrap();
    let db = d.path("noheader.txt");
    let out = run(
        &[
            "build",
            &list,
            "--tac-db",
            &db,
            "-o",
            &index,
            "--skip-invalid",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the file has no header row"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn apply_and_merge_keep_or_replace_the_database() {
    let d = setup();
    let (list, current, old) = (d.path("list.csv"), d.path("current.txt"), d.path("old.txt"));
    let (base, next, merged) = (
        d.path("base.imeiidx"),
        d.path("next.imeiidx"),
        d.path("merged.imeiidx"),
    );
    run(&["build", &list, "--tac-db", &current, "-o", &base], None);
    // A delta keeps the base's database.
    fs::write(
        d.path("delta.csv"),
        "op,imei,status\nadd,35417803000000,tracked\n",
    )
    .unwrap();
    let delta = d.path("delta.csv");
    let out = run(&["apply", &base, &delta, "-o", &next], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&next, "35417803000000", &[]);
    assert_eq!(
        (v["status"].as_str(), v["model"].as_str()),
        (Some("tracked"), Some("iPhone 15, 5G | Pro"))
    );
    // --tac-db alone replaces it and keeps the rules.
    let out = run(&["apply", &next, "--tac-db", &old, "-o", &base], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("TAC database"),
        "{}",
        text(&out.stdout)
    );
    let v = json(&base, "35417803000000", &[]);
    assert_eq!(
        (v["status"].as_str(), v["model"].as_str()),
        (Some("tracked"), None)
    );
    assert_eq!(json(&base, "86000002000015", &[])["model"], "R3");
    // merge keeps the first input's that has one.
    run(&["build", &list, "-o", &d.path("plain.imeiidx")], None);
    let plain = d.path("plain.imeiidx");
    let out = run(&["merge", &plain, &next, "-o", &merged], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&merged, "35209900000000", &[])["model"], "Galaxy S23");
}

#[test]
fn refusals_name_what_is_missing() {
    let d = setup();
    let (list, plain) = (d.path("list.csv"), d.path("plain.imeiidx"));
    run(&["build", &list, "-o", &plain], None);
    let out = run(
        &[
            "check",
            "--index",
            &plain,
            "--tac-policy",
            "blocked",
            "35209900176148",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("holds no TAC database"),
        "{}",
        text(&out.stderr)
    );
    fs::write(d.path("log.csv"), "imei\n35209900176148\n").unwrap();
    let log = d.path("log.csv");
    let out = run(&["scan", "--index", &plain, "--device-columns", &log], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--device-columns"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "check",
            "--index",
            &plain,
            "--allocated-after",
            "2024-01-01",
            "35209900176148",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "--allocated-after needs --tac-policy"
    );
    let out = run(
        &[
            "check",
            "--index",
            &plain,
            "--tac-policy",
            "maybe",
            "35209900176148",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give tracked or blocked"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn scan_appends_the_model_and_applies_the_policy() {
    let d = setup();
    let (list, current, index) = (
        d.path("list.csv"),
        d.path("current.txt"),
        d.path("i.imeiidx"),
    );
    run(&["build", &list, "--tac-db", &current, "-o", &index], None);
    fs::write(d.path("log.csv"), "imei,imsi\n35209900176148,404685505601234\n86000002000015,404685505601235\n35417803000000,404685505601236\n").unwrap();
    let log = d.path("log.csv");
    let out = run(
        &[
            "scan",
            "--index",
            &index,
            "--device-columns",
            "--tac-policy",
            "tracked",
            &log,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let found = text(&out.stdout);
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(
        lines[0],
        "imei,imsi,status,reason,rule,date,manufacturer,model"
    );
    assert_eq!(
        lines[1],
        "35209900176148,404685505601234,blocked,stolen,imei,,Samsung Korea,Galaxy S23"
    );
    assert_eq!(
        lines[2],
        "86000002000015,404685505601235,tracked,TAC not in the TAC database,tac,,,"
    );
    // A model with the delimiter in it is quoted.
    assert_eq!(lines.len(), 3, "{found}");
    let out = run(
        &[
            "scan",
            "--index",
            &index,
            "--device-columns",
            "--status",
            "blocked,tracked,allowed",
            "--tac-policy",
            "tracked",
            "--allocated-after",
            "2023-06-01",
            &log,
        ],
        None,
    );
    let found = text(&out.stdout);
    assert!(found.contains("35417803000000,404685505601236,tracked,TAC allocated after the policy's date,tac,,Apple Inc,\"iPhone 15, 5G | Pro\""), "{found}");
}
