//! `Index` and `LiveIndex`.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use imei_index::{IndexStats, OpenOptions, RuleCounts, RuleKind, Status, Verification, Version};

use crate::check;
use crate::errors;
use crate::verdict::PyVerdict;

/// Reads a verification level's name.
fn verification(name: &str) -> PyResult<Verification> {
    match name {
        "trusted" => Ok(Verification::Trusted),
        "checksums" => Ok(Verification::Checksums),
        "full" => Ok(Verification::Full),
        other => Err(PyValueError::new_err(format!(
            "verification is \"trusted\", \"checksums\" or \"full\", not {other:?}"
        ))),
    }
}

/// Rules by kind, then by status: `{"imei": {"blocked": 28200, ...}, ...}`.
pub(crate) fn counts_dict<'py>(
    py: Python<'py>,
    counts: &RuleCounts,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for kind in RuleKind::ALL {
        let by_status = PyDict::new(py);
        for status in Status::ALL.iter().rev() {
            by_status.set_item(status.as_str(), counts.get(kind, *status))?;
        }
        d.set_item(kind.as_str(), by_status)?;
    }
    Ok(d)
}

/// What `stats()` returns.
fn stats_dict<'py>(py: Python<'py>, s: &IndexStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("format_version", s.format_version)?;
    d.set_item("serial", s.serial)?;
    d.set_item("rules", s.rules())?;
    d.set_item("counts", counts_dict(py, &s.counts)?)?;
    d.set_item("file_bytes", s.file_bytes)?;
    d.set_item("bytes_per_rule", s.bytes_per_rule())?;
    d.set_item("distinct_entries", s.distinct_entries)?;
    let sections = PyDict::new(py);
    for (section, bytes) in &s.section_bytes {
        sections.set_item(section.name(), bytes)?;
    }
    d.set_item("sections", sections)?;
    Ok(d)
}

/// The TAC policy of the ``tac_policy`` and ``allocated_after`` arguments.
fn policy(
    py: Python<'_>,
    status: Option<&str>,
    allocated_after: Option<&str>,
) -> PyResult<Option<imei_index::TacPolicy>> {
    let _ = py;
    let bad = |m: String| pyo3::exceptions::PyValueError::new_err(m);
    let Some(status) = status else {
        return match allocated_after {
            None => Ok(None),
            Some(_) => Err(bad(
                "allocated_after needs tac_policy (\"tracked\" or \"blocked\")".into(),
            )),
        };
    };
    let status = match status {
        "tracked" => imei_index::Status::Tracked,
        "blocked" => imei_index::Status::Blocked,
        _ => {
            return Err(bad(format!(
                "tac_policy={status:?} is not a status the policy answers: give \"tracked\" or \"blocked\""
            )));
        }
    };
    let mut p = imei_index::TacPolicy::new(status);
    if let Some(d) = allocated_after {
        let day: imei_index::Date = d.parse().map_err(|e| {
            bad(format!(
                "allocated_after={d:?} is not a day: {e}; write it YYYY-MM-DD"
            ))
        })?;
        p = p.allocated_after(day);
    }
    Ok(Some(p))
}

/// ``Index.device``'s dict.
fn device_dict<'py>(
    py: Python<'py>,
    index: &imei_index::Index,
    tac: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let parsed = match tac.extract::<u32>() {
        Ok(n) => imei_index::Tac::from_u32(n),
        Err(_) => imei_index::Tac::parse(&tac.extract::<String>()?),
    }
    .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("not a TAC: {e}")))?;
    let Some(d) = index.device(parsed) else {
        return Ok(None);
    };
    let out = PyDict::new(py);
    out.set_item("tac", format!("{:08}", d.tac.as_u32()))?;
    out.set_item("manufacturer", d.manufacturer)?;
    out.set_item("brand", d.brand)?;
    out.set_item("model", d.model)?;
    out.set_item("device_type", d.device_type)?;
    match d.allocated {
        Some(day) => {
            let (y, m, dd) = day.to_ymd();
            let date = py.import("datetime")?.getattr("date")?.call1((y, m, dd))?;
            out.set_item("allocated", date)?;
        }
        None => out.set_item("allocated", py.None())?,
    }
    Ok(Some(out))
}

fn version_dict<'py>(py: Python<'py>, v: &Version) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("serial", v.serial)?;
    d.set_item("rules", v.rules)?;
    d.set_item("bytes", v.bytes)?;
    Ok(d)
}

/// An index file, memory-mapped and read-only: every process that opens it shares one copy.
///
/// ``Index(path, verification="checksums", *, populate=False)`` opens ``path``, checking
/// its header and, by default, every section's checksum (``"trusted"``: the header only,
/// for files verified when published; ``"full"``: also every key and value, for files from
/// sources you do not trust). ``populate`` reads the whole file into memory now. Opening
/// raises ``OSError`` when the file cannot be read and ``InvalidIndex`` when it is not a
/// usable index. Checks never change the index; one ``Index`` serves any number of threads.
///
/// ``tac_policy="tracked"`` or ``"blocked"`` (with an index built with a TAC database)
/// answers that status for an IMEI that no rule decides and whose TAC GSMA's database does
/// not list, and with ``allocated_after="YYYY-MM-DD"`` for a TAC allocated after that day
/// (docs/semantics.md); an index without a TAC database then raises ``InvalidIndex``.
/// ``device(tac)`` says what the database lists for a TAC.
#[pyclass(frozen, module = "imei_index", name = "Index")]
pub(crate) struct PyIndex {
    index: imei_index::Index,
    path: Option<PathBuf>,
}

#[pymethods]
impl PyIndex {
    #[new]
    #[pyo3(signature = (path, verification = "checksums", *, populate = false, tac_policy = None, allocated_after = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        verification: &str,
        populate: bool,
        tac_policy: Option<&str>,
        allocated_after: Option<&str>,
    ) -> PyResult<Self> {
        let mut options = OpenOptions::new();
        options
            .verification(self::verification(verification)?)
            .populate(populate)
            .tac_policy(policy(py, tac_policy, allocated_after)?);
        let index = py
            .detach(|| options.open(&path))
            .map_err(|e| errors::from_core(py, &e))?;
        Ok(PyIndex {
            index,
            path: Some(path),
        })
    }

    /// An index from its bytes (copied), e.g. read from object storage.
    #[staticmethod]
    #[pyo3(signature = (data, verification = "checksums", *, tac_policy = None, allocated_after = None))]
    fn from_bytes(
        py: Python<'_>,
        data: &Bound<'_, PyBytes>,
        verification: &str,
        tac_policy: Option<&str>,
        allocated_after: Option<&str>,
    ) -> PyResult<Self> {
        let mut options = OpenOptions::new();
        options
            .verification(self::verification(verification)?)
            .tac_policy(policy(py, tac_policy, allocated_after)?);
        let bytes = data.as_bytes().to_vec();
        let index = py
            .detach(|| options.open_bytes(bytes.into()))
            .map_err(|e| errors::from_core(py, &e))?;
        Ok(PyIndex { index, path: None })
    }

    /// What the index's TAC database says about a TAC (8 digits, str or int): a dict of
    /// ``tac``, ``manufacturer``, ``brand``, ``model``, ``device_type``, ``allocated``
    /// (a ``datetime.date`` or None); None when the database does not list it or the index
    /// holds none.
    fn device<'py>(
        &self,
        py: Python<'py>,
        tac: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        device_dict(py, &self.index, tac)
    }

    /// What the index says about one handset.
    ///
    /// ``imei`` is a str (14 or 15 digits, a 16-digit IMEISV, ``imei-…``/``imeisv-…``
    /// PEIs, spaces or hyphens between digits) or an int (the 14 digits of TAC and serial,
    /// without the check digit). With ``imsi`` (the SIM's IMSI, str or int), pair rules for
    /// that SIM apply first. ``lenient=True`` accepts a 15th digit that is not the check
    /// digit (forged handsets carry such IMEIs), and the verdict's ``check_digit_ok`` says
    /// so. Raises ``InvalidImei`` (a ``ValueError``) or ``InvalidImsi`` for input that is
    /// not one.
    #[pyo3(signature = (imei, imsi = None, *, lenient = false))]
    fn check(
        &self,
        imei: &Bound<'_, PyAny>,
        imsi: Option<&Bound<'_, PyAny>>,
        lenient: bool,
    ) -> PyResult<PyVerdict> {
        check::check_one(&self.index, imei, imsi, lenient)
    }

    /// Checks many handsets at once and returns a ``pyarrow.RecordBatch`` with one row per
    /// IMEI, in order: ``status`` (string: ``blocked``, ``tracked``, ``allowed``,
    /// ``unknown``), ``reason``, ``rule`` (strings), ``date`` (date32), ``check_digit_ok``
    /// (bool) and ``error`` (string).
    ///
    /// ``imeis`` is an Arrow array or chunked array of strings or integers (pyarrow,
    /// polars, anything with ``__arrow_c_array__`` or ``__arrow_c_stream__``), a numpy
    /// array or a list; integers are the 14 digits without the check digit. ``imsis``, if
    /// given, holds one IMSI (or null) per IMEI, for pair rules.
    ///
    /// An input that is not an IMEI never raises: its row has a null ``status`` and an
    /// ``error`` saying what is wrong. An IMSI that is not one is ignored (the row is checked
    /// without it) and its ``error`` says so. The Arrow buffers are read in place and the
    /// result is built without the GIL and without a Python object per row.
    #[pyo3(signature = (imeis, imsis = None, *, lenient = false))]
    fn check_many<'py>(
        &self,
        py: Python<'py>,
        imeis: &Bound<'py, PyAny>,
        imsis: Option<&Bound<'py, PyAny>>,
        lenient: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        check::check_many(py, &self.index, imeis, imsis, lenient)
    }

    /// Counts, sizes and versions: ``format_version``, ``serial``, ``rules``, ``counts``
    /// (rules by kind, then status), ``file_bytes``, ``bytes_per_rule``,
    /// ``distinct_entries``, ``sections`` (bytes per section).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.index.stats())
    }

    /// The serial number the index was built with (a list's version, such as 20240521).
    #[getter]
    fn serial(&self) -> u64 {
        self.index.serial()
    }

    /// The path the index was opened from, or None for one made from bytes.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    fn __repr__(&self) -> String {
        let s = self.index.stats();
        match &self.path {
            Some(p) => format!(
                "Index({:?}, serial={}, rules={})",
                p.display().to_string(),
                s.serial,
                s.rules()
            ),
            None => format!("Index(<bytes>, serial={}, rules={})", s.serial, s.rules()),
        }
    }
}

impl PyIndex {
    /// The library's index.
    pub(crate) fn inner(&self) -> &imei_index::Index {
        &self.index
    }
}

/// An index file followed as it is republished: ``reload()`` swaps in the file now at its
/// path (``publish`` renames new files into place), while checks keep answering from the
/// old one, never blocking, never seeing a mix.
///
/// ``LiveIndex(path, verification="checksums")``. A reload that finds a file that is not a
/// usable index raises ``InvalidIndex`` and keeps serving the last good one.
#[pyclass(frozen, module = "imei_index", name = "LiveIndex")]
pub(crate) struct PyLiveIndex {
    live: imei_index::LiveIndex,
}

#[pymethods]
impl PyLiveIndex {
    #[new]
    #[pyo3(signature = (path, verification = "checksums", *, tac_policy = None, allocated_after = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        verification: &str,
        tac_policy: Option<&str>,
        allocated_after: Option<&str>,
    ) -> PyResult<Self> {
        let mut options = OpenOptions::new();
        options
            .verification(self::verification(verification)?)
            .tac_policy(policy(py, tac_policy, allocated_after)?);
        let live = py
            .detach(|| imei_index::LiveIndex::open_with(&path, options))
            .map_err(|e| errors::from_core(py, &e))?;
        Ok(PyLiveIndex { live })
    }

    /// As ``Index.device``, from the index served now.
    fn device<'py>(
        &self,
        py: Python<'py>,
        tac: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        device_dict(py, &self.live.current(), tac)
    }

    /// Opens the file now at the path and serves it from now on. Returns what it replaced
    /// with what: ``{"old": {"serial", "rules", "bytes"}, "new": {...}}``.
    fn reload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = py
            .detach(|| self.live.reload())
            .map_err(|e| errors::from_core(py, &e))?;
        let d = PyDict::new(py);
        d.set_item("old", version_dict(py, &r.old)?)?;
        d.set_item("new", version_dict(py, &r.new)?)?;
        Ok(d)
    }

    /// Reloads only when the file at the path is another one than the one served (a new
    /// publish); returns what ``reload`` returns, or None when nothing changed.
    fn reload_if_changed<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let r = py
            .detach(|| self.live.reload_if_changed())
            .map_err(|e| errors::from_core(py, &e))?;
        r.map(|r| {
            let d = PyDict::new(py);
            d.set_item("old", version_dict(py, &r.old)?)?;
            d.set_item("new", version_dict(py, &r.new)?)?;
            Ok(d)
        })
        .transpose()
    }

    /// As ``Index.check``, on the index served now.
    #[pyo3(signature = (imei, imsi = None, *, lenient = false))]
    fn check(
        &self,
        imei: &Bound<'_, PyAny>,
        imsi: Option<&Bound<'_, PyAny>>,
        lenient: bool,
    ) -> PyResult<PyVerdict> {
        check::check_one(&self.live.current(), imei, imsi, lenient)
    }

    /// As ``Index.check_many``; the whole batch is checked against one version of the
    /// index, even when a reload happens meanwhile.
    #[pyo3(signature = (imeis, imsis = None, *, lenient = false))]
    fn check_many<'py>(
        &self,
        py: Python<'py>,
        imeis: &Bound<'py, PyAny>,
        imsis: Option<&Bound<'py, PyAny>>,
        lenient: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        check::check_many(py, &self.live.current(), imeis, imsis, lenient)
    }

    /// As ``Index.stats``, of the index served now.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.live.current().stats())
    }

    /// The serial of the index served now.
    #[getter]
    fn serial(&self) -> u64 {
        self.live.serial()
    }

    /// The path followed.
    #[getter]
    fn path(&self) -> PathBuf {
        self.live.path().to_path_buf()
    }

    /// How many reloads were refused since opening (files that were not usable indexes).
    #[getter]
    fn refused(&self) -> u64 {
        self.live.refused()
    }

    fn __repr__(&self) -> String {
        format!(
            "LiveIndex({:?}, serial={})",
            self.live.path().display().to_string(),
            self.live.serial()
        )
    }
}
