//! A national register's lists into an index: from its rows (read by
//! [`list::dirbs`](crate::list::dirbs)) to rules, subscriber rows and deltas, as
//! docs/semantics.md says ("A national register's lists").
//!
//! * [`Import`] reads full lists into an [`IndexBuilder`]: blacklist rows become IMEI rules
//!   at once; notification and exception rows are kept as subscriber rows, and when the
//!   import is finished each IMEI's notification rows make one rule (the earliest block
//!   date, the union of the reasons), each (IMEI, IMSI) of exception rows one pair rule.
//! * [`DeltaImport`] reads delta files against a base index into [`Delta`]s, one per run
//!   of the register (`{old}_{new}` in the file names), in the order met: blacklist rows
//!   change the IMEI's rule; notification and exception rows change subscriber rows, and
//!   the rule they make is recomputed from the rows that remain (the rule stays while any
//!   row does).
//!
//! Every row is accounted for: each row read is a rule added (which the builder merges with
//! the other rows of its target and counts), or a rejected row passed to the caller's
//! `on_reject`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;

use crate::build::builder::IndexBuilder;
use crate::error::Error;
use crate::list::dirbs::{ChangeType, FileName, List, ListKind, REGISTER, Reader, Row};
use crate::list::{ListError, RowError};
use crate::model::change::Change;
use crate::model::field::FieldError;
use crate::model::ident::{Imei, Imsi, Msisdn};
use crate::model::rule::{Date, Entry, Rule, Status, Target};
use crate::model::source::{Reasons, Source};
use crate::model::subscriber::{Subscriber, SubscriberList};
use crate::read::index::Index;
use crate::update::delta::{Delta, DeltaBuilder};

/// How a register's rows become rules.
///
/// # Example
///
/// ```
/// use imei_index::register::RegisterOptions;
///
/// let mut o = RegisterOptions::new();
/// o.register("ng-dirbs")?.notified_stay_tracked(true);
/// # Ok::<(), imei_index::FieldError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RegisterOptions {
    register: String,
    notified_stay_tracked: bool,
}

impl Default for RegisterOptions {
    fn default() -> RegisterOptions {
        RegisterOptions::new()
    }
}

impl RegisterOptions {
    /// The register `dirbs` ([`REGISTER`]); notified IMEIs blocked from their block date.
    pub fn new() -> RegisterOptions {
        RegisterOptions {
            register: REGISTER.to_string(),
            notified_stay_tracked: false,
        }
    }

    /// The register's name, the first part of its sources' names (`NAME/blacklist`,
    /// `NAME/notifications/OP`, `NAME/exceptions/OP`).
    ///
    /// # Errors
    ///
    /// A name that makes no valid source name (see [`Source::new`]).
    pub fn register(&mut self, name: &str) -> Result<&mut RegisterOptions, FieldError> {
        Source::new(&List::Blacklist.source_name(name))?;
        Source::new(&format!("{name}/notifications/{}", "o".repeat(16)))?;
        self.register = name.to_string();
        Ok(self)
    }

    /// Keeps notified IMEIs tracked, without a start, until the register's blacklist lists
    /// them (docs/semantics.md), instead of blocking them from their block date.
    pub fn notified_stay_tracked(&mut self, yes: bool) -> &mut RegisterOptions {
        self.notified_stay_tracked = yes;
        self
    }

    /// The source of a list.
    fn source(&self, list: &List) -> Source {
        // The register's name was checked with the longest operator id.
        Source::new(&list.source_name(&self.register)).expect("a checked register name")
    }

    /// The list a file holds: its name's, or for a file without a register's name, the
    /// header's kind (without an operator).
    fn list_of(file: Option<&FileName>, kind: ListKind) -> List {
        match file {
            Some(f) => f.list.clone(),
            None => match kind {
                ListKind::Blacklist => List::Blacklist,
                ListKind::Notifications => List::Notifications {
                    operator: String::new(),
                },
                ListKind::Exceptions => List::Exceptions {
                    operator: String::new(),
                },
            },
        }
    }

    fn source_of(&self, list: &List) -> Source {
        match list.operator() {
            Some("") => Source::new(&format!("{}/{}", self.register, list.kind()))
                .expect("a checked register name"),
            _ => self.source(list),
        }
    }

    /// The rule of a blacklist row.
    fn blacklisted(date: Date, reasons: Reasons) -> Entry {
        Entry::new(Status::Blocked)
            .with_start(date)
            .with_date(date)
            .with_reasons(reasons)
    }

    /// The rule of an IMEI's notification rows: the earliest block date, every reason.
    fn notified(&self, date: Date, reasons: Reasons) -> Entry {
        if self.notified_stay_tracked {
            Entry::new(Status::Tracked)
                .with_date(date)
                .with_reasons(reasons)
        } else {
            Entry::new(Status::Blocked)
                .with_start(date)
                .with_date(date)
                .with_reasons(reasons)
                .with_earlier(Status::Tracked)
                .expect("a rule with a start")
        }
    }
}

/// A subscriber row's key within its source.
type RowKey = (Imei, Imsi, Option<Msisdn>);

/// A subscriber row's values, and how many rows of the input gave it.
#[derive(Clone, Debug)]
struct RowValue {
    block_date: Option<Date>,
    reasons: Reasons,
    rows: u64,
}

/// The subscriber rows of one source, by IMEI, then (IMSI, MSISDN).
#[derive(Clone, Debug)]
struct SourceRows {
    list: SubscriberList,
    rows: BTreeMap<Imei, BTreeMap<(Imsi, Option<Msisdn>), RowValue>>,
}

impl SourceRows {
    fn new(list: SubscriberList) -> SourceRows {
        SourceRows {
            list,
            rows: BTreeMap::new(),
        }
    }

    fn get(&self, key: &RowKey) -> Option<&RowValue> {
        self.rows.get(&key.0)?.get(&(key.1, key.2))
    }

    fn insert(&mut self, key: RowKey, value: RowValue) {
        self.rows
            .entry(key.0)
            .or_default()
            .insert((key.1, key.2), value);
    }

    fn remove(&mut self, key: &RowKey) {
        if let Some(rows) = self.rows.get_mut(&key.0) {
            rows.remove(&(key.1, key.2));
            if rows.is_empty() {
                self.rows.remove(&key.0);
            }
        }
    }

    /// Every row, in key order.
    fn iter(&self) -> impl Iterator<Item = (RowKey, &RowValue)> + '_ {
        self.rows
            .iter()
            .flat_map(|(imei, rows)| rows.iter().map(|((imsi, m), v)| ((*imei, *imsi, *m), v)))
    }

    /// The rule the rows of `imei` (with `imsi`, for exceptions) make, if any remain.
    fn rule(&self, options: &RegisterOptions, imei: Imei, imsi: Option<Imsi>) -> Option<Entry> {
        let mut rows = self
            .rows
            .get(&imei)?
            .iter()
            .filter(|(k, _)| imsi.is_none_or(|i| k.0 == i))
            .peekable();
        rows.peek()?;
        match self.list {
            SubscriberList::Exception => Some(Entry::new(Status::Allowed)),
            SubscriberList::Notification => {
                let mut date: Option<Date> = None;
                let mut reasons = Reasons::none();
                for (_, v) in rows {
                    if let Some(d) = v.block_date {
                        date = Some(date.map_or(d, |e| e.min(d)));
                    }
                    reasons = reasons.union(&v.reasons);
                }
                // Notification rows always have a block date.
                Some(options.notified(date?, reasons))
            }
        }
    }

    fn subscriber(&self, source: &Source, key: &RowKey, value: &RowValue) -> Subscriber {
        Subscriber {
            source: source.clone(),
            list: self.list,
            imei: key.0,
            imsi: key.1,
            msisdn: key.2,
            block_date: value.block_date,
            reasons: value.reasons.clone(),
        }
    }
}

fn subscriber_list(kind: ListKind) -> Option<SubscriberList> {
    match kind {
        ListKind::Blacklist => None,
        ListKind::Notifications => Some(SubscriberList::Notification),
        ListKind::Exceptions => Some(SubscriberList::Exception),
    }
}

/// Reason sets met, so that rows repeating one share it: the builder's entry table then
/// finds a row's entry by comparing pointers rather than texts (a register's list has a
/// handful of reason combinations over millions of rows).
#[derive(Debug, Default)]
struct ReasonCache(HashMap<Vec<String>, Reasons>);

/// Reason combinations kept; beyond, the cache starts again.
const REASON_CACHE: usize = 4096;

impl ReasonCache {
    /// A row's reasons as a set; a text the index cannot hold (longer than 255 bytes, or
    /// with a control character) rejects the row.
    fn of(&mut self, row: &Row, name: &str) -> Result<Reasons, ListError> {
        if let Some(r) = self.0.get(&row.reasons) {
            return Ok(r.clone());
        }
        let r = Reasons::new(&row.reasons).map_err(|e| ListError {
            source_name: name.to_string(),
            line: row.line,
            column: 1,
            row: String::new(),
            kind: RowError::Field(e),
        })?;
        if self.0.len() >= REASON_CACHE {
            self.0.clear();
        }
        self.0.insert(row.reasons.clone(), r.clone());
        Ok(r)
    }
}

/// A file-level error: it stops reading.
fn file_error(name: &str, kind: RowError) -> Error {
    Error::List(ListError {
        source_name: name.to_string(),
        line: 1,
        column: 1,
        row: String::new(),
        kind,
    })
}

/// Reads a register's full lists into an [`IndexBuilder`] (see the [module](self)).
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::FileName;
/// use imei_index::register::{Import, RegisterOptions};
/// use imei_index::{Imei, Imsi, Index, IndexBuilder, Status};
///
/// let mut builder = IndexBuilder::new();
/// let mut import = Import::new(RegisterOptions::new());
/// let name = "20240601_020000_notifications_op1.csv";
/// let csv = "imei,imsi,msisdn,block_date,reasons\n\
///            35209900176148,404685505601234,919876543210,20240610,Duplicate IMEI detected\n\
///            35209900176148,404685505601235,919876543211,20240615,not_registered\n";
/// let file = FileName::parse(name)?;
/// import.add_file(&mut builder, name, Some(&file), csv.as_bytes(), |e| Err(e))?;
/// import.finish(&mut builder, Some(57), 0);
/// let index = Index::from_bytes(builder.build_to_vec()?.0.into())?;
/// let imei = Imei::parse("35209900176148")?;
/// let v = index.check_at(imei, "2024-06-09".parse()?);
/// assert_eq!(v.status(), Some(Status::Tracked));
/// assert_eq!(index.check_at(imei, "2024-06-10".parse()?).status(), Some(Status::Blocked));
/// assert_eq!(index.reasons(&v).collect::<Vec<_>>(), ["Duplicate IMEI detected", "not_registered"]);
/// assert_eq!(index.source(&v), Some("dirbs/notifications/op1"));
/// assert_eq!(index.subscribers().count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Import {
    options: RegisterOptions,
    sources: BTreeSet<Source>,
    subscribers: BTreeMap<Source, SourceRows>,
    reasons: ReasonCache,
}

impl Import {
    /// An import with these options.
    pub fn new(options: RegisterOptions) -> Import {
        Import {
            options,
            sources: BTreeSet::new(),
            subscribers: BTreeMap::new(),
            reasons: ReasonCache::default(),
        }
    }

    /// Reads one full list file called `name` (for errors), whose parsed file name is
    /// `file` (`None`: the header says which list it is, and a notification or exception
    /// list has no operator: its source is `REGISTER/notifications` or
    /// `REGISTER/exceptions`). Blacklist rows go to `builder` at once, the others when the
    /// import is finished. Each unreadable row is passed to `on_reject`: `Ok(())` counts it
    /// as rejected and goes on, an error stops with it.
    ///
    /// # Errors
    ///
    /// A delta file (build from full lists; apply deltas with [`DeltaImport`]), a fatal
    /// row error (I/O, a missing or wrong header), or the error `on_reject` returns.
    pub fn add_file<R: BufRead>(
        &mut self,
        builder: &mut IndexBuilder,
        name: &str,
        file: Option<&FileName>,
        reader: R,
        mut on_reject: impl FnMut(ListError) -> Result<(), ListError>,
    ) -> Result<ListKind, Error> {
        if file.is_some_and(FileName::is_delta) {
            return Err(file_error(name, RowError::DirbsDeltaInBuild));
        }
        let mut rows = Reader::new(name, reader, file.map(|f| f.list.kind()));
        let mut reject = |builder: &mut IndexBuilder, e: ListError| {
            builder.add_list(std::iter::once(Err(e)), &mut on_reject)
        };
        let mut target: Option<(Source, List)> = None;
        while let Some(row) = rows.next() {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    reject(builder, e)?;
                    continue;
                }
            };
            let kind = rows.kind().expect("a row comes after the header");
            let (source, list) = target.get_or_insert_with(|| {
                let list = RegisterOptions::list_of(file, kind);
                (self.options.source_of(&list), list)
            });
            self.sources.insert(source.clone());
            let reasons = match self.reasons.of(&row, name) {
                Ok(r) => r,
                Err(e) => {
                    reject(builder, e)?;
                    continue;
                }
            };
            match subscriber_list(list.kind()) {
                None => {
                    let date = row.block_date.expect("blacklist rows have a block date");
                    builder.add(
                        Rule::imei(row.imei, RegisterOptions::blacklisted(date, reasons))
                            .with_source(source.clone()),
                    );
                }
                Some(l) => {
                    let imsi = row
                        .imsi
                        .expect("notification and exception rows have an IMSI");
                    let rows = self
                        .subscribers
                        .entry(source.clone())
                        .or_insert_with(|| SourceRows::new(l));
                    let value = rows
                        .rows
                        .entry(row.imei)
                        .or_default()
                        .entry((imsi, row.msisdn))
                        .or_insert(RowValue {
                            block_date: row.block_date,
                            reasons: Reasons::none(),
                            rows: 0,
                        });
                    // Duplicate rows of one subscriber merge as rules do: the earliest
                    // block date, every reason.
                    value.block_date = match (value.block_date, row.block_date) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    value.reasons = value.reasons.union(&reasons);
                    value.rows += 1;
                }
            }
        }
        // An empty file still names its source, which records the run.
        let kind = rows.kind().unwrap_or(ListKind::Blacklist);
        if target.is_none() && rows.kind().is_some() {
            let list = RegisterOptions::list_of(file, kind);
            self.sources.insert(self.options.source_of(&list));
        }
        Ok(kind)
    }

    /// Adds the rules and subscriber rows of the notification and exception lists to
    /// `builder`, and records `run_id` and `built` (unix seconds) for every source read.
    pub fn finish(self, builder: &mut IndexBuilder, run_id: Option<i64>, built: i64) {
        for (source, rows) in &self.subscribers {
            for (key, value) in rows.iter() {
                builder.add_subscriber(rows.subscriber(source, &key, value));
                let imsi = (rows.list == SubscriberList::Exception).then_some(key.1);
                let Some(entry) = rows.rule(&self.options, key.0, imsi) else {
                    continue;
                };
                // One rule per row read: the builder merges them and counts the merges.
                for _ in 0..value.rows {
                    let rule = match rows.list {
                        SubscriberList::Exception => Rule::pair(key.0, key.1, entry.clone()),
                        SubscriberList::Notification => Rule::imei(key.0, entry.clone()),
                    };
                    builder.add(rule.with_source(source.clone()));
                }
            }
        }
        for source in &self.sources {
            builder.source_info(source, run_id, built);
        }
    }

    /// The sources read so far.
    pub fn sources(&self) -> impl Iterator<Item = &Source> + '_ {
        self.sources.iter()
    }
}

/// What a [`DeltaImport`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeltaImportSummary {
    /// Data rows read (rejected ones included).
    pub rows: u64,
    /// Changes the deltas hold: one per (target, source) a row changed, per run.
    pub changes: u64,
    /// Rows that changed a target another row of the same run changed too (merged into its
    /// change), or that repeated a subscriber row.
    pub merged: u64,
    /// Rows rejected.
    pub rejected: u64,
}

/// One run's delta being built.
#[derive(Debug)]
struct RunDelta {
    from: i64,
    to: u64,
    builder: DeltaBuilder,
    /// Blacklist changes, by (source, IMEI).
    blacklist: BTreeMap<(Source, Imei), Change>,
    /// Subscriber-derived targets touched: (source, IMEI, IMSI for exceptions).
    touched: BTreeSet<(Source, Imei, Option<Imsi>)>,
    /// Subscriber rows changed: (source, key) → removed.
    subscribers: BTreeMap<(Source, RowKey), bool>,
}

/// Reads a register's delta files against a base index into [`Delta`]s (see the
/// [module](self)).
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::FileName;
/// use imei_index::register::{DeltaImport, Import, RegisterOptions};
/// use imei_index::{Apply, Imei, Index, IndexBuilder, Status};
///
/// let day1 = "20240601_020000_blacklist.csv";
/// let mut builder = IndexBuilder::new();
/// let mut import = Import::new(RegisterOptions::new());
/// let csv = "imei,block_date,reasons\n35209900176148,20240501,stolen\n35417803685978,20240501,stolen\n";
/// import.add_file(&mut builder, day1, Some(&FileName::parse(day1)?), csv.as_bytes(), |e| Err(e))?;
/// import.finish(&mut builder, Some(57), 0);
/// let base = Index::from_bytes(builder.build_to_vec()?.0.into())?;
///
/// let day2 = "20240602_020000_blacklist_delta_57_58_unblocked.csv";
/// let mut deltas = DeltaImport::new(&base, RegisterOptions::new());
/// let csv = "imei,block_date,reasons\n35209900176148,20240501,stolen\n";
/// deltas.add_file(day2, &FileName::parse(day2)?, csv.as_bytes(), 0, |e| Err(e))?;
/// let (deltas, summary) = deltas.finish()?;
/// assert_eq!((summary.rows, summary.changes), (1, 1));
/// let applied = Index::from_bytes(Apply::new(&base, &deltas).build_to_vec()?.0.into())?;
/// assert!(!applied.check(Imei::parse("35209900176148")?).is_listed());
/// assert_eq!(applied.check(Imei::parse("35417803685978")?).status(), Some(Status::Blocked));
/// assert_eq!(applied.sources()[0].run_id, Some(58));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DeltaImport {
    options: RegisterOptions,
    /// The subscriber rows: the base's, then as the deltas read so far leave them.
    state: BTreeMap<Source, SourceRows>,
    /// The run whose files are being read.
    current: Option<RunDelta>,
    /// The deltas of the runs read before it.
    done: Vec<Delta>,
    summary: DeltaImportSummary,
    reasons: ReasonCache,
}

impl DeltaImport {
    /// Deltas for `base` (whose subscriber rows they change).
    pub fn new(base: &Index, options: RegisterOptions) -> DeltaImport {
        let mut state: BTreeMap<Source, SourceRows> = BTreeMap::new();
        for s in base.subscribers() {
            let rows = state
                .entry(s.source.clone())
                .or_insert_with(|| SourceRows::new(s.list));
            rows.insert(
                (s.imei, s.imsi, s.msisdn),
                RowValue {
                    block_date: s.block_date,
                    reasons: s.reasons,
                    rows: 1,
                },
            );
        }
        DeltaImport {
            options,
            state,
            current: None,
            done: Vec::new(),
            summary: DeltaImportSummary::default(),
            reasons: ReasonCache::default(),
        }
    }

    /// Reads one delta file called `name` (for errors), whose parsed name is `file`: its
    /// rows go to the delta of its run (`{old}_{new}` in the name), which records that it
    /// brings the file's source from run `{old}` to `{new}`, built at `built` (unix
    /// seconds, 0 unknown). Each unreadable row is passed to `on_reject` as in
    /// [`Import::add_file`].
    ///
    /// # Errors
    ///
    /// A full list (build it with [`Import`]), a fatal row error, or the error `on_reject`
    /// returns.
    pub fn add_file<R: BufRead>(
        &mut self,
        name: &str,
        file: &FileName,
        reader: R,
        built: i64,
        mut on_reject: impl FnMut(ListError) -> Result<(), ListError>,
    ) -> Result<(), Error> {
        let Some(delta) = file.delta else {
            return Err(file_error(name, RowError::DirbsFullInApply));
        };
        let source = self.options.source(&file.list);
        if self
            .current
            .as_ref()
            .is_some_and(|r| (r.from, r.to) != (delta.base_run, delta.run))
        {
            self.close()?;
        }
        let r = self.current.get_or_insert_with(|| RunDelta {
            from: delta.base_run,
            to: delta.run,
            builder: DeltaBuilder::new(),
            blacklist: BTreeMap::new(),
            touched: BTreeSet::new(),
            subscribers: BTreeMap::new(),
        });
        let run_id = i64::try_from(delta.run).unwrap_or(i64::MAX);
        r.builder
            .source_run(&source, Some(delta.base_run), run_id, built);
        let list = subscriber_list(file.list.kind());
        if let Some(l) = list {
            self.state
                .entry(source.clone())
                .or_insert_with(|| SourceRows::new(l));
        }
        let removes = matches!(
            delta.change,
            ChangeType::Unblocked
                | ChangeType::Resolved
                | ChangeType::Blacklisted
                | ChangeType::NoLongerSeen
                | ChangeType::Removed
        );
        for row in Reader::new(name, reader, Some(file.list.kind())) {
            let row = match row {
                Ok(row) => row,
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => {
                    self.summary.rows += 1;
                    self.summary.rejected += 1;
                    on_reject(e)?;
                    continue;
                }
            };
            let reasons = match self.reasons.of(&row, name) {
                Ok(r) => r,
                Err(e) => {
                    self.summary.rows += 1;
                    self.summary.rejected += 1;
                    on_reject(e)?;
                    continue;
                }
            };
            self.summary.rows += 1;
            let r = self.current.as_mut().expect("set above");
            match list {
                None => {
                    let change = if removes {
                        Change::Remove(Target::Imei(row.imei), source.clone(), None)
                    } else {
                        let date = row.block_date.expect("blacklist rows have a block date");
                        Change::Add(
                            Rule::imei(row.imei, RegisterOptions::blacklisted(date, reasons))
                                .with_source(source.clone()),
                        )
                    };
                    r.blacklist.insert((source.clone(), row.imei), change);
                }
                Some(l) => {
                    let imsi = row
                        .imsi
                        .expect("notification and exception rows have an IMSI");
                    let key = (row.imei, imsi, row.msisdn);
                    let rows = self.state.get_mut(&source).expect("inserted above");
                    if removes {
                        rows.remove(&key);
                    } else {
                        rows.insert(
                            key,
                            RowValue {
                                block_date: row.block_date,
                                reasons,
                                rows: 1,
                            },
                        );
                    }
                    let exception_imsi = (l == SubscriberList::Exception).then_some(imsi);
                    r.touched.insert((source.clone(), row.imei, exception_imsi));
                    r.subscribers.insert((source.clone(), key), removes);
                }
            }
        }
        Ok(())
    }

    /// Builds the delta of the run being read, its subscriber rows' rules computed from
    /// the rows as the run leaves them.
    fn close(&mut self) -> Result<(), Error> {
        let Some(mut run) = self.current.take() else {
            return Ok(());
        };
        for (_, change) in std::mem::take(&mut run.blacklist) {
            run.builder.add(change);
            self.summary.changes += 1;
        }
        for ((source, key), removed) in &run.subscribers {
            let rows = &self.state[source];
            let value = rows.get(key).cloned().unwrap_or(RowValue {
                block_date: None,
                reasons: Reasons::none(),
                rows: 1,
            });
            run.builder
                .subscriber(rows.subscriber(source, key, &value), *removed);
        }
        for (source, imei, imsi) in &run.touched {
            let rows = &self.state[source];
            let rule = |entry| match imsi {
                Some(imsi) => Rule::pair(*imei, *imsi, entry),
                None => Rule::imei(*imei, entry),
            };
            let change = match rows.rule(&self.options, *imei, *imsi) {
                Some(entry) => Change::Change(rule(entry).with_source(source.clone())),
                None => Change::Remove(
                    rule(Entry::new(Status::Allowed)).target(),
                    source.clone(),
                    None,
                ),
            };
            run.builder.add(change);
            self.summary.changes += 1;
        }
        self.done.push(run.builder.build()?.0);
        Ok(())
    }

    /// The deltas, one per run in the order their files came (a run whose files come apart
    /// gives one delta each time), and what was read.
    ///
    /// # Errors
    ///
    /// Only if building a delta fails, which a correct builder never does.
    pub fn finish(mut self) -> Result<(Vec<Delta>, DeltaImportSummary), Error> {
        self.close()?;
        let mut summary = self.summary;
        summary.merged = summary.rows - summary.rejected - summary.changes;
        Ok((self.done, summary))
    }
}
