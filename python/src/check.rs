//! The batch check behind `Index.check_many` and `LiveIndex.check_many`, and the single
//! check behind `check`.
//!
//! A batch is read in place from its Arrow buffers, then parsed, checked and turned into
//! the verdict columns without the GIL, in blocks of [`BLOCK`] rows (so that the parsed
//! IMEIs and their verdicts stay in the CPU's cache on their way to the columns). The
//! columns leave as one Arrow record batch: no Python object is made per row.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};

use imei_index::{Imei, Imsi, Index, RuleKind};

use crate::arrow::export::Batch;
use crate::arrow::import::{Chunk, Imported};
use crate::errors::{self, Kind};
use crate::input::{self, Read};
use crate::verdict::{Columns, PyVerdict, Row};

/// Rows parsed and checked at a time.
const BLOCK: usize = 4096;

/// The inputs of a batch as Arrow: objects that export Arrow data as they are, anything
/// else through `pyarrow.array` (lists, numpy arrays, pandas series).
fn as_arrow<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "check_many takes many {what}s (an Arrow array, a numpy array or a list): \
             use check() for one"
        )));
    }
    if obj.hasattr("__arrow_c_array__")? || obj.hasattr("__arrow_c_stream__")? {
        return Ok(obj.clone());
    }
    static ARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    ARRAY.import(obj.py(), "pyarrow", "array")?.call1((obj,))
}

/// Every value of some chunks as an IMSI (`None` for a null).
fn read_imsis(chunks: &[Chunk<'_>]) -> PyResult<Vec<Option<Result<Imsi, String>>>> {
    let mut out = Vec::with_capacity(chunks.iter().map(Chunk::len).sum());
    for c in chunks {
        c.for_each(|v| out.push(input::imsi_value(v)))?;
    }
    Ok(out)
}

/// Parses, checks and builds the columns of one batch, a block at a time.
struct Runner<'a> {
    index: &'a Index,
    /// Whether the index has pair rules: only then does an IMSI change an answer.
    pairs: bool,
    imsis: Option<&'a [Option<Result<Imsi, String>>]>,
    /// The row of the block's first row.
    at: usize,
    parsed: Vec<Result<Read, String>>,
    batched: Vec<Imei>,
    columns: Columns,
    /// Reason sets met so far, joined with `|`, by id.
    texts: HashMap<u32, String>,
}

impl Runner<'_> {
    #[inline]
    fn push(&mut self, parsed: Result<Read, String>) {
        self.parsed.push(parsed);
        if self.parsed.len() == BLOCK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let n = self.parsed.len();
        let imsis = self.imsis.map(|s| &s[self.at..self.at + n]);
        let imsi = |i: usize| imsis.and_then(|s| s[i].as_ref());
        let pairs = self.pairs;
        // Rows whose IMSI may meet a pair rule are checked one by one with it; the others
        // together.
        let alone = |i: usize| pairs && matches!(imsi(i), Some(Ok(_)));
        self.batched.clear();
        for (i, p) in self.parsed.iter().enumerate() {
            if let Ok((imei, _)) = p
                && !alone(i)
            {
                self.batched.push(*imei);
            }
        }
        let verdicts = self.index.check_many(&self.batched);
        let mut next = verdicts.into_iter();
        for (i, p) in self.parsed.iter().enumerate() {
            let row = match p {
                Err(e) => Row::Invalid(e),
                Ok((imei, check_digit_ok)) => {
                    let (verdict, note) = match imsi(i) {
                        Some(Ok(imsi)) if pairs => (self.index.check_with_imsi(*imei, imsi), None),
                        other => (
                            next.next().expect("one verdict per batched IMEI"),
                            other.and_then(|r| r.as_ref().err()).map(String::as_str),
                        ),
                    };
                    let reasons = match verdict.reasons_id() {
                        // None, or a known reason alone: its name, without a look-up.
                        0..=6 => "",
                        id => self
                            .texts
                            .entry(id)
                            .or_insert_with(|| self.index.reason_set(&verdict).to_string()),
                    };
                    Row::Checked {
                        verdict,
                        check_digit_ok: *check_digit_ok,
                        note,
                        reasons,
                        source: self.index.source(&verdict),
                    }
                }
            };
            self.columns.push(&row);
        }
        self.at += n;
        self.parsed.clear();
    }
}

/// Checks every IMEI of some chunks (with the IMSIs, if given, for pair rules).
fn run(
    index: &Index,
    imeis: &[Chunk<'_>],
    imsis: Option<&[Option<Result<Imsi, String>>]>,
    lenient: bool,
) -> PyResult<Batch> {
    let n = imeis.iter().map(Chunk::len).sum();
    let mut runner = Runner {
        index,
        pairs: index.stats().counts.of_kind(RuleKind::Pair) > 0,
        imsis,
        at: 0,
        parsed: Vec::with_capacity(BLOCK.min(n)),
        batched: Vec::with_capacity(BLOCK.min(n)),
        columns: Columns::with_capacity(n),
        texts: HashMap::new(),
    };
    for c in imeis {
        c.for_each(|v| runner.push(input::imei_value(v, lenient)))?;
    }
    runner.flush();
    runner.columns.finish()
}

/// A finished batch that hands itself over once through the Arrow PyCapsule interface.
#[pyclass(frozen, module = "imei_index._native", name = "ArrowBatch")]
pub(crate) struct ArrowBatch(Mutex<Option<Batch>>);

#[pymethods]
impl ArrowBatch {
    /// The batch as a struct array: `(schema capsule, array capsule)`. Once only.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        // A consumer may ask for another schema; it gets ours, and casts if it must.
        let _ = requested_schema;
        let batch = self
            .0
            .lock()
            .map_err(|_| PyRuntimeError::new_err("a previous export panicked"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this batch was already exported"))?;
        let (schema, array) = batch.into_capsules(py)?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }
}

/// `check_many`: the verdict columns of many IMEIs, as a `pyarrow.RecordBatch`.
pub(crate) fn check_many<'py>(
    py: Python<'py>,
    index: &Index,
    imeis: &Bound<'py, PyAny>,
    imsis: Option<&Bound<'py, PyAny>>,
    lenient: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let imeis = as_arrow(imeis, "IMEI")?;
    let imei_input = Imported::new(&imeis)?;
    let imei_chunks = imei_input.chunks()?;
    let imsi_arrow = imsis.map(|i| as_arrow(i, "IMSI")).transpose()?;
    let imsi_input = imsi_arrow.as_ref().map(Imported::new).transpose()?;
    let imsi_chunks = imsi_input.as_ref().map(Imported::chunks).transpose()?;
    let batch = py.detach(|| {
        let imsis = imsi_chunks.as_deref().map(read_imsis).transpose()?;
        if let Some(imsis) = &imsis {
            let n: usize = imei_chunks.iter().map(Chunk::len).sum();
            if imsis.len() != n {
                return Err(PyValueError::new_err(format!(
                    "{n} IMEIs but {} IMSIs: give one IMSI (or a null) per IMEI",
                    imsis.len()
                )));
            }
        }
        run(index, &imei_chunks, imsis.as_deref(), lenient)
    })?;
    drop((imei_chunks, imsi_chunks));
    drop((imei_input, imsi_input));
    record_batch(py, batch)
}

/// A batch as a `pyarrow.RecordBatch` (pyarrow takes its buffers over, without a copy).
pub(crate) fn record_batch(py: Python<'_>, batch: Batch) -> PyResult<Bound<'_, PyAny>> {
    static RECORD_BATCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let exporter = Bound::new(py, ArrowBatch(Mutex::new(Some(batch))))?;
    RECORD_BATCH
        .import(py, "pyarrow", "record_batch")?
        .call1((exporter,))
}

/// Reads one IMEI given to `check`: a string, or the 14-digit number.
pub(crate) fn imei_arg(obj: &Bound<'_, PyAny>, lenient: bool) -> PyResult<Read> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow()?;
        return input::imei_text(text.as_bytes(), lenient)
            .map_err(|e| errors::invalid_id(py, Kind::InvalidImei, &text, &e));
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        let n: i128 = obj.extract().unwrap_or(i128::MAX);
        return input::imei_number(n).map_err(|m| {
            let err = Kind::InvalidImei.err(py, m);
            let _ = err.value(py).setattr("input", obj);
            err
        });
    }
    Err(PyTypeError::new_err(format!(
        "an IMEI is a str (14 to 16 digits, or a PEI) or an int (its 14 digits), not {}",
        obj.get_type().name()?
    )))
}

/// Reads one IMSI given to `check`: a string of 5 to 15 digits (or `imsi-…`), or an int.
pub(crate) fn imsi_arg(obj: &Bound<'_, PyAny>) -> PyResult<Imsi> {
    let py = obj.py();
    let text = if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow()?.into_owned()
    } else if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        obj.str()?.to_cow()?.into_owned()
    } else {
        return Err(PyTypeError::new_err(format!(
            "an IMSI is a str or an int, not {}",
            obj.get_type().name()?
        )));
    };
    Imsi::parse(&text).map_err(|e| errors::invalid_id(py, Kind::InvalidImsi, &text, &e))
}

/// `check`: one handset, with its SIM's IMSI if given.
pub(crate) fn check_one(
    index: &Index,
    imei: &Bound<'_, PyAny>,
    imsi: Option<&Bound<'_, PyAny>>,
    lenient: bool,
) -> PyResult<PyVerdict> {
    let (imei, check_digit_ok) = imei_arg(imei, lenient)?;
    let verdict = match imsi.map(imsi_arg).transpose()? {
        Some(imsi) => index.check_with_imsi(imei, &imsi),
        None => index.check(imei),
    };
    Ok(PyVerdict::new(index, imei, verdict, check_digit_ok))
}
