#!/bin/sh
# `npm start`: installs what is missing, builds when the sources changed, and starts the coordinator on
# 127.0.0.1:3080 (COORDINATOR_ADDR) with the embedded database in ./.data/coordinator. Tokens are
# generated once and kept in ./.data/tokens.env.
#
# The coordinator replaces this shell (`exec`), and package.json runs this script with `exec` too, so
# the coordinator is npm's own child: a SIGTERM to npm (a supervisor, `docker stop`, systemd), which npm
# forwards, reaches the coordinator, instead of stopping a shell and leaving the coordinator running.
set -eu
cd "$(dirname "$0")/.."
: "${COORDINATOR_DATA_DIR:=.data/coordinator}"

# A second `npm start` on a data directory whose coordinator runs: refuse before building (which would
# replace the running coordinator's files) or printing anything else. The embedded database's lock file
# names the process that has it open (src/coordinator/store/data-dir-lock.ts).
lock="$COORDINATOR_DATA_DIR/pglite/coordinator.lock"
if [ -z "${COORDINATOR_DATABASE_URL:-}" ] && [ -f "$lock" ]; then
  pid=$(tr -dc '0-9' < "$lock")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "npm start: a coordinator (pid $pid) is already running on $COORDINATOR_DATA_DIR: stop it first (kill $pid), or give a second one its own COORDINATOR_DATA_DIR and COORDINATOR_ADDR" >&2
    exit 1
  fi
fi

sh scripts/ensure-deps.sh
# Build only when a source or the build's configuration changed since the last build by this script.
stamp=dist/.start-build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src package.json package-lock.json tsconfig.json tsconfig.build.json -newer "$stamp" -print 2>/dev/null | head -n 1)" ]; then
  npm run --silent build
  touch "$stamp"
fi
mkdir -p .data
if [ ! -f .data/tokens.env ]; then
  umask 077
  {
    echo "COORDINATOR_EXECUTORS_ACCESS_TOKEN=$(node -e "process.stdout.write(require('crypto').randomBytes(24).toString('hex'))")"
    echo "COORDINATOR_ADMIN_TOKEN=$(node -e "process.stdout.write(require('crypto').randomBytes(24).toString('hex'))")"
  } > .data/tokens.env
fi
set -a
. ./.data/tokens.env
set +a
export COORDINATOR_DATA_DIR
echo "Executors access token (executors.accessToken / EXECUTOR_FRONTEND_PASSWORD): $COORDINATOR_EXECUTORS_ACCESS_TOKEN"
echo "Admin API token (Authorization: Bearer …):                                   $COORDINATOR_ADMIN_TOKEN"
echo "Both are kept in .data/tokens.env. Web UI: http://${COORDINATOR_ADDR:-127.0.0.1:3080}/ (README: The web UI). Stop with Ctrl-C."
exec ./bin/coordinator serve
