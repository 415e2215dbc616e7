#!/usr/bin/env bash
# Runs hookline's main job on this machine, installing what is missing first (see setup.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"
echo "hookline: nothing to run yet"
