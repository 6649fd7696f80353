#!/usr/bin/env bash
# Running tallies over HTTP with 1M stored reports: the first published and
# analyst district tables of each tallied layer (the first builds the layer's
# tallies), the next ones, and the memory the tallies add.
#
#   KEEP=1 benches/boot_1m.sh            # once: builds the 1M data dir
#   SKIP_BUILD=1 RUNS=2 benches/tallies_1m.sh
#
# Per run: a fresh `serve` on the 1M dir; per layer (quartier,
# arrondissement, conseil_quartier, working_class), `GET
# /api/v1/stats/districts?layer=L&from=2024-01-01T00:00:00Z&to=2024-07-01T00:00:00Z&kind=anomaly`
# twice without a key (published, k = 5) then twice with an analyst key
# (unsuppressed), each timed by curl (time_total, ms); RssAnon of the server
# after boot and after each layer.
#
# Environment: N (1000000), RUNS (2), PORT (18432), WORK (/tmp/civicmap-boot1m,
# the data dir of boot_1m.sh), SKIP_BUILD (0), BIN (target/release/civicmap).
set -euo pipefail

N=${N:-1000000}
RUNS=${RUNS:-2}
PORT=${PORT:-18432}
WORK=${WORK:-/tmp/civicmap-boot1m}
SKIP_BUILD=${SKIP_BUILD:-0}

cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/civicmap}
if [[ $SKIP_BUILD != 1 ]]; then
    cargo build --release --quiet
fi
DIR=$WORK/data-$N
if [[ ! -d $DIR ]]; then
    echo "no data dir $DIR: run KEEP=1 benches/boot_1m.sh first" >&2
    exit 1
fi
LOG=$WORK/log
mkdir -p "$LOG"

# shellcheck source=benches/support/server.sh
source benches/support/server.sh
trap stop_server EXIT

KEY=$("$BIN" keys create --data-dir "$DIR" --role analyst --name "tallies-bench-$$" 2>/dev/null | tail -n 1)
anon() { awk '/^RssAnon/ {print $2}' "/proc/$SERVER_PID/status"; }
# get LAYER [KEY]: prints the time of one request in ms; fails unless 200.
get() {
    local url="http://127.0.0.1:$PORT/api/v1/stats/districts?layer=$1&from=2024-01-01T00:00:00Z&to=2024-07-01T00:00:00Z&kind=anomaly"
    local auth=()
    [[ -n ${2:-} ]] && auth=(-H "Authorization: Bearer $2")
    local out
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "${auth[@]}" "$url")
    [[ ${out%% *} == 200 ]] || { echo "GET $url: ${out%% *}" >&2; exit 1; }
    awk -v t="${out#* }" 'BEGIN {printf "%.1f", t * 1000}'
}

for run in $(seq 1 "$RUNS"); do
    "$BIN" serve --no-seed --data-dir "$DIR" --listen "127.0.0.1:$PORT" 2>"$LOG/tallies-$run.log" &
    SERVER_PID=$!
    until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/health"; do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG/tallies-$run.log" >&2; exit 1; }
        sleep 0.05
    done
    sleep 1
    echo "run $run: RssAnon after boot $(anon) KiB"
    printf '%-18s %10s %10s %10s %10s %14s\n' layer public1_ms public2_ms analyst1_ms analyst2_ms rss_anon_kib
    for layer in quartier arrondissement conseil_quartier working_class; do
        p1=$(get "$layer"); p2=$(get "$layer")
        a1=$(get "$layer" "$KEY"); a2=$(get "$layer" "$KEY")
        printf '%-18s %10s %10s %10s %10s %14s\n' "$layer" "$p1" "$p2" "$a1" "$a2" "$(anon)"
    done
    stop_server
done
