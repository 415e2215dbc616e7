#!/usr/bin/env bash
# Runs every hookline benchmark and prints its figures (installing what is missing first).
# Each part can also be run alone: bench-render.sh, bench-server.sh, bench-browser.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"
for part in render server browser; do
  script="$HOOKLINE_ROOT/scripts/bench-$part.sh"
  if [ -x "$script" ]; then
    say "benchmark: $part"
    "$script"
  fi
done
