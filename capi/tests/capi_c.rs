//! The C API as C sees it: compiles `tests/c/capi_test.c` with the system C compiler
//! (`cc -Wall -Wextra -Werror`) against the static library, and runs it on fixtures whose
//! expected answers come from the Rust API.
//!
//! Set `IMEI_INDEX_CAPI_RUNNER` to run the C program under a tool, e.g.
//! `IMEI_INDEX_CAPI_RUNNER="valgrind --error-exitcode=1 --leak-check=full"` (what
//! `.ci/capi-memcheck` does). `CC` chooses the compiler.

#![cfg(unix)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use imei_index::synth::{self, NationalList};
use imei_index::{
    Date, Entry, Imei, Imsi, Index, IndexBuilder, Reason, Rule, Status, Tac, Verdict,
};
use imei_index_capi::imei_index_result;

/// The verdict fields as the C struct holds them, computed from the Rust API's verdict.
fn fields(v: Verdict, check_digit_ok: bool) -> [u32; 5] {
    [
        v.status().map_or(3, |s| u32::from(s.s13_code())),
        v.reason().map_or(0, |r| u32::from(r.code())),
        v.rule().map_or(0, |k| u32::from(k.code())),
        u32::from(check_digit_ok),
        v.date().map_or(0, |d| d.days_since_epoch()),
    ]
}

/// What a call on invalid input writes: status 255, everything else 0.
const INVALID: [u32; 5] = [255, 0, 0, 0, 0];

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len() + 1);
    s.push('x'); // never an empty field
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s
}

/// One line of `cases.tsv`: function, IMEI (hex, or decimal for `u64`), IMSI (hex),
/// expected result code, expected verdict fields.
fn case(out: &mut String, func: &str, imei: &str, imsi: &[u8], rc: imei_index_result, v: [u32; 5]) {
    let [s, r, k, c, d] = v;
    writeln!(
        out,
        "{func}\t{imei}\t{}\t{}\t{s}\t{r}\t{k}\t{c}\t{d}",
        hex(imsi),
        rc as i32
    )
    .unwrap();
}

/// The rules: the synthetic national list, plus rules with every status, a nested range,
/// and entries without reason or date.
fn rules() -> (NationalList, Vec<Rule>) {
    let list = NationalList::generate(2024);
    let mut rules = list.rules.clone();
    let (first, last) = list.ranges[0];
    let inner_first = Imei::from_u64(first.as_u64() + 10).unwrap();
    let inner_last = Imei::from_u64(first.as_u64() + 20).unwrap().min(last);
    rules
        .push(Rule::range(inner_first, inner_last, Entry::new(Status::Allowed)).expect("in order"));
    rules.push(Rule::imei(
        Imei::parse("490154203237518").unwrap(),
        Entry::new(Status::Tracked),
    ));
    rules.push(Rule::tac(
        Tac::parse("35209900").unwrap(),
        Entry::new(Status::Tracked)
            .with_reason(Reason::Other)
            .with_date(Date::from_ymd(2023, 1, 2).unwrap()),
    ));
    (list, rules)
}

/// Reads the section table of an index file (see the layout in `src/format.rs`):
/// (id, offset, length) of each section.
fn sections(bytes: &[u8]) -> Vec<(u32, usize, usize)> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    (0..u32_at(128) as usize)
        .map(|i| {
            let at = 136 + 24 * i;
            (
                u32_at(at),
                u64_at(at + 8) as usize,
                u64_at(at + 16) as usize,
            )
        })
        .collect()
}

/// A copy of the index whose pair section is corrupt in a way only the checksums catch,
/// and the pair whose check walks the damaged bytes. Opened trusted (no checksums), such a
/// file may give wrong answers but must not make the library panic: its lookups check
/// every read. (`fst`'s own lookups used to panic here.)
fn tampered_copy(bytes: &[u8], pairs: &[(Imei, Imsi)]) -> (Vec<u8>, Imei, Imsi) {
    const PAIR_SECTION: u32 = 4;
    let &(_, offset, len) = sections(bytes)
        .iter()
        .find(|s| s.0 == PAIR_SECTION)
        .expect("a pair section");
    let mut copy = bytes.to_vec();
    for b in &mut copy[offset + 16..offset + len - 24] {
        *b ^= 0xff;
    }
    let (imei, imsi) = pairs[0];
    (copy, imei, imsi)
}

/// Writes the fixtures and the expected answers into `dir`.
fn write_fixtures(dir: &Path) {
    let (list, rules) = rules();
    let mut builder = IndexBuilder::new();
    builder.serial(20_240_521);
    for r in &rules {
        builder.add(r.clone());
    }
    let path = dir.join("index.imeiidx");
    builder.build_to_file(&path).unwrap();
    let index = Index::open(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    // Dated rules with sources and open reasons, for imei_index_check_at.
    let day = |s: &str| s.parse::<imei_index::Date>().unwrap();
    let source = |s: &str| imei_index::Source::new(s).unwrap();
    let mut dated = IndexBuilder::new();
    dated.add(
        Rule::imei(
            Imei::parse("35209900176148").unwrap(),
            Entry::new(Status::Blocked)
                .with_start(day("2024-06-10"))
                .with_date(day("2024-06-10"))
                .with_earlier(Status::Tracked)
                .unwrap()
                .with_reasons(
                    imei_index::Reasons::parse_joined("Duplicate IMEI detected|not_registered")
                        .unwrap(),
                ),
        )
        .with_source(source("dirbs/notifications/op1")),
    );
    dated.add(
        Rule::pair(
            Imei::parse("35209900176148").unwrap(),
            Imsi::parse("404685505609999").unwrap(),
            Entry::new(Status::Allowed),
        )
        .with_source(source("dirbs/exceptions/op1")),
    );
    dated.add(Rule::imei(
        Imei::parse("35417803685978").unwrap(),
        Entry::new(Status::Blocked).with_reason(imei_index::Reason::Stolen),
    ));
    let long: Vec<String> = (b'a'..b'f')
        .map(|c| (c as char).to_string().repeat(250))
        .collect();
    dated.add(Rule::imei(
        Imei::parse("49015420323751").unwrap(),
        Entry::new(Status::Blocked).with_reasons(imei_index::Reasons::new(&long).unwrap()),
    ));
    dated.build_to_file(dir.join("dated.imeiidx")).unwrap();

    // A TAC database, for imei_index_open_with_tac_policy and imei_index_device_get.
    let tacdb = "TAC|Marketing Name|Manufacturer|Brand Name|Device Type|Allocation Date\n\
                 35209900|Galaxy S23|Samsung Korea|Samsung|Smartphone|01-Feb-2023\n\
                 35417803|iPhone 15|Apple Inc|Apple|Smartphone|12-Sep-2023\n";
    let mut table = imei_index::TacTable::new();
    imei_index::list::tacdb::read_into(
        &mut table,
        imei_index::list::tacdb::Reader::new("tacdb.txt", tacdb.as_bytes()),
        Err,
    )
    .unwrap();
    let mut devices = IndexBuilder::new();
    devices.tac_db(table);
    devices.add(Rule::imei(
        Imei::parse("35209900176148").unwrap(),
        Entry::new(Status::Blocked).with_reason(imei_index::Reason::Stolen),
    ));
    devices.build_to_file(dir.join("devices.imeiidx")).unwrap();

    // Files that must not open.
    std::fs::write(dir.join("empty.imeiidx"), b"").unwrap();
    std::fs::write(dir.join("foreign.imeiidx"), b"imei,status\n").unwrap();
    let mut corrupt = bytes.clone();
    // The middle of the exact-IMEI rules (the IMEI blocks, section 13): damage there is
    // inside block data, which only the checksums catch at open.
    let (_, imei_offset, imei_len) = sections(&bytes)
        .into_iter()
        .find(|s| s.0 == 13)
        .expect("today's files have IMEI blocks");
    corrupt[imei_offset + imei_len / 2] ^= 0x55;
    std::fs::write(dir.join("corrupt.imeiidx"), &corrupt).unwrap();
    let (tampered, tampered_imei, tampered_imsi) = tampered_copy(&bytes, &list.pairs);
    std::fs::write(dir.join("tampered.imeiidx"), tampered).unwrap();

    // Single checks on text: many forms of listed and unlisted IMEIs, and invalid input.
    let mut texts: Vec<Vec<u8>> = Vec::new();
    let mut some: Vec<Imei> = list.blocked.iter().step_by(1999).copied().collect();
    some.extend(list.ranges.iter().step_by(3).flat_map(|&(a, b)| [a, b]));
    some.extend(list.blocked_tacs.iter().step_by(3).map(|t| t.first_imei()));
    some.extend(list.pairs.iter().step_by(5).map(|p| p.0));
    some.extend(synth::probes(&list.blocked, 15, 0.0, 7));
    for imei in &some {
        let s = imei.to_string();
        let d = s.as_bytes();
        texts.push(d.to_vec()); // 15 digits
        texts.push(d[..14].to_vec()); // 14
        texts.push(format!("{}-{}-{}", &s[..8], &s[8..14], &s[14..]).into_bytes());
        texts.push(format!(" imei-{s}\t").into_bytes());
        texts.push(format!("imeisv-{}42", &s[..14]).into_bytes());
        // A wrong check digit: strict calls refuse it, lenient ones report it.
        let wrong = (imei.check_digit() + 1) % 10;
        texts.push(format!("{}{wrong}", &s[..14]).into_bytes());
    }
    for bad in [
        &b""[..],
        b"   ",
        b"35209900176148",
        b"3520990017614",
        b"35209900176148123",
        b"35209900x761481",
        b"3520990017\x0061481",
        b"35209900\xff761481",
        b"\xc3\xa9352099001761481",
        b"-352099001761481",
        b"35--2099001761481",
        b"mac-00-11-22-33-44-55",
        b"eui-0011223344556677",
        b"imei-3520990017614812",
        b"\x00",
    ] {
        texts.push(bad.to_vec());
    }
    let pair_imsi = list.pairs[0].1.to_string().into_bytes();
    let pair_imei = list.pairs[0].0.to_string().into_bytes();
    let imsis: Vec<Vec<u8>> = vec![
        pair_imsi.clone(),
        b"404685505601234".to_vec(),
        b"40468".to_vec(),
        b"".to_vec(),
        b"4046".to_vec(),
        b"4046855056012345".to_vec(),
        b"40468x505601234".to_vec(),
        b"40468\xff505601234".to_vec(),
    ];

    let mut cases = String::new();
    for t in &texts {
        let parsed = std::str::from_utf8(t).ok();
        let strict = parsed.and_then(|s| Imei::parse(s).ok());
        let lenient = parsed.and_then(|s| Imei::parse_lenient(s).ok());
        let rc = |ok: bool| {
            if ok {
                imei_index_result::Ok
            } else {
                imei_index_result::InvalidImei
            }
        };
        let h = hex(t);
        let v = strict.map_or(INVALID, |i| fields(index.check(i), true));
        case(&mut cases, "check", &h, b"", rc(strict.is_some()), v);
        let v = lenient.map_or(INVALID, |l| {
            fields(index.check(l.imei), l.check_digit.is_ok())
        });
        case(&mut cases, "lenient", &h, b"", rc(lenient.is_some()), v);
        for imsi in imsis
            .iter()
            .take(if t == &pair_imei { imsis.len() } else { 2 })
        {
            let sim = std::str::from_utf8(imsi)
                .ok()
                .and_then(|s| Imsi::parse(s).ok());
            for (func, parsed_imei) in [
                ("imsi", strict.map(|i| (i, true))),
                (
                    "imsi_lenient",
                    lenient.map(|l| (l.imei, l.check_digit.is_ok())),
                ),
            ] {
                let (rc, v) = match (parsed_imei, sim) {
                    (None, _) => (imei_index_result::InvalidImei, INVALID),
                    (Some(_), None) => (imei_index_result::InvalidImsi, INVALID),
                    (Some((i, ok)), Some(s)) => (
                        imei_index_result::Ok,
                        fields(index.check_with_imsi(i, &s), ok),
                    ),
                };
                case(&mut cases, func, &h, imsi, rc, v);
            }
        }
    }
    for n in some.iter().map(|i| i.as_u64()).chain([
        0,
        Imei::MAX.as_u64(),
        Imei::MAX.as_u64() + 1,
        u64::MAX,
    ]) {
        let (rc, v) = match Imei::from_u64(n) {
            Ok(i) => (imei_index_result::Ok, fields(index.check(i), true)),
            Err(_) => (imei_index_result::InvalidImei, INVALID),
        };
        case(&mut cases, "u64", &n.to_string(), b"", rc, v);
    }
    std::fs::write(dir.join("cases.tsv"), cases).unwrap();

    // Probes for the threads: half listed, checked by number and by text. Fewer under a
    // runner such as valgrind, which runs threads one at a time and ~100 times slower.
    let n_probes = if runner().is_empty() { 2000 } else { 250 };
    let mut probes = synth::probes(&list.blocked, n_probes, 0.5, 11);
    probes.extend(list.ranges.iter().map(|r| r.0));
    probes.extend(list.blocked_tacs.iter().map(|t| t.last_imei()));
    let mut lines = String::new();
    for p in &probes {
        let [s, r, k, _, d] = fields(index.check(*p), true);
        writeln!(lines, "{}\t{p}\t{s}\t{r}\t{k}\t{d}", p.as_u64()).unwrap();
    }
    std::fs::write(dir.join("probes.tsv"), lines).unwrap();

    let stats = index.stats();
    let mut expect = String::new();
    writeln!(expect, "version {}", env!("CARGO_PKG_VERSION")).unwrap();
    writeln!(expect, "format_version {}", stats.format_version).unwrap();
    writeln!(expect, "serial {}", stats.serial).unwrap();
    writeln!(expect, "rules {}", stats.rules()).unwrap();
    writeln!(expect, "file_bytes {}", stats.file_bytes).unwrap();
    writeln!(expect, "distinct_entries {}", stats.distinct_entries).unwrap();
    for kind in imei_index::RuleKind::ALL {
        for status in [Status::Allowed, Status::Blocked, Status::Tracked] {
            let n = stats.counts.get(kind, status);
            writeln!(expect, "count_{}_{} {n}", kind.code(), status.s13_code()).unwrap();
        }
    }
    writeln!(
        expect,
        "tampered_imei {}",
        hex(tampered_imei.to_string().as_bytes())
    )
    .unwrap();
    writeln!(
        expect,
        "tampered_imsi {}",
        hex(tampered_imsi.to_string().as_bytes())
    )
    .unwrap();
    std::fs::write(dir.join("expect.txt"), expect).unwrap();
}

/// The static C library of this build (`libimei_index_capi.a`; `cargo cinstall` installs it
/// as `libimei_index.a`).
///
/// Cargo compiles every crate type of the library before the tests that depend on it and
/// leaves the static library in the same `deps` directory as this test's executable (and,
/// after `cargo build`, one level up). Should neither be there (another build tool), the
/// library is built with cargo into a directory of its own.
fn static_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        let lib = dir.join("libimei_index_capi.a");
        if lib.exists() {
            return lib;
        }
    }
    let target = deps.parent().unwrap().join("capi-staticlib");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--lib", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --lib failed");
    target.join("debug/libimei_index_capi.a")
}

/// Compiles a C program against the header and the static library.
fn compile(source: &Path, exe: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-I",
        ])
        .arg(root.join("include"))
        .arg(source)
        .arg(static_library())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(exe)
        .output()
        .unwrap_or_else(|e| {
            panic!("could not run the C compiler {cc:?}: {e}; install one or set CC")
        });
    assert!(
        output.status.success(),
        "{cc} failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The command to run the C programs under, from `IMEI_INDEX_CAPI_RUNNER`; empty for none.
fn runner() -> String {
    std::env::var("IMEI_INDEX_CAPI_RUNNER").unwrap_or_default()
}

/// Runs a program, under `IMEI_INDEX_CAPI_RUNNER` when set, and returns its stdout.
fn run(exe: &Path, args: &[&Path], stdin: Option<&[u8]>) -> String {
    let runner = runner();
    let mut words = runner.split_whitespace();
    let mut cmd = match words.next() {
        Some(tool) => {
            let mut c = Command::new(tool);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    // Should the library panic, one line says so, not a backtrace.
    cmd.args(args).env("RUST_BACKTRACE", "0");
    cmd.stdin(if stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    });
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the program starts");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn c_test_program_passes() {
    let dir = tempfile::tempdir().unwrap();
    write_fixtures(dir.path());
    let exe = dir.path().join("capi_test");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    compile(&root.join("tests/c/capi_test.c"), &exe);
    let out = run(&exe, &[dir.path()], None);
    assert!(out.contains(" 0 failed"), "{out}");
}

#[test]
fn c_example_prints_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let (list, rules) = rules();
    let mut builder = IndexBuilder::new();
    for r in &rules {
        builder.add(r.clone());
    }
    let path = dir.path().join("index.imeiidx");
    builder.build_to_file(&path).unwrap();
    let index = Index::open(&path).unwrap();

    let exe = dir.path().join("check_imeis");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    compile(&root.join("examples/c/check_imeis.c"), &exe);

    // Listed and unlisted handsets, a pair, and lines that are not IMEIs.
    let (pair_imei, pair_imsi) = list.pairs[0];
    let mut input = String::new();
    let mut expected = Vec::new();
    for imei in list
        .blocked
        .iter()
        .step_by(2000)
        .chain(&synth::probes(&list.blocked, 5, 0.0, 3))
    {
        input.push_str(&format!("{imei}\n"));
        expected.push(expected_line(&imei.to_string(), index.check(*imei)));
    }
    input.push_str(&format!("{pair_imei},{pair_imsi}\n"));
    expected.push(expected_line(
        &format!("{pair_imei},{pair_imsi}"),
        index.check_with_imsi(pair_imei, &pair_imsi),
    ));
    for bad in ["12345", "35209900x761481"] {
        input.push_str(&format!("{bad}\n"));
        expected.push(format!("{bad}\terror"));
    }
    let out = run(&exe, &[&path], Some(input.as_bytes()));
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), expected.len(), "{out}");
    for (g, e) in got.iter().zip(&expected) {
        if e.ends_with("\terror") {
            assert!(g.starts_with(e.as_str()), "expected {e:?}, got {g:?}");
        } else {
            assert_eq!(g, e);
        }
    }
}

/// The example's line for a verdict: input, status, reason, rule, date.
fn expected_line(input: &str, v: Verdict) -> String {
    format!(
        "{input}\t{}\t{}\t{}\t{}",
        v.status().map_or("unknown", Status::as_str),
        v.reason().map_or("-", Reason::as_str),
        v.rule().map_or("-", |k| k.as_str()),
        v.date().map_or("-".to_string(), |d| d.to_string()),
    )
}

/// Writes the live handle's fixtures into `dir` (see `tests/c/live_test.c`): versions of
/// an index with a marker whose date names the version, and every probe's answer in each.
fn write_live_fixtures(dir: &Path, versions: u64) {
    let marker = Imei::parse("35209900176148").unwrap();
    let pool = |i: u64| Imei::from_u64(86_000_001_000_000 + i * 7).unwrap();
    let n_pool = if runner().is_empty() { 400 } else { 60 };
    let mut indexes = Vec::new();
    for k in 0..versions {
        let mut rng = synth::Rng::new(k + 100);
        let mut b = IndexBuilder::new();
        b.serial(k);
        let day = Date::from_days_since_epoch(k as u32 + 1).unwrap();
        b.add(Rule::imei(
            marker,
            Entry::new(Status::Blocked).with_date(day),
        ));
        for i in 0..n_pool {
            if rng.chance(0.4) {
                let e = Entry::new(Status::ALL[rng.below(3) as usize])
                    .with_reason(Reason::ALL[rng.below(6) as usize]);
                b.add(Rule::imei(pool(i), e));
            }
        }
        if k % 2 == 0 {
            let r = Rule::range(
                pool(n_pool / 2),
                pool(n_pool / 2 + 9),
                Entry::new(Status::Tracked),
            );
            b.add(r.unwrap());
        }
        let (bytes, _) = b.build_to_vec().unwrap();
        std::fs::write(dir.join(format!("v{k}.imeiidx")), &bytes).unwrap();
        if k == 1 {
            let mut corrupt = bytes.clone();
            let at = corrupt.len() - 5;
            corrupt[at] ^= 0x10;
            std::fs::write(dir.join("corrupt.imeiidx"), corrupt).unwrap();
        }
        indexes.push(Index::from_bytes(bytes.into()).unwrap());
    }
    std::fs::write(dir.join("foreign.imeiidx"), b"imei,status\n").unwrap();
    imei_index::publish(dir.join("v0.imeiidx"), dir.join("current.imeiidx")).unwrap();
    let probes: Vec<Imei> = [marker]
        .into_iter()
        .chain((0..n_pool + 3).map(pool))
        .collect();
    let mut out = format!("versions {versions} probes {}\n", probes.len());
    for p in &probes {
        write!(out, "{}", p.as_u64()).unwrap();
        for index in &indexes {
            let [s, r, k, _, d] = fields(index.check(*p), true);
            write!(out, "\t{s} {r} {k} {d}").unwrap();
        }
        out.push('\n');
    }
    std::fs::write(dir.join("live_probes.tsv"), out).unwrap();
}

#[test]
fn c_live_handle_reloads_under_load() {
    let dir = tempfile::tempdir().unwrap();
    write_live_fixtures(dir.path(), if runner().is_empty() { 8 } else { 4 });
    let exe = dir.path().join("live_test");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    compile(&root.join("tests/c/live_test.c"), &exe);
    let out = run(&exe, &[dir.path()], None);
    assert!(out.contains(" 0 failed"), "{out}");
}

/// docs/c-api.md's first example, run: its list, the example program fed its input, and
/// the output the page shows, line for line.
#[test]
fn the_c_api_page_example_prints_what_it_shows() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/c-api.md"))
            .unwrap();
    let list = page
        .split("cat > list.csv <<'EOF'\n")
        .nth(1)
        .and_then(|s| s.split("\nEOF\n").next())
        .expect("docs/c-api.md writes list.csv with a here-document");
    let input = page
        .split("printf '")
        .nth(1)
        .and_then(|s| s.split("' \\\n  | ./check_imeis").next())
        .expect("docs/c-api.md pipes a printf into ./check_imeis")
        .replace("\\n", "\n");
    let shown = page
        .split("which prints")
        .nth(1)
        .and_then(|s| s.split("```text\n").nth(1))
        .and_then(|s| s.split("\n```").next())
        .expect("docs/c-api.md shows what the example prints");

    let dir = tempfile::tempdir().unwrap();
    let mut builder = IndexBuilder::new();
    builder
        .add_list(
            imei_index::list::ListReader::new("list.csv", list.as_bytes()),
            Err,
        )
        .unwrap();
    let path = dir.path().join("national.imeiidx");
    builder.build_to_file(&path).unwrap();
    let exe = dir.path().join("check_imeis");
    compile(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/c/check_imeis.c"),
        &exe,
    );
    let out = run(&exe, &[&path], Some(input.as_bytes()));
    assert_eq!(
        out.trim_end(),
        shown,
        "the example prints otherwise than docs/c-api.md shows"
    );
}

/// Every row of the journal files in `dir`.
fn journal_rows(dir: &Path) -> (Vec<imei_index_trace::JournalRow>, bool) {
    let mut rows = Vec::new();
    let mut hashed = false;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        let reader = imei_index_trace::JournalReader::new("j", file).unwrap();
        hashed |= reader.hashed();
        rows.extend(reader.map(Result::unwrap));
    }
    (rows, hashed)
}

#[test]
fn c_journal_records_what_c_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = IndexBuilder::new();
    b.add(Rule::imei(
        Imei::parse("354178036859789").unwrap(),
        Entry::new(Status::Blocked).with_reason(Reason::Stolen),
    ));
    b.add(Rule::tac(
        Tac::parse("86990000").unwrap(),
        Entry::new(Status::Tracked),
    ));
    b.build_to_file(dir.path().join("journal.imeiidx")).unwrap();
    let exe = dir.path().join("journal_test");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    compile(&root.join("tests/c/journal_test.c"), &exe);
    // Fewer sightings under a runner such as valgrind, which runs threads one at a time.
    let n = if runner().is_empty() { "5000" } else { "300" };
    let out = run(&exe, &[dir.path(), Path::new(n)], None);
    assert!(out.contains(" 0 failed"), "{out}");
    let queued = |what: &str| -> usize {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("queued {what} ")))
            .unwrap_or_else(|| panic!("no count for {what} in {out}"))
            .parse()
            .unwrap()
    };

    // What C recorded is in the files, field for field.
    let (mut rows, hashed) = journal_rows(&dir.path().join("journal"));
    assert!(!hashed);
    rows.sort_by_key(|r| r.unix_millis);
    let got: Vec<(u64, String, String, String, Option<Status>, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.unix_millis - 1_716_286_530_123,
                format!("{:014}", r.imei.as_u64()),
                r.imsi.clone(),
                r.msisdn.clone(),
                r.status,
                r.alert,
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        [
            (
                0,
                s("35417803685978"),
                s("404685505601234"),
                s("919876543210"),
                Some(Status::Blocked),
                true
            ),
            (
                1,
                s("35417803685978"),
                s("404685505601234"),
                s(""),
                Some(Status::Blocked),
                false
            ),
            (
                2,
                s("86990000123456"),
                s(""),
                s("919876543211"),
                Some(Status::Tracked),
                true
            ),
            (
                3,
                s("49015420323751"),
                s("404685505601236"),
                s(""),
                None,
                false
            ),
            (
                10,
                s("35417803685978"),
                s("404685505601299"),
                s(""),
                Some(Status::Blocked),
                true
            ),
        ]
    );
    // Keyed hashing.
    let (rows, hashed) = journal_rows(&dir.path().join("hashed"));
    assert!(hashed);
    assert_eq!(
        rows[0].imsi,
        imei_index_trace::pseudonym(b"operator secret", "404685505601234")
    );
    // Exactly the sightings queued are in the files: from a full queue, and from threads.
    assert_eq!(
        journal_rows(&dir.path().join("full")).0.len(),
        queued("full")
    );
    assert_eq!(
        journal_rows(&dir.path().join("threads")).0.len(),
        queued("threads")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for sub in ["journal", "hashed", "full", "threads"] {
            let d = dir.path().join(sub);
            assert_eq!(
                std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
                0o700
            );
            for f in std::fs::read_dir(&d).unwrap() {
                let mode = f.unwrap().metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
            }
        }
    }
}
