#!/usr/bin/env bash
# The browser half's tests (owned by the browser half; called by test.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"
echo "browser tests: not written yet"
