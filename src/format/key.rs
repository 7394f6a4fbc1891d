//! The keys of the index's transducers, to and from rule targets.
//!
//! IMEI: 6 bytes, big-endian of the 14-digit number; TAC: 4 bytes big-endian; pair: IMEI
//! (6) ‖ IMSI key (8: length, then 7 bytes big-endian); range: first IMEI (6) ‖ last (6).
//! Big-endian keeps byte order equal to numeric order, which the transducers need.

use crate::model::ident::{Imei, Imsi, Tac};
use crate::model::rule::{RuleKind, Target};

/// The longest key: a pair's.
const MAX_KEY: usize = 14;

/// A target's key, with the kind of rule whose transducer it belongs to. Keys of one kind
/// have one length, so that their order is the order of their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    bytes: [u8; MAX_KEY],
    len: u8,
}

impl Key {
    /// The key of a target, and the kind of rule it makes.
    pub(crate) fn of(target: &Target) -> (RuleKind, Key) {
        let mut bytes = [0u8; MAX_KEY];
        let len = match *target {
            Target::Imei(i) => {
                bytes[..6].copy_from_slice(&i.to_key());
                6
            }
            Target::Tac(t) => {
                bytes[..4].copy_from_slice(&t.to_key());
                4
            }
            Target::Pair(i, s) => {
                bytes[..6].copy_from_slice(&i.to_key());
                bytes[6..].copy_from_slice(&s.to_key());
                14
            }
            Target::Range(a, b) => {
                bytes[..12].copy_from_slice(&range_key(a.as_u64(), b.as_u64()));
                12
            }
        };
        (target.kind(), Key { bytes, len })
    }

    /// The key's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The target stored under a key of a kind's transducer, or `None` when the bytes are not
/// one (only in files that fail full verification).
pub(crate) fn target_of(kind: RuleKind, k: &[u8]) -> Option<Target> {
    match kind {
        RuleKind::Pair => k
            .get(..6)
            .and_then(Imei::from_key)
            .zip(k.get(6..).and_then(Imsi::from_key))
            .map(|(i, s)| Target::Pair(i, s)),
        RuleKind::Imei => Imei::from_key(k).map(Target::Imei),
        RuleKind::Range => k
            .get(..6)
            .and_then(Imei::from_key)
            .zip(k.get(6..).and_then(Imei::from_key))
            .filter(|(a, b)| a <= b)
            .map(|(a, b)| Target::Range(a, b)),
        RuleKind::Tac => Tac::from_key(k).map(Target::Tac),
    }
}

/// The 6-byte key of a 14-digit IMEI number.
pub(crate) fn imei_key(n: u64) -> [u8; 6] {
    let b = n.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The number of a 6-byte IMEI key (which the caller has sized).
fn imei_of_key(k: &[u8]) -> u64 {
    k.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

/// The key of a range rule: first IMEI ‖ last IMEI.
pub(crate) fn range_key(first: u64, last: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..6].copy_from_slice(&imei_key(first));
    k[6..].copy_from_slice(&imei_key(last));
    k
}

/// The (first, last) IMEI numbers of a 12-byte range key.
pub(crate) fn range_of_key(k: &[u8]) -> Option<(u64, u64)> {
    (k.len() == 12).then(|| (imei_of_key(&k[..6]), imei_of_key(&k[6..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_keys() {
        let imei = Imei::parse("35209900176148").unwrap();
        let last = Imei::parse("35209900176199").unwrap();
        let imsi = Imsi::parse("404685505601234").unwrap();
        for t in [
            Target::Imei(imei),
            Target::Tac(imei.tac()),
            Target::Pair(imei, imsi),
            Target::Range(imei, last),
        ] {
            let (kind, key) = Key::of(&t);
            assert_eq!(target_of(kind, key.as_bytes()), Some(t));
        }
        assert_eq!(target_of(RuleKind::Range, &range_key(9, 8)), None);
        assert_eq!(range_of_key(&range_key(7, 1 << 40)), Some((7, 1 << 40)));
    }
}
