#!/usr/bin/env bash
# Runs `ccd all` with the built-in demo organisation (or with the config file given as $1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --build-only
source scripts/env.sh
cargo build --release -p ccd
args=(all)
[ $# -gt 0 ] && args+=(--config "$1")
exec "$CARGO_TARGET_DIR/release/ccd" "${args[@]}"
