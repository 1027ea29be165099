#!/bin/sh
# Runs every benchmark in bench/ in sequence (`npm run bench`), each printing its figures and its
# same-run baseline. Needs the PostgreSQL server of BENCH_DATABASE_URL (default 127.0.0.1:5432, user postgres),
# and a docker daemon for the executor bench's docker rows.
set -eu
cd "$(dirname "$0")/.."

echo "== machine =="
date -u
echo "nproc: $(nproc)"
free -g
echo "node $(node --version)"
psql "${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" -Atc 'SELECT version()' 2>/dev/null || echo "(psql not available)"

for bench in pickup throughput depth memory executor vm codeintel bounds batches; do
  echo
  node --import tsx "bench/$bench.ts"
done
