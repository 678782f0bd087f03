#!/usr/bin/env bash
# Issue 15's run on an already seeded database: Q2 (funnel + costPerLead by
# channel) over 90 days and one year, alone and as a weekly trend, at 1 and
# 16 clients; then the writes (M1, M1_BATCH, TRANSITION) with the KPI
# rollup triggers and without them, alternated twice, with
# `leadgraph rollups verify` after each run with triggers and a rebuild
# after each run without (in the order with, without, without, with).
# Leaves the triggers enabled and the rollups verified. `Q2=0`: the writes
# only.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadgraph_1m bench/rollups.sh
#   DATABASE_URL='sqlite:///tmp/leadgraph-bench/1m.db?mode=rwc' bench/rollups.sh
#
# Seed first with `leadgraph seed --leads 1000000 --interactions-per-lead 10
# --seed 42 --reset`. Figures go to $OUT_DIR (target/bench/rollups/NAME),
# one summary file per step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${DATABASE_URL:?set DATABASE_URL to the seeded database}"
DURATION="${DURATION:-10s}"
WRITE_DURATION="${WRITE_DURATION:-8s}"
NAME="${NAME:-$(case "$DATABASE_URL" in postgres*) echo postgres ;; *) echo sqlite ;; esac)}"
OUT_DIR="${OUT_DIR:-target/bench/rollups/$NAME}"
ADDR="${ADDR:-127.0.0.1:18090}"
export LEADGRAPH_JWT_SECRET="${LEADGRAPH_JWT_SECRET:-bench-secret-0123456789abcdef0123456789abcdef}"
mkdir -p "$OUT_DIR"

if [ "${BUILD:-1}" = 1 ]; then cargo build --release -p leadgraph -p bench; fi
bin="${CARGO_TARGET_DIR:-target}/release"

"$bin/leadgraph" migrate
server=""
stop_server() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; }
trap stop_server EXIT
RUST_LOG=warn LEADGRAPH_ADDR="$ADDR" "$bin/leadgraph" serve >"$OUT_DIR/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
    curl -fsS "http://$ADDR/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

bench() {
    local out="$1"
    shift
    "$bin/bench" --url "http://$ADDR/graphql" --server-pid "$server" \
        --out "$OUT_DIR/$out.json" "$@"
}

for days in $([ "${Q2:-1}" = 1 ] && echo 90 365); do
    bench "q2-${days}d" --workloads Q2 --concurrency 1,16 --duration "$DURATION" --q2-days "$days"
    bench "q2-${days}d-week" --workloads Q2 --concurrency 1,16 --duration "$DURATION" \
        --q2-days "$days" --q2-interval WEEK
done

# The rollup triggers, off and on again (docs/kpis.md "Rollups").
triggers() {
    local action="$1"
    case "$DATABASE_URL" in
    postgres*)
        local url="${DATABASE_URL%%\?*}"
        for event in insert update delete; do
            psql "$url" -qc "ALTER TABLE lead ${action} TRIGGER lead_kpi_rollup_${event}"
        done
        ;;
    *)
        local file="${DATABASE_URL#sqlite://}"
        file="${file%%\?*}"
        if [ "$action" = DISABLE ]; then
            sqlite3 "$file" "SELECT sql || ';' FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'lead_kpi_rollup_%'" \
                >"$OUT_DIR/triggers.sql"
            for event in insert update delete; do
                sqlite3 "$file" "DROP TRIGGER lead_kpi_rollup_${event}"
            done
        else
            sqlite3 "$file" <"$OUT_DIR/triggers.sql"
        fi
        ;;
    esac
}

verify() {
    "$bin/leadgraph" rollups verify 2>&1 | tee -a "$OUT_DIR/verify.log"
}

WRITES="${WRITES:-M1,M1_BATCH,TRANSITION}"
with() {
    bench "writes-with-$1" --workloads "$WRITES" --concurrency 16 --duration "$WRITE_DURATION"
    verify
}
without() {
    triggers DISABLE
    bench "writes-without-$1" --workloads "$WRITES" --concurrency 16 --duration "$WRITE_DURATION"
    triggers ENABLE
    "$bin/leadgraph" rollups rebuild
}
# In the order with, without, without, with: the first write run after the
# reads meets colder caches, and it would otherwise always be a "with".
with 1
without 1
without 2
with 2
verify
echo "figures: $OUT_DIR"
