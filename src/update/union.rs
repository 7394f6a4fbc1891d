//! Sorted unions of several indexes' transducers: the stream under diff, merge and apply.
//!
//! A k-way merge of the inputs' sorted key streams: time linear in the inputs' sizes
//! (times the number of inputs, which is small), memory independent of them. Faster than
//! `fst`'s own union for the few inputs these operations have, since it keeps no heap and
//! copies each key once.

use crate::error::{Error, Origin};
use crate::format::node::Stream;
use crate::format::{FormatError, Record, Section};
use crate::model::rule::RuleKind;
use crate::read::index::Index;

/// An input that has a key: its position among the inputs, and its value for the key.
pub(crate) type Hit = (usize, u64);

/// The union of one kind's keys over several indexes, each key once, in order.
pub(crate) struct Union<'a> {
    streams: Vec<Stream<'a>>,
    /// Each stream's current key and value; `None` once it is exhausted.
    heads: Vec<Option<(Vec<u8>, u64)>>,
    key: Vec<u8>,
    values: Vec<Hit>,
    /// The first input whose stream stopped at its budget, not at its last key.
    exhausted: Option<usize>,
}

impl<'a> Union<'a> {
    /// The union of `kind`'s transducers of `inputs`.
    pub(crate) fn new(inputs: &[&'a Index], kind: RuleKind) -> Union<'a> {
        // The crate's own streams: strictly increasing and panic-free on any bytes, which
        // the merge below relies on.
        let mut streams: Vec<Stream<'a>> = inputs.iter().map(|i| i.stream(kind)).collect();
        let heads = streams
            .iter_mut()
            .map(|s| s.next().map(|(k, v)| (k.to_vec(), v)))
            .collect();
        let exhausted = streams.iter().position(Stream::exhausted);
        Union {
            streams,
            heads,
            key: Vec::with_capacity(16),
            values: Vec::with_capacity(inputs.len()),
            exhausted,
        }
    }

    /// The first input (by position) whose keys were not all streamed: it holds more
    /// than [`Verification::Full`](crate::Verification::Full) accepts for its size.
    pub(crate) fn exhausted(&self) -> Option<usize> {
        self.exhausted
    }

    /// The next key, with the (input position, value) of every input that has it, by input
    /// position.
    pub(crate) fn next(&mut self) -> Option<(&[u8], &[Hit])> {
        let min = self.heads.iter().flatten().map(|(k, _)| k).min()?;
        self.key.clear();
        self.key.extend_from_slice(min);
        self.values.clear();
        for (i, (head, stream)) in self.heads.iter_mut().zip(&mut self.streams).enumerate() {
            let Some((k, v)) = head else { continue };
            if *k != self.key {
                continue;
            }
            self.values.push((i, *v));
            match stream.next() {
                Some((next, value)) => {
                    k.clear();
                    k.extend_from_slice(next);
                    *v = value;
                }
                None => {
                    *head = None;
                    if stream.exhausted() && self.exhausted.is_none_or(|e| i < e) {
                        self.exhausted = Some(i);
                    }
                }
            }
        }
        Some((&self.key, &self.values))
    }
}

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
    let mut union = Union::new(inputs, kind);
    let mut records = Vec::with_capacity(inputs.len());
    while let Some((key, values)) = union.next() {
        records.clear();
        for &(i, value) in values {
            let record = inputs[i]
                .record(value)
                .ok_or_else(|| bad_value(kind, value))?;
            records.push((i, record));
        }
        f(key, &records)?;
    }
    match union.exhausted() {
        Some(i) => Err(too_many_keys(inputs[i])),
        None => Ok(()),
    }
}

/// The error for an input whose keys could not all be streamed.
pub(crate) fn too_many_keys(input: &Index) -> Error {
    Error::format(&Origin::Memory, input.too_many_keys())
}

/// The section of a kind's transducer.
pub(crate) fn section_of(kind: RuleKind) -> Section {
    Section::of_kind(kind)
}

/// The error for a value that a verified index cannot hold.
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
