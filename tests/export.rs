//! Open-data exports driven through the real router, each format read back
//! by an independent parser (the `csv` crate, serde_json and the `geojson`
//! crate, the official GeoReport v2 JSON schemas, roxmltree) and compared
//! field by field with the JSON API; the daily snapshot written by the
//! library and by the real binary.
#![allow(clippy::unwrap_used)]

mod common;
mod support_open311;

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use axum::http::StatusCode;
use common::{Harness, anomaly, client_id, gunzip, harness};
use serde_json::{Value, json};
use sha2::Digest as _;

/// What the fixture filed, for the tests to look up.
struct Fixture {
    ids: Vec<i64>,
    /// The contact and client id of the private report: in no export byte.
    contact: String,
    private_client_id: String,
    tricky_id: i64,
    tricky_description: String,
    campaign: String,
    arrondissement: String,
    /// Created at or after this instant: the second half of the fixture.
    middle: String,
}

const TRICKY: &str = "Trou, \"profond\" ici\nau coin\r\nde la rue; l'autre, \"là\", aussi";

/// Reports filed once for every test of this binary (the tests only read,
/// so they may run in any order and at once).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let h = harness();
        let categories = three_categories(h);
        let places = [(2.3499, 48.8530), (2.3700, 48.8650), (2.3000, 48.8400)];
        let channels = ["android", "ios", "web", "back_office"];
        let mut ids = Vec::new();
        let mut middle = String::new();
        for i in 0..12 {
            let mut b = anomaly(&client_id("export"));
            let category = &categories[i % 3];
            b["category"] = json!(category);
            b["subcategory"] = json!(common::first_subcategory(category));
            let (lon, lat) = places[i % 3];
            b["lon"] = json!(lon + 0.0001 * i as f64);
            b["lat"] = json!(lat);
            b["channel"] = json!(channels[i % 4]);
            b["description"] = json!(format!("Signalement numéro {i}, à voir"));
            if i % 5 == 0 {
                b["address"] = json!(format!("{i} rue de l'Exemple, Paris"));
            }
            let r = post(h, "app", "/api/v1/reports", &b);
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            if i == 6 {
                middle = r.json()["created_at"].as_str().unwrap().to_owned();
            }
            ids.push(r.json()["id"].as_i64().unwrap());
        }
        let arrondissement = get_json(h, &format!("/api/v1/reports/{}", ids[0]))["districts"]
            ["arrondissement"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // A private report and a tricky description.
        let contact = format!("export-marker-{}@example.org", std::process::id());
        let private_client_id = client_id("export-private-marker");
        let mut b = anomaly(&private_client_id);
        b["contact"] = json!(contact);
        let r = post(h, "app", "/api/v1/reports", &b);
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.push(r.json()["id"].as_i64().unwrap());
        let mut b = anomaly(&client_id("export-tricky"));
        b["description"] = json!(TRICKY);
        let r = post(h, "app", "/api/v1/reports", &b);
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let tricky_id = r.json()["id"].as_i64().unwrap();
        ids.push(tricky_id);

        // Two contributions to a campaign.
        let campaign = client_id("export-campaign")
            .to_lowercase()
            .replace('_', "-");
        let c = post(
            h,
            "admin",
            "/api/v1/campaigns",
            &json!({
                "slug": campaign, "title": "Des bancs ?", "question": "Où manque-t-il un banc ?",
                "categories": [categories[0]], "ends_at": "2099-01-01",
            }),
        );
        assert_eq!(c.status, StatusCode::CREATED, "{}", c.text());
        for i in 0..2 {
            let b = json!({
                "kind": "contribution", "category": categories[0],
                "subcategory": common::first_subcategory(&categories[0]),
                "description": format!("Un banc ici ({i})"), "lon": 2.3600, "lat": 48.8600,
                "client_id": client_id("export-contribution"), "channel": "ios",
                "campaign": campaign,
            });
            let r = post(h, "app", "/api/v1/reports", &b);
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            ids.push(r.json()["id"].as_i64().unwrap());
        }

        // States: closed, in progress, a duplicate, supports.
        let status = |id: i64, status: &str| {
            let r = post(
                h,
                "agent",
                &format!("/api/v1/reports/{id}/status"),
                &json!({"status": status, "note": "Vu"}),
            );
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        };
        status(ids[1], "done");
        status(ids[2], "to_process");
        status(ids[4], "rejected");
        let r = post(
            h,
            "agent",
            &format!("/api/v1/reports/{}/duplicate", ids[3]),
            &json!({"duplicate_of": ids[0]}),
        );
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        for _ in 0..2 {
            let r = post(
                h,
                "app",
                &format!("/api/v1/reports/{}/supports", ids[5]),
                &json!({"client_id": client_id("export-me-too")}),
            );
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        }
        Fixture {
            ids,
            contact,
            private_client_id,
            tricky_id,
            tricky_description: TRICKY.to_owned(),
            campaign,
            arrondissement,
            middle,
        }
    })
}

/// The first three categories of the taxonomy, which the fixture files in.
fn three_categories(h: &Harness) -> Vec<String> {
    h.app
        .taxonomy
        .categories()
        .iter()
        .take(3)
        .map(|c| c.code.clone())
        .collect()
}

fn post(h: &Harness, role: &str, uri: &str, body: &Value) -> common::Reply {
    h.post_as(Some(role), uri, body)
}

fn get_json(h: &Harness, uri: &str) -> Value {
    let r = h.get(uri);
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    r.json()
}

/// An export, checked to be a 200 of the given media type.
fn export(uri: &str, media_type: &str) -> Vec<u8> {
    let r = harness().get(uri);
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    assert_eq!(r.headers["content-type"], media_type, "{uri}");
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=")
    );
    r.body
}

/// CSV records as maps from column to value, read by the `csv` crate.
fn csv_records(body: &[u8]) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(body);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn csv_ids(body: &[u8]) -> Vec<i64> {
    csv_records(body)
        .iter()
        .map(|r| r["id"].parse().unwrap())
        .collect()
}

/// The ids `GET /api/v1/reports?{query}` lists, over every page.
fn listed_ids(query: &str) -> BTreeSet<i64> {
    let h = harness();
    let mut ids = BTreeSet::new();
    let mut uri = format!("/api/v1/reports?limit=1000&{query}");
    loop {
        let page = get_json(h, &uri);
        for item in page["items"].as_array().unwrap() {
            ids.insert(item["id"].as_i64().unwrap());
        }
        match page["next"].as_str() {
            Some(next) => uri = next.to_owned(),
            None => return ids,
        }
    }
}

/// The JSON API's value as a CSV field.
fn as_field(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const LAYERS: [&str; 5] = [
    "arrondissement",
    "quartier",
    "conseil_quartier",
    "iris",
    "working_class",
];

/// Fields of `GET /api/v1/reports/{id}` that an export does not carry as
/// such: the position is the geometry (GeoJSON) or two columns (CSV); the
/// nearest address is computed at read time; the links and photos are the
/// API's own.
const NOT_EXPORTED: [&str; 6] = [
    "lon",
    "lat",
    "nearest_address",
    "history_url",
    "photos",
    "after_treatment_photo",
];

#[test]
fn the_csv_export_has_every_report_in_id_order_with_the_values_of_the_json_api() {
    let f = fixture();
    let h = harness();
    let body = export(
        "/api/v1/export/reports.csv",
        "text/csv; charset=utf-8; header=present",
    );
    let records = csv_records(&body);
    let ids = csv_ids(&body);
    assert!(ids.is_sorted() && ids.windows(2).all(|w| w[0] < w[1]));
    assert!(f.ids.iter().all(|id| ids.contains(id)));
    for r in &records {
        let api = get_json(h, &format!("/api/v1/reports/{}", r["id"]));
        for (key, value) in api.as_object().unwrap() {
            match key.as_str() {
                "districts" => {
                    for layer in LAYERS {
                        for part in ["id", "code", "name"] {
                            assert_eq!(
                                r[&format!("district_{layer}_{part}")],
                                as_field(&value[layer][part]),
                                "district_{layer}_{part} of {}",
                                r["id"]
                            );
                        }
                    }
                }
                "lon" | "lat" => {
                    assert_eq!(r[key].parse::<f64>().unwrap(), value.as_f64().unwrap());
                }
                k if NOT_EXPORTED.contains(&k) => {}
                _ => assert_eq!(r[key], as_field(value), "{key} of {}", r["id"]),
            }
        }
    }
    let closed = records
        .iter()
        .find(|r| r["id"] == f.ids[1].to_string())
        .unwrap();
    assert_eq!(
        (closed["status"].as_str(), closed["open"].as_str()),
        ("done", "false")
    );
    assert!(!closed["closed_at"].is_empty());
}

#[test]
fn a_description_with_commas_quotes_and_line_breaks_round_trips_through_csv() {
    let f = fixture();
    let body = export(
        "/api/v1/export/reports.csv",
        "text/csv; charset=utf-8; header=present",
    );
    let tricky = csv_records(&body)
        .into_iter()
        .find(|r| r["id"] == f.tricky_id.to_string())
        .unwrap();
    assert_eq!(tricky["description"], f.tricky_description);
}

#[test]
fn the_geojson_export_is_a_feature_collection_whose_properties_are_the_json_api_s() {
    let f = fixture();
    let h = harness();
    let body = export("/api/v1/export/reports.geojson", "application/geo+json");
    let text = String::from_utf8(body).unwrap();
    // An independent GeoJSON reader accepts it.
    match text.parse::<geojson::GeoJson>().unwrap() {
        geojson::GeoJson::FeatureCollection(fc) => assert!(fc.features.len() >= f.ids.len()),
        other => panic!("not a FeatureCollection: {other:?}"),
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "FeatureCollection");
    assert!(v.get("crs").is_none(), "RFC 7946 has no crs member");
    let features = v["features"].as_array().unwrap();
    let ids: Vec<i64> = features.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending ids");
    assert_eq!(
        ids,
        csv_ids(&export(
            "/api/v1/export/reports.csv",
            "text/csv; charset=utf-8; header=present"
        ))
    );
    for feature in features {
        let id = feature["id"].as_i64().unwrap();
        let api = get_json(h, &format!("/api/v1/reports/{id}"));
        assert_eq!(feature["geometry"]["type"], "Point");
        assert_eq!(
            feature["geometry"]["coordinates"],
            json!([api["lon"], api["lat"]])
        );
        let props = feature["properties"].as_object().unwrap();
        for (key, value) in api.as_object().unwrap() {
            if !NOT_EXPORTED.contains(&key.as_str()) {
                assert_eq!(props.get(key), Some(value), "{key} of {id}");
            }
        }
    }
}

#[test]
fn georeport_exports_are_official_documents_with_the_requests_of_the_open311_api() {
    let f = fixture();
    let h = harness();
    let body = export(
        "/api/v1/export/reports.georeport.json",
        "application/json; charset=utf-8",
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    support_open311::assert_valid_file("requests.json", &v);
    let requests = v.as_array().unwrap();
    let ids: Vec<i64> = requests
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending ids");
    assert!(f.ids.iter().all(|id| ids.contains(id)));
    for (request, id) in requests.iter().zip(&ids) {
        support_open311::assert_valid_file("request.json", request);
        let mut api = get_json(
            h,
            &format!("/open311/v2/requests/{id}.json?extensions=true"),
        )[0]
        .clone();
        api["notes"] = json!([]);
        assert_eq!(request, &api, "request {id}");
    }

    let body = export(
        "/api/v1/export/reports.georeport.xml",
        "text/xml; charset=utf-8",
    );
    let text = String::from_utf8(body).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "service_requests");
    let items: Vec<_> = root
        .children()
        .filter(roxmltree::Node::is_element)
        .collect();
    assert_eq!(items.len(), requests.len());
    for (item, request) in items.iter().zip(requests) {
        assert_eq!(item.tag_name().name(), "request");
        let text_of = |name: &str| {
            item.children()
                .find(|c| c.tag_name().name() == name)
                .and_then(|c| c.text())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(text_of("service_request_id"), request["service_request_id"]);
        assert_eq!(
            text_of("description"),
            request["description"].as_str().unwrap_or_default()
        );
    }
}

#[test]
fn filters_select_exactly_the_reports_the_list_selects() {
    let f = fixture();
    let h = harness();
    let categories = three_categories(h);
    let middle = url_encode(&f.middle);
    let queries = [
        String::new(),
        "bbox=2.34,48.85,2.36,48.86".to_owned(),
        format!("district={}", f.arrondissement),
        "kind=contribution".to_owned(),
        "kind=anomaly".to_owned(),
        format!("category={}", categories[1]),
        "status=done".to_owned(),
        "status=new".to_owned(),
        format!("from={middle}"),
        format!("to={middle}"),
        "from=2020-01-01&to=2099-01-01".to_owned(),
        format!("campaign={}", f.campaign),
        format!(
            "kind=anomaly&category={}&bbox=2.2,48.8,2.5,48.9",
            categories[0]
        ),
    ];
    for q in &queries {
        let exported = csv_ids(&export(
            &format!("/api/v1/export/reports.csv?{q}"),
            "text/csv; charset=utf-8; header=present",
        ));
        assert!(
            exported.windows(2).all(|w| w[0] < w[1]),
            "{q}: ascending ids"
        );
        let exported: BTreeSet<i64> = exported.into_iter().collect();
        assert_eq!(exported, listed_ids(q), "{q}");
        assert!(!exported.is_empty(), "{q}: the fixture has some");
        let features = serde_json::from_slice::<Value>(&export(
            &format!("/api/v1/export/reports.geojson?{q}"),
            "application/geo+json",
        ))
        .unwrap()["features"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(features, exported.len(), "{q}: GeoJSON");
    }
}

fn url_encode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

#[test]
fn no_export_holds_the_reporter_s_contact_or_client_id() {
    let f = fixture();
    for file in [
        "reports.csv",
        "reports.geojson",
        "reports.georeport.json",
        "reports.georeport.xml",
    ] {
        let body = harness().get(&format!("/api/v1/export/{file}")).body;
        let text = String::from_utf8(body).unwrap();
        assert!(!text.is_empty());
        assert!(!text.contains(&f.contact), "{file} holds the contact");
        assert!(
            !text.contains(&f.private_client_id),
            "{file} holds the client id"
        );
        assert!(
            !text.contains("client_id") && !text.contains("contact"),
            "{file}"
        );
    }
}

#[test]
fn bad_filters_and_unknown_files_are_refused_naming_the_parameter() {
    let _ = fixture();
    let cases: [(&str, StatusCode, Option<&str>); 12] = [
        (
            "reports.csv?limit=10",
            StatusCode::BAD_REQUEST,
            Some("limit"),
        ),
        (
            "reports.csv?cursor=5",
            StatusCode::BAD_REQUEST,
            Some("cursor"),
        ),
        (
            "reports.geojson?bbox=1,2,3",
            StatusCode::BAD_REQUEST,
            Some("bbox"),
        ),
        (
            "reports.csv?kind=rumour",
            StatusCode::BAD_REQUEST,
            Some("kind"),
        ),
        (
            "reports.csv?status=closed",
            StatusCode::BAD_REQUEST,
            Some("status"),
        ),
        (
            "reports.georeport.xml?from=yesterday",
            StatusCode::BAD_REQUEST,
            Some("from"),
        ),
        (
            "reports.csv?category=nope",
            StatusCode::BAD_REQUEST,
            Some("category"),
        ),
        (
            "reports.csv?district=arrondissement:x:y",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("district"),
        ),
        (
            "reports.csv?campaign=nope",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("campaign"),
        ),
        (
            "projects.csv?edition=abc",
            StatusCode::BAD_REQUEST,
            Some("edition"),
        ),
        (
            "projects.geojson?kind=anomaly",
            StatusCode::BAD_REQUEST,
            Some("kind"),
        ),
        ("reports.pdf", StatusCode::NOT_FOUND, None),
    ];
    for (file, status, field) in cases {
        let r = harness().get(&format!("/api/v1/export/{file}"));
        assert_eq!(r.status, status, "{file}: {}", r.text());
        let body = r.json();
        assert!(body["error"].is_string(), "{file}");
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{file}");
        }
    }
}

#[test]
fn project_exports_hold_every_project_with_the_values_of_the_json_api() {
    let h = harness();
    let mut listed = Vec::new();
    let mut uri = "/api/v1/projects?limit=1000".to_owned();
    loop {
        let page = get_json(h, &uri);
        listed.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => uri = next.to_owned(),
            None => break,
        }
    }
    assert!(listed.len() > 1000, "the budget file's projects");
    let records = csv_records(&export(
        "/api/v1/export/projects.csv",
        "text/csv; charset=utf-8; header=present",
    ));
    assert_eq!(records.len(), listed.len());
    let v: Value = serde_json::from_slice(&export(
        "/api/v1/export/projects.geojson",
        "application/geo+json",
    ))
    .unwrap();
    let features = v["features"].as_array().unwrap();
    assert_eq!(features.len(), listed.len());
    for ((api, r), feature) in listed.iter().zip(&records).zip(features) {
        assert_eq!(r["id"], api["id"].to_string(), "the same order");
        for (key, value) in api.as_object().unwrap() {
            match key.as_str() {
                "districts" => {
                    for layer in LAYERS {
                        assert_eq!(
                            r[&format!("district_{layer}_code")],
                            as_field(&value[layer]["code"])
                        );
                    }
                    assert_eq!(&feature["properties"]["districts"], value);
                }
                "lon" | "lat" => {
                    assert_eq!(r[key].parse::<f64>().ok(), value.as_f64());
                }
                _ => {
                    assert_eq!(r[key], as_field(value), "{key} of project {}", api["id"]);
                    assert_eq!(&feature["properties"][key], value, "{key}");
                }
            }
        }
        match api["lon"].as_f64() {
            Some(lon) => assert_eq!(
                feature["geometry"]["coordinates"],
                json!([lon, api["lat"].as_f64().unwrap()])
            ),
            None => assert!(feature["geometry"].is_null()),
        }
    }
}

/// Checks a snapshot directory against its manifest: every file's size,
/// SHA-256 and row count; returns the manifest.
fn check_snapshot(dir: &std::path::Path) -> Value {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["license"], "ODbL-1.0");
    let files = manifest["distributions"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "reports.csv.gz",
            "reports.geojson.gz",
            "projects.csv",
            "projects.geojson"
        ]
    );
    for d in files {
        let name = d["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(d["bytes"], bytes.len(), "{name}");
        assert_eq!(d["sha256"], hex(&sha2::Sha256::digest(&bytes)), "{name}");
        let content = if name.ends_with(".gz") {
            assert_eq!(d["compress_format"], "application/gzip");
            gunzip(&bytes)
        } else {
            bytes
        };
        let rows = if name.contains(".csv") {
            csv_records(&content).len()
        } else {
            serde_json::from_slice::<Value>(&content).unwrap()["features"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(d["rows"], rows, "{name}");
    }
    manifest
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_snapshot_writes_the_day_s_files_and_a_manifest_that_matches_them() {
    let f = fixture();
    let h = harness();
    let out = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let (manifest, dir) =
        h.rt.block_on(civicmap::service::snapshot::write_snapshot(
            &h.app,
            out.path(),
            now,
        ))
        .unwrap();
    assert_eq!(dir.file_name().unwrap().to_str().unwrap(), manifest.issued);
    let written = check_snapshot(&dir);
    let reports = &written["distributions"][0];
    assert!(reports["rows"].as_u64().unwrap() >= f.ids.len() as u64);
    let csv = gunzip(&std::fs::read(dir.join("reports.csv.gz")).unwrap());
    let text = String::from_utf8(csv).unwrap();
    assert!(!text.contains(&f.contact) && !text.contains(&f.private_client_id));
    // latest.json names the same files, under the day's directory.
    let latest: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("latest.json")).unwrap()).unwrap();
    assert_eq!(
        latest["distributions"][0]["name"],
        format!("{}/reports.csv.gz", manifest.issued)
    );
    assert_eq!(latest["distributions"][0]["sha256"], reports["sha256"]);
    // A second run the same day replaces the set; no temporary file is left.
    h.rt.block_on(civicmap::service::snapshot::write_snapshot(
        &h.app,
        out.path(),
        now,
    ))
    .unwrap();
    let mut entries: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, [manifest.issued.clone(), "latest.json".to_owned()]);
}

#[test]
fn the_snapshot_command_writes_a_snapshot_of_a_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args(["snapshot", "--data-dir"])
        .arg(data.path())
        .arg("--out")
        .arg(out.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let day = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let manifest = check_snapshot(&day);
    // No seed: an empty report set, and the embedded budget file.
    assert_eq!(manifest["distributions"][0]["rows"], 0);
    assert!(manifest["distributions"][2]["rows"].as_u64().unwrap() > 1000);
    assert!(String::from_utf8_lossy(&run.stdout).contains("reports.csv.gz"));
}

#[test]
fn closed_reports_that_faded_from_the_public_list_are_still_exported() {
    // Fading at once for every category but graffiti.
    let h = common::custom_harness(|c| c.fade_days = 0);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = post(
            &h,
            "app",
            "/api/v1/reports",
            &anomaly(&client_id("export-fade")),
        );
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    let r = post(
        &h,
        "agent",
        &format!("/api/v1/reports/{}/status", ids[0]),
        &json!({"status": "done", "note": "Fait"}),
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let listed: Vec<i64> = get_json(&h, "/api/v1/reports")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [ids[1]], "the closed one faded from the list");
    let r = h.get("/api/v1/export/reports.csv");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(csv_ids(&r.body), ids, "both are exported");
}

#[test]
fn a_server_started_with_a_snapshot_directory_writes_today_s_snapshot() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let port = common::server::free_port();
    let mut server = common::server::start_server_with(
        data.path(),
        port,
        &["--snapshot-dir".as_ref(), out.path().as_os_str()],
    );
    let latest = out.path().join("latest.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !latest.is_file() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    let latest: Value = serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap();
    let day = latest["issued"].as_str().unwrap();
    check_snapshot(&out.path().join(day));
}
