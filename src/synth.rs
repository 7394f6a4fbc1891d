//! Seeded synthetic lists and probes, shaped like real ones, for the demo, tests and
//! benchmarks.
//!
//! Real blocklists are clustered: the listed IMEIs fall into a few thousand TACs (handset
//! models), some models far more often than others, and within a TAC the serials are spread
//! evenly. [`ListShape`] draws IMEIs that way: TAC popularity follows a Zipf-like law, and
//! serials are uniform inside a TAC. Everything is a pure function of the seed.
//!
//! # Example
//!
//! ```
//! use imei_index::synth::ListShape;
//!
//! let shape = ListShape::new(10_000, 7);
//! let imeis: Vec<_> = shape.imeis().collect();
//! assert_eq!(imeis.len(), 10_000);
//! assert!(imeis.windows(2).all(|w| w[0] < w[1])); // sorted and distinct
//! assert_eq!(imeis, ListShape::new(10_000, 7).imeis().collect::<Vec<_>>());
//! ```

use std::collections::HashSet;

use crate::ident::{Imei, Imsi, Tac};
use crate::rule::{Date, Entry, Reason, Rule, Status};

/// A small, fast, seeded pseudo-random generator (SplitMix64). Not for cryptography.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), without modulo bias worth caring about for n < 2^40.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Shuffles a slice (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Serials per TAC that a synthetic list fills at most (of 1,000,000).
const TAC_FILL_CAP: u32 = 400_000;

/// How many distinct IMEIs a synthetic list holds and how they cluster in TACs.
#[derive(Clone, Debug)]
pub struct ListShape {
    /// The list's TACs with how many IMEIs each holds, sorted by TAC.
    tacs: Vec<(Tac, u32)>,
    seed: u64,
}

impl ListShape {
    /// The shape of a list of `n` distinct IMEIs.
    ///
    /// TACs number about one per 200 IMEIs (at least 64); the TAC of popularity rank `r`
    /// gets a share proportional to `1 / r^0.8`, capped at 40% of its serials.
    pub fn new(n: u64, seed: u64) -> ListShape {
        let mut rng = Rng::new(seed);
        let t = (n / 200).clamp(64, 2_000_000) as usize;
        let weights: Vec<f64> = (1..=t).map(|r| 1.0 / (r as f64).powf(0.8)).collect();
        let total: f64 = weights.iter().sum();
        let mut counts: Vec<u32> = weights
            .iter()
            .map(|w| ((n as f64 * w / total) as u64).min(u64::from(TAC_FILL_CAP)) as u32)
            .collect();
        // Give what rounding and capping left over to the most popular TACs with room,
        // adding TACs if every one is full.
        let mut left = n - counts.iter().map(|&c| u64::from(c)).sum::<u64>();
        let mut i = 0;
        while left > 0 {
            if i == counts.len() {
                counts.push(0);
            }
            let add = u64::from(TAC_FILL_CAP - counts[i]).min(left);
            counts[i] += add as u32;
            left -= add;
            i += 1;
        }
        let tacs = random_tacs(&mut rng, counts.len());
        let mut tacs: Vec<(Tac, u32)> = tacs
            .into_iter()
            .zip(counts)
            .filter(|&(_, c)| c > 0)
            .collect();
        tacs.sort_unstable();
        ListShape { tacs, seed }
    }

    /// The TACs and how many listed IMEIs each holds, sorted by TAC.
    pub fn tacs(&self) -> &[(Tac, u32)] {
        &self.tacs
    }

    /// How many IMEIs the list holds.
    pub fn len(&self) -> u64 {
        self.tacs.iter().map(|&(_, c)| u64::from(c)).sum()
    }

    /// True when the list holds no IMEI.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The list's IMEIs in ascending order, generated one TAC at a time (memory bounded
    /// by the largest TAC, so that lists of hundreds of millions can be streamed).
    pub fn imeis(&self) -> impl Iterator<Item = Imei> + '_ {
        self.tacs
            .iter()
            .enumerate()
            .flat_map(move |(i, &(tac, count))| {
                let mut rng = Rng::new(self.seed ^ (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
                sample_serials(&mut rng, count)
                    .into_iter()
                    .map(move |snr| Imei::from_parts(tac, snr).expect("serials are below 10^6"))
            })
    }
}

/// `n` distinct random TACs with realistic reporting-body prefixes (35, 86, 01, 49 …).
fn random_tacs(rng: &mut Rng, n: usize) -> Vec<Tac> {
    const PREFIXES: [(u32, u32); 6] = [(35, 50), (86, 30), (1, 8), (49, 5), (99, 4), (44, 3)];
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut pick = rng.below(100) as u32;
        let prefix = PREFIXES
            .iter()
            .find(|&&(_, w)| {
                let hit = pick < w;
                pick = pick.saturating_sub(w);
                hit
            })
            .map_or(35, |&(p, _)| p);
        let tac = prefix * 1_000_000 + rng.below(1_000_000) as u32;
        if seen.insert(tac) {
            out.push(Tac::from_u32(tac).expect("8 digits"));
        }
    }
    out
}

/// `count` distinct serials below 10^6, sorted.
fn sample_serials(rng: &mut Rng, count: u32) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::with_capacity(count as usize);
    while v.len() < count as usize {
        let missing = count as usize - v.len();
        v.extend((0..missing).map(|_| rng.below(1_000_000) as u32));
        v.sort_unstable();
        v.dedup();
    }
    v
}

/// Probes for checks: IMEIs to look up, drawn from a sorted list of listed IMEIs.
///
/// "Realistic" probes are what an EIR sees: nearly all unlisted, but from the same TACs as
/// listed handsets (a stolen phone shares its model with millions of honest ones).
/// `listed_share` of them are listed.
pub fn probes(listed: &[Imei], n: usize, listed_share: f64, seed: u64) -> Vec<Imei> {
    assert!(!listed.is_empty(), "probes need at least one listed IMEI");
    let mut rng = Rng::new(seed ^ 0x7072_6f62_6573);
    (0..n)
        .map(|_| {
            if rng.chance(listed_share) {
                return listed[rng.below(listed.len() as u64) as usize];
            }
            // An unlisted IMEI in the TAC of a random listed one.
            loop {
                let tac = listed[rng.below(listed.len() as u64) as usize].tac();
                let imei = Imei::from_parts(tac, rng.below(1_000_000) as u32).expect("serial");
                if listed.binary_search(&imei).is_err() {
                    return imei;
                }
            }
        })
        .collect()
}

/// Probes half listed, half uniformly random over all 10^14 IMEIs.
pub fn probes_half_random(listed: &[Imei], n: usize, seed: u64) -> Vec<Imei> {
    assert!(!listed.is_empty(), "probes need at least one listed IMEI");
    let mut rng = Rng::new(seed ^ 0x6861_6c66);
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                listed[rng.below(listed.len() as u64) as usize]
            } else {
                Imei::from_u64(rng.below(Imei::MAX.as_u64() + 1)).expect("below 10^14")
            }
        })
        .collect()
}

/// A random 15-digit Indian IMSI (MCC 404 or 405).
pub fn random_imsi(rng: &mut Rng) -> Imsi {
    let mcc = if rng.chance(0.5) { 404 } else { 405 };
    let mnc = rng.below(100);
    let msin = rng.below(10_000_000_000);
    let digits = format!("{mcc}{mnc:02}{msin:010}");
    Imsi::parse(&digits).expect("15 digits")
}

/// A synthetic national list shaped like the May 2024 order: handsets used in
/// cyber-crime blocked one by one, counterfeit models blocked whole, batches of IMEIs
/// under ranges, and genuine handsets with duplicated IMEIs allowed with their own SIMs.
#[derive(Clone, Debug)]
pub struct NationalList {
    /// Every rule of the list.
    pub rules: Vec<Rule>,
    /// The individually blocked handsets, sorted.
    pub blocked: Vec<Imei>,
    /// TACs blocked whole.
    pub blocked_tacs: Vec<Tac>,
    /// Tracked ranges (first, last).
    pub ranges: Vec<(Imei, Imei)>,
    /// Handsets allowed with one SIM inside a blocked TAC.
    pub pairs: Vec<(Imei, Imsi)>,
}

impl NationalList {
    /// Handsets blocked in the order the project is named after.
    pub const BLOCKED_HANDSETS: u64 = 28_200;

    /// Generates the list.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::synth::NationalList;
    ///
    /// let list = NationalList::generate(2024);
    /// assert_eq!(list.blocked.len() as u64, NationalList::BLOCKED_HANDSETS);
    /// assert!(!list.blocked_tacs.is_empty() && !list.ranges.is_empty() && !list.pairs.is_empty());
    /// ```
    pub fn generate(seed: u64) -> NationalList {
        let mut rng = Rng::new(seed);
        let shape = ListShape::new(NationalList::BLOCKED_HANDSETS, seed);
        let blocked: Vec<Imei> = shape.imeis().collect();
        let order_day = Date::from_ymd(2024, 5, 21).expect("a real day");
        let mut rules = Vec::new();
        for &imei in &blocked {
            let reason = match rng.below(10) {
                0..=6 => Reason::Fraud,
                7 | 8 => Reason::Stolen,
                _ => Reason::Lost,
            };
            let days_before = rng.below(365) as u32;
            let date = Date::from_days_since_epoch(order_day.days_since_epoch() - days_before)
                .expect("after 1970");
            rules.push(Rule::imei(
                imei,
                Entry::new(Status::Blocked)
                    .with_reason(reason)
                    .with_date(date),
            ));
        }
        // Counterfeit models, blocked whole: TACs never allocated, outside the list's TACs.
        let blocked_tacs: Vec<Tac> = (0..12)
            .map(|i| Tac::from_u32(86_990_000 + i * 37).expect("8 digits"))
            .collect();
        for &tac in &blocked_tacs {
            rules.push(Rule::tac(
                tac,
                Entry::new(Status::Blocked)
                    .with_reason(Reason::Counterfeit)
                    .with_date(order_day),
            ));
        }
        // Batches of duplicated IMEIs under watch, inside popular TACs of the list.
        let mut ranges = Vec::new();
        for i in 0..25 {
            let tac = shape.tacs()[rng.below(shape.tacs().len() as u64) as usize].0;
            let start = rng.below(990_000) as u32;
            let len = 100 + rng.below(5_000) as u32;
            let first = Imei::from_parts(tac, start).expect("serial");
            let last = Imei::from_parts(tac, (start + len).min(999_999)).expect("serial");
            ranges.push((first, last));
            let status = if i % 5 == 0 {
                Status::Blocked
            } else {
                Status::Tracked
            };
            rules.push(
                Rule::range(
                    first,
                    last,
                    Entry::new(status).with_reason(Reason::Duplicate),
                )
                .expect("first <= last"),
            );
        }
        // Genuine handsets in counterfeit TACs, allowed with the SIM they are paired with.
        let mut pairs = Vec::new();
        for i in 0..40 {
            let tac = blocked_tacs[i % blocked_tacs.len()];
            let imei = Imei::from_parts(tac, rng.below(1_000_000) as u32).expect("serial");
            let imsi = random_imsi(&mut rng);
            pairs.push((imei, imsi));
            rules.push(Rule::pair(
                imei,
                imsi,
                Entry::new(Status::Allowed).with_reason(Reason::Duplicate),
            ));
        }
        NationalList {
            rules,
            blocked,
            blocked_tacs,
            ranges,
            pairs,
        }
    }
}

/// Writes rules as a list file (see [`crate::list`]), with a header row.
///
/// # Errors
///
/// The writer's I/O errors.
pub fn write_list<W: std::io::Write>(mut w: W, rules: &[Rule]) -> std::io::Result<()> {
    writeln!(w, "imei,status,reason,imsi,date")?;
    for r in rules {
        writeln!(w, "{}", crate::list::format_row(r))?;
    }
    Ok(())
}
