#!/usr/bin/env bash
# Streaming word count over the sample input in examples/wordcount/in:
# builds the plugins and the host, then runs the pipeline until it has been
# idle for two batches. Run from anywhere: `bash scripts/demo.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
cargo build --quiet --profile plugin --target wasm32-wasip2 --target-dir target/plugins \
    -p split-words -p word-pair -p sum -p min-length -p split-pairs -p running-sum -p subtract -p sessions -p pair-product -p post-alerts
cargo build --quiet --release -p sluice-cli
exec target/release/sluice run examples/wordcount/pipeline.toml --stop-when-idle 2 "$@"
