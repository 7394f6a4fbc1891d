//! Publishing an index: copy beside the target, verify, compare, guard, flush, rename.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::build::atomic::AtomicFile;
use crate::error::{Error, Origin, Refusal};
use crate::format::{FormatError, RuleCounts};
use crate::model::change::Change;
use crate::model::rule::RuleKind;
use crate::read::index::Index;
use crate::read::open::{OpenOptions, Verification};
use crate::update::diff::diff;

/// What [`publish`] put in place, what it replaced, and the rules that changed between them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Published {
    /// The published index's serial.
    pub serial: u64,
    /// Its rules (for a delta index: its new and changed rules).
    pub rules: u64,
    /// Its rules by kind and status.
    pub counts: RuleCounts,
    /// Its bytes.
    pub bytes: u64,
    /// True when it is a delta index.
    pub delta: bool,
    /// The serial and rule count of the index it replaced, when the target held a readable one.
    pub replaced: Option<(u64, u64)>,
    /// The rules of the index it replaced by kind and status, when the target held a
    /// readable one.
    pub replaced_counts: Option<RuleCounts>,
    /// Rules the published index has and the replaced one did not (found with [`diff`]):
    /// every rule when the target held no readable index. For a delta index, which is
    /// compared with the base it applies to and not with the index it replaces: its new
    /// and changed rules.
    pub added: u64,
    /// Rules for a target both indexes have, with a different status, reason or date
    /// (a delta index: 0).
    pub changed: u64,
    /// Rules the replaced index had and the published one does not (a delta index: its
    /// tombstones, the rules it removes from its base).
    pub removed: u64,
    /// The guard that [`PublishOptions::force`] overrode, if any would have refused the
    /// index: for logs and warnings.
    pub forced: Option<Refusal>,
}

/// The share of the replaced index's rules that a published index may remove unless
/// forced: one half.
pub const DEFAULT_MAX_REMOVED_SHARE: f64 = 0.5;

/// How to publish an index: the guards that refuse a suspect one.
///
/// [`publish`] uses the defaults. Before an index replaces the target, it is compared with
/// the index there (if the target holds a readable one), and refused with
/// [`Error::Refused`], leaving the target as it was, when:
///
/// * it holds no rules ([`Refusal::Empty`]; a delta index: no rules and no removals);
/// * it is a delta index and the target a full index, or the other way round
///   ([`Refusal::KindChanges`]);
/// * its serial is lower than the target's ([`Refusal::SerialGoesBack`]); a serial of 0
///   means "unset", on either side, and skips this guard; an equal serial is accepted
///   (publishing the same list again);
/// * it removes more than [`max_removed_share`](PublishOptions::max_removed_share) of the
///   target's rules ([`Refusal::RemovesTooMany`]), counted exactly, rule by rule, with
///   [`diff`]: a full index only, since a delta's removals are the tombstones it names.
///
/// A target that is missing or not a readable index is simply replaced, by any valid index
/// with rules. [`force`](PublishOptions::force) turns the guards off, and
/// [`Published::forced`] then says which one would have refused.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Error, Imei, IndexBuilder, PublishOptions, Refusal, Rule, Status};
///
/// let dir = tempfile::tempdir()?;
/// let (staged, live) = (dir.path().join("staged.imeiidx"), dir.path().join("live.imeiidx"));
/// let stage = |serial, imeis: &[&str]| -> Result<(), Box<dyn std::error::Error>> {
///     let mut b = IndexBuilder::new();
///     b.serial(serial);
///     for i in imeis {
///         b.add(Rule::imei(Imei::parse(i)?, Entry::new(Status::Blocked)));
///     }
///     b.build_to_file(&staged)?;
///     Ok(())
/// };
/// stage(1, &["35209900176148", "35417803685978", "49015420323751"])?;
/// PublishOptions::new().publish(&staged, &live)?;
///
/// // Two of the three rules gone: more than the half allowed by default.
/// stage(2, &["35209900176148"])?;
/// let err = PublishOptions::new().publish(&staged, &live).unwrap_err();
/// assert_eq!(
///     err.as_refusal(),
///     Some(&Refusal::RemovesTooMany { removed: 2, of: 3, allowed_share: 0.5 })
/// );
/// // Allowed with a higher share (or with force).
/// let p = PublishOptions::new().max_removed_share(0.7).publish(&staged, &live)?;
/// assert_eq!((p.added, p.changed, p.removed), (0, 0, 2));
///
/// // An older list, and an empty one, are refused too.
/// stage(1, &["35209900176148"])?;
/// let err = PublishOptions::new().publish(&staged, &live).unwrap_err();
/// assert!(matches!(err.as_refusal(), Some(Refusal::SerialGoesBack { from: 2, to: 1 })));
/// stage(3, &[])?;
/// let err = PublishOptions::new().publish(&staged, &live).unwrap_err();
/// assert!(matches!(err, Error::Refused { refusal: Refusal::Empty, .. }));
/// let p = PublishOptions::new().force(true).publish(&staged, &live)?;
/// assert_eq!((p.rules, p.removed, p.forced), (0, 1, Some(Refusal::Empty)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct PublishOptions {
    max_removed_share: f64,
    force: bool,
}

impl Default for PublishOptions {
    fn default() -> PublishOptions {
        PublishOptions {
            max_removed_share: DEFAULT_MAX_REMOVED_SHARE,
            force: false,
        }
    }
}

impl PublishOptions {
    /// The default guards: see [`PublishOptions`].
    pub fn new() -> PublishOptions {
        PublishOptions::default()
    }

    /// The share of the target's rules, from 0 to 1, that the new index may remove
    /// (default [`DEFAULT_MAX_REMOVED_SHARE`], one half): 0 refuses any removal, 1 allows
    /// removing them all. Values beyond are taken as 0 or 1, and NaN as 0.
    pub fn max_removed_share(&mut self, share: f64) -> &mut PublishOptions {
        self.max_removed_share = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 1.0)
        };
        self
    }

    /// Publish even an index that a guard refuses (default false). A corrupt index is
    /// refused all the same.
    pub fn force(&mut self, yes: bool) -> &mut PublishOptions {
        self.force = yes;
        self
    }

    /// Publishes the index file `source` as `target`, as [`publish`] does, with these
    /// guards.
    ///
    /// # Errors
    ///
    /// As [`publish`].
    pub fn publish(
        &self,
        source: impl AsRef<Path>,
        target: impl AsRef<Path>,
    ) -> Result<Published, Error> {
        publish_with(self, source.as_ref(), target.as_ref())
    }
}

/// Publishes the index file `source` as `target`, so that readers of `target` (such as a
/// [`LiveIndex`](crate::LiveIndex)) see the old file or the new one, never a mix, and
/// refuses a suspect index with the default guards of [`PublishOptions`].
///
/// The source is copied to a temporary file beside the target (rename is atomic only
/// within one file system), the copy is verified completely
/// ([`Verification::Full`]: checksums, every key and value, counts), compared with the
/// index the target holds, flushed to disk, and renamed over the target; the directory is
/// flushed too. A source that fails verification or a guard leaves the target untouched.
/// Full and delta indexes are both accepted.
///
/// # Errors
///
/// [`Error::Io`] when the source cannot be read or the target's directory written;
/// [`Error::Format`] (naming the source) when the source is not a valid index;
/// [`Error::Refused`] when a guard refused it (an empty index, one that removes more than
/// half of the target's rules, one with an older serial: see [`PublishOptions`]).
///
/// # Example
///
/// ```
/// use imei_index::{publish, Entry, Imei, IndexBuilder, Rule, Status};
///
/// let dir = tempfile::tempdir()?;
/// let staged = dir.path().join("today.imeiidx");
/// let mut b = IndexBuilder::new();
/// b.serial(20240522);
/// b.add(Rule::imei(Imei::parse("35209900176148")?, Entry::new(Status::Blocked)));
/// b.build_to_file(&staged)?;
///
/// let live = dir.path().join("current.imeiidx");
/// let p = publish(&staged, &live)?;
/// assert_eq!((p.serial, p.rules, p.added, p.replaced), (20240522, 1, 1, None));
/// // A file that is not an index is refused, and the published one stays.
/// std::fs::write(&staged, b"not an index")?;
/// assert!(publish(&staged, &live).is_err());
/// assert_eq!(imei_index::Index::open(&live)?.serial(), 20240522);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn publish(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<Published, Error> {
    publish_with(&PublishOptions::default(), source.as_ref(), target.as_ref())
}

fn publish_with(
    options: &PublishOptions,
    source: &Path,
    target: &Path,
) -> Result<Published, Error> {
    let mut input = File::open(source).map_err(|e| Error::io("open", source, e))?;
    let mut temp =
        AtomicFile::create(target).map_err(|e| Error::io("create a file beside", target, e))?;
    let temp_path = temp.temp_path().to_path_buf();
    // Write errors name the target: the temporary file is removed, the target unchanged.
    let mut out = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
    copy(&mut input, &mut out, source, target)?;
    out.flush().map_err(|e| Error::io("write", target, e))?;
    drop(out);

    // Verify the copy, which is what readers will map; name the source in errors.
    let as_source = |e: Error| match e {
        Error::Format { source: f, .. } => Error::format(&Origin::File(source.to_path_buf()), f),
        other => other,
    };
    let (index, delta) = open_either(&temp_path, Verification::Full).map_err(as_source)?;
    // The index being replaced, if the target holds a readable one; checksums make sure
    // that comparing with it reads whole transducers.
    let old = open_either(target, Verification::Checksums).ok();
    let published = compare(&index, delta, old.as_ref(), options);
    drop((index, old));
    let published = match published {
        (p, None) => p,
        (mut p, Some(refusal)) if options.force => {
            p.forced = Some(refusal);
            p
        }
        (_, Some(refusal)) => {
            return Err(Error::Refused {
                index: source.to_path_buf(),
                target: target.to_path_buf(),
                refusal,
            });
        }
    };
    temp.commit().map_err(|e| Error::io("replace", target, e))?;
    Ok(published)
}

/// Opens a full or a delta index; true for a delta.
fn open_either(path: &Path, verification: Verification) -> Result<(Index, bool), Error> {
    let open = |delta| {
        OpenOptions::new()
            .verification(verification)
            .delta(delta)
            .open(path)
    };
    match open(false) {
        Ok(index) => Ok((index, false)),
        Err(e) if e.as_format() == Some(&FormatError::IsDelta) => Ok((open(true)?, true)),
        Err(e) => Err(e),
    }
}

/// What `new` changes against `old`, and the first guard that refuses it, if any.
fn compare(
    new: &Index,
    delta: bool,
    old: Option<&(Index, bool)>,
    options: &PublishOptions,
) -> (Published, Option<Refusal>) {
    let stats = new.stats();
    let mut p = Published {
        serial: stats.serial,
        rules: stats.rules(),
        counts: stats.counts,
        bytes: stats.file_bytes,
        delta,
        replaced: None,
        replaced_counts: None,
        added: stats.rules(),
        changed: 0,
        removed: 0,
        forced: None,
    };
    if delta {
        let info = new.delta_info().expect("opened as a delta index");
        p.removed = RuleKind::ALL.iter().map(|&k| info.tombstones(k)).sum();
    }
    let mut refusal = None;
    if p.rules == 0 && p.removed == 0 {
        refusal = Some(Refusal::Empty);
    }
    if let Some((old, old_delta)) = old {
        let old_stats = old.stats();
        p.replaced = Some((old_stats.serial, old_stats.rules()));
        p.replaced_counts = Some(old_stats.counts);
        if !delta && !old_delta {
            // Exactly, rule by rule: a count of rules would miss a list that swaps its
            // rules for others.
            let (mut added, mut changed, mut removed) = (0, 0, 0);
            for change in diff(old, new) {
                match change {
                    Ok(Change::Add(_)) => added += 1,
                    Ok(Change::Change(_)) => changed += 1,
                    Ok(Change::Remove(..)) => removed += 1,
                    // Only an index that fails full verification names nothing: the new
                    // one passed it, so the old one is damaged. Replacing it is the cure.
                    Err(_) => {
                        (added, changed, removed) = (p.rules, 0, 0);
                        break;
                    }
                }
            }
            (p.added, p.changed, p.removed) = (added, changed, removed);
            let allowed = options.max_removed_share * old_stats.rules() as f64;
            if refusal.is_none() && removed as f64 > allowed {
                refusal = Some(Refusal::RemovesTooMany {
                    removed,
                    of: old_stats.rules(),
                    allowed_share: options.max_removed_share,
                });
            }
        } else if refusal.is_none() && delta != *old_delta {
            refusal = Some(Refusal::KindChanges { delta });
        }
        let (from, to) = (old_stats.serial, stats.serial);
        if refusal.is_none() && from != 0 && to != 0 && to < from {
            refusal = Some(Refusal::SerialGoesBack { from, to });
        }
    }
    (p, refusal)
}

fn copy(input: &mut File, out: &mut impl Write, source: &Path, target: &Path) -> Result<(), Error> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match io::Read::read(input, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", source, e)),
        };
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("write", target, e))?;
    }
}
