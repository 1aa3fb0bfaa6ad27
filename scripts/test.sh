#!/usr/bin/env bash
# The whole test suite: formatting, lints, the sans-IO rule, unit and end-to-end tests
# against real SIP peers. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== sans-IO crates must not depend on tokio"
for core in cc-sip cc-media-core; do
  if cargo tree -p "$core" -e normal --locked | grep -qE '(tokio|tonic|etcd-client) v'; then
    echo "FAIL: $core depends on tokio/tonic/etcd-client (DESIGN.md section 2)" >&2
    cargo tree -p "$core" -e normal -i tokio >&2 || true
    exit 1
  fi
done

echo "== build ccd for the end-to-end tests"
cargo build --locked -p ccd
export CCD_BIN="$CARGO_TARGET_DIR/debug/ccd"

echo "== deploy manifests"
bash scripts/check-deploy.sh

echo "== cargo nextest"
cargo nextest run --workspace --locked --no-fail-fast
