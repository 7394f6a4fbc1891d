//! The command line's subcommands, one module each, and what they share.

pub(crate) mod apply;
pub(crate) mod bench;
pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod demo;
pub(crate) mod diff;
pub(crate) mod dump;
pub(crate) mod inspect;
pub(crate) mod merge;
pub(crate) mod publish;
pub(crate) mod scan;

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use imei_index::{ErrorChain, Index, OpenOptions, Verification};

/// How a command that ran ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything succeeded: exit 0.
    Success,
    /// The command ran, but some input was invalid (and was reported): exit 1.
    Invalid,
}

/// Why a command could not run: exit 2, after printing the message.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error to print.
    Message(String),
    /// Standard output was closed (e.g. piped into `head`): stop quietly.
    BrokenPipe,
}

impl Failure {
    pub(crate) fn new(msg: impl fmt::Display) -> Failure {
        Failure::Message(msg.to_string())
    }
}

impl From<imei_index::Error> for Failure {
    fn from(e: imei_index::Error) -> Failure {
        Failure::new(ErrorChain(&e))
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::new(format!("could not write the output: {e}"))
        }
    }
}

pub(crate) type CliResult = Result<Outcome, Failure>;

/// Prints a failure and turns the result into the process's exit status.
pub(crate) fn finish(result: CliResult) -> ExitCode {
    match result {
        Ok(Outcome::Success) | Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(Failure::Message(msg)) => {
            eprintln!("imei-index: error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Reports a command line that could not be parsed, with the same `imei-index: error: `
/// start as every other error, and exits 2; `--help` and `--version` print and exit 0.
pub(crate) fn usage(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !e.use_stderr() {
        // --help or --version: not an error.
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    match text.strip_prefix("error: ") {
        Some(rest) => eprint!("imei-index: error: {rest}"),
        None if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("imei-index: error: a command is needed\n\n{text}");
        }
        None => eprint!("imei-index: error: {text}"),
    }
    ExitCode::from(2)
}

/// Opens an index for a command.
pub(crate) fn open_index(path: &Path, verification: Verification) -> Result<Index, Failure> {
    Ok(OpenOptions::new().verification(verification).open(path)?)
}

/// Creates a file to write a command's output to, buffered.
pub(crate) fn create(path: &Path) -> Result<BufWriter<File>, Failure> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 16, f))
        .map_err(|e| Failure::new(format!("could not create {}: {e}", path.display())))
}

/// Where a command writes: the file given, or standard output; buffered either way.
pub(crate) fn output(path: Option<&Path>) -> Result<BufWriter<Box<dyn Write>>, Failure> {
    let out: Box<dyn Write> = match path {
        Some(p) => Box::new(create(p)?),
        None => Box::new(io::stdout().lock()),
    };
    Ok(BufWriter::with_capacity(1 << 16, out))
}

/// A count with thousands separators: 28200 → "28,200".
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count for people: "1.2 MiB".
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(28_200), "28,200");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
