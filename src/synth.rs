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

use std::collections::{HashMap, HashSet};

use crate::model::field::Reason;
use crate::model::ident::{Imei, Imsi, Tac};
use crate::model::rule::{Date, Entry, Rule, Status};

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
///
/// The serials of a TAC are the first `count` values of a seeded permutation of the
/// 1,000,000 serials, so that the list can also be streamed in random order
/// ([`ListShape::imeis_unsorted`]) and asked whether it holds an IMEI
/// ([`ListShape::contains`]) without being held in memory: what benchmarks of lists of
/// 100M IMEIs need.
#[derive(Clone, Debug)]
pub struct ListShape {
    /// The list's TACs with how many IMEIs each holds, sorted by TAC.
    tacs: Vec<(Tac, u32)>,
    /// IMEIs in the TACs before each one.
    before: Vec<u64>,
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
        let before = tacs
            .iter()
            .scan(0u64, |sum, &(_, c)| {
                let b = *sum;
                *sum += u64::from(c);
                Some(b)
            })
            .collect();
        ListShape { tacs, before, seed }
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
            .flat_map(move |(t, &(tac, count))| {
                let perm = self.serials(t);
                let mut serials: Vec<u32> = (0..count).map(|j| perm.apply(j)).collect();
                serials.sort_unstable();
                serials
                    .into_iter()
                    .map(move |snr| Imei::from_parts(tac, snr).expect("serials are below 10^6"))
            })
    }

    /// The list's IMEIs in a seeded random order, each once: unsorted input for builds.
    /// Memory is 8 bytes per TAC, whatever the list's length.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::synth::ListShape;
    ///
    /// let shape = ListShape::new(5_000, 3);
    /// let mut shuffled: Vec<_> = shape.imeis_unsorted(9).collect();
    /// assert!(shuffled.windows(2).any(|w| w[0] > w[1]));
    /// shuffled.sort();
    /// assert_eq!(shuffled, shape.imeis().collect::<Vec<_>>());
    /// ```
    pub fn imeis_unsorted(&self, seed: u64) -> impl Iterator<Item = Imei> + '_ {
        let order = Permutation::new(self.len(), seed ^ 0x756e_736f_7274);
        (0..self.len()).map(move |i| self.nth_listed(order.apply_u64(i)))
    }

    /// The `g`-th listed IMEI in the list's own (not ascending) order, `g < len()`.
    fn nth_listed(&self, g: u64) -> Imei {
        let t = self.before.partition_point(|&b| b <= g) - 1;
        let j = (g - self.before[t]) as u32;
        Imei::from_parts(self.tacs[t].0, self.serials(t).apply(j)).expect("serials are below 10^6")
    }

    /// True when the list holds the IMEI. O(log TACs), without generating the list.
    ///
    /// ```
    /// use imei_index::synth::ListShape;
    ///
    /// let shape = ListShape::new(2_000, 5);
    /// let listed: Vec<_> = shape.imeis().collect();
    /// assert!(listed.iter().all(|&i| shape.contains(i)));
    /// let next = imei_index::Imei::from_u64(listed[0].as_u64() + 1)?;
    /// assert_eq!(shape.contains(next), listed.binary_search(&next).is_ok());
    /// # Ok::<(), imei_index::IdError>(())
    /// ```
    pub fn contains(&self, imei: Imei) -> bool {
        let Ok(t) = self.tacs.binary_search_by_key(&imei.tac(), |&(tac, _)| tac) else {
            return false;
        };
        self.serials(t).invert(imei.snr()) < self.tacs[t].1
    }

    /// The permutation of serials of the TAC at position `t`.
    fn serials(&self, t: usize) -> Permutation {
        Permutation::new(
            SERIALS,
            self.seed ^ (t as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
        )
    }
}

/// Serials per TAC.
const SERIALS: u64 = 1_000_000;

/// A seeded pseudo-random permutation of `0..n`: a four-round Feistel network on the
/// smallest even number of bits that holds `n`, walking cycles back into range.
#[derive(Clone, Copy, Debug)]
struct Permutation {
    n: u64,
    half: u32,
    keys: [u64; 4],
}

impl Permutation {
    fn new(n: u64, seed: u64) -> Permutation {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        let mut rng = Rng::new(seed);
        Permutation {
            n,
            half: bits.div_ceil(2),
            keys: [
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            ],
        }
    }

    fn round(&self, key: u64, x: u64) -> u64 {
        let mut z = (x ^ key).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z ^= z >> 29;
        z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (z >> 32) & ((1 << self.half) - 1)
    }

    fn forward(&self, x: u64) -> u64 {
        let mask = (1 << self.half) - 1;
        let (mut l, mut r) = (x >> self.half, x & mask);
        for &k in &self.keys {
            (l, r) = (r, l ^ self.round(k, r));
        }
        (l << self.half) | r
    }

    fn backward(&self, x: u64) -> u64 {
        let mask = (1 << self.half) - 1;
        let (mut l, mut r) = (x >> self.half, x & mask);
        for &k in self.keys.iter().rev() {
            (l, r) = (r ^ self.round(k, l), l);
        }
        (l << self.half) | r
    }

    /// The image of `x < n`.
    fn apply_u64(&self, mut x: u64) -> u64 {
        // A permutation of the larger power-of-four domain restricted to 0..n by following
        // each cycle until it comes back into range: still a permutation.
        loop {
            x = self.forward(x);
            if x < self.n {
                return x;
            }
        }
    }

    fn apply(&self, x: u32) -> u32 {
        self.apply_u64(u64::from(x)) as u32
    }

    /// The `x` whose image is `y < n`.
    fn invert(&self, y: u32) -> u32 {
        let mut y = u64::from(y);
        loop {
            y = self.backward(y);
            if y < self.n {
                return y as u32;
            }
        }
    }
}

/// `n` distinct random TACs with realistic reporting-body prefixes (35, 86, 01, 49 …).
fn random_tacs(rng: &mut Rng, n: usize) -> Vec<Tac> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let tac = random_tac(rng);
        if seen.insert(tac) {
            out.push(tac);
        }
    }
    out
}

/// A random TAC with a realistic reporting-body prefix.
fn random_tac(rng: &mut Rng) -> Tac {
    const PREFIXES: [(u32, u32); 6] = [(35, 50), (86, 30), (1, 8), (49, 5), (99, 4), (44, 3)];
    let mut pick = rng.below(100) as u32;
    let prefix = PREFIXES
        .iter()
        .find(|&&(_, w)| {
            let hit = pick < w;
            pick = pick.saturating_sub(w);
            hit
        })
        .map_or(35, |&(p, _)| p);
    Tac::from_u32(prefix * 1_000_000 + rng.below(1_000_000) as u32).expect("8 digits")
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
    Imsi::from_len_value(15, random_imsi_value(rng)).expect("15 digits")
}

/// The digits of a random 15-digit Indian IMSI: MCC 404 or 405, a 2-digit MNC, 10 of MSIN.
fn random_imsi_value(rng: &mut Rng) -> u64 {
    let mcc = if rng.chance(0.5) { 404 } else { 405 };
    let mnc = rng.below(100);
    let msin = rng.below(10_000_000_000);
    (mcc * 100 + mnc) * 10_000_000_000 + msin
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

/// A seeded synthetic connection log: which SIM (IMSI), number (MSISDN) and handset (IMEI)
/// attached when, as an operator's attach logs or call records show it.
///
/// Rows are CSV, `imsi,msisdn,imei,time`, after a header row, in time order over the 30
/// days before the May 2024 order. A share of the connections use equipment that the
/// [`NationalList`] lists: the individually blocked handsets, handsets of counterfeit
/// models, duplicated IMEIs inside the listed ranges, and the genuine paired handsets (with
/// their own SIM or another one). Handsets used in fraud rotate SIMs: each connection of a
/// listed handset uses a SIM it was not seen with before with probability
/// [`new_sim_share`](ConnectionLog::new_sim_share), else one it was seen with. The rest of
/// the connections are honest handsets with their own SIMs, most of them of the same models
/// as listed ones. A small share of rows carry an IMEI field that is not an IMEI (empty,
/// truncated, or not digits), as real logs do.
///
/// [`ConnectionLog::order_shaped`] is the order's own shape: the 28,200 handsets seen with
/// about 2 million numbers, among more honest traffic.
///
/// The log says nothing about which rows are listed: that is the scan's job, and tests
/// compare it with a reference join.
///
/// # Example
///
/// ```
/// use imei_index::synth::{ConnectionLog, NationalList};
///
/// let list = NationalList::generate(1);
/// let mut csv = Vec::new();
/// ConnectionLog::new(1_000, 1).write(&list, &mut csv)?;
/// let text = String::from_utf8(csv).unwrap();
/// assert_eq!(text.lines().count(), 1_001);
/// assert!(text.starts_with("imsi,msisdn,imei,time\n"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConnectionLog {
    /// How many connections (rows after the header).
    pub rows: u64,
    /// The share of connections made with listed equipment (0 to 1).
    pub listed_share: f64,
    /// The share of rows whose IMEI field is not an IMEI (0 to 1).
    pub invalid_share: f64,
    /// The chance that a connection with listed equipment uses a SIM the handset was not
    /// seen with before (0 to 1; a handset's first connection always does).
    pub new_sim_share: f64,
    /// The seed: the same seed and list give the same log, byte for byte.
    pub seed: u64,
}

impl ConnectionLog {
    /// A log of `rows` connections, 5% of them with listed equipment (a new SIM in a
    /// quarter of their connections) and 0.1% with an IMEI field that is not an IMEI.
    pub fn new(rows: u64, seed: u64) -> ConnectionLog {
        ConnectionLog {
            rows,
            listed_share: 0.05,
            invalid_share: 0.001,
            new_sim_share: 0.25,
            seed,
        }
    }

    /// Rows of [`ConnectionLog::order_shaped`] in which the listed handsets are seen with
    /// about 2 million distinct numbers, as in the order.
    pub const ORDER_ROWS: u64 = 6_000_000;

    /// A log shaped like the May 2024 order inside an operator's attach log: at
    /// [`ORDER_ROWS`](ConnectionLog::ORDER_ROWS) rows, the listed handsets (the 28,200 of
    /// the order, blocked one by one, most of the traffic among them) are seen with about
    /// 2 million distinct numbers, nearly every connection with a SIM the handset had not
    /// used before, among nearly twice as many rows of honest traffic (36% of the
    /// connections are made with listed equipment).
    ///
    /// ```
    /// use imei_index::synth::ConnectionLog;
    ///
    /// let log = ConnectionLog::order_shaped(ConnectionLog::ORDER_ROWS, 2024);
    /// assert!(log.listed_share < 0.5 && log.new_sim_share > 0.9);
    /// ```
    pub fn order_shaped(rows: u64, seed: u64) -> ConnectionLog {
        ConnectionLog {
            rows,
            listed_share: 0.36,
            invalid_share: 0.001,
            new_sim_share: 0.95,
            seed,
        }
    }

    /// Writes the log, header first, and returns the bytes written.
    ///
    /// # Errors
    ///
    /// The writer's I/O errors.
    pub fn write<W: std::io::Write>(&self, list: &NationalList, mut w: W) -> std::io::Result<u64> {
        const HEADER: &[u8] = b"imsi,msisdn,imei,time\n";
        const DAY: u64 = 86_400;
        let mut rng = Rng::new(self.seed ^ 0x636f_6e6e);
        let start_day = Date::from_ymd(2024, 4, 21).expect("a real day");
        let span = 30 * DAY;
        let list_tacs: Vec<Tac> = {
            let mut t: Vec<Tac> = list.blocked.iter().map(|i| i.tac()).collect();
            t.dedup();
            t
        };
        let mut buf = Vec::with_capacity(1 << 16);
        let mut written = HEADER.len() as u64;
        // How many SIMs each listed handset has been seen with so far.
        let mut sims: HashMap<Imei, u64> = HashMap::new();
        // The day of the rows being written, and its text (rows are in time order).
        let mut day_text: (u32, Vec<u8>) = (u32::MAX, Vec::with_capacity(10));
        w.write_all(HEADER)?;
        for i in 0..self.rows {
            let (imei, sim) = if rng.chance(self.listed_share) {
                self.listed_connection(list, &mut rng, &mut sims)
            } else {
                // An honest handset, with its own SIM: of a listed model mostly.
                let tac = if rng.chance(0.7) && !list_tacs.is_empty() {
                    list_tacs[rng.below(list_tacs.len() as u64) as usize]
                } else {
                    random_tac(&mut rng)
                };
                let imei = Imei::from_parts(tac, rng.below(1_000_000) as u32).expect("serial");
                (imei, rng.next_u64() & !PAIRED_SIM)
            };
            let (imsi, imsi_len, msisdn) = subscriber(sim);
            let second = i * span / self.rows.max(1) + rng.below(60);
            let day = start_day.days_since_epoch() + (second / DAY) as u32;
            if day_text.0 != day {
                let (y, mo, d) = Date::from_days_since_epoch(day)
                    .expect("after 1970")
                    .to_ymd();
                day_text.1.clear();
                push_digits(&mut day_text.1, u64::from(y), 4);
                day_text.1.push(b'-');
                push_digits(&mut day_text.1, u64::from(mo), 2);
                day_text.1.push(b'-');
                push_digits(&mut day_text.1, u64::from(d), 2);
                day_text.0 = day;
            }
            let s = second % DAY;
            buf.clear();
            push_digits(&mut buf, imsi, imsi_len);
            buf.push(b',');
            push_digits(&mut buf, msisdn, 12);
            buf.push(b',');
            if rng.chance(self.invalid_share) {
                buf.extend_from_slice(match rng.below(4) {
                    0 => &b""[..],
                    1 => b"35209900",
                    2 => b"unknown",
                    _ => b"00000000000000000",
                });
            } else {
                push_digits(&mut buf, imei.as_u64(), 14);
                buf.push(b'0' + imei.check_digit());
            }
            buf.push(b',');
            buf.extend_from_slice(&day_text.1);
            buf.push(b'T');
            push_digits(&mut buf, s / 3600, 2);
            buf.push(b':');
            push_digits(&mut buf, s / 60 % 60, 2);
            buf.push(b':');
            push_digits(&mut buf, s % 60, 2);
            buf.extend_from_slice(b"Z\n");
            w.write_all(&buf)?;
            written += buf.len() as u64;
        }
        Ok(written)
    }

    /// A connection with listed equipment, and the seed of the SIM used.
    fn listed_connection(
        &self,
        list: &NationalList,
        rng: &mut Rng,
        sims: &mut HashMap<Imei, u64>,
    ) -> (Imei, u64) {
        // Handsets used in fraud rotate SIMs: a new one, or one this handset was seen with.
        let new_sim_share = self.new_sim_share;
        let mut sim_of = |imei: Imei, rng: &mut Rng| {
            let seen = sims.entry(imei).or_insert(0);
            let k = if *seen == 0 || rng.chance(new_sim_share) {
                *seen += 1;
                *seen - 1
            } else {
                rng.below(*seen)
            };
            Rng::new(self.seed ^ imei.as_u64() ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64()
                & !PAIRED_SIM
        };
        match rng.below(100) {
            0..=79 if !list.blocked.is_empty() => {
                let imei = list.blocked[rng.below(list.blocked.len() as u64) as usize];
                (imei, sim_of(imei, rng))
            }
            80..=89 if !list.blocked_tacs.is_empty() => {
                let tac = list.blocked_tacs[rng.below(list.blocked_tacs.len() as u64) as usize];
                let imei = Imei::from_parts(tac, rng.below(1_000) as u32).expect("serial");
                (imei, sim_of(imei, rng))
            }
            90..=95 if !list.ranges.is_empty() => {
                let (first, last) = list.ranges[rng.below(list.ranges.len() as u64) as usize];
                let n = last.as_u64() - first.as_u64() + 1;
                let imei = Imei::from_u64(first.as_u64() + rng.below(n)).expect("in range");
                (imei, sim_of(imei, rng))
            }
            _ if !list.pairs.is_empty() => {
                let (imei, imsi) = list.pairs[rng.below(list.pairs.len() as u64) as usize];
                if rng.chance(0.5) {
                    // Its own SIM: mark the seed as carrying the IMSI itself.
                    (imei, PAIRED_SIM | (imsi.len() as u64) << 56 | imsi.as_u64())
                } else {
                    (imei, sim_of(imei, rng))
                }
            }
            _ => (Imei::MIN, rng.next_u64() & !PAIRED_SIM),
        }
    }
}

/// Marks a SIM seed that carries an IMSI: its length in bits 56 to 59, its digits below
/// (10^15 < 2^50).
const PAIRED_SIM: u64 = 1 << 63;

/// The IMSI (digits, length) and MSISDN (12 digits: 91, then a 10-digit mobile number) of
/// a SIM seed.
fn subscriber(sim: u64) -> (u64, usize, u64) {
    let mut rng = Rng::new(sim);
    let msisdn = 910_000_000_000 + 6_000_000_000 + rng.below(4_000_000_000);
    if sim & PAIRED_SIM != 0 {
        (sim & ((1 << 56) - 1), (sim >> 56 & 0xf) as usize, msisdn)
    } else {
        (random_imsi_value(&mut rng), 15, msisdn)
    }
}

/// Appends `value` as exactly `width` decimal digits (leading zeros kept).
fn push_digits(buf: &mut Vec<u8>, mut value: u64, width: usize) {
    // A plain loop over a stack buffer: the demo writes millions of rows with this, and
    // the tests run it unoptimized.
    let mut digits = [b'0'; 20];
    let mut i = width;
    while i > 0 {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    buf.extend_from_slice(&digits[..width]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_bijections() {
        for (n, seed) in [(1u64, 1u64), (2, 2), (1000, 3), (4096, 4), (5000, 5)] {
            let p = Permutation::new(n, seed);
            let mut seen = vec![false; n as usize];
            for x in 0..n {
                let y = p.apply_u64(x);
                assert!(y < n && !seen[y as usize], "n {n}: {x} -> {y}");
                seen[y as usize] = true;
                assert_eq!(u64::from(p.invert(y as u32)), x);
            }
        }
    }

    #[test]
    fn unsorted_streams_hold_the_list() {
        let shape = ListShape::new(30_000, 11);
        let mut a: Vec<Imei> = shape.imeis_unsorted(1).collect();
        let sorted: Vec<Imei> = shape.imeis().collect();
        assert_ne!(a, sorted);
        a.sort_unstable();
        assert_eq!(a, sorted);
        assert!(sorted.iter().all(|&i| shape.contains(i)));
        let unlisted = probes(&sorted, 2_000, 0.0, 4);
        assert!(unlisted.iter().all(|&i| !shape.contains(i)));
    }
}
