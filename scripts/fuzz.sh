#!/usr/bin/env bash
# Bounded fuzzing of cc-sip with cargo-fuzz (libFuzzer): the SIP parser, the stream framer,
# SDP and digest verification. See fuzz/README.md.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 60; each target runs with libFuzzer's -max_total_time
#   TARGET              default all: sip_message sip_stream sdp digest_verify
# Environment:
#   FUZZ_SANITIZER      address (default) or none
#   FUZZ_JOBS           parallel libFuzzer workers per target (default 1)
#   CCD_FUZZ_TARGET_DIR build directory (default ~/.cache/ccd-fuzz-target)
#
# Each target starts from fuzz/corpus-seed/<target> (committed) plus fuzz/corpus/<target>
# (what earlier runs found; ignored by git), first replays fuzz/regressions/<target>/*
# (inputs that once failed), then fuzzes. Exits non-zero if any target crashed, panicked,
# timed out or ran out of memory, and prints where the artifact is.
#
# Toolchain: only stable Rust is installed; cargo-fuzz needs nightly-only flags
# (-Zsanitizer, -Cpasses=sancov-module ...), so RUSTC_BOOTSTRAP=1 unlocks them on stable.
# AddressSanitizer works out of the box: rustc's rust-std component ships its own ASan
# runtime (librustc-stable_rt.asan.a), no libclang-rt or clang is needed. cc-sip forbids
# unsafe code, so ASan mostly guards the dependencies; FUZZ_SANITIZER=none runs faster.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2; }
shift || true
all=(sip_message sip_stream sdp digest_verify media_packets)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")

sanitizer="${FUZZ_SANITIZER:-address}"
jobs="${FUZZ_JOBS:-1}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CCD_FUZZ_TARGET_DIR:-$HOME/.cache/ccd-fuzz-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

# Builds share the machine with other builds: serialise them on the same lock.
locked() {
  if command -v flock >/dev/null; then flock /tmp/cargo.lock "$@"; else "$@"; fi
}

if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  locked cargo install --locked cargo-fuzz
fi

declare -A dict=([sip_message]=sip [sip_stream]=sip [sdp]=sdp [digest_verify]=digest [media_packets]=media)

echo "== cargo fuzz build (sanitizer: $sanitizer)"
for t in "${targets[@]}"; do
  [[ -n "${dict[$t]:-}" ]] || { echo "unknown target $t (known: ${all[*]})" >&2; exit 2; }
done
if [[ ${#targets[@]} -eq ${#all[@]} ]]; then
  locked cargo fuzz build --sanitizer "$sanitizer" --target-dir "$CARGO_TARGET_DIR"
else
  for t in "${targets[@]}"; do
    locked cargo fuzz build --sanitizer "$sanitizer" --target-dir "$CARGO_TARGET_DIR" "$t"
  done
fi
bin_dir="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

failed=()
for t in "${targets[@]}"; do
  bin="$bin_dir/$t"
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  log="$artifacts/last-run.log"

  shopt -s nullglob
  regressions=(fuzz/regressions/"$t"/*)
  shopt -u nullglob
  if [[ ${#regressions[@]} -gt 0 ]]; then
    echo "== $t: replaying ${#regressions[@]} regression input(s)"
    for r in "${regressions[@]}"; do
      if ! "$bin" "$r" >"$artifacts/regression.log" 2>&1; then
        echo "FAIL: $t regression $r still fails:" >&2
        grep -A3 -m1 "panicked at" "$artifacts/regression.log" >&2 || tail -5 "$artifacts/regression.log" >&2
        failed+=("$t (regression $r)")
      fi
    done
  fi

  echo "== $t: fuzzing for ${secs}s"
  list_artifacts() { ls "$artifacts" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true; }
  before="$(list_artifacts)"
  rc=0
  args=(
    -max_total_time="$secs"
    -timeout=10
    -rss_limit_mb=2048
    -dict="fuzz/dict/${dict[$t]}.dict"
    -artifact_prefix="$artifacts/"
    -print_final_stats=1
  )
  if [[ "$jobs" -gt 1 ]]; then args+=(-fork="$jobs"); fi
  "$bin" "${args[@]}" "$corpus" "fuzz/corpus-seed/$t" >"$log" 2>&1 || rc=$?
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::average_exec_per_sec' "$log" || tail -3 "$log"
  if [[ $rc -ne 0 ]]; then
    echo "FAIL: $t exited with $rc; log: $log" >&2
    grep -A3 -m1 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" "$log" >&2 || true
    for a in $(comm -13 <(echo "$before") <(list_artifacts)); do
      echo "  artifact: $artifacts/$a" >&2
      echo "  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer $t $artifacts/$a" >&2
      echo "  minimise:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin --sanitizer $sanitizer $t $artifacts/$a" >&2
    done
    failed+=("$t")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${secs}s each, no crash"
