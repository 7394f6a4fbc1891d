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
    /// A TAC policy asked of an index that holds no TAC database.
    #[error(
        "{origin} holds no TAC database, so the TAC policy ({policy}) cannot be applied: \
         build the index with a TAC database (`imei-index build --tac-db FILE`, \
         IndexBuilder::tac_db), or turn the policy off"
    )]
    NoTacDatabase {
        /// The file, or "the index in memory" for bytes.
        origin: Origin,
        /// The policy asked for.
        policy: crate::model::device::TacPolicy,
    },
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
    /// More sources than one index holds.
    #[error(
        "the index would hold {count} sources, more than the 255 one index holds: merge \
         fewer lists into one index, or give several lists one source"
    )]
    TooManySources {
        /// The sources it would hold.
        count: usize,
    },
    /// Rules that the layout of format 1 without sources cannot hold, when asked for it
    /// ([`IndexBuilder::layout_v1`](crate::IndexBuilder::layout_v1)).
    #[error(
        "the index cannot be written in the first layout of format 1, which readers without \
         sources read: {what}; write the default layout (readers since imei-index 0.2 read it)"
    )]
    NotV1 {
        /// What the first layout cannot hold.
        what: String,
    },
    /// A delta for a source whose recorded run is not the one the delta starts from.
    #[error(
        "the delta for source {source_name} starts from run {delta_from}, but the index holds \
         run {recorded} of it: a day was skipped or applied twice; apply the register's \
         deltas in order, or force it (Apply::force) to apply it anyway"
    )]
    RunIdMismatch {
        /// The source.
        source_name: String,
        /// The run id the index records for the source.
        recorded: i64,
        /// The run id the delta starts from.
        delta_from: i64,
    },
    /// An index that [`publish`](crate::publish()) refused to put in place, because a guard
    /// found it suspect (its [`Refusal`], the source, says which); the target was left as
    /// it was.
    #[error(
        "refused to publish {} over {}, which was left as it was",
        index.display(),
        target.display()
    )]
    Refused {
        /// The index that was to be published.
        index: PathBuf,
        /// The path readers follow, unchanged.
        target: PathBuf,
        /// Why it was refused.
        #[source]
        refusal: Refusal,
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

    /// The refusal, if this is a publish that a guard refused: for callers that tell a
    /// suspect index from one that could not be published.
    pub fn as_refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused { refusal, .. } => Some(refusal),
            _ => None,
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

/// Why [`publish`](crate::publish()) refused an index: what its guards found suspect in it,
/// against the index it would have replaced. Each guard can be overridden
/// ([`PublishOptions::force`](crate::PublishOptions::force), `imei-index publish --force`).
///
/// A mistyped path or a truncated download gives a valid index that lists too little; put
/// in place, it would answer "unknown" for handsets that must stay blocked, on every EIR
/// that follows the path. National registers guard their imports the same way.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The index holds no rules (a delta index: no rules and no removals).
    #[error(
        "it holds no rules, so every handset would be unlisted; check the list it was built \
         from, or publish it with --force (PublishOptions::force) if an empty list is meant"
    )]
    Empty,
    /// The index removes more of the replaced index's rules than allowed.
    #[error(
        "it removes {removed} of the {of} rules of the index it would replace, more than \
         the {:.0}% allowed; check the list it was built from, or allow more with \
         --max-removed (PublishOptions::max_removed_share), or publish it with --force",
        allowed_share * 100.0
    )]
    RemovesTooMany {
        /// Rules of the replaced index that the new one does not have.
        removed: u64,
        /// Rules of the replaced index.
        of: u64,
        /// The share of them that may be removed, from 0 to 1.
        allowed_share: f64,
    },
    /// The index's serial is lower than the replaced index's: an older list.
    #[error(
        "its serial {to} is lower than the serial {from} of the index it would replace, so \
         it is an older list; publish the newest index, or publish it with --force to go back"
    )]
    SerialGoesBack {
        /// The replaced index's serial.
        from: u64,
        /// The new index's serial.
        to: u64,
    },
    /// A delta index would replace a full index, or a full index a delta index: readers of
    /// the path expect the kind they have.
    #[error(
        "it is a {} index and the one it would replace is a {} index, so the readers of \
         that path could not use it; check the paths, or publish it with --force",
        if *delta { "delta" } else { "full" },
        if *delta { "full" } else { "delta" }
    )]
    KindChanges {
        /// True when the new index is a delta index (and the old one a full index).
        delta: bool,
    },
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
