//! Serving lists while they change: deltas layered over a base, an index that follows its
//! file with lock-free hot reloads, and publishing a new file where readers follow it.

pub(crate) mod layered;
pub(crate) mod live;
pub(crate) mod publish;
