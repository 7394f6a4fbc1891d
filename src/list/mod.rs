//! List files: the CSV rows that an index is built from.
//!
//! ```text
//! # national list, 2024-05-21           <- comment lines start with '#'
//! imei,status,reason,imsi,date           <- an optional header row
//! 35-209900-176148-1,blocked,stolen,,2024-05-21
//! 35209900,tracked,counterfeit,,         <- an 8-digit TAC: every IMEI of the model
//! 35417803000000..35417803099999,black   <- an inclusive range of IMEIs
//! 354178036859789,allowed,,404685505601234,  <- an IMEI paired with one IMSI
//! ```
//!
//! Columns are `imei,status,reason,imsi,date,start,source`; all but the first two may be
//! empty or absent (trailing ones left out). `reason` holds any number of reasons joined
//! with `|`, each any text (the six known names, in any case, keep their meaning); `start`
//! is the date (`YYYY-MM-DD`) from which the rule applies; `status` may be written
//! `EARLIER>STATUS` (say `tracked>blocked`) for a rule with a start that answers `EARLIER`
//! before it; `source` names the list the rule belongs to (default `local`, or the one a
//! reader is given with [`ListReader::source`]).
//! Fields may be double-quoted (`""` inside quotes is one quote) and are trimmed of
//! surrounding whitespace. Lines may end in LF or CRLF. A UTF-8 byte-order mark at the
//! start is ignored ([`strip_bom`]). A line whose first byte that is not a space or a tab is
//! `#` is a comment ([`is_comment`]), whatever its encoding; every other line must be UTF-8,
//! and a byte that is not is an error naming it. IMEIs are parsed strictly (a 15th
//! digit must be the check digit): a wrong check digit in a list is more often a typing
//! error than a forged handset, and a list that means the forged identity can give its 14
//! digits.
//!
//! A row that cannot be read is a [`ListError`] naming the source, line and column, and
//! keeping the row's text and its bytes ([`ListError::row_bytes`]), so that callers can stop
//! or write rejected rows aside, exactly as they were, and go on.
//!
//! Delta lists ([`DeltaReader`]) are lists with an operation column in front: the changes
//! from one version of a list to the next.
//!
//! A national register's own list files (DIRBS's blacklist, notification and exception
//! lists, their deltas and zips) are read by [`dirbs`].

use std::io::BufRead;

use crate::model::change::Change;
use crate::model::rule::Rule;

mod csv;
pub mod dirbs;
mod error;
mod format;
mod parallel;
mod row;
pub mod tacdb;
mod text;

use self::csv::Records;
pub use self::csv::{Field, split_record};
pub use self::error::{ListError, RowError};
pub use self::format::{format_change, format_row};
pub use self::parallel::ParallelRows;
pub use self::row::{COLUMNS, DELTA_COLUMNS};
use self::row::{RowContext, parse_delta_row, parse_row};
pub use self::text::{is_comment, strip_bom};
use crate::model::source::Source;

/// Reads the rules of a list, one row at a time.
///
/// Yields a rule for every data row, and a [`ListError`] for every row that cannot be
/// read; after an error the reader goes on with the next row, except after an I/O error
/// ([`ListError::is_fatal`]), which ends it. Comment lines, blank lines and the header row
/// are not rows.
///
/// # Example
///
/// ```
/// use imei_index::list::ListReader;
/// use imei_index::{RuleKind, Status};
///
/// let csv = "imei,status\n35209900,blocked\n35-209900-176148-X,blocked\n";
/// let mut rows = ListReader::new("national.csv", csv.as_bytes());
/// let rule = rows.next().unwrap()?;
/// assert_eq!((rule.kind(), rule.entry.status), (RuleKind::Tac, Status::Blocked));
/// let err = rows.next().unwrap().unwrap_err();
/// assert_eq!((err.line, err.column), (3, 18));
/// assert!(err.to_string().starts_with("national.csv:3:18: the imei field"));
/// assert!(rows.next().is_none());
/// assert_eq!(rows.rows(), 2);
/// # Ok::<(), imei_index::list::ListError>(())
/// ```
pub struct ListReader<R> {
    records: Records<R>,
    cx: RowContext,
}

impl<R: BufRead> ListReader<R> {
    /// A reader of the list in `reader`, called `name` in errors.
    pub fn new(name: impl Into<String>, reader: R) -> ListReader<R> {
        ListReader {
            records: Records::new(name.into(), reader),
            cx: RowContext::default(),
        }
    }

    /// The source of rows that name none (default `local`).
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::list::ListReader;
    ///
    /// let csv = "35209900,blocked\n35209901,blocked,,,,,local\n";
    /// let mut rows = ListReader::new("l.csv", csv.as_bytes()).source("dirbs/blacklist".parse()?);
    /// assert_eq!(rows.next().unwrap()?.source().as_str(), "dirbs/blacklist");
    /// assert_eq!(rows.next().unwrap()?.source().as_str(), "local");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn source(mut self, source: Source) -> ListReader<R> {
        self.cx.source = source;
        self
    }

    /// Data rows read so far (rules and rejected rows; not comments, blanks or the header).
    pub fn rows(&self) -> u64 {
        self.records.rows
    }

    /// Bytes consumed from the source so far, for progress reports.
    pub fn bytes_read(&self) -> u64 {
        self.records.bytes_read
    }

    /// The list's name.
    pub fn name(&self) -> &str {
        &self.records.name
    }
}

impl<R: BufRead> Iterator for ListReader<R> {
    type Item = Result<Rule, ListError>;

    fn next(&mut self) -> Option<Result<Rule, ListError>> {
        let cx = &mut self.cx;
        self.records.next_row(
            &COLUMNS,
            |f, n| parse_row(f, n, cx),
            |found| RowError::Header { found },
        )
    }
}

/// Reads the changes of a delta list, one row at a time.
///
/// A delta list is a list with an operation in front of each row, the changes from one
/// version of a list to the next, as `imei-index diff` writes them and `imei-index apply`
/// reads them:
///
/// ```text
/// op,imei,status,reason,imsi,date
/// add,352099001761481,blocked,stolen,,2024-05-22     <- a rule for a new target
/// change,35209900,tracked,counterfeit,,              <- a new entry for a listed target
/// remove,354178036859789                              <- the target's rule goes
/// remove,354178036859789,,,404685505601234            <- a pair's target names its IMSI
/// ```
///
/// `op` is `add`, `change` or `remove` (case-insensitive); the other columns are a list
/// row's. A remove row needs only its target (the imei field, and the imsi field for a
/// pair); a status, reason or date on it must be valid but is not used (`diff` writes the
/// removed rule's, so that a delta reads both ways). Rows that cannot be read are
/// [`ListError`]s located like a list's, and reading goes on as [`ListReader`]'s does.
///
/// # Example
///
/// ```
/// use imei_index::list::DeltaReader;
/// use imei_index::{Change, Status};
///
/// let csv = "op,imei,status\nadd,35209900,blocked\nremove,354178036859789\nmove,35209900\n";
/// let mut rows = DeltaReader::new("today.csv", csv.as_bytes());
/// assert!(matches!(rows.next().unwrap()?, Change::Add(r) if r.entry.status == Status::Blocked));
/// assert!(matches!(rows.next().unwrap()?, Change::Remove(_, s, None) if s.is_local()));
/// let err = rows.next().unwrap().unwrap_err();
/// assert_eq!((err.line, err.column), (4, 1));
/// # Ok::<(), imei_index::list::ListError>(())
/// ```
pub struct DeltaReader<R> {
    records: Records<R>,
    cx: RowContext,
}

impl<R: BufRead> DeltaReader<R> {
    /// A reader of the delta list in `reader`, called `name` in errors.
    pub fn new(name: impl Into<String>, reader: R) -> DeltaReader<R> {
        DeltaReader {
            records: Records::new(name.into(), reader),
            cx: RowContext::default(),
        }
    }

    /// The source of rows that name none (default `local`).
    pub fn source(mut self, source: Source) -> DeltaReader<R> {
        self.cx.source = source;
        self
    }

    /// Data rows read so far (changes and rejected rows).
    pub fn rows(&self) -> u64 {
        self.records.rows
    }

    /// The delta list's name.
    pub fn name(&self) -> &str {
        &self.records.name
    }
}

impl<R: BufRead> Iterator for DeltaReader<R> {
    type Item = Result<Change, ListError>;

    fn next(&mut self) -> Option<Result<Change, ListError>> {
        let cx = &mut self.cx;
        self.records.next_row(
            &DELTA_COLUMNS,
            |f, n| parse_delta_row(f, n, cx),
            |found| RowError::DeltaHeader { found },
        )
    }
}
