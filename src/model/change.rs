//! Changes: what a delta list row or a diff says about one target.

use crate::model::rule::{Entry, Rule, Target};

/// One change from a version of a list to the next: a row of a delta list.
///
/// # Example
///
/// ```
/// use imei_index::{Change, Entry, Imei, Rule, Status, Target};
///
/// let imei = Imei::parse("35209900176148")?;
/// let c = Change::Add(Rule::imei(imei, Entry::new(Status::Blocked)));
/// assert_eq!((c.op(), c.target()), ("add", Target::Imei(imei)));
/// assert_eq!(Change::Remove(Target::Imei(imei), None).op(), "remove");
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// A rule for a target that had none.
    Add(Rule),
    /// A new entry for a target that had another.
    Change(Rule),
    /// The target's rule goes; with the entry it had, when known. [`diff`](crate::diff()) writes
    /// it so that a delta reads both ways; applying a delta does not use it.
    Remove(Target, Option<Entry>),
}

impl Change {
    /// The target the change is about.
    pub fn target(&self) -> Target {
        match self {
            Change::Add(r) | Change::Change(r) => r.target(),
            Change::Remove(t, _) => *t,
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
