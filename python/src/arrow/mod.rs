//! A minimal, hand-written Arrow C Data Interface: no arrow-rs.
//!
//! * [`ffi`]: the three C structs of the interface
//!   (<https://arrow.apache.org/docs/format/CDataInterface.html>,
//!   <https://arrow.apache.org/docs/format/CStreamInterface.html>).
//! * [`import`]: reads the string and integer arrays that callers pass, in place, from any
//!   object with `__arrow_c_array__` or `__arrow_c_stream__` (the Arrow PyCapsule
//!   interface: pyarrow arrays and chunked arrays, polars Series, DuckDB and Spark batches).
//! * [`export`]: builds columns and hands them over as one struct array (a record batch)
//!   in two capsules, which pyarrow imports without copying.
//!
//! arrow-rs through pyo3-arrow would do the same at 60 more crates, ten times the build
//! time and a 12 MB library; the two directions used here are about 600 lines.

pub(crate) mod export;
pub(crate) mod ffi;
pub(crate) mod import;
