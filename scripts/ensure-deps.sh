#!/bin/sh
# Installs the npm dependencies when they are missing or older than package-lock.json, so `npm start`
# and `npm test` work on a fresh clone.
set -eu
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund >&2
fi
