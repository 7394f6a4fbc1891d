//! `imei-index build`: list files in, one index file out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use imei_index::list::{ListError, ListReader, RowError, tacdb};
use imei_index::register::{Import, RegisterOptions};
use imei_index::{
    BuildPhase, BuildSummary, ErrorChain, IndexBuilder, Progress, RuleKind, Source, Status,
};
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
    /// Write the exact-IMEI rules in the `imei` transducer, as builds did before IMEI
    /// blocks (section 13), for readers that predate them; the file is about twice as large
    /// and answers the same (docs/compatibility.md).
    #[arg(long)]
    imei_transducer: bool,
    /// What the lists are: `csv`, this tool's own list format, or `dirbs`, a national
    /// register's full lists (its zips, their CSV files, or `-`; see docs/register-files.md).
    #[arg(long, value_enum, default_value_t = ListFormat::Csv)]
    pub(crate) format: ListFormat,
    /// The source the rules belong to (docs/semantics.md). For `--format csv`, the source's
    /// name (default `local`); for `--format dirbs`, the register's name, which starts its
    /// sources' names: NAME/blacklist, NAME/notifications/OP, NAME/exceptions/OP (default
    /// `dirbs`).
    #[arg(long, value_name = "NAME")]
    pub(crate) source: Option<String>,
    /// The register's run the lists are from (`--format dirbs`; DIRBS numbers its runs),
    /// recorded for each of its sources: `apply` then refuses a delta that does not start
    /// from it.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    run_id: Option<i64>,
    /// Keep notified IMEIs tracked until the register's blacklist lists them, instead of
    /// blocking them from their block date (`--format dirbs`).
    #[arg(long)]
    pub(crate) notified_stay_tracked: bool,
    /// GSMA's TAC database (its `|`-separated export, either header) to store in the index:
    /// verdicts then name the model (`check --json`), and `--tac-policy` can answer for IMEIs
    /// of TACs it does not list (docs/register-files.md). Its bad rows are handled like a
    /// list's (stop, or with --skip-invalid go to the rejects file).
    #[arg(long, value_name = "FILE")]
    pub(crate) tac_db: Option<PathBuf>,
}

/// The formats of list files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ListFormat {
    /// This tool's CSV: imei,status,reason,imsi,date,start.
    Csv,
    /// A national register's (DIRBS) list files, zipped or not.
    Dirbs,
}

/// The register options of the command line's flags.
pub(crate) fn register_options(
    source: Option<&str>,
    notified_stay_tracked: bool,
) -> Result<RegisterOptions, Failure> {
    let mut options = RegisterOptions::new();
    if let Some(name) = source {
        options.register(name).map_err(|e| {
            Failure::new(format!(
                "--source {name:?} cannot name a register: {e}; use lower-case letters, digits \
                 and _ . / -, like dirbs"
            ))
        })?;
    }
    options.notified_stay_tracked(notified_stay_tracked);
    Ok(options)
}

/// The current time in unix seconds, recorded as the build time of the sources read.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
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
pub(crate) struct Rejects {
    pub(crate) out: OutFile,
    pub(crate) rows: u64,
}

impl Rejects {
    pub(crate) fn create(path: &Path) -> Result<Rejects, Failure> {
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
    pub(crate) fn write(&mut self, e: &ListError) -> io::Result<()> {
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
    let mut inputs: Vec<_> = args.lists.iter().map(|p| ("list", p.as_path())).collect();
    if let Some(db) = &args.tac_db {
        inputs.push(("TAC database", db.as_path()));
    }
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
    builder
        .serial(args.serial)
        .filter_bits(args.filter_bits)
        .imei_transducer(args.imei_transducer);
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
    if args.format == ListFormat::Csv && (args.run_id.is_some() || args.notified_stay_tracked) {
        return Err(Failure::new(
            "--run-id and --notified-stay-tracked are for a register's lists: add --format dirbs",
        ));
    }
    let csv_source = match (args.format, &args.source) {
        (ListFormat::Csv, Some(name)) => Some(Source::new(name).map_err(|e| {
            Failure::new(format!(
                "--source {name:?} is not a source name: {e}; use lower-case letters, digits \
                 and _ . / -, like local or operator"
            ))
        })?),
        _ => None,
    };
    let mut files = 0;
    let mut import = match args.format {
        ListFormat::Dirbs => Some(Import::new(register_options(
            args.source.as_deref(),
            args.notified_stay_tracked,
        )?)),
        ListFormat::Csv => None,
    };
    if let Some(import) = &mut import {
        for path in &args.lists {
            let mut input = crate::input::RegisterInput::open(path)?;
            while let Some(next) = input.next_file() {
                let (file, reader) = next?;
                // A register's zip holds the list's deltas too: they are for `apply`.
                if file.file.as_ref().is_some_and(|f| f.is_delta()) && input_is_zip(path) {
                    continue;
                }
                files += 1;
                bar.set_message(format!("reading {}", file.name));
                let mut write_error = None;
                let added =
                    import.add_file(&mut builder, &file.name, file.file.as_ref(), reader, |e| {
                        match rejects.as_mut() {
                            None => Err(e),
                            Some(r) => {
                                if let Err(io) = r.write(&e) {
                                    write_error.get_or_insert(io);
                                }
                                Ok(())
                            }
                        }
                    });
                if let Some(e) = write_error {
                    return Err(e.into());
                }
                if let Some(outcome) = row_failure(added, &bar)? {
                    return Ok(outcome);
                }
            }
        }
    }
    if let Some(import) = import {
        import.finish(&mut builder, args.run_id, now_unix());
    }
    for path in args.lists.iter().filter(|_| args.format == ListFormat::Csv) {
        files += 1;
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
        let mut list = ListReader::new(name, reader);
        if let Some(source) = &csv_source {
            list = list.source(source.clone());
        }
        // Parsing is most of a build's work: the rows are parsed on every core, and come
        // back in order.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let list = list.parallel(threads);
        let added = builder.add_list(list, |e| match rejects.as_mut() {
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
        if let Some(outcome) = row_failure(added, &bar)? {
            return Ok(outcome);
        }
    }
    let tac_db = match &args.tac_db {
        Some(path) => {
            bar.set_message(format!("reading {}", path.display()));
            match read_tac_db(path, rejects.as_mut())? {
                Ok((table, summary)) => {
                    builder.tac_db(table);
                    Some((path, summary))
                }
                Err(outcome) => {
                    bar.finish_and_clear();
                    return Ok(outcome);
                }
            }
        }
        None => None,
    };
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
        files,
        started.elapsed().as_secs_f64(),
        "",
    );
    if let Some((path, s)) = tac_db {
        print_tac_db(path, &s);
    }
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

/// Reads GSMA's TAC database, its bad rows to the rejects file when there is one; a bad row
/// without one, or a header that is missing or lacks a column, stops the command (the
/// outcome is returned after the error is printed).
pub(crate) fn read_tac_db(
    path: &Path,
    mut rejects: Option<&mut Rejects>,
) -> Result<Result<(imei_index::TacTable, tacdb::TacDbSummary), Outcome>, Failure> {
    let name = path.display().to_string();
    let file = File::open(path)
        .map_err(|e| Failure::new(format!("could not open the TAC database {name}: {e}")))?;
    let reader = tacdb::Reader::new(name, BufReader::with_capacity(1 << 16, file));
    let mut table = imei_index::TacTable::new();
    let mut write_error = None;
    let read = tacdb::read_into(&mut table, reader, |e| match rejects.as_mut() {
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
    match read {
        Ok(summary) => Ok(Ok((table, summary))),
        Err(e) if matches!(e.kind, RowError::Io(_)) => Err(imei_index::Error::List(e).into()),
        Err(e) => {
            eprintln!("imei-index: error: {e}");
            if e.is_fatal() {
                eprintln!("imei-index: error: nothing was written");
            } else {
                eprintln!(
                    "imei-index: error: nothing was written; fix the row, or use \
                     --skip-invalid to write bad rows aside and build the rest"
                );
            }
            Ok(Err(Outcome::Invalid))
        }
    }
}

/// The TAC database's line of a summary: every row accounted for.
pub(crate) fn print_tac_db(path: &Path, s: &tacdb::TacDbSummary) {
    println!(
        "TAC database {}: {} rows = {} TACs stored + {} duplicates (first row kept) + {} rejected",
        path.display(),
        count(s.rows),
        count(s.stored),
        count(s.duplicates),
        count(s.rejected)
    );
}

/// True when the input is a zip (as `RegisterInput::open` tells them).
pub(crate) fn input_is_zip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        || File::open(path)
            .and_then(|mut f| {
                let mut head = [0u8; 4];
                f.read_exact(&mut head).map(|()| head)
            })
            .is_ok_and(|h| h == *b"PK\x03\x04" || h == *b"PK\x05\x06")
}

/// A row that stopped the build: reported, and nothing written (exit 1).
fn row_failure(
    added: Result<impl Sized, imei_index::Error>,
    bar: &ProgressBar,
) -> Result<Option<Outcome>, Failure> {
    match added {
        Ok(_) => Ok(None),
        Err(imei_index::Error::List(e)) if !e.is_fatal() => {
            bar.finish_and_clear();
            eprintln!("imei-index: error: {e}");
            eprintln!(
                "imei-index: error: nothing was written; fix the row, or use --skip-invalid \
                 to write bad rows aside and build the rest"
            );
            Ok(Some(Outcome::Invalid))
        }
        // A register file that cannot be read as the list it is given as: refused whole.
        Err(imei_index::Error::List(e)) if !matches!(e.kind, RowError::Io(_)) => {
            bar.finish_and_clear();
            eprintln!("imei-index: error: {e}");
            eprintln!("imei-index: error: nothing was written");
            Ok(Some(Outcome::Invalid))
        }
        Err(e) => Err(e.into()),
    }
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
