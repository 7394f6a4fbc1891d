"""The N5g-eir example (examples/n5g_eir) against 3GPP's OpenAPI file, case by case: the
verdicts of the demo list (from a plain model of it), IMEISV PEIs, pairs via SUPI and
malformed parameters, each response checked for its exact answer and validated against
TS29511_N5g-eir_EquipmentIdentityCheck.yaml by schemathesis. The generated requests of
`schemathesis run` (in .ci/protocols) cover what these cases do not.

usage: n5g_eir_cases.py SPEC BASE_URL LIST.csv
Prints each failed check and a closing "N passed, N failed" line; exits non-zero on failure.
"""

import sys

import schemathesis

import eir_model

passed = 0
failed = 0


def check(what, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what} {detail}")


def content_type(response):
    value = response.headers.get("content-type")
    return value[0] if isinstance(value, list) else value


def main():
    spec, base_url, list_path = sys.argv[1], sys.argv[2], sys.argv[3]
    operation = schemathesis.openapi.from_path(spec)["/equipment-status"]["GET"]
    lists = eir_model.Lists(list_path)

    def get(what, query):
        case = operation.Case(query=query)
        response = case.call(base_url=base_url)
        try:
            case.validate_response(response)
            check(f"{what}: conforms to TS 29.511", True)
        except Exception as e:  # schemathesis raises a group of failures
            check(f"{what}: conforms to TS 29.511", False, str(e)[:2000])
        check(f"{what}: no 5xx", response.status_code < 500, str(response.status_code))
        return response

    def expect_status(what, query, status):
        r = get(what, query)
        if status is None:
            check(f"{what}: 404", r.status_code == 404, f"{r.status_code} {r.text}")
            check(f"{what}: problem+json", content_type(r) == "application/problem+json", content_type(r))
            check(f"{what}: ERROR_EQUIPMENT_UNKNOWN", r.status_code == 404 and r.json().get("cause") == "ERROR_EQUIPMENT_UNKNOWN")
        else:
            check(f"{what}: 200", r.status_code == 200, f"{r.status_code} {r.text}")
            check(f"{what}: application/json", content_type(r) == "application/json", content_type(r))
            check(f"{what}: {eir_model.N5G_STATUS[status]}", r.status_code == 200 and r.json() == {"status": eir_model.N5G_STATUS[status]}, r.text)

    for what, body, imsi, status in lists.cases():
        query = {"pei": "imei-" + eir_model.imei15(body)}
        if imsi is not None:
            query["supi"] = "imsi-" + imsi
        expect_status(f"{what} {query}", query, status)
        query = dict(query, pei="imeisv-" + body + "07")
        expect_status(f"{what} {query}", query, status)
        query["gpsi"] = "msisdn-919876543210"
        expect_status(f"{what} {query}", query, status)

    _, body, _, status = lists.cases()[0]
    forged = body + str((int(eir_model.luhn(body)) + 1) % 10)
    expect_status("forged check digit", {"pei": "imei-" + forged}, status)
    expect_status("MAC PEI", {"pei": "mac-00-11-22-33-44-55"}, None)

    malformed = [
        ({"pei": "imei-" + body + "x"}, "pei"),
        ({"pei": "imei-" + body}, "pei"),
        ({"pei": "imei-0123456789012345"}, "pei"),
        ({"pei": "imeisv-" + body}, "pei"),
        ({"pei": body + "0"}, "pei"),
        ({"pei": ""}, "pei"),
        ({"pei": "mac-zz-11-22-33-44-55"}, "pei"),
        ({"pei": "\u00e9\u00e9"}, "pei"),
        ({"supi": "imsi-404685505601234"}, "pei"),
        ({"pei": "imei-" + eir_model.imei15(body), "supi": "imsi-1234"}, "supi"),
        ({"pei": "imei-" + eir_model.imei15(body), "supi": "imsi-40468550560123x"}, "supi"),
        ({"pei": "imei-" + eir_model.imei15(body), "supi": "404685505601234"}, "supi"),
        ({"pei": "imei-" + eir_model.imei15(body), "gpsi": "msisdn-"}, "gpsi"),
    ]
    for query, param in malformed:
        r = get(f"malformed {query}", query)
        check(f"malformed {query}: 400", r.status_code == 400, f"{r.status_code} {r.text}")
        if r.status_code == 400:
            problem = r.json()
            params = [p.get("param") for p in problem.get("invalidParams", [])]
            check(f"malformed {query}: names {param}", params == [param], repr(params))
            check(f"malformed {query}: says why", all(p.get("reason") for p in problem["invalidParams"]))
            check(f"malformed {query}: status 400 in body", problem.get("status") == 400)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
