#!/usr/bin/env bash
# Runs every test of faultline on a fresh machine: installs what the tests need (a Python virtualenv
# with the OpenTelemetry SDK), then formatting, lints, Rust tests, and the end-to-end tests that
# drive the real binary with real OpenTelemetry clients.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/faultline-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The shared target directory serves several checkouts, and cargo does not rebuild a test binary
# because its checkout moved: tests find their files at run time, from this checkout.
export INSTA_WORKSPACE_ROOT="$PWD"
VENV="${FAULTLINE_VENV:-$HOME/.cache/faultline-venv}"

step() { printf '\n== %s ==\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rust tests"
cargo test --workspace --locked

step "build the binary for end-to-end tests"
cargo build -p faultline --locked
export FAULTLINE_BIN="$CARGO_TARGET_DIR/debug/faultline"

step "python virtualenv for end-to-end tests"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt

step "end-to-end tests (OpenTelemetry SDK, crash recovery)"
"$VENV/bin/python" -m pytest -q tests/python
