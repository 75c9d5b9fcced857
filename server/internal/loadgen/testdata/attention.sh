#!/usr/bin/env bash
# The attention figures of docs/performance.md ("Attention: 10,000 sensors"), in one
# run on this machine, loopback only. Usage, from the repository root:
#   server/internal/loadgen/testdata/attention.sh [PORT]
# Environment: CONNECTORS (10000), VIEWERS (100), DURATION (60s), RATE (10 Hz),
# MQTT_PORT (1883).
#
# Three runs of the same sensors and viewers, each on a fresh server (scratch SQLite):
#  1. Sensocto with attention: connectors follow the back-pressure configs they get;
#     100 viewers, each with a page of 13 sensors of its own (12 in view, 1 focused,
#     the focus moving every 3 s); the other sensors are watched by nobody.
#  2. Sensocto without: every connector ignores back-pressure (a message per value).
#  3. Mosquitto: every value a QoS 0 MQTT message, 100 subscribers of 13 topics each.
# Each prints loadgen's JSON (server or broker CPU in cores and RSS via --pid) and the
# load average; at the end, the ratios.
set -euo pipefail
PORT=${1:-$((20000 + RANDOM % 30000))}; URL=http://127.0.0.1:$PORT
CONNECTORS=${CONNECTORS:-10000}; VIEWERS=${VIEWERS:-100}; DURATION=${DURATION:-60s}; RATE=${RATE:-10}
MQTT_PORT=${MQTT_PORT:-1883}
OUT=$(mktemp -d)
BIN=$OUT/sensocto
go build -o "$BIN" ./server/cmd/sensocto
PID= MPID=
stop_server() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi; }
cleanup() { stop_server; if [ -n "$MPID" ]; then kill "$MPID" 2>/dev/null || true; fi; }
trap cleanup EXIT
serve() {
  stop_server
  DATA=$(mktemp -d -p "$OUT")
  # 10,000 Streams come from one user and one address: raise the per-user and per-IP
  # stream limits for the run.
  SENSOCTO_DATA_DIR=$DATA SENSOCTO_HTTP_ADDR=127.0.0.1:$PORT SENSOCTO_LOG_LEVEL=warn \
    SENSOCTO_AUTH_RATE_LIMIT=1000 SENSOCTO_STREAMS_PER_USER=$((CONNECTORS * 2)) \
    SENSOCTO_STREAMS_PER_IP=$((CONNECTORS * 2)) "$BIN" serve 2>"$DATA/log" &
  PID=$!
  until curl -sf "$URL/healthz" >/dev/null; do sleep 0.1; done
}
load() { uptime | sed 's/.*load average: //'; }
run() { # name, loadgen arguments
  local name=$1; shift
  echo "# $name: sensocto loadgen $* --json    (load average $(load))"
  "$BIN" loadgen "$@" --json | tee "$OUT/$name.json"
  echo "#   load average after: $(load)"
}

# Mosquitto: use the one on MQTT_PORT, else start one on loopback for this run.
if ! (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; then
  command -v mosquitto >/dev/null || { echo "mosquitto is not installed (apt-get install mosquitto)" >&2; exit 1; }
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_connections -1\n' "$MQTT_PORT" >"$OUT/mosquitto.conf"
  mosquitto -c "$OUT/mosquitto.conf" 2>"$OUT/mosquitto.log" &
  MPID=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; do sleep 0.1; done
fi
BROKER=$(ss -Hltnp "sport = :$MQTT_PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)

common=(--rate "$RATE" --connectors "$CONNECTORS" --watchers "$VIEWERS" --page 13 --duration "$DURATION")
serve
run attention --url "$URL" --mode stream --attention page --focus-every 3s --pid "$PID" "${common[@]}"
serve
run no-attention --url "$URL" --mode stream --attention page --focus-every 3s --ignore-backpressure --pid "$PID" "${common[@]}"
stop_server
run mqtt --url "tcp://127.0.0.1:$MQTT_PORT" --mode mqtt --pid "${BROKER:-0}" "${common[@]}"

if command -v jq >/dev/null; then
  echo "# ratios"
  jq -rn --slurpfile a "$OUT/attention.json" --slurpfile n "$OUT/no-attention.json" --slurpfile m "$OUT/mqtt.json" '
    def r(x; y): if y == 0 then "n/a" else ((x / y * 100 | round) / 100 | tostring) + "×" end;
    "attention / no attention: server CPU \(r($a[0].process_cpu_cores; $n[0].process_cpu_cores)), messages in \(r($a[0].messages_per_s; $n[0].messages_per_s)), focused p99 \(r($a[0].focused_latency_ms.p99; $n[0].focused_latency_ms.p99))",
    "Sensocto with attention / Mosquitto: CPU \(r($a[0].process_cpu_cores; $m[0].process_cpu_cores)), RSS \(r($a[0].process_rss_bytes; $m[0].process_rss_bytes)), focused p99 / MQTT p99 \(r($a[0].focused_latency_ms.p99; $m[0].latency_ms.p99)), messages in \(r($a[0].messages_per_s; $m[0].messages_per_s))"'
fi
echo "# JSON in $OUT"
