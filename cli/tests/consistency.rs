//! One behaviour everywhere: every subcommand's exit status follows the README's table,
//! every error line starts the same way, and every text input treats a byte-order mark,
//! comment lines and bytes that are not UTF-8 alike.

mod cli_support;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

use cli_support::{run, text};

use imei_index::{Imei, Index, Status};

const LIST: &str = "\
# national list
imei,status,reason,imsi,date
352099001761481,blocked,stolen,,2024-05-21
35417803,tracked,counterfeit,,
";

/// A directory of inputs of every kind: good, invalid and unusable.
struct Files {
    _temp: tempfile::TempDir,
    dir: PathBuf,
}

impl Files {
    fn new() -> Files {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let f = Files { _temp: temp, dir };
        f.write("list.csv", LIST.as_bytes());
        f.write(
            "bad.csv",
            b"imei,status\n352099001761481,blocked\n35209900176148X,blocked\n",
        );
        f.write("empty", b"");
        fs::create_dir(f.dir.join("a-directory")).unwrap();
        f.write(
            "delta.csv",
            b"op,imei,status\nadd,490154203237518,blocked\nremove,35417803\n",
        );
        f.write("bad-delta.csv", b"op,imei,status\nmove,35417803\n");
        f.write(
            "log.csv",
            b"imsi,imei\n404685505601234,352099001761481\n404685505601235,490154203237518\n",
        );
        f.write(
            "journal.csv",
            b"time,imei,imsi,msisdn,status,reason,rule,alert\n\
              2024-05-21T10:15:30.123Z,35209900176148,404685505601234,,blocked,stolen,imei,new-sim\n",
        );
        f.write(
            "bad-journal.csv",
            b"time,imei,imsi,msisdn,status,reason,rule,alert\n\
              2024-05-21T10:15:30.123Z,35209900176148,404685505601234,,blocked,stolen,imei,new-sim\n\
              yesterday,35209900176148,404685505601234,,blocked,stolen,imei,\n",
        );
        f.write(
            "bad-log.csv",
            b"imsi,imei\n404685505601234,352099001761481\n404685505601235,not-an-imei\n",
        );
        let built = run(
            &["build", &f.path("list.csv"), "-o", &f.path("a.imeiidx")],
            None,
        );
        assert_eq!(built.status.code(), Some(0), "{}", text(&built.stderr));
        let good = fs::read(f.dir.join("a.imeiidx")).unwrap();
        // A flipped byte in the last section: an index, damaged.
        let mut damaged = good.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x5a;
        f.write("damaged.imeiidx", &damaged);
        // Cut short: an index, damaged.
        f.write("truncated.imeiidx", &good[..good.len() / 2]);
        // An index of no rules, which publish's guards refuse over one that has rules.
        f.write("header-only.csv", b"imei,status\n");
        let none = run(
            &[
                "build",
                &f.path("header-only.csv"),
                "-o",
                &f.path("none.imeiidx"),
            ],
            None,
        );
        assert_eq!(none.status.code(), Some(0), "{}", text(&none.stderr));
        fs::copy(f.dir.join("a.imeiidx"), f.dir.join("served.imeiidx")).unwrap();
        f
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.dir.join(name), bytes).unwrap();
    }
}

/// One run of the table: the command line (`{NAME}` is the path of file NAME in the
/// fixture directory), standard input, and the exit status the README's table gives.
struct Case {
    args: &'static [&'static str],
    stdin: &'static [u8],
    code: i32,
    why: &'static str,
}

const fn case(
    args: &'static [&'static str],
    stdin: &'static [u8],
    code: i32,
    why: &'static str,
) -> Case {
    Case {
        args,
        stdin,
        code,
        why,
    }
}

/// Every subcommand with inputs giving 0 (success), 1 (it ran, some input was invalid) and
/// 2 (it could not run), where the subcommand has such inputs.
const CASES: &[Case] = &[
    // demo: no input of its own, so never 1.
    case(
        &[
            "demo",
            "--dir",
            "{demo}",
            "--checks",
            "100",
            "--connections",
            "500",
        ],
        b"",
        0,
        "a small demo",
    ),
    case(
        &["demo", "--dir", "{list.csv}/demo"],
        b"",
        2,
        "a directory under a file",
    ),
    case(&["demo", "--seed", "many"], b"", 2, "a bad argument"),
    // build
    case(
        &["build", "{list.csv}", "-o", "{b.imeiidx}"],
        b"",
        0,
        "a good list",
    ),
    case(
        &["build", "-", "-o", "{b2.imeiidx}"],
        LIST.as_bytes(),
        0,
        "a list on stdin",
    ),
    case(
        &["build", "{bad.csv}", "-o", "{c.imeiidx}"],
        b"",
        1,
        "a bad row stops it",
    ),
    case(
        &[
            "build",
            "{bad.csv}",
            "-o",
            "{d.imeiidx}",
            "--skip-invalid={d.rejects}",
        ],
        b"",
        1,
        "a bad row written aside",
    ),
    case(
        &["build", "{missing.csv}", "-o", "{e.imeiidx}"],
        b"",
        2,
        "a missing list",
    ),
    case(
        &["build", "{a-directory}", "-o", "{e.imeiidx}"],
        b"",
        2,
        "a directory",
    ),
    case(&["build", "{list.csv}"], b"", 2, "no -o"),
    // check
    case(
        &["check", "--index", "{a.imeiidx}", "352099001761481"],
        b"",
        0,
        "an IMEI",
    ),
    case(
        &["check", "--index", "{a.imeiidx}"],
        b"352099001761481\n",
        0,
        "stdin",
    ),
    case(
        &["check", "--index", "{a.imeiidx}", "3520990017614"],
        b"",
        1,
        "a bad IMEI",
    ),
    case(
        &["check", "--index", "{a.imeiidx}"],
        b"x\n352099001761481\n",
        1,
        "a bad line",
    ),
    case(
        &["check", "--json", "--index", "{a.imeiidx}", "x"],
        b"",
        1,
        "a bad IMEI, JSON",
    ),
    case(
        &["check", "--index", "{missing}", "352099001761481"],
        b"",
        2,
        "no index",
    ),
    case(
        &["check", "--index", "{damaged.imeiidx}", "352099001761481"],
        b"",
        2,
        "damaged",
    ),
    case(
        &["check", "--index", "{a-directory}", "352099001761481"],
        b"",
        2,
        "a directory",
    ),
    case(
        &["check", "--index", "{list.csv}", "352099001761481"],
        b"",
        2,
        "a list",
    ),
    case(
        &[
            "check",
            "--index",
            "{a.imeiidx}",
            "--imsi",
            "12",
            "352099001761481",
        ],
        b"",
        2,
        "a bad --imsi",
    ),
    // stats
    case(&["stats", "{a.imeiidx}"], b"", 0, "an index"),
    case(&["stats", "{missing}"], b"", 2, "no index"),
    case(&["stats", "{damaged.imeiidx}"], b"", 2, "damaged"),
    case(&["stats", "{empty}"], b"", 2, "empty"),
    // verify: 1 for an index that is damaged, 2 for a file that is not an index.
    case(&["verify", "{a.imeiidx}"], b"", 0, "an index"),
    case(
        &["verify", "{damaged.imeiidx}"],
        b"",
        1,
        "a section fails its checksum",
    ),
    case(&["verify", "{truncated.imeiidx}"], b"", 1, "truncated"),
    case(&["verify", "{missing}"], b"", 2, "no such file"),
    case(&["verify", "{a-directory}"], b"", 2, "a directory"),
    case(&["verify", "/dev/null"], b"", 2, "a device"),
    case(&["verify", "{empty}"], b"", 2, "empty"),
    case(&["verify", "{list.csv}"], b"", 2, "a list: no magic"),
    case(&["verify"], b"", 2, "no argument"),
    // dump
    case(&["dump", "{a.imeiidx}"], b"", 0, "an index"),
    case(&["dump", "{damaged.imeiidx}"], b"", 2, "damaged"),
    case(&["dump", "{missing}"], b"", 2, "no index"),
    // diff
    case(
        &["diff", "{a.imeiidx}", "{a.imeiidx}"],
        b"",
        0,
        "two indexes",
    ),
    case(
        &["diff", "{a.imeiidx}", "{missing}"],
        b"",
        2,
        "no new index",
    ),
    case(
        &["diff", "{damaged.imeiidx}", "{a.imeiidx}"],
        b"",
        2,
        "damaged",
    ),
    // apply
    case(
        &["apply", "{a.imeiidx}", "{delta.csv}", "-o", "{f.imeiidx}"],
        b"",
        0,
        "a delta",
    ),
    case(
        &[
            "apply",
            "{a.imeiidx}",
            "{bad-delta.csv}",
            "-o",
            "{g.imeiidx}",
        ],
        b"",
        1,
        "a bad delta row",
    ),
    case(
        &["apply", "{missing}", "{delta.csv}", "-o", "{g.imeiidx}"],
        b"",
        2,
        "no base",
    ),
    case(
        &["apply", "{a.imeiidx}", "{missing}", "-o", "{g.imeiidx}"],
        b"",
        2,
        "no delta",
    ),
    // merge
    case(
        &["merge", "{a.imeiidx}", "{a.imeiidx}", "-o", "{h.imeiidx}"],
        b"",
        0,
        "indexes",
    ),
    case(
        &["merge", "{a.imeiidx}", "{missing}", "-o", "{i.imeiidx}"],
        b"",
        2,
        "no input",
    ),
    case(
        &["merge", "{damaged.imeiidx}", "-o", "{i.imeiidx}"],
        b"",
        2,
        "damaged",
    ),
    // publish
    case(
        &["publish", "{a.imeiidx}", "{published.imeiidx}"],
        b"",
        0,
        "an index",
    ),
    case(
        &["publish", "{none.imeiidx}", "{served.imeiidx}"],
        b"",
        1,
        "refused: no rules over an index with rules",
    ),
    case(
        &["publish", "{damaged.imeiidx}", "{j.imeiidx}"],
        b"",
        2,
        "damaged",
    ),
    case(
        &["publish", "{missing}", "{j.imeiidx}"],
        b"",
        2,
        "no source",
    ),
    // bench: no input of its own, so never 1.
    case(
        &["bench", "--rules", "2000", "--probes", "500"],
        b"",
        0,
        "a small bench",
    ),
    case(&["bench", "--rules", "0"], b"", 2, "no rules"),
    // scan
    case(
        &["scan", "--index", "{a.imeiidx}", "{log.csv}"],
        b"",
        0,
        "a clean log",
    ),
    case(
        &["scan", "--index", "{a.imeiidx}", "{bad-log.csv}"],
        b"",
        1,
        "a bad row",
    ),
    case(
        &[
            "scan",
            "--index",
            "{a.imeiidx}",
            "--rejects",
            "{k.rejects}",
            "{bad-log.csv}",
        ],
        b"",
        1,
        "a bad row written aside",
    ),
    case(
        &["scan", "--index", "{a.imeiidx}", "{missing}"],
        b"",
        2,
        "no log",
    ),
    case(
        &["scan", "--index", "{missing}", "{log.csv}"],
        b"",
        2,
        "no index",
    ),
    case(
        &[
            "scan",
            "--index",
            "{a.imeiidx}",
            "--column",
            "9",
            "{log.csv}",
        ],
        b"",
        1,
        "no field 9",
    ),
    case(
        &[
            "scan",
            "--index",
            "{a.imeiidx}",
            "--column",
            "x",
            "{log.csv}",
        ],
        b"",
        2,
        "no column",
    ),
    // journal export
    case(
        &["journal", "export", "--dirbs", "{journal.csv}"],
        b"",
        0,
        "a journal",
    ),
    case(
        &["journal", "export", "--dirbs", "{bad-journal.csv}"],
        b"",
        1,
        "a bad row",
    ),
    case(
        &["journal", "export", "--dirbs", "{missing}"],
        b"",
        2,
        "no journal",
    ),
    case(
        &["journal", "export", "--dirbs", "{list.csv}"],
        b"",
        2,
        "not a journal",
    ),
    case(
        &[
            "journal",
            "export",
            "--dirbs",
            "{journal.csv}",
            "-o",
            "{journal.csv}",
        ],
        b"",
        2,
        "the output is the input",
    ),
];

/// Every case, run once and shared by the tests that read the results.
fn runs() -> &'static [(String, Output)] {
    static RUNS: OnceLock<Vec<(String, Output)>> = OnceLock::new();
    RUNS.get_or_init(|| {
        // The files go when the runs are done; their outputs stay.
        let files = Files::new();
        CASES
            .iter()
            .map(|c| {
                let args: Vec<String> = c.args.iter().map(|a| expand(&files, a)).collect();
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let label = format!("{} ({})", c.args.join(" "), c.why);
                (label, run(&argv, Some(c.stdin)))
            })
            .collect()
    })
}

/// `{NAME}` in an argument becomes the fixture's path for NAME.
fn expand(files: &Files, arg: &str) -> String {
    match (arg.find('{'), arg.find('}')) {
        (Some(a), Some(b)) => format!(
            "{}{}{}",
            &arg[..a],
            files.path(&arg[a + 1..b]),
            &arg[b + 1..]
        ),
        _ => arg.to_string(),
    }
}

/// The subcommands `imei-index --help` lists, so that a new one cannot miss the table.
fn subcommands() -> BTreeSet<String> {
    let help = text(&run(&["--help"], None).stdout);
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_subcommand_exits_as_the_readme_table_says() {
    let mut failures = Vec::new();
    for (c, (label, out)) in CASES.iter().zip(runs()) {
        if out.status.code() != Some(c.code) {
            failures.push(format!(
                "{label}: exit {:?}, want {}\n  stderr: {}",
                out.status.code(),
                c.code,
                text(&out.stderr).trim_end().replace('\n', "\n          ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Every subcommand has a case for 0 and for 2, and for 1 when it reads input that can
    // be invalid.
    let reads_input = [
        "build", "check", "verify", "apply", "scan", "publish", "journal",
    ];
    for sub in subcommands() {
        let codes: BTreeSet<i32> = CASES
            .iter()
            .filter(|c| c.args[0] == sub)
            .map(|c| c.code)
            .collect();
        let want: BTreeSet<i32> = if reads_input.contains(&sub.as_str()) {
            [0, 1, 2].into()
        } else {
            [0, 2].into()
        };
        assert_eq!(codes, want, "{sub}: the table's exit codes");
    }
}

#[test]
fn every_error_line_starts_with_the_same_prefix() {
    let mut failures = Vec::new();
    for (c, (label, out)) in CASES.iter().zip(runs()) {
        let stderr = text(&out.stderr);
        for line in stderr.lines() {
            // Clap's own "error: …" and the tool's "imei-index: …" must both start
            // `imei-index: error: ` (or `imei-index: warning: `).
            let tool = line.starts_with("imei-index:")
                && !line.starts_with("imei-index: error: ")
                && !line.starts_with("imei-index: warning: ");
            if tool || line.starts_with("error") || line.starts_with("warning") {
                failures.push(format!("{label}: {line}"));
            }
        }
        // A run that failed says why, in a line with the prefix (`check --json` says it in
        // its output instead: an object with an "error" field).
        let json = c.args.contains(&"--json");
        if c.code != 0 && !json && !stderr.lines().any(|l| l.starts_with("imei-index: error: ")) {
            failures.push(format!("{label}: no error line in {stderr:?}"));
        }
        if c.code == 0 && stderr.contains("error") {
            failures.push(format!("{label}: succeeded, but says {stderr:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Text inputs: a byte-order mark, comments, and bytes that are not UTF-8.

const BOM: &[u8] = b"\xef\xbb\xbf";

fn with_bom(text: &[u8]) -> Vec<u8> {
    [BOM, text].concat()
}

#[test]
fn a_byte_order_mark_is_accepted_by_every_text_input() {
    let f = Files::new();
    let index = f.path("a.imeiidx");
    // List files: from a file and from standard input.
    f.write("bom.csv", &with_bom(LIST.as_bytes()));
    let bom_list = f.path("bom.csv");
    let out = run(&["build", &bom_list, "-o", &f.path("bom.imeiidx")], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdin_list =
        with_bom(b"352099001761481,blocked,stolen,,2024-05-21\n35417803,tracked,counterfeit,,\n");
    let out = run(
        &["build", "-", "-o", &f.path("bom2.imeiidx")],
        Some(&stdin_list),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        fs::read(f.dir.join("bom.imeiidx")).unwrap(),
        fs::read(f.dir.join("a.imeiidx")).unwrap()
    );
    assert_eq!(
        fs::read(f.dir.join("bom2.imeiidx")).unwrap(),
        fs::read(f.dir.join("a.imeiidx")).unwrap()
    );

    // Delta lists, with a header and without.
    for delta in [
        &b"op,imei,status\nadd,490154203237518,blocked\n"[..],
        b"add,490154203237518,blocked\n",
    ] {
        f.write("bom-delta.csv", &with_bom(delta));
        let out = run(
            &[
                "apply",
                &index,
                &f.path("bom-delta.csv"),
                "-o",
                &f.path("applied.imeiidx"),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let applied = Index::open(f.dir.join("applied.imeiidx")).unwrap();
        let imei = Imei::parse("490154203237518").unwrap();
        assert_eq!(applied.check(imei).status(), Some(Status::Blocked));
    }

    // check: standard input, and the first argument (`check $(cat imeis.txt)`).
    let out = run(
        &["check", "--json", "--index", &index],
        Some(&with_bom(b"352099001761481\n35417803000002\n")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["input"], "352099001761481");
    assert_eq!(lines[0]["status"], "blocked");
    assert_eq!(lines[1]["status"], "tracked");
    let first = "\u{feff}352099001761481";
    let out = run(&["check", "--index", &index, first, "35417803000002"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("352099001761481\t352099001761481\tblocked"));
    // Only at the start of a text: anywhere else it is a character, and not a digit.
    let out = run(
        &["check", "--index", &index, "352099001761481", first],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(
        &["check", "--index", &index],
        Some(&[&b"352099001761481\n"[..], BOM, b"352099001761481\n"].concat()),
    );
    assert_eq!(out.status.code(), Some(1));

    // Scanned logs: a file and standard input.
    let log = with_bom(b"imsi,imei\n404685505601234,352099001761481\n");
    f.write("bom-log.csv", &log);
    for (file, stdin) in [
        (f.path("bom-log.csv"), None),
        ("-".to_string(), Some(&log[..])),
    ] {
        let out = run(&["scan", "--index", &index, &file], stdin);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "imsi,imei,status,reason,rule,date\n404685505601234,352099001761481,blocked,stolen,imei,2024-05-21\n"
        );
    }
}

#[test]
fn comments_in_any_encoding_are_skipped_and_a_bad_byte_in_a_row_is_located() {
    let f = Files::new();
    // Windows-1252 (é = 0xE9) and a broken UTF-8 sequence, in comments of a list and a delta.
    let list = [
        &b"# Liste nationale r\xe9vis\xe9e le 21/05\n"[..],
        b"  # \xc3\x28\n",
        LIST.as_bytes(),
    ]
    .concat();
    f.write("latin.csv", &list);
    let out = run(
        &[
            "build",
            &f.path("latin.csv"),
            "-o",
            &f.path("latin.imeiidx"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    f.write(
        "latin-delta.csv",
        b"# \xe9\nop,imei,status\n# \xff\xfe\nadd,490154203237518,blocked\n",
    );
    let out = run(
        &[
            "apply",
            &f.path("a.imeiidx"),
            &f.path("latin-delta.csv"),
            "-o",
            &f.path("n.imeiidx"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The same byte in a data row: an error at its line and column, naming the byte.
    f.write(
        "latin-row.csv",
        b"imei,status,reason\n35209900,blocked,vol\xe9\n",
    );
    let out = run(
        &[
            "build",
            &f.path("latin-row.csv"),
            "-o",
            &f.path("x.imeiidx"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("latin-row.csv:2:21: byte 0xE9 is not UTF-8"),
        "{err}"
    );
    f.write("latin-delta-row.csv", b"add,3520990\xe9,blocked\n");
    let out = run(
        &[
            "apply",
            &f.path("a.imeiidx"),
            &f.path("latin-delta-row.csv"),
            "-o",
            &f.path("y.imeiidx"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("latin-delta-row.csv:1:12: byte 0xE9 is not UTF-8"),
        "{err}"
    );
    // check names the byte too.
    let out = run(
        &["check", "--index", &f.path("a.imeiidx")],
        Some(b"3520990\xe9\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("byte 0xE9 at position 8 is not UTF-8"),
        "{err}"
    );
}

#[test]
fn a_rejects_file_holds_the_rejected_rows_byte_for_byte() {
    let f = Files::new();
    // A Windows-1252 byte, an invalid UTF-8 sequence, and an ordinary bad row (CRLF).
    let rows: [&[u8]; 3] = [
        b"352099001761481,blocked,vol\xe9,,",
        b"35417803,\xc3\x28tracked",
        b"35209900176148X,blocked",
    ];
    let mut list = b"imei,status,reason,imsi,date\n490154203237518,allowed\n".to_vec();
    for r in rows {
        list.extend_from_slice(r);
        list.extend_from_slice(b"\r\n");
    }
    f.write("mixed.csv", &list);
    let rejects = f.dir.join("mixed.rejects.csv");
    let skip = format!("--skip-invalid={}", rejects.display());
    let out = run(
        &[
            "build",
            &f.path("mixed.csv"),
            "-o",
            &f.path("m.imeiidx"),
            &skip,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let written = fs::read(&rejects).unwrap();
    let data: Vec<&[u8]> = written
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .collect();
    assert_eq!(data, rows, "{}", String::from_utf8_lossy(&written));

    // Fixed (the bad bytes replaced), the rejects file builds the rows that were meant.
    let fixed = String::from_utf8_lossy(&written)
        .replace("vol\u{fffd}", "stolen")
        .replace("\u{fffd}(tracked", "tracked")
        .replace("35209900176148X", "35209900176149");
    assert!(fixed.is_ascii());
    let fixed_path = f.dir.join("fixed.csv");
    fs::write(&fixed_path, fixed).unwrap();
    let out = run(
        &[
            "build",
            &fixed_path.display().to_string(),
            "-o",
            &f.path("fixed.imeiidx"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("read 3 rows"),
        "{}",
        text(&out.stdout)
    );

    // Unfixed, it rejects the same rows, with the same bytes.
    let again = f.dir.join("again.rejects.csv");
    let skip = format!("--skip-invalid={}", again.display());
    let out = run(
        &[
            "build",
            &rejects.display().to_string(),
            "-o",
            &f.path("r.imeiidx"),
            &skip,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let written_again = fs::read(&again).unwrap();
    let data_again: Vec<&[u8]> = written_again
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .collect();
    assert_eq!(data_again, rows);

    // scan --rejects writes rows as read too.
    f.write(
        "latin-log.csv",
        b"imsi,imei\n40468550560123\xe9,35209900176148\xe9\n",
    );
    let scan_rejects = f.dir.join("scan.rejects");
    let out = run(
        &[
            "scan",
            "--index",
            &f.path("a.imeiidx"),
            "--rejects",
            &scan_rejects.display().to_string(),
            &f.path("latin-log.csv"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let written = fs::read(&scan_rejects).unwrap();
    assert!(
        written.ends_with(b"\n40468550560123\xe9,35209900176148\xe9\n"),
        "{}",
        String::from_utf8_lossy(&written)
    );
}

#[test]
fn check_json_lenient_says_whether_the_check_digit_was_right() {
    let f = Files::new();
    let index = f.path("a.imeiidx");
    // 15 digits with a wrong check digit, with the right one, and 14 digits.
    let inputs = ["352099001761482", "352099001761481", "35209900176148"];
    let mut argv = vec!["check", "--lenient", "--index", &index];
    argv.extend(inputs);
    let tsv = run(&argv, None);
    assert_eq!(tsv.status.code(), Some(0));
    let mut argv = vec!["check", "--json", "--lenient", "--index", &index];
    argv.extend(inputs);
    let json = run(&argv, None);
    assert_eq!(json.status.code(), Some(0));
    let tsv_lines: Vec<String> = text(&tsv.stdout).lines().map(String::from).collect();
    let objects: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), inputs.len());
    for ((input, line), object) in inputs.iter().zip(&tsv_lines).zip(&objects) {
        let flagged = line.contains("(check digit");
        assert_eq!(object["input"], *input);
        assert_eq!(object["check_digit_ok"], !flagged, "{line} / {object}");
        // The contract's fields stay.
        for key in ["imei", "status", "reason", "rule", "date"] {
            assert!(object.get(key).is_some(), "{object} has no {key}");
        }
    }
    assert_eq!(objects[0]["check_digit_ok"], false);
    assert_eq!(objects[1]["check_digit_ok"], true);
    assert_eq!(objects[2]["check_digit_ok"], true);
    assert_eq!(objects[0]["status"], "blocked");

    // Without --lenient a wrong digit is an error object; the others say true.
    let mut argv = vec!["check", "--json", "--index", &index];
    argv.extend(inputs);
    let strict = run(&argv, None);
    assert_eq!(strict.status.code(), Some(1));
    let objects: Vec<serde_json::Value> = text(&strict.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(objects[0].get("check_digit_ok").is_none());
    assert!(
        objects[0]["error"]
            .as_str()
            .unwrap()
            .contains("check digit")
    );
    assert_eq!(objects[1]["check_digit_ok"], true);
}
