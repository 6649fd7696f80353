#!/usr/bin/env bash
# The same service on SQLite, on PostgreSQL, and as two instances on one
# PostgreSQL database, side by side (issue 7): bulk import, start-up (index
# load), HTTP ingest and HTTP tiles, with the same data, the order reversed
# every round so that drift of a shared machine hits all alike.
#
#   benches/backends.sh                               # build, 2 rounds
#   SKIP_BUILD=1 ROUNDS=3 BASE_REPORTS=1000000 benches/backends.sh
#
# Each round, for each of `sqlite`, `postgres` and `postgres-2`:
#   1. a fresh store (a new data directory; a dropped and re-created
#      PostgreSQL database) and `civicmap import reports` of the same
#      generated CSV of BASE_REPORTS reports: wall time;
#   2. `civicmap serve --no-seed`: seconds until /health answers (migrations,
#      the index loaded from the store);
#   3. `examples/ingest_load`: CLIENTS concurrent clients filing REQUESTS
#      reports, every 201 durable (`postgres-2`: a second instance on the
#      same database, and half the clients and reports on each, at once);
#      reports/s (all acknowledged over the wall time), latency, and the CPU
#      seconds of the civicmap servers and of the PostgreSQL server processes
#      (utime + stime from /proc) over the load;
#   4. wrk with benches/load/tiles.lua, unpaced (DELAY_MS=0), TILE_CONNECTIONS
#      connections for TILE_SECONDS: tiles/s and latency percentiles. Tiles
#      are built from the in-memory index on both backends: this checks that
#      the backend costs the map nothing.
#
# Needs wrk and psql (apt: wrk, postgresql-client) and a PostgreSQL server
# where PG_ADMIN_URL may create databases (.ci/postgres-setup makes one).
#
# Environment: ROUNDS (2), BASE_REPORTS (200000), REQUESTS (50000), CLIENTS
# (64), TILE_CONNECTIONS (32), TILE_SECONDS (20), SEED (42), PORT (18472),
# WORK (/tmp/civicmap-backends), PG_ADMIN_URL
# (postgres://civicmap:civicmap@127.0.0.1:5432/civicmap_test), PG_DB
# (civicmap_bench), SKIP_BUILD (0), BIN (target/release/civicmap), LOAD
# (target/release/examples/ingest_load).
set -euo pipefail

ROUNDS=${ROUNDS:-2}
BASE_REPORTS=${BASE_REPORTS:-200000}
REQUESTS=${REQUESTS:-50000}
CLIENTS=${CLIENTS:-64}
TILE_CONNECTIONS=${TILE_CONNECTIONS:-32}
TILE_SECONDS=${TILE_SECONDS:-20}
SEED=${SEED:-42}
PORT=${PORT:-18472}
WORK=${WORK:-/tmp/civicmap-backends}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://civicmap:civicmap@127.0.0.1:5432/civicmap_test}
PG_DB=${PG_DB:-civicmap_bench}
SKIP_BUILD=${SKIP_BUILD:-0}

cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing (apt install wrk)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is missing (apt install postgresql-client)" >&2; exit 1; }
if [[ $SKIP_BUILD != 1 ]]; then
    cargo build --release --quiet --bin civicmap --example ingest_load
fi
BIN=${BIN:-$PWD/target/release/civicmap}
LOAD=${LOAD:-$PWD/target/release/examples/ingest_load}
LOAD_DIR=$PWD/benches/load
export LOAD_DIR SEED
PG_URL=${PG_ADMIN_URL%/*}/$PG_DB
base="http://127.0.0.1:$PORT"

SERVER_PIDS=()
cleanup() {
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

mkdir -p "$WORK"
CSV=$WORK/reports-$BASE_REPORTS.csv
[[ -f $CSV ]] || "$BIN" generate --reports "$BASE_REPORTS" --seed "$SEED" --out "$CSV" >/dev/null

# CPU seconds (utime + stime) of the processes whose command starts with `postgres`.
pg_cpu() {
    local hz total=0 pid
    hz=$(getconf CLK_TCK)
    for pid in $(pgrep -x postgres || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    awk -v t="$total" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}'
}
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a - b}'; }

# serve PORT: one instance on the store of this run, in the background.
serve() {
    RUST_LOG=warn "$BIN" serve --no-seed --data-dir "$WORK/data" "${store[@]}" \
        --listen "127.0.0.1:$1" --address-reports-per-minute 0 --address-reports-per-day 0 \
        >>"$WORK/serve-$backend.log" 2>&1 &
    SERVER_PIDS+=($!)
    for _ in $(seq 1200); do
        curl -sf "http://127.0.0.1:$1/health" >/dev/null && break
        sleep 0.05
    done
}

for round in $(seq "$ROUNDS"); do
    order="sqlite postgres postgres-2"
    ((round % 2 == 0)) && order="postgres-2 postgres sqlite"
    for backend in $order; do
        rm -rf "$WORK/data" "$WORK/serve-$backend.log"
        store=()
        if [[ $backend == postgres* ]]; then
            PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" \
                -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
            store=(--database-url "$PG_URL")
        fi
        t0=$(now)
        "$BIN" import reports --data-dir "$WORK/data" "${store[@]}" "$CSV" >/dev/null 2>&1
        import_s=$(minus "$(now)" "$t0")
        key=$("$BIN" keys create --data-dir "$WORK/data" "${store[@]}" --role app --name load 2>/dev/null)

        SERVER_PIDS=()
        t0=$(now)
        serve "$PORT"
        boot_s=$(minus "$(now)" "$t0")
        ports=("$PORT")
        if [[ $backend == postgres-2 ]]; then
            serve "$((PORT + 1))"
            ports+=("$((PORT + 1))")
        fi

        # The clients and the reports split over the instances, each with
        # its own seed (so its own client ids).
        n=${#ports[@]}
        cpu0=0
        for pid in "${SERVER_PIDS[@]}"; do cpu0=$(awk -v a="$cpu0" -v b="$(proc_cpu "$pid")" 'BEGIN {print a + b}'); done
        pg0=$(pg_cpu)
        t0=$(now)
        i=0
        for port in "${ports[@]}"; do
            "$LOAD" --url "http://127.0.0.1:$port" --clients "$((CLIENTS / n))" \
                --requests "$((REQUESTS / n))" --api-key "$key" \
                --seed "$((SEED * 100 + round * 10 + i))" >"$WORK/load-$i.out" 2>&1 &
            i=$((i + 1))
        done
        wait_ok=0
        for job in $(jobs -p); do
            [[ " ${SERVER_PIDS[*]} " == *" $job "* ]] || wait "$job" || wait_ok=1
        done
        wall=$(minus "$(now)" "$t0")
        cpu1=0
        for pid in "${SERVER_PIDS[@]}"; do cpu1=$(awk -v a="$cpu1" -v b="$(proc_cpu "$pid")" 'BEGIN {print a + b}'); done
        pg1=$(pg_cpu)
        acked=$(cat "$WORK"/load-*.out | grep -o '^[0-9]* reports acknowledged' | awk '{s += $1} END {print s}')
        p50=$(cat "$WORK"/load-*.out | grep -o 'p50 [0-9.]* ms' | awk '{s += $2; n++} END {printf "%.1f", s / n}')
        p99=$(cat "$WORK"/load-*.out | grep -o 'p99 [0-9.]* ms' | awk '{if ($2 > m) m = $2} END {printf "%.1f", m}')
        rate=$(awk -v a="$acked" -v w="$wall" 'BEGIN {printf "%.0f", a / w}')
        rm -f "$WORK"/load-*.out
        pg_s=$(minus "$pg1" "$pg0")
        [[ $backend == sqlite ]] && pg_s=-

        tiles=$(NAME=tiles DELAY_MS=0 wrk -t 2 -c "$TILE_CONNECTIONS" -d "${TILE_SECONDS}s" \
            -s "$LOAD_DIR/tiles.lua" "$base" | grep '^RESULT' |
            sed -E 's/.*rate=([0-9.]+) p50_ms=([0-9.]+) p90_ms=[0-9.]+ p99_ms=([0-9.]+).*non2xx=([0-9]+).*/\1 tiles\/s; p50 \2 ms, p99 \3 ms; non-2xx \4/')

        for pid in "${SERVER_PIDS[@]}"; do kill -INT "$pid"; wait "$pid" 2>/dev/null || true; done
        SERVER_PIDS=()
        [[ $wait_ok == 0 ]] || echo "a load client failed: see $WORK" >&2
        echo "round=$round backend=$backend reports=$BASE_REPORTS: import ${import_s} s; boot ${boot_s} s;" \
            "ingest $acked in ${wall} s = $rate reports/s (mean of p50 $p50 ms, worst p99 $p99 ms)," \
            "CPU s civicmap $(minus "$cpu1" "$cpu0") postgres $pg_s; tiles (first instance) $tiles"
    done
done
