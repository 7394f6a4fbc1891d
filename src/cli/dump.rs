//! `imei-index dump`: an index's rules back as a list.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use imei_index::Verification;
use imei_index::list::{COLUMNS, format_row};

use super::{CliResult, Failure, Outcome, open_index};

/// Arguments of `dump`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index file.
    index: PathBuf,
    /// Write the list to this file instead of standard output.
    #[arg(short, long, value_name = "LIST")]
    output: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> CliResult {
    // Full verification: a dump must not skip rules that a damaged file hides.
    let index = open_index(&args.index, Verification::Full)?;
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            File::create(p)
                .map_err(|e| Failure::new(format!("could not create {}: {e}", p.display())))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    writeln!(out, "{}", COLUMNS.join(","))?;
    for rule in index.rules() {
        writeln!(out, "{}", format_row(&rule))?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}
