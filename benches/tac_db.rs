//! GSMA's TAC database in the index: its bytes per TAC, and what it adds to a check.
//!
//! 1M listed IMEIs (`IMEI_INDEX_BENCH_RULES`) and a TAC database the size of GSMA's (300,000
//! TACs, `IMEI_INDEX_BENCH_TACS`: every TAC of the listed IMEIs, the rest spread over the
//! 8-digit space; 3,000 manufacturers, a model name per TAC). Probes are realistic: 0.1%
//! listed, the rest unlisted IMEIs of the same models, and 1% of those in TACs the
//! database does not list. Measured in one run: `check` on the index without the database,
//! with it and the policy off, with the policy on; `check_many` likewise; and, as the
//! baseline a server would otherwise keep beside its list, a `HashMap<u32, DeviceInfo>` of the
//! same table.
//!
//! `cargo bench --bench tac_db`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imei_index::synth::{ListShape, probes};
use imei_index::{
    DeviceInfo, Entry, Imei, Index, IndexBuilder, OpenOptions, Rule, Status, Tac, TacPolicy,
    TacTable,
};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A deterministic generator (xorshift64*).
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

const TYPES: [&str; 6] = [
    "Smartphone",
    "Feature phone",
    "Modem",
    "IoT Device",
    "Tablet",
    "Wearable",
];

fn table(listed: &[Imei], tacs: u64) -> TacTable {
    let mut t = TacTable::new();
    let mut state = 0x7ac_db5eed_u64;
    let info = |tac: u32, state: &mut u64| {
        let maker = next(state) % 3_000;
        DeviceInfo {
            manufacturer: format!("Manufacturer {maker:04}"),
            // A manufacturer sells under one brand or two.
            brand: format!("Brand {:04}", maker * 2 + next(state) % 2),
            model: format!("Model {tac:08}-{}", next(state) % 100),
            device_type: TYPES[(next(state) % 6) as usize].to_string(),
            allocated: imei_index::Date::from_days_since_epoch(
                10_000 + (next(state) % 10_000) as u32,
            ),
        }
    };
    for i in listed {
        let tac = i.tac();
        if t.get(tac).is_none() {
            let d = info(tac.as_u32(), &mut state);
            t.insert(tac, d);
        }
    }
    while (t.len() as u64) < tacs {
        let tac = Tac::from_u32((next(&mut state) % 100_000_000) as u32).expect("8 digits");
        let d = info(tac.as_u32(), &mut state);
        t.insert(tac, d);
    }
    t
}

fn tac_db(c: &mut Criterion) {
    let listed: Vec<Imei> = ListShape::new(env("IMEI_INDEX_BENCH_RULES", 1_000_000), 7)
        .imeis()
        .collect();
    let db = table(&listed, env("IMEI_INDEX_BENCH_TACS", 300_000));
    let map: HashMap<u32, DeviceInfo> = db.iter().map(|(t, d)| (t.as_u32(), d.clone())).collect();
    let build = |with_db: bool| -> bytes::Bytes {
        let mut b = IndexBuilder::new();
        for &i in &listed {
            b.add(Rule::imei(i, Entry::new(Status::Blocked)));
        }
        if with_db {
            b.tac_db(db.clone());
        }
        b.build_to_vec().expect("build").0.into()
    };
    let plain = Index::from_bytes(build(false)).expect("open");
    let bytes = build(true);
    let with_db = Index::from_bytes(bytes.clone()).expect("open");
    let policy = OpenOptions::new()
        .tac_policy(TacPolicy::new(Status::Tracked))
        .open_bytes(bytes)
        .expect("open");
    let (tacs, section) = with_db.stats().tac_db.expect("a TAC database");
    eprintln!(
        "tac_db: {} TACs in {} bytes: {:.2} bytes per TAC; index {} -> {} bytes",
        tacs,
        section,
        section as f64 / tacs as f64,
        plain.stats().file_bytes,
        with_db.stats().file_bytes
    );
    // 0.1% listed; of the rest, 1 in 100 in a TAC the database does not list.
    let mut probes = probes(&listed, 1 << 16, 0.001, 11);
    let mut state = 99u64;
    for p in probes.iter_mut() {
        if next(&mut state).is_multiple_of(100) {
            let tac = loop {
                let t = (next(&mut state) % 100_000_000) as u32;
                if !map.contains_key(&t) {
                    break t;
                }
            };
            *p = Imei::from_u64(u64::from(tac) * 1_000_000 + p.as_u64() % 1_000_000).expect("IMEI");
        }
    }
    let caught = probes
        .iter()
        .filter(|&&i| policy.check(i).policy().is_some())
        .count();
    let distinct: std::collections::HashSet<u32> =
        probes.iter().map(|i| i.tac().as_u32()).collect();
    eprintln!(
        "tac_db: the policy answers {caught} of {} probes, of {} distinct TACs",
        probes.len(),
        distinct.len()
    );

    let mut g = c.benchmark_group("tac_db");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(4));
    let mut at = 0usize;
    for (name, index) in [
        ("check, no TAC database", &plain),
        ("check, TAC database, policy off", &with_db),
        ("check, TAC database, policy on", &policy),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                at = (at + 1) & (probes.len() - 1);
                black_box(index.check(probes[at]))
            });
        });
    }
    g.bench_function("device(tac)", |b| {
        b.iter(|| {
            at = (at + 1) & (probes.len() - 1);
            black_box(
                with_db
                    .device(probes[at].tac())
                    .map(|d| d.model.as_bytes()[0]),
            )
        });
    });
    g.bench_function("baseline: HashMap<u32, DeviceInfo>::get", |b| {
        b.iter(|| {
            at = (at + 1) & (probes.len() - 1);
            black_box(
                map.get(&probes[at].tac().as_u32())
                    .map(|d| d.model.as_bytes()[0]),
            )
        });
    });
    g.throughput(Throughput::Elements(probes.len() as u64));
    for (name, index) in [
        ("check_many, no TAC database", &plain),
        ("check_many, TAC database, policy on", &policy),
    ] {
        g.bench_function(name, |b| b.iter(|| black_box(index.check_many(&probes))));
    }
    g.finish();
}

criterion_group!(benches, tac_db);
criterion_main!(benches);
