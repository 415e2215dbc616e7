#!/usr/bin/env bash
# Builds the package and serves the demo site on http://127.0.0.1:${HOOKLINE_DEMO_PORT:-8090}/
# (www/ at /, the package at /dist/, a webhook receiver at /hooks/ that the page shows).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"
"$HOOKLINE_ROOT/scripts/build-package.sh"
exec node "$HOOKLINE_ROOT/scripts/serve-demo.mjs"
