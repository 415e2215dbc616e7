#!/usr/bin/env bash
# The browser half's tests (called by test.sh), all in real browsers, installing what is missing:
#   1. the crate's native unit tests;
#   2. the wasm-bindgen-test suites (tests/*.rs) inside a service worker, in headless Chromium
#      and in headless Firefox;
#   3. the npm package: built, sized (fails above the bar), and packed with every file it needs;
#   4. end to end (tests/e2e/): the www demo in Chromium (real pushes through DevTools) and in
#      Firefox (geckodriver; real clicks and closes on Firefox's notification window), and the
#      dashboard the binary serves, in Chromium (dashboard.test.mjs).
# Exits non-zero on any failure. CHROMIUM_BIN, CHROMEDRIVER, FIREFOX_BIN and GECKODRIVER override
# the browsers and drivers; CARGO_TARGET_DIR is honoured.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_browsers
ensure_geckodriver
# Node packages are installed by build-package.sh, which runs before anything uses them.

export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
export FIREFOX_BIN="${FIREFOX_BIN:-$(command -v firefox-esr || command -v firefox)}"
export GECKODRIVER="${GECKODRIVER:-$(command -v geckodriver)}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say "browser: native unit tests"
cargo test --quiet -p hookline-worker --lib

# The wasm tests show notifications, so the browsers start with them allowed.
cat > "$work/chromium.json" <<JSON
{"goog:chromeOptions": {"binary": "$CHROMIUM_BIN",
  "args": ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run"],
  "prefs": {"profile.default_content_setting_values.notifications": 1}}}
JSON
cat > "$work/firefox.json" <<JSON
{"moz:firefoxOptions": {"binary": "$FIREFOX_BIN",
  "prefs": {"permissions.default.desktop-notification": 1, "alerts.useSystemBackend": false,
            "browser.shell.checkDefaultBrowser": false, "app.update.enabled": false,
            "datareporting.policy.dataSubmissionEnabled": false}}}
JSON

say "browser: wasm tests in a service worker, headless Chromium (builds them first: under a minute)"
env -u GECKODRIVER WASM_BINDGEN_TEST_WEBDRIVER_JSON="$work/chromium.json" \
  cargo test --target wasm32-unknown-unknown -p hookline-worker --test '*'

say "browser: wasm tests in a service worker, headless Firefox"
env -u CHROMEDRIVER WASM_BINDGEN_TEST_WEBDRIVER_JSON="$work/firefox.json" \
  cargo test --target wasm32-unknown-unknown -p hookline-worker --test '*'

say "browser: npm package"
"$HOOKLINE_ROOT/scripts/build-package.sh"
packed="$(npm pack --dry-run --json --ignore-scripts 2>/dev/null)"
for file in dist/hookline-sw.js dist/hookline-sw.wasm dist/hookline.js dist/hookline.d.ts package.json; do
  if ! grep -q "\"path\": \"$file\"" <<<"$packed"; then
    echo "FAIL: npm pack leaves out $file" >&2
    exit 1
  fi
done
echo "npm pack: $(grep -c '"path"' <<<"$packed") files, all four package files present"

say "browser: end to end in Chromium and Firefox (about a minute)"
# together.test.mjs (both halves) and dashboard.test.mjs need the `hookline` binary (up to date: a no-op after
# test.sh's server tests).
if [ -z "${HOOKLINE_BIN:-}" ]; then
  cargo build --quiet -p hookline-server
  export HOOKLINE_BIN="${CARGO_TARGET_DIR:-$HOOKLINE_ROOT/target}/debug/hookline"
fi
node --test --test-concurrency=1 --test-timeout=180000 tests/e2e/
