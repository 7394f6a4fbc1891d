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
use crate::format::blocks::BlocksWriter;
use crate::format::filter::{BLOCK, DEFAULT_FILTER_BITS, Domain, FilterBuilder};
use crate::format::key::{imei_key, imei_of_key, range_of_key};
use crate::format::records::{self, Rec, V2_TOMBSTONE};
use crate::format::segments::Segments;
use crate::format::sources::{self as sources_section, ContentHash, MAX_SOURCES, SourceRecord};
use crate::format::stacks::{self, Member, StackSweep, Words};
use crate::format::strings::StringsBuilder;
use crate::format::subscribers::{self, RowRecord};
use crate::format::{
    DeltaInfo, FORMAT_VERSION, Header, Record, RuleCounts, Section, SectionRef, header_len,
};
use crate::model::rule::{Entry, RuleKind};
use crate::model::source::{Reasons, Source};

/// Turns an I/O error of the output into the crate's error, naming the output.
pub(crate) type IoContext<'a> = &'a dyn Fn(io::Error) -> Error;

/// What a [`RuleSource`] calls with each key and its record.
pub(crate) type Visit<'a> = dyn FnMut(&[u8], &Record) -> Result<(), Error> + 'a;

/// A source as a [`RuleSource`] describes it: what the writer cannot compute itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceMeta {
    pub name: Source,
    pub run_id: Option<i64>,
    /// In a delta: the run it starts from.
    pub base_run_id: Option<i64>,
    /// Unix seconds; 0 unknown.
    pub built: i64,
}

impl SourceMeta {
    /// A source with nothing recorded.
    pub(crate) fn named(name: Source) -> SourceMeta {
        SourceMeta {
            name,
            run_id: None,
            base_run_id: None,
            built: 0,
        }
    }
}

/// A subscriber row as a [`RuleSource`] gives it: the record (its reason set id unset) and
/// its reasons.
pub(crate) type SubscriberRow = (RowRecord, Reasons);

/// Rules streamed kind by kind, for the writer.
pub(crate) trait RuleSource {
    /// Calls `f` with every key of `kind` in strictly increasing order, with its record.
    /// Keys are in the layout of files with sources: each ends with its source id, an
    /// index into [`RuleSource::sources`]. May be called any number of times, and must
    /// give the same keys and records each time.
    fn for_each(&self, kind: RuleKind, f: &mut Visit<'_>) -> Result<(), Error>;

    /// The sources the keys' ids name, in id order, which is the order of their names.
    fn sources(&self) -> Vec<SourceMeta>;

    /// The subscriber rows, with source ids into [`RuleSource::sources`], in any order.
    fn subscribers(&self) -> Vec<SubscriberRow> {
        Vec::new()
    }

    /// The devices section (GSMA's TAC database) to write, as its bytes, if any: a table
    /// the rules do not change, so a build encodes it and apply and merge pass it on.
    fn devices(&self) -> Option<bytes::Bytes> {
        None
    }
}

/// The layout a writer writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Layout {
    /// With sources, dated rules and open reasons (sections 8 to 12), and the exact-IMEI
    /// rules in the `imei blocks` section (13).
    #[default]
    Sources,
    /// With sources, and the exact-IMEI rules in the `imei` transducer, as writers wrote
    /// them before section 13 existed: for readers of that time.
    SourcesImeiTransducer,
    /// Format 1's first layout, which every reader reads: one source (`local`), no starts,
    /// at most one known reason per rule.
    V1,
}

/// What the writer wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// Rules by kind and status (not counting tombstones).
    pub counts: RuleCounts,
    /// Tombstones by kind, in [`RuleKind::ALL`] order (only in deltas).
    pub tombstones: [u64; 4],
    /// Distinct entry records.
    pub distinct_entries: u64,
    /// Bytes of the index.
    pub bytes: u64,
    /// Per source (in id order): its name, rules by kind and status, and content hash.
    pub sources: Vec<(Source, RuleCounts, u64)>,
}

/// Writes an index file (a delta index when `delta` holds its base serial) to `w`, with
/// a filter of the default size, in the layout with sources.
pub(crate) fn write_index<W: Write + Seek>(
    w: &mut W,
    source: &dyn RuleSource,
    serial: u64,
    delta: Option<u64>,
    io_err: IoContext<'_>,
) -> Result<Written, Error> {
    write_index_with(
        w,
        source,
        serial,
        delta,
        DEFAULT_FILTER_BITS,
        Layout::Sources,
        io_err,
    )
}

/// The entry table: records by id, and the id of each entry.
struct EntryTable {
    /// Encoded records, by id: 8 bytes each (format 1) or 16.
    records: Vec<Vec<u8>>,
    ids: HashMap<Record, u64>,
    /// The records, by id.
    by_id: Vec<Record>,
    /// The records as checks read them, by id (tombstones as `None`), for the range sweep.
    recs: Vec<Option<Rec>>,
}

impl EntryTable {
    /// Numbers the distinct records: most frequent first, so that the commonest gets id 0
    /// (which a transducer stores for free); ties in the order of their bytes, so that
    /// equal rules give equal files.
    fn new(
        freq: HashMap<Record, u64>,
        encode: impl Fn(&Record) -> (Vec<u8>, Option<Rec>),
    ) -> EntryTable {
        let mut by_freq: Vec<(Vec<u8>, Option<Rec>, Record, u64)> = freq
            .into_iter()
            .map(|(r, n)| {
                let (bytes, rec) = encode(&r);
                (bytes, rec, r, n)
            })
            .collect();
        by_freq.sort_unstable_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
        let mut t = EntryTable {
            records: Vec::with_capacity(by_freq.len()),
            ids: HashMap::with_capacity(by_freq.len()),
            by_id: Vec::with_capacity(by_freq.len()),
            recs: Vec::with_capacity(by_freq.len()),
        };
        for (i, (bytes, rec, r, _)) in by_freq.into_iter().enumerate() {
            t.records.push(bytes);
            t.recs.push(rec);
            t.by_id.push(r.clone());
            t.ids.insert(r, i as u64);
        }
        t
    }

    /// The id of a record that pass 1 counted.
    fn id(&self, r: &Record) -> u64 {
        self.ids[r]
    }
}

/// How often each record occurs, counted in key order. Neighbours often share an entry
/// (an operator's list of one status): a run of equal records is counted once, instead of
/// hashing each. Where neighbours differ (a register's dated rows), keeping the run's
/// record costs more than it saves, so after a few changes in a row records are counted
/// one by one, and runs are tried again now and then.
#[derive(Default)]
struct Frequencies {
    counts: HashMap<Record, u64>,
    run: Option<(Record, u64)>,
    /// Changes of record in a row.
    changes: u32,
    /// Records to count one by one before trying runs again.
    skip: u32,
}

impl Frequencies {
    /// Changes in a row after which records are counted one by one.
    const CHANGES: u32 = 8;
    /// Records counted one by one before runs are tried again.
    const SKIP: u32 = 1024;

    fn add(&mut self, r: &Record) {
        if let Some((last, n)) = &mut self.run
            && last == r
        {
            *n += 1;
            self.changes = 0;
            return;
        }
        self.flush();
        if self.skip > 0 {
            self.skip -= 1;
            self.count(r, 1);
            return;
        }
        self.changes += 1;
        if self.changes >= Self::CHANGES {
            self.changes = Self::CHANGES - 1;
            self.skip = Self::SKIP;
            self.count(r, 1);
        } else {
            self.run = Some((r.clone(), 1));
        }
    }

    fn count(&mut self, r: &Record, n: u64) {
        match self.counts.get_mut(r) {
            Some(c) => *c += n,
            None => {
                self.counts.insert(r.clone(), n);
            }
        }
    }

    fn flush(&mut self) {
        if let Some((r, n)) = self.run.take() {
            *self.counts.entry(r).or_insert(0) += n;
        }
    }

    fn finish(mut self) -> HashMap<Record, u64> {
        self.flush();
        self.counts
    }
}

/// Entry ids of records that come in key order: neighbours often share an entry, so the
/// last id is remembered and the table's map is asked once per run.
struct Ids<'a> {
    table: &'a EntryTable,
    last: Option<u64>,
}

impl Ids<'_> {
    fn new(table: &EntryTable) -> Ids<'_> {
        Ids { table, last: None }
    }

    fn id(&mut self, r: &Record) -> u64 {
        if let Some(id) = self.last
            && self.table.by_id.get(id as usize) == Some(r)
        {
            return id;
        }
        let id = self.table.id(r);
        self.last = Some(id);
        id
    }
}

/// [`write_index`] with `filter_bits` bits of filter per key of the IMEI and pair maps (0:
/// no filter section), in `layout`.
pub(crate) fn write_index_with<W: Write + Seek>(
    w: &mut W,
    source: &dyn RuleSource,
    serial: u64,
    delta: Option<u64>,
    filter_bits: u32,
    layout: Layout,
    io_err: IoContext<'_>,
) -> Result<Written, Error> {
    let mut metas = source.sources();
    if metas.len() > MAX_SOURCES {
        return Err(Error::TooManySources { count: metas.len() });
    }
    let v1 = layout == Layout::V1;
    let imei_blocks = layout == Layout::Sources;
    if v1
        && metas
            .iter()
            .any(|m| !m.name.is_local() || m.run_id.is_some() || m.built != 0)
    {
        return Err(Error::NotV1 {
            what: "it holds rules of another source than local, or a run id or build time".into(),
        });
    }
    let mut subscribers = source.subscribers();
    if v1 && !subscribers.is_empty() {
        return Err(Error::NotV1 {
            what: "it holds subscriber rows".into(),
        });
    }
    // Pass 1: counts, content hashes and entry frequencies.
    let mut written = Written::default();
    let mut per_source: Vec<(RuleCounts, [ContentHash; 4])> =
        vec![(RuleCounts::default(), [ContentHash::default(); 4]); metas.len()];
    let mut freq = Frequencies::default();
    let mut dated = false;
    // Keys (rules and tombstones) per source.
    let mut keys_of = vec![0u64; metas.len()];
    let mut bad_source: Option<u8> = None;
    let mut not_v1 = false;
    for (k, kind) in RuleKind::ALL.into_iter().enumerate() {
        source.for_each(kind, &mut |key, record| {
            let (&src, target) = key.split_last().unwrap_or((&0, &[]));
            if let Some(n) = keys_of.get_mut(usize::from(src)) {
                *n += 1;
            }
            match record {
                Record::Rule(e) => {
                    written.counts.add(kind, e.status);
                    match per_source.get_mut(usize::from(src)) {
                        Some((counts, hash)) => {
                            counts.add(kind, e.status);
                            let earlier = e.earlier_status().map_or(0, |s| s.s13_code() + 1);
                            let pack = |d: Option<crate::model::rule::Date>| {
                                d.map_or(0, |d| d.days_since_epoch() + 1)
                            };
                            hash[k].add(
                                kind,
                                target,
                                e.status.s13_code(),
                                earlier,
                                pack(e.date),
                                pack(e.start),
                                e.reasons.digest(),
                            );
                        }
                        None => bad_source = Some(src),
                    }
                    dated |= e.start.is_some();
                    not_v1 |= !e.fits_v1();
                }
                Record::Removed if delta.is_some() => written.tombstones[k] += 1,
                Record::Removed => {
                    return Err(io_err(io::Error::other(
                        "a full index cannot hold tombstones (an internal error)",
                    )));
                }
            }
            freq.add(record);
            Ok(())
        })?;
    }
    let freq = freq.finish();
    if let Some(src) = bad_source {
        return Err(io_err(io::Error::other(format!(
            "a rule names source id {src}, but there are {} sources (an internal error)",
            metas.len()
        ))));
    }
    if v1 && not_v1 {
        return Err(Error::NotV1 {
            what: "it holds a rule with a start, or with reasons other than one known reason"
                .into(),
        });
    }
    // A source with no key, no subscriber row and nothing recorded leaves no trace, so
    // that equal rules give equal files however they were made (a build never meets such
    // a source; an apply that removes a source's last rule does).
    let mut remap = [0u8; 256];
    {
        let mut rows = vec![false; metas.len()];
        for (row, _) in &subscribers {
            if let Some(r) = rows.get_mut(usize::from(row.source)) {
                *r = true;
            }
        }
        let mut kept = 0usize;
        let mut keep = Vec::with_capacity(metas.len());
        for (i, m) in metas.iter().enumerate() {
            let k = keys_of[i] > 0
                || rows[i]
                || m.run_id.is_some()
                || m.base_run_id.is_some()
                || m.built != 0;
            remap[i] = kept as u8;
            kept += usize::from(k);
            keep.push(k);
        }
        let mut it = keep.iter();
        metas.retain(|_| *it.next().unwrap_or(&true));
        let mut it = keep.iter();
        per_source.retain(|_| *it.next().unwrap_or(&true));
        for (row, _) in &mut subscribers {
            row.source = remap[usize::from(row.source)];
        }
    }
    let strings = (!v1).then(|| {
        StringsBuilder::new(
            freq.keys()
                .filter_map(Record::entry)
                .map(|e| &e.reasons)
                .chain(subscribers.iter().map(|(_, r)| r)),
            metas.iter().map(|m| m.name.as_str()),
        )
    });
    let table = match &strings {
        None => EntryTable::new(freq, |r| {
            let rec = r
                .entry()
                .and_then(|e| records::decode_v1(&crate::format::encode_entry(e)));
            (r.encode().to_vec(), rec)
        }),
        Some(sb) => EntryTable::new(freq, |r| match r {
            Record::Removed => (V2_TOMBSTONE.to_vec(), None),
            Record::Rule(e) => {
                let rec = rec_of(e, sb.set_id(&e.reasons));
                (records::encode_v2(&rec).to_vec(), Some(rec))
            }
        }),
    };
    written.distinct_entries = table.records.len() as u64;
    written.sources = metas
        .iter()
        .zip(&per_source)
        .map(|(m, (c, h))| (m.name.clone(), *c, ContentHash::of_kinds(h)))
        .collect();
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

    let devices = source.devices();
    // Pass 2: the sections, after room for the header.
    let n_sections = Section::ALL.len()
        + if v1 { 0 } else { Section::V2.len() }
        + usize::from(delta.is_some())
        + usize::from(filter.is_some())
        + usize::from(devices.is_some())
        + usize::from(imei_blocks);
    let hlen = header_len(n_sections) as u64;
    let io = |e| io_err(e);
    w.seek(SeekFrom::Start(0)).map_err(io)?;
    w.write_all(&vec![0u8; hlen as usize]).map_err(io)?;
    let mut sw = SectionWriter::new(w, hlen);
    let mut refs = Vec::with_capacity(Section::ALL.len());
    let mut stacks: Vec<Words> = Vec::new();
    // The filter is built on another thread while this one builds the transducers.
    let (v2_refs, delta_ref, devices_ref, blocks_ref, filter_ref) =
        std::thread::scope(|scope| -> Result<_, Error> {
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
            let cut = usize::from(v1);
            for section in Section::ALL {
                sw.begin(8).map_err(io)?;
                let f = Some(&mut feed);
                match section {
                    Section::Entries if v1 => {
                        for r in &table.records {
                            sw.write_all(r).map_err(io)?;
                        }
                    }
                    // With sources, the records are in `entries v2`.
                    Section::Entries => {}
                    // An empty map: the rules are in the blocks, after sections 8 to 12.
                    Section::Imei if imei_blocks => {
                        fst::MapBuilder::new(&mut sw)
                            .and_then(|b| b.finish())
                            .map_err(|e| io_err(to_io(e)))?;
                    }
                    Section::Imei => write_kind(
                        &mut sw,
                        source,
                        RuleKind::Imei,
                        &table,
                        f,
                        cut,
                        &remap,
                        io_err,
                    )?,
                    Section::Tac => write_kind(
                        &mut sw,
                        source,
                        RuleKind::Tac,
                        &table,
                        None,
                        cut,
                        &remap,
                        io_err,
                    )?,
                    Section::Pair => write_kind(
                        &mut sw,
                        source,
                        RuleKind::Pair,
                        &table,
                        f,
                        cut,
                        &remap,
                        io_err,
                    )?,
                    Section::Range => write_kind(
                        &mut sw,
                        source,
                        RuleKind::Range,
                        &table,
                        None,
                        cut,
                        &remap,
                        io_err,
                    )?,
                    Section::Segments if v1 => {
                        write_segments(&mut sw, source, delta.is_none(), &table, io_err)?
                    }
                    Section::Segments => write_stacked_segments(
                        &mut sw,
                        source,
                        delta.is_none(),
                        &table,
                        &mut stacks,
                        &remap,
                        io_err,
                    )?,
                    _ => unreachable!("not one of the six sections every file has"),
                }
                refs.push(sw.end());
            }
            let v2_refs = match &strings {
                None => None,
                Some(sb) => {
                    let mut v2 = Vec::with_capacity(5);
                    for section in Section::V2 {
                        sw.begin(8).map_err(io)?;
                        let bytes = match section {
                            Section::Sources => {
                                let recs: Vec<SourceRecord> = metas
                                    .iter()
                                    .zip(&per_source)
                                    .map(|(m, (counts, hash))| SourceRecord {
                                        name: sb.string_id(m.name.as_str()),
                                        run_id: m.run_id,
                                        base_run_id: m.base_run_id.filter(|_| delta.is_some()),
                                        built: m.built,
                                        hash: ContentHash::of_kinds(hash),
                                        counts: *counts,
                                    })
                                    .collect();
                                sources_section::encode(&recs)
                            }
                            Section::EntriesV2 => {
                                let mut b =
                                    records::encode_v2_header(dated, table.records.len() as u64)
                                        .to_vec();
                                for r in &table.records {
                                    b.extend_from_slice(r);
                                }
                                b
                            }
                            Section::Strings => sb.encode(),
                            Section::Stacks => stacks::encode(&stacks),
                            Section::Subscribers => {
                                let mut rows: Vec<RowRecord> = subscribers
                                    .iter()
                                    .map(|(row, reasons)| RowRecord {
                                        reasons: sb.set_id(reasons),
                                        flags: if delta.is_some() { row.flags } else { 0 },
                                        ..*row
                                    })
                                    .collect();
                                rows.sort_unstable();
                                rows.dedup_by(|a, b| {
                                    (a.source, a.imei, a.imsi, a.msisdn)
                                        == (b.source, b.imei, b.imsi, b.msisdn)
                                });
                                subscribers::encode(&rows)
                            }
                            _ => unreachable!("one of sections 8 to 12"),
                        };
                        sw.write_all(&bytes).map_err(io)?;
                        v2.push(sw.end());
                    }
                    Some(<[SectionRef; 5]>::try_from(v2).expect("five sections"))
                }
            };
            let blocks_ref = if imei_blocks {
                sw.begin(8).map_err(io)?;
                write_blocks(
                    &mut sw,
                    source,
                    &table,
                    &mut feed,
                    &remap,
                    metas.len(),
                    io_err,
                )?;
                Some(sw.end())
            } else {
                None
            };
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
            let devices_ref = match &devices {
                Some(bytes) => {
                    sw.begin(8).map_err(io)?;
                    sw.write_all(bytes).map_err(io)?;
                    Some(sw.end())
                }
                None => None,
            };
            feed.finish();
            let Some(worker) = worker else {
                return Ok((v2_refs, delta_ref, devices_ref, blocks_ref, None));
            };
            let f = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // Blocks on cache-line boundaries: a check then touches one line.
            sw.begin(BLOCK as u64).map_err(io)?;
            f.write(&mut sw).map_err(io)?;
            Ok((v2_refs, delta_ref, devices_ref, blocks_ref, Some(sw.end())))
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
        v2: v2_refs,
        devices: devices_ref,
        imei_blocks: blocks_ref,
    };
    w.seek(SeekFrom::Start(0)).map_err(io)?;
    w.write_all(&header.encode()).map_err(io)?;
    w.seek(SeekFrom::Start(file_len)).map_err(io)?;
    written.bytes = file_len;
    Ok(written)
}

/// An entry's record, with its reason set's id.
pub(crate) fn rec_of(e: &Entry, reasons: u32) -> Rec {
    let pack = |d: Option<crate::model::rule::Date>| d.map_or(0, |d| d.days_since_epoch() + 1);
    Rec {
        status: e.status,
        earlier: e.earlier_status(),
        date: pack(e.date),
        start: pack(e.start),
        reasons,
    }
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
/// `cut` bytes (the source id) are dropped from the end of each key, for format 1.
#[allow(clippy::too_many_arguments)]
fn write_kind<W: Write>(
    w: &mut W,
    source: &dyn RuleSource,
    kind: RuleKind,
    table: &EntryTable,
    mut filter: Option<&mut FilterFeed>,
    cut: usize,
    remap: &[u8; 256],
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
    let mut last_imei: Option<[u8; 6]> = None;
    let mut ids = Ids::new(table);
    source.for_each(kind, &mut |k, record| {
        if let (Some(f), Some(imei)) = (filter.as_deref_mut(), k.get(..6)) {
            // Keys of several sources share an IMEI: the filter needs it once.
            if last_imei.as_ref().map(|l| &l[..]) != Some(imei) {
                f.push(imei_of_key(imei), domain);
            }
        }
        let mut buf = [0u8; 16];
        let n = k.len().min(16);
        buf[..n].copy_from_slice(&k[..n]);
        if let Some(last) = buf[..n].last_mut() {
            *last = remap[usize::from(*last)];
        }
        let key = &buf[..n.saturating_sub(cut)];
        b.insert(key, ids.id(record))
            .map_err(|e| io_err(to_io(e)))?;
        last_imei = k.get(..6).map(|i| <[u8; 6]>::try_from(i).expect("6 bytes"));
        Ok(())
    })?;
    b.into_inner()
        .map_err(|e| io_err(to_io(e)))?
        .flush()
        .map_err(io_err)
}

/// Writes the `imei blocks` section from the source's exact-IMEI rules, feeding their
/// IMEIs to the filter.
fn write_blocks<W: Write>(
    w: &mut W,
    source: &dyn RuleSource,
    table: &EntryTable,
    filter: &mut FilterFeed,
    remap: &[u8; 256],
    sources: usize,
    io_err: IoContext<'_>,
) -> Result<(), Error> {
    let mut b =
        BlocksWriter::new(BufWriter::with_capacity(1 << 16, w), sources.max(1)).map_err(io_err)?;
    let mut last = None;
    let mut ids = Ids::new(table);
    source.for_each(RuleKind::Imei, &mut |k, record| {
        let (imei, src) = match k {
            [i @ .., s] if i.len() == 6 => (imei_of_key(i), *s),
            _ => {
                return Err(io_err(io::Error::other(
                    "an IMEI key is not 7 bytes (an internal error)",
                )));
            }
        };
        // Keys of several sources share an IMEI: the filter needs it once.
        if last != Some(imei) {
            filter.push(imei, Domain::Imei);
            last = Some(imei);
        }
        b.push(imei, remap[usize::from(src)], ids.id(record))
            .map_err(io_err)
    })?;
    b.finish().map_err(io_err)?.flush().map_err(io_err)
}

/// Writes the segments transducer of format 1 from the source's ranges (empty unless
/// `full`): each segment's narrowest range's entry.
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
            let (first, last) = k.get(..12).and_then(range_of_key).ok_or_else(|| {
                io_err(io::Error::other(
                    "a range key is not 13 bytes (an internal error)",
                ))
            })?;
            match record {
                Record::Rule(e) => sweep.push(first, last, e.clone(), &mut emit),
                Record::Removed => Ok(()),
            }
        })?;
        sweep.finish(&mut emit)?;
    }
    b.finish().map_err(|e| io_err(to_io(e)))
}

/// Writes the segments transducer of a file with sources (empty unless `full`), and
/// collects the stacks its values name.
fn write_stacked_segments<W: Write>(
    w: &mut W,
    source: &dyn RuleSource,
    full: bool,
    table: &EntryTable,
    stacks: &mut Vec<Words>,
    remap: &[u8; 256],
    io_err: IoContext<'_>,
) -> Result<(), Error> {
    let mut b = fst::MapBuilder::new(w).map_err(|e| io_err(to_io(e)))?;
    if full {
        let mut sweep = StackSweep::default();
        let mut ids: HashMap<Words, u32> = HashMap::new();
        let mut emit = |last: u64, s: Option<&Words>| {
            let v = match s {
                None => 0,
                Some(words) => segment_value(words, stacks, &mut ids),
            };
            b.insert(imei_key(last), v).map_err(|e| io_err(to_io(e)))
        };
        source.for_each(RuleKind::Range, &mut |k, record| {
            let bad = || {
                io_err(io::Error::other(
                    "a range key is not 13 bytes (an internal error)",
                ))
            };
            let (first, last) = k.get(..12).and_then(range_of_key).ok_or_else(bad)?;
            let src = *k.get(12).ok_or_else(bad)?;
            let Record::Rule(_) = record else {
                return Ok(());
            };
            let id = table.id(record);
            let always = table.recs[id as usize].is_none_or(|r| r.always_applies());
            let member = Member {
                entry: id as u32,
                source: remap[usize::from(src)],
            };
            sweep.push(first, last, member, always, &mut emit)
        })?;
        sweep.finish(&mut emit)?;
    }
    b.finish().map_err(|e| io_err(to_io(e)))
}

/// The value of a segment with stack `words`: one rule alone, or the stack's id (a new one
/// when the stack is new, in order of first use).
pub(crate) fn segment_value(
    words: &Words,
    stacks: &mut Vec<Words>,
    ids: &mut HashMap<Words, u32>,
) -> u64 {
    if let [1, entry, source] = words[..] {
        return stacks::single_value(Member {
            entry,
            source: source as u8,
        });
    }
    let id = match ids.get(words) {
        Some(&id) => id,
        None => {
            let id = stacks.len() as u32;
            stacks.push(words.clone());
            ids.insert(words.clone(), id);
            id
        }
    };
    stacks::stack_value(id)
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
    use crate::model::rule::Status;
    use proptest::prelude::*;

    proptest! {
        /// Runs, changes in a row and the one-by-one stretches count each record as often
        /// as it occurs.
        #[test]
        fn frequencies_count_every_record(picks in proptest::collection::vec(0usize..4, 0..3000)) {
            let records = [
                Record::Removed,
                Record::Rule(Entry::new(Status::Blocked)),
                Record::Rule(Entry::new(Status::Tracked)),
                Record::Rule(Entry::new(Status::Blocked).with_reason(crate::Reason::Stolen)),
            ];
            let mut f = Frequencies::default();
            let mut want: HashMap<Record, u64> = HashMap::new();
            for &p in &picks {
                f.add(&records[p]);
                *want.entry(records[p].clone()).or_insert(0) += 1;
            }
            prop_assert_eq!(f.finish(), want);
        }
    }
}
