//! The index a server answers from: a [`LiveIndex`] once the file opens, followed by a
//! thread of its own that reloads it when a new one is published.
//!
//! Publishing replaces the file by renaming a new one over it (never by writing in place),
//! so the thread sees a new identity at the path, opens and verifies the new file, and
//! swaps it in; checks never block and see the old index or the new one, never a mix. A
//! file that does not open (damaged, foreign) is reported and counted, and the current
//! index serves on. All of that work, opening and verifying included, runs on this thread:
//! never on the threads that answer.
//!
//! A server may start before any valid index is at the path: it then answers that it
//! cannot check (and its health check fails) until one is published.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use imei_index::{ErrorChain, LiveIndex, OpenOptions, Reload, TacPolicy};

/// How indexes are opened, at the start and at every reload: checksums verified, and the
/// mapping populated, so that the page faults of a new file are taken here, on the
/// follower's thread, and not by the first checks that touch it.
/// With a TAC policy, a file without a TAC database is refused, at the start and at every
/// reload (docs/semantics.md, "GSMA's TAC database").
fn open_options(policy: Option<TacPolicy>) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.populate(true).tac_policy(policy);
    o
}

/// Lowers the calling thread's scheduling priority (nice 10), so that opening and
/// verifying a newly published index yields the cores to the threads that answer.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; a failure leaves the priority as it
    // was, which is harmless.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// What happened to the index, for logs.
#[derive(Clone, Debug)]
pub enum IndexEvent {
    /// The first valid index was loaded.
    Loaded {
        /// Its serial.
        serial: u64,
        /// Its rules.
        rules: u64,
    },
    /// A newly published index replaced the one served.
    Reloaded(Reload),
    /// A file was refused; the index served (if any) serves on.
    Refused(String),
}

/// The index served, and how reloads went.
#[derive(Debug)]
pub struct Served {
    path: PathBuf,
    live: OnceLock<LiveIndex>,
    reloads: AtomicU64,
    refused: AtomicU64,
    /// Why no index is loaded, or the last refusal.
    last_error: Mutex<Option<String>>,
    /// The TAC policy checks apply.
    tac_policy: Option<TacPolicy>,
}

impl Served {
    /// Opens the index at `path` now.
    ///
    /// # Errors
    ///
    /// As [`LiveIndex::open`]: the file is missing, unreadable or not a valid index.
    pub fn open(path: &Path) -> Result<Arc<Served>, imei_index::Error> {
        Served::open_with(path, None)
    }

    /// [`Served::open`] with a TAC policy, which every reload keeps.
    ///
    /// # Errors
    ///
    /// As [`Served::open`], and [`imei_index::Error::NoTacDatabase`] for a policy asked of
    /// an index without a TAC database.
    pub fn open_with(
        path: &Path,
        policy: Option<TacPolicy>,
    ) -> Result<Arc<Served>, imei_index::Error> {
        let served = Served::empty(path, policy);
        let live = LiveIndex::open_with(path, open_options(policy))?;
        let _ = served.live.set(live);
        Ok(Arc::new(served))
    }

    /// Serves the index at `path`: opened now if it can be, else by the follower as soon
    /// as a valid one is published (the error says why not yet).
    pub fn open_or_wait(path: &Path) -> (Arc<Served>, Option<String>) {
        Served::open_or_wait_with(path, None)
    }

    /// [`Served::open_or_wait`] with a TAC policy, which every reload keeps.
    pub fn open_or_wait_with(
        path: &Path,
        policy: Option<TacPolicy>,
    ) -> (Arc<Served>, Option<String>) {
        let served = Served::empty(path, policy);
        let error = match LiveIndex::open_with(path, open_options(policy)) {
            Ok(live) => {
                let _ = served.live.set(live);
                None
            }
            Err(e) => {
                let e = ErrorChain(&e).to_string();
                *served.lock_error() = Some(e.clone());
                Some(e)
            }
        };
        (Arc::new(served), error)
    }

    fn empty(path: &Path, tac_policy: Option<TacPolicy>) -> Served {
        Served {
            tac_policy,
            path: path.to_path_buf(),
            live: OnceLock::new(),
            reloads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    fn lock_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The TAC policy checks apply.
    pub fn tac_policy(&self) -> Option<TacPolicy> {
        self.tac_policy
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The live index, once one is loaded.
    #[inline]
    pub fn live(&self) -> Option<&LiveIndex> {
        self.live.get()
    }

    /// The serial of the index served, if one is loaded.
    pub fn serial(&self) -> Option<u64> {
        self.live().map(LiveIndex::serial)
    }

    /// Reloads done since the start (the first load is not one).
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Relaxed)
    }

    /// Files refused since the start, each counted once.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    /// Why no index is loaded yet, or why the last file was refused.
    pub fn last_error(&self) -> Option<String> {
        self.lock_error().clone()
    }

    /// Starts the thread that looks at the path every `interval`: it loads the first valid
    /// index, then reloads newly published ones, calling `report` with each event. Stops
    /// when the [`Follower`] is stopped or dropped.
    ///
    /// # Errors
    ///
    /// The thread could not start.
    pub fn follow(
        self: &Arc<Served>,
        interval: Duration,
        mut report: impl FnMut(IndexEvent) + Send + 'static,
    ) -> std::io::Result<Follower> {
        let served = Arc::clone(self);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("imei-index-follow".into())
            .spawn(move || {
                lower_priority();
                let mut failed_once = false;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if let Some(event) = served.poll(&mut failed_once) {
                        report(event);
                    }
                }
            })?;
        Ok(Follower {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// One look at the path.
    fn poll(&self, failed_once: &mut bool) -> Option<IndexEvent> {
        match self.live.get() {
            None => match LiveIndex::open_with(&self.path, open_options(self.tac_policy)) {
                Ok(live) => {
                    let (serial, rules) = (live.serial(), live.current().stats().rules());
                    let _ = self.live.set(live);
                    *self.lock_error() = None;
                    Some(IndexEvent::Loaded { serial, rules })
                }
                Err(e) => {
                    let e = ErrorChain(&e).to_string();
                    let new = self.lock_error().as_deref() != Some(e.as_str());
                    *self.lock_error() = Some(e.clone());
                    // Reported (and counted) when it changes, not at every poll.
                    if new || !*failed_once {
                        *failed_once = true;
                        self.refused.fetch_add(1, Relaxed);
                        return Some(IndexEvent::Refused(e));
                    }
                    None
                }
            },
            Some(live) => match live.reload_if_changed() {
                Ok(None) => None,
                Ok(Some(r)) => {
                    self.reloads.fetch_add(1, Relaxed);
                    *self.lock_error() = None;
                    Some(IndexEvent::Reloaded(r))
                }
                Err(e) => {
                    self.refused.fetch_add(1, Relaxed);
                    let e = ErrorChain(&e).to_string();
                    *self.lock_error() = Some(e.clone());
                    Some(IndexEvent::Refused(e))
                }
            },
        }
    }
}

/// The thread following a [`Served`] index; see [`Served::follow`].
#[derive(Debug)]
#[must_use = "dropping a Follower stops it"]
pub struct Follower {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Follower {
    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.halt();
    }
}
