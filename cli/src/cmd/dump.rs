//! `imei-index dump`: an index's rules back as a list.

use std::io::Write;
use std::path::PathBuf;

use imei_index::Verification;
use imei_index::list::{COLUMNS, format_row};

use super::{CliResult, Outcome, Output, open_index, refuse_overlaps};

/// Arguments of `dump`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index file.
    index: PathBuf,
    /// Write the list to this file instead of standard output. It is written beside the
    /// file and renamed over it, never in place.
    #[arg(short, long, value_name = "LIST")]
    output: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    if let Some(out) = &args.output {
        refuse_overlaps(&[("index", &args.index)], &[("output list", out)])?;
    }
    // Full verification: a dump must not skip rules that a damaged file hides.
    let index = open_index(&args.index, Verification::Full)?;
    let mut out = Output::new(args.output.as_deref())?;
    writeln!(out, "{}", COLUMNS.join(","))?;
    for rule in index.rules() {
        writeln!(out, "{}", format_row(&rule))?;
    }
    out.finish()?;
    Ok(Outcome::Success)
}
