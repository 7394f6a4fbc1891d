//! The changes from one index to another, as a stream.

use crate::error::Error;
use crate::format::Record;
use crate::format::key::target_of;
use crate::model::change::Change;
use crate::model::rule::{Rule, RuleKind};
use crate::read::index::Index;
use crate::update::union::{Union, bad_key, bad_value, too_many_keys};

/// The changes that turn `old` into `new`: an add for every target only `new` has a rule
/// for, a change for every target whose entry differs, a remove (with the old entry) for
/// every target only `old` has, kind by kind (pair, IMEI, range, TAC), each kind in key
/// order.
///
/// A sorted merge of the two indexes' transducers: time linear in their sizes, memory
/// independent of them. Applying the changes to `old` gives `new`'s rules exactly (see
/// [`Apply`](crate::Apply)).
///
/// # Errors
///
/// Each item is an [`Error::Format`] if a key or value names nothing, which happens only in
/// an index that fails [`Verification::Full`](crate::Verification::Full).
///
/// # Example
///
/// ```
/// use imei_index::{diff, Change, Entry, Imei, Index, IndexBuilder, Rule, Status, Tac};
///
/// let imei = Imei::parse("35209900176148")?;
/// let tac = Tac::parse("35209900")?;
/// let mut old = IndexBuilder::new();
/// old.add(Rule::imei(imei, Entry::new(Status::Blocked)));
/// old.add(Rule::tac(tac, Entry::new(Status::Tracked)));
/// let old = Index::from_bytes(old.build_to_vec()?.0.into())?;
/// let mut new = IndexBuilder::new();
/// new.add(Rule::tac(tac, Entry::new(Status::Blocked)));
/// let new = Index::from_bytes(new.build_to_vec()?.0.into())?;
///
/// let changes: Vec<Change> = diff(&old, &new).collect::<Result<_, _>>()?;
/// assert_eq!(changes, [
///     Change::Remove(Rule::imei(imei, Entry::new(Status::Blocked)).target(),
///                    Some(Entry::new(Status::Blocked))),
///     Change::Change(Rule::tac(tac, Entry::new(Status::Blocked))),
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff<'a>(old: &'a Index, new: &'a Index) -> Diff<'a> {
    Diff {
        old,
        new,
        kind: 0,
        union: None,
    }
}

/// The changes from one index to another; see [`diff`].
pub struct Diff<'a> {
    old: &'a Index,
    new: &'a Index,
    /// Position in [`RuleKind::ALL`] of the kind being streamed.
    kind: usize,
    union: Option<Union<'a>>,
}

impl Iterator for Diff<'_> {
    type Item = Result<Change, Error>;

    fn next(&mut self) -> Option<Result<Change, Error>> {
        loop {
            let kind = *RuleKind::ALL.get(self.kind)?;
            let (old, new) = (self.old, self.new);
            let union = self
                .union
                .get_or_insert_with(|| Union::new(&[old, new], kind));
            let Some((key, values)) = union.next() else {
                let exhausted = union.exhausted();
                self.kind += 1;
                self.union = None;
                if let Some(i) = exhausted {
                    // The stream ends with the error: the changes after it are unknown.
                    self.kind = RuleKind::ALL.len();
                    return Some(Err(too_many_keys([old, new][i])));
                }
                continue;
            };
            let (mut was, mut is) = (None, None);
            for &(i, value) in values {
                let (index, slot) = if i == 0 {
                    (old, &mut was)
                } else {
                    (new, &mut is)
                };
                match index.record(value) {
                    Some(Record::Rule(e)) => *slot = Some(e),
                    _ => return Some(Err(bad_value(kind, value))),
                }
            }
            if was == is {
                continue;
            }
            let Some(target) = target_of(kind, key) else {
                return Some(Err(bad_key(kind, key)));
            };
            let rule = |e| Rule::new(target, e).map_err(|_| bad_key(kind, key));
            return Some(match (was, is) {
                (None, Some(e)) => rule(e).map(Change::Add),
                (Some(_), Some(e)) => rule(e).map(Change::Change),
                (Some(e), None) => Ok(Change::Remove(target, Some(e))),
                (None, None) => unreachable!("a key of the union is in one input at least"),
            });
        }
    }
}
