//! Segments: the ranges flattened, so that a range check is one search.
//!
//! The segments section partitions the IMEIs from 0 to the end of the last range into runs
//! that share their narrowest covering range. The writer sweeps ranges into segments, and
//! a layered index sweeps a delta's ranges the same way: one definition for both.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use crate::model::field::Reason;
use crate::model::rule::{Date, Entry, Status};
use crate::model::source::Reasons;

/// A range while it covers the sweep: the greatest is the narrowest, then the greater
/// precedence, then the earlier start. It determines the range, and its precedence is its
/// entry.
type Active = (
    Reverse<u64>,
    (Status, Option<Date>, Option<Reason>),
    Reverse<u64>,
);

/// The order of format 1's entries for one key: the most severe status, then the latest
/// date, then the greater reason code.
pub(crate) fn v1_precedence(e: &Entry) -> (Status, Option<Date>, Option<Reason>) {
    (e.status, e.date, e.reasons.code())
}

/// Sweeps ranges, in (first, last) order, into segments: the IMEIs from 0 to the end of
/// the last range, partitioned into runs that share their narrowest covering range (or
/// have none: a gap). Adjacent runs with equal entries are joined.
///
/// Narrowest means fewest IMEIs; between equally wide ranges the greater precedence, then
/// the earlier start, wins. Memory is the ranges covering one IMEI.
#[derive(Default)]
pub(crate) struct Segments {
    /// Where the next segment starts.
    pos: u64,
    /// The ranges covering `pos`.
    active: BTreeSet<Active>,
    /// When each active range stops covering: its last IMEI + 1.
    ends: BinaryHeap<Reverse<(u64, Active)>>,
    /// The segment not yet emitted, which the next may extend.
    pending: Option<(u64, Option<Entry>)>,
    /// The last range pushed, to catch unsorted input.
    last_pushed: Option<(u64, u64)>,
}

impl Segments {
    /// Adds the next range; emits the segments that end before it starts.
    pub(crate) fn push<E>(
        &mut self,
        first: u64,
        last: u64,
        entry: Entry,
        emit: &mut impl FnMut(u64, Option<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert!(first <= last && self.last_pushed.is_none_or(|p| p < (first, last)));
        self.last_pushed = Some((first, last));
        self.advance(Some(first), emit)?;
        let key: Active = (Reverse(last - first), v1_precedence(&entry), Reverse(first));
        self.active.insert(key);
        self.ends.push(Reverse((last + 1, key)));
        Ok(())
    }

    /// Emits the remaining segments.
    pub(crate) fn finish<E>(
        &mut self,
        emit: &mut impl FnMut(u64, Option<Entry>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.advance(None, emit)?;
        if let Some((last, e)) = self.pending.take() {
            emit(last, e)?;
        }
        Ok(())
    }

    /// Emits segments up to (not including) `until`, or to the end of every active range.
    fn advance<E>(
        &mut self,
        until: Option<u64>,
        emit: &mut impl FnMut(u64, Option<Entry>) -> Result<(), E>,
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
            let winner = self
                .active
                .last()
                .map(|&(_, (status, date, reason), _)| Entry {
                    status,
                    reasons: reason.map_or(Reasons::none(), Reasons::from),
                    date,
                    start: None,
                    earlier: None,
                });
            match &mut self.pending {
                Some((last, e)) if *e == winner => *last = next - 1,
                _ => {
                    if let Some((last, e)) = self.pending.replace((next - 1, winner)) {
                        emit(last, e)?;
                    }
                }
            }
            self.pos = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(s: Status) -> Entry {
        Entry::new(s)
    }

    fn sweep(ranges: &[((u64, u64), Entry)]) -> Vec<(u64, Option<Entry>)> {
        let mut out = Vec::new();
        let mut s = Segments::default();
        let mut emit = |l, e| {
            out.push((l, e));
            Ok::<(), ()>(())
        };
        for ((a, b), en) in ranges {
            s.push(*a, *b, en.clone(), &mut emit).unwrap();
        }
        s.finish(&mut emit).unwrap();
        out
    }

    #[test]
    fn segments_pick_the_narrowest_range() {
        let ranges = vec![
            ((10, 100), e(Status::Blocked)),
            ((20, 30), e(Status::Allowed)),
            ((200, 200), e(Status::Tracked)),
        ];
        assert_eq!(
            sweep(&ranges),
            vec![
                (9, None),
                (19, Some(e(Status::Blocked))),
                (30, Some(e(Status::Allowed))),
                (100, Some(e(Status::Blocked))),
                (199, None),
                (200, Some(e(Status::Tracked))),
            ]
        );
        assert_eq!(sweep(&[]), vec![]);
        assert_eq!(
            sweep(&[((0, 5), e(Status::Blocked))]),
            vec![(5, Some(e(Status::Blocked)))]
        );
    }

    /// The narrowest covering range of one IMEI, the slow way.
    fn narrowest(ranges: &[((u64, u64), Entry)], x: u64) -> Option<Entry> {
        ranges
            .iter()
            .filter(|((a, b), _)| (*a..=*b).contains(&x))
            .max_by_key(|((a, b), en)| (Reverse(b - a), v1_precedence(en), Reverse(*a)))
            .map(|(_, en)| en.clone())
    }

    proptest! {
        #[test]
        fn segments_agree_with_a_scan(
            raw in proptest::collection::btree_map((0u64..60, 0u64..20), 0usize..3, 0..12)
        ) {
            let ranges: Vec<((u64, u64), Entry)> = raw
                .into_iter()
                .map(|((a, w), s)| ((a, a + w), e(Status::ALL[s])))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect();
            let segs = sweep(&ranges);
            let end = ranges.iter().map(|r| r.0.1).max();
            for x in 0..90u64 {
                let seg = segs.iter().find(|(last, _)| *last >= x);
                let want = narrowest(&ranges, x);
                match seg {
                    Some((_, got)) => prop_assert_eq!(got.clone(), want, "at {}", x),
                    None => prop_assert!(want.is_none() && end.is_none_or(|e| x > e)),
                }
            }
            // Adjacent segments differ, and they end in order.
            for w in segs.windows(2) {
                prop_assert!(w[0].0 < w[1].0 && w[0].1 != w[1].1);
            }
        }
    }
}
