# Sourced by the other scripts: installs what hookline's build and tests need when it is missing,
# and does nothing when it is there. Every function is idempotent and quiet when there is no work.
# shellcheck shell=bash

HOOKLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen CLI must match the `wasm-bindgen` crate pinned in Cargo.toml exactly.
# Reads the pin from either form: `wasm-bindgen = "=X"` or `wasm-bindgen = { version = "=X", ... }`.
wasm_bindgen_version() {
  sed -n 's/^wasm-bindgen = .*"=\([0-9][0-9.]*\)".*/\1/p' "$HOOKLINE_ROOT/Cargo.toml" | head -n1
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "installing the Rust wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen_cli() {
  local want have
  want="$(wasm_bindgen_version)"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
  if [ "$have" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (this builds from source and takes a few minutes)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

apt_updated=""
ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_browsers() {
  ensure_apt chromium chromium-driver firefox-esr
}

ensure_geckodriver() {
  if ! command -v geckodriver >/dev/null 2>&1; then
    say "installing geckodriver (cargo install)"
    cargo install geckodriver
  fi
}

# Node packages for the end-to-end tests and benchmarks (devDependencies of package.json).
ensure_node_modules() {
  # Debian's npm conflicts with a nodejs that bundles its own npm: ask apt only when npm is absent.
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
  local stamp="$HOOKLINE_ROOT/node_modules/.hookline-installed"
  if [ ! -f "$stamp" ] || [ "$HOOKLINE_ROOT/package-lock.json" -nt "$stamp" ]; then
    say "installing node packages"
    (cd "$HOOKLINE_ROOT" && npm ci --no-audit --no-fund --loglevel=error) && touch "$stamp"
  fi
}
