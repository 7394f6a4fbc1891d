//! Iterating over an index's rules.

use crate::format::Record;
use crate::model::rule::{Rule, RuleKind};
use crate::read::index::Index;
use crate::read::maps::Keys;

impl Index {
    /// Every rule, kind by kind (pair, IMEI, range, TAC), each kind in key order (one
    /// target's rules in the order of their sources' names), with its source.
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
    stream: Option<Keys<'a>>,
    /// Records decoded so far, by id.
    cache: std::collections::HashMap<u64, Option<Record>>,
}

impl<'a> Rules<'a> {
    fn new(index: &'a Index) -> Rules<'a> {
        Rules {
            index,
            kind: 0,
            stream: None,
            cache: std::collections::HashMap::new(),
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
            let (target, source) = if index.has_sources() {
                let Some((&src, target)) = k.split_last() else {
                    continue;
                };
                (
                    target,
                    index
                        .sources()
                        .get(usize::from(src))
                        .map(|s| s.name.clone()),
                )
            } else {
                (k, Some(crate::model::source::Source::local()))
            };
            let Some(source) = source else {
                continue;
            };
            let record = match self.cache.get(&v) {
                Some(r) => r.clone(),
                None => {
                    let r = index.record(v);
                    if self.cache.len() < 1 << 16 {
                        self.cache.insert(v, r.clone());
                    }
                    r
                }
            };
            let Some(Record::Rule(entry)) = record else {
                continue;
            };
            let rule =
                crate::format::key::target_of(kind, target).and_then(|t| Rule::new(t, entry).ok());
            if let Some(rule) = rule {
                return Some(rule.with_source(source));
            }
        }
    }
}
