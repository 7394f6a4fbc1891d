//! A list read on several threads: the lines cut into chunks on the caller's thread, the
//! chunks parsed on worker threads, the rows handed back in file order.
//!
//! A list's records are lines (a quoted field never spans lines), so a chunk that ends at
//! a line end parses alone, given the number of its first line. The file's start (a
//! byte-order mark, comments, the header row) is read on the caller's thread, as
//! [`ListReader`] reads it, until the first data row; the rest goes in chunks. Rules,
//! rejected rows, their lines and columns, and the counts are what [`ListReader`] gives,
//! in the same order.

use std::collections::VecDeque;
use std::io::{self, BufRead};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::csv::Records;
use super::row::{RowContext, parse_row};
use super::{COLUMNS, ListError, ListReader, RowError};
use crate::model::rule::Rule;
use crate::model::source::Source;

/// Bytes of list per chunk: enough that handing a chunk over costs nothing beside parsing
/// it (some 20,000 rows), few enough that a chunk per worker in flight stays in cache.
const CHUNK: usize = 1 << 19;

/// One chunk's rows, as the worker read them.
struct Parsed {
    rows: Vec<Result<Rule, ListError>>,
    /// Data rows (rules and rejects).
    count: u64,
}

/// A chunk to parse: its bytes (whole lines), and the number of the line before it.
struct Job {
    bytes: Vec<u8>,
    line: u64,
}

struct Worker {
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Parsed>,
    handle: Option<JoinHandle<()>>,
}

/// The rules of a list read on several threads; see [`ListReader::parallel`].
pub struct ParallelRows<R> {
    /// The reader of the file's start, then the source of the chunks.
    head: ListReader<R>,
    /// True once the head has read the first data row (or the end).
    started: bool,
    name: String,
    workers: Vec<Worker>,
    /// Chunks sent and not yet received, by worker, oldest first.
    in_flight: VecDeque<usize>,
    next_worker: usize,
    /// Lines read into chunks so far (after the head's).
    line: u64,
    /// Rows of the chunk being handed out.
    rows: std::vec::IntoIter<Result<Rule, ListError>>,
    counted: u64,
    bytes: u64,
    /// The error that ended reading, given after the rows before it.
    failed: Option<ListError>,
    eof: bool,
    chunk: usize,
}

impl<R: BufRead> ListReader<R> {
    /// Reads the list's rows on `threads` worker threads (at least one), returning them in
    /// file order exactly as this reader would: for large lists, where parsing, not reading,
    /// is the work. The reader is read on the caller's thread, so it need not be `Send`.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::list::ListReader;
    ///
    /// let csv = "imei,status\n35209900,blocked\n35-209900-176148-X,blocked\n352099001761481,allowed\n";
    /// let serial: Vec<String> =
    ///     ListReader::new("l.csv", csv.as_bytes()).map(|r| format!("{r:?}")).collect();
    /// let mut rows = ListReader::new("l.csv", csv.as_bytes()).parallel(2);
    /// let parallel: Vec<String> = rows.by_ref().map(|r| format!("{r:?}")).collect();
    /// assert_eq!(parallel, serial);
    /// assert_eq!(rows.rows(), 3);
    /// ```
    pub fn parallel(self, threads: usize) -> ParallelRows<R> {
        let source = self.cx.source.clone();
        let name = self.records.name.clone();
        let workers = (0..threads.max(1))
            .map(|_| spawn_worker(name.clone(), source.clone()))
            .collect();
        ParallelRows {
            head: self,
            started: false,
            name,
            workers,
            in_flight: VecDeque::new(),
            next_worker: 0,
            line: 0,
            rows: Vec::new().into_iter(),
            counted: 0,
            bytes: 0,
            failed: None,
            eof: false,
            chunk: CHUNK,
        }
    }
}

fn spawn_worker(name: String, source: Source) -> Worker {
    let (jobs, inbox) = sync_channel::<Job>(1);
    let (outbox, results) = sync_channel::<Parsed>(1);
    let handle = std::thread::spawn(move || {
        for job in inbox {
            // A context per chunk: its rules share their source's (and reasons')
            // reference counts with each other only, so the thread that drops them does
            // not contend with this one, which is already making the next chunk's.
            let mut cx = RowContext::default();
            cx.source = source.unshared();
            let mut records = Records::new(name.clone(), &job.bytes[..]);
            records.continue_after(job.line);
            let mut rows = Vec::new();
            while let Some(r) = records.next_row(
                &COLUMNS,
                |f, n| parse_row(f, n, &mut cx),
                |found| RowError::Header { found },
            ) {
                rows.push(r);
            }
            let parsed = Parsed {
                rows,
                count: records.rows,
            };
            if outbox.send(parsed).is_err() {
                return;
            }
        }
    });
    Worker {
        jobs: Some(jobs),
        results,
        handle: Some(handle),
    }
}

impl<R: BufRead> ParallelRows<R> {
    /// Data rows handed out so far (rules and rejected rows), as [`ListReader::rows`].
    pub fn rows(&self) -> u64 {
        if self.started {
            self.head.rows() + self.counted
        } else {
            self.head.rows()
        }
    }

    /// Bytes consumed from the source so far, for progress reports.
    pub fn bytes_read(&self) -> u64 {
        self.head.bytes_read() + self.bytes
    }

    /// The list's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the next chunk of whole lines, or `None` at the end.
    fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let reader = self.head.records.reader_mut();
        let mut bytes = Vec::with_capacity(self.chunk + 256);
        while bytes.len() < self.chunk {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(self.chunk - bytes.len());
            bytes.extend_from_slice(&buf[..take]);
            reader.consume(take);
        }
        // The rest of the last line.
        if bytes.last().is_some_and(|&b| b != b'\n') {
            loop {
                match reader.read_until(b'\n', &mut bytes) {
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((!bytes.is_empty()).then_some(bytes))
    }

    /// Keeps a chunk per worker in flight, until the end of the source.
    fn fill(&mut self) {
        while !self.eof && self.in_flight.len() < self.workers.len() {
            match self.read_chunk() {
                Ok(Some(bytes)) => {
                    let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64
                        + u64::from(bytes.last() != Some(&b'\n'));
                    self.bytes += bytes.len() as u64;
                    let job = Job {
                        bytes,
                        line: self.head.records.line() + self.line,
                    };
                    self.line += lines;
                    let w = self.next_worker;
                    self.next_worker = (w + 1) % self.workers.len();
                    let sent = self.workers[w]
                        .jobs
                        .as_ref()
                        .is_some_and(|j| j.send(job).is_ok());
                    if !sent {
                        self.fail(io::Error::other("a list worker thread stopped"));
                        return;
                    }
                    self.in_flight.push_back(w);
                }
                Ok(None) => self.eof = true,
                Err(e) => self.fail(e),
            }
        }
    }

    /// Ends reading with an I/O error on the line after the last one read.
    fn fail(&mut self, e: io::Error) {
        self.eof = true;
        self.failed = Some(ListError {
            source_name: self.name.clone(),
            line: self.head.records.line() + self.line + 1,
            column: 1,
            row: String::new(),
            kind: RowError::Io(e),
        });
    }
}

impl<R: BufRead> Iterator for ParallelRows<R> {
    type Item = Result<Rule, ListError>;

    fn next(&mut self) -> Option<Result<Rule, ListError>> {
        if !self.started {
            // The file's start, as the plain reader reads it, up to its first data row.
            let row = self.head.next();
            if row.is_none() || self.head.records.seen_data() {
                self.started = true;
                self.eof |= self.head.records.is_done();
            }
            if let Some(row) = row {
                if row.as_ref().is_err_and(ListError::is_fatal) {
                    self.eof = true;
                }
                return Some(row);
            }
        }
        loop {
            if let Some(row) = self.rows.next() {
                return Some(row);
            }
            self.fill();
            let Some(w) = self.in_flight.pop_front() else {
                return self.failed.take().map(Err);
            };
            match self.workers[w].results.recv() {
                Ok(parsed) => {
                    self.counted += parsed.count;
                    self.rows = parsed.rows.into_iter();
                }
                Err(_) => {
                    self.in_flight.clear();
                    self.fail(io::Error::other("a list worker thread stopped"));
                }
            }
        }
    }
}

impl<R> Drop for ParallelRows<R> {
    fn drop(&mut self) {
        // Closing the job channels ends the workers; a worker waiting to hand back a
        // result gives up when its result channel closes.
        for w in &mut self.workers {
            w.jobs = None;
        }
        let workers = std::mem::take(&mut self.workers);
        for mut w in workers {
            drop(w.results);
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serial(text: &[u8]) -> (Vec<String>, u64) {
        let mut r = ListReader::new("l.csv", text);
        let rows = r.by_ref().map(|x| format!("{x:?}")).collect();
        (rows, r.rows())
    }

    fn parallel(text: &[u8], threads: usize, chunk: usize) -> (Vec<String>, u64, u64) {
        let mut r = ListReader::new("l.csv", text).parallel(threads);
        r.chunk = chunk;
        let rows = r.by_ref().map(|x| format!("{x:?}")).collect();
        (rows, r.rows(), r.bytes_read())
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (0u64..100_000_000_000_000).prop_map(|n| format!("{n:014},blocked")),
            1 => Just("35209900,tracked,stolen|lost".to_string()),
            1 => Just("35209900000000..35209900000099,allowed".to_string()),
            1 => Just("# a comment".to_string()),
            1 => Just("".to_string()),
            1 => Just("  ".to_string()),
            1 => Just("3520990017614X,blocked".to_string()),
            1 => Just("352099001761481,blocked,,404685505601234,2024-05-21".to_string()),
            1 => Just("\"35209900\",\"blocked\"".to_string()),
            1 => Just("\"unterminated,blocked".to_string()),
            1 => Just("é352099001761481,blocked".to_string()),
            1 => Just("imei,status".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Whatever the list, its chunking and the threads, the rows, their order, errors,
        /// lines and columns, and the counts are the plain reader's.
        #[test]
        fn parallel_rows_are_the_plain_readers(
            header in any::<bool>(),
            bom in any::<bool>(),
            crlf in any::<bool>(),
            last_newline in any::<bool>(),
            lines in proptest::collection::vec(line(), 0..60),
            threads in 1usize..4,
            chunk in 1usize..200,
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            if header {
                text.push_str("imei,status,reason");
                text.push_str(end);
            }
            text.push_str(&lines.join(end));
            if last_newline && !lines.is_empty() {
                text.push_str(end);
            }
            let (want, want_rows) = serial(text.as_bytes());
            let (got, rows, bytes) = parallel(text.as_bytes(), threads, chunk);
            prop_assert_eq!(got, want);
            prop_assert_eq!(rows, want_rows);
            prop_assert_eq!(bytes, text.len() as u64);
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_a_rejected_row_in_place() {
        let text = b"35209900,blocked\n\xff\xfe,blocked\n35209901,blocked\n";
        let (want, _) = serial(text);
        assert_eq!(parallel(text, 2, 4).0, want);
        assert!(want[1].contains("NotUtf8"));
    }

    /// A reader that fails after some bytes.
    struct Failing<'a>(&'a [u8]);

    impl io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn an_io_error_comes_after_the_rows_before_it_and_ends_the_rows() {
        let text = b"35209900,blocked\n35209901,blocked\n35209902,blocked\n";
        let mut r =
            ListReader::new("l.csv", io::BufReader::with_capacity(8, Failing(text))).parallel(2);
        r.chunk = 20;
        let rows: Vec<_> = r.by_ref().collect();
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert!(rows[..3].iter().all(Result::is_ok));
        let err = rows[3].as_ref().unwrap_err();
        assert!(
            err.is_fatal() && err.to_string().contains("disk on fire"),
            "{err}"
        );
        assert_eq!(err.line, 4);
    }
}
