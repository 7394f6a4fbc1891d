//! `check_many` answers what `check` answers, and both answer what a simple model of the
//! precedence rules says, with and without the filter; and no checksum-valid file, however
//! its transducers were tampered with, makes a check panic.

use std::collections::HashMap;

use imei_index::{Entry, Imei, Imsi, Index, IndexBuilder, Reason, Rule, RuleKind, Status, Tac};
use imei_index::{Verdict, Verification};
use proptest::prelude::*;

/// A handful of TACs, so that random rules and probes meet.
const TACS: [u32; 4] = [35_209_900, 35_209_901, 86_000_000, 1_000_000];

fn imei(tac: usize, snr: u32) -> Imei {
    Imei::from_parts(
        Tac::from_u32(TACS[tac % TACS.len()]).unwrap(),
        snr % 1_000_000,
    )
    .unwrap()
}

fn entry() -> impl Strategy<Value = Entry> {
    (0u8..3, proptest::option::of(1u8..=6)).prop_map(|(s, r)| {
        let e = Entry::new(Status::from_s13_code(s).unwrap());
        match r.and_then(Reason::from_code) {
            Some(r) => e.with_reason(r),
            None => e,
        }
    })
}

/// Serials from a small range, so that rules collide and probes hit them.
fn snr() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..64, 999_950u32..1_000_000, any::<u32>()]
}

#[derive(Clone, Debug)]
enum Spec {
    Imei(usize, u32),
    Range(usize, u32, u32),
    Tac(usize),
    Pair(usize, u32, u64),
}

fn spec() -> impl Strategy<Value = (Spec, Entry)> {
    let s = prop_oneof![
        6 => (0..TACS.len(), snr()).prop_map(|(t, s)| Spec::Imei(t, s)),
        2 => (0..TACS.len(), snr(), 0u32..200).prop_map(|(t, s, w)| Spec::Range(t, s, w)),
        1 => (0..TACS.len()).prop_map(Spec::Tac),
        1 => (0..TACS.len(), 0u32..64, 0u64..3).prop_map(|(t, s, i)| Spec::Pair(t, s, i)),
    ];
    (s, entry())
}

fn imsi(i: u64) -> Imsi {
    Imsi::parse(&format!("40468550560{:04}", i)).unwrap()
}

fn rule(spec: &Spec, e: Entry) -> Rule {
    match *spec {
        Spec::Imei(t, s) => Rule::imei(imei(t, s), e),
        Spec::Range(t, s, w) => {
            let a = imei(t, s);
            let b = Imei::from_u64((a.as_u64() + u64::from(w)).min(Imei::MAX.as_u64())).unwrap();
            Rule::range(a, b, e).unwrap()
        }
        Spec::Tac(t) => Rule::tac(Tac::from_u32(TACS[t]).unwrap(), e),
        Spec::Pair(t, s, i) => Rule::pair(imei(t, s), imsi(i), e),
    }
}

/// The verdict that the precedence rules give, straight from the rule list.
struct Model {
    exact: HashMap<u64, Entry>,
    ranges: Vec<(u64, u64, Entry)>,
    tacs: HashMap<u32, Entry>,
    pairs: HashMap<(u64, Imsi), Entry>,
}

/// Between two entries for one target, the one that wins.
fn stronger(a: Entry, b: Entry) -> Entry {
    let key = |e: &Entry| {
        (
            e.status != Status::Allowed,
            e.status == Status::Blocked,
            e.date,
            e.reasons.clone(),
        )
    };
    if key(&b) > key(&a) { b } else { a }
}

impl Model {
    fn new(rules: &[Rule]) -> Model {
        let mut m = Model {
            exact: HashMap::new(),
            ranges: Vec::new(),
            tacs: HashMap::new(),
            pairs: HashMap::new(),
        };
        let mut ranges: HashMap<(u64, u64), Entry> = HashMap::new();
        for r in rules {
            let e = r.entry.clone();
            match r.target() {
                imei_index::Target::Imei(i) => {
                    let slot = m.exact.entry(i.as_u64()).or_insert(e.clone());
                    *slot = stronger(slot.clone(), e);
                }
                imei_index::Target::Range(a, b) => {
                    let slot = ranges.entry((a.as_u64(), b.as_u64())).or_insert(e.clone());
                    *slot = stronger(slot.clone(), e);
                }
                imei_index::Target::Tac(t) => {
                    let slot = m.tacs.entry(t.as_u32()).or_insert(e.clone());
                    *slot = stronger(slot.clone(), e);
                }
                imei_index::Target::Pair(i, s) => {
                    let slot = m.pairs.entry((i.as_u64(), s)).or_insert(e.clone());
                    *slot = stronger(slot.clone(), e);
                }
            }
        }
        m.ranges = ranges.into_iter().map(|((a, b), e)| (a, b, e)).collect();
        m
    }

    fn check(&self, i: Imei) -> Verdict {
        let x = i.as_u64();
        if let Some(e) = self.exact.get(&x) {
            return Verdict::listed(RuleKind::Imei, e);
        }
        // Narrowest range; then the more severe status, the later date; then the earlier
        // start (docs/semantics.md, rules 3 to 5).
        let best = self
            .ranges
            .iter()
            .filter(|r| r.0 <= x && x <= r.1)
            .min_by(|p, q| {
                (p.1 - p.0)
                    .cmp(&(q.1 - q.0))
                    .then_with(|| (q.2.status, q.2.date).cmp(&(p.2.status, p.2.date)))
                    .then(p.0.cmp(&q.0))
            });
        if let Some((_, _, e)) = best {
            return Verdict::listed(RuleKind::Range, e);
        }
        match self.tacs.get(&i.tac().as_u32()) {
            Some(e) => Verdict::listed(RuleKind::Tac, e),
            None => Verdict::unknown(),
        }
    }

    fn check_with_imsi(&self, i: Imei, s: &Imsi) -> Verdict {
        match self.pairs.get(&(i.as_u64(), *s)) {
            Some(e) => Verdict::listed(RuleKind::Pair, e),
            None => self.check(i),
        }
    }
}

fn build(rules: &[Rule], filter_bits: u32) -> Index {
    let mut b = IndexBuilder::new();
    b.filter_bits(filter_bits);
    for r in rules {
        b.add(r.clone());
    }
    Index::from_bytes(b.build_to_vec().unwrap().0.into()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn check_many_equals_check_and_the_model(
        specs in prop::collection::vec(spec(), 0..120),
        probes in prop::collection::vec((0..TACS.len(), snr()), 0..700),
        filter_bits in prop_oneof![Just(0u32), Just(1), Just(8), 2u32..14],
    ) {
        let rules: Vec<Rule> = specs.iter().map(|(s, e)| rule(s, e.clone())).collect();
        let model = Model::new(&rules);
        let index = build(&rules, filter_bits);
        // Probes: random ones, and every IMEI a rule names, with its neighbours.
        let mut imeis: Vec<Imei> = probes.iter().map(|&(t, s)| imei(t, s)).collect();
        for r in &rules {
            if let imei_index::Target::Imei(i) | imei_index::Target::Pair(i, _) = r.target() {
                imeis.push(i);
                imeis.extend(Imei::from_u64(i.as_u64() + 1));
                imeis.extend(i.as_u64().checked_sub(1).and_then(|x| Imei::from_u64(x).ok()));
            }
        }
        let many = index.check_many(&imeis);
        prop_assert_eq!(many.len(), imeis.len());
        for (i, v) in imeis.iter().zip(&many) {
            prop_assert_eq!(*v, index.check(*i), "check_many vs check on {}", i);
            prop_assert_eq!(*v, model.check(*i), "index vs model on {}", i);
            for s in 0..3 {
                prop_assert_eq!(
                    index.check_with_imsi(*i, &imsi(s)),
                    model.check_with_imsi(*i, &imsi(s)),
                    "pair check on {}", i
                );
            }
        }
    }
}

/// A list with every kind of rule and a filter, as bytes.
fn sample_index() -> Vec<u8> {
    let mut b = IndexBuilder::new();
    let mut n = 0u32;
    for t in 0..TACS.len() {
        for s in 0..300u32 {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let e = Entry::new(Status::from_s13_code((n >> 16) as u8 % 3).unwrap());
            b.add(Rule::imei(imei(t, s * 3331 + (n >> 20)), e));
        }
        b.add(Rule::range(imei(t, 10), imei(t, 500), Entry::new(Status::Tracked)).unwrap());
        b.add(Rule::pair(
            imei(t, 7),
            imsi(t as u64),
            Entry::new(Status::Allowed),
        ));
    }
    b.add(Rule::tac(
        Tac::from_u32(TACS[0]).unwrap(),
        Entry::new(Status::Blocked),
    ));
    b.build_to_vec().unwrap().0
}

/// Recomputes every checksum of an index after its bytes were changed, so that it passes
/// the default verification again. Layout: see the `format` module.
fn reseal(bytes: &mut [u8]) {
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let n = u32_at(bytes, 128) as usize;
    for i in 0..n {
        let row = 136 + 24 * i;
        let (off, len) = (
            u64_at(bytes, row + 8) as usize,
            u64_at(bytes, row + 16) as usize,
        );
        let crc = crc32(&bytes[off..off + len]);
        bytes[row + 4..row + 8].copy_from_slice(&crc.to_le_bytes());
    }
    let at = 136 + 24 * n;
    let crc = crc32(&bytes[..at]);
    bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// CRC-32 (IEEE), as the index format uses: bitwise, slow and obviously right.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn resealing_keeps_a_file_valid() {
    let mut bytes = sample_index();
    let before = bytes.clone();
    reseal(&mut bytes);
    assert_eq!(bytes, before, "the test's checksums must be the format's");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn tampered_but_checksummed_files_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        probes in prop::collection::vec((0..TACS.len(), 0u32..2000), 1..200),
    ) {
        let mut bytes = sample_index();
        // Past the header and its table (read from the file: its sections vary).
        let n = u32::from_le_bytes(bytes[128..132].try_into().unwrap()) as usize;
        let header = (136 + 24 * n + 4).next_multiple_of(8);
        for (at, b) in &edits {
            let at = header + at.index(bytes.len() - header);
            bytes[at] = *b;
        }
        reseal(&mut bytes);
        // The default verification may still reject the file (for example a filter
        // header that makes no sense); if it opens, checks must not panic.
        let Ok(index) = Index::from_bytes(bytes.into()) else { return Ok(()) };
        let imeis: Vec<Imei> = probes.iter().map(|&(t, s)| imei(t, s * 3331)).collect();
        let many = index.check_many(&imeis);
        for (i, v) in imeis.iter().zip(&many) {
            prop_assert_eq!(*v, index.check(*i));
            let _ = index.check_with_imsi(*i, &imsi(0));
        }
        // Full verification must fail or pass, never panic.
        let _ = imei_index::OpenOptions::new()
            .verification(Verification::Full)
            .open_bytes(index.as_bytes().clone());
    }
}
