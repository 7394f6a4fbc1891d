//! The model: identifiers, rules, verdicts and changes. Everything else is built on these,
//! and they know nothing of files.

pub(crate) mod change;
pub(crate) mod device;
pub(crate) mod field;
pub(crate) mod ident;
pub(crate) mod rule;
pub(crate) mod source;
pub(crate) mod subscriber;
