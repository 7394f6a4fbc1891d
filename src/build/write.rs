//! Writing index files from sorted, resolved rules: the one writer that every build, merge,
//! apply and compaction shares, so that equal rules always give equal bytes.
//!
//! The writer reads its rules from a [`RuleSource`] that can stream each kind's keys in
//! order as often as asked, and never holds them: one pass counts the distinct entries
//! (their table comes first in the file, most frequent first), a second writes the
//! transducers, a third sweeps the ranges into segments. Its memory is the entry table and
//! the ranges covering one IMEI, whatever the number of rules.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;

use crate::build::atomic::AtomicFile;
use crate::error::Error;
use crate::format::filter::{BLOCK, DEFAULT_FILTER_BITS, Domain, FilterBuilder};
use crate::format::key::{imei_key, range_of_key};
use crate::format::segments::Segments;
use crate::format::{
    DeltaInfo, ENTRY_RECORD, FORMAT_VERSION, Header, Record, RuleCounts, Section, SectionRef,
    header_len,
};
use crate::model::rule::{Entry, RuleKind};

/// Turns an I/O error of the output into the crate's error, naming the output.
pub(crate) type IoContext<'a> = &'a dyn Fn(io::Error) -> Error;

/// What a [`RuleSource`] calls with each key and its record.
pub(crate) type Visit<'a> = dyn FnMut(&[u8], Record) -> Result<(), Error> + 'a;

/// Rules streamed kind by kind, for the writer.
pub(crate) trait RuleSource {
    /// Calls `f` with every key of `kind` (in the encoding of its section) in strictly
    /// increasing order, with its record. May be called any number of times, and must
    /// give the same keys and records each time.
    fn for_each(&self, kind: RuleKind, f: &mut Visit<'_>) -> Result<(), Error>;
}

/// What the writer wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// Rules by kind and status (not counting tombstones).
    pub counts: RuleCounts,
    /// Tombstones by kind, in [`RuleKind::ALL`] order (only in deltas).
    pub tombstones: [u64; 4],
    /// Distinct entry records.
    pub distinct_entries: u64,
    /// Bytes of the index.
    pub bytes: u64,
}

/// Writes an index file (a delta index when `delta` holds its base serial) to `w`, with
/// a filter of the default size.
pub(crate) fn write_index<W: Write + Seek>(
    w: &mut W,
    source: &dyn RuleSource,
    serial: u64,
    delta: Option<u64>,
    io_err: IoContext<'_>,
) -> Result<Written, Error> {
    write_index_filtered(w, source, serial, delta, DEFAULT_FILTER_BITS, io_err)
}

/// [`write_index`] with `filter_bits` bits of filter per key of the IMEI and pair maps (0:
/// no filter section).
pub(crate) fn write_index_filtered<W: Write + Seek>(
    w: &mut W,
    source: &dyn RuleSource,
    serial: u64,
    delta: Option<u64>,
    filter_bits: u32,
    io_err: IoContext<'_>,
) -> Result<Written, Error> {
    // Pass 1: counts and entry frequencies.
    let mut written = Written::default();
    let mut freq: HashMap<[u8; ENTRY_RECORD], u64> = HashMap::new();
    for (k, kind) in RuleKind::ALL.into_iter().enumerate() {
        source.for_each(kind, &mut |_, record| {
            match record {
                Record::Rule(e) => written.counts.add(kind, e.status),
                Record::Removed if delta.is_some() => written.tombstones[k] += 1,
                Record::Removed => {
                    return Err(io_err(io::Error::other(
                        "a full index cannot hold tombstones (an internal error)",
                    )));
                }
            }
            *freq.entry(record.encode()).or_default() += 1;
            Ok(())
        })?;
    }
    let table = EntryTable::new(freq);
    written.distinct_entries = table.records.len() as u64;
    // Every key of the IMEI and pair maps goes into the filter, tombstones too, so that a
    // check finds whatever those maps hold.
    let keys = written.counts.of_kind(RuleKind::Imei)
        + written.counts.of_kind(RuleKind::Pair)
        + written.tombstones[usize::from(RuleKind::Imei.code() - 1)]
        + written.tombstones[usize::from(RuleKind::Pair.code() - 1)];
    let filter = (filter_bits > 0 && keys > 0).then(|| {
        // A seed from the content: equal rules give equal files.
        FilterBuilder::new(keys, filter_bits, 0x1eb1_2024 ^ keys)
    });

    // Pass 2: the sections, after room for the header.
    let n_sections =
        Section::ALL.len() + usize::from(delta.is_some()) + usize::from(filter.is_some());
    let hlen = header_len(n_sections) as u64;
    let io = |e| io_err(e);
    w.seek(SeekFrom::Start(0)).map_err(io)?;
    w.write_all(&vec![0u8; hlen as usize]).map_err(io)?;
    let mut sw = SectionWriter::new(w, hlen);
    let mut refs = Vec::with_capacity(Section::ALL.len());
    // The filter is built on another thread while this one builds the transducers.
    let (delta_ref, filter_ref) = std::thread::scope(|scope| -> Result<_, Error> {
        let (mut feed, worker) = match filter {
            Some(mut f) => {
                let (tx, rx) = mpsc::sync_channel::<(Vec<u64>, Domain)>(4);
                let worker = scope.spawn(move || {
                    for (keys, domain) in rx {
                        for k in keys {
                            f.insert(k, domain);
                        }
                    }
                    f
                });
                (FilterFeed::new(Some(tx)), Some(worker))
            }
            None => (FilterFeed::new(None), None),
        };
        for section in Section::ALL {
            sw.begin(8).map_err(io)?;
            let f = Some(&mut feed);
            match section {
                Section::Entries => {
                    for r in &table.records {
                        sw.write_all(r).map_err(io)?;
                    }
                }
                Section::Imei => write_kind(&mut sw, source, RuleKind::Imei, &table, f, io_err)?,
                Section::Tac => write_kind(&mut sw, source, RuleKind::Tac, &table, None, io_err)?,
                Section::Pair => write_kind(&mut sw, source, RuleKind::Pair, &table, f, io_err)?,
                Section::Range => {
                    write_kind(&mut sw, source, RuleKind::Range, &table, None, io_err)?
                }
                Section::Segments => {
                    write_segments(&mut sw, source, delta.is_none(), &table, io_err)?
                }
                Section::Delta | Section::Filter => {
                    unreachable!("not one of the six sections every file has")
                }
            }
            refs.push(sw.end());
        }
        let delta_ref = match delta {
            Some(base_serial) => {
                sw.begin(8).map_err(io)?;
                let info = DeltaInfo {
                    base_serial,
                    tombstones: written.tombstones,
                };
                sw.write_all(&info.encode()).map_err(io)?;
                Some(sw.end())
            }
            None => None,
        };
        feed.finish();
        let Some(worker) = worker else {
            return Ok((delta_ref, None));
        };
        let f = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // Blocks on cache-line boundaries: a check then touches one line.
        sw.begin(BLOCK as u64).map_err(io)?;
        f.write(&mut sw).map_err(io)?;
        Ok((delta_ref, Some(sw.end())))
    })?;
    let file_len = sw.pos;
    let header = Header {
        version: FORMAT_VERSION,
        header_len: hlen,
        file_len,
        serial,
        counts: written.counts,
        sections: refs.try_into().expect("one ref per section"),
        delta: delta_ref,
        filter: filter_ref,
    };
    w.seek(SeekFrom::Start(0)).map_err(io)?;
    w.write_all(&header.encode()).map_err(io)?;
    w.seek(SeekFrom::Start(file_len)).map_err(io)?;
    written.bytes = file_len;
    Ok(written)
}

/// Runs `write` on an in-memory buffer and returns the bytes.
pub(crate) fn to_vec<T>(
    write: impl FnOnce(&mut io::Cursor<Vec<u8>>, IoContext<'_>) -> Result<T, Error>,
) -> Result<(Vec<u8>, T), Error> {
    let mut out = io::Cursor::new(Vec::new());
    let io_err = |e| Error::io("build", Path::new("<memory>"), e);
    let t = write(&mut out, &io_err)?;
    Ok((out.into_inner(), t))
}

/// Runs `write` on a temporary file beside `path`, then flushes it to disk and renames it
/// over `path`: readers see the old file or the new one, never a mix, and a failed write
/// leaves `path` as it was.
pub(crate) fn to_file<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>, IoContext<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut file =
        AtomicFile::create(path).map_err(|e| Error::io("create a file beside", path, e))?;
    // Errors name the target: the temporary file is an implementation detail, removed on
    // failure, and the target is what the caller asked for and what was left as it was.
    let io_err = |e| Error::io("write", path, e);
    let mut w = BufWriter::with_capacity(1 << 20, file.as_file_mut());
    let t = write(&mut w, &io_err)?;
    w.flush().map_err(io_err)?;
    drop(w);
    file.commit().map_err(|e| Error::io("replace", path, e))?;
    Ok(t)
}

/// Keys sent to the filter's thread at once.
const FEED_CHUNK: usize = 1 << 16;

/// Sends keys to the thread building the filter, in chunks.
struct FilterFeed {
    tx: Option<mpsc::SyncSender<(Vec<u64>, Domain)>>,
    keys: Vec<u64>,
    domain: Domain,
}

impl FilterFeed {
    fn new(tx: Option<mpsc::SyncSender<(Vec<u64>, Domain)>>) -> FilterFeed {
        FilterFeed {
            tx,
            keys: Vec::new(),
            domain: Domain::Imei,
        }
    }

    #[inline]
    fn push(&mut self, key: u64, domain: Domain) {
        if self.tx.is_none() {
            return;
        }
        if domain != self.domain || self.keys.len() == FEED_CHUNK {
            self.send();
            self.domain = domain;
        }
        self.keys.push(key);
    }

    fn send(&mut self) {
        if let (Some(tx), false) = (&self.tx, self.keys.is_empty()) {
            let keys = std::mem::replace(&mut self.keys, Vec::with_capacity(FEED_CHUNK));
            // The receiver lives until the sender is dropped, unless it panicked, which
            // joining it reports.
            let _ = tx.send((keys, self.domain));
        }
    }

    /// Sends what is left and closes the channel.
    fn finish(&mut self) {
        self.send();
        self.tx = None;
    }
}

/// Writes one kind's transducer: key → entry id; feeds its keys' IMEIs to the filter.
fn write_kind<W: Write>(
    w: &mut W,
    source: &dyn RuleSource,
    kind: RuleKind,
    table: &EntryTable,
    mut filter: Option<&mut FilterFeed>,
    io_err: IoContext<'_>,
) -> Result<(), Error> {
    let domain = if kind == RuleKind::Pair {
        Domain::Pair
    } else {
        Domain::Imei
    };
    // fst writes node by node: buffer its small writes.
    let mut b =
        fst::MapBuilder::new(BufWriter::with_capacity(1 << 16, w)).map_err(|e| io_err(to_io(e)))?;
    source.for_each(kind, &mut |k, record| {
        if let (Some(f), Some(imei)) = (filter.as_deref_mut(), k.get(..6)) {
            let mut n = [0u8; 8];
            n[2..].copy_from_slice(imei);
            f.push(u64::from_be_bytes(n), domain);
        }
        b.insert(k, table.id(&record)).map_err(|e| io_err(to_io(e)))
    })?;
    b.into_inner()
        .map_err(|e| io_err(to_io(e)))?
        .flush()
        .map_err(io_err)
}

/// Writes the segments transducer of the source's ranges (empty unless `full`).
fn write_segments<W: Write>(
    w: &mut W,
    source: &dyn RuleSource,
    full: bool,
    table: &EntryTable,
    io_err: IoContext<'_>,
) -> Result<(), Error> {
    let mut b = fst::MapBuilder::new(w).map_err(|e| io_err(to_io(e)))?;
    if full {
        let mut sweep = Segments::default();
        let mut emit = |last: u64, e: Option<Entry>| {
            let v = e.map_or(0, |e| table.id(&Record::Rule(e)) + 1);
            b.insert(imei_key(last), v).map_err(|e| io_err(to_io(e)))
        };
        source.for_each(RuleKind::Range, &mut |k, record| {
            let (first, last) = range_of_key(k).ok_or_else(|| {
                io_err(io::Error::other(
                    "a range key is not 12 bytes (an internal error)",
                ))
            })?;
            match record {
                Record::Rule(e) => sweep.push(first, last, e, &mut emit),
                Record::Removed => Ok(()),
            }
        })?;
        sweep.finish(&mut emit)?;
    }
    b.finish().map_err(|e| io_err(to_io(e)))
}

fn to_io(e: fst::Error) -> io::Error {
    match e {
        fst::Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// The distinct entry records, most frequent first, so that the commonest gets id 0
/// (which a transducer stores for free); ties in record order, so that equal rules give
/// equal files.
struct EntryTable {
    records: Vec<[u8; ENTRY_RECORD]>,
    ids: HashMap<[u8; ENTRY_RECORD], u64>,
}

impl EntryTable {
    fn new(freq: HashMap<[u8; ENTRY_RECORD], u64>) -> EntryTable {
        let mut by_freq: Vec<([u8; ENTRY_RECORD], u64)> = freq.into_iter().collect();
        by_freq.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let records: Vec<[u8; ENTRY_RECORD]> = by_freq.into_iter().map(|(r, _)| r).collect();
        let ids = records
            .iter()
            .enumerate()
            .map(|(i, r)| (*r, i as u64))
            .collect();
        EntryTable { records, ids }
    }

    /// The id of a record that pass 1 counted.
    fn id(&self, r: &Record) -> u64 {
        self.ids[&r.encode()]
    }
}

/// Writes sections one after the other, 8-byte aligned, tracking offsets and checksums.
struct SectionWriter<'a, W> {
    inner: &'a mut W,
    pos: u64,
    start: u64,
    crc: crc32fast::Hasher,
}

impl<'a, W: Write> SectionWriter<'a, W> {
    fn new(inner: &'a mut W, pos: u64) -> SectionWriter<'a, W> {
        SectionWriter {
            inner,
            pos,
            start: pos,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Starts a section at the next multiple of `align` (at most 64).
    fn begin(&mut self, align: u64) -> io::Result<()> {
        let pad = self.pos.next_multiple_of(align) - self.pos;
        self.inner.write_all(&[0u8; 64][..pad as usize])?;
        self.pos += pad;
        self.start = self.pos;
        self.crc = crc32fast::Hasher::new();
        Ok(())
    }

    fn end(&mut self) -> SectionRef {
        let crc = std::mem::take(&mut self.crc).finalize();
        SectionRef {
            offset: self.start,
            len: self.pos - self.start,
            crc,
        }
    }
}

impl<W: Write> Write for SectionWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
