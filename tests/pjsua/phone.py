"""What the pjsua2 peers in this directory share: a PJSIP phone (no sound card) registered
with ccd, the steps it prints, and how it ends."""

import json
import os
import sys

import pjsua2 as pj

# Every step said so far, in order.
STEPS = []


def say(step, **detail):
    """Prints a step as one JSON line ({"step": ..., ...}) and remembers it."""
    STEPS.append(step)
    print(json.dumps({"step": step, **detail}), flush=True)


class Phone(pj.Account):
    """The registered account; calls that ring it are kept, as `leg` objects, in order."""

    def __init__(self, leg):
        super().__init__()
        self.leg = leg
        self.registered = False
        self.incoming = []

    def onRegState(self, prm):
        if prm.code == 200 and not self.registered:
            self.registered = True
            say("registered")

    def onIncomingCall(self, prm):
        self.incoming.append(self.leg(self, prm.callId))


def start(registrar, extension, password, port, leg):
    """Starts PJSIP on 127.0.0.1:`port` (UDP, no sound card, callbacks only from
    `libHandleEvents`) and registers `extension` with `password` at `registrar`
    (host:port). Returns the endpoint and the phone."""
    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = True
    config.logConfig.level = 1
    config.logConfig.consoleLevel = 1
    endpoint.libInit(config)
    transport = pj.TransportConfig()
    transport.port = int(port)
    transport.boundAddress = "127.0.0.1"
    transport.publicAddress = "127.0.0.1"
    endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    endpoint.libStart()
    endpoint.audDevManager().setNullDev()

    account = pj.AccountConfig()
    account.idUri = f"sip:{extension}@{registrar}"
    account.regConfig.registrarUri = f"sip:{registrar}"
    account.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", extension, 0, password))
    phone = Phone(leg)
    phone.create(account)
    return endpoint, phone


def end(code):
    """Ends the process with `code`. pjsua2's Python objects of ended calls trip an
    assertion when the library is torn down, so it is not: the kernel closes the socket."""
    sys.stdout.flush()
    os._exit(code)
