#!/usr/bin/env bash
# Builds osprey and starts it: clients on 4222, monitoring on 8222, data under ./data.
# Extra arguments are passed to the server (same flags as nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh >/dev/null
mkdir -p data
exec ./build/apps/osprey/osprey -p 4222 -m 8222 -js -sd ./data "$@"
