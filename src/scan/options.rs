//! What a scan reads and reports: [`ScanOptions`], [`Column`], [`Header`], [`ScanError`].

use std::io;

use crate::model::rule::Status;

/// Which field of a record holds a value.
///
/// # Example
///
/// ```
/// use imei_index::scan::Column;
///
/// assert_eq!("3".parse::<Column>(), Ok(Column::At(2)));
/// assert_eq!("servedIMEI".parse::<Column>(), Ok(Column::Named("servedIMEI".into())));
/// assert!("0".parse::<Column>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Column {
    /// Found by its name in the header row: for IMEIs `imei`, `imeisv`, `pei` or the
    /// call-record names `servedIMEI`/`servedIMEISV`; for IMSIs `imsi`, `supi` or
    /// `servedIMSI`; for numbers `msisdn`, `gpsi` or `servedMSISDN`. Case, spaces,
    /// hyphens, dots and underscores do not matter.
    Auto,
    /// The field at a 0-based position.
    At(usize),
    /// The field whose header names it (compared as for [`Column::Auto`]).
    Named(String),
}

/// Reads a column as given on a command line: a 1-based position, or a name.
impl std::str::FromStr for Column {
    type Err = String;

    fn from_str(s: &str) -> Result<Column, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("a column is a 1-based position or a header name, not empty".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Column::At(n - 1)),
                _ => Err(format!("column {s} does not exist: positions count from 1")),
            };
        }
        Ok(Column::Named(s.to_string()))
    }
}

/// Whether the first row of an input names its columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Header {
    /// The first row is a header when one of its fields is a column name the scan looks
    /// for (see [`Column::Auto`]), or one it was given by [`Column::Named`].
    #[default]
    Auto,
    /// The first row is a header.
    Present,
    /// There is no header: every row is a record.
    Absent,
}

/// How to scan: which columns, which verdicts to report, how many threads.
///
/// # Example
///
/// ```
/// use imei_index::Status;
/// use imei_index::scan::{Column, ScanOptions};
///
/// let mut options = ScanOptions::new();
/// options
///     .delimiter(b';')
///     .imei_column(Column::At(2))
///     .statuses(&[Status::Blocked])
///     .lenient(true);
/// ```
#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub(crate) delimiter: u8,
    pub(crate) header: Header,
    pub(crate) imei: Column,
    pub(crate) imsi: Option<Column>,
    pub(crate) msisdn: Option<Column>,
    /// Which statuses to report, by S13 code.
    pub(crate) statuses: [bool; 3],
    pub(crate) lenient: bool,
    pub(crate) threads: usize,
    pub(crate) chunk_size: usize,
    pub(crate) prefilter: bool,
    pub(crate) device_columns: bool,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            delimiter: b',',
            header: Header::Auto,
            imei: Column::Auto,
            imsi: Some(Column::Auto),
            msisdn: Some(Column::Auto),
            statuses: status_set(&[Status::Blocked, Status::Tracked]),
            lenient: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk_size: 256 << 10,
            prefilter: true,
            device_columns: false,
        }
    }
}

fn status_set(statuses: &[Status]) -> [bool; 3] {
    let mut set = [false; 3];
    for s in statuses {
        set[usize::from(s.s13_code())] = true;
    }
    set
}

impl ScanOptions {
    /// The defaults: comma-separated, header detected, columns found by name, blocked and
    /// tracked verdicts reported, strict IMEIs, one thread per core.
    pub fn new() -> ScanOptions {
        ScanOptions::default()
    }

    /// The byte between fields (default `,`). It must be ASCII and not a letter, digit,
    /// quote, hyphen or line end.
    pub fn delimiter(&mut self, delimiter: u8) -> &mut ScanOptions {
        self.delimiter = delimiter;
        self
    }

    /// Whether inputs start with a header row (default [`Header::Auto`]).
    pub fn header(&mut self, header: Header) -> &mut ScanOptions {
        self.header = header;
        self
    }

    /// Where the IMEI is (default [`Column::Auto`], which needs a header).
    pub fn imei_column(&mut self, column: Column) -> &mut ScanOptions {
        self.imei = column;
        self
    }

    /// Where the IMSI is, or `None` to ignore it (default [`Column::Auto`]: found by name,
    /// or none). With an IMSI, rows are checked with [`Index::check_with_imsi`], so that
    /// pair rules apply, and the summary counts distinct IMSIs.
    ///
    /// [`Index::check_with_imsi`]: crate::Index::check_with_imsi
    pub fn imsi_column(&mut self, column: Option<Column>) -> &mut ScanOptions {
        self.imsi = column;
        self
    }

    /// Where the MSISDN is, or `None` to ignore it (default [`Column::Auto`]). With one,
    /// the summary counts distinct numbers.
    pub fn msisdn_column(&mut self, column: Option<Column>) -> &mut ScanOptions {
        self.msisdn = column;
        self
    }

    /// Which verdicts to report (default blocked and tracked: the handsets that the
    /// network refuses or watches, whose connections must be re-verified).
    pub fn statuses(&mut self, statuses: &[Status]) -> &mut ScanOptions {
        self.statuses = status_set(statuses);
        self
    }

    /// Accept a 15th digit that is not the Luhn check digit (default false). Forged
    /// handsets often carry one; the summary counts them.
    pub fn lenient(&mut self, yes: bool) -> &mut ScanOptions {
        self.lenient = yes;
        self
    }

    /// How many threads parse and check (default: one per core). With 1, everything runs
    /// on the calling thread.
    pub fn threads(&mut self, threads: usize) -> &mut ScanOptions {
        self.threads = threads.max(1);
        self
    }

    /// About how many bytes each thread takes at a time (default 256 KiB: a chunk, the
    /// page cache's copy of it and the filter stay in a core's L2 cache).
    pub fn chunk_size(&mut self, bytes: usize) -> &mut ScanOptions {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Rule out unlisted handsets with an in-memory filter built from the index before
    /// checking the rest against it (default true). The results are the same either way;
    /// the filter costs 2 bytes per IMEI, pair or TAC rule and one pass over the index
    /// to build, and saves a transducer walk on nearly every row.
    pub fn prefilter(&mut self, yes: bool) -> &mut ScanOptions {
        self.prefilter = yes;
        self
    }

    /// Append `manufacturer` and `model` columns to every match: what the index's TAC
    /// database says about the handset's TAC (empty when it does not list it, or the index
    /// holds none). Default false.
    pub fn device_columns(&mut self, yes: bool) -> &mut ScanOptions {
        self.device_columns = yes;
        self
    }
}

/// Why a scan could not run, or stopped.
///
/// Rows that cannot be read are not errors: they are counted and written aside, and the
/// scan goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The delimiter cannot separate fields.
    #[error(
        "the delimiter {0:?} cannot separate fields: use an ASCII character that is not a \
         letter, digit, quote, hyphen or line end (such as ',', ';', '|' or a tab)"
    )]
    Delimiter(char),
    /// The input's columns do not say where the IMEI (or a named column) is.
    #[error("{input}: {what}")]
    Columns {
        /// The input's name.
        input: String,
        /// What is missing, and how to name the column.
        what: String,
    },
    /// The input could not be read.
    #[error("could not read {input}")]
    Read {
        /// The input's name.
        input: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The matching rows could not be written.
    #[error("could not write the matching rows")]
    Write(#[source] io::Error),
    /// The rejected rows could not be written.
    #[error("could not write the rejected rows")]
    WriteRejects(#[source] io::Error),
}

impl ScanError {
    /// The I/O error behind a failed write, if this is one (a closed pipe, say).
    pub fn write_error(&self) -> Option<&io::Error> {
        match self {
            ScanError::Write(e) | ScanError::WriteRejects(e) => Some(e),
            _ => None,
        }
    }
}

/// Checks a delimiter: see [`ScanOptions::delimiter`].
pub(crate) fn check_delimiter(d: u8) -> Result<(), ScanError> {
    let bad =
        !d.is_ascii() || d.is_ascii_alphanumeric() || matches!(d, b'"' | b'-' | b'\n' | b'\r');
    if bad {
        Err(ScanError::Delimiter(char::from(d)))
    } else {
        Ok(())
    }
}
