//! Opening an index: from a file or bytes, at a chosen level of verification.

use std::fs::File;
use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Origin};
use crate::format::blocks::Blocks;
use crate::format::devices::Devices;
use crate::format::filter::Filter;
use crate::format::node::Transducer;
use crate::format::records::{self, V2_HEADER};
use crate::format::stacks::Stacks;
use crate::format::strings::Strings;
use crate::format::{FormatError, Header, RuleCounts, Section, sources, subscribers};
use crate::model::device::TacPolicy;
use crate::model::source::Source;
use crate::read::index::{Index, V2Parts};
use crate::read::stats::SourceStats;

/// How much of an index to check when opening it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Verification {
    /// Check the header only (magic, version, lengths, header checksum): O(1).
    ///
    /// For files verified when they were published and not writable since. Nothing panics
    /// whatever the bytes (checks, [`Index::rules`], diff, merge, apply and layered views
    /// read the transducers through the crate's own bounds-checked reader), but corrupt
    /// bytes give wrong answers.
    Trusted,
    /// Also check every section's checksum: one pass over the file. The default.
    #[default]
    Checksums,
    /// Also prove that every answer a check can give is the answer the rules in the file
    /// define: every transducer node decoded by the reader that checks use (inputs in
    /// order, transition indexes that agree with them, keys of the section's width), every
    /// key and value well-formed, counts equal to the header's, the filter holding every
    /// listed IMEI, and the segments equal to those the writer sweeps from the ranges.
    /// Catches files that are corrupt yet checksum-valid (for example written by a buggy
    /// or hostile tool). What `imei-index verify` runs.
    ///
    /// Takes time linear in the file's size, whatever its header claims: keys are counted
    /// before they are walked, and a file holding more than
    /// [`walk_limit`](crate::walk_limit)`(its size)` keys is refused with
    /// [`FormatError::TooManyKeys`](crate::FormatError::TooManyKeys).
    Full,
}

/// Options for opening an index.
///
/// # Example
///
/// ```no_run
/// use imei_index::{OpenOptions, Verification};
///
/// // An EIR worker: the file was verified by `imei-index publish`, so skip the checksum
/// // pass, and fault the whole file into memory now rather than on the first checks.
/// let index = OpenOptions::new()
///     .verification(Verification::Trusted)
///     .populate(true)
///     .open("/var/lib/eir/national.imeiidx")?;
/// # Ok::<(), imei_index::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    verification: Verification,
    populate: bool,
    lock: bool,
    advise_random: bool,
    /// Open delta indexes (and only them), for [`Delta`](crate::Delta).
    delta: bool,
    utc_offset: i32,
    tac_policy: Option<TacPolicy>,
}

impl OpenOptions {
    /// Default options: checksums verified, nothing populated or locked.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// How much to verify (default [`Verification::Checksums`]).
    pub fn verification(&mut self, v: Verification) -> &mut OpenOptions {
        self.verification = v;
        self
    }

    /// Read the whole file into the page cache when mapping it (`MAP_POPULATE` on Linux),
    /// so that the first checks do not wait for the disk. The open then takes as long as
    /// reading the file; measured at 20M rules (docs/performance.md), the first 1,000
    /// checks after opening an uncached file took 4 ms instead of 116 ms.
    pub fn populate(&mut self, yes: bool) -> &mut OpenOptions {
        self.populate = yes;
        self
    }

    /// Lock the mapping in memory (`mlock`), so that it is never paged out under memory
    /// pressure. Needs `RLIMIT_MEMLOCK` (or `CAP_IPC_LOCK`) to cover the file.
    pub fn lock(&mut self, yes: bool) -> &mut OpenOptions {
        self.lock = yes;
        self
    }

    /// Advise the kernel that access is random (`MADV_RANDOM`), which stops it reading
    /// ahead pages that a check will not touch. For latency-critical workers: measured at
    /// 20M rules (docs/performance.md), opening a file that is not in the page cache and
    /// answering the first check took 0.4 ms with it and about 30 ms without (read-ahead).
    /// Tools that read the whole file in order (verification, dumps) want read-ahead.
    pub fn advise_random(&mut self, yes: bool) -> &mut OpenOptions {
        self.advise_random = yes;
        self
    }

    /// The offset from UTC, in seconds east, of the day that checks without a date check
    /// on ([`Index::check`]): "today" turns at midnight there (default 0, UTC; India is
    /// 19,800). A named zone's offset changes with daylight saving: resolve it when opening
    /// (the command line's `--tz` does), or check with [`Index::check_at`] on the day it
    /// gives.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, Imei, IndexBuilder, OpenOptions, Rule, Status};
    ///
    /// let mut b = IndexBuilder::new();
    /// b.add(Rule::imei(Imei::parse("35209900176148")?, Entry::new(Status::Blocked)));
    /// let index = OpenOptions::new().utc_offset(5 * 3600 + 1800).open_bytes(b.build_to_vec()?.0.into())?;
    /// assert!(index.check(Imei::parse("35209900176148")?).is_listed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn utc_offset(&mut self, seconds: i32) -> &mut OpenOptions {
        self.utc_offset = seconds;
        self
    }

    /// Answer checks that no rule decides by the TAC policy: a handset whose TAC the
    /// index's TAC database does not list (or lists as allocated after the policy's date)
    /// gets the policy's status instead of unknown (docs/semantics.md, "GSMA's TAC
    /// database"). Off by default. A policy costs a check nothing unless no rule applies;
    /// then one binary search of the TAC table.
    ///
    /// Opening an index without a TAC database fails with [`Error::NoTacDatabase`] (and a
    /// [`LiveIndex`](crate::LiveIndex) refuses to reload one), rather than answer as if no
    /// TAC were allocated.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{DeviceInfo, Entry, Imei, IndexBuilder, OpenOptions, Rule, Status, Tac, TacPolicy, TacTable};
    ///
    /// let mut db = TacTable::new();
    /// db.insert(Tac::parse("35209900")?, DeviceInfo { manufacturer: "Acme".into(), ..Default::default() });
    /// let mut b = IndexBuilder::new();
    /// b.tac_db(db);
    /// // An operator lets one handset of an unallocated TAC through.
    /// b.add(Rule::imei(Imei::parse("49015420323751")?, Entry::new(Status::Allowed)));
    /// let bytes = bytes::Bytes::from(b.build_to_vec()?.0);
    /// let index = OpenOptions::new().tac_policy(TacPolicy::new(Status::Blocked)).open_bytes(bytes)?;
    /// assert!(!index.check(Imei::parse("35209900176148")?).is_listed()); // allocated
    /// assert_eq!(index.check(Imei::parse("49015420323752")?).status(), Some(Status::Blocked));
    /// assert_eq!(index.check(Imei::parse("49015420323751")?).status(), Some(Status::Allowed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tac_policy(&mut self, policy: impl Into<Option<TacPolicy>>) -> &mut OpenOptions {
        self.tac_policy = policy.into();
        self
    }

    /// Opens and memory-maps an index file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be opened or mapped (or locked, when asked),
    /// [`Error::Format`] when it is not a valid index at the chosen verification level.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Index, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("read", path, e))?;
        if !meta.is_file() {
            // Mapping a directory or a device fails with a baffling "No such device".
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            let msg = format!("it is {what}; pass the path of an index file");
            return Err(Error::io(
                "open",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, msg),
            ));
        }
        let len = meta.len();
        let origin = Origin::File(path.to_path_buf());
        if len == 0 {
            // Mapping zero bytes fails on some platforms; say what is really wrong.
            return Err(Error::format(&origin, FormatError::Empty));
        }
        let mut opts = memmap2::MmapOptions::new();
        if self.populate {
            opts.populate();
        }
        // SAFETY: the mapping is read-only. It is undefined behaviour for the file to change
        // while mapped; index files are never modified in place (every writer in this crate
        // writes a new file and renames it over the old), and the crate documents that
        // contract for everyone else. Every byte is treated as untrusted input regardless.
        let map = unsafe { opts.map(&file) }.map_err(|e| Error::io("map", path, e))?;
        if self.advise_random {
            #[cfg(unix)]
            map.advise(memmap2::Advice::Random)
                .map_err(|e| Error::io("advise the kernel about", path, e))?;
        }
        if self.lock {
            #[cfg(unix)]
            map.lock()
                .map_err(|e| Error::io("lock in memory", path, e))?;
        }
        Index::from_parts(Bytes::from_owner(map), origin, self)
    }

    /// Reads an index from bytes in memory.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] when the bytes are not a valid index at the chosen level.
    pub fn open_bytes(&self, bytes: Bytes) -> Result<Index, Error> {
        Index::from_parts(bytes, Origin::Memory, self)
    }

    /// Opens delta indexes instead of full ones.
    pub(crate) fn delta(&mut self, yes: bool) -> &mut OpenOptions {
        self.delta = yes;
        self
    }
}

impl Index {
    /// Opens and memory-maps an index file, verifying its checksums.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Index, Error> {
        OpenOptions::new().open(path)
    }

    /// Reads an index from bytes, verifying its checksums.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open_bytes`].
    pub fn from_bytes(bytes: Bytes) -> Result<Index, Error> {
        OpenOptions::new().open_bytes(bytes)
    }

    pub(super) fn from_parts(
        bytes: Bytes,
        origin: Origin,
        options: &OpenOptions,
    ) -> Result<Index, Error> {
        let (level, delta) = (options.verification, options.delta);
        let fail = |e| Error::format(&origin, e);
        let header = Header::parse(&bytes).map_err(fail)?;
        match (header.delta.is_some(), delta) {
            (true, false) => return Err(fail(FormatError::IsDelta)),
            (false, true) => return Err(fail(FormatError::NotDelta)),
            _ => {}
        }
        if level >= Verification::Checksums {
            for (s, r) in header.present() {
                let computed = crc32fast::hash(&bytes[r.range()]);
                if computed != r.crc {
                    return Err(fail(FormatError::SectionChecksum {
                        section: s,
                        offset: r.offset,
                        end: r.offset + r.len,
                        stored: r.crc,
                        computed,
                    }));
                }
            }
        }
        let map = |s: Section| -> Result<Transducer, Error> {
            let data = bytes.slice(header.section(s).range());
            // Only the footer here; a corrupt body is caught by the checksums, or by Full.
            Transducer::parse(data)
                .map_err(|what| fail(FormatError::Malformed { section: s, what }))
        };
        let filter = match header.filter {
            None => None,
            Some(r) => Some(Filter::parse(bytes.slice(r.range())).map_err(|what| {
                fail(FormatError::Malformed {
                    section: Section::Filter,
                    what,
                })
            })?),
        };
        let malformed =
            |section: Section| move |what: String| fail(FormatError::Malformed { section, what });
        let (v2, sources, entries) = match header.v2 {
            None => {
                let local = SourceStats {
                    id: 0,
                    name: Source::local(),
                    run_id: None,
                    base_run_id: None,
                    built: 0,
                    hash: None,
                    counts: header.counts,
                };
                (
                    None,
                    vec![local],
                    bytes.slice(header.section(Section::Entries).range()),
                )
            }
            Some(_) => {
                let slice =
                    |s: Section| bytes.slice(header.v2_section(s).map_or(0..0, |r| r.range()));
                if !header.section(Section::Entries).len == 0 {
                    return Err(fail(FormatError::Malformed {
                        section: Section::Entries,
                        what: "it is not empty in a file with sources, whose entries are in the entries v2 section".into(),
                    }));
                }
                let entries2 = slice(Section::EntriesV2);
                let (dated, _) =
                    records::parse_v2_header(&entries2).map_err(malformed(Section::EntriesV2))?;
                let strings =
                    Strings::parse(slice(Section::Strings)).map_err(malformed(Section::Strings))?;
                let stacks =
                    Stacks::parse(slice(Section::Stacks)).map_err(malformed(Section::Stacks))?;
                let subscribers = slice(Section::Subscribers);
                subscribers::parse(&subscribers).map_err(malformed(Section::Subscribers))?;
                let records = sources::decode(&slice(Section::Sources))
                    .map_err(malformed(Section::Sources))?;
                let mut list = Vec::with_capacity(records.len());
                for (i, r) in records.into_iter().enumerate() {
                    let name = strings
                        .get(r.name)
                        .and_then(|n| Source::new(n).ok())
                        .ok_or_else(|| {
                            fail(FormatError::Malformed {
                                section: Section::Sources,
                                what: format!(
                                    "source {i} names string {}, which is no source name",
                                    r.name
                                ),
                            })
                        })?;
                    list.push(SourceStats {
                        id: i as u8,
                        name,
                        run_id: r.run_id,
                        base_run_id: r.base_run_id,
                        built: r.built,
                        hash: Some(r.hash),
                        counts: r.counts,
                    });
                }
                let parts = V2Parts {
                    dated,
                    strings,
                    stacks,
                    subscribers,
                };
                (Some(parts), list, entries2.slice(V2_HEADER..))
            }
        };
        let _ = RuleCounts::default;
        let devices = match header.devices {
            None => None,
            Some(r) => {
                Some(Devices::parse(bytes.slice(r.range())).map_err(malformed(Section::Devices))?)
            }
        };
        if let (Some(policy), None) = (options.tac_policy, &devices) {
            return Err(Error::NoTacDatabase {
                origin: origin.clone(),
                policy,
            });
        }
        let blocks = match header.imei_blocks {
            None => None,
            Some(r) => {
                if !map(Section::Imei)?.is_empty() {
                    return Err(fail(FormatError::Malformed {
                        section: Section::Imei,
                        what: "it holds keys in a file with the imei blocks section, which \
                               holds the exact-IMEI rules instead"
                            .into(),
                    }));
                }
                Some(
                    Blocks::parse(bytes.slice(r.range()))
                        .map_err(malformed(Section::ImeiBlocks))?,
                )
            }
        };
        let index = Index {
            devices,
            tac_policy: options.tac_policy,
            filter,
            v2,
            sources: sources.into(),
            utc_offset: options.utc_offset,
            entries,
            imei: map(Section::Imei)?,
            blocks,
            tac: map(Section::Tac)?,
            pair: map(Section::Pair)?,
            range: map(Section::Range)?,
            segments: map(Section::Segments)?,
            header,
            bytes,
        };
        if level >= Verification::Full {
            index.verify().map_err(fail)?;
        }
        Ok(index)
    }
}
