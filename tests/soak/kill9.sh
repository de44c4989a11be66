#!/usr/bin/env bash
# The kill -9 tests, many times, with a CPU hog beside them (issue 8.0's proof): a window
# between a confirmation and its fsync shows up under load far more often than on an idle
# machine. Usage: tests/soak/kill9.sh [build dir] [runs] [hog threads]
#   tests/soak/kill9.sh build 50 2        # release
#   tests/soak/kill9.sh build-asan 50 2   # ASan+UBSan
# Prints one line per test with its pass count; exit code 1 if any run failed (its output
# is kept in <build>/Testing/Temporary/soak-fail-*.log). Do not rebuild meanwhile: a run that
# starts while the binary is relinked fails with "server exited at start".
set -uo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}" runs="${2:-50}" hogs="${3:-2}"
tests=(
  'Durability.KillNineNeverLosesAcknowledgedMessages$'
  'Durability.KillNineWithLazySyncLosesNothingAcknowledged$'
  'Durability.KillNineKeepsEveryConfirmedConsumerAck$'
  'KeyValue.SurvivesKill9$'
  'Consumers.DurableStateSurvivesRestarts$'
  'Durability.ConsumerConfigurationsSurviveKillNineAndAFlippedByte$'
  'Durability.StreamConfigurationsSurviveKillNine$'
  'Durability.ADeleteAndACreateOfOneNameInFlightKeepTheNewConsumersAcks$'
  'Durability.ConsumerStatesAreLogRecordsThatANewConsumerOfTheNameNeverTakes$'
)
pids=()
for ((i = 0; i < hogs; i++)); do (while :; do :; done) & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
failed=0
for t in "${tests[@]}"; do
  pass=0 fail=0
  start=$(date +%s)
  for ((r = 1; r <= runs; r++)); do
    if (cd "$build" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
          ctest -R "$t" --timeout 300 >/dev/null 2>&1); then
      pass=$((pass + 1))
    else
      fail=$((fail + 1))
      cp "$build/Testing/Temporary/LastTest.log" "$build/Testing/Temporary/soak-fail-${t//[^A-Za-z]/}-$r.log" 2>/dev/null
    fi
  done
  echo "$t: $pass of $runs passed ($fail failed) in $(( $(date +%s) - start )) s, $build, $hogs hog thread(s)"
  [ "$fail" -eq 0 ] || failed=1
done
exit "$failed"
