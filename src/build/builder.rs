//! Building index files from rules.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

use crate::build::spill::{Sorted, Store};
use crate::build::write::{self, Layout, RuleSource, SourceMeta, SubscriberRow, Visit};
use crate::error::Error;
use crate::format::devices;
use crate::format::filter::DEFAULT_FILTER_BITS;
use crate::format::key::{self, imei_key, pair_key, range_key};
use crate::format::sources::MAX_SOURCES;
use crate::format::subscribers::{RowRecord, msisdn_key};
use crate::format::{Record, RuleCounts};
use crate::list::ListError;
use crate::model::device::TacTable;
use crate::model::rule::{Entry, Rule, RuleKind, Target};
use crate::model::source::Source;
use crate::model::subscriber::Subscriber;

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
    /// Distinct entries (status, reasons, date, start, earlier status).
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

/// Records a memory-bounded buffer grows by at least, so that tiny bounds still make
/// progress.
const MIN_BUFFER_RECORDS: usize = 4096;

/// How often a build reports progress, in rules.
const PROGRESS_EVERY: u64 = 1 << 20;

/// How far a build has got, as [`IndexBuilder::progress`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// What the build is doing.
    pub phase: BuildPhase,
    /// Rules done in this phase.
    pub done: u64,
    /// Rules this phase does in all.
    pub total: u64,
}

/// The phases of a build, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BuildPhase {
    /// With a memory limit only, while rules are added: a full buffer is sorted and
    /// written to a temporary run file. `done` counts the rules spilled so far and `total`
    /// the rules added so far.
    Spilling,
    /// Reading all rules in key order to merge duplicates and count entries.
    Resolving,
    /// Writing the index.
    Writing,
}

/// Collects rules and writes an index file.
///
/// Rules may come in any order. Several rules of one source for one target (the same IMEI,
/// pair, range or TAC) are merged (docs/semantics.md): the most severe status wins (blocked
/// over tracked over allowed), then the earliest start (no start is earliest), then the latest
/// date, then the greater reasons. The summary counts every merge and every conflict.
/// Rules of different sources are never merged: the index keeps each, and checks weigh
/// them.
///
/// By default every rule is kept in memory (16 bytes per IMEI rule). With
/// [`IndexBuilder::memory_limit`], full buffers are sorted and spilled to temporary files
/// and merged when the index is written, so that lists of hundreds of millions of rules
/// build in bounded memory; the file is the same either way.
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
pub struct IndexBuilder {
    entries: Interner,
    imei: Store<(u64, u8)>,
    pair: Store<(u64, u64, u8)>,
    tac: Vec<((u32, u8), u32)>,
    range: Vec<((u64, u64, u8), u32)>,
    /// The sources met, by builder id (order of first use).
    sources: Vec<SourceMeta>,
    source_ids: HashMap<Source, u8>,
    /// The last source looked up, and its id.
    last_source: Option<(Source, u8)>,
    /// Sources met beyond the most an index holds.
    too_many_sources: usize,
    subscribers: Vec<Subscriber>,
    layout: Layout,
    serial: u64,
    rules_in: u64,
    rejected: u64,
    spilled: u64,
    memory_limit: Option<usize>,
    temp_dir: Option<PathBuf>,
    filter_bits: u32,
    progress: Option<Box<dyn FnMut(Progress) + Send>>,
    /// A spill that failed: the build reports it, and rules added since are dropped.
    error: Option<io::Error>,
    /// The devices section to write: GSMA's TAC database, encoded.
    devices: Option<bytes::Bytes>,
}

impl Default for IndexBuilder {
    fn default() -> IndexBuilder {
        IndexBuilder {
            entries: Interner::default(),
            imei: Store::default(),
            pair: Store::default(),
            tac: Vec::new(),
            range: Vec::new(),
            sources: Vec::new(),
            source_ids: HashMap::new(),
            last_source: None,
            too_many_sources: 0,
            subscribers: Vec::new(),
            layout: Layout::Sources,
            devices: None,
            serial: 0,
            rules_in: 0,
            rejected: 0,
            spilled: 0,
            memory_limit: None,
            temp_dir: None,
            filter_bits: DEFAULT_FILTER_BITS,
            progress: None,
            error: None,
        }
    }
}

impl std::fmt::Debug for IndexBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexBuilder")
            .field("rules_in", &self.rules_in)
            .field("rejected", &self.rejected)
            .field("spilled", &self.spilled)
            .field("memory_limit", &self.memory_limit)
            .field("temp_dir", &self.temp_dir)
            .field("filter_bits", &self.filter_bits)
            .finish_non_exhaustive()
    }
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

    /// Bounds the memory that buffered rules take, in bytes (at least 64 KiB).
    ///
    /// When the buffers would grow beyond it, the largest is sorted and written to a
    /// temporary file in [`IndexBuilder::temp_dir`], and the build merges those files. The
    /// bound covers the rule buffers, which dominate; writing adds the filter (one byte per
    /// IMEI at the default 8 bits) and a few MiB of buffers. Exact-IMEI and pair rules
    /// spill; TAC and range rules, which lists hold few of, stay in memory.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, IndexBuilder, Rule, Status};
    /// use imei_index::synth::ListShape;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut b = IndexBuilder::new();
    /// b.memory_limit(64 * 1024).temp_dir(dir.path());
    /// for imei in ListShape::new(20_000, 1).imeis() {
    ///     b.add(Rule::imei(imei, Entry::new(Status::Blocked)));
    /// }
    /// let summary = b.build_to_file(dir.path().join("list.imeiidx"))?;
    /// assert_eq!(summary.rules_written, 20_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_limit(&mut self, bytes: usize) -> &mut IndexBuilder {
        self.memory_limit = Some(bytes.max(64 * 1024));
        self
    }

    /// Where spilled runs go (default: the system's temporary directory). Choose a
    /// directory on a file system with room for about 10 bytes per rule, for example the
    /// output's. The files are unlinked as soon as they are created (on Unix) and gone when
    /// the build ends, even if it fails.
    pub fn temp_dir(&mut self, dir: impl Into<PathBuf>) -> &mut IndexBuilder {
        self.temp_dir = Some(dir.into());
        self
    }

    /// Bits of filter per exact-IMEI and pair rule (default [`DEFAULT_FILTER_BITS`]; 0 for
    /// no filter).
    ///
    /// The filter lets a check answer most unlisted IMEIs with one memory access instead
    /// of a walk through the IMEI transducer. More bits make the file larger and let fewer
    /// unlisted IMEIs through to the walk: at 4 bits about 15% pass, at 8 bits 2–3%, at 12
    /// bits under 1%. Values above 32 are taken as 32, where the filter stops improving.
    /// docs/performance.md measures the trade-off.
    pub fn filter_bits(&mut self, bits: u32) -> &mut IndexBuilder {
        self.filter_bits = bits.min(32);
        self
    }

    /// Calls `f` as the build goes, for progress bars: at least at the start and end of
    /// every phase and every 2^20 rules within one.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{BuildPhase, Entry, IndexBuilder, Progress, Rule, Status};
    /// use imei_index::synth::ListShape;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let mut b = IndexBuilder::new();
    /// let log = Arc::clone(&seen);
    /// b.progress(move |p: Progress| log.lock().unwrap().push(p));
    /// for imei in ListShape::new(1_000, 1).imeis() {
    ///     b.add(Rule::imei(imei, Entry::new(Status::Blocked)));
    /// }
    /// b.build_to_vec()?;
    /// let last = *seen.lock().unwrap().last().unwrap();
    /// assert_eq!((last.phase, last.done, last.total), (BuildPhase::Writing, 1_000, 1_000));
    /// # Ok::<(), imei_index::Error>(())
    /// ```
    pub fn progress(&mut self, f: impl FnMut(Progress) + Send + 'static) -> &mut IndexBuilder {
        self.progress = Some(Box::new(f));
        self
    }

    /// Records what the index says about a source beside its rules: the register's run id
    /// its rules are from (DIRBS numbers its runs; -1 is one), and when they were built
    /// (unix seconds; 0, the default, for unknown). `stats` shows both with the source's
    /// content hash, which the build computes.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, Imei, Index, IndexBuilder, Rule, Source, Status};
    ///
    /// let register: Source = "dirbs/blacklist".parse()?;
    /// let mut b = IndexBuilder::new();
    /// b.source_info(&register, Some(57), 1_717_182_000);
    /// b.add(Rule::imei(Imei::parse("35209900176148")?, Entry::new(Status::Blocked)).with_source(register));
    /// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
    /// let s = &index.stats().sources[0];
    /// assert_eq!((s.name.as_str(), s.run_id, s.built, s.rules()), ("dirbs/blacklist", Some(57), 1_717_182_000, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn source_info(
        &mut self,
        source: &Source,
        run_id: Option<i64>,
        built: i64,
    ) -> &mut IndexBuilder {
        if let Some(id) = self.source_id(source) {
            let meta = &mut self.sources[usize::from(id)];
            meta.run_id = run_id;
            meta.built = built;
        }
        self
    }

    /// Stores GSMA's TAC database in the index (an optional section, which readers that
    /// predate it ignore): [`Index::device`](crate::Index::device) then names a TAC's model,
    /// and a [`TacPolicy`](crate::TacPolicy) can answer for IMEIs of TACs it does not
    /// list. Read the table from GSMA's file with [`list::tacdb`](crate::list::tacdb).
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{DeviceInfo, Index, IndexBuilder, Tac, TacTable};
    ///
    /// let mut db = TacTable::new();
    /// db.insert(Tac::parse("35209900")?, DeviceInfo { manufacturer: "Acme".into(), model: "R3".into(), ..Default::default() });
    /// let mut b = IndexBuilder::new();
    /// b.tac_db(db);
    /// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
    /// assert_eq!(index.device(Tac::parse("35209900")?).map(|d| d.model), Some("R3"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tac_db(&mut self, table: TacTable) -> &mut IndexBuilder {
        self.devices = Some(bytes::Bytes::from(devices::encode(&table)));
        self
    }

    /// Writes the first layout of format 1, without sources, which readers before
    /// imei-index 0.2 read: for indexes that such readers must open. The build then fails
    /// ([`Error::NotV1`]) if a rule has another source than `local`, a start, or reasons
    /// other than one known reason, or if there are subscriber rows.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, IndexBuilder, Rule, Status, Tac};
    ///
    /// let mut b = IndexBuilder::new();
    /// b.layout_v1(true);
    /// b.add(Rule::tac(Tac::parse("35209900")?, Entry::new(Status::Blocked)));
    /// let (bytes, summary) = b.build_to_vec()?;
    /// assert_eq!(summary.rules_written, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn layout_v1(&mut self, yes: bool) -> &mut IndexBuilder {
        self.layout = if yes { Layout::V1 } else { Layout::Sources };
        self
    }

    /// Writes the exact-IMEI rules in the `imei` transducer (section 2), as builds did
    /// before the `imei blocks` section (13) existed, instead of in IMEI blocks: for
    /// indexes that readers of that time (imei-index 0.1 with sources) must open. Such a
    /// file is about twice as large; it answers the same. See docs/compatibility.md.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, Imei, Index, IndexBuilder, Rule, Section, Status};
    ///
    /// let mut b = IndexBuilder::new();
    /// b.imei_transducer(true);
    /// b.add(Rule::imei(Imei::parse("35209900176148")?, Entry::new(Status::Blocked)));
    /// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
    /// let stats = index.stats();
    /// assert!(stats.imei_blocks.is_none());
    /// assert!(!stats.section_bytes.iter().any(|(s, _)| *s == Section::ImeiBlocks));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn imei_transducer(&mut self, yes: bool) -> &mut IndexBuilder {
        if self.layout != Layout::V1 {
            self.layout = if yes {
                Layout::SourcesImeiTransducer
            } else {
                Layout::Sources
            };
        }
        self
    }

    /// Adds a subscriber row of a register's notification or exception list (see
    /// [`Subscriber`]); rows are kept per source, each once.
    pub fn add_subscriber(&mut self, row: Subscriber) {
        // Interned for its id; a source with rows and no rules is kept too.
        let _ = self.source_id(&row.source);
        self.subscribers.push(row);
    }

    /// The builder's id of a source, interning it; `None` beyond the most an index holds.
    #[inline]
    fn source_id(&mut self, source: &Source) -> Option<u8> {
        if let Some((s, id)) = &self.last_source
            && (s.ptr_eq(source) || s == source)
        {
            return Some(*id);
        }
        let id = match self.source_ids.get(source) {
            Some(&id) => id,
            None => {
                if self.sources.len() >= MAX_SOURCES {
                    self.too_many_sources += 1;
                    return None;
                }
                let id = self.sources.len() as u8;
                self.sources.push(SourceMeta::named(source.clone()));
                self.source_ids.insert(source.clone(), id);
                id
            }
        };
        self.last_source = Some((source.clone(), id));
        Some(id)
    }

    /// Adds a rule.
    ///
    /// With a [memory limit](IndexBuilder::memory_limit) this may write a run to disk. If
    /// that fails, the error is kept and returned by the build, and later rules are not
    /// stored.
    #[inline]
    pub fn add(&mut self, rule: Rule) {
        self.rules_in += 1;
        if self.error.is_some() {
            return;
        }
        let Some(src) = self.source_id(rule.source()) else {
            return;
        };
        let target = rule.target();
        let id = self.entries.id(rule.entry);
        match target {
            Target::Imei(i) => {
                if self.imei.is_full() {
                    self.make_room(false);
                }
                self.imei.push((i.as_u64(), src), id);
            }
            Target::Pair(i, s) => {
                if self.pair.is_full() {
                    self.make_room(true);
                }
                self.pair
                    .push((i.as_u64(), u64::from_be_bytes(key::imsi(s)), src), id);
            }
            Target::Tac(t) => self.tac.push(((t.as_u32(), src), id)),
            Target::Range(a, b) => self.range.push(((a.as_u64(), b.as_u64(), src), id)),
        }
    }

    /// Makes room for one more exact-IMEI (or pair) rule within the memory limit: grows the
    /// buffer while the limit allows, else spills the larger buffer.
    #[cold]
    fn make_room(&mut self, pair: bool) {
        let Some(limit) = self.memory_limit else {
            return; // The buffer grows as vectors do.
        };
        for attempt in 0..3 {
            let (mine, other, record, len) = if pair {
                let p = &self.pair;
                (
                    p.allocated(),
                    self.imei.allocated(),
                    Store::<(u64, u64, u8)>::RECORD,
                    p.buffered(),
                )
            } else {
                let i = &self.imei;
                (
                    i.allocated(),
                    self.pair.allocated(),
                    Store::<(u64, u8)>::RECORD,
                    i.buffered(),
                )
            };
            let room = limit.saturating_sub(other) / record;
            let want = (len * 2).max(MIN_BUFFER_RECORDS).min(room);
            if want > len || attempt == 2 {
                let want = want.max(len + 1);
                if pair {
                    self.pair.grow_to(want);
                } else {
                    self.imei.grow_to(want);
                }
                return;
            }
            let spill_pair = if mine >= other { pair } else { !pair };
            if let Err(e) = self.spill(spill_pair) {
                self.error = Some(e);
                return;
            }
        }
    }

    fn spill(&mut self, pair: bool) -> io::Result<()> {
        let dir = self.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        self.spilled += if pair {
            let n = self.pair.buffered();
            self.pair.spill(&dir)?;
            n
        } else {
            let n = self.imei.buffered();
            self.imei.spill(&dir)?;
            n
        } as u64;
        if let Some(f) = &mut self.progress {
            f(Progress {
                phase: BuildPhase::Spilling,
                done: self.spilled,
                total: self.rules_in,
            });
        }
        Ok(())
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
    /// [`Error::Io`] when a spilled run cannot be written or read back; never otherwise.
    pub fn build_to_vec(self) -> Result<(Vec<u8>, BuildSummary), Error> {
        write::to_vec(|w, io_err| self.write(w, io_err))
    }

    /// Builds the index into a file, atomically: it is written beside `path` under a
    /// temporary name, flushed to disk and renamed over `path`, so that readers see the old
    /// file or the new one, never a mix, and a failed build leaves `path` as it was.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be written or renamed, or a spilled run cannot
    /// be written or read back.
    pub fn build_to_file(self, path: impl AsRef<Path>) -> Result<BuildSummary, Error> {
        write::to_file(path.as_ref(), |w, io_err| self.write(w, io_err))
    }

    /// Sorts what is in memory (merging spilled runs when there are any) and writes the
    /// index through the shared writer, which reads the rules kind by kind: once to count
    /// entries, once to write.
    fn write<W: Write + Seek>(
        mut self,
        w: &mut W,
        io_err: write::IoContext<'_>,
    ) -> Result<BuildSummary, Error> {
        let dir = self.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
        let spill_err = |e: io::Error| Error::io("spill rules to", &dir, e);
        if let Some(e) = self.error.take() {
            return Err(spill_err(e));
        }
        if self.too_many_sources > 0 {
            return Err(Error::TooManySources {
                count: MAX_SOURCES + 1,
            });
        }
        // Files number sources in the order of their names.
        let mut by_name: Vec<(SourceMeta, u8)> = std::mem::take(&mut self.sources)
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, i as u8))
            .collect();
        by_name.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let mut file_id = [0u8; 256];
        for (i, (_, builder_id)) in by_name.iter().enumerate() {
            file_id[usize::from(*builder_id)] = i as u8;
        }
        let metas: Vec<SourceMeta> = by_name.into_iter().map(|(m, _)| m).collect();
        let subscribers = std::mem::take(&mut self.subscribers)
            .into_iter()
            .map(|row| {
                let src = self
                    .source_ids
                    .get(&row.source)
                    .map_or(0, |&b| file_id[usize::from(b)]);
                let record = RowRecord {
                    source: src,
                    imei: row.imei.as_u64(),
                    imsi: key::imsi(row.imsi),
                    msisdn: msisdn_key(row.msisdn),
                    list: row.list.code(),
                    flags: 0,
                    block_date: row.block_date.map_or(0, |d| d.days_since_epoch() + 1),
                    reasons: 0,
                };
                (record, row.reasons)
            })
            .collect();
        let mut tac = std::mem::take(&mut self.tac);
        let mut range = std::mem::take(&mut self.range);
        tac.sort_unstable_by_key(|r| r.0);
        range.sort_unstable_by_key(|r| r.0);
        let records = self.imei.len() + self.pair.len() + tac.len() as u64 + range.len() as u64;
        let source = BuilderRules {
            entries: std::mem::take(&mut self.entries.entries),
            imei: std::mem::take(&mut self.imei)
                .finish(&dir)
                .map_err(spill_err)?,
            pair: std::mem::take(&mut self.pair)
                .finish(&dir)
                .map_err(spill_err)?,
            tac,
            range,
            file_id,
            metas,
            subscribers,
            devices: self.devices.take(),
            dir: dir.clone(),
            passes: Cell::new([0; 4]),
            merged: Cell::new(0),
            conflicts: Cell::new(0),
            resolved: Cell::new(0),
            progress: RefCell::new(Ticker {
                f: self.progress.take(),
                phase: BuildPhase::Resolving,
                done: 0,
                total: records,
            }),
        };
        source.progress.borrow_mut().report();
        let written = write::write_index_with(
            w,
            &source,
            self.serial,
            None,
            self.filter_bits,
            self.layout,
            io_err,
        )?;
        let mut progress = source.progress.borrow_mut();
        progress.phase = BuildPhase::Writing;
        progress.done = written.counts.total();
        progress.total = written.counts.total();
        progress.report();
        Ok(BuildSummary {
            rules_in: self.rules_in,
            rejected: self.rejected,
            merged: source.merged.get(),
            conflicts: source.conflicts.get(),
            counts: written.counts,
            rules_written: written.counts.total(),
            distinct_entries: written.distinct_entries,
            index_bytes: written.bytes,
        })
    }
}

/// The builder's rules, sorted, for the writer: each kind's records merged into one rule
/// per key as they stream. The first pass over a kind counts what was merged.
struct BuilderRules {
    entries: Vec<Entry>,
    imei: Sorted<(u64, u8)>,
    pair: Sorted<(u64, u64, u8)>,
    tac: Vec<((u32, u8), u32)>,
    range: Vec<((u64, u64, u8), u32)>,
    /// The file's id of each builder source id.
    file_id: [u8; 256],
    metas: Vec<SourceMeta>,
    subscribers: Vec<SubscriberRow>,
    devices: Option<bytes::Bytes>,
    dir: PathBuf,
    /// Passes made over each kind, in [`RuleKind::ALL`] order.
    passes: Cell<[u32; 4]>,
    merged: Cell<u64>,
    conflicts: Cell<u64>,
    /// Rules (one per key) the first passes found.
    resolved: Cell<u64>,
    progress: RefCell<Ticker>,
}

impl RuleSource for BuilderRules {
    fn for_each(&self, kind: RuleKind, f: &mut Visit<'_>) -> Result<(), Error> {
        let k = usize::from(kind.code() - 1);
        let mut passes = self.passes.get();
        let first = passes[k] == 0;
        passes[k] += 1;
        self.passes.set(passes);
        // The writer's first pass over every kind resolves and counts; its second writes.
        if kind == RuleKind::Imei && passes[k] == 2 {
            let mut p = self.progress.borrow_mut();
            p.done = p.total;
            p.report();
            p.phase = BuildPhase::Writing;
            p.done = 0;
            p.total = self.resolved.get();
            p.report();
        }
        let read_err = |e: io::Error| Error::io("read back spilled rules from", &self.dir, e);
        let mut visit = |target: &[u8], src: u8, id: u32| {
            let mut key = [0u8; 16];
            key[..target.len()].copy_from_slice(target);
            key[target.len()] = src;
            f(
                &key[..=target.len()],
                &Record::Rule(self.entries[id as usize].clone()),
            )
        };
        let resolver = Resolver {
            entries: &self.entries,
            source: self,
            count: first,
        };
        match kind {
            RuleKind::Imei => resolver.run(
                self.imei.iter().map_err(read_err)?,
                |(imei, src)| (imei, src),
                |k, src, id| visit(&imei_key(k), src, id),
                read_err,
            ),
            RuleKind::Pair => resolver.run(
                self.pair.iter().map_err(read_err)?,
                |(imei, imsi, src)| ((imei, imsi), src),
                |(imei, imsi), src, id| visit(&pair_key(imei, imsi.to_be_bytes()), src, id),
                read_err,
            ),
            RuleKind::Tac => resolver.run(
                self.tac.iter().map(|&r| Ok(r)),
                |(tac, src)| (tac, src),
                |k, src, id| visit(&k.to_be_bytes(), src, id),
                read_err,
            ),
            RuleKind::Range => resolver.run(
                self.range.iter().map(|&r| Ok(r)),
                |(a, b, src)| ((a, b), src),
                |(a, b), src, id| visit(&range_key(a, b), src, id),
                read_err,
            ),
        }
    }

    fn sources(&self) -> Vec<SourceMeta> {
        self.metas.clone()
    }

    fn subscribers(&self) -> Vec<SubscriberRow> {
        self.subscribers.clone()
    }

    fn devices(&self) -> Option<bytes::Bytes> {
        self.devices.clone()
    }
}

/// Merges each group of records with one target and source (they come in (target,
/// builder source) order) into its winner, the entry that merges greatest, and gives the
/// winners of each target in the file's source order.
struct Resolver<'a> {
    entries: &'a [Entry],
    source: &'a BuilderRules,
    /// Count merges and conflicts (on the first pass only) and progress.
    count: bool,
}

impl Resolver<'_> {
    /// Calls `f` with each (target, file source id)'s winner. Counts the records merged
    /// away and, of those, the conflicts: records whose status is not the winner's.
    fn run<K: Copy, T: Copy + PartialEq>(
        &self,
        records: impl Iterator<Item = io::Result<(K, u32)>>,
        split: impl Fn(K) -> (T, u8),
        mut f: impl FnMut(T, u8, u32) -> Result<(), Error>,
        read_err: impl Fn(io::Error) -> Error,
    ) -> Result<(), Error> {
        let entries = self.entries;
        let file_id = &self.source.file_id;
        // The group being read: target, builder source, best id, records, by status.
        let mut current: Option<(T, u8, u32)> = None;
        let mut size = 0u64;
        let mut by_status = [0u64; 3];
        // The winners of the current target: (file source id, entry id).
        let mut winners: Vec<(u8, u32)> = Vec::with_capacity(4);
        let close = |winner: u32, size: u64, by_status: &[u64; 3]| {
            if self.count {
                let status = entries[winner as usize].status.s13_code();
                let s = self.source;
                s.merged.set(s.merged.get() + size - 1);
                s.conflicts
                    .set(s.conflicts.get() + size - by_status[usize::from(status)]);
                s.resolved.set(s.resolved.get() + 1);
            }
            self.source
                .progress
                .borrow_mut()
                .tick(if self.count { size } else { 1 });
        };
        let mut flush = |t: T, winners: &mut Vec<(u8, u32)>| -> Result<(), Error> {
            winners.sort_unstable();
            for &(src, id) in winners.iter() {
                f(t, src, id)?;
            }
            winners.clear();
            Ok(())
        };
        for r in records {
            let (key, id) = r.map_err(&read_err)?;
            let (t, src) = split(key);
            match current {
                Some((ct, cs, best)) if ct == t && cs == src => {
                    if entries[id as usize].merge_order() > entries[best as usize].merge_order() {
                        current = Some((t, src, id));
                    }
                }
                _ => {
                    if let Some((ct, cs, best)) = current {
                        close(best, size, &by_status);
                        winners.push((file_id[usize::from(cs)], best));
                        if ct != t {
                            flush(ct, &mut winners)?;
                        }
                    }
                    current = Some((t, src, id));
                    size = 0;
                    by_status = [0; 3];
                }
            }
            size += 1;
            by_status[usize::from(entries[id as usize].status.s13_code())] += 1;
        }
        if let Some((ct, cs, best)) = current {
            close(best, size, &by_status);
            winners.push((file_id[usize::from(cs)], best));
            flush(ct, &mut winners)?;
        }
        Ok(())
    }
}

/// Calls a progress callback every [`PROGRESS_EVERY`] rules.
struct Ticker {
    f: Option<Box<dyn FnMut(Progress) + Send>>,
    phase: BuildPhase,
    done: u64,
    total: u64,
}

impl Ticker {
    #[inline]
    fn tick(&mut self, n: u64) {
        let before = self.done / PROGRESS_EVERY;
        self.done += n;
        if self.done / PROGRESS_EVERY != before {
            self.report();
        }
    }

    fn report(&mut self) {
        if let Some(f) = &mut self.f {
            f(Progress {
                phase: self.phase,
                done: self.done.min(self.total),
                total: self.total,
            });
        }
    }
}

/// Interns entries: rules carry a 4-byte id, not an entry.
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Entry, u32>,
    entries: Vec<Entry>,
    last: Option<(Entry, u32)>,
}

impl Interner {
    #[inline]
    fn id(&mut self, e: Entry) -> u32 {
        // Lists often repeat one entry row after row.
        if let Some((last, id)) = &self.last
            && *last == e
        {
            return *id;
        }
        let next = self.entries.len() as u32;
        let id = *self.ids.entry(e.clone()).or_insert(next);
        if id == next {
            self.entries.push(e.clone());
        }
        self.last = Some((e, id));
        id
    }
}
