"""A plain model of an imei-index list file, for computing what an EIR must answer.

The conformance scripts read the demo's list (CSV: imei,status,reason,imsi,date) and pick
their test cases and expected answers from it here, independently of the Rust code: the most
specific rule wins (IMEI+IMSI pair > exact IMEI > narrowest range > whole TAC).
"""

import csv

# S13 Equipment-Status codes (TS 29.272) and N5g-eir EquipmentStatus (TS 29.511).
S13_CODE = {"allowed": 0, "blocked": 1, "tracked": 2}
N5G_STATUS = {"allowed": "WHITELISTED", "blocked": "BLACKLISTED", "tracked": "GREYLISTED"}


def digits(text):
    return "".join(c for c in text if c.isdigit())


def luhn(body14):
    """The check digit of 14 IMEI digits (TS 23.003 Annex B)."""
    total = 0
    for i, c in enumerate(reversed(body14)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            d = d // 10 + d % 10
        total += d
    return str((10 - total % 10) % 10)


def imei15(body14):
    return body14 + luhn(body14)


class Lists:
    def __init__(self, path):
        self.imeis = {}
        self.pairs = {}
        self.ranges = []
        self.tacs = {}
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
        for row in rows:
            target, status = row[0].strip(), row[1].strip().lower()
            if target == "imei":
                continue
            imsi = row[3].strip() if len(row) > 3 else ""
            if ".." in target:
                first, last = (digits(x)[:14] for x in target.split(".."))
                self.ranges.append((int(first), int(last), status))
            elif len(digits(target)) == 8:
                self.tacs[digits(target)] = status
            elif imsi:
                self.pairs[(digits(target)[:14], imsi)] = status
            else:
                self.imeis[digits(target)[:14]] = status

    def verdict(self, body14, imsi=None):
        """The status the lists give the IMEI (14 digits) with the IMSI, or None."""
        if imsi is not None and (body14, imsi) in self.pairs:
            return self.pairs[(body14, imsi)]
        if body14 in self.imeis:
            return self.imeis[body14]
        n = int(body14)
        covering = [(last - first, status) for first, last, status in self.ranges if first <= n <= last]
        if covering:
            return min(covering)[1]
        return self.tacs.get(body14[:8])

    def cases(self):
        """(description, 14-digit IMEI, IMSI or None, expected status or None) to check."""
        out = []
        for status in ("blocked", "tracked", "allowed"):
            for imei, s in sorted(self.imeis.items()):
                if s == status and self.verdict(imei) == status:
                    out.append((f"listed IMEI ({status})", imei, None, status))
                    break
        for first, last, status in sorted(self.ranges)[:2]:
            mid = str((first + last) // 2).zfill(14)
            out.append(("inside a range", mid, None, self.verdict(mid)))
        tac = sorted(self.tacs)[0]
        out.append(("whole TAC", tac + "123456", None, self.verdict(tac + "123456")))
        (imei, imsi), status = sorted(self.pairs.items())[0]
        out.append(("pair with its IMSI", imei, imsi, status))
        other = "001010000000001"
        out.append(("pair IMEI with another IMSI", imei, other, self.verdict(imei, other)))
        found = 0
        for serial in range(100000):
            candidate = "49015420" + str(serial).zfill(6)
            if self.verdict(candidate) is None:
                out.append(("unlisted", candidate, None, None))
                found += 1
                if found == 2:
                    break
        assert found == 2, "no unlisted IMEI found in TAC 49015420"
        assert any(s is None for *_, s in out) and any(s for *_, s in out)
        return out
