//! What a scan found: counts that account for every row, and the distinct handsets, SIMs
//! and numbers seen with listed equipment.

use std::collections::HashSet;
use std::ops::AddAssign;

use crate::model::ident::Imsi;
use crate::model::rule::Status;

/// What a scan read and found, over every input scanned so far.
///
/// Every data row is counted once: `rows == matched + unmatched + not_imei + malformed`
/// (see [`ScanSummary::accounts_for_every_row`]). Blank lines and header rows are not rows.
///
/// # Example
///
/// ```
/// use imei_index::scan::{ScanOptions, Scanner};
/// use imei_index::{Entry, Imei, Index, IndexBuilder, Rule, Status};
///
/// let mut builder = IndexBuilder::new();
/// builder.add(Rule::imei(Imei::parse("354178036859789")?, Entry::new(Status::Blocked)));
/// let index = Index::from_bytes(builder.build_to_vec()?.0.into())?;
///
/// let log = "imsi,imei\n404685505601234,354178036859789\n404685505601235,49015420323751\n,x\n";
/// let mut scanner = Scanner::new(&index, &ScanOptions::new())?;
/// let mut out = Vec::new();
/// scanner.scan("log.csv", log.as_bytes(), &mut out, None)?;
/// let s = scanner.summary();
/// assert_eq!((s.rows, s.matched, s.unmatched, s.not_imei), (3, 1, 1, 1));
/// assert_eq!((s.handsets, s.imsis, s.msisdns), (1, Some(1), None));
/// assert!(s.accounts_for_every_row());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanSummary {
    /// Inputs scanned.
    pub inputs: u64,
    /// Bytes read (after decompression, if the caller decompressed).
    pub bytes: u64,
    /// Data rows read.
    pub rows: u64,
    /// Rows whose verdict has a status the scan reports: the rows written out.
    pub matched: u64,
    /// Rows with an IMEI that no rule matches, or whose verdict the scan does not report.
    pub unmatched: u64,
    /// Rows whose IMEI field is not an IMEI (written to the rejects).
    pub not_imei: u64,
    /// Rows that cannot be read as records: an unclosed quote, text after a closing quote,
    /// too few fields, an overlong line (written to the rejects).
    pub malformed: u64,
    /// Rows whose verdict is blocked, reported or not.
    pub blocked: u64,
    /// Rows whose verdict is tracked, reported or not.
    pub tracked: u64,
    /// Rows whose verdict is allowed (by a rule), reported or not.
    pub allowed: u64,
    /// Rows accepted although their IMEI's 15th digit is not its check digit (only when
    /// scanning leniently; strictly, such rows are not IMEIs).
    pub wrong_check_digit: u64,
    /// Matched rows whose IMSI field holds something that is not an IMSI (checked
    /// without it, and not counted among the distinct IMSIs).
    pub bad_imsi: u64,
    /// Distinct handsets among the matched rows.
    pub handsets: u64,
    /// Distinct IMSIs among the matched rows, when an input had an IMSI column.
    pub imsis: Option<u64>,
    /// Distinct MSISDNs among the matched rows, when an input had an MSISDN column.
    pub msisdns: Option<u64>,
}

impl ScanSummary {
    /// Rows written aside: not an IMEI, or malformed.
    pub fn rejected(&self) -> u64 {
        self.not_imei + self.malformed
    }

    /// True when `rows == matched + unmatched + not_imei + malformed`: nothing was lost.
    pub fn accounts_for_every_row(&self) -> bool {
        self.rows == self.matched + self.unmatched + self.not_imei + self.malformed
    }
}

/// Counts of one chunk, added up in order.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) rows: u64,
    pub(crate) matched: u64,
    pub(crate) unmatched: u64,
    pub(crate) not_imei: u64,
    pub(crate) malformed: u64,
    /// Listed rows by S13 status code.
    pub(crate) listed: [u64; 3],
    pub(crate) wrong_check_digit: u64,
    pub(crate) bad_imsi: u64,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.rows += o.rows;
        self.matched += o.matched;
        self.unmatched += o.unmatched;
        self.not_imei += o.not_imei;
        self.malformed += o.malformed;
        for (a, b) in self.listed.iter_mut().zip(o.listed) {
            *a += b;
        }
        self.wrong_check_digit += o.wrong_check_digit;
        self.bad_imsi += o.bad_imsi;
    }
}

/// An MSISDN as counted: its digits when it is a plain number (a leading `+` ignored), its
/// bytes otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MsisdnKey {
    /// Up to 15 digits (E.164): the value, and the length in bits 50 and up (10^15 < 2^50).
    Number(u64),
    /// Anything else, as written.
    Text(Box<[u8]>),
}

impl MsisdnKey {
    /// The key of a non-empty field.
    pub(crate) fn new(field: &[u8]) -> MsisdnKey {
        let digits = field.strip_prefix(b"+").unwrap_or(field);
        if (1..=15).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
            let value = digits
                .iter()
                .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
            MsisdnKey::Number((digits.len() as u64) << 50 | value)
        } else {
            MsisdnKey::Text(field.into())
        }
    }
}

/// What a matched row adds to the distinct counts.
#[derive(Debug)]
pub(crate) struct Hit {
    pub(crate) imei: u64,
    pub(crate) imsi: Option<Imsi>,
    pub(crate) msisdn: Option<MsisdnKey>,
}

/// Everything a scanner has counted.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) tally: Tally,
    pub(crate) inputs: u64,
    pub(crate) bytes: u64,
    pub(crate) handsets: HashSet<u64, Seeded>,
    pub(crate) imsis: HashSet<Imsi, Seeded>,
    pub(crate) msisdns: HashSet<MsisdnKey, Seeded>,
    pub(crate) had_imsi: bool,
    pub(crate) had_msisdn: bool,
}

impl Totals {
    pub(crate) fn add_hits(&mut self, hits: &mut Vec<Hit>) {
        for hit in hits.drain(..) {
            self.handsets.insert(hit.imei);
            if let Some(imsi) = hit.imsi {
                self.imsis.insert(imsi);
            }
            if let Some(m) = hit.msisdn {
                self.msisdns.insert(m);
            }
        }
    }

    pub(crate) fn summary(&self) -> ScanSummary {
        let t = &self.tally;
        let by = |s: Status| t.listed[usize::from(s.s13_code())];
        ScanSummary {
            inputs: self.inputs,
            bytes: self.bytes,
            rows: t.rows,
            matched: t.matched,
            unmatched: t.unmatched,
            not_imei: t.not_imei,
            malformed: t.malformed,
            blocked: by(Status::Blocked),
            tracked: by(Status::Tracked),
            allowed: by(Status::Allowed),
            wrong_check_digit: t.wrong_check_digit,
            bad_imsi: t.bad_imsi,
            handsets: self.handsets.len() as u64,
            imsis: self.had_imsi.then_some(self.imsis.len() as u64),
            msisdns: self.had_msisdn.then_some(self.msisdns.len() as u64),
        }
    }
}

/// Hashes the distinct-count keys (a few integers each) with one folded multiply per
/// integer, from a random seed per process, rather than SipHash's many rounds: these sets
/// take an insert per matching row, on the thread that writes the output.
#[derive(Clone, Debug)]
pub(crate) struct Seeded(u64);

impl Default for Seeded {
    fn default() -> Seeded {
        // The standard library's per-process random keys, so that keys chosen to collide
        // in one process do not collide in another.
        Seeded(std::hash::BuildHasher::hash_one(
            &std::hash::RandomState::new(),
            0u64,
        ))
    }
}

impl std::hash::BuildHasher for Seeded {
    type Hasher = FoldHasher;

    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// See [`Seeded`].
#[derive(Debug)]
pub(crate) struct FoldHasher(u64);

impl FoldHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        // The folded 128-bit product with a fixed odd constant moves every input bit into
        // many output bits (the mixer of wyhash and foldhash). The seed enters through the
        // state only: a multiplier derived from the seed could be weak (few bits, many
        // trailing zeros) for some seeds, and the hash with it.
        let p = u128::from(self.0 ^ x) * u128::from(0x9e37_79b9_7f4a_7c15u64);
        self.0 = (p as u64) ^ (p >> 64) as u64;
    }
}

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word) ^ (chunk.len() as u64) << 59);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_hash_spreads_nearby_keys() {
        use std::hash::BuildHasher;
        // Consecutive IMEIs (a batch of handsets) must land in distinct buckets of a small
        // table, or the sets degrade to lists; whatever the per-process seed. Random keys
        // would fill about 4096 × (1 − 1/e) ≈ 2589 buckets.
        let mut rng = crate::synth::Rng::new(7);
        let seeds = (0..256)
            .map(|_| rng.next_u64())
            .chain([0, u64::MAX, 1 << 63]);
        for seed in seeds.chain([Seeded::default().0]) {
            let seeded = Seeded(seed);
            for base in [0u64, 35_209_900_000_000, 99_999_999_995_000] {
                let buckets: HashSet<u64> = (0..4096u64)
                    .map(|n| seeded.hash_one(base + n) >> 52)
                    .collect();
                assert!(
                    buckets.len() > 2400,
                    "seed {seed:#x}, keys from {base}: {} of 4096 buckets used",
                    buckets.len()
                );
            }
        }
    }

    #[test]
    fn msisdns_with_and_without_plus_are_one_number() {
        assert_eq!(
            MsisdnKey::new(b"+919876543210"),
            MsisdnKey::new(b"919876543210")
        );
        assert_ne!(
            MsisdnKey::new(b"0919876543210"),
            MsisdnKey::new(b"919876543210")
        );
        assert!(matches!(MsisdnKey::new(b"tel:+9198"), MsisdnKey::Text(_)));
    }
}
