//! `imei-index`: build, check, inspect and publish IMEI blocklist indexes.

mod cmd;
// Read by build and apply once the model has sources (a register's lists are sources).
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "not wired into build or apply until the model has sources"
    )
)]
mod input;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build, check and inspect IMEI blocklist indexes for Equipment Identity Registers.
///
/// Exit status: 0 when everything succeeded; 1 when the command ran but some input was
/// invalid or refused (a line `check` could not parse, a list row `build` rejected, with or
/// without --skip-invalid, an index that `verify` found damaged, rows `scan` rejected, an
/// index that `publish`'s guards refused); 2 when it could not run (bad arguments, a missing
/// or unreadable file, a directory, a file that is not an index, an index that cannot be
/// opened, an output that is one of the inputs, a file that could not be written). No command
/// writes a file in place: outputs are written beside their path and renamed over it.
#[derive(Debug, Parser)]
#[command(name = "imei-index", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a synthetic national list, index it and check handsets against it.
    Demo(cmd::demo::Args),
    /// Build an index from list files (CSV: imei,status,reason,imsi,date).
    Build(cmd::build::Args),
    /// Check IMEIs (arguments, or one per line on stdin) against an index.
    Check(cmd::check::Args),
    /// Show an index's rule counts, sizes and version.
    Stats {
        /// The index file.
        index: PathBuf,
    },
    /// Verify an index completely: checksums, every key and value, counts.
    Verify {
        /// The index file.
        index: PathBuf,
    },
    /// Write an index's rules back as a list (CSV) that `build` reads.
    Dump(cmd::dump::Args),
    /// Write the changes from one index to another as a delta list (CSV).
    Diff(cmd::diff::Args),
    /// Apply delta lists (or delta indexes) to an index, writing the next index.
    Apply(cmd::apply::Args),
    /// Merge indexes into one: the union of their rules.
    Merge(cmd::merge::Args),
    /// Verify an index and atomically replace the one readers follow, unless it looks wrong.
    ///
    /// It is refused, and the target left as it was, when it has no rules, removes too many
    /// of the target's rules, or has an older serial (unless --force).
    Publish(cmd::publish::Args),
    /// Compare the index with a HashSet, a sorted Vec and a raw fst map on a synthetic list.
    Bench(cmd::bench::Args),
    /// Find the rows of connection logs whose handset is listed, to re-verify them.
    Scan(cmd::scan::Args),
    /// Read the sightings journals an EIR keeps (imei-index-eir --journal DIR).
    Journal {
        #[command(subcommand)]
        command: cmd::journal::Command,
    },
}

fn main() -> ExitCode {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists. Restoring the
    // default SIGPIPE disposition (Rust ignores it) makes `imei-index ... | head` end
    // quietly, as Unix tools do, instead of failing on every later write to the pipe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cmd::usage(&e),
    };
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Build(args) => cmd::build::run(&args),
        Command::Check(args) => cmd::check::run(&args),
        Command::Stats { index } => cmd::inspect::stats(&index),
        Command::Verify { index } => cmd::inspect::verify(&index),
        Command::Dump(args) => cmd::dump::run(&args),
        Command::Diff(args) => cmd::diff::run(&args),
        Command::Apply(args) => cmd::apply::run(&args),
        Command::Merge(args) => cmd::merge::run(&args),
        Command::Publish(args) => cmd::publish::run(&args),
        Command::Bench(args) => cmd::bench::run(&args),
        Command::Scan(args) => cmd::scan::run(&args),
        Command::Journal { command } => cmd::journal::run(&command),
    };
    cmd::finish(result)
}
