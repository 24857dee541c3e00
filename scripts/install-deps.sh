#!/usr/bin/env bash
# Installs what signet's tests need on a fresh Debian machine, idempotently.
# Today: the openssl CLI (an independent oracle for every signature signet produces).
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
