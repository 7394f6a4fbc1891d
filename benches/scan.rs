//! Throughput of the reverification scan, against the baselines an engineer would use, in
//! the same run on the same log.
//!
//! ```sh
//! cargo bench --bench scan
//! ```
//!
//! The log is the demo's: the national list of seed 2024 and a seeded connection log of
//! 1,000,000 rows (about 63 MB; 5% listed equipment). Groups:
//!
//! * `scan`: the scanner from memory, on 1 and 2 threads, with and without its prefilter
//!   (every rule kind, pair rules with the IMSI, verdicts formatted).
//! * `baseline`: an in-process hash join of the listed IMEIs' text (`HashSet<&[u8]>` of the
//!   15-digit IMEIs, third field of each line: exact IMEIs only, no verdicts), and the
//!   system's `grep -F -f listed.txt` and `awk` hash join on the same file (page cache
//!   warm; skipped when the tool is missing).
//!
//! `examples/scan_vs_tools.rs` prints the same comparison as a table.

use std::collections::HashSet;
use std::hint::black_box;
use std::io::Write;
use std::process::{Command, Stdio};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imei_index::scan::{ScanOptions, Scanner};
use imei_index::synth::{ConnectionLog, NationalList};
use imei_index::{Index, IndexBuilder};

const ROWS: u64 = 1_000_000;

struct Data {
    index: Index,
    listed: Vec<String>,
    log: Vec<u8>,
    dir: tempfile::TempDir,
}

fn data() -> Data {
    let list = NationalList::generate(2024);
    let mut b = IndexBuilder::new();
    for r in &list.rules {
        b.add(r.clone());
    }
    let index = Index::from_bytes(b.build_to_vec().expect("build").0.into()).expect("open");
    let mut log = Vec::new();
    ConnectionLog::new(ROWS, 2024)
        .write(&list, &mut log)
        .expect("log");
    let listed: Vec<String> = list.blocked.iter().map(|i| i.to_string()).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("log.csv"), &log).expect("write log");
    std::fs::write(dir.path().join("listed.txt"), listed.join("\n") + "\n").expect("write list");
    Data {
        index,
        listed,
        log,
        dir,
    }
}

/// Counts what is written, so that output costs what a pipe to a file would, roughly.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let d = data();
    let mut g = c.benchmark_group("scan");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(d.log.len() as u64));
    for threads in [1, 2] {
        for prefilter in [true, false] {
            let name = format!(
                "{threads}-thread{}",
                if prefilter { "" } else { "-no-prefilter" }
            );
            let mut options = ScanOptions::new();
            options.threads(threads).prefilter(prefilter);
            g.bench_function(name, |b| {
                b.iter(|| {
                    let mut scanner = Scanner::new(&d.index, &options).expect("options");
                    let mut out = Sink(0);
                    scanner
                        .scan("log", &d.log[..], &mut out, None)
                        .expect("scan");
                    black_box(out.0)
                })
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("baseline");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(d.log.len() as u64));
    g.bench_function("hashset-join", |b| {
        let listed: HashSet<&[u8]> = d.listed.iter().map(|s| s.as_bytes()).collect();
        b.iter(|| {
            let mut out = Sink(0);
            for line in d.log.split(|&b| b == b'\n') {
                if line
                    .split(|&b| b == b',')
                    .nth(2)
                    .is_some_and(|f| listed.contains(f))
                {
                    out.write_all(line).expect("sink");
                    out.write_all(b"\n").expect("sink");
                }
            }
            black_box(out.0)
        })
    });
    let log = d.dir.path().join("log.csv").display().to_string();
    let listed = d.dir.path().join("listed.txt").display().to_string();
    let tools: [(&str, &str, Vec<&str>); 2] = [
        ("grep-F-f", "grep", vec!["-F", "-f", &listed, &log]),
        (
            "awk-hash-join",
            "awk",
            vec!["-F,", "NR==FNR{l[$1];next} ($3 in l)", &listed, &log],
        ),
    ];
    for (name, program, args) in tools {
        // The output goes through a pipe and is counted: GNU grep stops at the first match
        // when its output is /dev/null, which would measure nothing.
        let run = || -> std::io::Result<u64> {
            let mut child = Command::new(program)
                .args(&args)
                .env("LC_ALL", "C")
                .stdout(Stdio::piped())
                .spawn()?;
            let mut out = Sink(0);
            std::io::copy(&mut child.stdout.take().expect("piped"), &mut out)?;
            child.wait()?;
            Ok(out.0)
        };
        match run() {
            Ok(bytes) if bytes > 0 => {
                g.bench_function(name, |b| b.iter(|| run().expect("the tool runs")));
            }
            other => eprintln!("skipping {name}: {program} is not usable here ({other:?})"),
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
