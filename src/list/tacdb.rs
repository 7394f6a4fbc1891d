//! GSMA's TAC database file: the model behind every Type Allocation Code.
//!
//! GSMA allocates every TAC to a manufacturer and model, and registers and operators receive
//! the table as a `|`-separated file with a header row. Two exports are in use:
//!
//! ```text
//! TAC|Marketing Name|Internal Model Name|Manufacturer|Bands|Allocation Date|Country Code|Fixed Code|Manufacturer Code|Radio Interface|Brand Name|Model Name|Operating System|NFC|Bluetooth|WLAN|Device Type
//! 35209900|Galaxy S23|SM-S911B|Samsung Korea|GSM 900,LTE|01-Feb-2023|…|Samsung|SM-S911B|Android|Y|Y|Y|Smartphone
//! ```
//!
//! and the older `tac|manufacturer|model_name|bands|allocation_date|device_type|optional_fields`.
//! [`Reader`] finds the columns it keeps by their names (case and spaces or underscores do
//! not matter), whichever export it is given: the TAC (the first column), `Manufacturer`,
//! `Brand Name`, the model (`Marketing Name` when the row has one, else `Model Name`),
//! `Device Type` and `Allocation Date` (`DD-Mon-YYYY`, or `YYYY-MM-DD`; empty for none).
//! Other columns are read past. Fields may be double-quoted (a `|` or `"` inside one then
//! belongs to it); a UTF-8 byte-order mark, `#` comment lines and blank lines are skipped,
//! as in every list.
//!
//! A bad row is a [`ListError`] naming the file, line and column, and the reader goes on;
//! a missing or unusable header stops it ([`ListError::is_fatal`]). [`read_into`] fills a
//! [`TacTable`] and accounts for every row: stored, duplicate (a TAC already in the table:
//! the first row is kept) or rejected.
//!
//! # Example
//!
//! ```
//! use imei_index::list::tacdb::{self, Reader};
//! use imei_index::{Tac, TacTable};
//!
//! let file = "\
//! tac|manufacturer|model_name|bands|allocation_date|device_type|optional_fields
//! 35209900|Acme|Roadrunner 3|GSM 900|01-Jan-2001|Handheld|
//! 3520990|Acme|typo|GSM 900||Handheld|
//! 35209900|Acme|again|GSM 900||Handheld|
//! ";
//! let mut table = TacTable::new();
//! let mut rejected = Vec::new();
//! let summary = tacdb::read_into(&mut table, Reader::new("tacdb.txt", file.as_bytes()), |e| Ok(rejected.push(e)))?;
//! assert_eq!((summary.rows, summary.stored, summary.duplicates, summary.rejected), (3, 1, 1, 1));
//! assert_eq!(rejected[0].to_string().split(": ").next(), Some("tacdb.txt:3:1"));
//! let row = table.get(Tac::parse("35209900")?).unwrap();
//! assert_eq!((row.manufacturer.as_str(), row.model.as_str()), ("Acme", "Roadrunner 3"));
//! assert_eq!(row.allocated.unwrap().to_string(), "2001-01-01");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::BufRead;

use crate::list::csv::{Field, Records};
use crate::list::error::{ListError, RowError};
use crate::model::device::{DeviceInfo, TacTable};
use crate::model::ident::Tac;
use crate::model::rule::Date;

/// One row of a TAC database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The row's 1-based line.
    pub line: u64,
    /// The TAC.
    pub tac: Tac,
    /// What the row says about it.
    pub info: DeviceInfo,
}

/// Where the kept columns are, as the header names them.
#[derive(Clone, Copy, Debug)]
struct Columns {
    /// Columns the header names.
    count: usize,
    manufacturer: usize,
    brand: Option<usize>,
    marketing: Option<usize>,
    model: Option<usize>,
    device_type: Option<usize>,
    allocated: Option<usize>,
    /// The last column is the old export's `optional_fields`, which may hold `|`s of its
    /// own, or be left out.
    open_ended: bool,
}

fn normalise(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| {
            if c == ' ' || c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

impl Columns {
    fn of(fields: &[Field<'_>]) -> Option<Columns> {
        let names: Vec<String> = fields.iter().map(|f| normalise(&f.text)).collect();
        if names.first().map(String::as_str) != Some("tac") {
            return None;
        }
        let at = |n: &str| names.iter().position(|x| x == n);
        Some(Columns {
            count: names.len(),
            manufacturer: at("manufacturer")?,
            brand: at("brand_name").or_else(|| at("brand")),
            marketing: at("marketing_name"),
            model: at("model_name"),
            device_type: at("device_type"),
            allocated: at("allocation_date"),
            open_ended: names.last().map(String::as_str) == Some("optional_fields"),
        })
    }

    fn parse(&self, fields: &[Field<'_>]) -> Result<(Tac, DeviceInfo), (RowError, usize)> {
        let needed = self.count - usize::from(self.open_ended);
        if fields.len() < needed || (fields.len() > self.count && !self.open_ended) {
            return Err((
                RowError::TacDbFieldCount {
                    found: fields.len(),
                    expected: self.count,
                },
                fields.last().map_or(1, |f| f.column),
            ));
        }
        let tac =
            Tac::parse(&fields[0].text).map_err(|e| (RowError::TacDbTac(e), fields[0].column))?;
        let text = |i: Option<usize>| -> String {
            i.and_then(|i| fields.get(i))
                .map_or_else(String::new, |f| f.text.trim().to_string())
        };
        let allocated = match self.allocated.and_then(|i| fields.get(i)) {
            None => None,
            Some(f) if f.text.trim().is_empty() => None,
            Some(f) => Some(
                parse_date(f.text.trim())
                    .ok_or_else(|| (RowError::TacDbDate(f.text.to_string()), f.column))?,
            ),
        };
        let mut model = text(self.marketing);
        if model.is_empty() {
            model = text(self.model);
        }
        Ok((
            tac,
            DeviceInfo {
                manufacturer: text(Some(self.manufacturer)),
                brand: text(self.brand),
                model,
                device_type: text(self.device_type),
                allocated,
            },
        ))
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `DD-Mon-YYYY` (GSMA's) or `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<Date> {
    if let Ok(d) = s.parse::<Date>() {
        return Some(d);
    }
    let mut parts = s.split('-');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || d.is_empty() || d.len() > 2 || y.len() != 4 {
        return None;
    }
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(d) || !all_digits(y) {
        return None;
    }
    let month = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(m))? as u32 + 1;
    Date::from_ymd(y.parse().ok()?, month, d.parse().ok()?)
}

/// Reads a TAC database file, one row at a time.
///
/// Yields a [`Row`] for every data row and a [`ListError`] for every row that cannot be
/// read, and goes on after it; a missing or unusable header row, or an I/O error, ends it.
pub struct Reader<R> {
    records: Records<R>,
    columns: Option<Columns>,
    stopped: bool,
}

impl<R: BufRead> Reader<R> {
    /// A reader of the TAC database in `reader`, called `name` in errors.
    pub fn new(name: impl Into<String>, reader: R) -> Reader<R> {
        let mut records = Records::new(name.into(), reader);
        records.delimiter = '|';
        Reader {
            records,
            columns: None,
            stopped: false,
        }
    }

    /// Data rows read so far (rows and rejected rows; not comments, blanks or the header).
    pub fn rows(&self) -> u64 {
        self.records.rows
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
        let columns = &mut self.columns;
        let item = self.records.next_record(|fields, _, first| match columns {
            Some(c) => Some(c.parse(fields)),
            None if first => match Columns::of(fields) {
                Some(c) => {
                    *columns = Some(c);
                    None
                }
                None if normalise(&fields[0].text) == "tac" => {
                    let found = fields.iter().map(|f| f.text.to_string()).collect();
                    Some(Err((RowError::TacDbHeader { found }, 1)))
                }
                None => Some(Err((RowError::TacDbNoHeader, 1))),
            },
            None => Some(Err((RowError::TacDbNoHeader, 1))),
        });
        match item {
            Some(Ok((tac, info))) => Some(Ok(Row {
                line: self.records.line(),
                tac,
                info,
            })),
            Some(Err(e)) => {
                self.stopped = e.is_fatal();
                Some(Err(e))
            }
            None => {
                self.stopped = true;
                self.columns.is_none().then(|| {
                    Err(ListError {
                        source_name: self.records.name.clone(),
                        line: 1,
                        column: 1,
                        row: String::new(),
                        kind: RowError::TacDbNoHeader,
                    })
                })
            }
        }
    }
}

/// What [`read_into`] did with a file's rows: `rows == stored + duplicates + rejected`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TacDbSummary {
    /// Data rows read.
    pub rows: u64,
    /// Rows stored: TACs new to the table.
    pub stored: u64,
    /// Rows for a TAC the table already had (the first row is kept).
    pub duplicates: u64,
    /// Rows rejected as unreadable (only with a reject handler that goes on).
    pub rejected: u64,
}

/// Reads every row of a TAC database into `table`, giving each bad row to `on_reject`,
/// which stops the reading by returning its error or goes on by returning `Ok`.
///
/// # Errors
///
/// The error `on_reject` returns, or a fatal one ([`ListError::is_fatal`]): an I/O error, or
/// a header that is missing or lacks the TAC or Manufacturer column.
pub fn read_into<R: BufRead>(
    table: &mut TacTable,
    rows: Reader<R>,
    mut on_reject: impl FnMut(ListError) -> Result<(), ListError>,
) -> Result<TacDbSummary, ListError> {
    let mut s = TacDbSummary::default();
    for row in rows {
        s.rows += 1;
        match row {
            Ok(r) => {
                if table.insert(r.tac, r.info) {
                    s.stored += 1;
                } else {
                    s.duplicates += 1;
                }
            }
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                on_reject(e)?;
                s.rejected += 1;
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "TAC|Marketing Name|Internal Model Name|Manufacturer|Bands|Allocation Date|Country Code|Fixed Code|Manufacturer Code|Radio Interface|Brand Name|Model Name|Operating System|NFC|Bluetooth|WLAN|Device Type";

    fn read(file: &str) -> (TacTable, TacDbSummary, Vec<ListError>) {
        let mut t = TacTable::new();
        let mut errs = Vec::new();
        let s = read_into(&mut t, Reader::new("db.txt", file.as_bytes()), |e| {
            errs.push(e);
            Ok(())
        });
        match s {
            Ok(s) => (t, s, errs),
            Err(e) => {
                errs.push(e);
                (t, TacDbSummary::default(), errs)
            }
        }
    }

    #[test]
    fn reads_the_current_export_by_column_names() {
        let file = format!(
            "\u{feff}{NEW}\r\n35209900|Galaxy S23|SM-S911B|Samsung Korea|GSM 900,LTE|01-Feb-2023|410|x|y|LTE|Samsung|SM-S911B|Android|Y|Y|Y|Smartphone\r\n\
             01234567||X1|\"Nokia | HMD\"|GSM|9-mar-2019|||||||||||Modem\r\n"
        );
        let (t, s, errs) = read(&file);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((s.rows, s.stored, s.duplicates, s.rejected), (2, 2, 0, 0));
        let a = t.get(Tac::parse("35209900").unwrap()).unwrap();
        assert_eq!(
            (
                a.manufacturer.as_str(),
                a.brand.as_str(),
                a.model.as_str(),
                a.device_type.as_str()
            ),
            ("Samsung Korea", "Samsung", "Galaxy S23", "Smartphone")
        );
        assert_eq!(a.allocated.unwrap().to_string(), "2023-02-01");
        // No marketing name: the model name; a quoted field keeps its '|'.
        let b = t.get(Tac::parse("01234567").unwrap()).unwrap();
        assert_eq!(
            (b.manufacturer.as_str(), b.model.as_str()),
            ("Nokia | HMD", "")
        );
        assert_eq!(b.allocated.unwrap().to_string(), "2019-03-09");
    }

    #[test]
    fn reads_the_old_export_with_open_ended_optional_fields() {
        let file = "tac|manufacturer|model_name|bands|allocation_date|device_type|optional_fields\n\
                    35209900|Acme|R3|GSM|2001-01-01|Handheld|a|b|c\n\
                    35209901|Acme|R4|GSM||Handheld\n";
        let (t, s, errs) = read(file);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(s.stored, 2);
        let a = t.get(Tac::parse("35209900").unwrap()).unwrap();
        assert_eq!(
            (a.model.as_str(), a.device_type.as_str(), a.brand.as_str()),
            ("R3", "Handheld", "")
        );
        assert_eq!(
            t.get(Tac::parse("35209901").unwrap()).unwrap().allocated,
            None
        );
    }

    #[test]
    fn bad_rows_are_located_and_counted() {
        let file = format!(
            "{NEW}\n\
             3520990A|m|i|Maker|b|01-Jan-2001|||||||||||t\n\
             35209900|m|i|Maker|b|31-Feb-2001|||||||||||t\n\
             35209900|m|i|Maker\n\
             35209900|m|i|Maker|b|01-Jan-2001|||||||||||t\n\
             35209900|m2|i|Maker|b|01-Jan-2001|||||||||||t\n"
        );
        let (t, s, errs) = read(&file);
        assert_eq!((s.rows, s.stored, s.duplicates, s.rejected), (5, 1, 1, 3));
        assert_eq!(s.rows, s.stored + s.duplicates + s.rejected);
        let at: Vec<(u64, usize)> = errs.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(at, [(2, 1), (3, 22), (4, 14)]);
        assert!(matches!(errs[0].kind, RowError::TacDbTac(_)), "{}", errs[0]);
        assert!(
            errs[1]
                .to_string()
                .contains("\"31-Feb-2001\" is not an allocation date")
        );
        assert!(
            errs[2]
                .to_string()
                .contains("the row has 4 fields, but the header names 17")
        );
        // The first row of a TAC is kept.
        assert_eq!(t.get(Tac::parse("35209900").unwrap()).unwrap().model, "m");
    }

    #[test]
    fn a_missing_or_unusable_header_stops_reading() {
        let (_, _, errs) = read("35209900|Acme|R3\n35209901|Acme|R4\n");
        assert_eq!(errs.len(), 1);
        assert!(matches!(errs[0].kind, RowError::TacDbNoHeader));
        let (_, _, errs) = read("tac|model_name\n35209900|R3\n");
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .to_string()
                .contains("needs a TAC column first and a Manufacturer column")
        );
        let (_, _, errs) = read("");
        assert!(matches!(errs[0].kind, RowError::TacDbNoHeader));
    }

    #[test]
    fn dates_in_both_forms() {
        assert_eq!(parse_date("01-Jan-2001").unwrap().to_string(), "2001-01-01");
        assert_eq!(parse_date("1-DEC-1999").unwrap().to_string(), "1999-12-01");
        assert_eq!(parse_date("2024-02-29").unwrap().to_string(), "2024-02-29");
        for bad in [
            "01-Foo-2001",
            "32-Jan-2001",
            "01-Jan-01",
            "01/01/2001",
            "-Jan-2001",
            "x",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
