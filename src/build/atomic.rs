//! Replacing a file atomically: write beside it, fsync, rename over it, fsync the directory.
//!
//! Readers map index files, and a mapped file that changes under a reader is undefined
//! behaviour (and a SIGBUS when it shrinks). So a published file is never modified in place:
//! a new file is written under a temporary name in the same directory (rename is only
//! atomic within one file system), flushed to disk, and renamed over the old name. A reader
//! that had the old file open keeps its old, unchanged inode until it lets go.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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
/// The temporary file is named `.{target name}.{process id}.{unique}.imeiidx.tmp`, so that
/// one left by a killed process is recognisable; dropping an `AtomicFile` without
/// committing it removes its temporary file.
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
    /// # Errors
    ///
    /// The operating system's error when the file cannot be created (a missing or
    /// read-only directory, …); [`io::ErrorKind::InvalidInput`] when `target` names a
    /// directory (ends in `..` or `/`).
    pub fn create(target: impl AsRef<Path>) -> io::Result<AtomicFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let target = target.as_ref();
        let name = target
            .file_name()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} names a directory, not a file", target.display()),
                )
            })?
            .to_string_lossy();
        let dir = directory_of(target);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut attempt = 0;
        loop {
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!(
                ".{name}.{}.{nanos:x}{unique}.imeiidx.tmp",
                std::process::id()
            ));
            // create_new: never clobber someone else's file, even one with our name.
            match OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .open(&temp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        file: Some(file),
                        temp,
                        target: target.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The temporary file, to write, seek or read in (writes through `AtomicFile`'s own
    /// [`Write`] go to it too).
    pub fn as_file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("the file is present until commit")
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The path the file replaces when committed.
    pub fn target(&self) -> &Path {
        &self.target
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
        let file = self.file.take().expect("the file is present until commit");
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temp, &self.target)?;
        // Renamed: there is no temporary file left to remove.
        self.temp = PathBuf::new();
        // The rename itself is durable only once the directory is synced.
        sync_dir(&directory_of(&self.target))
    }
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
