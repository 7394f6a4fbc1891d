//! Errors as Python exceptions.
//!
//! The exception classes are defined in Python (`imei_index/_errors.py`, where they can
//! inherit from both the package's `Error` and `ValueError`); this module raises them. An
//! I/O error is an `OSError` with its errno and file name, so that Python makes it a
//! `FileNotFoundError`, `PermissionError` … as usual.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use imei_index::{Error, ErrorChain, IdError};

/// The exception classes of `imei_index._errors`, by name.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// The package's base class.
    Error,
    InvalidImei,
    InvalidImsi,
    InvalidIndex,
    InvalidList,
    ScanError,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Error => "Error",
            Kind::InvalidImei => "InvalidImei",
            Kind::InvalidImsi => "InvalidImsi",
            Kind::InvalidIndex => "InvalidIndex",
            Kind::InvalidList => "InvalidList",
            Kind::ScanError => "ScanError",
        }
    }

    fn class<'py>(self, py: Python<'py>) -> PyResult<&'py Bound<'py, PyType>> {
        static CLASSES: [PyOnceLock<Py<PyType>>; 6] = [
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
            PyOnceLock::new(),
        ];
        CLASSES[self as usize].import(py, "imei_index._errors", self.name())
    }

    /// An exception of this class with a message.
    pub(crate) fn err(self, py: Python<'_>, message: impl Into<String>) -> PyErr {
        let message = message.into();
        match self.class(py).and_then(|c| c.call1((message.clone(),))) {
            Ok(exc) => PyErr::from_value(exc),
            // The package is broken (imported without its Python part): say so, with the
            // message.
            Err(e) => PyValueError::new_err(format!("{message} (and {e})")),
        }
    }
}

/// `InvalidImei` (or `InvalidImsi`) for an identifier that does not parse, with the input
/// as its `input` attribute.
pub(crate) fn invalid_id(py: Python<'_>, kind: Kind, input: &str, e: &IdError) -> PyErr {
    let err = kind.err(py, e.to_string());
    // The attribute is a convenience; a failure to set it must not hide the error.
    let _ = err.value(py).setattr("input", input);
    err
}

/// A library error as the matching exception, its message with every cause.
pub(crate) fn from_core(py: Python<'_>, e: &Error) -> PyErr {
    let message = ErrorChain(e).to_string();
    match e {
        Error::Io { source, path, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, message, path.display().to_string())),
            None => PyOSError::new_err(message),
        },
        Error::Format { .. } => Kind::InvalidIndex.err(py, message),
        Error::List(_) => Kind::InvalidList.err(py, message),
        // An index opened with a TAC policy but without the database it needs.
        Error::NoTacDatabase { .. } => Kind::InvalidIndex.err(py, message),
        _ => Kind::Error.err(py, message),
    }
}
