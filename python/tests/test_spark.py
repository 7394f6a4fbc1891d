"""Spark (local[2]): reverify and verdicts on the demo's connection log, written as
date-partitioned Parquet, against `imei-index scan` on the same rows as CSV."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from conftest import DEMO_CONNECTIONS, run_cli
from test_scan import cli_counts

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def parquet_log(demo, tmp_path_factory):
    """The demo's log as Parquet partitioned by day, each row with its row number."""
    names = ["imsi", "msisdn", "imei", "time"]
    table = pacsv.read_csv(
        demo / "connections.csv",
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    table = table.append_column("row", pa.array(range(table.num_rows), pa.int64()))
    table = table.append_column("day", pc.utf8_slice_codeunits(table.column("time"), 0, 10))
    out = tmp_path_factory.mktemp("parquet") / "connections"
    ds.write_dataset(table, out, format="parquet", partitioning=["day"], partitioning_flavor="hive")
    return out


def scan_rows(demo, output):
    """`imei-index scan`'s matches as (row number, status, reason, rule, date), found by
    walking the input and the output (which keeps input order) together."""
    with open(demo / "connections.csv") as f:
        lines = f.read().splitlines()[1:]
    with open(output) as f:
        matches = f.read().splitlines()[1:]
    rows, i = [], 0
    for m in matches:
        while not m.startswith(lines[i] + ","):
            i += 1
        status, reason, rule, date = m[len(lines[i]) + 1 :].split(",")
        rows.append((i, status, reason or None, rule or None, date or None))
        i += 1
    return rows


def test_reverify_and_verdicts_equal_the_scan(spark, cli, demo, parquet_log, tmp_path):
    from imei_index.spark import reverify, verdicts

    out = run_cli(
        cli, "scan", "--index", str(demo / "national.imeiidx"), str(demo / "connections.csv"),
        "-o", str(tmp_path / "reverify.csv"),
    )
    counts = cli_counts(out.stderr)
    expected = sorted(scan_rows(demo, tmp_path / "reverify.csv"))
    assert len(expected) == counts["matched"] > 1000

    df = spark.read.parquet(str(parquet_log))
    assert df.rdd.getNumPartitions() >= 2
    hits = reverify(df, demo / "national.imeiidx", imei="imei", imsi="imsi")
    assert hits.columns == df.columns + ["status", "reason", "rule", "date"]
    got = sorted(
        (r["row"], r["status"], r["reason"], r["rule"], r["date"].isoformat() if r["date"] else None)
        for r in hits.select("row", "status", "reason", "rule", "date").collect()
    )
    assert got == expected  # the same rows (a multiset, by row number) and verdicts

    all_rows = verdicts(df, demo / "national.imeiidx", imei="imei", imsi="imsi")
    assert [f.dataType.simpleString() for f in all_rows.schema.fields[-6:]] == [
        "string", "string", "string", "date", "boolean", "string",
    ]
    from pyspark.sql import functions as F

    kind = (
        F.when(F.col("status").isNull(), "rejected")
        .when(F.col("status").isin("blocked", "tracked"), "matched")
        .otherwise("unmatched")
    )
    tally = {r["kind"]: r["count"] for r in all_rows.groupBy(kind.alias("kind")).count().collect()}
    assert tally == {k: counts[k] for k in ("matched", "unmatched", "rejected")}
    assert sum(tally.values()) == DEMO_CONNECTIONS


def test_refusals_before_any_job(spark, demo, tmp_path):
    from imei_index import InvalidIndex
    from imei_index.spark import reverify, verdicts

    df = spark.createDataFrame([("352114016865811", "x")], "imei string, status string")
    with pytest.raises(ValueError, match="already has columns named \\['status'\\]"):
        reverify(df, demo / "national.imeiidx")
    with pytest.raises(ValueError, match="no column 'pei'"):
        verdicts(df, demo / "national.imeiidx", imei="pei")
    with pytest.raises(ValueError, match="statuses"):
        reverify(df.drop("status"), demo / "national.imeiidx", statuses=("stolen",))
    junk = tmp_path / "junk.imeiidx"
    junk.write_bytes(b"junk")
    with pytest.raises(InvalidIndex):
        reverify(df.drop("status"), junk)
    # Integers are the 14 digits; a table without verdict-named columns works as is.
    ints = spark.createDataFrame([(35211401686581,), (1,)], "imei long")
    rows = verdicts(ints, demo / "national.imeiidx").orderBy("imei").collect()
    assert [r["status"] for r in rows] == ["unknown", "blocked"]
