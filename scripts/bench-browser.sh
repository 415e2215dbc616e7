#!/usr/bin/env bash
# Browser benchmark, figures only (not a timed test): the package's size (worker script + wasm,
# raw and gzip) and the median time from a push reaching the service worker to its webhook being
# sent, cold and warm worker, in headless Chromium. BENCH_RUNS sets the runs (default 15).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"
"$HOOKLINE_ROOT/scripts/build-package.sh"
node "$HOOKLINE_ROOT/scripts/bench-browser.mjs"
