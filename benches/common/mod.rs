//! What the benchmarks share: list sizes, synthetic lists and probes, and the index and
//! baselines built from them. Every structure holds the same IMEIs and answers the same
//! probes, so that their times compare.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use imei_index::synth::{ListShape, probes, probes_half_random};
use imei_index::{Entry, Imei, Index, IndexBuilder, OpenOptions, Rule, Status, Verification};

/// Probes per probe set.
pub const PROBES: usize = 1 << 20;
/// Checks per measured iteration: a slice of the probe set, a different one each time, so
/// that a benchmark does not run warm on a few cached probes.
pub const BATCH: usize = 1024;

/// List sizes to benchmark: `IMEI_INDEX_BENCH_SIZES` (e.g. `30k,2M`), else 30k, 2M and
/// 20M, plus 100M when `IMEI_INDEX_BENCH_100M=1`.
pub fn sizes(default: &[u64]) -> Vec<u64> {
    let mut sizes: Vec<u64> = match std::env::var("IMEI_INDEX_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(parse_size).collect(),
        Err(_) => default.to_vec(),
    };
    if std::env::var("IMEI_INDEX_BENCH_100M").is_ok_and(|v| v == "1") {
        sizes.push(100_000_000);
    }
    sizes
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1_000),
        b'm' | b'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

/// "30k", "2M", "20M".
pub fn label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// A synthetic list and its probe sets.
pub struct Lists {
    pub n: u64,
    /// The listed IMEIs, ascending.
    pub listed: Vec<Imei>,
    /// 0.1% listed, the rest unlisted IMEIs from the listed IMEIs' TACs.
    pub realistic: Vec<Imei>,
    /// Half listed, half uniform over all IMEIs.
    pub half: Vec<Imei>,
}

impl Lists {
    pub fn new(n: u64) -> Lists {
        let listed: Vec<Imei> = ListShape::new(n, 2024).imeis().collect();
        let realistic = probes(&listed, PROBES, 0.001, 1);
        let half = probes_half_random(&listed, PROBES, 2);
        Lists {
            n,
            listed,
            realistic,
            half,
        }
    }
}

/// Builds an index of the list (every IMEI blocked) into `dir`, and opens it as an EIR
/// worker would: trusted, since `publish` verified it.
pub fn index_file(listed: &[Imei], dir: &Path, filter_bits: u32) -> (Index, PathBuf) {
    let path = dir.join(format!("list-{}-{filter_bits}.imeiidx", listed.len()));
    let mut b = IndexBuilder::new();
    b.filter_bits(filter_bits);
    for &i in listed {
        b.add(Rule::imei(i, Entry::new(Status::Blocked)));
    }
    b.build_to_file(&path)
        .expect("building the benchmark index");
    let index = OpenOptions::new()
        .verification(Verification::Trusted)
        .open(&path)
        .expect("opening the benchmark index");
    (index, path)
}

/// The raw `fst::Map` of the same 6-byte keys, every value 0.
pub fn fst_map(listed: &[Imei]) -> fst::Map<Vec<u8>> {
    fst::Map::from_iter(listed.iter().map(|i| (key(*i), 0u64))).expect("sorted keys")
}

/// The index's key of an IMEI: 6 bytes big-endian.
pub fn key(i: Imei) -> [u8; 6] {
    let b = i.as_u64().to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

pub fn hash_set(listed: &[Imei]) -> HashSet<u64> {
    listed.iter().map(|i| i.as_u64()).collect()
}

/// Bytes a `HashSet<u64>` holds on the heap: hashbrown's buckets of 8 bytes plus one
/// control byte each, plus 16 control bytes of padding.
pub fn hash_set_bytes(s: &HashSet<u64>) -> u64 {
    // hashbrown keeps capacity at 7/8 of a power-of-two bucket count.
    let buckets = if s.capacity() < 8 {
        (s.capacity() + 1).next_power_of_two()
    } else {
        (s.capacity() * 8 / 7).next_power_of_two()
    };
    (buckets * 9 + 16) as u64
}

pub fn sorted_vec(listed: &[Imei]) -> Vec<u64> {
    listed.iter().map(|i| i.as_u64()).collect()
}

/// An SQLite database file of the list: one `WITHOUT ROWID` table keyed by the IMEI, the
/// way an EIR would keep it in SQL.
pub fn sqlite(listed: &[Imei], dir: &Path) -> (rusqlite::Connection, u64) {
    let path = dir.join(format!("list-{}.sqlite", listed.len()));
    let _ = std::fs::remove_file(&path);
    let mut db = rusqlite::Connection::open(&path).expect("creating the SQLite database");
    db.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE blocked (imei INTEGER PRIMARY KEY, status INTEGER NOT NULL) WITHOUT ROWID;",
    )
    .expect("creating the table");
    let tx = db.transaction().expect("a transaction");
    {
        let mut insert = tx
            .prepare("INSERT INTO blocked VALUES (?1, 1)")
            .expect("the insert statement");
        for i in listed {
            insert.execute([i.as_u64() as i64]).expect("inserting");
        }
    }
    tx.commit().expect("committing");
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    (db, bytes)
}

/// True when the SQLite baseline should run at `n` rules: up to 20M (building a larger
/// database takes minutes), unless `IMEI_INDEX_BENCH_SQLITE=0`.
pub fn with_sqlite(n: u64) -> bool {
    n <= 20_000_000 && std::env::var("IMEI_INDEX_BENCH_SQLITE").map_or(true, |v| v != "0")
}

/// A directory for benchmark files beside the build's target, so that files of hundreds
/// of MiB stay off a small tmpfs.
pub fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    std::fs::create_dir_all(&base).expect("creating the target directory");
    tempfile::Builder::new()
        .prefix("imei-index-bench-")
        .tempdir_in(base)
        .expect("creating a benchmark directory")
}
