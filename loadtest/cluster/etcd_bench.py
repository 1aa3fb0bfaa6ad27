#!/usr/bin/env python3
"""One round of etcd write load: --clients concurrent clients, each putting one key after the
other (waiting for each answer) for --secs seconds. Prints one JSON line: puts, elapsed
seconds, the load generator's own CPU seconds.

Two ways to write, both single Put requests as ccd makes them (one key, a 256-byte value):
  grpc  etcd's native gRPC API (`etcdserverpb.KV/Put`), as ccd's etcd client writes; needs
        the grpcio package. The request is encoded by hand (two bytes fields), so no
        generated stubs are needed. 100 clients share 10 HTTP/2 connections (etcd's own
        benchmark tool also multiplexes clients over fewer connections).
  http  etcd's gRPC gateway, `POST /v3/kv/put` with base64 JSON over HTTP/1.1 keep-alive,
        one connection per client; needs only the standard library. The gateway turns each
        request into a gRPC call inside etcd: more work for etcd per write.
"""

import argparse
import asyncio
import base64
import json
import resource
import time

VALUE = b"v" * 256


def varint(n):
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def put_request(key, value):
    """etcdserverpb.PutRequest{key = 1, value = 2} in protobuf wire format."""
    return b"\x0a" + varint(len(key)) + key + b"\x12" + varint(len(value)) + value


def key(client, n):
    return b"/bench/%d/%d" % (client, n % 1000)


async def grpc_round(port, clients, secs):
    import grpc  # noqa: PLC0415 (only this mode needs it)

    conns = max(1, min(clients, 10))
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(conns)
    ]
    puts = [c.unary_unary("/etcdserverpb.KV/Put") for c in channels]
    for put in puts:  # connect before the clock starts
        await put(put_request(b"/bench/warm", VALUE))
    done = 0
    stop = time.monotonic() + secs

    async def client(i):
        nonlocal done
        put, n = puts[i % conns], 0
        while time.monotonic() < stop:
            await put(put_request(key(i, n), VALUE))
            n += 1
        done += n

    t0 = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - t0
    for c in channels:
        await c.close()
    return done, elapsed


async def http_round(port, clients, secs):
    value = base64.b64encode(VALUE).decode()
    done = 0

    async def connect():
        return await asyncio.open_connection("127.0.0.1", port)

    async def put(reader, writer, k):
        body = json.dumps({"key": base64.b64encode(k).decode(), "value": value}).encode()
        writer.write(
            b"POST /v3/kv/put HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"etcd answered {head[:80]!r}")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)

    conns = [await connect() for _ in range(clients)]
    for r, w in conns:
        await put(r, w, b"/bench/warm")
    stop = time.monotonic() + secs

    async def client(i):
        nonlocal done
        (r, w), n = conns[i], 0
        while time.monotonic() < stop:
            await put(r, w, key(i, n))
            n += 1
        done += n

    t0 = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - t0
    for _, w in conns:
        w.close()
    return done, elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="etcd's client port on 127.0.0.1")
    p.add_argument("--mode", choices=["grpc", "http"], required=True)
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--secs", type=float, default=10)
    args = p.parse_args()
    run = grpc_round if args.mode == "grpc" else http_round
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    puts, elapsed = asyncio.run(run(args.port, args.clients, args.secs))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    print(json.dumps({"puts": puts, "elapsed_s": elapsed, "client_cpu_s": cpu}))


if __name__ == "__main__":
    main()
