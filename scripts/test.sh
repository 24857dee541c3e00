#!/usr/bin/env bash
# The whole test suite, as the README documents it and CI runs it: installs what is missing
# (scripts/install-deps.sh), starts a throwaway PostgreSQL cluster and an S3 endpoint (moto) on
# loopback (scripts/test-services.sh), and runs `cargo test --workspace` once with
# SIGNET_TEST_POSTGRES, SIGNET_TEST_S3 and SIGNET_NUGET_EXE set (and SIGNET_CHROMIUM, SIGNET_GO), so that
# the server suites run on SQLite + files and on PostgreSQL + S3, and nuget.exe runs against
# signet serve. Both services are stopped on exit. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/interop/packages ]; then
  echo "error: ../shared (the interop fixtures) must sit beside this repository" >&2
  exit 2
fi
scripts/install-deps.sh
. scripts/test-services.sh
start_moto
start_postgres
wait_moto
use_nuget_exe
# Go's sumdb note/tlog packages check the transparency log (crates/tlog/tests/go_reference.rs).
if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ]; then
  export SIGNET_GO="$(command -v go)"
fi
if [ -x /usr/bin/chromium ]; then
  export SIGNET_CHROMIUM=/usr/bin/chromium
fi
cargo test --workspace --locked "$@"
