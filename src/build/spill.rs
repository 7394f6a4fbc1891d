//! Rules kept within a memory bound: sorted runs spilled to temporary files, and their merge.
//!
//! The builder collects rules as (key, entry id) records. Without a bound they stay in
//! memory and are sorted once. With one, a full buffer is sorted and written to disk as a
//! run, and the build merges the runs: an external merge sort, so that lists far larger
//! than memory (GSMA's holds 170M+ IMEIs) build on an ordinary machine. Runs keep every
//! record, duplicates included, so that merging and conflict counting at build time see
//! exactly what an in-memory build sees, and both write the same bytes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::build::atomic::Owner;
use crate::format::key::{imei_key, imei_of_key, pair_key};

/// Runs merged at once; more are first merged into one, so that open files stay few.
const MAX_FAN_IN: usize = 64;
/// Buffer per run file while writing or merging.
const IO_BUFFER: usize = 256 * 1024;

/// A record key that can be written to a run file: fixed width, and ordered like its bytes.
pub(crate) trait RunKey: Copy + Ord {
    /// Bytes on disk.
    const LEN: usize;
    /// Writes the key into `out` (`LEN` bytes).
    fn put(self, out: &mut [u8]);
    /// Reads a key written by `put`.
    fn take(bytes: &[u8]) -> Self;
}

/// An IMEI, as its 14-digit number: 6 bytes.
impl RunKey for u64 {
    const LEN: usize = 6;
    fn put(self, out: &mut [u8]) {
        out.copy_from_slice(&imei_key(self));
    }
    fn take(bytes: &[u8]) -> u64 {
        imei_of_key(&bytes[..6])
    }
}

/// An IMEI and an IMSI's 8-byte key: 14 bytes.
impl RunKey for (u64, u64) {
    const LEN: usize = 14;
    fn put(self, out: &mut [u8]) {
        out.copy_from_slice(&pair_key(self.0, self.1.to_be_bytes()));
    }
    fn take(bytes: &[u8]) -> (u64, u64) {
        let imsi = u64::from_be_bytes(bytes[6..14].try_into().expect("8 bytes"));
        (u64::take(bytes), imsi)
    }
}

/// An IMEI and a source id: 7 bytes, the IMEI's key then the id.
impl RunKey for (u64, u8) {
    const LEN: usize = 7;
    fn put(self, out: &mut [u8]) {
        out[..6].copy_from_slice(&imei_key(self.0));
        out[6] = self.1;
    }
    fn take(bytes: &[u8]) -> (u64, u8) {
        (imei_of_key(&bytes[..6]), bytes[6])
    }
}

/// An IMEI, an IMSI's 8-byte key and a source id: 15 bytes.
impl RunKey for (u64, u64, u8) {
    const LEN: usize = 15;
    fn put(self, out: &mut [u8]) {
        out[..14].copy_from_slice(&pair_key(self.0, self.1.to_be_bytes()));
        out[14] = self.2;
    }
    fn take(bytes: &[u8]) -> (u64, u64, u8) {
        let imsi = u64::from_be_bytes(bytes[6..14].try_into().expect("8 bytes"));
        (imei_of_key(&bytes[..6]), imsi, bytes[14])
    }
}

/// A temporary file that disappears when dropped (on Unix, as soon as it is created, so
/// that not even a crash leaves it behind).
///
/// Only a process killed between creating and unlinking it leaves it, under a name that
/// says whose it is; the next build that spills to the same directory removes it once
/// that process is gone.
#[derive(Debug)]
struct TempFile {
    file: File,
    path: Option<PathBuf>,
}

/// How run files' names start and end: `.imei-index-run.{pid}.{start}.{n}.tmp`, with the
/// process id, its start time and a count, as the atomic files' names.
const RUN_PREFIX: &str = ".imei-index-run.";
const RUN_SUFFIX: &str = ".tmp";

impl TempFile {
    fn create(dir: &Path) -> io::Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        sweep_once(dir);
        let me = Owner::me();
        loop {
            let path = dir.join(format!(
                "{RUN_PREFIX}{}.{}.{}{RUN_SUFFIX}",
                me.pid,
                me.start,
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    // An unlinked file lives on while open; elsewhere remove it on drop.
                    let path = if cfg!(unix) && fs::remove_file(&path).is_ok() {
                        None
                    } else {
                        Some(path)
                    };
                    return Ok(TempFile { file, path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "could not create a temporary run file in {}: {e}",
                            dir.display()
                        ),
                    ));
                }
            }
        }
    }
}

/// Removes, the first time this process spills to `dir`, the run files that dead
/// processes left there (see [`sweep_runs`]).
fn sweep_once(dir: &Path) {
    static SWEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
    if !swept.iter().any(|d| d == dir) {
        swept.push(dir.to_path_buf());
        drop(swept);
        // A directory that cannot be read fails the spill itself, with its own error.
        let _ = sweep_runs(dir);
    }
}

/// Removes the run files in `dir` whose processes are known to be gone (see
/// `Owner::is_gone`): never a running process's. No lock is needed: on Unix a run file is
/// unlinked as soon as it is created, so a name is only seen in between, and removing it
/// then takes nothing from its process, which holds it open.
fn sweep_runs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(RUN_PREFIX))
            .and_then(|n| n.strip_suffix(RUN_SUFFIX))
            .and_then(Owner::parse)
        else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_file()) && owner.is_gone() {
            // One that cannot be removed (another user's) does not stop the others.
            if fs::remove_file(entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
    }
    Ok(removed)
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = fs::remove_file(p);
        }
    }
}

/// A sorted run of records on disk.
#[derive(Debug)]
pub(crate) struct Run {
    file: TempFile,
    records: u64,
}

impl Run {
    /// Writes sorted records to a new temporary file in `dir`.
    fn write<K: RunKey>(
        dir: &Path,
        records: impl Iterator<Item = io::Result<(K, u32)>>,
    ) -> io::Result<Run> {
        let mut file = TempFile::create(dir)?;
        let mut w = BufWriter::with_capacity(IO_BUFFER, &mut file.file);
        let mut rec = vec![0u8; K::LEN + 4];
        let mut n = 0;
        for r in records {
            let (k, id) = r?;
            k.put(&mut rec[..K::LEN]);
            rec[K::LEN..].copy_from_slice(&id.to_le_bytes());
            w.write_all(&rec)?;
            n += 1;
        }
        w.flush()?;
        drop(w);
        Ok(Run { file, records: n })
    }

    fn reader<K: RunKey>(&self) -> io::Result<RunReader<K>> {
        let mut f = self.file.file.try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        Ok(RunReader {
            r: BufReader::with_capacity(IO_BUFFER, f),
            left: self.records,
            _key: std::marker::PhantomData,
        })
    }
}

struct RunReader<K> {
    r: BufReader<File>,
    left: u64,
    _key: std::marker::PhantomData<K>,
}

impl<K: RunKey> RunReader<K> {
    fn next(&mut self) -> io::Result<Option<(K, u32)>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut rec = [0u8; 32];
        let rec = &mut rec[..K::LEN + 4];
        self.r.read_exact(rec)?;
        self.left -= 1;
        let id = u32::from_le_bytes(rec[K::LEN..].try_into().expect("4 bytes"));
        Ok(Some((K::take(rec), id)))
    }
}

/// Records of one kind: a buffer in memory, and the runs spilled so far.
#[derive(Debug)]
pub(crate) struct Store<K> {
    buf: Vec<(K, u32)>,
    runs: Vec<Run>,
}

impl<K> Default for Store<K> {
    fn default() -> Store<K> {
        Store {
            buf: Vec::new(),
            runs: Vec::new(),
        }
    }
}

impl<K: RunKey> Store<K> {
    /// Bytes of one record in memory.
    pub(crate) const RECORD: usize = std::mem::size_of::<(K, u32)>();

    #[inline]
    pub(crate) fn push(&mut self, key: K, id: u32) {
        self.buf.push((key, id));
    }

    /// True when the next push would have to grow the buffer.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() == self.buf.capacity()
    }

    /// Bytes the buffer holds allocated.
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity() * Self::RECORD
    }

    /// Records in all, in memory and spilled.
    pub(crate) fn len(&self) -> u64 {
        self.buf.len() as u64 + self.runs.iter().map(|r| r.records).sum::<u64>()
    }

    /// Records in memory.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Grows the buffer to hold `records` in all, exactly.
    pub(crate) fn grow_to(&mut self, records: usize) {
        self.buf
            .reserve_exact(records.saturating_sub(self.buf.len()));
    }

    /// Sorts the buffer, writes it to a run in `dir` and frees it.
    pub(crate) fn spill(&mut self, dir: &Path) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.buf.sort_unstable_by_key(|r| r.0);
        let run = Run::write(dir, self.buf.iter().map(|&r| Ok(r)))?;
        // Free rather than clear: the memory goes back to the system for other stores.
        self.buf = Vec::new();
        self.runs.push(run);
        if self.runs.len() >= MAX_FAN_IN {
            let runs = std::mem::take(&mut self.runs);
            let merged = Run::write(dir, Merge::<K>::new(&runs)?)?;
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Sorts what is in memory, or, once anything was spilled, spills the rest too.
    pub(crate) fn finish(mut self, dir: &Path) -> io::Result<Sorted<K>> {
        if self.runs.is_empty() {
            self.buf.sort_unstable_by_key(|r| r.0);
            return Ok(Sorted::Memory(self.buf));
        }
        self.spill(dir)?;
        Ok(Sorted::Runs(self.runs))
    }
}

/// All records of one kind in key order (records with equal keys in no particular order).
#[derive(Debug)]
pub(crate) enum Sorted<K> {
    Memory(Vec<(K, u32)>),
    Runs(Vec<Run>),
}

impl<K: RunKey> Sorted<K> {
    /// Records in all.
    #[cfg(test)]
    fn len(&self) -> u64 {
        match self {
            Sorted::Memory(v) => v.len() as u64,
            Sorted::Runs(r) => r.iter().map(|r| r.records).sum(),
        }
    }

    /// The records, in key order; can be called again for another pass.
    pub(crate) fn iter(&self) -> io::Result<SortedIter<'_, K>> {
        Ok(match self {
            Sorted::Memory(v) => SortedIter::Memory(v.iter()),
            Sorted::Runs(r) => SortedIter::Merge(Merge::new(r)?),
        })
    }
}

/// An iterator over [`Sorted`] records.
pub(crate) enum SortedIter<'a, K> {
    Memory(std::slice::Iter<'a, (K, u32)>),
    Merge(Merge<K>),
}

impl<K: RunKey> Iterator for SortedIter<'_, K> {
    type Item = io::Result<(K, u32)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            SortedIter::Memory(it) => it.next().map(|&r| Ok(r)),
            SortedIter::Merge(m) => m.next(),
        }
    }
}

/// A k-way merge of runs.
pub(crate) struct Merge<K> {
    readers: Vec<RunReader<K>>,
    heap: BinaryHeap<Reverse<(K, usize, u32)>>,
    failed: bool,
}

impl<K: RunKey> Merge<K> {
    fn new(runs: &[Run]) -> io::Result<Merge<K>> {
        let mut readers = runs
            .iter()
            .map(Run::reader)
            .collect::<io::Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some((k, id)) = r.next()? {
                heap.push(Reverse((k, i, id)));
            }
        }
        Ok(Merge {
            readers,
            heap,
            failed: false,
        })
    }
}

impl<K: RunKey> Iterator for Merge<K> {
    type Item = io::Result<(K, u32)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // Replace the smallest head with its run's next record in place: one sift-down
        // instead of a pop and a push.
        let mut top = self.heap.peek_mut()?;
        let Reverse((k, i, id)) = *top;
        match self.readers[i].next() {
            Ok(Some((k2, id2))) => *top = Reverse((k2, i, id2)),
            Ok(None) => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        }
        Some(Ok((k, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_runs_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store: Store<(u64, u64)> = Store::default();
        let mut model = Vec::new();
        // More runs than the fan-in, so that runs are merged while spilling too.
        for i in 0..(MAX_FAN_IN as u64 + 10) * 7 {
            let key = ((i * 7919) % 1000, i % 3);
            store.push(key, i as u32);
            model.push(key);
            if i % 7 == 6 {
                store.spill(dir.path()).unwrap();
            }
        }
        let sorted = store.finish(dir.path()).unwrap();
        assert!(matches!(sorted, Sorted::Runs(_)));
        model.sort();
        for _pass in 0..2 {
            let got: Vec<(u64, u64)> = sorted.iter().unwrap().map(|r| r.unwrap().0).collect();
            assert_eq!(got, model);
        }
        assert_eq!(sorted.len(), model.len() as u64);
        // Run files are unlinked at once (Unix) or removed with the runs: none are left.
        drop(sorted);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_first_spill_removes_run_files_of_dead_processes() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = Owner::me();
        let stale = [
            format!(".imei-index-run.{dead}.0.0.tmp"),
            format!(".imei-index-run.{}.{}.0.tmp", me.pid, me.start + 1),
        ];
        let kept = [
            format!(".imei-index-run.{}.{}.999999.tmp", me.pid, me.start),
            format!(".imei-index-run.{dead}.0.tmp"),
            format!("imei-index-run.{dead}.0.0.tmp"),
        ];
        for n in stale.iter().chain(&kept) {
            fs::write(dir.path().join(n), b"run").unwrap();
        }
        let mut store: Store<u64> = Store::default();
        store.push(1, 0);
        store.spill(dir.path()).unwrap();
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = kept.to_vec();
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn keys_round_trip_through_bytes() {
        let mut b = [0u8; 14];
        for k in [0u64, 1, 99_999_999_999_999, 0x0000_ffff_ffff_ffff] {
            k.put(&mut b[..6]);
            assert_eq!(u64::take(&b[..6]), k);
        }
        let pair = (35_209_900_176_148u64, u64::MAX - 5);
        pair.put(&mut b);
        assert_eq!(<(u64, u64)>::take(&b), pair);
        // Byte order is key order, as the merge and the transducers need.
        let (mut x, mut y) = ([0u8; 6], [0u8; 6]);
        255u64.put(&mut x);
        256u64.put(&mut y);
        assert!(x < y);
    }
}
