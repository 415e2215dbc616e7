#!/usr/bin/env bash
# Fuzzes the server's parsers and checks (fuzz/, cargo-fuzz on the nightly toolchain), each
# target for a bounded time:
#   ./scripts/fuzz.sh [SECONDS per target, default 60] [TARGET...]
# Targets: events, template, webhook, address, bridge (properties in server/src/fuzz.rs). Installs
# what is missing first (the nightly toolchain, cargo-fuzz). An input that breaks a property is
# saved under fuzz/artifacts/TARGET/ and the run stops: once fixed, copy it into
# fuzz/regressions/TARGET/, where the server's tests replay it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_fuzzing
seconds="${1:-60}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(events template webhook address bridge)
cd "$HOOKLINE_ROOT/fuzz"
for target in "${targets[@]}"; do
  say "fuzzing $target for ${seconds}s (the first run builds the targets: a few minutes)"
  mkdir -p "corpus/$target"
  cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
say "fuzzing: no property broken in ${#targets[@]} target(s), ${seconds}s each"
