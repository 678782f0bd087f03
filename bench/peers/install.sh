#!/usr/bin/env bash
# Install the pinned Node.js runtime and PostGraphile peers (package-lock.json) with `npm ci`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for v in runtime v4 v5; do
    (cd "$here/$v" && npm ci --no-audit --no-fund --loglevel=error)
done
