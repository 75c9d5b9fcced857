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
# load average; at the end, one summary table (Markdown, for docs/performance.md) with
# the ratios. Everything listens on 127.0.0.1 only; each run lasts DURATION plus the
# registration of the sensors.
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
  local before; before=$(load)
  echo "# $name: sensocto loadgen $* --json    (load average $before)"
  "$BIN" loadgen "$@" --json | tee "$OUT/$name.json"
  echo "#   load average after: $(load)"
  printf '%s → %s' "${before%%,*}" "$(load | cut -d, -f1)" >"$OUT/$name.load"
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
  echo
  echo "# summary: $CONNECTORS sensors × $RATE Hz, $VIEWERS viewers × (12 in view + 1 focused), $DURATION each, $(nproc) cores"
  jq -rn --slurpfile a "$OUT/attention.json" --slurpfile n "$OUT/no-attention.json" --slurpfile m "$OUT/mqtt.json" \
    --arg la "$(cat "$OUT/attention.load")" --arg ln "$(cat "$OUT/no-attention.load")" --arg lm "$(cat "$OUT/mqtt.load")" '
    def r(x; y): if (x == null) or (y == null) or y == 0 then "n/a" else (x / y) as $q | (if $q < 0.01 then 10000 elif $q < 0.1 then 1000 else 100 end) as $s | (($q * $s | round) / $s | tostring) + "×" end;
    def f(x): if x == null then "n/a" else (x * 10 | round) / 10 | tostring end;
    def c(x): if x == null then "n/a" else (x * 100 | round) / 100 | tostring end;
    def mb(x): if x == null then "n/a" else (x / 1048576 | round | tostring) + " MB" end;
    $a[0] as $a | $n[0] as $n | $m[0] as $m |
    "| | Sensocto with attention | without (every value a message) | attention / without | Mosquitto (QoS 0) | with attention / Mosquitto |",
    "|---|---|---|---|---|---|",
    "| focused latency p50 / p99 (ms) | \(f($a.focused_latency_ms.p50)) / \(f($a.focused_latency_ms.p99)) | \(f($n.focused_latency_ms.p50)) / \(f($n.focused_latency_ms.p99)) | p99 \(r($a.focused_latency_ms.p99; $n.focused_latency_ms.p99)) | \(f($m.latency_ms.p50)) / \(f($m.latency_ms.p99)) (all messages) | p99 \(r($a.focused_latency_ms.p99; $m.latency_ms.p99)) |",
    "| focused: value → server p50 / p99; server → viewer p50 / p99 (ms) | \(f($a.focused_to_server_ms.p50)) / \(f($a.focused_to_server_ms.p99)); \(f($a.focused_from_server_ms.p50)) / \(f($a.focused_from_server_ms.p99)) | \(f($n.focused_to_server_ms.p50)) / \(f($n.focused_to_server_ms.p99)); \(f($n.focused_from_server_ms.p50)) / \(f($n.focused_from_server_ms.p99)) | | | |",
    "| sessions opened before the clock (s) | \(f($a.open_s)) | \(f($n.open_s)) | | | |",
    "| in-view latency p50 / p99 (ms) | \(f($a.in_view_latency_ms.p50)) / \(f($a.in_view_latency_ms.p99)) | \(f($n.in_view_latency_ms.p50)) / \(f($n.in_view_latency_ms.p99)) | p99 \(r($a.in_view_latency_ms.p99; $n.in_view_latency_ms.p99)) | | |",
    "| server (broker) CPU, cores | \(c($a.process_cpu_cores)) | \(c($n.process_cpu_cores)) | \(r($a.process_cpu_cores; $n.process_cpu_cores)) | \(c($m.process_cpu_cores)) | \(r($a.process_cpu_cores; $m.process_cpu_cores)) |",
    "| server (broker) RSS at the end | \(mb($a.process_rss_bytes)) | \(mb($n.process_rss_bytes)) | \(r($a.process_rss_bytes; $n.process_rss_bytes)) | \(mb($m.process_rss_bytes)) | \(r($a.process_rss_bytes; $m.process_rss_bytes)) |",
    "| messages/s in | \(f($a.messages_per_s)) | \(f($n.messages_per_s)) | \(r($a.messages_per_s; $n.messages_per_s)) | \(f($m.messages_per_s)) | \(r($a.messages_per_s; $m.messages_per_s)) |",
    "| values/s accepted (sent) | \(f($a.ingest_per_s)) (\($a.sent)) | \(f($n.ingest_per_s)) (\($n.sent)) | | \(f($m.ingest_per_s)) (\($m.sent)) | |",
    "| messages/s out to viewers (subscribers) | \(f($a.watch_messages_per_s)) | \(f($n.watch_messages_per_s)) | \(r($a.watch_messages_per_s; $n.watch_messages_per_s)) | \(f($m.watch_messages_per_s)) | |",
    "| messages/s out to connectors (configs, acks) | \(f($a.to_connector_messages_per_s)) | \(f($n.to_connector_messages_per_s)) | | | |",
    "| errors (first) | \($a.errors) \($a.first_error // "") | \($n.errors) \($n.first_error // "") | | \($m.errors) \($m.first_error // "") | |",
    "| 1-minute load average, start → end | \($la) | \($ln) | | \($lm) | |"'
fi
echo "# JSON in $OUT"
