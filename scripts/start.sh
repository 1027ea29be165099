#!/bin/sh
# `npm start`: installs what is missing, builds, and starts the coordinator on 127.0.0.1:3080 with the
# embedded database in ./.data/coordinator. Tokens are generated once and kept in ./.data/tokens.env.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
npm run --silent build
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
: "${COORDINATOR_DATA_DIR:=.data/coordinator}"
export COORDINATOR_DATA_DIR
echo "Executors access token (executors.accessToken / EXECUTOR_FRONTEND_PASSWORD): $COORDINATOR_EXECUTORS_ACCESS_TOKEN"
echo "Admin API token (Authorization: Bearer …):                                   $COORDINATOR_ADMIN_TOKEN"
echo "Both are kept in .data/tokens.env. Web UI: http://${COORDINATOR_ADDR:-127.0.0.1:3080}/ (README: The web UI). Stop with Ctrl-C."
exec ./bin/coordinator serve
