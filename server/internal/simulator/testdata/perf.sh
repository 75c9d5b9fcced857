#!/usr/bin/env bash
# Usage (from the repository root, after building bin/sensocto):
#   server/internal/simulator/testdata/perf.sh SCENARIO PORT
# — serves bin/sensocto with SCENARIO as the demo,
# measures the server's CPU (% of one core) and RSS over 60 s unwatched, then over 60 s
# with one watcher (Watch stream of every sensor + ReportAttention FOCUS every 5 s).
set -euo pipefail
SC=$1; PORT=$2; URL=http://127.0.0.1:$PORT
DATA=$(mktemp -d)
SENSOCTO_DEMO_SCENARIO=$SC SENSOCTO_DATA_DIR=$DATA SENSOCTO_HTTP_ADDR=127.0.0.1:$PORT \
  SENSOCTO_LOG_LEVEL=warn SENSOCTO_LOG_FORMAT=json bin/sensocto serve 2>$DATA/log &
PID=$!
trap 'kill $PID 2>/dev/null; kill $(jobs -p) 2>/dev/null || true' EXIT
until curl -sf $URL/healthz >/dev/null; do sleep 0.2; done
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
rss() { awk '/VmRSS/{print $2}' /proc/$PID/status; }
span() { # label
  local t0 c0 c1 r; t0=$(date +%s.%N); c0=$(ticks); sleep 60; c1=$(ticks)
  r=$(rss); local t1; t1=$(date +%s.%N)
  echo "$1: cpu $(echo "scale=1; ($c1-$c0)*100/100/($t1-$t0)" | bc)% of one core, rss $((r/1024)) MiB"
}
TOKEN=$(curl -sS -H 'Content-Type: application/json' -d '{}' $URL/sensocto.v1.AuthService/SignInGuest | jq -r .token)
H=(-H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN")
sleep 10 # warm-up: the demo starts and the sensors settle on the unwatched config
IDS=$(curl -sS "${H[@]}" -d '{"runningOnly":true}' $URL/sensocto.v1.SimulatorService/ListRuns | jq -c '.runs[0].sensorIds')
echo "scenario $SC, sensors $IDS"
span "unwatched"
go tool buf curl --http2-prior-knowledge --protocol grpc -H "Authorization: Bearer $TOKEN" \
  -d "{\"sensorIds\": $IDS}" $URL/sensocto.v1.SensorService/Watch > $DATA/watch.out 2>&1 &
EVENTS=$(echo "$IDS" | jq -c '[.[] | {sensorId: ., kind: "ATTENTION_EVENT_KIND_VIEW_ENTER"}, {sensorId: ., kind: "ATTENTION_EVENT_KIND_FOCUS"}]')
( while true; do curl -sS "${H[@]}" -d "{\"tabId\":\"perf-tab-0001\",\"events\":$EVENTS}" \
    $URL/sensocto.v1.AttentionService/ReportAttention >/dev/null; sleep 5; done ) &
sleep 5
span "watched (focus)"
echo "watch stream: $(wc -c < $DATA/watch.out) bytes of JSON received"
curl -sS "${H[@]}" -d '{"runningOnly":true}' $URL/sensocto.v1.SimulatorService/ListRuns | jq -c '.runs[0] | {samplesSent, error}'
