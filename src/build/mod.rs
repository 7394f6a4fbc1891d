//! Building index files: the builder, the one writer that every build, merge, apply and
//! compaction shares, sorted runs spilled within a memory bound, and files replaced
//! atomically.

pub(crate) mod atomic;
pub(crate) mod builder;
pub(crate) mod spill;
pub(crate) mod write;
