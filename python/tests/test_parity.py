"""Parity: the package answers what the command line answers, and what a plain reference
evaluation of the list's rules (written here in Python, without the index) says."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pytest

import imei_index
from imei_index import Index

from conftest import run_cli

Entry = Tuple[str, Optional[str], Optional[str]]  # status, reason, date
SEVERITY = {"allowed": 0, "tracked": 1, "blocked": 2}


@dataclass
class Rules:
    imei: Dict[int, Entry] = field(default_factory=dict)
    pair: Dict[Tuple[int, str], Entry] = field(default_factory=dict)
    tac: Dict[int, Entry] = field(default_factory=dict)
    ranges: List[Tuple[int, int, Entry]] = field(default_factory=list)


def load(path) -> Rules:
    """The rules of a list file as the demo writes it (one rule per target)."""
    rules = Rules()
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#") or row[0] == "imei":
                continue
            target, status, reason, imsi, date = (row + [""] * 5)[:5]
            entry = (status, reason or None, date or None)
            if ".." in target:
                a, b = target.split("..")
                rules.ranges.append((int(a[:14]), int(b[:14]), entry))
            elif len(target) == 8:
                rules.tac[int(target)] = entry
            elif imsi:
                rules.pair[(int(target[:14]), imsi)] = entry
            else:
                assert int(target[:14]) not in rules.imei, "the demo lists each IMEI once"
                rules.imei[int(target[:14])] = entry
    return rules


def evaluate(rules: Rules, imei: int, imsi: Optional[str] = None):
    """docs/semantics.md, for lists without sources or dates: pair > imei > the narrowest
    range > tac; (rule, entry), or None for unknown."""
    if imsi is not None and (imei, imsi) in rules.pair:
        return "pair", rules.pair[(imei, imsi)]
    if imei in rules.imei:
        return "imei", rules.imei[imei]
    covering = [(b - a, a, e) for a, b, e in rules.ranges if a <= imei <= b]
    if covering:
        width = min(c[0] for c in covering)
        narrowest = [c for c in covering if c[0] == width]
        # Equally narrow ranges: the most severe, then the latest date, then the first.
        narrowest.sort(key=lambda c: (-SEVERITY[c[2][0]], c[2][2] or "", c[1]))
        return "range", narrowest[0][2]
    if imei // 1_000_000 in rules.tac:
        return "tac", rules.tac[imei // 1_000_000]
    return None


def as_row(answer) -> dict:
    if answer is None:
        return {"status": "unknown", "reason": None, "rule": None, "date": None}
    rule, (status, reason, date) = answer
    return {"status": status, "reason": reason, "rule": rule, "date": date}


def probes(rules: Rules, rng: random.Random) -> List[int]:
    """Listed IMEIs and their neighbours, range ends, counterfeit models, random ones."""
    out = []
    for imei in rules.imei:
        out += [imei, imei + 1, imei - 1]
    for a, b, _ in rules.ranges:
        out += [a - 1, a, (a + b) // 2, b, b + 1]
    for tac in rules.tac:
        out += [tac * 1_000_000 + rng.randrange(1_000_000) for _ in range(20)]
    for imei, _ in rules.pair:
        out.append(imei)
    out += [rng.randrange(10**14) for _ in range(5000)]
    return [p for p in out if 0 <= p < 10**14]


def with_check_digit(imei: int) -> str:
    return imei_index.parse_imei(imei)


def test_check_many_equals_a_reference_evaluation(demo):
    rules = load(demo / "national.csv")
    ix = Index(demo / "national.imeiidx")
    ps = probes(rules, random.Random(2024))
    want = [as_row(evaluate(rules, p)) for p in ps]
    assert sum(w["rule"] == "range" for w in want) > 100
    assert {w["rule"] for w in want} == {"imei", "range", "tac", None}
    cols = ["status", "reason", "rule", "date"]
    for arr in [pa.array(ps, pa.int64()), pa.array([with_check_digit(p) for p in ps])]:
        got = ix.check_many(arr).select(cols).to_pylist()
        for g in got:
            g["date"] = g["date"].isoformat() if g["date"] else None
        mismatches = [(p, g, w) for p, g, w in zip(ps, got, want) if g != w]
        assert not mismatches, mismatches[:5]
    # Pair rules, with the paired SIM and another one.
    pairs = list(rules.pair)
    imeis = [i for i, _ in pairs] * 2
    imsis = [s for _, s in pairs] + ["404000000000000"] * len(pairs)
    got = ix.check_many(np.array(imeis, dtype=np.int64), imsis).select(cols).to_pylist()
    for g, i, s in zip(got, imeis, imsis):
        g["date"] = g["date"].isoformat() if g["date"] else None
        assert g == as_row(evaluate(rules, i, s))
        assert ix.check(i, imsi=s).rule == g["rule"]


ODD_INPUTS = [
    "35-211401-686581-1",
    "imeisv-3521140168658107",
    "IMEI-352114016865811",
    "3521140168658107",
    "352114016865812",
    "35211401686581X",
    "mac-00-11-22-33-44-55",
    "35 2114 01686581",
    "3521140168658",
    "869900001234567",
    "00000000000000",
    "99999999999999",
    "-352114016865811",
    "35--211401-686581-1",
    "३५२११४०१६८६५८११",  # digits of another script are not digits here
]


@pytest.mark.parametrize("lenient", [False, True])
def test_check_many_equals_the_command_line(cli, demo, lenient):
    rules = load(demo / "national.csv")
    rng = random.Random(7)
    inputs = ODD_INPUTS + [with_check_digit(p) for p in rng.sample(probes(rules, rng), 3000)]
    args = ["check", "--index", str(demo / "national.imeiidx"), "--json"]
    if lenient:
        args.append("--lenient")
    out = run_cli(cli, *args, input="\n".join(inputs) + "\n")
    assert out.returncode in (0, 1), out.stderr
    expected = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["input"] for e in expected] == inputs
    got = Index(demo / "national.imeiidx").check_many(inputs, lenient=lenient).to_pylist()
    for e, g in zip(expected, got):
        if "error" in e:
            assert (g["status"], g["error"]) == (None, e["error"]), e
        else:
            d = g["date"].isoformat() if g["date"] else None
            assert (g["status"], g["reason"], g["rule"], d, g["check_digit_ok"], g["error"]) == (
                e["status"],
                e["reason"],
                e["rule"],
                e["date"],
                e["check_digit_ok"],
                None,
            ), e
    assert sum("error" in e for e in expected) == (5 if lenient else 6)


def test_check_with_an_imsi_equals_the_command_line(cli, demo):
    rules = load(demo / "national.csv")
    ix = Index(demo / "national.imeiidx")
    for imei, imsi in list(rules.pair)[:5]:
        for sim in [imsi, "404000000000000"]:
            out = run_cli(
                cli, "check", "--index", str(demo / "national.imeiidx"), "--json", "--imsi", sim, str(imei)
            )
            e = json.loads(out.stdout)
            v = ix.check(imei, imsi=sim)
            assert (v.status, v.rule, v.reason) == (e["status"], e["rule"], e["reason"])
