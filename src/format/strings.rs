//! The `strings` section: reason texts and source names, each stored once, and the reason
//! sets (layout in `format/mod.rs`).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::model::field::Reason;
use crate::model::source::{MAX_REASON, Reasons};

/// Reason set ids below this are implied: 0 none, 1 to 6 a known reason alone.
pub(crate) const FIRST_STORED_SET: u32 = 7;

/// The strings section of an open index, its offsets checked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Strings {
    data: Bytes,
    strings: usize,
    sets: usize,
    /// Where the string end offsets, set end offsets, members and texts start.
    string_ends: usize,
    set_ends: usize,
    members: usize,
    texts: usize,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

impl Strings {
    /// Reads the section's counts and checks that its arrays fit it; the texts and sets are
    /// checked by [`Strings::verify`].
    pub(crate) fn parse(data: Bytes) -> Result<Strings, String> {
        let (Some(strings), Some(sets)) = (u32_at(&data, 0), u32_at(&data, 4)) else {
            return Err(format!(
                "it is {} bytes, shorter than its 8-byte header",
                data.len()
            ));
        };
        let (strings, sets) = (strings as usize, sets as usize);
        let string_ends = 8usize;
        let set_ends = string_ends + 4 * (strings + 1);
        let members = set_ends + 4 * (sets + 1);
        let s = Strings {
            strings,
            sets,
            string_ends,
            set_ends,
            members,
            texts: 0,
            data,
        };
        if members > s.data.len() {
            return Err(format!(
                "it counts {strings} strings and {sets} sets, whose offsets do not fit its {} bytes",
                s.data.len()
            ));
        }
        let n_members = s.set_end(sets).unwrap_or(u32::MAX) as usize;
        let texts = n_members
            .checked_mul(4)
            .and_then(|m| m.checked_add(members))
            .filter(|&t| t <= s.data.len())
            .ok_or_else(|| format!("its set members do not fit its {} bytes", s.data.len()))?;
        let text_len = s.string_end(strings).unwrap_or(u32::MAX) as usize;
        if texts.checked_add(text_len) != Some(s.data.len()) {
            return Err(format!(
                "its texts take {text_len} bytes, but {} are left for them",
                s.data.len() - texts
            ));
        }
        Ok(Strings { texts, ..s })
    }

    /// The end offset of string `i - 1` (0 for `i` = 0).
    fn string_end(&self, i: usize) -> Option<u32> {
        if i == 0 {
            return Some(0);
        }
        u32_at(&self.data, self.string_ends + 4 * i)
    }

    fn set_end(&self, i: usize) -> Option<u32> {
        if i == 0 {
            return Some(0);
        }
        u32_at(&self.data, self.set_ends + 4 * i)
    }

    /// How many reason set ids there are, the implied ones included.
    pub(crate) fn set_ids(&self) -> u64 {
        u64::from(FIRST_STORED_SET) + self.sets as u64
    }

    /// String `i`, or `None` when it is out of bounds or not UTF-8 (only in files that
    /// fail full verification).
    pub(crate) fn get(&self, i: u32) -> Option<&str> {
        let i = i as usize;
        if i >= self.strings {
            return None;
        }
        let (a, b) = (
            self.string_end(i)? as usize,
            self.string_end(i + 1)? as usize,
        );
        let bytes = self
            .data
            .get(self.texts.checked_add(a)?..self.texts.checked_add(b)?)?;
        std::str::from_utf8(bytes).ok()
    }

    /// The string ids of reason set `id`, for a stored set.
    fn members(&self, id: u32) -> Option<impl Iterator<Item = u32> + '_> {
        let i = id.checked_sub(FIRST_STORED_SET)? as usize;
        if i >= self.sets {
            return None;
        }
        let (a, b) = (self.set_end(i)? as usize, self.set_end(i + 1)? as usize);
        if a > b {
            return None;
        }
        let at = self.members;
        Some((a..b).filter_map(move |m| u32_at(&self.data, at + 4 * m)))
    }

    /// The texts of reason set `id`, or `None` when it names no set.
    pub(crate) fn reasons(&self, id: u32) -> Option<ReasonTexts<'_>> {
        match id {
            0 => Some(ReasonTexts::Known(None)),
            1..=6 => Some(ReasonTexts::Known(Reason::from_code(id as u8))),
            _ => Some(ReasonTexts::Stored(self, Box::new(self.members(id)?))),
        }
    }

    /// The reason set `id` as an owned set, or `None` when it names none (or its texts are
    /// not reasons: only in files that fail full verification).
    pub(crate) fn reason_set(&self, id: u32) -> Option<Reasons> {
        match id {
            0 => Some(Reasons::none()),
            1..=6 => Some(Reasons::from(Reason::from_code(id as u8)?)),
            _ => {
                let texts: Vec<&str> = self
                    .members(id)?
                    .map(|m| self.get(m))
                    .collect::<Option<_>>()?;
                Reasons::new(texts).ok()
            }
        }
    }

    /// Checks what [`Strings::parse`] does not: every string is a reason text (or a source
    /// name, which is one), in strictly increasing order; every set lists string ids in
    /// bounds, in strictly increasing order of text, and is none of the implied sets.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let mut last: Option<&str> = None;
        for i in 0..self.strings {
            let (a, b) = (
                self.string_end(i).unwrap_or(u32::MAX),
                self.string_end(i + 1).unwrap_or(0),
            );
            if a > b {
                return Err(format!("string {i} ends before it starts"));
            }
            let t = self
                .get(i as u32)
                .ok_or_else(|| format!("string {i} is not UTF-8"))?;
            if t.is_empty() || t.len() > MAX_REASON || t.chars().any(|c| c == '|' || c.is_control())
            {
                return Err(format!(
                    "string {i} ({t:?}) is not a reason text or source name"
                ));
            }
            if Reason::ALL
                .iter()
                .any(|r| r.as_str() != t && r.as_str().eq_ignore_ascii_case(t))
            {
                return Err(format!(
                    "string {i} ({t:?}) is a known reason's name in another case"
                ));
            }
            if last.is_some_and(|l| l >= t) {
                return Err(format!(
                    "string {i} ({t:?}) is not after the string before it"
                ));
            }
            last = Some(t);
        }
        for i in 0..self.sets {
            let id = FIRST_STORED_SET + i as u32;
            let (a, b) = (
                self.set_end(i).unwrap_or(u32::MAX),
                self.set_end(i + 1).unwrap_or(0),
            );
            if a >= b {
                return Err(format!("reason set {id} lists no reason"));
            }
            let mut prev: Option<u32> = None;
            let mut texts = Vec::new();
            for m in self.members(id).into_iter().flatten() {
                if m as usize >= self.strings {
                    return Err(format!(
                        "reason set {id} names string {m}, but there are {}",
                        self.strings
                    ));
                }
                // Strings are in order, so increasing ids are increasing texts.
                if prev.is_some_and(|p| p >= m) {
                    return Err(format!("reason set {id} lists its reasons out of order"));
                }
                prev = Some(m);
                texts.push(self.get(m).unwrap_or(""));
            }
            if let [one] = &texts[..]
                && Reason::ALL.iter().any(|r| r.as_str() == *one)
            {
                return Err(format!(
                    "reason set {id} is the known reason {one:?} alone, which has an implied id"
                ));
            }
        }
        Ok(())
    }
}

/// The texts of an implied reason set (0 to 6), without a strings section.
pub(crate) fn known_texts(id: u32) -> Option<ReasonTexts<'static>> {
    match id {
        0 => Some(ReasonTexts::Known(None)),
        1..=6 => Some(ReasonTexts::Known(Reason::from_code(id as u8))),
        _ => None,
    }
}

/// The texts of a reason set.
pub(crate) enum ReasonTexts<'a> {
    Known(Option<Reason>),
    Stored(&'a Strings, Box<dyn Iterator<Item = u32> + 'a>),
}

impl<'a> Iterator for ReasonTexts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            ReasonTexts::Known(r) => r.take().map(Reason::as_str),
            ReasonTexts::Stored(s, members) => {
                let s: &'a Strings = s;
                members.find_map(|m| s.get(m))
            }
        }
    }
}

/// The strings section a writer makes: the texts of every stored reason set and every source
/// name, and the sets, numbered deterministically.
#[derive(Debug, Default)]
pub(crate) struct StringsBuilder {
    texts: BTreeMap<Box<str>, u32>,
    sets: BTreeMap<Reasons, u32>,
}

impl StringsBuilder {
    /// Numbers the given reason sets and strings: texts in byte order, stored sets in the
    /// order of their sorted texts.
    pub(crate) fn new<'a>(
        sets: impl IntoIterator<Item = &'a Reasons>,
        names: impl IntoIterator<Item = &'a str>,
    ) -> StringsBuilder {
        let stored: BTreeSet<Reasons> = sets
            .into_iter()
            .filter(|r| !r.is_empty() && r.known().is_none())
            .cloned()
            .collect();
        let mut texts: BTreeMap<Box<str>, u32> = BTreeMap::new();
        for r in &stored {
            for t in r.iter() {
                texts.insert(Box::from(t), 0);
            }
        }
        for n in names {
            texts.insert(Box::from(n), 0);
        }
        for (i, v) in texts.values_mut().enumerate() {
            *v = i as u32;
        }
        let sets = stored
            .into_iter()
            .enumerate()
            .map(|(i, r)| (r, FIRST_STORED_SET + i as u32))
            .collect();
        StringsBuilder { texts, sets }
    }

    /// The id of a reason set given to [`StringsBuilder::new`] (or an implied one).
    pub(crate) fn set_id(&self, r: &Reasons) -> u32 {
        if r.is_empty() {
            return 0;
        }
        if let Some(k) = r.known() {
            return u32::from(k.code());
        }
        self.sets[r]
    }

    /// The id of a string given to [`StringsBuilder::new`].
    pub(crate) fn string_id(&self, t: &str) -> u32 {
        self.texts[t]
    }

    /// The section's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(self.texts.len() as u32).to_le_bytes());
        b.extend_from_slice(&(self.sets.len() as u32).to_le_bytes());
        let mut end = 0u32;
        b.extend_from_slice(&0u32.to_le_bytes());
        for t in self.texts.keys() {
            end += t.len() as u32;
            b.extend_from_slice(&end.to_le_bytes());
        }
        let mut end = 0u32;
        b.extend_from_slice(&0u32.to_le_bytes());
        for r in self.sets.keys() {
            end += r.len() as u32;
            b.extend_from_slice(&end.to_le_bytes());
        }
        for r in self.sets.keys() {
            for t in r.iter() {
                b.extend_from_slice(&self.texts[t].to_le_bytes());
            }
        }
        for t in self.texts.keys() {
            b.extend_from_slice(t.as_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        let a = Reasons::new(["Duplicate IMEI detected", "stolen"]).unwrap();
        let b = Reasons::from(Reason::Lost);
        let c = Reasons::new(["zz"]).unwrap();
        let sb = StringsBuilder::new([&a, &b, &c, &a], ["local", "dirbs/blacklist"]);
        let s = Strings::parse(Bytes::from(sb.encode())).unwrap();
        s.verify().unwrap();
        assert_eq!(sb.set_id(&b), 2);
        assert_eq!(sb.set_id(&Reasons::none()), 0);
        for r in [&a, &b, &c] {
            let id = sb.set_id(r);
            assert_eq!(s.reason_set(id).as_ref(), Some(r));
            let texts: Vec<&str> = s.reasons(id).unwrap().collect();
            assert_eq!(texts, r.iter().collect::<Vec<_>>());
        }
        assert_eq!(s.get(sb.string_id("local")), Some("local"));
        assert!(s.reasons(7 + 2).is_none());
        // Truncated: refused, never a panic.
        let bytes = sb.encode();
        for n in 0..bytes.len() {
            let _ = Strings::parse(Bytes::from(bytes[..n].to_vec())).map(|s| s.verify());
        }
    }
}
