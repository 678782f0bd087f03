#!/usr/bin/env bash
# The browser test in one command (from anywhere in the repository):
#
#   tests/browser/run.sh
#
# Builds the debug binary, installs the pinned playwright-core (never a
# browser: it drives Debian's /usr/bin/chromium, `apt-get install -y
# --no-install-recommends chromium`) and runs browser.mjs against
# target/debug/leadgraph on a temp SQLite database and free loopback ports.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build --bin leadgraph
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --prefix "$here" --silent --no-audit --no-fund
node "$here/browser.mjs" "${CARGO_TARGET_DIR:-$root/target}/debug/leadgraph"
