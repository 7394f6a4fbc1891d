//! `imei-index build`: list files in, one index file out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use imei_index::list::{ListError, ListReader};
use imei_index::{BuildPhase, BuildSummary, ErrorChain, IndexBuilder, Progress, RuleKind, Status};
use indicatif::{ProgressBar, ProgressStyle};

use super::{CliResult, Failure, OutFile, Outcome, bytes, count, refuse_overlaps, warn};

/// Arguments of `build`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// List files to index (`-` reads standard input). Rules may repeat across lists; the
    /// most severe status wins.
    #[arg(required = true, value_name = "LIST")]
    lists: Vec<PathBuf>,
    /// The index file to write. It is written beside the file and renamed over it, never in
    /// place: readers see the old file or the new one, never a mix.
    #[arg(short, long, value_name = "INDEX")]
    output: PathBuf,
    /// Write rows that cannot be read, with their reason, to REJECTS (default:
    /// INDEX.rejects.csv) and build the rest, instead of stopping at the first bad row. The
    /// rejects file, like the index, is replaced only when the build succeeds. The exit
    /// status is still 1 when a row was rejected.
    #[arg(long, value_name = "REJECTS", num_args = 0..=1, require_equals = true)]
    skip_invalid: Option<Option<PathBuf>>,
    /// A list version to record in the index (for example 20240521), shown by `stats`.
    #[arg(long, default_value_t = 0)]
    serial: u64,
    /// Bound the memory that buffered rules take (e.g. 512M, 2G): beyond it, sorted runs
    /// are spilled beside the output and merged. Without it, rules stay in memory
    /// (about 16 bytes per rule).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<usize>,
    /// Bits of filter per IMEI: more make the file larger and checks of unlisted IMEIs
    /// faster (0 for none).
    #[arg(long, value_name = "BITS", default_value_t = imei_index::DEFAULT_FILTER_BITS)]
    filter_bits: u32,
}

/// Parses a byte size: a number with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "{s:?} is not a size: use a number with K, M, G or T, like 512M"
            ));
        }
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size: use a number with K, M, G or T, like 512M"))?;
    n.checked_mul(1usize << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Where rejected rows go: a list file of its own, each row preceded by a comment saying
/// why, so that it can be fixed and fed back to `build`.
struct Rejects {
    out: OutFile,
    rows: u64,
}

impl Rejects {
    fn create(path: &Path) -> Result<Rejects, Failure> {
        let mut out = OutFile::create(path)?;
        writeln!(
            out,
            "# rows that imei-index build rejected; fix them and build again"
        )?;
        Ok(Rejects { out, rows: 0 })
    }

    /// Writes a rejected row after a comment saying what is wrong with it. The row is
    /// written as it was read, byte for byte (not as text, which would turn bytes that are
    /// not UTF-8 into U+FFFD), so that the fixed row is the row that was meant.
    fn write(&mut self, e: &ListError) -> io::Result<()> {
        self.rows += 1;
        writeln!(self.out, "# {e}")?;
        self.out.write_all(e.row_bytes())?;
        self.out.write_all(b"\n")
    }
}

/// Counts bytes read into a progress bar.
struct CountingReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

pub(crate) fn run(args: &Args) -> CliResult {
    let started = Instant::now();
    let rejects_path = args.skip_invalid.as_ref().map(|path| {
        path.clone().unwrap_or_else(|| {
            let mut p = args.output.clone().into_os_string();
            p.push(".rejects.csv");
            PathBuf::from(p)
        })
    });
    let inputs: Vec<_> = args.lists.iter().map(|p| ("list", p.as_path())).collect();
    let mut outputs = vec![("output index", args.output.as_path())];
    if let Some(r) = &rejects_path {
        outputs.push(("rejects file", r));
    }
    refuse_overlaps(&inputs, &outputs)?;
    let mut rejects = rejects_path.as_deref().map(Rejects::create).transpose()?;
    let total: u64 = args
        .lists
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| m.len()))
        .sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );

    let mut builder = IndexBuilder::new();
    builder.serial(args.serial).filter_bits(args.filter_bits);
    if let Some(limit) = args.memory {
        // Spill beside the output: that file system must have room for the index anyway.
        let dir = match args.output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        builder.memory_limit(limit).temp_dir(dir);
    }
    let phase_bar = bar.clone();
    builder.progress(move |p: Progress| show_progress(&phase_bar, p));
    for path in &args.lists {
        let name = path.display().to_string();
        bar.set_message(format!("reading {name}"));
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(BufReader::new(io::stdin().lock()))
        } else {
            let file = File::open(path)
                .map_err(|e| Failure::new(format!("could not open the list {name}: {e}")))?;
            Box::new(BufReader::with_capacity(
                1 << 16,
                CountingReader {
                    inner: file,
                    bar: bar.clone(),
                },
            ))
        };
        let mut write_error = None;
        let added = builder.add_list(ListReader::new(name, reader), |e| match rejects.as_mut() {
            None => Err(e),
            Some(r) => {
                if let Err(io) = r.write(&e) {
                    write_error.get_or_insert(io);
                }
                Ok(())
            }
        });
        if let Some(e) = write_error {
            return Err(e.into());
        }
        match added {
            Ok(()) => {}
            Err(imei_index::Error::List(e)) if !e.is_fatal() => {
                bar.finish_and_clear();
                eprintln!("imei-index: error: {e}");
                eprintln!(
                    "imei-index: error: nothing was written; fix the row, or use --skip-invalid \
                     to write bad rows aside and build the rest"
                );
                return Ok(Outcome::Invalid);
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The rejects are written out before the index, so that a full disk stops the build
    // with neither file replaced; both go in place once everything is written.
    let rejected = rejects.map(|r| (r.rows, r.out.path().to_path_buf(), r.out.prepare()));
    let rejected = match rejected {
        Some((rows, path, prepared)) => Some((rows, path, prepared?)),
        None => None,
    };
    let summary = builder
        .build_to_file(&args.output)
        .map_err(|e| build_failure(e, &args.output))?;
    bar.finish_and_clear();
    let rejected = match rejected {
        Some((rows, path, prepared)) => {
            prepared.commit()?;
            Some((rows, path))
        }
        None => None,
    };
    print_summary(
        &summary,
        &args.output,
        args.lists.len(),
        started.elapsed().as_secs_f64(),
        "",
    );
    if summary.rules_written == 0 {
        warn(format_args!(
            "the list{} gave no rules, so {} lists no handset; check that the right list was \
             given (publish refuses an index with no rules unless --force)",
            if args.lists.len() == 1 { "" } else { "s" },
            args.output.display()
        ));
    }
    if let Some((rows, path)) = &rejected
        && *rows > 0
    {
        println!("rejected rows and their reasons: {}", path.display());
        // The index was written, but without these rows: some input was invalid (exit 1),
        // as `check` and `scan` say when they go on past bad input.
        let (noun, were) = if *rows == 1 {
            ("row", "was")
        } else {
            ("rows", "were")
        };
        eprintln!(
            "imei-index: error: {} {noun} could not be read and {were} left out of the index: \
             they are in {}, each after its reason; fixed, that file is a list to build from",
            count(*rows),
            path.display()
        );
        return Ok(Outcome::Invalid);
    }
    Ok(Outcome::Success)
}

/// A build that failed left its output as it was. A failed spill names the directory the
/// runs go to (beside the output, so usually a full disk there): name the output too.
fn build_failure(e: imei_index::Error, output: &Path) -> Failure {
    match &e {
        imei_index::Error::Io { action, .. } if action.contains("spill") => Failure::new(format!(
            "{}; {} was left as it was",
            ErrorChain(&e),
            output.display()
        )),
        _ => e.into(),
    }
}

/// Turns the builder's progress reports into the bar: while reading, it counts bytes of the
/// lists; the resolving and writing phases count rules.
fn show_progress(bar: &ProgressBar, p: Progress) {
    match p.phase {
        BuildPhase::Spilling => {
            bar.set_message(format!(
                "reading lists ({} rules spilled to disk)",
                count(p.done)
            ));
        }
        phase => {
            if bar.length() != Some(p.total) {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} rules ({eta})",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar.set_length(p.total);
            }
            bar.set_message(if phase == BuildPhase::Resolving {
                "merging rules"
            } else {
                "writing the index"
            });
            bar.set_position(p.done);
        }
    }
}

/// Prints what a build did, accounting for every row.
pub(crate) fn print_summary(
    s: &BuildSummary,
    output: &Path,
    lists: usize,
    secs: f64,
    indent: &str,
) {
    println!(
        "{indent}read {} rows from {} list{}: {} rules written + {} merged ({} with conflicting status) + {} rejected",
        count(s.rows_read()),
        lists,
        if lists == 1 { "" } else { "s" },
        count(s.rules_written),
        count(s.merged),
        count(s.conflicts),
        count(s.rejected),
    );
    let kinds: Vec<String> = RuleKind::ALL
        .iter()
        .map(|&k| format!("{} {}", k, count(s.counts.of_kind(k))))
        .collect();
    let statuses: Vec<String> = Status::ALL
        .iter()
        .rev()
        .map(|&st| format!("{} {}", st, count(s.counts.of_status(st))))
        .collect();
    println!("{indent}  rules by kind: {}", kinds.join(", "));
    println!("{indent}  rules by status: {}", statuses.join(", "));
    let per_rule = if s.rules_written > 0 {
        format!(
            ", {:.2} bytes per rule",
            s.index_bytes as f64 / s.rules_written as f64
        )
    } else {
        String::new()
    };
    println!(
        "{indent}wrote {}: {}{} in {:.2} s",
        output.display(),
        bytes(s.index_bytes),
        per_rule,
        secs
    );
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
    }
}
