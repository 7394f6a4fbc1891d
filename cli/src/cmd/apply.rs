//! `imei-index apply`: a base index and deltas in, the next full index out.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use imei_index::list::{DeltaReader, RowError};
use imei_index::register::DeltaImport;
use imei_index::{Apply, Delta, DeltaBuilder, Error, FormatError, Index, Source, Verification};

use super::build::{ListFormat, Rejects, input_is_zip, now_unix, register_options};

use super::{CliResult, Failure, Outcome, bytes, count, open_index, refuse_overlaps};

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index the deltas apply to (yesterday's).
    base: PathBuf,
    /// Delta lists (CSV: op,imei,status,reason,imsi,date, as `diff` writes them) or delta
    /// index files, oldest first. Within a delta list a later row for a target replaces
    /// an earlier one.
    #[arg(required_unless_present = "tac_db", value_name = "DELTA")]
    deltas: Vec<PathBuf>,
    /// The index file to write. It is written beside the file and renamed over it, never in
    /// place; publish it with `publish`.
    #[arg(short, long, value_name = "INDEX")]
    output: PathBuf,
    /// The new index's serial (default: the newest delta index's, else the base's + 1).
    #[arg(long)]
    serial: Option<u64>,
    /// What the deltas are: `csv`, delta lists or delta index files, or `dirbs`, a national
    /// register's delta files (its zips, their `_delta_` CSV files; see
    /// docs/register-files.md).
    #[arg(long, value_enum, default_value_t = ListFormat::Csv)]
    format: ListFormat,
    /// The source the deltas change (docs/semantics.md): for delta lists, the source of
    /// rows that name none (default `local`); with `--format dirbs`, the register's name,
    /// which starts its sources' names (default `dirbs`): give the one the index was built
    /// with.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    /// With `--format dirbs`: keep notified IMEIs tracked until the register's blacklist
    /// lists them; give it if the index was built with it.
    #[arg(long)]
    notified_stay_tracked: bool,
    /// Apply a register delta even when it does not start from the run the index records
    /// for its source (a skipped or repeated day).
    #[arg(long)]
    force: bool,
    /// Write delta rows that cannot be read, with their reason, to REJECTS (default:
    /// INDEX.rejects.csv) and apply the rest (`--format dirbs`); the exit status is still 1.
    #[arg(long, value_name = "REJECTS", num_args = 0..=1, require_equals = true)]
    skip_invalid: Option<Option<PathBuf>>,
    /// Replace the index's TAC database with this one (GSMA's export, as `build --tac-db`
    /// reads it); without deltas, the rules are written as they are.
    #[arg(long, value_name = "FILE")]
    tac_db: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    let mut inputs = vec![("base index", args.base.as_path())];
    inputs.extend(args.deltas.iter().map(|d| ("delta", d.as_path())));
    if let Some(db) = &args.tac_db {
        inputs.push(("TAC database", db.as_path()));
    }
    refuse_overlaps(&inputs, &[("output index", &args.output)])?;
    let started = Instant::now();
    let base = open_index(&args.base, Verification::Full)?;
    let mut rejected = None;
    let deltas = match args.format {
        ListFormat::Csv => {
            if args.notified_stay_tracked || args.skip_invalid.is_some() {
                return Err(Failure::new(
                    "--notified-stay-tracked and --skip-invalid are for a register's deltas: \
                     add --format dirbs",
                ));
            }
            let source = args
                .source
                .as_deref()
                .map(|name| {
                    Source::new(name).map_err(|e| {
                        Failure::new(format!(
                            "--source {name:?} is not a source name: {e}; use lower-case \
                             letters, digits and _ . / -, like local or operator"
                        ))
                    })
                })
                .transpose()?;
            let mut deltas = Vec::with_capacity(args.deltas.len());
            for path in &args.deltas {
                match read_delta(path, source.as_ref())? {
                    Some(d) => deltas.push(d),
                    None => return Ok(Outcome::Invalid),
                }
            }
            deltas
        }
        ListFormat::Dirbs => match read_register_deltas(args, &base)? {
            Some((deltas, r)) => {
                rejected = r;
                deltas
            }
            None => return Ok(Outcome::Invalid),
        },
    };
    let mut apply = Apply::new(&base, &deltas);
    if let Some(s) = args.serial {
        apply.serial(s);
    }
    apply.force(args.force);
    let tac_db = match &args.tac_db {
        Some(path) => match super::build::read_tac_db(path, None)? {
            Ok((table, summary)) => {
                apply.tac_db(table);
                Some((path, summary))
            }
            Err(outcome) => return Ok(outcome),
        },
        None => None,
    };
    let s = match apply.build_to_file(&args.output) {
        Ok(s) => s,
        Err(Error::RunIdMismatch {
            source_name,
            recorded,
            delta_from,
        }) => {
            eprintln!(
                "imei-index: error: a delta of {source_name} starts from the register's run \
                 {delta_from}, but {} records run {recorded} for it: a run was skipped or \
                 repeated, or the deltas are out of order; apply the deltas in order from run \
                 {recorded}, or rebuild from the register's full lists, or give --force to \
                 apply it anyway; {} was not written",
                args.base.display(),
                args.output.display()
            );
            return Ok(Outcome::Invalid);
        }
        Err(e) => return Err(e.into()),
    };
    let rejected = match rejected {
        Some((rows, path, prepared)) => {
            prepared.commit()?;
            Some((rows, path))
        }
        None => None,
    };
    println!(
        "applied {} delta{} to {} (serial {}, {} rules): {} added, {} changed, {} removed, {} unchanged",
        deltas.len(),
        if deltas.len() == 1 { "" } else { "s" },
        args.base.display(),
        base.serial(),
        count(s.base_rules),
        count(s.added),
        count(s.changed),
        count(s.removed),
        count(s.unchanged),
    );
    println!(
        "wrote {}: serial {}, {} rules, {} in {:.2} s",
        args.output.display(),
        s.serial,
        count(s.rules_written),
        bytes(s.index_bytes),
        started.elapsed().as_secs_f64()
    );
    if let Some((path, summary)) = tac_db {
        super::build::print_tac_db(path, &summary);
    }
    if s.missing > 0 {
        eprintln!(
            "imei-index: warning: {} removes named targets that neither the base nor an \
             earlier delta lists; check that the deltas were made for this base",
            count(s.missing)
        );
    }
    if let Some((rows, path)) = rejected
        && rows > 0
    {
        println!("rejected rows and their reasons: {}", path.display());
        eprintln!(
            "imei-index: error: {} row{} could not be read and {} left out: they are in {}, \
             each after its reason",
            count(rows),
            if rows == 1 { "" } else { "s" },
            if rows == 1 { "was" } else { "were" },
            path.display()
        );
        return Ok(Outcome::Invalid);
    }
    Ok(Outcome::Success)
}

/// A rejects file written out, to put in place once the index is.
type Rejected = (u64, PathBuf, super::Prepared);

/// A register's deltas, and the rejects file when rows were set aside.
type RegisterDeltas = (Vec<Delta>, Option<Rejected>);

/// Reads a register's delta files into deltas for `base`, accounting for every row; `None`
/// after reporting a row or file that stopped it.
fn read_register_deltas(args: &Args, base: &Index) -> Result<Option<RegisterDeltas>, Failure> {
    let rejects_path = args.skip_invalid.as_ref().map(|path| {
        path.clone().unwrap_or_else(|| {
            let mut p = args.output.clone().into_os_string();
            p.push(".rejects.csv");
            PathBuf::from(p)
        })
    });
    if let Some(r) = &rejects_path {
        refuse_overlaps(
            &[("base index", args.base.as_path())],
            &[
                ("rejects file", r.as_path()),
                ("output index", &args.output),
            ],
        )?;
    }
    let mut rejects = rejects_path.as_deref().map(Rejects::create).transpose()?;
    let options = register_options(args.source.as_deref(), args.notified_stay_tracked)?;
    let mut import = DeltaImport::new(base, options);
    let built = now_unix();
    let mut files = 0;
    for path in &args.deltas {
        let mut input = crate::input::RegisterInput::open(path)?;
        while let Some(next) = input.next_file() {
            let (file, reader) = next?;
            let Some(name) = &file.file else {
                eprintln!(
                    "imei-index: error: {}:1:1: {}",
                    file.name,
                    RowError::DirbsFullInApply
                );
                eprintln!("imei-index: error: nothing was written");
                return Ok(None);
            };
            // A register's zip holds the full list too: it is for `build`.
            if !name.is_delta() && input_is_zip(path) {
                continue;
            }
            files += 1;
            let mut write_error = None;
            let added = import.add_file(&file.name, name, reader, built, |e| {
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
            match added {
                Ok(()) => {}
                Err(Error::List(e)) if !matches!(e.kind, RowError::Io(_)) => {
                    eprintln!("imei-index: error: {e}");
                    eprintln!(
                        "imei-index: error: nothing was written{}",
                        if e.is_fatal() {
                            ""
                        } else {
                            "; fix the row, or use --skip-invalid to write bad rows aside and \
                             apply the rest"
                        }
                    );
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let (deltas, s) = import.finish()?;
    println!(
        "read {} rows from {} delta file{}: {} changes + {} merged + {} rejected",
        count(s.rows),
        files,
        if files == 1 { "" } else { "s" },
        count(s.changes),
        count(s.merged),
        count(s.rejected),
    );
    let rejected = match rejects {
        Some(r) => {
            let rows = r.rows;
            let path = r.out.path().to_path_buf();
            Some((rows, path, r.out.prepare()?))
        }
        None => None,
    };
    Ok(Some((deltas, rejected)))
}

/// Opens a delta index, or reads a delta list into one; `None` after reporting a bad row.
fn read_delta(path: &Path, source: Option<&Source>) -> Result<Option<Delta>, Failure> {
    match Delta::open_with(path, Verification::Full) {
        Ok(d) => return Ok(Some(d)),
        // Not an index file at all: a delta list.
        Err(e)
            if matches!(
                e.as_format(),
                Some(FormatError::Magic { .. } | FormatError::Empty)
            ) => {}
        Err(e) => return Err(e.into()),
    }
    let name = path.display().to_string();
    let file = File::open(path)
        .map_err(|e| Failure::new(format!("could not open the delta list {name}: {e}")))?;
    let mut builder = DeltaBuilder::new();
    let mut reader = DeltaReader::new(name, BufReader::with_capacity(1 << 16, file));
    if let Some(source) = source {
        reader = reader.source(source.clone());
    }
    match builder.add_list(reader, Err) {
        Ok(()) => {}
        Err(imei_index::Error::List(e)) if !e.is_fatal() => {
            eprintln!("imei-index: error: {e}");
            eprintln!("imei-index: error: nothing was written; fix the row and apply again");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Some(builder.build()?.0))
}
