#!/usr/bin/env bash
# Builds hookline's npm package into dist/: the service-worker script (wasm-bindgen's glue and
# js/sw.js in one classic script), its wasm, the page script and its types. Prints the size of
# worker script + wasm, raw and gzip, and fails above the size bar.
#   HOOKLINE_DIST   output directory (default: dist/)
#   CARGO_TARGET_DIR is honoured (default: target/)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$HOOKLINE_ROOT"

# The bar, in gzip bytes, for hookline-sw.js + hookline-sw.wasm: the product's 10 kB, within
# OneSignal's own limit for its worker script (12.5 kB).
SIZE_BAR=10000

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_node_modules

target_dir="${CARGO_TARGET_DIR:-$HOOKLINE_ROOT/target}"
dist="${HOOKLINE_DIST:-$HOOKLINE_ROOT/dist}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say "building the wasm module"
# `--cfg hookline_bundle`: the module without std (src/lib.rs); in a target directory of its own,
# so these flags do not rebuild the tests' dependencies and back. The remap keeps the build
# machine's paths (a dependency's, in a panic location) out of the shipped wasm.
bundle_dir="$target_dir/bundle"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
# Built as a cdylib alone: as an rlib too (Cargo.toml, for the tests), every `pub` helper stays
# visible outside the crate while the crate is optimised, so none could be inlined away, dropped
# or given its arguments by value before the link; alone, about 1.7 kB gzip less.
# LLVM's inliner threshold: 30 measured smallest (of 0 to 400; 30 to 45 within 5 bytes gzip, the
# default 130 bytes larger).
# Without reference types, wasm-bindgen keeps JS values in an array in the glue, addressed by
# index, in place of an externref table the module manages itself: the module's table code and
# the shims around every import go, about 800 bytes gzip, for about 130 more in the glue.
RUSTFLAGS="${RUSTFLAGS:-} --cfg hookline_bundle --remap-path-prefix=$cargo_home/registry/src/= -C llvm-args=--inline-threshold=30 -C target-feature=-reference-types" \
  CARGO_TARGET_DIR="$bundle_dir" \
  cargo rustc --quiet --profile wasm --crate-type cdylib \
  --target wasm32-unknown-unknown -p hookline-worker --lib

# wasm-opt from binaryen's npm package (a devDependency): Debian's binaryen (108) is older than
# the wasm rustc emits. It also shortens the names of the module's imports and exports
# (wasm-bindgen's carry hashes, which compress badly); the glue is given the same names.
features=(--enable-reference-types --enable-bulk-memory --enable-sign-ext --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-multivalue)
wasm_opt="$HOOKLINE_ROOT/node_modules/.bin/wasm-opt"
# wasm-bindgen reads the module's target_features section to choose how it passes JS values.
# The linked module's says reference-types, which the prebuilt `core` was compiled with, though
# this crate and wasm-bindgen's were not: without the section, wasm-bindgen goes by the module's
# own code.
"$wasm_opt" "${features[@]}" --strip-target-features \
  "$bundle_dir/wasm32-unknown-unknown/wasm/hookline_worker.wasm" -o "$work/hookline_worker.wasm"
wasm-bindgen --target no-modules --no-typescript --remove-name-section \
  --remove-producers-section --out-dir "$work" "$work/hookline_worker.wasm"
# JS values are an arena per call from JS (the glue's `handle` and `step` free every value made
# during the call when it returns, scripts/wasm-names.mjs), so the module drops none itself and
# a copy of a value can share its index: its imports for dropping and copying one are linked to
# functions that do nothing, which wasm-opt then removes with their ~330 call sites (the arena
# is worth about 1.5 kB gzip).
printf '(module (func (export "__wbindgen_object_drop_ref") (param i32))
  (func (export "__wbindgen_object_clone_ref") (param i32) (result i32) (local.get 0)))' \
  > "$work/arena.wat"
"$HOOKLINE_ROOT/node_modules/.bin/wasm-as" "$work/arena.wat" -o "$work/arena.wasm"
"$HOOKLINE_ROOT/node_modules/.bin/wasm-merge" "${features[@]}" \
  "$work/hookline_worker_bg.wasm" main "$work/arena.wasm" ./hookline_worker_bg.js \
  -o "$work/arena-linked.wasm"
# Only the exports the glue uses stay (wasm-bindgen's for aborting and the two above go, with all
# that only they reach).
node -e '
  const used = new Set([...require("fs").readFileSync(process.argv[1], "utf8")
    .matchAll(/\bwasm\.([\w$]+)/g)].map((m) => m[1]));
  console.log(JSON.stringify([{ name: "glue", root: true, reaches: [...used] },
    ...[...used].map((name) => ({ name, export: name }))]));
' "$work/hookline_worker.js" > "$work/used.json"
"$HOOKLINE_ROOT/node_modules/.bin/wasm-metadce" "${features[@]}" --graph-file "$work/used.json" \
  "$work/arena-linked.wasm" -o "$work/used.wasm" > /dev/null

mkdir -p "$dist"
# Flattened and re-looped first, and told what holds for the module (no data in its first 1 kB,
# memory zeroed at start): about 400 bytes gzip less than -Oz alone (of about twenty orders and
# passes tried).
"$wasm_opt" --low-memory-unused --zero-filled-memory --flatten --rereloop -Oz -Oz --converge \
  "${features[@]}" --strip-debug --strip-producers \
  "$work/used.wasm" -o "$work/opt.wasm"
"$wasm_opt" "${features[@]}" --minify-imports-and-exports-and-modules \
  "$work/opt.wasm" -o "$dist/hookline-sw.wasm" > "$work/names.json"
node "$HOOKLINE_ROOT/scripts/wasm-names.mjs" "$work/names.json" "$dist/hookline-sw.wasm" \
  "$work/hookline_worker.js"

# One classic script: the glue's `wasm_bindgen` stays inside a function scope, so importing it
# into a site's own worker cannot clash with the site's globals. `glue()` makes a fresh one at
# each call (the worker loads a fresh instance after a trap). The worker runs only the wasm whose
# SHA-256 starts with the build id written into it (js/sw.js).
build="$(node -p 'require("crypto").createHash("sha256").update(require("fs").readFileSync(process.argv[1])).digest().subarray(0, 8).join(".")' "$dist/hookline-sw.wasm")"
{
  echo "/* hookline service worker $(node -p 'require("./package.json").version') - https://github.com/hookline/hookline */"
  echo "(function () {"
  echo "'use strict';"
  echo "function glue() {"
  cat "$work/hookline_worker.js"
  echo "return wasm_bindgen;"
  echo "}"
  sed "s/'HOOKLINE_BUILD'/'$build'/" "$HOOKLINE_ROOT/js/sw.js"
  echo "})();"
} > "$work/hookline-sw.js"
# Minified (terser, a devDependency): the glue is a third of the worker's gzip size otherwise.
"$HOOKLINE_ROOT/node_modules/.bin/terser" "$work/hookline-sw.js" --ecma 2020 --compress passes=3,unsafe_arrows=true \
  --mangle --comments '/hookline service worker/' -o "$dist/hookline-sw.js"
cp "$HOOKLINE_ROOT/js/hookline.js" "$HOOKLINE_ROOT/js/hookline.d.ts" "$dist/"

size() { wc -c < "$1" | tr -d ' '; }
gz() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
js_raw=$(size "$dist/hookline-sw.js") js_gz=$(gz "$dist/hookline-sw.js")
wasm_raw=$(size "$dist/hookline-sw.wasm") wasm_gz=$(gz "$dist/hookline-sw.wasm")
total_raw=$((js_raw + wasm_raw)) total_gz=$((js_gz + wasm_gz))
printf 'package size: %-18s %7s bytes raw %7s bytes gzip\n' \
  hookline-sw.js "$js_raw" "$js_gz" \
  hookline-sw.wasm "$wasm_raw" "$wasm_gz" \
  "worker total" "$total_raw" "$total_gz"
printf 'package size: page script hookline.js %s bytes raw %s bytes gzip\n' \
  "$(size "$dist/hookline.js")" "$(gz "$dist/hookline.js")"
if [ "$total_gz" -gt "$SIZE_BAR" ]; then
  echo "FAIL: worker script + wasm is $total_gz bytes gzip, above the bar of $SIZE_BAR" >&2
  exit 1
fi
echo "package size: within the bar of $SIZE_BAR bytes gzip"
