//! Following a republished index, shared by the protocol examples: the library's
//! `LiveIndex`, and a watcher thread that reloads it when a new file is published.
//!
//! Publishing replaces the file by renaming a new one over it (never by writing in place),
//! so the watcher sees a new identity at the path, opens and verifies the new file, and
//! swaps it in; checks never block and see the old index or the new one, never a mix. A
//! file that does not open (damaged, foreign) is reported and the current index serves on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imei_index::{Index, LiveIndex, Watcher};

/// The index in use, replaced whole when a new one is published.
pub type SharedIndex = LiveIndex;

/// Opens the index at `path` for serving.
pub fn open_shared(path: &Path) -> Result<SharedIndex, imei_index::Error> {
    LiveIndex::open(path)
}

/// The index to check against now: one request's checks all see the same version.
pub fn snapshot(shared: &SharedIndex) -> Arc<Index> {
    shared.current()
}

/// Looks for a newly published index every `interval`, reporting reloads and refusals.
/// Dropping the watcher stops it.
pub fn follow(shared: &SharedIndex, interval: Duration) -> Result<Watcher, imei_index::Error> {
    let path = shared.path().display().to_string();
    shared.watch(interval, move |outcome| match outcome {
        Ok(r) => eprintln!(
            "reloaded {path} (serial {} -> {})",
            r.old.serial, r.new.serial
        ),
        Err(e) => eprintln!("kept the current index: {e}"),
    })
}
