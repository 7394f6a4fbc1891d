"""Index.check_many from Python against the library's check_many in Rust, per IMEI.

    python python/bench/check_many.py [--dir DIR] [--n 1000000] [--repeats 7]

DIR holds the demo's files (`imei-index demo --dir DIR`); without it the demo is run into a
temporary directory (the `imei-index` command must be on PATH or in cargo's target
directory). Probes are drawn from the demo's list as docs/performance.md draws them:
"realistic" (0.1% listed handsets, the rest unlisted handsets of the same models) and
"50/50" (half listed, half uniform over all 10^14 IMEIs). Rust's time is
`Index::check_many(&[Imei])` on the same probes, parsed beforehand, timed inside the same
process (`imei_index._native._rust_check_many_seconds`); Python's is the whole call, from
the Arrow array (or numpy array, or list) in to the RecordBatch out. Best of `repeats`.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pyarrow as pa

import imei_index
from imei_index import _native


def listed_imeis(list_path: str) -> np.ndarray:
    out = []
    with open(list_path, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 4 and len(row[0]) == 15 and row[0].isdigit() and not row[3]:
                out.append(int(row[0][:14]))
    return np.array(sorted(out), dtype=np.int64)


def luhn(imeis: np.ndarray) -> np.ndarray:
    digits = np.stack([(imeis // 10 ** (13 - i)) % 10 for i in range(14)])
    doubled = digits[1::2] * 2
    total = digits[0::2].sum(axis=0) + (doubled // 10 + doubled % 10).sum(axis=0)
    return (10 - total % 10) % 10


def probes(listed: np.ndarray, n: int, kind: str, seed: int = 2024) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "realistic":
        tacs = listed // 1_000_000
        out = tacs[rng.integers(0, len(listed), n)] * 1_000_000 + rng.integers(0, 1_000_000, n)
        hit = rng.random(n) < 0.001
        out[hit] = listed[rng.integers(0, len(listed), int(hit.sum()))]
        return out
    out = rng.integers(0, 10**14, n, dtype=np.int64)
    out[::2] = listed[rng.integers(0, len(listed), len(out[::2]))]
    return out


def best(f, repeats: int) -> float:
    f()  # warm up: page the index and the allocator in
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def demo_dir(given: str | None) -> str:
    if given:
        return given
    d = tempfile.mkdtemp(prefix="imei-index-bench-")
    cli = shutil.which("imei-index") or os.path.join("target", "release", "imei-index")
    subprocess.run([cli, "demo", "--dir", d, "--checks", "1000", "--connections", "1000"], check=True,
                   stdout=subprocess.DEVNULL)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    d = demo_dir(args.dir)
    ix = imei_index.Index(os.path.join(d, "national.imeiidx"))
    listed = listed_imeis(os.path.join(d, "national.csv"))
    n = args.n
    print(f"{n:,} probes, best of {args.repeats}; ns per IMEI (x Rust's check_many)")
    print(f"{'input':34} {'realistic':>16} {'50/50':>16}")
    rows = {}
    for kind in ("realistic", "50/50"):
        p = probes(listed, n, kind)
        ints = pa.array(p)
        text = [f"{v:014d}{c}" for v, c in zip(p.tolist(), luhn(p).tolist())]
        utf8 = pa.array(text, pa.string())
        rust = min(_native._rust_check_many_seconds(ix, ints, args.repeats + 1)[1:])
        cases = {
            "Rust Index::check_many(&[Imei])": rust,
            "pyarrow int64 array": best(lambda: ix.check_many(ints), args.repeats),
            "numpy int64 array": best(lambda: ix.check_many(p), args.repeats),
            "pyarrow string array (15 digits)": best(lambda: ix.check_many(utf8), args.repeats),
            "pyarrow large_string array": best(
                lambda: ix.check_many(utf8.cast(pa.large_string())), args.repeats
            ),
            "list of str (pa.array included)": best(lambda: ix.check_many(text), max(2, args.repeats // 3)),
        }
        for name, secs in cases.items():
            rows.setdefault(name, {})[kind] = (secs * 1e9 / n, secs / rust)
    for name, by_kind in rows.items():
        cells = [f"{ns:7.0f} ({ratio:4.2f}x)" for ns, ratio in (by_kind[k] for k in ("realistic", "50/50"))]
        print(f"{name:34} {cells[0]:>16} {cells[1]:>16}")
    avg = os.getloadavg()
    print(f"load average {avg[0]:.1f} {avg[1]:.1f} {avg[2]:.1f}")


if __name__ == "__main__":
    main()
