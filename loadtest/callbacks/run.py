#!/usr/bin/env python3
"""Callback dispatch lag end to end through `ccd all` (issue 7's performance target).

N departments of one agent each (a SIPp UAS answers every agent's registered phone); a SIPp
UAS behind the trunk stands for every customer (rings, answers, talks, hangs up). Callbacks
are scheduled through cc.callbacks.v1 and the agents' states are read from presence's event
stream (cc.agents.v1.Agents/WatchAgentEvents), whose timestamps come from ccd's clock:

- due lag: every agent is free; each department gets a callback due at a chosen instant
  (staggered by 37 ms); lag = the agent's RESERVED event minus that instant. This is
  "due time -> agent reserved when one is free": the scheduler's timer, the dispatch, the
  call placed by sip-edge, queued at its place and the agent reserved by the queue.
- free lag: every agent is paused and each department has a callback due already; the
  agents are resumed one by one; lag = the agent's RESERVED event minus her AVAILABLE
  (cause RESUME) event: presence's change reaching the scheduler, then the same path.

Both are measured first with nothing else pending, then again with --backlog callbacks
pending (due, for a department nobody works in, so they stay pending), side by side in one
run. ccd's resident memory is read before and after the backlog is scheduled, and the node
is then killed (SIGKILL) and restarted to time how long the scheduler takes to have every
callback back (ready to dispatch: the first callback of a department is dialled once an
agent logs in).

Writes a Markdown report (and the samples as JSON lines beside it).
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIPP_DIR = HERE.parent / "sipp"
REGISTER = HERE.parent / "full-flow" / "register_agents.xml"


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def high_port():
    """A free UDP port above the kernel's ephemeral range and ccd's RTP range."""
    import random

    for _ in range(200):
        port = random.randint(61000, 65500)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    sys.exit("no free UDP port in 61000-65500")


def config(args, sip_port, api_port, metrics_port, trunk_port):
    lines = [
        "[sip]",
        f'listen = "127.0.0.1:{sip_port}"',
        'domain = "cc.local"',
        "[grpc]",
        f'listen = "127.0.0.1:{api_port}"',
        f'metrics_listen = "127.0.0.1:{metrics_port}"',
        "[media]",
        'rtp_ports = "20000-40000"',
        'public_ip = "127.0.0.1"',
        f'prompts_dir = "{args.prompts}"',
        f'recordings_dir = "{args.work}/recordings"',
        "[organization]",
        'name = "Load"',
        'timezone = "Europe/Warsaw"',
        "[callbacks]",
        "ring_seconds = 10",
        "[[trunks]]",
        'id = "pstn"',
        f'target = "127.0.0.1:{trunk_port}"',
        "[[employees]]",
        'id = "nobody"',
        'name = "Nobody"',
        'extension = "19999"',
        'sip_password = "nobody-pass"',
        'role = "user"',
        "[[departments]]",
        'id = "backlog"',
        'name = "Backlog"',
        'extension = "699"',
        'members = ["nobody"]',
        'strategy = "sequential"',
    ]
    for i in range(args.agents):
        lines += [
            "[[employees]]",
            f'id = "a{i}"',
            f'name = "Agent {i}"',
            f'extension = "{10000 + i}"',
            f'sip_password = "pass{i}"',
            'role = "user"',
            "[[departments]]",
            f'id = "d{i}"',
            f'name = "Department {i}"',
            f'extension = "{700 + i}"',
            f'members = ["a{i}"]',
            'strategy = "sequential"',
            "wrap_up_seconds = 0",
            "[[numbers]]",
            f'number = "4822100{i:04d}"',
            f'route = {{ department = "d{i}" }}',
        ]
    return "\n".join(lines) + "\n"


def stubs(work):
    """Generated Python stubs for the APIs used (grpcio-tools from the venv)."""
    out = work / "stubs"
    out.mkdir()
    proto = HERE.parent.parent / "proto"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto}", f"--python_out={out}",
         f"--grpc_python_out={out}", "cc/callbacks/v1/callbacks.proto", "cc/agents/v1/agents.proto"],
        check=True,
    )
    sys.path.insert(0, str(out))


def now_ms():
    return int(time.time() * 1000)


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


class Agents:
    """Presence's event stream, kept: every event, and each agent's state now."""

    def __init__(self, channel, pb, rpc):
        self.pb = pb
        self.stub = rpc.AgentsStub(channel)
        self.events = []
        self.state = {a.agent_id: a.state for a in self.stub.ListAgents(pb.ListAgentsRequest()).agents}
        self.lock = threading.Condition()
        self.stream = self.stub.WatchAgentEvents(pb.WatchAgentEventsRequest())
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self):
        try:
            for e in self.stream:
                with self.lock:
                    self.events.append((e.agent_id, e.to, e.cause, e.unix_ms))
                    self.state[e.agent_id] = e.to
                    self.lock.notify_all()
        except Exception:  # the stream is cancelled at the end
            pass

    def wait(self, ids, state, limit=60):
        deadline = time.time() + limit
        with self.lock:
            while any(self.state.get(i) != state for i in ids):
                left = deadline - time.time()
                if left <= 0:
                    bad = {i: self.state.get(i) for i in ids if self.state.get(i) != state}
                    raise RuntimeError(f"agents not in state {state} after {limit} s: {bad}")
                self.lock.wait(left)

    def first(self, agent, to, after_ms, cause=None):
        with self.lock:
            for a, t, c, at in self.events:
                if a == agent and t == to and at >= after_ms and (cause is None or c == cause):
                    return at
        return None

    def close(self):
        self.stream.cancel()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ccd", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--rounds", type=int, default=10, help="rounds of each measurement (N samples each)")
    p.add_argument("--backlog", type=int, default=None,
                   help="callbacks kept pending meanwhile (default: 100,000 minus one per agent, so "
                        "that 100,000 are active during the rounds: the scheduler's limit)")
    p.add_argument("--report", required=True)
    args = p.parse_args()
    if args.backlog is None:
        args.backlog = 100_000 - args.agents
    args.work = tempfile.mkdtemp(prefix="callbacks-load-")
    work = Path(args.work)
    stubs(work)
    import grpc
    from cc.agents.v1 import agents_pb2 as apb, agents_pb2_grpc as arpc
    from cc.callbacks.v1 import callbacks_pb2 as cpb, callbacks_pb2_grpc as crpc

    sip_port, api_port, metrics_port = free_port(), free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    agent_port, agent_media, trunk_port, trunk_media = high_port(), high_port(), high_port(), high_port()
    (work / "ccd.toml").write_text(config(args, sip_port, api_port, metrics_port, trunk_port))
    children = []
    log = open(work / "ccd.log", "w")

    def start_ccd():
        started = time.time()
        ccd = subprocess.Popen(
            [args.ccd, "all", "--config", str(work / "ccd.toml"), "--data-dir", str(work / "data")],
            stderr=log, stdout=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "warn,ccd=info"},
        )
        children.append(ccd)
        deadline = time.time() + 120
        while (work / "ccd.log").read_text().count("ccd ready") < sum(1 for c in children if c.args[0] == args.ccd):
            if time.time() > deadline or ccd.poll() is not None:
                sys.exit("ccd did not start:\n" + (work / "ccd.log").read_text()[-3000:])
            time.sleep(0.05)
        return ccd, time.time() - started

    samples = []
    results = {}
    agents = None
    try:
        ccd, _ = start_ccd()
        channel = grpc.insecure_channel(f"127.0.0.1:{api_port}")
        callbacks = crpc.CallbacksStub(channel)
        ids = [f"a{i}" for i in range(args.agents)]

        csv = work / "agents.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(
            f"{10000 + i};[authentication username={10000 + i} password=pass{i}];\n" for i in range(args.agents)))
        reg = subprocess.run(
            ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(REGISTER), "-inf", str(csv),
             "-key", "domain", "cc.local", "-i", "127.0.0.1", "-p", str(agent_port), "-t", "u1",
             "-r", "100", "-m", str(args.agents), "-nostdin", "-timeout", "60s", "-timeout_error"],
            cwd=work, capture_output=True, text=True, timeout=120,
        )
        if reg.returncode != 0:
            sys.exit(f"registering the agents failed ({reg.returncode}):\n{reg.stdout[-2000:]}{reg.stderr[-2000:]}")
        children.append(subprocess.Popen(
            ["sipp", "-sf", str(SIPP_DIR / "agent_answer.xml"), "-key", "ring_ms", "100",
             "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(agent_port), "-mp", str(agent_media),
             "-t", "u1", "-nostdin", "-max_socket", "4000"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        children.append(subprocess.Popen(
            ["sipp", "-sf", str(SIPP_DIR / "agent_hangup.xml"), "-key", "ring_ms", "100", "-key", "talk_ms", "300",
             "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(trunk_port), "-mp", str(trunk_media),
             "-t", "u1", "-nostdin", "-rtp_echo", "-max_socket", "4000"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        agents = Agents(channel, apb, arpc)
        for a in ids:
            agents.stub.Login(apb.LoginRequest(agent_id=a))
        agents.wait(ids, apb.AGENT_STATE_AVAILABLE)
        print(f"{args.agents} agents registered, logged in and available", flush=True)

        serial = iter(range(10**9))

        def schedule(department, number, earliest):
            request = cpb.ScheduleCallbackRequest(
                number=number, name="Load", reason="load test",
                target=cpb.Target(department_id=department),
                source=cpb.SOURCE_API, earliest_unix_ms=earliest,
                latest_unix_ms=max(earliest, now_ms()) + 24 * 3600 * 1000)
            return callbacks.ScheduleCallback(request, timeout=30).callback.callback_id

        def until_settled(cb_ids, limit=180):
            deadline = time.time() + limit
            left = set(cb_ids)
            while left:
                for cb in list(left):
                    c = callbacks.GetCallback(cpb.GetCallbackRequest(callback_id=cb), timeout=10)
                    if c.state not in (cpb.CALLBACK_STATE_PENDING, cpb.CALLBACK_STATE_DISPATCHING):
                        if c.state != cpb.CALLBACK_STATE_REACHED:
                            raise RuntimeError(f"callback {cb} ended {c.state}: {c}")
                        left.discard(cb)
                if left and time.time() > deadline:
                    raise RuntimeError(f"{len(left)} callbacks not reached after {limit} s")
                time.sleep(0.2)

        def due_round(phase, r):
            agents.wait(ids, apb.AGENT_STATE_AVAILABLE)
            base = now_ms() + 1500
            due = {a: base + i * 37 for i, a in enumerate(ids)}
            cb_ids = [schedule(f"d{i}", f"+4860{next(serial):07d}", due[a]) for i, a in enumerate(ids)]
            if now_ms() > base:
                raise RuntimeError("scheduling took longer than the 1.5 s head start")
            until_settled(cb_ids)
            for a in ids:
                at = agents.first(a, apb.AGENT_STATE_RESERVED, due[a] - 1000)
                if at is None:
                    raise RuntimeError(f"{a} was never reserved")
                samples.append({"phase": phase, "measure": "due", "round": r, "agent": a, "lag_ms": at - due[a]})

        def free_round(phase, r):
            agents.wait(ids, apb.AGENT_STATE_AVAILABLE)
            for a in ids:
                agents.stub.Pause(apb.PauseRequest(agent_id=a, reason=apb.PAUSE_REASON_BREAK))
            agents.wait(ids, apb.AGENT_STATE_PAUSED)
            cb_ids = [schedule(f"d{i}", f"+4861{next(serial):07d}", now_ms()) for i, a in enumerate(ids)]
            time.sleep(1.0)  # due, and pending: nobody of their departments is at work
            start = now_ms()
            for a in ids:
                agents.stub.Resume(apb.ResumeRequest(agent_id=a))
                time.sleep(0.05)
            until_settled(cb_ids)
            for a in ids:
                freed = agents.first(a, apb.AGENT_STATE_AVAILABLE, start, cause=apb.CAUSE_RESUME)
                at = agents.first(a, apb.AGENT_STATE_RESERVED, start)
                if freed is None or at is None:
                    raise RuntimeError(f"{a}: resumed at {freed}, reserved at {at}")
                samples.append({"phase": phase, "measure": "free", "round": r, "agent": a, "lag_ms": at - freed})

        def measure(phase):
            for r in range(args.rounds):
                due_round(phase, r)
                free_round(phase, r)
                print(f"{phase}: round {r + 1}/{args.rounds} done", flush=True)

        measure("idle")

        rss_before = rss_mib(ccd.pid)
        t0 = time.time()
        done = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            futures = [pool.submit(schedule, "backlog", f"+4862{i:07d}", 0) for i in range(args.backlog)]
            for f in concurrent.futures.as_completed(futures):
                f.result()
                done += 1
                if done % 20000 == 0:
                    print(f"backlog: {done}/{args.backlog} scheduled", flush=True)
        scheduled_s = time.time() - t0
        time.sleep(2)
        rss_after = rss_mib(ccd.pid)
        pending = callbacks.ListCallbacks(cpb.ListCallbacksRequest(
            states=[cpb.CALLBACK_STATE_PENDING], department_ids=["backlog"], page_size=1), timeout=60)
        results["backlog"] = {
            "scheduled": args.backlog, "schedule_seconds": round(scheduled_s, 1),
            "schedule_per_second": round(args.backlog / scheduled_s),
            "rss_before_mib": round(rss_before, 1), "rss_after_mib": round(rss_after, 1),
            "bytes_per_callback": round((rss_after - rss_before) * 1024 * 1024 / max(args.backlog, 1)),
        }
        print(json.dumps(results["backlog"]), flush=True)
        if not pending.callbacks:
            raise RuntimeError("no backlog callback is pending")

        measure("backlog")

        # Restore: SIGKILL, restart, time until ready and until a backlog callback is
        # dialled once its department's (only) member logs in.
        agents.close()
        agents = None
        channel.close()
        ccd.send_signal(signal.SIGKILL)
        ccd.wait()
        ccd, ready_s = start_ccd()
        channel = grpc.insecure_channel(f"127.0.0.1:{api_port}")
        callbacks = crpc.CallbacksStub(channel)
        t0 = time.time()
        while True:
            try:
                listed = callbacks.ListCallbacks(cpb.ListCallbacksRequest(
                    states=[cpb.CALLBACK_STATE_PENDING], page_size=1), timeout=10)
                if listed.callbacks:
                    break
            except grpc.RpcError:
                pass
            if time.time() - t0 > 120:
                raise RuntimeError("no pending callback after the restart")
            time.sleep(0.05)
        results["restart"] = {
            "ready_seconds": round(ready_s, 2),
            "listed_after_ready_seconds": round(time.time() - t0, 2),
            "rss_mib": round(rss_mib(ccd.pid), 1),
        }
        print(json.dumps(results["restart"]), flush=True)
        report(args, samples, results)
    finally:
        if agents is not None:
            agents.close()
        for c in reversed(children):
            if c.poll() is None:
                c.terminate()
                try:
                    c.wait(10)
                except subprocess.TimeoutExpired:
                    c.kill()
        log.close()
        if os.environ.get("KEEP_WORK") is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")


def report(args, samples, results):
    path = Path(args.report)
    with open(path.with_suffix(".jsonl"), "w") as f:
        for s in samples:
            f.write(json.dumps(s) + "\n")
    rows = []
    for measure, title in (("due", "due time -> agent reserved (agent free)"),
                           ("free", "agent free -> reserved (callback due)")):
        for phase in ("idle", "backlog"):
            lags = [s["lag_ms"] for s in samples if s["measure"] == measure and s["phase"] == phase]
            if not lags:
                continue
            rows.append(f"| {title} | {'none' if phase == 'idle' else f'{args.backlog:,}'} | {len(lags)} | "
                        f"{statistics.median(lags):.0f} | {pct(lags, 90):.0f} | {pct(lags, 99):.0f} | {max(lags)} |")
    b, r = results["backlog"], results["restart"]
    text = f"""# Callback dispatch lag, end to end (`ccd all`)

Measured by `bash loadtest/callbacks.sh` ({time.strftime('%Y-%m-%d')}, ccd `{args.ccd}`), on this
2-core VM shared by ccd, two SIPp processes and the Python driver. {args.agents} departments of
one agent each; SIPp answers every agent's phone (100 ms ring) and every customer behind the
trunk (100 ms ring, 300 ms talk). Agent-first callbacks: the agent hears the brief before the
customer is rung, so a round lasts a few seconds.

Lag is read from presence's own event timestamps (cc.agents.v1 WatchAgentEvents) against the
due time the callback was scheduled with, or against the agent's RESUME event: both on ccd's
clock. Target: dispatch lag p99 under 100 ms.

| measure | other callbacks pending | samples | median ms | p90 ms | p99 ms | max ms |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## {b['scheduled']:,} pending callbacks (with a round's {args.agents}: {b['scheduled'] + args.agents:,} active)

- Scheduled through the API (32 concurrent clients): {b['schedule_seconds']} s, {b['schedule_per_second']:,}/s.
- ccd resident memory: {b['rss_before_mib']} MiB before, {b['rss_after_mib']} MiB after:
  about {b['bytes_per_callback']:,} bytes per pending callback for the whole node (scheduler
  core, the in-memory coordinator's copy, the journal's index, the API's event history).
- SIGKILL and restart with them journalled: `ccd ready` after {r['ready_seconds']} s (the
  journal replayed into the coordinator), a pending callback listed
  {r['listed_after_ready_seconds']} s after that; {r['rss_mib']} MiB resident after the restart.

## How the lag is made

- due: the scheduler's timer fires at the due time, the leader writes the attempt (journal
  fsync in `ccd all`), asks sip-edge to place it, sip-edge queues it in the department at its
  place and the queue reserves the agent in presence.
- free: presence's change reaches the scheduler over the shard's WatchShard stream, then the
  same path.

Repeat: `cargo build -p ccd && bash loadtest/callbacks.sh` (options: `--agents`, `--rounds`,
`--backlog`). The samples are in `{path.with_suffix('.jsonl').name}`.
"""
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
