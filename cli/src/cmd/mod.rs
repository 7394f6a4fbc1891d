//! The command line's subcommands, one module each, and what they share.

pub(crate) mod apply;
pub(crate) mod bench;
pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod demo;
pub(crate) mod diff;
pub(crate) mod dump;
pub(crate) mod inspect;
pub(crate) mod journal;
pub(crate) mod merge;
pub(crate) mod publish;
pub(crate) mod scan;

use std::fmt;
use std::io::{self, BufWriter, StdoutLock, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use imei_index::{AtomicFile, ErrorChain, Index, OpenOptions, Verification};

/// How a command that ran ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything succeeded: exit 0.
    Success,
    /// The command ran, but some input was invalid or refused (and was reported): exit 1.
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
        match &e {
            // Every file the library writes replaces its target whole or not at all.
            imei_index::Error::Io {
                action: "write" | "replace" | "create a file beside",
                path,
                ..
            } => Failure::new(format!(
                "{}; {} was left as it was",
                ErrorChain(&e),
                path.display()
            )),
            _ => Failure::new(ErrorChain(&e)),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else if let Some(w) = WriteFailed::of(&e) {
            w.failure()
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

/// Prints a warning: something the user should look at, which did not stop the command.
pub(crate) fn warn(msg: impl fmt::Display) {
    eprintln!("imei-index: warning: {msg}");
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

/// The TAC policy's flags, shared by the commands that check (docs/semantics.md, "GSMA's
/// TAC database").
#[derive(Debug, Default, clap::Args)]
pub(crate) struct TacPolicyArgs {
    /// Answer STATUS (tracked or blocked) for an IMEI that no rule decides and whose TAC the
    /// index's TAC database does not list (build it with --tac-db). Off unless given.
    #[arg(long, value_name = "STATUS")]
    tac_policy: Option<String>,
    /// With --tac-policy: answer the same for a TAC allocated after this day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", requires = "tac_policy")]
    allocated_after: Option<String>,
}

impl TacPolicyArgs {
    /// The policy the flags ask for, if any.
    pub(crate) fn policy(&self) -> Result<Option<imei_index::TacPolicy>, Failure> {
        let Some(s) = &self.tac_policy else {
            return Ok(None);
        };
        let status = match s.to_ascii_lowercase().as_str() {
            "tracked" | "grey" | "greylisted" => imei_index::Status::Tracked,
            "blocked" | "black" | "blacklisted" => imei_index::Status::Blocked,
            _ => {
                return Err(Failure::new(format!(
                    "--tac-policy {s:?} is not a status the policy answers: give tracked or \
                     blocked (an allowed answer is what no policy gives)"
                )));
            }
        };
        let mut policy = imei_index::TacPolicy::new(status);
        if let Some(d) = &self.allocated_after {
            let day = d.parse().map_err(|e| {
                Failure::new(format!(
                    "--allocated-after {d:?} is not a day: {e}; write it YYYY-MM-DD"
                ))
            })?;
            policy = policy.allocated_after(day);
        }
        Ok(Some(policy))
    }

    /// Opens an index with the policy the flags ask for.
    pub(crate) fn open(&self, path: &Path, verification: Verification) -> Result<Index, Failure> {
        Ok(OpenOptions::new()
            .verification(verification)
            .tac_policy(self.policy()?)
            .open(path)?)
    }
}

/// Refuses, before any work, an output that is one of the command's inputs, or another of
/// its outputs: the same file however it is named (a hard link, a symbolic link, `./`),
/// told by identity (device and inode), or by directory and name for files that do not
/// exist yet. Each file comes with what it is to the command ("input index", "rejects
/// file"); standard input (`-`) is nobody's output.
pub(crate) fn refuse_overlaps(
    inputs: &[(&str, &Path)],
    outputs: &[(&str, &Path)],
) -> Result<(), Failure> {
    for (i, &(out_role, out)) in outputs.iter().enumerate() {
        let others = inputs
            .iter()
            .filter(|(_, p)| p.as_os_str() != "-")
            .chain(&outputs[i + 1..]);
        for &(in_role, input) in others {
            if same_file(out, input) {
                return Err(Failure::new(format!(
                    "the {out_role} {} is the same file as the {in_role} {}; writing one \
                     would replace the other, so name a different file for the {out_role}",
                    out.display(),
                    input.display()
                )));
            }
        }
    }
    Ok(())
}

/// True when two paths name the same file, or would once created.
fn same_file(a: &Path, b: &Path) -> bool {
    identical(a, b) || normalized(a) == normalized(b)
}

/// True when two existing paths are one file: the same device and inode. Told from their
/// metadata, never by opening them: opening a named pipe waits for its other end.
#[cfg(unix)]
fn identical(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// True when two existing paths are one file (elsewhere, by the system's file ids).
#[cfg(not(unix))]
fn identical(a: &Path, b: &Path) -> bool {
    same_file::is_same_file(a, b).unwrap_or(false)
}

/// A path's directory resolved (links, `.`, `..`), joined with its name.
fn normalized(p: &Path) -> PathBuf {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match p.file_name() {
        Some(name) => dir.join(name),
        None => p.to_path_buf(),
    }
}

/// A write to an output file that failed: the file, and the operating system's error.
/// Carried inside an `io::Error`, so that it survives the writers and library calls in
/// between, and turned into a message that names the file.
#[derive(Debug)]
pub(crate) struct WriteFailed {
    path: PathBuf,
    source: io::Error,
}

impl fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not write {}", self.path.display())
    }
}

impl std::error::Error for WriteFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl WriteFailed {
    fn wrap(path: &Path, e: io::Error) -> io::Error {
        if WriteFailed::of(&e).is_some() {
            return e;
        }
        io::Error::new(
            e.kind(),
            WriteFailed {
                path: path.to_path_buf(),
                source: e,
            },
        )
    }

    /// The failed write an error carries, looking through its causes.
    pub(crate) fn of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a WriteFailed> {
        let mut cause = Some(e);
        while let Some(e) = cause {
            if let Some(w) = e.downcast_ref::<WriteFailed>() {
                return Some(w);
            }
            if let Some(w) = e
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<WriteFailed>())
            {
                return Some(w);
            }
            cause = e.source();
        }
        None
    }

    /// The file that could not be written.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn failure(&self) -> Failure {
        Failure::new(format!(
            "{}; {} was left as it was",
            ErrorChain(self),
            self.path.display()
        ))
    }
}

/// A file a command writes: written beside its path and renamed over it by
/// [`OutFile::commit`], never written in place, so that a process that maps or reads the
/// old file keeps it whole, and a failed write (a full disk) leaves it as it was. Dropped
/// without a commit, it leaves nothing behind.
pub(crate) struct OutFile {
    out: BufWriter<AtomicFile>,
    path: PathBuf,
}

impl OutFile {
    pub(crate) fn create(path: &Path) -> Result<OutFile, Failure> {
        let file = AtomicFile::create(path).map_err(|e| {
            Failure::new(format!(
                "could not create a new file beside {}: {e}; {} was left as it was",
                path.display(),
                path.display()
            ))
        })?;
        Ok(OutFile {
            out: BufWriter::with_capacity(1 << 16, file),
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes out what is buffered and flushes the file to disk, without putting it in
    /// place yet: for outputs that go in place together, after the last thing that can fail.
    pub(crate) fn prepare(self) -> Result<Prepared, Failure> {
        let path = self.path;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| Failure::from(WriteFailed::wrap(&path, e.into_error())))?;
        file.sync()
            .map_err(|e| Failure::from(WriteFailed::wrap(&path, e)))?;
        Ok(Prepared { file, path })
    }

    /// Flushes the file and renames it over its path.
    pub(crate) fn commit(self) -> Result<(), Failure> {
        self.prepare()?.commit()
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out
            .write(buf)
            .map_err(|e| WriteFailed::wrap(&self.path, e))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out
            .write_all(buf)
            .map_err(|e| WriteFailed::wrap(&self.path, e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out
            .flush()
            .map_err(|e| WriteFailed::wrap(&self.path, e))
    }
}

/// An output file written and flushed, waiting to be renamed over its path.
pub(crate) struct Prepared {
    file: AtomicFile,
    path: PathBuf,
}

impl Prepared {
    pub(crate) fn commit(self) -> Result<(), Failure> {
        self.file.commit().map_err(|e| {
            Failure::new(format!(
                "could not put the new {} in place: {e}; it was left as it was",
                self.path.display()
            ))
        })
    }
}

/// Where a command writes: a file (see [`OutFile`]) or standard output; buffered either way.
pub(crate) enum Output {
    Stdout(BufWriter<StdoutLock<'static>>),
    File(OutFile),
}

impl Output {
    pub(crate) fn new(path: Option<&Path>) -> Result<Output, Failure> {
        Ok(match path {
            Some(p) => Output::File(OutFile::create(p)?),
            None => Output::Stdout(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
        })
    }

    /// Flushes the output; a file is put in place.
    pub(crate) fn finish(self) -> Result<(), Failure> {
        match self {
            Output::Stdout(mut w) => Ok(w.flush()?),
            Output::File(f) => f.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(f) => f.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.write_all(buf),
            Output::File(f) => f.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(f) => f.flush(),
        }
    }
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
