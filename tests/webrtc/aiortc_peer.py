#!/usr/bin/env python3
"""A WebRTC peer for ccd's media tests, standing in for a browser agent (aiortc).

Usage: aiortc_peer.py PLAY_WAV RECORD_WAV SECONDS [offer|answer]

offer (default): offers one sendrecv audio stream restricted to PCMU, prints the offer as
one JSON line ({"sdp": ...}) on stdout and reads the answer as one JSON line on stdin.
answer: reads ccd's offer as one JSON line on stdin and prints its answer.
Then plays PLAY_WAV and records what it receives into RECORD_WAV for SECONDS, and prints
{"done": true}.
Only loopback is used: aioice's host addresses are limited to 127.0.0.1.
"""
import asyncio
import json
import sys

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer, MediaRecorder

# Tests stay on 127.0.0.0/8: gather a loopback host candidate only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


async def read_json_line():
    line = await asyncio.get_event_loop().run_in_executor(None, sys.stdin.readline)
    return json.loads(line)


async def main(play, record, seconds, role):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    player = MediaPlayer(play)
    recorder = MediaRecorder(record)
    connected = asyncio.Event()

    @pc.on("track")
    def on_track(track):
        recorder.addTrack(track)

    @pc.on("connectionstatechange")
    async def on_state():
        print(json.dumps({"state": pc.connectionState}), flush=True)
        if pc.connectionState == "connected":
            connected.set()

    if role == "answer":
        offer = await read_json_line()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        pc.addTrack(player.audio)
        await pc.setLocalDescription(await pc.createAnswer())
        print(json.dumps({"sdp": pc.localDescription.sdp}), flush=True)
    else:
        transceiver = pc.addTransceiver(player.audio, direction="sendrecv")
        codecs = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences([c for c in codecs if c.mimeType == "audio/PCMU"])
        await pc.setLocalDescription(await pc.createOffer())
        print(json.dumps({"sdp": pc.localDescription.sdp}), flush=True)
        answer = await read_json_line()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    await recorder.start()
    await asyncio.wait_for(connected.wait(), timeout=10)
    await asyncio.sleep(seconds)
    await recorder.stop()
    await pc.close()
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    role = sys.argv[4] if len(sys.argv) > 4 else "offer"
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), role))
