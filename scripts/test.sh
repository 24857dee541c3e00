#!/usr/bin/env bash
# The whole test suite, as the README documents it and CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/interop/packages ]; then
  echo "error: ../shared (the interop fixtures) must sit beside this repository" >&2
  exit 2
fi
scripts/install-deps.sh
cargo test --workspace --locked
