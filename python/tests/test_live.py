"""LiveIndex follows a path that new indexes are published to."""

from __future__ import annotations

import os

import pytest

import imei_index
from imei_index import InvalidIndex, LiveIndex


def publish(lines: str, target, serial: int, tmp_path):
    """Builds a list into an index beside the target and renames it into place, as
    `imei-index publish` does: never writing over the mapped file."""
    lst = tmp_path / f"list-{serial}.csv"
    lst.write_text("imei,status,reason,imsi,date\n" + lines)
    staged = tmp_path / f"staged-{serial}.imeiidx"
    imei_index.build(lst, staged, serial=serial)
    os.replace(staged, target)


def test_reload_swaps_in_the_published_index(tmp_path):
    path = tmp_path / "national.imeiidx"
    publish("354178036859789,blocked,stolen,,\n", path, 1, tmp_path)
    live = LiveIndex(path)
    assert live.serial == 1 and live.path == path and "serial=1" in repr(live)
    assert live.check("354178036859789").status == "blocked"
    assert live.reload_if_changed() is None
    publish("354178036859789,allowed,,,\n352099001761481,tracked,,,\n", path, 2, tmp_path)
    assert live.check("354178036859789").status == "blocked"  # until it reloads
    r = live.reload_if_changed()
    assert r["old"]["serial"] == 1 and r["new"] == {
        "serial": 2,
        "rules": 2,
        "bytes": os.path.getsize(path),
    }
    assert live.check("354178036859789").status == "allowed"
    assert live.check_many(["352099001761481"]).column("status").to_pylist() == ["tracked"]
    assert live.stats()["serial"] == 2
    assert live.reload()["new"]["serial"] == 2


def test_a_bad_file_is_refused_and_the_last_good_index_serves(tmp_path):
    path = tmp_path / "national.imeiidx"
    publish("354178036859789,blocked,stolen,,\n", path, 1, tmp_path)
    live = LiveIndex(path, verification="full")
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x89IMEIDX\n garbage")
    os.replace(junk, path)
    with pytest.raises(InvalidIndex):
        live.reload()
    assert live.refused == 1
    assert live.check("354178036859789").status == "blocked"
    os.remove(path)
    with pytest.raises(FileNotFoundError):
        live.reload()
    with pytest.raises(FileNotFoundError):
        LiveIndex(path)
