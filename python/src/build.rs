//! `build`: list files to an index file.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use imei_index::list::{ListError, ListReader, tacdb};
use imei_index::{BuildSummary, Error, IndexBuilder};

use crate::errors;
use crate::index::counts_dict;

/// Rejected rows whose messages `build` returns (it counts them all).
const REJECTS_SHOWN: usize = 100;

/// Builds an index file from list files (CSV ``imei,status,reason,imsi,date``; see the
/// README's "List files").
///
/// ``build(lists, output, serial=None, *, skip_invalid=False)``: ``lists`` is a path or a
/// sequence of paths, ``output`` the index to write (beside its path, then renamed over
/// it: readers never see a half-written file), ``serial`` the list's version (such as
/// 20240521). A row that cannot be read raises ``InvalidList`` naming its file, line and
/// column, and nothing is written; with ``skip_invalid=True`` such rows are left out,
/// counted, and the first 100 messages returned. Returns the build summary as a dict:
/// ``rows_read``, ``rules_written``, ``merged``, ``conflicts``, ``rejected``, ``counts``
/// (rules by kind, then status), ``distinct_entries``, ``index_bytes``, ``rejects``.
/// ``tac_db`` (a path to GSMA's TAC database, either export) stores it in the index; its
/// bad rows are handled as the lists' (they are not in ``rejected``, which counts list rows).
#[pyfunction]
#[pyo3(signature = (lists, output, serial = None, *, skip_invalid = false, tac_db = None))]
pub(crate) fn build<'py>(
    py: Python<'py>,
    lists: &Bound<'py, PyAny>,
    output: PathBuf,
    serial: Option<u64>,
    skip_invalid: bool,
    tac_db: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let lists: Vec<PathBuf> = match lists.extract::<PathBuf>() {
        Ok(one) => vec![one],
        Err(_) => lists.extract()?,
    };
    let mut rejects = Vec::new();
    let result = py.detach(|| -> Result<BuildSummary, Error> {
        let mut builder = IndexBuilder::new();
        if let Some(s) = serial {
            builder.serial(s);
        }
        let open = |path: &PathBuf| {
            File::open(path).map(BufReader::new).map_err(|e| Error::Io {
                action: "read",
                path: path.clone(),
                source: e,
            })
        };
        // One rule for the bad rows of lists and of the TAC database.
        let mut reject = |e: ListError| {
            if !skip_invalid {
                return Err(e);
            }
            if rejects.len() < REJECTS_SHOWN {
                rejects.push(e.to_string());
            }
            Ok(())
        };
        // Parsing is most of a build's work: each list's rows are parsed on every core and
        // come back in order, as the command line's `build` reads them.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for path in &lists {
            let reader = ListReader::new(path.display().to_string(), open(path)?);
            builder.add_list(reader.parallel(threads), &mut reject)?;
        }
        if let Some(path) = &tac_db {
            let mut table = imei_index::TacTable::new();
            let reader = tacdb::Reader::new(path.display().to_string(), open(path)?);
            tacdb::read_into(&mut table, reader, &mut reject)?;
            builder.tac_db(table);
        }
        builder.build_to_file(&output)
    });
    let s = result.map_err(|e| errors::from_core(py, &e))?;
    let d = PyDict::new(py);
    d.set_item("rows_read", s.rows_read())?;
    d.set_item("rules_in", s.rules_in)?;
    d.set_item("rules_written", s.rules_written)?;
    d.set_item("merged", s.merged)?;
    d.set_item("conflicts", s.conflicts)?;
    d.set_item("rejected", s.rejected)?;
    d.set_item("counts", counts_dict(py, &s.counts)?)?;
    d.set_item("distinct_entries", s.distinct_entries)?;
    d.set_item("index_bytes", s.index_bytes)?;
    d.set_item("rejects", rejects)?;
    Ok(d)
}
