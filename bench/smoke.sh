#!/usr/bin/env bash
# Benchmark smoke run, so that the benchmark never rots: seed a small SQLite
# data set, start the server on it, run `bench --quick` (no timing
# assertions), stop the server. Non-zero only if a step fails to run or if
# every API request of the bench failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Debug builds: CI has built most of them already, and nothing is timed here.
cargo build -p leadgraph --bin leadgraph
cargo build -p bench
leadgraph="${CARGO_TARGET_DIR:-target}/debug/leadgraph"
bench="${CARGO_TARGET_DIR:-target}/debug/bench"

export DATABASE_URL="sqlite://$work/smoke.db?mode=rwc"
LEADGRAPH_JWT_SECRET="smoke-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
export LEADGRAPH_JWT_SECRET
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18090)"
export LEADGRAPH_ADDR="127.0.0.1:$port"

"$leadgraph" seed --leads 2000 --interactions-per-lead 5 --seed 42

RUST_LOG=warn "$leadgraph" serve >"$work/server.log" 2>&1 &
server_pid=$!
ready=""
for _ in $(seq 1 100); do
    if curl -fsS "http://$LEADGRAPH_ADDR/readyz" >/dev/null 2>&1; then
        ready=1
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    echo "smoke: the server did not become ready" >&2
    cat "$work/server.log" >&2
    exit 1
fi

"$bench" --quick --url "http://$LEADGRAPH_ADDR/graphql" --server-pid "$server_pid" \
    --out target/bench/smoke-summary.json
