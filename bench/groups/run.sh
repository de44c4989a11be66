#!/usr/bin/env bash
# Consumer groups over HTTP and WebSocket (docs/groups.md) against the nats.c baseline:
#   group-ws  N=4 and group-http N=4 on osprey, js-group-fetch N=4 on osprey and on nats-server,
# each on a fresh server (fresh store dir, free loopback ports), one after the other. Server CPU
# = utime+stime of the server process (/proc/<pid>/stat) right before and right after the
# osprey-bench run (stream and group setup included), per event. Each workload twice: loaded
# (--window, default 1000 messages ahead of the acked ones: events/s, and p50/p99 that are
# mostly queueing, about window / rate) and unloaded (window 1: one event in flight, the
# publish -> delivery latency itself). Prints a markdown table and writes it, with the command
# line, to bench/results/groups-<date>.md.
#
#   bench/groups/run.sh [--msgs 20000] [--latency-msgs 1000] [--members 4] [--size 128]
#                       [--window 1000] [--out FILE]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OSPREY="$ROOT/build/apps/osprey/osprey"
BENCH="$ROOT/build/apps/osprey-bench/osprey-bench"
NATS=""
for n in /usr/bin/nats-server /usr/sbin/nats-server "$(command -v nats-server || true)"; do
  [ -n "$n" ] && [ -x "$n" ] && { NATS="$n"; break; }
done
MSGS=20000 LAT_MSGS=1000 MEMBERS=4 SIZE=128 WINDOW=1000
OUT="$ROOT/bench/results/groups-$(date +%F).md"
CMDLINE="bench/groups/run.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --msgs) MSGS="$2"; shift 2 ;;
    --latency-msgs) LAT_MSGS="$2"; shift 2 ;;
    --members) MEMBERS="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --window) WINDOW="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--msgs N] [--latency-msgs N] [--members N] [--size B] [--window N] [--out FILE]" >&2; exit 2 ;;
  esac
done
for b in "$OSPREY" "$BENCH" "$NATS"; do [ -n "$b" ] && [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

TICK=$(getconf CLK_TCK)
SERVER_PID=""
STORE=""
WORK="$(mktemp -d /tmp/osprey-groups-bench.XXXXXX)"

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
  [ -n "$STORE" ] && rm -rf "$STORE"
  STORE=""
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }  # utime + stime
wait_port() {
  for _ in $(seq 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

# start_server osprey|nats-server: sets SERVER_PID, PORT, MPORT
start_server() {
  STORE="$(mktemp -d "$WORK/store.XXXXXX")"
  PORT=$(free_port)
  MPORT=$(free_port)
  if [ "$1" = osprey ]; then
    "$OSPREY" -a 127.0.0.1 -js -sd "$STORE" -p "$PORT" -m "$MPORT" >"$WORK/server.log" 2>&1 &
  else
    "$NATS" -a 127.0.0.1 -js -sd "$STORE" -p "$PORT" >"$WORK/server.log" 2>&1 &
  fi
  SERVER_PID=$!
  wait_port "$PORT" || { echo "$1 did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
  if [ "$1" = osprey ]; then wait_port "$MPORT" || { echo "osprey monitor port did not open" >&2; exit 1; }; fi
}

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

ROWS=()
# run_one WORKLOAD SERVER MSGS WINDOW
run_one() {
  local w="$1" server="$2" msgs="$3" window="$4"
  start_server "$server"
  local c0 c1 line
  c0=$(cpu_ticks "$SERVER_PID")
  if ! line=$(timeout 240 "$BENCH" "$w" --url "nats://127.0.0.1:$PORT" --http-url "http://127.0.0.1:$MPORT" \
                --members "$MEMBERS" --msgs "$msgs" --size "$SIZE" --window "$window" --time-limit 180 \
                2>"$WORK/bench.err"); then
    echo "[$w $server window $window] FAILED: $(tail -5 "$WORK/bench.err")" >&2
    line="${line:-}"
  fi
  c1=$(cpu_ticks "$SERVER_PID")
  stop_server
  echo "[$w $server window $window] $line" >&2
  [ -n "$line" ] || { ROWS+=("| $w | $server | $window | failed | | | | |"); return; }
  local acked cpu_us
  acked=$(field "$line" acked)
  cpu_us=$(awk -v d=$((c1 - c0)) -v t="$TICK" -v n="${acked:-0}" 'BEGIN { if (n > 0) printf "%.1f", d / t / n * 1e6; else print "n/a" }')
  ROWS+=("| $w | $server | $window | $(field "$line" msgs_per_s) | $cpu_us | $(awk -v v="$(field "$line" p50_us)" 'BEGIN{printf "%.2f", v/1000}') | $(awk -v v="$(field "$line" p99_us)" 'BEGIN{printf "%.2f", v/1000}') | $(field "$line" duplicates)/$(field "$line" missing) | $(field "$line" per_member) |")
}

for spec in "group-ws osprey" "group-http osprey" "js-group-fetch osprey" "js-group-fetch nats-server"; do
  set -- $spec
  run_one "$1" "$2" "$MSGS" "$WINDOW"
done
for spec in "group-ws osprey" "group-http osprey" "js-group-fetch osprey" "js-group-fetch nats-server"; do
  set -- $spec
  run_one "$1" "$2" "$LAT_MSGS" 1
done

{
  echo "# Consumer groups over HTTP/WebSocket vs a nats.c pull consumer"
  echo
  echo "- date: $(date '+%F %T %Z')"
  echo "- machine: $(uname -m), $(nproc) cores, $(uname -sr); $("$NATS" --version 2>&1 | head -1)"
  echo "- command: $CMDLINE"
  echo "- members $MEMBERS, size $SIZE B; loaded rows: $MSGS messages, publisher at most $WINDOW ahead of the acked ones;"
  echo "  window-1 rows: $LAT_MSGS messages, one in flight (publish -> delivery latency unloaded)"
  echo "- events/s: messages / (first publish -> last one acked); server CPU: utime+stime of the server per acked event;"
  echo "  latency: publish -> member has the event (steady clock, same machine), ms; dup/missing must be 0/0"
  echo "- one fresh server (fresh store) per row; client and server share the machine"
  echo "- window-1 rows: CPU/event is mostly the idle server's timers over the run (10 ms ticks), read latency there"
  echo
  echo "| workload | server | window | events/s | server CPU µs/event | p50 ms | p99 ms | dup/missing | per member |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} > "$WORK/table.md"
cat "$WORK/table.md"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/table.md" "$OUT"
echo "written to $OUT" >&2
