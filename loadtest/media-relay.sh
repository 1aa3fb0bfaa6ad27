#!/usr/bin/env bash
# Media benchmark (issue 3): bridged G.711 calls relayed by `ccd media`, next to a minimal C
# relay (the per-packet floor of this machine) and, when it installs, Debian's rtpengine in
# userspace mode, all driven by the same generator (loadtest/media/rtp-load) on loopback.
#
# Usage: loadtest/media-relay.sh [CALLS...]
#   default steps: 250 500 1000 1500 1750 2000 bridged calls (2 legs, 50 packets/s each way,
#   160-byte PCMU payloads: 100 relayed packets/s per call). Per step and repetition, ccd,
#   the floor relay and (at $RTPENGINE_STEPS) rtpengine each get a fresh process, $WARMUP s
#   of traffic, then a $SECS s measurement window. Environment:
#     SECS=5 WARMUP=2 REPEATS=3        window, warm-up, repetitions (report = medians)
#     FLOOR_STEPS="<steps>"             calls at which the C floor relay runs
#     RTPENGINE_STEPS="250 500 1000"    calls at which rtpengine runs ("" to skip it)
#     PER_LEG_STEPS="1000"              calls at which ccd and the floor also run with a
#                                       socket per generator leg (cross-check, "" to skip)
#     REF_CALLS=1000                    the load the per-packet verdict is read at
#     BENCH_LOCK=/tmp/cargo.lock        held while measuring, so that builds which take the
#                                       same lock wait instead of skewing the numbers ("" off)
# Writes loadtest/reports/media-relay.md (and prints it); raw results stay in
# loadtest/reports/media-relay.jsonl. Bounded: every process is started here and stopped by
# its PID; every run has a fixed length. About 8 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
secs=${SECS:-5}
warmup=${WARMUP:-2}
repeats=${REPEATS:-3}
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(250 500 1000 1500 1750 2000)
read -r -a floor_steps <<<"${FLOOR_STEPS-${steps[*]}}"
read -r -a rtpengine_steps <<<"${RTPENGINE_STEPS-250 500 1000}"
read -r -a per_leg_steps <<<"${PER_LEG_STEPS-1000}"
ref_calls=${REF_CALLS:-1000}
cargo_lock=${CARGO_LOCK:-/tmp/cargo.lock}
bench_lock=${BENCH_LOCK-$cargo_lock}
loops=2

# ---- build: ccd (release), the generator (its own target dir), the C floor relay.
flock "$cargo_lock" cargo build --release -q -p ccd
ccd="$CARGO_TARGET_DIR/release/ccd"
gen_target=${RTP_LOAD_TARGET_DIR:-$HOME/.cache/rtp-load-target}
CARGO_TARGET_DIR="$gen_target" flock "$cargo_lock" \
  cargo build --release -q --manifest-path loadtest/media/rtp-load/Cargo.toml
gen="$gen_target/release/rtp-load"
work=$(mktemp -d)
gcc -O2 -Wall -o "$work/floor_relay" loadtest/media/floor_relay.c -lpthread

# rtpengine (Debian rtpengine-daemon, userspace only: no kernel module, --table=-1).
rtpengine_note=""
if [ ${#rtpengine_steps[@]} -gt 0 ] && ! command -v rtpengine >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends \
      rtpengine-daemon >"$work/apt.log" 2>&1 || true
  fi
  command -v rtpengine >/dev/null ||
    rtpengine_note="rtpengine is not installed and could not be installed (apt-get install rtpengine-daemon); skipped."
fi
if [ -n "$rtpengine_note" ]; then rtpengine_steps=(); fi

current=""  # the one relay process running, if any
cleanup() {
  if [ -n "$current" ]; then kill "$current" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}

# stop PID: by its PID only, and wait so that its ports are free for the next run.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  current=""
}

results=loadtest/reports/media-relay.jsonl
mkdir -p loadtest/reports
: >"$results"

# record REP TARGET CALLS SOCKETS PID IDLE_RSS_KB GENERATOR_ARGS...
record() {
  local rep=$1 target=$2 calls=$3 sockets=$4 pid=$5 idle=$6
  shift 6
  local out
  if out=$("$gen" "$@" --calls "$calls" --pid "$pid" --sockets "$sockets" \
    --warmup "$warmup" --secs "$secs" 2>>"$work/gen.log"); then
    echo "{\"rep\":$rep,\"sockets\":\"$sockets\",\"idle_rss_kb\":$idle,\"run\":$out}" >>"$results"
    python3 - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
print(f"  {d['target']:9} {d['calls']:5} calls  lost {d['loss_pct']:7.3f}%  CPU {d['target_cpu_pct']:6.1f}%"
      f"  {d['us_per_packet'] or 0:5.2f} us/packet  generator {d['gen_cpu_pct']:5.1f}%  RSS {d['rss_kb']} kB")
PY
  else
    echo "{\"rep\":$rep,\"sockets\":\"$sockets\",\"failed\":{\"target\":\"$target\",\"calls\":$calls}}" >>"$results"
    echo "  $target $calls calls: generator failed: $(tail -n 1 "$work/gen.log")"
  fi
}

run_ccd() {
  local rep=$1 calls=$2 sockets=$3
  local api metrics
  api=$(free_port SOCK_STREAM)
  metrics=$(free_port SOCK_STREAM)
  cat >"$work/ccd.toml" <<TOML
[sip]
listen = "127.0.0.1:$(free_port SOCK_DGRAM)"
domain = "cc.local"
[media]
rtp_ports = "16000-31999"
public_ip = "127.0.0.1"
prompts_dir = "$PWD/prompts"
recordings_dir = "$work/recordings"
loops = $loops
max_endpoints = 10000
rtp_timeout_secs = 0
TOML
  RUST_LOG=info "$ccd" media --config "$work/ccd.toml" --api-listen "127.0.0.1:$api" \
    --metrics-listen "127.0.0.1:$metrics" 2>"$work/ccd.log" &
  local pid=$!
  current=$pid
  for _ in $(seq 100); do
    grep -q "ccd ready" "$work/ccd.log" 2>/dev/null && break
    sleep 0.05
  done
  local idle
  idle=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
  record "$rep" ccd "$calls" "$sockets" "$pid" "$idle" ccd --grpc "127.0.0.1:$api"
  stop "$pid"
}

run_floor() {
  local rep=$1 calls=$2 sockets=$3
  "$work/floor_relay" 10000 "$calls" "$loops" >"$work/floor.log" 2>&1 &
  local pid=$!
  current=$pid
  for _ in $(seq 100); do
    grep -q "ready" "$work/floor.log" 2>/dev/null && break
    sleep 0.05
  done
  record "$rep" floor "$calls" "$sockets" "$pid" 0 floor --base 10000
  stop "$pid"
}

run_rtpengine() {
  local rep=$1 calls=$2 sockets=$3
  local ng
  ng=$(free_port SOCK_DGRAM)
  rtpengine --config-file=none --foreground --log-stderr --log-level=4 --table=-1 \
    --interface=127.0.0.1 --listen-ng="127.0.0.1:$ng" --port-min=10000 --port-max=31999 \
    --num-threads="$loops" --timeout=60 >"$work/rtpengine.log" 2>&1 &
  local pid=$!
  current=$pid
  python3 - "$ng" <<'PY' || true
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
for _ in range(50):
    s.sendto(b"p d7:command4:pinge", ("127.0.0.1", int(sys.argv[1])))
    try:
        if b"pong" in s.recv(100):
            break
    except OSError:
        time.sleep(0.1)
PY
  local idle
  idle=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  record "$rep" rtpengine "$calls" "$sockets" "$pid" "${idle:-0}" rtpengine --ng "127.0.0.1:$ng"
  stop "$pid"
}

contains() {
  local x=$1
  shift
  for y in "$@"; do [ "$y" = "$x" ] && return 0; done
  return 1
}

# ---- measure (holding the build lock, so that concurrent cargo builds wait).
if [ -n "$bench_lock" ]; then
  exec 9>"$bench_lock"
  echo "waiting for $bench_lock..."
  flock 9
fi
all_steps=$(printf '%s\n' "${steps[@]}" "${floor_steps[@]}" "${rtpengine_steps[@]}" "${per_leg_steps[@]}" | grep . | sort -nu)
started=$(date +%s)
for rep in $(seq "$repeats"); do
  echo "repetition $rep/$repeats"
  for calls in $all_steps; do
    if contains "$calls" "${steps[@]}"; then run_ccd "$rep" "$calls" shared; fi
    if contains "$calls" "${floor_steps[@]}"; then run_floor "$rep" "$calls" shared; fi
    if contains "$calls" "${rtpengine_steps[@]}"; then run_rtpengine "$rep" "$calls" shared; fi
    if contains "$calls" "${per_leg_steps[@]}"; then
      run_ccd "$rep" "$calls" per-leg
      run_floor "$rep" "$calls" per-leg
    fi
  done
done
elapsed=$(($(date +%s) - started))
if [ -n "$bench_lock" ]; then flock -u 9; fi

# ---- report
rtpengine_version=""
command -v rtpengine >/dev/null && rtpengine_version=$(rtpengine --version 2>&1 | grep -oE '[0-9][0-9.+~a-z-]*' | head -n 1)
python3 loadtest/media/report.py "$results" \
  --cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  --cores "$(nproc)" --kernel "$(uname -r)" \
  --commit "$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- services proto 2>/dev/null || echo ' + uncommitted changes in services/')" \
  --secs "$secs" --warmup "$warmup" --repeats "$repeats" --loops "$loops" --ref-calls "$ref_calls" \
  --elapsed "$elapsed" --rtpengine-version "$rtpengine_version" --rtpengine-note "$rtpengine_note" \
  --repeat-cmd "SECS=$secs WARMUP=$warmup REPEATS=$repeats FLOOR_STEPS=\"${floor_steps[*]}\" RTPENGINE_STEPS=\"${rtpengine_steps[*]}\" PER_LEG_STEPS=\"${per_leg_steps[*]}\" loadtest/media-relay.sh ${steps[*]}" \
  >loadtest/reports/media-relay.md
cat loadtest/reports/media-relay.md
