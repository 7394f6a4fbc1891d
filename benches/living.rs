//! Living lists: applying a day's delta list against rebuilding from the full list,
//! merging, diffing, and checking through a `LiveIndex` or a `LayeredIndex` against
//! checking the `Index` directly: ratios in one run.
//!
//! `cargo bench --bench living`; 1M listed IMEIs by default (`IMEI_INDEX_BENCH_RULES`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imei_index::list::{DeltaReader, ListReader, format_change, format_row};
use imei_index::synth::{ListShape, Rng, probes};
use imei_index::{
    Apply, Change, Delta, DeltaBuilder, Entry, Imei, Index, IndexBuilder, LayeredIndex, LiveIndex,
    Merge, Reason, Rule, Status, Target, diff,
};

fn rules() -> u64 {
    std::env::var("IMEI_INDEX_BENCH_RULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn entry(rng: &mut Rng) -> Entry {
    Entry::new(Status::ALL[rng.below(3) as usize]).with_reason(Reason::ALL[rng.below(6) as usize])
}

fn index_of(imeis: &[Imei], seed: u64) -> Index {
    let mut rng = Rng::new(seed);
    let mut b = IndexBuilder::new();
    for &i in imeis {
        b.add(Rule::imei(i, entry(&mut rng)));
    }
    Index::from_bytes(b.build_to_vec().expect("build").0.into()).expect("open")
}

/// A day's changes: 0.5% of the list removed, as many changed, 1% added.
fn day(listed: &[Imei], fresh: &[Imei], seed: u64) -> Vec<Change> {
    let mut rng = Rng::new(seed);
    let mut changes = Vec::new();
    for &i in listed.iter().step_by(100) {
        changes.push(match rng.below(2) {
            0 => Change::Remove(Target::Imei(i), imei_index::Source::local(), None),
            _ => Change::Change(Rule::imei(i, entry(&mut rng))),
        });
    }
    changes.extend(
        fresh
            .iter()
            .map(|&i| Change::Add(Rule::imei(i, entry(&mut rng)))),
    );
    changes
}

fn delta_of(changes: &[Change]) -> Delta {
    let mut b = DeltaBuilder::new();
    for c in changes {
        b.add(c.clone());
    }
    b.build().expect("delta").0
}

fn living(c: &mut Criterion) {
    let n = rules();
    let all: Vec<Imei> = ListShape::new(n + n / 50, 2024).imeis().collect();
    // One IMEI in 51 is listed later, by the deltas.
    let listed: Vec<Imei> = (all.iter().enumerate())
        .filter(|(i, _)| i % 51 != 0)
        .map(|(_, &imei)| imei)
        .collect();
    let fresh: Vec<Imei> = all.iter().copied().step_by(51).collect();
    let base = index_of(&listed, 1);
    let (half_a, half_b) = fresh.split_at(fresh.len() / 2);
    let today = day(&listed, half_a, 2);
    let tomorrow = day(&listed[1..], half_b, 3);
    let deltas = vec![delta_of(&today), delta_of(&tomorrow)];
    let one = &deltas[..1];
    let (folded, _) = Apply::new(&base, one).build_to_vec().expect("apply");
    let folded = Index::from_bytes(folded.into()).expect("open");
    let rules_after: Vec<Rule> = folded.rules().collect();
    let list_after: String = rules_after.iter().map(|r| format_row(r) + "\n").collect();
    let delta_list: String = today.iter().map(|c| format_change(c) + "\n").collect();

    let mut g = c.benchmark_group(format!("update/{n}"));
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(5));
    // What an operator runs every day: a delta list applied to yesterday's index...
    g.bench_function("apply-delta-list", |b| {
        b.iter(|| {
            let mut d = DeltaBuilder::new();
            d.add_list(DeltaReader::new("delta", delta_list.as_bytes()), Err)
                .expect("delta list");
            let deltas = [d.build().expect("delta").0];
            black_box(
                Apply::new(&base, &deltas)
                    .build_to_vec()
                    .expect("apply")
                    .0
                    .len(),
            )
        })
    });
    // ... instead of building today's full list.
    g.bench_function("rebuild-from-list", |b| {
        b.iter(|| {
            let mut builder = IndexBuilder::new();
            builder
                .add_list(ListReader::new("list", list_after.as_bytes()), Err)
                .expect("list");
            black_box(builder.build_to_vec().expect("build").0.len())
        })
    });
    g.bench_function("apply-delta-index", |b| {
        b.iter(|| {
            black_box(
                Apply::new(&base, one)
                    .build_to_vec()
                    .expect("apply")
                    .0
                    .len(),
            )
        })
    });
    g.bench_function("rebuild-from-rules", |b| {
        b.iter(|| {
            let mut builder = IndexBuilder::new();
            for r in &rules_after {
                builder.add(r.clone());
            }
            black_box(builder.build_to_vec().expect("build").0.len())
        })
    });
    g.bench_function("diff", |b| {
        b.iter(|| black_box(diff(&base, &folded).count()))
    });
    let other = index_of(&fresh, 4);
    g.bench_function("merge-two", |b| {
        b.iter(|| {
            black_box(
                Merge::new(&[&base, &other])
                    .build_to_vec()
                    .expect("merge")
                    .0
                    .len(),
            )
        })
    });
    g.finish();

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("current.imeiidx");
    std::fs::write(&path, folded.as_bytes()).expect("write");
    let live = LiveIndex::open(&path).expect("live");
    let opened = Index::open(&path).expect("open");
    let layered1 = LayeredIndex::new(base.clone(), one.to_vec()).expect("layers");
    let layered2 = LayeredIndex::new(base.clone(), deltas.clone()).expect("layers");
    let batch = probes(&listed, 1 << 16, 0.5, 7);
    let mut g = c.benchmark_group(format!("check/{n}"));
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.warm_up_time(Duration::from_millis(200));
    g.measurement_time(Duration::from_secs(3));
    let mut run = |name: &str, check: &dyn Fn(Imei) -> bool| {
        g.bench_function(name, |b| {
            b.iter(|| batch.iter().filter(|&&i| check(i)).count())
        });
    };
    run("index", &|i| opened.check(i).is_listed());
    run("live-index", &|i| live.check(i).is_listed());
    run("layered-1-delta", &|i| layered1.check(i).is_listed());
    run("layered-2-deltas", &|i| layered2.check(i).is_listed());
    g.finish();
}

criterion_group!(benches, living);
criterion_main!(benches);
