#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus-seed/<target>/.

Run from anywhere: python3 fuzz/make-seeds.py. The files are committed; this script only
documents where they come from and regenerates them after an edit.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def crlf(s):
    return s.replace("\n", "\r\n").encode()


SDP_OFFER = crlf("""v=0
o=- 3893561234 3893561234 IN IP4 192.168.1.20
s=call
c=IN IP4 192.168.1.20
t=0 0
m=audio 11780 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
""")

SDP_VIDEO_HOLD = crlf("""v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=-
i=A call with video, on legacy hold
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
p=+1 617 555-6011
c=IN IP4 0.0.0.0
b=AS:128
t=2873397496 2873404696
r=7d 1h 0 25h
z=2882844526 -1h 2898848070 0
k=prompt
a=recvonly
a=tool:fuzz seed
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
m=audio 49170/2 RTP/AVP 9 0 96
i=second audio
c=IN IP4 192.0.2.7
b=TIAS:64000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
a=maxptime:40
a=sendonly
m=audio 0 RTP/SAVP 0
""")

SDP_IPV6 = crlf("""v=0
o=- 1 18446744073709551615 IN IP6 2001:db8::10
s= 
t=0 0
m=audio 40000 RTP/AVP 9 8
c=IN IP6 2001:db8::10
a=rtpmap:9 G722/8000
a=inactive
m=application 9 TCP/MRCPv2 1
a=setup:active
""")

INVITE = crlf("""INVITE sip:200@cc.local SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a5b7e6c4d3;rport
Max-Forwards: 70
Contact: <sip:201@192.168.1.20:5060;transport=udp>
To: <sip:200@cc.local>
From: "Anna Kowalska" <sip:201@cc.local>;tag=8d2f3a1b
Call-ID: 5f1c2e7a9b0d4c3e8f6a1b2c3d4e5f60
CSeq: 1 INVITE
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, INFO, UPDATE
Content-Type: application/sdp
Supported: replaces, timer
User-Agent: Yealink SIP-T46U 108.86.0.20
Content-Length: %d

""" % len(SDP_OFFER)) + SDP_OFFER

REGISTER = crlf("""REGISTER sip:cc.local SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-1234;rport
Max-Forwards: 70
Contact: <sip:201@192.168.1.20:5060>;expires=3600
To: <sip:201@cc.local>
From: <sip:201@cc.local>;tag=abcd
Call-ID: reg-5f1c2e7a9b0d
CSeq: 2 REGISTER
Authorization: Digest username="201", realm="cc.local", nonce="0000000065a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192", uri="sip:cc.local", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001
Expires: 3600
Content-Length: 0

""")

OK_200 = crlf("""SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-524287-1---a5b7e6c4d3;rport=5060;received=203.0.113.9
Via: SIP/2.0/TCP proxy.cc.local;branch=z9hG4bK77
Record-Route: <sip:proxy.cc.local;lr>, <sip:[2001:db8::1]:5070;lr;transport=tcp>
To: <sip:200@cc.local>;tag=as6151ad25
From: "Anna Kowalska" <sip:201@cc.local>;tag=8d2f3a1b
Call-ID: 5f1c2e7a9b0d4c3e8f6a1b2c3d4e5f60
CSeq: 1 INVITE
Contact: <sip:200@10.0.0.5:5060>
WWW-Authenticate: Digest realm="cc.local", qop="auth", algorithm=SHA-256, nonce="abc"
Require: 100rel
Reason: SIP;cause=200;text="Call completed elsewhere"
Content-Type: application/sdp
Content-Length: %d

""" % len(SDP_IPV6)) + SDP_IPV6

# RFC 4475 3.1.1.1 ("wsinv") in spirit: compact forms, folding, odd whitespace and case,
# escaped URI parts, unknown headers, a tel: URI and IPv6.
TORTURE = crlf("""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 0
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33
Refer-To: <tel:+1-972-555-2222;phone-context=example.com>
Contact: <sip:user;par=u%40example.net@[2001:db8::9:1]:5070;transport=tcp>;expires=60

""")

BAD = crlf("""OPTIONS sip:cc.local SIP/3.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKbad
From: <sip:x@cc.local>;tag=1
To: <sip:cc.local>
Call-ID: bad
CSeq: 1 OPTIONS
Max-Forwards: 999
Content-Length: 10

""")

SEEDS = {
    "sip_message": {
        "invite-sdp": INVITE,
        "register-auth": REGISTER,
        "200-ok": OK_200,
        "torture": TORTURE,
        "bad-version": BAD,
    },
    # 1 byte max_message selector, 4 bytes of chunk sizes, then the stream.
    "sip_stream": {
        "invite-ping-register": bytes([4, 7, 1, 33, 64]) + INVITE + b"\r\n\r\n" + REGISTER,
        "ok-split-crlf": bytes([8, 1, 2, 3, 4]) + b"\r\n" + OK_200 + b"\r\n\r\n\r\n" + TORTURE,
        "too-large": bytes([0, 63, 63, 63, 63]) + INVITE,
        "bad-length": bytes([3, 10, 20, 30, 40])
        + b"OPTIONS sip:a SIP/2.0\r\nl: 12x\r\n\r\n",
    },
    "sdp": {
        "offer": SDP_OFFER,
        "video-hold": SDP_VIDEO_HOLD,
        "ipv6": SDP_IPV6,
    },
    # Authorization values; see the placeholders in fuzz_targets/digest_verify.rs.
    "digest_verify": {
        "md5-qop": b'Digest username="201", realm="cc.local", nonce="@NONCE@", uri="sip:cc.local", response="@RESPONSE@", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
        "sha256-sess": b'Digest username="ha1-202", realm="cc.local", nonce="@NONCE@", uri="sip:cc.local;transport=tcp", response="@RESPONSE@", algorithm=SHA-256-sess, cnonce="x\\"y", qop=auth, nc=0000000a, opaque="o"',
        "rfc2069": b'Digest username="203",realm="cc.local",nonce="@NONCE@",uri="sip:cc.local",response="@RESPONSE@"',
        "stale": b'Digest username="201", realm="cc.local", nonce="@OLDNONCE@", uri="sip:cc.local", response="@RESPONSE@", algorithm=MD5, cnonce="c", qop=auth, nc=00000001',
        "future": b'Digest username="201", realm="cc.local", nonce="@FUTURENONCE@", uri="sip:cc.local", response="@RESPONSE@", algorithm=sha-256, cnonce="c", qop=auth, nc=ffffffff',
        "raw": b'Digest username="201", realm="cc.local", nonce="0000000065a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192", uri="sip:cc.local", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
        # One value a line, verified in turn: counts going up, a second nonce evicting the
        # first from the lax server's one-entry table, a late success that purges expired entries, then a replay after the clock steps back.
        "sequence": b"\n".join([
            b'Digest username="201", realm="cc.local", nonce="@NONCE@", uri="sip:cc.local", response="@RESPONSE@", cnonce="a", qop=auth, nc=00000001',
            b'Digest username="201", realm="cc.local", nonce="@NONCE@", uri="sip:cc.local", response="@RESPONSE@", cnonce="a", qop=auth, nc=00000002',
            b'Digest username="202", realm="cc.local", nonce="@NONCE2@", uri="sip:cc.local", response="@RESPONSE@", algorithm=SHA-256, cnonce="b", qop=auth, nc=00000001',
            b'@AT400@Digest username="202", realm="cc.local", nonce="@NONCE2@", uri="sip:cc.local", response="@RESPONSE@", algorithm=SHA-256, cnonce="b", qop=auth, nc=00000002',
            b'@AT310@Digest username="203", realm="cc.local", nonce="@FUTURENONCE@", uri="sip:cc.local", response="@RESPONSE@", cnonce="c", qop=auth, nc=00000001',
            b'@AT3@Digest username="201", realm="cc.local", nonce="@NONCE@", uri="sip:cc.local", response="@RESPONSE@", cnonce="a", qop=auth, nc=00000002',
        ]),
        "nobody": b'Digest username="nobody", realm="cc.local", nonce="@NONCE@", uri="sip:cc.local", response="@RESPONSE@", qop=auth, nc=00000001, cnonce="z"',
    },
}

for target, files in SEEDS.items():
    d = os.path.join(HERE, "corpus-seed", target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
