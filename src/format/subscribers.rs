//! The `subscribers` section: the register rows behind rules that several rows make
//! (layout in `format/mod.rs`).

use crate::format::key;
use crate::model::ident::{Imei, Imsi, Msisdn};
use crate::model::rule::Date;

/// Bytes of one row.
pub(crate) const ROW: usize = 40;
const HEADER: usize = 8;
/// The row flag of a removed row (deltas only).
pub(crate) const FLAG_REMOVED: u8 = 1;

/// One row, with its ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RowRecord {
    /// The sort key comes first: source, IMEI, IMSI key, MSISDN key.
    pub source: u8,
    pub imei: u64,
    pub imsi: [u8; 8],
    pub msisdn: [u8; 8],
    pub list: u8,
    pub flags: u8,
    /// Days + 1, 0 for none.
    pub block_date: u32,
    pub reasons: u32,
}

impl RowRecord {
    /// The row's bytes.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.source, self.list, self.flags, 0]);
        out.extend_from_slice(&self.block_date.to_le_bytes());
        out.extend_from_slice(&self.imei.to_le_bytes());
        out.extend_from_slice(&self.imsi);
        out.extend_from_slice(&self.msisdn);
        out.extend_from_slice(&self.reasons.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
    }

    /// Decodes a row; `None` when its bytes are no row a writer makes (ids are checked by
    /// the caller).
    pub(crate) fn decode(r: &[u8], deltas: bool) -> Option<RowRecord> {
        let r: &[u8; ROW] = r.try_into().ok()?;
        let word = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().expect("4 bytes"));
        let row = RowRecord {
            source: r[0],
            list: r[1],
            flags: r[2],
            block_date: word(4),
            imei: u64::from_le_bytes(r[8..16].try_into().expect("8 bytes")),
            imsi: r[16..24].try_into().expect("8 bytes"),
            msisdn: r[24..32].try_into().expect("8 bytes"),
            reasons: word(32),
        };
        let flags_ok = row.flags == 0 || (deltas && row.flags == FLAG_REMOVED);
        let ok = matches!(row.list, 1 | 2)
            && flags_ok
            && r[3] == 0
            && word(36) == 0
            && row.block_date <= Date::MAX_DAYS + 1
            && Imei::from_u64(row.imei).is_ok()
            && key::to_imsi(&row.imsi).is_some()
            && (row.msisdn == [0; 8] || msisdn_of(row.msisdn).is_some());
        ok.then_some(row)
    }
}

/// An MSISDN's 8-byte key: its digit count, then its value in 7 bytes.
pub(crate) fn msisdn_key(m: Option<Msisdn>) -> [u8; 8] {
    m.map_or([0; 8], |m| key::imsi_key(m.len() as u8, m.as_u64()))
}

/// The MSISDN of a key, if it is one.
pub(crate) fn msisdn_of(k: [u8; 8]) -> Option<Msisdn> {
    let len = k[0];
    let mut v = k;
    v[0] = 0;
    Msisdn::from_len_value(len, u64::from_be_bytes(v))
}

/// The IMSI of a key, if it is one.
pub(crate) fn imsi_of(k: [u8; 8]) -> Option<Imsi> {
    key::to_imsi(&k)
}

/// Encodes the section from rows in order.
pub(crate) fn encode(rows: &[RowRecord]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + ROW * rows.len());
    b.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for r in rows {
        r.encode(&mut b);
    }
    b
}

/// Checks the section's header and length; returns the row count.
pub(crate) fn parse(section: &[u8]) -> Result<usize, String> {
    if section.len() < HEADER {
        return Err(format!(
            "it is {} bytes, shorter than its {HEADER}-byte header",
            section.len()
        ));
    }
    let n = u32::from_le_bytes(section[..4].try_into().expect("4 bytes")) as usize;
    if section[4..8] != [0; 4] {
        return Err("its reserved bytes are not zero".into());
    }
    if Some(section.len()) != n.checked_mul(ROW).and_then(|b| b.checked_add(HEADER)) {
        return Err(format!(
            "it counts {n} rows, but holds {} bytes",
            section.len()
        ));
    }
    Ok(n)
}

/// Row `i` of a section that [`parse`] accepted.
pub(crate) fn row(section: &[u8], i: usize, deltas: bool) -> Option<RowRecord> {
    let at = HEADER.checked_add(i.checked_mul(ROW)?)?;
    RowRecord::decode(section.get(at..at.checked_add(ROW)?)?, deltas)
}
