"""build: list files to an index, and its summary."""

from __future__ import annotations

import pytest

import imei_index
from imei_index import Index, InvalidList


def test_summary_accounts_for_every_row(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("imei,status,reason,imsi,date\n35209900,blocked,counterfeit,,\n354178036859789,blocked,stolen,,2024-05-21\n")
    b = tmp_path / "b.csv"
    b.write_text("354178036859789,allowed,,,\n35209900,blocked,,,\n")
    s = imei_index.build([a, str(b)], tmp_path / "x.imeiidx", serial=20240521)
    assert s["rows_read"] == 4 == s["rules_written"] + s["merged"] + s["rejected"]
    assert (s["rules_written"], s["merged"], s["conflicts"], s["rejected"]) == (2, 2, 1, 0)
    assert s["counts"]["tac"]["blocked"] == 1 and s["counts"]["imei"]["blocked"] == 1
    assert s["index_bytes"] == (tmp_path / "x.imeiidx").stat().st_size
    assert s["rejects"] == []
    ix = Index(tmp_path / "x.imeiidx")
    assert ix.serial == 20240521
    assert ix.check("354178036859789").status == "blocked"  # the most severe wins


def test_bad_rows(tmp_path):
    lst = tmp_path / "l.csv"
    lst.write_text("imei,status\n35209900,blocked\n35-209900-176148-X,blocked\n35209901,grey\n")
    out = tmp_path / "l.imeiidx"
    with pytest.raises(InvalidList, match=r"l\.csv:3:18: the imei field") as e:
        imei_index.build(lst, out)
    assert isinstance(e.value, ValueError)
    assert not out.exists()
    s = imei_index.build(lst, out, skip_invalid=True)
    assert (s["rows_read"], s["rules_written"], s["rejected"]) == (3, 2, 1)
    assert len(s["rejects"]) == 1 and s["rejects"][0].startswith(f"{lst}:3:18:")
    with pytest.raises(FileNotFoundError):
        imei_index.build(tmp_path / "missing.csv", out)
