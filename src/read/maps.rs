//! One kind's rules as checks, streams and verification read them, whichever section holds
//! them: a transducer keyed by target (and source), or for exact IMEIs in files with the
//! `imei blocks` section, the blocks (`format::blocks`). Callers see one key order and one
//! key layout either way: the IMEI's 6 bytes, then the source id.

use crate::format::blocks::{BlockStream, Blocks};
use crate::format::key;
use crate::format::node::{Stream, Transducer};

/// A kind's rules.
#[derive(Clone, Copy)]
pub(crate) enum Map<'a> {
    Fst(&'a Transducer),
    Blocks(&'a Blocks),
}

/// The 14-digit number of an IMEI key's first 6 bytes.
fn imei_of(k: &[u8]) -> Option<u64> {
    k.get(..6).map(key::imei_of_key)
}

impl<'a> Map<'a> {
    /// True when the map holds no key (as its footer says).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Map::Fst(t) => t.is_empty(),
            Map::Blocks(b) => b.is_empty(),
        }
    }

    /// The value of a key of a file without sources (blocks exist only in files with
    /// sources: there, the value of source 0).
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u64> {
        match self {
            Map::Fst(t) => t.get(key),
            Map::Blocks(b) => {
                let mut found = None;
                b.for_each(imei_of(key)?, |s, id| {
                    if s == 0 {
                        found = Some(id);
                    }
                });
                found
            }
        }
    }

    /// Calls `f(source id, value)` for each key that is `prefix` and one byte more, in
    /// order: the rules of every source for one target.
    #[inline]
    pub(crate) fn for_each_suffix(&self, prefix: &[u8], f: impl FnMut(u8, u64)) {
        match self {
            Map::Fst(t) => t.for_each_suffix(prefix, f),
            Map::Blocks(b) => {
                if prefix.len() == 6
                    && let Some(imei) = imei_of(prefix)
                {
                    b.for_each(imei, f);
                }
            }
        }
    }

    /// Every key of `key_len` bytes in order, with its value; panic-free and finite (see
    /// `Transducer::stream` and `Blocks::stream`).
    pub(crate) fn stream(&self, key_len: usize, budget: u64) -> Keys<'a> {
        match *self {
            Map::Fst(t) => Keys::Fst(t.stream(key_len, budget)),
            Map::Blocks(b) => Keys::Blocks(b.stream(budget)),
        }
    }

    /// The structural check of full verification; returns how many keys the map holds.
    pub(crate) fn verify(&self, key_len: usize) -> Result<u64, String> {
        match self {
            Map::Fst(t) => t.verify(key_len),
            Map::Blocks(b) => b.verify(),
        }
    }
}

/// The keys of a [`Map`] in order.
pub(crate) enum Keys<'a> {
    Fst(Stream<'a>),
    Blocks(BlockStream<'a>),
}

impl Keys<'_> {
    /// True when the walk stopped at its budget rather than at the last key.
    pub(crate) fn exhausted(&self) -> bool {
        match self {
            Keys::Fst(s) => s.exhausted(),
            Keys::Blocks(s) => s.exhausted(),
        }
    }

    /// The next key and its value.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub(crate) fn next(&mut self) -> Option<(&[u8], u64)> {
        match self {
            Keys::Fst(s) => s.next(),
            Keys::Blocks(s) => s.next(),
        }
    }
}
