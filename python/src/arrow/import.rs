//! Reading arrays that Python passes in, in place, through the Arrow PyCapsule interface.
//!
//! [`Imported::new`] asks an object for `__arrow_c_array__` (one array: pyarrow `Array`,
//! `RecordBatch` columns, numpy arrays once wrapped by pyarrow) or `__arrow_c_stream__`
//! (chunks: pyarrow `ChunkedArray`, polars `Series`, DuckDB's UDF arguments), keeps
//! whatever owns the memory alive, and [`Imported::chunks`] reads each array as a
//! [`Chunk`]: slices of its buffers with its offset applied, which are `Send`, so that the
//! work on them can run without the GIL.
//!
//! Formats read: strings (`u` utf8, `U` large utf8, `vu` utf8 view), integers (`l` int64,
//! `L` uint64, `i` int32, `I` uint32) and `n` (all null). Offsets and views are checked
//! against their buffers as they are read, so a malformed array is an error, never a read
//! out of bounds.

use std::ffi::{CStr, c_int};
use std::ptr::NonNull;
use std::slice;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

use super::ffi::{ArrowArray, ArrowArrayStream, ArrowSchema};

/// One value of an input array.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    /// A string's bytes (UTF-8 by the Arrow format's promise; checked where it matters).
    Str(&'a [u8]),
    /// An integer of any of the integer formats.
    Int(i128),
}

/// A validity bitmap from an array's offset on: `None` when every slot holds a value.
#[derive(Clone, Copy, Debug)]
struct Validity<'a> {
    bits: Option<&'a [u8]>,
    offset: usize,
}

impl Validity<'_> {
    #[inline]
    fn is_valid(&self, i: usize) -> bool {
        match self.bits {
            None => true,
            Some(bits) => {
                let at = self.offset + i;
                bits[at / 8] >> (at % 8) & 1 == 1
            }
        }
    }
}

/// The values of one imported array, with its offset applied.
#[derive(Clone, Debug)]
enum Values<'a> {
    Null,
    I64(&'a [i64]),
    U64(&'a [u64]),
    I32(&'a [i32]),
    U32(&'a [u32]),
    /// `offsets` has one more element than the array has values.
    Utf8 {
        offsets: &'a [i32],
        data: &'a [u8],
    },
    LargeUtf8 {
        offsets: &'a [i64],
        data: &'a [u8],
    },
    /// 16-byte views, and the data buffers that long strings point into.
    Utf8View {
        views: &'a [[u8; 16]],
        buffers: Vec<&'a [u8]>,
    },
}

/// One imported array (a chunk of the input), borrowed from its producer.
#[derive(Debug)]
pub(crate) struct Chunk<'a> {
    len: usize,
    validity: Validity<'a>,
    values: Values<'a>,
}

/// Why a chunk's value could not be read: the producer broke the format's rules.
fn malformed(what: &str) -> PyErr {
    PyValueError::new_err(format!("malformed Arrow array: {what}"))
}

impl<'a> Chunk<'a> {
    /// How many values the chunk holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Calls `f` with every value in order (`None` for a null), then returns `Ok`; or the
    /// first malformed offset or view as an error.
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(Option<Value<'_>>)) -> PyResult<()> {
        let v = self.validity;
        match &self.values {
            Values::Null => (0..self.len).for_each(|_| f(None)),
            Values::I64(x) => ints(x, v, f),
            Values::U64(x) => ints(x, v, f),
            Values::I32(x) => ints(x, v, f),
            Values::U32(x) => ints(x, v, f),
            Values::Utf8 { offsets, data } => strings(offsets, data, v, f)?,
            Values::LargeUtf8 { offsets, data } => strings(offsets, data, v, f)?,
            Values::Utf8View { views, buffers } => {
                for (i, view) in views.iter().enumerate() {
                    if !v.is_valid(i) {
                        f(None);
                        continue;
                    }
                    let len = le_i32(view, 0);
                    let len = usize::try_from(len).map_err(|_| malformed("negative length"))?;
                    if len <= 12 {
                        f(Some(Value::Str(&view[4..4 + len])));
                    } else {
                        let buffer = usize::try_from(le_i32(view, 8)).ok();
                        let start = usize::try_from(le_i32(view, 12)).ok();
                        let s = buffer
                            .and_then(|b| buffers.get(b))
                            .zip(start)
                            .and_then(|(b, s)| b.get(s..s.checked_add(len)?))
                            .ok_or_else(|| malformed("a view points outside its buffers"))?;
                        f(Some(Value::Str(s)));
                    }
                }
            }
        }
        Ok(())
    }
}

fn le_i32(view: &[u8; 16], at: usize) -> i32 {
    i32::from_le_bytes([view[at], view[at + 1], view[at + 2], view[at + 3]])
}

#[inline]
fn ints<T: Copy + Into<i128>>(values: &[T], v: Validity<'_>, mut f: impl FnMut(Option<Value<'_>>)) {
    if v.bits.is_none() {
        values.iter().for_each(|&x| f(Some(Value::Int(x.into()))));
    } else {
        for (i, &x) in values.iter().enumerate() {
            f(v.is_valid(i).then_some(Value::Int(x.into())));
        }
    }
}

#[inline]
fn strings<O: Copy + TryInto<usize>>(
    offsets: &[O],
    data: &[u8],
    v: Validity<'_>,
    mut f: impl FnMut(Option<Value<'_>>),
) -> PyResult<()> {
    let at = |o: O| o.try_into().ok();
    for (i, w) in offsets.windows(2).enumerate() {
        if !v.is_valid(i) {
            f(None);
            continue;
        }
        let s = at(w[0])
            .zip(at(w[1]))
            .and_then(|(s, e)| data.get(s..e))
            .ok_or_else(|| malformed("string offsets outside the data buffer"))?;
        f(Some(Value::Str(s)));
    }
    Ok(())
}

/// An array that this module received from a stream and must release.
struct OwnedArray(Box<ArrowArray>);

impl Drop for OwnedArray {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: the stream's producer filled this struct and we own it: releasing it
            // once, through its own callback, is what the C Data Interface asks of us.
            unsafe { release(&mut *self.0) };
        }
    }
}

/// A schema that this module received from a stream and must release.
struct OwnedSchema(Box<ArrowSchema>);

impl Drop for OwnedSchema {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: as for `OwnedArray`: ours to release, once.
            unsafe { release(&mut *self.0) };
        }
    }
}

/// The arrays of one input, and what keeps their memory alive.
pub(crate) struct Imported<'py> {
    /// The capsules of `__arrow_c_array__` (they release their structs when dropped) or of
    /// `__arrow_c_stream__` (it releases the stream).
    _capsules: Vec<Bound<'py, PyAny>>,
    /// Where the schema is: inside a capsule, or in `owned_schema`.
    schema: NonNull<ArrowSchema>,
    owned_schema: Option<OwnedSchema>,
    /// The arrays: one inside a capsule, or those a stream gave (owned, released on drop).
    arrays: Vec<NonNull<ArrowArray>>,
    _owned_arrays: Vec<OwnedArray>,
}

impl<'py> Imported<'py> {
    /// Imports `obj`: an object with `__arrow_c_array__` or `__arrow_c_stream__`.
    ///
    /// # Errors
    ///
    /// `TypeError` when `obj` has neither; the producer's errors.
    pub(crate) fn new(obj: &Bound<'py, PyAny>) -> PyResult<Imported<'py>> {
        if obj.hasattr("__arrow_c_array__")? {
            let pair = obj.call_method0("__arrow_c_array__")?;
            let pair = pair.cast::<PyTuple>()?;
            let schema_capsule = pair.get_item(0)?;
            let array_capsule = pair.get_item(1)?;
            let schema = schema_capsule
                .cast::<PyCapsule>()?
                .pointer_checked(Some(c"arrow_schema"))?
                .cast::<ArrowSchema>();
            let array = array_capsule
                .cast::<PyCapsule>()?
                .pointer_checked(Some(c"arrow_array"))?
                .cast::<ArrowArray>();
            return Ok(Imported {
                _capsules: vec![schema_capsule, array_capsule],
                schema,
                owned_schema: None,
                arrays: vec![array],
                _owned_arrays: Vec::new(),
            });
        }
        if obj.hasattr("__arrow_c_stream__")? {
            let capsule = obj.call_method0("__arrow_c_stream__")?;
            let stream = capsule
                .cast::<PyCapsule>()?
                .pointer_checked(Some(c"arrow_array_stream"))?
                .cast::<ArrowArrayStream>()
                .as_ptr();
            // SAFETY: the capsule holds a live stream (its name was checked) and stays alive
            // for this whole function: `capsule` is dropped only after the loop.
            let (get_schema, get_next) = unsafe { ((*stream).get_schema, (*stream).get_next) };
            let (Some(get_schema), Some(get_next)) = (get_schema, get_next) else {
                return Err(malformed("a stream without callbacks"));
            };
            let mut schema = OwnedSchema(Box::new(ArrowSchema::released()));
            // SAFETY: the stream is live; `schema` is a released struct for it to fill.
            let rc = unsafe { get_schema(stream, &mut *schema.0) };
            if rc != 0 {
                return Err(stream_error(stream, rc));
            }
            let mut arrays = Vec::new();
            loop {
                let mut array = OwnedArray(Box::new(ArrowArray::released()));
                // SAFETY: as for get_schema.
                let rc = unsafe { get_next(stream, &mut *array.0) };
                if rc != 0 {
                    return Err(stream_error(stream, rc));
                }
                if array.0.release.is_none() {
                    break; // the end of the stream
                }
                arrays.push(array);
            }
            return Ok(Imported {
                schema: NonNull::from(&mut *schema.0),
                owned_schema: Some(schema),
                arrays: arrays
                    .iter_mut()
                    .map(|a| NonNull::from(&mut *a.0))
                    .collect(),
                _owned_arrays: arrays,
                _capsules: vec![capsule],
            });
        }
        Err(PyTypeError::new_err(format!(
            "expected an Arrow array (an object with __arrow_c_array__ or __arrow_c_stream__), \
             got {}",
            obj.get_type().name()?
        )))
    }

    /// Every array of the input as a chunk, in order.
    ///
    /// # Errors
    ///
    /// `TypeError` for a type other than strings or integers; `ValueError` for an array
    /// that breaks the format's rules (missing buffers, negative lengths).
    pub(crate) fn chunks(&self) -> PyResult<Vec<Chunk<'_>>> {
        let _ = &self.owned_schema; // kept for `schema` to point into
        // SAFETY: `schema` points into a capsule or into `owned_schema`, both alive as long
        // as `self`; the producer filled it and it was not released.
        let schema = unsafe { self.schema.as_ref() };
        let format = read_format(schema)?;
        self.arrays
            .iter()
            // SAFETY: as for the schema: each array lives as long as `self`.
            .map(|a| chunk(format, unsafe { a.as_ref() }))
            .collect()
    }
}

/// The format of a schema, refusing what this module cannot read.
fn read_format(schema: &ArrowSchema) -> PyResult<&[u8]> {
    if schema.release.is_none() || schema.format.is_null() {
        return Err(malformed("a released schema"));
    }
    // SAFETY: a live schema's format is a NUL-terminated string (the C Data Interface).
    let format = unsafe { CStr::from_ptr(schema.format) }.to_bytes();
    if !schema.dictionary.is_null() {
        return Err(PyTypeError::new_err(
            "expected strings or integers, got a dictionary-encoded (categorical) array: \
             cast it to strings first",
        ));
    }
    match format {
        b"n" | b"l" | b"L" | b"i" | b"I" | b"u" | b"U" | b"vu" => Ok(format),
        other => Err(PyTypeError::new_err(format!(
            "expected strings or integers, got an Arrow array of format {:?} ({})",
            String::from_utf8_lossy(other),
            describe_format(other)
        ))),
    }
}

/// A format string's type, in words, for errors.
fn describe_format(format: &[u8]) -> &'static str {
    match format {
        b"b" => "booleans",
        b"c" | b"C" | b"s" | b"S" => "small integers",
        b"e" | b"f" | b"g" => "floating point numbers",
        b"z" | b"Z" | b"vz" => "binary",
        b"+s" => "a struct",
        f if f.starts_with(b"+") => "a nested type",
        f if f.starts_with(b"t") => "dates or times",
        f if f.starts_with(b"d") => "decimals",
        _ => "unsupported",
    }
}

/// A buffer of `len` items of `T` from an array's `i`-th buffer pointer.
///
/// # Safety
///
/// `array` is live, has at least `i + 1` buffers, and that buffer holds at least `len`
/// items of `T` when it is not null.
unsafe fn buffer<T>(array: &ArrowArray, i: usize, len: usize) -> PyResult<&[T]> {
    // SAFETY: the caller promises at least i + 1 buffers.
    let p = unsafe { *array.buffers.add(i) }.cast::<T>();
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(malformed("a null buffer where values are needed"));
    }
    if !p.is_aligned() {
        return Err(malformed("a buffer not aligned for its values"));
    }
    // SAFETY: the caller promises `len` items behind a non-null pointer, and we checked
    // alignment; the buffer lives as long as the array.
    Ok(unsafe { slice::from_raw_parts(p, len) })
}

/// Reads one array of a known-good format as a chunk.
fn chunk<'a>(format: &[u8], array: &'a ArrowArray) -> PyResult<Chunk<'a>> {
    if array.release.is_none() {
        return Err(malformed("a released array"));
    }
    let (Ok(len), Ok(offset), Ok(n_buffers)) = (
        usize::try_from(array.length),
        usize::try_from(array.offset),
        usize::try_from(array.n_buffers),
    ) else {
        return Err(malformed("a negative length, offset or buffer count"));
    };
    let end = offset
        .checked_add(len)
        .ok_or_else(|| malformed("offset and length overflow"))?;
    let needs = match format {
        b"n" => 0,
        b"u" | b"U" => 3,
        b"vu" => 3, // validity, views and the variadic sizes, at least
        _ => 2,
    };
    if n_buffers < needs || (needs > 0 && array.buffers.is_null()) {
        return Err(malformed("fewer buffers than the format has"));
    }
    let validity = if format == b"n" || array.null_count == 0 {
        Validity { bits: None, offset }
    } else {
        // SAFETY: a nullable array's first buffer is its validity bitmap, of at least
        // offset + length bits when not null (a null pointer means no nulls).
        let p = unsafe { *array.buffers }.cast::<u8>();
        Validity {
            bits: (!p.is_null() && len > 0)
                // SAFETY: as above: ceil((offset + length) / 8) bytes.
                .then(|| unsafe { slice::from_raw_parts(p, end.div_ceil(8)) }),
            offset,
        }
    };
    // SAFETY: the format says which buffers the array has and how long each is (values:
    // offset + length items; offsets: one more; a view array's data buffers: the sizes
    // its last buffer gives), the C Data Interface promises that a live array has them,
    // and we checked above that it has as many as its format needs.
    let values = unsafe {
        match format {
            b"n" => Values::Null,
            b"l" => Values::I64(&buffer::<i64>(array, 1, end)?[offset..]),
            b"L" => Values::U64(&buffer::<u64>(array, 1, end)?[offset..]),
            b"i" => Values::I32(&buffer::<i32>(array, 1, end)?[offset..]),
            b"I" => Values::U32(&buffer::<u32>(array, 1, end)?[offset..]),
            b"u" => {
                let offsets = &buffer::<i32>(array, 1, end + 1)?[offset..];
                let data_len = usize::try_from(offsets[len])
                    .map_err(|_| malformed("a negative string offset"))?;
                let data = buffer::<u8>(array, 2, data_len)?;
                Values::Utf8 { offsets, data }
            }
            b"U" => {
                let offsets = &buffer::<i64>(array, 1, end + 1)?[offset..];
                let data_len = usize::try_from(offsets[len])
                    .map_err(|_| malformed("a negative string offset"))?;
                let data = buffer::<u8>(array, 2, data_len)?;
                Values::LargeUtf8 { offsets, data }
            }
            b"vu" => {
                // validity, views, the data buffers, then one buffer of their sizes (int64).
                let n_data = n_buffers - 3;
                let sizes = buffer::<i64>(array, n_buffers - 1, n_data)?;
                let mut buffers = Vec::with_capacity(n_data);
                for (i, &size) in sizes.iter().enumerate() {
                    let size = usize::try_from(size).map_err(|_| malformed("a negative size"))?;
                    buffers.push(buffer::<u8>(array, 2 + i, size)?);
                }
                let views = &buffer::<[u8; 16]>(array, 1, end)?[offset..];
                Values::Utf8View { views, buffers }
            }
            _ => unreachable!("read_format lets only these formats through"),
        }
    };
    Ok(Chunk {
        len,
        validity,
        values,
    })
}

fn stream_error(stream: *mut ArrowArrayStream, rc: c_int) -> PyErr {
    // SAFETY: the stream is live (its capsule is held by the caller); get_last_error
    // returns NULL or a NUL-terminated string valid until the next call on the stream.
    let message = unsafe {
        (*stream)
            .get_last_error
            .map(|get| get(stream))
            .filter(|p| !p.is_null())
            .map(|p| CStr::from_ptr(p).to_string_lossy().into_owned())
    };
    PyValueError::new_err(format!(
        "the Arrow stream failed (error {rc}){}",
        message.map(|m| format!(": {m}")).unwrap_or_default()
    ))
}
