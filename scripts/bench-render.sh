#!/usr/bin/env bash
# Render benchmark: the seed's example body, parsed once and rendered many times, by hookline (Rust)
# and by LiquidJS (node) on the same template and data, in one run. Prints renders/s and the ratio.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"
[ -f node_modules/liquidjs/package.json ] || ensure_node_modules

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

say "render: hookline (cargo bench --bench render, release)"
HOOKLINE_BENCH_OUT="$out" cargo bench --quiet -p hookline-server --bench render | tee "$out/rust.txt"

say "render: LiquidJS $(node -p 'require("liquidjs/package.json").version') on node $(node --version)"
HOOKLINE_BENCH_OUT="$out" HOOKLINE_BENCH_EXPECT="$out/expected.txt" node bench/liquidjs-render.mjs | tee "$out/js.txt"

rust=$(sed -n 's/^HOOKLINE_RENDERS_PER_SEC=//p' "$out/rust.txt")
rust_filtered=$(sed -n 's/^HOOKLINE_FILTERED_RENDERS_PER_SEC=//p' "$out/rust.txt")
js=$(sed -n 's/^LIQUIDJS_RENDERS_PER_SEC=//p' "$out/js.txt")
awk -v r="$rust" -v l="$rust_filtered" -v j="$js" 'BEGIN {
  printf "\nseed example body, renders/s (median of 9 rounds):\n"
  printf "  hookline            %12d\n", r
  printf "  LiquidJS            %12d\n", j
  printf "  ratio               %12.1fx   (bar: 20x)\n", r / j
  printf "  hookline, a filter on every value: %d renders/s, %.1fx LiquidJS on the plain body\n", l, l / j
}'
