//! The exact-IMEI rules grouped by TAC (section 13, `imei blocks`): a transducer over the
//! TACs, and for each TAC one block of its listed serials, encoded for their density.
//!
//! An IMEI is a TAC (its first 8 digits) and a serial (the next 6, below 2^20). A list
//! holds few TACs and many serials per TAC, so a 7-byte-key transducer spends most of its
//! bytes spelling serials; here each TAC is spelled once and its serials cost 1–2 bytes, or
//! one bit when a TAC is listed nearly whole. Files written since this section exist keep
//! their exact-IMEI rules here and leave the `imei` transducer (section 2) empty.
//!
//! ```text
//! blocks        one per TAC, in TAC order, each starting at a multiple of 8
//! offsets       (b + 1) × u64: where each block starts, from the section's start; the last
//!               is where the blocks end (= the offsets' own start)
//! tac map       fst map: TAC (4 bytes, big-endian) → block number (0, 1, 2 … in key order),
//!               then zero padding to a multiple of 8
//! footer (48)   0  magic "IBK1"
//!               4  radix r (u32, 1 to 256): a rule's value v is entry id · r + source id
//!               8  keys (u64): rules in all blocks
//!               16 blocks b (u64)
//!               24 where the offsets start (u64)
//!               32 where the tac map starts (u64) = offsets + 8(b + 1)
//!               40 the tac map's length (u64)
//! ```
//!
//! A block holds n ≥ 1 rules sorted by (serial, source id): a 16-byte header, its serials,
//! then its values.
//!
//! ```text
//! 0  4  n (u32)
//! 4  1  serials: 0 packed, 1 bitmap
//! 5  1  packed: bucket bits h (0 to 20); bitmap: 0
//! 6  1  values: 0 offset, 1 table
//! 7  1  value width w (0 to 56 bits)
//! 8  8  offset: the base value; table: its size d
//! ```
//!
//! * **Packed serials** (any n; the only choice when one IMEI has rules of several
//!   sources): serial `s` is in bucket `s >> (20 − h)`. The 2^h bucket ends (u16 when
//!   n < 65,536, else u32; padded to 8) say where each bucket's rules end, and the rules'
//!   low `20 − h` bits follow, packed (least significant bit first, padded to 8). The
//!   writer picks the `h` that takes the fewest bytes, which leaves about a dozen rules per
//!   bucket: a lookup reads one bucket end pair and scans one cache line.
//! * **Bitmap serials** (each serial once): the first word f and the word count m (u32
//!   each), m 64-bit words whose bit `s mod 64` of word `s / 64 − f` is set for each serial,
//!   then one u32 per 8 words: the set bits in the words before them (padded to 8). A
//!   rule's position is the set bits before its own.
//! * **Values**, by position: *offset* values are `base + x` with x packed in w bits;
//!   *table* values are `table[x]`, the table's d u64 values first. w = 0 stores nothing
//!   per rule: every rule of the TAC shares one entry and source.
//!
//! Everything a lookup reads is bounds-checked: bytes that no writer produces read as
//! "no rule", never as a panic, and [`Blocks::verify`] accepts only blocks that lookups and
//! the stream read alike.

use std::io::{self, Write};

use bytes::Bytes;

use crate::format::key;
use crate::format::node::{Stream, Transducer, prefetch};

/// The footer's length.
const FOOTER: usize = 48;
const MAGIC: [u8; 4] = *b"IBK1";
/// Bits of a serial: the IMEI's last six digits are below 10^6 < 2^20.
const SERIAL_BITS: u32 = 20;
/// Serials are below this.
const SERIALS: u32 = 1_000_000;
/// 64-bit words of a bitmap over every serial.
const BITMAP_WORDS: u64 = (SERIALS as u64).div_ceil(64);
/// Words per rank count of a bitmap.
const RANK_GROUP: usize = 8;
/// The widest packed value: one unaligned 8-byte read holds it at any bit offset.
const MAX_WIDTH: u32 = 56;
/// A block's header.
const BLOCK_HEADER: usize = 16;
/// Packed serials' buckets hold at most about this many rules on average, so that a
/// lookup's scan stays short even where a wider table would save a few bytes.
const MAX_BUCKET: usize = 64;

/// The TAC and serial of an IMEI's 14-digit number.
#[inline(always)]
pub(crate) fn split(imei: u64) -> (u32, u32) {
    ((imei / 1_000_000) as u32, (imei % 1_000_000) as u32)
}

/// The TAC map's key of a TAC number (as `key::tac`'s of a [`Tac`](crate::Tac)).
#[inline(always)]
fn tac_key(tac: u32) -> [u8; 4] {
    tac.to_be_bytes()
}

#[inline(always)]
fn pad8(n: usize) -> usize {
    n.next_multiple_of(8)
}

#[inline(always)]
fn le64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        d.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

#[inline(always)]
fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        d.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// `width` (≤ 56) bits at bit `bit` of `data`, least significant first; bits past the end
/// read as zero.
#[inline(always)]
fn bits(data: &[u8], bit: usize, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let at = bit / 8;
    let word = match data.get(at..at.saturating_add(8)) {
        Some(s) => u64::from_le_bytes(s.try_into().unwrap_or([0; 8])),
        None => {
            let mut b = [0u8; 8];
            if let Some(s) = data.get(at..) {
                let n = s.len().min(8);
                b[..n].copy_from_slice(&s[..n]);
            }
            u64::from_le_bytes(b)
        }
    };
    (word >> (bit % 8)) & ((1u64 << width.min(MAX_WIDTH)) - 1)
}

/// Bits needed to write `x`.
fn width_of(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// How a block stores its serials.
#[derive(Clone, Copy, Debug)]
enum Serials<'a> {
    Packed {
        /// Bucket bits.
        h: u32,
        /// Bucket ends, u16 or u32 each.
        ends: &'a [u8],
        wide: bool,
        lows: &'a [u8],
    },
    Bitmap {
        first: u32,
        words: &'a [u8],
        ranks: &'a [u8],
    },
}

/// How a block stores its values.
#[derive(Clone, Copy, Debug)]
enum Values<'a> {
    Offset {
        base: u64,
        width: u32,
        packed: &'a [u8],
    },
    Table {
        table: &'a [u8],
        width: u32,
        packed: &'a [u8],
    },
}

/// One TAC's rules.
#[derive(Clone, Copy, Debug)]
struct Block<'a> {
    n: usize,
    serials: Serials<'a>,
    values: Values<'a>,
}

impl<'a> Block<'a> {
    /// Reads a block that must fill `b` exactly.
    fn parse(b: &'a [u8]) -> Result<Block<'a>, String> {
        let n = le32(b, 0).ok_or("it is shorter than a block header")? as usize;
        let (kind, h, vkind, width) = (b[4], u32::from(b[5]), b[6], u32::from(b[7]));
        let word = le64(b, 8).ok_or("it is shorter than a block header")?;
        if n == 0 {
            return Err("it holds no rule".into());
        }
        if width > MAX_WIDTH {
            return Err(format!(
                "its values are {width} bits wide, more than {MAX_WIDTH}"
            ));
        }
        let take = |at: &mut usize, len: usize| -> Result<&'a [u8], String> {
            let s = at
                .checked_add(len)
                .and_then(|end| b.get(*at..end))
                .ok_or_else(|| {
                    format!(
                        "it is {} bytes, too short for what its header says",
                        b.len()
                    )
                })?;
            *at += len;
            Ok(s)
        };
        let mut at = BLOCK_HEADER;
        let serials = match kind {
            0 => {
                if h > SERIAL_BITS {
                    return Err(format!("it has {h} bucket bits, more than {SERIAL_BITS}"));
                }
                let wide = n >= 1 << 16;
                let ends = take(&mut at, pad8((1usize << h) * if wide { 4 } else { 2 }))?;
                let low = (SERIAL_BITS - h) as usize;
                let lows = take(&mut at, pad8((n * low).div_ceil(8)))?;
                Serials::Packed {
                    h,
                    ends,
                    wide,
                    lows,
                }
            }
            1 => {
                let first = le32(b, at).ok_or("it is too short for its bitmap's bounds")?;
                let m = le32(b, at + 4).ok_or("it is too short for its bitmap's bounds")? as u64;
                if h != 0 || m == 0 || u64::from(first) + m > BITMAP_WORDS {
                    return Err(format!(
                        "its bitmap of {m} words from word {first} does not fit the {BITMAP_WORDS} words of a TAC's serials"
                    ));
                }
                at += 8;
                let m = m as usize;
                let words = take(&mut at, 8 * m)?;
                let ranks = take(&mut at, pad8(4 * m.div_ceil(RANK_GROUP)))?;
                Serials::Bitmap {
                    first,
                    words,
                    ranks,
                }
            }
            k => {
                return Err(format!(
                    "its serial encoding is {k}, not 0 (packed) or 1 (bitmap)"
                ));
            }
        };
        let values = match vkind {
            0 => Values::Offset {
                base: word,
                width,
                packed: take(&mut at, pad8((n * width as usize).div_ceil(8)))?,
            },
            1 => {
                let d = usize::try_from(word)
                    .ok()
                    .filter(|&d| d >= 1 && d <= n)
                    .ok_or_else(|| format!("its value table has {word} values for {n} rules"))?;
                Values::Table {
                    table: take(&mut at, 8 * d)?,
                    width,
                    packed: take(&mut at, pad8((n * width as usize).div_ceil(8)))?,
                }
            }
            k => {
                return Err(format!(
                    "its value encoding is {k}, not 0 (offset) or 1 (table)"
                ));
            }
        };
        if at != b.len() {
            return Err(format!(
                "it is {} bytes, but what its header says takes {at}",
                b.len()
            ));
        }
        Ok(Block { n, serials, values })
    }

    /// Where packed bucket `i` ends.
    #[inline(always)]
    fn end(ends: &[u8], wide: bool, i: usize) -> Option<usize> {
        if wide {
            le32(ends, 4 * i).map(|e| e as usize)
        } else {
            let s = ends.get(2 * i..2 * i + 2)?;
            Some(usize::from(u16::from_le_bytes([s[0], s[1]])))
        }
    }

    /// The positions of the rules with this serial: first, and how many.
    #[inline(always)]
    fn find(&self, serial: u32) -> Option<(usize, usize)> {
        match self.serials {
            Serials::Packed {
                h,
                ends,
                wide,
                lows,
            } => {
                let low_bits = SERIAL_BITS - h;
                let b = (serial >> low_bits) as usize;
                let end = Block::end(ends, wide, b)?.min(self.n);
                let start = if b == 0 {
                    0
                } else {
                    Block::end(ends, wide, b - 1)?
                };
                let want = u64::from(serial) & ((1u64 << low_bits) - 1);
                let lb = low_bits as usize;
                let mut i = start;
                while i < end {
                    let x = bits(lows, i * lb, low_bits);
                    if x == want {
                        let mut j = i + 1;
                        while j < end && bits(lows, j * lb, low_bits) == want {
                            j += 1;
                        }
                        return Some((i, j - i));
                    }
                    if x > want {
                        return None;
                    }
                    i += 1;
                }
                None
            }
            Serials::Bitmap {
                first,
                words,
                ranks,
            } => {
                let wi = (serial / 64).checked_sub(first)? as usize;
                let word = le64(words, 8 * wi)?;
                let bit = serial % 64;
                if word >> bit & 1 == 0 {
                    return None;
                }
                let g = wi / RANK_GROUP;
                let mut rank = le32(ranks, 4 * g)? as usize;
                for k in g * RANK_GROUP..wi {
                    rank += le64(words, 8 * k)?.count_ones() as usize;
                }
                rank += (word & ((1u64 << bit) - 1)).count_ones() as usize;
                Some((rank, 1))
            }
        }
    }

    /// The value at a position.
    #[inline(always)]
    fn value(&self, i: usize) -> Option<u64> {
        match self.values {
            Values::Offset {
                base,
                width,
                packed,
            } => Some(base.wrapping_add(bits(packed, i * width as usize, width))),
            Values::Table {
                table,
                width,
                packed,
            } => {
                let x = bits(packed, i * width as usize, width) as usize;
                le64(table, x.checked_mul(8)?)
            }
        }
    }

    /// Where a lookup of `serial` reads its rules' serials and values, once the bucket ends
    /// are in cache: to prefetch them.
    #[inline(always)]
    fn second_lines(&self, serial: u32) -> Option<[(&'a [u8], usize); 2]> {
        let Serials::Packed {
            h,
            ends,
            wide,
            lows,
        } = self.serials
        else {
            return None;
        };
        let low_bits = SERIAL_BITS - h;
        let b = (serial >> low_bits) as usize;
        let start = if b == 0 {
            0
        } else {
            Block::end(ends, wide, b - 1)?
        };
        let values = match self.values {
            Values::Offset { width, packed, .. } | Values::Table { width, packed, .. } => {
                (packed, start * width as usize / 8)
            }
        };
        Some([(lows, start * low_bits as usize / 8), values])
    }

    /// Where a lookup of `serial` reads first, to prefetch it.
    #[inline(always)]
    fn first_line(&self, serial: u32) -> (&'a [u8], usize) {
        match self.serials {
            Serials::Packed { h, ends, wide, .. } => {
                let b = (serial >> (SERIAL_BITS - h)) as usize;
                (ends, b * if wide { 4 } else { 2 })
            }
            Serials::Bitmap { first, words, .. } => {
                (words, 8 * (serial / 64).saturating_sub(first) as usize)
            }
        }
    }
}

/// Walks a block's rules in order: (serial, value).
#[derive(Clone, Copy, Debug)]
struct Cursor<'a> {
    block: Block<'a>,
    /// The next position.
    i: usize,
    /// Packed: the bucket of position `i`; bitmap: the word.
    at: usize,
    /// Bitmap: the bits of word `at` not yet yielded.
    rest: u64,
}

impl<'a> Cursor<'a> {
    fn new(block: Block<'a>) -> Cursor<'a> {
        let rest = match block.serials {
            Serials::Bitmap { words, .. } => le64(words, 0).unwrap_or(0),
            Serials::Packed { .. } => 0,
        };
        Cursor {
            block,
            i: 0,
            at: 0,
            rest,
        }
    }

    /// The next rule's serial (possibly out of order or out of range in a damaged block)
    /// and value; `None` at the end, or where the block does not decode.
    fn next(&mut self) -> Option<(u64, u64)> {
        if self.i >= self.block.n {
            return None;
        }
        let serial = match self.block.serials {
            Serials::Packed {
                h,
                ends,
                wide,
                lows,
            } => {
                let buckets = 1usize << h;
                while self.at < buckets && Block::end(ends, wide, self.at)? <= self.i {
                    self.at += 1;
                }
                if self.at >= buckets {
                    return None;
                }
                let low_bits = SERIAL_BITS - h;
                (self.at as u64) << low_bits | bits(lows, self.i * low_bits as usize, low_bits)
            }
            Serials::Bitmap { first, words, .. } => {
                while self.rest == 0 {
                    self.at += 1;
                    self.rest = le64(words, 8 * self.at)?;
                }
                let bit = self.rest.trailing_zeros();
                self.rest &= self.rest - 1;
                (u64::from(first) + self.at as u64) * 64 + u64::from(bit)
            }
        };
        let v = self.block.value(self.i)?;
        self.i += 1;
        Some((serial, v))
    }
}

/// One serial's lookup in its block; see [`Blocks::lookup`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup<'a> {
    block: Block<'a>,
    serial: u32,
    radix: u64,
}

impl Lookup<'_> {
    /// Asks the processor to fetch the first line the lookup reads.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        let (area, at) = self.block.first_line(self.serial);
        prefetch(area, at);
    }

    /// Asks the processor to fetch the lines the lookup reads after the first, which
    /// [`Lookup::prefetch`] should have asked for a while before.
    #[inline(always)]
    pub(crate) fn prefetch_more(&self) {
        for (area, at) in self.block.second_lines(self.serial).into_iter().flatten() {
            prefetch(area, at);
        }
    }

    /// Calls `f(source id, entry id)` for each rule of the serial, in source order.
    #[inline(always)]
    pub(crate) fn for_each(&self, f: &mut impl FnMut(u8, u64)) {
        let Some((first, count)) = self.block.find(self.serial) else {
            return;
        };
        for i in first..first + count {
            if let Some(v) = self.block.value(i) {
                f((v % self.radix) as u8, v / self.radix);
            }
        }
    }
}

/// The section, read.
#[derive(Clone)]
pub(crate) struct Blocks {
    data: Bytes,
    tacs: Transducer,
    radix: u64,
    keys: u64,
    blocks: usize,
    offsets_at: usize,
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("keys", &self.keys)
            .field("blocks", &self.blocks)
            .finish()
    }
}

/// How an index's exact-IMEI rules are encoded, in files with the `imei blocks` section
/// ([`IndexStats::imei_blocks`](crate::IndexStats::imei_blocks)): one block per TAC,
/// its serials packed (1–2 bytes each) or as a bitmap (1 bit per serial of the listed
/// span), its rules' entries shared by the block or stored per rule.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Imei, Index, IndexBuilder, Rule, Status};
///
/// let mut b = IndexBuilder::new();
/// for serial in 0..1_000u64 {
///     b.add(Rule::imei(Imei::from_u64(35_209_900_000_000 + serial)?, Entry::new(Status::Blocked)));
/// }
/// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
/// let mix = index.stats().imei_blocks.expect("today's builds write IMEI blocks");
/// assert_eq!((mix.bitmap, mix.shared_value), ((1, 1_000), 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImeiBlockStats {
    /// Blocks (TACs) with packed serials, and their rules.
    pub packed: (u64, u64),
    /// Blocks with bitmap serials, and their rules.
    pub bitmap: (u64, u64),
    /// Blocks whose rules all share one entry and source (no bits per rule).
    pub shared_value: u64,
    /// Blocks with a value table.
    pub value_table: u64,
    /// Bytes of the blocks, of the offsets and of the TAC map.
    pub bytes: (u64, u64, u64),
}

impl Blocks {
    /// Reads the footer and the TAC map's footer: cheap, whatever the section's size.
    pub(crate) fn parse(data: Bytes) -> Result<Blocks, String> {
        let len = data.len();
        if len < FOOTER || !len.is_multiple_of(8) {
            return Err(format!(
                "it is {len} bytes, not a multiple of 8 of at least its {FOOTER}-byte footer"
            ));
        }
        let f = &data[len - FOOTER..];
        if f[..4] != MAGIC {
            return Err(format!(
                "its footer starts with {:02x?}, not {MAGIC:02x?}",
                &f[..4]
            ));
        }
        let radix = le32(f, 4).unwrap_or(0);
        if !(1..=256).contains(&radix) {
            return Err(format!("its radix is {radix}, not 1 to 256"));
        }
        let field = |at| le64(f, at).unwrap_or(u64::MAX);
        let (keys, blocks, offsets_at, tac_at, tac_len) =
            (field(8), field(16), field(24), field(32), field(40));
        let fits = offsets_at.is_multiple_of(8)
            && blocks
                .checked_add(1)
                .and_then(|b| b.checked_mul(8))
                .and_then(|b| b.checked_add(offsets_at))
                == Some(tac_at)
            && tac_len
                .checked_add(7)
                .map(|l| l / 8 * 8)
                .and_then(|l| l.checked_add(tac_at))
                .and_then(|l| l.checked_add(FOOTER as u64))
                == Some(len as u64);
        if !fits {
            return Err(format!(
                "its footer places {blocks} blocks' offsets at {offsets_at} and a {tac_len}-byte \
                 TAC map at {tac_at}, which does not fill its {len} bytes"
            ));
        }
        let tac_at = tac_at as usize;
        let tacs = Transducer::parse(data.slice(tac_at..tac_at + tac_len as usize))
            .map_err(|e| format!("its TAC map is not a transducer: {e}"))?;
        Ok(Blocks {
            tacs,
            radix: u64::from(radix),
            keys,
            blocks: blocks as usize,
            offsets_at: offsets_at as usize,
            data,
        })
    }

    /// True when the section holds no rule (as its footer says; full verification checks it).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Block `k`'s bytes.
    #[inline(always)]
    fn block_bytes(&self, k: u64) -> Option<&[u8]> {
        let k = usize::try_from(k).ok().filter(|&k| k < self.blocks)?;
        let at = self.offsets_at.checked_add(8 * k)?;
        let (start, end) = (le64(&self.data, at)?, le64(&self.data, at + 8)?);
        if start > end || end > self.offsets_at as u64 {
            return None;
        }
        self.data.get(start as usize..end as usize)
    }

    #[inline(always)]
    fn block(&self, k: u64) -> Option<Block<'_>> {
        Block::parse(self.block_bytes(k)?).ok()
    }

    /// The block number of a TAC.
    #[inline(always)]
    pub(crate) fn locate(&self, tac: u32) -> Option<u64> {
        self.tacs.get(&tac_key(tac))
    }

    /// The block numbers of many TACs, walking the TAC map for several at once (see
    /// `Transducer::get_many`): calls `found(i, block)` for each `(i, tac)` listed.
    #[inline]
    pub(crate) fn locate_many(
        &self,
        tacs: impl IntoIterator<Item = (usize, u32)>,
        mut found: impl FnMut(usize, u64),
    ) {
        self.tacs.get_many(
            tacs.into_iter().map(|(i, t)| (i, tac_key(t))),
            false,
            |i, _, k| found(i, k),
        );
    }

    /// Calls `f(source id, entry id)` for each rule of the IMEI (its 14-digit number), in
    /// source order.
    #[inline]
    pub(crate) fn for_each(&self, imei: u64, mut f: impl FnMut(u8, u64)) {
        let (tac, serial) = split(imei);
        if let Some(k) = self.locate(tac) {
            self.for_each_in(k, serial, &mut f);
        }
    }

    /// [`Blocks::for_each`] for a serial of block `k`.
    #[inline(always)]
    pub(crate) fn for_each_in(&self, k: u64, serial: u32, f: &mut impl FnMut(u8, u64)) {
        if let Some(l) = self.lookup(k, serial) {
            l.for_each(f);
        }
    }

    /// The lookup of `serial` in block `k`, its block read once: for lookups that prefetch
    /// their lines in rounds before reading them (`check_many`).
    #[inline(always)]
    pub(crate) fn lookup(&self, k: u64, serial: u32) -> Option<Lookup<'_>> {
        Some(Lookup {
            block: self.block(k)?,
            serial,
            radix: self.radix,
        })
    }

    /// Every rule in key order: key (IMEI, 6 bytes big-endian, then the source id) and entry
    /// id. Panic-free and finite whatever the bytes; see [`BlockStream`].
    pub(crate) fn stream(&self, budget: u64) -> BlockStream<'_> {
        BlockStream {
            blocks: self,
            tacs: self.tacs.stream(4, budget),
            cursor: None,
            tac: 0,
            key: [0; 7],
            last: None,
            budget,
            exhausted: false,
        }
    }

    /// Checks that lookups and the stream read the section alike: the TAC map is sound and
    /// numbers the blocks 0, 1, 2 … in order; every block fills its bytes exactly and holds
    /// its rules strictly increasing by (serial, source id), bitmaps with true rank counts
    /// and bucket ends that cover each rule once; and the rules add up to the footer's
    /// count. Returns that count. Time is linear in the section's bytes (a rule takes at
    /// least one bit).
    pub(crate) fn verify(&self) -> Result<u64, String> {
        let tacs = self
            .tacs
            .verify(4)
            .map_err(|e| format!("its TAC map: {e}"))?;
        if tacs != self.blocks as u64 {
            return Err(format!(
                "its TAC map holds {tacs} TACs, but the footer counts {} blocks",
                self.blocks
            ));
        }
        let mut prev = 0u64;
        for k in 0..=self.blocks {
            let at = le64(&self.data, self.offsets_at + 8 * k).unwrap_or(u64::MAX);
            let ok = if k == 0 {
                at == 0
            } else {
                at > prev && at.is_multiple_of(8)
            };
            if !ok || at > self.offsets_at as u64 {
                return Err(format!(
                    "block offset {k} ({at}) is out of order or out of bounds"
                ));
            }
            prev = at;
        }
        if prev != self.offsets_at as u64 {
            return Err(format!(
                "the blocks end at {prev}, but the offsets start at {}",
                self.offsets_at
            ));
        }
        let mut stream = self.tacs.stream(4, u64::MAX);
        let mut total = 0u64;
        let mut k = 0u64;
        while let Some((key, v)) = stream.next() {
            let tac = u32::from_be_bytes(key.try_into().map_err(|_| "a TAC key is not 4 bytes")?);
            if tac >= 100_000_000 || v != k {
                return Err(format!(
                    "TAC key {key:02x?} (block {v}) is not TAC {k}'s of 8 digits"
                ));
            }
            let bytes = self
                .block_bytes(k)
                .ok_or_else(|| format!("block {k} is out of bounds"))?;
            let block =
                Block::parse(bytes).map_err(|e| format!("block {k} (TAC {tac:08}): {e}"))?;
            check_block(&block, self.radix)
                .map_err(|e| format!("block {k} (TAC {tac:08}): {e}"))?;
            total += block.n as u64;
            k += 1;
        }
        if total != self.keys {
            return Err(format!(
                "its blocks hold {total} rules, but the footer counts {}",
                self.keys
            ));
        }
        Ok(total)
    }

    /// How the blocks are encoded.
    pub(crate) fn mix(&self) -> ImeiBlockStats {
        let mut m = ImeiBlockStats {
            bytes: (
                self.offsets_at as u64,
                8 * (self.blocks as u64 + 1),
                (self.data.len() - FOOTER) as u64
                    - 8 * (self.blocks as u64 + 1)
                    - self.offsets_at as u64,
            ),
            ..ImeiBlockStats::default()
        };
        for k in 0..self.blocks as u64 {
            let Some(b) = self.block(k) else { continue };
            let n = b.n as u64;
            match b.serials {
                Serials::Packed { .. } => m.packed = (m.packed.0 + 1, m.packed.1 + n),
                Serials::Bitmap { .. } => m.bitmap = (m.bitmap.0 + 1, m.bitmap.1 + n),
            }
            match b.values {
                Values::Offset { width: 0, .. } => m.shared_value += 1,
                Values::Table { .. } => m.value_table += 1,
                Values::Offset { .. } => {}
            }
        }
        m
    }
}

/// What full verification checks inside one block (its lengths were checked by parsing).
fn check_block(b: &Block<'_>, radix: u64) -> Result<(), String> {
    match b.serials {
        Serials::Packed { h, ends, wide, .. } => {
            let mut prev = 0;
            for i in 0..1usize << h {
                let e = Block::end(ends, wide, i).unwrap_or(usize::MAX);
                if e < prev || e > b.n {
                    return Err(format!(
                        "bucket end {i} ({e}) is out of order or past its {} rules",
                        b.n
                    ));
                }
                prev = e;
            }
            if prev != b.n {
                return Err(format!(
                    "its buckets end at {prev}, not at its {} rules",
                    b.n
                ));
            }
        }
        Serials::Bitmap { words, ranks, .. } => {
            let m = words.len() / 8;
            let mut set = 0u64;
            for w in 0..m {
                if w % RANK_GROUP == 0
                    && le32(ranks, 4 * (w / RANK_GROUP)).map(u64::from) != Some(set)
                {
                    return Err(format!(
                        "its rank count before word {w} is not the {set} bits set before it"
                    ));
                }
                set += u64::from(le64(words, 8 * w).unwrap_or(0).count_ones());
            }
            if set != b.n as u64 {
                return Err(format!("its bitmap has {set} bits set for {} rules", b.n));
            }
        }
    }
    if let Values::Table { table, width, .. } = b.values
        && (table.len() / 8) as u64 > 1u64 << width
    {
        return Err(format!(
            "its value table has {} values, more than its {width}-bit indexes reach",
            table.len() / 8
        ));
    }
    let mut c = Cursor::new(*b);
    let mut last: Option<(u64, u64)> = None;
    for i in 0..b.n {
        let (serial, v) = c
            .next()
            .ok_or_else(|| format!("rule {i} of {} does not decode", b.n))?;
        if serial >= u64::from(SERIALS) {
            return Err(format!("rule {i}'s serial {serial} has more than 6 digits"));
        }
        let here = (serial, v % radix);
        if last.is_some_and(|l| l >= here) {
            return Err(format!(
                "rule {i} (serial {serial:06}) is not after the rule before it"
            ));
        }
        // With the rules in order, bucket ends that cover each rule once and true rank
        // counts, a lookup finds exactly the rules the cursor yields; checking each by a
        // lookup would cost a bucket's length per rule, which a crafted block makes large.
        last = Some(here);
    }
    Ok(())
}

/// The rules of a [`Blocks`] section in key order; see [`Blocks::stream`].
///
/// Never panics and always ends: it yields only keys greater than the one before, skips
/// blocks that do not decode, and stops after `budget` steps (TAC map nodes and rules),
/// saying so ([`BlockStream::exhausted`]). On a section that passes [`Blocks::verify`] it
/// yields exactly the rules lookups find.
pub(crate) struct BlockStream<'a> {
    blocks: &'a Blocks,
    tacs: Stream<'a>,
    cursor: Option<Cursor<'a>>,
    tac: u64,
    key: [u8; 7],
    last: Option<[u8; 7]>,
    budget: u64,
    exhausted: bool,
}

impl BlockStream<'_> {
    /// True when the walk stopped at its budget rather than at the last rule.
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted || self.tacs.exhausted()
    }

    /// The next key and entry id.
    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next(&mut self) -> Option<(&[u8], u64)> {
        loop {
            if self.budget == 0 {
                self.exhausted = true;
                return None;
            }
            self.budget -= 1;
            let Some(c) = &mut self.cursor else {
                let (key, k) = self.tacs.next()?;
                let Ok(tac) = <[u8; 4]>::try_from(key) else {
                    continue;
                };
                self.tac = u64::from(u32::from_be_bytes(tac));
                self.cursor = self
                    .blocks
                    .block_bytes(k)
                    .and_then(|b| Block::parse(b).ok())
                    .map(Cursor::new);
                continue;
            };
            let Some((serial, v)) = c.next() else {
                self.cursor = None;
                continue;
            };
            if serial >= u64::from(SERIALS) {
                continue;
            }
            let imei = self.tac * 1_000_000 + serial;
            self.key[..6].copy_from_slice(&key::imei_key(imei));
            self.key[6] = (v % self.blocks.radix) as u8;
            if self.last.is_some_and(|l| l >= self.key) {
                continue;
            }
            self.last = Some(self.key);
            return Some((&self.key[..], v / self.blocks.radix));
        }
    }
}

/// Writes the section from rules in strictly increasing (IMEI, source id) order.
pub(crate) struct BlocksWriter<W: Write> {
    w: W,
    radix: u64,
    written: u64,
    keys: u64,
    offsets: Vec<u64>,
    tacs: fst::MapBuilder<Vec<u8>>,
    tac: Option<u32>,
    serials: Vec<u32>,
    values: Vec<u64>,
    last: Option<(u64, u8)>,
    buf: Vec<u8>,
}

fn internal(what: impl Into<String>) -> io::Error {
    io::Error::other(format!("{} (an internal error)", what.into()))
}

impl<W: Write> BlocksWriter<W> {
    /// A writer for a file with `sources` sources (1 to 256).
    pub(crate) fn new(w: W, sources: usize) -> io::Result<BlocksWriter<W>> {
        if !(1..=256).contains(&sources) {
            return Err(internal(format!("{sources} sources for the IMEI blocks")));
        }
        Ok(BlocksWriter {
            w,
            radix: sources as u64,
            written: 0,
            keys: 0,
            offsets: vec![0],
            tacs: fst::MapBuilder::memory(),
            tac: None,
            serials: Vec::new(),
            values: Vec::new(),
            last: None,
            buf: Vec::new(),
        })
    }

    /// Adds a rule: the IMEI's 14-digit number, its source id and entry id.
    pub(crate) fn push(&mut self, imei: u64, source: u8, id: u64) -> io::Result<()> {
        if self.last.is_some_and(|l| l >= (imei, source))
            || u64::from(source) >= self.radix
            || imei >= 100_000_000_000_000
        {
            return Err(internal(format!(
                "IMEI rule {imei:014} of source {source} is out of order or out of range"
            )));
        }
        self.last = Some((imei, source));
        let (tac, serial) = split(imei);
        if self.tac != Some(tac) {
            self.flush()?;
            self.tac = Some(tac);
        }
        let v = id
            .checked_mul(self.radix)
            .and_then(|v| v.checked_add(u64::from(source)))
            .filter(|&v| width_of(v) <= MAX_WIDTH)
            .ok_or_else(|| internal(format!("entry id {id} is too large for the IMEI blocks")))?;
        self.serials.push(serial);
        self.values.push(v);
        self.keys += 1;
        Ok(())
    }

    /// Writes the current TAC's block.
    fn flush(&mut self) -> io::Result<()> {
        let Some(tac) = self.tac.take() else {
            return Ok(());
        };
        self.buf.clear();
        encode_block(&self.serials, &self.values, &mut self.buf);
        self.tacs
            .insert(tac_key(tac), (self.offsets.len() - 1) as u64)
            .map_err(|e| internal(e.to_string()))?;
        self.w.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.offsets.push(self.written);
        self.serials.clear();
        self.values.clear();
        Ok(())
    }

    /// Writes the offsets, the TAC map and the footer; returns the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        let offsets_at = self.written;
        for o in &self.offsets {
            self.w.write_all(&o.to_le_bytes())?;
        }
        let tacs = self
            .tacs
            .into_inner()
            .map_err(|e| internal(e.to_string()))?;
        self.w.write_all(&tacs)?;
        self.w
            .write_all(&[0u8; 8][..pad8(tacs.len()) - tacs.len()])?;
        let blocks = self.offsets.len() as u64 - 1;
        let mut f = Vec::with_capacity(FOOTER);
        f.extend_from_slice(&MAGIC);
        f.extend_from_slice(&(self.radix as u32).to_le_bytes());
        for x in [
            self.keys,
            blocks,
            offsets_at,
            offsets_at + 8 * (blocks + 1),
            tacs.len() as u64,
        ] {
            f.extend_from_slice(&x.to_le_bytes());
        }
        self.w.write_all(&f)?;
        Ok(self.w)
    }
}

/// Packs `width`-bit values, least significant bit first, padded to 8 bytes.
fn pack(out: &mut Vec<u8>, values: impl IntoIterator<Item = u64>, width: u32) {
    let start = out.len();
    if width > 0 {
        let (mut acc, mut n) = (0u128, 0u32);
        for v in values {
            acc |= u128::from(v) << n;
            n += width;
            while n >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                n -= 8;
            }
        }
        if n > 0 {
            out.push(acc as u8);
        }
    }
    out.resize(start + pad8(out.len() - start), 0);
}

/// Encodes one block: serials sorted (equal ones only with different sources) and their
/// values, in the cheaper of each encoding.
fn encode_block(serials: &[u32], values: &[u64], out: &mut Vec<u8>) {
    let n = serials.len();
    let wide = n >= 1 << 16;
    let ew = if wide { 4 } else { 2 };
    // Packed: the bucket bits that take the fewest bytes, keeping buckets short.
    let packed =
        |h: u32| pad8((1usize << h) * ew) + pad8((n * (SERIAL_BITS - h) as usize).div_ceil(8));
    let min_h = (0..=SERIAL_BITS)
        .find(|&h| (1usize << h) * MAX_BUCKET >= n)
        .unwrap_or(SERIAL_BITS);
    let h = (min_h..=SERIAL_BITS)
        .min_by_key(|&h| (packed(h), SERIAL_BITS - h))
        .unwrap_or(SERIAL_BITS);
    let distinct = serials.windows(2).all(|w| w[0] < w[1]);
    let (first, last) = (serials[0] / 64, serials[n - 1] / 64);
    let m = (last - first + 1) as usize;
    let bitmap = 8 + 8 * m + pad8(4 * m.div_ceil(RANK_GROUP));
    let use_bitmap = distinct && bitmap < packed(h);

    // Values: offsets from the least, or indexes into a table of the distinct ones.
    let (min, max) = values
        .iter()
        .fold((u64::MAX, 0), |(a, b), &v| (a.min(v), b.max(v)));
    let ow = width_of(max - min);
    let mut table: Vec<u64> = values.to_vec();
    table.sort_unstable();
    table.dedup();
    let tw = width_of(table.len() as u64 - 1);
    let by_offset = pad8((n * ow as usize).div_ceil(8));
    let by_table = 8 * table.len() + pad8((n * tw as usize).div_ceil(8));
    let use_table = by_table < by_offset;

    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.push(u8::from(use_bitmap));
    out.push(if use_bitmap { 0 } else { h as u8 });
    out.push(u8::from(use_table));
    out.push(if use_table { tw } else { ow } as u8);
    out.extend_from_slice(&if use_table { table.len() as u64 } else { min }.to_le_bytes());
    if use_bitmap {
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&(m as u32).to_le_bytes());
        let mut words = vec![0u64; m];
        for &s in serials {
            words[(s / 64 - first) as usize] |= 1 << (s % 64);
        }
        for w in &words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let at = out.len();
        let mut set = 0u32;
        for g in words.chunks(RANK_GROUP) {
            out.extend_from_slice(&set.to_le_bytes());
            set += g.iter().map(|w| w.count_ones()).sum::<u32>();
        }
        out.resize(at + pad8(out.len() - at), 0);
    } else {
        let low_bits = SERIAL_BITS - h;
        let at = out.len();
        let mut i = 0;
        for b in 0..1u32 << h {
            while i < n && serials[i] >> low_bits == b {
                i += 1;
            }
            if wide {
                out.extend_from_slice(&(i as u32).to_le_bytes());
            } else {
                out.extend_from_slice(&(i as u16).to_le_bytes());
            }
        }
        out.resize(at + pad8(out.len() - at), 0);
        let mask = (1u64 << low_bits) - 1;
        pack(out, serials.iter().map(|&s| u64::from(s) & mask), low_bits);
    }
    if use_table {
        for v in &table {
            out.extend_from_slice(&v.to_le_bytes());
        }
        pack(
            out,
            values
                .iter()
                .map(|v| table.binary_search(v).unwrap_or(0) as u64),
            tw,
        );
    } else {
        pack(out, values.iter().map(|v| v - min), ow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn build(rules: &BTreeMap<(u64, u8), u64>, sources: usize) -> Blocks {
        let mut w = BlocksWriter::new(Vec::new(), sources).unwrap();
        for (&(imei, s), &id) in rules {
            w.push(imei, s, id).unwrap();
        }
        Blocks::parse(Bytes::from(w.finish().unwrap())).unwrap()
    }

    fn lookups_and_stream_agree(rules: &BTreeMap<(u64, u8), u64>, sources: usize, probes: &[u64]) {
        let b = build(rules, sources);
        assert_eq!(b.verify(), Ok(rules.len() as u64));
        let mut streamed = BTreeMap::new();
        let mut s = b.stream(u64::MAX);
        while let Some((k, id)) = s.next() {
            let mut i = [0u8; 8];
            i[2..].copy_from_slice(&k[..6]);
            streamed.insert((u64::from_be_bytes(i), k[6]), id);
        }
        assert_eq!(&streamed, rules);
        for &p in probes.iter().chain(rules.keys().map(|(i, _)| i)) {
            let mut found = Vec::new();
            b.for_each(p, |s, id| found.push((s, id)));
            let want: Vec<(u8, u64)> = rules
                .range((p, 0)..=(p, 255))
                .map(|(&(_, s), &id)| (s, id))
                .collect();
            assert_eq!(found, want, "IMEI {p:014}");
        }
    }

    /// Lists shaped like the ones that choose each encoding: sparse and dense TACs, one or
    /// several sources, shared or varied entries.
    fn lists() -> impl Strategy<Value = (BTreeMap<(u64, u8), u64>, usize)> {
        (1usize..4, 0u64..3, 0usize..3).prop_flat_map(|(sources, tacs, shape)| {
            let serial = match shape {
                0 => (0u64..1_000_000).boxed(),
                1 => (0u64..3_000).boxed(),
                _ => (499_000u64..500_100).boxed(),
            };
            let imei = (0..=tacs, serial).prop_map(|(t, s)| (35_000_000 + t * 7) * 1_000_000 + s);
            let n = if shape == 0 {
                0..400usize
            } else {
                0..3000usize
            };
            (
                proptest::collection::btree_map((imei, 0..sources as u8), Just(0u64), n),
                Just(sources),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn lookups_stream_and_verify_agree_with_the_rules(
            (keys, sources) in lists(),
            ids in proptest::collection::vec(0u64..2_000, 1..50),
            probes in proptest::collection::vec(35_000_000_000_000u64..35_000_030_000_000, 50),
        ) {
            let rules: BTreeMap<(u64, u8), u64> =
                keys.keys().enumerate().map(|(i, &k)| (k, ids[i % ids.len()])).collect();
            lookups_and_stream_agree(&rules, sources, &probes);
        }

        #[test]
        fn damaged_sections_never_panic(
            (keys, sources) in lists(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            probes in proptest::collection::vec(35_000_000_000_000u64..35_000_030_000_000, 20),
        ) {
            let rules: BTreeMap<(u64, u8), u64> = keys.keys().map(|&k| (k, 1)).collect();
            let mut w = BlocksWriter::new(Vec::new(), sources).unwrap();
            for (&(imei, s), &id) in &rules {
                w.push(imei, s, id).unwrap();
            }
            let mut bytes = w.finish().unwrap();
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x | 1;
            }
            if let Ok(b) = Blocks::parse(Bytes::from(bytes)) {
                let verified = b.verify().is_ok();
                let mut streamed = BTreeMap::new();
                let mut s = b.stream(1 << 20);
                while let Some((k, id)) = s.next() {
                    streamed.insert(k.to_vec(), id);
                }
                for &p in probes.iter().chain(rules.keys().map(|(i, _)| i)) {
                    let mut found = Vec::new();
                    b.for_each(p, |s, id| found.push((s, id)));
                    if verified {
                        // What passes verification reads alike both ways.
                        let mut k = p.to_be_bytes()[2..].to_vec();
                        for (s, id) in found {
                            k.push(s);
                            prop_assert_eq!(streamed.get(&k), Some(&id));
                            k.pop();
                        }
                    }
                }
                let _ = b.mix();
            }
        }
    }

    #[test]
    fn each_encoding_is_chosen_where_it_is_smallest() {
        // A whole TAC: a bitmap, one shared value.
        let whole: BTreeMap<(u64, u8), u64> = (0..1_000_000u64)
            .map(|s| ((35_209_900 * 1_000_000 + s, 0), 0))
            .collect();
        let b = build(&whole, 1);
        let m = b.mix();
        assert_eq!(
            (m.bitmap, m.packed, m.shared_value),
            ((1, 1_000_000), (0, 0), 1)
        );
        assert!(m.bytes.0 < 140_000, "{m:?}");
        lookups_and_stream_agree(&whole, 1, &[35_209_900_999_999, 35_209_901_000_000]);
        // Sparse serials with two sources on one IMEI: packed, values in a table.
        let sparse: BTreeMap<(u64, u8), u64> = (0..5_000u64)
            .flat_map(|i| {
                let imei = 35_209_900 * 1_000_000 + i * 199;
                [((imei, 0), i % 3 * 1_000_000), ((imei, 1), 7)]
            })
            .collect();
        let b = build(&sparse, 2);
        let m = b.mix();
        assert_eq!((m.packed, m.value_table), ((1, 10_000), 1));
        lookups_and_stream_agree(&sparse, 2, &[35_209_900_000_001]);
    }

    #[test]
    fn the_writer_refuses_rules_out_of_order() {
        let mut w = BlocksWriter::new(Vec::new(), 2).unwrap();
        w.push(35_209_900_000_001, 1, 0).unwrap();
        assert!(w.push(35_209_900_000_001, 0, 0).is_err());
        assert!(w.push(35_209_900_000_002, 2, 0).is_err());
    }

    #[test]
    fn an_empty_section_reads_as_empty() {
        let b = build(&BTreeMap::new(), 1);
        assert!(b.is_empty());
        assert_eq!(b.verify(), Ok(0));
        assert!(b.stream(10).next().is_none());
    }
}
