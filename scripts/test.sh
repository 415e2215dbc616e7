#!/usr/bin/env bash
# Runs every hookline test on this machine, installing what is missing first (see setup.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_browsers
ensure_geckodriver
ensure_node_modules
ensure_shellcheck
ensure_schemathesis

say "set-up: every install step on a machine that lacks its tool (installers stubbed)"
"$HOOKLINE_ROOT/scripts/test-setup.sh"

say "formatting and lints$(first_time "builds every dependency first, about 2 minutes")"
shellcheck --external-sources --source-path=SCRIPTDIR scripts/*.sh .ci/run
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "server: unit and integration tests (about 2 minutes the first time, 1 after)"
cargo test -p hookline-server

say "server: API contract, schemathesis against the served /openapi.json (about 2 minutes)"
"$HOOKLINE_ROOT/scripts/test-contract.sh"

say "browser: wasm tests in headless Chromium and Firefox, package, end-to-end (about 2 to 3 minutes)"
"$HOOKLINE_ROOT/scripts/test-browser.sh"

say "all tests passed"
