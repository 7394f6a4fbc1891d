//! The index file format: a checksummed header, a table of sections, and the sections.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  "\x89IMEIDX\n"   (the high byte and newline catch text-mode mangling)
//! 8       4     format version (u32)    this crate reads and writes version 1
//! 12      4     header length (u32)     bytes from 0 through the header checksum, padded to 8
//! 16      8     file length (u64)       catches truncated and appended files
//! 24      8     serial (u64)            a list version chosen by whoever builds the index
//! 32      96    rule counts (u64)       [kind: pair, imei, range, tac][status: S13 code 0, 1, 2]
//! 128     4     section count (u32)
//! 132     4     reserved, zero
//! 136     24·n  sections: id (u32), crc32 (u32), offset (u64), length (u64)
//! …       4     crc32 of every header byte before it
//! ```
//!
//! All integers are little-endian; sections start at multiples of 8. Section ids with the
//! high bit set are optional and ignored by readers that do not know them; an unknown id
//! without it makes the file unreadable, so that a reader never silently ignores data that
//! changes answers. Bytes outside the header and every section (alignment padding) are
//! zero; no checksum covers them, so readers check that instead.
//!
//! Sections of version 1 (the first six are required in every file):
//!
//! | id | name     | contents                                                             |
//! |----|----------|----------------------------------------------------------------------|
//! | 1  | entries  | 8-byte records: status, reason, reserved ×2, date (u32, days + 1)    |
//! | 2  | imei     | fst map: 6-byte big-endian IMEI → entry id                           |
//! | 3  | tac      | fst map: 4-byte big-endian TAC → entry id                            |
//! | 4  | pair     | fst map: IMEI (6) ‖ IMSI length (1) ‖ IMSI (7, big-endian) → entry id |
//! | 5  | range    | fst map: first IMEI (6) ‖ last IMEI (6) → entry id                   |
//! | 6  | segments | fst map: last IMEI of a segment (6) → 0 (gap) or entry id + 1        |
//! | 7  | delta    | only in delta indexes; see below                                     |
//! | 8  | sources  | the sources table (see below); its presence changes the key layout     |
//! | 9  | entries v2 | 16-byte entry records with starts, earlier statuses and reason sets  |
//! | 10 | strings  | reason texts and source names, each once, and the reason sets           |
//! | 11 | range stacks | the levels of ranges covering each segment (see below)            |
//! | 12 | subscribers | register rows behind rules that several rows make (see below)      |
//! | 13 | imei blocks | the exact-IMEI rules grouped by TAC: a TAC transducer and one block of serials per TAC (layout in `src/format/blocks.rs`); files with it have an empty `imei` section |
//! | 0x8000_0008 | devices | optional: GSMA's TAC database (manufacturer, brand, model, device type, allocation date per TAC; layout in `src/format/devices.rs`); readers that do not know it answer as with the TAC policy off |
//! | 0x8000_0007 | filter | optional, 64-byte aligned: a blocked Bloom filter over the IMEI map's keys and the pairs' IMEIs (layout in `src/format/filter.rs`); readers that do not know it ignore it |
//!
//! Entries are the distinct (status, reason, date) triples, most frequent first, so that the
//! commonest one has id 0, which the transducer stores for free.
//!
//! # Sources, dated rules and open reasons (sections 8 to 12)
//!
//! Files written since sources exist have the five sections 8 to 12, all of them (a file
//! with some but not all is corrupt); files without them (written before) read as
//! always. Their ids are required, so that a reader that predates them refuses such a file
//! ("unknown required section 8") rather than read its keys in the old layout. In a file
//! with them:
//!
//! * **Keys end with a 1-byte source id**: IMEI 6+1, TAC 4+1, pair 14+1, range 12+1
//!   bytes, so that the rules of different sources for one target are different keys. A
//!   check walks the target's bytes and reads the source transitions of the node it
//!   reaches. The segments keep their 6-byte keys.
//! * **Section 1 is empty**; values are ids into the 16-byte records of `entries v2`.
//! * **Segment values** are 0 for a gap, `2·(entry id · 256 + source id) + 1` for a
//!   segment covered by one range only at its narrowest and nothing wider that matters
//!   (a stack of one level of one rule), and `2·(stack id + 1)` otherwise.
//!
//! `sources` (all integers little-endian):
//!
//! ```text
//! 0    4     sources n (u32), at most 255; source id = position, names in byte order
//! 4    4     reserved, zero
//! 8    136·n one record per source:
//!      0   4   name: string id (u32)
//!      4   4   flags (u32): 1 run id set, 2 base run id set (deltas only)
//!      8   8   run id (i64): the register's run this source's rules are from (a delta: the run it brings the source to)
//!      16  8   base run id (i64): in a delta, the run it starts from
//!      24  8   build time (i64, unix seconds; 0 unknown)
//!      32  8   content hash (u64) of the source's rules (see `sources.rs`)
//!      40  96  rule counts (u64) [kind: pair, imei, range, tac][status: S13 code 0, 1, 2]
//! ```
//!
//! `entries v2`: a 16-byte header, magic `ENT2` (4 bytes), flags (u32: 1 when a record
//! has a start), count (u64); then 16-byte records: status (u8, S13 code; 3 with every
//! other byte zero is a tombstone, in deltas only), earlier status (u8: 0 none, 1 + S13
//! code, only with a start), two zero bytes, date, start (u32 each: days since 1970-01-01
//! + 1, 0 for none), reason set id (u32).
//!
//! `strings`: counts of strings s and stored sets t (u32 each); s + 1 string end offsets
//! (u32, into the texts); t + 1 set end offsets (u32, into the members); the members (u32
//! string ids); the texts (UTF-8), strictly increasing by bytes. Reason set ids 0 to 6 are
//! implied and not stored: 0 no reason, 1 to 6 the known reason of that code alone; stored
//! set `i` has id `7 + i`, lists at least one string id, its texts strictly increasing, and
//! is none of the implied sets.
//!
//! `range stacks`: the count of stacks k (u32), a zero u32, k + 1 stack end offsets (u32,
//! in words), then the stacks as u32 words: per level, its member count m ≥ 1 then m
//! (entry id, source id) pairs. A stack lists the levels of the ranges covering a
//! segment, narrowest first; a level holds the rules of every equally narrow covering range
//! in (source id, range start) order; the stack ends with the first level that holds a rule
//! applying on every day (no start, or an earlier status). A check takes the first level
//! with a rule that applies on its day and weighs that level's applying rules.
//!
//! `subscribers`: the count (u32), a zero u32, then 40-byte rows strictly increasing by
//! (source id, IMEI, IMSI key, MSISDN key): source id (u8), list (u8: 1 notification, 2
//! exception), flags (u8: 1 removed, in deltas only), a zero byte, block date (u32, days +
//! 1), IMEI (u64), IMSI key (8 bytes, as the pair keys'), MSISDN key (8 bytes, digit count
//! then value, zero for none), reason set id (u32), a zero u32. Segments partition the IMEIs
//! from 0 to the end of the last range into runs that share their narrowest covering range,
//! so that a range check is one "first key ≥ IMEI" search.
//!
//! # IMEI blocks (section 13)
//!
//! Files written since section 13 exists keep their exact-IMEI rules there, grouped by TAC,
//! and their `imei` transducer (section 2) is empty; a file with section 13 must have
//! sources, and one whose section 2 holds keys beside it is corrupt. The keys and values
//! the blocks hold are those the transducer would (IMEI ‖ source id → entry id), so every
//! stream, diff, merge and verification reads them alike. Layout in `src/format/blocks.rs`.
//!
//! # Delta indexes
//!
//! A delta index holds the changes from one version of a list to the next, to be layered
//! over a full index (see `Delta` and `LayeredIndex`): new or changed rules, and
//! *tombstones* that remove a rule of the layers below. It is a version-1 file with one more
//! section, the delta section (id 7), whose presence is what makes it a delta:
//!
//! ```text
//! offset  size  field
//! 0       8     base serial (u64)       the serial of the index this delta applies to (0: any)
//! 8       32    tombstones (u64)        by kind: pair, imei, range, tac
//! ```
//!
//! A tombstone is a key whose entry record has status code 3 (no S13 code has it) and every
//! other byte zero; such a record is valid only in a file with a delta section. The header's
//! rule counts count the other keys only. The segments section of a delta is empty: a delta's
//! ranges mean something only together with the ranges of the layers below, so a layered
//! view computes their segments when it opens.
//!
//! The delta section's id has no high bit, so it is *required*: a reader that predates
//! deltas refuses a delta file ("unknown required section 7") instead of taking its
//! tombstones for rules or ignoring them, and this crate's [`Index`](crate::Index) refuses
//! it too, with a message saying to open it as a delta.

use std::fmt;

use crate::model::field::Reason;
use crate::model::rule::{Date, Entry, RuleKind, Status};

pub(crate) mod blocks;
pub(crate) mod devices;
pub(crate) mod filter;
pub(crate) mod key;
pub(crate) mod node;
pub(crate) mod records;
pub(crate) mod segments;
pub(crate) mod sources;
pub(crate) mod stacks;
pub(crate) mod strings;
pub(crate) mod subscribers;

/// The file's first 8 bytes.
pub(crate) const MAGIC: [u8; 8] = *b"\x89IMEIDX\n";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the fixed part of the header, before the section table.
pub(crate) const FIXED_HEADER: usize = 136;
/// Bytes of one section table row.
pub(crate) const SECTION_ROW: usize = 24;
/// Bytes of one entry record.
pub(crate) const ENTRY_RECORD: usize = 8;
/// Ids with this bit set name optional sections.
const OPTIONAL_SECTION: u32 = 0x8000_0000;

/// A section of the index file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// The table of distinct entries.
    Entries,
    /// The exact-IMEI map.
    Imei,
    /// The whole-TAC map.
    Tac,
    /// The IMEI+IMSI pair map.
    Pair,
    /// The range map, as listed.
    Range,
    /// The range lookup map: segments of narrowest covering ranges.
    Segments,
    /// What makes a file a delta index: its base serial and tombstone counts.
    Delta,
    /// Optional: the filter that answers most unlisted IMEIs before the IMEI map is walked.
    Filter,
    /// The sources table: names, run ids, build times, content hashes and counts.
    Sources,
    /// Entry records with starts, earlier statuses and reason sets.
    EntriesV2,
    /// Reason texts and source names, and the reason sets.
    Strings,
    /// The levels of ranges covering each segment.
    Stacks,
    /// Register rows behind rules that several rows make.
    Subscribers,
    /// Optional: GSMA's TAC database.
    Devices,
    /// The exact-IMEI rules grouped by TAC, in files written since it exists (the `imei`
    /// transducer is then empty).
    ImeiBlocks,
}

impl Section {
    /// Every section of a version-1 full index, in file order; a delta index adds
    /// [`Section::Delta`] after them.
    pub(crate) const ALL: [Section; 6] = [
        Section::Entries,
        Section::Imei,
        Section::Tac,
        Section::Pair,
        Section::Range,
        Section::Segments,
    ];

    pub(crate) fn id(self) -> u32 {
        match self {
            Section::Entries => 1,
            Section::Imei => 2,
            Section::Tac => 3,
            Section::Pair => 4,
            Section::Range => 5,
            Section::Segments => 6,
            Section::Delta => 7,
            Section::Filter => OPTIONAL_SECTION | 7,
            Section::Sources => 8,
            Section::EntriesV2 => 9,
            Section::Strings => 10,
            Section::Stacks => 11,
            Section::Subscribers => 12,
            Section::Devices => OPTIONAL_SECTION | 8,
            Section::ImeiBlocks => 13,
        }
    }

    /// The sections that files with sources have, all of them, in file order.
    pub(crate) const V2: [Section; 5] = [
        Section::Sources,
        Section::EntriesV2,
        Section::Strings,
        Section::Stacks,
        Section::Subscribers,
    ];

    fn from_id(id: u32) -> Option<Section> {
        Section::ALL
            .into_iter()
            .chain([
                Section::Delta,
                Section::Filter,
                Section::Devices,
                Section::ImeiBlocks,
            ])
            .chain(Section::V2)
            .find(|s| s.id() == id)
    }

    /// True for sections that a reader may ignore.
    pub fn is_optional(self) -> bool {
        self.id() & OPTIONAL_SECTION != 0
    }

    /// The section's name, as error messages and `stats` show it.
    pub fn name(self) -> &'static str {
        match self {
            Section::Entries => "entries",
            Section::Imei => "imei",
            Section::Tac => "tac",
            Section::Pair => "pair",
            Section::Range => "range",
            Section::Segments => "segments",
            Section::Delta => "delta",
            Section::Filter => "filter",
            Section::Sources => "sources",
            Section::EntriesV2 => "entries v2",
            Section::Strings => "strings",
            Section::Stacks => "range stacks",
            Section::Subscribers => "subscribers",
            Section::Devices => "devices",
            Section::ImeiBlocks => "imei blocks",
        }
    }

    /// The transducer section of one kind of rule.
    pub(crate) fn of_kind(kind: RuleKind) -> Section {
        match kind {
            RuleKind::Pair => Section::Pair,
            RuleKind::Imei => Section::Imei,
            RuleKind::Range => Section::Range,
            RuleKind::Tac => Section::Tac,
        }
    }

    /// The width of this section's keys in files without sources, for the transducer
    /// sections (with sources, the rules' keys have one more byte).
    pub(crate) fn key_len(self) -> Option<usize> {
        match self {
            Section::Entries
            | Section::Delta
            | Section::Filter
            | Section::Sources
            | Section::EntriesV2
            | Section::Strings
            | Section::Stacks
            | Section::Subscribers
            | Section::Devices
            | Section::ImeiBlocks => None,
            Section::Imei | Section::Segments => Some(6),
            Section::Tac => Some(4),
            Section::Pair => Some(14),
            Section::Range => Some(12),
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why bytes are not a readable index.
///
/// Every variant says what is wrong and where; the fix is nearly always to rebuild or
/// republish the index from its lists, since index files are never edited in place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Zero bytes.
    #[error("the index is empty (0 bytes): it was never written, or was truncated; rebuild it")]
    Empty,
    /// Fewer bytes than the header needs.
    #[error(
        "the index is {len} bytes, shorter than its {need}-byte header: it is truncated; rebuild it"
    )]
    TooShort {
        /// Bytes present.
        len: u64,
        /// Bytes the header needs.
        need: u64,
    },
    /// The first bytes are not this format's magic.
    #[error(
        "this is not an imei-index file: it starts with {found:02x?} instead of the magic \
         bytes {MAGIC:02x?}; pass an index built by `imei-index build`, not a list"
    )]
    Magic {
        /// The file's first bytes.
        found: Vec<u8>,
    },
    /// A format version this crate cannot read.
    #[error(
        "the index has format version {found}, but this library reads version {FORMAT_VERSION}: \
         rebuild the index with this version of imei-index, or upgrade the library"
    )]
    Version {
        /// The file's version.
        found: u32,
    },
    /// The header's own checksum does not match.
    #[error(
        "the index header fails its checksum (stored {stored:#010x}, computed {computed:#010x}): \
         the file is corrupt; rebuild or republish it"
    )]
    HeaderChecksum {
        /// The checksum in the file.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// A header field that cannot be right.
    #[error("the index header is malformed at byte {offset}: {what}; the file is corrupt")]
    Header {
        /// Byte offset of the field.
        offset: u64,
        /// What is wrong with it.
        what: String,
    },
    /// The file is not as long as its header says.
    #[error(
        "the index is {actual} bytes but its header says {expected}: the file is truncated or \
         has bytes appended; rebuild or republish it"
    )]
    Length {
        /// The length the header records.
        expected: u64,
        /// The length of the bytes given.
        actual: u64,
    },
    /// A required section is missing, or an unknown required one is present.
    #[error(
        "the index's section table is wrong: {what}; the file is corrupt or from a newer writer"
    )]
    SectionTable {
        /// What is wrong.
        what: String,
    },
    /// A section lies outside the file, overlaps another, or is misaligned.
    #[error(
        "the {section} section (bytes {offset}..{end}) does not fit the {file_len}-byte file: \
         the file is corrupt"
    )]
    SectionBounds {
        /// The section.
        section: Section,
        /// Its start.
        offset: u64,
        /// Its end.
        end: u64,
        /// The file length.
        file_len: u64,
    },
    /// A section's bytes fail their checksum.
    #[error(
        "the {section} section (bytes {offset}..{end}) fails its checksum (stored {stored:#010x}, \
         computed {computed:#010x}): the file is corrupt; rebuild or republish it"
    )]
    SectionChecksum {
        /// The section.
        section: Section,
        /// Its start.
        offset: u64,
        /// Its end.
        end: u64,
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// A padding byte (outside the header and every section) that is not zero.
    #[error(
        "the index has a nonzero byte at offset {offset}, in padding that writers leave zero: \
         the file is corrupt; rebuild or republish it"
    )]
    Padding {
        /// The byte's offset in the file.
        offset: u64,
    },
    /// A section's contents are not what its header promises.
    #[error("the {section} section is malformed: {what}; the file is corrupt")]
    Malformed {
        /// The section.
        section: Section,
        /// What is wrong.
        what: String,
    },
    /// More keys than full verification walks for a file of this size (see
    /// [`walk_limit`](crate::walk_limit)).
    #[error(
        "the index holds {keys} keys in {file_bytes} bytes, more than the {limit} that full \
         verification walks for a file of this size: files built from lists are far less \
         dense, so it was crafted, or lists long runs of consecutive IMEIs one by one \
         (list those as ranges)"
    )]
    TooManyKeys {
        /// Keys the transducers hold (rules, tombstones and segments).
        keys: u64,
        /// The file's length.
        file_bytes: u64,
        /// The most keys verified for that length.
        limit: u64,
    },
    /// A delta index where a full index is needed.
    #[error(
        "this is a delta index (changes to another index, with removals), not a full index: \
         open it as a Delta and layer it over its base, or fold it into its base with \
         `imei-index apply BASE DELTA -o NEW`"
    )]
    IsDelta,
    /// A full index where a delta index is needed.
    #[error(
        "this is a full index, not a delta index: a delta holds the changes from one version \
         to the next; make one from a delta list (see `imei-index diff`)"
    )]
    NotDelta,
}

impl FormatError {
    /// True when the bytes are an index of this format and version that is damaged
    /// (truncated, failing a checksum, or with a header, section table or section that
    /// cannot be right); false when they are not such an index at all: empty, without the
    /// magic (a list, or any other file), of a format version this library does not read,
    /// or a delta where a full index is wanted (or the reverse).
    ///
    /// `imei-index verify` exits with 1 (the input is invalid) for the first kind and with 2
    /// (it could not run) for the second.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Entry, Index, IndexBuilder, Rule, Status, Tac};
    ///
    /// let mut b = IndexBuilder::new();
    /// b.add(Rule::tac(Tac::parse("35209900")?, Entry::new(Status::Blocked)));
    /// let (mut bytes, _) = b.build_to_vec()?;
    /// let open = |b: &[u8]| Index::from_bytes(b.to_vec().into()).unwrap_err();
    ///
    /// // Not an index at all: a list.
    /// assert!(!open(b"imei,status\n").as_format().unwrap().is_corrupt());
    /// // An index with one byte flipped.
    /// let last = bytes.len() - 1;
    /// bytes[last] ^= 1;
    /// assert!(open(&bytes).as_format().unwrap().is_corrupt());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_corrupt(&self) -> bool {
        match self {
            FormatError::Empty
            | FormatError::Magic { .. }
            | FormatError::Version { .. }
            | FormatError::IsDelta
            | FormatError::NotDelta => false,
            FormatError::TooShort { .. }
            | FormatError::HeaderChecksum { .. }
            | FormatError::Header { .. }
            | FormatError::Length { .. }
            | FormatError::SectionTable { .. }
            | FormatError::SectionBounds { .. }
            | FormatError::SectionChecksum { .. }
            | FormatError::Padding { .. }
            | FormatError::Malformed { .. }
            | FormatError::TooManyKeys { .. } => true,
        }
    }
}

/// Keys that full verification walks in a file of any size: 4,194,304.
const WALK_FLOOR: u64 = 1 << 22;
/// Keys that full verification walks per byte of the file, beyond [`WALK_FLOOR`].
const WALK_PER_BYTE: u64 = 8;

/// The most keys (rules, tombstones and segments, all sections together) that
/// [`Verification::Full`](crate::Verification::Full) walks in a file of `file_bytes`
/// bytes: 2^22 (4,194,304) + 8 × `file_bytes`. A file holding more is
/// refused with [`FormatError::TooManyKeys`], after its keys were counted in time
/// linear in its size.
///
/// Why a bound, and why this one: a transducer stores runs of keys that share prefixes
/// and suffixes once, so its key count is not bounded by its bytes (all 2^48 six-byte
/// keys fit in under 5 KiB), and neither is the time to walk its keys. Lists of
/// scattered IMEIs take 2–6 bytes per rule in the IMEI map alone (and another byte each in
/// the filter), so real files hold well under one key per byte and pass with a margin
/// of eight or more; only runs of consecutive IMEIs listed one by one pack denser, and
/// those are what range rules are for. With the floor, any file of up to 4 million rules
/// passes whatever its density.
pub fn walk_limit(file_bytes: u64) -> u64 {
    WALK_FLOOR.saturating_add(WALK_PER_BYTE.saturating_mul(file_bytes))
}

/// Reads a little-endian u32 at `at`; the caller has checked the bounds.
pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Reads a little-endian u64 at `at`; the caller has checked the bounds.
pub(crate) fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Where a section lies and what its checksum is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SectionRef {
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
}

impl SectionRef {
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        // Fits: `Header::parse` checked that the section lies inside the byte slice.
        self.offset as usize..(self.offset + self.len) as usize
    }
}

/// Rule counts by kind and status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts(pub(crate) [[u64; 3]; 4]);

impl RuleCounts {
    /// Rules of one kind and status.
    pub fn get(&self, kind: RuleKind, status: Status) -> u64 {
        self.0[usize::from(kind.code() - 1)][usize::from(status.s13_code())]
    }

    /// Rules of one kind, whatever their status.
    pub fn of_kind(&self, kind: RuleKind) -> u64 {
        saturating_sum(self.0[usize::from(kind.code() - 1)].iter().copied())
    }

    /// Rules of one status, whatever their kind.
    pub fn of_status(&self, status: Status) -> u64 {
        saturating_sum(self.0.iter().map(|k| k[usize::from(status.s13_code())]))
    }

    /// All rules. (A crafted header may count more than 2^64 − 1; the sums saturate.)
    pub fn total(&self) -> u64 {
        saturating_sum(self.0.iter().flatten().copied())
    }

    pub(crate) fn add(&mut self, kind: RuleKind, status: Status) {
        let c = &mut self.0[usize::from(kind.code() - 1)][usize::from(status.s13_code())];
        *c = c.saturating_add(1);
    }
}

/// The sum of counts, saturating: the counts come from a header that may be crafted.
pub(crate) fn saturating_sum(counts: impl IntoIterator<Item = u64>) -> u64 {
    counts.into_iter().fold(0, u64::saturating_add)
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub version: u32,
    pub header_len: u64,
    pub file_len: u64,
    pub serial: u64,
    pub counts: RuleCounts,
    pub sections: [SectionRef; 6],
    /// The delta section, present only in delta indexes.
    pub delta: Option<SectionRef>,
    /// The filter section, when the file has one.
    pub filter: Option<SectionRef>,
    /// The sections of files with sources, in [`Section::V2`] order.
    pub v2: Option<[SectionRef; 5]>,
    /// The TAC database, when the file has one.
    pub devices: Option<SectionRef>,
    /// The exact-IMEI rules by TAC, in files written since the section exists.
    pub imei_blocks: Option<SectionRef>,
}

/// The header length for `n` sections: fixed part, table, checksum, padded to 8.
pub(crate) fn header_len(n: usize) -> usize {
    (FIXED_HEADER + SECTION_ROW * n + 4).next_multiple_of(8)
}

impl Header {
    /// Decodes and checks a header against the bytes it heads. Does not read sections.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Header, FormatError> {
        let len = bytes.len() as u64;
        if bytes.is_empty() {
            return Err(FormatError::Empty);
        }
        // The magic first: a foreign file should say so, not that it is short.
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(FormatError::Magic {
                found: bytes[..magic_len].to_vec(),
            });
        }
        if bytes.len() < FIXED_HEADER {
            return Err(FormatError::TooShort {
                len,
                need: FIXED_HEADER as u64,
            });
        }
        let version = read_u32(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(FormatError::Version { found: version });
        }
        let header_len = u64::from(read_u32(bytes, 12));
        let n = read_u32(bytes, 128) as usize;
        if n > 1024 || header_len != header_len_u64(n) {
            return Err(FormatError::Header {
                offset: 12,
                what: format!("header length {header_len} does not fit {n} sections"),
            });
        }
        if len < header_len {
            return Err(FormatError::TooShort {
                len,
                need: header_len,
            });
        }
        let crc_at = FIXED_HEADER + SECTION_ROW * n;
        let stored = read_u32(bytes, crc_at);
        let computed = crc32fast::hash(&bytes[..crc_at]);
        if stored != computed {
            return Err(FormatError::HeaderChecksum { stored, computed });
        }
        let file_len = read_u64(bytes, 16);
        if file_len != len {
            return Err(FormatError::Length {
                expected: file_len,
                actual: len,
            });
        }
        let serial = read_u64(bytes, 24);
        let mut counts = RuleCounts::default();
        for (k, row) in counts.0.iter_mut().enumerate() {
            for (s, c) in row.iter_mut().enumerate() {
                *c = read_u64(bytes, 32 + 8 * (3 * k + s));
            }
        }
        // The six sections of a full index, the delta section, the filter, then sections
        // 8 to 12.
        let mut found: [Option<SectionRef>; 15] = [None; 15];
        // Every section's span, optional ones included, to find the padding between them.
        let mut all_spans: Vec<(u64, u64)> = Vec::with_capacity(n);
        for i in 0..n {
            let at = FIXED_HEADER + SECTION_ROW * i;
            let id = read_u32(bytes, at);
            let r = SectionRef {
                crc: read_u32(bytes, at + 4),
                offset: read_u64(bytes, at + 8),
                len: read_u64(bytes, at + 16),
            };
            let Some(section) = Section::from_id(id) else {
                if id & OPTIONAL_SECTION != 0 {
                    if let Some(end) = r.offset.checked_add(r.len).filter(|&e| e <= len) {
                        all_spans.push((r.offset, end));
                    }
                    continue;
                }
                return Err(FormatError::SectionTable {
                    what: format!("row {i} names unknown required section {id}"),
                });
            };
            let fits = r.offset.checked_add(r.len).is_some_and(|end| end <= len)
                && r.offset >= header_len
                && r.offset.is_multiple_of(8);
            if !fits {
                return Err(FormatError::SectionBounds {
                    section,
                    offset: r.offset,
                    end: r.offset.saturating_add(r.len),
                    file_len: len,
                });
            };
            let slot = &mut found[match section {
                Section::Delta => 6,
                Section::Filter => 7,
                Section::Devices => 13,
                Section::ImeiBlocks => 14,
                _ => match Section::V2.iter().position(|s| *s == section) {
                    Some(i) => 8 + i,
                    None => Section::ALL.iter().position(|s| *s == section).unwrap_or(0),
                },
            }];
            if slot.is_some() {
                return Err(FormatError::SectionTable {
                    what: format!("the {section} section is listed twice"),
                });
            }
            *slot = Some(r);
            all_spans.push((r.offset, r.offset + r.len));
        }
        let mut sections = [SectionRef {
            offset: 0,
            len: 0,
            crc: 0,
        }; 6];
        for (i, s) in Section::ALL.iter().enumerate() {
            sections[i] = found[i].ok_or_else(|| FormatError::SectionTable {
                what: format!("the required {s} section is missing"),
            })?;
        }
        let delta = found[6];
        let filter = found[7];
        let devices = found[13];
        let imei_blocks = found[14];
        let v2 = match found[8..13] {
            [Some(a), Some(b), Some(c), Some(d), Some(e)] => Some([a, b, c, d, e]),
            [None, None, None, None, None] => None,
            _ => {
                let (have, missing): (Vec<Section>, Vec<Section>) =
                    Section::V2.iter().partition(|s| {
                        found[8 + Section::V2.iter().position(|x| x == *s).unwrap_or(0)].is_some()
                    });
                return Err(FormatError::SectionTable {
                    what: format!(
                        "it has the {} section but not the {} section, and files with sources \
                         have sections 8 to 12 together",
                        have[0], missing[0]
                    ),
                });
            }
        };
        if imei_blocks.is_some() && v2.is_none() {
            return Err(FormatError::SectionTable {
                what: "it has the imei blocks section (13) but not sections 8 to 12, and \
                       only files with sources have it"
                    .into(),
            });
        }
        if delta.is_some_and(|r| r.len != DELTA_INFO as u64) {
            return Err(FormatError::Malformed {
                section: Section::Delta,
                what: format!("it is not {DELTA_INFO} bytes long"),
            });
        }
        // Sections must not overlap: a crafted file could otherwise alias one as another.
        let mut spans: Vec<(u64, u64, Section)> = Section::ALL
            .iter()
            .zip(&sections)
            .chain(delta.as_ref().map(|r| (&Section::Delta, r)))
            .chain(filter.as_ref().map(|r| (&Section::Filter, r)))
            .chain(devices.as_ref().map(|r| (&Section::Devices, r)))
            .chain(imei_blocks.as_ref().map(|r| (&Section::ImeiBlocks, r)))
            .chain(v2.iter().flat_map(|v| Section::V2.iter().zip(v)))
            .map(|(s, r)| (r.offset, r.offset + r.len, *s))
            .collect();
        spans.sort();
        for w in spans.windows(2) {
            if w[1].0 < w[0].1 {
                return Err(FormatError::SectionBounds {
                    section: w[1].2,
                    offset: w[1].0,
                    end: w[1].1,
                    file_len: len,
                });
            }
        }
        // Padding must be zero: otherwise a changed byte there would pass every check.
        all_spans.sort_unstable();
        let mut covered = (crc_at + 4) as u64;
        for (start, end) in all_spans.into_iter().chain([(len, len)]) {
            if start > covered {
                let gap = &bytes[covered as usize..start as usize];
                if let Some(i) = gap.iter().position(|&b| b != 0) {
                    return Err(FormatError::Padding {
                        offset: covered + i as u64,
                    });
                }
            }
            covered = covered.max(end);
        }
        let entries = sections[0];
        if entries.len % ENTRY_RECORD as u64 != 0 {
            return Err(FormatError::Malformed {
                section: Section::Entries,
                what: format!(
                    "its length {} is not a multiple of {ENTRY_RECORD}",
                    entries.len
                ),
            });
        }
        Ok(Header {
            version,
            header_len,
            file_len,
            serial,
            counts,
            sections,
            delta,
            filter,
            v2,
            devices,
            imei_blocks,
        })
    }

    /// The reference of one of the sections of files with sources, when the file has them.
    pub(crate) fn v2_section(&self, s: Section) -> Option<SectionRef> {
        let i = Section::V2.iter().position(|x| *x == s)?;
        self.v2.map(|v| v[i])
    }

    /// The section reference of one of the six sections every file has.
    pub(crate) fn section(&self, s: Section) -> SectionRef {
        self.sections[Section::ALL.iter().position(|x| *x == s).unwrap_or(0)]
    }

    /// Every section the file has, in table order.
    pub(crate) fn present(&self) -> impl Iterator<Item = (Section, SectionRef)> + '_ {
        Section::ALL
            .into_iter()
            .zip(self.sections)
            .chain(
                self.v2
                    .into_iter()
                    .flat_map(|v| Section::V2.into_iter().zip(v)),
            )
            .chain(self.imei_blocks.map(|r| (Section::ImeiBlocks, r)))
            .chain(self.delta.map(|r| (Section::Delta, r)))
            .chain(self.filter.map(|r| (Section::Filter, r)))
            .chain(self.devices.map(|r| (Section::Devices, r)))
    }

    /// Encodes the header: the six sections in [`Section::ALL`] order, then the delta
    /// section if present.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let n = self.present().count();
        let mut b = Vec::with_capacity(header_len(n));
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&(self.header_len as u32).to_le_bytes());
        b.extend_from_slice(&self.file_len.to_le_bytes());
        b.extend_from_slice(&self.serial.to_le_bytes());
        for c in self.counts.0.iter().flatten() {
            b.extend_from_slice(&c.to_le_bytes());
        }
        b.extend_from_slice(&(n as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for (s, r) in self.present() {
            b.extend_from_slice(&s.id().to_le_bytes());
            b.extend_from_slice(&r.crc.to_le_bytes());
            b.extend_from_slice(&r.offset.to_le_bytes());
            b.extend_from_slice(&r.len.to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b.resize(header_len(n), 0);
        b
    }
}

fn header_len_u64(n: usize) -> u64 {
    header_len(n) as u64
}

/// Encodes an entry as its 8-byte record (format 1's; the writer uses it only for entries
/// that [`Entry::fits_v1`]).
pub(crate) fn encode_entry(e: &Entry) -> [u8; ENTRY_RECORD] {
    let date = e.date.map_or(0, |d| d.days_since_epoch() + 1);
    let d = date.to_le_bytes();
    [
        e.status.s13_code(),
        e.reasons.code().map_or(0, Reason::code),
        0,
        0,
        d[0],
        d[1],
        d[2],
        d[3],
    ]
}

/// Bytes of the delta section.
pub(crate) const DELTA_INFO: usize = 40;

/// The entry record of a tombstone: status code 3, everything else zero.
pub(crate) const TOMBSTONE: [u8; ENTRY_RECORD] = [3, 0, 0, 0, 0, 0, 0, 0];

/// What a key of a delta index says: a rule's entry, or that the rule is removed.
///
/// Full indexes hold only [`Record::Rule`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Record {
    /// The key's rule has this entry.
    Rule(Entry),
    /// The key has no rule: a tombstone, hiding the rule of the layers below.
    Removed,
}

impl Record {
    /// The record's bytes.
    pub(crate) fn encode(&self) -> [u8; ENTRY_RECORD] {
        match self {
            Record::Rule(e) => encode_entry(e),
            Record::Removed => TOMBSTONE,
        }
    }

    /// Decodes a record, or `None` if it holds values no writer produces. Tombstones
    /// decode only when `tombstones` is true (in delta indexes).
    pub(crate) fn decode(r: &[u8], tombstones: bool) -> Option<Record> {
        if tombstones && r == TOMBSTONE {
            return Some(Record::Removed);
        }
        decode_entry(r).map(Record::Rule)
    }

    /// The entry, unless this is a tombstone.
    pub(crate) fn entry(&self) -> Option<&Entry> {
        match self {
            Record::Rule(e) => Some(e),
            Record::Removed => None,
        }
    }
}

/// The contents of the delta section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DeltaInfo {
    /// The serial of the index the delta applies to, or 0 for any.
    pub base_serial: u64,
    /// Tombstones by kind, in [`RuleKind::ALL`] order.
    pub tombstones: [u64; 4],
}

impl DeltaInfo {
    pub(crate) fn encode(&self) -> [u8; DELTA_INFO] {
        let mut b = [0u8; DELTA_INFO];
        b[..8].copy_from_slice(&self.base_serial.to_le_bytes());
        for (i, t) in self.tombstones.iter().enumerate() {
            b[8 + 8 * i..16 + 8 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    /// Decodes the section; `Header::parse` checked its length.
    pub(crate) fn decode(b: &[u8]) -> DeltaInfo {
        let mut tombstones = [0u64; 4];
        for (i, t) in tombstones.iter_mut().enumerate() {
            *t = read_u64(b, 8 + 8 * i);
        }
        DeltaInfo {
            base_serial: read_u64(b, 0),
            tombstones,
        }
    }

    /// Tombstones of one kind.
    pub(crate) fn tombstones(&self, kind: RuleKind) -> u64 {
        self.tombstones[usize::from(kind.code() - 1)]
    }
}

/// Decodes an 8-byte entry record, or `None` if it holds values no writer produces.
pub(crate) fn decode_entry(r: &[u8]) -> Option<Entry> {
    let r: &[u8; ENTRY_RECORD] = r.try_into().ok()?;
    let status = Status::from_s13_code(r[0])?;
    let reasons = match r[1] {
        0 => crate::model::source::Reasons::none(),
        c => Reason::from_code(c)?.into(),
    };
    if r[2] != 0 || r[3] != 0 {
        return None;
    }
    let date = match u32::from_le_bytes([r[4], r[5], r[6], r[7]]) {
        0 => None,
        d => Some(Date::from_days_since_epoch(d - 1)?),
    };
    Some(Entry {
        status,
        reasons,
        date,
        start: None,
        earlier: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_records_round_trip() {
        let e = Entry::new(Status::Tracked)
            .with_reason(Reason::Duplicate)
            .with_date(Date::from_ymd(2024, 5, 21).unwrap());
        assert_eq!(decode_entry(&encode_entry(&e)), Some(e));
        let e = Entry::new(Status::Blocked);
        assert_eq!(decode_entry(&encode_entry(&e)), Some(e));
        assert_eq!(decode_entry(&[3, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode_entry(&[0, 7, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn tombstones_decode_only_in_deltas() {
        let e = Record::Rule(Entry::new(Status::Allowed));
        assert_eq!(Record::decode(&e.encode(), false), Some(e));
        assert_eq!(Record::decode(&TOMBSTONE, true), Some(Record::Removed));
        assert_eq!(Record::decode(&TOMBSTONE, false), None);
        assert_eq!(Record::decode(&[3, 1, 0, 0, 0, 0, 0, 0], true), None);
    }

    #[test]
    fn delta_info_round_trips() {
        let d = DeltaInfo {
            base_serial: 20240521,
            tombstones: [1, 2, 3, 4],
        };
        assert_eq!(DeltaInfo::decode(&d.encode()), d);
        assert_eq!(d.tombstones(RuleKind::Range), 3);
    }
}
