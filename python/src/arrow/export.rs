//! Building columns and handing them to Python as one record batch.
//!
//! Builders ([`Utf8Builder`], [`BoolBuilder`], [`Date32Builder`]) fill Rust vectors; a
//! [`Batch`] of their [`Column`]s becomes one struct array (`+s`, a child per column: how
//! the C Data Interface carries a record batch) whose `release` callbacks free those
//! vectors. [`Batch::into_capsules`] wraps it in the two PyCapsules of the Arrow PyCapsule
//! interface; pyarrow moves the structs out of them and owns the vectors from then on, with
//! no copy. A batch that no consumer takes is released when its capsules (or the `Batch`)
//! are dropped.

use std::ffi::{CStr, c_void};
use std::ptr::{self, NonNull};

use pyo3::exceptions::PyValueError;
use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::ffi::{ArrowArray, ArrowSchema, FLAG_NULLABLE};

/// A buffer handed to Arrow: typed so that it is aligned for its values.
#[derive(Debug)]
pub(crate) enum Buffer {
    Bytes(Vec<u8>),
    I32(Vec<i32>),
    Words(Vec<u64>),
}

impl Buffer {
    fn as_ptr(&self) -> *const c_void {
        match self {
            Buffer::Bytes(v) => v.as_ptr().cast(),
            Buffer::I32(v) => v.as_ptr().cast(),
            Buffer::Words(v) => v.as_ptr().cast(),
        }
    }
}

/// A bitmap built one bit at a time, 64 bits to a word (Arrow's bit order: bit `i` is bit
/// `i % 8` of byte `i / 8`, which is what little-endian words give).
#[derive(Debug, Default)]
pub(crate) struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    pub(crate) fn with_capacity(bits: usize) -> Bits {
        Bits {
            words: Vec::with_capacity(bits.div_ceil(64)),
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, bit: bool) {
        let shift = self.len % 64;
        if shift == 0 {
            self.words.push(0);
        }
        if let Some(w) = self.words.last_mut() {
            *w |= u64::from(bit) << shift;
        }
        self.len += 1;
    }

    /// How many bits are set.
    fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn into_buffer(mut self) -> Buffer {
        for w in &mut self.words {
            *w = w.to_le();
        }
        Buffer::Words(self.words)
    }

    /// As a validity bitmap: the null count, and the bitmap unless nothing is null.
    fn into_validity(self) -> (usize, Option<Buffer>) {
        let nulls = self.len - self.count_ones();
        (nulls, (nulls > 0).then(|| self.into_buffer()))
    }
}

/// A finished column: its name and Arrow format, its length and null count, and its
/// buffers in the format's order (the validity bitmap first; `None` is a null pointer).
#[derive(Debug)]
pub(crate) struct Column {
    name: &'static CStr,
    format: &'static CStr,
    len: usize,
    null_count: usize,
    buffers: Vec<Option<Buffer>>,
}

/// Strings (`u`: utf8 with 32-bit offsets).
#[derive(Debug)]
pub(crate) struct Utf8Builder {
    offsets: Vec<i32>,
    data: Vec<u8>,
    validity: Bits,
}

/// More text than 32-bit offsets can address, in one column of one batch.
fn too_much_text() -> PyErr {
    PyValueError::new_err(
        "a column of the result would hold more than 2 GiB of text: check fewer values at once",
    )
}

impl Utf8Builder {
    /// For `n` values of about `bytes` bytes in all.
    pub(crate) fn with_capacity(n: usize, bytes: usize) -> Utf8Builder {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        Utf8Builder {
            offsets,
            data: Vec::with_capacity(bytes),
            validity: Bits::with_capacity(n),
        }
    }

    /// Appends a string, or a null.
    #[inline]
    pub(crate) fn push(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.data.extend_from_slice(v.as_bytes());
        }
        // Checked once, in `finish`: past i32::MAX the offsets are wrong and refused.
        self.offsets.push(self.data.len() as i32);
        self.validity.push(value.is_some());
    }

    pub(crate) fn finish(self, name: &'static CStr) -> PyResult<Column> {
        if i32::try_from(self.data.len()).is_err() {
            return Err(too_much_text());
        }
        let len = self.offsets.len() - 1;
        let (null_count, validity) = self.validity.into_validity();
        Ok(Column {
            name,
            format: c"u",
            len,
            null_count,
            buffers: vec![
                validity,
                Some(Buffer::I32(self.offsets)),
                Some(Buffer::Bytes(self.data)),
            ],
        })
    }
}

/// Booleans (`b`, bit-packed).
#[derive(Debug)]
pub(crate) struct BoolBuilder {
    values: Bits,
    validity: Bits,
}

impl BoolBuilder {
    pub(crate) fn with_capacity(n: usize) -> BoolBuilder {
        BoolBuilder {
            values: Bits::with_capacity(n),
            validity: Bits::with_capacity(n),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, value: Option<bool>) {
        self.values.push(value == Some(true));
        self.validity.push(value.is_some());
    }

    pub(crate) fn finish(self, name: &'static CStr) -> Column {
        let len = self.values.len;
        let (null_count, validity) = self.validity.into_validity();
        Column {
            name,
            format: c"b",
            len,
            null_count,
            buffers: vec![validity, Some(self.values.into_buffer())],
        }
    }
}

/// Dates (`tdD`: date32, days since 1970-01-01).
#[derive(Debug)]
pub(crate) struct Date32Builder {
    values: Vec<i32>,
    validity: Bits,
}

impl Date32Builder {
    pub(crate) fn with_capacity(n: usize) -> Date32Builder {
        Date32Builder {
            values: Vec::with_capacity(n),
            validity: Bits::with_capacity(n),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, days: Option<i32>) {
        self.values.push(days.unwrap_or(0));
        self.validity.push(days.is_some());
    }

    pub(crate) fn finish(self, name: &'static CStr) -> Column {
        let len = self.values.len();
        let (null_count, validity) = self.validity.into_validity();
        Column {
            name,
            format: c"tdD",
            len,
            null_count,
            buffers: vec![validity, Some(Buffer::I32(self.values))],
        }
    }
}

/// What a schema node owns: its strings and its children.
struct SchemaPrivate {
    children: Vec<*mut ArrowSchema>,
}

/// What an array node owns: its buffers (and the pointer array Arrow reads), its children.
struct ArrayPrivate {
    _buffers: Vec<Option<Buffer>>,
    pointers: Vec<*const c_void>,
    children: Vec<*mut ArrowArray>,
}

/// `release` of every schema node exported here.
unsafe extern "C" fn release_schema(schema: *mut ArrowSchema) {
    // SAFETY: called by a consumer on a node we exported, or by our own code on one: a
    // live node has our `SchemaPrivate` as private data, made by `Box::into_raw`, and
    // children made the same way. Releasing marks the node released, so it runs once.
    unsafe {
        if schema.is_null() || (*schema).release.is_none() {
            return;
        }
        let private = Box::from_raw((*schema).private_data.cast::<SchemaPrivate>());
        for &child in &private.children {
            // A consumer may have moved a child out (its release is then NULL); the
            // child struct's memory is ours either way.
            if let Some(release) = (*child).release {
                release(child);
            }
            drop(Box::from_raw(child));
        }
        (*schema).release = None;
    }
}

/// `release` of every array node exported here.
unsafe extern "C" fn release_array(array: *mut ArrowArray) {
    // SAFETY: as for `release_schema`, with `ArrayPrivate`.
    unsafe {
        if array.is_null() || (*array).release.is_none() {
            return;
        }
        let private = Box::from_raw((*array).private_data.cast::<ArrayPrivate>());
        for &child in &private.children {
            if let Some(release) = (*child).release {
                release(child);
            }
            drop(Box::from_raw(child));
        }
        (*array).release = None;
    }
}

fn schema_node(
    format: &'static CStr,
    name: &'static CStr,
    flags: i64,
    children: Vec<*mut ArrowSchema>,
) -> ArrowSchema {
    let mut private = Box::new(SchemaPrivate { children });
    ArrowSchema {
        format: format.as_ptr(),
        name: name.as_ptr(),
        metadata: ptr::null(),
        flags,
        n_children: private.children.len() as i64,
        children: if private.children.is_empty() {
            ptr::null_mut()
        } else {
            private.children.as_mut_ptr()
        },
        dictionary: ptr::null_mut(),
        release: Some(release_schema),
        private_data: Box::into_raw(private).cast(),
    }
}

fn array_node(
    len: usize,
    null_count: usize,
    buffers: Vec<Option<Buffer>>,
    children: Vec<*mut ArrowArray>,
) -> ArrowArray {
    let pointers = buffers
        .iter()
        .map(|b| b.as_ref().map_or(ptr::null(), Buffer::as_ptr))
        .collect();
    let mut private = Box::new(ArrayPrivate {
        _buffers: buffers,
        pointers,
        children,
    });
    ArrowArray {
        length: len as i64,
        null_count: null_count as i64,
        offset: 0,
        n_buffers: private.pointers.len() as i64,
        n_children: private.children.len() as i64,
        buffers: private.pointers.as_mut_ptr(),
        children: if private.children.is_empty() {
            ptr::null_mut()
        } else {
            private.children.as_mut_ptr()
        },
        dictionary: ptr::null_mut(),
        release: Some(release_array),
        private_data: Box::into_raw(private).cast(),
    }
}

/// Columns of equal length as one struct array: a record batch, ready to hand over.
pub(crate) struct Batch {
    schema: Box<ArrowSchema>,
    array: Box<ArrowArray>,
}

// SAFETY: a batch owns every buffer and node it points to (nothing is shared, nothing is
// tied to a thread), and its release callbacks may run on any thread.
unsafe impl Send for Batch {}

impl Batch {
    /// The columns as one batch of `len` rows.
    ///
    /// # Panics
    ///
    /// When a column's length is not `len`: a bug in the caller.
    pub(crate) fn new(columns: Vec<Column>, len: usize) -> Batch {
        let mut schemas = Vec::with_capacity(columns.len());
        let mut arrays = Vec::with_capacity(columns.len());
        for c in columns {
            assert_eq!(c.len, len, "column {:?} has the wrong length", c.name);
            let schema = schema_node(c.format, c.name, FLAG_NULLABLE, Vec::new());
            schemas.push(Box::into_raw(Box::new(schema)));
            let array = array_node(c.len, c.null_count, c.buffers, Vec::new());
            arrays.push(Box::into_raw(Box::new(array)));
        }
        Batch {
            schema: Box::new(schema_node(c"+s", c"", 0, schemas)),
            array: Box::new(array_node(len, 0, vec![None], arrays)),
        }
    }

    /// The batch as the two capsules of the Arrow PyCapsule interface, `arrow_schema` and
    /// `arrow_array`: a consumer moves the structs out of them; the capsules release what
    /// is left when they are collected.
    pub(crate) fn into_capsules<'py>(
        self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so each box is moved out exactly once.
        let (schema, array) = unsafe { (ptr::read(&this.schema), ptr::read(&this.array)) };
        let schema = NonNull::from(Box::leak(schema)).cast::<c_void>();
        // SAFETY: the capsule takes the leaked box, and its destructor (`drop_schema`) is
        // the only code that turns it back into a box.
        let schema = unsafe {
            PyCapsule::new_with_pointer_and_destructor(
                py,
                schema,
                c"arrow_schema",
                Some(drop_schema),
            )
        };
        let array = NonNull::from(Box::leak(array)).cast::<c_void>();
        let schema = match schema {
            Ok(s) => s,
            Err(e) => {
                // SAFETY: the array's box was leaked just above and given to nobody.
                drop(Array(unsafe { Box::from_raw(array.cast().as_ptr()) }));
                return Err(e);
            }
        };
        // SAFETY: as for the schema, with `drop_array`.
        let array = unsafe {
            PyCapsule::new_with_pointer_and_destructor(py, array, c"arrow_array", Some(drop_array))
        }?;
        Ok((schema, array))
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: our own nodes, released once (release marks them released).
        unsafe {
            release_schema(&mut *self.schema);
            release_array(&mut *self.array);
        }
    }
}

/// An array node to release, for the one error path above.
struct Array(Box<ArrowArray>);

impl Drop for Array {
    fn drop(&mut self) {
        // SAFETY: our own node, released once.
        unsafe { release_array(&mut *self.0) };
    }
}

/// The destructor of an `arrow_schema` capsule made by [`Batch::into_capsules`].
unsafe extern "C" fn drop_schema(capsule: *mut pyffi::PyObject) {
    // SAFETY: Python calls this once, with the capsule, holding the GIL; the pointer is
    // the box that `into_capsules` leaked. A consumer that moved the struct out left it
    // released; one that did not leaves it to us.
    unsafe {
        let p =
            pyffi::PyCapsule_GetPointer(capsule, c"arrow_schema".as_ptr()).cast::<ArrowSchema>();
        if p.is_null() {
            pyffi::PyErr_Clear();
            return;
        }
        release_schema(p);
        drop(Box::from_raw(p));
    }
}

/// The destructor of an `arrow_array` capsule made by [`Batch::into_capsules`].
unsafe extern "C" fn drop_array(capsule: *mut pyffi::PyObject) {
    // SAFETY: as for `drop_schema`.
    unsafe {
        let p = pyffi::PyCapsule_GetPointer(capsule, c"arrow_array".as_ptr()).cast::<ArrowArray>();
        if p.is_null() {
            pyffi::PyErr_Clear();
            return;
        }
        release_array(p);
        drop(Box::from_raw(p));
    }
}
