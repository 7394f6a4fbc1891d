"""check_many: every input type, the exact output schema, nulls and errors per row, the
Arrow C Data Interface under slices, chunks and nulls, memory, and the GIL."""

from __future__ import annotations

import datetime
import gc
import random
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

import imei_index
from imei_index import Index, InvalidImei, LiveIndex

SCHEMA = pa.schema(
    [
        ("status", pa.string()),
        ("reason", pa.string()),
        ("rule", pa.string()),
        ("source", pa.string()),
        ("date", pa.date32()),
        ("check_digit_ok", pa.bool_()),
        ("error", pa.string()),
    ]
)

INPUTS = [
    "352099001761481",
    "35209900176148",
    "35209900150050",
    "35209900050000",
    "354178036859789",
    "354178036859781",  # a wrong check digit
    "35209900176148X",
    "",
    None,
    "86990000123456",
    "imeisv-3520990017614807",
    "35-417803-685978-9",
]


def expected_row(ix, value, imsi=None, lenient=False):
    """What one row must hold: the single check's answer, or its error."""
    # A row that could not be checked: every column null but the error.
    nulls = [None] * (len(SCHEMA.names) - 1)
    if value is None:
        return dict(zip(SCHEMA.names, nulls + ["the IMEI is missing (null)"]))
    try:
        v = ix.check(value, lenient=lenient)
    except InvalidImei as e:
        return dict(zip(SCHEMA.names, nulls + [str(e)]))
    note = None
    if imsi is not None:
        try:
            v = ix.check(value, imsi=imsi, lenient=lenient)
        except imei_index.InvalidImsi as e:
            note = f"IMSI ignored: {e}"
    d = v.as_dict()
    del d["imei"]
    d["error"] = note
    return d


def rows(batch):
    return batch.to_pylist()


def test_schema_and_rows(small):
    ix = Index(small)
    rb = ix.check_many(INPUTS)
    assert isinstance(rb, pa.RecordBatch)
    assert rb.schema == SCHEMA
    assert imei_index.verdict_schema() == SCHEMA
    assert imei_index.COLUMNS == SCHEMA.names
    rb.validate(full=True)
    assert rows(rb) == [expected_row(ix, x) for x in INPUTS]
    by_input = dict(zip(INPUTS, rows(rb)))
    assert by_input["35209900176148X"]["status"] is None
    assert "position 15" in by_input["35209900176148X"]["error"]
    assert by_input["86990000123456"]["status"] == "unknown"
    assert by_input["354178036859789"]["date"] == datetime.date(2024, 5, 21)


def test_lenient(small):
    ix = Index(small)
    rb = ix.check_many(["354178036859781", "354178036859789"], lenient=True)
    assert rb.column("status").to_pylist() == ["blocked", "blocked"]
    assert rb.column("check_digit_ok").to_pylist() == [False, True]


@pytest.mark.parametrize(
    "make",
    [
        lambda v: v,
        lambda v: pa.array(v, pa.string()),
        lambda v: pa.array(v, pa.large_string()),
        lambda v: pa.array(v, pa.string_view()),
        lambda v: pa.chunked_array([pa.array(v[:5], pa.string()), pa.array(v[5:], pa.string())]),
        lambda v: np.array([x if x is not None else "" for x in v], dtype=object),
    ],
    ids=["list", "utf8", "large_utf8", "utf8_view", "chunked", "numpy_object"],
)
def test_string_inputs(small, make):
    ix = Index(small)
    values = INPUTS
    got = rows(ix.check_many(make(values)))
    if isinstance(make(values), np.ndarray):
        values = [x if x is not None else "" for x in values]
    assert got == [expected_row(ix, x) for x in values]


def test_integer_inputs(small):
    ix = Index(small)
    numbers = [35209900176148, 35417803685978, 86990000123456, 0, 99999999999999]
    want = [expected_row(ix, n) for n in numbers]
    for arr in [
        numbers,
        np.array(numbers, dtype=np.int64),
        np.array(numbers, dtype=np.uint64),
        pa.array(numbers, pa.int64()),
        pa.array(numbers, pa.uint64()),
    ]:
        assert rows(ix.check_many(arr)) == want
    small_ints = [5, 7]
    for t in (pa.int32(), pa.uint32()):
        assert rows(ix.check_many(pa.array(small_ints, t))) == [expected_row(ix, n) for n in small_ints]
    bad = rows(ix.check_many(pa.array([-5, 10**14, None], pa.int64())))
    assert [r["status"] for r in bad] == [None, None, None]
    assert "-5 is not an IMEI" in bad[0]["error"] and "too large" in bad[1]["error"]
    assert bad[2]["error"] == "the IMEI is missing (null)"


def test_imsis_apply_pair_rules(small):
    ix = Index(small)
    imeis = ["352099001761481"] * 4 + ["bad"]
    imsis = ["404685505601234", "404685505601235", None, "12", "404685505601234"]
    got = rows(ix.check_many(imeis, imsis))
    assert [r["rule"] for r in got] == ["pair", "imei", "imei", "imei", None]
    assert got[3]["error"].startswith("IMSI ignored: the IMSI has 2 digits")
    assert got[3]["status"] == "tracked"
    assert got == [expected_row(ix, a, b) for a, b in zip(imeis, imsis)]
    assert rows(ix.check_many(pa.array(imeis), pa.array([404685505601234] * 5))) [0]["rule"] == "pair"
    with pytest.raises(ValueError, match="5 IMEIs but 2 IMSIs"):
        ix.check_many(imeis, imsis[:2])


def test_refused_inputs(small):
    ix = Index(small)
    with pytest.raises(TypeError, match="use check"):
        ix.check_many("352099001761481")
    with pytest.raises(TypeError, match="floating point"):
        ix.check_many(pa.array([1.5]))
    with pytest.raises(TypeError, match="dictionary"):
        ix.check_many(pa.array(["a", "b"]).dictionary_encode())
    with pytest.raises(TypeError, match="a struct"):
        ix.check_many(ix.check_many(["1"]))
    empty = ix.check_many([])
    assert empty.num_rows == 0 and empty.schema == SCHEMA
    empty.validate(full=True)
    assert ix.check_many(pa.array([None, None])).column("error").to_pylist() == [
        "the IMEI is missing (null)"
    ] * 2


def random_inputs(rng: random.Random, n: int):
    forms = [
        lambda: "35209900" + f"{rng.randrange(10**6):06d}",
        lambda: imei_index.parse_imei("35209900" + f"{rng.randrange(10**6):06d}"),
        lambda: "354178036859789",
        lambda: "3541780368597" + str(rng.randrange(100)),
        lambda: "x" * rng.randrange(20),
        lambda: None,
        lambda: "86990000" + f"{rng.randrange(10**6):06d}",
    ]
    return [rng.choice(forms)() for _ in range(n)]


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 63, 64, 65, 1000, 5000])
def test_arrow_round_trip_under_slices_chunks_and_nulls(small, n):
    ix = Index(small)
    rng = random.Random(n)
    values = random_inputs(rng, n + 20)
    want = [expected_row(ix, x) for x in values]
    arr = pa.array(values, pa.string())
    for start, stop in [(0, n), (3, 3 + n), (17, 17 + n)]:
        got = ix.check_many(arr.slice(start, stop - start))
        got.validate(full=True)
        assert rows(got) == want[start:stop]
        view = pa.array(values, pa.string_view()).slice(start, stop - start)
        assert rows(ix.check_many(view)) == want[start:stop]
    cut = sorted(rng.sample(range(n + 21), min(4, n + 21)))
    chunks = [arr.slice(a, b - a) for a, b in zip([0] + cut, cut + [n + 20]) if b >= a]
    assert rows(ix.check_many(pa.chunked_array(chunks, pa.string()))) == want


def test_results_compose_with_pyarrow(small):
    ix = Index(small)
    rb = ix.check_many(INPUTS * 100)
    table = pa.Table.from_batches([rb, ix.check_many(INPUTS)])
    assert table.num_rows == 101 * len(INPUTS)
    counts = dict(zip(*[c.to_pylist() for c in rb.column("status").value_counts().flatten()]))
    assert counts[None] == 4 * 100  # 4 of the 12 inputs are not IMEIs
    # The columns survive the batch that exported them.
    status = rb.column("status")
    del rb, table
    gc.collect()
    assert status.to_pylist()[:2] == ["tracked", "tracked"]


def test_no_memory_is_kept(small):
    ix = Index(small)
    # 300,000 rows make about 9 MB of columns a call: a leak would show at once.
    values = pa.array(np.arange(35209900000000, 35209900300000, dtype=np.int64))
    mixed = pa.array(random_inputs(random.Random(3), 10_000), pa.string())
    ix.check_many(values)
    gc.collect()
    before = pa.total_allocated_bytes()
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(15):
        rb = ix.check_many(values)
        del rb
        ix.check_many(mixed)
    gc.collect()
    # Our buffers are Rust allocations that pyarrow wraps and releases: nothing is taken
    # from pyarrow's pool, and the process does not grow with every call.
    assert pa.total_allocated_bytes() == before
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < rss + 60_000  # KiB


def test_the_gil_is_released(small):
    """Python code runs while a large batch is checked on another thread."""
    ix = Index(small)
    values = pa.array(np.full(3_000_000, 35209900176148, dtype=np.int64))
    done = threading.Event()
    ran = 0

    def work():
        ix.check_many(values)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    started = time.perf_counter()
    while not done.is_set():
        ran += 1
    elapsed = time.perf_counter() - started
    t.join()
    # With the GIL held for the whole call, this loop could not run at all meanwhile.
    assert elapsed < 0.05 or ran > 10_000, (ran, elapsed)


def test_live_index_batches(small, tmp_path):
    path = tmp_path / "live.imeiidx"
    path.write_bytes(small.read_bytes())
    live = LiveIndex(path)
    assert rows(live.check_many(INPUTS)) == rows(Index(small).check_many(INPUTS))
