#!/usr/bin/env bash
# The loopback figures of docs/performance.md ("Performance of the real-time core"),
# in one run. Usage, from the repository root:
#   server/internal/loadgen/testdata/perf.sh [PORT]
# Builds the server (without the web app), serves it on a scratch SQLite data
# directory, and prints each loadgen command, its JSON result and the load average.
# A fresh server is started for the memory run, as the figure is per idle sensor.
set -euo pipefail
PORT=${1:-18080}; URL=http://127.0.0.1:$PORT
BIN=$(mktemp -d)/sensocto
go build -o "$BIN" ./server/cmd/sensocto
PID=
serve() {
  [ -n "$PID" ] && { kill "$PID"; wait "$PID" 2>/dev/null || true; }
  DATA=$(mktemp -d)
  SENSOCTO_DATA_DIR=$DATA SENSOCTO_HTTP_ADDR=127.0.0.1:$PORT SENSOCTO_LOG_LEVEL=warn \
    SENSOCTO_AUTH_RATE_LIMIT=1000 "$BIN" serve 2>"$DATA/log" &
  PID=$!
  until curl -sf "$URL/healthz" >/dev/null; do sleep 0.1; done
}
trap '[ -n "$PID" ] && kill $PID 2>/dev/null || true' EXIT
run() { # loadgen arguments
  echo "# sensocto loadgen $* --json    ($(uptime | sed 's/.*load/load/'))"
  "$BIN" loadgen --url "$URL" "$@" --json
  echo
}
serve
run --mode stream --block 64 --batch 1 --rate 0 --connectors 8 --watchers 0 --ignore-backpressure --duration 10s
run --mode stream --block 64 --batch 16 --rate 0 --connectors 8 --watchers 0 --ignore-backpressure --duration 10s
run --mode stream --block 64 --batch 16 --rate 0 --connectors 8 --watchers 1 --ignore-backpressure --duration 10s
run --mode publish --batch 10 --rate 0 --connectors 32 --watchers 0 --ignore-backpressure --duration 10s
run --mode publish --batch 10 --rate 0 --connectors 32 --watchers 0 --ignore-backpressure --duration 10s --protocol grpc
for n in 10000 3000 1000 300; do
  run --mode stream --rate 10 --connectors $n --watchers 100 --duration 20s
done
run --connectors 10 --rate 100 --watchers 2 --duration 10s
run --reaction 20
serve
run --idle --connectors 5000 --duration 20s
