//! The optional `devices` section: GSMA's TAC database, each text stored once.
//!
//! ```text
//! 0     4     magic "TACD"
//! 4     4     TACs n (u32)
//! 8     4     makers m (u32): distinct (manufacturer, brand, device type)
//! 12    4     strings s (u32)
//! 16    4·n   the TACs (u32), strictly increasing, each below 10^8
//! …     12·n  per TAC, in the same order: model (string id), maker (id), allocation date
//!             (u32: days since 1970-01-01 + 1, 0 for none)
//! …     12·m  per maker: manufacturer, brand, device type (string ids); strictly
//!             increasing as triples
//! …     4·s   string end offsets (u32) into the texts
//! …           the texts (UTF-8), strictly increasing by bytes; string 0 may be empty
//! ```
//!
//! All integers little-endian. The TACs are apart from their records so that the search of
//! a check reads only them (4 bytes per TAC) and then one record. The section is optional
//! (its id has the high bit): a reader that does not know it answers every check as one
//! with the TAC policy off does, which is what the file's rules say.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::model::device::{Device, TacTable};
use crate::model::ident::Tac;
use crate::model::rule::Date;

const MAGIC: [u8; 4] = *b"TACD";
const HEADER: usize = 16;
const RECORD: usize = 12;
const MAKER: usize = 12;
/// TACs have 8 digits.
const TAC_LIMIT: u32 = 100_000_000;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The devices section of an open index, its arrays checked to fit; the contents are
/// checked by [`Devices::verify`].
#[derive(Clone, Debug)]
pub(crate) struct Devices {
    data: Bytes,
    tacs: usize,
    makers: usize,
    strings: usize,
    records: usize,
    maker_at: usize,
    ends: usize,
    texts: usize,
}

impl Devices {
    /// Reads the counts and checks that the arrays fit the section exactly.
    pub(crate) fn parse(data: Bytes) -> Result<Devices, String> {
        if data.get(..4) != Some(&MAGIC[..]) || data.len() < HEADER {
            return Err(format!(
                "it does not start with the 16-byte header whose magic is \"TACD\" ({} bytes)",
                data.len()
            ));
        }
        let count = |at| u32_at(&data, at).unwrap_or(0) as usize;
        let (tacs, makers, strings) = (count(4), count(8), count(12));
        let fixed = tacs
            .checked_mul(4 + RECORD)
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
        let records = HEADER + 4 * tacs;
        let maker_at = records + RECORD * tacs;
        let ends = maker_at + MAKER * makers;
        let d = Devices {
            tacs,
            makers,
            strings,
            records,
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

    fn tac(&self, i: usize) -> Option<u32> {
        u32_at(&self.data, HEADER + 4 * i)
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

    /// The position of a TAC in the table.
    #[inline]
    fn find(&self, tac: u32) -> Option<usize> {
        // A binary search over the TAC array alone; on a file that is out of order (only
        // one that fails full verification) it may miss, never read out of bounds.
        let (mut lo, mut hi) = (0usize, self.tacs);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let t = self.tac(mid)?;
            if t < tac {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < self.tacs && self.tac(lo)? == tac).then_some(lo)
    }

    /// Whether the table lists a TAC, and its allocation date: what the policy needs.
    #[inline]
    pub(crate) fn allocation(&self, tac: u32) -> Option<Option<Date>> {
        let i = self.find(tac)?;
        let d = u32_at(&self.data, self.records + RECORD * i + 8)?;
        Some(d.checked_sub(1).and_then(Date::from_days_since_epoch))
    }

    /// What the table says about a TAC.
    pub(crate) fn get(&self, tac: Tac) -> Option<Device<'_>> {
        self.at(self.find(tac.as_u32())?)
    }

    fn at(&self, i: usize) -> Option<Device<'_>> {
        let tac = Tac::from_u32(self.tac(i)?).ok()?;
        let r = self.records + RECORD * i;
        let (model, maker, date) = (
            u32_at(&self.data, r)?,
            u32_at(&self.data, r + 4)? as usize,
            u32_at(&self.data, r + 8)?,
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
            allocated: date.checked_sub(1).and_then(Date::from_days_since_epoch),
        })
    }

    /// Every row, in TAC order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Device<'_>> + '_ {
        (0..self.tacs).filter_map(|i| self.at(i))
    }

    /// Checks every TAC, record, maker and string: what checks and `device` read is then
    /// exactly what was written. Time linear in the section's size.
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
            let r = self.records + RECORD * i;
            let [model, maker, date] =
                [0, 4, 8].map(|o| u32_at(&self.data, r + o).unwrap_or(u32::MAX));
            string(model, &format!("TAC {tac:08}'s model"))?;
            if maker as usize >= self.makers {
                return Err(format!(
                    "TAC {tac:08} names maker {maker}, but there are {}",
                    self.makers
                ));
            }
            if date > Date::MAX_DAYS + 1 {
                return Err(format!(
                    "TAC {tac:08}'s allocation date ({date}) is past 9999-12-31"
                ));
            }
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
    let mut makers: BTreeMap<[u32; 3], u32> = BTreeMap::new();
    for (_, d) in table.iter() {
        makers.insert(
            [
                texts[d.manufacturer.as_str()],
                texts[d.brand.as_str()],
                texts[d.device_type.as_str()],
            ],
            0,
        );
    }
    for (i, v) in makers.values_mut().enumerate() {
        *v = i as u32;
    }
    let mut b = Vec::new();
    b.extend_from_slice(&MAGIC);
    for n in [table.len(), makers.len(), texts.len()] {
        b.extend_from_slice(&(n as u32).to_le_bytes());
    }
    for (tac, _) in table.iter() {
        b.extend_from_slice(&tac.as_u32().to_le_bytes());
    }
    for (_, d) in table.iter() {
        let maker = makers[&[
            texts[d.manufacturer.as_str()],
            texts[d.brand.as_str()],
            texts[d.device_type.as_str()],
        ]];
        let date = d.allocated.map_or(0, |d| d.days_since_epoch() + 1);
        for v in [texts[d.model.as_str()], maker, date] {
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
