//! The crate's error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::format::FormatError;
use crate::list::ListError;

/// Everything that can go wrong opening, building or reading an index.
///
/// Messages are full sentences that say what went wrong, where, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read, written, mapped or renamed.
    #[error("could not {action} {}: {source}", path.display())]
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
    #[error("{origin} is not a usable index: {source}")]
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
