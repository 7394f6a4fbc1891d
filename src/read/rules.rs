//! Iterating over an index's rules.

use crate::format::node::Stream;
use crate::model::rule::{Rule, RuleKind};
use crate::read::index::Index;

impl Index {
    /// Every rule, kind by kind (pair, IMEI, range, TAC), each kind in key order.
    ///
    /// Rebuilding an index from these rules gives an index with the same rules.
    ///
    /// Never panics, whatever the bytes. In a file that fails
    /// [`Verification::Full`](crate::Verification::Full), keys that do not decode are
    /// skipped, and the iteration ends after at most as many steps as walking
    /// [`walk_limit`](crate::walk_limit)`(file size)` keys takes.
    pub fn rules(&self) -> Rules<'_> {
        Rules::new(self)
    }
}

/// An iterator over an index's rules; see [`Index::rules`].
pub struct Rules<'a> {
    index: &'a Index,
    kind: usize,
    stream: Option<Stream<'a>>,
}

impl<'a> Rules<'a> {
    fn new(index: &'a Index) -> Rules<'a> {
        Rules {
            index,
            kind: 0,
            stream: None,
        }
    }
}

impl Iterator for Rules<'_> {
    type Item = Rule;

    fn next(&mut self) -> Option<Rule> {
        loop {
            let kind = *RuleKind::ALL.get(self.kind)?;
            let index = self.index;
            let stream = self.stream.get_or_insert_with(|| index.stream(kind));
            let Some((k, v)) = stream.next() else {
                self.kind += 1;
                self.stream = None;
                continue;
            };
            // Keys or values that do not decode exist only in files that fail full
            // verification; skip them rather than invent rules.
            let Some(entry) = index.entry(v) else {
                continue;
            };
            let rule =
                crate::format::key::target_of(kind, k).and_then(|t| Rule::new(t, entry).ok());
            if let Some(rule) = rule {
                return Some(rule);
            }
        }
    }
}
