#!/usr/bin/env bash
# Boot with 1M stored reports: time to serving and index memory per report.
#
#   benches/boot_1m.sh                  # build, generate, import, measure
#   SKIP_BUILD=1 RUNS=5 benches/boot_1m.sh
#
# Steps (fixed seed, so every run stores the same reports):
#   1. `civicmap generate --reports $N --seed $SEED` (kept in $WORK and reused
#      when it already exists for the same N and seed);
#   2. `civicmap import reports` into a fresh data dir, timed (an offline
#      ingest figure: placement + attribution + batched commits);
#   3. a first `serve` on that dir (it also geocodes and stores the budget
#      projects, once per data dir), then $RUNS restarts: each is timed from
#      process start until `GET /health` answers 200 (curl every 20 ms), and
#      VmRSS / RssAnon / RssFile are read from /proc/PID/status right then;
#   4. the same on a fresh empty data dir (`--no-seed`);
#   bytes per report = (median RSS with N reports - median RSS empty) / N.
#
# Targets (2-core machine): boot to serving <= 3 s, <= 250 bytes per report.
# The page cache is warm (the import just wrote the file); a cold-cache boot
# is not measured here.
#
# Environment: N (1000000), SEED (42), RUNS (3), PORT (18431),
# WORK (/tmp/civicmap-boot1m), SKIP_BUILD (0), KEEP (0: delete the data dirs),
# BIN (target/release/civicmap: another binary to measure).
set -euo pipefail

N=${N:-1000000}
SEED=${SEED:-42}
RUNS=${RUNS:-3}
PORT=${PORT:-18431}
WORK=${WORK:-/tmp/civicmap-boot1m}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP=${KEEP:-0}

cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/civicmap}
if [[ $SKIP_BUILD != 1 ]]; then
    cargo build --release --quiet
fi
mkdir -p "$WORK"
CSV=$WORK/reports-$N-seed$SEED.csv
DIR_FULL=$WORK/data-$N
DIR_EMPTY=$WORK/data-empty
LOG=$WORK/log
mkdir -p "$LOG"

now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
strip_ansi() { sed -e 's/\x1b\[[0-9;]*m//g'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

# shellcheck source=benches/support/server.sh
source benches/support/server.sh
trap stop_server EXIT

# boot DIR TAG: starts the server, waits for /health 200, prints
# "boot_ms rss_kib anon_kib file_kib ref_ms index_ms", stops it.
boot() {
    local dir=$1 tag=$2 log=$LOG/serve-$2.log t0 code=000 ms
    t0=$(now_ns)
    "$BIN" serve --no-seed --data-dir "$dir" --listen "127.0.0.1:$PORT" 2>"$log" &
    SERVER_PID=$!
    while [[ $code != 200 ]]; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server died, see $log" >&2
            cat "$log" >&2
            exit 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/health" || true)
        [[ $code == 200 ]] || sleep 0.02
    done
    ms=$(ms_since "$t0")
    local st=/proc/$SERVER_PID/status
    local rss anon file
    rss=$(awk '/^VmRSS:/ {print $2}' "$st")
    anon=$(awk '/^RssAnon:/ {print $2}' "$st")
    file=$(awk '/^RssFile:/ {print $2}' "$st")
    stop_server
    local ref idx
    ref=$(strip_ansi <"$log" | sed -n 's/.*ms=\([0-9]*\).*reference data loaded.*/\1/p; s/.*reference data loaded.*ms=\([0-9]*\).*/\1/p' | head -1)
    idx=$(strip_ansi <"$log" | sed -n 's/.*ms=\([0-9]*\).*index rebuilt.*/\1/p; s/.*index rebuilt.*ms=\([0-9]*\).*/\1/p' | head -1)
    echo "$ms $rss $anon $file ${ref:-?} ${idx:-?}"
}

# measure DIR NAME: a first boot (one-time project import), then RUNS restarts.
measure() {
    local dir=$1 name=$2 i line
    line=$(boot "$dir" "$name-first")
    printf '%-6s first boot : %s\n' "$name" "$(fmt "$line")" >&2
    for i in $(seq 1 "$RUNS"); do
        line=$(boot "$dir" "$name-$i")
        printf '%-6s restart %d  : %s\n' "$name" "$i" "$(fmt "$line")" >&2
        echo "$line"
    done
}
fmt() {
    read -r ms rss anon file ref idx <<<"$1"
    echo "to /health 200 ${ms} ms (reference data loaded ${ref} ms, index rebuilt ${idx} ms); VmRSS ${rss} KiB (anon ${anon}, file ${file})"
}

echo "civicmap boot benchmark: N=$N seed=$SEED runs=$RUNS, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); repo $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src 2>/dev/null || echo '+uncommitted src'); binary $BIN ($(date -r "$BIN" '+%F %T'))" >&2

if [[ ! -s $CSV ]]; then
    t0=$(now_ns)
    "$BIN" generate --reports "$N" --seed "$SEED" --out "$CSV.tmp" 2>"$LOG/generate.log"
    mv "$CSV.tmp" "$CSV"
    echo "generate: $N reports in $(ms_since "$t0") ms -> $CSV ($(du -h "$CSV" | cut -f1))" >&2
else
    echo "generate: reusing $CSV" >&2
fi

rm -rf "$DIR_FULL" "$DIR_EMPTY"
mkdir -p "$DIR_FULL" "$DIR_EMPTY"
t0=$(now_ns)
"$BIN" import reports --data-dir "$DIR_FULL" "$CSV" >"$LOG/import.out" 2>"$LOG/import.log"
import_ms=$(ms_since "$t0")
echo "import: $(tail -1 "$LOG/import.out") in $import_ms ms = $(( N * 1000 / (import_ms > 0 ? import_ms : 1) )) reports/s; store $(du -sh "$DIR_FULL" | cut -f1)" >&2

full=$(measure "$DIR_FULL" full)
empty=$(measure "$DIR_EMPTY" empty)

boot_full=$(awk '{print $1}' <<<"$full" | median)
boot_empty=$(awk '{print $1}' <<<"$empty" | median)
rss_full=$(awk '{print $2}' <<<"$full" | median)
rss_empty=$(awk '{print $2}' <<<"$empty" | median)
anon_full=$(awk '{print $3}' <<<"$full" | median)
anon_empty=$(awk '{print $3}' <<<"$empty" | median)
bpr=$(( (rss_full - rss_empty) * 1024 / N ))
bpr_anon=$(( (anon_full - anon_empty) * 1024 / N ))

echo
echo "import reports ($N, seed $SEED): $import_ms ms, $(( N * 1000 / (import_ms > 0 ? import_ms : 1) )) reports/s"
echo "boot to /health 200, median of $RUNS restarts: $N reports ${boot_full} ms (target <= 3000 ms); empty ${boot_empty} ms"
echo "VmRSS median: $N reports ${rss_full} KiB, empty ${rss_empty} KiB -> ${bpr} bytes/report (target <= 250)"
echo "RssAnon median: $N reports ${anon_full} KiB, empty ${anon_empty} KiB -> ${bpr_anon} bytes/report"

if [[ $KEEP != 1 ]]; then
    rm -rf "$DIR_FULL" "$DIR_EMPTY"
fi
