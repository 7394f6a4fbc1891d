//! The documentation's console examples, run: every ```` ```console ```` block in README.md
//! and docs/*.md is a script whose commands run against this build of `imei-index`, and
//! whose shown output must be what they print. A change to the generator, a message or a
//! count fails here instead of leaving the docs wrong.
//!
//! A file's blocks run in order in one scratch directory, in which `eir/` holds what
//! `imei-index demo --dir eir` writes (the demo's seeded list, index and connection log), so
//! that the docs can use the demo's files: run first, unless the file's first example is that
//! command itself. The demo's files are the same whoever makes them, so they are made once
//! (by the README's first example, which is the demo) and shared with the other files. In a
//! block:
//!
//! * `$ command` is run by bash (`2>&1`: what a terminal shows, in order); a line ending in
//!   `\` continues it, and a here-document (`<<'EOF'` … `EOF`) belongs to it;
//! * the lines after it, up to the next `$`, are its output, where `...` on a line of its own
//!   stands for any number of lines, `[..]` for any text within a line, and `~` before a
//!   number (`~0.14 s`, `~926 MB/s`) for a number that changes from run to run (a time);
//! * a last output line `[exit N]` says that the command exits with status N (else 0).

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `$` command of a console block, and the output shown after it.
#[derive(Debug)]
struct Step {
    /// Where the command is: `README.md:215`.
    place: String,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

/// The console blocks of a Markdown file, as steps in file order.
fn steps(path: &Path) -> Vec<Step> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let all: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < all.len() {
        if all[i].trim() != "```console" {
            i += 1;
            continue;
        }
        // A block inside a list item is indented: its lines lose the fence's indentation.
        let indent = all[i].len() - all[i].trim_start().len();
        let lines: Vec<&str> = all
            .iter()
            .map(|l| {
                l.get(indent..)
                    .filter(|_| l[..indent].trim().is_empty())
                    .unwrap_or(l)
            })
            .collect();
        i += 1;
        while i < lines.len() && lines[i].trim_end() != "```" {
            let Some(first) = lines[i].strip_prefix("$ ") else {
                panic!(
                    "{name}:{}: a console block's output must follow a `$ command` line",
                    i + 1
                );
            };
            let place = format!("{name}:{}", i + 1);
            let mut command = first.to_string();
            i += 1;
            while command.ends_with('\\') && i < lines.len() {
                command.push('\n');
                command.push_str(lines[i]);
                i += 1;
            }
            if let Some(delim) = heredoc_delimiter(&command) {
                while i < lines.len() {
                    command.push('\n');
                    command.push_str(lines[i]);
                    i += 1;
                    if lines[i - 1] == delim {
                        break;
                    }
                }
            }
            let mut expected = Vec::new();
            while i < lines.len() && !lines[i].starts_with("$ ") && lines[i].trim_end() != "```" {
                expected.push(lines[i].trim_end().to_string());
                i += 1;
            }
            let mut exit = 0;
            if let Some(code) = expected
                .last()
                .and_then(|l| l.strip_prefix("[exit "))
                .and_then(|l| l.strip_suffix(']'))
            {
                exit = code.parse().unwrap();
                expected.pop();
            }
            out.push(Step {
                place,
                command,
                expected,
                exit,
            });
        }
        i += 1;
    }
    out
}

/// The delimiter of a here-document the command starts (`cat > f <<'EOF'` → `EOF`).
fn heredoc_delimiter(command: &str) -> Option<String> {
    let at = command.find("<<")?;
    let word = command[at + 2..].trim_start_matches('-').trim_start();
    let word: String = word
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// Whether an output line matches a line of the docs (`[..]`: any text; `~N`: any number).
fn line_matches(pattern: &str, line: &str) -> bool {
    fn go(p: &[u8], l: &[u8]) -> bool {
        if p.is_empty() {
            return l.is_empty();
        }
        if let Some(rest) = p.strip_prefix(b"[..]") {
            return (0..=l.len()).any(|k| go(rest, &l[k..]));
        }
        if p[0] == b'~' && p.get(1).is_some_and(u8::is_ascii_digit) {
            let rest = &p[1 + number_len(&p[1..])..];
            let n = number_len(l);
            return n > 0 && (1..=n).any(|k| go(rest, &l[k..]));
        }
        !l.is_empty() && p[0] == l[0] && go(&p[1..], &l[1..])
    }
    fn number_len(s: &[u8]) -> usize {
        s.iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'.' || **c == b',')
            .count()
    }
    go(pattern.as_bytes(), line.as_bytes())
}

/// Whether the output's lines match the docs' lines (`...`: any number of lines).
fn lines_match(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((p, rest)) if p == "..." => {
            (0..=actual.len()).any(|k| lines_match(rest, &actual[k..]))
        }
        Some((p, rest)) => actual
            .split_first()
            .is_some_and(|(l, more)| line_matches(p, l) && lines_match(rest, more)),
    }
}

/// The workspace root (this crate is `cli/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `imei-index demo` into `dir`: the files it writes, shared by every document.
fn run_demo(dir: &Path) {
    let demo = Command::new(env!("CARGO_BIN_EXE_imei-index"))
        .args(["demo", "--checks", "1000", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(demo.status.success(), "the demo failed: {demo:?}");
}

/// Links every file of `from` into `to` (our commands replace files, never write into them).
fn link_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let from = entry.unwrap().path();
        std::fs::hard_link(&from, to.join(from.file_name().unwrap())).unwrap();
    }
}

/// The demo's files, shared by the documents: made by the first document that runs the
/// demo itself, else by [`run_demo`] when a document first needs them.
#[derive(Default)]
struct SharedDemo(Option<tempfile::TempDir>);

impl SharedDemo {
    fn dir(&mut self) -> &Path {
        self.0
            .get_or_insert_with(|| {
                let dir = tempfile::tempdir().unwrap();
                run_demo(dir.path());
                dir
            })
            .path()
    }

    /// Keeps what a document's own demo wrote in `eir`, if no demo was kept yet.
    fn keep(&mut self, eir: &Path) {
        if self.0.is_none() {
            let dir = tempfile::tempdir().unwrap();
            link_files(eir, dir.path());
            self.0 = Some(dir);
        }
    }
}

/// Runs a file's console examples in a fresh directory holding the demo's files in `eir/`:
/// how many ran, and a description of each that printed otherwise than the docs show.
fn run_file(doc: &Path, demo: &mut SharedDemo) -> (usize, Vec<String>) {
    let steps = steps(doc);
    if steps.is_empty() {
        return (0, Vec::new());
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_imei-index"));
    let dir = tempfile::tempdir().unwrap();
    // A file whose examples start with the demo makes `eir/` itself; the others share the
    // demo's files, linked in.
    let makes_demo = steps[0].command.starts_with("imei-index demo --dir eir");
    if !makes_demo {
        let eir = dir.path().join("eir");
        std::fs::create_dir(&eir).unwrap();
        link_files(demo.dir(), &eir);
    }
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("exec 2>&1\nset -o pipefail\n{}", step.command))
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        if i == 0 && makes_demo && out.status.success() {
            demo.keep(&dir.path().join("eir"));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let actual: Vec<&str> = text.lines().map(str::trim_end).collect();
        let code = out.status.code().unwrap_or(-1);
        if code != step.exit || !lines_match(&step.expected, &actual) {
            failures.push(format!(
                "{}: `{}`\n  exited {code} (docs: {}); it printed:\n{}\n  the docs show:\n{}",
                step.place,
                step.command,
                step.exit,
                indent(&actual),
                indent(&step.expected.iter().map(String::as_str).collect::<Vec<_>>())
            ));
        }
    }
    (steps.len(), failures)
}

fn indent(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every Markdown file whose examples are checked: the README and docs/.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

#[test]
fn console_examples_in_the_docs_print_what_they_show() {
    let mut demo = SharedDemo::default();
    let (mut checked, mut failures) = (0, Vec::new());
    for doc in documents() {
        let (n, f) = run_file(&doc, &mut demo);
        checked += n;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} console example(s) differ from what the commands print; fix the code or the \
         docs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // The README alone shows the demo, the scan and the daily workflow.
    assert!(checked >= 5, "only {checked} console examples found");
}

#[test]
fn the_matcher_takes_wildcards_and_approximate_numbers() {
    assert!(line_matches(
        "in ~0.14 s: ~926 MB/s",
        "in 0.19 s: 1,072 MB/s"
    ));
    assert!(!line_matches("in ~0.14 s", "in fast s"));
    assert!(line_matches(
        "wrote [..]/national.imeiidx",
        "wrote /tmp/x/national.imeiidx"
    ));
    assert!(!line_matches("28,277 rules", "28,276 rules"));
    let exp = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&exp(&["a", "...", "z"]), &["a", "b", "c", "z"]));
    assert!(lines_match(&exp(&["a", "...", "z"]), &["a", "z"]));
    assert!(!lines_match(&exp(&["a", "z"]), &["a", "b", "z"]));
    assert!(!lines_match(&exp(&["a"]), &["a", "b"]));
}

#[test]
fn console_blocks_parse_into_commands_outputs_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("x.md");
    std::fs::write(
        &md,
        "text\n```console\n$ cat > a.csv <<'EOF'\nimei,status\nEOF\n$ echo one \\\n  two\none two\n$ false\n[exit 1]\n```\n",
    )
    .unwrap();
    let s = steps(&md);
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].command, "cat > a.csv <<'EOF'\nimei,status\nEOF");
    assert!(s[0].expected.is_empty());
    assert_eq!(s[1].command, "echo one \\\n  two");
    assert_eq!(s[1].expected, ["one two"]);
    assert_eq!((s[2].exit, s[2].expected.len()), (1, 0));
}
