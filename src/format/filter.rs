//! A blocked Bloom filter over the listed IMEIs, stored in the index's optional `filter`
//! section: it answers "certainly not listed" for most unlisted IMEIs with one cache miss,
//! before the IMEI transducer (one miss per level) is walked.
//!
//! An EIR mostly sees handsets that are not listed, from the same models as listed ones, so
//! that answer is the common case. Each IMEI picks one 64-byte block (one cache line) and
//! sets `k` bits in it; a check reads that one block. With `b` bits per IMEI, about
//! `(1 - e^(-k/b))^k` of unlisted IMEIs still pass (a little more, since blocks fill
//! unevenly) and go on to the transducer, which gives the exact answer: the filter never
//! changes a verdict, only how fast it comes.
//!
//! Pair rules share the filter in a second "domain": an IMEI of a pair rule sets other bits
//! of the same block, so that a check with an IMSI still reads one block.
//!
//! ```text
//! offset  size  field
//! 0       4     kind (u32): 1, a blocked Bloom filter with 512-bit blocks
//! 4       4     bits set per key, k (u32): 1 to 7
//! 8       8     hash seed (u64)
//! 16      8     blocks (u64)
//! 24      8     keys inserted (u64)
//! 32      32    reserved, zero
//! 64      64·n  blocks: eight little-endian u64 words each
//! ```

use bytes::Bytes;

use crate::format::read_u64;

/// Bits per listed IMEI that [`IndexBuilder`](crate::IndexBuilder) gives the filter by default.
pub const DEFAULT_FILTER_BITS: u32 = 8;

/// Bytes before the first block.
const FILTER_HEADER: usize = 64;
/// Bytes per block: one cache line.
pub(crate) const BLOCK: usize = 64;
/// The only kind of filter this crate writes and reads.
const KIND_BLOCKED_BLOOM: u32 = 1;
/// Bits per position inside a 512-bit block.
const POSITION_BITS: u32 = 9;
/// The most bits per key: positions come from one 64-bit hash.
const MAX_K: u32 = 7;

/// Which rules a key stands for: exact IMEI rules, or the IMEIs of pair rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Domain {
    Imei,
    Pair,
}

impl Domain {
    #[inline(always)]
    fn salt(self) -> u64 {
        match self {
            Domain::Imei => 0x243f_6a88_85a3_08d3,
            Domain::Pair => 0x1319_8a2e_0370_7344,
        }
    }
}

/// The 64-bit finaliser of MurmurHash3: every input bit affects every output bit.
#[inline(always)]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// Where a key lives: its block and the hash its bit positions come from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    block: usize,
    hash: u64,
}

/// The `k` bit positions of a hash, as a mask per word of the block.
#[inline(always)]
fn masks(hash: u64, k: u32) -> [u64; 8] {
    let mut m = [0u64; 8];
    for j in 0..k {
        let p = (hash >> (POSITION_BITS * j)) as usize & 511;
        m[p >> 6] |= 1u64 << (p & 63);
    }
    m
}

/// Picks the block and the positions' hash of a key.
#[inline(always)]
fn probe(seed: u64, blocks: usize, imei: u64, domain: Domain) -> Probe {
    let h = mix(imei ^ seed);
    // Multiply-shift maps the hash onto the blocks without a division.
    let block = ((u128::from(h) * blocks as u128) >> 64) as usize;
    Probe {
        block,
        hash: mix(h ^ domain.salt()),
    }
}

/// The filter section of an open index.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    blocks: Bytes,
    count: usize,
    k: u32,
    seed: u64,
}

impl Filter {
    /// Reads a filter section, or says what is wrong with it.
    pub(crate) fn parse(bytes: Bytes) -> Result<Filter, String> {
        if bytes.len() < FILTER_HEADER {
            return Err(format!(
                "it is {} bytes, shorter than its {FILTER_HEADER}-byte header",
                bytes.len()
            ));
        }
        let kind = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        if kind != KIND_BLOCKED_BLOOM {
            return Err(format!(
                "its kind is {kind}, but this library knows kind 1 only"
            ));
        }
        let k = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        if !(1..=MAX_K).contains(&k) {
            return Err(format!("it sets {k} bits per key, not 1 to {MAX_K}"));
        }
        let seed = read_u64(&bytes, 8);
        let count = read_u64(&bytes, 16);
        let body = (bytes.len() - FILTER_HEADER) as u64;
        if count == 0 || count.checked_mul(BLOCK as u64) != Some(body) {
            return Err(format!(
                "it declares {count} blocks of {BLOCK} bytes but holds {body} bytes of blocks"
            ));
        }
        if bytes[32..64].iter().any(|&b| b != 0) {
            return Err("its reserved header bytes are not zero".into());
        }
        Ok(Filter {
            blocks: bytes.slice(FILTER_HEADER..),
            count: usize::try_from(count).map_err(|_| "it has too many blocks".to_string())?,
            k,
            seed,
        })
    }

    /// Where a key would be.
    #[inline(always)]
    pub(crate) fn probe(&self, imei: u64, domain: Domain) -> Probe {
        probe(self.seed, self.count, imei, domain)
    }

    /// Asks the CPU to start loading a probe's block.
    #[inline(always)]
    pub(crate) fn prefetch(&self, p: Probe) {
        crate::format::node::prefetch(&self.blocks, p.block * BLOCK);
    }

    /// False when the key is certainly absent; true when it may be present.
    #[inline(always)]
    pub(crate) fn may_contain(&self, p: Probe) -> bool {
        let at = p.block * BLOCK;
        let Some(block) = self.blocks.get(at..at + BLOCK) else {
            // Out of range only if `parse` let a bad count through; never filter then.
            return true;
        };
        let m = masks(p.hash, self.k);
        let mut missing = 0u64;
        for (w, chunk) in block.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            missing |= m[w] & !word;
        }
        missing == 0
    }

    /// A probe for a key, then the test: for single checks.
    #[inline(always)]
    pub(crate) fn contains(&self, imei: u64, domain: Domain) -> bool {
        self.may_contain(self.probe(imei, domain))
    }

    /// Bits set per key.
    #[cfg(test)]
    fn hashes(&self) -> u32 {
        self.k
    }
}

/// Keys whose blocks are prefetched before they are set, while building.
const PENDING: usize = 16;

/// A block in memory, on a cache line of its own.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
struct Block([u64; 8]);

/// Builds a filter section.
#[derive(Debug)]
pub(crate) struct FilterBuilder {
    blocks: Vec<Block>,
    count: usize,
    k: u32,
    seed: u64,
    keys: u64,
    /// Probes whose blocks are being fetched: keys arrive in key order, so their blocks
    /// are random, and setting one as soon as it arrives would wait for a cache miss.
    pending: [Probe; PENDING],
}

impl FilterBuilder {
    /// A filter for `keys` keys at `bits_per_key` bits each (at least one block).
    pub(crate) fn new(keys: u64, bits_per_key: u32, seed: u64) -> FilterBuilder {
        let bits = keys.saturating_mul(u64::from(bits_per_key));
        let count = bits.div_ceil(512).max(1) as usize;
        // The optimal k for a Bloom filter is b·ln 2; blocked filters do best a little lower.
        let k = ((f64::from(bits_per_key) * 0.6).round() as u32).clamp(1, MAX_K);
        FilterBuilder {
            blocks: vec![Block::default(); count],
            count,
            k,
            seed,
            keys: 0,
            pending: [Probe { block: 0, hash: 0 }; PENDING],
        }
    }

    /// Adds a key.
    #[inline]
    pub(crate) fn insert(&mut self, imei: u64, domain: Domain) {
        let p = probe(self.seed, self.count, imei, domain);
        crate::format::node::prefetch(&self.blocks, p.block);
        let slot = (self.keys % PENDING as u64) as usize;
        if self.keys >= PENDING as u64 {
            self.set(self.pending[slot]);
        }
        self.pending[slot] = p;
        self.keys += 1;
    }

    #[inline]
    fn set(&mut self, p: Probe) {
        let m = masks(p.hash, self.k);
        for (w, mask) in self.blocks[p.block].0.iter_mut().zip(m) {
            *w |= mask;
        }
    }

    /// Writes the section.
    pub(crate) fn write(mut self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        for i in 0..self.keys.min(PENDING as u64) as usize {
            self.set(self.pending[i]);
        }
        let mut head = [0u8; FILTER_HEADER];
        head[0..4].copy_from_slice(&KIND_BLOCKED_BLOOM.to_le_bytes());
        head[4..8].copy_from_slice(&self.k.to_le_bytes());
        head[8..16].copy_from_slice(&self.seed.to_le_bytes());
        head[16..24].copy_from_slice(&(self.count as u64).to_le_bytes());
        head[24..32].copy_from_slice(&self.keys.to_le_bytes());
        w.write_all(&head)?;
        let mut buf = Vec::with_capacity(BLOCK * 1024);
        for chunk in self.blocks.chunks(1024) {
            buf.clear();
            for word in chunk.iter().flat_map(|b| b.0) {
                buf.extend_from_slice(&word.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(keys: &[u64], bits: u32) -> Filter {
        let mut b = FilterBuilder::new(keys.len() as u64, bits, 42);
        for &k in keys {
            b.insert(k, Domain::Imei);
        }
        let mut out = Vec::new();
        b.write(&mut out).unwrap();
        Filter::parse(Bytes::from(out)).unwrap()
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<u64> = (0..20_000u64)
            .map(|i| 35_000_000_000_000 + i * 37)
            .collect();
        for bits in [4, 6, 8, 10] {
            let f = built(&keys, bits);
            assert!(keys.iter().all(|&k| f.contains(k, Domain::Imei)));
            // Other keys pass at about the rate a Bloom filter of this size allows.
            let others = (0..20_000u64).map(|i| 35_000_000_000_000 + i * 37 + 1);
            let passed = others.filter(|&k| f.contains(k, Domain::Imei)).count();
            let rate = passed as f64 / 20_000.0;
            let k = f64::from(f.hashes());
            let ideal = (1.0 - (-k / f64::from(bits)).exp()).powf(k);
            assert!(rate < ideal * 1.6 + 0.002, "{bits} bits: {rate} vs {ideal}");
        }
    }

    #[test]
    fn domains_are_separate() {
        let keys: Vec<u64> = (0..5_000u64).map(|i| i * 1_000_003).collect();
        let f = built(&keys, 10);
        let pairs = keys
            .iter()
            .filter(|&&k| f.contains(k, Domain::Pair))
            .count();
        assert!(pairs < 200, "{pairs} of 5000 IMEI keys pass as pair keys");
    }

    #[test]
    fn malformed_sections_are_rejected() {
        let f = {
            let mut b = FilterBuilder::new(10, 8, 1);
            b.insert(1, Domain::Imei);
            let mut out = Vec::new();
            b.write(&mut out).unwrap();
            out
        };
        assert!(Filter::parse(Bytes::from(f.clone())).is_ok());
        for (at, byte) in [(0, 2u8), (4, 0), (4, 9), (16, 2), (40, 1)] {
            let mut bad = f.clone();
            bad[at] = byte;
            assert!(
                Filter::parse(Bytes::from(bad)).is_err(),
                "byte {at} = {byte}"
            );
        }
        assert!(Filter::parse(Bytes::from(f[..f.len() - 1].to_vec())).is_err());
        assert!(Filter::parse(Bytes::from(f[..10].to_vec())).is_err());
    }
}
