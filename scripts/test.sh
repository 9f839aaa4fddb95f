#!/usr/bin/env bash
# Runs every test of faultline on a fresh machine: installs what the tests need (Node.js packages of
# the web UI, a Python virtualenv with the OpenTelemetry SDK, Debian's Chromium), then formatting,
# lints, Rust tests, and the end-to-end tests that drive the real binary with real OpenTelemetry
# clients and a real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/faultline-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The shared target directory serves several checkouts, and cargo does not rebuild a test binary
# because its checkout moved: tests find their files at run time, from this checkout.
export INSTA_WORKSPACE_ROOT="$PWD"
VENV="${FAULTLINE_VENV:-$HOME/.cache/faultline-venv}"

step() { printf '\n== %s ==\n' "$*"; }

apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

step "web UI: Node.js packages and type check"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npx tsc --noEmit)

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rust tests"
cargo test --workspace --locked

step "dependencies: licences, bans and sources (cargo-deny; deny.toml)"
if ! command -v cargo-deny >/dev/null; then
  cargo install --locked cargo-deny
fi
cargo deny --log-level error check licenses bans sources
if timeout 300 cargo deny --log-level error fetch >/dev/null 2>&1; then
  cargo deny --log-level error check advisories
else
  echo "advisories: the RustSec database cannot be fetched from here (no network beyond the registries); skipped"
fi

step "fuzz: every target for ${FUZZ_SECONDS:-20} s from the corpus in fuzz/corpus"
bash scripts/fuzz.sh

step "build the binary for end-to-end tests"
cargo build -p faultline --locked
export FAULTLINE_BIN="$CARGO_TARGET_DIR/debug/faultline"

step "python virtualenv for end-to-end tests"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt

step "end-to-end tests (OpenTelemetry SDK, crash recovery, Prometheus remote write)"
if ! command -v prometheus >/dev/null; then
  apt_install prometheus
fi
"$VENV/bin/python" -m pytest -q tests/python

step "web UI end-to-end tests (Chromium, playwright-core)"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  apt_install chromium
fi
(cd ui && node --test e2e/)
