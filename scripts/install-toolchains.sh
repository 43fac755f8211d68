#!/usr/bin/env bash
# Installs what the guest languages' tests need, when it is missing:
# the Rust wasm target, and clang with the wasm32-wasi target and wasi-libc
# (Debian/Ubuntu packages) for C plugins. `bash scripts/install-toolchains.sh`.
set -euo pipefail
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
c_toolchain_ok() {
    command -v clang >/dev/null && [ -f /usr/include/wasm32-wasi/stdlib.h ] \
        && [ -d /usr/lib/wasm32-wasi ] && command -v wasm-ld >/dev/null
}
if ! c_toolchain_ok; then
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    echo "installing clang, lld, wasi-libc for C plugins (apt-get)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        clang lld wasi-libc libclang-rt-dev-wasm32 >/dev/null
fi
