//! The optional `devices` section: GSMA's TAC database, each text stored once.
//!
//! ```text
//! 0     4     magic "TACD"
//! 4     4     TACs n (u32)
//! 8     4     makers m (u32): distinct (manufacturer, brand, device type)
//! 12    4     strings s (u32)
//! 16    4     slot bits b (u32, 3 to 31): the lookup table has 2^b slots, at least 4n/3
//! 20    4     zero
//! 24    8·2^b the lookup table, open-addressed: per slot a TAC (u32; 0xFFFF_FFFF for an
//!             empty slot) and its allocation date (u32: days since 1970-01-01 + 1, 0 none)
//! …     12·n  per TAC, strictly increasing by TAC (each below 10^8): TAC, model (string
//!             id), maker (id)
//! …     12·m  per maker: manufacturer, brand, device type (string ids); strictly
//!             increasing as triples
//! …     4·s   string end offsets (u32) into the texts
//! …           the texts (UTF-8), strictly increasing by bytes; string 0 may be empty
//! ```
//!
//! All integers little-endian. A TAC's home slot is the top `b` bits of the TAC times
//! 0x9E37_79B9_7F4A_7C15 (64-bit); a lookup probes from there to the TAC or an empty slot,
//! so the policy's question — is the TAC listed, and when was it allocated — costs one or
//! two cache lines, where a search of the sorted TACs is a chain of about 18 dependent loads
//! at 300,000 TACs (measured at 300,000 TACs: 4.5 times slower). The sorted rows serve
//! [`Devices::get`] (a binary search) and iteration. The section is optional (its id has the
//! high bit): a reader that does not know it answers every check as one with the TAC policy
//! off does, which is what the file's rules say.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::model::device::{Device, TacTable};
use crate::model::ident::Tac;
use crate::model::rule::Date;

const MAGIC: [u8; 4] = *b"TACD";
const HEADER: usize = 24;
const SLOT: usize = 8;
const ROW: usize = 12;
const MAKER: usize = 12;
const EMPTY: u32 = u32::MAX;
/// TACs have 8 digits.
const TAC_LIMIT: u32 = 100_000_000;
const HASH: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The slot bits for `n` TACs: the fewest (at least 3) whose slots are at least 4n/3.
fn slot_bits(n: usize) -> u32 {
    let want = (n * 4).div_ceil(3).max(8);
    want.next_power_of_two().trailing_zeros()
}

/// The home slot of a TAC in a table of `2^bits` slots.
#[inline(always)]
fn home(tac: u32, bits: u32) -> usize {
    (u64::from(tac).wrapping_mul(HASH) >> (64 - bits)) as usize
}

/// The devices section of an open index, its arrays checked to fit; the contents are
/// checked by [`Devices::verify`].
#[derive(Clone, Debug)]
pub(crate) struct Devices {
    data: Bytes,
    tacs: usize,
    makers: usize,
    strings: usize,
    bits: u32,
    rows: usize,
    maker_at: usize,
    ends: usize,
    texts: usize,
}

impl Devices {
    /// Reads the counts and checks that the arrays fit the section exactly.
    pub(crate) fn parse(data: Bytes) -> Result<Devices, String> {
        if data.get(..4) != Some(&MAGIC[..]) || data.len() < HEADER {
            return Err(format!(
                "it does not start with the 24-byte header whose magic is \"TACD\" ({} bytes)",
                data.len()
            ));
        }
        let count = |at| u32_at(&data, at).unwrap_or(0) as usize;
        let (tacs, makers, strings) = (count(4), count(8), count(12));
        let bits = u32_at(&data, 16).unwrap_or(0);
        if !(3..=31).contains(&bits) || (1usize << bits) < (tacs * 4).div_ceil(3) {
            return Err(format!(
                "its lookup table has 2^{bits} slots, which cannot hold {tacs} TACs with room to \
                 spare"
            ));
        }
        let slots = 1usize << bits;
        let fixed = slots
            .checked_mul(SLOT)
            .and_then(|t| t.checked_add(tacs.checked_mul(ROW)?))
            .and_then(|t| t.checked_add(makers.checked_mul(MAKER)?))
            .and_then(|t| t.checked_add(strings.checked_mul(4)?))
            .and_then(|t| t.checked_add(HEADER))
            .filter(|&t| t <= data.len())
            .ok_or_else(|| {
                format!(
                    "it counts {tacs} TACs, {makers} makers and {strings} strings, whose arrays \
                     do not fit its {} bytes",
                    data.len()
                )
            })?;
        let rows = HEADER + SLOT * slots;
        let maker_at = rows + ROW * tacs;
        let ends = maker_at + MAKER * makers;
        let d = Devices {
            tacs,
            makers,
            strings,
            bits,
            rows,
            maker_at,
            ends,
            texts: fixed,
            data,
        };
        let text_len = match strings {
            0 => 0,
            s => d.end(s - 1).unwrap_or(u32::MAX) as usize,
        };
        if fixed.checked_add(text_len) != Some(d.data.len()) {
            return Err(format!(
                "its texts end at {text_len}, but {} bytes are left for them",
                d.data.len() - fixed
            ));
        }
        Ok(d)
    }

    /// TACs in the table.
    pub(crate) fn len(&self) -> usize {
        self.tacs
    }

    /// Bytes of the section.
    pub(crate) fn bytes(&self) -> usize {
        self.data.len()
    }

    fn end(&self, i: usize) -> Option<u32> {
        u32_at(&self.data, self.ends + 4 * i)
    }

    /// Row `i`'s TAC.
    #[inline(always)]
    fn tac(&self, i: usize) -> Option<u32> {
        u32_at(&self.data, self.rows + ROW * i)
    }

    fn string(&self, id: u32) -> Option<&str> {
        let i = id as usize;
        if i >= self.strings {
            return None;
        }
        let a = if i == 0 { 0 } else { self.end(i - 1)? as usize };
        let b = self.end(i)? as usize;
        let bytes = self
            .data
            .get(self.texts.checked_add(a)?..self.texts.checked_add(b)?)?;
        std::str::from_utf8(bytes).ok()
    }

    /// Whether the table lists a TAC, and its allocation date: what the policy needs.
    #[inline]
    pub(crate) fn allocation(&self, tac: u32) -> Option<Option<Date>> {
        let mask = (1usize << self.bits) - 1;
        let mut slot = home(tac, self.bits);
        // At most every slot once: a table that is full (only in a file that fails full
        // verification) ends the probe rather than loop.
        for _ in 0..=mask {
            let at = HEADER + SLOT * slot;
            match u32_at(&self.data, at)? {
                t if t == tac => {
                    let d = u32_at(&self.data, at + 4)?;
                    return Some(d.checked_sub(1).and_then(Date::from_days_since_epoch));
                }
                EMPTY => return None,
                _ => slot = (slot + 1) & mask,
            }
        }
        None
    }

    /// The row of a TAC, by a binary search of the sorted rows.
    fn find(&self, tac: u32) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.tacs);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.tac(mid)? < tac {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < self.tacs && self.tac(lo)? == tac).then_some(lo)
    }

    /// What the table says about a TAC.
    pub(crate) fn get(&self, tac: Tac) -> Option<Device<'_>> {
        let allocated = self.allocation(tac.as_u32())?;
        self.at(self.find(tac.as_u32())?, allocated)
    }

    fn at(&self, i: usize, allocated: Option<Date>) -> Option<Device<'_>> {
        let tac = Tac::from_u32(self.tac(i)?).ok()?;
        let r = self.rows + ROW * i;
        let (model, maker) = (
            u32_at(&self.data, r + 4)?,
            u32_at(&self.data, r + 8)? as usize,
        );
        if maker >= self.makers {
            return None;
        }
        let m = self.maker_at + MAKER * maker;
        Some(Device {
            tac,
            manufacturer: self.string(u32_at(&self.data, m)?)?,
            brand: self.string(u32_at(&self.data, m + 4)?)?,
            model: self.string(model)?,
            device_type: self.string(u32_at(&self.data, m + 8)?)?,
            allocated,
        })
    }

    /// Every row, in TAC order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Device<'_>> + '_ {
        (0..self.tacs).filter_map(|i| {
            let allocated = self.allocation(self.tac(i)?)?;
            self.at(i, allocated)
        })
    }

    /// Checks every slot, row, maker and string: what checks and `device` read is then
    /// exactly what was written. Time linear in the section's size (probes are short in a
    /// table at most three quarters full, and each is bounded).
    pub(crate) fn verify(&self) -> Result<(), String> {
        let mut prev: Option<&str> = None;
        for i in 0..self.strings {
            let a = if i == 0 {
                0
            } else {
                self.end(i - 1).unwrap_or(u32::MAX)
            };
            if a > self.end(i).unwrap_or(0) {
                return Err(format!("string {i} ends before it starts"));
            }
            let t = self
                .string(i as u32)
                .ok_or_else(|| format!("string {i} is not UTF-8"))?;
            if prev.is_some_and(|p| p >= t) {
                return Err(format!(
                    "string {i} ({t:?}) is not after the string before it"
                ));
            }
            prev = Some(t);
        }
        let string = |id: u32, what: &str| -> Result<(), String> {
            if (id as usize) < self.strings {
                Ok(())
            } else {
                Err(format!(
                    "{what} names string {id}, but there are {}",
                    self.strings
                ))
            }
        };
        let mut last: Option<[u32; 3]> = None;
        for k in 0..self.makers {
            let m = self.maker_at + MAKER * k;
            let triple = [0, 4, 8].map(|o| u32_at(&self.data, m + o).unwrap_or(u32::MAX));
            for id in triple {
                string(id, &format!("maker {k}"))?;
            }
            if last.is_some_and(|l| l >= triple) {
                return Err(format!("maker {k} is not after the maker before it"));
            }
            last = Some(triple);
        }
        let mut prev_tac: Option<u32> = None;
        for i in 0..self.tacs {
            let tac = self.tac(i).unwrap_or(u32::MAX);
            if tac >= TAC_LIMIT {
                return Err(format!("TAC {i} is {tac}, which has more than 8 digits"));
            }
            if prev_tac.is_some_and(|p| p >= tac) {
                return Err(format!("TAC {tac:08} is not after the TAC before it"));
            }
            prev_tac = Some(tac);
            let r = self.rows + ROW * i;
            let [model, maker] = [4, 8].map(|o| u32_at(&self.data, r + o).unwrap_or(u32::MAX));
            string(model, &format!("TAC {tac:08}'s model"))?;
            if maker as usize >= self.makers {
                return Err(format!(
                    "TAC {tac:08} names maker {maker}, but there are {}",
                    self.makers
                ));
            }
        }
        // The lookup table: each occupied slot holds a row's TAC, every row's TAC is in
        // one slot, and each is reachable from its home slot, that is, every slot from the
        // home slot to its own is occupied. Checked in one pass over the slots, by the
        // length of the run of occupied slots ending at each, so that no crafted table
        // makes this quadratic.
        let slots = 1usize << self.bits;
        let entry = |slot: usize| {
            let at = HEADER + SLOT * slot;
            (
                u32_at(&self.data, at).unwrap_or(EMPTY),
                u32_at(&self.data, at + 4).unwrap_or(u32::MAX),
            )
        };
        let Some(start) = (0..slots).find(|&s| entry(s).0 == EMPTY) else {
            return Err("its lookup table has no empty slot".into());
        };
        let mut in_table = Vec::with_capacity(self.tacs);
        let mut run = 0usize;
        for k in 1..=slots {
            let slot = (start + k) & (slots - 1);
            let (tac, date) = entry(slot);
            if tac == EMPTY {
                if date != 0 {
                    return Err(format!("empty slot {slot} holds a date"));
                }
                run = 0;
                continue;
            }
            run += 1;
            let distance = slot.wrapping_sub(home(tac, self.bits)) & (slots - 1);
            if distance >= run {
                return Err(format!(
                    "TAC {tac:08} is in slot {slot}, which a lookup from its home slot does \
                     not reach"
                ));
            }
            if date > Date::MAX_DAYS + 1 {
                return Err(format!(
                    "TAC {tac:08}'s allocation date ({date}) is past 9999-12-31"
                ));
            }
            in_table.push(tac);
        }
        in_table.sort_unstable();
        let rows = (0..self.tacs).map(|i| self.tac(i).unwrap_or(EMPTY));
        if in_table.len() != self.tacs || !in_table.iter().copied().eq(rows) {
            return Err(format!(
                "its lookup table holds {} TACs, which are not the {} its rows list",
                in_table.len(),
                self.tacs
            ));
        }
        Ok(())
    }
}

/// The section's bytes for a table.
pub(crate) fn encode(table: &TacTable) -> Vec<u8> {
    let mut texts: BTreeMap<&str, u32> = BTreeMap::new();
    for (_, d) in table.iter() {
        for t in [&d.manufacturer, &d.brand, &d.model, &d.device_type] {
            texts.insert(t.as_str(), 0);
        }
    }
    for (i, v) in texts.values_mut().enumerate() {
        *v = i as u32;
    }
    let maker_of = |d: &crate::model::device::DeviceInfo| {
        [
            texts[d.manufacturer.as_str()],
            texts[d.brand.as_str()],
            texts[d.device_type.as_str()],
        ]
    };
    let mut makers: BTreeMap<[u32; 3], u32> = BTreeMap::new();
    for (_, d) in table.iter() {
        makers.insert(maker_of(d), 0);
    }
    for (i, v) in makers.values_mut().enumerate() {
        *v = i as u32;
    }
    let bits = slot_bits(table.len());
    let mask = (1usize << bits) - 1;
    let mut slots = vec![(EMPTY, 0u32); 1 << bits];
    for (tac, d) in table.iter() {
        let mut slot = home(tac.as_u32(), bits);
        while slots[slot].0 != EMPTY {
            slot = (slot + 1) & mask;
        }
        slots[slot] = (
            tac.as_u32(),
            d.allocated.map_or(0, |d| d.days_since_epoch() + 1),
        );
    }
    let mut b = Vec::new();
    b.extend_from_slice(&MAGIC);
    for n in [table.len(), makers.len(), texts.len()] {
        b.extend_from_slice(&(n as u32).to_le_bytes());
    }
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for (tac, date) in slots {
        b.extend_from_slice(&tac.to_le_bytes());
        b.extend_from_slice(&date.to_le_bytes());
    }
    for (tac, d) in table.iter() {
        for v in [tac.as_u32(), texts[d.model.as_str()], makers[&maker_of(d)]] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    for m in makers.keys() {
        for v in m {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut end = 0u32;
    for t in texts.keys() {
        end += t.len() as u32;
        b.extend_from_slice(&end.to_le_bytes());
    }
    for t in texts.keys() {
        b.extend_from_slice(t.as_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::device::DeviceInfo;

    fn table() -> TacTable {
        let mut t = TacTable::new();
        for (tac, model, maker, date) in [
            ("35209900", "Galaxy", "Samsung", Some("2023-02-01")),
            ("01234567", "", "Nokia", None),
            ("99999999", "Galaxy", "Samsung", Some("1999-12-31")),
        ] {
            t.insert(
                Tac::parse(tac).unwrap(),
                DeviceInfo {
                    manufacturer: maker.into(),
                    brand: maker.into(),
                    model: model.into(),
                    device_type: "Smartphone".into(),
                    allocated: date.map(|d| d.parse().unwrap()),
                },
            );
        }
        t
    }

    #[test]
    fn finds_every_tac_and_no_other() {
        let mut t = TacTable::new();
        for k in 0..1_000u32 {
            t.insert(
                Tac::from_u32(k * 7 + 3).unwrap(),
                DeviceInfo {
                    model: format!("m{k}"),
                    ..Default::default()
                },
            );
        }
        let d = Devices::parse(Bytes::from(encode(&t))).unwrap();
        d.verify().unwrap();
        for n in 0..7_010u32 {
            let listed = n % 7 == 3 && n < 7_000;
            assert_eq!(d.allocation(n).is_some(), listed, "{n}");
            if listed {
                assert_eq!(
                    d.get(Tac::from_u32(n).unwrap()).unwrap().model,
                    format!("m{}", n / 7)
                );
            }
        }
    }

    #[test]
    fn round_trips_and_answers_lookups() {
        let t = table();
        let d = Devices::parse(Bytes::from(encode(&t))).unwrap();
        d.verify().unwrap();
        assert_eq!(d.len(), 3);
        for (tac, info) in t.iter() {
            let got = d.get(tac).unwrap();
            assert_eq!(
                (
                    got.manufacturer,
                    got.brand,
                    got.model,
                    got.device_type,
                    got.allocated
                ),
                (
                    info.manufacturer.as_str(),
                    info.brand.as_str(),
                    info.model.as_str(),
                    info.device_type.as_str(),
                    info.allocated
                )
            );
            assert_eq!(d.allocation(tac.as_u32()), Some(info.allocated));
        }
        for missing in [0, 1_234_566, 35_209_901, 99_999_998] {
            assert_eq!(d.allocation(missing), None);
        }
        assert_eq!(d.iter().count(), 3);
        let empty = Devices::parse(Bytes::from(encode(&TacTable::new()))).unwrap();
        empty.verify().unwrap();
        assert_eq!(empty.allocation(35_209_900), None);
    }

    #[test]
    fn any_damage_is_refused_or_caught_by_verify_never_a_panic() {
        let bytes = encode(&table());
        for n in 0..bytes.len() {
            assert!(
                Devices::parse(Bytes::from(bytes[..n].to_vec())).is_err(),
                "{n}"
            );
        }
        let mut caught = 0;
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                if let Ok(d) = Devices::parse(Bytes::from(b)) {
                    let _ = (d.iter().count(), d.allocation(35_209_900));
                    caught += usize::from(d.verify().is_err());
                }
            }
        }
        assert!(caught > 0);
    }
}
