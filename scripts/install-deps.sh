#!/usr/bin/env bash
# Installs what signet's tests need on a fresh Debian machine, idempotently.
# - the openssl CLI: an independent oracle for every signature signet produces;
# - SoftHSM 2 (softhsm2): a software PKCS#11 token for the hardware-key signer's tests
#   (crates/cli/tests/pkcs11.rs, crates/pkcs11) and its benchmark.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if ! command -v softhsm2-util >/dev/null 2>&1 \
  || { [ ! -e /usr/lib/softhsm/libsofthsm2.so ] \
    && ! ls /usr/lib/*/softhsm/libsofthsm2.so >/dev/null 2>&1; }; then
  need+=(softhsm2)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
