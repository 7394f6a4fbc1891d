//! Updating lists: sorted unions of indexes' transducers, and on them the diff between two
//! indexes, deltas, applying deltas and merging indexes.

pub(crate) mod apply;
pub(crate) mod delta;
pub(crate) mod diff;
pub(crate) mod merge;
pub(crate) mod union;
