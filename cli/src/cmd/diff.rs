//! `imei-index diff`: the changes from one index to another, as a delta list.

use std::io::Write;
use std::path::PathBuf;

use imei_index::list::{DELTA_COLUMNS, format_change};
use imei_index::{Change, Verification, diff};

use super::{CliResult, Outcome, Output, count, open_index, refuse_overlaps};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The older index.
    old: PathBuf,
    /// The newer index.
    new: PathBuf,
    /// Write the delta list to this file instead of standard output. It is written beside
    /// the file and renamed over it, never in place.
    #[arg(short, long, value_name = "DELTA")]
    output: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    if let Some(out) = &args.output {
        refuse_overlaps(
            &[("old index", &args.old), ("new index", &args.new)],
            &[("output delta list", out)],
        )?;
    }
    // Full verification: a diff must not miss rules that a damaged file hides.
    let old = open_index(&args.old, Verification::Full)?;
    let new = open_index(&args.new, Verification::Full)?;
    let mut out = Output::new(args.output.as_deref())?;
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
    out.finish()?;
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
