//! Build rate: rules per second into an index file, from sorted and from unsorted input,
//! in memory and within a memory bound (spilling sorted runs), against building a raw
//! `fst::Map`, a `HashSet<u64>` and a sorted `Vec<u64>` of the same IMEIs.
//!
//! `cargo bench --bench build`; 2M rules by default (`IMEI_INDEX_BENCH_SIZES` for others).
//! Builds into a file include writing it and its `fsync`; `index-sorted-in-memory` does not.
//! Peak memory is not a criterion measurement: `imei-index bench` reports it, and
//! docs/performance.md has `/usr/bin/time -v` figures for 100M rules.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::label;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imei_index::synth::ListShape;
use imei_index::{Entry, Imei, IndexBuilder, Rule, Status};

fn build(c: &mut Criterion) {
    for n in common::sizes(&[2_000_000]) {
        let shape = ListShape::new(n, 2024);
        let sorted: Vec<Imei> = shape.imeis().collect();
        let unsorted: Vec<Imei> = shape.imeis_unsorted(7).collect();
        let dir = common::bench_dir();
        let out = dir.path().join("build.imeiidx");
        let index = |imeis: &[Imei], limit: Option<usize>| {
            let mut b = IndexBuilder::new();
            if let Some(limit) = limit {
                b.memory_limit(limit).temp_dir(dir.path());
            }
            for &i in imeis {
                b.add(Rule::imei(i, Entry::new(Status::Blocked)));
            }
            b.build_to_file(&out).expect("building")
        };

        let mut g = c.benchmark_group(format!("build/{}", label(n)));
        g.throughput(Throughput::Elements(n));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(100));
        g.measurement_time(Duration::from_secs(5));
        g.bench_function("index-sorted", |b| b.iter(|| index(&sorted, None)));
        // The same without the file: no write, no fsync; comparable to the fst row.
        g.bench_function("index-sorted-in-memory", |b| {
            b.iter(|| {
                let mut b = IndexBuilder::new();
                for &i in &sorted {
                    b.add(Rule::imei(i, Entry::new(Status::Blocked)));
                }
                black_box(b.build_to_vec().expect("building").0.len())
            })
        });
        g.bench_function("index-unsorted", |b| b.iter(|| index(&unsorted, None)));
        // A quarter of what the rules take in memory: four runs, merged.
        let quarter = (n as usize * 16 / 4).max(1 << 16);
        g.bench_function("index-unsorted-bounded", |b| {
            b.iter(|| index(&unsorted, Some(quarter)))
        });
        g.bench_function("fst-map-sorted", |b| {
            b.iter(|| {
                let mut m = fst::MapBuilder::memory();
                for &i in &sorted {
                    m.insert(common::key(i), 0).expect("sorted keys");
                }
                black_box(m.into_inner().expect("in memory").len())
            })
        });
        g.bench_function("hashset-unsorted", |b| {
            b.iter(|| black_box(common::hash_set(&unsorted).len()))
        });
        g.bench_function("sorted-vec-unsorted", |b| {
            b.iter(|| {
                let mut v = common::sorted_vec(&unsorted);
                v.sort_unstable();
                black_box(v.len())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, build);
criterion_main!(benches);
