//! The durable store: round trips, idempotency, group commit, durability
//! settings, constraint errors. Each test opens its own store: SQLite in a
//! temporary directory, PostgreSQL in a database of its own. Tests written
//! with `on_both_backends!` run on both (`<test>::on_sqlite`,
//! `<test>::on_postgres`; the latter needs `CIVICMAP_TEST_POSTGRES_URL`,
//! see `tests/common/stores.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use civicmap::store::photos::{PhotoBatch, PhotoRow, PhotosAdded};
use civicmap::store::{
    CampaignRow, Changed, ConstraintKind, DELIVERIES_KEPT, DeliveryRow, EventRow, ExportFilter,
    Inserted, KeyRow, LayerRow, ProjectRow, Recorded, ReportChange, ReportRow, Store, StoreError,
    Supported, WebhookRow, Writer, WriterHandle,
};
use common::stores::{Place, on_both_backends};

/// A valid report; `i` varies the text fields and the position.
fn report(i: usize) -> ReportRow {
    let f = i as f64;
    ReportRow {
        id: 0,
        client_id: None,
        kind: if i.is_multiple_of(3) {
            "contribution"
        } else {
            "anomaly"
        }
        .to_owned(),
        category: format!("category_{}", i % 10),
        subcategory: i.is_multiple_of(2).then(|| format!("sub_{}", i % 7)),
        description: format!("Report number {i}: « accents », emoji 🚲 and a\nnewline."),
        lon: 2.25 + (f * 0.000_013_7) % 0.17,
        lat: 48.81 + (f * 0.000_007_3) % 0.09,
        address: Some(format!("{} rue de Rivoli, 75001 Paris", i % 200)),
        channel: ["ios", "android", "web", "back_office"][i % 4].to_owned(),
        created_at_ms: 1_700_000_000_000 + i as i64 * 1_000,
        status: ["new", "to_process", "done"][i % 3].to_owned(),
        campaign: i.is_multiple_of(5).then(|| "printemps".to_owned()),
        contact: i
            .is_multiple_of(4)
            .then(|| format!("person{i}@example.org")),
        h3: 0x08c1_fb46_622d_bfff_i64 + i as i64,
        districts: [
            Some(format!("arrondissement:7510{}", 1 + i % 9)),
            Some(format!("quartier:{}", i % 80)),
            (!i.is_multiple_of(6)).then(|| format!("conseil_quartier:{}", i % 121)),
            Some(format!("iris:{:09}", 751_010_000 + i % 992)),
            i.is_multiple_of(7)
                .then(|| "working_class:QP075001".to_owned()),
        ],
        seed: i.is_multiple_of(11),
        reporter: i.is_multiple_of(4).then_some(i as i64 * 7_919),
    }
}

fn with_client_id(mut row: ReportRow, client_id: &str) -> ReportRow {
    row.client_id = Some(client_id.to_owned());
    row
}

async fn open(dir: &tempfile::TempDir) -> Store {
    match Store::open_sqlite(dir.path()).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open store: {e}"),
    }
}

fn new_rows(inserted: Vec<Inserted>) -> Vec<ReportRow> {
    inserted
        .into_iter()
        .map(|i| match i {
            Inserted::New(r) => r,
            Inserted::Existing(r) => panic!("expected a new row, got existing {}", r.id),
        })
        .collect()
}

fn project(id: i64) -> ProjectRow {
    ProjectRow {
        id,
        title: Some(format!("Végétaliser la rue {id}")),
        edition: 2023,
        theme: Some("Environnement".to_owned()),
        lead_department: Some("DEVE".to_owned()),
        budget_eur: 150_000 + id,
        scale: "arrondissement".to_owned(),
        address: Some("12 rue de la Roquette".to_owned()),
        arrondissement_code: Some("75111".to_owned()),
        working_class_flag: id % 2 == 0,
        progress: Some("TRAVAUX".to_owned()),
        studies_start: Some("2023-01".to_owned()),
        procedures_start: None,
        works_start: Some("2024-03".to_owned()),
        delivery_planned: Some("2025-06".to_owned()),
        opened: None,
        url: Some(format!("https://example.org/projets/{id}")),
        lon: Some(2.372_1),
        lat: Some(48.855_4),
        geocode_quality: Some("address".to_owned()),
        h3: Some(0x08c1_fb46_622d_bfff),
        districts: [
            Some("arrondissement:75111".to_owned()),
            Some("quartier:43".to_owned()),
            None,
            Some("iris:751114301".to_owned()),
            None,
        ],
    }
}

fn layer(version: &str) -> LayerRow {
    LayerRow {
        layer: "working_class".to_owned(),
        version: version.to_owned(),
        source: "ANCT, QPV 2024".to_owned(),
        official: true,
        valid_from: Some("2024-01-01".to_owned()),
        valid_to: None,
        code_property: "code_qp".to_owned(),
        name_property: "lib_qp".to_owned(),
        geojson: r#"{"type":"FeatureCollection","features":[]}"#.to_owned(),
        imported_at_ms: 1_720_000_000_000,
    }
}

on_both_backends! {
    async fn every_field_of_a_report_survives_a_round_trip_including_the_contact(place) {
        let store = place.open().await;
        let mut full = with_client_id(report(0), "client-0");
        full.contact = Some("jeanne@example.org".to_owned());
        full.subcategory = Some("sub".to_owned());
        full.campaign = Some("campaign".to_owned());
        full.districts[2] = Some("conseil_quartier:1".to_owned());
        full.districts[4] = Some("working_class:QP075001".to_owned());
        full.seed = true;
        full.lon = 2.294_481_234_567_891;
        full.lat = -48.858_370_987_654_32;
        full.h3 = i64::MIN + 7; // an H3 index above i64::MAX, reinterpreted
        let mut sparse = report(1);
        sparse.subcategory = None;
        sparse.address = None;
        sparse.campaign = None;
        sparse.contact = None;
        sparse.districts = Default::default();

        let stored = new_rows(
            store
                .insert_reports(vec![full.clone(), sparse.clone()])
                .await
                .unwrap(),
        );
        assert!(stored[0].id > 0 && stored[1].id > stored[0].id);
        for (mut expected, got) in [full, sparse].into_iter().zip(&stored) {
            expected.id = got.id;
            assert_eq!(got, &expected);
            assert_eq!(
                store.report(got.id).await.unwrap().as_ref(),
                Some(&expected)
            );
        }
        let by_client = store
            .report_by_client_id("client-0")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_client.contact.as_deref(), Some("jeanne@example.org"));
        assert_eq!(store.report(9_999).await.unwrap(), None);
        assert_eq!(store.report_by_client_id("nobody").await.unwrap(), None);
    }
}

on_both_backends! {
    async fn reports_by_ids_come_back_in_the_order_asked_and_skip_unknown_ids(place) {
        let store = place.open().await;
        let rows = new_rows(
            store
                .insert_reports((0..5).map(report).collect())
                .await
                .unwrap(),
        );
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let asked = [ids[3], 12_345, ids[0], ids[4], ids[0]];
        let got: Vec<i64> = store
            .reports_by_ids(&asked)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(got, [ids[3], ids[0], ids[4], ids[0]]);
        assert!(store.reports_by_ids(&[]).await.unwrap().is_empty());
        assert_eq!(store.count_reports().await.unwrap(), 5);
    }
}

on_both_backends! {
    async fn a_client_id_already_stored_returns_the_stored_row_across_batches(place) {
        let store = place.open().await;
        let first = new_rows(
            store
                .insert_reports(vec![with_client_id(report(1), "abc")])
                .await
                .unwrap(),
        );

        // A retry with the same client id, even with other content, changes nothing.
        let retry = store
            .insert_reports(vec![with_client_id(report(2), "abc"), report(3)])
            .await
            .unwrap();
        assert_eq!(retry[0], Inserted::Existing(first[0].clone()));
        assert!(retry[1].is_new());
        assert_eq!(store.count_reports().await.unwrap(), 2);
    }
}

on_both_backends! {
    async fn a_client_id_repeated_within_one_batch_gives_one_new_and_one_existing(place) {
        let store = place.open().await;
        let out = store
            .insert_reports(vec![
                with_client_id(report(1), "dup"),
                report(2),
                with_client_id(report(3), "dup"),
            ])
            .await
            .unwrap();
        let Inserted::New(first) = &out[0] else {
            panic!("first occurrence must be new: {out:?}")
        };
        assert!(out[1].is_new());
        assert_eq!(out[2], Inserted::Existing(first.clone()));
        assert_eq!(store.count_reports().await.unwrap(), 2);
    }
}

on_both_backends! {
    async fn concurrent_submitters_get_distinct_ids_and_every_row_is_stored(place) {
        const SUBMITTERS: usize = 64;
        const PER_SUBMITTER: usize = 10;
        let store = place.open().await;
        let writer = Writer::spawn(store.clone(), 256);
        let mut tasks = Vec::new();
        for s in 0..SUBMITTERS {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for k in 0..PER_SUBMITTER {
                    let row = with_client_id(report(s * PER_SUBMITTER + k), &format!("c-{s}-{k}"));
                    let Inserted::New(stored) = writer.submit(row).await.unwrap() else {
                        panic!("a fresh client id must be new")
                    };
                    ids.push(stored.id);
                }
                ids
            }));
        }
        let mut ids = HashSet::new();
        for t in tasks {
            for id in t.await.unwrap() {
                assert!(ids.insert(id), "id {id} given twice");
            }
        }
        assert_eq!(ids.len(), SUBMITTERS * PER_SUBMITTER);
        assert_eq!(store.count_reports().await.unwrap() as usize, ids.len());
        let ids: Vec<i64> = ids.into_iter().collect();
        assert_eq!(store.reports_by_ids(&ids).await.unwrap().len(), ids.len());
    }
}

on_both_backends! {
    async fn the_on_commit_hook_sees_exactly_the_committed_rows_before_submit_returns(place) {
        let store = place.open().await;
        let seen: Arc<Mutex<Vec<Inserted>>> = Arc::default();
        let hook_seen = Arc::clone(&seen);
        let writer = Writer::spawn_with_hook(store.clone(), 64, move |batch: &[Inserted]| {
            hook_seen.lock().unwrap().extend_from_slice(batch);
        });

        let mut tasks = Vec::new();
        for i in 0..40 {
            let writer = writer.clone();
            let seen = Arc::clone(&seen);
            tasks.push(tokio::spawn(async move {
                let mut row = with_client_id(report(i), &format!("hook-{}", i % 30));
                if i == 17 {
                    row.lat = 95.0; // refused: the hook must never see it
                }
                let outcome = writer.submit(row).await;
                if let Ok(outcome) = &outcome {
                    // Visible to the hook's owner as soon as submit returns.
                    let seen = seen.lock().unwrap();
                    assert!(seen.iter().any(|s| s.row().id == outcome.row().id));
                }
                outcome
            }));
        }
        let mut acknowledged = BTreeSet::new();
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(Inserted::New(r)) => {
                    acknowledged.insert(r.id);
                }
                Ok(Inserted::Existing(_)) => {}
                Err(e) => assert_eq!(
                    (i, e.constraint_kind()),
                    (17, Some(ConstraintKind::Check)),
                    "only the bad row fails: {e}"
                ),
            }
        }
        let hooked: BTreeSet<i64> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i.is_new())
            .map(|i| i.row().id)
            .collect();
        let mut committed = BTreeSet::new();
        store
            .load_index_rows(|r| {
                committed.insert(r.id);
            })
            .await
            .unwrap();
        assert_eq!(hooked, committed);
        assert_eq!(acknowledged, committed);
        assert_eq!(
            committed.len(),
            29,
            "30 client ids, one of them only on the refused row"
        );
    }
}

on_both_backends! {
    async fn a_check_violation_is_a_constraint_error_and_commits_nothing_of_its_batch(place) {
        let store = place.open().await;
        store.insert_reports(vec![report(0)]).await.unwrap();
        type Spoil = fn(&mut ReportRow);
        let cases: [(&str, Spoil); 6] = [
            ("longitude out of range", |r| r.lon = 181.0),
            ("latitude out of range", |r| r.lat = -90.5),
            ("unknown kind", |r| r.kind = "complaint".to_owned()),
            ("unknown status", |r| r.status = "lost".to_owned()),
            ("unknown channel", |r| r.channel = "fax".to_owned()),
            ("empty district id", |r| {
                r.districts[1] = Some(String::new())
            }),
        ];
        for (what, spoil) in cases {
            let mut bad = report(2);
            spoil(&mut bad);
            let err = store
                .insert_reports(vec![report(1), bad, report(3)])
                .await
                .unwrap_err();
            assert_eq!(
                err.constraint_kind(),
                Some(ConstraintKind::Check),
                "{what}: {err}"
            );
            assert!(err.is_constraint());
            assert_eq!(
                store.count_reports().await.unwrap(),
                1,
                "{what}: nothing committed"
            );
        }
        let mut nan = report(4);
        nan.lon = f64::NAN;
        let err = store.insert_reports(vec![nan]).await.unwrap_err();
        assert!(err.is_constraint(), "NaN is refused as a constraint: {err}");
        assert!(!matches!(err, StoreError::Io(_) | StoreError::Database(_)));
        // The store still works after refusing batches.
        assert!(store.insert_reports(vec![report(5)]).await.unwrap()[0].is_new());
    }
}

#[tokio::test]
async fn debug_of_a_report_row_does_not_show_the_contact() {
    let mut row = report(0);
    row.contact = Some("secret.person@example.org".to_owned());
    let shown = format!("{row:?} {row:#?} {:?}", Inserted::New(row.clone()));
    assert!(!shown.contains("secret.person"), "{shown}");
    assert!(shown.contains("<redacted>"));
    assert!(shown.contains("Report number 0"), "other fields are shown");
}

#[tokio::test]
async fn the_store_runs_in_wal_mode_with_full_synchronous_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let p = store.sqlite_pragmas().await.unwrap().unwrap();
    assert_eq!(p.journal_mode, "wal");
    assert_eq!(p.synchronous, 2, "FULL");
    assert!(p.foreign_keys);
    assert!(
        p.busy_timeout_ms >= 1_000,
        "busy timeout {} ms",
        p.busy_timeout_ms
    );
    assert!(dir.path().join(civicmap::store::DB_FILE_NAME).is_file());
}

#[tokio::test]
async fn the_data_directory_is_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/data");
    let store = Store::open_sqlite(&nested).await.unwrap();
    assert_eq!(store.count_reports().await.unwrap(), 0);
    assert!(nested.join("civicmap.db").is_file());
}

on_both_backends! {
    async fn data_survives_dropping_and_reopening_the_store(place) {
        let first = {
            let store = place.open().await;
            let rows = new_rows(
                store
                    .insert_reports(vec![report(1), report(2)])
                    .await
                    .unwrap(),
            );
            store.meta_set("seeded", "1").await.unwrap();
            rows
            // dropped without close(): committed data must not depend on it
        };
        let store = place.open().await;
        assert_eq!(
            store.report(first[1].id).await.unwrap().as_ref(),
            Some(&first[1])
        );
        assert_eq!(
            store.meta_get("seeded").await.unwrap().as_deref(),
            Some("1")
        );
        // Ids keep increasing after a reopen.
        let next = new_rows(store.insert_reports(vec![report(3)]).await.unwrap());
        assert!(next[0].id > first[1].id);
        store.close().await;
        let store = place.open().await;
        assert_eq!(store.count_reports().await.unwrap(), 3);
    }
}

on_both_backends! {
    async fn migrations_are_applied_once_and_reopening_is_idempotent(place) {
        for round in 0..3_u64 {
            let store = place.open().await;
            assert_eq!(store.count_reports().await.unwrap(), round);
            store
                .insert_reports(vec![report(round as usize)])
                .await
                .unwrap();
            store.close().await;
        }
    }
}

on_both_backends! {
    async fn meta_values_are_set_replaced_and_read(place) {
        let store = place.open().await;
        assert_eq!(store.meta_get("reference_data").await.unwrap(), None);
        store.meta_set("reference_data", "v1").await.unwrap();
        store.meta_set("reference_data", "v2").await.unwrap();
        assert_eq!(
            store.meta_get("reference_data").await.unwrap().as_deref(),
            Some("v2")
        );
    }
}

on_both_backends! {
    async fn projects_are_upserted_by_id_and_read_back_in_id_order(place) {
        let store = place.open().await;
        let mut bare = project(3);
        bare.title = None;
        bare.lon = None;
        bare.lat = None;
        bare.h3 = None;
        bare.districts = Default::default();
        store
            .insert_projects(vec![project(7), bare.clone(), project(5)])
            .await
            .unwrap();
        let mut changed = project(7);
        changed.progress = Some("FIN".to_owned());
        changed.budget_eur = 1;
        store.insert_projects(vec![changed.clone()]).await.unwrap();
        assert_eq!(
            store.projects().await.unwrap(),
            vec![bare, project(5), changed]
        );

        let mut half_located = project(9);
        half_located.lat = None;
        let err = store.insert_projects(vec![half_located]).await.unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check));
    }
}

on_both_backends! {
    async fn layers_are_saved_replaced_by_version_and_listed(place) {
        let store = place.open().await;
        let mut old = layer("2015");
        old.valid_from = Some("2015-01-01".to_owned());
        old.valid_to = Some("2023-12-31".to_owned());
        store.save_layer(layer("2024")).await.unwrap();
        store.save_layer(old.clone()).await.unwrap();
        let mut replaced = layer("2024");
        replaced.geojson = r#"{"type":"FeatureCollection","features":[{"x":1}]}"#.to_owned();
        store.save_layer(replaced.clone()).await.unwrap();
        assert_eq!(store.layers().await.unwrap(), vec![old, replaced]);
        let mut unknown = layer("1");
        unknown.layer = "canton".to_owned();
        assert!(store.save_layer(unknown).await.unwrap_err().is_constraint());
    }
}

on_both_backends! {
    async fn districts_of_reports_and_projects_can_be_replaced_after_a_layer_import(place) {
        let store = place.open().await;
        let rows = new_rows(
            store
                .insert_reports((0..300).map(report).collect())
                .await
                .unwrap(),
        );
        let moved: [Option<String>; 5] = [
            Some("arrondissement:75120".to_owned()),
            None,
            None,
            None,
            Some("working_class:QP1".to_owned()),
        ];
        let updates: Vec<_> = rows
            .iter()
            .step_by(2)
            .map(|r| (r.id, moved.clone()))
            .collect();
        let n = store
            .update_report_districts(updates.clone())
            .await
            .unwrap();
        assert_eq!(n, 150);
        for r in &rows {
            let got = store.report(r.id).await.unwrap().unwrap();
            let expected = if (r.id - rows[0].id) % 2 == 0 {
                &moved
            } else {
                &r.districts
            };
            assert_eq!(&got.districts, expected);
        }
        store
            .insert_projects(vec![project(1), project(2)])
            .await
            .unwrap();
        let n = store
            .update_project_districts(vec![(2, moved.clone()), (404, moved.clone())])
            .await
            .unwrap();
        assert_eq!(n, 1, "an unknown id updates nothing");
        let projects = store.projects().await.unwrap();
        assert_eq!(projects[0].districts, project(1).districts);
        assert_eq!(projects[1].districts, moved);
    }
}

on_both_backends! {
    async fn index_rows_carry_the_light_fields_of_every_report_in_id_order(place) {
        let store = place.open().await;
        let rows = new_rows(
            store
                .insert_reports((0..1_000).map(report).collect())
                .await
                .unwrap(),
        );
        let mut i = 0;
        let n = store
            .load_index_rows(|got| {
                let r = &rows[i];
                assert_eq!(
                    (got.id, got.lon, got.lat, got.kind, got.category, got.status),
                    (
                        r.id,
                        r.lon,
                        r.lat,
                        r.kind.as_str(),
                        r.category.as_str(),
                        r.status.as_str()
                    )
                );
                assert_eq!((got.created_at_ms, got.h3), (r.created_at_ms, r.h3));
                assert_eq!(got.districts, r.districts.each_ref().map(Option::as_deref));
                assert_eq!(
                    (got.channel, got.reporter),
                    (r.channel.as_str(), r.reporter)
                );
                i += 1;
            })
            .await
            .unwrap();
        assert_eq!((n, i), (1_000, 1_000));
    }
}

on_both_backends! {
    async fn coordinates_of_every_magnitude_come_out_of_the_boot_scan_bit_for_bit(place) {
        let store = place.open().await;
        let values = [
            0.0,
            -0.0,
            0.125,
            -0.125,
            0.124_999_999_999_999_99,
            0.1,
            3.0e-5,
            -7.123_456_789_012_345e-3,
            1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1.0,
            2.294_481_234_567_891,
            48.858_370_987_654_32,
            89.999_999_999_999_99,
            90.0,
            -90.0,
            179.999_999_999_999_97,
            180.0,
            -180.0,
        ];
        let mut rows = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            let mut r = report(i);
            r.lon = v;
            r.lat = v.clamp(-90.0, 90.0);
            rows.push(r);
        }
        // And a spread of ordinary values with every mantissa bit in use.
        for i in 0..2_000_u64 {
            let mut r = report(i as usize);
            let x = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64 / (1_u64 << 53) as f64;
            r.lon = -180.0 + 360.0 * x;
            r.lat = 90.0 * (1.0 - 2.0 * x).powi(3);
            rows.push(r);
        }
        let inserted = new_rows(store.insert_reports(rows).await.unwrap());
        let ids: Vec<i64> = inserted.iter().map(|r| r.id).collect();
        // What the store holds: the same numbers (SQLite keeps -0.0 as 0.0).
        let stored = store.reports_by_ids(&ids).await.unwrap();
        for (a, b) in inserted.iter().zip(&stored) {
            assert!(
                a.lon == b.lon && a.lat == b.lat,
                "{} {} stored as {} {}",
                a.lon,
                a.lat,
                b.lon,
                b.lat
            );
        }
        let mut seen = 0;
        store
            .load_index_rows(|got| {
                let r = &stored[seen];
                assert_eq!(got.id, r.id);
                assert_eq!(
                    got.lon.to_bits(),
                    r.lon.to_bits(),
                    "lon {:e} came back {:e}",
                    r.lon,
                    got.lon
                );
                assert_eq!(
                    got.lat.to_bits(),
                    r.lat.to_bits(),
                    "lat {:e} came back {:e}",
                    r.lat,
                    got.lat
                );
                seen += 1;
            })
            .await
            .unwrap();
        assert_eq!(seen, stored.len());
    }
}

on_both_backends! {
    async fn the_boot_scan_pages_through_many_reports_and_id_gaps_in_id_order(place) {
        const REPORTS: usize = 40_000; // several pages of the scan
        let store = place.open().await;
        // An empty store scans nothing.
        assert_eq!(
            store.load_index_rows(|_| panic!("no rows")).await.unwrap(),
            0
        );
        let stored = new_rows(
            store
                .insert_reports((0..REPORTS).map(report).collect())
                .await
                .unwrap(),
        );
        let mut last = 0;
        let mut n = 0;
        let total = store
            .load_index_rows(|r| {
                assert!(r.id > last, "id order");
                last = r.id;
                n += 1;
            })
            .await
            .unwrap();
        assert_eq!((total, n), (REPORTS as u64, REPORTS));
        assert_eq!(last, stored[REPORTS - 1].id);
    }
}

#[tokio::test]
async fn the_boot_scan_jumps_over_a_huge_gap_in_ids_written_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store
        .insert_reports((0..10).map(report).collect())
        .await
        .unwrap();
    // Another program writes a report with an id far ahead.
    let db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join(civicmap::store::DB_FILE_NAME));
    let other = sqlx::SqlitePool::connect_with(db).await.unwrap();
    sqlx::query(
        "INSERT INTO reports (id, kind, status, category, lon, lat, created_at_ms, h3, channel, \
         description) VALUES (1000000000000, 'anomaly', 'new', 'c', 2.3, 48.8, 0, 0, 'web', '')",
    )
    .execute(&other)
    .await
    .unwrap();
    other.close().await;

    let mut ids = Vec::new();
    let n = store.load_index_rows(|r| ids.push(r.id)).await.unwrap();
    assert_eq!(n, 11);
    assert_eq!(ids.last(), Some(&1_000_000_000_000));
    // The store numbers the next report after it.
    let next = new_rows(store.insert_reports(vec![report(11)]).await.unwrap());
    assert_eq!(next[0].id, 1_000_000_000_001);
}

on_both_backends! {
    async fn separators_of_the_boot_scan_are_refused_in_categories_and_district_ids(place) {
        let store = place.open().await;
        let mut bad_category = report(0);
        bad_category.category = "a\u{1f}b".to_owned();
        let mut bad_district = report(1);
        bad_district.districts[3] = Some("iris\u{1e}1".to_owned());
        for bad in [bad_category, bad_district] {
            let err = store.insert_reports(vec![bad]).await.unwrap_err();
            assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check), "{err}");
        }
        assert_eq!(store.count_reports().await.unwrap(), 0);
    }
}

on_both_backends! {
    async fn an_empty_batch_writes_nothing(place) {
        let store = place.open().await;
        assert!(store.insert_reports(Vec::new()).await.unwrap().is_empty());
        store.insert_projects(Vec::new()).await.unwrap();
        assert_eq!(store.update_report_districts(Vec::new()).await.unwrap(), 0);
        assert_eq!(store.count_reports().await.unwrap(), 0);
    }
}

on_both_backends! {
    async fn a_panicking_hook_reports_the_rows_as_committed_and_the_writer_goes_on(place) {
        let store = place.open().await;
        let writer = Writer::spawn_with_hook(store.clone(), 8, |batch: &[Inserted]| {
            if batch.iter().any(|i| i.row().description.contains("boom")) {
                panic!("hook failure");
            }
        });
        let mut boom = with_client_id(report(0), "boom");
        boom.description = "boom".to_owned();
        let err = writer.submit(boom.clone()).await.unwrap_err();
        assert!(matches!(err, StoreError::HookPanicked), "{err}");
        // Committed all the same: a retry finds the stored row.
        assert!(store.report_by_client_id("boom").await.unwrap().is_some());
        assert!(writer.submit(report(1)).await.unwrap().is_new());
        assert_eq!(store.count_reports().await.unwrap(), 2);
    }
}

on_both_backends! {
    async fn a_closed_store_fails_every_request_and_the_writer_keeps_answering(place) {
        let store = place.open().await;
        let writer = Writer::spawn(store.clone(), 8);
        assert!(writer.submit(report(0)).await.unwrap().is_new());
        store.close().await;
        for i in 1..3 {
            let err = writer.submit(report(i)).await.unwrap_err();
            assert!(matches!(err, StoreError::Io(_)), "{err}");
        }
    }
}

on_both_backends! {
    async fn the_writer_task_ends_when_every_handle_is_dropped_after_committing_the_queue(place) {
        let store = place.open().await;
        let writer = Writer::spawn(store.clone(), 4);
        let submits: Vec<_> = (0..20)
            .map(|i| {
                let w = writer.clone();
                tokio::spawn(async move { w.submit(report(i)).await })
            })
            .collect();
        drop(writer);
        for s in submits {
            assert!(s.await.unwrap().unwrap().is_new());
        }
        assert_eq!(store.count_reports().await.unwrap(), 20);
    }
}

/// A report as the service submits it: created now, with a random-looking
/// client id (so the unique index is hit at random places, as in production).
fn live_report(i: usize) -> ReportRow {
    let mut row = report(i);
    row.created_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    row.client_id = Some(format!(
        "{:016x}",
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    ));
    row
}

/// Submits `per_submitter` live reports from each of `submitters` tasks,
/// numbered from `first`; returns reports per second.
async fn group_commit_rate(
    writer: &WriterHandle,
    submitters: usize,
    per_submitter: usize,
    first: usize,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..submitters)
        .map(|s| {
            let writer = writer.clone();
            tokio::spawn(async move {
                for k in 0..per_submitter {
                    let row = live_report(first + s * per_submitter + k);
                    assert!(writer.submit(row).await.unwrap().is_new());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (submitters * per_submitter) as f64 / started.elapsed().as_secs_f64()
}

/// Throughput and boot-scan figures; run with
/// `cargo test --release --test store -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run in release"]
async fn measure_group_commit_throughput_and_boot_scan() {
    const SUBMITTERS: usize = 64;
    const PER_SUBMITTER: usize = 500;
    const BOOT_ROWS: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let writer = Writer::spawn(store.clone(), civicmap::store::DEFAULT_MAX_BATCH);
    let n = SUBMITTERS * PER_SUBMITTER;

    let rate = group_commit_rate(&writer, SUBMITTERS, PER_SUBMITTER, 0).await;
    println!(
        "group commit, empty store: {n} reports from {SUBMITTERS} submitters, {rate:.0} reports/s"
    );

    let started = Instant::now();
    let mut i = n;
    while i < BOOT_ROWS {
        let batch: Vec<_> = (i..(i + 10_000).min(BOOT_ROWS)).map(report).collect();
        i += batch.len();
        store.insert_reports(batch).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "bulk insert: {} reports in 10,000-row transactions, {:.0} reports/s",
        BOOT_ROWS - n,
        (BOOT_ROWS - n) as f64 / secs
    );

    let rate = group_commit_rate(&writer, SUBMITTERS, PER_SUBMITTER, BOOT_ROWS).await;
    println!(
        "group commit, store of {BOOT_ROWS} reports: {n} reports from {SUBMITTERS} submitters, {rate:.0} reports/s"
    );

    // Boot opens the store afresh.
    drop(writer);
    store.close().await;
    let store = open(&dir).await;
    for _ in 0..3 {
        let started = Instant::now();
        let mut checksum = 0_i64;
        let rows = store
            .load_index_rows(|r| {
                checksum = checksum
                    .wrapping_add(r.id ^ r.h3 ^ r.districts[0].map_or(0, |d| d.len() as i64));
            })
            .await
            .unwrap();
        println!(
            "boot scan: {rows} index rows in {:.3} s (checksum {checksum})",
            started.elapsed().as_secs_f64()
        );
    }
}

/// Every event of the log, read page by page as the event stream does.
async fn whole_log(store: &Store, page: u32) -> Vec<EventRow> {
    let mut out: Vec<EventRow> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.id);
        let next = store.events_after(after, page).await.unwrap();
        assert!(next.len() <= page as usize, "a page holds at most {page}");
        if next.is_empty() {
            return out;
        }
        out.extend(next);
    }
}

on_both_backends! {
    async fn filings_committed_together_get_dense_event_ids_from_a_few_log_rows(place) {
        let store = place.open().await;
        // 0 and 11 are sample reports (no filing event); two initial statuses.
        let rows = (0..12)
            .map(|i| ReportRow {
                status: if i < 8 { "new" } else { "to_process" }.to_owned(),
                ..report(i)
            })
            .collect();
        let stored = new_rows(store.insert_reports(rows).await.unwrap());
        let filed: Vec<&ReportRow> = stored.iter().filter(|r| !r.seed).collect();
        assert_eq!(filed.len(), 10);
        let log = whole_log(&store, 1_000).await;
        let expected: Vec<(i64, i64, &str, i64, &str)> = filed
            .iter()
            .zip(1..)
            .map(|(r, k)| (k, r.id, "created", r.created_at_ms, r.status.as_str()))
            .collect();
        let got: Vec<(i64, i64, &str, i64, &str)> = log
            .iter()
            .map(|e| {
                (
                    e.id,
                    e.report_id,
                    e.kind.as_str(),
                    e.at_ms,
                    e.status.as_str(),
                )
            })
            .collect();
        assert_eq!(got, expected);
        // One log row per run of equal initial status, not one per filing.
        assert_eq!(place.count("SELECT count(*) FROM report_events").await, 2);

        // A change takes the next id; a second batch continues the numbering.
        let r = filed[4];
        let changed = store
            .change_report(ReportChange {
                report_id: r.id,
                expected_status: r.status.clone(),
                kind: "note".to_owned(),
                new_status: r.status.clone(),
                at_ms: r.created_at_ms + 1,
                note: Some("vu".to_owned()),
                author: "DPE".to_owned(),
                duplicate_of: None,
                photo: None,
                closed_at_ms: None,
                responds: true,
            })
            .await
            .unwrap();
        let Changed::Done { event: note, .. } = changed else {
            panic!("{changed:?}")
        };
        assert_eq!(note.id, 11);
        let more = new_rows(
            store
                .insert_reports((12..15).map(report).collect())
                .await
                .unwrap(),
        );
        let log = whole_log(&store, 1_000).await;
        let ids: Vec<i64> = log.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=14).collect::<Vec<_>>());
        assert_eq!(log[11].report_id, more[0].id);

        // Read in small pages or resumed from any event, the log is the same.
        assert_eq!(whole_log(&store, 3).await, log);
        for k in 0..log.len() {
            let rest = store.events_after(log[k].id, 1_000).await.unwrap();
            assert_eq!(rest, log[k + 1..].to_vec(), "resumed after {}", log[k].id);
        }

        // Each timeline starts with the very event the stream sent; sample
        // reports have none.
        for (k, r) in filed.iter().enumerate() {
            let timeline = store.events_of_reports(&[r.id]).await.unwrap();
            assert_eq!(timeline[0], log[k]);
            let rest: Vec<&str> = timeline[1..].iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(
                rest,
                if r.id == filed[4].id {
                    vec!["note"]
                } else {
                    vec![]
                }
            );
        }
        assert!(
            store
                .events_of_reports(&[stored[0].id])
                .await
                .unwrap()
                .is_empty()
        );
        let several = store
            .events_of_reports(&[filed[4].id, stored[11].id, filed[0].id, more[2].id])
            .await
            .unwrap();
        let got: Vec<(i64, &str)> = several
            .iter()
            .map(|e| (e.report_id, e.kind.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (filed[0].id, "created"),
                (filed[4].id, "created"),
                (filed[4].id, "note"),
                (more[2].id, "created"),
            ]
        );
    }
}

#[tokio::test]
async fn a_filing_logged_in_its_own_row_by_an_older_version_still_reads_as_one_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut first = report(1);
    first.status = "new".to_owned();
    let stored = new_rows(store.insert_reports(vec![first]).await.unwrap());
    // Written as schema 2 did: a `created` row of its own, no batch range.
    let db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join(civicmap::store::DB_FILE_NAME));
    let other = sqlx::SqlitePool::connect_with(db).await.unwrap();
    sqlx::query("DELETE FROM report_events")
        .execute(&other)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO report_events (id, report_id, at_ms, kind, status) \
         VALUES (7, $1, $2, 'created', 'new')",
    )
    .bind(stored[0].id)
    .bind(stored[0].created_at_ms)
    .execute(&other)
    .await
    .unwrap();
    other.close().await;
    let later = new_rows(store.insert_reports(vec![report(2)]).await.unwrap());

    let log = whole_log(&store, 10).await;
    let got: Vec<(i64, i64)> = log.iter().map(|e| (e.id, e.report_id)).collect();
    assert_eq!(got, [(7, stored[0].id), (8, later[0].id)]);
    assert_eq!(
        store.events_of_reports(&[stored[0].id]).await.unwrap(),
        log[..1]
    );
    assert_eq!(
        store.events_of_reports(&[later[0].id]).await.unwrap(),
        log[1..]
    );
}

#[tokio::test]
async fn reports_carry_only_the_indexes_a_statement_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    drop(store);
    let db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join(civicmap::store::DB_FILE_NAME))
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(db).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reports' \
         AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    // Each index costs every filing a B-tree insertion: by category, status
    // or district the in-memory index answers (schema 6 dropped those).
    // `reports_contact_created` (schema 8) is what the retention purge reads.
    assert_eq!(
        names,
        [
            "reports_campaign",
            "reports_contact_created",
            "reports_created_at"
        ]
    );
}

fn key(name: &str, byte: u8) -> KeyRow {
    KeyRow {
        id: 0,
        name: name.to_owned(),
        role: "agent".to_owned(),
        prefix: "cm_abcd".to_owned(),
        hash: vec![byte; 32],
        created_at_ms: 1_700_000_000_000,
        revoked_at_ms: None,
    }
}

fn change(r: &ReportRow, kind: &str, expected: &str, new: &str, at_ms: i64) -> ReportChange {
    ReportChange {
        report_id: r.id,
        expected_status: expected.to_owned(),
        kind: kind.to_owned(),
        new_status: new.to_owned(),
        at_ms,
        note: (kind == "note").then(|| "vu".to_owned()),
        author: "DPE".to_owned(),
        duplicate_of: None,
        photo: None,
        closed_at_ms: (new == "done").then_some(at_ms),
        responds: true,
    }
}

on_both_backends! {
    async fn keys_and_campaigns_round_trip_and_break_the_same_constraints(place) {
        let store = place.open().await;
        let id = store.insert_key(key("DPE", 7)).await.unwrap();
        let stored = store.key_by_hash(&[7; 32]).await.unwrap().unwrap();
        assert_eq!(
            stored,
            KeyRow {
                id,
                ..key("DPE", 7)
            }
        );
        assert_eq!(store.key_by_hash(&[9; 32]).await.unwrap(), None);
        let err = store.insert_key(key("Other", 7)).await.unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Unique), "{err}");
        let err = store
            .insert_key(KeyRow {
                role: "mayor".to_owned(),
                ..key("X", 8)
            })
            .await
            .unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check), "{err}");
        let err = store
            .insert_key(KeyRow {
                hash: vec![1; 31],
                ..key("X", 8)
            })
            .await
            .unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check), "{err}");
        assert!(store.revoke_key(id, 5).await.unwrap());
        assert!(!store.revoke_key(id, 6).await.unwrap(), "already revoked");
        assert_eq!(store.keys().await.unwrap()[0].revoked_at_ms, Some(5));

        let campaign = CampaignRow {
            id: 0,
            slug: "printemps".to_owned(),
            title: "Printemps".to_owned(),
            question: "Où planter ?".to_owned(),
            categories: "[]".to_owned(),
            starts_at_ms: 10,
            ends_at_ms: 20,
            district: Some("arrondissement:75111".to_owned()),
            perimeter: None,
            created_by: "DPE".to_owned(),
            created_at_ms: 5,
        };
        let cid = store.insert_campaign(campaign.clone()).await.unwrap();
        let err = store.insert_campaign(campaign.clone()).await.unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Unique), "{err}");
        let empty_window = CampaignRow {
            slug: "vide".to_owned(),
            ends_at_ms: 10,
            ..campaign.clone()
        };
        let err = store.insert_campaign(empty_window).await.unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check), "{err}");
        assert!(store.set_campaign_end(cid, 15).await.unwrap());
        assert!(!store.set_campaign_end(cid + 100, 15).await.unwrap());
        assert_eq!(
            store.campaigns().await.unwrap(),
            vec![CampaignRow {
                id: cid,
                ends_at_ms: 15,
                ..campaign
            }]
        );
    }
}

on_both_backends! {
    async fn lifecycle_changes_supports_and_their_events_behave_alike(place) {
        let store = place.open().await;
        let mut rows: Vec<ReportRow> = (1..4).map(report).collect();
        for r in &mut rows {
            r.status = "new".to_owned();
            r.seed = false;
            r.campaign = None;
        }
        rows[2].campaign = Some("printemps".to_owned());
        let rows = new_rows(store.insert_reports(rows).await.unwrap());
        let (a, b) = (&rows[0], &rows[1]);
        let t = a.created_at_ms + 10_000;

        let Changed::Done { event, state } = store
            .change_report(change(a, "status", "new", "scheduled", t))
            .await
            .unwrap()
        else {
            panic!("the change applies")
        };
        assert_eq!(
            (event.id, event.kind.as_str(), event.status.as_str()),
            (4, "status", "scheduled")
        );
        assert_eq!(
            (
                state.updated_at_ms,
                state.first_response_at_ms,
                state.closed_at_ms
            ),
            (t, Some(t), None)
        );
        assert_eq!(
            store
                .change_report(change(a, "status", "new", "done", t + 1))
                .await
                .unwrap(),
            Changed::Moved {
                status: "scheduled".to_owned()
            }
        );
        let ghost = ReportRow {
            id: 999_999,
            ..a.clone()
        };
        assert_eq!(
            store
                .change_report(change(&ghost, "note", "new", "new", t))
                .await
                .unwrap(),
            Changed::NotFound
        );
        let Changed::Done { state, .. } = store
            .change_report(change(a, "status", "scheduled", "done", t + 2))
            .await
            .unwrap()
        else {
            panic!("the change applies")
        };
        assert_eq!(
            (state.closed_at_ms, state.first_response_at_ms),
            (Some(t + 2), Some(t))
        );
        let mut dup = change(b, "duplicate", "new", "rejected", t + 3);
        dup.duplicate_of = Some(999_999);
        let err = store.change_report(dup.clone()).await.unwrap_err();
        assert_eq!(
            err.constraint_kind(),
            Some(ConstraintKind::ForeignKey),
            "{err}"
        );
        dup.duplicate_of = Some(a.id);
        assert!(matches!(
            store.change_report(dup).await.unwrap(),
            Changed::Done { .. }
        ));

        let Supported::New { event, supports } =
            store.add_support(a.id, "c1", t + 4).await.unwrap()
        else {
            panic!("a first support")
        };
        assert_eq!(
            (event.kind.as_str(), event.status.as_str(), supports),
            ("support", "done", 1)
        );
        assert_eq!(
            store.add_support(a.id, "c1", t + 5).await.unwrap(),
            Supported::Already { supports: 1 }
        );
        assert!(matches!(
            store.add_support(a.id, "c2", t + 6).await.unwrap(),
            Supported::New { supports: 2, .. }
        ));
        assert_eq!(
            store.add_support(999_999, "c1", t).await.unwrap(),
            Supported::NotFound
        );
        assert_eq!(
            store
                .add_support(b.id, "", t)
                .await
                .unwrap_err()
                .constraint_kind(),
            Some(ConstraintKind::Check)
        );

        let states = store.report_states().await.unwrap();
        let ids: Vec<i64> = states.iter().map(|s| s.report_id).collect();
        assert_eq!(ids, [a.id, b.id]);
        assert_eq!(
            (states[0].supports, states[1].duplicate_of),
            (2, Some(a.id))
        );
        assert_eq!(
            store.report_campaigns().await.unwrap(),
            vec![(rows[2].id, "printemps".to_owned())]
        );
        assert_eq!(store.last_event_id().await.unwrap(), 8);
        let between = store
            .events_between(t, t + 5, &["status", "support"], 0, 10)
            .await
            .unwrap();
        let got: Vec<(i64, &str)> = between.iter().map(|e| (e.at_ms, e.kind.as_str())).collect();
        assert_eq!(got, [(t, "status"), (t + 2, "status"), (t + 4, "support")]);
        let skipped = store
            .events_between(t, t + 5, &["status", "support"], 1, 1)
            .await
            .unwrap();
        assert_eq!(skipped, between[1..2].to_vec());
        let timeline: Vec<String> = store
            .events_of_reports(&[a.id])
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            timeline,
            ["created", "status", "status", "support", "support"]
        );
    }
}

fn photo(hash_digit: char, role: &str) -> PhotoRow {
    PhotoRow {
        id: 0,
        report_id: 0,
        hash: hash_digit.to_string().repeat(64),
        role: role.to_owned(),
        width: 800,
        height: 600,
        full_bytes: 90_000,
        display_bytes: 30_000,
        uploaded_by: "App".to_owned(),
        created_at_ms: 1_700_000_000_000,
    }
}

on_both_backends! {
    async fn photos_are_limited_per_report_and_role_in_their_transaction(place) {
        let store = place.open().await;
        let r = new_rows(store.insert_reports(vec![report(1)]).await.unwrap()).remove(0);
        let batch = |rows: Vec<PhotoRow>, role: &str, max: i64, status: Option<&str>| PhotoBatch {
            report_id: r.id,
            role: role.to_owned(),
            max,
            required_status: status.map(str::to_owned),
            rows,
        };
        let PhotosAdded::Done(done) = store
            .add_photos(batch(
                vec![
                    photo('a', "report"),
                    photo('b', "report"),
                    photo('a', "report"),
                ],
                "report",
                3,
                None,
            ))
            .await
            .unwrap()
        else {
            panic!("within the limit")
        };
        let news: Vec<bool> = done.iter().map(|(_, new)| *new).collect();
        assert_eq!(news, [true, true, false]);
        assert_eq!(done[0].0, done[2].0);
        assert_eq!(
            store
                .add_photos(batch(
                    vec![photo('c', "report"), photo('d', "report")],
                    "report",
                    3,
                    None
                ))
                .await
                .unwrap(),
            PhotosAdded::Full { stored: 2 }
        );
        assert_eq!(
            store
                .add_photos(batch(vec![photo('a', "after")], "after", 1, None))
                .await
                .unwrap(),
            PhotosAdded::RoleTaken {
                hash: "a".repeat(64),
                role: "report".to_owned()
            }
        );
        assert_eq!(
            store
                .add_photos(batch(vec![photo('e', "after")], "after", 1, Some("done")))
                .await
                .unwrap(),
            PhotosAdded::WrongStatus {
                status: r.status.clone()
            }
        );
        let ghost = PhotoBatch {
            report_id: 999_999,
            ..batch(vec![photo('e', "report")], "report", 3, None)
        };
        assert_eq!(
            store.add_photos(ghost).await.unwrap(),
            PhotosAdded::NotFound
        );
        let mut bad = photo('f', "report");
        bad.hash = "F".repeat(64);
        let err = store
            .add_photos(batch(vec![bad], "report", 3, None))
            .await
            .unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check), "{err}");
        let held = store.photos_of(r.id).await.unwrap();
        assert_eq!(held.len(), 2);
        assert_eq!(held[0], done[0].0);
        assert!(store.photo_exists(&"b".repeat(64)).await.unwrap());
        assert!(!store.photo_exists(&"c".repeat(64)).await.unwrap());
    }
}

on_both_backends! {
    async fn webhooks_record_deliveries_move_cursors_and_disable_after_failures(place) {
        let store = place.open().await;
        let key_id = store.insert_key(key("Back office", 3)).await.unwrap();
        let hook = WebhookRow {
            id: 0,
            key_id,
            name: "bo".to_owned(),
            description: String::new(),
            url: "https://bo.example.org/hook".to_owned(),
            secret: "s".repeat(40),
            district: None,
            area: None,
            bbox: Some("2.2,48.8,2.4,48.9".to_owned()),
            categories: "[]".to_owned(),
            kinds: "[]".to_owned(),
            cursor: 0,
            created_at_ms: 1,
            deleted_at_ms: None,
            disabled_at_ms: None,
            disabled_reason: None,
            failures: 0,
        };
        let id = store.insert_webhook(hook.clone()).await.unwrap();
        let err = store
            .insert_webhook(WebhookRow {
                key_id: 999,
                ..hook.clone()
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.constraint_kind(),
            Some(ConstraintKind::ForeignKey),
            "{err}"
        );
        let two_areas = WebhookRow {
            district: Some("arrondissement:75101".to_owned()),
            ..hook.clone()
        };
        let err = store.insert_webhook(two_areas).await.unwrap_err();
        assert_eq!(err.constraint_kind(), Some(ConstraintKind::Check), "{err}");

        store.advance_webhook(id, 5, None).await.unwrap();
        store.advance_webhook(id, 3, None).await.unwrap();
        assert_eq!(
            store.webhook(id).await.unwrap().unwrap().cursor,
            5,
            "never backwards"
        );
        let delivery = |event_id: i64, ok: bool| DeliveryRow {
            id: 0,
            webhook_id: id,
            event_id,
            at_ms: 100 + event_id,
            attempts: 3,
            ok,
            status: ok.then_some(200),
            error: (!ok).then(|| "timeout".to_owned()),
            duration_ms: 12,
        };
        for event_id in 6..(6 + DELIVERIES_KEPT + 2) {
            assert_eq!(
                store
                    .record_delivery(delivery(event_id, true), 2, "failing", None)
                    .await
                    .unwrap(),
                Recorded::Done
            );
        }
        let last = 6 + DELIVERIES_KEPT + 2;
        assert_eq!(
            store
                .record_delivery(delivery(last, false), 2, "failing", None)
                .await
                .unwrap(),
            Recorded::Done
        );
        assert_eq!(
            store
                .record_delivery(delivery(last + 1, false), 2, "failing", None)
                .await
                .unwrap(),
            Recorded::Disabled
        );
        assert_eq!(
            store
                .record_delivery(delivery(last + 2, true), 2, "failing", None)
                .await
                .unwrap(),
            Recorded::Inactive
        );
        let stored = store.webhook(id).await.unwrap().unwrap();
        assert_eq!(
            (
                stored.cursor,
                stored.failures,
                stored.disabled_reason.as_deref()
            ),
            (last + 1, 2, Some("failing"))
        );
        let log = store.webhook_deliveries(id, 1_000).await.unwrap();
        assert_eq!(log.len() as i64, DELIVERIES_KEPT, "pruned to the last ones");
        assert_eq!(
            (log[0].event_id, log[0].ok, log[0].status),
            (last + 1, false, None)
        );
        assert!(store.enable_webhook(id).await.unwrap());
        assert!(
            !store.enable_webhook(id).await.unwrap(),
            "not disabled any more"
        );
        assert!(store.delete_webhook(id, 7).await.unwrap());
        assert!(!store.delete_webhook(id, 8).await.unwrap());
        let all = store.webhooks().await.unwrap();
        assert_eq!(
            (all.len(), all[0].deleted_at_ms, all[0].failures),
            (1, Some(7), 0)
        );
    }
}

on_both_backends! {
    async fn contacts_are_erased_once_with_their_pseudonym_and_recorded(place) {
        let store = place.open().await;
        let mut rows: Vec<ReportRow> = (0..4).map(report).collect();
        for (i, r) in rows.iter_mut().enumerate() {
            r.contact = (i != 3).then(|| "jeanne@example.org".to_owned());
            r.reporter = (i != 3).then_some(42);
            r.created_at_ms = 1_000 * (i as i64 + 1);
        }
        let rows = new_rows(store.insert_reports(rows).await.unwrap());
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(
            store
                .reports_of_contact("jeanne@example.org", 42)
                .await
                .unwrap(),
            ids[..3]
        );
        assert_eq!(
            store.contacts_filed_before(2_500, 10).await.unwrap(),
            ids[..2]
        );

        let erased = store
            .erase_contacts(&ids[..2], 9_000, "request", Some("DPE"), true)
            .await
            .unwrap();
        assert_eq!(erased.ids, ids[..2]);
        let again = store
            .erase_contacts(&ids, 9_001, "retention", None, false)
            .await
            .unwrap();
        assert_eq!(again.ids, [ids[2]], "only reports still holding one");
        for r in store.reports_by_ids(&ids).await.unwrap() {
            assert_eq!((r.contact, r.reporter), (None, None));
        }
        assert!(
            store
                .reports_of_contact("jeanne@example.org", 42)
                .await
                .unwrap()
                .is_empty()
        );
        let record = store.contact_record(ids[0]).await.unwrap().unwrap();
        assert!(!record.held);
        let reasons: Vec<(&str, Option<&str>)> = record
            .erasures
            .iter()
            .map(|e| (e.reason.as_str(), e.author.as_deref()))
            .collect();
        assert_eq!(reasons, [("request", Some("DPE"))]);
        assert_eq!(store.contact_record(999_999).await.unwrap(), None);
        let err = store
            .erase_contacts(&[ids[3]], 1, "request", None, false)
            .await;
        assert!(
            err.unwrap().ids.is_empty(),
            "nothing held: nothing checked or written"
        );
        store.vacuum().await.unwrap();
        assert_eq!(store.count_reports().await.unwrap(), 4);
    }
}

on_both_backends! {
    async fn export_pages_are_filtered_keyed_by_id_and_keep_every_coordinate_bit(place) {
        let store = place.open().await;
        let mut rows: Vec<ReportRow> = (0..50).map(report).collect();
        rows[7].lon = 0.1;
        rows[7].lat = -3.0e-5;
        rows[8].description = "a\u{1e}b\u{1f}c, \"d\"\né".to_owned();
        let rows = new_rows(store.insert_reports(rows).await.unwrap());
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let page = store
                .export_reports_page(&ExportFilter::default(), after, 16)
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            for r in page.rows().unwrap() {
                seen.push((
                    r.id,
                    r.lon.to_bits(),
                    r.lat.to_bits(),
                    r.description.to_owned(),
                    r.districts.map(|d| d.map(str::to_owned)),
                ));
            }
            after = page.last_id().unwrap();
        }
        let expected: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.lon.to_bits(),
                    r.lat.to_bits(),
                    r.description.clone(),
                    r.districts.clone(),
                )
            })
            .collect();
        assert_eq!(seen, expected);

        let filter = ExportFilter {
            status: Some("done".to_owned()),
            ..ExportFilter::default()
        };
        let page = store.export_reports_page(&filter, 0, 1_000).await.unwrap();
        let ids: Vec<i64> = page.rows().unwrap().iter().map(|r| r.id).collect();
        let done: Vec<i64> = rows
            .iter()
            .filter(|r| r.status == "done")
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, done);
    }
}

#[tokio::test]
async fn a_database_url_picks_the_backend_by_its_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Store::open_url(None, dir.path()).await.unwrap();
    assert_eq!(plain.backend_name(), "sqlite");
    plain.close().await;
    let other = dir.path().join("elsewhere");
    let url = format!("sqlite://{}", other.display());
    let by_url = Store::open_url(Some(&url), dir.path()).await.unwrap();
    assert_eq!(by_url.backend_name(), "sqlite");
    assert!(other.join(civicmap::store::DB_FILE_NAME).is_file());
    let err = Store::open_url(Some("mysql://localhost/x"), dir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownScheme { ref scheme } if scheme == "mysql"),
        "{err}"
    );
    if let Some(Place::Postgres(db)) = Place::postgres().await {
        let pg = Store::open_url(Some(&db.url), dir.path()).await.unwrap();
        assert_eq!(pg.backend_name(), "postgres");
        pg.close().await;
    }
}

/// A second instance on the same database: another store handle, with its
/// own connections.
async fn two_instances() -> Option<(Place, Store, Store)> {
    let place = Place::postgres().await?;
    let (a, b) = (place.open().await, place.open().await);
    Some((place, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_filed_through_two_instances_at_once_is_stored_once_on_postgres() {
    let Some((_place, a, b)) = two_instances().await else {
        return;
    };
    for round in 0..20 {
        let cid = format!("both-{round}");
        let (x, y) = tokio::join!(
            a.insert_reports(vec![report(1), with_client_id(report(2), &cid)]),
            b.insert_reports(vec![with_client_id(report(3), &cid), report(4)]),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_ne!(x[1].is_new(), y[0].is_new(), "exactly one of them files it");
        assert_eq!(x[1].row(), y[0].row(), "the other gets the stored row");
    }
    assert_eq!(a.count_reports().await.unwrap(), 20 * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_from_two_instances_never_collide_and_the_log_counts_each_filing_once_on_postgres() {
    let Some((_place, a, b)) = two_instances().await else {
        return;
    };
    let file = |store: Store, from: usize| async move {
        let mut ids = Vec::new();
        for k in 0..25 {
            let rows = (0..8)
                .map(|i| ReportRow {
                    seed: false,
                    ..report(from + k * 8 + i)
                })
                .collect();
            let stored = new_rows(store.insert_reports(rows).await.unwrap());
            let batch: Vec<i64> = stored.iter().map(|r| r.id).collect();
            // One batch, one contiguous block of ids, increasing.
            assert!(batch.windows(2).all(|w| w[1] == w[0] + 1), "{batch:?}");
            assert!(ids.last().is_none_or(|l| *l < batch[0]));
            ids.extend(batch);
        }
        ids
    };
    let (x, y) = tokio::join!(
        tokio::spawn(file(a.clone(), 0)),
        tokio::spawn(file(b.clone(), 10_000))
    );
    let mut all: Vec<i64> = x.unwrap().into_iter().chain(y.unwrap()).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 400, "no id given twice");
    let log = whole_log(&a, 64).await;
    let mut filed: Vec<i64> = log.iter().map(|e| e.report_id).collect();
    filed.sort_unstable();
    assert_eq!(filed, all, "one created event per filing");
    let event_ids: Vec<i64> = log.iter().map(|e| e.id).collect();
    assert_eq!(
        event_ids,
        (1..=400).collect::<Vec<_>>(),
        "dense and increasing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_that_changes_a_report_appends_to_the_change_sequence_and_notifies_on_postgres()
{
    let Some(place) = Place::postgres().await else {
        return;
    };
    let Place::Postgres(db) = &place else {
        unreachable!()
    };
    let store = place.open().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener
        .listen(civicmap::store::CHANGES_CHANNEL)
        .await
        .unwrap();

    let rows = new_rows(
        store
            .insert_reports((1..4).map(report).collect())
            .await
            .unwrap(),
    );
    let first = &rows[0];
    let status = first.status.clone();
    store
        .change_report(change(first, "note", &status, &status, 5))
        .await
        .unwrap();
    store.add_support(first.id, "c1", 6).await.unwrap();
    store.add_support(first.id, "c1", 7).await.unwrap(); // already: no change
    store
        .update_report_districts(vec![(rows[1].id, Default::default())])
        .await
        .unwrap();
    let mut with_contact = report(8);
    with_contact.contact = Some("x@example.org".to_owned());
    let contact = new_rows(store.insert_reports(vec![with_contact]).await.unwrap()).remove(0);
    store
        .erase_contacts(&[contact.id], 9, "retention", None, false)
        .await
        .unwrap();
    // Refused writes leave nothing.
    assert!(
        store
            .insert_reports(vec![ReportRow {
                lat: 99.0,
                ..report(9)
            }])
            .await
            .is_err()
    );

    let changes: Vec<(i64, i64, String)> = {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        sqlx::query_as("SELECT seq, report_id, kind FROM changes ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    let got: Vec<(i64, &str)> = changes.iter().map(|(_, id, k)| (*id, k.as_str())).collect();
    assert_eq!(
        got,
        [
            (rows[0].id, "created"),
            (rows[1].id, "created"),
            (rows[2].id, "created"),
            (first.id, "note"),
            (first.id, "support"),
            (rows[1].id, "districts"),
            (contact.id, "created"),
            (contact.id, "contact"),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].0 < w[1].0), "seq increases");
    // One notification per committed transaction, carrying its last seq.
    let mut payloads = Vec::new();
    while payloads.len() < 6 {
        let n = listener.recv().await.unwrap();
        assert_eq!(n.channel(), civicmap::store::CHANGES_CHANNEL);
        payloads.push(n.payload().parse::<i64>().unwrap());
    }
    let seqs: Vec<i64> = changes.iter().map(|c| c.0).collect();
    assert_eq!(
        payloads,
        [seqs[2], seqs[3], seqs[4], seqs[5], seqs[6], seqs[7]]
    );
}

#[tokio::test]
async fn the_boot_scan_and_the_numbering_jump_over_a_huge_id_written_by_hand_on_postgres() {
    let Some(place) = Place::postgres().await else {
        return;
    };
    let Place::Postgres(db) = &place else {
        unreachable!()
    };
    let store = place.open().await;
    store
        .insert_reports((0..10).map(report).collect())
        .await
        .unwrap();
    let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO reports (id, kind, status, category, lon, lat, created_at_ms, h3, channel, \
         description) VALUES (1000000000000, 'anomaly', 'new', 'c', 2.3, 48.8, 0, 0, 'web', '')",
    )
    .execute(&mut other)
    .await
    .unwrap();
    let mut ids = Vec::new();
    let n = store.load_index_rows(|r| ids.push(r.id)).await.unwrap();
    assert_eq!(n, 11);
    assert_eq!(ids.last(), Some(&1_000_000_000_000));
    let next = new_rows(store.insert_reports(vec![report(11)]).await.unwrap());
    assert_eq!(next[0].id, 1_000_000_000_001);
}

#[tokio::test]
async fn reports_carry_the_same_indexes_on_postgres_as_on_sqlite() {
    let Some(place) = Place::postgres().await else {
        return;
    };
    let Place::Postgres(db) = &place else {
        unreachable!()
    };
    drop(place.open().await);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'reports' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // The primary key and the unique client id, then what SQLite schema 8
    // ends with (see `reports_carry_only_the_indexes_a_statement_reads`).
    assert_eq!(
        names,
        [
            "reports_campaign",
            "reports_client_id_key",
            "reports_contact_created",
            "reports_created_at",
            "reports_pkey"
        ]
    );
}

on_both_backends! {
    async fn the_change_feed_lists_changed_reports_in_commit_order_and_notifies_listeners(place) {
        let store = place.open().await;
        let listener = store.listen_changes().await.unwrap();
        let start = store.change_seq().await.unwrap();
        let rows = new_rows(
            store
                .insert_reports((0..3).map(report).collect())
                .await
                .unwrap(),
        );
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        store.add_support(ids[1], "feed-1", 1_000).await.unwrap();
        let states = store.report_states_of(&[ids[0], ids[1], 999_999]).await.unwrap();
        assert_eq!(
            states.iter().map(|s| (s.report_id, s.supports)).collect::<Vec<_>>(),
            [(ids[1], 1)],
            "only reports with a state, on {}",
            place.backend()
        );
        let Some(mut listener) = listener else {
            // SQLite: one instance per store, no feed.
            assert_eq!(place.backend(), "sqlite");
            assert_eq!(start, None);
            assert_eq!(store.change_seq().await.unwrap(), None);
            assert!(store.changes_after(0, 100).await.unwrap().is_empty());
            return;
        };
        let start = start.unwrap();
        let feed = store.changes_after(start, 100).await.unwrap();
        let listed: Vec<(i64, &str)> =
            feed.iter().map(|c| (c.report_id.unwrap(), c.kind.as_str())).collect();
        assert_eq!(
            listed,
            [(ids[0], "created"), (ids[1], "created"), (ids[2], "created"), (ids[1], "support")]
        );
        assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq));
        let last = feed.last().unwrap().seq;
        assert_eq!(store.change_seq().await.unwrap(), Some(last));
        assert_eq!(store.changes_after(start, 2).await.unwrap(), feed[..2]);
        assert!(store.changes_after(last, 100).await.unwrap().is_empty());
        // One notification per transaction, with its last seq.
        let mut heard = Vec::new();
        while heard.last() != Some(&last) {
            let note = tokio::time::timeout(std::time::Duration::from_secs(30), listener.recv())
                .await
                .expect("a notification")
                .unwrap();
            match note {
                civicmap::store::ChangeNote::Seq(s) => heard.push(s),
                civicmap::store::ChangeNote::Reconnected => panic!("not disconnected"),
            }
        }
        assert_eq!(heard, [feed[2].seq, last]);
    }
}
