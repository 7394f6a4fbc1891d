"""scan: the re-verification scan over files, against `imei-index scan`."""

from __future__ import annotations

import re

import pytest

import imei_index
from imei_index import Index, ScanError

from conftest import DEMO_CONNECTIONS, run_cli


def cli_counts(stderr: str) -> dict:
    def number(pattern):
        m = re.search(pattern, stderr)
        assert m, (pattern, stderr)
        return int(m.group(1).replace(",", ""))

    return {
        "rows": number(r"scanned ([\d,]+) rows"),
        "matched": number(r"matched +([\d,]+) rows"),
        "unmatched": number(r"unmatched +([\d,]+) rows"),
        "rejected": number(r"rejected +([\d,]+) rows"),
        "handsets": number(r"handsets +([\d,]+) distinct"),
        "msisdns": number(r"([\d,]+) distinct MSISDNs"),
    }


def test_scan_equals_the_command_line(cli, demo, tmp_path):
    log = demo / "connections.csv"
    index = demo / "national.imeiidx"
    out = run_cli(
        cli, "scan", "--index", str(index), str(log),
        "-o", str(tmp_path / "cli.csv"), "--rejects", str(tmp_path / "cli.rejects.csv"),
    )
    assert out.returncode == 1, out.stderr  # the log has rows that are not IMEIs
    s = imei_index.scan(
        Index(index), log, tmp_path / "py.csv", rejects=tmp_path / "py.rejects.csv", threads=2
    )
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert (tmp_path / "py.rejects.csv").read_bytes() == (tmp_path / "cli.rejects.csv").read_bytes()
    want = cli_counts(out.stderr)
    assert {k: s[k] for k in want} == want
    assert s["rows"] == DEMO_CONNECTIONS == s["matched"] + s["unmatched"] + s["rejected"]
    assert s["imsis"] > 0 and s["not_imei"] == s["rejected"] and s["malformed"] == 0


def test_scan_options(demo, tmp_path):
    log = demo / "connections.csv"
    index = demo / "national.imeiidx"
    by_name = imei_index.scan(index, [log], statuses=["blocked"])
    by_position = imei_index.scan(str(index), log, imei=2, imsi=0, msisdn=False, statuses=("blocked",))
    assert by_name["matched"] == by_position["matched"] == by_name["blocked"]
    assert by_position["msisdns"] is None
    everything = imei_index.scan(index, log, statuses=["blocked", "tracked", "allowed"])
    assert everything["matched"] == by_name["blocked"] + by_name["tracked"] + by_name["allowed"]
    no_pairs = imei_index.scan(index, log, imsi=False)
    assert no_pairs["matched"] > imei_index.scan(index, log)["matched"]  # paired SIMs allowed
    with pytest.raises(ScanError, match="IMEI"):
        imei_index.scan(index, log, imei="nonesuch")
    with pytest.raises(ValueError, match="status"):
        imei_index.scan(index, log, statuses=["black"])
    with pytest.raises(FileNotFoundError):
        imei_index.scan(index, tmp_path / "missing.csv")
    with pytest.raises(ScanError, match="delimiter"):
        imei_index.scan(index, log, delimiter="a")
