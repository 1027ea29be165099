#!/bin/sh
# `npm test`: installs what is missing, type-checks, lints, builds (tests start bin/coordinator), and
# runs the whole suite on PGlite and on the PostgreSQL server (TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/test). Extra arguments go to vitest.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
npx tsc -p tsconfig.json --noEmit
npx eslint .
npm run --silent build
exec npx vitest run "$@"
