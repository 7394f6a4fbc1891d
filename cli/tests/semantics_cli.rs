//! The command line against the reference model of docs/semantics.md
//! (tests/common/reference.rs): generated lists with several sources, reasons, dates, starts
//! and earlier statuses, written as list files and built with `imei-index build`, then
//! `check --at DAY --json` (without an IMSI and with each listed one) and `scan` of a log
//! whose rows carry their time, on days before, on and after the starts. The library's
//! surfaces meet the same model in tests/semantics.rs.

mod cli_support;
#[path = "../../tests/common/reference.rs"]
mod reference;

use std::collections::BTreeMap;
use std::fs;

use cli_support::{run, text};
use reference::{Day, RefRule, RefStatus, RefTarget};

const SOURCES: [&str; 3] = ["dirbs/blacklist", "local", "operator"];
const REASONS: [&str; 3] = [
    "Duplicate IMEI detected",
    "IMEI in local stolen list",
    "stolen",
];
const IMSIS: [&str; 2] = ["404685505601234", "310150123456789"];
const TACS: [u32; 2] = [35_209_900, 35_209_901];
/// Days that dates and starts fall on, and the days checks are made on around them.
const DAYS: [Day; 3] = [19_860, 19_864, 19_870];
const STARTS: [Day; 3] = [19_862, 19_864, 19_866];
const CHECK_DAYS: [Day; 5] = [19_861, 19_863, 19_864, 19_865, 19_867];

/// A small deterministic generator (xorshift64*), so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn status(rng: &mut Rng) -> RefStatus {
    rng.pick(&[RefStatus::Allowed, RefStatus::Tracked, RefStatus::Blocked])
}

/// Rules over a few IMEIs of two models, so that rules of several sources for one target,
/// nested and equally wide ranges, and pairs beside IMEI rules are common.
fn rules(seed: u64) -> Vec<RefRule> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let n = 5 + rng.below(30);
    (0..n)
        .map(|_| {
            let imei = u64::from(rng.pick(&TACS)) * 1_000_000 + rng.below(8);
            let target = match rng.below(9) {
                0..=2 => RefTarget::Imei(imei),
                3 | 4 => RefTarget::Pair(imei, rng.pick(&IMSIS).to_string()),
                5..=7 => RefTarget::Range(imei, imei + rng.pick(&[0, 3, 7, 1_999_999])),
                _ => RefTarget::Tac(rng.pick(&TACS)),
            };
            let mut reasons: Vec<String> = REASONS
                .iter()
                .filter(|_| rng.chance(30))
                .map(|r| r.to_string())
                .collect();
            reasons.sort();
            let start = rng.chance(50).then(|| rng.pick(&STARTS));
            RefRule {
                target,
                source: rng.pick(&SOURCES).to_string(),
                status: status(&mut rng),
                reasons,
                date: rng.chance(60).then(|| rng.pick(&DAYS)),
                start,
                earlier: start.and_then(|_| rng.chance(50).then(|| status(&mut rng))),
            }
        })
        .collect()
}

fn day_text(d: Day) -> String {
    imei_index::Date::from_days_since_epoch(d as u32)
        .unwrap()
        .to_string()
}

fn status_text(s: RefStatus) -> &'static str {
    match s {
        RefStatus::Allowed => "allowed",
        RefStatus::Tracked => "tracked",
        RefStatus::Blocked => "blocked",
    }
}

/// The rules as a list file: `imei,status,reason,imsi,date,start,source`.
fn list_file(rules: &[RefRule]) -> String {
    let mut out = String::from("imei,status,reason,imsi,date,start,source\n");
    for r in rules {
        let (target, imsi) = match &r.target {
            RefTarget::Imei(i) => (format!("{i:014}"), String::new()),
            RefTarget::Pair(i, s) => (format!("{i:014}"), s.clone()),
            RefTarget::Range(a, b) => (format!("{a:014}..{b:014}"), String::new()),
            RefTarget::Tac(t) => (format!("{t:08}"), String::new()),
        };
        let status = match r.earlier {
            Some(e) => format!("{}>{}", status_text(e), status_text(r.status)),
            None => status_text(r.status).to_string(),
        };
        out.push_str(&format!(
            "{target},{status},{},{imsi},{},{},{}\n",
            r.reasons.join("|"),
            r.date.map(day_text).unwrap_or_default(),
            r.start.map(day_text).unwrap_or_default(),
            r.source
        ));
    }
    out
}

/// IMEIs to check: every listed IMEI and range end ±1, every TAC's first and last IMEI.
fn probes(rules: &[RefRule]) -> Vec<u64> {
    let mut points = std::collections::BTreeSet::new();
    for r in rules {
        let ends = match &r.target {
            RefTarget::Imei(i) | RefTarget::Pair(i, _) => vec![*i],
            RefTarget::Range(a, b) => vec![*a, *b],
            RefTarget::Tac(t) => vec![
                u64::from(*t) * 1_000_000,
                u64::from(*t) * 1_000_000 + 999_999,
            ],
        };
        for p in ends {
            points.extend([p - 1, p, p + 1]);
        }
    }
    points.into_iter().collect()
}

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

fn want(model: &[RefRule], imei: u64, imsi: Option<&str>, day: Day) -> Said {
    match reference::answer(model, imei, imsi, day) {
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
            Some(v.rule.source.clone()),
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
    let path = |name: &str| dir.path().join(name).display().to_string();
    for seed in 1..=12u64 {
        let generated = rules(seed);
        let model = reference::build(&generated);
        fs::write(path("list.csv"), list_file(&generated)).unwrap();
        let out = run(
            &["build", &path("list.csv"), "-o", &path("list.imeiidx")],
            None,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "seed {seed}: {}",
            text(&out.stderr)
        );
        let imeis: Vec<String> = probes(&model).iter().map(|i| format!("{i:014}")).collect();
        let imsis: Vec<Option<&str>> = [None, Some(IMSIS[0]), Some(IMSIS[1])].into();

        // check --at DAY --json [--imsi IMSI] IMEI...
        for &day in &CHECK_DAYS {
            for &imsi in &imsis {
                let (index, at) = (path("list.imeiidx"), day_text(day));
                let mut args = vec!["check", "--index", &index, "--json", "--at", &at];
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
                    let expected = want(&model, imei.parse().unwrap(), imsi, day);
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
                        want(&model, imei.parse().unwrap(), imsi, day);
                    if status == "blocked" || status == "tracked" {
                        let key = (imsi.unwrap_or("").to_string(), imei.clone(), time.clone());
                        wanted.insert(key, (status, reasons, rule.unwrap()));
                    }
                }
            }
        }
        fs::write(path("log.csv"), &log).unwrap();
        let out = run(
            &[
                "scan",
                "--index",
                &path("list.imeiidx"),
                &path("log.csv"),
                "-o",
                &path("found.csv"),
            ],
            None,
        );
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
