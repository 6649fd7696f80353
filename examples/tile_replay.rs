//! Replays a fixed list of tiles against a running civicmap, or checks its
//! tiles feature by feature against reference tiles (e.g. PostGIS
//! `ST_AsMVT` output); used by `benches/postgis_compare.sh`.
//!
//! ```text
//! # load: TILES holds one "z x y" per line; the clients take the tiles in
//! # list order from a shared counter, wrapping around, for --duration s
//! # (after --warmup s unmeasured); gzip is asked for, as browsers do.
//! tile_replay load --url http://127.0.0.1:18432 --tiles TILES --clients 32 --duration 30
//! # check: REF holds "z<TAB>x<TAB>y<TAB>hex of an MVT tile" per line.
//! tile_replay check --url http://127.0.0.1:18432 --reference REF
//! ```
//!
//! `load` prints one `key=value` line: tiles, secs, tiles_per_s, p50_ms,
//! p99_ms, max_ms, errors, empty (204 answers), kb_mean (bytes on the wire).
//!
//! `check` fetches each tile of REF from civicmap (`/tiles/reports/...`,
//! gzip, as in `load`) and compares its `reports` layer with REF's: feature
//! count, feature ids, the properties `kind`, `category`, `status`,
//! `created` (and civicmap's `id` property against its feature id; REF may
//! carry the id as the feature id only), and point positions (civicmap
//! floors, PostGIS rounds: a difference of one tile unit is counted, not an
//! error). A tile civicmap drew as hexagons (`reports_h3`) is counted apart.
//! It prints one line per zoom and per outcome, a few mismatches in detail,
//! and a last `key=value` line.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mvt_reader::feature::Value;

mod support;

use clap::Parser;

/// `load`: replays a tile list; `check`: compares civicmap's tiles with a
/// reference list of points.
#[derive(Parser)]
struct Args {
    /// `load` or `check`.
    mode: String,
    /// Base URL of a running civicmap.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// File of tiles, "z x y" per line.
    #[arg(long)]
    tiles: Option<String>,
    /// Reference tiles (check): "z x y hex-encoded MVT" per line.
    #[arg(long)]
    reference: Option<String>,
    /// Where `check` writes the features per tile that it compared.
    #[arg(long)]
    points_list: Option<String>,
    /// Concurrent clients (load).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds measured (load).
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds played before measuring (load).
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
}

fn tile_path(z: u32, x: u32, y: u32) -> String {
    format!("/tiles/reports/{z}/{x}/{y}.mvt")
}

/// "z x y" per line (spaces or tabs; anything after y ignored).
fn read_tiles(path: &str) -> Vec<(u32, u32, u32, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            let mut num = || f.next().unwrap().parse::<u32>().unwrap();
            let (z, x, y) = (num(), num(), num());
            let rest = f.next().unwrap_or("").to_owned();
            (z, x, y, rest)
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .unwrap();
    match args.mode.as_str() {
        "load" => load(&args, http).await,
        "check" => check(&args, &http).await,
        other => panic!("unknown mode {other}: load or check"),
    }
}

/// One measured (or warm-up) period: (latencies, errors, bytes, empty, elapsed).
async fn run(
    http: &reqwest::Client,
    urls: &Arc<Vec<String>>,
    clients: usize,
    secs: f64,
) -> (Vec<Duration>, usize, usize, usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, urls, next) = (http.clone(), Arc::clone(urls), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut bytes, mut empty) =
                (Vec::new(), 0_usize, 0_usize, 0_usize);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % urls.len();
                let t = Instant::now();
                let r = http
                    .get(&urls[i])
                    .header("accept-encoding", "gzip")
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status() == 200 || resp.status() == 204 => {
                        empty += usize::from(resp.status() == 204);
                        match resp.bytes().await {
                            Ok(b) => {
                                bytes += b.len();
                                lat.push(t.elapsed());
                            }
                            Err(_) => errors += 1,
                        }
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors, bytes, empty)
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut bytes, mut empty) = (0, 0, 0);
    for t in tasks {
        let (l, e, b, m) = t.await.unwrap();
        all.extend(l);
        errors += e;
        bytes += b;
        empty += m;
    }
    (all, errors, bytes, empty, start.elapsed())
}

async fn load(args: &Args, http: reqwest::Client) {
    let tiles = read_tiles(args.tiles.as_deref().expect("--tiles FILE"));
    assert!(!tiles.is_empty(), "no tiles");
    let urls: Arc<Vec<String>> = Arc::new(
        tiles
            .iter()
            .map(|(z, x, y, _)| format!("{}{}", args.url, tile_path(*z, *x, *y)))
            .collect(),
    );
    if args.warmup > 0.0 {
        run(&http, &urls, args.clients, args.warmup).await;
    }
    let (mut lat, errors, bytes, empty, elapsed) =
        run(&http, &urls, args.clients, args.duration).await;
    let (p50, p99, max) = support::percentiles_ms(&mut lat);
    println!(
        "tiles={} secs={:.2} tiles_per_s={:.1} p50_ms={:.2} p99_ms={:.2} max_ms={:.1} errors={} empty={} kb_mean={:.1} clients={}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        p50,
        p99,
        max,
        errors,
        empty,
        bytes as f64 / lat.len().max(1) as f64 / 1e3,
        args.clients
    );
}

/// One decoded feature: id, properties as text, first point.
struct Feat {
    props: HashMap<String, String>,
    xy: (i32, i32),
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Int(i) | Value::SInt(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

/// Layers of a tile: name -> features by id (a feature without an id is
/// keyed by u64::MAX - its position, so it shows up as a mismatch).
fn decode(bytes: &[u8]) -> BTreeMap<String, HashMap<u64, Feat>> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes.to_vec()
    };
    let mut layers = BTreeMap::new();
    if bytes.is_empty() {
        return layers;
    }
    let reader = mvt_reader::Reader::new(bytes).unwrap();
    for meta in reader.get_layer_metadata().unwrap() {
        let mut feats = HashMap::new();
        for (n, f) in reader
            .get_features_as::<i32>(meta.layer_index)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            let xy = match &f.geometry {
                geo::Geometry::Point(p) => (p.x(), p.y()),
                geo::Geometry::MultiPoint(m) => m.0.first().map_or((0, 0), |p| (p.x(), p.y())),
                _ => (0, 0),
            };
            let props = f
                .properties
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect();
            let id = f.id.unwrap_or(u64::MAX - n as u64);
            feats.insert(id, Feat { props, xy });
        }
        layers.insert(meta.name, feats);
    }
    layers
}

fn hex_bytes(s: &str) -> Vec<u8> {
    let s = s.trim().trim_start_matches("\\x");
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[derive(Default)]
struct ZoomStats {
    tiles: usize,
    equal: usize,
    edge: usize,
    hexagons: usize,
    mismatched: usize,
    features: usize,
    reference_features: usize,
    edge_ids: usize,
    moved_1: usize,
    moved_more: usize,
}

impl ZoomStats {
    fn add(&mut self, o: &ZoomStats) {
        self.tiles += o.tiles;
        self.equal += o.equal;
        self.edge += o.edge;
        self.hexagons += o.hexagons;
        self.mismatched += o.mismatched;
        self.features += o.features;
        self.reference_features += o.reference_features;
        self.edge_ids += o.edge_ids;
        self.moved_1 += o.moved_1;
        self.moved_more += o.moved_more;
    }
}

/// Tile units of the buffer edge (64 units outside a 4096-unit tile).
const EDGES: [i32; 2] = [-64, 4096 + 64];

fn on_edge(f: &Feat) -> bool {
    EDGES.contains(&f.xy.0) || EDGES.contains(&f.xy.1)
}

async fn check(args: &Args, http: &reqwest::Client) {
    const PROPS: [&str; 4] = ["kind", "category", "status", "created"];
    let tiles = read_tiles(args.reference.as_deref().expect("--reference FILE"));
    let mut stats: BTreeMap<u32, ZoomStats> = BTreeMap::new();
    let mut details = Vec::new();
    let mut points_list = String::new();
    for (z, x, y, hex) in &tiles {
        let want = decode(&hex_bytes(hex));
        let url = format!("{}{}", args.url, tile_path(*z, *x, *y));
        let resp = http
            .get(&url)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let got = decode(&resp.bytes().await.unwrap());
        let s = stats.entry(*z).or_default();
        s.tiles += 1;
        let empty = HashMap::new();
        let want_pts = want.get("reports").unwrap_or(&empty);
        if got.contains_key("reports_h3") {
            s.hexagons += 1;
            details.push(format!(
                "{z}/{x}/{y}: civicmap drew {} hexagons (reference: {} points)",
                got["reports_h3"].len(),
                want_pts.len()
            ));
            continue;
        }
        points_list.push_str(&format!("{z} {x} {y}\n"));
        let got_pts = got.get("reports").unwrap_or(&empty);
        let mut problems = Vec::new();
        if !status.is_success() {
            problems.push(format!("HTTP {status}"));
        }
        // Ids on one side only: at the buffer edge (PostGIS snaps to the
        // grid before clipping, so it keeps points up to half a unit outside
        // the buffer; civicmap keeps exactly [-64, 4160]) or not.
        let only_ref: Vec<(u64, bool)> = want_pts
            .iter()
            .filter(|(id, _)| !got_pts.contains_key(id))
            .map(|(id, f)| (*id, on_edge(f)))
            .collect();
        let only_got: Vec<(u64, bool)> = got_pts
            .iter()
            .filter(|(id, _)| !want_pts.contains_key(id))
            .map(|(id, f)| (*id, on_edge(f)))
            .collect();
        let edge_ids = only_ref.iter().chain(&only_got).filter(|(_, e)| *e).count();
        let inner_ids = only_ref.len() + only_got.len() - edge_ids;
        if inner_ids > 0 {
            let mut sample: Vec<u64> = only_ref
                .iter()
                .chain(&only_got)
                .filter(|(_, e)| !*e)
                .map(|(id, _)| *id)
                .collect();
            sample.sort_unstable();
            sample.truncate(5);
            problems.push(format!(
                "{} features, reference {}: {inner_ids} ids away from the buffer edge on one side only (e.g. {sample:?})",
                got_pts.len(),
                want_pts.len()
            ));
        }
        let mut bad_props = 0;
        for (id, g) in got_pts {
            // The report id is the feature id only.
            if g.props.contains_key("id") {
                bad_props += 1;
            }
            let Some(w) = want_pts.get(id) else { continue };
            if PROPS.iter().any(|k| g.props.get(*k) != w.props.get(*k)) {
                bad_props += 1;
            }
            let d = (g.xy.0 - w.xy.0).abs().max((g.xy.1 - w.xy.1).abs());
            match d {
                0 => {}
                1 => s.moved_1 += 1,
                _ => s.moved_more += 1,
            }
        }
        if bad_props > 0 {
            problems.push(format!("{bad_props} features with other properties"));
        }
        s.features += got_pts.len();
        s.reference_features += want_pts.len();
        s.edge_ids += edge_ids;
        if !problems.is_empty() {
            s.mismatched += 1;
            details.push(format!("{z}/{x}/{y}: {}", problems.join("; ")));
        } else if edge_ids > 0 {
            s.edge += 1;
        } else {
            s.equal += 1;
        }
    }
    if let Some(path) = &args.points_list {
        std::fs::write(path, points_list).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
    let mut total = ZoomStats::default();
    for (z, s) in &stats {
        let drawn = (s.tiles - s.hexagons).max(1) as f64;
        println!(
            "z{z}: {} tiles; as points: {} identical, {} identical but for {} points on the buffer edge, {} mismatched; {:.0} features per tile (reference {:.0}); {} drawn as hexagons by civicmap; positions 1 unit apart: {}, more: {}",
            s.tiles,
            s.equal,
            s.edge,
            s.edge_ids,
            s.mismatched,
            s.features as f64 / drawn,
            s.reference_features as f64 / drawn,
            s.hexagons,
            s.moved_1,
            s.moved_more
        );
        total.add(s);
    }
    for d in details.iter().take(20) {
        println!("  {d}");
    }
    if details.len() > 20 {
        println!("  ... and {} more", details.len() - 20);
    }
    println!(
        "tiles={} equal={} edge={} edge_ids={} hexagons={} mismatched={} features={} reference_features={} moved_1={} moved_more={}",
        total.tiles,
        total.equal,
        total.edge,
        total.edge_ids,
        total.hexagons,
        total.mismatched,
        total.features,
        total.reference_features,
        total.moved_1,
        total.moved_more
    );
}
