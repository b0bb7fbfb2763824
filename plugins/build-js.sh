#!/usr/bin/env bash
# Builds every JavaScript plugin into dist/plugins/NAME.wasm.
#
#   plugins/build-js.sh [--test] [--force] [NAME...]
#   plugins/build-js.sh [--test] [--force] --dir PATH --out FILE.wasm
#
# A JavaScript plugin is a directory plugins/NAME/ with a package.json and
# a plugin.js whose default export is definePlugin({ describe, handle })
# from plugins/sdk-js/switchboard-plugin.js (its tests in NAME/test/*.test.mjs,
# its fixtures in NAME/fixtures/). No Cargo.toml: the Rust build skips it.
#
# The tools (componentize-js and jco, pinned with a lock file in
# plugins/sdk-js/tools/) are installed into target/js-tools with `npm ci`
# when missing or when the lock changes. Each plugin is componentized from
# a generated entry (target/js-plugins/NAME/entry.js) that installs the
# host's imports and exports the plugin as the `plugin` interface of the
# `provider` world, with every WASI feature of the engine disabled: the
# component imports nothing but switchboard:provider/host (checked after
# the build). A plugin is rebuilt only when its sources, the SDK, the WIT
# or the tools changed.
#
# --test   also runs the Node unit tests (SDK and plugins) with node --test
# --force  rebuilds even when nothing changed
# --dir PATH --out FILE.wasm
#          builds the one plugin in PATH (anywhere, e.g. one made by
#          `switchboard plugin new --lang javascript` outside plugins/) into
#          FILE. It imports the SDK as plugins/ ones do (`../sdk-js/...`):
#          the script stages a copy of it beside a copy of the SDK under
#          target/js-plugins/_dir/, and builds and tests (--test: its own
#          test/*.test.mjs) that copy. A .keep-wasi-http file in PATH
#          (test plugins only) keeps componentize-js's http and fetch-event
#          features and skips the imports check: the component then
#          imports wasi:http, which the host refuses to load.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# This script, relative to ROOT (where it runs; and as ./dev calls it).
SELF=plugins/$(basename "${BASH_SOURCE[0]}")
CALLER_PWD=$PWD
cd "$ROOT"
TOOLS=target/js-tools
LOCK=plugins/sdk-js/tools/package-lock.json
BIN=$TOOLS/node_modules/.bin
OUT=dist/plugins
WORK=target/js-plugins

usage() { sed -n '2,30p' "$SELF"; }
# shellcheck source=plugins/build-args.sh
. plugins/build-args.sh
parse_build_args build-js "$@"

need() { command -v "$1" >/dev/null || { echo "build-js: $1 not found (Node.js >= 20 with npm is needed)" >&2; exit 1; }; }
need node
need npm
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "build-js: Node.js >= 20 needed, found $(node --version)" >&2; exit 1; }

hash_of() { cat "$@" | sha256sum | cut -c1-64; }

# One plugin anywhere (--dir PATH --out FILE), by absolute path (the
# script runs in the repository root).
ext_dir=""
if [ -n "$dir_arg" ] || [ -n "$out_arg" ]; then
  case $dir_arg in /*) ;; *) dir_arg=$CALLER_PWD/$dir_arg ;; esac
  case $out_arg in /*) ;; *) out_arg=$CALLER_PWD/$out_arg ;; esac
  [ -f "$dir_arg/plugin.js" ] && [ -f "$dir_arg/package.json" ] \
    || { echo "build-js: $dir_arg has no plugin.js and package.json" >&2; exit 1; }
  ext_dir=$(cd "$dir_arg" && pwd)
  mkdir -p "$(dirname "$out_arg")"
  ext_out=$(cd "$(dirname "$out_arg")" && pwd)/$(basename "$out_arg")
  ext_name=$(basename "$ext_dir")
fi

# The plugin directories: package.json + plugin.js.
if [ ${#names[@]} -eq 0 ] && [ -z "$ext_dir" ]; then
  for d in plugins/*/; do
    d=${d%/}
    [ -f "$d/package.json" ] && [ -f "$d/plugin.js" ] && names+=("$(basename "$d")")
  done
fi
for n in "${names[@]}"; do
  [ -f "plugins/$n/plugin.js" ] || { echo "build-js: plugins/$n/plugin.js not found" >&2; exit 1; }
done

# Tools: npm ci from the lock, again only when the lock changed.
lock_hash=$(hash_of plugins/sdk-js/tools/package.json "$LOCK")
if { [ ${#names[@]} -gt 0 ] || [ -n "$ext_dir" ]; } && { [ ! -x "$BIN/componentize-js" ] || [ "$(cat "$TOOLS/.lock-hash" 2>/dev/null)" != "$lock_hash" ]; }; then
  echo "build-js: installing componentize-js and jco into $TOOLS"
  mkdir -p "$TOOLS"
  cp plugins/sdk-js/tools/package.json "$LOCK" "$TOOLS/"
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > "$TOOLS/.lock-hash"
fi

# --dir: a staged copy, target/js-plugins/_dir/NAME-HASH/{NAME,sdk-js}, so
# that the plugin's `../sdk-js/` (and its tests' `../../sdk-js/`) resolve,
# for node and for componentize-js (inside the repository) alike.
if [ -n "$ext_dir" ]; then
  stage=$WORK/_dir/$ext_name-$(printf %s "$ext_dir" | sha256sum | cut -c1-12)
  rm -rf "$stage/$ext_name" "$stage/sdk-js"
  mkdir -p "$stage/$ext_name" "$stage/sdk-js"
  tar -C "$ext_dir" --exclude=./node_modules --exclude=./.git --exclude='*.wasm' -cf - . | tar -C "$stage/$ext_name" -xf -
  cp plugins/sdk-js/package.json plugins/sdk-js/*.js "$stage/sdk-js/"
  if [ $run_tests = 1 ]; then
    tests=()
    for t in "$stage/$ext_name"/test/*.test.mjs; do [ -f "$t" ] && tests+=("$t"); done
    if [ ${#tests[@]} -eq 0 ]; then
      echo "build-js: $ext_dir has no test/*.test.mjs" >&2
    else
      echo "build-js: node --test ${tests[*]}"
      node --test "${tests[@]}"
    fi
  fi
fi

if [ $run_tests = 1 ] && [ -z "$ext_dir" ]; then
  tests=(plugins/sdk-js/test/*.test.mjs)
  for n in "${names[@]}"; do
    for t in plugins/"$n"/test/*.test.mjs; do [ -f "$t" ] && tests+=("$t"); done
  done
  echo "build-js: node --test ${tests[*]}"
  node --test "${tests[@]}"
fi

# build N DIR OUT WORKDIR SDK PLUGIN: componentizes plugin N (sources in
# DIR) into OUT, working in WORKDIR, with an entry importing the SDK and
# the plugin by the paths SDK and PLUGIN (relative to WORKDIR).
build() {
  local n=$1 dir=$2 out=$3 work=$4 sdk_import=$5 plugin_import=$6
  # Sources that go into the component: every .js/.mjs of the plugin but
  # its tests and fixtures, the SDK, the WIT, the tools.
  srcs=$( { find "$dir" -name '*.js' -o -name '*.mjs' | grep -v -e '/test/' -e '/fixtures/' -e '/node_modules/'; \
            echo plugins/sdk-js/switchboard-plugin.js; ls wit/*.wit; echo "$LOCK"; echo "$SELF"; } | sort)
  # shellcheck disable=SC2086
  want=$(hash_of $srcs)
  # A plugin built from --dir: its output path too.
  [ "$work" = "$WORK/$n" ] || want="$want $out"
  stamp=$work/inputs.sha256
  if [ $force = 0 ] && [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "build-js: $out is up to date"
    return 0
  fi
  mkdir -p "$work"
  # Relative imports: componentize-js resolves them from the entry's
  # directory, inside the current directory (the repository root).
  cat > "$work/entry.js" <<EOF
// Generated by plugins/build-js.sh: the component entry of ${dir#"$ROOT"/}.
import { log, fetchCertificate } from "switchboard:provider/host@0.1.0";
import { componentPlugin, setHost } from "$sdk_import";
import definition from "$plugin_import";

setHost({ log, fetchCertificate });
export const plugin = componentPlugin(definition);
EOF
  local disable=(stdio random clocks http fetch-event) keep_http=0
  if [ -f "$dir/.keep-wasi-http" ]; then keep_http=1; disable=(stdio random clocks); fi
  start=$(date +%s%N)
  "$BIN/componentize-js" "$work/entry.js" --wit wit --world-name provider \
    --disable "${disable[@]}" -o "$work/$n.wasm"
  secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  # The component may import only the contract (a WASI import would fail
  # to link in the host, which grants none of it).
  imports=$("$BIN/jco" wit "$work/$n.wasm" | sed -n 's/^ *import \([^;]*\);/\1/p')
  stray=$(echo "$imports" | grep -v '^switchboard:provider/' || true)
  if [ -n "$stray" ] && [ $keep_http = 1 ]; then
    echo "build-js: $n imports more than the contract on purpose (.keep-wasi-http):" $stray
  elif [ -n "$stray" ]; then
    echo "build-js: $n imports more than the contract: $stray" >&2
    exit 1
  fi
  mv "$work/$n.wasm" "$out"
  echo "$want" > "$stamp"
  printf 'build-js: %s (%s KB) in %s s\n' "$out" "$(( $(stat -c %s "$out") / 1024 ))" "$secs"
}

if [ -n "$ext_dir" ]; then
  build "$ext_name" "$stage/$ext_name" "$ext_out" "$stage" ./sdk-js/switchboard-plugin.js "./$ext_name/plugin.js"
  exit 0
fi
mkdir -p "$OUT" "$WORK"
for n in "${names[@]}"; do
  build "$n" "plugins/$n" "$OUT/$n.wasm" "$WORK/$n" ../../../plugins/sdk-js/switchboard-plugin.js "../../../plugins/$n/plugin.js"
done
