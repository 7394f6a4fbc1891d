//! `imei-index bench`: the index against the alternatives, on one synthetic list, in about
//! a minute. The criterion suite (`cargo bench`) measures the same things more carefully;
//! this prints one comparison table on any machine, without a Rust toolchain.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use imei_index::synth::{ListShape, Rng, probes, probes_half_random};
use imei_index::{
    DEFAULT_FILTER_BITS, Date, Entry, Imei, IndexBuilder, OpenOptions, Reason, Rule, Source,
    Status, Tac, Verification,
};

use super::{CliResult, Failure, OutFile, Outcome, bytes, count};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rules (distinct IMEIs) in the synthetic list.
    #[arg(long, default_value_t = 20_000_000, value_name = "N")]
    rules: u64,
    /// Probes per probe set.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    probes: usize,
    /// Bits of filter per IMEI in the index (0: none).
    #[arg(long, default_value_t = DEFAULT_FILTER_BITS)]
    filter_bits: u32,
    /// Also write the check times as a bar chart (SVG) to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// The list's shape: `clustered` (IMEIs clustered in TACs, every rule blocked, no
    /// reason), `register` (the same IMEIs as a register lists them: three statuses, four
    /// reasons, block dates over five years, three sources), `uniform` (serials spread
    /// uniformly over 100,000 TACs) or `dense` (runs of 900,000 consecutive serials, one per
    /// TAC).
    #[arg(long, value_enum, default_value_t = Shape::Clustered)]
    shape: Shape,
    /// Seed of the synthetic list and probes.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Internal: build once in this process (so that its peak memory is the build's) and
    /// print the seconds and peak bytes.
    #[arg(long, hide = true, value_enum, value_name = "INPUT")]
    build_only: Option<Input>,
    /// Internal: where `--build-only` writes the index.
    #[arg(long, hide = true, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Internal: with `--build-only`, generate the rules while adding them instead of
    /// before, so that the whole process's peak memory is the build's (for `time -v`).
    #[arg(long, hide = true)]
    stream: bool,
}

/// The synthetic list's shape; see `--shape`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Shape {
    Clustered,
    Register,
    Uniform,
    Dense,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Clustered => "clustered",
            Shape::Register => "register",
            Shape::Uniform => "uniform",
            Shape::Dense => "dense",
        }
    }

    /// The listed IMEIs, sorted and distinct, and whether `ListShape` made them.
    fn listed(self, n: u64, seed: u64) -> Vec<Imei> {
        match self {
            Shape::Clustered | Shape::Register => ListShape::new(n, seed).imeis().collect(),
            Shape::Uniform => {
                let mut rng = Rng::new(seed ^ 0x756e_6966);
                let mut v: Vec<Imei> = (0..n)
                    .map(|_| {
                        let tac = 30_000_000 + rng.below(100_000) as u32 * 499;
                        Imei::from_parts(
                            Tac::from_u32(tac).expect("8 digits"),
                            rng.below(1_000_000) as u32,
                        )
                        .expect("serial")
                    })
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            Shape::Dense => (0..n)
                .map(|i| {
                    let tac = Tac::from_u32(35_000_000 + (i / 900_000) as u32).expect("8 digits");
                    Imei::from_parts(tac, (i % 900_000) as u32).expect("serial")
                })
                .collect(),
        }
    }

    /// An IMEI's rule: blocked and bare, or for `register` a status, reason, date and
    /// source drawn from a hash of the IMEI (so that every build makes the same rules).
    fn rule(self, imei: Imei) -> Rule {
        if self != Shape::Register {
            return Rule::imei(imei, Entry::new(Status::Blocked));
        }
        let h = imei.as_u64().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
        let status = match h % 10 {
            0..=6 => Status::Blocked,
            7 | 8 => Status::Tracked,
            _ => Status::Allowed,
        };
        let reason = [
            Reason::Stolen,
            Reason::Lost,
            Reason::Counterfeit,
            Reason::Other,
        ][(h / 10 % 4) as usize];
        let date = Date::from_days_since_epoch(17_897 + (h / 40 % 1826) as u32).expect("a day");
        let source = ["dirbs", "gsma", "operator"][(h / 73_040 % 3) as usize];
        Rule::imei(imei, Entry::new(status).with_reason(reason).with_date(date))
            .with_source(Source::new(source).expect("a source name"))
    }
}

/// How a benchmark build gets its rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Input {
    /// In ascending order.
    Sorted,
    /// In random order.
    Unsorted,
    /// In random order, with a memory limit of a quarter of what the rules take.
    Bounded,
}

/// Nanoseconds per check on the two probe sets.
#[derive(Clone, Copy, Debug)]
struct Times {
    realistic: f64,
    half: f64,
}

/// One structure's row of the table.
struct Row {
    name: &'static str,
    bytes_per_rule: Option<f64>,
    ready: String,
    times: Times,
}

pub(crate) fn run(args: &Args) -> CliResult {
    if args.rules == 0 || args.probes == 0 {
        return Err(Failure::new("--rules and --probes must be at least 1"));
    }
    if let (Some(input), Some(output)) = (args.build_only, &args.output) {
        let (secs, peak) = build(args, input, output)?;
        println!("{secs} {}", peak.unwrap_or(0));
        return Ok(Outcome::Success);
    }
    let temp = tempfile::tempdir()
        .map_err(|e| Failure::new(format!("could not create a temporary directory: {e}")))?;
    let n = args.rules;
    println!(
        "imei-index bench: {} distinct IMEIs clustered in TACs, {} probes per set",
        count(n),
        count(args.probes as u64)
    );
    println!("machine: {}", machine());
    println!();

    let listed: Vec<Imei> = args.shape.listed(n, args.seed);
    let n = listed.len() as u64;
    println!("shape: {}", args.shape.name());
    let realistic = probes(&listed, args.probes, 0.001, args.seed ^ 1);
    let half = probes_half_random(&listed, args.probes, args.seed ^ 2);

    // Builds, each in a process of its own so that its peak memory is its own.
    println!("building the index from sorted, unsorted, and unsorted rules in bounded memory");
    let path = temp.path().join("bench.imeiidx");
    let sorted = measure_build(args, Input::Sorted, &path)?;
    let unsorted = measure_build(args, Input::Unsorted, &path)?;
    let bounded = measure_build(args, Input::Bounded, &path)?;
    let file_bytes = std::fs::metadata(&path)
        .map_err(|e| Failure::new(format!("could not read {}: {e}", path.display())))?
        .len();

    // The first answer: open the file (trusted, as an EIR worker opens a published index)
    // and check one IMEI.
    let first = |level: Verification| -> Result<f64, Failure> {
        let t = Instant::now();
        let index = OpenOptions::new().verification(level).open(&path)?;
        black_box(index.check(realistic[0]));
        Ok(t.elapsed().as_secs_f64())
    };
    let trusted = best_of(5, || first(Verification::Trusted))?;
    let checksums = best_of(3, || first(Verification::Checksums))?;
    let index = OpenOptions::new()
        .verification(Verification::Trusted)
        .open(&path)?;
    // The same rules with the exact-IMEI rules in the `imei` transducer, as builds wrote them
    // before IMEI blocks ("v1" rows).
    let v1_path = temp.path().join("bench-v1.imeiidx");
    {
        let mut b = IndexBuilder::new();
        b.filter_bits(args.filter_bits).imei_transducer(true);
        for &i in &listed {
            b.add(args.shape.rule(i));
        }
        b.build_to_file(&v1_path)?;
    }
    let v1 = OpenOptions::new()
        .verification(Verification::Trusted)
        .open(&v1_path)?;
    let v1_bytes = v1.as_bytes().len() as u64;

    let t = Instant::now();
    let set: HashSet<u64> = listed.iter().map(|i| i.as_u64()).collect();
    black_box(set.contains(&realistic[0].as_u64()));
    let set_ready = t.elapsed().as_secs_f64();
    let set_bytes = hash_set_bytes(&set);
    let vec: Vec<u64> = listed.iter().map(|i| i.as_u64()).collect();
    let t = Instant::now();
    let map = fst::Map::from_iter(listed.iter().map(|&i| (key(i), 0u64)))
        .map_err(|e| Failure::new(format!("building the fst map failed: {e}")))?;
    let map_ready = t.elapsed().as_secs_f64();

    println!("checking");
    let time = |check: &dyn Fn(&[Imei]) -> usize| Times {
        realistic: ns_per_check(&realistic, check),
        half: ns_per_check(&half, check),
    };
    let rows = vec![
        Row {
            name: "imei-index check",
            bytes_per_rule: Some(file_bytes as f64 / n as f64),
            ready: format!("open {}", duration(trusted)),
            times: time(&|p| p.iter().filter(|&&i| index.check(i).is_listed()).count()),
        },
        Row {
            name: "imei-index check_many",
            bytes_per_rule: None,
            ready: String::new(),
            times: time(&|p| {
                p.chunks(4096)
                    .map(|c| index.check_many(c).iter().filter(|v| v.is_listed()).count())
                    .sum()
            }),
        },
        Row {
            name: "v1 (IMEI fst) check",
            bytes_per_rule: Some(v1_bytes as f64 / n as f64),
            ready: String::new(),
            times: time(&|p| p.iter().filter(|&&i| v1.check(i).is_listed()).count()),
        },
        Row {
            name: "v1 (IMEI fst) many",
            bytes_per_rule: None,
            ready: String::new(),
            times: time(&|p| {
                p.chunks(4096)
                    .map(|c| v1.check_many(c).iter().filter(|v| v.is_listed()).count())
                    .sum()
            }),
        },
        Row {
            name: "HashSet<u64>",
            bytes_per_rule: Some(set_bytes as f64 / n as f64),
            ready: format!("build {}", duration(set_ready)),
            times: time(&|p| p.iter().filter(|i| set.contains(&i.as_u64())).count()),
        },
        Row {
            name: "sorted Vec<u64>",
            bytes_per_rule: Some(8.0),
            ready: String::new(),
            times: time(&|p| {
                p.iter()
                    .filter(|i| vec.binary_search(&i.as_u64()).is_ok())
                    .count()
            }),
        },
        Row {
            name: "fst::Map::get",
            bytes_per_rule: Some(map.as_fst().as_bytes().len() as f64 / n as f64),
            ready: format!("build {}", duration(map_ready)),
            times: time(&|p| p.iter().filter(|&&i| map.get(key(i)).is_some()).count()),
        },
    ];

    let base = rows[4].times;
    println!();
    println!(
        "{:<22} {:>10} {:>16} {:>20} {:>20}",
        "structure", "bytes/rule", "ready in", "realistic ns/check", "50/50 ns/check"
    );
    for r in &rows {
        println!(
            "{:<22} {:>10} {:>16} {:>20} {:>20}",
            r.name,
            r.bytes_per_rule
                .map_or(String::new(), |b| format!("{b:.2}")),
            r.ready,
            format!(
                "{:.0} ({:.1}x)",
                r.times.realistic,
                r.times.realistic / base.realistic
            ),
            format!("{:.0} ({:.1}x)", r.times.half, r.times.half / base.half),
        );
    }
    println!();
    println!(
        "index file {} ({:.2} bytes/rule, {:.2}x the HashSet's memory); opened trusted and \
         answered in {}, with checksums verified in {}",
        bytes(file_bytes),
        file_bytes as f64 / n as f64,
        file_bytes as f64 / set_bytes as f64,
        duration(trusted),
        duration(checksums),
    );
    for (what, b) in [
        ("sorted", &sorted),
        ("unsorted", &unsorted),
        ("unsorted, 1/4 memory", &bounded),
    ] {
        println!(
            "build from {what} rules: {:.2}M rules/s, peak memory {} ({:.1} bytes/rule)",
            n as f64 / b.secs / 1e6,
            b.peak.map_or("unknown".into(), bytes),
            b.peak.map_or(0.0, |p| p as f64 / n as f64),
        );
    }
    println!(
        "realistic: 0.1% listed, the rest unlisted IMEIs of listed TACs; 50/50: half listed, \
         half uniform over all IMEIs; (Nx): time relative to HashSet<u64>"
    );
    if let Some(svg) = &args.svg {
        write_svg(svg, n, &rows)?;
        println!("chart: {}", svg.display());
    }
    Ok(Outcome::Success)
}

fn key(i: Imei) -> [u8; 6] {
    let b = i.as_u64().to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Nanoseconds per check over all probes, the best of three passes.
fn ns_per_check(probes: &[Imei], check: &dyn Fn(&[Imei]) -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        black_box(check(probes));
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e9 / probes.len() as f64
}

fn best_of(n: usize, mut f: impl FnMut() -> Result<f64, Failure>) -> Result<f64, Failure> {
    let mut best = f64::MAX;
    for _ in 0..n {
        best = best.min(f()?);
    }
    Ok(best)
}

/// Builds the benchmark index from the synthetic list in the order asked, and returns the
/// seconds and the peak memory it took. The rules are generated first, so that neither
/// figure counts making them up.
fn build(args: &Args, input: Input, output: &Path) -> Result<(f64, Option<u64>), Failure> {
    let shape = ListShape::new(args.rules, args.seed);
    let other = match args.shape {
        Shape::Clustered | Shape::Register => Vec::new(),
        s => {
            let mut v = s.listed(args.rules, args.seed);
            if input != Input::Sorted {
                Rng::new(args.seed).shuffle(&mut v);
            }
            v
        }
    };
    let generate = || -> Box<dyn Iterator<Item = Imei> + '_> {
        match (args.shape, input) {
            (Shape::Uniform | Shape::Dense, _) => Box::new(other.iter().copied()),
            (_, Input::Sorted) => Box::new(shape.imeis()),
            (_, Input::Unsorted | Input::Bounded) => Box::new(shape.imeis_unsorted(args.seed)),
        }
    };
    let imeis: Vec<Imei> = if args.stream {
        Vec::new()
    } else {
        generate().collect()
    };
    let before = memory("VmRSS:");
    // Linux: start the peak-memory record afresh from here.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let t = Instant::now();
    let mut b = IndexBuilder::new();
    b.filter_bits(args.filter_bits);
    if input == Input::Bounded {
        // A quarter of the 16 bytes a rule takes in memory: four sorted runs, merged.
        let dir = output.parent().unwrap_or(Path::new("."));
        b.memory_limit((args.rules as usize).saturating_mul(4))
            .temp_dir(dir);
    }
    let rules: Box<dyn Iterator<Item = Imei>> = if args.stream {
        generate()
    } else {
        Box::new(imeis.iter().copied())
    };
    for i in rules {
        b.add(args.shape.rule(i));
    }
    b.build_to_file(output)?;
    let secs = t.elapsed().as_secs_f64();
    let peak = memory("VmHWM:")
        .zip(before)
        .filter(|_| reset)
        .map(|(peak, before)| peak.saturating_sub(before));
    Ok((secs, peak))
}

/// A build's time and peak resident memory.
struct Build {
    secs: f64,
    peak: Option<u64>,
}

/// Runs one build in a child process (this program with `bench --build-only`), which
/// reports its time and peak memory.
fn measure_build(args: &Args, input: Input, output: &Path) -> Result<Build, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(format!("could not find this program to re-run it: {e}")))?;
    let mode = match input {
        Input::Sorted => "sorted",
        Input::Unsorted => "unsorted",
        Input::Bounded => "bounded",
    };
    let out = std::process::Command::new(exe)
        .args(["bench", "--build-only", mode, "--output"])
        .arg(output)
        .args(["--rules", &args.rules.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--shape", args.shape.name()])
        .args(["--filter-bits", &args.filter_bits.to_string()])
        .output()
        .map_err(|e| Failure::new(format!("could not run the {mode} build: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut fields = stdout.split_whitespace();
    let secs = fields.next().and_then(|s| s.parse::<f64>().ok());
    let peak = fields.next().and_then(|s| s.parse::<u64>().ok());
    match (out.status.success(), secs) {
        (true, Some(secs)) => Ok(Build {
            secs,
            peak: peak.filter(|&p| p > 0),
        }),
        _ => Err(Failure::new(format!(
            "the {mode} build failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// A memory figure of this process from `/proc/self/status`, in bytes (Linux): `VmRSS:`
/// now, `VmHWM:` the peak.
fn memory(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Heap bytes of a `HashSet<u64>`: hashbrown's buckets (7/8 full at most, a power of two)
/// of 8 bytes plus a control byte each.
fn hash_set_bytes(s: &HashSet<u64>) -> u64 {
    let buckets = (s.capacity() * 8 / 7).next_power_of_two().max(4);
    (buckets * 9 + 16) as u64
}

fn duration(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

/// CPU model, cores and load, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    format!("{cpu}, {cores} cores, load average {load}")
}

/// A bar chart of the check times: two bars per structure.
fn write_svg(path: &Path, n: u64, rows: &[Row]) -> Result<(), Failure> {
    let max = rows
        .iter()
        .flat_map(|r| [r.times.realistic, r.times.half])
        .fold(1.0f64, f64::max);
    let (left, width, bar, gap) = (190.0, 480.0, 14.0, 12.0);
    let height = 60.0 + rows.len() as f64 * (2.0 * bar + gap) + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">"#,
        w = left + width + 80.0
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14">Nanoseconds per check, {} IMEIs (shorter is faster)</text>"#,
        count(n)
    );
    let legend = [("#1f77b4", "realistic probes"), ("#ff7f0e", "50/50 probes")];
    for (i, (color, label)) in legend.iter().enumerate() {
        let x = left + i as f64 * 160.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{color}"/><text x="{}" y="42">{label}</text>"#,
            x + 16.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = 60.0 + i as f64 * (2.0 * bar + gap);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + bar + 4.0,
            r.name.replace('<', "&lt;").replace('>', "&gt;")
        );
        for (j, (v, (color, _))) in [r.times.realistic, r.times.half]
            .iter()
            .zip(legend)
            .enumerate()
        {
            let yy = y + j as f64 * bar;
            let w = (v / max * width).max(1.0);
            let _ = writeln!(
                s,
                r#"<rect x="{left}" y="{yy}" width="{w:.1}" height="{}" fill="{color}"/><text x="{:.1}" y="{:.1}">{v:.0}</text>"#,
                bar - 2.0,
                left + w + 4.0,
                yy + bar - 4.0
            );
        }
    }
    s.push_str("</svg>\n");
    let mut out = OutFile::create(path)?;
    std::io::Write::write_all(&mut out, s.as_bytes())?;
    out.commit()
}
