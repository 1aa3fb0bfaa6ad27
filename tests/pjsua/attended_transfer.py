"""An agent's phone making an attended transfer, played by PJSIP (pjsua2, no sound card).

Registers EXTENSION with PASSWORD at ccd (REGISTRAR, host:port), answers the first call
that rings, puts it on hold (re-INVITE a=sendonly), calls TARGET through ccd, and once
the colleague answered asks ccd to hand the caller over: a REFER on the first call whose
Refer-To carries a Replaces naming the second (pjsua2 `Call.xferReplaces`). Then waits
for ccd to end both calls.

Prints one JSON object per step on stdout ({"step": ...}); the last one is the outcome:
{"step": "done", "transfer_status": <final NOTIFY status>, "ended": [both calls ended]}.
Exits 0 when ccd reported the transfer done (200) and ended both calls, 1 otherwise, 2 on
a timeout.

    attended_transfer.py REGISTRAR EXTENSION PASSWORD TARGET LOCAL_PORT [TIMEOUT_S]
"""

import sys
import time

import pjsua2 as pj

from phone import end, say, start


class Leg(pj.Call):
    def __init__(self, account, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(account, call_id)
        self.state = None
        self.held = False
        self.transfer_status = None

    def onCallState(self, prm):
        info = self.getInfo()
        self.state = info.state
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            say("confirmed", call=info.callIdString)
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            say("ended", call=info.callIdString, status=info.lastStatusCode)

    def onCallMediaState(self, prm):
        info = self.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD:
                if not self.held:
                    self.held = True
                    say("held", call=info.callIdString)

    def onCallTransferStatus(self, prm):
        say("transfer", status=prm.statusCode, final=prm.finalNotify)
        if prm.finalNotify:
            self.transfer_status = prm.statusCode


def main():
    registrar, extension, password, target, port = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
    endpoint, phone = start(registrar, extension, password, port, Leg)

    deadline = time.monotonic() + timeout
    first = second = None
    answered_at = held_at = confirmed_at = None
    referred = False
    outcome = None
    while time.monotonic() < deadline:
        endpoint.libHandleEvents(10)
        now = time.monotonic()
        if first is None and phone.incoming:
            first = phone.incoming[0]
            answer = pj.CallOpParam()
            answer.statusCode = 200
            first.answer(answer)
            say("answered")
        if first is not None and first.state == pj.PJSIP_INV_STATE_CONFIRMED and answered_at is None:
            answered_at = now
        if answered_at is not None and held_at is None and now - answered_at > 0.3:
            held_at = now
            first.setHold(pj.CallOpParam(True))
        # The phone's own view of the hold can lag behind (ccd's is what the test checks).
        held = first is not None and (first.held or (held_at is not None and now - held_at > 1.0))
        if held and second is None:
            second = Leg(phone)
            second.makeCall(f"sip:{target}@{registrar}", pj.CallOpParam(True))
            say("calling", target=target)
        if second is not None and second.state == pj.PJSIP_INV_STATE_CONFIRMED and confirmed_at is None:
            confirmed_at = now
        if confirmed_at is not None and not referred and now - confirmed_at > 0.3:
            referred = True
            first.xferReplaces(second, pj.CallOpParam(True))
            say("referred")
        ended = [
            leg is not None and leg.state == pj.PJSIP_INV_STATE_DISCONNECTED
            for leg in (first, second)
        ]
        if referred and first.transfer_status is not None and all(ended):
            outcome = first.transfer_status
            break
    ended = [
        leg is not None and leg.state == pj.PJSIP_INV_STATE_DISCONNECTED for leg in (first, second)
    ]
    say("done", transfer_status=outcome, ended=ended)
    end(0 if outcome == 200 and all(ended) else (2 if outcome is None else 1))


if __name__ == "__main__":
    main()
