//! Reloading the index when it is republished, shared by the protocol examples.
//!
//! Publishing replaces the file by renaming a new one over it (never by writing in place),
//! so a new inode, size or modification time at the path means a new index. This polls the
//! path's metadata and swaps the shared index when it changes. It is deliberately one small
//! function: the library's `LiveIndex` (reload plus a path watcher) replaces it.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use imei_index::Index;

/// The index in use, replaced whole when a new one is published.
///
/// A check clones the `Arc` under a brief read lock and checks against that snapshot, so a
/// reload never blocks a check for longer than a pointer copy.
pub type SharedIndex = Arc<RwLock<Arc<Index>>>;

/// Opens the index at `path` for serving.
pub fn open_shared(path: &std::path::Path) -> Result<SharedIndex, imei_index::Error> {
    Ok(Arc::new(RwLock::new(Arc::new(Index::open(path)?))))
}

/// The index to check against now.
pub fn snapshot(shared: &SharedIndex) -> Arc<Index> {
    Arc::clone(&shared.read().unwrap_or_else(PoisonError::into_inner))
}

/// Polls `path` every `interval` and swaps `shared` to the newly published index whenever
/// the file at the path changes. A file that does not open (half-copied by a careless
/// publisher, damaged) is reported and the current index is kept.
pub async fn reload_on_change(path: PathBuf, shared: SharedIndex, interval: Duration) {
    let stamp = |m: &std::fs::Metadata| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec());
    let mut current = std::fs::metadata(&path).ok().map(|m| stamp(&m));
    loop {
        tokio::time::sleep(interval).await;
        let seen = match std::fs::metadata(&path) {
            Ok(m) => stamp(&m),
            // Between an unlink and a rename the path can be missing for a moment.
            Err(_) => continue,
        };
        if Some(seen) == current {
            continue;
        }
        current = Some(seen);
        match Index::open(&path) {
            Ok(index) => {
                let serial = index.serial();
                *shared.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(index);
                eprintln!("reloaded {} (serial {serial})", path.display());
            }
            Err(e) => eprintln!("kept the current index: {e}"),
        }
    }
}
