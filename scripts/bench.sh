#!/usr/bin/env bash
# The side-by-side benchmark of README "Benchmarks": builds the release `signet` it times, then
# runs `cargo run --release -p signet-bench`. Arguments go to signet-bench (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/interop/packages ]; then
  echo "error: ../shared (the interop fixtures) must sit beside this repository" >&2
  exit 2
fi
scripts/install-deps.sh
cargo build --release --locked -p signet -p signet-bench
exec cargo run --release --locked -p signet-bench -- "$@"
