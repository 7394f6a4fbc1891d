//! Reading index files: opening and verifying them, checking equipment, statistics and
//! iteration over the rules. Nothing here writes; the writer is never imported.

pub(crate) mod index;
