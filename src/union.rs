//! Sorted unions of several indexes' transducers: the stream under diff, merge and apply.
//!
//! `fst` merges the inputs' sorted key streams (a k-way merge), so a union takes time
//! linear in the inputs' sizes and memory independent of them.

use fst::Streamer;
use fst::map::OpBuilder;

use crate::error::{Error, Origin};
use crate::format::{FormatError, Record, Section};
use crate::index::Index;
use crate::rule::RuleKind;

/// What [`for_each`] calls with each key and the records of the inputs that have it.
pub(crate) type VisitUnion<'a> = dyn FnMut(&[u8], &[(usize, Record)]) -> Result<(), Error> + 'a;

/// Calls `f` with every key of `kind` in any input, in key order, each once, with the
/// records of the inputs that have it as (input position, record), by input position.
///
/// # Errors
///
/// The first error `f` returns, or [`Error::Format`] for a value that names no entry
/// (only in an input that fails full verification).
pub(crate) fn for_each(
    inputs: &[&Index],
    kind: RuleKind,
    f: &mut VisitUnion<'_>,
) -> Result<(), Error> {
    let mut op = OpBuilder::new();
    for index in inputs {
        op = op.add(index.map(kind));
    }
    let mut union = op.union();
    let mut records = Vec::with_capacity(inputs.len());
    while let Some((key, values)) = union.next() {
        records.clear();
        for v in values {
            let record = inputs[v.index]
                .record(v.value)
                .ok_or_else(|| bad_value(kind, v.value))?;
            records.push((v.index, record));
        }
        records.sort_unstable_by_key(|r| r.0);
        f(key, &records)?;
    }
    Ok(())
}

/// The section of a kind's transducer.
pub(crate) fn section_of(kind: RuleKind) -> Section {
    match kind {
        RuleKind::Pair => Section::Pair,
        RuleKind::Imei => Section::Imei,
        RuleKind::Range => Section::Range,
        RuleKind::Tac => Section::Tac,
    }
}

/// The error for a key or value that a verified index cannot hold.
pub(crate) fn bad_value(kind: RuleKind, value: u64) -> Error {
    Error::format(
        &Origin::Memory,
        FormatError::Malformed {
            section: section_of(kind),
            what: format!(
                "value {value} names no entry; open the index with full verification to find \
                 the damage"
            ),
        },
    )
}

/// The error for a key that names no target.
pub(crate) fn bad_key(kind: RuleKind, key: &[u8]) -> Error {
    Error::format(
        &Origin::Memory,
        FormatError::Malformed {
            section: section_of(kind),
            what: format!(
                "key {key:02x?} names no {kind} target; open the index with full verification \
                 to find the damage"
            ),
        },
    )
}
