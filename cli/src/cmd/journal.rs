//! `imei-index journal export`: a sightings journal's distinct triplets for the register.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use imei_index::Date;
use imei_index_trace::{DirbsExport, JournalReader, journal_file_day};

use super::{CliResult, Failure, Outcome, Output, count, refuse_overlaps, warn};

/// What `journal` does.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Write the distinct date,imei,imsi,msisdn triplets of journal files (any number of
    /// processes' files, read as one) as a DIRBS operator upload.
    Export(ExportArgs),
}

/// Arguments of `journal export`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Write DIRBS's operator-upload format: header date,imei,imsi,msisdn, dates YYYYMMDD
    /// (UTC), 14-digit IMEIs. (The only format for now.)
    #[arg(long, required = true)]
    dirbs: bool,
    /// Only the sightings of this UTC day (YYYY-MM-DD): a daily upload.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<Date>,
    /// Write the upload to FILE instead of standard output. It is written beside the file
    /// and renamed over it, never in place.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Journal files (sightings-*.csv), or directories whose journal files to read.
    #[arg(value_name = "FILE|DIR", required = true)]
    files: Vec<PathBuf>,
}

pub(crate) fn run(command: &Command) -> CliResult {
    match command {
        Command::Export(args) => export(args),
    }
}

/// The files to read: the files named, and the journal files of the directories named.
fn inputs(named: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    for path in named {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Failure::new(format!("could not read {}: {e}", path.display())))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| journal_file_day(n).is_some())
                })
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn export(args: &ExportArgs) -> CliResult {
    let files = inputs(&args.files)?;
    if let Some(out) = &args.output {
        let named: Vec<(&str, &Path)> = files.iter().map(|f| ("journal", f.as_path())).collect();
        refuse_overlaps(&named, &[("output", out)])?;
    }
    let day = args.date.map(Date::days_since_epoch);
    let mut export = DirbsExport::new();
    let mut bad = 0u64;
    for path in &files {
        let file = File::open(path)
            .map_err(|e| Failure::new(format!("could not open {}: {e}", path.display())))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(Failure::new(format!("{} is a directory", path.display())));
        }
        let reader = JournalReader::new(path.display().to_string(), BufReader::new(file))
            .map_err(|e| Failure::new(e.to_string()))?;
        if reader.hashed() {
            return Err(Failure::new(format!(
                "{} holds keyed hashes of IMSIs and MSISDNs (a journal kept with a key): \
                 DIRBS takes the numbers themselves, so it cannot be exported for it",
                path.display()
            )));
        }
        for row in reader {
            match row {
                Ok(row) if day.is_none_or(|d| row.day() == d) => export.add(&row),
                Ok(_) => {}
                Err(e) if e.incomplete => warn(e),
                Err(e) => {
                    eprintln!("imei-index: error: {e}");
                    bad += 1;
                }
            }
        }
    }
    let mut out = Output::new(args.output.as_deref())?;
    export.write(&mut out)?;
    out.finish()?;
    eprintln!(
        "exported {} distinct triplets from {} sightings in {} journal files",
        count(export.len() as u64),
        count(export.rows()),
        count(files.len() as u64)
    );
    if bad > 0 {
        eprintln!(
            "imei-index: error: {} rows could not be read (above); the upload holds the others",
            count(bad)
        );
        return Ok(Outcome::Invalid);
    }
    Ok(Outcome::Success)
}
