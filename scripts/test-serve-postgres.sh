#!/usr/bin/env bash
# The signet serve integration tests (crates/cli/tests/serve.rs) with PostgreSQL: a throwaway
# cluster (scripts/test-services.sh), one database per test. Each test runs on SQLite + files
# and on PostgreSQL + files. scripts/test.sh runs this and more (PostgreSQL + S3) in one go.
# Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
. scripts/test-services.sh
start_postgres
cargo test --locked -p signet --test serve "$@"
