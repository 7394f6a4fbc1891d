"""GSMA's TAC database: build(tac_db=...), Index.device, and the TAC policy at open
(docs/semantics.md, "GSMA's TAC database")."""

from __future__ import annotations

import datetime

import pytest

import imei_index
from imei_index import Index, InvalidIndex, InvalidList, LiveIndex

TACDB = (
    "TAC|Marketing Name|Internal Model Name|Manufacturer|Bands|Allocation Date|Country Code|"
    "Fixed Code|Manufacturer Code|Radio Interface|Brand Name|Model Name|Operating System|NFC|"
    "Bluetooth|WLAN|Device Type\n"
    "35209900|Galaxy S23|SM-S911B|Samsung Korea|GSM 900|01-Feb-2023|410|N|SM|LTE|Samsung|"
    "SM-S911B|Android|Y|Y|Y|Smartphone\n"
    "35417803|iPhone 15|A3090|Apple Inc|GSM 900|12-Sep-2023|310|N|AP|NR|Apple|A3090|iOS|Y|Y|Y|"
    "Smartphone\n"
)


@pytest.fixture()
def index_path(tmp_path):
    lst = tmp_path / "l.csv"
    lst.write_text("imei,status,reason\n35209900176148,blocked,stolen\n49015420,allowed,\n")
    db = tmp_path / "tacdb.txt"
    db.write_text(TACDB)
    out = tmp_path / "l.imeiidx"
    s = imei_index.build(lst, out, tac_db=db)
    assert s["rules_written"] == 2
    return out


def test_device_names_the_model(index_path):
    ix = Index(index_path)
    d = ix.device("35209900")
    assert d == {
        "tac": "35209900",
        "manufacturer": "Samsung Korea",
        "brand": "Samsung",
        "model": "Galaxy S23",
        "device_type": "Smartphone",
        "allocated": datetime.date(2023, 2, 1),
    }
    assert ix.device(35417803)["model"] == "iPhone 15"
    assert ix.device("86000002") is None
    with pytest.raises(ValueError, match="not a TAC"):
        ix.device("3520990")


def test_the_policy_is_off_unless_asked_and_below_every_rule(index_path):
    unallocated = "86000002000015"
    assert Index(index_path).check(unallocated).status == "unknown"
    ix = Index(index_path, tac_policy="blocked", allocated_after="2023-06-01")
    v = ix.check(unallocated)
    assert (v.status, v.rule, v.reason, v.source) == ("blocked", "tac", "TAC not in the TAC database", None)
    v = ix.check("35417803000000")
    assert (v.status, v.reason) == ("blocked", "TAC allocated after the policy's date")
    assert ix.check("35209900000000").status == "unknown"  # allocated before the date
    assert ix.check("35209900176148").status == "blocked"  # its own rule
    assert ix.check("49015420323751").status == "allowed"  # an allowed TAC lifts the policy
    batch = ix.check_many([unallocated, "35209900000000", "49015420323751"])
    assert batch.column("status").to_pylist() == ["blocked", "unknown", "allowed"]
    live = LiveIndex(index_path, tac_policy="tracked")
    assert live.check(unallocated).status == "tracked"
    assert live.device("35417803")["manufacturer"] == "Apple Inc"


def test_a_policy_needs_a_tac_database_and_valid_arguments(tmp_path, index_path):
    lst = tmp_path / "plain.csv"
    lst.write_text("35209900176148,blocked\n")
    plain = tmp_path / "plain.imeiidx"
    imei_index.build(lst, plain)
    with pytest.raises(InvalidIndex, match="holds no TAC database"):
        Index(plain, tac_policy="tracked")
    assert Index(plain).device("35209900") is None
    with pytest.raises(ValueError, match="give \"tracked\" or \"blocked\""):
        Index(index_path, tac_policy="allowed")
    with pytest.raises(ValueError, match="allocated_after needs tac_policy"):
        Index(index_path, allocated_after="2024-01-01")
    with pytest.raises(ValueError, match="not a day"):
        Index(index_path, tac_policy="tracked", allocated_after="2024-02-30")


def test_bad_database_rows_are_located(tmp_path):
    lst = tmp_path / "l.csv"
    lst.write_text("35209900176148,blocked\n")
    db = tmp_path / "tacdb.txt"
    db.write_text(TACDB + "3520990|x|x|Acme|GSM||||||||||||Modem\n")
    with pytest.raises(InvalidList, match=r"tacdb\.txt:4:1: the TAC field is not a TAC"):
        imei_index.build(lst, tmp_path / "x.imeiidx", tac_db=db)
    s = imei_index.build(lst, tmp_path / "x.imeiidx", tac_db=db, skip_invalid=True)
    assert len(s["rejects"]) == 1 and "tacdb.txt:4:1" in s["rejects"][0]
    assert Index(tmp_path / "x.imeiidx").device("35417803")["model"] == "iPhone 15"
