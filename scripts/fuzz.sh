#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (FUZZ_SECONDS each, default 20) from the corpus
# kept in fuzz/corpus/, adding what it finds there. A crash fails the run and leaves its input in
# fuzz/artifacts/<target>/: make it a regression test (a unit test that reads it), then fix it.
#
# Needs cargo-fuzz (installed here when missing) and the nightly toolchain's flags; the stable
# toolchain is used with RUSTC_BOOTSTRAP=1 when nightly is not installed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
export FAULTLINE_UI=skip   # the fuzz build needs no web UI
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked cargo-fuzz
fi
TOOLCHAIN=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  TOOLCHAIN=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
targets=$(cargo "${TOOLCHAIN[@]}" fuzz list)
cargo "${TOOLCHAIN[@]}" fuzz build -O >/dev/null
printf '%-16s %12s %10s %8s\n' target executions exec/s crashes
for t in $targets; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  found=$(mktemp -d)   # new inputs go here: the corpus in the repository is read, not grown
  if cargo "${TOOLCHAIN[@]}" fuzz run -O "$t" "$found" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1; then
    crashes=0
  else
    crashes=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  printf '%-16s %12s %10s %8s\n' "$t" "$runs" "$rate" "$crashes"
  if [ "$crashes" != 0 ]; then
    tail -40 "$log"
    echo "fuzz target $t crashed: its input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  rm -rf "$log" "$found"
done
