#!/usr/bin/env bash
# HTTP ingest with 1M stored reports: 64 concurrent clients, every 201
# durable (`examples/ingest_load`), the server and the client on this machine.
#
#   benches/ingest_1m.sh                         # build, make the 1M dir once, 3 runs
#   SKIP_BUILD=1 SEEDS="31 32 33" BINS="/path/a /path/b" benches/ingest_1m.sh
#
# Steps:
#   1. once per WORK dir: `civicmap generate --reports 1000000 --seed 42` and
#      `civicmap import reports` into $WORK/base (kept: ~340 MB);
#   2. for each seed, for each binary in BINS (alternated, so that drift of a
#      shared machine hits both alike): a fresh copy of the base dir, an app
#      key, `civicmap serve --no-seed` with the per-address filing quotas off
#      (64 clients share one address), then `ingest_load --clients 64
#      --requests $REQUESTS --seed S`;
#   3. one line per run: reports/s, p50/p99, the client's CPU seconds
#      (/usr/bin/time) and the server's (utime + stime from /proc while it
#      served the load), and, from the writer's debug log, the mean batch
#      size, the mean time to store and commit a batch, and the mean time of
#      the index hook per batch.
#
# Environment: SEEDS ("31 32 33"), REQUESTS (150000), CLIENTS (64), PORT
# (18471), WORK (/tmp/civicmap-ingest1m), SKIP_BUILD (0), BINS
# (target/release/civicmap), LOAD (target/release/examples/ingest_load).
set -euo pipefail

SEEDS=${SEEDS:-31 32 33}
REQUESTS=${REQUESTS:-150000}
CLIENTS=${CLIENTS:-64}
PORT=${PORT:-18471}
WORK=${WORK:-/tmp/civicmap-ingest1m}
SKIP_BUILD=${SKIP_BUILD:-0}

cd "$(dirname "$0")/.."
if [[ $SKIP_BUILD != 1 ]]; then
    cargo build --release --quiet --bin civicmap --example ingest_load
fi
BINS=${BINS:-$PWD/target/release/civicmap}
LOAD=${LOAD:-$PWD/target/release/examples/ingest_load}
FIRST_BIN=${BINS%% *}
mkdir -p "$WORK"
BASE=$WORK/base
RUN=$WORK/run
strip_ansi() { sed -e 's/\x1b\[[0-9;]*m//g'; }

# shellcheck source=benches/support/server.sh
source benches/support/server.sh
trap stop_server EXIT

if [[ ! -f $BASE/civicmap.db ]]; then
    echo "making the 1M data dir in $BASE (once)"
    "$FIRST_BIN" generate --reports 1000000 --seed 42 --out "$WORK/reports.csv"
    rm -rf "$BASE"
    "$FIRST_BIN" import reports --data-dir "$BASE" "$WORK/reports.csv" >/dev/null
fi

# Mean of `key=` over the debug lines holding `what`.
mean_of() {
    local what=$1 key=$2
    grep "$what" "$WORK/serve.log" | strip_ansi | awk -v k="$key" '
        { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) { s += a[2]; n++ } } }
        END { if (n) printf "%.0f", s / n; else printf "-" }'
}

for seed in $SEEDS; do
    for bin in $BINS; do
        rm -rf "$RUN"
        cp -r "$BASE" "$RUN"
        key=$("$bin" keys create --data-dir "$RUN" --role app --name load 2>/dev/null)
        RUST_LOG=info,civicmap::store::writer=debug "$bin" serve --no-seed --data-dir "$RUN" \
            --listen "127.0.0.1:$PORT" --address-reports-per-minute 0 \
            --address-reports-per-day 0 >"$WORK/serve.log" 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 300); do
            curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
            sleep 0.1
        done
        cpu0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
        load=$(cut -d' ' -f1 /proc/loadavg)
        out=$(/usr/bin/time -f "client_cpu_s=%U+%S" "$LOAD" --url "http://127.0.0.1:$PORT" \
            --clients "$CLIENTS" --requests "$REQUESTS" --api-key "$key" --seed "$seed" 2>&1)
        cpu1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
        kill -INT "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
        rate=$(grep -o '[0-9]* reports/s; p50 [0-9.]* ms, p99 [0-9.]* ms' <<<"$out")
        client=$(grep -o 'client_cpu_s=.*' <<<"$out" | cut -d= -f2 | awk -F+ '{printf "%.2f", $1 + $2}')
        server=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / hz}')
        echo "bin=$(basename "$bin") seed=$seed load=$load: $rate; CPU s server $server client $client;" \
            "batch rows $(mean_of 'committed a batch' rows), commit us $(mean_of 'committed a batch' elapsed_us)," \
            "hook us $(mean_of 'ran the hook' elapsed_us)"
    done
done
