//! The rows of a register's list files: the header, then one row per line.

use std::io::BufRead;

use crate::list::csv::{Field, Records};
use crate::list::dirbs::name::ListKind;
use crate::list::error::{ListError, RowError};
use crate::model::ident::{IdError, Imei, Imsi, Msisdn};
use crate::model::rule::Date;

/// One row of a register's list file, as plain data.
///
/// Which fields a row has depends on its list: a blacklist row has no IMSI or MSISDN, an
/// exception row no block date or reasons, and only a notification list of a register that
/// grants amnesty has `amnesty_granted`. What a row means is the caller's to decide (see
/// docs/semantics.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The 1-based line of the file the row is on.
    pub line: u64,
    /// The handset: the first 14 digits of the imei field (a 15th digit, checked or not, and
    /// an IMEISV's software version are dropped, as the register drops them).
    pub imei: Imei,
    /// The subscriber's IMSI (notification and exception lists).
    pub imsi: Option<Imsi>,
    /// The subscriber's MSISDN (notification and exception lists; `None` when blank).
    pub msisdn: Option<Msisdn>,
    /// The date from which the IMEI is blocked (blacklist and notification lists).
    pub block_date: Option<Date>,
    /// The reasons, split on `|`, trimmed, without empty ones, sorted (by bytes) and
    /// deduplicated. Empty for exception rows.
    pub reasons: Vec<String>,
    /// Whether the block date was moved to the end of the register's amnesty period
    /// (notification lists of a register that grants amnesty; `None` when blank).
    pub amnesty_granted: Option<bool>,
}

/// The columns a file's header names, and which field holds what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    kind: ListKind,
    amnesty: bool,
}

const NOTIFICATIONS_WITH_AMNESTY: [&str; 6] = [
    "imei",
    "imsi",
    "msisdn",
    "block_date",
    "reasons",
    "amnesty_granted",
];

impl Header {
    /// Every header a register writes.
    const ALL: [Header; 4] = [
        Header {
            kind: ListKind::Blacklist,
            amnesty: false,
        },
        Header {
            kind: ListKind::Notifications,
            amnesty: false,
        },
        Header {
            kind: ListKind::Notifications,
            amnesty: true,
        },
        Header {
            kind: ListKind::Exceptions,
            amnesty: false,
        },
    ];

    fn columns(self) -> &'static [&'static str] {
        if self.amnesty {
            &NOTIFICATIONS_WITH_AMNESTY
        } else {
            self.kind.columns()
        }
    }

    /// The columns comma-separated, for messages.
    fn joined(self) -> &'static str {
        match (self.kind, self.amnesty) {
            (ListKind::Blacklist, _) => "imei,block_date,reasons",
            (ListKind::Notifications, false) => "imei,imsi,msisdn,block_date,reasons",
            (ListKind::Notifications, true) => {
                "imei,imsi,msisdn,block_date,reasons,amnesty_granted"
            }
            (ListKind::Exceptions, _) => "imei,imsi,msisdn",
        }
    }

    /// The header these fields name (case-insensitively), if they name one.
    fn of(fields: &[Field<'_>]) -> Option<Header> {
        Header::ALL.into_iter().find(|h| {
            let columns = h.columns();
            fields.len() == columns.len()
                && fields
                    .iter()
                    .zip(columns)
                    .all(|(f, c)| f.text.eq_ignore_ascii_case(c))
        })
    }

    /// Parses a data row's fields.
    fn parse(self, fields: &[Field<'_>], line: &str) -> Result<Row, (RowError, usize)> {
        let columns = self.columns();
        if fields.len() != columns.len() {
            let column = fields
                .get(columns.len())
                .map_or(line.chars().count() + 1, |f| f.column);
            let kind = RowError::DirbsFieldCount {
                found: fields.len(),
                expected: columns.len(),
                columns: self.joined(),
            };
            return Err((kind, column));
        }
        // The field under a column, if the list has that column.
        let field = |name: &str| columns.iter().position(|c| *c == name).map(|i| &fields[i]);
        let mandatory = |name: &'static str| -> Result<Option<&Field<'_>>, (RowError, usize)> {
            match field(name) {
                Some(f) if f.text.is_empty() => {
                    Err((RowError::DirbsBlank { field: name }, f.column))
                }
                other => Ok(other),
            }
        };
        let optional = |name: &str| field(name).filter(|f| !f.text.is_empty());
        // Every list's first column.
        let imei = &fields[0];
        if imei.text.is_empty() {
            return Err((RowError::DirbsBlank { field: "imei" }, imei.column));
        }
        let imei = parse_imei(imei)?;
        let imsi = match mandatory("imsi")? {
            Some(f) => Some(Imsi::parse(&f.text).map_err(|e| located(RowError::Imsi, e, f))?),
            None => None,
        };
        let msisdn = match optional("msisdn") {
            Some(f) => Some(Msisdn::parse(&f.text).map_err(|e| located(RowError::Msisdn, e, f))?),
            None => None,
        };
        let block_date = match mandatory("block_date")? {
            Some(f) => Some(parse_date(f)?),
            None => None,
        };
        let reasons = match mandatory("reasons")? {
            Some(f) => parse_reasons(f)?,
            None => Vec::new(),
        };
        let amnesty_granted = match optional("amnesty_granted") {
            Some(f) => Some(parse_amnesty(f)?),
            None => None,
        };
        Ok(Row {
            line: 0,
            imei,
            imsi,
            msisdn,
            block_date,
            reasons,
            amnesty_granted,
        })
    }
}

/// An identifier's error, at its column of the line.
fn located(wrap: fn(IdError) -> RowError, e: IdError, field: &Field<'_>) -> (RowError, usize) {
    let column = match &e {
        IdError::NonDigit { position, .. } | IdError::MisplacedSeparator { position, .. } => {
            field.column + position - 1
        }
        _ => field.column,
    };
    (wrap(e), column)
}

/// The imei field: 14 digits, or 15 or 16 keyed on their first 14. Nothing else: the
/// register writes no separators, and an IMEI it could not normalise is not one.
fn parse_imei(field: &Field<'_>) -> Result<Imei, (RowError, usize)> {
    let text = &*field.text;
    if let Some((i, ch)) = text.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        let kind = RowError::DirbsImeiCharacter {
            imei: text.to_string(),
            ch,
        };
        return Err((kind, field.column + i));
    }
    // All digits: only the length can be wrong, and a 15th digit is not checked.
    Imei::parse_lenient(text).map(|p| p.imei).map_err(|_| {
        let kind = RowError::DirbsImeiLength {
            imei: text.to_string(),
            digits: text.len(),
        };
        (kind, field.column)
    })
}

/// The block_date field: `YYYYMMDD`.
fn parse_date(field: &Field<'_>) -> Result<Date, (RowError, usize)> {
    let b = field.text.as_bytes();
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let date = (b.len() == 8 && b.iter().all(u8::is_ascii_digit))
        .then(|| Date::from_ymd(num(0..4), num(4..6), num(6..8)))
        .flatten();
    date.ok_or_else(|| (RowError::DirbsDate(field.text.to_string()), field.column))
}

/// The reasons field: split on `|`, trimmed, empties dropped, sorted and deduplicated.
fn parse_reasons(field: &Field<'_>) -> Result<Vec<String>, (RowError, usize)> {
    let mut reasons: Vec<String> = field
        .text
        .split('|')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    if reasons.is_empty() {
        return Err((RowError::DirbsNoReason, field.column));
    }
    reasons.sort_unstable();
    reasons.dedup();
    Ok(reasons)
}

/// The amnesty_granted field: `True` or `False`, in any case.
fn parse_amnesty(field: &Field<'_>) -> Result<bool, (RowError, usize)> {
    if field.text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if field.text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err((RowError::DirbsAmnesty(field.text.to_string()), field.column))
    }
}

/// Reads the rows of a register's list file (full or delta), one at a time.
///
/// The first row must be the header (names compared case-insensitively): it says which list
/// the file holds, and must be the one the reader was given, if it was given one (from the
/// file's name: [`FileName::list`]). Then every row is a [`Row`], or a [`ListError`] naming
/// the file, line and column of what is wrong; reading goes on after a bad row. A missing,
/// unknown or contradicting header is an error that ends reading
/// ([`ListError::is_fatal`]), as is an I/O error. Comment lines (`#`), blank lines, a
/// byte-order mark, CRLF line ends and double-quoted fields are read as in every list
/// ([`crate::list`]).
///
/// | field | when blank | otherwise |
/// |---|---|---|
/// | imei | an error | 14 digits, or 15 or 16 (keyed on the first 14); anything else an error |
/// | imsi | an error | an [`Imsi`], 5 to 15 digits |
/// | msisdn | `None` | an [`Msisdn`], 1 to 15 digits |
/// | block_date | an error | a [`Date`] written `YYYYMMDD` |
/// | reasons | an error | split on `\|`: at least one reason |
/// | amnesty_granted | `None` | `True` or `False`, in any case |
///
/// Rows come as the file has them, duplicates included: the register writes no duplicate
/// rows, so a caller that meets one may count it as a sign of a damaged or merged file.
///
/// [`FileName::list`]: crate::list::dirbs::FileName::list
///
/// # Example
///
/// ```
/// use imei_index::Imei;
/// use imei_index::list::dirbs::{FileName, ListKind, Reader};
///
/// let path = "20160301_101502_blacklist_delta_-1_57_blocked.csv";
/// let csv = "imei,block_date,reasons\r\n\
///            12345678901231,20160201,TAC not found in GSMA TAC database\r\n\
///            3511AAB1111110,20160201,Duplicate IMEI detected\r\n";
/// let kind = FileName::parse(path)?.list.kind();
/// let mut rows = Reader::new(path, csv.as_bytes(), Some(kind));
/// let row = rows.next().unwrap()?;
/// assert_eq!((row.line, row.imei), (2, Imei::parse("12345678901231")?));
/// assert_eq!(row.block_date.unwrap().to_string(), "2016-02-01");
/// assert_eq!(row.reasons, ["TAC not found in GSMA TAC database"]);
/// let err = rows.next().unwrap().unwrap_err();
/// assert_eq!((err.line, err.column), (3, 5));
/// assert!(err.to_string().starts_with(&format!("{path}:3:5: the imei \"3511AAB1111110\" holds 'A'")));
/// assert!(rows.next().is_none());
/// assert_eq!(rows.kind(), Some(ListKind::Blacklist));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reader<R> {
    records: Records<R>,
    expected: Option<ListKind>,
    header: Option<Header>,
    stopped: bool,
}

impl<R: BufRead> Reader<R> {
    /// A reader of the list file in `reader`, called `name` in errors, holding the list
    /// `kind`, or, with `None`, the list its header names.
    pub fn new(name: impl Into<String>, reader: R, kind: Option<ListKind>) -> Reader<R> {
        Reader {
            records: Records::new(name.into(), reader),
            expected: kind,
            header: None,
            stopped: false,
        }
    }

    /// The list the file holds: the one the header names once it is read, before that the
    /// one the reader was given.
    pub fn kind(&self) -> Option<ListKind> {
        self.header.map(|h| h.kind).or(self.expected)
    }

    /// The columns the header names, once it is read: [`ListKind::columns`], and for a
    /// notification list of a register that grants amnesty, `amnesty_granted` after them.
    pub fn columns(&self) -> Option<&'static [&'static str]> {
        self.header.map(Header::columns)
    }

    /// Data rows read so far (rows and rejected rows; not comments, blanks or the header).
    pub fn rows(&self) -> u64 {
        self.records.rows
    }

    /// Bytes consumed from the source so far, for progress reports.
    pub fn bytes_read(&self) -> u64 {
        self.records.bytes_read
    }

    /// The file's name, as given.
    pub fn name(&self) -> &str {
        &self.records.name
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Row, ListError>;

    fn next(&mut self) -> Option<Result<Row, ListError>> {
        if self.stopped {
            return None;
        }
        let expected = self.expected;
        let header = &mut self.header;
        let item = self.records.next_record(|fields, line, _| {
            let Some(h) = *header else {
                return match Header::of(fields) {
                    Some(h) => match expected {
                        Some(k) if k != h.kind => Some(Err((
                            RowError::DirbsHeaderMismatch {
                                found: h.kind.described(),
                                expected: k.described(),
                            },
                            1,
                        ))),
                        _ => {
                            *header = Some(h);
                            None
                        }
                    },
                    // A first row that starts like a header is a wrong one; else none.
                    None if fields[0].text.eq_ignore_ascii_case("imei") => {
                        let found = fields.iter().map(|f| f.text.to_string()).collect();
                        Some(Err((RowError::DirbsHeader { found }, 1)))
                    }
                    None => Some(Err((RowError::DirbsNoHeader, 1))),
                };
            };
            Some(h.parse(fields, line))
        });
        match item {
            Some(Ok(mut row)) => {
                row.line = self.records.line();
                Some(Ok(row))
            }
            Some(Err(e)) => {
                self.stopped = e.is_fatal();
                Some(Err(e))
            }
            None => {
                self.stopped = true;
                // The register writes a header even when the list is empty.
                self.header.is_none().then(|| {
                    Err(ListError {
                        source_name: self.records.name.clone(),
                        line: 1,
                        column: 1,
                        row: String::new(),
                        kind: RowError::DirbsNoHeader,
                    })
                })
            }
        }
    }
}
