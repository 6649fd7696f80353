//! The map viewer: the page, its embedded assets and the MapLibre files, through
//! the router and through the real binary; then the page itself in headless
//! Chromium (`tests/browser/viewer.mjs`), skipped with a message where Node.js,
//! Chromium or `tests/browser/node_modules` are missing (`.ci/browser-setup`
//! installs them; CI sets `CIVICMAP_BROWSER_TEST=require` so that a missing
//! piece fails there instead).
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use civicmap::config::{DEFAULT_MAPLIBRE_URL, MAPLIBRE_VERSION};
use common::server::{client_with_key, create_key, free_port, start_server_with, wait_healthy};
use common::{anomaly, client_id, get, harness};

const CHROMIUM: &str = "/usr/bin/chromium";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn browser_dir() -> PathBuf {
    manifest_dir().join("tests/browser")
}

/// The `integrity` attribute of the tag that loads `file` in a page.
fn integrity_of<'a>(page: &'a str, file: &str) -> Option<&'a str> {
    let tag_start = page.find(&format!("/{file}\""))?;
    let tag = &page[tag_start..tag_start + page[tag_start..].find('>')?];
    let value = tag.split("integrity=\"").nth(1)?;
    value.split('"').next()
}

#[test]
fn the_page_loads_the_pinned_maplibre_release_from_the_cdn_by_default() {
    let r = get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    let page = r.text();
    for file in ["maplibre-gl.js", "maplibre-gl.css"] {
        let url = format!("{DEFAULT_MAPLIBRE_URL}/{file}\"");
        assert!(page.contains(&url), "{url} not in the page:\n{page}");
        let sri = integrity_of(&page, file).unwrap_or_else(|| panic!("no integrity on {file}"));
        assert!(sri.starts_with("sha384-"), "{sri}");
    }
    assert!(page.contains(r#"crossorigin="anonymous""#));
    assert!(page.contains("/viewer/viewer.js") && page.contains("/viewer/viewer.css"));
    assert!(!page.contains("{{"), "an unfilled placeholder");
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    let cdn = DEFAULT_MAPLIBRE_URL
        .splitn(4, '/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    assert!(csp.contains(&format!("script-src 'self' {cdn};")), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
}

#[test]
fn the_pinned_maplibre_release_is_the_one_the_browser_test_installs() {
    assert!(DEFAULT_MAPLIBRE_URL.contains(&format!("maplibre-gl@{MAPLIBRE_VERSION}/")));
    let package: Value =
        serde_json::from_slice(&std::fs::read(browser_dir().join("package.json")).unwrap())
            .unwrap();
    assert_eq!(package["devDependencies"]["maplibre-gl"], MAPLIBRE_VERSION);
    let lock: Value =
        serde_json::from_slice(&std::fs::read(browser_dir().join("package-lock.json")).unwrap())
            .unwrap();
    assert_eq!(
        lock["packages"]["node_modules/maplibre-gl"]["version"],
        MAPLIBRE_VERSION
    );
}

#[test]
fn the_style_has_the_tile_sources_of_the_contract_and_needs_nothing_from_the_internet() {
    let r = get("/viewer/style.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    let style = r.json();
    assert_eq!(style["version"], 8);
    assert!(style.get("glyphs").is_none() && style.get("sprite").is_none());
    let sources = style["sources"].as_object().unwrap();
    for (name, tiles) in [
        ("reports", "{origin}/tiles/reports/{z}/{x}/{y}.mvt"),
        ("projects", "{origin}/tiles/projects/{z}/{x}/{y}.mvt"),
        (
            "districts",
            "{origin}/tiles/districts/{z}/{x}/{y}.mvt?layer=arrondissement",
        ),
        (
            "working_class",
            "{origin}/tiles/districts/{z}/{x}/{y}.mvt?layer=working_class",
        ),
    ] {
        let s = &sources[name];
        assert_eq!(s["type"], "vector", "{name}");
        assert_eq!(s["tiles"], json!([tiles]), "{name}");
        assert_eq!(
            (s["minzoom"].as_u64(), s["maxzoom"].as_u64()),
            (Some(0), Some(20))
        );
        assert!(!s["attribution"].as_str().unwrap().is_empty(), "{name}");
    }
    assert_eq!(sources.len(), 4);
    let attributions: String = sources
        .values()
        .map(|s| s["attribution"].as_str().unwrap())
        .collect();
    for credit in [
        "Ville de Paris",
        "ODbL",
        "INSEE",
        "Base Adresse Nationale",
        "Licence Ouverte",
    ] {
        assert!(attributions.contains(credit), "{credit} not credited");
    }

    let source_layers = [
        ("reports", "reports"),
        ("reports", "reports_h3"),
        ("projects", "projects"),
        ("districts", "districts"),
        ("working_class", "districts"),
    ];
    let mut drawn = std::collections::BTreeSet::new();
    for layer in style["layers"].as_array().unwrap() {
        let id = layer["id"].as_str().unwrap();
        let kind = layer["type"].as_str().unwrap();
        assert!(
            ["background", "fill", "line", "circle"].contains(&kind),
            "{id}: {kind} layers need glyphs or sprites"
        );
        if kind == "background" {
            continue;
        }
        let pair = (
            layer["source"].as_str().unwrap(),
            layer["source-layer"].as_str().unwrap(),
        );
        assert!(source_layers.contains(&pair), "{id}: unknown {pair:?}");
        drawn.insert(pair);
    }
    assert_eq!(
        drawn.len(),
        source_layers.len(),
        "a source layer is not drawn"
    );
}

#[test]
fn viewer_assets_are_served_with_their_content_types() {
    for (path, content_type, start) in [
        ("/viewer/style.json", "application/json", "{"),
        ("/viewer/viewer.js", "text/javascript; charset=utf-8", "//"),
        ("/viewer/viewer.css", "text/css; charset=utf-8", "/*"),
    ] {
        let r = get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.headers["content-type"], content_type, "{path}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        assert!(r.text().starts_with(start), "{path}");
    }
}

#[test]
fn unknown_assets_and_traversal_attempts_are_json_404s() {
    for path in [
        "/viewer/nope.js",
        "/viewer/index.html",
        "/viewer/",
        "/viewer/../Cargo.toml",
        "/viewer/..%2FCargo.toml",
        "/viewer/%2e%2e%2fCargo.toml",
        "/viewer/%2e%2e/Cargo.toml",
        "/viewer/..%5cCargo.toml",
        "/viewer/%ff",
        "/viewer/style.json/x",
        // No MapLibre directory is configured here: nothing is served from disk.
        "/viewer/vendor/maplibre-gl.js",
        "/viewer/vendor/..%2f..%2fCargo.toml",
    ] {
        let r = get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(r.json()["error"], "not_found", "{path}");
    }
}

/// The z16 tile holding a point, as the viewer asks for it.
fn z16_tile(lon: f64, lat: f64) -> String {
    let n = f64::from(1_u32 << 16);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    format!("/tiles/reports/16/{x}/{y}.mvt")
}

#[test]
fn the_campaign_selector_lists_open_campaigns_whose_slugs_filter_the_report_tiles_and_count() {
    let page = get("/").text();
    let at = page
        .find(r#"<select id="filter-campaign" name="campaign">"#)
        .expect("a campaign selector in the filters");
    let select = &page[at..at + page[at..].find("</select>").unwrap()];
    assert!(
        select.contains(r#"<option value="">all</option>"#),
        "{select}"
    );
    let script = get("/viewer/viewer.js").text();
    assert!(
        script.contains("campaign: 'filter-campaign'"),
        "the selector is one of the report filters (tile URL and count)"
    );
    assert!(script.contains("fetch('/api/v1/campaigns')"));
    assert!(script.contains("el('option', { value: c.slug }, c.title)"));

    // What the selector offers is what the tiles and the count take.
    let h = harness();
    let slug = format!("viewer-{}", std::process::id());
    let created = h.post_as(
        Some("admin"),
        "/api/v1/campaigns",
        &json!({
            "slug": slug,
            "title": "Des bancs place de la République",
            "question": "Où manque-t-il un banc ?",
            "categories": ["proprete"],
            "ends_at": "2099-01-01",
        }),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let listed = get("/api/v1/campaigns").json();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["slug"] == slug.as_str() && c["title"].is_string()),
        "{listed}"
    );
    let (lon, lat) = (2.3634, 48.8674);
    let mut contribution = anomaly(&client_id("viewer-campaign"));
    contribution["kind"] = json!("contribution");
    contribution["campaign"] = json!(slug);
    contribution["lon"] = json!(lon);
    contribution["lat"] = json!(lat);
    let filed = h.post_as(Some("app"), "/api/v1/reports", &contribution);
    assert_eq!(filed.status, 201, "{}", filed.text());

    let tile = z16_tile(lon, lat);
    assert_eq!(get(&format!("{tile}?campaign={slug}")).status, 200);
    assert_eq!(
        get(&format!("/api/v1/reports?limit=1&campaign={slug}")).json()["total"],
        1
    );
    let unknown = get(&format!("{tile}?campaign=no-such-campaign"));
    assert_eq!(unknown.status, 422, "{}", unknown.text());
}

/// Kills the server when the test ends, even on a failed assertion.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(dir: &Path, extra: &[&OsStr]) -> (Server, String, reqwest::Client) {
    let port = free_port();
    let key = create_key(dir, "app");
    let server = Server(start_server_with(dir, port, extra));
    let base = format!("http://127.0.0.1:{port}");
    let http = client_with_key(&key, Duration::from_secs(30));
    wait_healthy(&http, &base).await;
    (server, base, http)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_binary_serves_maplibre_from_a_local_directory_and_nothing_outside_it() {
    let data = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let dist = root.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(dist.join("maplibre-gl.js"), "window.maplibregl = {};").unwrap();
    std::fs::write(dist.join("maplibre-gl.css"), ".maplibregl-map {}").unwrap();
    std::fs::write(dist.join(".hidden"), "hidden").unwrap();
    std::fs::create_dir(dist.join("sub")).unwrap();
    std::fs::write(root.path().join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();

    runtime().block_on(async {
        let (_server, base, http) = start(
            data.path(),
            &[OsStr::new("--maplibre-dir"), dist.as_os_str()],
        )
        .await;
        let page = http.get(format!("{base}/")).send().await.unwrap();
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        let page = page.text().await.unwrap();
        assert!(
            page.contains(r#"<script src="/viewer/vendor/maplibre-gl.js">"#),
            "{page}"
        );
        assert!(
            page.contains(r#"href="/viewer/vendor/maplibre-gl.css">"#),
            "{page}"
        );
        assert!(
            !page.contains("integrity="),
            "a local copy is not the CDN's file"
        );

        for (file, content_type, body) in [
            (
                "maplibre-gl.js",
                "text/javascript; charset=utf-8",
                "window.maplibregl = {};",
            ),
            (
                "maplibre-gl.css",
                "text/css; charset=utf-8",
                ".maplibregl-map {}",
            ),
        ] {
            let r = http
                .get(format!("{base}/viewer/vendor/{file}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{file}");
            assert_eq!(r.headers()["content-type"], content_type, "{file}");
            assert_eq!(r.text().await.unwrap(), body);
        }
        for path in [
            "/viewer/vendor/..%2fsecret.txt",
            "/viewer/vendor/%2e%2e%2fsecret.txt",
            "/viewer/vendor/../secret.txt",
            "/viewer/vendor/.hidden",
            "/viewer/vendor/sub",
            "/viewer/vendor/missing.js",
            "/viewer/vendor/",
        ] {
            // reqwest would normalise `..` in a URL: send the path as it is, over a raw socket.
            let (status, body) = raw_get(&base, path).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert!(body.contains(r#""error":"not_found""#), "{path}: {body}");
            assert!(!body.contains("TOP-SECRET-CONTENT"), "{path}");
        }
    });
}

/// `GET path` with the path sent byte for byte; returns the status and body.
async fn raw_get(base: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn the_binary_points_the_page_at_a_configured_maplibre_url() {
    let data = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (_server, base, http) = start(
            data.path(),
            &[
                OsStr::new("--maplibre-url"),
                OsStr::new("https://maps.example.org/maplibre/"),
            ],
        )
        .await;
        let r = http.get(format!("{base}/")).send().await.unwrap();
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self' https://maps.example.org;"),
            "{csp}"
        );
        let page = r.text().await.unwrap();
        assert!(
            page.contains(r#"src="https://maps.example.org/maplibre/maplibre-gl.js">"#),
            "{page}"
        );
        assert!(page.contains(r#"href="https://maps.example.org/maplibre/maplibre-gl.css">"#));
        assert!(
            !page.contains("integrity="),
            "the hashes are those of the pinned CDN files"
        );
        // Nothing is served from disk without --maplibre-dir.
        let vendor = http
            .get(format!("{base}/viewer/vendor/maplibre-gl.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(vendor.status(), 404);
    });
}

#[test]
fn bad_maplibre_options_are_refused_before_start() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let valid = tempfile::tempdir().unwrap();
    for file in ["maplibre-gl.js", "maplibre-gl.css"] {
        std::fs::write(valid.path().join(file), "").unwrap();
    }
    for (args, message) in [
        (
            vec!["--maplibre-dir", "/nonexistent/maplibre"],
            "cannot open",
        ),
        (
            vec!["--maplibre-dir", empty.path().to_str().unwrap()],
            "has no maplibre-gl.js",
        ),
        (
            vec!["--maplibre-url", "javascript:alert(1)"],
            "not an http(s) URL",
        ),
        (
            vec!["--maplibre-url", "https://x.example/\"><b>"],
            "contains",
        ),
        (
            vec![
                "--maplibre-url",
                "https://x.example",
                "--maplibre-dir",
                valid.path().to_str().unwrap(),
            ],
            "cannot be used with",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_civicmap"))
            .args([
                "serve",
                "--no-seed",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data.path())
            .args(&args)
            .env_remove("CIVICMAP_MAPLIBRE_URL")
            .env_remove("CIVICMAP_MAPLIBRE_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// Why the browser test cannot run here, if it cannot.
fn browser_test_missing() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed".into());
    }
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (Debian package chromium)"));
    }
    for module in [
        "playwright-core/package.json",
        "maplibre-gl/dist/maplibre-gl.js",
    ] {
        let path = browser_dir().join("node_modules").join(module);
        if !path.exists() {
            return Some(format!(
                "{} is missing (run npm ci in tests/browser)",
                path.display()
            ));
        }
    }
    None
}

/// The `sha384-…` integrity value of a file, computed by Node.js.
fn node_sri(file: &Path) -> String {
    let out = Command::new("node")
        .args([
            "-e",
            "const c = require('crypto'); const b = require('fs').readFileSync(process.argv[1]); \
             process.stdout.write('sha384-' + c.createHash('sha384').update(b).digest('base64'))",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// POSTs JSON to a running server and expects 201 Created.
async fn post_created(http: &reqwest::Client, url: &str, body: &Value) {
    let r = http.post(url).json(body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{url}: {}", r.text().await.unwrap());
}

/// `GET /api/v1/categories` of a running server.
async fn categories(http: &reqwest::Client, base: &str) -> Value {
    let r = http
        .get(format!("{base}/api/v1/categories"))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// Reports at three places (the centre, Montmartre, the 13th), both kinds and
/// two categories, 44 m apart so that each can be clicked alone at zoom 17.
async fn post_reports(http: &reqwest::Client, base: &str) -> usize {
    let categories = categories(http, base).await;
    let pick = |i: usize| {
        let c = &categories[i];
        (
            c["code"].as_str().unwrap().to_owned(),
            c["subcategories"][0]["code"].as_str().unwrap().to_owned(),
        )
    };
    let cats = [pick(0), pick(1)];
    let mut n = 0;
    for (lon0, lat0, count) in [
        (2.3480, 48.8550, 24),
        (2.3400, 48.8850, 8),
        (2.3600, 48.8300, 8),
    ] {
        for i in 0..count {
            let (category, subcategory) = &cats[i % 2];
            let body = json!({
                "kind": if i.is_multiple_of(3) { "contribution" } else { "anomaly" },
                "category": category,
                "subcategory": subcategory,
                "description": format!("viewer test report {n}"),
                "lon": lon0 + (i % 6) as f64 * 0.0006,
                "lat": lat0 + (i / 6) as f64 * 0.0004,
                "client_id": format!("viewer-test-{n}"),
                "channel": "web",
                "contact": "never-shown@example.org",
            });
            post_created(http, &format!("{base}/api/v1/reports"), &body).await;
            n += 1;
        }
    }
    n
}

/// An open campaign (by the admin key) and six contributions answering it,
/// near the place de la République, 44 m apart; returns the campaign's slug.
async fn post_campaign(
    admin: &reqwest::Client,
    app: &reqwest::Client,
    base: &str,
    category: &str,
) -> String {
    let slug = "bancs-republique";
    let campaign = json!({
        "slug": slug,
        "title": "Des bancs place de la République",
        "question": "Où manque-t-il un banc ?",
        "categories": [category],
        "ends_at": "2099-01-01",
    });
    post_created(admin, &format!("{base}/api/v1/campaigns"), &campaign).await;
    for i in 0..6 {
        let body = json!({
            "kind": "contribution",
            "category": category,
            "description": format!("viewer test campaign contribution {i}"),
            "lon": 2.3640 + (i % 3) as f64 * 0.0006,
            "lat": 48.8670 + (i / 3) as f64 * 0.0004,
            "client_id": format!("viewer-test-campaign-{i}"),
            "channel": "web",
            "campaign": slug,
        });
        post_created(app, &format!("{base}/api/v1/reports"), &body).await;
    }
    slug.to_owned()
}

#[test]
fn the_viewer_draws_every_layer_in_headless_chromium() {
    if let Some(missing) = browser_test_missing() {
        assert!(
            std::env::var("CIVICMAP_BROWSER_TEST").as_deref() != Ok("require"),
            "the browser test is required here but {missing}"
        );
        // Straight to the standard error, past the test harness's capture, so that it is seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_viewer_draws_every_layer_in_headless_chromium: {missing}"
        );
        return;
    }
    // The integrity hashes in the default page are those of the npm package's files.
    let page = get("/").text();
    let dist = browser_dir().join("node_modules/maplibre-gl/dist");
    for file in ["maplibre-gl.js", "maplibre-gl.css"] {
        assert_eq!(
            integrity_of(&page, file),
            Some(node_sri(&dist.join(file)).as_str()),
            "{file}"
        );
    }

    let data = tempfile::tempdir().unwrap();
    let admin_key = create_key(data.path(), "admin");
    runtime().block_on(async {
        let (_server, base, http) = start(
            data.path(),
            &[OsStr::new("--maplibre-dir"), dist.as_os_str()],
        )
        .await;
        let posted = post_reports(&http, &base).await;
        let admin = client_with_key(&admin_key, Duration::from_secs(30));
        let categories = categories(&http, &base).await;
        let category = categories[0]["code"].as_str().unwrap();
        post_campaign(&admin, &http, &base, category).await;
        let t0 = Instant::now();
        let out = tokio::process::Command::new("node")
            .arg(browser_dir().join("viewer.mjs"))
            .arg(&base)
            .current_dir(browser_dir())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        println!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        println!(
            "browser test: {posted} reports, {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        assert!(
            out.status.success(),
            "tests/browser/viewer.mjs failed ({}): see its output above",
            out.status
        );
    });
}
