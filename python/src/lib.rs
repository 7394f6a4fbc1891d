//! The native part of the Python package `imei_index` (`imei_index._native`).
//!
//! The package's Python part (`pysrc/imei_index/`) re-exports what is here and adds the
//! exception classes and the Spark functions. Modules:
//!
//! * [`index`]: `Index` and `LiveIndex`;
//! * [`check`]: single and batch checks (the batch read from Arrow buffers and answered as
//!   an Arrow record batch, without the GIL);
//! * [`verdict`]: the one place where a verdict becomes Python values and Arrow columns;
//! * [`input`]: IMEIs and IMSIs from strings and integers;
//! * [`arrow`]: a hand-written Arrow C Data Interface;
//! * [`build`], [`scan`]: list files to an index; the re-verification scan over files;
//! * [`errors`]: library errors as the package's exceptions.

mod arrow;
mod bench;
mod build;
mod check;
mod errors;
mod index;
mod input;
mod scan;
mod verdict;

use pyo3::prelude::*;

use imei_index::{Imei, Imsi};

use crate::errors::Kind;

/// Reads an IMEI and returns its 15 digits (with the right check digit).
///
/// Takes what ``Index.check`` takes: 14 or 15 digits, a 16-digit IMEISV, ``imei-``/
/// ``imeisv-`` PEIs, spaces or hyphens between digits, or an int (the 14 digits). Raises
/// ``InvalidImei`` (a ``ValueError``) saying what is wrong and where; ``lenient=True``
/// accepts a wrong 15th digit.
#[pyfunction]
#[pyo3(signature = (imei, *, lenient = false))]
fn parse_imei(imei: &Bound<'_, PyAny>, lenient: bool) -> PyResult<String> {
    check::imei_arg(imei, lenient).map(|(i, _)| i.to_string())
}

/// Reads an IMSI (5 to 15 digits, or a SUPI ``imsi-…``) and returns its digits. Raises
/// ``InvalidImsi`` (a ``ValueError``).
#[pyfunction]
fn parse_imsi(imsi: &Bound<'_, PyAny>) -> PyResult<String> {
    check::imsi_arg(imsi).map(|i: Imsi| i.to_string())
}

/// The Luhn check digit of an IMEI's 14 digits (TS 23.003 Annex B).
#[pyfunction]
fn check_digit(imei: &Bound<'_, PyAny>) -> PyResult<u8> {
    check::imei_arg(imei, true).map(|(i, _): (Imei, bool)| i.check_digit())
}

/// The Arrow schema of ``check_many``'s record batches (``pyarrow.Schema``).
#[pyfunction]
fn verdict_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    check::record_batch(py, verdict::Columns::with_capacity(0).finish()?)?.getattr("schema")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<index::PyIndex>()?;
    m.add_class::<index::PyLiveIndex>()?;
    m.add_class::<verdict::PyVerdict>()?;
    m.add_class::<check::ArrowBatch>()?;
    m.add_function(wrap_pyfunction!(build::build, m)?)?;
    m.add_function(wrap_pyfunction!(scan::scan, m)?)?;
    m.add_function(wrap_pyfunction!(parse_imei, m)?)?;
    m.add_function(wrap_pyfunction!(parse_imsi, m)?)?;
    m.add_function(wrap_pyfunction!(check_digit, m)?)?;
    m.add_function(wrap_pyfunction!(verdict_schema, m)?)?;
    m.add_function(wrap_pyfunction!(bench::_rust_check_many_seconds, m)?)?;
    m.add("COLUMNS", verdict::COLUMNS.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let _ = Kind::Error; // the classes live in imei_index._errors
    Ok(())
}
