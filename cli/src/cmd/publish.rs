//! `imei-index publish`: verify an index, then atomically replace the live one with it.

use std::path::PathBuf;

use imei_index::{ErrorChain, publish};

use super::{CliResult, Failure, Outcome, bytes, count};

/// Arguments of `publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The index file to publish (from `build`, `apply` or `merge`).
    source: PathBuf,
    /// The path that running readers follow. It is replaced by a rename: readers see the
    /// old file or the new one, never a mix, and those still using the old one keep it.
    target: PathBuf,
}

pub(crate) fn run(args: &Args) -> CliResult {
    let p = publish(&args.source, &args.target).map_err(|e| {
        Failure::new(format!(
            "{}; {} was left as it was",
            ErrorChain(&e),
            args.target.display()
        ))
    })?;
    let replaced = match p.replaced {
        Some((serial, rules)) => format!(", replacing serial {serial} ({} rules)", count(rules)),
        None => String::new(),
    };
    println!(
        "published {} as {}: verified, serial {}, {} rules, {}{replaced}",
        args.source.display(),
        args.target.display(),
        p.serial,
        count(p.rules),
        bytes(p.bytes),
    );
    Ok(Outcome::Success)
}
