#!/usr/bin/env bash
# Builds the Python provider plugins into WebAssembly components.
#
#   plugins/build-python.sh [--test] [--force] [NAME...]
#   plugins/build-python.sh [--test] [--force] --dir PATH --out FILE.wasm
#
# A Python plugin is a directory plugins/NAME/ holding `app.py` (the marker:
# the module componentize-py wraps; its `Plugin = switchboard_plugin.export(...)`
# is the exported `plugin` interface), with any helper modules beside it,
# `fixtures/*.http` and `test_*.py` unit tests. Each is built with
# componentize-py against wit/ (world `provider`) into dist/plugins/NAME.wasm,
# with the SDK plugins/sdk-python on its path. A component newer than every
# source (the plugin's and the SDK's *.py but tests, wit/, this script) is
# not rebuilt.
#
# componentize-py (pinned below) is installed from PyPI into a venv under
# target/ when missing. `--test` then runs, natively in CPython (no wasm),
# every fixture through the plugin with the naming convention checked
# (`reject-*` refused, `ack-*` accepted, others accepted with events) and the
# plugin's unit tests; each plugin ends with a `NAME: N passed, N failed` line.
#
# `--dir PATH --out FILE.wasm` builds the one plugin in PATH (anywhere, e.g.
# one made by `switchboard plugin new --lang python` outside plugins/) into
# FILE, with the same SDK and tools; `--test` then runs its fixtures and
# unit tests the same way.
#
# Environment: OUT_DIR (default dist/plugins), PY_PLUGINS_VENV (default
# target/pyenv-plugins), PYTHON (the interpreter making the venv, python3).
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=${OUT_DIR:-$root/dist/plugins}
venv=${PY_PLUGINS_VENV:-$root/target/pyenv-plugins}
bindings=$root/target/python-plugins/bindings
sdk=$root/plugins/sdk-python
python=${PYTHON:-python3}

usage() { sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
# shellcheck source=plugins/build-args.sh
. "$root/plugins/build-args.sh"
parse_build_args build-python.sh "$@"

log() { echo "build-python: $*" >&2; }

ensure_componentize_py() {
    local have=""
    if [ -x "$venv/bin/componentize-py" ]; then
        have=$("$venv/bin/componentize-py" --version 2>/dev/null | awk '{print $2}') || have=""
    fi
    [ "$have" = "$COMPONENTIZE_PY_VERSION" ] && return 0
    log "installing componentize-py $COMPONENTIZE_PY_VERSION into ${venv#"$root"/}"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION"
}

# The generated `wit_world` bindings the SDK imports when run natively.
ensure_bindings() {
    local stamp=$bindings/.stamp
    local want="$COMPONENTIZE_PY_VERSION $(cat "$root"/wit/*.wit | sha256sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    rm -rf "$bindings"
    mkdir -p "$(dirname "$bindings")"
    (cd "$root" && "$venv/bin/componentize-py" -q -d wit -w provider bindings "$bindings")
    echo "$want" >"$stamp"
}

# One plugin anywhere (--dir PATH --out FILE): its directory and component
# by absolute path, its name the directory's.
declare -A plugin_dir=() plugin_wasm=()
if [ -n "$dir_arg" ] || [ -n "$out_arg" ]; then
    [ -f "$dir_arg/app.py" ] || { log "$dir_arg/app.py not found"; exit 2; }
    abs_dir=$(cd "$dir_arg" && pwd)
    mkdir -p "$(dirname "$out_arg")"
    abs_out=$(cd "$(dirname "$out_arg")" && pwd)/$(basename "$out_arg")
    names=("$(basename "$abs_dir")")
    plugin_dir[${names[0]}]=$abs_dir
    plugin_wasm[${names[0]}]=$abs_out
fi

# Python plugins: plugins/*/app.py.
if [ ${#names[@]} -eq 0 ]; then
    for app in "$root"/plugins/*/app.py; do
        [ -f "$app" ] && names+=("$(basename "$(dirname "$app")")")
    done
fi
if [ ${#names[@]} -eq 0 ]; then
    log "no Python plugins (plugins/*/app.py)"
    exit 0
fi
for name in "${names[@]}"; do
    [ -n "${plugin_dir[$name]:-}" ] && continue
    [ -f "$root/plugins/$name/app.py" ] || { log "plugins/$name/app.py not found"; exit 2; }
    plugin_dir[$name]=$root/plugins/$name
    plugin_wasm[$name]=$out_dir/$name.wasm
done

ensure_componentize_py
ensure_bindings
[ -n "$dir_arg" ] || mkdir -p "$out_dir"

# True when $1 is older than any source of plugin $2.
stale() {
    local wasm=$1 dir=$2
    [ -f "$wasm" ] || return 0
    [ -n "$(find "$dir" "$sdk" "$root/wit" "${BASH_SOURCE[0]}" -newer "$wasm" \
        \( -name '*.py' -o -name '*.wit' -o -name '*.sh' \) -not -path '*/__pycache__/*' \
        -not -name 'test_*.py' -not -name 'testing.py' \
        -print -quit)" ]
}

for name in "${names[@]}"; do
    dir=${plugin_dir[$name]}
    wasm=${plugin_wasm[$name]}
    if [ "$force" = 0 ] && ! stale "$wasm" "$dir"; then
        log "$name.wasm is up to date"
        continue
    fi
    log "componentize-py: ${dir#"$root"/} -> ${wasm#"$root"/}"
    # Componentize a staged copy: the plugin's modules without its tests,
    # fixtures and docs, and the SDK without its test harness (so neither is
    # in the component, and componentize-py's __pycache__ stays out of the
    # source tree).
    stage=$root/target/python-plugins/stage/$name
    [ -z "$dir_arg" ] || stage=$root/target/python-plugins/stage/_dir-$name
    rm -rf "$stage"
    mkdir -p "$stage/app" "$stage/sdk"
    (cd "$dir" && find . -name '*.py' -not -name 'test_*.py' -not -path '*/__pycache__/*' \
        -not -path './fixtures/*' -exec cp --parents {} "$stage/app/" \;)
    (cd "$sdk" && find . -name '*.py' -not -name 'testing.py' -not -path '*/__pycache__/*' \
        -exec cp --parents {} "$stage/sdk/" \;)
    tmp=$wasm.tmp$$
    started=$(date +%s%N)
    # No VIRTUAL_ENV: componentize-py would add the venv's site-packages
    # (itself) to the component's path.
    (cd "$root" && env -u VIRTUAL_ENV "$venv/bin/componentize-py" -q -d wit -w provider \
        componentize app -p "$stage/app" -p "$stage/sdk" -o "$tmp")
    mv -f "$tmp" "$wasm"
    log "$name.wasm: $(stat -c %s "$wasm") bytes in $((($(date +%s%N) - started) / 1000000)) ms"
done

if [ "$run_tests" = 1 ]; then
    status=0
    for name in "${names[@]}"; do
        PYTHONPATH="$sdk:$bindings" PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" \
            -m switchboard_plugin.testing --check --unit --quiet "${plugin_dir[$name]}" || status=1
    done
    exit $status
fi
