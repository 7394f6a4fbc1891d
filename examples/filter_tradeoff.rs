//! The filter's size against its speed: builds the index of one synthetic list with
//! several filter sizes and times checks on each, beside a `HashSet<u64>` in the same run.
//!
//! `cargo run --release --example filter_tradeoff -- [RULES] [BITS,BITS,...]`
//! (default 20,000,000 rules; 0,4,6,8,10,12 bits per IMEI).

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

use imei_index::synth::{ListShape, probes, probes_half_random};
use imei_index::{Entry, Imei, Index, IndexBuilder, Rule, Status};

/// Nanoseconds per check, the best of three passes over the probes.
fn ns(probes: &[Imei], check: impl Fn(&[Imei]) -> usize) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(check(probes));
            t.elapsed().as_secs_f64() * 1e9 / probes.len() as f64
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map_or(20_000_000, |s| s.parse().expect("RULES"));
    let bits: Vec<u32> = args.next().map_or(vec![0, 4, 6, 8, 10, 12], |s| {
        s.split(',').map(|b| b.parse().expect("BITS")).collect()
    });
    let listed: Vec<Imei> = ListShape::new(n, 2024).imeis().collect();
    let real = probes(&listed, 1_000_000, 0.001, 1);
    let half = probes_half_random(&listed, 1_000_000, 2);
    let set: HashSet<u64> = listed.iter().map(|i| i.as_u64()).collect();
    let set_real = ns(&real, |p| {
        p.iter().filter(|i| set.contains(&i.as_u64())).count()
    });
    let set_half = ns(&half, |p| {
        p.iter().filter(|i| set.contains(&i.as_u64())).count()
    });
    drop(set);
    println!("{n} rules; HashSet<u64>: realistic {set_real:.0} ns, 50/50 {set_half:.0} ns");
    println!(
        "bits  bytes/IMEI  check realistic  check 50/50  check_many realistic  check_many 50/50"
    );
    for b in bits {
        let mut builder = IndexBuilder::new();
        builder.filter_bits(b);
        for &i in &listed {
            builder.add(Rule::imei(i, Entry::new(Status::Blocked)));
        }
        let (bytes, _) = builder.build_to_vec().expect("building in memory");
        let size = bytes.len() as f64 / n as f64;
        let index = Index::from_bytes(bytes.into()).expect("a fresh index");
        let one = |p: &[Imei]| p.iter().filter(|&&i| index.check(i).is_listed()).count();
        let many = |p: &[Imei]| {
            p.chunks(4096)
                .map(|c| index.check_many(c).iter().filter(|v| v.is_listed()).count())
                .sum()
        };
        let (r1, h1, rm, hm) = (
            ns(&real, one),
            ns(&half, one),
            ns(&real, many),
            ns(&half, many),
        );
        println!(
            "{b:>4}  {size:>10.2}  {r1:>6.0} ({:.1}x)  {h1:>6.0} ({:.1}x)  {rm:>8.0} ({:.1}x)  {hm:>8.0} ({:.1}x)",
            r1 / set_real,
            h1 / set_half,
            rm / set_real,
            hm / set_half
        );
    }
}
