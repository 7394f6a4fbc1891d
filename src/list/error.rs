//! What can be wrong with a row of a list, and where.

use std::fmt;
use std::io;

use crate::model::field::FieldError;
use crate::model::ident::IdError;
use crate::model::rule::RuleKind;

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
    /// The row has more fields than the format's seven.
    #[error(
        "the row has {found} fields, but a list row has at most 7: \
         imei,status,reason,imsi,date,start,source"
    )]
    TooManyFields {
        /// How many fields the row has.
        found: usize,
    },
    /// A delta row has more fields than the format's eight.
    #[error(
        "the row has {found} fields, but a delta row has at most 8: \
         op,imei,status,reason,imsi,date,start,source"
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
        "byte 0x{byte:02X} is not UTF-8: the row was saved in another encoding (Windows-1252 \
         or Latin-1 often); save the list as UTF-8 or ASCII"
    )]
    #[non_exhaustive]
    NotUtf8 {
        /// Byte offset of the first invalid byte in the line (0-based).
        offset: usize,
        /// The first invalid byte.
        byte: u8,
        /// The line's bytes as read, without its line end: the row that
        /// [`ListError::row`] can only show with U+FFFD in place of the bad bytes (read them
        /// with [`ListError::row_bytes`]).
        bytes: Vec<u8>,
    },
    /// An IMSI on a row whose imei field is a TAC or a range.
    #[error(
        "an IMSI pairs with one IMEI, but this row's imei field is a {0}: remove the IMSI or list the IMEI"
    )]
    PairNeedsImei(RuleKind),
    /// A header row that names other columns.
    #[error(
        "the header row names columns {found:?}, but list columns are \
         imei,status,reason,imsi,date,start,source in that order"
    )]
    Header {
        /// The header's fields.
        found: Vec<String>,
    },
    /// A delta list's header row that names other columns.
    #[error(
        "the header row names columns {found:?}, but delta columns are \
         op,imei,status,reason,imsi,date,start,source in that order"
    )]
    DeltaHeader {
        /// The header's fields.
        found: Vec<String>,
    },
    /// The msisdn field is not an MSISDN.
    #[error("the msisdn field is not an MSISDN: {0}")]
    Msisdn(IdError),
    /// A DIRBS list's imei field holds a character that is not a digit.
    #[error(
        "the imei {imei:?} holds {ch:?}, which is not a digit: DIRBS lists the IMEIs it could \
         not normalise (hexadecimal, '*' or '#', as operators reported them) unless its \
         output_invalid_imeis option is off, and no index can key one; set the row aside, or \
         have the register turn output_invalid_imeis off"
    )]
    DirbsImeiCharacter {
        /// The imei field.
        imei: String,
        /// Its first character that is not a digit.
        ch: char,
    },
    /// A DIRBS list's imei field is digits, but not 14 to 16 of them.
    #[error(
        "the imei {imei:?} has {digits} digits, but DIRBS writes 14 (15 with a check digit, 16 \
         as an IMEISV): it lists the IMEIs it could not normalise unless its \
         output_invalid_imeis option is off, and no index can key one; set the row aside, or \
         have the register turn output_invalid_imeis off"
    )]
    DirbsImeiLength {
        /// The imei field.
        imei: String,
        /// How many digits it has.
        digits: usize,
    },
    /// A DIRBS list's block_date field is not a date.
    #[error(
        "{0:?} is not a block date: DIRBS writes YYYYMMDD, a real day from 19700101 to 99991231"
    )]
    DirbsDate(String),
    /// A DIRBS notification list's amnesty_granted field is not True or False.
    #[error("{0:?} is not an amnesty flag: DIRBS writes True or False")]
    DirbsAmnesty(String),
    /// A DIRBS list's field that the register always fills is empty.
    #[error(
        "the {field} field is empty, but DIRBS always fills it: the file was edited or damaged; \
         fill the field or set the row aside"
    )]
    DirbsBlank {
        /// The column's name, as the header names it.
        field: &'static str,
    },
    /// A DIRBS list's reasons field holds only `|` separators and blanks.
    #[error(
        "the reasons field names no reason, only '|' separators and blanks: DIRBS writes at \
         least one reason, separated by '|'; fill the field or set the row aside"
    )]
    DirbsNoReason,
    /// A DIRBS list's row whose number of fields is not the header's.
    #[error(
        "the row has {found} fields, but the header names {expected}: {columns}{}",
        if found > expected { "; a field with a comma (a reason) must be in double quotes" } else { "" }
    )]
    DirbsFieldCount {
        /// How many fields the row has.
        found: usize,
        /// How many columns the header names.
        expected: usize,
        /// The header's columns, comma-separated.
        columns: &'static str,
    },
    /// A DIRBS list file that does not start with a header row. This stops reading.
    #[error(
        "the file has no header row: every DIRBS list file starts with one, even an empty \
         list's (imei,block_date,reasons for the blacklist, imei,imsi,msisdn,block_date,reasons \
         for a notification list, imei,imsi,msisdn for an exception list); the file was cut \
         short or is not a DIRBS list"
    )]
    DirbsNoHeader,
    /// A DIRBS list file whose header row is no DIRBS list's. This stops reading.
    #[error(
        "the header row names columns {found:?}, which no DIRBS list has: the blacklist's are \
         imei,block_date,reasons, a notification list's imei,imsi,msisdn,block_date,reasons \
         (and amnesty_granted when the register grants amnesty), an exception list's \
         imei,imsi,msisdn"
    )]
    DirbsHeader {
        /// The header's fields.
        found: Vec<String>,
    },
    /// A DIRBS list file whose header is another list's than the one it is read as (by its
    /// name, or as its reader was told). This stops reading.
    #[error(
        "the header row is {found}'s, but the file is read as {expected} (its name says so, or \
         the caller did): the file was renamed or mixed up with another list's; check where it \
         came from"
    )]
    DirbsHeaderMismatch {
        /// The list the header belongs to, as words: `the blacklist`, `a notification list`
        /// or `an exception list`.
        found: &'static str,
        /// The list the file is read as, likewise.
        expected: &'static str,
    },
    /// A register's delta file given where full lists are read. This stops reading.
    #[error(
        "the file is a delta of the register's list (its name ends in \
         _delta_BASE_RUN_CHANGE.csv), but full lists are read here: build the index from the \
         full lists, then apply the deltas to it (imei-index apply INDEX --format dirbs DELTA…)"
    )]
    DirbsDeltaInBuild,
    /// A register's full list given where delta files are read. This stops reading.
    #[error(
        "the file is not a delta of the register's list: deltas are named \
         YYYYMMDD_HHMMSS_LIST_delta_BASE_RUN_CHANGE.csv (the change is in the name, not in a \
         column); build a new index from full lists (imei-index build --format dirbs), or give \
         the delta file its register name"
    )]
    DirbsFullInApply,
    /// A TAC database row's TAC field is not 8 digits.
    #[error(
        "the TAC field is not a TAC: {0}; GSMA's TAC database keys each row by 8 digits (a \
         spreadsheet that dropped a leading zero makes 7: restore it)"
    )]
    TacDbTac(IdError),
    /// A TAC database row's allocation date is not a date.
    #[error(
        "{0:?} is not an allocation date: GSMA writes DD-Mon-YYYY (01-Jan-2001); \
         YYYY-MM-DD is read too, and an empty field means no date"
    )]
    TacDbDate(String),
    /// A TAC database row with fewer fields than the header names.
    #[error(
        "the row has {found} fields, but the header names {expected}: fields are separated \
         by '|', and a field holding '|' must be in double quotes"
    )]
    TacDbFieldCount {
        /// How many fields the row has.
        found: usize,
        /// How many columns the header names.
        expected: usize,
    },
    /// A TAC database file without the header row that names its columns. This stops
    /// reading.
    #[error(
        "the file has no header row: GSMA's TAC database starts with one naming its \
         '|'-separated columns (TAC|Marketing Name|…|Manufacturer|… or \
         tac|manufacturer|model_name|…), and the columns are found by those names"
    )]
    TacDbNoHeader,
    /// A TAC database header row without the columns that are needed. This stops reading.
    #[error(
        "the header row names columns {found:?}, but a TAC database needs a TAC column \
         first and a Manufacturer column (GSMA's exports: TAC|Marketing Name|Internal Model \
         Name|Manufacturer|…, or tac|manufacturer|model_name|…)"
    )]
    TacDbHeader {
        /// The header's fields.
        found: Vec<String>,
    },
    /// The source could not be read. Unlike the others, this stops reading.
    #[error("reading failed: {0}")]
    Io(io::Error),
}

/// A row of a list that could not be read, and where it is.
///
/// It keeps the row as text for messages ([`row`](ListError::row)) and as the bytes that
/// were read ([`row_bytes`](ListError::row_bytes)): what a rejects file must hold so that the
/// fixed row reads back as the row that was meant, byte for byte.
#[derive(Debug)]
pub struct ListError {
    /// The list's name (usually its path).
    pub source_name: String,
    /// 1-based line number.
    pub line: u64,
    /// 1-based character column where the problem is (the field's first character, or the
    /// offending character when one is known).
    pub column: usize,
    /// The row as read, without its line end, as text: bytes that are not UTF-8 are shown
    /// as U+FFFD. For messages; write [`row_bytes`](ListError::row_bytes) to files.
    pub row: String,
    /// What is wrong.
    pub kind: RowError,
}

impl ListError {
    /// The row's bytes exactly as read, without its line end (and, on the first line,
    /// without a byte-order mark): what to write when setting a rejected row aside.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::list::ListReader;
    ///
    /// // "bloqué" saved as Windows-1252: é is the byte 0xE9, which is not UTF-8.
    /// let list = b"35209900,bloqu\xe9\n";
    /// let err = ListReader::new("l.csv", &list[..]).next().unwrap().unwrap_err();
    /// assert_eq!(err.row_bytes(), b"35209900,bloqu\xe9");
    /// assert_eq!(err.row, "35209900,bloqu\u{fffd}");
    /// assert!(err.to_string().starts_with("l.csv:1:15: byte 0xE9"), "{err}");
    /// ```
    pub fn row_bytes(&self) -> &[u8] {
        match &self.kind {
            // The only row that is not its text: the text has U+FFFD for the bad bytes.
            RowError::NotUtf8 { bytes, .. } => bytes,
            _ => self.row.as_bytes(),
        }
    }

    /// True when reading cannot go on, as opposed to one bad row: the source failed, a
    /// DIRBS list file's header row is missing, unknown or another list's (its rows would be
    /// read as the wrong list's), or a TAC database's header is missing or lacks a column.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            RowError::Io(_)
                | RowError::DirbsNoHeader
                | RowError::DirbsHeader { .. }
                | RowError::DirbsHeaderMismatch { .. }
                | RowError::DirbsDeltaInBuild
                | RowError::DirbsFullInApply
                | RowError::TacDbNoHeader
                | RowError::TacDbHeader { .. }
        )
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
