#!/usr/bin/env bash
# Callback dispatch lag end to end through `ccd all` (issue 7): due time -> agent reserved
# with the agent free, and agent freed -> reserved with the callback due, first with nothing
# else pending and then with 100,000 callbacks pending; ccd's memory for them; the time to
# have them back after a SIGKILL and restart.
#
# Usage: bash loadtest/callbacks.sh [run.py options, e.g. --rounds 5 --backlog 20000]
# Writes loadtest/reports/callbacks-e2e.md (+ .jsonl) and prints it; about 8 minutes. Not
# part of CI. Uses the ccd binary at $CCD_BIN, else the debug build in $CARGO_TARGET_DIR (it
# does not build: `cargo build -p ccd` first). The driver talks gRPC through grpcio and
# stubs generated at run time by grpcio-tools, installed once into a venv under
# ~/.cache/ccd-loadtest. Every process it starts is stopped by its PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

CCD_BIN="${CCD_BIN:-$CARGO_TARGET_DIR/debug/ccd}"
if [ ! -x "$CCD_BIN" ]; then
  echo "callbacks.sh: no ccd at $CCD_BIN: build it with \`cargo build -p ccd\` or set CCD_BIN" >&2
  exit 1
fi
command -v sipp >/dev/null || { echo "callbacks.sh: sipp is missing: run scripts/setup.sh" >&2; exit 1; }

VENV="${CCD_LOADTEST_VENV:-$HOME/.cache/ccd-loadtest/venv}"
TOOLS="grpcio-tools==1.85.1"
if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import grpc, grpc_tools" 2>/dev/null; }; then
  { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"; } \
    && "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$TOOLS" \
    || { echo "callbacks.sh: cannot install $TOOLS into $VENV" >&2; exit 1; }
fi

ulimit -n 65536 2>/dev/null || true
exec "$VENV/bin/python" loadtest/callbacks/run.py \
  --ccd "$CCD_BIN" \
  --prompts "$PWD/prompts" \
  --report loadtest/reports/callbacks-e2e.md "$@"
