#!/usr/bin/env bash
# Tests setup.sh's install steps on a machine that lacks everything: each step runs with a PATH and
# a HOME that hold none of its tools, and with the installers (rustup, cargo, apt-get, dpkg-query,
# npm) replaced by stubs that record their calls and then provide what they were asked for. Each
# step must ask to install exactly what is missing, say so, and do nothing (quietly) the second
# time, when it is there; a failed install must end the script with a message naming what failed
# and how to install it by hand. Called by test.sh; prints one line per check.
#   HOOKLINE_SETUP_UNDER_TEST   the setup.sh to test (default: the one beside this script)
#
# Stub bodies and checks are code, quoted to be expanded later, where they run:
# shellcheck disable=SC2016
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
setup="${HOOKLINE_SETUP_UNDER_TEST:-$here/setup.sh}"
bash_bin="$(command -v bash)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0 failed=0
check() { # check DESCRIPTION COMMAND...: one line per check, counted
  if "${@:2}"; then
    passed=$((passed + 1)); echo "ok - $1"
  else
    failed=$((failed + 1)); echo "not ok - $1"
    echo "#   calls: $(tr '\n' ';' < "$sandbox/calls")"
    echo "#   output: $(tr '\n' ' ' < "$sandbox/out")"
  fi
}

# A stub installer: records "NAME ARGS", fails if told to, then runs BODY. A stub probe
# (dpkg-query, id) records nothing.
stub() { # stub DIR NAME BODY [record]
  local record='echo "'"$2"' $*" >> "'"$sandbox"'/calls"'
  [ "${4:-record}" = record ] || record=""
  mkdir -p "$1"
  cat > "$1/$2" <<EOF
#!$bash_bin
$record
if [ -f "$sandbox/fail-$2" ]; then echo "$2: failing as told" >&2; exit 3; fi
$3
EOF
  chmod +x "$1/$2"
}

# A new sandbox: a copy of the project files setup.sh reads, a bin folder with the basic
# utilities and the installer stubs, an empty HOME. Nothing of the real machine's tools is on PATH.
new_sandbox() {
  sandbox="$work/$1"
  mkdir -p "$sandbox/root/scripts" "$sandbox/bin" "$sandbox/home" "$sandbox/state"
  cp "$setup" "$sandbox/root/scripts/setup.sh"
  cp "$here/../Cargo.toml" "$here/../package-lock.json" "$sandbox/root/"
  : > "$sandbox/calls"
  : > "$sandbox/state/rust-targets"
  echo "stable-x86_64-unknown-linux-gnu (default)" > "$sandbox/state/toolchains"
  : > "$sandbox/state/debs"
  local tool
  for tool in bash cat chmod cp dirname env grep head mkdir rm sed touch tr; do
    ln -s "$(command -v "$tool")" "$sandbox/bin/$tool"
  done
  stub "$sandbox/bin" id 'echo 0' probe
  stub "$sandbox/bin" rustup '
case "$1 $2" in
  "target list") cat "'"$sandbox"'/state/rust-targets" ;;
  "target add") echo "$3" >> "'"$sandbox"'/state/rust-targets" ;;
  "toolchain list") cat "'"$sandbox"'/state/toolchains" ;;
  "toolchain install") echo "$3-x86_64-unknown-linux-gnu" >> "'"$sandbox"'/state/toolchains" ;;
esac'
  stub "$sandbox/bin" cargo '
[ "$1" = install ] || exit 0
case "$2" in
  wasm-bindgen-cli) mkdir -p "$HOME/.cargo/bin"
    printf "#!%s\necho \"wasm-bindgen %s\"\n" "'"$bash_bin"'" "$4" > "$HOME/.cargo/bin/wasm-bindgen"
    chmod +x "$HOME/.cargo/bin/wasm-bindgen" ;;
  cargo-fuzz) mkdir -p "$HOME/.cargo/bin"
    printf "#!%s\necho cargo-fuzz\n" "'"$bash_bin"'" > "$HOME/.cargo/bin/cargo-fuzz"
    chmod +x "$HOME/.cargo/bin/cargo-fuzz" ;;
  geckodriver) mkdir -p "$HOME/.cargo/bin"
    printf "#!%s\necho geckodriver\n" "'"$bash_bin"'" > "$HOME/.cargo/bin/geckodriver"
    chmod +x "$HOME/.cargo/bin/geckodriver" ;;
esac'
  stub "$sandbox/bin" dpkg-query '
pkg="${!#}"
if grep -qx "$pkg" "'"$sandbox"'/state/debs"; then printf "install ok installed"
else echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; fi' probe
  # apt-get install records the packages as installed and puts a command of each name on PATH.
  stub "$sandbox/bin" apt-get '
[ "$1" = install ] || exit 0
for pkg in "$@"; do
  case "$pkg" in -*|install) continue ;; esac
  echo "$pkg" >> "'"$sandbox"'/state/debs"
  [ "$pkg" = npm ] && cp "'"$sandbox"'/npm-stub" "'"$sandbox"'/bin/npm"
done
exit 0'
  # python3 -m venv DIR makes DIR/bin/pip, a stub that records its calls.
  stub "$sandbox/bin" python3 '
[ "$1 $2" = "-m venv" ] || exit 0
mkdir -p "$3/bin"
printf "#!%s\necho \"pip \$*\" >> \"%s/calls\"\n" "'"$bash_bin"'" "'"$sandbox"'" > "$3/bin/pip"
chmod +x "$3/bin/pip"'
  # npm is on PATH only where a case says so (present_npm) or after apt-get installs it.
  stub "$sandbox/npm-bin" npm 'echo "npm ran in $PWD" >> "'"$sandbox"'/calls"; mkdir -p node_modules'
  mv "$sandbox/npm-bin/npm" "$sandbox/npm-stub"
}

present_npm() { cp "$sandbox/npm-stub" "$sandbox/bin/npm"; }
present_debs() { printf '%s\n' "$@" >> "$sandbox/state/debs"; }
fail() { : > "$sandbox/fail-$1"; }

# Runs setup.sh's FUNCTION in the sandbox, as the scripts do (set -euo pipefail, sourced); keeps
# its output in $sandbox/out, its status in $status and the calls it made in $sandbox/calls.
step() {
  : > "$sandbox/calls"
  status=0
  env -i PATH="$sandbox/bin" HOME="$sandbox/home" "$bash_bin" -c \
    'set -euo pipefail; source "$1"; "$2"' _ "$sandbox/root/scripts/setup.sh" "$1" \
    > "$sandbox/out" 2>&1 || status=$?
}

calls_are() { # the calls, one per argument, in order
  local want=""
  [ $# -gt 0 ] && want="$(printf '%s\n' "$@")"
  [ "$(cat "$sandbox/calls")" = "$want" ]
}
said() { grep -qF -- "$1" "$sandbox/out"; }
quiet() { [ ! -s "$sandbox/out" ]; }
ok() { [ "$status" -eq 0 ]; }
stopped() { [ "$status" -ne 0 ]; }

pin="$(sed -n 's/^wasm-bindgen = .*"=\([0-9][0-9.]*\)".*/\1/p' "$here/../Cargo.toml" | head -n1)"
[ -n "$pin" ] || { echo "not ok - no wasm-bindgen pin found in Cargo.toml"; exit 1; }

new_sandbox wasm-target
step ensure_wasm_target
check "wasm target absent: rustup adds exactly it" \
  calls_are "rustup target list --installed" "rustup target add wasm32-unknown-unknown"
check "wasm target absent: the step says so and succeeds" \
  eval 'ok && said "installing the Rust wasm32-unknown-unknown target"'
step ensure_wasm_target
check "wasm target present: only the probe runs, quietly" \
  eval 'ok && quiet && calls_are "rustup target list --installed"'

new_sandbox wasm-target-fails
fail rustup
step ensure_wasm_target
check "rustup failing: the script stops, naming what failed and the command to run by hand" \
  eval 'stopped && said "installing the Rust wasm32-unknown-unknown target failed" && said "rustup target add wasm32-unknown-unknown"'

new_sandbox no-rust
rm "$sandbox/bin/rustup" "$sandbox/bin/cargo"
step ensure_wasm_bindgen_cli
check "no Rust toolchain: the script stops and says to install it with rustup" \
  eval 'stopped && said "cargo is not installed" && said "rustup" && calls_are'

new_sandbox wasm-bindgen
step ensure_wasm_bindgen_cli
check "wasm-bindgen absent: cargo installs exactly the pinned wasm-bindgen-cli $pin" \
  calls_are "cargo install wasm-bindgen-cli --version $pin --force"
check "wasm-bindgen absent: the step says so, with how long it takes, and succeeds" \
  eval 'ok && said "installing wasm-bindgen-cli $pin" && said "minutes"'
step ensure_wasm_bindgen_cli
check "wasm-bindgen present at the pinned version: nothing installed, quiet" \
  eval 'ok && quiet && calls_are'
mkdir -p "$sandbox/home/.cargo/bin"
printf '#!%s\necho "wasm-bindgen 0.2.1"\n' "$bash_bin" > "$sandbox/home/.cargo/bin/wasm-bindgen"
step ensure_wasm_bindgen_cli
check "wasm-bindgen present at another version: the pinned one is installed, naming both" \
  eval 'ok && said "found 0.2.1" && calls_are "cargo install wasm-bindgen-cli --version $pin --force"'

new_sandbox wasm-bindgen-fails
fail cargo
step ensure_wasm_bindgen_cli
check "cargo install failing: the script stops, naming wasm-bindgen-cli and the command by hand" \
  eval 'stopped && said "installing wasm-bindgen-cli $pin failed" && said "cargo install wasm-bindgen-cli --version $pin --force"'

new_sandbox fuzzing
step ensure_fuzzing
check "nightly and cargo-fuzz absent: rustup and cargo install them, saying so" \
  eval 'ok && said "installing the nightly" && said "installing cargo-fuzz" && calls_are "rustup toolchain list" "rustup toolchain install nightly --profile minimal" "cargo install cargo-fuzz"'
step ensure_fuzzing
check "nightly and cargo-fuzz present: only the probe runs, quietly" \
  eval 'ok && quiet && calls_are "rustup toolchain list"'

new_sandbox geckodriver
step ensure_geckodriver
check "geckodriver absent: cargo installs it, saying so" \
  eval 'ok && said "installing geckodriver" && calls_are "cargo install geckodriver"'
step ensure_geckodriver
check "geckodriver present: nothing installed, quiet" eval 'ok && quiet && calls_are'

new_sandbox browsers
step ensure_browsers
check "browsers absent: apt installs chromium, chromium-driver and firefox-esr" \
  eval 'ok && said "installing Debian packages: chromium chromium-driver firefox-esr" &&
    calls_are "apt-get update -qq" "apt-get install -y -qq chromium chromium-driver firefox-esr"'
step ensure_browsers
check "browsers present: nothing installed, quiet" eval 'ok && quiet && calls_are'

new_sandbox some-browsers
present_debs chromium
step ensure_browsers
check "chromium present, the rest absent: apt installs exactly the rest" \
  calls_are "apt-get update -qq" "apt-get install -y -qq chromium-driver firefox-esr"

new_sandbox apt-fails
fail apt-get
step ensure_shellcheck
check "apt-get failing: the script stops, naming what failed and the command by hand" \
  eval 'stopped && said "failed" && said "apt-get update" && calls_are "apt-get update -qq"'

new_sandbox shellcheck
step ensure_shellcheck
check "shellcheck absent: apt installs exactly it" \
  eval 'ok && calls_are "apt-get update -qq" "apt-get install -y -qq shellcheck"'
step ensure_shellcheck
check "shellcheck present: nothing installed, quiet" eval 'ok && quiet && calls_are'

new_sandbox node
step ensure_node_modules
check "npm absent: apt installs nodejs and npm, then npm ci runs in the project" \
  eval 'ok && said "installing node packages" && calls_are "apt-get update -qq" \
    "apt-get install -y -qq nodejs npm" "npm ci --no-audit --no-fund --loglevel=error" \
    "npm ran in $sandbox/root"'
step ensure_node_modules
check "node packages installed: nothing runs, quiet" eval 'ok && quiet && calls_are'
touch -d '+1 hour' "$sandbox/root/package-lock.json"
step ensure_node_modules
check "package-lock.json newer than the install: npm ci runs again" \
  eval 'ok && calls_are "npm ci --no-audit --no-fund --loglevel=error" "npm ran in $sandbox/root"'

new_sandbox node-fails
present_npm
fail npm
step ensure_node_modules
check "npm ci failing: the script stops, naming the node packages, and marks nothing installed" \
  eval 'stopped && said "installing the node packages of package.json failed" && said "npm ci" &&
    [ ! -e "$sandbox/root/node_modules/.hookline-installed" ]'

schemathesis="$(sed -n 's/^SCHEMATHESIS_VERSION=//p' "$setup")"
new_sandbox contract
step ensure_schemathesis
check "contract tools absent: apt installs python3-venv and iproute2, a venv gets schemathesis $schemathesis" \
  eval 'ok && said "installing schemathesis $schemathesis" && calls_are "apt-get update -qq" \
    "apt-get install -y -qq python3 python3-venv iproute2" \
    "python3 -m venv $sandbox/root/.hookline/contract-venv" \
    "pip install --quiet --disable-pip-version-check schemathesis==$schemathesis"'
step ensure_schemathesis
check "contract tools present: nothing installed, quiet" eval 'ok && quiet && calls_are'

echo "setup: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
