#!/bin/sh
# Reproduces the figures of BENCHMARKS.md: builds the release `blockstore`
# binary and the `gen_olx` example, then runs benches/store.rs, which prints a
# Markdown table on stdout (progress on stderr). Extra arguments go to the
# bench, e.g. `benches/run.sh --quick` or `benches/run.sh --only 2,4`.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --bin blockstore --example gen_olx
exec cargo bench --bench store -- "$@"
