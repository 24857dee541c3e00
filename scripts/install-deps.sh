#!/usr/bin/env bash
# Installs what signet's tests need on a fresh Debian machine, idempotently: only what is
# missing, with one `apt-get update` and one `apt-get install` for all Debian packages.
# Debian packages:
# - the openssl CLI: an independent oracle for every signature signet produces;
# - SoftHSM 2 (softhsm2): a software PKCS#11 token for the hardware-key signer's tests
#   (crates/cli/tests/pkcs11.rs, crates/pkcs11) and its benchmark;
# - postgresql: the server binaries (initdb, pg_ctl) for the throwaway cluster scripts/test.sh
#   starts, so that the serve suite and the server's database tests run on PostgreSQL too;
# - mono-complete: runs nuget.exe, the real NuGet client the serve suite pushes and installs with;
# - chromium (and fonts-liberation, which it recommends): the headless browser of the web
#   pages' tests (/usr/bin/chromium, passed to them as SIGNET_CHROMIUM);
# - golang-go and golang-golang-x-mod-dev: Go's sumdb note and tlog packages (the reference
#   implementation of signed notes, tiles and Merkle proofs), built at test time in GOPATH mode
#   into a small verifier that checks the transparency log signet serves (SIGNET_GO).
# Recommended packages are left out (--no-install-recommends): Mono's alone are hundreds of MB.
# Into ${SIGNET_TOOLS_DIR:-$HOME/.cache/signet-tools}, pinned:
# - moto-venv/: moto[server] 5.2.5 (PyPI), the S3 endpoint of the serve suite's S3 runs;
# - node_modules/nuget-exe/: nuget.exe 5.8.0 (npm package nuget-exe).
set -euo pipefail

tools=${SIGNET_TOOLS_DIR:-$HOME/.cache/signet-tools}

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if ! command -v softhsm2-util >/dev/null 2>&1 \
  || { [ ! -e /usr/lib/softhsm/libsofthsm2.so ] \
    && ! ls /usr/lib/*/softhsm/libsofthsm2.so >/dev/null 2>&1; }; then
  need+=(softhsm2)
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v mono >/dev/null 2>&1 && installed mono-complete || need+=(mono-complete)
[ -x /usr/bin/chromium ] || need+=(chromium)
installed fonts-liberation || need+=(fonts-liberation)
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || need+=(golang-golang-x-mod-dev)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

venv="$tools/moto-venv"
if [ ! -x "$venv/bin/moto_server" ] \
  || ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("moto") != "5.2.5")' 2>/dev/null; then
  echo "installing: moto[server]==5.2.5 into $venv"
  mkdir -p "$tools"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5'
fi

if [ ! -f "$tools/node_modules/nuget-exe/nuget-5.8.0.exe" ]; then
  echo "installing: nuget-exe@5.8.0 into $tools"
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error nuget-exe@5.8.0 >/dev/null
fi
