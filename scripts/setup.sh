# Sourced by the other scripts: installs what hookline's build and tests need when it is missing,
# and does nothing when it is there. Every function is idempotent and quiet when there is no work.
#
# The scripts run under `set -euo pipefail`, so a probe (is this tool, package or version here?)
# is always written as a test that cannot end the script: its answer decides whether to install.
# Only a failed install ends the script, through `run_install`, with a message naming what failed and
# how to install it by hand. scripts/test-setup.sh runs every step where its tool is absent.
# shellcheck shell=bash

HOOKLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# first_time WHAT: " (first run: WHAT)" while nothing is built yet in the target directory, for
# the lines that announce a long first build; else nothing.
first_time() {
  [ -d "${CARGO_TARGET_DIR:-$HOOKLINE_ROOT/target}/debug" ] || printf ' (first run: %s)' "$1"
}

# True when a command of that name can be run.
have() { command -v "$1" >/dev/null 2>&1; }

# run_install WHAT BY_HAND COMMAND...: runs an install command; when it fails, ends the script saying
# what could not be installed and the command that installs it by hand.
run_install() {
  local what="$1" by_hand="$2"
  shift 2
  local status=0
  "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    printf 'hookline setup: installing %s failed (exit status %s).\n' "$what" "$status" >&2
    printf 'hookline setup: install it by hand, then run this again: %s\n' "$by_hand" >&2
    exit 1
  fi
}

# in_dir DIR COMMAND...: runs a command in another directory.
in_dir() { (cd "$1" && shift && "$@"); }

# The Rust toolchain is the one thing the scripts do not install: it comes with rustup.
need_rust() {
  local tool
  for tool in cargo rustup; do
    if ! have "$tool"; then
      printf 'hookline setup: %s is not installed; hookline needs the Rust toolchain (1.95 or later)\n' "$tool" >&2
      printf 'hookline setup: install it with rustup (https://rustup.rs), then run this again\n' >&2
      exit 1
    fi
  done
}

# The wasm-bindgen CLI must match the `wasm-bindgen` crate pinned in Cargo.toml exactly.
# Reads the pin from either form: `wasm-bindgen = "=X"` or `wasm-bindgen = { version = "=X", ... }`.
wasm_bindgen_version() {
  sed -n 's/^wasm-bindgen = .*"=\([0-9][0-9.]*\)".*/\1/p' "$HOOKLINE_ROOT/Cargo.toml" | head -n1
}

ensure_wasm_target() {
  need_rust
  local installed
  installed="$(rustup target list --installed 2>/dev/null)" || installed=""
  if ! grep -qx wasm32-unknown-unknown <<<"$installed"; then
    say "installing the Rust wasm32-unknown-unknown target (a download, under a minute)"
    run_install "the Rust wasm32-unknown-unknown target" "rustup target add wasm32-unknown-unknown" \
      rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen_cli() {
  need_rust
  local want have_version=""
  want="$(wasm_bindgen_version)"
  if [ -z "$want" ]; then
    echo "hookline setup: no pinned wasm-bindgen version (\"=X.Y.Z\") found in Cargo.toml" >&2
    exit 1
  fi
  if have wasm-bindgen; then
    have_version="$(wasm-bindgen --version 2>/dev/null)" || have_version=""
    have_version="${have_version#wasm-bindgen }"
    have_version="${have_version%% *}"
  fi
  if [ "$have_version" != "$want" ]; then
    say "installing wasm-bindgen-cli $want${have_version:+ (found $have_version)}: it builds from source, about 4 minutes"
    run_install "wasm-bindgen-cli $want" "cargo install wasm-bindgen-cli --version $want --force" \
      cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

# True when a Debian package is installed.
apt_installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1
  [ "$status" = "install ok installed" ]
}

apt_updated=""
ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    apt_installed "$pkg" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=() by_hand=""
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo) by_hand="sudo "; fi
  say "installing Debian packages: ${missing[*]} (a download, a minute or two)"
  if [ -z "$apt_updated" ]; then
    run_install "Debian's package lists" "${by_hand}apt-get update" "${sudo[@]}" apt-get update -qq
    apt_updated=1
  fi
  run_install "the Debian packages ${missing[*]}" "${by_hand}apt-get install ${missing[*]}" \
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

ensure_browsers() {
  ensure_apt chromium chromium-driver firefox-esr
}

ensure_geckodriver() {
  need_rust
  if ! have geckodriver; then
    say "installing geckodriver: it builds from source, about 3 minutes"
    run_install geckodriver "cargo install geckodriver" cargo install geckodriver
  fi
}

# The fuzz targets' tools (scripts/fuzz.sh only): the nightly toolchain and cargo-fuzz.
ensure_fuzzing() {
  need_rust
  local toolchains
  toolchains="$(rustup toolchain list 2>/dev/null)" || toolchains=""
  if ! grep -q '^nightly' <<<"$toolchains"; then
    say "installing the nightly Rust toolchain (a download, about a minute)"
    run_install "the nightly Rust toolchain" "rustup toolchain install nightly --profile minimal" \
      rustup toolchain install nightly --profile minimal
  fi
  if ! have cargo-fuzz; then
    say "installing cargo-fuzz: it builds from source, about 2 minutes"
    run_install cargo-fuzz "cargo install cargo-fuzz" cargo install cargo-fuzz
  fi
}

ensure_shellcheck() {
  ensure_apt shellcheck
}

# The API contract test's tools (scripts/test-contract.sh): schemathesis, pinned, in a virtual
# environment of the repository's own (.hookline/contract-venv), and `ip` for the network namespace.
SCHEMATHESIS_VERSION=4.32.5
contract_venv="$HOOKLINE_ROOT/.hookline/contract-venv"
ensure_schemathesis() {
  ensure_apt python3 python3-venv iproute2
  local stamp="$contract_venv/.hookline-schemathesis-$SCHEMATHESIS_VERSION"
  [ -f "$stamp" ] && return 0
  say "installing schemathesis $SCHEMATHESIS_VERSION into .hookline/contract-venv (a download, about a minute)"
  rm -rf "$contract_venv"
  run_install "a Python virtual environment" "python3 -m venv $contract_venv" \
    python3 -m venv "$contract_venv"
  run_install "schemathesis $SCHEMATHESIS_VERSION" \
    "$contract_venv/bin/pip install schemathesis==$SCHEMATHESIS_VERSION" \
    "$contract_venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  touch "$stamp"
}

# Node packages for the end-to-end tests and benchmarks (devDependencies of package.json).
ensure_node_modules() {
  # Debian's npm conflicts with a nodejs that bundles its own npm: ask apt only when npm is absent.
  have npm || ensure_apt nodejs npm
  local stamp="$HOOKLINE_ROOT/node_modules/.hookline-installed"
  if [ ! -f "$stamp" ] || [ "$HOOKLINE_ROOT/package-lock.json" -nt "$stamp" ]; then
    say "installing node packages (npm ci, under a minute)"
    run_install "the node packages of package.json" "cd $HOOKLINE_ROOT && npm ci" \
      in_dir "$HOOKLINE_ROOT" npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
}
