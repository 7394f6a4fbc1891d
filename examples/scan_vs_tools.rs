//! The reverification scan side by side with what an engineer would otherwise run on the
//! same file: `grep -F -f` of the listed IMEIs, and an `awk` hash join.
//!
//! ```sh
//! cargo run --release --example scan_vs_tools -- [ROWS] [DIR]
//! ```
//!
//! Generates the demo's national list (seed 2024), its index, the listed IMEIs one per
//! line, and a connection log of ROWS rows (default 5,000,000) in DIR (default a temporary
//! directory); reads the log once to warm the page cache; then times each of these from
//! start to end (the best of three runs for each tool, of five for each scan, as machines
//! are shared), counting the rows each writes:
//!
//! * `LC_ALL=C grep -F -f listed.txt log.csv` (exact IMEIs only, anywhere in the line);
//! * `LC_ALL=C awk -F, 'NR==FNR{l[$1];next} ($3 in l)' listed.txt log.csv` (exact IMEIs
//!   only, in the IMEI column);
//! * a hash join in Rust: a `HashSet` of the listed IMEIs' text, probed with each line's
//!   third field (exact IMEIs only, no verdicts);
//! * the scanner reading the file, on one thread and on two, with and without its
//!   prefilter (every rule kind, pair rules with the IMSI, verdicts appended; the time
//!   includes building the prefilter).
//!
//! It prints a Markdown table of MB/s and ratios, as in `docs/scan.md`. The tools must be
//! on the `PATH`; a missing one is reported and skipped.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use imei_index::scan::{ScanOptions, Scanner};
use imei_index::synth::{ConnectionLog, NationalList};
use imei_index::{Index, IndexBuilder};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(Ok(5_000_000), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&dir)?;

    let list = NationalList::generate(2024);
    let index_path = dir.join("national.imeiidx");
    let mut builder = IndexBuilder::new();
    for rule in &list.rules {
        builder.add(rule.clone());
    }
    builder.build_to_file(&index_path)?;
    let index = Index::open(&index_path)?;
    let listed_path = dir.join("listed.txt");
    let mut listed = BufWriter::new(File::create(&listed_path)?);
    for imei in &list.blocked {
        writeln!(listed, "{imei}")?;
    }
    listed.flush()?;
    let log_path = dir.join("log.csv");
    let bytes =
        ConnectionLog::new(rows, 2024).write(&list, BufWriter::new(File::create(&log_path)?))?;
    std::io::copy(&mut File::open(&log_path)?, &mut std::io::sink())?;
    let mb = bytes as f64 / 1e6;
    println!(
        "log: {rows} rows, {mb:.0} MB; list: {} rules ({} IMEIs in listed.txt)\n",
        list.rules.len(),
        list.blocked.len()
    );

    let mut results: Vec<(String, Run)> = Vec::new();
    let (log, lst) = (path(&log_path), path(&listed_path));
    let tools: [(&str, &str, Vec<&str>); 2] = [
        (
            "`grep -F -f listed.txt`",
            "grep",
            vec!["-F", "-f", &lst, &log],
        ),
        (
            "`awk` hash join",
            "awk",
            vec!["-F,", "NR==FNR{l[$1];next} ($3 in l)", &lst, &log],
        ),
    ];
    for (label, program, args) in tools {
        match best_of(3, || run_tool(program, &args)) {
            Ok(run) => results.push((label.to_string(), run)),
            Err(e) => println!("skipped {label}: {e}"),
        }
    }
    let listed_text: HashSet<Vec<u8>> = list
        .blocked
        .iter()
        .map(|i| i.to_string().into_bytes())
        .collect();
    let run = best_of(3, || hash_join(&listed_text, &log_path))?;
    results.push(("hash join in Rust (`HashSet`)".to_string(), run));
    for threads in [1, 2] {
        for prefilter in [false, true] {
            let label = format!(
                "scan, {threads} thread{}{}",
                if threads == 1 { "" } else { "s" },
                if prefilter { "" } else { ", no prefilter" }
            );
            let run = best_of(5, || scan(&index, &log_path, threads, prefilter))?;
            results.push((label, run));
        }
    }

    let fastest_tool = results
        .iter()
        .filter(|r| r.0.starts_with('`'))
        .map(|r| r.1.wall)
        .fold(f64::INFINITY, f64::min);
    println!(
        "| what | rows out | seconds | MB/s | CPU seconds | MB per CPU second | vs fastest tool |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, run) in &results {
        let cpu = |f: &dyn Fn(f64) -> String| run.cpu.map_or("-".to_string(), f);
        println!(
            "| {label} | {} | {:.3} | {:.0} | {} | {} | {:.1}x |",
            run.rows,
            run.wall,
            mb / run.wall,
            cpu(&|c| format!("{c:.2}")),
            cpu(&|c| format!("{:.0}", mb / c)),
            fastest_tool / run.wall
        );
    }
    Ok(())
}

/// One timed run.
#[derive(Clone, Copy)]
struct Run {
    /// Seconds from start to end.
    wall: f64,
    /// Processor seconds spent (user and system, every thread), where the platform says.
    cpu: Option<f64>,
    /// Rows written.
    rows: u64,
}

/// Processor time of this process and of its waited-for children, in seconds, from
/// `/proc/self/stat` (Linux).
fn cpu_times() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let tick = clock_ticks()?;
    let ticks = |a: usize, b: usize| Some((fields.get(a)? + fields.get(b)?) as f64 / tick);
    // utime, stime, cutime, cstime are fields 14 to 17; `fields` starts at field 4.
    Some((ticks(10, 11)?, ticks(12, 13)?))
}

fn clock_ticks() -> Option<f64> {
    static TICKS: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    })
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The fastest of `n` runs.
fn best_of(n: usize, mut run: impl FnMut() -> Result<Run>) -> Result<Run> {
    let mut best = run()?;
    for _ in 1..n {
        let r = run()?;
        if r.wall < best.wall {
            best = r;
        }
    }
    Ok(best)
}

/// Runs a tool with the C locale, counting the lines it prints.
fn run_tool(program: &str, args: &[&str]) -> Result<Run> {
    let before = cpu_times();
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = LineCount(0);
    std::io::copy(&mut child.stdout.take().expect("piped"), &mut out)?;
    let status = child.wait()?;
    let wall = started.elapsed().as_secs_f64();
    if !status.success() && status.code() != Some(1) {
        return Err(format!("{program} failed: {status}").into());
    }
    let cpu = before.zip(cpu_times()).map(|(a, b)| b.1 - a.1);
    Ok(Run {
        wall,
        cpu,
        rows: out.0,
    })
}

/// What a Rust programmer might write in a few minutes: a `HashSet` of the listed IMEIs'
/// text, probed with each line's third field (exact IMEIs only, no verdicts).
fn hash_join(listed: &HashSet<Vec<u8>>, log: &Path) -> Result<Run> {
    let before = cpu_times();
    let started = Instant::now();
    let mut input = std::io::BufReader::with_capacity(1 << 16, File::open(log)?);
    let mut out = LineCount(0);
    let mut line = Vec::new();
    while input.read_until(b'\n', &mut line)? > 0 {
        if line
            .split(|&b| b == b',')
            .nth(2)
            .is_some_and(|f| listed.contains(f))
        {
            out.write_all(&line)?;
        }
        line.clear();
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = before.zip(cpu_times()).map(|(a, b)| b.0 - a.0);
    Ok(Run {
        wall,
        cpu,
        rows: out.0,
    })
}

/// Scans the log into a counting sink.
fn scan(index: &Index, log: &Path, threads: usize, prefilter: bool) -> Result<Run> {
    let before = cpu_times();
    let started = Instant::now();
    let mut options = ScanOptions::new();
    options.threads(threads).prefilter(prefilter);
    let mut scanner = Scanner::new(index, &options)?;
    let mut out = LineCount(0);
    scanner.scan("log.csv", File::open(log)?, &mut out, None)?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = before.zip(cpu_times()).map(|(a, b)| b.0 - a.0);
    // The header row is written too; the tools print none.
    Ok(Run {
        wall,
        cpu,
        rows: out.0 - 1,
    })
}

/// Counts the lines written to it, as the tools' output is counted.
struct LineCount(u64);

impl Write for LineCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += memchr::memchr_iter(b'\n', buf).count() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
