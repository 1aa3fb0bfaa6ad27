#!/usr/bin/env bash
# Cluster coordination costs and failover time against a real etcd (Debian's etcd-server):
# etcd writes per second on this machine (1 and 100 clients), etcd writes per call through
# `ccd all --etcd`, and how long after a SIGKILL of a department's queue owner another
# queue node serves it and a waiting caller is offered again (20 runs).
#
# Usage: bash loadtest/cluster.sh [run.py options, e.g. --runs 5 --only takeover]
# Writes loadtest/reports/cluster.md (+ .jsonl) and prints it; about 6 minutes. Not part of
# CI. Uses the ccd binary at $CCD_BIN, else the debug build in $CARGO_TARGET_DIR (it does
# not build: `cargo build -p ccd` first). Every process it starts is stopped by its PID at
# the end. The native-gRPC etcd rounds need grpcio, installed once into a venv under
# ~/.cache/ccd-loadtest; without it (no PyPI) only the HTTP-gateway rounds run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

CCD_BIN="${CCD_BIN:-$CARGO_TARGET_DIR/debug/ccd}"
if [ ! -x "$CCD_BIN" ]; then
  echo "cluster.sh: no ccd at $CCD_BIN: build it with \`cargo build -p ccd\` or set CCD_BIN" >&2
  exit 1
fi
for tool in etcd etcdctl sipp; do
  command -v "$tool" >/dev/null || { echo "cluster.sh: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
done

VENV="${CCD_LOADTEST_VENV:-$HOME/.cache/ccd-loadtest/venv}"
GRPCIO="grpcio==1.85.3"
bench_python=""
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import grpc" 2>/dev/null; then
  bench_python="$VENV/bin/python"
elif { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >/dev/null 2>&1; } \
  && "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$GRPCIO" >/dev/null 2>&1; then
  bench_python="$VENV/bin/python"
else
  echo "cluster.sh: cannot install $GRPCIO into $VENV: etcd is measured over its HTTP gateway only" >&2
fi

ulimit -n 65536 2>/dev/null || true
exec python3 loadtest/cluster/run.py \
  --ccd "$CCD_BIN" \
  --prompts "$PWD/prompts" \
  --bench-python "$bench_python" \
  --report loadtest/reports/cluster.md "$@"
