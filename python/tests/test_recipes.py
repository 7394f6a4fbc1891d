"""The recipes of docs/python.md, run as written on the demo's files (in `eir/`)."""

from __future__ import annotations

import os
import re

import pytest

import imei_index
from conftest import ROOT, need


def recipe(title: str) -> str:
    """The ```python block of docs/python.md whose first line is `# Recipe: <title>`."""
    text = (ROOT / "docs" / "python.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if block.startswith(f"# Recipe: {title}\n"):
            return block
    raise AssertionError(f"docs/python.md has no recipe {title!r}")


@pytest.fixture
def in_demo(demo, tmp_path, monkeypatch):
    """A directory where `eir/` holds the demo's files, as the docs assume."""
    os.symlink(demo, tmp_path / "eir")
    monkeypatch.chdir(tmp_path)
    return demo


@pytest.fixture(scope="module")
def matched(demo):
    """What `scan` reports for the demo's log, with pair rules (the recipes pass IMSIs)."""
    return imei_index.scan(demo / "national.imeiidx", demo / "connections.csv")["matched"]


def run(title: str) -> dict:
    scope: dict = {}
    exec(compile(recipe(title), f"docs/python.md: {title}", "exec"), scope)
    return scope


def test_the_api(in_demo):
    run("the API")


def test_duckdb(in_demo, matched):
    need("duckdb")
    hits = run("DuckDB")["hits"]
    rows = hits.fetchall()
    assert len(rows) == matched
    assert {r[4] for r in rows} == {"blocked", "tracked"}


def test_polars(in_demo, matched):
    need("polars")
    hits = run("Polars")["hits"]
    assert hits.height == matched
    assert hits.columns[:4] == ["imsi", "msisdn", "imei", "time"]
    assert set(hits["status"].unique()) == {"blocked", "tracked"}


def test_an_eir_in_python(in_demo):
    check_eir = run("an EIR in Python")["check_eir"]
    # The README's handsets: blocked, a pair rule with its own SIM and with another one,
    # a range, an honest handset, and input that is not an IMEI.
    assert check_eir("404685505601234", "352114016865811") == 1
    assert check_eir("405047013278105", "869900007880504") == 0
    assert check_eir("405535246634252", "869900007880504") == 1
    assert check_eir("not-an-imsi", "869900007880504") == 1
    assert check_eir("404685505601234", "352668254168816") == 2
    assert check_eir("404685505601234", "357721841417736") == 2  # unknown: greylisted
    assert check_eir("404685505601234", "35772184141773X") == 2
