#!/usr/bin/env python3
"""Size and build speed of a national register's blacklist: the index format with sources,
open reasons and dated rules against the format before them, on the same list.

Opt-in (minutes, ~2 GiB of temporary files at 10M rows), not part of CI:

    cargo build --release -p imei-index-cli                  # the new binary
    git worktree add /tmp/before 37ea426 && cargo build --release -p imei-index-cli \
        --manifest-path /tmp/before/Cargo.toml               # the format before issue 13
    python3 benches/register_10m.py --new target/release/imei-index \
        --old /tmp/before/target/release/imei-index --rows 10000000 --dir /tmp/reg10m

It writes one blacklist of distinct 14-digit IMEIs (4,000 models, rows in no order, as the
register writes them), block dates spread over 2019-2026 and 5 reason combinations, twice:
as the register's file (`imei,block_date,reasons`) and as our own CSV of the format before
(`imei,status,reason,imsi,date`, each combination mapped to one of the six fixed reasons,
the block date as the date). It then builds each with `/usr/bin/time` and prints a Markdown
table: wall time, rows per second, peak memory, index size and bytes per rule.
"""

import argparse
import os
import random
import subprocess
import sys
from datetime import date, timedelta

COMBINATIONS = [
    ("Duplicate IMEI detected", "duplicate"),
    ("IMEI in local stolen list", "stolen"),
    ("Duplicate IMEI detected|IMEI in local stolen list", "fraud"),
    ("Invalid TAC", "counterfeit"),
    ("Invalid TAC|Not found in GSMA TAC database", "other"),
]
MODELS = 4000
FIRST_DAY = date(2019, 1, 1)
DAYS = (date(2026, 12, 31) - FIRST_DAY).days + 1


def write_lists(rows, directory, seed):
    rng = random.Random(seed)
    tacs = rng.sample(range(35_000_000, 36_000_000), MODELS)
    # Each model has rows // MODELS serials at most, spaced so that a random offset keeps
    # them distinct: every IMEI is different without a set of 10M.
    per_model = -(-rows // MODELS)
    spacing = 1_000_000 // per_model
    days = [FIRST_DAY + timedelta(days=d) for d in range(DAYS)]
    dirbs_days = [d.strftime("%Y%m%d") for d in days]
    own_days = [d.isoformat() for d in days]
    dirbs = os.path.join(directory, "20261201_020000_blacklist.csv")
    own = os.path.join(directory, "before.csv")
    with open(dirbs, "w", newline="") as fd, open(own, "w") as fo:
        fd.write("imei,block_date,reasons\r\n")
        fo.write("imei,status,reason,imsi,date\n")
        for i in range(rows):
            serial = (i // MODELS) * spacing + rng.randrange(spacing)
            imei = "%08d%06d" % (tacs[i % MODELS], serial)
            day = rng.randrange(DAYS)
            text, fixed = COMBINATIONS[rng.randrange(len(COMBINATIONS))]
            fd.write("%s,%s,%s\r\n" % (imei, dirbs_days[day], text))
            fo.write("%s,blocked,%s,,%s\n" % (imei, fixed, own_days[day]))
    return dirbs, own


def build(label, argv):
    """Runs one build under /usr/bin/time; returns (label, seconds, peak KiB)."""
    timing = argv[-1] + ".time"
    cmd = ["/usr/bin/time", "-f", "%e %M", "-o", timing] + argv
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(argv), done.stderr))
    seconds, kib = open(timing).read().split()[-2:]
    return label, float(seconds), int(kib)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--new", required=True, help="imei-index of this tree")
    p.add_argument("--old", required=True, help="imei-index of the format before")
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--dir", required=True, help="a directory for lists and indexes")
    p.add_argument("--seed", type=int, default=2026)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    dirbs, own = write_lists(a.rows, a.dir, a.seed)
    out = lambda name: os.path.join(a.dir, name)
    runs = [
        ("format before, our CSV (6 fixed reasons, no dates)", out("before.imeiidx"),
         [a.old, "build", own, "-o", out("before.imeiidx")]),
        ("this format, the same CSV", out("csv.imeiidx"),
         [a.new, "build", own, "-o", out("csv.imeiidx")]),
        ("this format, the register's file (dated, open reasons)", out("dirbs.imeiidx"),
         [a.new, "build", "--format", "dirbs", "--run-id", "1", dirbs,
          "-o", out("dirbs.imeiidx")]),
    ]
    print("| %s rows | build | rows/s | peak memory | index | bytes/rule |" % f"{a.rows:,}")
    print("|---|---:|---:|---:|---:|---:|")
    for label, path, argv in runs:
        _, seconds, kib = build(label, argv)
        size = os.path.getsize(path)
        print("| %s | %.1f s | %.2fM | %d MiB | %.1f MiB | %.2f |" % (
            label, seconds, a.rows / seconds / 1e6, kib // 1024, size / 2**20, size / a.rows))


if __name__ == "__main__":
    main()
