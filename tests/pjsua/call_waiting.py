"""An agent's phone with call waiting, played by PJSIP (pjsua2, no sound card).

Registers EXTENSION with PASSWORD at ccd (REGISTRAR, host:port) and answers the first call
that rings. When a second call rings during it, puts the first on hold (re-INVITE
a=sendonly), answers the second, talks TALK_S seconds, hangs it up, and takes the first
back (re-INVITE a=sendrecv); then waits for the first caller to hang up.

Prints one JSON object per step on stdout ({"step": ...}); the last one is
{"step": "done", "steps": [...]} . Exits 0 when every step happened in that order, 1
otherwise.

    call_waiting.py REGISTRAR EXTENSION PASSWORD LOCAL_PORT [TALK_S] [TIMEOUT_S]
"""

import json
import sys
import time

import pjsua2 as pj

from phone import STEPS, end, say, start


class Leg(pj.Call):
    def __init__(self, account, call_id):
        super().__init__(account, call_id)
        self.state = None

    def onCallState(self, prm):
        self.state = self.getInfo().state

    def audio_status(self):
        try:
            for media in self.getInfo().media:
                if media.type == pj.PJMEDIA_TYPE_AUDIO:
                    return media.status
        except pj.Error:
            pass  # the call has ended
        return None


def main():
    registrar, extension, password, port = sys.argv[1:5]
    talk = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 40.0
    endpoint, phone = start(registrar, extension, password, port, Leg)

    confirmed = pj.PJSIP_INV_STATE_CONFIRMED
    disconnected = pj.PJSIP_INV_STATE_DISCONNECTED
    first = second = None
    second_answered_at = held_at = resumed_at = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint.libHandleEvents(10)
        now = time.monotonic()
        if first is None and phone.incoming:
            first = phone.incoming[0]
            answer = pj.CallOpParam()
            answer.statusCode = 200
            first.answer(answer)
        if "answered first" not in STEPS and first is not None and first.state == confirmed:
            say("answered first")
        if second is None and len(phone.incoming) > 1:
            second = phone.incoming[1]
            ringing = pj.CallOpParam()
            ringing.statusCode = 180
            second.answer(ringing)
            say("second rings")
            first.setHold(pj.CallOpParam(True))
            held_at = now
        # The phone's own view of the hold can lag; ccd's is what the test checks.
        on_hold = (
            held_at is not None
            and "held first" not in STEPS
            and (first.audio_status() == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD or now - held_at > 1.0)
        )
        if on_hold:
            say("held first")
            answer = pj.CallOpParam()
            answer.statusCode = 200
            second.answer(answer)
        if second is not None and second.state == confirmed and second_answered_at is None:
            second_answered_at = now
            say("answered second")
        if second_answered_at is not None and "hung up second" not in STEPS and now - second_answered_at > talk:
            say("hung up second")
            second.hangup(pj.CallOpParam(True))
        if "hung up second" in STEPS and second.state == disconnected and "resuming first" not in STEPS:
            say("resuming first")
            resume = pj.CallOpParam(True)
            resume.opt.flag = pj.PJSUA_CALL_UNHOLD
            first.reinvite(resume)
            resumed_at = now
        active = (
            resumed_at is not None
            and "resumed first" not in STEPS
            and (first.audio_status() == pj.PJSUA_CALL_MEDIA_ACTIVE or now - resumed_at > 1.0)
        )
        if active:
            say("resumed first")
        if "resumed first" in STEPS and first.state == disconnected:
            say("first ended")
            break
    expected = [
        "registered",
        "answered first",
        "second rings",
        "held first",
        "answered second",
        "hung up second",
        "resuming first",
        "resumed first",
        "first ended",
    ]
    ok = STEPS == expected
    print(json.dumps({"step": "done", "ok": ok, "steps": STEPS}), flush=True)
    end(0 if ok else 1)


if __name__ == "__main__":
    main()
