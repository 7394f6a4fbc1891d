//! The keys of the index's transducers: the one codec between identifiers and key bytes.
//!
//! IMEI: 6 bytes, big-endian of the 14-digit number; TAC: 4 bytes big-endian; IMSI: 8 bytes,
//! its digit count then its value in 7 bytes big-endian; pair: IMEI (6) ‖ IMSI (8); range:
//! first IMEI (6) ‖ last IMEI (6). Big-endian keeps byte order equal to numeric order, which
//! the transducers need. Every reader and writer of key bytes (checks, verification,
//! iteration, the builder's spilled runs) goes through these functions.

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
                bytes[..6].copy_from_slice(&imei(i));
                6
            }
            Target::Tac(t) => {
                bytes[..4].copy_from_slice(&tac(t));
                4
            }
            Target::Pair(i, s) => {
                bytes[..14].copy_from_slice(&pair(i, s));
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
            .and_then(to_imei)
            .zip(k.get(6..).and_then(to_imsi))
            .map(|(i, s)| Target::Pair(i, s)),
        RuleKind::Imei => to_imei(k).map(Target::Imei),
        RuleKind::Range => k
            .get(..6)
            .and_then(to_imei)
            .zip(k.get(6..).and_then(to_imei))
            .filter(|(a, b)| a <= b)
            .map(|(a, b)| Target::Range(a, b)),
        RuleKind::Tac => to_tac(k).map(Target::Tac),
    }
}

/// An IMEI's key. 10^14 < 2^48, so 6 bytes suffice.
pub(crate) fn imei(i: Imei) -> [u8; 6] {
    imei_key(i.as_u64())
}

/// The 6-byte key of a 14-digit IMEI number.
pub(crate) fn imei_key(n: u64) -> [u8; 6] {
    let b = n.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The number of a 6-byte IMEI key (which the caller has sized). Any 6 bytes give a
/// number; [`to_imei`] also checks that it is an IMEI's.
pub(crate) fn imei_of_key(k: &[u8]) -> u64 {
    k.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

/// The IMEI stored under a 6-byte key, or `None` when the bytes are not one.
pub(crate) fn to_imei(k: &[u8]) -> Option<Imei> {
    (k.len() == 6).then(|| Imei::from_u64(imei_of_key(k)).ok())?
}

/// A TAC's key: 4 bytes.
pub(crate) fn tac(t: Tac) -> [u8; 4] {
    t.as_u32().to_be_bytes()
}

/// The TAC stored under a 4-byte key, or `None` when the bytes are not one.
pub(crate) fn to_tac(k: &[u8]) -> Option<Tac> {
    Tac::from_u32(u32::from_be_bytes(k.try_into().ok()?)).ok()
}

/// An IMSI's key: its digit count, then its value in 7 bytes (10^15 < 2^56), so that
/// `001010` and `1010` differ.
pub(crate) fn imsi(s: Imsi) -> [u8; 8] {
    imsi_key(s.len() as u8, s.as_u64())
}

/// The 8-byte key of an IMSI of `len` digits and value `value`.
pub(crate) fn imsi_key(len: u8, value: u64) -> [u8; 8] {
    let mut k = value.to_be_bytes();
    k[0] = len;
    k
}

/// The IMSI stored under an 8-byte key, or `None` when the bytes are not one.
pub(crate) fn to_imsi(k: &[u8]) -> Option<Imsi> {
    let k: [u8; 8] = k.try_into().ok()?;
    let len = k[0];
    let mut v = k;
    v[0] = 0;
    Imsi::from_len_value(len, u64::from_be_bytes(v))
}

/// A pair rule's key: IMEI (6) ‖ IMSI (8).
pub(crate) fn pair(i: Imei, s: Imsi) -> [u8; 14] {
    pair_key(i.as_u64(), imsi(s))
}

/// The key of a pair from an IMEI number and an IMSI's key.
pub(crate) fn pair_key(imei: u64, imsi: [u8; 8]) -> [u8; 14] {
    let mut k = [0u8; 14];
    k[..6].copy_from_slice(&imei_key(imei));
    k[6..].copy_from_slice(&imsi);
    k
}

/// The key of a range rule: first IMEI ‖ last IMEI.
pub(crate) fn range_key(first: u64, last: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..6].copy_from_slice(&imei_key(first));
    k[6..].copy_from_slice(&imei_key(last));
    k
}

/// The (first, last) IMEI numbers of a 12-byte range key, or `None` unless both are IMEIs
/// and the range does not end before it starts (keys no writer produces, which the
/// range sweep must never see).
pub(crate) fn range_of_key(k: &[u8]) -> Option<(u64, u64)> {
    if k.len() != 12 {
        return None;
    }
    let (first, last) = (to_imei(&k[..6])?, to_imei(&k[6..])?);
    (first <= last).then(|| (first.as_u64(), last.as_u64()))
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
        assert_eq!(target_of(RuleKind::Imei, &[0xff; 6]), None);
        assert_eq!(target_of(RuleKind::Imei, &[0; 5]), None);
        assert_eq!(range_of_key(&range_key(7, 1 << 40)), Some((7, 1 << 40)));
    }

    #[test]
    fn identifiers_round_trip_through_keys() {
        for n in [0, 1, 26053179311383, 99_999_999_999_999] {
            let i = Imei::from_u64(n).unwrap();
            assert_eq!(to_imei(&imei(i)), Some(i));
        }
        assert_eq!(to_imei(&[0xff; 6]), None);
        let s = Imsi::parse("001010000000001").unwrap();
        assert_eq!(to_imsi(&imsi(s)), Some(s));
        assert_eq!(to_imsi(&[4, 0, 0, 0, 0, 0, 0, 0]), None);
        // Leading zeros are digits: 00101 and 000101 are different SIMs.
        let (a, b) = (
            Imsi::parse("00101").unwrap(),
            Imsi::parse("000101").unwrap(),
        );
        assert_ne!(imsi(a), imsi(b));
        let t = Tac::parse("35209900").unwrap();
        assert_eq!(to_tac(&tac(t)), Some(t));
    }
}
