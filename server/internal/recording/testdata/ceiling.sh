#!/usr/bin/env bash
# ceiling.sh measures the ceiling the recorder's PostgreSQL writes are compared with:
# a plain psql \copy of N rows shaped like `measurements` into a bare table (no
# partitions, no index), and the same into a bare table with the recorder's index.
#
#   server/internal/recording/testdata/ceiling.sh [N] [server URL]
#
# Defaults: N=2000000, URL=$SENSOCTO_TEST_POSTGRES_URL. It works in a scratch database
# that it drops afterwards.
set -euo pipefail
n=${1:-2000000}
url=${2:-${SENSOCTO_TEST_POSTGRES_URL:?set SENSOCTO_TEST_POSTGRES_URL or pass a URL}}
db="sensocto_ceiling_$$"
base=${url%%\?*}
base=${base%/*}
query=""
[[ "$url" == *\?* ]] && query="?${url#*\?}"
scratch="$base/$db$query"
csv=$(mktemp --suffix .csv)
trap 'rm -f "$csv"; psql -q "$url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT

psql -q "$url" -c "CREATE DATABASE $db" >/dev/null
psql -q "$scratch" -c "\\copy (SELECT 'bench-' || lpad((i % 100)::text, 3, '0'), 'heartrate', 1790000000000000 + i, 1790000000000250 + i, 1, 60 + i % 50, NULL FROM generate_series(1, $n) i) TO '$csv' CSV"

run() {
	local name=$1 ddl=$2
	psql -q "$scratch" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bare" -c "$ddl" >/dev/null
	psql -q "$scratch" -c "CHECKPOINT" >/dev/null
	local start end
	start=$(date +%s.%N)
	psql -q "$scratch" -c "\\copy bare FROM '$csv' CSV"
	end=$(date +%s.%N)
	NAME=$name awk -v n="$n" -v s="$start" -v e="$end" \
		'BEGIN { printf "%-28s %9d rows in %6.2f s = %9.0f rows/s\n", ENVIRON["NAME"], n, e - s, n / (e - s) }'
}
table="CREATE TABLE bare (sensor_id text NOT NULL, attribute_id text NOT NULL, time_us bigint NOT NULL, server_time_us bigint NOT NULL, kind smallint NOT NULL, number double precision, payload bytea)"
run "psql \\copy, bare table" "$table"
run "psql \\copy, bare + index" "$table; CREATE INDEX ON bare (sensor_id, attribute_id, time_us)"
