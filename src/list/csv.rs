//! Records: lines cut into fields, with quotes, comments, a BOM and the header row.

use std::borrow::Cow;
use std::io::{self, BufRead};

use crate::list::error::{ListError, RowError};
use crate::list::text::{is_comment, strip_bom};

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

/// The lines of a list or delta list, split into fields: what both readers share.
pub(super) struct Records<R> {
    reader: R,
    pub(super) name: String,
    line: u64,
    pub(super) rows: u64,
    seen_data: bool,
    done: bool,
    buf: Vec<u8>,
    pub(super) bytes_read: u64,
    /// The field delimiter: `,` for lists, `|` for GSMA's TAC database.
    pub(super) delimiter: char,
}

impl<R: BufRead> Records<R> {
    pub(super) fn new(name: String, reader: R) -> Records<R> {
        Records {
            reader,
            name,
            line: 0,
            rows: 0,
            seen_data: false,
            done: false,
            buf: Vec::with_capacity(128),
            bytes_read: 0,
            delimiter: ',',
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
    pub(super) fn next_row<T>(
        &mut self,
        columns: &[&str],
        mut parse: impl FnMut(&[Field<'_>], usize) -> Result<T, (RowError, usize)>,
        bad_header: impl Fn(Vec<String>) -> RowError,
    ) -> Option<Result<T, ListError>> {
        self.next_record(|fields, line, first| {
            if first && fields[0].text.eq_ignore_ascii_case(columns[0]) {
                let names_ok = fields.len() <= columns.len()
                    && fields
                        .iter()
                        .zip(columns)
                        .all(|(f, c)| f.text.eq_ignore_ascii_case(c));
                if names_ok {
                    return None;
                }
                let found = fields.iter().map(|f| f.text.to_string()).collect();
                return Some(Err((bad_header(found), 1)));
            }
            // In characters, for error columns; most lines are ASCII, where that is bytes.
            let chars = if line.is_ascii() {
                line.len()
            } else {
                line.chars().count()
            };
            Some(parse(fields, chars))
        })
    }

    /// The next record that is not a comment or a blank line, split into fields and given
    /// to `handle` with its line and whether it is the first record (the header's place).
    /// `handle` answers `None` to skip the record (a header), or the row or the problem and
    /// its column, which counts as a data row; I/O, encoding and quoting errors are returned
    /// without calling it.
    pub(super) fn next_record<T>(
        &mut self,
        mut handle: impl FnMut(&[Field<'_>], &str, bool) -> Option<Result<T, (RowError, usize)>>,
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
                raw = strip_bom(raw);
            }
            // Comments are skipped as bytes, before decoding: their encoding does not matter.
            if is_comment(raw) {
                continue;
            }
            let line = match std::str::from_utf8(raw) {
                Ok(l) => l,
                Err(e) => {
                    self.rows += 1;
                    let lossy = String::from_utf8_lossy(raw).into_owned();
                    let offset = e.valid_up_to();
                    let column = raw[..offset].iter().filter(|&&b| b & 0xc0 != 0x80).count() + 1;
                    let kind = RowError::NotUtf8 {
                        offset,
                        byte: raw[offset],
                        bytes: raw.to_vec(),
                    };
                    return Some(Err(self.error(kind, column, &lossy)));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let first = !self.seen_data;
            self.seen_data = true;
            let fields = match split_record(line, self.delimiter) {
                Ok(f) => f,
                Err((kind, column)) => {
                    self.rows += 1;
                    return Some(Err(self.error(kind, column, line)));
                }
            };
            if let Some(result) = handle(&fields, line, first) {
                self.rows += 1;
                return Some(result.map_err(|(kind, column)| self.error(kind, column, line)));
            }
        }
        None
    }

    /// The 1-based number of the last line read (0 before the first).
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    /// Reads on as if `line` lines, data among them, came before: for a chunk of a list
    /// whose start another reader read.
    pub(super) fn continue_after(&mut self, line: u64) {
        self.line = line;
        self.seen_data = true;
    }

    /// Whether a data record (the header's place) has been read.
    pub(super) fn seen_data(&self) -> bool {
        self.seen_data
    }

    /// Whether the source has ended, or failed.
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// The source, to read on from where the records stopped.
    pub(super) fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }
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
