#!/usr/bin/env bash
# Load benchmark of the SIP front door (issue 2): OPTIONS and digest REGISTER transactions
# per second through a release `ccd` with SIPp on loopback, and the CPU microseconds the ccd
# process spends per transaction (from /proc/PID/stat, so SIPp's own CPU is not counted).
#
# Usage: loadtest/sip-front-door.sh [SECONDS_PER_STEP] [OPTIONS_RATES...]
#   defaults: 10 s per step, OPTIONS at 5000 10000 15000 20000 25000 calls/s, then digest
#   REGISTER at $REGISTER_RATES (default "1000 2000 4000") calls/s. Each REGISTER step starts
#   with an empty transaction table (a 34 s pause lets timer J end the previous step's):
#   authenticated REGISTERs are stateful, and [sip] max_transactions bounds the table.
# Writes loadtest/reports/sip-front-door.md (and prints it). Bounded: every SIPp run has a
# call count and a timeout; ccd is stopped by its PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
secs=${1:-10}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(5000 10000 15000 20000 25000)
read -r -a register_rates <<<"${REGISTER_RATES:-1000 2000 4000}"

cargo build --release -q -p ccd
# Parser micro-benchmarks first, on an idle machine (criterion medians, allocations).
cargo bench -q -p cc-sip --bench parse -- --warm-up-time 1 --measurement-time 4 2>/dev/null \
  | grep -E "allocations|time:" >"${TMPDIR:-/tmp}/ccd-parse-bench.txt" || true
ccd="$CARGO_TARGET_DIR/release/ccd"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/ccd.toml" <<TOML
[sip]
listen = "127.0.0.1:$port"
domain = "cc.local"
queue_depth = 8192
[[employees]]
id = "anna"
name = "Anna Kowalska"
extension = "201"
sip_password = "anna-secret"
role = "user"
TOML
RUST_LOG=warn "$ccd" all --config "$work/ccd.toml" --data-dir "$work/data" 2>"$work/ccd.log" &
ccd_pid=$!
trap 'kill $ccd_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  grep -q "listening" "$work/ccd.log" 2>/dev/null && break
  sleep 0.1
done

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$ccd_pid/stat"; }

# run_step NAME SCENARIO RATE TX_PER_CALL [extra sipp args]
run_step() {
  local name=$1 scenario=$2 rate=$3 txpc=$4
  shift 4
  local calls=$((rate * secs))
  local sport
  sport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local mport
  mport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local before after start end
  before=$(cpu_ticks)
  start=$(date +%s.%N)
  sipp 127.0.0.1:"$port" -sf "$scenario" -i 127.0.0.1 -mi 127.0.0.1 -mp "$mport" -p "$sport" -t u1 \
    -r "$rate" -rp 1000 -m "$calls" -l $((rate * 2)) -timeout $((secs * 3 + 20))s -timeout_error \
    -trace_stat -stf "$work/$name-$rate.csv" -fd 1 -nostdin "$@" \
    >"$work/sipp.out" 2>&1 || true
  end=$(date +%s.%N)
  after=$(cpu_ticks)
  local last ok failed retrans
  last=$(tail -n 1 "$work/$name-$rate.csv")
  # Cumulative columns of SIPp's stat file (semicolon separated, header names them).
  ok=$(awk -F';' -v col="SuccessfulCall(C)" 'NR==1{for(i=1;i<=NF;i++) if($i==col) c=i} END{print $c}' "$work/$name-$rate.csv")
  failed=$(awk -F';' -v col="FailedCall(C)" 'NR==1{for(i=1;i<=NF;i++) if($i==col) c=i} END{print $c}' "$work/$name-$rate.csv")
  retrans=$(awk -F';' -v col="Retransmissions(C)" 'NR==1{for(i=1;i<=NF;i++) if($i==col) c=i} END{print $c}' "$work/$name-$rate.csv")
  : "$last"
  python3 - "$name" "$rate" "$txpc" "$ok" "$failed" "$retrans" "$start" "$end" "$before" "$after" "$clk" >>"$work/rows" <<'PY'
import sys
name, rate, txpc, ok, failed, retrans, start, end, before, after, clk = sys.argv[1:]
ok, failed, retrans, txpc = int(ok or 0), int(failed or 0), int(retrans or 0), int(txpc)
elapsed = float(end) - float(start)
cpu_s = (int(after) - int(before)) / int(clk)
tx = ok * txpc
print(f"| {name} | {rate} | {ok} | {failed} | {retrans} | {elapsed:.1f} | {ok/elapsed:.0f} | {tx/elapsed:.0f} | {cpu_s:.2f} | {cpu_s*1e6/max(tx,1):.1f} |")
PY
  tail -n 1 "$work/rows"
}

: >"$work/rows"
for r in "${rates[@]}"; do run_step OPTIONS loadtest/sipp/options_load.xml "$r" 1; done
for r in "${register_rates[@]}"; do
  sleep 34
  run_step REGISTER loadtest/sipp/register_load.xml "$r" 2 -s 201 -au 201 -ap anna-secret
done

report=loadtest/reports/sip-front-door.md
{
  echo "# SIP front door: OPTIONS and REGISTER throughput"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "release build, \`RUST_LOG=warn\`, SIPp $(sipp -v 2>/dev/null | grep -om1 'v[0-9.]*' || echo '?') over UDP on loopback, ${secs} s per step."
  echo "Repeat with: \`REGISTER_RATES=\"${register_rates[*]}\" loadtest/sip-front-door.sh ${secs} ${rates[*]}\`."
  echo
  echo "A REGISTER call is two transactions (401 challenge, then 200 with digest verified)."
  echo "CPU is the ccd process's user+system time over the step (/proc/PID/stat), divided by"
  echo "transactions completed. SIPp runs on the same 2 cores, so the highest rates measure"
  echo "the pair, not ccd alone. RFC 7502 capacity = the highest rate with 0 failed calls."
  echo
  echo "## Parser (criterion, \`cargo bench -p cc-sip --bench parse\`)"
  echo
  echo "Targets: parse of a typical INVITE (12 headers + SDP) at most 2 us, serialize at most 1 us."
  echo
  echo "| benchmark | low | median | high |"
  echo "|---|---|---|---|"
  grep "time:" "${TMPDIR:-/tmp}/ccd-parse-bench.txt" \
    | sed -E 's/^ *([a-z_]+) +time: +\[([^ ]+ [^ ]+) ([^ ]+ [^ ]+) ([^ ]+ [^ ]+)\]/| \1 | \2 | \3 | \4 |/'
  echo
  grep "allocations" "${TMPDIR:-/tmp}/ccd-parse-bench.txt" | sed 's/^/- /'
  echo
  echo "## Transactions through ccd (SIPp on loopback)"
  echo
  echo "| scenario | offered calls/s | successful | failed | retransmissions | seconds | calls/s | transactions/s | ccd CPU s | ccd CPU us/transaction |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  cat "$work/rows"
} >"$report"
cat "$report"
