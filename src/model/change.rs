//! Changes: what a delta list row or a diff says about one target of one source.

use crate::model::rule::{Entry, Rule, Target};
use crate::model::source::Source;

/// One change from a version of a list to the next: a row of a delta list.
///
/// A change is about one target of one source: a rule's own source, or the source a
/// remove names. Other sources' rules for the target are not touched.
///
/// # Example
///
/// ```
/// use imei_index::{Change, Entry, Imei, Rule, Source, Status, Target};
///
/// let imei = Imei::parse("35209900176148")?;
/// let c = Change::Add(Rule::imei(imei, Entry::new(Status::Blocked)));
/// assert_eq!((c.op(), c.target()), ("add", Target::Imei(imei)));
/// assert_eq!(c.source(), &Source::local());
/// let gone = Change::Remove(Target::Imei(imei), Source::local(), None);
/// assert_eq!(gone.op(), "remove");
/// let theirs = gone.with_source("dirbs/blacklist".parse()?);
/// assert_eq!(theirs.source().as_str(), "dirbs/blacklist");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// A rule for a target that had none in the rule's source.
    Add(Rule),
    /// A new entry for a target that had another in the rule's source.
    Change(Rule),
    /// The target's rule of the source goes; with the entry it had, when known.
    /// [`diff`](crate::diff()) writes it so that a delta reads both ways; applying a delta
    /// does not use it.
    Remove(Target, Source, Option<Entry>),
}

impl Change {
    /// The target the change is about.
    pub fn target(&self) -> Target {
        match self {
            Change::Add(r) | Change::Change(r) => r.target(),
            Change::Remove(t, ..) => *t,
        }
    }

    /// The source whose rule the change is about.
    pub fn source(&self) -> &Source {
        match self {
            Change::Add(r) | Change::Change(r) => r.source(),
            Change::Remove(_, s, _) => s,
        }
    }

    /// The same change, about another source's rule.
    pub fn with_source(self, source: Source) -> Change {
        match self {
            Change::Add(r) => Change::Add(r.with_source(source)),
            Change::Change(r) => Change::Change(r.with_source(source)),
            Change::Remove(t, _, e) => Change::Remove(t, source, e),
        }
    }

    /// The operation's name in delta lists: `add`, `change` or `remove`.
    pub fn op(&self) -> &'static str {
        match self {
            Change::Add(_) => "add",
            Change::Change(_) => "change",
            Change::Remove(..) => "remove",
        }
    }
}
