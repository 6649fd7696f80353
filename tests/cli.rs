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

// ------------------------------------------------------------ damaged imports

/// Reports, projects and perimeter layers in a data directory.
fn stored_counts(data: &Path) -> (u64, usize, usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = civicmap::store::Store::open_sqlite(data).await.unwrap();
        let counts = (
            store.count_reports().await.unwrap(),
            store.projects().await.unwrap().len(),
            store.layers().await.unwrap().len(),
        );
        store.close().await;
        counts
    })
}

const DMR_HEADER: &str = "id_dmr,type,soustype,adresse,datedecl,prefixe,latitude,longitude\n";

fn dmr_row(id: &str) -> String {
    format!("{id},Propreté,Déjections canines,\"1 Rue X\",2024-01-02,Android,48.85,2.35\n")
}

/// A data directory holding one imported report.
fn data_with_one_report(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let csv = dir.join("one.csv");
    std::fs::write(&csv, format!("{DMR_HEADER}{}", dmr_row("K1"))).unwrap();
    let out = civicmap(&["import", "reports", csv.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stored_counts(&data), (1, 0, 0));
    data
}

/// Imports `bytes` as a report file and expects a refusal naming `line`.
fn assert_report_file_refused(bytes: &[u8], line: usize, reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = data_with_one_report(dir.path());
    let csv = dir.path().join("damaged.csv");
    std::fs::write(&csv, bytes).unwrap();
    let out = civicmap(&["import", "reports", csv.to_str().unwrap()], &data);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "accepted: {}", text(&out.stdout));
    assert!(err.contains(&format!("line {line}:")), "{err}");
    assert!(err.contains(reason), "{err}");
    assert_eq!(stored_counts(&data), (1, 0, 0), "{err}");
}

/// More rows than one import chunk (5,000), so that a chunk-by-chunk import
/// would have committed some before meeting the damage.
fn many_rows(n: usize) -> String {
    let mut csv = DMR_HEADER.to_owned();
    for i in 0..n {
        csv.push_str(&dmr_row(&format!("M{i}")));
    }
    csv
}

#[test]
fn a_report_file_cut_short_in_its_last_line_is_refused_with_that_line_and_stores_nothing() {
    let csv = many_rows(5_100);
    let cut = &csv.as_bytes()[..csv.len() - 9];
    assert_report_file_refused(cut, 5_101, "truncated");
}

#[test]
fn a_report_record_with_a_missing_field_after_a_full_chunk_is_refused_and_stores_nothing() {
    let mut csv = many_rows(5_100);
    csv.push_str("M-short,Propreté,Déjections canines,\"1 Rue X\",2024-01-02,Android,48.85\n");
    csv.push_str(&dmr_row("M-after"));
    assert_report_file_refused(csv.as_bytes(), 5_102, "7 fields where the header has 8");
}

#[test]
fn a_report_file_that_is_not_utf8_is_refused_with_the_line_of_the_bad_byte() {
    let mut csv = many_rows(10).into_bytes();
    // "Propreté" in Latin-1, on line 12.
    csv.extend_from_slice(
        b"L1,Propret\xe9,D\xe9jections canines,x,2024-01-02,Android,48.85,2.35\n",
    );
    assert_report_file_refused(&csv, 12, "not UTF-8");
}

#[test]
fn a_report_file_with_an_unclosed_quote_is_refused() {
    let mut csv = many_rows(3);
    csv.push_str("Q1,Propreté,Déjections canines,\"1 Rue X,2024-01-02,Android,48.85,2.35\n");
    // The quoted field runs to the end of the file: one field short.
    assert_report_file_refused(csv.as_bytes(), 5, "fields where the header has 8");
}

#[test]
fn a_damaged_projects_file_is_refused_with_its_line_and_stores_no_project() {
    let shipped = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/paris_budget_participatif_projets_gagnants_2023_2024_complement.csv"
    ))
    .unwrap();
    let lines = shipped.split(|&b| b == b'\n').count() - 1;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("bp.csv");

    std::fs::write(&file, &shipped[..shipped.len() - 20]).unwrap();
    let out = civicmap(&["import", "projects", file.to_str().unwrap()], &data);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(err.contains(&format!("line {lines}:")), "{err}");
    assert!(err.contains("truncated"), "{err}");

    // An extra field in the record of line 40.
    let mut extra = Vec::new();
    for (i, l) in shipped.split_inclusive(|&b| b == b'\n').enumerate() {
        if i + 1 == 40 {
            extra.extend_from_slice(b"surplus,");
        }
        extra.extend_from_slice(l);
    }
    std::fs::write(&file, &extra).unwrap();
    let out = civicmap(&["import", "projects", file.to_str().unwrap()], &data);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(err.contains("line 40:"), "{err}");
    assert_eq!(stored_counts(&data), (0, 0, 0));

    // The intact file imports.
    std::fs::write(&file, &shipped).unwrap();
    let out = civicmap(&["import", "projects", file.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stored_counts(&data).1, lines - 1);
}

#[test]
fn a_perimeter_file_that_does_not_parse_is_refused_with_its_line_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let whole = std::fs::read_to_string(qpv_file(dir.path(), SQUARE)).unwrap();
    let file = dir.path().join("cut.geojson");
    // Cut inside the geometry, on the third line.
    std::fs::write(&file, &whole[..whole.len() - 30]).unwrap();
    let out = import_qpv(&data, &file);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("line 3"), "{err}");
    assert!(stored_layers(&data).is_empty());

    let mut latin1 = whole
        .replace("Quartier de test", "Quartier de la Sant?")
        .into_bytes();
    let at = latin1.iter().position(|&b| b == b'?').unwrap();
    latin1[at] = 0xe9;
    std::fs::write(&file, &latin1).unwrap();
    let out = import_qpv(&data, &file);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 2:") && err.contains("not UTF-8"),
        "{err}"
    );
    assert!(stored_layers(&data).is_empty());
}
