#!/usr/bin/env bash
# Full-flow calls per second through a release `ccd all` (issue 4): SIPp callers dial the
# company number, hear the greeting, queue, are bridged to SIPp agents, talk 10 s, hang up.
# Finds the highest rate with zero failed calls (RFC 7502 search) and the ccd CPU per call.
#
# Usage: loadtest/full-flow.sh [run.py options, e.g. --agents 3000 --start-rate 25]
# Writes loadtest/reports/full-flow.md (+ .jsonl) and prints it. Not part of CI: a search
# takes several minutes. Every process it starts is stopped by its PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Thousands of calls hold two RTP sockets each, and SIPp one per call.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release -q -p ccd
exec python3 loadtest/full-flow/run.py \
  --ccd "$CARGO_TARGET_DIR/release/ccd" \
  --prompts "$PWD/prompts" \
  --report loadtest/reports/full-flow.md "$@"
