//! Replacing a file atomically: write beside it, fsync, rename over it, fsync the directory.
//!
//! Readers map index files, and a mapped file that changes under a reader is undefined
//! behaviour (and a SIGBUS when it shrinks). So a published file is never modified in place:
//! a new file is written under a temporary name in the same directory (rename is only
//! atomic within one file system), flushed to disk, and renamed over the old name. A reader
//! that had the old file open keeps its old, unchanged inode until it lets go.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A temporary file beside its target; removed on drop unless committed.
pub(crate) struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates a new temporary file in the target's directory.
    pub(crate) fn create(target: &Path) -> io::Result<AtomicFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} names a directory, not a file", target.display()),
                )
            })?
            .to_string_lossy();
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

    /// The temporary file, to write into.
    pub(crate) fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("the file is present until commit")
    }

    /// The temporary file's path.
    pub(crate) fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes the file to disk and renames it over the target.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("the file is present until commit");
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temp, &self.target)?;
        // The rename itself is durable only once the directory is synced.
        if let Some(dir) = self.target.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(dir)?;
        } else {
            sync_dir(Path::new("."))?;
        }
        self.temp = PathBuf::new();
        Ok(())
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
