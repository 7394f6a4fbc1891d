"""IMEI blocklists compiled into memory-mapped index files, for Equipment Identity Registers.

>>> import imei_index
>>> ix = imei_index.Index("national.imeiidx")            # doctest: +SKIP
>>> ix.check("352099001761481").status                    # doctest: +SKIP
'blocked'

* :class:`Index` opens an index file (memory-mapped, shared by every process on the
  machine); :meth:`Index.check` answers one handset, :meth:`Index.check_many` many at once
  as a ``pyarrow.RecordBatch``.
* :class:`LiveIndex` follows a path that new indexes are published to.
* :func:`build` compiles list files into an index; :func:`scan` finds the rows of
  connection logs seen with listed handsets.
* :mod:`imei_index.spark` re-verifies connections where the data lives, in Spark.

See docs/python.md in the repository for the recipes (Spark, DuckDB, Polars, an EIR in
Python) and the figures.
"""

from __future__ import annotations

from ._errors import (
    Error,
    InvalidIdentifier,
    InvalidImei,
    InvalidImsi,
    InvalidIndex,
    InvalidList,
    ScanError,
)
from ._native import (
    COLUMNS,
    Index,
    LiveIndex,
    Verdict,
    __version__,
    build,
    check_digit,
    parse_imei,
    parse_imsi,
    scan,
    verdict_schema,
)

__all__ = [
    "COLUMNS",
    "Error",
    "Index",
    "InvalidIdentifier",
    "InvalidImei",
    "InvalidImsi",
    "InvalidIndex",
    "InvalidList",
    "LiveIndex",
    "ScanError",
    "Verdict",
    "__version__",
    "build",
    "check_digit",
    "parse_imei",
    "parse_imsi",
    "scan",
    "verdict_schema",
]
