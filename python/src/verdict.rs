//! The one place where a Rust [`Verdict`] becomes Python values and Arrow columns.
//!
//! A checked input is a [`Row`]. The functions under "the columns" below say what each
//! column holds for a row; [`Columns`] (the Arrow record batch of `check_many`, Spark's
//! verdict columns) and [`PyVerdict`] (what `check` returns) both read rows through them
//! alone, so a column means the same on every surface.
//!
//! To add a column (the core's sources, several reasons, dated rules are coming: see
//! docs/semantics.md): add its function here, push it in [`Columns::push`] and name it in
//! [`Columns::finish`] and [`COLUMNS`], add a getter to [`PyVerdict`] if a single check
//! shows it, and the stubs (`_native.pyi`). Texts that the index holds (a source's name,
//! reason texts) are resolved with the index that answered: give [`Row`] a reference to it.

use std::ffi::CStr;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use imei_index::{Imei, Index, Verdict};

use crate::arrow::export::{Batch, BoolBuilder, Date32Builder, Utf8Builder};

/// One checked input.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Row<'a> {
    /// The IMEI was read.
    Checked {
        verdict: Verdict,
        /// False only for a wrong 15th digit read leniently.
        check_digit_ok: bool,
        /// What else was wrong with the input, though it was checked (an IMSI that is not
        /// one: checked without it).
        note: Option<&'a str>,
        /// The deciding rule's reasons joined with `|` (none: empty), resolved with the
        /// index that answered.
        reasons: &'a str,
        /// The deciding rule's source, resolved with the index that answered.
        source: Option<&'a str>,
    },
    /// The IMEI could not be read: why.
    Invalid(&'a str),
}

// ---------------------------------------------------------------------------- the columns

/// `status`: `blocked`, `tracked`, `allowed`, or `unknown` when no rule matches; null when
/// the input is not an IMEI.
#[inline]
pub(crate) fn status(r: &Row<'_>) -> Option<&'static str> {
    match r {
        Row::Checked { verdict, .. } => Some(verdict.status().map_or("unknown", |s| s.as_str())),
        Row::Invalid(_) => None,
    }
}

/// `reason`: the deciding rule's reasons, several joined with `|`, or null.
#[inline]
pub(crate) fn reason<'a>(r: &Row<'a>) -> Option<&'a str> {
    match r {
        Row::Checked { reasons, .. } if !reasons.is_empty() => Some(reasons),
        Row::Checked { verdict, .. } => verdict.reason().map(|r| r.as_str()),
        Row::Invalid(_) => None,
    }
}

/// `source`: the deciding rule's source (the list it came from), or null.
#[inline]
pub(crate) fn source<'a>(r: &Row<'a>) -> Option<&'a str> {
    match r {
        Row::Checked { source, .. } => *source,
        Row::Invalid(_) => None,
    }
}

/// `rule`: the kind of the deciding rule (`pair`, `imei`, `range`, `tac`), or null.
#[inline]
pub(crate) fn rule(r: &Row<'_>) -> Option<&'static str> {
    match r {
        Row::Checked { verdict, .. } => verdict.rule().map(|k| k.as_str()),
        Row::Invalid(_) => None,
    }
}

/// `date`: the deciding rule's date, in days since 1970-01-01, or null.
#[inline]
pub(crate) fn date(r: &Row<'_>) -> Option<i32> {
    match r {
        // Dates end in 9999: their day numbers fit an i32.
        Row::Checked { verdict, .. } => verdict.date().map(|d| d.days_since_epoch() as i32),
        Row::Invalid(_) => None,
    }
}

/// `check_digit_ok`: false only for a wrong 15th digit read leniently; null when the
/// input is not an IMEI.
#[inline]
pub(crate) fn check_digit_ok(r: &Row<'_>) -> Option<bool> {
    match r {
        Row::Checked { check_digit_ok, .. } => Some(*check_digit_ok),
        Row::Invalid(_) => None,
    }
}

/// `error`: what is wrong with the input, or null.
#[inline]
pub(crate) fn error<'a>(r: &Row<'a>) -> Option<&'a str> {
    match r {
        Row::Checked { note, .. } => *note,
        Row::Invalid(e) => Some(e),
    }
}

/// The columns of `check_many`'s record batch, in order.
pub(crate) const COLUMNS: [&str; 7] = [
    "status",
    "reason",
    "rule",
    "source",
    "date",
    "check_digit_ok",
    "error",
];

/// The column names as C strings, for the Arrow schema.
const NAMES: [&CStr; 7] = [
    c"status",
    c"reason",
    c"rule",
    c"source",
    c"date",
    c"check_digit_ok",
    c"error",
];

/// The verdict columns of a batch, built row by row.
pub(crate) struct Columns {
    len: usize,
    status: Utf8Builder,
    reason: Utf8Builder,
    rule: Utf8Builder,
    source: Utf8Builder,
    date: Date32Builder,
    check_digit_ok: BoolBuilder,
    error: Utf8Builder,
}

impl Columns {
    /// For `n` rows.
    pub(crate) fn with_capacity(n: usize) -> Columns {
        Columns {
            len: 0,
            status: Utf8Builder::with_capacity(n, 7 * n),
            reason: Utf8Builder::with_capacity(n, n),
            rule: Utf8Builder::with_capacity(n, n),
            source: Utf8Builder::with_capacity(n, n),
            date: Date32Builder::with_capacity(n),
            check_digit_ok: BoolBuilder::with_capacity(n),
            error: Utf8Builder::with_capacity(n, 0),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, r: &Row<'_>) {
        self.len += 1;
        self.status.push(status(r));
        self.reason.push(reason(r));
        self.rule.push(rule(r));
        self.source.push(source(r));
        self.date.push(date(r));
        self.check_digit_ok.push(check_digit_ok(r));
        self.error.push(error(r));
    }

    /// The columns as one record batch (named as [`COLUMNS`] says).
    pub(crate) fn finish(self) -> PyResult<Batch> {
        let [status, reason, rule, source, date, check_digit_ok, error] = NAMES;
        let columns = vec![
            self.status.finish(status)?,
            self.reason.finish(reason)?,
            self.rule.finish(rule)?,
            self.source.finish(source)?,
            self.date.finish(date),
            self.check_digit_ok.finish(check_digit_ok),
            self.error.finish(error)?,
        ];
        Ok(Batch::new(columns, self.len))
    }
}

/// A `datetime.date` for a day number.
fn py_date<'py>(py: Python<'py>, days: i32) -> PyResult<Bound<'py, PyAny>> {
    static FROM_ORDINAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    // 1970-01-01 is day 719,163 of the proleptic Gregorian calendar (0001-01-01 is day 1).
    const EPOCH_ORDINAL: i32 = 719_163;
    FROM_ORDINAL
        .get_or_try_init(py, || {
            py.import("datetime")?
                .getattr("date")?
                .getattr("fromordinal")
                .map(Bound::unbind)
        })?
        .bind(py)
        .call1((days + EPOCH_ORDINAL,))
}

/// What the index says about one handset: the answer of `Index.check`.
///
/// `status` is `"blocked"`, `"tracked"`, `"allowed"` or `"unknown"` (no rule matches);
/// `reason`, `rule` and `date` are those of the deciding rule, or `None`.
#[pyclass(frozen, eq, hash, module = "imei_index", name = "Verdict")]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PyVerdict {
    imei: Imei,
    verdict: Verdict,
    check_digit_ok: bool,
    /// The reasons joined with `|` and the source, as the index that answered names them.
    reasons: String,
    source: Option<String>,
}

impl PyVerdict {
    /// A verdict of `index` (which resolves its texts).
    pub(crate) fn new(
        index: &Index,
        imei: Imei,
        verdict: Verdict,
        check_digit_ok: bool,
    ) -> PyVerdict {
        PyVerdict {
            imei,
            verdict,
            check_digit_ok,
            reasons: index.reason_set(&verdict).to_string(),
            source: index.source(&verdict).map(str::to_string),
        }
    }

    fn row(&self) -> Row<'_> {
        Row::Checked {
            verdict: self.verdict,
            check_digit_ok: self.check_digit_ok,
            note: None,
            reasons: &self.reasons,
            source: self.source.as_deref(),
        }
    }
}

#[pymethods]
impl PyVerdict {
    /// The handset's IMEI: 15 digits, with its check digit.
    #[getter]
    fn imei(&self) -> String {
        self.imei.to_string()
    }

    /// `"blocked"`, `"tracked"`, `"allowed"`, or `"unknown"` when no rule matches.
    #[getter]
    fn status(&self) -> &'static str {
        status(&self.row()).unwrap_or("unknown")
    }

    /// The deciding rule's reasons (`"stolen"`, `"Duplicate IMEI detected"` …), several
    /// joined with `|`, or None.
    #[getter]
    fn reason(&self) -> Option<&str> {
        reason(&self.row())
    }

    /// The deciding rule's source (the list it came from, e.g. `"local"`), or None.
    #[getter]
    fn source(&self) -> Option<&str> {
        source(&self.row())
    }

    /// The kind of the deciding rule: `"pair"`, `"imei"`, `"range"`, `"tac"`, or None.
    #[getter]
    fn rule(&self) -> Option<&'static str> {
        rule(&self.row())
    }

    /// The deciding rule's date (a `datetime.date`), or None.
    #[getter]
    fn date<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        date(&self.row()).map(|d| py_date(py, d)).transpose()
    }

    /// False only when the input's 15th digit was not the check digit (read leniently).
    #[getter]
    fn check_digit_ok(&self) -> bool {
        check_digit_ok(&self.row()).unwrap_or(true)
    }

    /// True when a rule matched (the status is not `"unknown"`).
    #[getter]
    fn is_listed(&self) -> bool {
        self.verdict.is_listed()
    }

    /// The verdict's columns as a dict, named as in `check_many`'s record batch (with
    /// `imei` first; no `error`: a single check raises instead).
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("imei", self.imei())?;
        d.set_item("status", self.status())?;
        d.set_item("reason", self.reason())?;
        d.set_item("rule", self.rule())?;
        d.set_item("source", self.source())?;
        d.set_item("date", self.date(py)?)?;
        d.set_item("check_digit_ok", self.check_digit_ok())?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let date = match self.date(py)? {
            Some(d) => d.repr()?.to_string(),
            None => "None".to_string(),
        };
        let text = |s: Option<&str>| s.map_or("None".to_string(), |s| format!("'{s}'"));
        Ok(format!(
            "Verdict(imei='{}', status='{}', reason={}, rule={}, date={date}{})",
            self.imei(),
            self.status(),
            text(self.reason()),
            text(self.rule()),
            if self.check_digit_ok {
                ""
            } else {
                ", check_digit_ok=False"
            }
        ))
    }
}
