//! Damaged, foreign and hostile index files, through the library.
//!
//! What each verification level guarantees, and what these tests hold it to:
//!
//! * Every level checks the header: magic, version, header length, header checksum, the
//!   file length recorded in the header (so truncated and appended files fail), and the
//!   section table (every section inside the file, aligned, not overlapping). So an empty,
//!   foreign, truncated or extended file, or one with any header byte changed, is an
//!   `Error::Format` at every level, including `Trusted`.
//! * `Checksums` (the default) also checks every section's CRC-32, which catches every
//!   single-byte change anywhere in a section.
//! * `Full` also proves that every answer a check can give is the one the file's rules
//!   define (derived structures checked against the rules with the code checks use), in
//!   time bounded by the file's size, so that even a checksum-valid file written by a buggy
//!   or hostile tool is an error rather than a wrong answer or a hang later.
//! * `Trusted` does not look at section bytes. A damaged section may then give wrong
//!   answers, but nothing panics: checks and `Index::rules()` read the transducers through
//!   the crate's own bounds-checked reader. The tests hold checks and `rules()` to zero
//!   panics (panics are still caught and counted, so that a regression says where).

mod common;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use common::{build_bytes, build_bytes_transducer, build_bytes_v1, e, imei_n, imsi, sample_rules};
use imei_index::synth::{NationalList, Rng};
use imei_index::{
    Error, FormatError, Imei, Imsi, Index, OpenOptions, Rule, Section, Target, Verification,
};

// ---------------------------------------------------------------------------------------
// The file format, as documented in src/format.rs, written independently of the crate.
// ---------------------------------------------------------------------------------------

const MAGIC: &[u8; 8] = b"\x89IMEIDX\n";
const FIXED_HEADER: usize = 136;
const ROW: usize = 24;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn header_len(n: usize) -> usize {
    (FIXED_HEADER + ROW * n + 4).next_multiple_of(8)
}

/// A section table row.
#[derive(Clone, Copy, Debug)]
struct Row {
    id: u32,
    offset: usize,
    len: usize,
}

fn table(b: &[u8]) -> Vec<Row> {
    let n = u32_at(b, 128) as usize;
    (0..n)
        .map(|i| {
            let at = FIXED_HEADER + ROW * i;
            Row {
                id: u32_at(b, at),
                offset: u64_at(b, at + 8) as usize,
                len: u64_at(b, at + 16) as usize,
            }
        })
        .collect()
}

/// The byte range of a section, by id.
fn section_span(b: &[u8], id: u32) -> std::ops::Range<usize> {
    let r = table(b).into_iter().find(|r| r.id == id).unwrap();
    r.offset..r.offset + r.len
}

/// Recomputes every section checksum and the header checksum, as an honest writer would
/// after the test changed some bytes on purpose.
fn resign(b: &mut [u8]) {
    let rows = table(b);
    for (i, r) in rows.iter().enumerate() {
        if let Some(data) = b.get(r.offset..r.offset.saturating_add(r.len)) {
            let crc = crc32fast::hash(data);
            let at = FIXED_HEADER + ROW * i + 4;
            b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc_at = FIXED_HEADER + ROW * rows.len();
    let crc = crc32fast::hash(&b[..crc_at]);
    b[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Sets the file length field to the actual length.
fn set_file_len(b: &mut [u8]) {
    let len = b.len() as u64;
    b[16..24].copy_from_slice(&len.to_le_bytes());
}

/// The parts of an index file, to lay out with [`craft`].
#[derive(Clone, Debug)]
struct Parts {
    version: u32,
    serial: u64,
    /// Rule counts, [kind: pair, imei, range, tac][status: S13 code 0, 1, 2].
    counts: [[u64; 3]; 4],
    sections: Vec<(u32, Vec<u8>)>,
}

impl Parts {
    fn of(b: &[u8]) -> Parts {
        let mut counts = [[0; 3]; 4];
        for (k, row) in counts.iter_mut().enumerate() {
            for (s, c) in row.iter_mut().enumerate() {
                *c = u64_at(b, 32 + 8 * (3 * k + s));
            }
        }
        Parts {
            version: u32_at(b, 8),
            serial: u64_at(b, 24),
            counts,
            sections: table(b)
                .into_iter()
                .map(|r| (r.id, b[r.offset..r.offset + r.len].to_vec()))
                .collect(),
        }
    }

    fn section_mut(&mut self, id: u32) -> &mut Vec<u8> {
        &mut self.sections.iter_mut().find(|s| s.0 == id).unwrap().1
    }
}

/// Lays out an index file: header, section table, header checksum, then each section at
/// the next multiple of 8 (of 64 for the filter, whose blocks are cache lines), padding
/// zero.
fn craft(p: &Parts) -> Vec<u8> {
    let n = p.sections.len();
    let hlen = header_len(n);
    let mut body = vec![0u8; hlen];
    let mut rows = Vec::new();
    for (id, data) in &p.sections {
        let align = if *id == FILTER { 64 } else { 8 };
        body.resize(body.len().next_multiple_of(align), 0);
        rows.push((
            *id,
            crc32fast::hash(data),
            body.len() as u64,
            data.len() as u64,
        ));
        body.extend_from_slice(data);
    }
    let mut h = Vec::new();
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&p.version.to_le_bytes());
    h.extend_from_slice(&(hlen as u32).to_le_bytes());
    h.extend_from_slice(&(body.len() as u64).to_le_bytes());
    h.extend_from_slice(&p.serial.to_le_bytes());
    for c in p.counts.iter().flatten() {
        h.extend_from_slice(&c.to_le_bytes());
    }
    h.extend_from_slice(&(n as u32).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    for (id, crc, off, len) in rows {
        h.extend_from_slice(&id.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&off.to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
    }
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    body[..h.len()].copy_from_slice(&h);
    body
}

/// An fst map of (key, value) pairs, sorted by the caller.
fn fst_map(items: &[(&[u8], u64)]) -> Vec<u8> {
    let mut b = fst::MapBuilder::memory();
    for (k, v) in items {
        b.insert(k, *v).unwrap();
    }
    b.into_inner().unwrap()
}

/// An 8-byte entry record: status, reason, 0, 0, date + 1 (u32 LE).
fn entry_record(status: u8, reason: u8, date_plus_one: u32) -> Vec<u8> {
    let mut r = vec![status, reason, 0, 0];
    r.extend_from_slice(&date_plus_one.to_le_bytes());
    r
}

// Section ids (format.rs).
const ENTRIES: u32 = 1;
const IMEI: u32 = 2;
const TAC: u32 = 3;
const PAIR: u32 = 4;
const RANGE: u32 = 5;
const SEGMENTS: u32 = 6;
const FILTER: u32 = 0x8000_0007;
const IMEI_BLOCKS: u32 = 13;

// ---------------------------------------------------------------------------------------
// Opening and exercising, with panics caught and counted.
// ---------------------------------------------------------------------------------------

thread_local! {
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)`. The panic message is not printed: the
/// caller counts panics and asserts on them.
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                default(info);
            }
        }));
    });
    EXPECTING_PANIC.with(|c| c.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    EXPECTING_PANIC.with(|c| c.set(false));
    r.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// An error's message with its causes, as the CLI and the C API show it.
fn chain(err: &Error) -> String {
    imei_index::ErrorChain(err).to_string()
}

fn open(bytes: &[u8], level: Verification) -> Result<Index, Error> {
    OpenOptions::new()
        .verification(level)
        .open_bytes(bytes::Bytes::copy_from_slice(bytes))
}

fn is_format(r: &Result<Index, Error>) -> bool {
    matches!(r, Err(Error::Format { .. }))
}

/// IMEIs and IMSIs that touch every rule of `rules` and the spaces between them.
fn probes_for(rules: &[Rule]) -> (Vec<Imei>, Vec<Imsi>) {
    let mut imeis = vec![Imei::MIN, Imei::MAX];
    let mut imsis = vec![imsi("00101")];
    for r in rules {
        match r.target() {
            Target::Pair(i, s) => {
                imeis.push(i);
                imsis.push(s);
            }
            Target::Imei(i) => imeis.push(i),
            Target::Range(a, b) => {
                imeis.extend([a, b, imei_n((b.as_u64() + 1).min(Imei::MAX.as_u64()))]);
                imeis.push(imei_n(a.as_u64().saturating_sub(1)));
            }
            Target::Tac(t) => imeis.extend([t.first_imei(), t.last_imei()]),
        }
    }
    (imeis, imsis)
}

/// Uses every check path of an index.
fn exercise(index: &Index, imeis: &[Imei], imsis: &[Imsi]) {
    for &i in imeis {
        let _ = index.check(i);
        for s in imsis {
            let _ = index.check_with_imsi(i, s);
        }
    }
    let _ = index.check_many(imeis);
    let _ = index.stats();
}

/// What happened to one damaged file at one level.
#[derive(Debug, Default)]
struct Tally {
    rejected: usize,
    opened: usize,
    /// Panics while opening or checking.
    panics: Vec<(usize, String)>,
    /// Panics of `rules()`, which streams through `fst`, on files that opened.
    rules_panics: Vec<(usize, String)>,
}

/// Opens a damaged file at a level and, if it opens, exercises it; counts outcomes.
fn try_damaged(tally: &mut Tally, at: usize, bytes: &[u8], level: Verification, rules: &[Rule]) {
    let (imeis, imsis) = probes_for(rules);
    match catch(|| {
        let r = open(bytes, level);
        if let Ok(index) = &r {
            exercise(index, &imeis, &imsis);
        }
        r
    }) {
        Ok(Ok(index)) => {
            tally.opened += 1;
            if let Err(msg) = catch(|| index.rules().count()) {
                tally.rules_panics.push((at, msg));
            }
        }
        Ok(Err(e)) => {
            assert!(
                matches!(e, Error::Format { .. }),
                "damage at {at}, {level:?}: not a format error: {e}"
            );
            // Messages are sentences that name the problem.
            assert!(e.to_string().contains("not a usable index"), "{e}");
            tally.rejected += 1;
        }
        Err(msg) => tally.panics.push((at, msg)),
    }
}

// ---------------------------------------------------------------------------------------
// The helpers follow the format.
// ---------------------------------------------------------------------------------------

#[test]
fn the_test_layout_reproduces_built_files_byte_for_byte() {
    let (bytes, _) = build_bytes(&sample_rules());
    assert_eq!(craft(&Parts::of(&bytes)), bytes);
    let (empty, _) = build_bytes(&[]);
    assert_eq!(craft(&Parts::of(&empty)), empty);
    let mut resigned = bytes.clone();
    resign(&mut resigned);
    assert_eq!(resigned, bytes);
}

// ---------------------------------------------------------------------------------------
// Empty, foreign and missing files.
// ---------------------------------------------------------------------------------------

const LEVELS: [Verification; 3] = [
    Verification::Trusted,
    Verification::Checksums,
    Verification::Full,
];

#[test]
fn an_empty_index_is_a_format_error_in_memory_and_on_disk() {
    for level in LEVELS {
        let err = open(&[], level).unwrap_err();
        assert_eq!(err.as_format(), Some(&FormatError::Empty), "{level:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.imeiidx");
    std::fs::write(&path, b"").unwrap();
    for level in LEVELS {
        let err = OpenOptions::new()
            .verification(level)
            .open(&path)
            .unwrap_err();
        assert_eq!(err.as_format(), Some(&FormatError::Empty));
        let msg = err.to_string();
        assert!(
            msg.contains("empty.imeiidx") && msg.contains("empty"),
            "{msg}"
        );
    }
}

#[test]
fn foreign_files_are_not_indexes() {
    let mut rng = Rng::new(1);
    let random: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let csv = b"imei,status,reason,imsi,date\n35209900,blocked,counterfeit,,\n".to_vec();
    let foreign: Vec<(&str, Vec<u8>)> = vec![
        ("a list", csv),
        ("random bytes", random),
        ("a PNG", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
        ("an ELF", b"\x7fELF\x02\x01\x01\0".to_vec()),
        ("one byte", vec![0x00]),
        ("zeros", vec![0; 512]),
        // Texts mangled by a text-mode transfer (newline translated) lose the magic.
        ("CRLF magic", b"\x89IMEIDX\r\n".to_vec()),
        ("7-bit magic", b"\x09IMEIDX\n".to_vec()),
    ];
    for (what, bytes) in &foreign {
        for level in LEVELS {
            let err = open(bytes, level).unwrap_err();
            assert!(
                matches!(err.as_format(), Some(FormatError::Magic { .. })),
                "{what}, {level:?}: {err}"
            );
            assert!(chain(&err).contains("not an imei-index file"), "{err}");
        }
    }
    // The start of the magic, the magic alone, or a little more, is a truncated index.
    for len in [1, 7, 8, 9, 100, FIXED_HEADER - 1] {
        let mut b = MAGIC[..len.min(8)].to_vec();
        b.resize(len, 0);
        assert!(matches!(
            open(&b, Verification::Trusted).unwrap_err().as_format(),
            Some(FormatError::TooShort { .. })
        ));
    }
}

#[test]
fn a_missing_file_or_a_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.imeiidx");
    let err = Index::open(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { action: "open", .. }), "{err}");
    assert!(err.to_string().contains("missing.imeiidx"), "{err}");
    let err = Index::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "a directory: {err}");
}

// ---------------------------------------------------------------------------------------
// Truncated, extended and flipped files.
// ---------------------------------------------------------------------------------------

#[test]
fn a_truncated_index_is_an_error_at_every_offset_and_level() {
    let rules = sample_rules();
    let (bytes, _) = build_bytes(&rules);
    for len in 0..bytes.len() {
        for level in LEVELS {
            let r = catch(|| open(&bytes[..len], level)).unwrap_or_else(|p| {
                panic!("truncated to {len}, {level:?}: panicked: {p}");
            });
            assert!(is_format(&r), "truncated to {len}, {level:?}: {r:?}");
        }
    }
}

#[test]
fn a_truncated_index_file_is_an_error() {
    let (bytes, _) = build_bytes(&sample_rules());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.imeiidx");
    let step = (bytes.len() / 50).max(1);
    for len in (1..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        std::fs::write(&path, &bytes[..len]).unwrap();
        for level in LEVELS {
            let r = OpenOptions::new().verification(level).open(&path);
            assert!(is_format(&r), "truncated to {len}: {r:?}");
        }
    }
    std::fs::write(&path, &bytes).unwrap();
    assert!(Index::open(&path).is_ok());
}

#[test]
fn an_index_with_bytes_appended_is_an_error() {
    let (bytes, _) = build_bytes(&sample_rules());
    for extra in [1usize, 7, 8, 4096] {
        for fill in [0u8, 0xff] {
            let mut b = bytes.clone();
            b.resize(bytes.len() + extra, fill);
            for level in LEVELS {
                let err = open(&b, level).unwrap_err();
                assert_eq!(
                    err.as_format(),
                    Some(&FormatError::Length {
                        expected: bytes.len() as u64,
                        actual: b.len() as u64
                    })
                );
            }
        }
    }
}

#[test]
fn bytes_appended_and_declared_in_the_header_are_padding() {
    // A writer that extends the file and records its length: the tail is padding, so
    // zeros are harmless and anything else is an error.
    let rules = sample_rules();
    let (bytes, _) = build_bytes(&rules);
    let mut zeros = bytes.clone();
    zeros.resize(bytes.len() + 16, 0);
    set_file_len(&mut zeros);
    resign(&mut zeros);
    let index = open(&zeros, Verification::Full).unwrap();
    assert_eq!(index.rules().collect::<Vec<_>>().len(), rules.len());
    let mut junk = zeros.clone();
    let last = junk.len() - 1;
    junk[last] = b'!';
    for level in LEVELS {
        let err = open(&junk, level).unwrap_err();
        assert_eq!(
            err.as_format(),
            Some(&FormatError::Padding {
                offset: last as u64
            })
        );
    }
}

#[test]
fn every_byte_flipped_is_an_error_with_checksums() {
    let rules = sample_rules();
    for (bytes, level) in both_imei_layouts(&rules).into_iter().flat_map(|b| {
        [
            (b.clone(), Verification::Checksums),
            (b, Verification::Full),
        ]
    }) {
        let mut tally = Tally::default();
        for at in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] ^= mask;
                try_damaged(&mut tally, at, &b, level, &rules);
            }
        }
        assert!(tally.panics.is_empty(), "{level:?}: {:?}", tally.panics);
        assert_eq!(tally.opened, 0, "{level:?}: some damaged files opened");
    }
}

#[test]
fn nonzero_padding_is_an_error_at_every_level() {
    let (bytes, _) = build_bytes(&common::sample_rules());
    let rows = table(&bytes);
    // The padding after the header checksum, and between sections.
    let mut padding: Vec<usize> =
        (FIXED_HEADER + ROW * rows.len() + 4..header_len(rows.len())).collect();
    let mut spans: Vec<(usize, usize)> =
        rows.iter().map(|r| (r.offset, r.offset + r.len)).collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        padding.extend(w[0].1..w[1].0);
    }
    assert!(
        padding.len() > 4,
        "the sample index has padding between sections"
    );
    for at in padding {
        assert_eq!(bytes[at], 0, "writers zero padding");
        let mut b = bytes.clone();
        b[at] = 0x20;
        for level in LEVELS {
            let err = open(&b, level).unwrap_err();
            assert_eq!(
                err.as_format(),
                Some(&FormatError::Padding { offset: at as u64 }),
                "{level:?}"
            );
            assert!(chain(&err).contains(&format!("offset {at}")), "{err}");
        }
    }
}

#[test]
fn every_header_byte_flipped_is_an_error_even_when_trusted() {
    let rules = sample_rules();
    let (bytes, _) = build_bytes(&rules);
    let hlen = header_len(table(&bytes).len());
    let mut tally = Tally::default();
    for at in 0..hlen {
        for mask in [0x01u8, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            try_damaged(&mut tally, at, &b, Verification::Trusted, &rules);
        }
    }
    assert!(tally.panics.is_empty(), "{:?}", tally.panics);
    assert_eq!(tally.opened, 0, "a damaged header was trusted");
}

#[test]
fn a_flipped_section_byte_never_aborts_a_trusted_index() {
    let rules = sample_rules();
    for bytes in both_imei_layouts(&rules) {
        flipped_section_bytes_never_abort(&rules, &bytes);
    }
}

/// The file of today's builds (IMEI blocks) and of builds before them (IMEI transducer).
fn both_imei_layouts(rules: &[Rule]) -> [Vec<u8>; 2] {
    let blocks = build_bytes(rules).0;
    assert!(table(&blocks).iter().any(|r| r.id == IMEI_BLOCKS));
    let transducer = build_bytes_transducer(rules).0;
    assert!(!table(&transducer).iter().any(|r| r.id == IMEI_BLOCKS));
    [blocks, transducer]
}

fn flipped_section_bytes_never_abort(rules: &[Rule], bytes: &[u8]) {
    let hlen = header_len(table(bytes).len());
    let mut tally = Tally::default();
    for at in hlen..bytes.len() {
        for mask in [0x01u8, 0xff] {
            let mut b = bytes.to_vec();
            b[at] ^= mask;
            try_damaged(&mut tally, at, &b, Verification::Trusted, rules);
        }
    }
    // Reaching this line is the first guarantee: no damage aborted the process. Opening,
    // checking and iterating the rules never panic.
    eprintln!(
        "trusted, {} section bytes × 2 flips: {} rejected at open, {} opened, \
         {} panicked in checks, {} in rules()",
        bytes.len() - hlen,
        tally.rejected,
        tally.opened,
        tally.panics.len(),
        tally.rules_panics.len()
    );
    for (at, msg) in tally.rules_panics.iter().take(5) {
        eprintln!("  rules(), byte {at}: {msg}");
    }
    assert!(
        tally.panics.is_empty(),
        "checks panicked: {:?}",
        tally.panics
    );
    assert!(
        tally.rules_panics.is_empty(),
        "rules() panicked: {:?}",
        tally.rules_panics
    );
    assert_eq!(tally.rejected + tally.opened, 2 * (bytes.len() - hlen));
}

#[test]
fn damage_to_a_larger_index_is_caught() {
    let list = NationalList::generate(3);
    let (bytes, _) = build_bytes(&list.rules);
    let some_rules: Vec<Rule> = list.rules.iter().step_by(500).cloned().collect();
    let mut rng = Rng::new(11);
    let mut tally = Tally::default();
    let samples = 300;
    for _ in 0..samples {
        let at = rng.below(bytes.len() as u64) as usize;
        let mut b = bytes.clone();
        b[at] ^= 1 << rng.below(8);
        try_damaged(&mut tally, at, &b, Verification::Checksums, &some_rules);
        let len = rng.below(bytes.len() as u64) as usize;
        try_damaged(
            &mut tally,
            len,
            &bytes[..len],
            Verification::Trusted,
            &some_rules,
        );
    }
    assert!(tally.panics.is_empty(), "{:?}", tally.panics);
    assert_eq!((tally.opened, tally.rejected), (0, 2 * samples));
}

// ---------------------------------------------------------------------------------------
// Checksum-valid files that are structurally wrong: Full verification must say so.
// ---------------------------------------------------------------------------------------

/// Expects Full verification to reject the file with a format error, and the lower levels
/// not to panic when opening it or answering from it.
fn assert_full_rejects(what: &str, bytes: &[u8]) -> FormatError {
    let rules = sample_rules();
    let (imeis, imsis) = probes_for(&rules);
    let full = catch(|| open(bytes, Verification::Full))
        .unwrap_or_else(|p| panic!("{what}: Full verification panicked: {p}"));
    let err = match full {
        Ok(_) => panic!("{what}: Full verification accepted it"),
        Err(e) => e,
    };
    let source = err
        .as_format()
        .unwrap_or_else(|| panic!("{what}: not a format error: {err}"))
        .clone();
    for level in [Verification::Trusted, Verification::Checksums] {
        let r = catch(|| {
            if let Ok(index) = open(bytes, level) {
                exercise(&index, &imeis, &imsis);
            }
        });
        assert!(r.is_ok(), "{what}, {level:?}: panicked: {r:?}");
    }
    source
}

fn malformed_section(e: &FormatError) -> Option<Section> {
    match e {
        FormatError::Malformed { section, .. } => Some(*section),
        _ => None,
    }
}

#[test]
fn full_verification_rejects_checksum_valid_but_wrong_entries() {
    let (bytes, _) = build_bytes_v1(&sample_rules());
    for (what, record) in [
        ("a status no writer uses", entry_record(3, 0, 0)),
        ("a reason no writer uses", entry_record(1, 7, 0)),
        ("reserved bytes set", vec![1, 0, 1, 0, 0, 0, 0, 0]),
        ("a date after 9999", entry_record(1, 0, u32::MAX)),
    ] {
        let mut p = Parts::of(&bytes);
        p.section_mut(ENTRIES)[..8].copy_from_slice(&record);
        let err = assert_full_rejects(what, &craft(&p));
        assert_eq!(
            malformed_section(&err),
            Some(Section::Entries),
            "{what}: {err}"
        );
    }
    // An entries section that is not whole records.
    let mut p = Parts::of(&bytes);
    p.section_mut(ENTRIES).push(0);
    let err = assert_full_rejects("a partial record", &craft(&p));
    assert_eq!(malformed_section(&err), Some(Section::Entries), "{err}");
}

#[test]
fn full_verification_rejects_checksum_valid_but_wrong_keys_and_values() {
    let (bytes, _) = build_bytes_v1(&sample_rules());
    let entries = Parts::of(&bytes).sections[0].1.len() as u64 / 8;
    let imei_key = |n: u64| n.to_be_bytes()[2..].to_vec();
    let too_big = imei_key(100_000_000_000_000);
    let a = imei_key(35209900000000);
    let b = imei_key(35209900000009);
    let cases: Vec<(&str, u32, Vec<u8>, Section)> = vec![
        (
            "an IMEI key above 14 digits",
            IMEI,
            fst_map(&[(&too_big, 0)]),
            Section::Imei,
        ),
        (
            "an IMEI key of 5 bytes",
            IMEI,
            fst_map(&[(&a[..5], 0)]),
            Section::Imei,
        ),
        (
            "an IMEI value naming no entry",
            IMEI,
            fst_map(&[(&a, entries)]),
            Section::Imei,
        ),
        (
            "a TAC key above 8 digits",
            TAC,
            fst_map(&[(&100_000_000u32.to_be_bytes(), 0)]),
            Section::Tac,
        ),
        (
            "a pair key with a 4-digit IMSI",
            PAIR,
            fst_map(&[(&[a.clone(), vec![4, 0, 0, 0, 0, 0, 0, 1]].concat(), 0)]),
            Section::Pair,
        ),
        (
            "a pair key with an IMSI longer than its length",
            PAIR,
            fst_map(&[(
                &[a.clone(), vec![5, 0, 0, 0, 0, 0x01, 0x86, 0xa0]].concat(),
                0,
            )]),
            Section::Pair,
        ),
        (
            "a range that ends before it starts",
            RANGE,
            fst_map(&[(&[b.clone(), a.clone()].concat(), 0)]),
            Section::Range,
        ),
        (
            "a segment value naming no entry",
            SEGMENTS,
            fst_map(&[(&b, entries + 1)]),
            Section::Segments,
        ),
        (
            "not a transducer at all",
            IMEI,
            b"this is not a transducer, but its checksum is right".to_vec(),
            Section::Imei,
        ),
        ("an empty transducer section", TAC, Vec::new(), Section::Tac),
    ];
    for (what, id, data, section) in cases {
        let mut p = Parts::of(&bytes);
        *p.section_mut(id) = data;
        let err = assert_full_rejects(what, &craft(&p));
        assert_eq!(malformed_section(&err), Some(section), "{what}: {err}");
    }
}

#[test]
fn full_verification_rejects_counts_that_disagree_with_the_sections() {
    let (bytes, _) = build_bytes_v1(&sample_rules());
    let mut p = Parts::of(&bytes);
    p.counts[1][1] += 1;
    let err = assert_full_rejects("one rule too many counted", &craft(&p));
    assert!(
        matches!(err, FormatError::Header { offset: 32, .. }),
        "{err}"
    );
    // Segments without ranges.
    let mut p = Parts::of(&bytes);
    *p.section_mut(RANGE) = fst_map(&[]);
    p.counts[2] = [0; 3];
    let err = assert_full_rejects("segments without ranges", &craft(&p));
    assert_eq!(malformed_section(&err), Some(Section::Segments), "{err}");
}

#[test]
fn a_wrong_section_table_is_an_error_at_every_level() {
    let (bytes, _) = build_bytes(&sample_rules());
    let base = Parts::of(&bytes);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();

    let mut p = base.clone();
    p.sections.retain(|s| s.0 != PAIR);
    cases.push(("a missing section", craft(&p)));

    let mut p = base.clone();
    p.sections.push((TAC, fst_map(&[])));
    cases.push(("a section listed twice", craft(&p)));

    let mut p = base.clone();
    // An id no writer assigns (docs/compatibility.md reserves it); 7 is the delta section.
    p.sections.push((0x7FFF_FFFF, Vec::new()));
    cases.push(("an unknown required section", craft(&p)));

    let mut p = base.clone();
    p.version = 2;
    cases.push(("another version", craft(&p)));

    // Rows edited after layout, then re-signed.
    let row_field = |b: &mut Vec<u8>, row: usize, field: usize, v: u64| {
        let at = FIXED_HEADER + ROW * row + field;
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        resign(b);
    };
    let n = base.sections.len();
    let end = bytes.len() as u64;
    let mut b = bytes.clone();
    row_field(&mut b, n - 1, 16, end); // length past the end
    cases.push(("a section past the end", b));
    let mut b = bytes.clone();
    row_field(&mut b, 1, 8, u64::MAX - 7); // offset that overflows
    cases.push(("a section offset that overflows", b));
    let mut b = bytes.clone();
    let off1 = u64_at(&bytes, FIXED_HEADER + ROW + 8);
    row_field(&mut b, 1, 8, off1 + 1); // misaligned
    cases.push(("a misaligned section", b));
    let mut b = bytes.clone();
    row_field(&mut b, 0, 8, 0); // over the header
    cases.push(("a section over the header", b));
    let mut b = bytes.clone();
    let off2 = u64_at(&bytes, FIXED_HEADER + 2 * ROW + 8);
    row_field(&mut b, 1, 8, off2); // two sections at one offset
    cases.push(("overlapping sections", b));

    // Header fields edited, then re-signed.
    let mut b = bytes.clone();
    b[128..132].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(("a huge section count", b));
    let mut b = bytes.clone();
    b[12..16].copy_from_slice(&1u32.to_le_bytes());
    resign(&mut b);
    cases.push(("a wrong header length", b));

    for (what, b) in &cases {
        for level in LEVELS {
            let r = catch(|| open(b, level))
                .unwrap_or_else(|p| panic!("{what}, {level:?}: panicked: {p}"));
            let err = r
                .err()
                .unwrap_or_else(|| panic!("{what}, {level:?}: opened"));
            assert!(err.as_format().is_some(), "{what}: {err}");
        }
    }
}

#[test]
fn an_unknown_optional_section_is_ignored() {
    let (bytes, _) = build_bytes(&sample_rules());
    let mut p = Parts::of(&bytes);
    p.sections
        .push((0x8000_0001, b"from a newer writer".to_vec()));
    let crafted = craft(&p);
    let index = open(&crafted, Verification::Full).unwrap();
    let original = open(&bytes, Verification::Full).unwrap();
    assert_eq!(
        index.rules().collect::<Vec<_>>(),
        original.rules().collect::<Vec<_>>()
    );
}

#[test]
fn re_signed_flips_never_panic_under_full_verification() {
    // Every byte of every transducer flipped and the file re-signed: checksums pass, so
    // only Full verification stands between the damage and the transducer code. It must
    // reject the file, or accept a file that then answers without panicking.
    let rules = sample_rules();
    let mut full = Tally::default();
    let mut checksums = Tally::default();
    for bytes in both_imei_layouts(&rules) {
        for id in [ENTRIES, IMEI, TAC, PAIR, RANGE, SEGMENTS, IMEI_BLOCKS] {
            if !table(&bytes).iter().any(|r| r.id == id) {
                continue;
            }
            for at in section_span(&bytes, id) {
                for mask in [0x01u8, 0xff] {
                    let mut b = bytes.clone();
                    b[at] ^= mask;
                    resign(&mut b);
                    try_damaged(&mut full, at, &b, Verification::Full, &rules);
                    try_damaged(&mut checksums, at, &b, Verification::Checksums, &rules);
                }
            }
        }
    }
    eprintln!(
        "re-signed flips: Full rejected {}, accepted {}, panicked {}; \
         Checksums rejected {}, accepted {}, panicked {} (rules(): {})",
        full.rejected,
        full.opened,
        full.panics.len(),
        checksums.rejected,
        checksums.opened,
        checksums.panics.len(),
        checksums.rules_panics.len()
    );
    for (at, msg) in checksums.rules_panics.iter().take(5) {
        eprintln!("  Checksums, rules(), byte {at}: {msg}");
    }
    assert!(
        full.panics.is_empty() && full.rules_panics.is_empty(),
        "Full verification: {:?} {:?}",
        full.panics,
        full.rules_panics
    );
    // Checks and rules() never panic, whatever the level.
    assert!(
        checksums.panics.is_empty() && checksums.rules_panics.is_empty(),
        "Checksums: {:?} {:?}",
        checksums.panics,
        checksums.rules_panics
    );
    assert!(full.rejected > 0);
}

#[test]
fn a_damaged_file_does_not_stop_a_good_one_from_opening() {
    // Errors are values: after any number of failures the library still works.
    let rules = vec![Rule::imei(
        imei_n(35209900176148),
        e(imei_index::Status::Blocked),
    )];
    let (bytes, _) = build_bytes(&rules);
    for len in 0..bytes.len() {
        assert!(open(&bytes[..len], Verification::Checksums).is_err());
    }
    let index = open(&bytes, Verification::Full).unwrap();
    assert!(index.check(imei_n(35209900176148)).is_listed());
}

#[test]
fn format_errors_read_as_sentences_naming_where_the_bytes_came_from() {
    let err = open(b"imei,status\n", Verification::Checksums).unwrap_err();
    let msg = chain(&err);
    assert!(
        msg.starts_with(
            "the index in memory is not a usable index: this is not an imei-index file"
        ),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.csv");
    std::fs::write(&path, b"imei,status\n").unwrap();
    let msg = chain(&Index::open(&path).unwrap_err());
    assert!(
        msg.starts_with(&format!(
            "index file {} is not a usable index",
            path.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("not a list"), "says how to fix it: {msg}");
}

#[test]
fn full_verification_stops_at_the_keys_the_header_counts() {
    // A transducer of a few nodes can hold billions of keys: the walk must stop as soon as
    // a map holds more keys than the header counts, not after walking them all.
    let (bytes, _) = build_bytes_v1(&sample_rules());
    let mut p = Parts::of(&bytes);
    let keys: Vec<[u8; 4]> = (0..4096u32).map(|t| t.to_be_bytes()).collect();
    let items: Vec<(&[u8], u64)> = keys.iter().map(|k| (&k[..], 0)).collect();
    *p.section_mut(TAC) = fst_map(&items);
    let err = assert_full_rejects("a TAC map with more keys than counted", &craft(&p));
    assert_eq!(malformed_section(&err), Some(Section::Tac), "{err}");
    assert!(err.to_string().contains("more than the"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Full verification means it: derived structures are checked against the rules, with the
// code checks use, in time bounded by the file's size (issue #12).
// ---------------------------------------------------------------------------------------

/// The byte offset of the only occurrence of `pattern` in `hay`.
fn find_once(hay: &[u8], pattern: &[u8]) -> usize {
    let hits: Vec<usize> = hay
        .windows(pattern.len())
        .enumerate()
        .filter(|(_, w)| *w == pattern)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "pattern {pattern:02x?} found at {hits:?}");
    hits[0]
}

#[test]
fn full_verification_refuses_segments_that_disagree_with_the_ranges() {
    // The segments section of another file with the same entries: checksum-valid, every
    // key and value well-formed, and wrong. Checks read the segments only, so such a file
    // answers an IMEI inside its listed range `unknown` and one outside it `blocked`.
    let blocked = e(imei_index::Status::Blocked);
    let listed = Rule::range(
        imei_n(35209900100000),
        imei_n(35209900199999),
        blocked.clone(),
    )
    .unwrap();
    let other = Rule::range(
        imei_n(35209900300000),
        imei_n(35209900399999),
        blocked.clone(),
    )
    .unwrap();
    let (bytes, _) = build_bytes(std::slice::from_ref(&listed));
    let (elsewhere, _) = build_bytes(&[other]);
    let mut p = Parts::of(&bytes);
    *p.section_mut(SEGMENTS) = Parts::of(&elsewhere).section_mut(SEGMENTS).clone();
    let crafted = craft(&p);
    let index = open(&crafted, Verification::Checksums).unwrap();
    assert!(
        !index.check(imei_n(35209900150000)).is_listed(),
        "the hole this closes"
    );
    assert!(index.check(imei_n(35209900350000)).is_listed());
    let err = assert_full_rejects("segments of other ranges", &crafted);
    assert_eq!(malformed_section(&err), Some(Section::Segments), "{err}");
    assert!(err.to_string().contains("the ranges make"), "{err}");
    // Segments that differ only in an entry are caught too.
    let tracked = Rule::range(
        imei_n(35209900100000),
        imei_n(35209900199999),
        e(imei_index::Status::Tracked),
    )
    .unwrap();
    let (retagged, _) = build_bytes(&[tracked, Rule::imei(imei_n(35209900176148), blocked)]);
    let (base, _) = build_bytes(&[
        listed,
        Rule::imei(imei_n(35209900176148), e(imei_index::Status::Tracked)),
    ]);
    let mut p = Parts::of(&base);
    *p.section_mut(SEGMENTS) = Parts::of(&retagged).section_mut(SEGMENTS).clone();
    let err = assert_full_rejects("segments naming another entry", &craft(&p));
    assert_eq!(malformed_section(&err), Some(Section::Segments), "{err}");
}

/// Pair rules of one IMEI whose IMSIs differ in their last key byte only, by `steps`:
/// one transducer node with a transition per IMSI.
fn pair_fan(steps: &[u8]) -> (Vec<Rule>, Imei, Vec<Imsi>) {
    let imei = imei_n(35209900176148);
    let base = 404685505601234u64 & !0xff;
    let statuses = imei_index::Status::ALL;
    let imsis: Vec<Imsi> = steps
        .iter()
        .map(|&s| imsi(&(base + u64::from(s)).to_string()))
        .collect();
    let rules = imsis
        .iter()
        .enumerate()
        .map(|(i, &s)| Rule::pair(imei, s, e(statuses[i % statuses.len()])))
        .collect();
    (rules, imei, imsis)
}

#[test]
fn full_verification_refuses_a_transition_index_that_disagrees_with_the_inputs() {
    // 40 transitions out of one node: fst writes a 256-byte index (byte → transition),
    // which checks follow, while fst's own decoder (what Full used to walk) and dumps
    // read the inputs. An index that hides one input hides that pair rule from checks.
    let steps: Vec<u8> = (0..40).collect();
    let (rules, imei, imsis) = pair_fan(&steps);
    let (bytes, _) = build_bytes(&rules);
    let mut p = Parts::of(&bytes);
    let pair = p.section_mut(PAIR);
    let mut index_start: Vec<u8> = (0..40).collect();
    index_start.push(255);
    let at = find_once(pair, &index_start);
    pair[at + 5] = 255;
    let crafted = craft(&p);
    let index = open(&crafted, Verification::Checksums).unwrap();
    assert!(
        index.check_with_imsi(imei, &imsis[5]).rule() != Some(imei_index::RuleKind::Pair),
        "the hole this closes: a listed pair rule that checks miss"
    );
    assert!(
        index
            .rules()
            .any(|r| r.target() == Target::Pair(imei, imsis[5]))
    );
    let err = assert_full_rejects("a transition index hiding an input", &crafted);
    assert_eq!(malformed_section(&err), Some(Section::Pair), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("transition index") || msg.contains("lookup path"),
        "{err}"
    );
    // An index naming the wrong transition for an input.
    let mut p = Parts::of(&bytes);
    let pair = p.section_mut(PAIR);
    pair.swap(at + 3, at + 4);
    let err = assert_full_rejects("a transition index swapping two inputs", &craft(&p));
    assert_eq!(malformed_section(&err), Some(Section::Pair), "{err}");
}

#[test]
fn full_verification_refuses_inputs_out_of_order() {
    // Three transitions out of one node, their inputs stored in reverse: swapping two
    // makes the node's keys come out of order, so that lookups and dumps disagree.
    let (rules, imei, imsis) = pair_fan(&[0x10, 0x20, 0x30]);
    let (bytes, _) = build_bytes(&rules);
    let mut p = Parts::of(&bytes);
    let pair = p.section_mut(PAIR);
    let at = find_once(pair, &[0x30, 0x20, 0x10]);
    pair.swap(at, at + 1);
    let crafted = craft(&p);
    let err = assert_full_rejects("inputs out of order", &crafted);
    assert_eq!(malformed_section(&err), Some(Section::Pair), "{err}");
    assert!(err.to_string().contains("out of order"), "{err}");
    // At lower levels nothing panics, and the rules stream stays strictly increasing:
    // no duplicates in a dump.
    let index = open(&crafted, Verification::Checksums).unwrap();
    let dumped: Vec<Rule> = index.rules().collect();
    assert!(
        dumped.windows(2).all(|w| w[0].target() != w[1].target()),
        "{dumped:?}"
    );
    for s in &imsis {
        let _ = index.check_with_imsi(imei, s);
    }
}

/// An fst (format 3) of every 6-byte key whose first byte is at most `first_max`, all with
/// value 0, in a handful of hand-made nodes: (first_max + 1) × 2^40 keys in about 4 KiB.
/// What the writer would make from that many IMEI rules, were it ever given them.
fn dense_imei_fst(first_max: u8) -> (Vec<u8>, u64) {
    let mut b = Vec::new();
    b.extend_from_slice(&3u64.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    // One node: every input in `inputs` goes to `target`, output 0; returns its address.
    let node = |b: &mut Vec<u8>, inputs: &[u8], target: usize| -> usize {
        let start = b.len();
        let delta = if target == 0 { 0 } else { start - target };
        let tsize = (1..=8).find(|&n| n == 8 || delta < 1 << (8 * n)).unwrap();
        for _ in inputs {
            b.extend_from_slice(&delta.to_le_bytes()[..tsize]);
        }
        b.extend(inputs.iter().rev());
        if inputs.len() > 32 {
            let mut index = [255u8; 256];
            for (i, &x) in inputs.iter().enumerate() {
                index[usize::from(x)] = i as u8;
            }
            b.extend_from_slice(&index);
        }
        b.push((tsize as u8) << 4);
        if inputs.len() < 64 {
            b.push(inputs.len() as u8);
        } else {
            b.push(if inputs.len() == 256 {
                1
            } else {
                inputs.len() as u8
            });
            b.push(0);
        }
        b.len() - 1
    };
    let all: Vec<u8> = (0..=255).collect();
    let mut target = 0; // the empty final node
    for _ in 0..5 {
        target = node(&mut b, &all, target);
    }
    let firsts: Vec<u8> = (0..=first_max).collect();
    let root = node(&mut b, &firsts, target);
    let keys = (u64::from(first_max) + 1) << 40;
    b.extend_from_slice(&keys.to_le_bytes());
    b.extend_from_slice(&(root as u64).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    (b, keys)
}

/// The sample index with its IMEI map replaced by [`dense_imei_fst`], and a header that
/// counts every key: a ~4.7 KiB file claiming ~1.9 × 10^13 rules, all true.
fn claims_huge_counts() -> (Vec<u8>, u64) {
    let (bytes, _) = build_bytes_v1(&sample_rules());
    let mut p = Parts::of(&bytes);
    let (fst, keys) = dense_imei_fst(0x10);
    *p.section_mut(IMEI) = fst;
    // Without the filter, which holds the sample's IMEIs only.
    p.sections.retain(|s| s.0 != FILTER);
    let status = usize::from(p.section_mut(ENTRIES)[0]);
    p.counts[1] = [0; 3];
    p.counts[1][status] = keys;
    (craft(&p), keys)
}

/// Runs `f` on another thread and waits at most `secs` for it.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs)).ok()
}

#[test]
fn header_claimed_huge_counts_are_refused_fast() {
    // Full used to walk every key up to the header's count, here ~1.9 × 10^13: days.
    let (crafted, keys) = claims_huge_counts();
    assert!(crafted.len() < 5 * 1024, "{} bytes", crafted.len());
    let start = std::time::Instant::now();
    let file = crafted.clone();
    let r = within(20, move || {
        open(&file, Verification::Full)
            .map(drop)
            .map_err(|e| e.as_format().cloned())
    })
    .expect("Full verification of a 4.7 KiB file did not finish in 20 s");
    let took = start.elapsed();
    match r {
        Err(Some(FormatError::TooManyKeys { keys: k, limit, .. })) => {
            assert!(
                k >= keys && limit == imei_index::walk_limit(crafted.len() as u64),
                "{k} {limit}"
            )
        }
        other => panic!("not refused for its keys: {other:?}"),
    }
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    // The lower levels open it, check without panicking, and stream rules lazily.
    // (Operations that need every rule, such as diff and apply, stop after the steps of
    // walk_limit keys with TooManyKeys: some 30 million steps here, too slow for a test.)
    let index = open(&crafted, Verification::Checksums).unwrap();
    assert!(index.check(imei_n(1 << 40)).is_listed());
    assert_eq!(index.rules().take(1000).count(), 1000);
}

#[test]
fn walk_limit_leaves_room_for_real_lists() {
    // Lists of scattered IMEIs are far below the bound; so is a list of consecutive IMEIs
    // within the floor. Both pass Full.
    let list = NationalList::generate(5);
    let (bytes, _) = build_bytes(&list.rules);
    let index = open(&bytes, Verification::Full).unwrap();
    let keys = index.stats().rules();
    assert!(
        keys * 8 < bytes.len() as u64 * 8 * 8,
        "{keys} rules in {} bytes",
        bytes.len()
    );
    let run: Vec<Rule> = (0..300_000u64)
        .map(|i| Rule::imei(imei_n(35209900000000 + i), e(imei_index::Status::Blocked)))
        .collect();
    // The default filter takes a byte per IMEI key, so a default build holds about one
    // key per byte at most; without it, consecutive IMEIs pack far denser: in IMEI blocks,
    // a bitmap of a bit per IMEI (and rank counts); in the IMEI transducer that builds
    // before the blocks wrote, denser still (its nodes share every suffix).
    let (filtered, _) = build_bytes(&run);
    assert!(filtered.len() as u64 >= 300_000, "{} bytes", filtered.len());
    for transducer in [false, true] {
        let mut b = imei_index::IndexBuilder::new();
        b.filter_bits(0).imei_transducer(transducer);
        for r in &run {
            b.add(r.clone());
        }
        let (dense, _) = b.build_to_vec().unwrap();
        let most = if transducer { 300_000 / 8 } else { 300_000 / 7 };
        assert!(
            (dense.len() as u64) < most,
            "consecutive IMEIs pack densely: {} bytes",
            dense.len()
        );
        open(&dense, Verification::Full).unwrap();
    }
    open(&filtered, Verification::Full).unwrap();
}

#[test]
fn re_signed_deltas_never_panic_through_apply_or_layers() {
    // Every byte of every section of a delta flipped and re-signed, opened at the default
    // level (checksums pass) and applied to and layered over a good base: no panic, and
    // whatever Apply writes passes full verification.
    use imei_index::{Apply, Change, Delta, DeltaBuilder, LayeredIndex};
    let rules = sample_rules();
    let (base, _) = build_bytes(&rules);
    let base = open(&base, Verification::Full).unwrap();
    let mut d = DeltaBuilder::new();
    d.add(Change::Add(Rule::imei(
        imei_n(49015420323751),
        e(imei_index::Status::Blocked),
    )));
    d.add(Change::Remove(
        Target::Imei(imei_n(35417803685978)),
        imei_index::Source::local(),
        None,
    ));
    d.add(Change::Add(
        Rule::range(
            imei_n(35209900150000),
            imei_n(35209900150050),
            e(imei_index::Status::Allowed),
        )
        .unwrap(),
    ));
    d.add(Change::Remove(
        Target::Range(imei_n(35209900100000), imei_n(35209900199999)),
        imei_index::Source::local(),
        None,
    ));
    d.add(Change::Add(Rule::pair(
        imei_n(35209900176148),
        imsi("00101"),
        e(imei_index::Status::Tracked),
    )));
    let (delta, _) = d.build_to_vec().unwrap();
    let (imeis, imsis) = probes_for(&rules);
    let (mut opened, mut applied, mut panics) = (0, 0, Vec::new());
    for id in [ENTRIES, IMEI, TAC, PAIR, RANGE, SEGMENTS, 7] {
        for at in section_span(&delta, id) {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = delta.clone();
                b[at] ^= mask;
                resign(&mut b);
                let r = catch(|| {
                    let Ok(d) = Delta::from_bytes(b.clone().into()) else {
                        return (false, false);
                    };
                    let deltas = [d];
                    let out = Apply::new(&base, &deltas).build_to_vec();
                    if let Ok((bytes, _)) = &out {
                        open(bytes, Verification::Full)
                            .expect("what Apply writes passes full verification");
                    }
                    if let Ok(l) = LayeredIndex::new(base.clone(), deltas.to_vec()) {
                        for &i in &imeis {
                            let _ = l.check(i);
                            for s in &imsis {
                                let _ = l.check_with_imsi(i, s);
                            }
                        }
                        let _ = l.compact_to_vec();
                    }
                    (true, out.is_ok())
                });
                match r {
                    Ok((o, a)) => {
                        opened += usize::from(o);
                        applied += usize::from(a);
                    }
                    Err(msg) => panics.push((at, mask, msg)),
                }
            }
        }
    }
    eprintln!(
        "re-signed delta flips: {opened} opened, {applied} applied, {} panicked",
        panics.len()
    );
    assert!(panics.is_empty(), "{:?}", &panics[..panics.len().min(5)]);
    assert!(opened > 0 && applied > 0);
}

#[test]
fn a_live_index_with_full_verification_refuses_a_crafted_file_and_loads_the_next() {
    // A LiveIndex opened with Full used to wedge its watcher on the file above (verifying
    // it for days), never loading the next good publish, while checks silently went on
    // answering from the old list.
    use imei_index::LiveIndex;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current.imeiidx");
    let place = |bytes: &[u8]| {
        let staged = dir.path().join("staged");
        std::fs::write(&staged, bytes).unwrap();
        std::fs::rename(&staged, &current).unwrap();
    };
    let (good, _) = build_bytes(&sample_rules());
    let serial = |n: u64| {
        let mut p = Parts::of(&good);
        p.serial = n;
        craft(&p)
    };
    place(&serial(1));
    let mut options = OpenOptions::new();
    options.verification(Verification::Full);
    let live = LiveIndex::open_with(&current, options).unwrap();
    let watcher = live.watch(Duration::from_millis(5), |_| {}).unwrap();
    let wait_for =
        |what: &str, done: &dyn Fn() -> bool, watcher: &mut Option<imei_index::Watcher>| {
            let start = Instant::now();
            while !done() {
                if start.elapsed() > Duration::from_secs(20) {
                    // A wedged watcher cannot be joined: leave it, and fail.
                    std::mem::forget(watcher.take());
                    panic!("{what}: not within 20 s");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        };
    let mut watcher = Some(watcher);
    place(&claims_huge_counts().0);
    wait_for(
        "the crafted file refused",
        &|| live.refused() == 1,
        &mut watcher,
    );
    let refusal = live.last_refusal().expect("the refusal is reported");
    assert!(
        matches!(refusal.format, Some(FormatError::TooManyKeys { .. })),
        "{}",
        refusal.message
    );
    assert_eq!(live.serial(), 1, "the last good index keeps serving");
    // Polling again does not retry the refused file, nor wait.
    let start = Instant::now();
    assert_eq!(live.reload_if_changed().unwrap(), None);
    assert!(start.elapsed() < Duration::from_secs(1));
    place(&serial(2));
    wait_for(
        "the next good publish loaded",
        &|| live.serial() == 2,
        &mut watcher,
    );
    assert_eq!((live.refused(), live.last_refusal()), (1, None));
    if let Some(w) = watcher {
        w.stop();
    }
}
