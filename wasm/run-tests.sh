#!/usr/bin/env bash
# Builds and tests the WebAssembly shells (docs/wasm.md). Exits non-zero on any failure.
#   1. rustup targets; wasm-bindgen-cli at the crate's exact version (skipped when present)
#   2. the WASI module (wasm32-wasip1) and the wasm-bindgen package (wasm32-unknown-unknown →
#      wasm/pkg), profile `wasm`; the native CLI (release)
#   3. node tests: parity (native = WASI filter_wasm = wasm-bindgen, every fixture input), the 5 MB
#      record, the filter rules; the playground in headless Chromium
# Needs ../shared beside the repo, node >= 20 and npm; installs chromium with apt-get if missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_TARGET_DIR="$target_dir"
say() { printf '== %s\n' "$*" >&2; }

say "rustup targets"
rustup target add wasm32-wasip1 wasm32-unknown-unknown >/dev/null 2>&1 ||
  rustup target list --installed | grep -q wasm32-unknown-unknown

# wasm-bindgen-cli must match the wasm-bindgen crate exactly; read the version from Cargo.lock.
wbg_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$wbg_version" ] || { echo "wasm-bindgen not in Cargo.lock" >&2; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg_version" ]; then
  say "installing wasm-bindgen-cli $wbg_version (takes a few minutes)"
  cargo install wasm-bindgen-cli --version "$wbg_version" --locked --quiet
fi

say "building the WASI module and the wasm-bindgen package (profile wasm)"
cargo build --quiet -p defender-bridge-wasm --profile wasm --target wasm32-wasip1
cargo build --quiet -p defender-bridge-wasm --profile wasm --target wasm32-unknown-unknown
wasi="$target_dir/wasm32-wasip1/wasm/defender_bridge_wasm.wasm"
raw="$target_dir/wasm32-unknown-unknown/wasm/defender_bridge_wasm.wasm"
pkg="$here/pkg"
rm -rf "$pkg"
wasm-bindgen --target web --out-dir "$pkg" "$raw"
version="$(awk -F'"' '/^version = / { print $2; exit }' "$here/Cargo.toml")"
cat > "$pkg/package.json" <<JSON
{
  "name": "defender-bridge-wasm",
  "version": "$version",
  "description": "Map Microsoft Defender for Endpoint / Defender XDR records to Elastic ECS documents or Microsoft Sentinel rows (WebAssembly)",
  "license": "Apache-2.0",
  "type": "module",
  "main": "defender_bridge_wasm.js",
  "module": "defender_bridge_wasm.js",
  "types": "defender_bridge_wasm.d.ts",
  "files": ["defender_bridge_wasm.js", "defender_bridge_wasm.d.ts", "defender_bridge_wasm_bg.wasm", "defender_bridge_wasm_bg.wasm.d.ts"],
  "sideEffects": ["./snippets/*"]
}
JSON

say "checking the WASI target: no SIMD"
if rustc --print cfg --target wasm32-wasip1 | grep -q 'target_feature="simd128"'; then
  echo "wasm32-wasip1 builds with simd128: filter_wasm's WAMR build has no SIMD" >&2; exit 1
fi

say "building the native CLI"
cargo build --quiet -p defender-bridge-cli --release
native="$target_dir/release/defender-bridge"

size() { printf '%s: %s bytes raw, %s bytes gzip -9\n' "$2" "$(wc -c < "$1")" "$(gzip -9c "$1" | wc -c)"; }
size "$wasi" "filter_wasm module (wasm32-wasip1)"
size "$pkg/defender_bridge_wasm_bg.wasm" "wasm-bindgen module (wasm32-unknown-unknown)"

say "node test dependencies"
if ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd "$here/tests" && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent; })

status=0
totals=()
run_node() {
  local log
  log="$(mktemp)"
  if ! DB_NATIVE="$native" DB_WASI="$wasi" DB_PKG="$pkg" node --disable-warning=ExperimentalWarning "$here/tests/$1" 2>&1 | tee "$log"; then status=1; fi
  totals+=("$(tail -n 1 "$log")")
  rm -f "$log"
}
say "parity test"
run_node parity.mjs
say "browser test (headless Chromium)"
run_node browser.mjs

passed=0 failed=0
for t in "${totals[@]}"; do
  if [[ "$t" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
  else
    failed=$((failed + 1)); status=1
  fi
done
[ "$failed" -eq 0 ] || status=1
echo "wasm: $passed passed, $failed failed"
exit "$status"
