//! `civicmap migrate-store`: a SQLite store copied into a fresh PostgreSQL
//! database, checked row by row, through the store's API, through the whole
//! application (reports, timelines, statistics, keys) and as the real
//! binary; a target that holds anything, or a schema the plan does not
//! know, is refused before anything is written; after the copy, new rows
//! get fresh ids; a check that differs is printed and fails the command.
//!
//! Needs `CIVICMAP_TEST_POSTGRES_URL` (see `tests/common/stores.rs`);
//! skipped without it unless `CIVICMAP_POSTGRES_TEST=require`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicmap::store::migrate::{self, Check, Kind, MigrateError, Progress, TABLES};
use civicmap::store::photos::{PhotoBatch, PhotoRow, PhotosAdded};
use civicmap::store::{
    CampaignRow, Changed, DeliveryRow, EventRow, Inserted, KeyRow, LayerRow, Lease, ProjectRow,
    ReportChange, ReportRow, Store, Supported, WebhookRow,
};
use common::stores::Place;
use serde_json::{Value, json};
use sqlx::{Connection as _, Row as _};

/// A report; `i` varies every optional field.
fn report(i: usize) -> ReportRow {
    let f = i as f64;
    ReportRow {
        id: 0,
        client_id: (!i.is_multiple_of(3)).then(|| format!("client-{i}")),
        kind: if i.is_multiple_of(5) {
            "contribution"
        } else {
            "anomaly"
        }
        .to_owned(),
        category: format!("category_{}", i % 4),
        subcategory: i.is_multiple_of(2).then(|| format!("sub_{}", i % 7)),
        description: format!("Report {i}: « accents », emoji 🚲 and a\nnewline."),
        lon: 2.25 + (f * 0.013_7) % 0.17,
        lat: 48.81 + (f * 0.007_3) % 0.09,
        address: i
            .is_multiple_of(2)
            .then(|| format!("{i} rue de Rivoli, 75001 Paris")),
        channel: ["ios", "android", "web", "back_office"][i % 4].to_owned(),
        created_at_ms: 1_700_000_000_000 + i as i64 * 60_000,
        status: "new".to_owned(),
        campaign: i.is_multiple_of(5).then(|| "printemps".to_owned()),
        contact: i
            .is_multiple_of(2)
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
        reporter: i.is_multiple_of(2).then_some(i as i64 * 7_919),
    }
}

fn project(id: i64) -> ProjectRow {
    ProjectRow {
        id,
        title: Some(format!("Végétaliser la rue {id}")),
        edition: 2023,
        theme: (id != 7).then(|| "Environnement".to_owned()),
        lead_department: Some("DEVE".to_owned()),
        budget_eur: 150_000 + id,
        scale: if id == 1 { "city" } else { "arrondissement" }.to_owned(),
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
        lon: (id != 7).then_some(2.372_123_456_789),
        lat: (id != 7).then_some(48.855_412_345_678),
        geocode_quality: Some("address".to_owned()),
        h3: (id != 7).then_some(0x08c1_fb46_622d_bfff),
        districts: [
            Some("arrondissement:75111".to_owned()),
            Some("quartier:43".to_owned()),
            None,
            Some("iris:751114301".to_owned()),
            None,
        ],
    }
}

fn layer(version: &str, valid_from: Option<&str>) -> LayerRow {
    LayerRow {
        layer: "working_class".to_owned(),
        version: version.to_owned(),
        source: "ANCT, QPV".to_owned(),
        official: version != "derived",
        valid_from: valid_from.map(str::to_owned),
        valid_to: None,
        code_property: "code_qp".to_owned(),
        name_property: "lib_qp".to_owned(),
        geojson: r#"{"type":"FeatureCollection","features":[]}"#.to_owned(),
        imported_at_ms: 1_720_000_000_000,
    }
}

fn key_row(name: &str, role: &str, digest: [u8; 32], prefix: &str) -> KeyRow {
    KeyRow {
        id: 0,
        name: name.to_owned(),
        role: role.to_owned(),
        prefix: prefix.to_owned(),
        hash: digest.to_vec(),
        created_at_ms: 1_700_000_000_000,
        revoked_at_ms: None,
    }
}

fn photo(report_id: i64, n: u8, role: &str) -> PhotoRow {
    PhotoRow {
        id: 0,
        report_id,
        hash: format!("{n:02x}").repeat(32),
        role: role.to_owned(),
        width: 1600,
        height: 1200,
        full_bytes: 350_000 + i64::from(n),
        display_bytes: 80_000,
        uploaded_by: "App iOS".to_owned(),
        created_at_ms: 1_700_100_000_000 + i64::from(n),
    }
}

fn status_change(id: i64, from: &str, to: &str, at_ms: i64) -> ReportChange {
    ReportChange {
        report_id: id,
        expected_status: from.to_owned(),
        kind: "status".to_owned(),
        new_status: to.to_owned(),
        at_ms,
        note: None,
        author: "DPE".to_owned(),
        duplicate_of: None,
        photo: None,
        closed_at_ms: ["done", "rejected", "archived"]
            .contains(&to)
            .then_some(at_ms),
        responds: true,
    }
}

fn new_ids(inserted: Vec<Inserted>) -> Vec<i64> {
    inserted
        .into_iter()
        .map(|i| match i {
            Inserted::New(r) => r.id,
            Inserted::Existing(r) => panic!("report {} was already stored", r.id),
        })
        .collect()
}

/// The keys given to the source, by what they are.
struct Keys {
    agent: String,
    revoked: String,
}

/// A source holding a row in every table: reports in several statuses
/// (sample ones too, which have no `created` event), their events, state,
/// supports, a campaign, photos, a webhook with deliveries, keys (one
/// revoked), erased contacts (on request and by retention), projects,
/// perimeter layers and meta values.
async fn fill(store: &Store) -> Keys {
    store.meta_set("seeded", "paris-sample").await.unwrap();
    store.meta_set("pseudonym_key", "00ff").await.unwrap();
    store
        .save_layer(layer("2024", Some("2024-01-01")))
        .await
        .unwrap();
    store.save_layer(layer("derived", None)).await.unwrap();
    store
        .insert_projects(vec![project(1), project(7), project(42)])
        .await
        .unwrap();

    let agent = civicmap::auth::generate();
    let revoked = civicmap::auth::generate();
    let app = civicmap::auth::generate();
    let agent_id = store
        .insert_key(key_row("DPE", "agent", agent.digest, &agent.prefix))
        .await
        .unwrap();
    store
        .insert_key(key_row("App iOS", "app", app.digest, &app.prefix))
        .await
        .unwrap();
    let revoked_id = store
        .insert_key(key_row(
            "Old admin",
            "admin",
            revoked.digest,
            &revoked.prefix,
        ))
        .await
        .unwrap();
    assert!(
        store
            .revoke_key(revoked_id, 1_700_500_000_000)
            .await
            .unwrap()
    );

    store
        .insert_campaign(CampaignRow {
            id: 0,
            slug: "printemps".to_owned(),
            title: "Printemps des rues".to_owned(),
            question: "Où planter ?".to_owned(),
            categories: r#"["vegetalisation"]"#.to_owned(),
            starts_at_ms: 1_699_000_000_000,
            ends_at_ms: 1_799_000_000_000,
            district: Some("arrondissement:75111".to_owned()),
            perimeter: None,
            created_by: "Admin".to_owned(),
            created_at_ms: 1_699_000_000_000,
        })
        .await
        .unwrap();

    // Three batches: one `created` log row per batch (and status run).
    let mut ids = Vec::new();
    for batch in [0..12, 12..30, 30..45] {
        ids.extend(new_ids(
            store
                .insert_reports(batch.map(report).collect())
                .await
                .unwrap(),
        ));
    }
    let t = 1_701_000_000_000;
    for (n, id) in ids.iter().enumerate().filter(|(n, _)| n % 3 == 1) {
        let done = n % 2 == 1;
        let changed = store
            .change_report(status_change(*id, "new", "to_process", t + n as i64))
            .await
            .unwrap();
        assert!(matches!(changed, Changed::Done { .. }));
        if done {
            let changed = store
                .change_report(status_change(
                    *id,
                    "to_process",
                    "done",
                    t + 1_000 + n as i64,
                ))
                .await
                .unwrap();
            assert!(matches!(changed, Changed::Done { .. }));
        }
    }
    let mut note = status_change(ids[2], "new", "new", t + 5_000);
    note.kind = "note".to_owned();
    note.note = Some("Équipe prévenue".to_owned());
    note.closed_at_ms = None;
    assert!(matches!(
        store.change_report(note).await.unwrap(),
        Changed::Done { .. }
    ));
    let mut duplicate = status_change(ids[3], "new", "rejected", t + 6_000);
    duplicate.kind = "duplicate".to_owned();
    duplicate.duplicate_of = Some(ids[0]);
    assert!(matches!(
        store.change_report(duplicate).await.unwrap(),
        Changed::Done { .. }
    ));
    for (id, client) in [(ids[0], "me-1"), (ids[0], "me-2"), (ids[5], "me-1")] {
        assert!(matches!(
            store.add_support(id, client, t + 7_000).await.unwrap(),
            Supported::New { .. }
        ));
    }
    for (id, n) in [(ids[0], 1_u8), (ids[0], 2), (ids[4], 3)] {
        let added = store
            .add_photos(PhotoBatch {
                report_id: id,
                role: "report".to_owned(),
                max: 3,
                required_status: None,
                rows: vec![photo(id, n, "report")],
            })
            .await
            .unwrap();
        assert!(matches!(added, PhotosAdded::Done(_)));
    }

    let webhook = store
        .insert_webhook(WebhookRow {
            id: 0,
            key_id: agent_id,
            name: "Voirie".to_owned(),
            description: "Nouvelles anomalies".to_owned(),
            url: "https://example.org/hook".to_owned(),
            secret: civicmap::auth::webhook_secret(),
            district: None,
            area: None,
            bbox: Some("2.2,48.8,2.5,48.9".to_owned()),
            categories: "[]".to_owned(),
            kinds: r#"["created"]"#.to_owned(),
            cursor: 0,
            created_at_ms: t,
            deleted_at_ms: None,
            disabled_at_ms: None,
            disabled_reason: None,
            failures: 0,
        })
        .await
        .unwrap();
    for (event_id, ok) in [(1, true), (2, false), (3, true)] {
        store
            .record_delivery(
                DeliveryRow {
                    id: 0,
                    webhook_id: webhook,
                    event_id,
                    at_ms: t + event_id,
                    attempts: if ok { 1 } else { 3 },
                    ok,
                    status: ok.then_some(200),
                    error: (!ok).then(|| "timeout".to_owned()),
                    duration_ms: 12,
                },
                5,
                "too many failures",
                None,
            )
            .await
            .unwrap();
    }

    let erased = store
        .erase_contacts(&[ids[0], ids[2]], t + 9_000, "request", Some("DPE"), false)
        .await
        .unwrap();
    assert_eq!(erased.ids.len(), 2);
    store
        .erase_contacts(&[ids[4]], t + 9_500, "retention", None, false)
        .await
        .unwrap();

    Keys {
        agent: agent.secret,
        revoked: revoked.secret,
    }
}

/// A SQLite store in a temporary directory, filled.
async fn filled_source() -> (Place, Store, Keys) {
    let place = Place::sqlite();
    let store = place.open().await;
    let keys = fill(&store).await;
    (place, store, keys)
}

/// Every row of a table, each value written out by the plan's kind (a
/// double by its bits), sorted (the collation of text keys may differ).
type Dump = Vec<Vec<String>>;

fn cell(kind: Kind, i: usize, row: &impl SqlRow) -> String {
    match kind {
        Kind::Int => row.int(i).map_or("NULL".into(), |v| v.to_string()),
        Kind::Real => row
            .real(i)
            .map_or("NULL".into(), |v| format!("{:016x}", v.to_bits())),
        Kind::Text => row.text(i).map_or("NULL".into(), |v| format!("{v:?}")),
        Kind::Bool => row.flag(i).map_or("NULL".into(), |v| v.to_string()),
        Kind::Bytes => row.bytes(i).map_or("NULL".into(), |v| {
            v.iter().map(|b| format!("{b:02x}")).collect()
        }),
    }
}

/// The few typed reads a dump needs, on either driver's rows.
trait SqlRow {
    fn int(&self, i: usize) -> Option<i64>;
    fn real(&self, i: usize) -> Option<f64>;
    fn text(&self, i: usize) -> Option<String>;
    fn flag(&self, i: usize) -> Option<bool>;
    fn bytes(&self, i: usize) -> Option<Vec<u8>>;
}

macro_rules! sql_row {
    ($t:ty) => {
        impl SqlRow for $t {
            fn int(&self, i: usize) -> Option<i64> {
                // PostgreSQL's INTEGER (a project's edition) as well as BIGINT.
                self.try_get(i)
                    .or_else(|_| self.try_get::<Option<i32>, _>(i).map(|v| v.map(i64::from)))
                    .unwrap()
            }
            fn real(&self, i: usize) -> Option<f64> {
                self.try_get(i).unwrap()
            }
            fn text(&self, i: usize) -> Option<String> {
                self.try_get(i).unwrap()
            }
            fn flag(&self, i: usize) -> Option<bool> {
                self.try_get(i).unwrap()
            }
            fn bytes(&self, i: usize) -> Option<Vec<u8>> {
                self.try_get(i).unwrap()
            }
        }
    };
}
sql_row!(sqlx::sqlite::SqliteRow);
sql_row!(sqlx::postgres::PgRow);

fn select_all(table: &migrate::Table) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    format!("SELECT {} FROM {}", columns.join(", "), table.name)
}

/// Every table of a place, read beside the store (as another program would).
async fn dump(place: &Place) -> BTreeMap<&'static str, Dump> {
    let mut out = BTreeMap::new();
    for table in &TABLES {
        let sql = sqlx::AssertSqlSafe(select_all(table));
        let mut rows: Dump = match place {
            Place::Sqlite(dir) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.path().join(civicmap::store::DB_FILE_NAME))
                    .read_only(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter()
                    .map(|r| {
                        (table.columns.iter().enumerate())
                            .map(|(i, c)| cell(c.kind, i, r))
                            .collect()
                    })
                    .collect()
            }
            Place::Postgres(db) => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter()
                    .map(|r| {
                        (table.columns.iter().enumerate())
                            .map(|(i, c)| cell(c.kind, i, r))
                            .collect()
                    })
                    .collect()
            }
        };
        rows.sort();
        out.insert(table.name, rows);
    }
    out
}

/// Every row count of the target, table by table (the change sequence too).
async fn counts(place: &Place) -> Vec<(&'static str, i64)> {
    let Place::Postgres(db) = place else {
        panic!("a PostgreSQL place")
    };
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut out = Vec::new();
    for t in TABLES.iter().map(|t| t.name).chain(["changes"]) {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        out.push((t, n));
    }
    out
}

async fn whole_log(store: &Store) -> Vec<EventRow> {
    store.events_after(0, 100_000).await.unwrap()
}

async fn index_rows(store: &Store) -> Vec<String> {
    let mut rows = Vec::new();
    store
        .load_index_rows(|r| rows.push(format!("{r:?}")))
        .await
        .unwrap();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_every_table_is_copied_with_its_ids_and_the_checks_agree() {
    let Some(target_place) = Place::postgres().await else {
        return;
    };
    let (source_place, source, _) = filled_source().await;
    let target = target_place.open().await;

    // Pages of 3 rows: every table takes several, keys of two columns too.
    let mut seen = Vec::new();
    let migrated = source
        .migrate_to(&target, 3, |p| seen.push(p))
        .await
        .unwrap();
    assert!(migrated.verified(), "{:?}", migrated.checks);
    assert_eq!(migrated.photos, 3);

    // The progress: each table in plan order, rows counted up to its size.
    let started: Vec<&str> = seen
        .iter()
        .filter_map(|p| match p {
            Progress::Table { table, .. } => Some(*table),
            _ => None,
        })
        .collect();
    assert_eq!(started, TABLES.map(|t| t.name));
    assert!(seen.contains(&Progress::Table {
        table: "reports",
        rows: 45
    }));
    assert!(seen.contains(&Progress::Copied {
        table: "reports",
        done: 45
    }));
    assert_eq!(seen.last(), Some(&Progress::Verifying));

    // Row by row, every column of every table.
    let (before, after) = (dump(&source_place).await, dump(&target_place).await);
    for table in &TABLES {
        assert!(!before[table.name].is_empty(), "{} is empty", table.name);
        assert_eq!(before[table.name], after[table.name], "{}", table.name);
    }

    // Through the store's API.
    let ids: Vec<i64> = (1..=45).collect();
    assert_eq!(
        source.reports_by_ids(&ids).await.unwrap(),
        target.reports_by_ids(&ids).await.unwrap()
    );
    assert_eq!(index_rows(&source).await, index_rows(&target).await);
    assert_eq!(whole_log(&source).await, whole_log(&target).await);
    assert_eq!(
        source.events_of_reports(&ids).await.unwrap(),
        target.events_of_reports(&ids).await.unwrap()
    );
    assert_eq!(
        source.last_event_id().await.unwrap(),
        target.last_event_id().await.unwrap()
    );
    assert_eq!(
        source.report_states().await.unwrap(),
        target.report_states().await.unwrap()
    );
    assert_eq!(
        source.report_campaigns().await.unwrap(),
        target.report_campaigns().await.unwrap()
    );
    assert_eq!(source.keys().await.unwrap(), target.keys().await.unwrap());
    assert_eq!(
        source.campaigns().await.unwrap(),
        target.campaigns().await.unwrap()
    );
    assert_eq!(
        source.projects().await.unwrap(),
        target.projects().await.unwrap()
    );
    assert!(source.layers().await.unwrap() == target.layers().await.unwrap());
    assert!(source.webhooks().await.unwrap() == target.webhooks().await.unwrap());
    for w in source.webhooks().await.unwrap() {
        assert_eq!(
            source.webhook_deliveries(w.id, 100).await.unwrap(),
            target.webhook_deliveries(w.id, 100).await.unwrap()
        );
    }
    for id in &ids {
        assert_eq!(
            source.photos_of(*id).await.unwrap(),
            target.photos_of(*id).await.unwrap()
        );
        assert_eq!(
            source.contact_record(*id).await.unwrap(),
            target.contact_record(*id).await.unwrap()
        );
    }
    for key in ["seeded", "pseudonym_key"] {
        assert_eq!(
            source.meta_get(key).await.unwrap(),
            target.meta_get(key).await.unwrap()
        );
    }
    // Erased contacts stay erased, the others are still held.
    let erased = target.contact_record(1).await.unwrap().unwrap();
    assert!(!erased.held);
    assert_eq!(erased.erasures.len(), 1);
    assert_eq!(erased.erasures[0].author.as_deref(), Some("DPE"));
    assert!(target.contact_record(7).await.unwrap().unwrap().held);

    // The change sequence starts empty.
    assert_eq!(target.change_seq().await.unwrap(), Some(0));

    // The checks, as printed: every table, rows first.
    let rows: BTreeMap<&str, i64> = migrated
        .checks
        .iter()
        .filter(|c| c.check == Check::Rows)
        .map(|c| (c.table, c.target))
        .collect();
    assert_eq!(rows.len(), TABLES.len());
    assert_eq!(rows["reports"], 45);
    assert_eq!(rows["contact_erasures"], 3);
    assert_eq!(rows["api_keys"], 3);
    assert!(
        migrated.checks.iter().any(|c| c.table == "reports"
            && c.check == Check::NotNull("contact")
            && c.source == 20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_migration_new_rows_get_fresh_ids_and_keys_from_sqlite_still_authenticate() {
    let Some(target_place) = Place::postgres().await else {
        return;
    };
    let (_source_place, source, keys) = filled_source().await;
    let target = target_place.open().await;
    source
        .migrate_to(&target, migrate::DEFAULT_PAGE_ROWS, |_| {})
        .await
        .unwrap();
    let last_event = target.last_event_id().await.unwrap();

    // A report filed now: the next id, one `created` event after the log,
    // and the first change of the change sequence (with its notification).
    let mut listener = target.listen_changes().await.unwrap().unwrap();
    let filed = new_ids(target.insert_reports(vec![report(100)]).await.unwrap());
    assert_eq!(filed, vec![46]);
    assert_eq!(target.last_event_id().await.unwrap(), last_event + 1);
    assert_eq!(target.change_seq().await.unwrap(), Some(1));
    let changes = target.changes_after(0, 10).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].report_id, changes[0].kind.as_str()),
        (Some(46), "created")
    );
    assert_eq!(
        listener.recv().await.unwrap(),
        civicmap::store::ChangeNote::Seq(1)
    );

    // Every table numbered by the target takes the next id too.
    let key = civicmap::auth::generate();
    assert_eq!(
        target
            .insert_key(key_row("New", "analyst", key.digest, &key.prefix))
            .await
            .unwrap(),
        4
    );
    let mut campaign = target.campaigns().await.unwrap().remove(0);
    campaign.slug = "automne".to_owned();
    assert_eq!(target.insert_campaign(campaign).await.unwrap(), 2);
    let added = target
        .add_photos(PhotoBatch {
            report_id: 46,
            role: "report".to_owned(),
            max: 3,
            required_status: None,
            rows: vec![photo(46, 9, "report")],
        })
        .await
        .unwrap();
    let PhotosAdded::Done(added) = added else {
        panic!("the photo was not added")
    };
    assert_eq!(added[0].0.id, 4);
    let mut webhook = target.webhooks().await.unwrap().remove(0);
    assert!(
        matches!(
            target
                .take_webhook_lease(webhook.id, "instance-a", Duration::from_secs(30))
                .await
                .unwrap(),
            Lease::Held { .. }
        ),
        "the copied webhook's delivery lease exists and is free"
    );
    webhook.name = "Second".to_owned();
    assert_eq!(target.insert_webhook(webhook).await.unwrap(), 2);
    assert!(matches!(
        target
            .take_webhook_lease(2, "instance-a", Duration::from_secs(30))
            .await
            .unwrap(),
        Lease::Held { .. }
    ));
    target
        .record_delivery(
            DeliveryRow {
                id: 0,
                webhook_id: 2,
                event_id: last_event + 1,
                at_ms: 1_702_000_000_000,
                attempts: 1,
                ok: true,
                status: Some(204),
                error: None,
                duration_ms: 3,
            },
            5,
            "too many failures",
            Some("instance-a"),
        )
        .await
        .unwrap();
    assert_eq!(
        target.webhook_deliveries(2, 10).await.unwrap()[0].id,
        4,
        "deliveries are numbered after the three copied"
    );
    target
        .erase_contacts(&[46], 1_702_000_000_000, "request", Some("DPE"), false)
        .await
        .unwrap();
    let record = target.contact_record(46).await.unwrap().unwrap();
    assert_eq!(record.erasures.len(), 1);

    // Keys made on SQLite: found by their digest, with their role and
    // revocation.
    let agent = target
        .key_by_hash(&civicmap::auth::digest(&keys.agent))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((agent.id, agent.role.as_str()), (1, "agent"));
    assert_eq!(agent.revoked_at_ms, None);
    let revoked = target
        .key_by_hash(&civicmap::auth::digest(&keys.revoked))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(1_700_500_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_into_a_store_that_holds_rows_is_refused_and_writes_nothing() {
    let Some(target_place) = Place::postgres().await else {
        return;
    };
    let (_source_place, source, _) = filled_source().await;
    let target = target_place.open().await;
    let key = civicmap::auth::generate();
    target
        .insert_key(key_row("Already here", "admin", key.digest, &key.prefix))
        .await
        .unwrap();
    let before = counts(&target_place).await;

    let err = source
        .migrate_to(&target, migrate::DEFAULT_PAGE_ROWS, |_| {})
        .await
        .unwrap_err();
    match &err {
        MigrateError::TargetNotEmpty { held } => {
            assert_eq!(held, &vec![("api_keys".to_owned(), 1)]);
        }
        other => panic!("{other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("not empty") && message.contains("api_keys: 1 rows"),
        "{message}"
    );
    assert_eq!(counts(&target_place).await, before);

    // A migration that went through leaves a target the next one refuses.
    let Some(second_place) = Place::postgres().await else {
        return;
    };
    let second = second_place.open().await;
    source
        .migrate_to(&second, migrate::DEFAULT_PAGE_ROWS, |_| {})
        .await
        .unwrap();
    let copied = counts(&second_place).await;
    assert!(matches!(
        source
            .migrate_to(&second, migrate::DEFAULT_PAGE_ROWS, |_| {})
            .await,
        Err(MigrateError::TargetNotEmpty { .. })
    ));
    assert_eq!(counts(&second_place).await, copied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_the_plan_does_not_know_is_refused_before_anything_is_written() {
    let Some(target_place) = Place::postgres().await else {
        return;
    };
    let (_source_place, source, _) = filled_source().await;
    let target = target_place.open().await;
    let Place::Postgres(db) = &target_place else {
        unreachable!()
    };
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("ALTER TABLE reports ADD COLUMN mood TEXT")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = source
        .migrate_to(&target, migrate::DEFAULT_PAGE_ROWS, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MigrateError::SchemaDrift { backend: "postgres", detail }
                 if detail.contains("reports.mood")),
        "{err}"
    );
    assert!(counts(&target_place).await.iter().all(|(_, n)| *n == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_sqlite_store_into_postgresql_is_migrated() {
    let (_a, source, _) = filled_source().await;
    let other = Place::sqlite();
    let other = other.open().await;
    assert!(matches!(
        source.migrate_to(&other, 10, |_| {}).await,
        Err(MigrateError::Unsupported {
            from: "sqlite",
            to: "sqlite"
        })
    ));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let url = format!("sqlite://{}", missing.display());
    assert!(matches!(
        migrate::open_source(&url).await,
        Err(MigrateError::NoSource { .. })
    ));
    assert!(!missing.exists(), "an empty store was created");
    assert!(matches!(
        migrate::open_target(&url).await,
        Err(MigrateError::TargetUrl { .. })
    ));
    assert!(!missing.exists(), "an empty store was created");
}

/// A request with a key of another instance.
fn send_with_key(h: &common::Harness, key: &str, req: Request<Body>) -> common::Reply {
    let mut req = req;
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    h.send(req)
}

fn post_with_key(h: &common::Harness, key: &str, uri: &str, body: &Value) -> common::Reply {
    send_with_key(
        h,
        key,
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
}

/// The answers an instance gives about its reports.
fn answers(h: &common::Harness, ids: &[i64]) -> Vec<(String, Value)> {
    let mut uris = vec![
        "/api/v1/reports?bbox=2.2,48.8,2.5,48.95&limit=100".to_owned(),
        "/api/v1/stats/districts?layer=arrondissement".to_owned(),
        "/api/v1/stats/series?interval=month".to_owned(),
        "/api/v1/stats/h3?res=7".to_owned(),
    ];
    for id in ids {
        uris.push(format!("/api/v1/reports/{id}"));
        uris.push(format!("/api/v1/reports/{id}/history"));
    }
    uris.into_iter()
        .map(|uri| {
            let reply = h.send_as(
                Some("analyst"),
                Request::get(&uri).body(Body::empty()).unwrap(),
            );
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text());
            (uri, reply.json())
        })
        .collect()
}

#[test]
fn a_migrated_store_answers_the_same_reports_events_keys_and_statistics() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(target_place) = rt.block_on(Place::postgres()) else {
        return;
    };
    let source = common::custom_harness(|_| {});
    let taxonomy = &source.app.taxonomy;
    let proprete = taxonomy.category_id("proprete").unwrap();
    let sub = taxonomy.category(proprete).subcategories[0].code.clone();
    let filing = |i: i32| {
        let mut body = json!({
            "kind": "anomaly",
            "category": "proprete",
            "subcategory": sub,
            "description": format!("Sacs poubelle éventrés n°{i}"),
            "lon": 2.3499 + f64::from(i) * 0.004, "lat": 48.8530 + f64::from(i) * 0.002,
            "client_id": format!("migrate-{i}"),
            "channel": "android",
        });
        if i % 2 == 0 {
            body["contact"] = json!(format!("resident{i}@example.org"));
        }
        body
    };
    let mut ids = Vec::new();
    for i in 0..8 {
        let reply = source.post_as(Some("app"), "/api/v1/reports", &filing(i));
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        ids.push(reply.json()["id"].as_i64().unwrap());
    }
    for (id, status) in [
        (ids[1], "to_process"),
        (ids[2], "to_process"),
        (ids[2], "done"),
    ] {
        let reply = source.post_as(
            Some("agent"),
            &format!("/api/v1/reports/{id}/status"),
            &json!({"status": status}),
        );
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    let reply = source.post_as(
        Some("agent"),
        &format!("/api/v1/reports/{}/notes", ids[3]),
        &json!({"note": "Équipe prévenue"}),
    );
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let reply = source.post_as(
        Some("app"),
        &format!("/api/v1/reports/{}/supports", ids[0]),
        &json!({"client_id": "me-too-1"}),
    );
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());

    let Place::Postgres(db) = &target_place else {
        unreachable!()
    };
    let migrated = source.rt.block_on(async {
        let from = Store::open_sqlite(&source.data_dir).await.unwrap();
        let to = Store::open_postgres(&db.url).await.unwrap();
        let migrated = from
            .migrate_to(&to, migrate::DEFAULT_PAGE_ROWS, |_| {})
            .await
            .unwrap();
        from.close().await;
        to.close().await;
        migrated
    });
    assert!(migrated.verified(), "{:?}", migrated.checks);

    // An instance on the migrated store (its boot adds four keys: the key
    // identity was moved past the copied ones).
    let url = db.url.clone();
    let target = common::custom_harness(move |c| c.database_url = Some(url));
    assert_eq!(answers(&source, &ids), answers(&target, &ids));

    // A key made on SQLite acts on the new store; a report filed there
    // takes the next id.
    let agent_key = source.key("agent").to_owned();
    let reply = post_with_key(
        &target,
        &agent_key,
        &format!("/api/v1/reports/{}/status", ids[4]),
        &json!({"status": "to_process"}),
    );
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = json!({
        "kind": "anomaly", "category": "proprete", "subcategory": sub,
        "description": "Après la migration", "lon": 2.35, "lat": 48.853,
        "client_id": "after-migration", "channel": "web",
    });
    let reply = target.post_as(Some("app"), "/api/v1/reports", &body);
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        reply.json()["id"].as_i64().unwrap(),
        ids.iter().max().unwrap() + 1
    );
    // A filing retried after the move is recognised by its client id.
    let reply = target.post_as(Some("app"), "/api/v1/reports", &filing(0));
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["id"].as_i64(), Some(ids[0]));
}

fn civicmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The row of a check in the printed table: `table check source target ok`.
fn printed(stdout: &str, table: &str, check: &str) -> Option<Vec<String>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|w| w.len() == 5 && w[0] == table && w[1] == check)
}

#[test]
fn the_binary_migrates_a_store_prints_the_verification_and_refuses_a_second_time() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(target_place) = rt.block_on(Place::postgres()) else {
        return;
    };
    let Place::Postgres(db) = &target_place else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("synthetic.csv");
    let out = civicmap(&[
        "generate",
        "--reports",
        "700",
        "--seed",
        "3",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let data_arg = data.to_str().unwrap();
    let out = civicmap(&[
        "import",
        "reports",
        "--data-dir",
        data_arg,
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = civicmap(&[
        "keys",
        "create",
        "--data-dir",
        data_arg,
        "--role",
        "agent",
        "--name",
        "DPE",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let agent_key = text(&out.stdout).trim().to_owned();
    // A photo row (its files would be under `<data>/photos/`).
    rt.block_on(async {
        let store = Store::open_sqlite(&data).await.unwrap();
        let added = store
            .add_photos(PhotoBatch {
                report_id: 1,
                role: "report".to_owned(),
                max: 3,
                required_status: None,
                rows: vec![photo(1, 5, "report")],
            })
            .await
            .unwrap();
        assert!(matches!(added, PhotosAdded::Done(_)));
        store.close().await;
    });

    let from = format!("sqlite://{data_arg}");
    let migrate = || {
        civicmap(&[
            "migrate-store",
            "--from",
            &from,
            "--to",
            &db.url,
            "--page-rows",
            "64",
        ])
    };
    let out = migrate();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        printed(&stdout, "reports", "rows"),
        Some(
            ["reports", "rows", "700", "700", "ok"]
                .map(str::to_owned)
                .to_vec()
        ),
        "{stdout}"
    );
    for table in &TABLES {
        assert!(printed(&stdout, table.name, "rows").is_some(), "{stdout}");
    }
    assert!(!stdout.contains("DIFFERS"), "{stdout}");
    assert!(stdout.contains("verified"), "{stdout}");
    // The photo files are named: they are not in the database.
    let photos_dir = data.join("photos");
    assert!(
        stdout.contains(&format!(
            "photos: 1 photo rows copied; their files are not in the database: copy {}",
            photos_dir.display()
        )),
        "{stdout}"
    );

    // The key made on SQLite is stored on PostgreSQL.
    let found = rt.block_on(async {
        let store = Store::open_postgres(&db.url).await.unwrap();
        let key = store
            .key_by_hash(&civicmap::auth::digest(&agent_key))
            .await
            .unwrap();
        store.close().await;
        key
    });
    assert_eq!(found.map(|k| k.role), Some("agent".to_owned()));

    // Again: the target is not empty any more.
    let before = rt.block_on(counts(&target_place));
    let out = migrate();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
    assert!(stderr.contains("reports: 700 rows"), "{stderr}");
    assert!(stderr.contains("drop and recreate"), "{stderr}");
    assert_eq!(rt.block_on(counts(&target_place)), before);

    // A source directory without a store, and a SQLite target, are refused.
    let out = civicmap(&[
        "migrate-store",
        "--from",
        &format!("sqlite://{}", dir.path().join("none").display()),
        "--to",
        &db.url,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no SQLite store"),
        "{}",
        text(&out.stderr)
    );
    let out = civicmap(&[
        "migrate-store",
        "--from",
        &from,
        "--to",
        &format!("sqlite://{}", dir.path().join("other").display()),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("must be a PostgreSQL database"),
        "{}",
        text(&out.stderr)
    );
    assert!(!Path::new(&dir.path().join("other")).exists());
}

#[test]
fn a_check_that_differs_is_printed_and_the_command_fails() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(target_place) = rt.block_on(Place::postgres()) else {
        return;
    };
    let Place::Postgres(db) = &target_place else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("synthetic.csv");
    let out = civicmap(&[
        "generate",
        "--reports",
        "50",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let data_arg = data.to_str().unwrap();
    let out = civicmap(&[
        "import",
        "reports",
        "--data-dir",
        data_arg,
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The target loses one report's client id on the way in, as a faulty
    // copy would.
    rt.block_on(async {
        Store::open_postgres(&db.url).await.unwrap().close().await;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(
            "CREATE FUNCTION lose_client_id() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.id = 5 THEN NEW.client_id := NULL; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER lose_client_id BEFORE INSERT ON reports \
             FOR EACH ROW EXECUTE FUNCTION lose_client_id();",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
    let out = civicmap(&[
        "migrate-store",
        "--from",
        &format!("sqlite://{data_arg}"),
        "--to",
        &db.url,
    ]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(
        printed(&stdout, "reports", "count(client_id)"),
        Some(
            ["reports", "count(client_id)", "50", "49", "DIFFERS"]
                .map(str::to_owned)
                .to_vec()
        ),
        "{stdout}"
    );
    assert_eq!(
        printed(&stdout, "reports", "rows").map(|w| w[4].clone()),
        Some("ok".to_owned())
    );
    assert!(!stdout.contains("verified"), "{stdout}");
    assert!(
        text(&out.stderr).contains("verification failed: 1 checks differ"),
        "{}",
        text(&out.stderr)
    );
}
