#!/usr/bin/env bash
# Every check and test of the workspace: formatting, lints, unit tests,
# end-to-end tests of the real `sluice` binary with plugins built from
# source (Rust, C, Zig, Python, JavaScript, Go), and the SDK's compile-fail tests; installs the
# toolchains it needs first. `bash scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-toolchains.sh
rustup component add rustfmt clippy >/dev/null 2>&1 || true
export TZ=UTC
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
