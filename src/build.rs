//! Building index files from rules.

use std::collections::HashMap;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use crate::atomic::AtomicFile;
use crate::error::Error;
use crate::format::{
    ENTRY_RECORD, FORMAT_VERSION, Header, RuleCounts, Section, SectionRef, encode_entry, header_len,
};
use crate::ident::{Imei, Imsi};
use crate::list::ListError;
use crate::rule::{Entry, Rule, RuleKind, Target};

/// What a build did with the rules and rows it was given.
///
/// Every row is accounted for: `rows_read() == rules_written + merged + rejected`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildSummary {
    /// Rules given to the builder (rows that parsed).
    pub rules_in: u64,
    /// Rules in the index.
    pub rules_written: u64,
    /// Rules folded into another rule for the same target (duplicates and conflicts).
    pub merged: u64,
    /// Of the merged rules, those whose status differed from the winning rule's.
    pub conflicts: u64,
    /// List rows rejected as unreadable (only with a reject handler that goes on).
    pub rejected: u64,
    /// Written rules by kind and status.
    pub counts: RuleCounts,
    /// Distinct (status, reason, date) entries.
    pub distinct_entries: u64,
    /// Bytes of the index.
    pub index_bytes: u64,
}

impl BuildSummary {
    /// Rows read from lists, plus rules added directly.
    pub fn rows_read(&self) -> u64 {
        self.rules_in + self.rejected
    }
}

/// Collects rules and writes an index file.
///
/// Rules may come in any order. Several rules for one target (the same IMEI, pair, range
/// or TAC) are merged: the most severe status wins (blocked > tracked > allowed); between
/// equal statuses the latest date, then the greater reason code. The summary counts every
/// merge and every conflict.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Imei, Index, IndexBuilder, Reason, Rule, RuleKind, Status, Tac};
///
/// let mut b = IndexBuilder::new();
/// b.add(Rule::tac(Tac::parse("35209900")?, Entry::new(Status::Blocked)));
/// b.add(Rule::imei(Imei::parse("352099001761481")?, Entry::new(Status::Allowed)));
/// b.add(Rule::imei(Imei::parse("352099001761481")?, Entry::new(Status::Tracked)));
/// let (bytes, summary) = b.build_to_vec()?;
/// assert_eq!((summary.rules_written, summary.merged, summary.conflicts), (2, 1, 1));
///
/// let index = Index::from_bytes(bytes.into())?;
/// // The exact IMEI rule is more specific than the TAC rule; tracked beat allowed.
/// let v = index.check(Imei::parse("352099001761481")?);
/// assert_eq!((v.status(), v.rule()), (Some(Status::Tracked), Some(RuleKind::Imei)));
/// let v = index.check(Imei::parse("35209900176149")?);
/// assert_eq!(v.rule(), Some(RuleKind::Tac));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct IndexBuilder {
    imei: Vec<(u64, Entry)>,
    tac: Vec<(u32, Entry)>,
    pair: Vec<((u64, Imsi), Entry)>,
    range: Vec<((u64, u64), Entry)>,
    serial: u64,
    rules_in: u64,
    rejected: u64,
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Sets the serial number recorded in the index: a list version of the builder's
    /// choosing (for example the list's date as `20240521`), reported by `stats` and reloads.
    pub fn serial(&mut self, serial: u64) -> &mut IndexBuilder {
        self.serial = serial;
        self
    }

    /// Adds a rule.
    pub fn add(&mut self, rule: Rule) {
        self.rules_in += 1;
        let entry = rule.entry;
        match rule.target() {
            Target::Imei(i) => self.imei.push((i.as_u64(), entry)),
            Target::Tac(t) => self.tac.push((t.as_u32(), entry)),
            Target::Pair(i, s) => self.pair.push(((i.as_u64(), s), entry)),
            Target::Range(a, b) => self.range.push(((a.as_u64(), b.as_u64()), entry)),
        }
    }

    /// Adds every rule of a list: a [`ListReader`](crate::list::ListReader) (by value, or `&mut` to ask it for its
    /// row count afterwards), or any iterator of rows.
    ///
    /// Each unreadable row is passed to `on_reject`: returning `Ok(())` counts the row as
    /// rejected and goes on (the caller may write it aside), returning the error stops the
    /// build with it. An I/O error always stops it.
    ///
    /// # Errors
    ///
    /// The first row error that `on_reject` returns, or the source's I/O error.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::IndexBuilder;
    /// use imei_index::list::ListReader;
    ///
    /// let csv = "35209900,blocked\nnot-an-imei,blocked\n35209900,tracked\n";
    /// let mut b = IndexBuilder::new();
    /// let mut rejected = Vec::new();
    /// b.add_list(ListReader::new("list.csv", csv.as_bytes()), |e| Ok(rejected.push(e)))?;
    /// let (_, summary) = b.build_to_vec()?;
    /// assert_eq!(rejected.len(), 1);
    /// assert_eq!((summary.rules_written, summary.merged, summary.rejected), (1, 1, 1));
    /// assert_eq!(summary.rows_read(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_list(
        &mut self,
        list: impl IntoIterator<Item = Result<Rule, ListError>>,
        mut on_reject: impl FnMut(ListError) -> Result<(), ListError>,
    ) -> Result<(), Error> {
        for row in list {
            match row {
                Ok(rule) => self.add(rule),
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => {
                    on_reject(e)?;
                    self.rejected += 1;
                }
            }
        }
        Ok(())
    }

    /// Rules added so far.
    pub fn len(&self) -> u64 {
        self.rules_in
    }

    /// True when no rule was added.
    pub fn is_empty(&self) -> bool {
        self.rules_in == 0
    }

    /// Builds the index in memory.
    ///
    /// # Errors
    ///
    /// Only if building the transducers fails, which a correct builder never does.
    pub fn build_to_vec(self) -> Result<(Vec<u8>, BuildSummary), Error> {
        let mut out = io::Cursor::new(Vec::new());
        let summary = self
            .write(&mut out)
            .map_err(|e| Error::io("build", Path::new("<memory>"), e))?;
        Ok((out.into_inner(), summary))
    }

    /// Builds the index into a file, atomically: it is written beside `path` under a
    /// temporary name, flushed to disk and renamed over `path`, so that readers see the old
    /// file or the new one, never a mix, and a failed build leaves `path` as it was.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written or renamed.
    pub fn build_to_file(self, path: impl AsRef<Path>) -> Result<BuildSummary, Error> {
        let path = path.as_ref();
        let mut file =
            AtomicFile::create(path).map_err(|e| Error::io("create a file beside", path, e))?;
        let temp = file.temp_path().to_path_buf();
        let mut w = io::BufWriter::with_capacity(1 << 20, file.file());
        let summary = self
            .write(&mut w)
            .map_err(|e| Error::io("write", &temp, e))?;
        w.flush().map_err(|e| Error::io("write", &temp, e))?;
        drop(w);
        file.commit().map_err(|e| Error::io("replace", path, e))?;
        Ok(summary)
    }

    /// Resolves the rules and writes the index to `w`.
    fn write<W: Write + Seek>(mut self, w: &mut W) -> io::Result<BuildSummary> {
        let mut summary = BuildSummary {
            rules_in: self.rules_in,
            rejected: self.rejected,
            ..BuildSummary::default()
        };
        resolve(&mut self.imei, &mut summary);
        resolve(&mut self.tac, &mut summary);
        resolve(&mut self.pair, &mut summary);
        resolve(&mut self.range, &mut summary);
        let mut counts = RuleCounts::default();
        for (kind, entries) in [
            (
                RuleKind::Imei,
                self.imei.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            (RuleKind::Tac, self.tac.iter().map(|r| r.1).collect()),
            (RuleKind::Pair, self.pair.iter().map(|r| r.1).collect()),
            (RuleKind::Range, self.range.iter().map(|r| r.1).collect()),
        ] {
            for e in entries {
                counts.add(kind, e.status);
            }
        }
        summary.counts = counts;
        summary.rules_written = counts.total();

        let table = EntryTable::new(
            self.imei
                .iter()
                .map(|r| &r.1)
                .chain(self.tac.iter().map(|r| &r.1))
                .chain(self.pair.iter().map(|r| &r.1))
                .chain(self.range.iter().map(|r| &r.1)),
        );
        summary.distinct_entries = table.entries.len() as u64;
        let segments = segments(&self.range);

        let hlen = header_len(Section::ALL.len()) as u64;
        w.seek(SeekFrom::Start(0))?;
        w.write_all(&vec![0u8; hlen as usize])?;
        let mut sw = SectionWriter::new(w, hlen);
        let mut refs = Vec::with_capacity(Section::ALL.len());
        for section in Section::ALL {
            sw.begin()?;
            match section {
                Section::Entries => {
                    for e in &table.entries {
                        sw.write_all(&encode_entry(e))?;
                    }
                }
                Section::Imei => {
                    let it = self
                        .imei
                        .iter()
                        .map(|&(k, e)| (Imei::from_u64(k).map(|i| i.to_key()), e));
                    write_map(
                        &mut sw,
                        it.map(|(k, e)| (k.expect("valid IMEI"), table.id(&e))),
                    )?;
                }
                Section::Tac => {
                    let it = self
                        .tac
                        .iter()
                        .map(|&(k, e)| (k.to_be_bytes(), table.id(&e)));
                    write_map(&mut sw, it)?;
                }
                Section::Pair => {
                    let it = self
                        .pair
                        .iter()
                        .map(|&((i, s), e)| (pair_key(i, s), table.id(&e)));
                    write_map(&mut sw, it)?;
                }
                Section::Range => {
                    let it = self
                        .range
                        .iter()
                        .map(|&((a, b), e)| (range_key(a, b), table.id(&e)));
                    write_map(&mut sw, it)?;
                }
                Section::Segments => {
                    let it = segments
                        .iter()
                        .map(|&(last, e)| (imei_key(last), e.map_or(0, |e| table.id(&e) + 1)));
                    write_map(&mut sw, it)?;
                }
            }
            refs.push(sw.end()?);
        }
        let file_len = sw.pos;
        let header = Header {
            version: FORMAT_VERSION,
            header_len: hlen,
            file_len,
            serial: self.serial,
            counts,
            sections: refs.try_into().expect("one ref per section"),
        };
        w.seek(SeekFrom::Start(0))?;
        w.write_all(&header.encode())?;
        w.seek(SeekFrom::Start(file_len))?;
        summary.index_bytes = file_len;
        Ok(summary)
    }
}

fn imei_key(n: u64) -> [u8; 6] {
    let b = n.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn pair_key(imei: u64, imsi: Imsi) -> [u8; 14] {
    let mut k = [0u8; 14];
    k[..6].copy_from_slice(&imei_key(imei));
    k[6..].copy_from_slice(&imsi.to_key());
    k
}

fn range_key(first: u64, last: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..6].copy_from_slice(&imei_key(first));
    k[6..].copy_from_slice(&imei_key(last));
    k
}

/// Sorts rules by target and merges those for one target, counting merges and conflicts.
fn resolve<K: Ord + Copy>(rules: &mut Vec<(K, Entry)>, summary: &mut BuildSummary) {
    // Within a target, the winner sorts first.
    rules.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.precedence().cmp(&a.1.precedence()))
    });
    let before = rules.len();
    let mut conflicts = 0u64;
    rules.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same && later.1.status != kept.1.status {
            conflicts += 1;
        }
        same
    });
    summary.merged += (before - rules.len()) as u64;
    summary.conflicts += conflicts;
}

/// The distinct entries, most frequent first, so that the commonest gets id 0.
struct EntryTable {
    entries: Vec<Entry>,
    ids: HashMap<Entry, u64>,
}

impl EntryTable {
    fn new<'a>(all: impl Iterator<Item = &'a Entry>) -> EntryTable {
        let mut freq: HashMap<Entry, u64> = HashMap::new();
        for e in all {
            *freq.entry(*e).or_default() += 1;
        }
        let mut entries: Vec<(Entry, u64)> = freq.into_iter().collect();
        // Ties broken by the encoded record, so that equal inputs give equal files.
        entries.sort_unstable_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| encode_entry(&a.0).cmp(&encode_entry(&b.0)))
        });
        let entries: Vec<Entry> = entries.into_iter().map(|(e, _)| e).collect();
        let ids = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (*e, i as u64))
            .collect();
        EntryTable { entries, ids }
    }

    fn id(&self, e: &Entry) -> u64 {
        self.ids[e]
    }
}

/// Partitions the IMEIs from 0 to the end of the last range into segments, each with the
/// narrowest range covering it (or none, for gaps), as (last IMEI of segment, entry).
///
/// Narrowest means fewest IMEIs; between equally wide ranges, the greater precedence, then
/// the earlier start, wins. Adjacent segments with equal entries are joined.
fn segments(ranges: &[((u64, u64), Entry)]) -> Vec<(u64, Option<Entry>)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    if ranges.is_empty() {
        return Vec::new();
    }
    // Boundaries where the set of covering ranges can change.
    let mut points: Vec<u64> = ranges.iter().flat_map(|&((a, b), _)| [a, b + 1]).collect();
    points.push(0);
    points.sort_unstable();
    points.dedup();
    // `ranges` is sorted by (first, last). The heap's top is the best covering range.
    type Key = (
        Reverse<u64>,
        (
            crate::rule::Status,
            Option<crate::rule::Date>,
            Option<crate::rule::Reason>,
        ),
        Reverse<u64>,
        usize,
    );
    let mut heap: BinaryHeap<Key> = BinaryHeap::new();
    let mut next = 0usize;
    let mut out: Vec<(u64, Option<Entry>)> = Vec::new();
    for w in points.windows(2) {
        let (start, end) = (w[0], w[1] - 1);
        while next < ranges.len() && ranges[next].0.0 <= start {
            let ((a, b), e) = ranges[next];
            heap.push((Reverse(b - a), e.precedence(), Reverse(a), next));
            next += 1;
        }
        while let Some(&(_, _, _, i)) = heap.peek() {
            if ranges[i].0.1 < start {
                heap.pop();
            } else {
                break;
            }
        }
        let winner = heap.peek().map(|&(_, _, _, i)| ranges[i].1);
        match out.last_mut() {
            Some(last) if last.1 == winner => last.0 = end,
            _ => out.push((end, winner)),
        }
    }
    out
}

/// Builds one transducer from sorted (key, value) pairs into the writer.
fn write_map<W: Write, K: AsRef<[u8]>>(
    w: &mut W,
    items: impl Iterator<Item = (K, u64)>,
) -> io::Result<()> {
    let mut b = fst::MapBuilder::new(w).map_err(to_io)?;
    for (k, v) in items {
        b.insert(k, v).map_err(to_io)?;
    }
    b.finish().map_err(to_io)
}

fn to_io(e: fst::Error) -> io::Error {
    match e {
        fst::Error::Io(e) => e,
        other => io::Error::other(other),
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

    fn begin(&mut self) -> io::Result<()> {
        let pad = self.pos.next_multiple_of(8) - self.pos;
        self.inner.write_all(&[0u8; 8][..pad as usize])?;
        self.pos += pad;
        self.start = self.pos;
        self.crc = crc32fast::Hasher::new();
        Ok(())
    }

    fn end(&mut self) -> io::Result<SectionRef> {
        let crc = std::mem::take(&mut self.crc).finalize();
        Ok(SectionRef {
            offset: self.start,
            len: self.pos - self.start,
            crc,
        })
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

const _: () = assert!(ENTRY_RECORD == 8);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Status;

    fn e(s: Status) -> Entry {
        Entry::new(s)
    }

    #[test]
    fn segments_pick_the_narrowest_range() {
        let ranges = vec![
            ((10, 100), e(Status::Blocked)),
            ((20, 30), e(Status::Allowed)),
            ((200, 200), e(Status::Tracked)),
        ];
        let segs = segments(&ranges);
        assert_eq!(
            segs,
            vec![
                (9, None),
                (19, Some(e(Status::Blocked))),
                (30, Some(e(Status::Allowed))),
                (100, Some(e(Status::Blocked))),
                (199, None),
                (200, Some(e(Status::Tracked))),
            ]
        );
    }
}
