#!/usr/bin/env bash
# hookline's main job: `hookline serve` on its embedded SQLite store, serving the browser demo, with
# the two halves wired together (browser webhooks → bridge → events → an event webhook → a
# receiver on loopback). Installs what is missing first (see setup.sh).
#   HOOKLINE_LISTEN (default 127.0.0.1:8080), HOOKLINE_DATABASE (default sqlite://hookline.db in
#   the working directory) and every other HOOKLINE_* setting are passed to the server;
#   HOOKLINE_DEMO_RECEIVER_PORT (default 8091) is the demo receiver's port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_node_modules

"$HOOKLINE_ROOT/scripts/build-package.sh"
target_dir="${CARGO_TARGET_DIR:-$HOOKLINE_ROOT/target}"
first=""
[ -x "$target_dir/release/hookline" ] || first=" (first run: about 3 to 4 minutes, whole-program optimisation)"
say "building hookline (release)$first"
cargo build --release --quiet -p hookline-server

# Local state of the demo, kept between runs (gitignored): the admin key, the demo app, the site.
state="$HOOKLINE_ROOT/.hookline"
mkdir -p "$state"
if [ ! -s "$state/admin-key" ]; then
  (umask 077 && printf 'hk_admin_%s\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" > "$state/admin-key")
fi
export HOOKLINE_ADMIN_KEY="${HOOKLINE_ADMIN_KEY:-$(cat "$state/admin-key")}"
# The site: the demo pages with the built package at /dist/.
site="$state/site"
rm -rf "$site" && mkdir -p "$site"
cp -R "$HOOKLINE_ROOT"/www/. "$site"/
cp -R "$HOOKLINE_ROOT"/dist "$site"/dist
export HOOKLINE_LISTEN="${HOOKLINE_LISTEN:-127.0.0.1:8080}"
# Every delivery of the demo is logged, so the page can list them all.
export HOOKLINE_LOGS_SUCCESS_SAMPLE_RATE="${HOOKLINE_LOGS_SUCCESS_SAMPLE_RATE:-1}"
# The demo's event webhook goes to a receiver on loopback, which the address guard blocks unless
# allowed (added to any networks already allowed).
export HOOKLINE_DELIVERY_ALLOW_NETWORKS="${HOOKLINE_DELIVERY_ALLOW_NETWORKS:+$HOOKLINE_DELIVERY_ALLOW_NETWORKS,}127.0.0.0/8"

node "$HOOKLINE_ROOT/scripts/demo.mjs" "http://$HOOKLINE_LISTEN" "$HOOKLINE_ADMIN_KEY" "$state" "$site" \
  "${HOOKLINE_DEMO_RECEIVER_PORT:-8091}" &
demo=$!
trap 'kill "$demo" 2>/dev/null || true' EXIT

say "hookline serve on http://$HOOKLINE_LISTEN (dashboard: http://$HOOKLINE_LISTEN/dashboard/, admin key in .hookline/admin-key)"
"$target_dir/release/hookline" serve --site "$site"
