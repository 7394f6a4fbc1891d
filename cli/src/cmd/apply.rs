//! `imei-index apply`: a base index and deltas in, the next full index out.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use imei_index::list::DeltaReader;
use imei_index::{Apply, Delta, DeltaBuilder, FormatError, Verification};

use super::{CliResult, Failure, Outcome, bytes, count, open_index, refuse_overlaps};

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index the deltas apply to (yesterday's).
    base: PathBuf,
    /// Delta lists (CSV: op,imei,status,reason,imsi,date, as `diff` writes them) or delta
    /// index files, oldest first. Within a delta list a later row for a target replaces
    /// an earlier one.
    #[arg(required = true, value_name = "DELTA")]
    deltas: Vec<PathBuf>,
    /// The index file to write. It is written beside the file and renamed over it, never in
    /// place; publish it with `publish`.
    #[arg(short, long, value_name = "INDEX")]
    output: PathBuf,
    /// The new index's serial (default: the newest delta index's, else the base's + 1).
    #[arg(long)]
    serial: Option<u64>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    let mut inputs = vec![("base index", args.base.as_path())];
    inputs.extend(args.deltas.iter().map(|d| ("delta", d.as_path())));
    refuse_overlaps(&inputs, &[("output index", &args.output)])?;
    let started = Instant::now();
    let base = open_index(&args.base, Verification::Full)?;
    let mut deltas = Vec::with_capacity(args.deltas.len());
    for path in &args.deltas {
        match read_delta(path)? {
            Some(d) => deltas.push(d),
            None => return Ok(Outcome::Invalid),
        }
    }
    let mut apply = Apply::new(&base, &deltas);
    if let Some(s) = args.serial {
        apply.serial(s);
    }
    let s = apply.build_to_file(&args.output)?;
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
    if s.missing > 0 {
        eprintln!(
            "imei-index: warning: {} removes named targets that neither the base nor an \
             earlier delta lists; check that the deltas were made for this base",
            count(s.missing)
        );
    }
    Ok(Outcome::Success)
}

/// Opens a delta index, or reads a delta list into one; `None` after reporting a bad row.
fn read_delta(path: &Path) -> Result<Option<Delta>, Failure> {
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
    match builder.add_list(
        DeltaReader::new(name, BufReader::with_capacity(1 << 16, file)),
        Err,
    ) {
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
