#!/usr/bin/env bash
# The reporting at scale (issue 8): ingest N synthetic calls (default 10,000,000, ~77 M
# events) into a fresh SQLite database, then into a fresh PostgreSQL (a temporary cluster
# of the example's own, Debian's postgresql), in batches of 1,000 events as the reporting
# node's writer does; then time the scenario report and the KPIs over each.
#
# Usage: bash loadtest/reporting.sh [CALLS] [sqlite|postgres|both]
# Writes loadtest/reports/reporting-load.md and prints it. A release build of the
# `cc-reporting` example `load`; for 10 M calls about 8 minutes on SQLite and 25 on
# PostgreSQL on the 2-core VM (7 and 20 GiB of disk). Not part of CI. The databases go to
# a temporary directory (CCD_LOADTEST_TMP, default /tmp), removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

CALLS="${1:-10000000}"
WHICH="${2:-both}"
TMP="$(mktemp -d "${CCD_LOADTEST_TMP:-/tmp}/ccd-reporting-load.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
# The PostgreSQL cluster runs as the postgres user, inside this directory.
chmod 755 "$TMP"
cargo build --release -q -p cc-reporting --example load
BIN="$CARGO_TARGET_DIR/release/examples/load"
REPORT=loadtest/reports/reporting-load.md
{
  echo "# Reporting at scale: $CALLS calls in SQLite and PostgreSQL"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "by \`bash loadtest/reporting.sh $CALLS $WHICH\` (release build of \`cc-reporting\`'s"
  echo "example \`load\`). Synthetic traffic (\`cc_reporting::synth\`): 20 scenarios, 50 numbers,"
  echo "5 departments, 8 operations, one call every 250 ms, every event kind. Targets: at least"
  echo "50,000 events/s ingested, the scenario report in under 2 s on SQLite."
  echo
  echo "The same batches, statements and queries on both databases, one after the other on"
  echo "the same machine. SQLite: one file in WAL mode, synchronous=NORMAL. PostgreSQL"
  echo "$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1): a fresh cluster with the server's defaults"
  echo "(fsync, full-page writes and synchronous commit on, shared_buffers 128 MB), over TCP on"
  echo "loopback."
  if [ "$WHICH" != postgres ]; then
    echo
    echo "# SQLite"
    echo
    "$BIN" "$CALLS" "$TMP/reporting.sqlite3"
    rm -f "$TMP"/reporting.sqlite3*
  fi
  if [ "$WHICH" != sqlite ]; then
    echo
    echo "# PostgreSQL"
    echo
    TMPDIR="$TMP" "$BIN" "$CALLS" postgres
  fi
} | tee "$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"
echo "written: $REPORT"
