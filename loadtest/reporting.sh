#!/usr/bin/env bash
# The reporting at scale (issue 8): ingest N synthetic calls (default 10,000,000, ~77 M
# events, ~7 GiB) into a fresh SQLite database in batches of 1,000 events, then time the
# scenario report and the KPIs over it.
#
# Usage: bash loadtest/reporting.sh [CALLS]
# Writes loadtest/reports/reporting-load.md and prints it. A release build of the
# `cc-reporting` example `load`; about 15 minutes for 10 M calls on the 2-core VM. Not part
# of CI. The database goes to a temporary directory (CCD_LOADTEST_TMP, default /tmp),
# removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

CALLS="${1:-10000000}"
TMP="$(mktemp -d "${CCD_LOADTEST_TMP:-/tmp}/ccd-reporting-load.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
cargo build --release -q -p cc-reporting --example load
BIN="$CARGO_TARGET_DIR/release/examples/load"
REPORT=loadtest/reports/reporting-load.md
{
  echo "# Reporting at scale: $CALLS calls in SQLite"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "by \`bash loadtest/reporting.sh $CALLS\` (release build of \`cc-reporting\`'s example"
  echo "\`load\`). Synthetic traffic (\`cc_reporting::synth\`): 20 scenarios, 50 numbers, 5"
  echo "departments, 8 operations, one call every 250 ms, every event kind. Targets: at least"
  echo "50,000 events/s ingested, the scenario report in under 2 s."
  echo
  "$BIN" "$CALLS" "$TMP/reporting.sqlite3"
} | tee "$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"
echo "written: $REPORT"
