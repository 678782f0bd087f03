#!/usr/bin/env bash
# GraphQL-over-HTTP conformance: run the `graphql-http` npm package's server
# audits against a freshly started leadgraph (SQLite in a temp dir).
#
#   cargo build && .ci/audit.sh target/debug/leadgraph
#
# Builds nothing. Exits with the audit's status: non-zero when any MUST audit
# fails (or the server does not come up).
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 <path to the built leadgraph binary>" >&2
    exit 2
fi
if [[ ! -f $1 || ! -x $1 ]]; then
    echo "audit.sh: $1 is not an executable file" >&2
    exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
addr=127.0.0.1:18080

tmp=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export DATABASE_URL="sqlite://$tmp/audit.db?mode=rwc"
export LEADGRAPH_ADDR=$addr
# 36 random bytes → 48 base64 characters.
LEADGRAPH_JWT_SECRET=$(head -c 36 /dev/urandom | base64 | tr -d '\n')
export LEADGRAPH_JWT_SECRET
export RUST_LOG=${RUST_LOG:-warn}

# Something else answering there would be audited instead of this binary.
if curl -s -o /dev/null --max-time 1 "http://$addr/healthz" 2>/dev/null; then
    echo "audit.sh: $addr is already in use" >&2
    exit 1
fi

"$bin" serve >"$tmp/server.log" 2>&1 &
server_pid=$!

# Wait for the server to answer /healthz: 150 tries 0.2 s apart (~30 s).
ready=
for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null --max-time 1 "http://$addr/healthz" 2>/dev/null; then
        ready=1
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        break
    fi
    sleep 0.2
done
if [[ -z $ready ]] || ! kill -0 "$server_pid" 2>/dev/null; then
    echo "audit.sh: leadgraph did not answer http://$addr/healthz; its log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
fi

token=$("$bin" token --role ADMIN --sub audit@example.com)

npm ci --prefix "$here/audit" --silent --no-audit --no-fund

status=0
AUDIT_URL="http://$addr/graphql" AUDIT_TOKEN=$token node "$here/audit/audit.mjs" || status=$?
if [[ $status -ne 0 ]]; then
    echo "audit.sh: audit failed (status $status); server log tail:" >&2
    tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"
