#!/usr/bin/env bash
# Fuzzing signet's parsers with cargo-fuzz (libFuzzer), on the stable toolchain.
#
#   scripts/fuzz.sh smoke            build, seed, replay fuzz/regressions, run each target
#                                    FUZZ_SECONDS (default 20) s; fails on any crash (CI runs
#                                    it with FUZZ_SECONDS=5: see "CI smoke" in fuzz/README.md)
#   scripts/fuzz.sh long [SECONDS]   run each target SECONDS (default 600) s, going on past
#                                    crashes (-fork=1, one worker), and print a table of
#                                    libFuzzer's final figures (runs, cov, ft, corpus; exec/s
#                                    averaged over the run)
#   scripts/fuzz.sh run TARGET [SECONDS]   one target (default 60 s)
#   scripts/fuzz.sh build | corpus | list
#
# Environment:
#   FUZZ_TARGETS     space-separated subset of targets (default: all, see `list`)
#   FUZZ_SECONDS     seconds per target for `smoke` (default 20)
#   FUZZ_PROFILE     release or dev. Default: dev for smoke, release otherwise. A dev build
#                    (no optimisation, debug assertions) costs about 60% of the CPU time of a
#                    release one, which is most of a cold smoke run; its inputs run several
#                    times slower, which only matters when fuzzing for long
#   FUZZ_SANITIZER   none or address. Default: none for smoke, address otherwise. ASan checks the
#                    unsafe Rust in dependencies (zlib-rs, der, the aws-lc bindings); without it
#                    the build is about a quarter cheaper and inputs run faster, and panics,
#                    overflows (debug assertions stay on) and -rss_limit_mb still fail a run
#   FUZZ_TIMEOUT     seconds one input may take before libFuzzer calls it a hang (default 60)
#   FUZZ_SEED_MAX_BYTES  largest .nupkg copied into the package corpora (default 131072): larger
#                    seeds only slow every mutation down
#   FUZZ_TARGET_DIR  where builds go (default fuzz/target), one subdirectory per sanitizer
#                    (`none`, `address`; `-dev` appended for dev builds); point
#                    it outside the clone to keep the build between CI runs (a cold build is
#                    most of a smoke run)
#   SHARED           the shared fixtures (default ../shared beside the repository)
#
# Only stable Rust is installed, so the unstable flags cargo-fuzz passes to rustc
# (-Zsanitizer, -Cpasses=sancov-module, -Zsanitizer-coverage-*) are unlocked with
# RUSTC_BOOTSTRAP=1. One libFuzzer process at a time, one core: no -jobs/-workers. To use two
# cores, run two instances with disjoint FUZZ_TARGETS (and `nice -n 19` on a shared machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
SHARED="${SHARED:-$ROOT/../shared}"
PACKAGES="$SHARED/interop/packages"
ALL_TARGETS="nupkg_open nupkg_extract nupkg_remove_append signature_load timestamp_parse signature_content
certificate keys_pkcs12 verify_package ocsp_response crl tsa_request config feed_index feed_version nuspec tlog"
TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"
TIMEOUT="${FUZZ_TIMEOUT:-60}"
SEED_MAX_BYTES="${FUZZ_SEED_MAX_BYTES:-131072}"
CARGO_FUZZ_VERSION="0.13.2"

# Sets SANITIZER and PROFILE (defaults $1 and $2) and the build and log directories that go
# with them.
use_sanitizer() {
    SANITIZER="${FUZZ_SANITIZER:-$1}"
    case "$SANITIZER" in
    none | address) ;;
    *) die "FUZZ_SANITIZER must be none or address, not '$SANITIZER'" ;;
    esac
    PROFILE="${FUZZ_PROFILE:-${2:-release}}"
    case "$PROFILE" in
    # No -O for release: it would turn debug assertions off.
    release) PROFILE_FLAGS=() PROFILE_DIR=release SUFFIX="" ;;
    dev) PROFILE_FLAGS=(--dev) PROFILE_DIR=debug SUFFIX="-dev" ;;
    *) die "FUZZ_PROFILE must be release or dev, not '$PROFILE'" ;;
    esac
    TARGET_DIR="${FUZZ_TARGET_DIR:-$FUZZ/target}/$SANITIZER$SUFFIX"
    LOGS="$TARGET_DIR/fuzz-logs"
}

export RUSTC_BOOTSTRAP=1

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
    fi
}

# Debug assertions and overflow checks stay on in both profiles (cargo-fuzz's default without -O).
build() {
    ensure_cargo_fuzz
    local start=$SECONDS
    (cd "$ROOT" && cargo fuzz build "${PROFILE_FLAGS[@]}" --sanitizer "$SANITIZER" \
        --target-dir "$TARGET_DIR")
    log "build took $((SECONDS - start)) s (sanitizer: $SANITIZER, profile: $PROFILE)"
}

# Copies a file into a corpus directory under its SHA-1, as libFuzzer names entries.
seed() {
    local dir="$1" file="$2"
    cp -f "$file" "$dir/$(sha1sum "$file" | cut -d' ' -f1)"
}

corpus() {
    [ -d "$PACKAGES" ] || die "no fixtures at $PACKAGES (set SHARED)"
    command -v openssl >/dev/null || die "openssl is needed to build the key corpus"
    command -v python3 >/dev/null || die "python3 is needed to cut seeds out of the fixtures"
    local c="$FUZZ/corpus" f
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    local tmp="$TMP"
    for t in $ALL_TARGETS; do mkdir -p "$c/$t"; done

    # Packages: every fixture up to SEED_MAX_BYTES, plus NuGet's tiny ZIP edge cases.
    for f in "$PACKAGES"/*.nupkg "$PACKAGES"/zip-edge-cases/*; do
        [ "$(stat -c %s "$f")" -le "$SEED_MAX_BYTES" ] || continue
        for t in nupkg_open nupkg_extract nupkg_remove_append verify_package; do seed "$c/$t" "$f"; done
    done

    # Text formats: the root .nuspec of every fixture (and its versions, ranges and frameworks),
    # and hand-made nuget.config files, feed documents, version strings and dependency-rich
    # nuspecs, those also as small packages.
    python3 "$FUZZ/tools/seeds.py" nuspec "$c/nuspec" "$c/feed_version" \
        "$PACKAGES"/*.nupkg "$PACKAGES"/zip-edge-cases/*
    python3 "$FUZZ/tools/seeds.py" documents "$c/config" "$c/feed_index" "$c/feed_version" \
        "$c/nuspec" "$tmp/packages"
    for f in "$tmp"/packages/*; do
        for t in nupkg_open nupkg_extract verify_package; do seed "$c/$t" "$f"; done
    done

    # Signatures: the .signature.p7s of every signed package (large ones too) and the loose ones.
    python3 "$FUZZ/tools/seeds.py" p7s "$tmp/p7s" "$PACKAGES"/*.nupkg
    for f in "$PACKAGES"/loose-p7s/*; do seed "$tmp/p7s" "$f"; done
    cp -f "$tmp"/p7s/* "$c/signature_load/"

    # Timestamp tokens and their TSTInfo, the signature contents and the certificates (DER, and
    # each SignedData's set as one PEM bundle), cut out by a small DER walker: `openssl pkcs7
    # -print_certs` rejects the subjectKeyIdentifier SignerInfos NuGet signatures use.
    python3 "$FUZZ/tools/seeds.py" der "$c/timestamp_parse" "$c/signature_content" \
        "$c/certificate" "$tmp"/p7s/*
    # The other two hash algorithms NuGet allows, which no fixture uses.
    printf 'Version:1\r\n\r\n2.16.840.1.101.3.4.2.2-Hash:%s\r\n\r\n' \
        "$(head -c 48 /dev/zero | base64 -w0)" >"$tmp/sha384.txt"
    printf 'Version:1\r\n\r\n2.16.840.1.101.3.4.2.3-Hash:%s\r\n\r\n' \
        "$(head -c 64 /dev/zero | base64 -w0)" >"$tmp/sha512.txt"
    seed "$c/signature_content" "$tmp/sha384.txt"
    seed "$c/signature_content" "$tmp/sha512.txt"

    # Keys: a throwaway CA and leaf (RSA-2048), exported as the PFX flavours signet reads, with
    # the password the keys_pkcs12 target tries, and as key+chain files for from_key_and_chain.
    local k="$tmp/keys"
    mkdir -p "$k"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$k/ca.key" -out "$k/ca.pem" \
        -subj "/CN=signet fuzz CA" -days 30 \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$k/leaf.key" -out "$k/leaf.csr" \
        -subj "/CN=signet fuzz signer" 2>/dev/null
    printf 'extendedKeyUsage=codeSigning\n' >"$k/ext"
    openssl x509 -req -in "$k/leaf.csr" -CA "$k/ca.pem" -CAkey "$k/ca.key" -set_serial 2 \
        -days 30 -extfile "$k/ext" -out "$k/leaf.pem" 2>/dev/null
    p12() { openssl pkcs12 -export -inkey "$k/leaf.key" -in "$k/leaf.pem" -passout pass:password "$@"; }
    p12 -out "$k/aes.pfx"
    p12 -certfile "$k/ca.pem" -out "$k/aes-chain.pfx"
    p12 -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 -out "$k/3des.pfx"
    p12 -legacy -certfile "$k/ca.pem" -out "$k/rc2.pfx" 2>/dev/null ||
        log "no OpenSSL legacy provider: skipping the RC2-40 PFX seed"
    cat "$k/leaf.key" "$k/leaf.pem" "$k/ca.pem" >"$k/pkcs8-chain.pem"
    openssl rsa -in "$k/leaf.key" -traditional -out "$k/pkcs1.key" 2>/dev/null
    cat "$k/pkcs1.key" "$k/leaf.pem" >"$k/pkcs1-chain.pem"
    openssl pkcs8 -topk8 -nocrypt -in "$k/leaf.key" -outform DER -out "$k/leaf.p8.der"
    for f in "$k"/*.pfx "$k"/*-chain.pem "$k/leaf.p8.der"; do seed "$c/keys_pkcs12" "$f"; done

    # Revocation: a throwaway CA with the test PKI intermediate's name (the issuer the crl and
    # ocsp_response targets check against, so the name check passes; the signature never can,
    # the test PKI's keys being new in each process), an `openssl ca` database with one good
    # and one revoked leaf, its CRL, OCSP requests, and the responses and the BasicOCSPResponse
    # inside one, from `openssl ocsp` as the responder.
    local r="$tmp/revocation"
    mkdir -p "$r"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$r/ca.key" -out "$r/ca.pem" \
        -subj "/O=signet tests/CN=signet test intermediate CA" -days 30 \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    for serial in 2 3; do
        openssl x509 -req -in "$k/leaf.csr" -CA "$r/ca.pem" -CAkey "$r/ca.key" \
            -set_serial "$serial" -days 30 -extfile "$k/ext" -out "$r/leaf$serial.pem" 2>/dev/null
    done
    local expiry revoked_at
    expiry="$(date -u -d '+30 days' +%y%m%d%H%M%SZ)"
    revoked_at="$(date -u -d '-1 day' +%y%m%d%H%M%SZ)"
    printf 'V\t%s\t\t02\tunknown\t/CN=signet fuzz signer\n' "$expiry" >"$r/index.txt"
    printf 'R\t%s\t%s,keyCompromise\t03\tunknown\t/CN=signet fuzz signer\n' \
        "$expiry" "$revoked_at" >>"$r/index.txt"
    echo 01 >"$r/crlnumber"
    printf '[ca]\ndefault_ca = fuzz\n[fuzz]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 7\ncrl_extensions = crl_ext\n[crl_ext]\nauthorityKeyIdentifier = keyid\n' \
        "$r/index.txt" "$r/crlnumber" >"$r/ca.cnf"
    openssl ca -config "$r/ca.cnf" -gencrl -keyfile "$r/ca.key" -cert "$r/ca.pem" \
        -out "$r/crl.pem" 2>/dev/null
    openssl crl -in "$r/crl.pem" -outform DER -out "$r/crl.der"
    seed "$c/crl" "$r/crl.der"
    openssl ocsp -issuer "$r/ca.pem" -cert "$r/leaf2.pem" -cert "$r/leaf3.pem" \
        -reqout "$r/nonce.req" >/dev/null 2>&1
    openssl ocsp -issuer "$r/ca.pem" -sha256 -cert "$r/leaf3.pem" -no_nonce \
        -reqout "$r/sha256.req" >/dev/null 2>&1
    openssl ocsp -index "$r/index.txt" -CA "$r/ca.pem" -rsigner "$r/ca.pem" -rkey "$r/ca.key" \
        -reqin "$r/nonce.req" -ndays 7 -respout "$r/nonce.resp" >/dev/null 2>&1
    openssl ocsp -index "$r/index.txt" -CA "$r/ca.pem" -rsigner "$r/ca.pem" -rkey "$r/ca.key" \
        -reqin "$r/sha256.req" -resp_key_id -respout "$r/sha256.resp" >/dev/null 2>&1
    # The BasicOCSPResponse: the contents of the OCTET STRING in responseBytes.
    local basic_at
    basic_at="$(openssl asn1parse -inform DER -in "$r/nonce.resp" |
        sed -n 's/^ *\([0-9]*\):d=3 .*OCTET STRING.*/\1/p' | head -n1)"
    openssl asn1parse -inform DER -in "$r/nonce.resp" -strparse "$basic_at" -noout \
        -out "$r/nonce.basic"
    for f in "$r"/*.req "$r"/*.resp "$r/nonce.basic"; do seed "$c/ocsp_response" "$f"; done

    # Timestamp requests from `openssl ts -query` (with and without nonce and certReq; SHA-1,
    # which the authority refuses) and the replies of `openssl ts -reply` with a throwaway TSA
    # certificate (timeStamping EKU, critical) to one of them and to the refused one.
    local ts="$tmp/tsa"
    mkdir -p "$ts"
    head -c 1000 /dev/urandom >"$ts/data"
    openssl ts -query -data "$ts/data" -sha256 -cert -out "$ts/sha256.tsq" 2>/dev/null
    openssl ts -query -data "$ts/data" -sha512 -no_nonce -out "$ts/sha512.tsq" 2>/dev/null
    openssl ts -query -data "$ts/data" -sha1 -cert -out "$ts/sha1.tsq" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$ts/tsa.key" -out "$ts/tsa.csr" \
        -subj "/CN=signet fuzz TSA" 2>/dev/null
    printf 'extendedKeyUsage=critical,timeStamping\n' >"$ts/ext"
    openssl x509 -req -in "$ts/tsa.csr" -CA "$k/ca.pem" -CAkey "$k/ca.key" -set_serial 4 \
        -days 30 -extfile "$ts/ext" -out "$ts/tsa.pem" 2>/dev/null
    printf '[tsa]\ndefault_tsa = fuzz\n[fuzz]\nserial = %s\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\ness_cert_id_alg = sha256\n' \
        "$ts/serial" >"$ts/tsa.cnf"
    for q in sha256 sha1; do
        openssl ts -reply -config "$ts/tsa.cnf" -queryfile "$ts/$q.tsq" -inkey "$ts/tsa.key" \
            -signer "$ts/tsa.pem" -chain "$k/ca.pem" -out "$ts/$q.tsr" 2>/dev/null
    done
    for f in "$ts"/*.tsq "$ts"/*.tsr; do seed "$c/tsa_request" "$f"; done

    # tlog: the signed-note and checkpoint examples of the C2SP texts, a proof, paths, entries.
    for f in "$FUZZ"/regressions/tlog/*; do seed "$c/tlog" "$f"; done

    for t in $ALL_TARGETS; do
        log "corpus $t: $(find "$c/$t" -type f | wc -l) files"
    done
}

# Value of "key: value" in a libFuzzer status line.
field() { sed -n "s|.* $1: \([^ ]*\).*|\1|p" <<<"$2"; }

# Runs one target for $2 seconds and prints one tab-separated line of figures on stdout:
# target, result, runs, cov, ft, corpus, exec/s, crashes. Returns non-zero on a crash.
#
# stop mode (smoke, run): plain libFuzzer over the corpus and the committed regression inputs,
# which are replayed first; the first crash ends the run. Its final line reads
# "#N DONE cov: X ft: Y corp: A/B lim: L exec/s: E rss: R".
# keep-going mode (long): -fork=1 -ignore_crashes=1, one worker process at a time, so one crash
# does not end an hour's run; each crash is still written to fuzz/artifacts/<target>/. Its status
# lines read "#N: cov: X ft: Y corp: A exec/s: E oom/timeout/crash: a/b/c time: Ts".
run_target() {
    local t="$1" secs="$2" mode="$3" log_file="$LOGS/$1.log" rc=0 stamp
    mkdir -p "$LOGS" "$FUZZ/corpus/$t" "$FUZZ/regressions/$t" "$FUZZ/artifacts/$t"
    stamp="$LOGS/$t.start"
    touch "$stamp"
    log "running $t for $secs s ($mode; log: $log_file)"
    # Corpus first: libFuzzer adds new inputs to the first directory only, never to the
    # committed regressions.
    local dirs=("fuzz/corpus/$t" "fuzz/regressions/$t")
    local flags=(-max_total_time="$secs" -timeout="$TIMEOUT" -print_final_stats=1)
    if [ "$mode" = keep-going ]; then
        dirs=("fuzz/corpus/$t")
        flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    fi
    # The binary `build` made, run from a copy rather than through `cargo fuzz run`: a source edit
    # while a long run goes on then neither rebuilds between targets nor swaps the binary that
    # -fork=1 re-executes for each worker. The environment is the one `cargo fuzz run` sets.
    local bin="$LOGS/$t.bin"
    cp -f "$TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/$PROFILE_DIR/$t" "$bin"
    (cd "$ROOT" && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0" \
        "$bin" -artifact_prefix="$FUZZ/artifacts/$t/" "${flags[@]}" "${dirs[@]}") \
        >"$log_file" 2>&1 || rc=$?

    local line runs cov ft corp execs crashes=0 result=ok
    if [ "$mode" = keep-going ]; then
        line="$(grep -E '^#[0-9]+: cov:' "$log_file" | tail -n1 || true)"
        runs="$(sed -n 's/^#\([0-9]*\):.*/\1/p' <<<"$line")"
    else
        line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log_file" | tail -n1 || true)"
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_file" | tail -n1)"
    fi
    cov="$(field cov "$line")"
    ft="$(field ft "$line")"
    corp="$(field corp "$line")"
    execs="$(field exec/s "$line")"
    if [ "$mode" = keep-going ]; then
        # The status line's exec/s is the last worker job's; report the run's average instead.
        local took
        took="$(sed -n 's/.* time: \([0-9]*\)s.*/\1/p' <<<"$line")"
        if [ -n "$runs" ] && [ -n "$took" ] && [ "$took" -gt 0 ]; then execs=$((runs / took)); fi
    fi
    # Crash, timeout and out-of-memory inputs alike, each written once (named by its SHA-1).
    crashes="$(find "$FUZZ/artifacts/$t" -type f -newer "$stamp" | wc -l)"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        result=CRASH
        log "$t FAILED (exit $rc); the end of its log:"
        tail -n 40 "$log_file" >&2
        find "$FUZZ/artifacts/$t" -type f -newer "$stamp" | sed 's/^/fuzz: crash artifact: /' >&2
    else
        log "$t: ${line:-no final status line}"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$result" "${runs:--}" "${cov:--}" \
        "${ft:--}" "${corp:--}" "${execs:--}" "$crashes"
    [ "$result" = ok ]
}

run_all() {
    local secs="$1" mode="$2" failed=0 results="" line t
    for t in $TARGETS; do
        line="$(run_target "$t" "$secs" "$mode")" || failed=1
        results+="$line"$'\n'
    done
    printf '\n%-20s %-6s %10s %6s %6s %14s %7s %7s\n' \
        target result runs cov ft corpus exec/s crashes
    while IFS=$'\t' read -r t res runs cov ft corp execs crashes; do
        [ -n "$t" ] || continue
        printf '%-20s %-6s %10s %6s %6s %14s %7s %7s\n' \
            "$t" "$res" "$runs" "$cov" "$ft" "$corp" "$execs" "$crashes"
    done <<<"$results"
    if [ "$failed" -ne 0 ]; then
        log "crash found: artifacts listed above; reproduce with" \
            "RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>, keep it under fuzz/regressions/<target>/"
        return 1
    fi
}

cmd="${1:-}"
case "$cmd" in
smoke)
    start=$SECONDS
    use_sanitizer none dev
    build
    corpus
    status=0
    run_all "${FUZZ_SECONDS:-20}" stop || status=$?
    log "smoke took $((SECONDS - start)) s in all"
    exit "$status"
    ;;
long)
    use_sanitizer address
    build
    corpus
    run_all "${2:-600}" keep-going
    ;;
run)
    [ -n "${2:-}" ] || die "usage: $0 run TARGET [SECONDS]"
    use_sanitizer address
    build
    corpus
    TARGETS="$2" run_all "${3:-60}" stop
    ;;
build)
    use_sanitizer address
    build
    ;;
corpus) corpus ;;
list) for t in $ALL_TARGETS; do echo "$t"; done ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
