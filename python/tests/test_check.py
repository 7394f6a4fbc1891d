"""Index, Verdict, single checks, identifiers and errors."""

from __future__ import annotations

import datetime
import os
import threading

import pytest

import imei_index
from imei_index import Index, InvalidImei, InvalidImsi, InvalidIndex


def test_verdicts_follow_precedence(small):
    ix = Index(small)
    v = ix.check("352099001761481")
    assert (v.status, v.reason, v.rule, v.date) == (
        "tracked",
        "lost",
        "imei",
        datetime.date(2023, 11, 30),
    )
    assert v.is_listed and v.check_digit_ok and v.imei == "352099001761481"
    # The pair rule applies with its SIM only.
    assert ix.check("352099001761481", imsi="404685505601234").rule == "pair"
    assert ix.check("352099001761481", imsi="404685505601234").status == "allowed"
    assert ix.check("352099001761481", imsi="404685505601235").rule == "imei"
    # The narrowest range wins over a wider one, a range over the TAC.
    assert ix.check("35209900150050").as_dict()["reason"] == "stolen"
    assert ix.check("35209900150100").reason == "duplicate"
    assert ix.check("35209900050000").rule == "tac"
    assert ix.check("49015420323751").status == "allowed"
    nobody = ix.check("86990000123456")
    assert (nobody.status, nobody.reason, nobody.rule, nobody.date) == ("unknown", None, None, None)
    assert not nobody.is_listed


def test_identifier_forms(small):
    ix = Index(small)
    same = [
        "352099001761481",
        "35209900176148",
        "35-209900-176148-1",
        "35 209900 176148 1",
        "3520990017614823",  # IMEISV
        "imei-352099001761481",
        "IMEISV-3520990017614807",
        35209900176148,
    ]
    verdicts = {ix.check(x) for x in same}
    assert len(verdicts) == 1, verdicts
    assert imei_index.parse_imei("35-209900-176148-23") == "352099001761481"
    assert imei_index.check_digit("26053179311383") == 7  # TS 23.003 Annex B
    assert imei_index.check_digit(26053179311383) == 7
    assert imei_index.parse_imsi("imsi-001010123456789") == "001010123456789"


@pytest.mark.parametrize(
    "bad, says",
    [
        ("35209900176148X", "character 'X' at position 15"),
        ("354178036859781", "check digit is 1"),
        ("3520990017614", "13 digits"),
        ("", "empty"),
        ("mac-00-11-22-33-44-55", "MAC address"),
        ("-35209900176148", "separator"),
        (-1, "-1 is not an IMEI"),
        (10**14, "too large"),
    ],
)
def test_invalid_imeis_raise_typed_errors(small, bad, says):
    ix = Index(small)
    with pytest.raises(InvalidImei, match=says) as e:
        ix.check(bad)
    assert isinstance(e.value, ValueError) and isinstance(e.value, imei_index.Error)
    assert e.value.input == bad
    with pytest.raises(InvalidImei):
        imei_index.parse_imei(bad)


def test_lenient_reads_forged_check_digits(small):
    ix = Index(small)
    v = ix.check("354178036859781", lenient=True)
    assert (v.status, v.check_digit_ok, v.imei) == ("blocked", False, "354178036859789")
    assert "check_digit_ok=False" in repr(v)
    assert imei_index.parse_imei("354178036859781", lenient=True) == "354178036859789"


def test_wrong_types_and_imsis(small):
    ix = Index(small)
    with pytest.raises(TypeError, match="an IMEI is a str"):
        ix.check(3.5)
    with pytest.raises(TypeError):
        ix.check(True)
    with pytest.raises(InvalidImsi, match="IMSI") as e:
        ix.check("352099001761481", imsi="4046")
    assert isinstance(e.value, ValueError)
    with pytest.raises(InvalidImsi):
        ix.check("352099001761481", imsi="4046855056012345")
    assert ix.check("352099001761481", imsi=404685505601234).rule == "pair"


def test_verdict_values(small):
    ix = Index(small)
    a, b = ix.check("354178036859789"), ix.check(35417803685978)
    assert a == b and hash(a) == hash(b) and a != ix.check("352099001761481")
    assert repr(a) == (
        "Verdict(imei='354178036859789', status='blocked', reason='stolen', rule='imei', "
        "date=datetime.date(2024, 5, 21))"
    )
    assert a.as_dict() == {
        "imei": "354178036859789",
        "status": "blocked",
        "reason": "stolen",
        "rule": "imei",
        "source": "local",
        "date": datetime.date(2024, 5, 21),
        "check_digit_ok": True,
    }


def test_opening(small, tmp_path):
    for level in ("trusted", "checksums", "full"):
        ix = Index(small, verification=level)
        assert ix.serial == 7 and ix.path == small
    assert Index(small, populate=True).stats()["rules"] == 7
    with pytest.raises(ValueError, match="verification"):
        Index(small, verification="none")
    with pytest.raises(FileNotFoundError) as e:
        Index(tmp_path / "missing.imeiidx")
    assert e.value.filename == str(tmp_path / "missing.imeiidx")
    junk = tmp_path / "junk.imeiidx"
    junk.write_bytes(b"not an index at all")
    with pytest.raises(InvalidIndex, match="not a usable index"):
        Index(junk)
    data = small.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    with pytest.raises(InvalidIndex):
        Index.from_bytes(bytes(flipped))
    # trusted skips the section checksums: the damage goes unnoticed at open.
    Index.from_bytes(bytes(flipped), verification="trusted")
    ix = Index.from_bytes(data)
    assert ix.path is None and ix.check("354178036859789").status == "blocked"
    assert repr(ix) == "Index(<bytes>, serial=7, rules=7)"


def test_stats(small):
    s = Index(small).stats()
    assert s["serial"] == 7 and s["rules"] == 7 and s["format_version"] == 1
    assert s["counts"]["pair"] == {"blocked": 0, "tracked": 0, "allowed": 1}
    assert s["counts"]["range"] == {"blocked": 1, "tracked": 1, "allowed": 0}
    assert s["file_bytes"] == os.path.getsize(small)
    assert set(s["sections"]) >= {"entries", "imei", "tac", "pair", "range", "segments"}


def test_many_threads_share_an_index(small):
    ix = Index(small)
    errors = []

    def work():
        try:
            for _ in range(2000):
                assert ix.check("354178036859789").status == "blocked"
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
