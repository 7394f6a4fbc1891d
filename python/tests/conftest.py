"""Fixtures: the command-line tool (the reference the package is compared with), the demo's
files, a small index with every kind of rule, and a local Spark session.

Optional dependencies (pyspark, duckdb, polars) are skipped when missing, unless
``IMEI_INDEX_REQUIRE_ALL=1`` (python/ci sets it), which makes a missing one a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def need(module: str):
    """Imports an optional dependency, or skips (fails under IMEI_INDEX_REQUIRE_ALL=1)."""
    if os.environ.get("IMEI_INDEX_REQUIRE_ALL") == "1":
        return __import__(module)
    return pytest.importorskip(module)


def _target_dir() -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(out)["target_directory"])


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `imei-index` command: $IMEI_INDEX_CLI, else built from this checkout (release;
    a no-op when it is up to date)."""
    given = os.environ.get("IMEI_INDEX_CLI")
    if given:
        return Path(given)
    if shutil.which("cargo") is None:
        pytest.fail("cargo is needed to build the imei-index command the tests compare with")
    env = dict(os.environ)
    env.setdefault("CARGO_BUILD_JOBS", "1")
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "imei-index-cli", "--bin", "imei-index"],
        cwd=ROOT,
        check=True,
        env=env,
    )
    return _target_dir() / "release" / "imei-index"


def run_cli(cli: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cli), *args], input=input, capture_output=True, text=True, check=False
    )


#: Connections in the demo log the tests use: the demo's shape (the order's), smaller.
DEMO_CONNECTIONS = 200_000


@pytest.fixture(scope="session")
def demo(cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the demo's files (list, index, connection log), seeded."""
    d = tmp_path_factory.mktemp("demo")
    out = run_cli(
        cli, "demo", "--dir", str(d), "--checks", "1000", "--connections", str(DEMO_CONNECTIONS)
    )
    assert out.returncode == 0, out.stderr
    return d


SMALL_LIST = """\
# every kind of rule, and precedence between them
imei,status,reason,imsi,date
35209900,blocked,counterfeit,,2024-05-21
352099001761481,allowed,,404685505601234,
35209900100000..35209900199999,tracked,duplicate,,
35209900150000..35209900150099,blocked,stolen,,2024-01-02
352099001761481,tracked,lost,,2023-11-30
354178036859789,blocked,stolen,,2024-05-21
490154203237518,allowed,other,,
"""


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small index (built by the package) with pair, imei, range and TAC rules."""
    import imei_index

    d = tmp_path_factory.mktemp("small")
    (d / "list.csv").write_text(SMALL_LIST)
    imei_index.build([d / "list.csv"], d / "small.imeiidx", serial=7)
    return d / "small.imeiidx"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """A local Spark session on two cores, for the whole test run."""
    need("pyspark")
    need("pandas")
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    java17 = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    if "JAVA_HOME" not in os.environ and java17.is_dir():
        os.environ["JAVA_HOME"] = str(java17)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("imei-index-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
