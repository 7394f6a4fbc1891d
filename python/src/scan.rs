//! `scan`: the re-verification scan (the library's `scan::Scanner`) over files.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};

use imei_index::scan::{Column, Header, ScanError, ScanOptions, ScanSummary, Scanner};
use imei_index::{AtomicFile, Status};

use crate::errors::{self, Kind};
use crate::index::PyIndex;

/// Reads a column argument: None (found by its header name), a 0-based position or a name;
/// `False` (IMSI and MSISDN only) for none.
fn column(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Column>> {
    let Some(obj) = obj else {
        return Ok(Some(Column::Auto));
    };
    if obj.is_instance_of::<PyBool>() {
        return if obj.is_truthy()? {
            Err(PyTypeError::new_err(format!(
                "{what}: a column is None (found by name), a 0-based position, a header name, or False (none)"
            )))
        } else {
            Ok(None)
        };
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Some(Column::At(obj.extract()?)));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(Column::Named(s.to_cow()?.into_owned())));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: a column is None (found by name), a 0-based position or a header name"
    )))
}

fn status(name: &str) -> PyResult<Status> {
    Status::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "a status is \"blocked\", \"tracked\" or \"allowed\", not {name:?}"
            ))
        })
}

/// Why a scan stopped, as an exception: `OSError` when reading or writing failed.
fn scan_error(py: Python<'_>, e: &ScanError) -> PyErr {
    let message = imei_index::ErrorChain(e).to_string();
    let io = match e {
        ScanError::Read { source, .. } => Some(source),
        _ => e.write_error(),
    };
    match io.map(io::Error::raw_os_error) {
        Some(Some(errno)) => PyOSError::new_err((errno, message)),
        Some(None) => PyOSError::new_err(message),
        None => Kind::ScanError.err(py, message),
    }
}

/// A file could not be read, or an output written and renamed into place.
fn io_error(action: &str, e: &io::Error, path: &Path) -> PyErr {
    let message = format!("could not {action} {}: {e}", path.display());
    match e.raw_os_error() {
        Some(errno) => PyOSError::new_err((errno, message, path.display().to_string())),
        None => PyOSError::new_err(message),
    }
}

fn summary_dict<'py>(py: Python<'py>, s: &ScanSummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("inputs", s.inputs)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("rows", s.rows)?;
    d.set_item("matched", s.matched)?;
    d.set_item("unmatched", s.unmatched)?;
    d.set_item("rejected", s.rejected())?;
    d.set_item("not_imei", s.not_imei)?;
    d.set_item("malformed", s.malformed)?;
    d.set_item("blocked", s.blocked)?;
    d.set_item("tracked", s.tracked)?;
    d.set_item("allowed", s.allowed)?;
    d.set_item("wrong_check_digit", s.wrong_check_digit)?;
    d.set_item("bad_imsi", s.bad_imsi)?;
    d.set_item("handsets", s.handsets)?;
    d.set_item("imsis", s.imsis)?;
    d.set_item("msisdns", s.msisdns)?;
    Ok(d)
}

/// Finds the rows of delimited logs (attach logs, call records) whose handset the index
/// lists, as ``imei-index scan`` does (docs/scan.md).
///
/// ``scan(index, inputs, output=None, *, rejects=None, imei=None, imsi=None, msisdn=None,
/// delimiter=",", header="auto", statuses=("blocked", "tracked"), lenient=False,
/// threads=None)``: ``index`` is an ``Index`` or a path; ``inputs`` a path or a sequence
/// of paths (plain text: decompress gzip logs first, or use the command line). The rows
/// whose verdict has one of ``statuses`` go to ``output`` (if given), in input order, each
/// with ``status, reason, rule, date`` appended; rows that cannot be read go to
/// ``rejects`` (if given) after a comment saying what is wrong. Output files are written
/// beside their paths and renamed over them. Columns are found by their header names
/// unless given as a 0-based position or a name; ``imsi=False`` or ``msisdn=False``
/// ignores that column. Returns the summary, which accounts for every row:
/// ``rows == matched + unmatched + rejected``.
#[pyfunction]
#[pyo3(signature = (
    index, inputs, output = None, *, rejects = None, imei = None, imsi = None, msisdn = None,
    delimiter = ",", header = "auto", statuses = vec!["blocked".to_string(), "tracked".to_string()],
    lenient = false, threads = None
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan<'py>(
    py: Python<'py>,
    index: &Bound<'py, PyAny>,
    inputs: &Bound<'py, PyAny>,
    output: Option<PathBuf>,
    rejects: Option<PathBuf>,
    imei: Option<&Bound<'py, PyAny>>,
    imsi: Option<&Bound<'py, PyAny>>,
    msisdn: Option<&Bound<'py, PyAny>>,
    delimiter: &str,
    header: &str,
    statuses: Vec<String>,
    lenient: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let index = match index.cast::<PyIndex>() {
        Ok(i) => i.get().inner().clone(),
        Err(_) => {
            let path: PathBuf = index.extract()?;
            py.detach(|| imei_index::Index::open(&path))
                .map_err(|e| errors::from_core(py, &e))?
        }
    };
    let inputs: Vec<PathBuf> = match inputs.extract::<PathBuf>() {
        Ok(one) => vec![one],
        Err(_) => inputs.extract()?,
    };
    let mut options = ScanOptions::new();
    let delimiter = match delimiter {
        "tab" | "\t" => b'\t',
        d if d.len() == 1 => d.as_bytes()[0],
        d => {
            return Err(PyValueError::new_err(format!(
                "the delimiter is one ASCII character (or \"tab\"), not {d:?}"
            )));
        }
    };
    options
        .delimiter(delimiter)
        .header(match header {
            "auto" => Header::Auto,
            "yes" => Header::Present,
            "no" => Header::Absent,
            other => {
                return Err(PyValueError::new_err(format!(
                    "header is \"auto\", \"yes\" or \"no\", not {other:?}"
                )));
            }
        })
        .imsi_column(column(imsi, "imsi")?)
        .msisdn_column(column(msisdn, "msisdn")?)
        .statuses(
            &statuses
                .iter()
                .map(|s| status(s))
                .collect::<PyResult<Vec<_>>>()?,
        )
        .lenient(lenient);
    match column(imei, "imei")? {
        Some(c) => options.imei_column(c),
        None => {
            return Err(PyTypeError::new_err(
                "imei: the IMEI column cannot be False",
            ));
        }
    };
    if let Some(t) = threads {
        options.threads(t);
    }
    let result = py.detach(|| -> Result<ScanSummary, PyErrLater> {
        let mut scanner = Scanner::new(&index, &options).map_err(PyErrLater::Scan)?;
        let mut out = output
            .as_ref()
            .map(AtomicFile::create)
            .transpose()
            .map_err(|e| PyErrLater::Io("write", e, output.clone().unwrap_or_default()))?;
        let mut rej = rejects
            .as_ref()
            .map(AtomicFile::create)
            .transpose()
            .map_err(|e| PyErrLater::Io("write", e, rejects.clone().unwrap_or_default()))?;
        let mut sink = io::sink();
        for path in &inputs {
            let file = File::open(path).map_err(|e| PyErrLater::Io("read", e, path.clone()))?;
            let matches: &mut dyn Write = match out.as_mut() {
                Some(f) => f.as_file_mut(),
                None => &mut sink,
            };
            let rejects_out: Option<&mut dyn Write> =
                rej.as_mut().map(|f| f.as_file_mut() as &mut dyn Write);
            scanner
                .scan(&path.display().to_string(), file, matches, rejects_out)
                .map_err(PyErrLater::Scan)?;
        }
        if let Some(f) = out {
            f.commit()
                .map_err(|e| PyErrLater::Io("write", e, output.clone().unwrap_or_default()))?;
        }
        if let Some(f) = rej {
            f.commit()
                .map_err(|e| PyErrLater::Io("write", e, rejects.clone().unwrap_or_default()))?;
        }
        Ok(scanner.summary())
    });
    match result {
        Ok(s) => summary_dict(py, &s),
        Err(PyErrLater::Scan(e)) => Err(scan_error(py, &e)),
        Err(PyErrLater::Io(action, e, path)) => Err(io_error(action, &e, &path)),
    }
}

/// An error met without the GIL, raised once it is held again.
enum PyErrLater {
    Scan(ScanError),
    Io(&'static str, io::Error, PathBuf),
}
