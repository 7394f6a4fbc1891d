//! Replacing a file atomically: write beside it, fsync, rename over it, fsync the directory;
//! and removing the temporary files that killed writers left behind.
//!
//! Readers map index files, and a mapped file that changes under a reader is undefined
//! behaviour (and a SIGBUS when it shrinks). So a published file is never modified in place:
//! a new file is written under a temporary name in the same directory (rename is only
//! atomic within one file system), flushed to disk, and renamed over the old name. A reader
//! that had the old file open keeps its old, unchanged inode until it lets go.
//!
//! A writer killed before its rename leaves its temporary file. The name says whose it is
//! (process id and start time, see `Owner`), and the writer holds a lock on it while it
//! lives, so the next writer of the same target removes it only when both say that its
//! writer is gone: never the file of a process that is still writing.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A file that replaces its target whole or not at all: it is written under a temporary
/// name beside the target and renamed over it by [`commit`](AtomicFile::commit).
///
/// Every file this crate and the `imei-index` command write goes through it, because a
/// file that other processes have memory-mapped must never change in place (a mapped file
/// that shrinks kills its readers with `SIGBUS`). Until the commit, the target is
/// untouched: a process that opens it gets the old file, one that mapped it keeps the old
/// bytes, and a failed write (a full disk, a file size limit) leaves the old file whole.
/// The commit flushes the new file to disk, renames it over the target (atomic within a
/// file system, which is why the temporary file sits in the target's directory) and
/// flushes the directory, so that the rename survives a crash. Readers that mapped the old
/// file keep its old, unchanged inode until they let go.
///
/// Dropping an `AtomicFile` without committing it removes its temporary file. A process
/// that is killed (or a machine that stops) before the commit leaves it behind, under a name
/// that says whose it is: `.{target name}.{process id}.{start}.{n}.imeiidx.tmp`, where
/// `start` is when the process started (on Linux, in clock ticks since boot, as
/// `/proc/{process id}/stat` says; 0 where it is not known) and `n` counts the process's
/// files. The process holds an advisory lock (`flock`) on the file until it renames or
/// removes it.
///
/// A target that exists and is not a regular file — a device such as `/dev/null` or
/// `/dev/stdout`, a named pipe, a socket — is not replaced but written straight through:
/// renaming over it would put a regular file in its place (and, run as root over
/// `/dev/null`, break every program on the machine that writes there). Nothing can have
/// mapped such a target, so nothing is lost by writing it in place.
///
/// # Leftovers of killed writers
///
/// [`create`](AtomicFile::create) first removes the temporary files that writers of the
/// same target left when they died, and [`remove_stale`](AtomicFile::remove_stale) does
/// that alone. Only files named as above for this target are looked at, and one is removed
/// only when its writer is known to be gone: no process has that id, or the process with
/// that id started at another time (the id was used again) or has exited (a zombie); *and*
/// nobody holds a lock on the file. A live writer's file is never removed; files whose
/// writer cannot be told (another operating system than Linux, a system without `/proc`, a
/// file system without locks) are left alone. A file of a process in another pid namespace
/// (a container sharing the directory) is protected by its lock.
///
/// # Example
///
/// ```
/// use std::io::Write;
/// use imei_index::AtomicFile;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("national.csv");
/// std::fs::write(&path, "old\n")?;
///
/// let mut file = AtomicFile::create(&path)?;
/// writeln!(file, "imei,status")?;
/// // Until the commit, the target holds its old contents.
/// assert_eq!(std::fs::read_to_string(&path)?, "old\n");
/// file.commit()?;
/// assert_eq!(std::fs::read_to_string(&path)?, "imei,status\n");
///
/// // Dropped without a commit: the target stays as it was, and no temporary file is left.
/// let mut file = AtomicFile::create(&path)?;
/// write!(file, "half a")?;
/// let temp = file.temp_path().to_path_buf();
/// drop(file);
/// assert!(!temp.exists());
/// assert_eq!(std::fs::read_to_string(&path)?, "imei,status\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates a new, empty temporary file in the target's directory, to be renamed over
    /// `target` by [`commit`](AtomicFile::commit). The target need not exist.
    ///
    /// The temporary files that dead writers of `target` left beside it are removed first,
    /// as [`remove_stale`](AtomicFile::remove_stale) does (failing to remove them does not
    /// fail the call).
    ///
    /// # Errors
    ///
    /// The operating system's error when the file cannot be created (a missing or
    /// read-only directory, …); [`io::ErrorKind::InvalidInput`] when `target` names a
    /// directory (ends in `..` or `/`).
    pub fn create(target: impl AsRef<Path>) -> io::Result<AtomicFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let target = target.as_ref();
        // A device, pipe or socket is written through, never renamed over (see above).
        if fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = OpenOptions::new().write(true).open(target)?;
            return Ok(AtomicFile {
                file: Some(file),
                temp: PathBuf::new(),
                target: target.to_path_buf(),
            });
        }
        let name = file_name_of(target)?;
        let dir = directory_of(target);
        // A directory that cannot be read or written fails the create below, with its
        // own error; the leftovers are only a courtesy.
        let _ = sweep(&dir, &name);
        let me = Owner::me();
        let mut attempt = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!(".{name}.{}.{}.{n}{SUFFIX}", me.pid, me.start));
            // create_new: never clobber someone else's file, even one with our name.
            match OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .open(&temp)
            {
                Ok(file) => {
                    // Held until the file is renamed or removed (or the process dies): a
                    // sweeper that gets the lock knows that no process is writing it. A file
                    // system without locks refuses it; sweepers then leave the file alone.
                    let _ = file.try_lock();
                    return Ok(AtomicFile {
                        file: Some(file),
                        temp,
                        target: target.to_path_buf(),
                    });
                }
                // A file of an earlier process with our id and start (a reboot), or of ours.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 64 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Removes the temporary files that writers of `target` left beside it when they died
    /// (killed, or stopped with their machine) before putting their file in place, and
    /// returns their paths. [`create`](AtomicFile::create) does this too.
    ///
    /// Only files named `.{target name}.{process id}.{start}.{n}.imeiidx.tmp` are looked
    /// at, and one is removed only when its writer is known to be gone and nobody holds a
    /// lock on it (see [Leftovers of killed writers](AtomicFile#leftovers-of-killed-writers)):
    /// the temporary files of writers that are still running stay. Where a writer's state
    /// cannot be told (outside Linux), nothing is removed.
    ///
    /// # Errors
    ///
    /// The operating system's error when the directory cannot be read, or when a leftover
    /// cannot be removed (a read-only directory: the others are removed all the same);
    /// [`io::ErrorKind::InvalidInput`] when `target` names a directory.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::AtomicFile;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("national.imeiidx");
    /// // A file this process is writing is never taken for a leftover.
    /// let file = AtomicFile::create(&path)?;
    /// assert!(AtomicFile::remove_stale(&path)?.is_empty());
    /// assert!(file.temp_path().exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_stale(target: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let target = target.as_ref();
        sweep(&directory_of(target), &file_name_of(target)?)
    }

    /// The temporary file, to write, seek or read in (writes through `AtomicFile`'s own
    /// [`Write`] go to it too).
    pub fn as_file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("the file is present until commit")
    }

    /// The temporary file's path (the target itself when it is a device, a pipe or a
    /// socket, written through).
    pub fn temp_path(&self) -> &Path {
        if self.temp.as_os_str().is_empty() {
            &self.target
        } else {
            &self.temp
        }
    }

    /// The path the file replaces when committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes what was written to the temporary file to disk, before [`commit`]: for
    /// outputs that are put in place together, after the last thing that can fail. A
    /// target written through (a device, pipe or socket) has nothing to flush, and
    /// `fsync` would refuse it.
    ///
    /// [`commit`]: AtomicFile::commit
    ///
    /// # Errors
    ///
    /// The operating system's error when the flush fails.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.temp.as_os_str().is_empty() {
            return Ok(());
        }
        self.as_file_mut().sync_all()
    }

    /// Flushes the file to disk, renames it over the target and flushes the directory.
    ///
    /// Buffered writers around the file must be flushed first (`BufWriter::into_inner`).
    ///
    /// # Errors
    ///
    /// The operating system's error when the flush or the rename fails; the target is
    /// then as it was, and the temporary file is removed. An error flushing the directory
    /// comes after the rename: the target is the new file, but a crash could undo that.
    pub fn commit(mut self) -> io::Result<()> {
        let mut file = self.file.take().expect("the file is present until commit");
        if self.temp.as_os_str().is_empty() {
            // Written through to a device, pipe or socket: there is nothing to rename, and
            // such files cannot be synced (`/dev/null` refuses).
            return file.flush();
        }
        file.sync_all()?;
        // On Unix the file stays open, and locked, until it has its new name, so that no
        // sweeper takes it for a leftover in between; elsewhere an open file cannot be
        // renamed.
        #[cfg(not(unix))]
        drop(file);
        fs::rename(&self.temp, &self.target)?;
        // Renamed: there is no temporary file left to remove.
        self.temp = PathBuf::new();
        #[cfg(unix)]
        drop(file);
        // The rename itself is durable only once the directory is synced.
        sync_dir(&directory_of(&self.target))
    }
}

/// The end of every temporary file's name.
const SUFFIX: &str = ".imeiidx.tmp";

/// A target's file name, as its temporary files start with it.
fn file_name_of(target: &Path) -> io::Result<String> {
    Ok(target
        .file_name()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names a directory, not a file", target.display()),
            )
        })?
        .to_string_lossy()
        .into_owned())
}

/// Removes the temporary files of `name` in `dir` whose writers are gone and that nobody
/// holds a lock on. A file that cannot be removed does not stop the others: the first such
/// error is returned at the end.
fn sweep(dir: &Path, name: &str) -> io::Result<Vec<PathBuf>> {
    let prefix = format!(".{name}.");
    let mut removed = Vec::new();
    let mut failed = None;
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name();
        let Some(owner) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(Owner::parse)
        else {
            continue;
        };
        // Not a symbolic link or a directory that happens to have such a name.
        if !entry.file_type().is_ok_and(|t| t.is_file()) || !owner.is_gone() {
            continue;
        }
        let path = entry.path();
        // A file that cannot be opened cannot be asked for its lock: leave it.
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // A lock held: some process (perhaps in another pid namespace, where the id means
        // another process) still has the file open. No lock to be had at all: cannot tell.
        if file.try_lock().is_err() {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            // Another sweeper was first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// The process that a temporary file's name says wrote it: its id, and when it started.
///
/// The start time tells a process from a later one that got the same id: in clock ticks
/// since boot, as field 22 of `/proc/{pid}/stat` says on Linux; 0 where it is not known
/// (then only the id is compared, which keeps more files than needed, never fewer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) pid: u32,
    pub(crate) start: u64,
}

impl Owner {
    /// This process.
    pub(crate) fn me() -> Owner {
        static START: OnceLock<u64> = OnceLock::new();
        let pid = std::process::id();
        let start = *START.get_or_init(|| proc_stat(pid).map_or(0, |(_, start)| start));
        Owner { pid, start }
    }

    /// Reads `{pid}.{start}.{n}` (the middle of a temporary file's name): three fields of
    /// decimal digits, and nothing else.
    pub(crate) fn parse(fields: &str) -> Option<Owner> {
        let mut it = fields.split('.');
        let mut field = || {
            it.next()
                .filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        };
        let (pid, start, _n) = (field()?, field()?, field()?);
        if it.next().is_some() {
            return None;
        }
        Some(Owner {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }

    /// True only when the process is known to be gone: no process has its id, or the one
    /// that has it started at another time or has exited (a zombie, not yet reaped).
    /// False when it runs, and whenever that cannot be told.
    pub(crate) fn is_gone(self) -> bool {
        if self == Owner::me() {
            return false;
        }
        if cfg!(not(target_os = "linux")) || fs::metadata("/proc/self/stat").is_err() {
            // No /proc: nothing is known about other processes.
            return false;
        }
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            // ESRCH: it exited between the open and the read.
            Err(e) => e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3),
            Ok(stat) => match parse_stat(&stat) {
                Some((state, start)) => {
                    matches!(state, 'Z' | 'X') || (self.start != 0 && start != self.start)
                }
                None => false,
            },
        }
    }
}

/// A process's state and start time, from `/proc/{pid}/stat` (Linux).
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    if cfg!(not(target_os = "linux")) {
        return None;
    }
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The state (field 3) and start time (field 22) of a `/proc/{pid}/stat` line. The
/// command name (field 2) is in parentheses and may hold spaces and parentheses itself:
/// the fields that follow start after the last `)`.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4 to 21 come between.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The directory a file is in; `.` for a bare name.
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.as_file_mut().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.as_file_mut().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.as_file_mut().flush()
    }
}

impl fmt::Debug for AtomicFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicFile")
            .field("temp", &self.temp)
            .field("target", &self.target)
            .finish()
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing on every platform; rename is still atomic.
    Ok(())
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_through_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        // Not committed: were the device treated as a file, a commit would rename over it
        // (the bug this guards against broke /dev/null for the whole machine), so the test
        // only looks at where the bytes would go. The commit path is tested on a pipe below.
        let file = AtomicFile::create("/dev/null").unwrap();
        assert_eq!(file.temp_path(), Path::new("/dev/null"));
        drop(file);
        let meta = fs::metadata("/dev/null").unwrap();
        assert!(
            meta.file_type().is_char_device(),
            "/dev/null is still a device"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_receives_what_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(&fifo).unwrap())
        };
        let mut file = AtomicFile::create(&fifo).unwrap();
        file.write_all(b"imei,status\n").unwrap();
        file.sync().unwrap();
        file.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"imei,status\n");
        assert!(
            !fs::metadata(&fifo).unwrap().is_file(),
            "the pipe was not replaced"
        );
    }

    /// A process id that was used and is free again: a child that has exited and been
    /// reaped (its id may be taken again later, by a process that started later).
    fn dead_owner() -> Owner {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = proc_stat(pid).map_or(0, |(_, s)| s);
        child.wait().unwrap();
        Owner { pid, start }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn temporary_names_carry_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("list.v2.csv");
        let f = AtomicFile::create(&target).unwrap();
        let name = f.temp_path().file_name().unwrap().to_str().unwrap();
        let owner = name
            .strip_prefix(".list.v2.csv.")
            .and_then(|n| n.strip_suffix(".imeiidx.tmp"))
            .and_then(Owner::parse);
        assert_eq!(owner, Some(Owner::me()), "{name}");
        if cfg!(target_os = "linux") {
            assert_ne!(Owner::me().start, 0);
        }
    }

    #[test]
    fn owners_parse_strictly() {
        assert_eq!(
            Owner::parse("123.456.7"),
            Some(Owner {
                pid: 123,
                start: 456
            })
        );
        for bad in [
            "",
            "1.2",
            "1.2.3.4",
            "1..3",
            "a.2.3",
            "1.2.3x",
            "-1.2.3",
            "99999999999.1.1",
        ] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn stat_lines_are_read_after_the_last_parenthesis() {
        let line = "4242 (a) b (c) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 19 20\n";
        assert_eq!(parse_stat(line), Some(('R', 987_654)));
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_processes_known_to_be_gone_are_gone() {
        let me = Owner::me();
        assert!(!me.is_gone());
        // The same id with another start time: a later process got the id.
        let reused = Owner {
            start: me.start + 1,
            ..me
        };
        assert!(reused.is_gone());
        // A start time that is not known: only the id is compared.
        assert!(!Owner { start: 0, ..me }.is_gone());
        assert!(dead_owner().is_gone());
        // A zombie has exited, though its id is still taken.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let zombie = Owner {
            pid: child.id(),
            start: 0,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while proc_stat(zombie.pid).is_some_and(|(s, _)| s != 'Z')
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(zombie.is_gone());
        child.wait().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_sweep_removes_only_dead_writers_unlocked_files_of_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let target = d.join("national.imeiidx");
        let me = Owner::me();
        let dead = dead_owner();
        let name =
            |o: Owner, n: u32| format!(".national.imeiidx.{}.{}.{n}.imeiidx.tmp", o.pid, o.start);
        let stale = [
            name(dead, 0),
            name(dead, 1),
            name(
                Owner {
                    start: me.start + 1,
                    ..me
                },
                0,
            ),
        ];
        let kept = [
            // A live process's (this one's), a file locked by a process in another pid
            // namespace (here: this one, under a dead id), another target's, other names.
            name(me, 999),
            name(dead, 2),
            format!(".other.imeiidx.{}.{}.0.imeiidx.tmp", dead.pid, dead.start),
            format!(".national.imeiidx.{}.0.imeiidx.tmp", dead.pid),
            format!(
                ".national.imeiidx.x{}.{}.0.imeiidx.tmp",
                dead.pid, dead.start
            ),
            "national.imeiidx".to_string(),
        ];
        for n in stale.iter().chain(&kept) {
            fs::write(d.join(n), b"half").unwrap();
        }
        // A directory with a leftover's name is not a leftover.
        let as_dir = name(dead, 3);
        fs::create_dir(d.join(&as_dir)).unwrap();
        let locked = File::open(d.join(&kept[1])).unwrap();
        locked.try_lock().unwrap();

        let mut removed = AtomicFile::remove_stale(&target).unwrap();
        removed.sort();
        let mut want: Vec<PathBuf> = stale.iter().map(|n| d.join(n)).collect();
        want.sort();
        assert_eq!(removed, want);
        let mut left: Vec<String> = kept.to_vec();
        left.push(as_dir.clone());
        left.sort();
        assert_eq!(names(d), left);

        // Unlocked, the dead writer's file goes with the next create, which leaves its own.
        drop(locked);
        let f = AtomicFile::create(&target).unwrap();
        assert!(!d.join(&kept[1]).exists());
        assert!(f.temp_path().exists());
        // A writer holds its lock on its file while it lives.
        assert!(File::open(f.temp_path()).unwrap().try_lock().is_err());
        drop(f);
        assert_eq!(names(d).len(), left.len() - 1);
    }
}
