//! Reading journal files back: [`JournalReader`] yields a [`JournalRow`] per sighting.

use std::fmt;
use std::io::BufRead;

use imei_index::list::{is_comment, split_record, strip_bom};
use imei_index::{Imei, Status};

use crate::format::ALERT_NEW_SIM;
use crate::time;

/// One sighting as a journal file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalRow {
    /// When, in milliseconds since 1970-01-01 UTC.
    pub unix_millis: u64,
    /// The handset.
    pub imei: Imei,
    /// The IMSI's digits (or keyed hash); empty when the request named none.
    pub imsi: String,
    /// The MSISDN's digits (or keyed hash); empty when the request named none.
    pub msisdn: String,
    /// The verdict's status (`None`: unknown equipment).
    pub status: Option<Status>,
    /// Whether the sighting raised a traceability alert.
    pub alert: bool,
}

impl JournalRow {
    /// The UTC day of the sighting, as days since 1970-01-01.
    pub fn day(&self) -> u32 {
        time::day_of(self.unix_millis)
    }

    /// When the handset was seen.
    pub fn at(&self) -> std::time::SystemTime {
        time::from_unix_millis(self.unix_millis)
    }
}

/// A row of a journal file that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The file's name, as given to the reader.
    pub input: String,
    /// The 1-based line.
    pub line: u64,
    /// What is wrong.
    pub message: String,
    /// Whether it is the file's last line and has no line end: what a process killed in
    /// the middle of a write leaves, rather than damage.
    pub incomplete: bool,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.input, self.line, self.message)?;
        if self.incomplete {
            f.write_str(" (an incomplete last line, as a process killed while writing leaves)")?;
        }
        Ok(())
    }
}

impl std::error::Error for RowError {}

/// Reads the rows of one journal file.
///
/// # Example
///
/// ```
/// use imei_index_trace::JournalReader;
///
/// let file = "time,imei,imsi,msisdn,status,reason,rule,alert\n\
///             2024-05-21T10:15:30.123Z,35417803685978,404685505601234,,blocked,stolen,imei,new-sim\n";
/// let mut reader = JournalReader::new("j.csv", file.as_bytes())?;
/// assert!(!reader.hashed());
/// let row = reader.next().unwrap()?;
/// assert_eq!((row.imsi.as_str(), row.alert), ("404685505601234", true));
/// assert!(reader.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JournalReader<R> {
    input: String,
    reader: R,
    line: u64,
    hashed: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> JournalReader<R> {
    /// Reads the header of a journal file.
    ///
    /// # Errors
    ///
    /// The input cannot be read, or does not start with a journal's header
    /// (`time,imei,imsi,msisdn,…` or `time,imei,imsi_hmac,msisdn_hmac,…`).
    pub fn new(input: impl Into<String>, mut reader: R) -> Result<JournalReader<R>, RowError> {
        let input = input.into();
        let mut buf = Vec::new();
        let mut line = 0;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(|e| RowError {
                input: input.clone(),
                line: line + 1,
                message: format!("could not read: {e}"),
                incomplete: false,
            })?;
            line += 1;
            let text = if line == 1 { strip_bom(&buf) } else { &buf[..] };
            let text = trim_line_end(text);
            if n == 0 || (!text.is_empty() && !is_comment(text)) {
                let header = String::from_utf8_lossy(text).to_ascii_lowercase();
                let names: Vec<&str> = header.split(',').map(str::trim).collect();
                let hashed = match names.get(..4) {
                    Some(["time", "imei", "imsi", "msisdn"]) => false,
                    Some(["time", "imei", "imsi_hmac", "msisdn_hmac"]) => true,
                    _ => {
                        return Err(RowError {
                            input,
                            line,
                            message: format!(
                                "this is not a sightings journal: its header is {:?}, not \
                                 time,imei,imsi,msisdn,… (or imsi_hmac,msisdn_hmac)",
                                String::from_utf8_lossy(text)
                            ),
                            incomplete: false,
                        });
                    }
                };
                return Ok(JournalReader {
                    input,
                    reader,
                    line,
                    hashed,
                    buf,
                });
            }
        }
    }

    /// Whether the file holds keyed hashes of IMSIs and MSISDNs rather than digits.
    pub fn hashed(&self) -> bool {
        self.hashed
    }

    fn error(&self, message: String, incomplete: bool) -> RowError {
        RowError {
            input: self.input.clone(),
            line: self.line,
            message,
            incomplete,
        }
    }

    fn parse(&self, text: &str, incomplete: bool) -> Result<JournalRow, RowError> {
        let fields =
            split_record(text, ',').map_err(|(e, _)| self.error(e.to_string(), incomplete))?;
        let field = |i: usize| fields.get(i).map_or("", |f| &*f.text);
        if fields.len() < 8 {
            return Err(self.error(
                format!("{} fields, expected 8 or more", fields.len()),
                incomplete,
            ));
        }
        let unix_millis = time::parse_rfc3339(field(0)).ok_or_else(|| {
            self.error(
                format!("time {:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ", field(0)),
                incomplete,
            )
        })?;
        let imei = Imei::parse_lenient(field(1))
            .map_err(|e| self.error(format!("imei: {e}"), incomplete))?
            .imei;
        let status = match field(4) {
            "unknown" => None,
            s => Some(s.parse::<Status>().map_err(|_| {
                self.error(
                    format!("status {s:?} is not blocked, tracked, allowed or unknown"),
                    incomplete,
                )
            })?),
        };
        for (name, value) in [("imsi", field(2)), ("msisdn", field(3))] {
            if !value.bytes().all(|b| b.is_ascii_hexdigit()) || value.len() > 64 {
                return Err(self.error(
                    format!("{name} {value:?} is neither digits nor a keyed hash"),
                    incomplete,
                ));
            }
        }
        Ok(JournalRow {
            unix_millis,
            imei,
            imsi: field(2).to_string(),
            msisdn: field(3).to_string(),
            status,
            alert: field(7) == ALERT_NEW_SIM,
        })
    }
}

fn trim_line_end(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = text {
        text = rest;
    }
    text
}

impl<R: BufRead> Iterator for JournalReader<R> {
    type Item = Result<JournalRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            let n = match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    self.line += 1;
                    return Some(Err(self.error(format!("could not read: {e}"), false)));
                }
            };
            if n == 0 {
                return None;
            }
            self.line += 1;
            let incomplete = self.buf.last() != Some(&b'\n');
            let bytes = trim_line_end(&self.buf);
            if bytes.is_empty() || is_comment(bytes) {
                continue;
            }
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Some(Err(self.error("the line is not UTF-8".into(), incomplete)));
            };
            return Some(self.parse(text, incomplete));
        }
    }
}
