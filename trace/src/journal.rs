//! The journal: a bounded queue in front of a writer thread that appends sightings to one
//! file per process and day.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use imei_index::Status;

use crate::alert::Alert;
use crate::alerts::{AlertMemory, Hook};
use crate::format::{self, Numbers};
use crate::sighting::{Policy, Sighting};
use crate::time;

/// How a journal records: see each setter for its default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use imei_index_trace::{JournalOptions, Policy};
///
/// let options = JournalOptions::new()
///     .policy(Policy::ALL)
///     .flush_interval(Duration::from_millis(200))
///     .retention_days(Some(30))
///     .key(b"operator secret".to_vec())
///     .on_alert(|alert| eprintln!("alert: {}", alert.to_json()));
/// ```
pub struct JournalOptions {
    policy: Policy,
    flush_interval: Duration,
    queue: usize,
    retention_days: Option<u32>,
    key: Option<Vec<u8>>,
    alert_memory: usize,
    sync: bool,
    on_alert: Option<Hook>,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            policy: Policy::LISTED,
            flush_interval: Duration::from_secs(1),
            queue: 65_536,
            retention_days: None,
            key: None,
            alert_memory: 1 << 20,
            sync: true,
            on_alert: None,
        }
    }
}

impl fmt::Debug for JournalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalOptions")
            .field("policy", &self.policy)
            .field("flush_interval", &self.flush_interval)
            .field("queue", &self.queue)
            .field("retention_days", &self.retention_days)
            .field("key", &self.key.as_ref().map(|_| "(set)"))
            .field("alert_memory", &self.alert_memory)
            .field("sync", &self.sync)
            .field("on_alert", &self.on_alert.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl JournalOptions {
    /// The defaults: blocked and tracked sightings, flushed every second, a queue of 65,536
    /// sightings, files kept forever, numbers as they are, a million pairs remembered a day
    /// for alerts, each flush synced to disk.
    pub fn new() -> JournalOptions {
        JournalOptions::default()
    }

    /// Which sightings to keep (default [`Policy::LISTED`]: blocked and tracked).
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> JournalOptions {
        self.policy = policy;
        self
    }

    /// How often the writer hands what it has to the operating system (default 1 s, at
    /// least 1 ms). A crash of the process loses at most the sightings of the last
    /// interval, and those still queued.
    #[must_use]
    pub fn flush_interval(mut self, interval: Duration) -> JournalOptions {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many sightings wait for the writer at most (default 65,536, at least 1). When it
    /// is full, [`Journal::record`] drops the sighting and counts it, rather than wait.
    #[must_use]
    pub fn queue_capacity(mut self, sightings: usize) -> JournalOptions {
        self.queue = sightings.max(1);
        self
    }

    /// Delete journal files older than this many days (today counts as one; default
    /// `None`: keep every file). Files of every process in the directory are deleted, when
    /// the journal opens and as days turn.
    #[must_use]
    pub fn retention_days(mut self, days: Option<u32>) -> JournalOptions {
        self.retention_days = days.map(|d| d.max(1));
        self
    }

    /// Write IMSIs and MSISDNs as HMAC-SHA256 of their digits under this key, in hex,
    /// instead of the digits (default: the digits). The same key always gives the same
    /// hash, so sightings of one SIM still group together; see [`pseudonym`](crate::pseudonym).
    #[must_use]
    pub fn key(mut self, key: Vec<u8>) -> JournalOptions {
        self.key = Some(key);
        self
    }

    /// About how many (handset, SIM) pairs to remember a day for alerts (default 1,048,576:
    /// 16 MiB). Past that, older pairs are forgotten, and may alert a second time.
    #[must_use]
    pub fn alert_memory(mut self, pairs: usize) -> JournalOptions {
        self.alert_memory = pairs.max(1);
        self
    }

    /// Whether each flush also syncs the file to disk (default true), so that a power loss
    /// too loses at most the last interval.
    #[must_use]
    pub fn sync(mut self, yes: bool) -> JournalOptions {
        self.sync = yes;
        self
    }

    /// Calls `hook` with every traceability alert, on the journal's writer thread: it must
    /// return quickly (hand the alert to a queue of its own), and it must not close the
    /// journal. A hook that panics is counted ([`JournalStats::hook_panics`]) and the
    /// journal goes on.
    #[must_use]
    pub fn on_alert(mut self, hook: impl FnMut(&Alert) + Send + 'static) -> JournalOptions {
        self.on_alert = Some(Box::new(hook));
        self
    }
}

/// What [`Journal::record`] did with a sighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recorded {
    /// Queued for the writer.
    Queued,
    /// Not kept: the policy does not keep its verdict.
    Skipped,
    /// Dropped, and counted: the queue was full (the writer is behind) or the writer has
    /// stopped.
    Dropped,
}

/// A journal's counts since it was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalStats {
    /// Sightings queued for the writer.
    pub queued: u64,
    /// Sightings the policy did not keep.
    pub skipped: u64,
    /// Sightings dropped because the queue was full or the writer had stopped.
    pub dropped: u64,
    /// Sightings written to a journal file (handed to the operating system).
    pub written: u64,
    /// Sightings lost because a file could not be written (a full disk, say).
    pub lost: u64,
    /// Traceability alerts raised.
    pub alerts: u64,
    /// Alert hooks that panicked.
    pub hook_panics: u64,
    /// Journal files this journal created.
    pub files_created: u64,
    /// Old journal files deleted for retention.
    pub files_deleted: u64,
    /// The last error writing, syncing or deleting a file, if any.
    pub last_error: Option<String>,
}

/// Why a journal could not open or flush.
#[derive(Debug)]
pub struct JournalError {
    message: String,
    source: Option<io::Error>,
}

impl JournalError {
    fn io(what: String, source: io::Error) -> JournalError {
        JournalError {
            message: what,
            source: Some(source),
        }
    }

    fn message(message: String) -> JournalError {
        JournalError {
            message,
            source: None,
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(e) => write!(f, "{}: {e}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// A counter on a cache line of its own: the answer path's counters are bumped from
/// every worker thread.
#[derive(Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

#[derive(Default)]
struct Counters {
    queued: Padded,
    skipped: Padded,
    dropped: Padded,
    written: AtomicU64,
    lost: AtomicU64,
    alerts: AtomicU64,
    hook_panics: AtomicU64,
    files_created: AtomicU64,
    files_deleted: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, message: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(message);
    }
}

enum Control {
    Flush(Sender<Result<(), String>>),
    Close,
}

/// A sightings journal: [`record`](Journal::record) from any number of threads, never
/// waiting; a writer thread appends to `DIR/sightings-YYYYMMDD-<start>-<pid>.csv`.
///
/// * **Files.** One file per process and UTC day, created private (mode 0600, in a
///   directory created 0700), with a header (`time,imei,imsi,msisdn,status,reason,rule,alert`)
///   that `imei-index scan` reads as it is. A day's first sighting starts a new file; a
///   restart starts a new file too (the name holds the start time and process id), so a
///   file is only ever appended to by the process that created it.
/// * **The answer path.** [`Journal::record`] checks the policy and puts the sighting on a
///   bounded queue, with no lock and no system call; when the queue is full the sighting
///   is dropped and counted, never waited for.
/// * **Durability.** The writer hands what it has to the operating system every flush
///   interval (and syncs it to disk): a killed process loses at most the sightings of the
///   last interval and those still queued. [`Journal::flush`] and closing write everything.
/// * **Alerts.** The first sighting in a day of a blocked or tracked handset with a SIM not
///   seen with it that day is marked `new-sim` in the file and passed to the hook.
///
/// Open it in each worker process (after any `fork`: the writer is a thread).
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Imei, Imsi, RuleKind, Status, Verdict};
/// use imei_index_trace::{Journal, JournalOptions, Recorded, Sighting};
///
/// let dir = tempfile::tempdir()?;
/// let journal = Journal::open(dir.path(), JournalOptions::new())?;
/// let stolen = Verdict::listed(RuleKind::Imei, &Entry::new(Status::Blocked));
/// let s = Sighting::new(Imei::parse("354178036859789")?, stolen)
///     .with_imsi(Imsi::parse("404685505601234")?);
/// assert_eq!(journal.record(&s), Recorded::Queued);
/// let unlisted = Sighting::new(Imei::parse("490154203237518")?, Verdict::unknown());
/// assert_eq!(journal.record(&unlisted), Recorded::Skipped);
/// let stats = journal.close()?;
/// assert_eq!((stats.written, stats.alerts), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Journal {
    data: SyncSender<Sighting>,
    control: Sender<Control>,
    policy: Policy,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
    dir: PathBuf,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens a journal in `dir` (created, private, if missing), starts its writer and
    /// creates today's file, deleting files past the retention.
    ///
    /// # Errors
    ///
    /// The directory or today's file cannot be created, or the thread cannot start.
    pub fn open(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Journal, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir(&dir).map_err(|e| {
            JournalError::io(
                format!("could not create the journal directory {}", dir.display()),
                e,
            )
        })?;
        let counters = Arc::new(Counters::default());
        let start = time::unix_millis(SystemTime::now());
        let mut writer = Writer {
            dir: dir.clone(),
            start,
            pid: std::process::id(),
            attempt: 0,
            numbers: Numbers::new(options.key.as_deref()),
            sync: options.sync,
            retention: options.retention_days,
            file: None,
            buf: Vec::with_capacity(1 << 16),
            buf_day: time::day_of(start),
            pending: 0,
            alerts: AlertMemory::new(options.alert_memory),
            hook: options.on_alert,
            counters: Arc::clone(&counters),
            expired_on: None,
        };
        writer.expire(time::day_of(start));
        writer.open_file(time::day_of(start)).map_err(|(path, e)| {
            JournalError::io(
                format!("could not create the journal file {}", path.display()),
                e,
            )
        })?;
        let (data, data_rx) = mpsc::sync_channel(options.queue);
        let (control, control_rx) = mpsc::channel();
        let flush_interval = options.flush_interval;
        let thread = std::thread::Builder::new()
            .name("imei-index-journal".into())
            .spawn(move || writer.run(&data_rx, &control_rx, flush_interval))
            .map_err(|e| {
                JournalError::io("could not start the journal's writer thread".into(), e)
            })?;
        Ok(Journal {
            data,
            control,
            policy: options.policy,
            counters,
            thread: Some(thread),
            dir,
        })
    }

    /// The directory the journal writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The policy choosing what is kept.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Records a sighting, if the policy keeps its verdict: puts it on the writer's queue
    /// and returns at once. Takes no lock and makes no system call; a full queue drops the
    /// sighting and counts it ([`JournalStats::dropped`]).
    #[inline]
    pub fn record(&self, sighting: &Sighting) -> Recorded {
        if !self.policy.keeps(sighting.verdict.status()) {
            self.counters.skipped.0.fetch_add(1, Relaxed);
            return Recorded::Skipped;
        }
        match self.data.try_send(sighting.clone()) {
            Ok(()) => {
                self.counters.queued.0.fetch_add(1, Relaxed);
                Recorded::Queued
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.0.fetch_add(1, Relaxed);
                Recorded::Dropped
            }
        }
    }

    /// Writes every sighting recorded before the call to its file and syncs it (as the
    /// options say), waiting for the writer.
    ///
    /// # Errors
    ///
    /// A file could not be written or synced (those sightings are counted as lost), or
    /// the writer has stopped.
    pub fn flush(&self) -> Result<(), JournalError> {
        let (ack, done) = mpsc::channel();
        self.control
            .send(Control::Flush(ack))
            .map_err(|_| JournalError::message("the journal's writer has stopped".into()))?;
        match done.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError::message(e)),
            Err(_) => Err(JournalError::message(
                "the journal's writer has stopped".into(),
            )),
        }
    }

    /// The counts since the journal opened.
    pub fn stats(&self) -> JournalStats {
        let c = &self.counters;
        JournalStats {
            queued: c.queued.0.load(Relaxed),
            skipped: c.skipped.0.load(Relaxed),
            dropped: c.dropped.0.load(Relaxed),
            written: c.written.load(Relaxed),
            lost: c.lost.load(Relaxed),
            alerts: c.alerts.load(Relaxed),
            hook_panics: c.hook_panics.load(Relaxed),
            files_created: c.files_created.load(Relaxed),
            files_deleted: c.files_deleted.load(Relaxed),
            last_error: c
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Writes everything queued, syncs, stops the writer, and returns the final counts.
    /// Dropping the journal does the same, without the counts.
    ///
    /// # Errors
    ///
    /// The last write or sync failed (the counts say how many sightings were lost).
    pub fn close(mut self) -> Result<JournalStats, JournalError> {
        self.stop();
        let stats = self.stats();
        match (&stats.last_error, stats.lost) {
            (Some(e), lost) if lost > 0 => Err(JournalError::message(format!(
                "{lost} sightings could not be written: {e}"
            ))),
            _ => Ok(stats),
        }
    }

    fn stop(&mut self) {
        let _ = self.control.send(Control::Close);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Creates a new file readable and writable by its owner alone.
fn create_private_file(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// The open file of the current day.
struct Current {
    file: File,
    path: PathBuf,
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    start: u64,
    pid: u32,
    /// Bumped when a name is taken or a file failed: the next file gets a new name.
    attempt: u32,
    numbers: Numbers,
    sync: bool,
    retention: Option<u32>,
    file: Option<Current>,
    /// Rows not yet written, all for the file of `buf_day`.
    buf: Vec<u8>,
    buf_day: u32,
    /// How many sightings `buf` holds.
    pending: u64,
    alerts: AlertMemory,
    hook: Option<Hook>,
    counters: Arc<Counters>,
    /// The day files were last expired.
    expired_on: Option<u32>,
}

/// Past this many bytes the buffer is written without waiting for the interval.
const BUFFER_LIMIT: usize = 1 << 20;

impl Writer {
    fn run(mut self, data: &Receiver<Sighting>, control: &Receiver<Control>, interval: Duration) {
        // The queue is drained by polling, never by blocking on it: a sender then never has
        // a sleeping receiver to wake, and `record` stays free of system calls.
        let poll = interval.min(Duration::from_millis(10));
        let mut last_flush = Instant::now();
        loop {
            let message = control.recv_timeout(poll);
            self.drain(data);
            match message {
                Ok(Control::Flush(ack)) => {
                    let _ = ack.send(self.flush());
                    last_flush = Instant::now();
                }
                Ok(Control::Close) | Err(RecvTimeoutError::Disconnected) => {
                    self.drain(data);
                    let _ = self.flush();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if last_flush.elapsed() >= interval {
                        let _ = self.flush();
                        last_flush = Instant::now();
                    }
                }
            }
            self.expire(time::day_of(time::unix_millis(SystemTime::now())));
        }
    }

    fn drain(&mut self, data: &Receiver<Sighting>) {
        while let Ok(s) = data.try_recv() {
            self.take(&s);
        }
    }

    /// Adds one sighting to the buffer, rotating to a new day's file first if its day is
    /// later than the file's (a late sighting of the day before goes to the current file).
    fn take(&mut self, s: &Sighting) {
        let millis = time::unix_millis(s.at);
        let day = time::day_of(millis);
        if day > self.buf_day {
            let _ = self.write_out();
            if let Some(old) = self.file.take() {
                self.sync_file(&old);
            }
            self.buf_day = day;
            self.expire(day);
        }
        let listed = matches!(s.verdict.status(), Some(Status::Blocked | Status::Tracked));
        let alert = listed && self.alerts.first_today(day, s.imei, s.imsi);
        if alert {
            self.counters.alerts.fetch_add(1, Relaxed);
            self.call_hook(s);
        }
        format::push_row(&mut self.buf, s, alert, &self.numbers);
        self.pending += 1;
        if self.buf.len() >= BUFFER_LIMIT {
            let _ = self.write_out();
        }
    }

    fn call_hook(&mut self, s: &Sighting) {
        let Some(hook) = self.hook.as_mut() else {
            return;
        };
        let alert = Alert {
            at: s.at,
            imei: s.imei,
            imsi: s.imsi.map(|i| self.numbers.text(&i.to_string())),
            msisdn: s.msisdn.map(|m| self.numbers.text(&m.to_string())),
            verdict: s.verdict,
            reasons: s.reasons.clone(),
            source: s.source.clone(),
            hashed: matches!(self.numbers, Numbers::Hashed(_)),
        };
        if catch_unwind(AssertUnwindSafe(|| hook(&alert))).is_err() {
            self.counters.hook_panics.fetch_add(1, Relaxed);
        }
    }

    /// Creates the file for `day` under a name no file has, with the header.
    fn open_file(&mut self, day: u32) -> Result<(), (PathBuf, io::Error)> {
        loop {
            let name = format::file_name(day, self.start, self.pid, self.attempt);
            let path = self.dir.join(name);
            match create_private_file(&path) {
                Ok(mut file) => {
                    let header = format!("{}\n", self.numbers.header());
                    if let Err(e) = file.write_all(header.as_bytes()) {
                        self.attempt += 1;
                        return Err((path, e));
                    }
                    self.counters.files_created.fetch_add(1, Relaxed);
                    self.file = Some(Current { file, path });
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.attempt < 1000 => {
                    self.attempt += 1;
                }
                Err(e) => return Err((path, e)),
            }
        }
    }

    /// Writes the buffer to its day's file, opening it if needed. The sightings in it are
    /// counted written, or lost if the write fails (and the next write starts a new file,
    /// after whatever part of a row the failed one left).
    fn write_out(&mut self) -> Result<(), String> {
        if self.pending == 0 {
            return Ok(());
        }
        let day = self.buf_day;
        let result = match &mut self.file {
            // The file is the one opened for `buf_day`: rotation takes it away.
            Some(_) => Ok(()),
            _ => {
                self.file = None;
                self.open_file(day)
            }
        }
        .map_err(|(path, e)| format!("could not create {}: {e}", path.display()))
        .and_then(|()| {
            let current = self.file.as_mut().expect("opened above");
            current
                .file
                .write_all(&self.buf)
                .map_err(|e| format!("could not write {}: {e}", current.path.display()))
        });
        let n = std::mem::take(&mut self.pending);
        self.buf.clear();
        match result {
            Ok(()) => {
                self.counters.written.fetch_add(n, Relaxed);
                Ok(())
            }
            Err(e) => {
                self.counters.lost.fetch_add(n, Relaxed);
                self.counters.error(e.clone());
                if self.file.take().is_some() {
                    self.attempt += 1;
                }
                Err(e)
            }
        }
    }

    fn sync_file(&self, current: &Current) -> Option<String> {
        if !self.sync {
            return None;
        }
        current.file.sync_data().err().map(|e| {
            let e = format!("could not sync {}: {e}", current.path.display());
            self.counters.error(e.clone());
            e
        })
    }

    /// Writes the buffer and syncs the file.
    fn flush(&mut self) -> Result<(), String> {
        self.write_out()?;
        match self.file.as_ref().and_then(|c| self.sync_file(c)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Deletes the journal files (of any process) older than the retention, once a day.
    fn expire(&mut self, today: u32) {
        let Some(days) = self.retention else {
            return;
        };
        if self.expired_on == Some(today) {
            return;
        }
        self.expired_on = Some(today);
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(day) = name.to_str().and_then(format::day_of_file) else {
                continue;
            };
            let path = entry.path();
            let ours = self.file.as_ref().is_some_and(|c| c.path == path);
            if day + days <= today && !ours {
                match fs::remove_file(&path) {
                    Ok(()) => {
                        self.counters.files_deleted.fetch_add(1, Relaxed);
                    }
                    // Another process of the same EIR deleted it first.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => self
                        .counters
                        .error(format!("could not delete {}: {e}", path.display())),
                }
            }
        }
    }
}
