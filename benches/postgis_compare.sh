#!/usr/bin/env bash
# civicmap against PostGIS: the same report point tiles from the same data,
# tiles/s and latency at the same concurrency, and the ratio.
#
#   sudo benches/postgis_compare.sh          # install, build, load, check, measure
#   SKIP_BUILD=1 DURATION=60 RUNS=5 benches/postgis_compare.sh
#
# Needs root: it installs what is missing with apt (postgresql-15-postgis-3,
# on a machine with PostgreSQL 15) and creates a throw-away PostgreSQL
# cluster of its own ($PG_CLUSTER, unix socket only, port $PGPORT, local
# trust authentication; dropped at exit unless KEEP=1), so that its settings
# are the script's and not the machine's: shared_buffers 512MB (the table and
# its index, ~160 MB at 1M reports, stay in memory, as civicmap's index
# does), jit off, everything else at PostgreSQL's defaults.
#
# Steps (fixed seed, so every run sees the same reports and tiles):
#   1. `civicmap generate --reports $N --seed $SEED` (kept in $WORK; reused
#      from benches/boot_1m.sh's work dir when it already made that file);
#   2. PostGIS: COPY of the CSV, then a table `reports` with what the
#      civicmap `reports` point layer carries (id = line in the file, as
#      civicmap numbers an import into an empty store; kind `anomaly`, the
#      category code from data/dansmarue_taxonomy.csv, status `new`, created
#      day) and the point in EPSG:3857; GiST index, CLUSTER on it (the usual
#      tuning of a tile table), VACUUM ANALYZE;
#   3. civicmap: `civicmap import reports` of the same CSV into a fresh data
#      dir, served with `--no-seed --tile-cache-mb 0`;
#   4. the tile list: positions of $PICKS_Z14 / $PICKS_Z15 / $PICKS_Z16 random
#      reports (PostgreSQL's setseed from $SEED) and the z14 / z15 / z16 tiles
#      holding them, so tiles are drawn as often as they hold reports, like
#      a map looked at where the reports are;
#   5. the check: every distinct tile of the list from PostGIS (the query
#      below) and from civicmap with --tile-max-points 50000 (its maximum: a
#      point tile over the limit is drawn as H3 hexagons), decoded and
#      compared feature by feature (examples/tile_replay.rs `check`). Tiles
#      that civicmap draws as hexagons all the same (over 50,000 points, or
#      over 500 KB gzipped) are left out of the measured list: the rest is
#      equal work;
#   6. the measurements, $RUNS times, each after the machine is quiet
#      (idle CPU >= $MIN_IDLE % over 5 s, waiting up to $IDLE_WAIT s):
#      a. PostGIS: pgbench, $CLIENTS clients, prepared statements, $DURATION s
#         (after $WARMUP s unmeasured); one transaction is one tile of the
#         list, taken in list order from a sequence, by a plpgsql function
#         running the Martin / pg_tileserv query
#           SELECT ST_AsMVT(q, 'reports', 4096, 'geom', 'id') FROM (
#             SELECT id, kind, category, status, created,
#                    ST_AsMVTGeom(geom, ST_TileEnvelope(z, x, y), 4096, 64, true) AS geom
#             FROM reports
#             WHERE geom && ST_TileEnvelope(z, x, y, margin => 64.0 / 4096)) q
#         This is PostGIS without HTTP and without gzip, over a unix socket:
#         a lower bound on what a PostGIS tile server spends per tile;
#      b. civicmap over HTTP, cache off, gzip asked for (as browsers do),
#         `tile_replay load`: the same list in the same order, the same
#         clients and durations; with --tile-max-points 50000 (equal work:
#         every point shipped, as PostGIS does);
#      c. the same with civicmap's defaults (tiles over 5,000 points drawn as
#         hexagons): what civicmap really serves, not equal work.
#   Each figure is printed with the load average at its start and end, the
#   CPU this side used (client and server: pgbench, the PostgreSQL backends;
#   tile_replay, civicmap) and what other processes used meanwhile, in
#   cores, from /proc. Server and load client share the machine's cores, and
#   so do other users': when the machine is busy, the scheduler shares CPU
#   by runnable thread, so 32 PostgreSQL backends take more of it from
#   others than civicmap's few threads do. Hence also tiles per CPU-second
#   (tiles/s divided by the cores this side used), the figure that the
#   others' load disturbs least.
#
# Not compared: the hexagon layer (civicmap's reports_h3, below z14). A PostGIS
# equivalent needs the h3-pg extension, which Debian does not package
# (no postgresql-15-h3); the script says whether apt has it now.
#
# Environment: N (1000000), SEED (42), CLIENTS (32), DURATION (30), WARMUP (5),
# RUNS (3), PORT (18432: civicmap), PGPORT (54329), PG_CLUSTER
# (civicmap_bench), PICKS_Z14 (100), PICKS_Z15 (500), PICKS_Z16 (500),
# MIN_IDLE (80), IDLE_WAIT (300), WORK (/tmp/civicmap-postgis), SKIP_BUILD
# (0), KEEP (0: drop the cluster and the data dir at exit).
set -euo pipefail

N=${N:-1000000}
SEED=${SEED:-42}
CLIENTS=${CLIENTS:-32}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
RUNS=${RUNS:-3}
PORT=${PORT:-18432}
PGPORT=${PGPORT:-54329}
PG_VERSION=15
PG_CLUSTER=${PG_CLUSTER:-civicmap_bench}
PICKS_Z14=${PICKS_Z14:-100}
PICKS_Z15=${PICKS_Z15:-500}
PICKS_Z16=${PICKS_Z16:-500}
MIN_IDLE=${MIN_IDLE:-80}
IDLE_WAIT=${IDLE_WAIT:-300}
WORK=${WORK:-/tmp/civicmap-postgis}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP=${KEEP:-0}
MAX_POINTS=50000

if [[ $EUID != 0 ]]; then
    echo "run as root: the script installs packages and creates a PostgreSQL cluster" >&2
    exit 1
fi

cd "$(dirname "$0")/.."
REPO=$PWD
BIN=$REPO/target/release/civicmap
REPLAY=$REPO/target/release/examples/tile_replay
CSV=$WORK/reports-$N-seed$SEED.csv
DATA=$WORK/data-$N
LOG=$WORK/log
PGSOCK=/var/run/postgresql
DB=civicmap_bench
mkdir -p "$WORK" "$LOG"

now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
say() { echo "$*" >&2; }

# --- packages ---------------------------------------------------------------
if [[ ! -x /usr/lib/postgresql/$PG_VERSION/bin/postgres ]]; then
    say "PostgreSQL $PG_VERSION is not installed"
    exit 1
fi
if [[ ! -e /usr/share/postgresql/$PG_VERSION/extension/postgis.control ]] || ! command -v pgbench >/dev/null; then
    say "installing postgresql-$PG_VERSION-postgis-3"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_VERSION-postgis-3" "postgresql-client-$PG_VERSION" >"$LOG/apt.log"
fi
if apt-cache policy "postgresql-$PG_VERSION-h3" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "note: apt now has postgresql-$PG_VERSION-h3; this script still compares point tiles only"
else
    say "h3-pg: not packaged for apt (postgresql-$PG_VERSION-h3), so the hexagon tiles are not compared"
fi

# --- build and data ---------------------------------------------------------
if [[ $SKIP_BUILD != 1 ]]; then
    cargo build --release --quiet
    cargo build --release --quiet --example tile_replay
fi
for b in "$BIN" "$REPLAY"; do
    [[ -x $b ]] || { say "missing $b: run without SKIP_BUILD=1"; exit 1; }
done

if [[ ! -s $CSV && -s /tmp/civicmap-boot1m/reports-$N-seed$SEED.csv ]]; then
    cp /tmp/civicmap-boot1m/reports-"$N"-seed"$SEED".csv "$CSV"
    say "generate: copied from benches/boot_1m.sh's work dir"
fi
if [[ ! -s $CSV ]]; then
    t0=$(now_ns)
    "$BIN" generate --reports "$N" --seed "$SEED" --out "$CSV.tmp" 2>"$LOG/generate.log"
    mv "$CSV.tmp" "$CSV"
    say "generate: $N reports in $(ms_since "$t0") ms -> $CSV"
else
    say "generate: reusing $CSV"
fi

# --- cleanup ------------------------------------------------------------------
# shellcheck source=benches/support/server.sh
source benches/support/server.sh
cluster_exists() { pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c {f = 1} END {exit !f}'; }
cleanup() {
    stop_server
    if [[ $KEEP != 1 ]]; then
        if cluster_exists; then pg_dropcluster --stop "$PG_VERSION" "$PG_CLUSTER" || true; fi
        rm -rf "$DATA" "$WORK/reference.tsv" "$WORK"/pgbench-*
    fi
}
trap cleanup EXIT

# --- PostGIS ------------------------------------------------------------------
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres -d "$DB" "$@"; }

if cluster_exists; then
    pg_dropcluster --stop "$PG_VERSION" "$PG_CLUSTER"
fi
pg_createcluster -p "$PGPORT" -o shared_buffers=512MB -o jit=off -o listen_addresses= \
    "$PG_VERSION" "$PG_CLUSTER" -- --auth-local=trust --auth-host=reject >"$LOG/pg_createcluster.log"
pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
psql -X -q -h "$PGSOCK" -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
PG_VERSION_FULL=$(psql_ -Atc "SELECT current_setting('server_version')")
psql_ -c "CREATE EXTENSION postgis"
POSTGIS_VERSION=$(psql_ -Atc "SELECT postgis_lib_version()")
say "PostgreSQL $PG_VERSION_FULL, PostGIS $POSTGIS_VERSION: cluster $PG_VERSION/$PG_CLUSTER on port $PGPORT"

t0=$(now_ns)
psql_ <<'SQL'
CREATE UNLOGGED TABLE reports_csv (line bigserial, id_dmr text, type text, soustype text,
    adresse text, datedecl text, prefixe text, latitude float8, longitude float8);
CREATE UNLOGGED TABLE taxonomy_csv (category text, category_label text, subcategory text,
    subcategory_label text, sample_count int);
SQL
psql_ -c "COPY reports_csv (id_dmr, type, soustype, adresse, datedecl, prefixe, latitude, longitude) FROM STDIN WITH (FORMAT csv, HEADER true)" <"$CSV"
psql_ -c "COPY taxonomy_csv FROM STDIN WITH (FORMAT csv, HEADER true)" <"$REPO/data/dansmarue_taxonomy.csv"
psql_ <<'SQL'
CREATE TABLE reports AS
SELECT c.line AS id, 'anomaly'::text AS kind, t.category, 'new'::text AS status,
       c.datedecl AS created,
       ST_Transform(ST_SetSRID(ST_MakePoint(c.longitude, c.latitude), 4326), 3857)::geometry(Point, 3857) AS geom
FROM reports_csv c
JOIN (SELECT DISTINCT category, category_label FROM taxonomy_csv) t ON t.category_label = c.type;
ALTER TABLE reports ADD PRIMARY KEY (id);
CREATE INDEX reports_geom ON reports USING gist (geom);
CLUSTER reports USING reports_geom;
DROP TABLE reports_csv, taxonomy_csv;
VACUUM ANALYZE reports;

CREATE FUNCTION tile_mvt(tz int, tx int, ty int) RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE mvt bytea;
BEGIN
    SELECT ST_AsMVT(q, 'reports', 4096, 'geom', 'id') INTO mvt FROM (
        SELECT id, kind, category, status, created,
               ST_AsMVTGeom(geom, ST_TileEnvelope(tz, tx, ty), 4096, 64, true) AS geom
        FROM reports
        WHERE geom && ST_TileEnvelope(tz, tx, ty, margin => 64.0 / 4096)) q;
    RETURN mvt;
END $$;
CREATE TABLE bench_mix (i int PRIMARY KEY, z int, x int, y int);
CREATE SEQUENCE bench_seq MINVALUE 0 START 0;
SQL
rows=$(psql_ -Atc "SELECT count(*) FROM reports")
say "postgis load: $rows reports in $(ms_since "$t0") ms; table $(psql_ -Atc "SELECT pg_size_pretty(pg_relation_size('reports'))"), GiST $(psql_ -Atc "SELECT pg_size_pretty(pg_relation_size('reports_geom'))")"

# The tile list: tiles of random reports' positions.
psql_ -v seed="$SEED" -v z14="$PICKS_Z14" -v z15="$PICKS_Z15" -v z16="$PICKS_Z16" -v n="$rows" <<'SQL'
SELECT setseed(:seed::float8 / 2147483648) \g /dev/null
CREATE TABLE bench_tiles AS
WITH picks AS (
    SELECT row_number() OVER () - 1 AS i, z, (floor(random() * :n) + 1)::bigint AS rid
    FROM (VALUES (14, :z14), (15, :z15), (16, :z16)) v(z, cnt), generate_series(1, cnt) g
)
SELECT p.i::int AS i, p.z,
    floor((ST_X(r.geom) + 20037508.342789244) / 40075016.685578488 * (1 << p.z))::int AS x,
    floor((20037508.342789244 - ST_Y(r.geom)) / 40075016.685578488 * (1 << p.z))::int AS y
FROM picks p JOIN reports r ON r.id = p.rid;
SQL
psql_ -c "COPY (SELECT z, x, y FROM bench_tiles ORDER BY i) TO STDOUT" >"$WORK/picks.txt"
say "tiles: $(wc -l <"$WORK/picks.txt") picks ($PICKS_Z14 z14, $PICKS_Z15 z15, $PICKS_Z16 z16), $(sort -u "$WORK/picks.txt" | wc -l) distinct; list md5 $(md5sum <"$WORK/picks.txt" | cut -c1-12)"

# --- civicmap -----------------------------------------------------------------
rm -rf "$DATA"
mkdir -p "$DATA"
t0=$(now_ns)
"$BIN" import reports --data-dir "$DATA" "$CSV" >"$LOG/import.out" 2>"$LOG/import.log"
say "civicmap import: $(tail -1 "$LOG/import.out") in $(ms_since "$t0") ms"

# start_server TAG [serve flags...]: serves $DATA, waits for /health 200.
start_server() {
    local tag=$1 code=000
    shift
    "$BIN" serve --no-seed --data-dir "$DATA" --tile-cache-mb 0 --listen "127.0.0.1:$PORT" "$@" 2>"$LOG/serve-$tag.log" &
    SERVER_PID=$!
    while [[ $code != 200 ]]; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            say "civicmap serve died, see $LOG/serve-$tag.log"
            cat "$LOG/serve-$tag.log" >&2
            exit 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/health" || true)
        [[ $code == 200 ]] || sleep 0.1
    done
}

# --- check: equal work --------------------------------------------------------
psql_ -c "COPY (SELECT z, x, y, encode(tile_mvt(z, x, y), 'hex') FROM (SELECT DISTINCT z, x, y FROM bench_tiles) t ORDER BY z, x, y) TO STDOUT" >"$WORK/reference.tsv"
start_server check --tile-max-points "$MAX_POINTS"
"$REPLAY" check --url "http://127.0.0.1:$PORT" --reference "$WORK/reference.tsv" --points-list "$WORK/points.txt" | tee "$LOG/check.txt" >&2
stop_server
CHECK=$(tail -1 "$LOG/check.txt")
if [[ $(grep -o 'mismatched=[0-9]*' <<<"$CHECK") != mismatched=0 ]]; then
    say "the check found tiles that differ beyond the buffer edge: not equal work, see $LOG/check.txt"
    exit 1
fi
# The measured list: the picks whose tile civicmap draws as points.
awk 'NR == FNR {keep[$1 " " $2 " " $3] = 1; next} ($1 " " $2 " " $3) in keep {print $1, $2, $3}' \
    "$WORK/points.txt" "$WORK/picks.txt" >"$WORK/mix.txt"
NTILES=$(wc -l <"$WORK/mix.txt")
awk '{print NR - 1 "\t" $1 "\t" $2 "\t" $3}' "$WORK/mix.txt" | psql_ -c "COPY bench_mix FROM STDIN"
psql_ -c "VACUUM ANALYZE bench_mix"
MIX_POINTS=$(psql_ -Atc "SELECT round(avg(n)) FROM bench_mix m, LATERAL (SELECT count(*) AS n FROM reports WHERE geom && ST_TileEnvelope(m.z, m.x, m.y, margin => 64.0 / 4096)) c")
MIX_ZOOMS=$(awk '{n[$1]++} END {for (z in n) printf "%s z%s, ", n[z], z}' "$WORK/mix.txt" | sed 's/, $//')
MIX_PG_KB=$(awk 'NR == FNR {b[$1 " " $2 " " $3] = length($4) / 2; next} {s += b[$1 " " $2 " " $3]; n++} END {printf "%.1f", s / n / 1e3}' \
    "$WORK/reference.tsv" "$WORK/mix.txt")
say "measured list: $NTILES tiles ($MIX_ZOOMS), $(( $(wc -l <"$WORK/picks.txt") - NTILES )) picks left out (civicmap draws them as hexagons at any setting); $MIX_POINTS points per tile on average; PostGIS tiles ${MIX_PG_KB} KB on average (uncompressed)"

cat >"$WORK/tile.pgbench" <<'SQL'
SELECT tile_mvt(z, x, y) FROM bench_mix WHERE i = (SELECT nextval('bench_seq') % :ntiles);
SQL

# --- measurement helpers ------------------------------------------------------
busy_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
idle_jiffies() { awk '/^cpu / {print $5 + $6; exit}' /proc/stat; }
# CPU of one process and its waited-for children (utime stime cutime cstime).
proc_jiffies() { [[ -r /proc/$1/stat ]] && awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" || echo 0; }
postmaster_pid() { head -1 "/var/lib/postgresql/$PG_VERSION/$PG_CLUSTER/postmaster.pid"; }
# MEAS_SELF: the (sub)shell that runs and waits for the load client.
ours_jiffies() {
    local t
    t=$(( $(proc_jiffies "$MEAS_SELF") + $(proc_jiffies "$(postmaster_pid)") ))
    if [[ -n $SERVER_PID ]]; then t=$(( t + $(proc_jiffies "$SERVER_PID") )); fi
    echo "$t"
}
wait_quiet() {
    local waited=0 b0 i0 b1 i1 idle
    while :; do
        b0=$(busy_jiffies); i0=$(idle_jiffies)
        sleep 5
        b1=$(busy_jiffies); i1=$(idle_jiffies)
        idle=$(( 100 * (i1 - i0) / ((b1 - b0) + (i1 - i0) + 1) ))
        if (( idle >= MIN_IDLE )); then break; fi
        if (( waited >= IDLE_WAIT )); then
            say "  machine still busy (idle ${idle} %, load $(loadavg)) after ${waited} s: measuring anyway"
            return
        fi
        say "  machine busy (idle ${idle} %, load $(loadavg)): waiting"
        sleep 10
        waited=$(( waited + 15 ))
    done
}
# begin_measure notes the load, CPU times and clock (called by the shell that
# then runs the client); end_measure prints the context of the measurement.
begin_measure() { MEAS_SELF=$BASHPID; MEAS_LOAD0=$(loadavg); MEAS_B0=$(busy_jiffies); MEAS_O0=$(ours_jiffies); MEAS_T0=$(now_ns); }
end_measure() {
    local b1 o1 ms hz
    b1=$(busy_jiffies); o1=$(ours_jiffies); ms=$(ms_since "$MEAS_T0"); hz=$(getconf CLK_TCK)
    awk -v l0="$MEAS_LOAD0" -v l1="$(loadavg)" -v b="$(( b1 - MEAS_B0 ))" -v o="$(( o1 - MEAS_O0 ))" -v ms="$ms" -v hz="$hz" \
        'BEGIN {other = (b - o) / hz / (ms / 1000); if (other < 0) other = 0; printf "%.2f %.2f %s %s", o / hz / (ms / 1000), other, l0, l1}'
}
# One result line: tiles/s p50 p99 tiles-per-CPU-second, then the context.
result() {
    local tps=$1 p50=$2 p99=$3 ctx=$4 extra=${5:-}
    read -r ours others l0 l1 <<<"$ctx"
    awk -v t="$tps" -v a="$p50" -v b="$p99" -v ours="$ours" -v others="$others" -v l0="$l0" -v l1="$l1" -v x="$extra" \
        'BEGIN {printf "%.1f %.2f %.2f %.0f load %s->%s, ours %.2f cores, others %.2f cores%s\n", t, a, b, t / (ours > 0 ? ours : 1), l0, l1, ours, others, x}'
}

# pg_run TAG: one pgbench measurement; prints "tiles_per_s p50_ms p99_ms context".
pg_run() {
    local tag=$1 dir=$WORK/pgbench-$1 tps
    rm -rf "$dir"; mkdir -p "$dir"
    local args=(-h "$PGSOCK" -p "$PGPORT" -U postgres -n -M prepared -f "$WORK/tile.pgbench" -D "ntiles=$NTILES" -c "$CLIENTS" -j 2)
    psql_ -Atc "SELECT setval('bench_seq', 0, false)" >/dev/null
    pgbench "${args[@]}" -T "$WARMUP" "$DB" >"$LOG/pgbench-$tag-warmup.txt" 2>&1
    psql_ -Atc "SELECT setval('bench_seq', 0, false)" >/dev/null
    wait_quiet
    begin_measure
    pgbench "${args[@]}" -T "$DURATION" -l --log-prefix="$dir/tx" "$DB" >"$LOG/pgbench-$tag.txt" 2>&1
    local ctx
    ctx=$(end_measure)
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$LOG/pgbench-$tag.txt")
    [[ -n $tps ]] || { say "pgbench failed, see $LOG/pgbench-$tag.txt"; cat "$LOG/pgbench-$tag.txt" >&2; exit 1; }
    # Log lines: client transaction latency_us script epoch epoch_us.
    local pct
    pct=$(cat "$dir"/tx.* | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {printf "%.2f %.2f", a[int(NR * 0.5) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000}')
    read -r p50 p99 <<<"$pct"
    result "$tps" "$p50" "$p99" "$ctx"
}

# cm_run TAG: one civicmap measurement (the server is running).
cm_run() {
    local tag=$1 out ctx
    wait_quiet
    begin_measure
    out=$("$REPLAY" load --url "http://127.0.0.1:$PORT" --tiles "$WORK/mix.txt" --clients "$CLIENTS" --duration "$DURATION" --warmup "$WARMUP")
    ctx=$(end_measure)
    echo "$out" >"$LOG/civicmap-$tag.txt"
    if [[ $(grep -o 'errors=[0-9]*' <<<"$out") != errors=0 ]]; then say "civicmap answered errors: $out"; fi
    local v
    v=$(awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}}
        END {print v["tiles_per_s"], v["p50_ms"], v["p99_ms"], v["kb_mean"]}' <<<"$out")
    read -r tps p50 p99 kb <<<"$v"
    result "$tps" "$p50" "$p99" "$ctx" ", $kb KB gzip per tile"
}

# --- measurements -------------------------------------------------------------
say "civicmap vs PostGIS: N=$N seed=$SEED, $NTILES tiles, $CLIENTS clients, ${DURATION} s (+${WARMUP} s warm-up) x $RUNS runs, $(nproc) cores shared by server and client; repo $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src 2>/dev/null || echo '+uncommitted src')"
RES_PG=() RES_EQ=() RES_DEF=()
for run in $(seq 1 "$RUNS"); do
    line=$(pg_run "$run"); RES_PG+=("$line")
    say "run $run PostGIS ST_AsMVT (pgbench)        : $line"
    start_server "equal-$run" --tile-max-points "$MAX_POINTS"
    line=$(cm_run "equal-$run"); RES_EQ+=("$line")
    say "run $run civicmap --tile-max-points $MAX_POINTS: $line"
    stop_server
    start_server "default-$run"
    line=$(cm_run "default-$run"); RES_DEF+=("$line")
    say "run $run civicmap defaults (5000)          : $line"
    stop_server
done

# median COLUMN LINES...: the median of one column over the runs.
median() {
    local col=$1
    shift
    printf '%s\n' "$@" | awk -v c="$col" '{print $c}' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
row() {
    local name=$1
    shift
    printf '%-50s %8s %7s %7s %9s\n' "$name" "$(median 1 "$@")" "$(median 2 "$@")" "$(median 3 "$@")" "$(median 4 "$@")"
    printf '    run: %s\n' "$@"
}
pg_tps=$(median 1 "${RES_PG[@]}")
eq_tps=$(median 1 "${RES_EQ[@]}")
def_tps=$(median 1 "${RES_DEF[@]}")
pg_eff=$(median 4 "${RES_PG[@]}")
eq_eff=$(median 4 "${RES_EQ[@]}")
def_eff=$(median 4 "${RES_DEF[@]}")

echo
echo "civicmap vs PostGIS $POSTGIS_VERSION (PostgreSQL $PG_VERSION_FULL), $N reports (seed $SEED), $NTILES tiles ($MIX_ZOOMS; $MIX_POINTS points per tile on average), $CLIENTS clients, ${DURATION} s, median of $RUNS run(s), $(nproc) cores shared by server and client"
echo "check ($LOG/check.txt): $CHECK"
printf '%-50s %8s %7s %7s %9s\n' "side (median of the runs)" "tiles/s" "p50 ms" "p99 ms" "tiles/CPU-s"
row "PostGIS ST_AsMVT, pgbench (no HTTP, no gzip)" "${RES_PG[@]}"
row "civicmap HTTP+gzip, --tile-max-points $MAX_POINTS" "${RES_EQ[@]}"
row "civicmap HTTP+gzip, defaults (hexagons > 5000)" "${RES_DEF[@]}"
awk -v p="$pg_tps" -v e="$eq_tps" -v d="$def_tps" -v pe="$pg_eff" -v ee="$eq_eff" -v de="$def_eff" 'BEGIN {
    printf "ratio civicmap/PostGIS, tiles/s: %.2f (equal work: every point), %.2f (civicmap defaults)\n", e / p, d / p
    printf "ratio civicmap/PostGIS, tiles per CPU-second: %.2f (equal work), %.2f (civicmap defaults)\n", ee / pe, de / pe }'
