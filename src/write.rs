//! Writing index files from sorted, resolved rules: the one writer that every build, merge,
//! apply and compaction shares, so that equal rules always give equal bytes.
//!
//! The writer reads its rules from a [`RuleSource`] that can stream each kind's keys in
//! order as often as asked, and never holds them: one pass counts the distinct entries
//! (their table comes first in the file, most frequent first), a second writes the
//! transducers, a third sweeps the ranges into segments. Its memory is the entry table and
//! the ranges covering one IMEI, whatever the number of rules.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;

use crate::atomic::AtomicFile;
use crate::build::DEFAULT_FILTER_BITS;
use crate::error::Error;
use crate::filter::{BLOCK, Domain, FilterBuilder};
use crate::format::{
    DeltaInfo, ENTRY_RECORD, FORMAT_VERSION, Header, Record, RuleCounts, Section, SectionRef,
    header_len,
};
use crate::key::{imei_key, range_of_key};
use crate::rule::{Date, Entry, Reason, RuleKind, Status};

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
    let temp = file.temp_path().to_path_buf();
    let io_err = |e| Error::io("write", &temp, e);
    let mut w = BufWriter::with_capacity(1 << 20, file.file());
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

/// A range while it covers the sweep: the greatest is the narrowest, then the greater
/// precedence, then the earlier start. It determines the range, and its precedence is its
/// entry.
type Active = (
    Reverse<u64>,
    (Status, Option<Date>, Option<Reason>),
    Reverse<u64>,
);

/// Sweeps ranges, in (first, last) order, into segments: the IMEIs from 0 to the end of
/// the last range, partitioned into runs that share their narrowest covering range (or
/// have none: a gap). Adjacent runs with equal entries are joined.
///
/// Narrowest means fewest IMEIs; between equally wide ranges the greater precedence, then
/// the earlier start, wins. Memory is the ranges covering one IMEI.
#[derive(Default)]
pub(crate) struct Segments {
    /// Where the next segment starts.
    pos: u64,
    /// The ranges covering `pos`.
    active: BTreeSet<Active>,
    /// When each active range stops covering: its last IMEI + 1.
    ends: BinaryHeap<Reverse<(u64, Active)>>,
    /// The segment not yet emitted, which the next may extend.
    pending: Option<(u64, Option<Entry>)>,
    /// The last range pushed, to catch unsorted input.
    last_pushed: Option<(u64, u64)>,
}

impl Segments {
    /// Adds the next range; emits the segments that end before it starts.
    pub(crate) fn push<E>(
        &mut self,
        first: u64,
        last: u64,
        entry: Entry,
        emit: &mut impl FnMut(u64, Option<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert!(first <= last && self.last_pushed.is_none_or(|p| p < (first, last)));
        self.last_pushed = Some((first, last));
        self.advance(Some(first), emit)?;
        let key: Active = (Reverse(last - first), entry.precedence(), Reverse(first));
        self.active.insert(key);
        self.ends.push(Reverse((last + 1, key)));
        Ok(())
    }

    /// Emits the remaining segments.
    pub(crate) fn finish<E>(
        &mut self,
        emit: &mut impl FnMut(u64, Option<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.advance(None, emit)?;
        if let Some((last, e)) = self.pending.take() {
            emit(last, e)?;
        }
        Ok(())
    }

    /// Emits segments up to (not including) `until`, or to the end of every active range.
    fn advance<E>(
        &mut self,
        until: Option<u64>,
        emit: &mut impl FnMut(u64, Option<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            while let Some(&Reverse((end, key))) = self.ends.peek() {
                if end > self.pos {
                    break;
                }
                self.ends.pop();
                self.active.remove(&key);
            }
            let next_end = self.ends.peek().map(|Reverse((end, _))| *end);
            let next = match (until, next_end) {
                (Some(u), Some(e)) => u.min(e),
                (Some(u), None) => u,
                (None, Some(e)) => e,
                (None, None) => return Ok(()),
            };
            if next <= self.pos {
                return Ok(());
            }
            let winner = self
                .active
                .last()
                .map(|&(_, (status, date, reason), _)| Entry {
                    status,
                    reason,
                    date,
                });
            match &mut self.pending {
                Some((last, e)) if *e == winner => *last = next - 1,
                _ => {
                    if let Some((last, e)) = self.pending.replace((next - 1, winner)) {
                        emit(last, e)?;
                    }
                }
            }
            self.pos = next;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(s: Status) -> Entry {
        Entry::new(s)
    }

    fn sweep(ranges: &[((u64, u64), Entry)]) -> Vec<(u64, Option<Entry>)> {
        let mut out = Vec::new();
        let mut s = Segments::default();
        let mut emit = |l, e| {
            out.push((l, e));
            Ok::<(), ()>(())
        };
        for &((a, b), en) in ranges {
            s.push(a, b, en, &mut emit).unwrap();
        }
        s.finish(&mut emit).unwrap();
        out
    }

    #[test]
    fn segments_pick_the_narrowest_range() {
        let ranges = vec![
            ((10, 100), e(Status::Blocked)),
            ((20, 30), e(Status::Allowed)),
            ((200, 200), e(Status::Tracked)),
        ];
        assert_eq!(
            sweep(&ranges),
            vec![
                (9, None),
                (19, Some(e(Status::Blocked))),
                (30, Some(e(Status::Allowed))),
                (100, Some(e(Status::Blocked))),
                (199, None),
                (200, Some(e(Status::Tracked))),
            ]
        );
        assert_eq!(sweep(&[]), vec![]);
        assert_eq!(
            sweep(&[((0, 5), e(Status::Blocked))]),
            vec![(5, Some(e(Status::Blocked)))]
        );
    }

    /// The narrowest covering range of one IMEI, the slow way.
    fn narrowest(ranges: &[((u64, u64), Entry)], x: u64) -> Option<Entry> {
        ranges
            .iter()
            .filter(|((a, b), _)| (*a..=*b).contains(&x))
            .max_by_key(|((a, b), en)| (Reverse(b - a), en.precedence(), Reverse(*a)))
            .map(|(_, en)| *en)
    }

    proptest! {
        #[test]
        fn segments_agree_with_a_scan(
            raw in proptest::collection::btree_map((0u64..60, 0u64..20), 0usize..3, 0..12)
        ) {
            let ranges: Vec<((u64, u64), Entry)> = raw
                .into_iter()
                .map(|((a, w), s)| ((a, a + w), e(Status::ALL[s])))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect();
            let segs = sweep(&ranges);
            let end = ranges.iter().map(|r| r.0.1).max();
            for x in 0..90u64 {
                let seg = segs.iter().find(|(last, _)| *last >= x);
                let want = narrowest(&ranges, x);
                match seg {
                    Some((_, got)) => prop_assert_eq!(*got, want, "at {}", x),
                    None => prop_assert!(want.is_none() && end.is_none_or(|e| x > e)),
                }
            }
            // Adjacent segments differ, and they end in order.
            for w in segs.windows(2) {
                prop_assert!(w[0].0 < w[1].0 && w[0].1 != w[1].1);
            }
        }
    }
}
