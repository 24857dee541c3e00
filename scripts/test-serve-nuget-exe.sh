#!/usr/bin/env bash
# signet serve against a real NuGet client: nuget.exe 5.8 (npm package nuget-exe) under Mono
# (Debian mono-complete) pushes, installs and deletes (crates/cli/tests/serve.rs,
# nuget_exe_pushes_installs_and_deletes), with its output shown. scripts/test.sh runs it too.
# Arguments go to the test binary.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
. scripts/test-services.sh
use_nuget_exe
cargo test --locked -p signet --test serve nuget_exe -- --nocapture "$@"
