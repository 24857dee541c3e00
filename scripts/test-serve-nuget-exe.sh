#!/usr/bin/env bash
# signet serve against a real NuGet client: nuget.exe 5.8 (npm package nuget-exe) under Mono
# (Debian mono-complete) pushes, installs and deletes (crates/cli/tests/serve.rs,
# nuget_exe_pushes_installs_and_deletes). Installs what it needs when missing. Not part of CI
# yet (Mono is a large install); run it by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mono >/dev/null; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends mono-complete >/dev/null
fi
tools=${SIGNET_TOOLS_DIR:-$HOME/.cache/signet-tools}
exe="$tools/node_modules/nuget-exe/nuget-5.8.0.exe"
if [ ! -f "$exe" ]; then
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund nuget-exe@5.8.0 >/dev/null
fi
SIGNET_NUGET_EXE="$exe" cargo test -p signet --test serve nuget_exe -- --nocapture "$@"
