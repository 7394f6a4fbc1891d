"""Asks an S13 EIR about one handset, as an MME would, with python-diameter: capabilities
exchange, one ME-Identity-Check-Request, disconnect. Prints the answer.

usage: s13_check.py HOST PORT IMEI [IMSI]
"""

import sys

from diameter.message import dump
from diameter.message.commands import DisconnectPeerRequest

from s13_peer import MME_HOST, MME_REALM, Peer, cer, ecr

STATUS = {0: "WHITELISTED", 1: "BLACKLISTED", 2: "GREYLISTED"}


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, imei = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    imsi = sys.argv[4] if len(sys.argv) == 5 else None
    peer = Peer(host, port)
    peer.send(cer())
    cea = peer.recv()
    if cea is None or cea.result_code != 2001:
        print(f"capabilities exchange failed: {cea and cea.result_code}", file=sys.stderr)
        return 1
    peer.send(ecr(imei=imei, imsi=imsi))
    answer = peer.recv()
    print(dump(answer))
    if answer.equipment_status is not None:
        print(f"Equipment-Status: {STATUS.get(answer.equipment_status, answer.equipment_status)}")
    elif answer.experimental_result is not None:
        print(f"Experimental-Result-Code: {answer.experimental_result.experimental_result_code}")
    else:
        print(f"Result-Code: {answer.result_code}")
    dpr = DisconnectPeerRequest()
    dpr.origin_host, dpr.origin_realm, dpr.disconnect_cause = MME_HOST, MME_REALM, 0
    peer.send(dpr)
    peer.recv()
    peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
