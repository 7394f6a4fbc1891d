"""The S13 example (examples/s13_eir.rs) exercised by python-diameter, a Diameter stack this
project did not write: capabilities exchange, device watchdog, ME-Identity-Checks for listed,
unlisted and malformed IMEIs, protocol errors, and disconnect. Every answer is checked.

usage: s13_peer.py HOST PORT LIST.csv
Prints each failed check and a closing "N passed, N failed" line; exits non-zero on failure.
"""

import socket
import struct
import sys

from diameter.message import Message
from diameter.message.avp import Avp
from diameter.message.avp.grouped import TerminalInformation, VendorSpecificApplicationId
from diameter.message.commands import (
    CapabilitiesExchangeRequest,
    DeviceWatchdogRequest,
    DisconnectPeerRequest,
    MeIdentityCheckRequest,
)
from diameter.message.constants import (
    AVP_TGPP_IMEI,
    AVP_TGPP_TERMINAL_INFORMATION,
    AVP_USER_NAME,
    VENDOR_TGPP,
)

import eir_model

S13 = 16777252
EIR_HOST, EIR_REALM = b"eir.localdomain", b"localdomain"
MME_HOST, MME_REALM = b"mme.test.localdomain", b"localdomain"

passed = 0
failed = 0


def check(what, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what} {detail}")


class Peer:
    """One TCP connection to the EIR, speaking through python-diameter's codec."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.hop = 0x1000

    def send_bytes(self, data):
        self.sock.sendall(data)

    def send(self, msg):
        self.hop += 1
        msg.header.hop_by_hop_identifier = self.hop
        msg.header.end_to_end_identifier = 0x70000000 + self.hop
        self.send_bytes(msg.as_bytes())
        return self.hop

    def recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def recv(self):
        """The next message, or None when the EIR closed the connection."""
        head = self.recv_exact(20)
        if head is None:
            return None
        length = struct.unpack("!I", head[:4])[0] & 0xFFFFFF
        rest = self.recv_exact(length - 20)
        if rest is None:
            return None
        return Message.from_bytes(head + rest)

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


def cer():
    m = CapabilitiesExchangeRequest()
    m.origin_host = MME_HOST
    m.origin_realm = MME_REALM
    m.host_ip_address = ["127.0.0.1"]
    m.vendor_id = 10415
    m.product_name = "python-diameter test MME"
    m.origin_state_id = 1
    m.supported_vendor_id = [10415]
    m.vendor_specific_application_id = [
        VendorSpecificApplicationId(vendor_id=10415, auth_application_id=S13)
    ]
    return m


session_counter = 0


def ecr(imei=None, imsi=None, software_version=None, terminal=True):
    global session_counter
    session_counter += 1
    m = MeIdentityCheckRequest()
    m.header.application_id = S13
    m.session_id = f"{MME_HOST.decode()};1;{session_counter}"
    m.vendor_specific_application_id = VendorSpecificApplicationId(
        vendor_id=10415, auth_application_id=S13
    )
    m.auth_session_state = 1
    m.origin_host = MME_HOST
    m.origin_realm = MME_REALM
    m.destination_realm = EIR_REALM
    if terminal:
        m.terminal_information = TerminalInformation(imei=imei, software_version=software_version)
    if imsi is not None:
        m.user_name = imsi
    return m


def check_header(what, answer, hop, command, app=0, error=False):
    check(f"{what}: answered", answer is not None)
    if answer is None:
        return False
    h = answer.header
    check(f"{what}: command {command}", h.command_code == command, f"got {h.command_code}")
    check(f"{what}: application {app}", h.application_id == app, f"got {h.application_id}")
    check(f"{what}: is an answer", not h.is_request)
    check(f"{what}: same hop-by-hop id", h.hop_by_hop_identifier == hop)
    check(f"{what}: same end-to-end id", h.end_to_end_identifier == 0x70000000 + hop)
    check(f"{what}: E bit {'set' if error else 'clear'}", h.is_error == error)
    check(f"{what}: Origin-Host", answer.origin_host == EIR_HOST, repr(answer.origin_host))
    check(f"{what}: Origin-Realm", answer.origin_realm == EIR_REALM, repr(answer.origin_realm))
    return True


def failed_avps(answer):
    """The AVPs inside Failed-AVP, as python-diameter decoded them."""
    fa = answer.failed_avp
    if isinstance(fa, list):
        fa = fa[0] if fa else None
    return [] if fa is None else fa.additional_avps


def check_eca(what, request, answer, hop, expected_code=None, result=2001, failed_code=None):
    if not check_header(what, answer, hop, 324, S13):
        return
    check(f"{what}: Session-Id echoed", answer.session_id == request.session_id, repr(answer.session_id))
    check(f"{what}: Auth-Session-State NO_STATE_MAINTAINED", answer.auth_session_state == 1)
    vsai = answer.vendor_specific_application_id
    check(
        f"{what}: Vendor-Specific-Application-Id S13",
        vsai is not None and vsai.vendor_id == 10415 and vsai.auth_application_id == S13,
    )
    if result == 5422:
        er = answer.experimental_result
        check(f"{what}: no Result-Code", answer.result_code is None, repr(answer.result_code))
        check(
            f"{what}: Experimental-Result 5422 of 3GPP",
            er is not None and er.vendor_id == 10415 and er.experimental_result_code == 5422,
            repr(er),
        )
    else:
        check(f"{what}: Result-Code {result}", answer.result_code == result, repr(answer.result_code))
    check(
        f"{what}: Equipment-Status {expected_code}",
        answer.equipment_status == expected_code,
        repr(answer.equipment_status),
    )
    if failed_code is not None:
        codes = [a.code for a in failed_avps(answer)]
        check(f"{what}: Failed-AVP names AVP {failed_code}", failed_code in codes, repr(codes))


def main():
    host, port, list_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lists = eir_model.Lists(list_path)

    # A request before the capabilities exchange: the EIR closes without answering.
    p = Peer(host, port)
    p.send(ecr(imei="35417803685978"))
    check("ECR before CER: connection closed", p.recv() is None)
    p.close()

    p = Peer(host, port)
    hop = p.send(cer())
    cea = p.recv()
    if check_header("CEA", cea, hop, 257):
        check("CEA: DIAMETER_SUCCESS", cea.result_code == 2001, repr(cea.result_code))
        apps = [v.auth_application_id for v in cea.vendor_specific_application_id or []]
        apps += list(cea.auth_application_id or [])
        check("CEA: advertises S13", S13 in apps, repr(apps))
        check("CEA: Supported-Vendor-Id 3GPP", 10415 in (cea.supported_vendor_id or []))
        check("CEA: Host-IP-Address", bool(cea.host_ip_address), repr(cea.host_ip_address))
        check("CEA: Product-Name", bool(cea.product_name))

    dwr = DeviceWatchdogRequest()
    dwr.origin_host, dwr.origin_realm, dwr.origin_state_id = MME_HOST, MME_REALM, 1
    hop = p.send(dwr)
    dwa = p.recv()
    if check_header("DWA", dwa, hop, 280):
        check("DWA: DIAMETER_SUCCESS", dwa.result_code == 2001)

    # Verdicts, from the list model.
    for what, body, imsi, status in lists.cases():
        expected = None if status is None else eir_model.S13_CODE[status]
        for imei in (body, eir_model.imei15(body)):
            req = ecr(imei=imei, imsi=imsi, software_version="07")
            hop = p.send(req)
            result = 2001 if status is not None else 5422
            check_eca(f"ECR {what} {imei}", req, p.recv(), hop, expected, result)

    # A wrong check digit is classified anyway (counterfeits carry them).
    what, body, _, status = lists.cases()[0]
    forged = body + str((int(eir_model.luhn(body)) + 1) % 10)
    req = ecr(imei=forged)
    hop = p.send(req)
    check_eca(f"ECR forged check digit {forged}", req, p.recv(), hop, eir_model.S13_CODE[status])

    # Malformed requests: DIAMETER_INVALID_AVP_VALUE naming the AVP, inside Terminal-Information.
    for bad in ("35417803685978x", "123", "3541780368597890", ""):
        req = ecr(imei=bad)
        hop = p.send(req)
        check_eca(f"ECR malformed IMEI {bad!r}", req, p.recv(), hop, None, 5004, AVP_TGPP_TERMINAL_INFORMATION)
    req = ecr(imei=body, imsi="40404x")
    hop = p.send(req)
    check_eca("ECR malformed User-Name", req, p.recv(), hop, None, 5004, AVP_USER_NAME)
    req = ecr(software_version="07")
    hop = p.send(req)
    check_eca("ECR without IMEI", req, p.recv(), hop, None, 5005, AVP_TGPP_TERMINAL_INFORMATION)
    req = ecr(terminal=False)
    hop = p.send(req)
    check_eca("ECR without Terminal-Information", req, p.recv(), hop, None, 5005, AVP_TGPP_TERMINAL_INFORMATION)

    # An unknown AVP with the M bit: DIAMETER_AVP_UNSUPPORTED.
    req = ecr(imei=body)
    data = with_raw_avp(req_bytes(p, req), 99999, 0x40, b"????")
    p.send_bytes(data)
    check_eca("ECR with an unknown mandatory AVP", req, p.recv(), p.hop, None, 5001, 99999)
    # Without the M bit, it is ignored.
    req = ecr(imei=body)
    data = with_raw_avp(req_bytes(p, req), 99999, 0x00, b"????")
    p.send_bytes(data)
    check_eca("ECR with an unknown optional AVP", req, p.recv(), p.hop, eir_model.S13_CODE[status])

    # An AVP length running past the message: DIAMETER_INVALID_AVP_LENGTH.
    req = ecr(imei=body)
    req.append_avp(Avp.new(AVP_USER_NAME, value="404685505601234"))
    data = bytearray(req_bytes(p, req))
    last = last_avp_offset(data)
    struct.pack_into("!I", data, last + 4, (data[last + 4] << 24) | 400)
    p.send_bytes(bytes(data))
    answer = p.recv()
    check_eca("ECR with a bad AVP length", req, answer, p.hop, None, 5014, AVP_USER_NAME)

    # Header errors: E-bit answers.
    req = ecr(imei=body)
    req.header.is_error = True
    hop = p.send(req)
    answer = p.recv()
    if check_header("ECR with the E bit", answer, hop, 324, S13, error=True):
        check("ECR with the E bit: DIAMETER_INVALID_HDR_BITS", answer.result_code == 3008, repr(answer.result_code))
    req = ecr(imei=body)
    req.header.command_code = 999
    hop = p.send(req)
    answer = p.recv()
    if check_header("unknown command", answer, hop, 999, S13, error=True):
        check("unknown command: DIAMETER_COMMAND_UNSUPPORTED", answer.result_code == 3001)
    req = ecr(imei=body)
    req.header.application_id = 16777251
    hop = p.send(req)
    answer = p.recv()
    if check_header("ECR of another application", answer, hop, 324, 16777251, error=True):
        check("ECR of another application: DIAMETER_APPLICATION_UNSUPPORTED", answer.result_code == 3007)
    req = ecr(imei=body)
    req.destination_realm = b"elsewhere.example"
    hop = p.send(req)
    answer = p.recv()
    if check_header("ECR for another realm", answer, hop, 324, S13, error=True):
        check("ECR for another realm: DIAMETER_REALM_NOT_SERVED", answer.result_code == 3003)

    # Still answering after all that.
    req = ecr(imei=body)
    hop = p.send(req)
    check_eca("ECR after the errors", req, p.recv(), hop, eir_model.S13_CODE[status])

    dpr = DisconnectPeerRequest()
    dpr.origin_host, dpr.origin_realm, dpr.disconnect_cause = MME_HOST, MME_REALM, 2
    hop = p.send(dpr)
    dpa = p.recv()
    if check_header("DPA", dpa, hop, 282):
        check("DPA: DIAMETER_SUCCESS", dpa.result_code == 2001)
    check("DPA: connection closed", p.closed())
    p.close()

    # A length field that cannot frame a message: DIAMETER_INVALID_MESSAGE_LENGTH, then close.
    p = Peer(host, port)
    hop = p.send(cer())
    p.recv()
    data = bytearray(req_bytes(p, ecr(imei=body)))
    struct.pack_into("!I", data, 0, (1 << 24) | 18)
    p.send_bytes(bytes(data[:20]))
    answer = p.recv()
    if answer is not None:
        check("bad message length: DIAMETER_INVALID_MESSAGE_LENGTH", answer.result_code == 5015, repr(answer.result_code))
    else:
        check("bad message length: answered", False)
    check("bad message length: connection closed", p.closed())
    p.close()

    # Another Diameter version: DIAMETER_UNSUPPORTED_VERSION.
    p = Peer(host, port)
    p.send(cer())
    p.recv()
    data = bytearray(req_bytes(p, ecr(imei=body)))
    data[0] = 2
    p.send_bytes(bytes(data))
    answer = p.recv()
    check(
        "version 2: DIAMETER_UNSUPPORTED_VERSION",
        answer is not None and answer.result_code == 5011,
        repr(answer and answer.result_code),
    )
    p.close()

    # A capabilities exchange without S13: DIAMETER_NO_COMMON_APPLICATION, then close.
    p = Peer(host, port)
    m = cer()
    m.vendor_specific_application_id = [VendorSpecificApplicationId(vendor_id=10415, auth_application_id=16777251)]
    hop = p.send(m)
    answer = p.recv()
    if check_header("CER without S13", answer, hop, 257):
        check("CER without S13: DIAMETER_NO_COMMON_APPLICATION", answer.result_code == 5010)
    check("CER without S13: connection closed", p.closed())
    p.close()

    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


def req_bytes(peer, msg):
    """The message's bytes with the peer's next identifiers."""
    peer.hop += 1
    msg.header.hop_by_hop_identifier = peer.hop
    msg.header.end_to_end_identifier = 0x70000000 + peer.hop
    return msg.as_bytes()


def with_raw_avp(message, code, flags, payload):
    """The message with one more AVP, written by hand from RFC 6733 §4.1, and its length fixed."""
    avp = struct.pack("!II", code, (flags << 24) | (8 + len(payload))) + payload
    avp += b"\0" * (-len(avp) % 4)
    data = bytearray(message + avp)
    struct.pack_into("!I", data, 0, (1 << 24) | len(data))
    return bytes(data)


def last_avp_offset(data):
    at, last = 20, 20
    while at < len(data):
        last = at
        length = struct.unpack("!I", data[at + 4 : at + 8])[0] & 0xFFFFFF
        at += (length + 3) // 4 * 4
    return last


if __name__ == "__main__":
    sys.exit(main())
