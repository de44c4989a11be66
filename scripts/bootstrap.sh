#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need.
# Idempotent and quiet when everything is already there. Run as root (or with sudo).
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libfmt-dev libcrypt-dev libssl-dev tzdata
  libgtest-dev libnats-dev nats-server libxxhash-dev
  clang libclang-rt-14-dev
  curl python3
  chromium libnss3-tools
)
# Node.js for the nats.js tests: keep an existing installation, else Debian's.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The nats.js clients (2.x and the modern 3.x) , nats.ws and ws for the integration tests (from the npm registry, pinned by the lock).
js_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/js"
if [ ! -d "$js_dir/node_modules/nats" ] || [ ! -d "$js_dir/node_modules/@nats-io/transport-node" ] || [ ! -d "$js_dir/node_modules/ws" ] || [ ! -d "$js_dir/node_modules/nats.ws" ]; then
  (cd "$js_dir" && npm ci --no-audit --no-fund --silent >/dev/null 2>&1 || npm install --no-audit --no-fund --silent >/dev/null)
fi
