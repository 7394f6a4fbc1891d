//! The crate's error type, and [`ErrorChain`] to print an error with its causes.
//!
//! An error's message says what failed; its [`source`](std::error::Error::source) says why,
//! and is not repeated in the message, so that a reporter that walks the chain (this
//! crate's [`ErrorChain`], `anyhow`'s `{:#}`) prints every cause once.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::format::FormatError;
use crate::list::ListError;

/// Everything that can go wrong opening, building or reading an index.
///
/// Messages are full sentences that say what went wrong, where, and how to fix it. Print an
/// error with its causes with [`ErrorChain`]:
///
/// ```
/// use imei_index::{ErrorChain, Index};
///
/// let err = Index::open("/nonexistent/national.imeiidx").unwrap_err();
/// assert_eq!(err.to_string(), "could not open /nonexistent/national.imeiidx");
/// let full = ErrorChain(&err).to_string();
/// assert!(full.starts_with("could not open /nonexistent/national.imeiidx: "), "{full}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read, written, mapped or renamed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done: "open", "read", "write", "map", "rename" …
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Bytes that are not a valid index: empty, truncated, foreign or corrupt.
    #[error("{origin} is not a usable index")]
    Format {
        /// The file, or "the index in memory" for bytes.
        origin: Origin,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
    /// A row of a list file that could not be read.
    #[error(transparent)]
    List(#[from] ListError),
    /// A delta layered or applied over an index other than the one it was made for.
    #[error(
        "delta {position} (counting from 1) was made for the index with serial {expected}, but \
         the index below it has serial {found}: apply deltas in order, over the index they \
         were made for"
    )]
    DeltaBase {
        /// The delta's position among the deltas, from 1.
        position: usize,
        /// The serial the delta was made for.
        expected: u64,
        /// The serial of the base and deltas below it.
        found: u64,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(origin: &Origin, source: FormatError) -> Error {
        Error::Format {
            origin: origin.clone(),
            source,
        }
    }

    /// The format error, if this is one: for callers that tell corruption from I/O trouble.
    pub fn as_format(&self) -> Option<&FormatError> {
        match self {
            Error::Format { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where index bytes came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A file.
    File(PathBuf),
    /// Bytes in memory.
    Memory,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "index file {}", p.display()),
            Origin::Memory => f.write_str("the index in memory"),
        }
    }
}

/// An error followed by each of its causes, joined by `": "`: the whole story on one line,
/// for logs, terminals and the C API's messages.
///
/// # Example
///
/// ```
/// use imei_index::{ErrorChain, Index};
///
/// let err = Index::from_bytes(bytes::Bytes::from_static(b"not an index")).unwrap_err();
/// let line = ErrorChain(&err).to_string();
/// assert!(line.starts_with("the index in memory is not a usable index: "), "{line}");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
