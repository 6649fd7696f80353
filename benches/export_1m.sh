#!/usr/bin/env bash
# Open-data exports of 1M stored reports over HTTP: rows/s and the server's
# memory before, during and after each export.
#
#   benches/export_1m.sh                  # build, generate, import, measure
#   SKIP_BUILD=1 RUNS=3 benches/export_1m.sh
#
# Steps (fixed seed, so every run exports the same reports):
#   1. `civicmap generate --reports $N --seed $SEED` (kept in $WORK and reused;
#      or $CSV when given);
#   2. `civicmap import reports` into $WORK/data-$N, once (kept for reruns);
#   3. `serve --no-seed` on that dir, wait for `GET /health`;
#   4. for each file (reports.csv, reports.geojson, reports.georeport.json,
#      reports.georeport.xml) $RUNS times: curl streams
#      `/api/v1/export/FILE` to /dev/null while VmRSS / RssAnon of the
#      server are read from /proc/PID/status every 100 ms; printed: bytes,
#      seconds (curl's time_total), rows/s (= stored reports / seconds), MB/s,
#      VmRSS before, peak during, after; RssAnon before and peak; RssFile
#      peak (KiB).
#
# Constant memory means: the heap (RssAnon) does not grow during an export
# nor from one export to the next. VmRSS also counts RssFile, the pages of
# the database file that SQLite's readers have memory-mapped (each of the 4
# reader connections maps the file, so a page read through several counts
# several times): it grows as the file is read and is page cache the kernel
# can take back, not memory the export holds.
#
# Environment: N (1000000), SEED (42), RUNS (2), PORT (18432),
# WORK (/tmp/civicmap-export1m), CSV (a DansMaRue CSV to import instead of
# generating one), SKIP_BUILD (0), BIN (target/release/civicmap).
set -euo pipefail

N=${N:-1000000}
SEED=${SEED:-42}
RUNS=${RUNS:-2}
PORT=${PORT:-18432}
WORK=${WORK:-/tmp/civicmap-export1m}
SKIP_BUILD=${SKIP_BUILD:-0}
FILES=${FILES:-reports.csv reports.geojson reports.georeport.json reports.georeport.xml}

cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/civicmap}
if [[ $SKIP_BUILD != 1 ]]; then
    cargo build --release --quiet
fi
mkdir -p "$WORK"
CSV=${CSV:-$WORK/reports-$N-seed$SEED.csv}
DIR=$WORK/data-$N
LOG=$WORK/log
mkdir -p "$LOG"

now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

# shellcheck source=benches/support/server.sh
source benches/support/server.sh
SAMPLER_PID=
cleanup() {
    if [[ -n $SAMPLER_PID ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    stop_server
}
trap cleanup EXIT

echo "civicmap export benchmark: N=$N seed=$SEED runs=$RUNS, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); repo $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src 2>/dev/null || echo '+uncommitted src'); binary $BIN ($(date -r "$BIN" '+%F %T'))" >&2

if [[ ! -s $CSV ]]; then
    t0=$(now_ns)
    "$BIN" generate --reports "$N" --seed "$SEED" --out "$CSV.tmp" 2>"$LOG/generate.log"
    mv "$CSV.tmp" "$CSV"
    echo "generate: $N reports in $(ms_since "$t0") ms -> $CSV" >&2
else
    echo "generate: reusing $CSV" >&2
fi

if [[ ! -s $DIR/imported ]]; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    t0=$(now_ns)
    "$BIN" import reports --data-dir "$DIR" "$CSV" >"$LOG/import.out" 2>"$LOG/import.log"
    echo "import: $(tail -1 "$LOG/import.out") in $(ms_since "$t0") ms; store $(du -sh "$DIR" | cut -f1)" >&2
    tail -1 "$LOG/import.out" >"$DIR/imported"
else
    echo "import: reusing $DIR ($(cat "$DIR/imported"))" >&2
fi

"$BIN" serve --no-seed --data-dir "$DIR" --listen "127.0.0.1:$PORT" 2>"$LOG/serve.log" &
SERVER_PID=$!
code=000
while [[ $code != 200 ]]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "server died, see $LOG/serve.log" >&2
        exit 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/health" || true)
    [[ $code == 200 ]] || sleep 0.05
done
ROWS=$(curl -s "http://127.0.0.1:$PORT/health" | sed -n 's/.*"reports":\([0-9]*\).*/\1/p')
echo "serving $ROWS reports (pid $SERVER_PID)" >&2

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
anon() { awk '/^RssAnon:/ {print $2}' "/proc/$SERVER_PID/status"; }
file() { awk '/^RssFile:/ {print $2}' "/proc/$SERVER_PID/status"; }

printf '%-24s %4s %12s %8s %10s %8s %12s %12s %12s %12s %12s %12s\n' \
    file run bytes seconds rows/s MB/s rss_before rss_peak rss_after anon_before anon_peak file_peak
for file in $FILES; do
    for run in $(seq 1 "$RUNS"); do
        sleep 1
        before=$(rss)
        anon_before=$(anon)
        samples=$LOG/rss-$file-$run
        : >"$samples"
        ( while kill -0 "$SERVER_PID" 2>/dev/null; do
              echo "$(rss) $(anon) $(file)" >>"$samples"
              sleep 0.1
          done ) &
        SAMPLER_PID=$!
        read -r bytes secs status < <(curl -s -o /dev/null \
            -w '%{size_download} %{time_total} %{http_code}\n' \
            "http://127.0.0.1:$PORT/api/v1/export/$file")
        kill "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
        SAMPLER_PID=
        sleep 1
        after=$(rss)
        if [[ $status != 200 ]]; then
            echo "$file: HTTP $status" >&2
            exit 1
        fi
        peak=$(awk 'BEGIN {m=0} $1>m {m=$1} END {print m}' "$samples")
        anon_peak=$(awk 'BEGIN {m=0} $2>m {m=$2} END {print m}' "$samples")
        file_peak=$(awk 'BEGIN {m=0} $3>m {m=$3} END {print m}' "$samples")
        printf '%-24s %4s %12s %8.2f %10.0f %8.1f %12s %12s %12s %12s %12s %12s\n' \
            "$file" "$run" "$bytes" "$secs" \
            "$(awk -v r="$ROWS" -v s="$secs" 'BEGIN {print r / s}')" \
            "$(awk -v b="$bytes" -v s="$secs" 'BEGIN {print b / s / 1e6}')" \
            "$before" "$peak" "$after" "$anon_before" "$anon_peak" "$file_peak"
    done
done
