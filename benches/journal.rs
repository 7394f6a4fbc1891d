//! The sightings journal's cost on the answer path: a check through a `LiveIndex` alone,
//! and the same check followed by `Journal::record` (the policy test and a bounded-queue
//! push), with the journal keeping every check or only the listed ones (half the probes),
//! and with the writer keeping up (files in a temporary directory, written every second).
//!
//! `cargo bench --bench journal`; 1M listed IMEIs by default (`IMEI_INDEX_BENCH_RULES`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imei_index::synth::{ListShape, probes};
use imei_index::{Entry, Imsi, IndexBuilder, LiveIndex, Rule, Status};
use imei_index_trace::{Journal, JournalOptions, Policy, Sighting};

fn rules() -> u64 {
    std::env::var("IMEI_INDEX_BENCH_RULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn journal(c: &mut Criterion) {
    let listed: Vec<imei_index::Imei> = ListShape::new(rules(), 7).imeis().collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("index.imeiidx");
    let mut b = IndexBuilder::new();
    for &i in &listed {
        b.add(Rule::imei(i, Entry::new(Status::Blocked)));
    }
    b.build_to_file(&path).expect("build");
    let live = LiveIndex::open(&path).expect("open");
    // Half listed handsets, half unlisted ones of the same models: a busy day's mix.
    let probes = probes(&listed, 1 << 16, 0.5, 11);
    let sim = Imsi::parse("404685505601234").expect("an IMSI");

    let mut g = c.benchmark_group("journal");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    let mut at = 0usize;
    g.bench_function("check", |b| {
        b.iter(|| {
            at = (at + 1) & (probes.len() - 1);
            black_box(live.check_with_imsi(probes[at], &sim))
        });
    });
    for (name, policy) in [
        ("check+record listed", Policy::LISTED),
        ("check+record all", Policy::ALL),
    ] {
        let journal = Journal::open(
            dir.path().join(name.replace(' ', "-")),
            JournalOptions::new().policy(policy).queue_capacity(1 << 20),
        )
        .expect("journal");
        g.bench_function(name, |b| {
            b.iter(|| {
                at = (at + 1) & (probes.len() - 1);
                let imei = probes[at];
                let verdict = live.check_with_imsi(imei, &sim);
                black_box(journal.record(&Sighting::new(imei, verdict).with_imsi(sim)))
            });
        });
        let stats = journal.close().expect("close");
        eprintln!(
            "journal ({name}): {} queued, {} dropped, {} written",
            stats.queued, stats.dropped, stats.written
        );
    }
    g.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
