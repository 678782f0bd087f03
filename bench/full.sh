#!/usr/bin/env bash
# The full benchmark run that bench/RESULTS.md reports: seed the reference
# data set (docs/performance.md) on SQLite and on PostgreSQL, start the server on
# each (two instances on PostgreSQL, for the cross-instance S1), run every
# workload, and collect target/bench/summary.json. Takes 30-40 minutes.
#
#   bench/full.sh                    # everything
#   DURATION=10s bench/full.sh       # shorter runs
#   DATABASES=postgres bench/full.sh # one database
#   PEERS=1 bench/full.sh            # also PostGraphile 4 (1 and 2 processes)
#                                    # and 5 on Q1 and Q3 (bench/peers/README.md)
#
# PostgreSQL: 127.0.0.1:5432, user postgres, trust auth; the database
# `leadgraph_bench` is dropped and created again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-20s}"
DATABASES="${DATABASES:-sqlite postgres}"
WORK="${BENCH_DIR:-/tmp/leadgraph-bench}"
OUT="${OUT:-target/bench/summary.json}"
export LEADGRAPH_JWT_SECRET="${LEADGRAPH_JWT_SECRET:-bench-secret-0123456789abcdef0123456789abcdef}"
mkdir -p "$WORK" "$(dirname "$OUT")"
rm -f "$OUT"

cargo build --release -p leadgraph -p bench
bin="${CARGO_TARGET_DIR:-target}/release"

pids=()
stop_servers() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap stop_servers EXIT

# start_server NAME ADDR: serve DATABASE_URL on ADDR, wait until ready.
start_server() {
    local name="$1" addr="$2"
    # 5,000 WebSocket subscribers need more than the usual 1,024 descriptors.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    RUST_LOG=warn LEADGRAPH_ADDR="$addr" "$bin/leadgraph" serve >"$WORK/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do
        curl -fsS "http://$addr/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "full.sh: $name did not become ready" >&2
    cat "$WORK/$name.log" >&2
    return 1
}

# start_peer NAME KIND PORT: PostGraphile (bench/peers/start.sh KIND PORT)
# on the bench database, wait until it answers; adds --peer arguments.
peer_args=()
start_peer() {
    local name="$1" kind="$2" port="$3"
    bench/peers/start.sh "$kind" "$port" >"$WORK/$name.log" 2>&1 &
    pids+=($!)
    peer_args+=(--peer "$name=http://127.0.0.1:$port/graphql" --peer-pid "$name=$!")
    for _ in $(seq 1 300); do
        curl -fsS -H 'content-type: application/json' -d '{"query":"{__typename}"}' \
            "http://127.0.0.1:$port/graphql" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "full.sh: peer $name did not become ready" >&2
    cat "$WORK/$name.log" >&2
    return 1
}

seed() {
    /usr/bin/time -f "seed: %e s, peak RSS %M KB" \
        "$bin/leadgraph" seed --leads 100000 --interactions-per-lead 10 --seed 42 --reset
}

for db in $DATABASES; do
    case "$db" in
    sqlite)
        export DATABASE_URL="sqlite://$WORK/sqlite.db?mode=rwc"
        rm -f "$WORK"/sqlite.db*
        seed
        start_server sqlite 127.0.0.1:18080
        "$bin/bench" --url http://127.0.0.1:18080/graphql --duration "$DURATION" \
            --server-pid "${pids[0]}" --out "$OUT" --append
        stop_servers
        ;;
    postgres)
        psql -h 127.0.0.1 -U postgres -qc 'DROP DATABASE IF EXISTS leadgraph_bench WITH (FORCE)'
        psql -h 127.0.0.1 -U postgres -qc 'CREATE DATABASE leadgraph_bench'
        export DATABASE_URL='postgres://postgres@127.0.0.1:5432/leadgraph_bench?sslmode=disable'
        seed
        start_server postgres-a 127.0.0.1:18081
        start_server postgres-b 127.0.0.1:18082
        peer_args=()
        if [ "${PEERS:-0}" = 1 ]; then
            bench/peers/install.sh
            start_peer pg4 v4 18083
            start_peer pg4x2 v4x2 18084
            start_peer pg5 v5 18085
        fi
        "$bin/bench" --url http://127.0.0.1:18081/graphql --duration "$DURATION" \
            --server-pid "${pids[0]}" --out "$OUT" --append \
            --workloads "${WORKLOADS:-Q1,Q2,Q3,DEEP,RESCORE,M1,M1_BATCH,S1,S1_CROSS}" \
            --url-b http://127.0.0.1:18082/graphql --server-b-pid "${pids[1]}" \
            ${peer_args[@]+"${peer_args[@]}"}
        stop_servers
        ;;
    *)
        echo "full.sh: unknown database $db" >&2
        exit 2
        ;;
    esac
done
echo "summary: $OUT"
