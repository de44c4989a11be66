#!/usr/bin/env bash
# Core pub/sub over TLS and over WebSocket (docs/transports.md), osprey against nats-server:
#   tls-pubsub      --msgs messages, 1 TLS publisher -> 1 TLS subscriber (nats.c)
#   tls-fanout      --msgs/4 messages, 1 TLS publisher -> --subs (4) TLS subscribers
#   tls-handshakes  --conns new TLS connections one after the other (connect, flush, close)
#   ws-pubsub       --msgs messages, NATS over binary WebSocket frames (osprey-bench's Beast
#                   client), 1 publisher connection -> 1 subscriber connection
#   pubsub          the plain TCP reference (--msgs, nats.c), on a server without tls {}
# A CA and a server certificate (EC P-256, SAN DNS:localhost, IP:127.0.0.1) are made at run time
# with openssl in a temp dir. Both servers get the same config file (listen, tls { cert_file,
# key_file, ca_file }, websocket { listen, no_tls: true }), each row on a fresh server with
# free loopback ports, one server at a time; --rounds rounds, the servers' order alternating per
# round, medians shown. Server CPU = utime+stime of the server process (/proc/<pid>/stat) right
# before and right after the osprey-bench run (connection setup included), per published message
# (fanout: each is delivered --subs times) or per connection. Prints a markdown table and writes
# it, with the command line, to bench/results/transport-<date>.md.
#
#   bench/transport/run.sh [--msgs 1000000] [--conns 2000] [--subs 4] [--size 128] [--rounds 3]
#                          [--out FILE]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OSPREY="$ROOT/build/apps/osprey/osprey"
BENCH="$ROOT/build/apps/osprey-bench/osprey-bench"
NATS=""
for n in /usr/sbin/nats-server /usr/bin/nats-server "$(command -v nats-server || true)"; do
  [ -n "$n" ] && [ -x "$n" ] && { NATS="$n"; break; }
done
MSGS=1000000 CONNS=2000 SUBS=4 SIZE=128 ROUNDS=3
TIME_LIMIT=30  # seconds, each osprey-bench run (it stops by itself then)
OUT="$ROOT/bench/results/transport-$(date +%F).md"
CMDLINE="bench/transport/run.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --msgs) MSGS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --subs) SUBS="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--msgs N] [--conns N] [--subs N] [--size B] [--rounds N] [--out FILE]" >&2; exit 2 ;;
  esac
done
for b in "$OSPREY" "$BENCH" "$NATS"; do [ -n "$b" ] && [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done
command -v openssl >/dev/null || { echo "missing openssl" >&2; exit 1; }

TICK=$(getconf CLK_TCK)
SERVER_PID=""
WORK="$(mktemp -d /tmp/osprey-transport-bench.XXXXXX)"

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The test PKI: ca.pem signs server.pem (CN=localhost); keys never leave $WORK.
make_certs() {
  cat >"$WORK/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
[ req_dn ]
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$WORK/ca-key.pem" -out "$WORK/ca.pem" -days 2 \
    -subj "/O=osprey-bench/CN=osprey-bench CA" -config "$WORK/openssl.cnf" -extensions v3_ca 2>/dev/null
  openssl req -new "${ec[@]}" -keyout "$WORK/server-key.pem" -out "$WORK/server.csr" \
    -subj "/CN=localhost" -config "$WORK/openssl.cnf" 2>/dev/null
  openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$WORK/openssl.cnf" -extensions server -out "$WORK/server.pem" 2>/dev/null
  openssl verify -CAfile "$WORK/ca.pem" "$WORK/server.pem" >/dev/null
}
make_certs

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

# start_server osprey|nats-server tls|plain: sets SERVER_PID, PORT, WSPORT. The same config
# file for both servers.
start_server() {
  PORT=$(free_port)
  WSPORT=$(free_port)
  local conf="$WORK/server.conf"
  {
    echo "listen: \"127.0.0.1:$PORT\""
    if [ "$2" = tls ]; then
      echo "tls {"
      echo "  cert_file: \"$WORK/server.pem\""
      echo "  key_file: \"$WORK/server-key.pem\""
      echo "  ca_file: \"$WORK/ca.pem\""
      echo "}"
    fi
    echo "websocket {"
    echo "  listen: \"127.0.0.1:$WSPORT\""
    echo "  no_tls: true"
    echo "}"
  } >"$conf"
  if [ "$1" = osprey ]; then
    "$OSPREY" -c "$conf" >"$WORK/server.log" 2>&1 &
  else
    "$NATS" -c "$conf" >"$WORK/server.log" 2>&1 &
  fi
  SERVER_PID=$!
  wait_port "$PORT" && wait_port "$WSPORT" || { echo "$1 did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
}

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

WORKLOADS=(tls-pubsub tls-fanout tls-handshakes ws-pubsub pubsub)
FANOUT_MSGS=$((MSGS / 4))
declare -A RATE CPU DELIVERED EXTRA FAILS

# run_one WORKLOAD SERVER: one row, appended to RATE/CPU/... of "WORKLOAD SERVER"
run_one() {
  local w="$1" server="$2" mode=tls url n args=()
  case "$w" in
    tls-pubsub) n=$MSGS; args=(--msgs "$MSGS" --size "$SIZE") ;;
    tls-fanout) n=$FANOUT_MSGS; args=(--msgs "$FANOUT_MSGS" --size "$SIZE" --subs "$SUBS") ;;
    tls-handshakes) n=$CONNS; args=(--msgs "$CONNS") ;;
    ws-pubsub) n=$MSGS; args=(--msgs "$MSGS" --size "$SIZE") ;;
    pubsub) n=$MSGS; mode=plain; args=(--msgs "$MSGS" --size "$SIZE") ;;
  esac
  start_server "$server" "$mode"
  if [ "$w" = ws-pubsub ]; then url="ws://127.0.0.1:$WSPORT"; else url="nats://127.0.0.1:$PORT"; fi
  local c0 c1 line key="$w $server"
  c0=$(cpu_ticks "$SERVER_PID")
  if ! line=$(timeout $((TIME_LIMIT + 30)) "$BENCH" "$w" --url "$url" --ca "$WORK/ca.pem" "${args[@]}" \
                --time-limit "$TIME_LIMIT" 2>"$WORK/bench.err"); then
    echo "[$w $server] FAILED: $(tail -5 "$WORK/bench.err")" >&2
    line=""
  fi
  c1=$(cpu_ticks "$SERVER_PID")
  stop_server
  echo "[$w $server] $line" >&2
  if [ -z "$line" ]; then FAILS[$key]=$(( ${FAILS[$key]:-0} + 1 )); return; fi
  local rate got
  if [ "$w" = tls-handshakes ]; then
    rate=$(field "$line" conns_per_s); got="$(field "$line" conns)"
    [ "$got" = "$n" ] || got="$got of $n"
    EXTRA[$key]="${EXTRA[$key]:-} $(field "$line" p50_us)/$(field "$line" p99_us)"
  else
    local want=$n; [ "$w" = tls-fanout ] && want=$((n * SUBS))
    rate=$(field "$line" msgs_per_s); got="$(field "$line" delivered)"
    [ "$got" = "$want" ] || got="$got of $want"
  fi
  RATE[$key]="${RATE[$key]:-} $rate"
  CPU[$key]="${CPU[$key]:-} $(awk -v d=$((c1 - c0)) -v t="$TICK" -v n="$n" 'BEGIN { printf "%.3f", d / t / n * 1e6 }')"
  DELIVERED[$key]="${DELIVERED[$key]:-} $got"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then ORDER=(osprey nats-server); else ORDER=(nats-server osprey); fi
  for w in "${WORKLOADS[@]}"; do
    for s in "${ORDER[@]}"; do run_one "$w" "$s"; done
  done
done

ROWS=() RATIOS=()
for w in "${WORKLOADS[@]}"; do
  declare -A MR=() MC=()
  for s in osprey nats-server; do
    key="$w $s"
    MR[$s]=$(median <<<"${RATE[$key]:-}")
    MC[$s]=$(median <<<"${CPU[$key]:-}")
    fails=${FAILS[$key]:-0}
    per=""
    read -r -a rates <<<"${RATE[$key]:-}"
    read -r -a extras <<<"${EXTRA[$key]:-}"
    for i in "${!rates[@]}"; do
      per+="${per:+, }${rates[$i]}"
      [ "$w" = tls-handshakes ] && per+=" (${extras[$i]})"
    done
    [ "$fails" -gt 0 ] && per+="${per:+; }$fails failed"
    unit=msgs/s; [ "$w" = tls-handshakes ] && unit=conns/s
    cpu_fmt=$(awk -v v="${MC[$s]}" 'BEGIN { if (v == "") print "n/a"; else printf "%.2f", v }')
    ROWS+=("| $w | $s | ${MR[$s]:-failed} $unit | $cpu_fmt | $(echo ${DELIVERED[$key]:-} | sed 's/ /, /g') | $per |")
  done
  RATIOS+=("| $w | $(awk -v a="${MR[osprey]}" -v b="${MR[nats-server]}" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2fx", a / b }') | $(awk -v a="${MC[osprey]}" -v b="${MC[nats-server]}" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2fx", a / b }') |")
  unset MR MC
done

{
  echo "# Pub/sub over TLS and WebSocket: osprey vs nats-server"
  echo
  echo "- date: $(date '+%F %T %Z')"
  echo "- machine: $(uname -m), $(nproc) cores, $(uname -sr); $("$NATS" --version 2>&1 | head -1); $(openssl version)"
  echo "- command: $CMDLINE"
  echo "- size $SIZE B; tls-pubsub, ws-pubsub, pubsub: $MSGS messages, 1 publisher -> 1 subscriber;"
  echo "  tls-fanout: $FANOUT_MSGS messages, 1 publisher -> $SUBS subscribers; tls-handshakes: $CONNS connections,"
  echo "  one after the other (connect: INFO, TLS handshake, CONNECT, PING/PONG; flush; close)"
  echo "- TLS: EC P-256 server certificate made at run time, client verifies it (nats.c 3.4, OpenSSL); no client"
  echo "  certificates. WebSocket: osprey-bench's Boost.Beast client, binary frames of about 64 KiB of PUBs, no"
  echo "  compression, no TLS. pubsub: plain TCP with nats.c, on a server without tls {}, for reference"
  echo "- rate: published messages (or connections) / (first publish -> last delivery); server CPU: utime+stime"
  echo "  of the server over the whole osprey-bench run (connections included), per published message"
  echo "  (tls-fanout: each delivered $SUBS times) or per connection; 10 ms ticks"
  echo "- rounds: $ROUNDS, one fresh server per row, one server at a time, order alternating per round; medians"
  echo "  shown; client and server share the machine (2 cores); load average (1/5/15 min) before: $LOAD_START,"
  echo "  after: $(cut -d' ' -f1-3 /proc/loadavg) (anything above ~0 is someone else's work on the same cores)"
  echo
  echo "| workload | server | rate (median) | server CPU µs per msg / conn (median) | delivered per round | rates per round |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "| workload | osprey/nats-server rate | osprey/nats-server CPU per msg / conn |"
  echo "|---|---|---|"
  printf '%s\n' "${RATIOS[@]}"
} > "$WORK/table.md"
cat "$WORK/table.md"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/table.md" "$OUT"
echo "written to $OUT" >&2
