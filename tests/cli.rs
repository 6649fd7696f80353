//! The command line, run as the real binary: perimeter imports (how a city
//! loads the official QPV file), report imports, synthetic generation.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn civicmap(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A one-feature perimeter file around Notre-Dame, shaped like ANCT's QPV file.
fn qpv_file(dir: &Path, geometry: &str) -> std::path::PathBuf {
    let path = dir.join("qpv.geojson");
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature",
               "properties":{{"code_qp":"QN07599X","lib_qp":"Quartier de test"}},
               "geometry":{geometry}}}]}}"#
        ),
    )
    .unwrap();
    path
}

const SQUARE: &str = r#"{"type":"Polygon","coordinates":[[[2.345,48.850],[2.355,48.850],[2.355,48.856],[2.345,48.856],[2.345,48.850]]]}"#;

fn import_qpv(data: &Path, file: &Path) -> Output {
    civicmap(
        &[
            "import",
            "perimeters",
            "--layer",
            "working_class",
            "--version",
            "2024",
            "--valid-from",
            "2024-01-01",
            "--code-property",
            "code_qp",
            "--name-property",
            "lib_qp",
            "--official",
            "--source",
            "test perimeters",
            file.to_str().unwrap(),
        ],
        data,
    )
}

fn stored_layers(data: &Path) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = civicmap::store::Store::open_sqlite(data).await.unwrap();
        let layers = store
            .layers()
            .await
            .unwrap()
            .into_iter()
            .map(|l| format!("{}:{}", l.layer, l.version))
            .collect();
        store.close().await;
        layers
    })
}

#[test]
fn an_imported_official_perimeter_layer_attributes_points_from_its_start_date() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = qpv_file(dir.path(), SQUARE);
    let out = import_qpv(&data, &file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("(1 districts)"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(stored_layers(&data), vec!["working_class:2024"]);

    // Serve and ask which districts hold a point inside the square, today and in 2023.
    let port = common::server::free_port();
    let mut server = common::server::start_server(&data, port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        common::server::wait_healthy(&http, &base).await;
        let at = |date: &'static str| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let v: serde_json::Value = http
                    .get(format!(
                        "{base}/api/v1/districts/at?lon=2.35&lat=48.853&date={date}"
                    ))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v.as_array()
                    .unwrap()
                    .iter()
                    .find(|d| d["layer"] == "working_class")
                    .map(|d| d["id"].clone())
            }
        };
        (at("2025-06-01").await, at("2023-06-01").await)
    });
    server.kill().unwrap();
    server.wait().unwrap();
    let (in_2025, in_2023) = result;
    assert_eq!(
        in_2025,
        Some(serde_json::json!("working_class:2024:QN07599X"))
    );
    // Before its start date the official layer does not apply: the derived layer does
    // (Notre-Dame is not in a derived working-class district).
    assert_eq!(in_2023, None);
}

#[test]
fn a_bad_perimeter_file_is_refused_with_the_feature_named_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = qpv_file(dir.path(), r#"{"type":"Point","coordinates":[2.35,48.85]}"#);
    let out = import_qpv(&data, &file);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("feature 0") || err.contains("index 0") || err.contains("#0"),
        "{err}"
    );
    assert!(stored_layers(&data).is_empty());

    let nan = qpv_file(
        dir.path(),
        r#"{"type":"Polygon","coordinates":[[[2.3,48.8],[2.4,48.8],[2.4,95.0],[2.3,48.8]]]}"#,
    );
    let out = import_qpv(&data, &nan);
    assert!(
        !out.status.success(),
        "an out-of-range latitude was accepted"
    );
    assert!(stored_layers(&data).is_empty());
}

#[test]
fn generated_reports_import_once_and_a_second_import_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("synthetic.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args(["generate", "--reports", "500", "--seed", "9", "--out"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let import = |expect: &str| {
        let out = civicmap(&["import", "reports", csv.to_str().unwrap()], &data);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains(expect), "{}", text(&out.stdout));
    };
    import("imported 500 reports, 0 already present, 0 rejected");
    import("imported 0 reports, 500 already present, 0 rejected");
}

#[test]
fn rows_a_dansmarue_import_cannot_use_are_summarised_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("dmr.csv");
    std::fs::write(
        &csv,
        "id_dmr,type,soustype,adresse,datedecl,prefixe,latitude,longitude\n\
         T1,Propreté,Déjections canines,\"1 Rue X\",2024-01-02,Android,48.85,2.35\n\
         T2,Fireworks,Big ones,\"1 Rue X\",2024-01-02,Android,48.85,2.35\n\
         T3,Propreté,Déjections canines,\"1 Rue X\",2024-01-02,Android,95,2.35\n",
    )
    .unwrap();
    let out = civicmap(&["import", "reports", csv.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 1 reports, 0 already present, 2 rejected"),
        "{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(err.contains("unknown category"), "{err}");
    assert!(err.contains("latitude"), "{err}");
}
