"""An EIR written in Python: PyHSS's Check_EIR against LiveIndex.check, on the same list.

    python python/bench/pyhss_eir.py --dir DIR [--probes 200000]

PyHSS (github.com/nickvsnetworking/pyhss, lib/database.py) answers an S13
ME-Identity-Check with `Check_EIR(imsi, imei)`: a query for exact rows of its `eir` table
(`imei = ?`, `regex_mode = 0`; a row with an IMSI matches only that IMSI), then a query for
every regex row, each tried with `re.match` in Python, first match wins; no match answers
the configured `no_match_response`. The table has no index on `imei` nor on `regex_mode`,
so both queries read the whole table.

Here the demo's national list (DIR/national.csv: 28,200 IMEIs, 40 IMEI+IMSI pairs, 12 TACs,
25 ranges) is loaded into such a table in SQLite: IMEIs and pairs as exact rows; each TAC as
the regex `^TAC`; each range as one regex of the prefixes that tile it (ranges before TACs,
so that the narrower rule is tried first). `check_eir_sql` is Check_EIR's logic with the
sqlite3 module directly: no ORM objects, no logging, no history row written per request
(PyHSS writes one), so it is a lower bound of PyHSS's cost. `check_eir_index` answers the
same from a LiveIndex (docs/python.md). Both answer every probe alike, which is checked.
Probes are IMEIs as S13 carries them (14 digits) with an IMSI: 10% listed handsets, 1% of
counterfeit models, 0.1% paired handsets with their own SIM, the rest unlisted handsets of
listed models.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sqlite3
import time

import imei_index

S13 = {"allowed": 0, "blocked": 1, "tracked": 2}  # WHITELISTED, BLACKLISTED, GREYLISTED
NO_MATCH = 2  # PyHSS's default no_match_response: greylist


def range_regex(first: int, last: int) -> str:
    """A regex of the prefixes that tile [first, last] (14-digit IMEIs)."""
    prefixes = []
    a = first
    while a <= last:
        k = 0
        while k < 14 and a % 10 ** (k + 1) == 0 and a + 10 ** (k + 1) - 1 <= last:
            k += 1
        prefixes.append(f"{a:014d}"[: 14 - k])
        a += 10**k
    return "^(?:" + "|".join(prefixes) + ")"


def load(con: sqlite3.Connection, list_path: str) -> dict:
    con.execute(
        "CREATE TABLE eir (eir_id INTEGER PRIMARY KEY, imei VARCHAR(60), imsi VARCHAR(60), "
        "regex_mode INTEGER DEFAULT 1, match_response_code INTEGER)"
    )
    rows, regex_tac, regex_range = [], [], []
    rules = {"imei": [], "pair": [], "tac": [], "range": []}
    with open(list_path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#") or row[0] == "imei":
                continue
            target, status, _reason, imsi, _date = (row + [""] * 5)[:5]
            code = S13[status]
            if ".." in target:
                a, b = (int(x[:14]) for x in target.split(".."))
                regex_range.append((range_regex(a, b), "", 1, code))
                rules["range"].append((a, b))
            elif len(target) == 8:
                regex_tac.append(("^" + target, "", 1, code))
                rules["tac"].append(target)
            else:
                rows.append((target[:14], imsi, 0, code))
                rules["pair" if imsi else "imei"].append((target[:14], imsi))
    con.executemany(
        "INSERT INTO eir (imei, imsi, regex_mode, match_response_code) VALUES (?, ?, ?, ?)",
        rows + regex_range + regex_tac,
    )
    con.commit()
    return rules


def check_eir_sql(con: sqlite3.Connection, imsi: str, imei: str) -> int:
    """Check_EIR's logic (lib/database.py), on sqlite3."""
    for row_imsi, code in con.execute(
        "SELECT imsi, match_response_code FROM eir WHERE imei = ? AND regex_mode = 0", (imei,)
    ):
        if row_imsi == "" or row_imsi == imsi:
            return code
    for pattern, row_imsi, code in con.execute(
        "SELECT imei, imsi, match_response_code FROM eir WHERE regex_mode = 1"
    ):
        if re.match(pattern, imei):
            if len(row_imsi) != 0:
                if re.match(row_imsi, imsi):
                    return code
            else:
                return code
    return NO_MATCH


def make_check_eir_index(index: imei_index.LiveIndex):
    def check_eir_index(imsi: str, imei: str) -> int:
        """Check_EIR answered from the index (the recipe in docs/python.md)."""
        try:
            verdict = index.check(imei, imsi=imsi)
        except imei_index.InvalidImsi:
            verdict = index.check(imei)
        except imei_index.InvalidImei:
            return NO_MATCH
        return S13.get(verdict.status, NO_MATCH)

    return check_eir_index


def probes(rules: dict, n: int, seed: int = 2024) -> list:
    rng = random.Random(seed)
    listed = [i for i, _ in rules["imei"]]
    tacs = sorted({i[:8] for i in listed})
    out = []
    for _ in range(n):
        x = rng.random()
        imsi = f"40{rng.randrange(4, 6)}{rng.randrange(10**12):012d}"
        if x < 0.10:
            imei = rng.choice(listed)
        elif x < 0.11:
            imei = rng.choice(rules["tac"]) + f"{rng.randrange(10**6):06d}"
        elif x < 0.111:
            imei, imsi = rng.choice(rules["pair"])
        else:
            imei = rng.choice(tacs) + f"{rng.randrange(10**6):06d}"
        out.append((imsi, imei))
    return out


def per_check(f, ps) -> float:
    t = time.perf_counter()
    for imsi, imei in ps:
        f(imsi, imei)
    return (time.perf_counter() - t) / len(ps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--probes", type=int, default=200_000)
    args = ap.parse_args()
    con = sqlite3.connect(":memory:")
    rules = load(con, os.path.join(args.dir, "national.csv"))
    index = imei_index.LiveIndex(os.path.join(args.dir, "national.imeiidx"))
    check_eir_index = make_check_eir_index(index)
    ps = probes(rules, args.probes)
    regexes = con.execute("SELECT count(*) FROM eir WHERE regex_mode = 1").fetchone()[0]
    exact = con.execute("SELECT count(*) FROM eir WHERE regex_mode = 0").fetchone()[0]
    print(f"eir table: {exact:,} exact rows, {regexes} regex rows; {len(ps):,} probes")

    few = ps[: max(200, len(ps) // 1000)]
    sql = lambda imsi, imei: check_eir_sql(con, imsi, imei)  # noqa: E731
    answers = [sql(*p) for p in few]
    assert answers == [check_eir_index(*p) for p in few], "the two EIRs disagree"
    results = [("Check_EIR, PyHSS's table (no index on imei)", per_check(sql, few), len(few))]
    # What an operator would add: indexes for both queries.
    con.execute("CREATE INDEX eir_imei ON eir (imei)")
    con.execute("CREATE INDEX eir_regex_mode ON eir (regex_mode)")
    some = ps[: max(2000, len(ps) // 20)]
    assert [sql(*p) for p in some] == [check_eir_index(*p) for p in some], "the two EIRs disagree"
    results.append(("Check_EIR, indexes on imei and regex_mode", per_check(sql, some), len(some)))
    results.append(("LiveIndex.check (check_eir_index)", per_check(check_eir_index, ps), len(ps)))
    imeis = [imei for _, imei in ps]
    imsis = [imsi for imsi, _ in ps]
    index.check_many(imeis[:10], imsis[:10])  # pyarrow's first list conversion imports pandas
    t = time.perf_counter()
    index.check_many(imeis, imsis)
    results.append(("LiveIndex.check_many (lists in)", (time.perf_counter() - t) / len(ps), len(ps)))
    base = results[-2][1]
    print(f"{'how':46} {'µs/check':>10} {'checks/s':>12} {'x LiveIndex.check':>18}")
    for label, secs, n in results:
        print(f"{label:46} {secs * 1e6:10.2f} {1 / secs:12,.0f} {secs / base:17.1f}x")
    codes = [check_eir_index(*p) for p in ps[:20000]]
    print("answers of the first 20,000 probes:", {c: codes.count(c) for c in sorted(set(codes))})
    avg = os.getloadavg()
    print(f"load average {avg[0]:.1f} {avg[1]:.1f} {avg[2]:.1f}")


if __name__ == "__main__":
    main()
