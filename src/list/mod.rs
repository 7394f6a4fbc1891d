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
//! Columns are `imei,status,reason,imsi,date`; the trailing three may be empty or absent.
//! Fields may be double-quoted (`""` inside quotes is one quote) and are trimmed of
//! surrounding whitespace. Lines may end in LF or CRLF. IMEIs are parsed strictly (a 15th
//! digit must be the check digit): a wrong check digit in a list is more often a typing
//! error than a forged handset, and a list that means the forged identity can give its 14
//! digits.
//!
//! A row that cannot be read is a [`ListError`] naming the source, line and column, and
//! keeping the row's text, so that callers can stop or write rejected rows aside and go on.
//!
//! Delta lists ([`DeltaReader`]) are lists with an operation column in front: the changes
//! from one version of a list to the next.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};

use crate::model::change::Change;
use crate::model::ident::{IdError, Imei, Imsi, Tac};
use crate::model::rule::{Entry, FieldError, Rule, RuleKind, Target};

/// The columns of a list file, in order.
pub const COLUMNS: [&str; 5] = ["imei", "status", "reason", "imsi", "date"];

/// What is wrong with one row of a list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The imei field is not an IMEI, TAC or range.
    #[error("the imei field is not an IMEI, an 8-digit TAC or a FIRST..LAST range: {0}")]
    Imei(#[source] IdError),
    /// The imsi field is not an IMSI.
    #[error("the imsi field is not an IMSI: {0}")]
    Imsi(#[source] IdError),
    /// The status, reason or date field, or the range, is wrong.
    #[error("{0}")]
    Field(#[source] FieldError),
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
    Io(#[source] io::Error),
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

impl std::error::Error for ListError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// A field of a delimited record and the 1-based character column where it starts.
#[derive(Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field's text: unquoted and trimmed.
    pub text: Cow<'a, str>,
    /// 1-based character column of the field's first character (for a quoted field, the
    /// first character inside the quotes, so that positions within the text map to columns).
    pub column: usize,
}

/// Splits one record (without its line end) into fields.
///
/// Fields are separated by `delimiter`, trimmed of surrounding spaces and tabs, and may be
/// double-quoted; inside quotes the delimiter is text and `""` is one quote.
///
/// # Errors
///
/// The problem and its 1-based column: an unterminated quote, or text after a closing quote.
///
/// # Example
///
/// ```
/// use imei_index::list::split_record;
///
/// let fields = split_record(r#"35209900176148, "a ""b"", c" ,x"#, ',')?;
/// let texts: Vec<&str> = fields.iter().map(|f| &*f.text).collect();
/// assert_eq!(texts, ["35209900176148", r#"a "b", c"#, "x"]);
/// assert_eq!(fields[2].column, 31);
/// # Ok::<(), (imei_index::list::RowError, usize)>(())
/// ```
pub fn split_record(line: &str, delimiter: char) -> Result<Vec<Field<'_>>, (RowError, usize)> {
    let mut fields = Vec::with_capacity(5);
    let mut chars = line.char_indices().peekable();
    let mut column = 1usize;
    loop {
        // Skip leading blanks.
        while let Some(&(_, c)) = chars.peek() {
            if (c == ' ' || c == '\t') && c != delimiter {
                chars.next();
                column += 1;
            } else {
                break;
            }
        }
        let start_column = column;
        match chars.peek().copied() {
            Some((qi, '"')) => {
                chars.next();
                column += 1;
                let mut text = String::new();
                let mut closed = false;
                let mut seg_start = qi + 1;
                while let Some((i, c)) = chars.next() {
                    column += 1;
                    if c == '"' {
                        text.push_str(&line[seg_start..i]);
                        if let Some(&(_, '"')) = chars.peek() {
                            chars.next();
                            column += 1;
                            text.push('"');
                            seg_start = i + 2;
                        } else {
                            closed = true;
                            break;
                        }
                    }
                }
                if !closed {
                    return Err((RowError::UnterminatedQuote, start_column));
                }
                // Only blanks may follow the closing quote.
                let mut end = false;
                loop {
                    match chars.next() {
                        None => {
                            end = true;
                            break;
                        }
                        Some((_, c)) if c == delimiter => {
                            column += 1;
                            break;
                        }
                        Some((_, ' ' | '\t')) => column += 1,
                        Some(_) => return Err((RowError::TextAfterQuote, column)),
                    }
                }
                fields.push(Field {
                    text: Cow::Owned(text),
                    // The text starts after the opening quote.
                    column: start_column + 1,
                });
                if end {
                    return Ok(fields);
                }
            }
            _ => {
                let start = chars.peek().map_or(line.len(), |&(i, _)| i);
                let mut end_at = line.len();
                let mut more = false;
                for (i, c) in chars.by_ref() {
                    if c == delimiter {
                        end_at = i;
                        more = true;
                        column += 1;
                        break;
                    }
                    column += 1;
                }
                fields.push(Field {
                    text: Cow::Borrowed(line[start..end_at].trim_end_matches([' ', '\t'])),
                    column: start_column,
                });
                if !more {
                    return Ok(fields);
                }
            }
        }
    }
}

/// Parses the imei field of a row: a range, a TAC or an IMEI.
fn parse_target(text: &str, column: usize) -> Result<ImeiField, (RowError, usize)> {
    // IdError positions are 1-based within the field; make them columns of the line.
    let at = |e: IdError, offset: usize| {
        let col = match &e {
            IdError::NonDigit { position, .. } | IdError::MisplacedSeparator { position, .. } => {
                column + offset + position - 1
            }
            _ => column + offset,
        };
        (RowError::Imei(e), col)
    };
    if let Some((first, last)) = text.split_once("..") {
        let first_imei = Imei::parse(first).map_err(|e| at(e, 0))?;
        let offset = first.chars().count() + 2;
        let last_imei = Imei::parse(last).map_err(|e| at(e, offset))?;
        return Ok(ImeiField::Range(first_imei, last_imei));
    }
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(ImeiField::Tac(Tac::parse(text).map_err(|e| at(e, 0))?));
    }
    Ok(ImeiField::Imei(Imei::parse(text).map_err(|e| at(e, 0))?))
}

/// What the imei field names, before the imsi field makes an IMEI a pair.
enum ImeiField {
    Imei(Imei),
    Range(Imei, Imei),
    Tac(Tac),
}

/// Parses one list row's fields into a rule.
fn parse_row(fields: &[Field<'_>], line_len: usize) -> Result<Rule, (RowError, usize)> {
    if fields.len() > COLUMNS.len() {
        return Err((
            RowError::TooManyFields {
                found: fields.len(),
            },
            fields[COLUMNS.len()].column,
        ));
    }
    let (target, entry) = parse_fields(fields, line_len, true)?;
    let entry = entry.expect("a required status was parsed");
    Ok(Rule::new(target, entry).expect("parse_fields checked the range"))
}

/// Parses the fields `imei,status,reason,imsi,date` (at most five) into a target and,
/// when there is a status, an entry. The status may be absent only if not `required`.
fn parse_fields(
    fields: &[Field<'_>],
    line_len: usize,
    required: bool,
) -> Result<(Target, Option<Entry>), (RowError, usize)> {
    let get = |i: usize| fields.get(i).filter(|f| !f.text.is_empty());
    let imei_field = &fields[0];
    let target = parse_target(&imei_field.text, imei_field.column)?;
    let field_err = |e: FieldError, f: &Field<'_>| (RowError::Field(e), f.column);
    let mut entry = match get(1) {
        Some(f) => Some(Entry::new(f.text.parse().map_err(|e| field_err(e, f))?)),
        None if required => {
            return Err((
                RowError::MissingStatus,
                fields.get(1).map_or(line_len + 1, |f| f.column),
            ));
        }
        None => None,
    };
    if let Some(f) = get(2) {
        let reason = f.text.parse().map_err(|e| field_err(e, f))?;
        entry = entry.map(|e| e.with_reason(reason));
    }
    if let Some(f) = get(4) {
        let date = f.text.parse().map_err(|e| field_err(e, f))?;
        entry = entry.map(|e| e.with_date(date));
    }
    let imsi = match get(3) {
        Some(f) => Some((
            Imsi::parse(&f.text).map_err(|e| (RowError::Imsi(e), f.column))?,
            f.column,
        )),
        None => None,
    };
    let target = match (target, imsi) {
        (ImeiField::Imei(imei), Some((imsi, _))) => Target::Pair(imei, imsi),
        (ImeiField::Imei(imei), None) => Target::Imei(imei),
        (ImeiField::Range(..), Some((_, col))) => {
            return Err((RowError::PairNeedsImei(RuleKind::Range), col));
        }
        (ImeiField::Tac(_), Some((_, col))) => {
            return Err((RowError::PairNeedsImei(RuleKind::Tac), col));
        }
        (ImeiField::Range(first, last), None) if first > last => {
            return Err(field_err(
                FieldError::RangeOrder { first, last },
                imei_field,
            ));
        }
        (ImeiField::Range(first, last), None) => Target::Range(first, last),
        (ImeiField::Tac(tac), None) => Target::Tac(tac),
    };
    Ok((target, entry))
}

/// Parses one delta row's fields (`op,imei,status,reason,imsi,date`) into a change.
fn parse_delta_row(fields: &[Field<'_>], line_len: usize) -> Result<Change, (RowError, usize)> {
    if fields.len() > DELTA_COLUMNS.len() {
        return Err((
            RowError::TooManyDeltaFields {
                found: fields.len(),
            },
            fields[DELTA_COLUMNS.len()].column,
        ));
    }
    let op_field = &fields[0];
    let op = ["add", "change", "remove"]
        .into_iter()
        .position(|op| op.eq_ignore_ascii_case(&op_field.text))
        .ok_or_else(|| (RowError::Op(op_field.text.to_string()), op_field.column))?;
    // A row of only an operation has an empty target just past its end.
    let missing = [Field {
        text: Cow::Borrowed(""),
        column: line_len + 1,
    }];
    let rest = if fields.len() > 1 {
        &fields[1..]
    } else {
        &missing[..]
    };
    if op == 2 {
        let (target, entry) = parse_fields(rest, line_len, false)?;
        return Ok(Change::Remove(target, entry));
    }
    let (target, entry) = parse_fields(rest, line_len, true)?;
    let rule = Rule::new(target, entry.expect("a required status was parsed"))
        .expect("parse_fields checked the range");
    Ok(if op == 0 {
        Change::Add(rule)
    } else {
        Change::Change(rule)
    })
}

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
}

impl<R: BufRead> ListReader<R> {
    /// A reader of the list in `reader`, called `name` in errors.
    pub fn new(name: impl Into<String>, reader: R) -> ListReader<R> {
        ListReader {
            records: Records::new(name.into(), reader),
        }
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
        self.records
            .next_row(&COLUMNS, parse_row, |found| RowError::Header { found })
    }
}

/// The columns of a delta list, in order.
pub const DELTA_COLUMNS: [&str; 6] = ["op", "imei", "status", "reason", "imsi", "date"];

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
/// assert!(matches!(rows.next().unwrap()?, Change::Remove(_, None)));
/// let err = rows.next().unwrap().unwrap_err();
/// assert_eq!((err.line, err.column), (4, 1));
/// # Ok::<(), imei_index::list::ListError>(())
/// ```
pub struct DeltaReader<R> {
    records: Records<R>,
}

impl<R: BufRead> DeltaReader<R> {
    /// A reader of the delta list in `reader`, called `name` in errors.
    pub fn new(name: impl Into<String>, reader: R) -> DeltaReader<R> {
        DeltaReader {
            records: Records::new(name.into(), reader),
        }
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
        self.records
            .next_row(&DELTA_COLUMNS, parse_delta_row, |found| {
                RowError::DeltaHeader { found }
            })
    }
}

/// The lines of a list or delta list, split into fields: what both readers share.
struct Records<R> {
    reader: R,
    name: String,
    line: u64,
    rows: u64,
    seen_data: bool,
    done: bool,
    buf: Vec<u8>,
    bytes_read: u64,
}

impl<R: BufRead> Records<R> {
    fn new(name: String, reader: R) -> Records<R> {
        Records {
            reader,
            name,
            line: 0,
            rows: 0,
            seen_data: false,
            done: false,
            buf: Vec::with_capacity(128),
            bytes_read: 0,
        }
    }

    fn error(&self, kind: RowError, column: usize, row: &str) -> ListError {
        ListError {
            source_name: self.name.clone(),
            line: self.line,
            column,
            row: row.to_string(),
            kind,
        }
    }

    /// The next data row, parsed by `parse`. A first row whose first field is the first
    /// column's name is a header: skipped if it names `columns` in order, else an error
    /// made by `bad_header`.
    fn next_row<T>(
        &mut self,
        columns: &[&str],
        parse: impl Fn(&[Field<'_>], usize) -> Result<T, (RowError, usize)>,
        bad_header: impl Fn(Vec<String>) -> RowError,
    ) -> Option<Result<T, ListError>> {
        while !self.done {
            self.buf.clear();
            let n = match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    self.line += 1;
                    return Some(Err(self.error(RowError::Io(e), 1, "")));
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            self.bytes_read += n as u64;
            self.line += 1;
            let mut raw = &self.buf[..];
            if let [rest @ .., b'\n'] = raw {
                raw = rest;
            }
            if let [rest @ .., b'\r'] = raw {
                raw = rest;
            }
            // A UTF-8 byte-order mark on the first line is an editor's artefact, not data.
            if self.line == 1 {
                raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
            }
            let line = match std::str::from_utf8(raw) {
                Ok(l) => l,
                Err(e) => {
                    self.rows += 1;
                    let lossy = String::from_utf8_lossy(raw).into_owned();
                    let offset = e.valid_up_to();
                    let column = raw[..offset].iter().filter(|&&b| b & 0xc0 != 0x80).count() + 1;
                    return Some(Err(self.error(
                        RowError::NotUtf8 { offset },
                        column,
                        &lossy,
                    )));
                }
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields = match split_record(line, ',') {
                Ok(f) => f,
                Err((kind, column)) => {
                    self.rows += 1;
                    self.seen_data = true;
                    let line = line.to_string();
                    return Some(Err(self.error(kind, column, &line)));
                }
            };
            let first_row = !self.seen_data;
            self.seen_data = true;
            if first_row && fields[0].text.eq_ignore_ascii_case(columns[0]) {
                let names_ok = fields.len() <= columns.len()
                    && fields
                        .iter()
                        .zip(columns)
                        .all(|(f, c)| f.text.eq_ignore_ascii_case(c));
                if names_ok {
                    continue;
                }
                self.rows += 1;
                let found = fields.iter().map(|f| f.text.to_string()).collect();
                let line = line.to_string();
                return Some(Err(self.error(bad_header(found), 1, &line)));
            }
            self.rows += 1;
            return Some(
                parse(&fields, line.chars().count()).map_err(|(kind, column)| {
                    let line = line.to_string();
                    self.error(kind, column, &line)
                }),
            );
        }
        None
    }
}

/// Formats a rule as a list row (without line end), as `imei-index dump` writes it.
///
/// IMEIs are written with their check digit, so that reading the row back is strict.
///
/// # Example
///
/// ```
/// use imei_index::list::format_row;
/// use imei_index::{Entry, Imei, Imsi, Reason, Rule, Status};
///
/// let rule = Rule::pair(
///     Imei::parse("35209900176148")?,
///     Imsi::parse("404685505601234")?,
///     Entry::new(Status::Allowed).with_reason(Reason::Duplicate),
/// );
/// assert_eq!(format_row(&rule), "352099001761481,allowed,duplicate,404685505601234,");
/// # Ok::<(), imei_index::IdError>(())
/// ```
pub fn format_row(rule: &Rule) -> String {
    fields_of(rule.target(), Some(&rule.entry))
}

/// Formats a change as a delta list row (without line end), as `imei-index diff` writes it.
///
/// # Example
///
/// ```
/// use imei_index::list::format_change;
/// use imei_index::{Change, Entry, Imei, Rule, Status, Target};
///
/// let imei = Imei::parse("35209900176148")?;
/// let rule = Rule::imei(imei, Entry::new(Status::Blocked));
/// assert_eq!(format_change(&Change::Add(rule)), "add,352099001761481,blocked,,,");
/// let gone = Change::Remove(Target::Imei(imei), None);
/// assert_eq!(format_change(&gone), "remove,352099001761481,,,,");
/// # Ok::<(), imei_index::IdError>(())
/// ```
pub fn format_change(change: &Change) -> String {
    let (op, target, entry) = match change {
        Change::Add(r) => ("add", r.target(), Some(&r.entry)),
        Change::Change(r) => ("change", r.target(), Some(&r.entry)),
        Change::Remove(t, e) => ("remove", *t, e.as_ref()),
    };
    format!("{op},{}", fields_of(target, entry))
}

/// The fields `imei,status,reason,imsi,date` of a target and, if known, its entry.
fn fields_of(target: Target, entry: Option<&Entry>) -> String {
    let (target, imsi) = match target {
        Target::Imei(i) => (i.to_string(), None),
        Target::Pair(i, s) => (i.to_string(), Some(s)),
        Target::Range(a, b) => (format!("{a}..{b}"), None),
        Target::Tac(t) => (t.to_string(), None),
    };
    format!(
        "{target},{},{},{},{}",
        entry.map(|e| e.status.as_str()).unwrap_or(""),
        entry
            .and_then(|e| e.reason)
            .map(|r| r.as_str())
            .unwrap_or(""),
        imsi.map(|s| s.to_string()).unwrap_or_default(),
        entry
            .and_then(|e| e.date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split_record(line, ',')
            .unwrap()
            .into_iter()
            .map(|f| f.text.into_owned())
            .collect()
    }

    #[test]
    fn splits_plain_quoted_and_empty_fields() {
        assert_eq!(texts("a,b,,c"), ["a", "b", "", "c"]);
        assert_eq!(texts(""), [""]);
        assert_eq!(texts("a,"), ["a", ""]);
        assert_eq!(texts(" \"x,y\" , z "), ["x,y", "z"]);
        assert_eq!(texts("\"\""), [""]);
        assert_eq!(texts("\"a\"\"\""), ["a\""]);
    }

    #[test]
    fn reports_quote_errors_with_columns() {
        assert!(matches!(
            split_record("a,\"bc", ','),
            Err((RowError::UnterminatedQuote, 3))
        ));
        assert!(matches!(
            split_record("\"a\"b,c", ','),
            Err((RowError::TextAfterQuote, 4))
        ));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let f = split_record("é,x", ',').unwrap();
        assert_eq!(f[1].column, 3);
    }
}
