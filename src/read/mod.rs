//! Reading index files: opening them at a level of verification, checking equipment,
//! statistics, and iterating over the rules. Nothing here writes; the writer is never
//! imported.

pub(crate) mod index;
pub(crate) mod maps;
pub(crate) mod open;
pub(crate) mod rules;
pub(crate) mod stats;
pub(crate) mod subscribers;
mod verify;
