//! Checks per second: the index (one at a time and in batches) against `HashSet<u64>`, a
//! sorted `Vec<u64>`, a raw `fst::Map` and SQLite, on the same list and probes.
//!
//! `cargo bench --bench checks`; sizes as in `benches/common` (30k, 2M, 20M; 100M with
//! `IMEI_INDEX_BENCH_100M=1`). Each iteration checks 1024 probes, a different slice of a
//! 2^20-probe set each time; throughput is in checks per second.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{BATCH, Lists, label};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use imei_index::Imei;

/// Measures `check` on consecutive slices of `probes`, returning how many were listed.
fn run(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    probes: &[Imei],
    mut check: impl FnMut(&[Imei]) -> usize,
) {
    g.bench_function(name, |b| {
        let mut at = 0;
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                if at + BATCH > probes.len() {
                    at = 0;
                }
                black_box(check(&probes[at..at + BATCH]));
                at += BATCH;
            }
            start.elapsed()
        });
    });
}

fn checks(c: &mut Criterion) {
    for n in common::sizes(&[30_000, 2_000_000, 20_000_000]) {
        let lists = Lists::new(n);
        let dir = common::bench_dir();
        let (index, path) =
            common::index_file(&lists.listed, dir.path(), imei_index::DEFAULT_FILTER_BITS);
        let set = common::hash_set(&lists.listed);
        let vec = common::sorted_vec(&lists.listed);
        let map = common::fst_map(&lists.listed);
        let sqlite = common::with_sqlite(n).then(|| common::sqlite(&lists.listed, dir.path()));
        let file_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        eprintln!(
            "{} rules: index {:.2} bytes/rule, HashSet {:.2}, sorted Vec 8.00, fst map {:.2}{}",
            label(n),
            file_bytes as f64 / n as f64,
            common::hash_set_bytes(&set) as f64 / n as f64,
            map.as_fst().as_bytes().len() as f64 / n as f64,
            sqlite.as_ref().map_or(String::new(), |(_, b)| format!(
                ", SQLite {:.2}",
                *b as f64 / n as f64
            )),
        );
        for (probe_set, probes) in [("realistic", &lists.realistic), ("50-50", &lists.half)] {
            let mut g = c.benchmark_group(format!("check/{probe_set}/{}", label(n)));
            g.throughput(Throughput::Elements(BATCH as u64));
            g.sample_size(20);
            g.warm_up_time(Duration::from_millis(500));
            g.measurement_time(Duration::from_secs(2));
            run(&mut g, "index-check", probes, |p| {
                p.iter().filter(|&&i| index.check(i).is_listed()).count()
            });
            run(&mut g, "index-check_many", probes, |p| {
                index.check_many(p).iter().filter(|v| v.is_listed()).count()
            });
            run(&mut g, "hashset", probes, |p| {
                p.iter().filter(|i| set.contains(&i.as_u64())).count()
            });
            run(&mut g, "sorted-vec", probes, |p| {
                p.iter()
                    .filter(|i| vec.binary_search(&i.as_u64()).is_ok())
                    .count()
            });
            run(&mut g, "fst-map-get", probes, |p| {
                p.iter()
                    .filter(|&&i| map.get(common::key(i)).is_some())
                    .count()
            });
            if let Some((db, _)) = &sqlite {
                let mut stmt = db
                    .prepare_cached("SELECT status FROM blocked WHERE imei = ?1")
                    .expect("the select statement");
                run(&mut g, "sqlite", probes, |p| {
                    p.iter()
                        .filter(|i| {
                            stmt.query_row([i.as_u64() as i64], |r| r.get::<_, i64>(0))
                                .is_ok()
                        })
                        .count()
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, checks);
criterion_main!(benches);
