"""Re-verification in Spark: check the handsets of connection logs where the logs live.

>>> from imei_index.spark import reverify
>>> log = spark.read.parquet("s3://ops/attach-log/")                       # doctest: +SKIP
>>> hits = reverify(log, "/srv/eir/national.imeiidx", imei="imei", imsi="imsi")  # doctest: +SKIP
>>> hits.write.parquet("s3://ops/reverify/2024-05-21/")                     # doctest: +SKIP

How the index reaches the executors: the driver opens the index once (so that a bad file
fails before any task starts), then ships it with ``SparkContext.addFile`` under a name
that identifies this version of the file (its serial, size and modification time), so a
republished index is shipped again rather than mistaken for the old one. Each Python worker
opens its copy once, memory-mapped, and keeps it open for every task it runs; the tasks
check their rows in Arrow batches through ``mapInArrow``, with no Python object per row.

Needs ``pyspark`` (3.5 or newer) with ``pandas`` >= 2.2 (which ``mapInArrow`` imports).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

from . import COLUMNS, Index, verdict_schema

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["reverify", "verdicts", "REVERIFY_COLUMNS", "VERDICT_COLUMNS"]

#: The columns ``reverify`` appends to the rows it returns (``imei-index scan``'s).
REVERIFY_COLUMNS: Tuple[str, ...] = ("status", "reason", "rule", "date")
#: The columns ``verdicts`` appends to every row: all of ``Index.check_many``'s.
VERDICT_COLUMNS: Tuple[str, ...] = tuple(COLUMNS)

_STATUSES = ("blocked", "tracked", "allowed")

# In a Python worker: the indexes opened so far, by shipped name (one per version).
_opened: Dict[str, Index] = {}
# On the driver: what has been shipped, by (SparkContext, file identity).
_shipped: Dict[Tuple[int, str, int, int, int], str] = {}


def _ship(
    df: "DataFrame", index_path: "str | os.PathLike[str]", verification: str
) -> Tuple[str, int]:
    """Verifies the index on the driver and ships it to the executors; returns the name
    under which ``SparkFiles.get`` finds it there, and its serial."""
    path = os.path.realpath(os.fspath(index_path))
    st = os.stat(path)
    index = Index(path, verification=verification)  # fails here, on the driver, if unusable
    sc = df.sparkSession.sparkContext
    key = (id(sc), path, st.st_ino, st.st_size, st.st_mtime_ns)
    name = _shipped.get(key)
    if name is None:
        name = "imei-index-{}-{}-{}.imeiidx".format(index.serial, st.st_size, st.st_mtime_ns)
        # A snapshot of this version: a hard link when the temporary directory is on the
        # same file system (published indexes are never written in place, so the linked
        # inode never changes), else a copy.
        folder = tempfile.mkdtemp(prefix="imei-index-spark-")
        snapshot = os.path.join(folder, name)
        try:
            os.link(path, snapshot)
        except OSError:
            shutil.copyfile(path, snapshot)
        if os.stat(snapshot).st_size != st.st_size:
            raise RuntimeError(f"{path} changed while it was being shipped: try again")
        sc.addFile(snapshot)
        _shipped[key] = name
    return name, index.serial


def _open_shipped(name: str, verification: str, shared_path: Optional[str], serial: int) -> Index:
    """The shipped index (or the one at a path every executor sees), opened once per
    Python worker."""
    key = f"{shared_path}:{name}" if shared_path else name
    index = _opened.get(key)
    if index is None:
        if shared_path is None:
            from pyspark import SparkFiles

            path = SparkFiles.get(name)
        else:
            path = shared_path
        index = Index(path, verification=verification)
        if index.serial != serial:
            raise RuntimeError(
                f"the index at {path} has serial {index.serial}, but the job was planned with "
                f"serial {serial}: it was republished meanwhile; run the job again"
            )
        _opened[key] = index
    return index


def _check_batches(
    batches: Iterable[pa.RecordBatch],
    *,
    name: str,
    verification: str,
    shared_path: Optional[str],
    serial: int,
    imei: str,
    imsi: Optional[str],
    columns: Sequence[str],
    statuses: Optional[Sequence[str]],
) -> Iterator[pa.RecordBatch]:
    """The task: each batch with the verdict columns appended (and, for ``reverify``,
    only its rows of the given statuses)."""
    index = _open_shipped(name, verification, shared_path, serial)
    keep = pa.array(list(statuses), pa.string()) if statuses is not None else None
    for batch in batches:
        checked = index.check_many(
            batch.column(imei), batch.column(imsi) if imsi is not None else None
        )
        arrays = list(batch.columns) + [checked.column(c) for c in columns]
        out = pa.RecordBatch.from_arrays(arrays, names=list(batch.schema.names) + list(columns))
        if keep is not None:
            out = out.filter(pc.fill_null(pc.is_in(checked.column("status"), value_set=keep), False))
        yield out


def _spark_fields(columns: Sequence[str]) -> List["object"]:
    """Spark fields of verdict columns, from the Arrow types ``check_many`` returns (so that
    Spark's schema follows the native columns, defined in one place)."""
    from pyspark.sql.types import StructField

    try:
        from pyspark.sql.pandas.types import from_arrow_type
    except ImportError:  # pragma: no cover - older layouts
        from pyspark.sql.types import from_arrow_type  # type: ignore[no-redef]

    schema = verdict_schema()
    return [StructField(c, from_arrow_type(schema.field(c).type), True) for c in columns]


def _run(
    df: "DataFrame",
    index_path: "str | os.PathLike[str]",
    imei: str,
    imsi: Optional[str],
    columns: Sequence[str],
    statuses: Optional[Sequence[str]],
    verification: str,
    ship: bool,
) -> "DataFrame":
    from pyspark.sql.types import StructType

    names = set(df.columns)
    for column in [imei] + ([imsi] if imsi is not None else []):
        if column not in names:
            raise ValueError(f"the DataFrame has no column {column!r} (it has {sorted(names)})")
    clash = sorted(names.intersection(columns))
    if clash:
        raise ValueError(
            f"the DataFrame already has columns named {clash}: rename them first "
            "(the verdict is appended under those names)"
        )
    if ship:
        (name, serial), shared_path = _ship(df, index_path, verification), None
    else:
        # Every executor reads the same path (a shared or replicated file system): verify it
        # here all the same, so that a bad file fails before any task starts.
        shared_path = os.path.abspath(os.fspath(index_path))
        serial = Index(shared_path, verification=verification).serial
        name = f"serial-{serial}"
    schema = StructType(list(df.schema.fields) + _spark_fields(columns))
    task = functools.partial(
        _check_batches,
        name=name,
        verification=verification,
        shared_path=shared_path,
        serial=serial,
        imei=imei,
        imsi=imsi,
        columns=tuple(columns),
        statuses=tuple(statuses) if statuses is not None else None,
    )
    return df.mapInArrow(task, schema)


def reverify(
    df: "DataFrame",
    index_path: "str | os.PathLike[str]",
    imei: str = "imei",
    imsi: Optional[str] = None,
    statuses: Sequence[str] = ("blocked", "tracked"),
    *,
    verification: str = "checksums",
    ship: bool = True,
) -> "DataFrame":
    """The rows of ``df`` seen with listed handsets, with ``status, reason, rule, date``
    appended: what ``imei-index scan`` writes, as a DataFrame.

    ``imei`` names the column of IMEIs (strings in any form ``Index.check`` reads, or the
    14-digit numbers); ``imsi``, if given, the column of IMSIs, so that pair rules apply (a
    genuine handset allowed with its own SIM is not reported; with another SIM it is).
    ``statuses`` are the verdicts reported (default: the handsets the network refuses or
    watches). Rows whose IMEI is not an IMEI are not returned: ``verdicts`` shows them, with
    their error. The index is verified on the driver at ``verification`` (``"checksums"``
    by default; ``"trusted"`` or ``"full"``) and opened at that level by every worker.
    With ``ship=False`` the index is not shipped: every executor opens ``index_path``
    itself, which must then be a path they all see (a shared or replicated file system).
    """
    unknown = sorted(set(statuses) - set(_STATUSES))
    if unknown or not statuses:
        raise ValueError(f"statuses are some of {_STATUSES}, not {list(statuses)}")
    return _run(df, index_path, imei, imsi, REVERIFY_COLUMNS, statuses, verification, ship)


def verdicts(
    df: "DataFrame",
    index_path: "str | os.PathLike[str]",
    imei: str = "imei",
    imsi: Optional[str] = None,
    *,
    verification: str = "checksums",
    ship: bool = True,
) -> "DataFrame":
    """Every row of ``df`` with the verdict columns appended: ``status`` (``blocked``,
    ``tracked``, ``allowed``, ``unknown``, or null when the IMEI is not one), ``reason``,
    ``rule``, ``date``, ``check_digit_ok`` and ``error``: ``Index.check_many``'s columns.
    The other arguments are ``reverify``'s."""
    return _run(df, index_path, imei, imsi, VERDICT_COLUMNS, None, verification, ship)
