#!/usr/bin/env bash
# The API contract test: schemathesis (property-based API testing driven by the served
# /openapi.json, every check enabled) against the real server on loopback, inside a network
# namespace of its own (`unshare --net`, so no URL in a generated request can reach anything but
# loopback): once with an app key (the app's routes), then with the admin key (every route).
# Bounded: EXAMPLES test cases per operation and phase (default 25), at most 10 minutes a run.
#   scripts/test-contract.sh [EXAMPLES]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"

if [ "${1:-}" != --inside ]; then
  examples="${1:-25}"
  ensure_schemathesis
  need_rust
  say "contract: building the server"
  cargo build --quiet -p hookline-server --bin hookline
  say "contract: schemathesis, $examples examples an operation, in a network namespace of its own"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(--map-root-user)
  exec unshare "${as_root[@]}" --net "$BASH" "$0" --inside "$examples"
fi

examples="$2"
ip link set lo up
work="$(mktemp -d)"
server=""
trap '[ -z "$server" ] || kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
admin="hl_contract_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
base="http://127.0.0.1:18787"
# The bridge's rate limits are set out of reach: generated requests come from one address, fast.
env HOOKLINE_ADMIN_KEY="$admin" HOOKLINE_LISTEN=127.0.0.1:18787 \
  HOOKLINE_DATABASE="sqlite://$work/hookline.db" \
  HOOKLINE_BRIDGE_RATE_PER_CLIENT=1000000 HOOKLINE_BRIDGE_BURST_PER_CLIENT=1000000 \
  HOOKLINE_BRIDGE_RATE_PER_APP=1000000 HOOKLINE_BRIDGE_BURST_PER_APP=1000000 \
  "${CARGO_TARGET_DIR:-target}/debug/hookline" serve > "$work/server.log" 2>&1 &
server=$!
venv=.hookline/contract-venv
"$venv/bin/python" server/tests/contract/setup.py "$base" "$admin" > "$work/resources"
set -a
# shellcheck source=/dev/null
source "$work/resources"
set +a

run() { # run WHO KEY [FILTER...]
  say "contract: as $1"
  local status=0
  timeout 600 "$venv/bin/st" --config-file server/tests/contract/schemathesis.toml \
    run "$base/openapi.json" --checks all --max-examples "$examples" --seed 1 --no-color \
    --header "Authorization: Bearer $2" "${@:3}" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "contract: schemathesis found failures as $1 (the server's log follows)" >&2
    tail -n 40 "$work/server.log" >&2
    exit "$status"
  fi
}

# The app key first: the admin run rotates the app's key and deletes an app.
run "an app key" "$HL_APP_KEY" --include-path-regex '^/v1/apps/\{app_id\}' \
  --exclude-path '/v1/apps/{app_id}/keys'
run "the admin key" "$admin"
say "contract: no failures"
