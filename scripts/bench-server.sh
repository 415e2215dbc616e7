#!/usr/bin/env bash
# The delivery benchmark of `hookline serve`: N events over HTTP through the durable SQLite queue to
# a receiver on loopback, next to the plain-HTTP ceiling measured in the same run. Prints ingest and
# delivery rates, the ratio to the ceiling, p50/p99 ingest→arrival latency at a steady rate, and the
# server's peak RSS. Sizes: HOOKLINE_BENCH_EVENTS (20000), HOOKLINE_BENCH_RATE (1000),
# HOOKLINE_BENCH_SECONDS (5); HOOKLINE_BENCH_BIN runs another hookline binary (to compare builds).
# Honours CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"
cargo bench --quiet -p hookline-server --bench delivery
