#!/usr/bin/env bash
# Mixed load over HTTP at fixed rates, for minutes (issue 6): map viewers
# (tiles), analysts (statistics) and residents' apps (new reports, each from
# its own address) together; then the same again with one flooding client
# beside them, to see what the flood costs the others.
#
#   benches/load.sh                          # build, then 2 scenarios of DURATION
#   SKIP_BUILD=1 DURATION=60 benches/load.sh
#
# Needs wrk (apt: wrk) and python3. Each load is a wrk process with a Lua
# script of benches/load/ and a fixed seed; a connection waits DELAY_MS
# between its requests (wrk's delay()), so a load's rate is its connections ×
# 1000 / DELAY_MS as long as answers are faster than the pause; the printed
# rate is what was served. Latency percentiles are wrk's (from send to the
# whole answer). The server trusts X-Forwarded-For from 127.0.0.1, as behind a
# load balancer: every report comes from its own address (the per-address
# quotas apply as in production), the flooder from one.
#
# Environment: DURATION (120 s per scenario), SEED (42), PORT (18790),
# TILES_RATE (200), STATS_RATE (4), INGEST_RATE (100) requests/s,
# FLOOD_CONNECTIONS (16), DATA (a data directory to copy and serve, e.g. one
# with 1M imported reports; default: a new one with the Paris seed reports),
# WORK (/tmp/civicmap-load), BIN (target/release/civicmap), SKIP_BUILD (0).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-120}
SEED=${SEED:-42}
PORT=${PORT:-18790}
TILES_RATE=${TILES_RATE:-200}
STATS_RATE=${STATS_RATE:-4}
INGEST_RATE=${INGEST_RATE:-100}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-16}
WORK=${WORK:-/tmp/civicmap-load}
BIN=${BIN:-target/release/civicmap}
SKIP_BUILD=${SKIP_BUILD:-0}
LOAD_DIR=$(pwd)/benches/load
export LOAD_DIR SEED

command -v wrk >/dev/null || { echo "wrk is missing (apt install wrk)" >&2; exit 1; }
[ "$SKIP_BUILD" = 1 ] || cargo build --release --locked

rm -rf "$WORK" && mkdir -p "$WORK"
if [ -n "${DATA:-}" ]; then cp -r "$DATA" "$WORK/data"; fi
"$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" --trusted-proxy 127.0.0.1 \
    >"$WORK/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 600); do curl -sf "$base/health" >/dev/null && break; sleep 0.2; done
curl -sf "$base/health"; echo
APP_KEY=$(RUST_LOG=warn "$BIN" keys create --data-dir "$WORK/data" --role app --name "load app")
ANALYST_KEY=$(RUST_LOG=warn "$BIN" keys create --data-dir "$WORK/data" --role analyst --name "load analyst")
CATEGORIES=$(curl -sf "$base/api/v1/categories" | python3 -c '
import json, sys
print(";".join(c["code"] + ":" + c["subcategories"][0]["code"] for c in json.load(sys.stdin) if c["subcategories"]))')
export APP_KEY ANALYST_KEY CATEGORIES

# load NAME SCRIPT RATE CONNECTIONS: one paced wrk in the background.
load() {
    local name=$1 script=$2 rate=$3 conns=$4
    NAME=$name DELAY_MS=$(( conns * 1000 / rate )) wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 30s \
        -s "$LOAD_DIR/$script" "$base" >"$WORK/$scenario-$name.out" 2>&1 &
}

# A short warm-up (not reported): page cache, tile cache, first statistics.
scenario=warmup
( DURATION=10; load tiles tiles.lua "$TILES_RATE" 20; load ingest ingest.lua "$INGEST_RATE" 10; wait )

for scenario in steady flood; do
    echo "== $scenario: ${DURATION}s, tiles $TILES_RATE/s, statistics $STATS_RATE/s, reports $INGEST_RATE/s"
    load tiles tiles.lua "$TILES_RATE" 20
    load stats stats.lua "$STATS_RATE" 2
    load ingest ingest.lua "$INGEST_RATE" 10
    if [ "$scenario" = flood ]; then
        NAME=flood wrk -t1 -c"$FLOOD_CONNECTIONS" -d"${DURATION}s" -s "$LOAD_DIR/flood.lua" "$base" \
            >"$WORK/$scenario-flood.out" 2>&1 &
    fi
    wait $(jobs -p | grep -v "^$server$")
    grep -h "^RESULT" "$WORK/$scenario"-*.out | sed "s/^RESULT/$scenario/"
done
curl -sf "$base/health"; echo
echo "outputs in $WORK"
