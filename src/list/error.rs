//! What can be wrong with a row of a list, and where.

use std::fmt;
use std::io;

use crate::model::ident::IdError;
use crate::model::rule::{FieldError, RuleKind};

/// What is wrong with one row of a list.
///
/// Each message is complete, the identifier's or field's error included (as its text, not
/// as a [`source`](std::error::Error::source)), because it is written into rejects files
/// and read by people fixing a row.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The imei field is not an IMEI, TAC or range.
    #[error("the imei field is not an IMEI, an 8-digit TAC or a FIRST..LAST range: {0}")]
    Imei(IdError),
    /// The imsi field is not an IMSI.
    #[error("the imsi field is not an IMSI: {0}")]
    Imsi(IdError),
    /// The status, reason or date field, or the range, is wrong.
    #[error("{0}")]
    Field(FieldError),
    /// The row has no status field.
    #[error("the row has no status field: every row needs at least imei,status")]
    MissingStatus,
    /// The row has more fields than the format's five.
    #[error(
        "the row has {found} fields, but a list row has at most 5: imei,status,reason,imsi,date"
    )]
    TooManyFields {
        /// How many fields the row has.
        found: usize,
    },
    /// A delta row has more fields than the format's six.
    #[error(
        "the row has {found} fields, but a delta row has at most 6: op,imei,status,reason,imsi,date"
    )]
    TooManyDeltaFields {
        /// How many fields the row has.
        found: usize,
    },
    /// A delta row's operation is not one.
    #[error("{0:?} is not an operation: a delta row starts with add, change or remove")]
    Op(String),
    /// A quoted field whose closing quote is missing.
    #[error("a quoted field has no closing quote: close it, or double any quote inside it")]
    UnterminatedQuote,
    /// Text between a closing quote and the next delimiter.
    #[error("text follows a closing quote: a quoted field must end at its closing quote")]
    TextAfterQuote,
    /// The line is not valid UTF-8.
    #[error(
        "the line is not valid UTF-8 (bad byte at offset {offset}): save the list as UTF-8 or ASCII"
    )]
    NotUtf8 {
        /// Byte offset of the first invalid byte in the line.
        offset: usize,
    },
    /// An IMSI on a row whose imei field is a TAC or a range.
    #[error(
        "an IMSI pairs with one IMEI, but this row's imei field is a {0}: remove the IMSI or list the IMEI"
    )]
    PairNeedsImei(RuleKind),
    /// A header row that names other columns.
    #[error(
        "the header row names columns {found:?}, but list columns are imei,status,reason,imsi,date in that order"
    )]
    Header {
        /// The header's fields.
        found: Vec<String>,
    },
    /// A delta list's header row that names other columns.
    #[error(
        "the header row names columns {found:?}, but delta columns are op,imei,status,reason,imsi,date in that order"
    )]
    DeltaHeader {
        /// The header's fields.
        found: Vec<String>,
    },
    /// The source could not be read. Unlike the others, this stops reading.
    #[error("reading failed: {0}")]
    Io(io::Error),
}

/// A row of a list that could not be read, and where it is.
#[derive(Debug)]
pub struct ListError {
    /// The list's name (usually its path).
    pub source_name: String,
    /// 1-based line number.
    pub line: u64,
    /// 1-based character column where the problem is (the field's first character, or the
    /// offending character when one is known).
    pub column: usize,
    /// The row as read, without its line end, for writing rejected rows aside.
    pub row: String,
    /// What is wrong.
    pub kind: RowError,
}

impl ListError {
    /// True when reading cannot go on (the source failed), as opposed to one bad row.
    pub fn is_fatal(&self) -> bool {
        matches!(self.kind, RowError::Io(_))
    }
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source_name, self.line, self.column, self.kind
        )
    }
}

/// The message says everything, the row error's included, so there is no separate source.
impl std::error::Error for ListError {}
