//! Traceability alerts: the first sighting in a day of a blocked or tracked handset with a
//! SIM not seen with it that day.
//!
//! The (handset, SIM) pairs seen today sit in a table of fixed size, so memory stays
//! bounded however many pairs a day brings. The table holds whole keys, never fingerprints:
//! a pair found in it was truly seen, so no new pair is ever taken for a seen one and no
//! alert is missed. When a bucket is full its oldest pair makes room, and should that pair
//! come again it alerts again: short of memory, the journal may alert twice, never miss one.

use imei_index::{Imei, Imsi};

use crate::alert::Alert;

/// Pairs per bucket: one 128-byte stretch of memory (two cache lines).
const WAYS: usize = 8;

/// The pairs seen today, in a set-associative table of whole keys.
pub(crate) struct AlertMemory {
    /// `WAYS` keys per bucket, most recent first; 0 is an empty slot (no key is 0: every
    /// key has its marker bit).
    slots: Vec<u128>,
    mask: usize,
    day: u32,
    /// Pairs pushed out of a full bucket today: each may alert a second time.
    pub(crate) evicted: u64,
}

impl AlertMemory {
    /// A table for about `pairs` pairs a day (rounded up to a power of two buckets).
    pub(crate) fn new(pairs: usize) -> AlertMemory {
        let buckets = pairs.div_ceil(WAYS).max(1).next_power_of_two();
        AlertMemory {
            slots: vec![0; buckets * WAYS],
            mask: buckets - 1,
            day: 0,
            evicted: 0,
        }
    }

    /// Whether `imei` with `imsi` (or with no IMSI given) on `day` is new today; remembers
    /// it either way.
    pub(crate) fn first_today(&mut self, day: u32, imei: Imei, imsi: Option<Imsi>) -> bool {
        // A new day forgets yesterday's pairs; a late sighting of an earlier day is
        // weighed against today's.
        if day > self.day {
            self.slots.fill(0);
            self.day = day;
            self.evicted = 0;
        }
        let key = key(imei, imsi);
        let bucket = (mix(key) as usize & self.mask) * WAYS;
        let ways = &mut self.slots[bucket..bucket + WAYS];
        if let Some(at) = ways.iter().position(|&k| k == key) {
            // Seen: move it to the front, so that the oldest pair is the one to go.
            ways[..=at].rotate_right(1);
            return false;
        }
        if ways[WAYS - 1] != 0 {
            self.evicted += 1;
        }
        ways.rotate_right(1);
        ways[0] = key;
        true
    }
}

/// The pair as one number: bit 127 marks a key; the IMEI (47 bits), the IMSI's length
/// (4 bits, 0 for none) and its value (50 bits) below it.
fn key(imei: Imei, imsi: Option<Imsi>) -> u128 {
    let (len, value) = imsi.map_or((0, 0), |s| (s.len() as u128, u128::from(s.as_u64())));
    1 << 127 | u128::from(imei.as_u64()) | len << 47 | value << 51
}

/// Spreads a key's bits over the bucket index (a 64-bit finalizer over both halves).
fn mix(key: u128) -> u64 {
    let mut h = (key as u64) ^ ((key >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// What a journal does with alerts: counts them, and calls the hook.
pub(crate) type Hook = Box<dyn FnMut(&Alert) + Send>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn imei(n: u64) -> Imei {
        Imei::from_u64(35_000_000_000_000 + n).unwrap()
    }

    #[test]
    fn each_pair_alerts_once_a_day() {
        let mut m = AlertMemory::new(1024);
        let sim = Imsi::parse("404685505601234").unwrap();
        assert!(m.first_today(1, imei(1), Some(sim)));
        assert!(!m.first_today(1, imei(1), Some(sim)));
        assert!(m.first_today(1, imei(1), None));
        assert!(!m.first_today(1, imei(1), None));
        assert!(m.first_today(1, imei(2), Some(sim)));
        let other = Imsi::parse("40468550560123").unwrap();
        assert!(
            m.first_today(1, imei(1), Some(other)),
            "a shorter IMSI is another SIM"
        );
        assert!(m.first_today(2, imei(1), Some(sim)), "a new day");
    }

    #[test]
    fn a_small_table_may_alert_twice_but_never_misses() {
        // 64 slots for 5,000 pairs seen in a random order, each several times: every
        // pair's first sighting must alert.
        let mut m = AlertMemory::new(64);
        let mut seen = HashSet::new();
        let mut x = 1u64;
        let mut repeats = 0;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pair = (
                imei(x % 5000),
                Imsi::parse(&format!("40468{:010}", x % 7)).unwrap(),
            );
            let alerted = m.first_today(7, pair.0, Some(pair.1));
            if seen.insert(pair) {
                assert!(alerted, "the first sighting of {pair:?} did not alert");
            } else if alerted {
                repeats += 1;
            }
        }
        assert!(
            repeats > 0 && m.evicted > 0,
            "the table was meant to be too small"
        );
    }
}
