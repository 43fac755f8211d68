#!/usr/bin/env bash
# Every check and test of the workspace: formatting, lints, unit tests,
# end-to-end tests of the real `sluice` binary with plugins built from
# source, and the SDK's compile-fail tests. `bash scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
rustup component add rustfmt clippy >/dev/null 2>&1 || true
export TZ=UTC
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
