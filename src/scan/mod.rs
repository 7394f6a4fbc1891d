//! The reverification scan: find every connection seen with listed equipment.
//!
//! An operator that blocks handsets must also re-verify the connections (SIMs and numbers)
//! that used them. It finds them by joining its network's observations (attach logs, call
//! records: rows of IMSI, MSISDN, IMEI, time …) against the lists. A [`Scanner`] does that
//! join over delimited text at the speed of the disk: it cuts the input into chunks of
//! whole lines, parses and checks them on every core, and writes the rows whose handset is
//! listed, in input order, each with its verdict appended (`status, reason, rule, date`).
//!
//! * Records are lines (LF or CRLF, the last one may lack its line end). Blank lines and
//!   comments are not records: as in list files, a line whose first byte that is not a
//!   space or a tab is `#` ([`is_comment`](crate::list::is_comment); unless `#` is the
//!   delimiter), whatever its encoding, so that a rejects file can be scanned again. A
//!   UTF-8 byte-order mark at the start is ignored. Fields follow the list files' rules:
//!   separated by the delimiter, trimmed of spaces and tabs, optionally double-quoted (`""`
//!   is a quote inside; a quoted field does not span lines).
//! * The IMEI field is read as [`Imei::parse`](crate::Imei::parse) reads it (14 or 15
//!   digits, IMEISV, `imei-`/`imeisv-` PEIs, separators), or as
//!   [`Imei::parse_lenient`](crate::Imei::parse_lenient) does with
//!   [`ScanOptions::lenient`].
//! * With an IMSI column, rows are checked with the IMSI, so pair rules apply.
//! * A row that cannot be read (an unclosed quote, too few fields, an IMEI field that is
//!   not an IMEI, a line over 1 MiB) is counted and written aside with what is wrong and
//!   where; it never stops the scan. The [`ScanSummary`] accounts for every row.
//!
//! Nearly every row of a real log names an unlisted handset. Before asking the index, the
//! scanner rules those out with an in-memory filter built from the index's rules (a Bloom
//! filter of IMEIs and TACs, and the merged ranges), which never rules out a listed
//! handset; the rows it lets through are checked in batches with
//! [`Index::check_many`](crate::Index::check_many).
//!
//! # Example
//!
//! ```
//! use imei_index::scan::{ScanOptions, Scanner};
//! use imei_index::{Entry, Imei, Index, IndexBuilder, Reason, Rule, Status, Tac};
//!
//! let mut builder = IndexBuilder::new();
//! builder.add(Rule::tac(Tac::parse("86990000")?, Entry::new(Status::Blocked).with_reason(Reason::Counterfeit)));
//! let index = Index::from_bytes(builder.build_to_vec()?.0.into())?;
//!
//! let log = "\
//! imsi,msisdn,imei,time
//! 404685505601234,919876543210,869900001234567,2024-05-14T10:11:12Z
//! 404685505601235,919876543211,490154203237518,2024-05-14T10:11:13Z
//! 404685505601236,919876543212,\"86-990000-123457\",2024-05-14T10:11:14Z
//! ";
//! let mut scanner = Scanner::new(&index, &ScanOptions::new())?;
//! let mut out = Vec::new();
//! scanner.scan("attach.csv", log.as_bytes(), &mut out, None)?;
//! assert_eq!(String::from_utf8(out)?, "\
//! imsi,msisdn,imei,time,status,reason,rule,date
//! 404685505601234,919876543210,869900001234567,2024-05-14T10:11:12Z,blocked,counterfeit,tac,
//! 404685505601236,919876543212,\"86-990000-123457\",2024-05-14T10:11:14Z,blocked,counterfeit,tac,
//! ");
//! let summary = scanner.summary();
//! assert_eq!((summary.rows, summary.matched, summary.handsets), (3, 2, 2));
//! assert_eq!((summary.imsis, summary.msisdns), (Some(2), Some(2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chunk;
mod options;
mod prefilter;
mod record;
mod summary;
mod worker;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::sync::mpsc;

pub use self::options::{Column, Header, ScanError, ScanOptions};
pub use self::summary::ScanSummary;

use self::chunk::ChunkReader;
use self::options::check_delimiter;
use self::prefilter::Prefilter;
use self::record::WANTED;
use self::summary::Totals;
use self::worker::{Chunk, IMEI, IMSI, MSISDN, NONE, Plan, Scratch, TIME, scan_chunk};
use crate::list::{split_record, strip_bom};
use crate::model::rule::{Date, RuleKind};
use crate::read::index::Index;

/// The names that [`Column::Auto`] looks for, normalized (see [`normalize`]).
const IMEI_NAMES: [&str; 5] = ["imei", "imeisv", "pei", "servedimei", "servedimeisv"];
const IMSI_NAMES: [&str; 3] = ["imsi", "supi", "servedimsi"];
const MSISDN_NAMES: [&str; 3] = ["msisdn", "gpsi", "servedmsisdn"];
/// A time column's names: when the index has dated rules, each row is checked on its day.
const TIME_NAMES: [&str; 5] = [
    "time",
    "timestamp",
    "datetime",
    "eventtime",
    "recordopeningtime",
];

/// The columns appended to every matching row.
const VERDICT_COLUMNS: [&str; 4] = ["status", "reason", "rule", "date"];
/// The columns [`ScanOptions::device_columns`] appends after them.
const DEVICE_COLUMNS: [&str; 2] = ["manufacturer", "model"];

/// Finds the rows of delimited logs whose handset an index lists.
///
/// A scanner scans any number of inputs in turn; its [`summary`](Scanner::summary) counts
/// over all of them. See the [module documentation](self) for an example.
#[derive(Debug)]
pub struct Scanner {
    index: Index,
    options: ScanOptions,
    filter: Option<Prefilter>,
    pairs: bool,
    totals: Totals,
    /// Whether anything (a header or a row) has been written to the matches yet.
    wrote: bool,
}

impl Scanner {
    /// A scanner of logs against an index.
    ///
    /// Builds the in-memory filter (when [`ScanOptions::prefilter`] is on): one pass over
    /// the index's rules.
    ///
    /// # Errors
    ///
    /// [`ScanError::Delimiter`] when the delimiter cannot separate fields.
    pub fn new(index: &Index, options: &ScanOptions) -> Result<Scanner, ScanError> {
        check_delimiter(options.delimiter)?;
        Ok(Scanner {
            filter: options.prefilter.then(|| Prefilter::new(index)),
            pairs: index.stats().counts.of_kind(RuleKind::Pair) > 0,
            index: index.clone(),
            options: options.clone(),
            totals: Totals::default(),
            wrote: false,
        })
    }

    /// Scans one input, called `name` in errors and rejects.
    ///
    /// The rows whose verdict has a reported status go to `matches`, in input order, each
    /// with `status, reason, rule, date` appended (empty where the verdict has none), after
    /// the input's header row with those column names when it has one (only the first
    /// input's header is written). Rows that cannot be read go to `rejects`, each after a
    /// `# name:line: what is wrong` comment line.
    ///
    /// # Errors
    ///
    /// [`ScanError::Columns`] when the input's header does not say where a column is,
    /// [`ScanError::Read`] when the input fails, [`ScanError::Write`] and
    /// [`ScanError::WriteRejects`] when the outputs do. The summary keeps what was counted
    /// up to the error.
    pub fn scan<R: Read>(
        &mut self,
        name: &str,
        input: R,
        matches: &mut dyn Write,
        rejects: Option<&mut dyn Write>,
    ) -> Result<(), ScanError> {
        self.totals.inputs += 1;
        let mut reader = ChunkReader::new(input, self.options.chunk_size);
        let read_err = |source| ScanError::Read {
            input: name.to_string(),
            source,
        };
        let mut first = Chunk::default();
        let result = match first_records(&mut reader, &mut first, self.options.delimiter) {
            Ok(Some(blank_lines)) => {
                self.scan_input(name, &mut reader, first, blank_lines, matches, rejects)
            }
            Ok(None) => Ok(()),
            Err(e) => Err(read_err(e)),
        };
        self.totals.bytes += reader.bytes();
        result
    }

    /// What the scans so far read and found.
    pub fn summary(&self) -> ScanSummary {
        self.totals.summary()
    }

    fn scan_input<R: Read>(
        &mut self,
        name: &str,
        reader: &mut ChunkReader<R>,
        mut first: Chunk,
        blank_lines: u64,
        matches: &mut dyn Write,
        rejects: Option<&mut dyn Write>,
    ) -> Result<(), ScanError> {
        let mut head = self.read_header(name, &mut first, matches)?;
        head.lines += blank_lines;
        let plan = Plan {
            index: &self.index,
            filter: self.filter.as_ref(),
            delimiter: self.options.delimiter,
            last: head
                .columns
                .iter()
                .copied()
                .filter(|&c| c != NONE)
                .max()
                .unwrap_or(0),
            columns: head.columns,
            statuses: self.options.statuses,
            lenient: self.options.lenient,
            device_columns: self.options.device_columns,
            pairs: self.pairs,
            today: Date::today_at_offset(self.index.utc_offset()),
            offset: self.index.utc_offset(),
        };
        self.totals.had_imsi |= head.columns[IMSI] != NONE;
        self.totals.had_msisdn |= head.columns[MSISDN] != NONE;
        let mut out = Output {
            name,
            line: head.lines,
            matches: &mut *matches,
            rejects: rejects.map(|w| w as &mut dyn Write),
            totals: &mut self.totals,
            wrote: &mut self.wrote,
        };
        if self.options.threads <= 1 {
            scan_serial(&plan, reader, first, &mut out)
        } else {
            scan_parallel(&plan, reader, first, &mut out, self.options.threads)
        }
    }

    /// Reads the header (if any) at the start of the first chunk, resolves the columns and
    /// writes the header with the verdict columns.
    fn read_header(
        &mut self,
        name: &str,
        first: &mut Chunk,
        matches: &mut dyn Write,
    ) -> Result<Head, ScanError> {
        let data = &first.data;
        let mut start = first.start;
        let mut lines = 0;
        let mut header = None;
        if first.overlong.is_none() {
            for range in record::lines(&data[start..]) {
                lines += 1;
                let line = &data[start + range.start..start + range.end];
                if !record::is_skipped(line, self.options.delimiter) {
                    let next = start + range.end;
                    let after =
                        memchr::memchr(b'\n', &data[next..]).map_or(data.len(), |p| next + p + 1);
                    header = Some((line, after));
                    break;
                }
            }
        }
        let names: Option<Vec<String>> = header.and_then(|(line, _)| {
            let text = String::from_utf8_lossy(line);
            let fields = split_record(&text, char::from(self.options.delimiter)).ok()?;
            Some(fields.iter().map(|f| f.text.to_string()).collect())
        });
        let is_header = match self.options.header {
            Header::Present => header.is_some(),
            Header::Absent => false,
            Header::Auto => names.as_ref().is_some_and(|n| self.names_a_column(n)),
        };
        let names = if is_header {
            names.or(Some(Vec::new()))
        } else {
            None
        };
        let columns = self.resolve(name, names.as_deref())?;
        if let (true, Some((line, after))) = (is_header, header) {
            if !self.wrote {
                let d = char::from(self.options.delimiter);
                let mut row = line.to_vec();
                let devices = self.options.device_columns.then_some(DEVICE_COLUMNS);
                for c in VERDICT_COLUMNS.iter().chain(devices.iter().flatten()) {
                    row.extend_from_slice(format!("{d}{c}").as_bytes());
                }
                row.push(b'\n');
                matches.write_all(&row).map_err(ScanError::Write)?;
                self.wrote = true;
            }
            start = after;
        } else {
            lines = 0;
        }
        first.start = start;
        Ok(Head { columns, lines })
    }

    /// Whether a first row names a column the scan looks for.
    fn names_a_column(&self, names: &[String]) -> bool {
        let o = &self.options;
        let wanted = [Some(&o.imei), o.imsi.as_ref(), o.msisdn.as_ref()];
        let lists: [&[&str]; 3] = [&IMEI_NAMES, &IMSI_NAMES, &MSISDN_NAMES];
        names.iter().map(|n| normalize(n)).any(|n| {
            wanted.iter().zip(lists).any(|(w, list)| match w {
                Some(Column::Auto) => list.contains(&n.as_str()),
                Some(Column::Named(want)) => normalize(want) == n,
                _ => false,
            })
        })
    }

    /// Field positions of the IMEI, IMSI and MSISDN, from the header's names if any.
    fn resolve(&self, input: &str, names: Option<&[String]>) -> Result<[usize; WANTED], ScanError> {
        let err = |what: String| ScanError::Columns {
            input: input.to_string(),
            what,
        };
        let find = |wanted: &[&str]| {
            names.and_then(|n| {
                n.iter()
                    .position(|h| wanted.contains(&normalize(h).as_str()))
            })
        };
        let listed = || {
            names.map_or("none".to_string(), |n| {
                n.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        let mut columns = [NONE; WANTED];
        let specs = [
            Some(&self.options.imei),
            self.options.imsi.as_ref(),
            self.options.msisdn.as_ref(),
        ];
        let lists: [&[&str]; 3] = [&IMEI_NAMES, &IMSI_NAMES, &MSISDN_NAMES];
        let what = ["IMEI", "IMSI", "MSISDN"];
        for (i, spec) in specs.into_iter().enumerate() {
            columns[i] = match spec {
                None => NONE,
                Some(Column::At(n)) => *n,
                Some(Column::Auto) => match find(lists[i]) {
                    Some(p) => p,
                    None if i != IMEI => NONE,
                    None if names.is_some() => {
                        return Err(err(format!(
                            "the header row names no IMEI column (it names {}): name it \
                             with a column name or position (--column)",
                            listed()
                        )));
                    }
                    None => {
                        return Err(err("the first row is not a header naming an IMEI column \
                             (imei, imeisv, pei or servedIMEI): give the IMEI column's \
                             position (--column N)"
                            .to_string()));
                    }
                },
                Some(Column::Named(want)) => match find(&[normalize(want).as_str()]) {
                    Some(p) => p,
                    None if names.is_some() => {
                        return Err(err(format!(
                            "the header row has no {} column named {want:?} (it names {})",
                            what[i],
                            listed()
                        )));
                    }
                    None => {
                        return Err(err(format!(
                            "the {} column is named {want:?}, but the first row is not a \
                             header: give the column's position instead",
                            what[i]
                        )));
                    }
                },
            };
        }
        // A time column matters only to an index with dated rules: then each row is
        // checked on the day of its time.
        if self.index.is_dated() {
            columns[TIME] = find(&TIME_NAMES).unwrap_or(NONE);
        }
        Ok(columns)
    }
}

/// Reads the input's first piece with a record into `first`, skipping pieces of blank and
/// comment lines and a UTF-8 byte-order mark; `None` when the input holds no record, else
/// how many lines came before the piece.
fn first_records<R: Read>(
    reader: &mut ChunkReader<R>,
    first: &mut Chunk,
    delimiter: u8,
) -> io::Result<Option<u64>> {
    let mut blank_lines = 0;
    let mut at_start = true;
    while let Some(piece) = reader.next_piece(&mut first.data)? {
        first.prepare(0, &piece);
        if first.overlong.is_some() {
            return Ok(Some(blank_lines));
        }
        // A byte-order mark is an editor's artefact, not data.
        if at_start {
            first.start = first.data.len() - strip_bom(&first.data).len();
        }
        at_start = false;
        let mut lines = 0;
        let mut all_blank = true;
        for range in record::lines(&first.data[first.start..]) {
            lines += 1;
            if !record::is_skipped(&first.data[first.start..][range], delimiter) {
                all_blank = false;
                break;
            }
        }
        if !all_blank {
            return Ok(Some(blank_lines));
        }
        blank_lines += lines;
    }
    Ok(None)
}

/// A column name as compared: lower case, without spaces, hyphens, dots and underscores.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// What the start of an input said.
struct Head {
    columns: [usize; WANTED],
    /// Lines before the first record (blank lines and the header).
    lines: u64,
}

/// Where scanned chunks go, in order.
struct Output<'a> {
    name: &'a str,
    /// Lines of the input before the next chunk.
    line: u64,
    matches: &'a mut dyn Write,
    rejects: Option<&'a mut dyn Write>,
    totals: &'a mut Totals,
    wrote: &'a mut bool,
}

impl Output<'_> {
    /// Writes a scanned chunk's matches and rejects, and adds up its counts.
    fn take(&mut self, chunk: &mut Chunk) -> Result<(), ScanError> {
        if !chunk.out.is_empty() {
            self.matches
                .write_all(&chunk.out)
                .map_err(ScanError::Write)?;
            *self.wrote = true;
        }
        if let Some(w) = self.rejects.as_mut() {
            for r in &chunk.rejects {
                let line = self.line + r.line;
                let mut text = format!("# {}:{line}: {}\n", self.name, r.problem).into_bytes();
                text.extend_from_slice(&chunk.data[r.row.clone()]);
                text.push(b'\n');
                w.write_all(&text).map_err(ScanError::WriteRejects)?;
            }
        }
        self.totals.tally += chunk.tally;
        self.totals.add_hits(&mut chunk.hits);
        self.line += chunk.lines;
        Ok(())
    }
}

/// Scans on the calling thread: read, scan, write, one chunk at a time.
fn scan_serial<R: Read>(
    plan: &Plan<'_>,
    reader: &mut ChunkReader<R>,
    mut chunk: Chunk,
    out: &mut Output<'_>,
) -> Result<(), ScanError> {
    let mut scratch = Scratch::default();
    let mut seq = 0;
    loop {
        scan_chunk(plan, &mut chunk, &mut scratch);
        out.take(&mut chunk)?;
        seq += 1;
        match reader
            .next_piece(&mut chunk.data)
            .map_err(|e| read_error(out.name, e))?
        {
            Some(piece) => chunk.prepare(seq, &piece),
            None => return Ok(()),
        }
    }
}

/// Scans on `threads` workers: this thread reads chunks and hands them out, and writes
/// the scanned ones back in order.
fn scan_parallel<R: Read>(
    plan: &Plan<'_>,
    reader: &mut ChunkReader<R>,
    first: Chunk,
    out: &mut Output<'_>,
    threads: usize,
) -> Result<(), ScanError> {
    // Four chunks per worker keep every worker busy, even when the scheduler holds one
    // back on a shared machine, while bounding memory (256 KiB each by default).
    let max_in_flight = 4 * threads;
    let (jobs, job_queue) = mpsc::sync_channel::<Chunk>(max_in_flight);
    let job_queue = Mutex::new(job_queue);
    let (done, finished) = mpsc::channel::<Chunk>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (job_queue, done) = (&job_queue, done.clone());
            s.spawn(move || {
                let mut scratch = Scratch::default();
                loop {
                    // A poisoned lock means another worker panicked; the scope re-raises it.
                    let job = match job_queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(mut chunk) = job else { return };
                    scan_chunk(plan, &mut chunk, &mut scratch);
                    if done.send(chunk).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        let mut pool: Vec<Chunk> = Vec::new();
        let mut pending = BTreeMap::new();
        let (mut next_seq, mut next_write, mut in_flight) = (1u64, 0u64, 1usize);
        let mut eof = false;
        jobs.send(first).expect("workers wait for jobs");
        // Dropping `jobs` on every way out of this loop stops the workers.
        let result = (|| {
            loop {
                while !eof && in_flight < max_in_flight {
                    let mut chunk = pool.pop().unwrap_or_default();
                    match reader
                        .next_piece(&mut chunk.data)
                        .map_err(|e| read_error(out.name, e))?
                    {
                        Some(piece) => {
                            chunk.prepare(next_seq, &piece);
                            next_seq += 1;
                            in_flight += 1;
                            if jobs.send(chunk).is_err() {
                                // Every worker is gone: one panicked, and the scope says so.
                                return Ok(());
                            }
                        }
                        None => eof = true,
                    }
                }
                if in_flight == 0 {
                    return Ok(());
                }
                let Ok(chunk) = finished.recv() else {
                    return Ok(());
                };
                pending.insert(chunk.seq, chunk);
                while let Some(mut chunk) = pending.remove(&next_write) {
                    out.take(&mut chunk)?;
                    pool.push(chunk);
                    next_write += 1;
                    in_flight -= 1;
                }
            }
        })();
        drop(jobs);
        result
    })
}

fn read_error(name: &str, source: io::Error) -> ScanError {
    ScanError::Read {
        input: name.to_string(),
        source,
    }
}
