#!/usr/bin/env bash
# CSV import throughput (docs/import-export.md): generate N leads as CSV and
# time `leadgraph import leads` against DATABASE_URL (a fresh database is
# best). Target: 100,000 rows in ≤ 30 s on PostgreSQL, release build.
#
#   cargo build --release && DATABASE_URL=postgres://… bench/import.sh 100000
set -euo pipefail
rows=${1:-100000}
bin=${LEADGRAPH_BIN:-target/release/leadgraph}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
    echo "Email,First Name,Last Name,Company,Job Title,Country,Employees,Industry,Channel"
    awk -v n="$rows" -v run="$RANDOM$RANDOM" 'BEGIN {
        split("DE FR US GB NL ES IT AT CH SE", c, " ");
        split("Software Finance Retail Health Manufacturing", ind, " ");
        split("CTO CEO Engineer Marketing\\ Manager Head\\ of\\ Sales", t, " ");
        for (i = 0; i < n; i++)
            printf "bench%s-%d@example.com,Ada,Lovelace,Acme %d,%s,%s,%d,%s,SOCIAL\n",
                run, i, i % 997, t[i % 5 + 1], c[i % 10 + 1], (i * 37) % 5000, ind[i % 5 + 1];
    }'
} >"$tmp/leads.csv"
echo "importing $rows rows ($(du -h "$tmp/leads.csv" | cut -f1))"
start=$(date +%s.%N)
RUST_LOG=warn "$bin" import leads "$tmp/leads.csv" --report "$tmp/report.json"
end=$(date +%s.%N)
echo "import took $(echo "$end - $start" | bc) s"
