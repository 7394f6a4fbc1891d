//! Range stacks: for each segment of the IMEIs, the levels of the ranges that cover it,
//! narrowest first, so that a check finds the narrowest range with a rule that applies on
//! its day (docs/semantics.md, rules 3 to 5).
//!
//! The writer sweeps the ranges into segments and stacks with [`StackSweep`]; full
//! verification and layered views sweep with the same code. The encoding is in
//! `format/mod.rs`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use bytes::Bytes;

/// A rule of a range, as a stack names it: its entry id and source id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Member {
    pub entry: u32,
    pub source: u8,
}

/// A range rule while it covers the sweep, ordered as stacks list them: narrowest first,
/// then by source, then by start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Active {
    width: u64,
    source: u8,
    first: u64,
    entry: u32,
    always: bool,
}

/// A stack as the words the section stores: per level, its member count then (entry,
/// source) pairs.
pub(crate) type Words = Vec<u32>;

/// The value of a segment whose stack is one level of one rule.
#[inline]
pub(crate) fn single_value(m: Member) -> u64 {
    ((u64::from(m.entry) << 8 | u64::from(m.source)) << 1) | 1
}

/// The value of a segment whose stack has id `id`.
pub(crate) fn stack_value(id: u32) -> u64 {
    (u64::from(id) + 1) << 1
}

/// What a segment value names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegmentValue {
    Gap,
    Single(Member),
    Stack(u32),
}

/// Decodes a segment value of a file with sources; `None` for values no writer produces.
#[inline]
pub(crate) fn decode_value(v: u64) -> Option<SegmentValue> {
    if v == 0 {
        return Some(SegmentValue::Gap);
    }
    if v & 1 == 1 {
        let m = v >> 1;
        let entry = u32::try_from(m >> 8).ok()?;
        return Some(SegmentValue::Single(Member {
            entry,
            source: (m & 0xff) as u8,
        }));
    }
    let id = u32::try_from((v >> 1) - 1).ok()?;
    Some(SegmentValue::Stack(id))
}

/// The words of a stack of one level of one rule.
pub(crate) fn single_words(m: Member) -> [u32; 3] {
    [1, m.entry, u32::from(m.source)]
}

/// Sweeps range rules, in (first, last, source) order, into segments: the IMEIs from 0 to
/// the end of the last range, partitioned into runs that share one stack (or have none: a
/// gap). Adjacent runs with equal stacks are joined.
#[derive(Default)]
pub(crate) struct StackSweep {
    pos: u64,
    active: BTreeSet<Active>,
    ends: BinaryHeap<Reverse<(u64, Active)>>,
    pending: Option<(u64, Option<Words>)>,
    last_pushed: Option<(u64, u64, u8)>,
    /// Words of the stacks emitted so far, for callers that bound their work.
    pub words: u64,
}

impl StackSweep {
    /// Adds the next range rule; emits the segments that end before it starts.
    pub(crate) fn push<E>(
        &mut self,
        first: u64,
        last: u64,
        member: Member,
        always: bool,
        emit: &mut impl FnMut(u64, Option<&Words>) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert!(
            first <= last
                && self
                    .last_pushed
                    .is_none_or(|p| p < (first, last, member.source))
        );
        self.last_pushed = Some((first, last, member.source));
        self.advance(Some(first), emit)?;
        let a = Active {
            width: last - first,
            source: member.source,
            first,
            entry: member.entry,
            always,
        };
        self.active.insert(a);
        self.ends.push(Reverse((last + 1, a)));
        Ok(())
    }

    /// Emits the remaining segments.
    pub(crate) fn finish<E>(
        &mut self,
        emit: &mut impl FnMut(u64, Option<&Words>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.advance(None, emit)?;
        if let Some((last, s)) = self.pending.take() {
            emit(last, s.as_ref())?;
        }
        Ok(())
    }

    /// The stack of the ranges active now.
    fn stack(&self) -> Option<Words> {
        let mut words = Vec::new();
        let mut level_at = 0;
        let mut level_width = None;
        let mut level_always = false;
        for a in &self.active {
            if level_width != Some(a.width) {
                if level_always {
                    break;
                }
                level_width = Some(a.width);
                level_at = words.len();
                words.push(0);
            }
            words[level_at] += 1;
            words.push(a.entry);
            words.push(u32::from(a.source));
            level_always |= a.always;
        }
        (!words.is_empty()).then_some(words)
    }

    fn advance<E>(
        &mut self,
        until: Option<u64>,
        emit: &mut impl FnMut(u64, Option<&Words>) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            while let Some(&Reverse((end, key))) = self.ends.peek() {
                if end > self.pos {
                    break;
                }
                self.ends.pop();
                self.active.remove(&key);
            }
            let next_end = self.ends.peek().map(|Reverse((end, _))| *end);
            let next = match (until, next_end) {
                (Some(u), Some(e)) => u.min(e),
                (Some(u), None) => u,
                (None, Some(e)) => e,
                (None, None) => return Ok(()),
            };
            if next <= self.pos {
                return Ok(());
            }
            let stack = self.stack();
            match &mut self.pending {
                Some((last, s)) if *s == stack => *last = next - 1,
                _ => {
                    self.words += stack.as_ref().map_or(0, |s| s.len() as u64);
                    if let Some((last, s)) = self.pending.replace((next - 1, stack)) {
                        emit(last, s.as_ref())?;
                    }
                }
            }
            self.pos = next;
        }
    }
}

/// The levels of a stack's words: each level's members.
pub(crate) fn levels(words: &[u32]) -> Levels<'_> {
    Levels { words }
}

/// An iterator over a stack's levels; it ends early at words that are not a level.
pub(crate) struct Levels<'a> {
    words: &'a [u32],
}

impl<'a> Iterator for Levels<'a> {
    type Item = LevelMembers<'a>;

    #[inline]
    fn next(&mut self) -> Option<LevelMembers<'a>> {
        let (&n, rest) = self.words.split_first()?;
        let len = (n as usize).checked_mul(2)?;
        if n == 0 || len > rest.len() {
            self.words = &[];
            return None;
        }
        let (level, rest) = rest.split_at(len);
        self.words = rest;
        Some(LevelMembers { words: level })
    }
}

/// The members of one level.
pub(crate) struct LevelMembers<'a> {
    words: &'a [u32],
}

impl Iterator for LevelMembers<'_> {
    type Item = Member;

    #[inline]
    fn next(&mut self) -> Option<Member> {
        let (pair, rest) = self.words.split_at_checked(2)?;
        self.words = rest;
        Some(Member {
            entry: pair[0],
            source: u8::try_from(pair[1]).unwrap_or(u8::MAX),
        })
    }
}

/// The range stacks section of an open index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stacks {
    data: Bytes,
    count: usize,
}

impl Stacks {
    /// Reads the section's header and checks that its offsets fit it (the offsets
    /// themselves are checked as stacks are read).
    pub(crate) fn parse(data: Bytes) -> Result<Stacks, String> {
        if data.len() < 8 || !data.len().is_multiple_of(4) {
            return Err(format!(
                "it is {} bytes, not an 8-byte header and whole words",
                data.len()
            ));
        }
        let count = u32::from_le_bytes(data[..4].try_into().expect("4 bytes")) as usize;
        if data[4..8] != [0; 4] {
            return Err("its reserved bytes are not zero".into());
        }
        let words = (data.len() - 8) / 4;
        if count.checked_add(1).is_none_or(|n| n > words) {
            return Err(format!(
                "it counts {count} stacks, whose offsets do not fit it"
            ));
        }
        Ok(Stacks { data, count })
    }

    /// How many stacks.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    fn word(&self, i: usize) -> Option<u32> {
        let at = i.checked_mul(4)?.checked_add(8)?;
        Some(u32::from_le_bytes(
            self.data.get(at..at + 4)?.try_into().ok()?,
        ))
    }

    /// The words of stack `id`, or `None` when it names none or its offsets are wrong.
    pub(crate) fn get(&self, id: u32) -> Option<StackWords<'_>> {
        let id = id as usize;
        if id >= self.count {
            return None;
        }
        let base = self.count + 1;
        let (a, b) = (self.word(id)? as usize, self.word(id + 1)? as usize);
        let total = self.data.len() / 4 - 2 - base;
        if a > b || b > total {
            return None;
        }
        Some(StackWords {
            stacks: self,
            at: base + a,
            end: base + b,
        })
    }

    /// Checks that the offsets are in order and end at the section's end.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let base = self.count + 1;
        let total = self.data.len() / 4 - 2 - base;
        if self.word(0) != Some(0) || self.word(self.count) != Some(total as u32) {
            return Err("its offsets do not start at 0 and end at its end".into());
        }
        for i in 0..self.count {
            if self.get(i as u32).is_none() {
                return Err(format!("stack {i} ends before it starts"));
            }
        }
        Ok(())
    }
}

/// A stored stack's words, read one at a time.
#[derive(Clone, Copy)]
pub(crate) struct StackWords<'a> {
    stacks: &'a Stacks,
    at: usize,
    end: usize,
}

impl StackWords<'_> {
    /// The words as a vector.
    pub(crate) fn to_vec(self) -> Words {
        (self.at..self.end)
            .filter_map(|i| self.stacks.word(i))
            .collect()
    }

    /// How many words.
    pub(crate) fn len(&self) -> usize {
        self.end - self.at
    }

    /// Calls `f` with each level's members until it returns `Some`, and returns that.
    #[inline]
    pub(crate) fn find_level<T>(
        &self,
        mut f: impl FnMut(&mut dyn Iterator<Item = Member>) -> Option<T>,
    ) -> Option<T> {
        let mut i = self.at;
        while i < self.end {
            let n = self.stacks.word(i)? as usize;
            let end = i.checked_add(1)?.checked_add(n.checked_mul(2)?)?;
            if n == 0 || end > self.end {
                return None;
            }
            let mut members = (0..n).filter_map(|j| {
                let e = self.stacks.word(i + 1 + 2 * j)?;
                let s = self.stacks.word(i + 2 + 2 * j)?;
                Some(Member {
                    entry: e,
                    source: u8::try_from(s).unwrap_or(u8::MAX),
                })
            });
            if let Some(t) = f(&mut members) {
                return Some(t);
            }
            i = end;
        }
        None
    }
}

/// The section a writer makes from the stacks it collected (in id order).
pub(crate) fn encode(stacks: &[Words]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(stacks.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    let mut end = 0u32;
    b.extend_from_slice(&end.to_le_bytes());
    for s in stacks {
        end += s.len() as u32;
        b.extend_from_slice(&end.to_le_bytes());
    }
    for w in stacks.iter().flatten() {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(entry: u32, source: u8) -> Member {
        Member { entry, source }
    }

    fn sweep(ranges: &[(u64, u64, Member, bool)]) -> Vec<(u64, Option<Words>)> {
        let mut out = Vec::new();
        let mut s = StackSweep::default();
        let mut emit = |l, w: Option<&Words>| {
            out.push((l, w.cloned()));
            Ok::<(), ()>(())
        };
        for &(a, b, mem, always) in ranges {
            s.push(a, b, mem, always, &mut emit).unwrap();
        }
        s.finish(&mut emit).unwrap();
        out
    }

    #[test]
    fn stacks_list_levels_until_one_always_applies() {
        let out = sweep(&[
            (10, 100, m(0, 0), true),
            (20, 30, m(1, 0), false),
            (20, 30, m(2, 1), false),
            (25, 35, m(3, 0), true),
        ]);
        assert_eq!(
            out,
            vec![
                (9, None),
                (19, Some(vec![1, 0, 0])),
                (24, Some(vec![2, 1, 0, 2, 1, 1, 0, 0])),
                (30, Some(vec![3, 1, 0, 3, 0, 2, 1])),
                (35, Some(vec![1, 3, 0])),
                (100, Some(vec![1, 0, 0])),
            ]
        );
        let words = vec![2u32, 1, 0, 2, 1, 1, 3, 0];
        let ls: Vec<Vec<Member>> = levels(&words).map(|l| l.collect()).collect();
        assert_eq!(ls, vec![vec![m(1, 0), m(2, 1)], vec![m(3, 0)]]);
        let bytes = encode(&[words.clone(), vec![1, 5, 0]]);
        let s = Stacks::parse(Bytes::from(bytes)).unwrap();
        s.verify().unwrap();
        assert_eq!(s.get(0).unwrap().to_vec(), words);
        assert_eq!(s.get(1).unwrap().to_vec(), vec![1, 5, 0]);
        assert!(s.get(2).is_none());
        for v in [single_value(m(7, 3)), stack_value(4), 0] {
            let back = match decode_value(v).unwrap() {
                SegmentValue::Single(x) => single_value(x),
                SegmentValue::Stack(id) => stack_value(id),
                SegmentValue::Gap => 0,
            };
            assert_eq!(back, v);
        }
    }
}
