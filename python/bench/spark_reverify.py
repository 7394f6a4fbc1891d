"""Re-verification of the demo's connection log in Spark (local[2]) against `imei-index scan`
on the same rows as CSV, and against the same job written in plain PySpark.

    python python/bench/spark_reverify.py --dir DIR [--runs 2]

DIR holds the demo's files (`imei-index demo --dir DIR`: 6,000,000 connections). The log
is written once as Parquet partitioned by day (DIR/connections.parquet/). Each job reads
the Parquet log and writes the matched rows to Spark's `noop` sink (so that no output file
is timed); the scan reads the CSV with two threads and writes its matches to /dev/null.

Figures: wall time, processor time (Spark: the JVM, its Python workers and their children,
read from /proc; the scan: its own), and rows per second per core (rows / processor
seconds). The plain-PySpark job is what one writes without this package: the IMEI's first
14 digits joined with broadcast tables of the list's exact-IMEI, pair and TAC rules and a
range join against the list's ranges flattened on the driver into disjoint segments (each
carrying its narrowest range), precedence by `coalesce`. It checks no check digit and reads
only the 15-digit form; on the demo's log (whose IMEIs are all 15 digits or not IMEIs at all)
it finds the same rows, which the script checks.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """Processor seconds of a process and every descendant (live ones, and the children
    they waited for)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            f = stats[p]
            total += sum(int(x) for x in f[11:15]) / TICK  # utime stime cutime cstime
        todo.extend(children.get(p, []))
    return total


def to_parquet(d: str) -> str:
    out = os.path.join(d, "connections.parquet")
    if os.path.isdir(out):
        return out
    names = ["imsi", "msisdn", "imei", "time"]
    table = pacsv.read_csv(
        os.path.join(d, "connections.csv"),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    table = table.append_column("day", pc.utf8_slice_codeunits(table.column("time"), 0, 10))
    ds.write_dataset(table, out + ".tmp", format="parquet", partitioning=["day"], partitioning_flavor="hive")
    os.rename(out + ".tmp", out)
    return out


def scan(d: str, cli: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(
        [cli, "scan", "--index", os.path.join(d, "national.imeiidx"), os.path.join(d, "connections.csv"),
         "--threads", "2", "-o", "/dev/null"],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    matched = int(out.stderr.split("matched")[1].split("rows")[0].strip().replace(",", ""))
    return {"wall": wall, "cpu": cpu, "matched": matched}


def plain_pyspark(spark, df, list_path: str):
    """The job without this package: broadcast joins of the list's rules."""
    from pyspark.sql import functions as F

    exact, pairs, tacs, ranges = [], [], [], []
    with open(list_path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#") or row[0] == "imei":
                continue
            target, status, reason, imsi, date = (row + [""] * 5)[:5]
            entry = (status, reason or None, date or None)
            if ".." in target:
                a, b = target.split("..")
                ranges.append((int(a[:14]), int(b[:14])) + entry)
            elif len(target) == 8:
                tacs.append((target,) + entry)
            elif imsi:
                pairs.append((target[:14], imsi) + entry)
            else:
                exact.append((target[:14],) + entry)
    # Ranges flattened into disjoint segments, each with its narrowest range (what the
    # index does at build time), so that a row meets at most one.
    points = sorted({a for a, *_ in ranges} | {b + 1 for _, b, *_ in ranges})
    segments = []
    for lo, hi in zip(points, points[1:]):
        covering = [r for r in ranges if r[0] <= lo and hi - 1 <= r[1]]
        if covering:
            r = min(covering, key=lambda r: r[1] - r[0])
            segments.append((lo, hi - 1) + r[2:])
    t_exact = spark.createDataFrame(exact, "e_imei string, e_status string, e_reason string, e_date string")
    t_pair = spark.createDataFrame(pairs, "p_imei string, p_imsi string, p_status string, p_reason string, p_date string")
    t_tac = spark.createDataFrame(tacs, "t_tac string, t_status string, t_reason string, t_date string")
    t_range = spark.createDataFrame(segments, "r_first long, r_last long, r_status string, r_reason string, r_date string")
    valid = df.where(F.col("imei").rlike("^[0-9]{15}$")).withColumn("imei14", F.substring("imei", 1, 14))
    j = (
        valid.join(F.broadcast(t_pair), (F.col("imei14") == F.col("p_imei")) & (F.col("imsi") == F.col("p_imsi")), "left")
        .join(F.broadcast(t_exact), F.col("imei14") == F.col("e_imei"), "left")
        .join(F.broadcast(t_tac), F.substring("imei14", 1, 8) == F.col("t_tac"), "left")
        .join(
            F.broadcast(t_range),
            F.col("imei14").cast("long").between(F.col("r_first"), F.col("r_last")),
            "left",
        )
    )
    status = F.coalesce("p_status", "e_status", "r_status", "t_status")
    rule = (
        F.when(F.col("p_status").isNotNull(), "pair")
        .when(F.col("e_status").isNotNull(), "imei")
        .when(F.col("r_status").isNotNull(), "range")
        .when(F.col("t_status").isNotNull(), "tac")
    )
    return j.select(
        *df.columns,
        status.alias("status"),
        F.coalesce("p_reason", "e_reason", "r_reason", "t_reason").alias("reason"),
        rule.alias("rule"),
        F.coalesce("p_date", "e_date", "r_date", "t_date").cast("date").alias("date"),
    ).where(status.isin("blocked", "tracked"))


def timed_job(spark, make, label: str) -> dict:
    """Runs a job into the noop sink: its wall time, and the processor time of the JVM (with
    its Python workers) and of this driver."""
    jvm = spark.sparkContext._gateway.proc.pid

    def cpu() -> float:
        me = os.times()
        return tree_cpu(jvm) + me.user + me.system

    c, t = cpu(), time.perf_counter()
    make().write.format("noop").mode("overwrite").save()
    return {"label": label, "wall": time.perf_counter() - t, "cpu": cpu() - c}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--cli", default=shutil.which("imei-index") or "target/release/imei-index")
    args = ap.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if "JAVA_HOME" not in os.environ and os.path.isdir("/usr/lib/jvm/java-17-openjdk-amd64"):
        os.environ["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    from pyspark.sql import SparkSession

    from imei_index.spark import reverify

    d = args.dir
    parquet = to_parquet(d)
    index = os.path.join(d, "national.imeiidx")
    spark = (
        SparkSession.builder.master("local[2]").appName("imei-index-bench")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "2g").getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(parquet)
    rows = df.count()
    ours = reverify(df, index, imei="imei", imsi="imsi").count()
    plain = plain_pyspark(spark, df, os.path.join(d, "national.csv")).count()
    s = scan(d, args.cli)
    assert ours == plain == s["matched"], (ours, plain, s["matched"])
    results = []
    for _ in range(args.runs):
        results.append(timed_job(spark, lambda: reverify(df, index, imei="imei", imsi="imsi"), "imei_index.spark.reverify"))
        results.append(timed_job(spark, lambda: plain_pyspark(spark, df, os.path.join(d, "national.csv")), "plain PySpark, broadcast joins"))
        s = scan(d, args.cli)
        results.append({"label": "imei-index scan --threads 2 (CSV)", "wall": s["wall"], "cpu": s["cpu"]})
    spark.stop()
    print(f"{rows:,} rows, {ours:,} matched; best of {args.runs} runs")
    print(f"{'job':40} {'wall s':>8} {'CPU s':>8} {'rows/s/core':>12} {'vs scan':>8}")
    best = {}
    for r in results:
        b = best.get(r["label"])
        if b is None or r["wall"] < b["wall"]:
            best[r["label"]] = r
    scan_rate = rows / best["imei-index scan --threads 2 (CSV)"]["cpu"]
    for label, r in best.items():
        rate = rows / r["cpu"]
        print(f"{label:40} {r['wall']:8.2f} {r['cpu']:8.2f} {rate:12,.0f} {rate / scan_rate:7.2f}x")
    avg = os.getloadavg()
    print(f"load average {avg[0]:.1f} {avg[1]:.1f} {avg[2]:.1f}")


if __name__ == "__main__":
    main()
