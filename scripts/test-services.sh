# Sourced (not run) by scripts/test.sh and scripts/test-serve-*.sh, after scripts/install-deps.sh:
# throwaway services for the server's test suites, on free loopback ports, stopped on exit.
#   start_postgres  a PostgreSQL cluster (initdb/pg_ctl in a temp dir, trust auth, no fsync:
#                   nothing in it outlives the run); exports SIGNET_TEST_POSTGRES
#   start_moto      an S3 endpoint (moto_server from the tools venv); exports SIGNET_TEST_S3
#   use_nuget_exe   exports SIGNET_NUGET_EXE (nuget.exe 5.8.0 from the tools dir)
# The tests make one database and one bucket per test, so one of each serves the whole run.

signet_tools=${SIGNET_TOOLS_DIR:-$HOME/.cache/signet-tools}
signet_pg_dir=""
signet_pg_bin=""
signet_moto_pid=""

signet_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a PostgreSQL binary; initdb refuses to run as root, so as root the cluster belongs to
# the postgres user (created by Debian's postgresql package).
signet_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    signet_pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$signet_pg_bin" ]; then
        echo "error: no PostgreSQL server binaries (scripts/install-deps.sh installs them)" >&2
        return 1
    fi
    signet_pg_dir=$(mktemp -d)
    local port
    port=$(signet_free_port)
    [ "$(id -u)" = 0 ] && chown postgres "$signet_pg_dir"
    signet_as_pg "$signet_pg_bin/initdb" -D "$signet_pg_dir/data" -A trust -U postgres >/dev/null
    signet_as_pg "$signet_pg_bin/pg_ctl" -D "$signet_pg_dir/data" -l "$signet_pg_dir/log" -w \
        -o "-h 127.0.0.1 -p $port -k $signet_pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null
    export SIGNET_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port"
    echo "PostgreSQL: $SIGNET_TEST_POSTGRES"
}

start_moto() {
    local moto="$signet_tools/moto-venv/bin/moto_server"
    if [ ! -x "$moto" ]; then
        echo "error: no $moto (scripts/install-deps.sh installs it)" >&2
        return 1
    fi
    local port
    port=$(signet_free_port)
    "$moto" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    signet_moto_pid=$!
    export SIGNET_TEST_S3="http://127.0.0.1:$port"
}

# Waits until moto answers (it takes a few seconds to start: start it first, wait last).
wait_moto() {
    [ -n "$signet_moto_pid" ] || return 0
    local port=${SIGNET_TEST_S3##*:}
    for _ in $(seq 100); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
            echo "S3 (moto): $SIGNET_TEST_S3"
            return 0
        fi
        kill -0 "$signet_moto_pid" 2>/dev/null || break
        sleep 0.2
    done
    echo "error: moto_server did not start on port $port" >&2
    return 1
}

use_nuget_exe() {
    local exe="$signet_tools/node_modules/nuget-exe/nuget-5.8.0.exe"
    if [ ! -f "$exe" ] || ! command -v mono >/dev/null; then
        echo "error: no nuget.exe under Mono (scripts/install-deps.sh installs both)" >&2
        return 1
    fi
    export SIGNET_NUGET_EXE="$exe"
}

stop_services() {
    if [ -n "$signet_moto_pid" ]; then
        kill "$signet_moto_pid" 2>/dev/null || true
        wait "$signet_moto_pid" 2>/dev/null || true
        signet_moto_pid=""
    fi
    if [ -n "$signet_pg_dir" ]; then
        signet_as_pg "$signet_pg_bin/pg_ctl" -D "$signet_pg_dir/data" -m immediate stop \
            >/dev/null 2>&1 || true
        rm -rf "$signet_pg_dir"
        signet_pg_dir=""
    fi
}

trap stop_services EXIT
# A signal ends the script through its EXIT trap.
trap 'exit 130' INT
trap 'exit 143' TERM
