#!/usr/bin/env bash
#
# t/node_example.sh — the Node.js example application (examples/node), end to
# end against this throwaway cluster: npm ci (the pg driver, as locked in
# package-lock.json), then node app.js, which connects through the PG*
# variables that pg_virtualenv sets, checks every answer and exits non-zero
# on a mismatch.
set -euo pipefail

cd "$(dirname "$0")/../examples/node"

command -v node >/dev/null || { echo "FAIL: node not found (scripts/test installs nodejs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "FAIL: npm not found (scripts/test installs npm)" >&2; exit 1; }

echo "# node $(node --version), npm $(npm --version 2>/dev/null)"
echo "# npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "# node app.js"
node app.js
