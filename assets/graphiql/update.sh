#!/usr/bin/env bash
# The browser builds GraphiQL's page loads, from the npm packages pinned in
# package-lock.json, copied into dist/ (committed: building leadgraph needs
# neither npm nor a network) with their SHA-256 in SHA256SUMS, which a test
# compares with the bytes embedded in the binary (src/graphql/graphiql.rs).
#
#   assets/graphiql/update.sh           npm ci, then rewrite dist/ and SHA256SUMS
#   assets/graphiql/update.sh --check   npm ci in a temp dir; fail if dist/ or
#                                       SHA256SUMS differ from what the lock gives
#
# To upgrade: change a version in package.json, `npm install --save-exact`
# here, run this script, commit package*.json, dist/ and SHA256SUMS.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Source in node_modules → name in dist/.
files=(
    "graphiql/graphiql.min.js graphiql.min.js"
    "graphiql/graphiql.min.css graphiql.min.css"
    "react/umd/react.production.min.js react.production.min.js"
    "react-dom/umd/react-dom.production.min.js react-dom.production.min.js"
    "graphql-ws/umd/graphql-ws.min.js graphql-ws.min.js"
)

# npm ci in $1 (holding package.json and package-lock.json), then fill $2
# with the files and write $3 (SHA256SUMS).
build() {
    local work=$1 dist=$2 sums=$3
    npm ci --prefix "$work" --silent --no-audit --no-fund --ignore-scripts
    rm -rf "$dist"
    mkdir -p "$dist"
    local entry
    for entry in "${files[@]}"; do
        read -r source name <<<"$entry"
        cp "$work/node_modules/$source" "$dist/$name"
    done
    (cd "$dist" && LC_ALL=C sha256sum -- * | LC_ALL=C sort -k2) >"$sums"
}

case ${1:-} in
"")
    build "$here" "$here/dist" "$here/SHA256SUMS"
    echo "dist/ and SHA256SUMS written:"
    cat "$here/SHA256SUMS"
    ;;
--check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp "$here/package.json" "$here/package-lock.json" "$tmp/"
    build "$tmp" "$tmp/dist" "$tmp/SHA256SUMS"
    if ! diff -u "$here/SHA256SUMS" "$tmp/SHA256SUMS"; then
        echo "assets/graphiql: SHA256SUMS is not what package-lock.json gives; run assets/graphiql/update.sh" >&2
        exit 1
    fi
    if ! (cd "$here/dist" && sha256sum --quiet --check "$here/SHA256SUMS"); then
        echo "assets/graphiql: a file in dist/ differs from SHA256SUMS; run assets/graphiql/update.sh" >&2
        exit 1
    fi
    if [[ $(ls "$here/dist" | wc -l) -ne ${#files[@]} ]]; then
        echo "assets/graphiql: dist/ holds other files than the ${#files[@]} the script copies" >&2
        exit 1
    fi
    echo "assets/graphiql: dist/ matches package-lock.json"
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
