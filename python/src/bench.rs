//! What the benchmarks compare `check_many` from Python with: the library's
//! `Index::check_many` on the same probes, timed in Rust (python/bench/check_many.py).

use std::hint::black_box;
use std::time::Instant;

use pyo3::prelude::*;

use imei_index::Imei;

use crate::arrow::import::Imported;
use crate::index::PyIndex;
use crate::input;

/// Seconds that `Index::check_many` (Rust) takes on these IMEIs, once per repeat; they
/// are parsed beforehand, outside the timing. Invalid IMEIs are left out.
#[pyfunction]
#[pyo3(signature = (index, imeis, repeats = 5))]
pub(crate) fn _rust_check_many_seconds(
    py: Python<'_>,
    index: &PyIndex,
    imeis: &Bound<'_, PyAny>,
    repeats: usize,
) -> PyResult<Vec<f64>> {
    let imported = Imported::new(imeis)?;
    let mut parsed: Vec<Imei> = Vec::new();
    for chunk in imported.chunks()? {
        chunk.for_each(|v| {
            if let Ok((imei, _)) = input::imei_value(v, false) {
                parsed.push(imei);
            }
        })?;
    }
    let index = index.inner();
    Ok(py.detach(|| {
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                black_box(index.check_many(black_box(&parsed)));
                t.elapsed().as_secs_f64()
            })
            .collect()
    }))
}
