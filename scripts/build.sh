#!/usr/bin/env bash
# Configures and builds osprey (release with debug info) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOSPREY_WERROR=ON >/dev/null
ninja -C build
