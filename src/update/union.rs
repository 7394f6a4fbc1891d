//! Sorted unions of several indexes' transducers: the stream under diff, merge and apply.
//!
//! A k-way merge of the inputs' sorted key streams: time linear in the inputs' sizes
//! (times the number of inputs, which is small), memory independent of them. Faster than
//! `fst`'s own union for the few inputs these operations have, since it keeps no heap and
//! copies each key once.

use crate::build::write::SourceMeta;
use crate::error::{Error, Origin};
use crate::format::{FormatError, Record, Section};
use crate::model::rule::RuleKind;
use crate::model::source::Source;
use crate::read::index::Index;
use crate::read::maps::Keys;

/// The sources of several indexes together: every name any of them has, in name order
/// (the global ids), and for each input the global id of each of its own ids.
#[derive(Clone, Debug)]
pub(crate) struct GlobalSources {
    pub names: Vec<Source>,
    pub maps: Vec<[u8; 256]>,
}

impl GlobalSources {
    /// The sources of `inputs`.
    ///
    /// # Errors
    ///
    /// [`Error::TooManySources`] when they have more than an index holds together.
    pub(crate) fn of(inputs: &[&Index]) -> Result<GlobalSources, Error> {
        let mut names: Vec<Source> = inputs
            .iter()
            .flat_map(|i| i.sources().iter().map(|s| s.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        if names.len() > crate::format::sources::MAX_SOURCES {
            return Err(Error::TooManySources { count: names.len() });
        }
        let maps = inputs
            .iter()
            .map(|i| {
                let mut map = [0u8; 256];
                for (own, s) in i.sources().iter().enumerate() {
                    // Found: every input's names are in `names`.
                    map[own] = names.binary_search(&s.name).unwrap_or(0) as u8;
                }
                map
            })
            .collect();
        Ok(GlobalSources { names, maps })
    }

    /// The metadata of each global source: that of the first input that has it.
    pub(crate) fn metas(&self, inputs: &[&Index]) -> Vec<SourceMeta> {
        self.names
            .iter()
            .map(|name| {
                inputs
                    .iter()
                    .flat_map(|i| i.sources().iter())
                    .find(|s| &s.name == name)
                    .map_or_else(
                        || SourceMeta::named(name.clone()),
                        |s| SourceMeta {
                            name: name.clone(),
                            run_id: s.run_id,
                            base_run_id: None,
                            built: s.built,
                        },
                    )
            })
            .collect()
    }
}

/// One input's keys in the layout of files with sources, its source ids mapped to the
/// global ids (a monotonic map, so the keys stay in order); a file without sources gets
/// the id of `local`.
pub(crate) struct MappedStream<'a> {
    stream: Keys<'a>,
    map: [u8; 256],
    append: bool,
    key: [u8; 16],
}

impl<'a> MappedStream<'a> {
    pub(crate) fn new(index: &'a Index, kind: RuleKind, map: [u8; 256]) -> MappedStream<'a> {
        MappedStream {
            stream: index.stream(kind),
            map,
            append: !index.has_sources(),
            key: [0; 16],
        }
    }

    /// The next key and value.
    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next(&mut self) -> Option<(&[u8], u64)> {
        let (k, v) = self.stream.next()?;
        let n = k.len().min(15);
        self.key[..n].copy_from_slice(&k[..n]);
        let len = if self.append {
            self.key[n] = self.map[0];
            n + 1
        } else {
            if let Some(last) = self.key[..n].last_mut() {
                *last = self.map[usize::from(*last)];
            }
            n
        };
        Some((&self.key[..len], v))
    }

    /// See [`Keys::exhausted`].
    pub(crate) fn exhausted(&self) -> bool {
        self.stream.exhausted()
    }
}

/// An input that has a key: its position among the inputs, and its value for the key.
pub(crate) type Hit = (usize, u64);

/// The union of one kind's keys over several indexes, each key once, in order.
pub(crate) struct Union<'a> {
    streams: Vec<MappedStream<'a>>,
    /// Each stream's current key and value; `None` once it is exhausted.
    heads: Vec<Option<(Vec<u8>, u64)>>,
    key: Vec<u8>,
    values: Vec<Hit>,
    /// The first input whose stream stopped at its budget, not at its last key.
    exhausted: Option<usize>,
}

impl<'a> Union<'a> {
    /// The union of `kind`'s transducers of `inputs`, their keys with global source ids.
    pub(crate) fn new(inputs: &[&'a Index], kind: RuleKind, sources: &GlobalSources) -> Union<'a> {
        // The crate's own streams: strictly increasing and panic-free on any bytes, which
        // the merge below relies on.
        let mut streams: Vec<MappedStream<'a>> = inputs
            .iter()
            .zip(&sources.maps)
            .map(|(i, m)| MappedStream::new(i, kind, *m))
            .collect();
        let heads = streams
            .iter_mut()
            .map(|s| s.next().map(|(k, v)| (k.to_vec(), v)))
            .collect();
        let exhausted = streams.iter().position(MappedStream::exhausted);
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
    sources: &GlobalSources,
    f: &mut VisitUnion<'_>,
) -> Result<(), Error> {
    let mut union = Union::new(inputs, kind, sources);
    let mut caches: Vec<RecordCache<'_>> = inputs.iter().map(|i| RecordCache::new(i)).collect();
    let mut records = Vec::with_capacity(inputs.len());
    while let Some((key, values)) = union.next() {
        records.clear();
        for &(i, value) in values {
            let record = caches[i].get(value).ok_or_else(|| bad_value(kind, value))?;
            records.push((i, record));
        }
        f(key, &records)?;
    }
    match union.exhausted() {
        Some(i) => Err(too_many_keys(inputs[i])),
        None => Ok(()),
    }
}

/// Decoded records of one input by id, so that an entry's reasons are decoded once.
pub(crate) struct RecordCache<'a> {
    index: &'a Index,
    cache: Vec<Option<Record>>,
}

/// The most records cached per input; beyond, records are decoded each time.
const CACHED_RECORDS: u64 = 1 << 20;

impl<'a> RecordCache<'a> {
    pub(crate) fn new(index: &'a Index) -> RecordCache<'a> {
        let n = index.entry_count().min(CACHED_RECORDS) as usize;
        RecordCache {
            index,
            cache: vec![None; n],
        }
    }

    /// The record with an id, or `None` when the id names none.
    pub(crate) fn get(&mut self, id: u64) -> Option<Record> {
        let Some(slot) = usize::try_from(id).ok().and_then(|i| self.cache.get_mut(i)) else {
            return self.index.record(id);
        };
        if slot.is_none() {
            *slot = self.index.record(id);
        }
        slot.clone()
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
