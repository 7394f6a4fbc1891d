//! `imei-index diff`: the changes from one index to another, as a delta list.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use imei_index::list::{DELTA_COLUMNS, format_change};
use imei_index::{Change, Verification, diff};

use super::{CliResult, Failure, Outcome, count, open_index};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The older index.
    old: PathBuf,
    /// The newer index.
    new: PathBuf,
    /// Write the delta list to this file instead of standard output.
    #[arg(short, long, value_name = "DELTA")]
    output: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    // Full verification: a diff must not miss rules that a damaged file hides.
    let old = open_index(&args.old, Verification::Full)?;
    let new = open_index(&args.new, Verification::Full)?;
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            File::create(p)
                .map_err(|e| Failure::new(format!("could not create {}: {e}", p.display())))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    writeln!(
        out,
        "# imei-index diff: from serial {} ({}) to serial {} ({})",
        old.serial(),
        args.old.display(),
        new.serial(),
        args.new.display()
    )?;
    writeln!(out, "{}", DELTA_COLUMNS.join(","))?;
    let (mut added, mut changed, mut removed) = (0u64, 0u64, 0u64);
    for change in diff(&old, &new) {
        let change = change?;
        match change {
            Change::Add(_) => added += 1,
            Change::Change(_) => changed += 1,
            Change::Remove(..) => removed += 1,
        }
        writeln!(out, "{}", format_change(&change))?;
    }
    out.flush()?;
    eprintln!(
        "{} added, {} changed, {} removed: serial {} ({} rules) to serial {} ({} rules)",
        count(added),
        count(changed),
        count(removed),
        old.serial(),
        count(old.stats().rules()),
        new.serial(),
        count(new.stats().rules()),
    );
    Ok(Outcome::Success)
}
