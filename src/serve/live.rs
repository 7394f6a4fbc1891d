//! An index that follows its file: hot reload without stopping or blocking the readers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::error::{Error, ErrorChain};
use crate::format::FormatError;
use crate::model::ident::{Imei, Imsi};
use crate::model::rule::{Date, Verdict};
use crate::read::index::{Described, Index};
use crate::read::open::OpenOptions;

/// An index that swaps in a newly published file while serving checks.
///
/// Readers check through a [`LiveIndex`] from any number of threads; a reload (explicit
/// with [`LiveIndex::reload`], or by a [watcher](LiveIndex::watch)) opens the file the path
/// now names, verifies it, and swaps it in with one atomic pointer store. A check sees the
/// old index or the new one, never a mix, and never waits: the current index sits in an
/// [`ArcSwap`], whose loads take no lock and write no shared counter, so a reload (or a
/// reloading thread descheduled mid-swap) cannot stall a reader the way a lock can. An
/// index stays mapped until its last reader lets go of it (it is reference counted), and
/// a file that cannot be opened or fails verification is refused with an error while the
/// old index goes on serving. Refusals are never silent: each one is counted
/// ([`LiveIndex::refused`]) and the latest is kept ([`LiveIndex::last_refusal`]) until a
/// reload succeeds, so that a monitor can tell that the index served is older than the
/// file published.
///
/// Publish new files with [`publish`](crate::publish()) (or any write-then-rename): a file
/// changed in place under a mapping is undefined behaviour. Clones of a `LiveIndex` share
/// its state: a reload through one is seen by all.
///
/// # Example
///
/// ```
/// use imei_index::{publish, Entry, Imei, IndexBuilder, LiveIndex, Rule, Status};
///
/// let dir = tempfile::tempdir()?;
/// let (staged, current) = (dir.path().join("staged"), dir.path().join("current"));
/// let imei = Imei::parse("35209900176148")?;
/// let stage = |serial, status| -> Result<(), imei_index::Error> {
///     let mut b = IndexBuilder::new();
///     b.serial(serial);
///     b.add(Rule::imei(imei, Entry::new(status)));
///     b.build_to_file(&staged).map(drop)
/// };
/// stage(1, Status::Blocked)?;
/// publish(&staged, &current)?;
/// let live = LiveIndex::open(&current)?;
/// assert_eq!(live.check(imei).status(), Some(Status::Blocked));
///
/// stage(2, Status::Allowed)?;
/// publish(&staged, &current)?;
/// let r = live.reload()?;
/// assert_eq!((r.old.serial, r.new.serial), (1, 2));
/// assert_eq!(live.check(imei).status(), Some(Status::Allowed));
///
/// // A corrupt file, renamed into place without `publish`, is refused; the last good
/// // index keeps serving. (Never write over a published file in place: it is mapped.)
/// std::fs::write(&staged, b"\x89IMEIDX\n garbage")?;
/// std::fs::rename(&staged, &current)?;
/// assert!(live.reload().is_err());
/// assert_eq!(live.check(imei).status(), Some(Status::Allowed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LiveIndex {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    options: OpenOptions,
    current: ArcSwap<Index>,
    /// Held by reloads only, so that they run one at a time and in order.
    state: Mutex<ReloadState>,
    /// Reloads refused since opening.
    refused: AtomicU64,
    /// The latest refusal, until a reload succeeds.
    last_refusal: ArcSwapOption<RefusedReload>,
}

/// A reload that was refused: why, and when. See [`LiveIndex::last_refusal`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefusedReload {
    /// The error with its causes, as [`ErrorChain`] prints it.
    pub message: String,
    /// The format error, when the file was not a valid index (rather than unreadable).
    pub format: Option<FormatError>,
    /// When the reload was refused.
    pub at: SystemTime,
    /// The count of refusals ([`LiveIndex::refused`]) this one made.
    pub number: u64,
}

/// What the reloads have seen of the file.
struct ReloadState {
    /// The identity of the file being served, as seen just before it was opened.
    loaded: Option<Identity>,
    /// The last identity a reload failed on (`Some(None)`: the path could not be read),
    /// so that a watcher reports a bad file once rather than at every poll.
    failed: Option<Option<Identity>>,
}

/// Which file a path names, and which version of it: a published file is a new inode, so
/// (device, inode) changes with every publish; mtime and length catch the rest. While this
/// index maps a file its inode cannot be reused, so an equal identity is the same file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    mtime: Option<SystemTime>,
    len: u64,
}

impl Identity {
    fn of(path: &Path) -> Option<Identity> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Some(Identity {
            dev,
            ino,
            mtime: m.modified().ok(),
            len: m.len(),
        })
    }
}

/// A version of an index, as a reload reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// The index's serial.
    pub serial: u64,
    /// Its rules.
    pub rules: u64,
    /// Its bytes.
    pub bytes: u64,
}

impl Version {
    fn of(index: &Index) -> Version {
        let s = index.stats();
        Version {
            serial: s.serial,
            rules: s.rules(),
            bytes: s.file_bytes,
        }
    }
}

/// What a reload replaced with what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reload {
    /// The index served before.
    pub old: Version,
    /// The index served now.
    pub new: Version,
}

impl LiveIndex {
    /// Opens the index file at `path`, verifying its checksums, to serve and reload.
    ///
    /// # Errors
    ///
    /// As [`Index::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<LiveIndex, Error> {
        LiveIndex::open_with(path, OpenOptions::new())
    }

    /// Opens the index file at `path` with `options`, which reloads use too (for example
    /// [`Verification::Full`](crate::Verification::Full) for files from a source that
    /// does not verify them, or `populate` to fault new files in before they serve).
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`].
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<LiveIndex, Error> {
        let path = path.as_ref().to_path_buf();
        let identity = Identity::of(&path);
        let index = options.open(&path)?;
        Ok(LiveIndex {
            shared: Arc::new(Shared {
                path,
                options,
                current: ArcSwap::from_pointee(index),
                state: Mutex::new(ReloadState {
                    loaded: identity,
                    failed: None,
                }),
                refused: AtomicU64::new(0),
                last_refusal: ArcSwapOption::empty(),
            }),
        })
    }

    /// The path this index follows.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The index now serving, to keep: several checks against one snapshot agree with
    /// each other whatever reloads happen meanwhile. It stays mapped while held.
    pub fn current(&self) -> Arc<Index> {
        self.shared.current.load_full()
    }

    /// The serial of the index now serving.
    pub fn serial(&self) -> u64 {
        self.shared.current.load().serial()
    }

    /// Checks a handset against the index now serving; see [`Index::check`].
    #[inline]
    pub fn check(&self, imei: Imei) -> Verdict {
        self.shared.current.load().check(imei)
    }

    /// Checks a handset used with a SIM; see [`Index::check_with_imsi`].
    #[inline]
    pub fn check_with_imsi(&self, imei: Imei, imsi: &Imsi) -> Verdict {
        self.shared.current.load().check_with_imsi(imei, imsi)
    }

    /// Checks many handsets against one index (none swapped in midway).
    pub fn check_many(&self, imeis: &[Imei]) -> Vec<Verdict> {
        self.shared.current.load().check_many(imeis)
    }

    /// Checks a handset on `day`; see [`Index::check_at`].
    #[inline]
    pub fn check_at(&self, imei: Imei, day: Date) -> Verdict {
        self.shared.current.load().check_at(imei, day)
    }

    /// Checks a handset used with a SIM on `day`; see [`Index::check_with_imsi_at`].
    #[inline]
    pub fn check_with_imsi_at(&self, imei: Imei, imsi: &Imsi, day: Date) -> Verdict {
        self.shared
            .current
            .load()
            .check_with_imsi_at(imei, imsi, day)
    }

    /// Checks a handset (with its SIM if given, on `day` if given, else today) and resolves
    /// the verdict's reasons and source with the very index that answered, which a reload
    /// may replace at any moment: a verdict's ids must never be resolved with another.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{publish, Entry, Imei, IndexBuilder, LiveIndex, Reasons, Rule, Source, Status};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("live.imeiidx");
    /// let imei = Imei::parse("35209900176148")?;
    /// let reasons = Reasons::parse_joined("Duplicate IMEI detected|IMEI in local stolen list")?;
    /// let mut b = IndexBuilder::new();
    /// b.add(Rule::imei(imei, Entry::new(Status::Blocked).with_reasons(reasons.clone()))
    ///     .with_source(Source::new("dirbs")?));
    /// b.build_to_file(&path)?;
    /// let live = LiveIndex::open(&path)?;
    /// let d = live.describe(imei, None, None);
    /// assert_eq!(d.verdict.status(), Some(Status::Blocked));
    /// assert_eq!(d.reasons, reasons);
    /// assert_eq!(d.source.as_ref().map(|s| s.as_str()), Some("dirbs"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe(&self, imei: Imei, imsi: Option<&Imsi>, day: Option<Date>) -> Described {
        let index = self.shared.current.load();
        index.describe(imei, imsi, day)
    }

    /// Opens the file the path names now and, if it is a valid index, serves it instead
    /// of the current one; reports both versions.
    ///
    /// Checks go on, unblocked, against the old index while the new one is opened and
    /// verified; readers still holding the old index keep it until they let go.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`]: the file is missing, unreadable, not an index or corrupt.
    /// The old index keeps serving.
    pub fn reload(&self) -> Result<Reload, Error> {
        let mut state = self.lock_state();
        self.shared.reload(&mut state)
    }

    /// How many reloads have refused a file since this index was opened (each file that
    /// [`LiveIndex::reload_if_changed`] refuses counts once; each failed
    /// [`LiveIndex::reload`] counts).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Why the latest reload was refused, while no reload has succeeded since: `Some`
    /// means the index serving is not the file the path names (that file was refused),
    /// `None` that the latest reload, if any, succeeded. Lock-free, for monitoring.
    pub fn last_refusal(&self) -> Option<Arc<RefusedReload>> {
        self.shared.last_refusal.load_full()
    }

    /// Reloads if the path names another file, or the file changed, since the last load
    /// or failed attempt; `Ok(None)` if not. What a [watcher](LiveIndex::watch) runs.
    ///
    /// Never waits behind another reload: while one is in progress (opening and verifying
    /// a file can take a while, most with [`Verification::Full`](crate::Verification::Full)),
    /// it returns `Ok(None)` at once, and the next call looks at the file again.
    ///
    /// # Errors
    ///
    /// As [`LiveIndex::reload`], once per new file: a file that failed is not tried again
    /// until it changes.
    pub fn reload_if_changed(&self) -> Result<Option<Reload>, Error> {
        let mut state = match self.shared.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(None),
        };
        let now = Identity::of(&self.shared.path);
        if (now.is_some() && now == state.loaded) || state.failed == Some(now) {
            return Ok(None);
        }
        self.shared.reload(&mut state).map(Some)
    }

    /// Starts a thread that polls the path every `interval` and reloads when it names a
    /// new file, calling `on_reload` with each reload's outcome (errors included: the old
    /// index keeps serving). The thread sleeps between polls; a poll is one `stat`.
    ///
    /// The thread stops when the [`Watcher`] is stopped or dropped (so keep it), or if
    /// `on_reload` panics.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the thread cannot be started.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use imei_index::LiveIndex;
    ///
    /// let live = LiveIndex::open("/var/lib/eir/current.imeiidx")?;
    /// let watcher = live.watch(Duration::from_secs(1), |outcome| match outcome {
    ///     Ok(r) => eprintln!("reloaded: serial {} -> {}", r.old.serial, r.new.serial),
    ///     Err(e) => eprintln!("kept the old index: {e}"),
    /// })?;
    /// // ... serve checks through `live` ...
    /// watcher.stop();
    /// # Ok::<(), imei_index::Error>(())
    /// ```
    pub fn watch(
        &self,
        interval: Duration,
        mut on_reload: impl FnMut(Result<Reload, Error>) + Send + 'static,
    ) -> Result<Watcher, Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let live = self.clone();
        let thread = std::thread::Builder::new()
            .name("imei-index-watch".into())
            .spawn(move || {
                // Sleeps until the interval passes or the watcher stops (or is dropped).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    match live.reload_if_changed() {
                        Ok(None) => {}
                        Ok(Some(r)) => on_reload(Ok(r)),
                        Err(e) => on_reload(Err(e)),
                    }
                }
            })
            .map_err(|e| Error::io("start a watcher thread for", self.path(), e))?;
        Ok(Watcher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, ReloadState> {
        // The state is two identities, consistent at every step: a panic elsewhere while
        // holding the lock cannot leave it half-written.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    fn reload(&self, state: &mut ReloadState) -> Result<Reload, Error> {
        // Seen before opening: if a publish lands in between, the file opened is newer
        // than the identity kept, and the next poll reloads it once more, harmlessly.
        let identity = Identity::of(&self.path);
        match self.options.open(&self.path) {
            Ok(index) => {
                let new = Version::of(&index);
                let old = self.current.swap(Arc::new(index));
                state.loaded = identity;
                state.failed = None;
                self.last_refusal.store(None);
                Ok(Reload {
                    old: Version::of(&old),
                    new,
                })
            }
            Err(e) => {
                state.failed = Some(identity);
                let number = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
                self.last_refusal.store(Some(Arc::new(RefusedReload {
                    message: ErrorChain(&e).to_string(),
                    format: e.as_format().cloned(),
                    at: SystemTime::now(),
                    number,
                })));
                Err(e)
            }
        }
    }
}

impl std::fmt::Debug for LiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndex")
            .field("path", &self.shared.path)
            .field("current", &*self.shared.current.load())
            .finish()
    }
}

/// A thread reloading a [`LiveIndex`] when its file changes; see [`LiveIndex::watch`].
///
/// Stops when stopped or dropped, waiting for a reload in progress to finish.
#[derive(Debug)]
#[must_use = "dropping a Watcher stops it"]
pub struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        // Dropping the sender wakes the thread at once.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            // A panic in the caller's callback ended the thread already; nothing to undo.
            let _ = t.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.halt();
    }
}
