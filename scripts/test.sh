#!/usr/bin/env bash
# Builds everything from nothing and runs every test: unit, integration (nats.c and nats.js
# against a real osprey, differential against nats-server), the same under ASan+UBSan, and a
# bounded fuzzing run of the protocol parser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh

# The tests that run a scenario against nats-server as well (named .../nats) check nats-server
# and the test itself, not osprey: the release run below covers them, so ASan skips them.
echo "== tests (ASan+UBSan build)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOSPREY_SANITIZE=ON -DOSPREY_WERROR=ON >/dev/null
ninja -C build-asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest -j2 --output-on-failure --timeout 300 -E 'Differential|^differential_|ThousandConcurrent|/nats( |$)')

echo "== fuzzing the protocol parser, the WebSocket frame decoder and the websocket port's input (bounded)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOSPREY_FUZZ=ON -DBUILD_TESTING=ON >/dev/null
ninja -C build-fuzz parser_fuzz
mkdir -p build-fuzz/corpus
./build-fuzz/tests/fuzz/parser_fuzz -max_total_time="${FUZZ_SECONDS:-30}" -max_len=4096 \
  build-fuzz/corpus tests/fuzz/seeds 2>&1 | tail -n 3
ninja -C build-fuzz ws_frames_fuzz
mkdir -p build-fuzz/ws_corpus
./build-fuzz/tests/fuzz/ws_frames_fuzz -max_total_time="${FUZZ_SECONDS:-30}" -max_len=8192 \
  build-fuzz/ws_corpus tests/fuzz/ws_seeds 2>&1 | tail -n 3
ninja -C build-fuzz ws_stream_fuzz
mkdir -p build-fuzz/ws_stream_corpus
./build-fuzz/tests/fuzz/ws_stream_fuzz -max_total_time="${FUZZ_SECONDS:-30}" -max_len=8192 \
  build-fuzz/ws_stream_corpus tests/fuzz/ws_seeds 2>&1 | tail -n 3
echo "fuzz: no crash"

# Last, so that the run closes on the runner's summary.
echo "== tests (release build)"
(cd build && ctest -j2 --output-on-failure --timeout 300)

