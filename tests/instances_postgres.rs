//! Several instances on one PostgreSQL database share what is not a report:
//! webhook delivery (one instance delivers each webhook, under a lease in
//! the store, and another takes over when it stops), campaigns and webhooks
//! registered, changed or deleted through another instance, and a change
//! sequence that is pruned (an instance whose position was pruned away
//! reloads its whole index).
//!
//! Instances are applications driven through their routers (`Harness`),
//! each on a runtime of its own: dropping one ends its tasks as a killed
//! process would (no lease is released). Waits poll with a deadline: no
//! timing is asserted.
//!
//! Needs `CIVICMAP_TEST_POSTGRES_URL` (see `tests/common/stores.rs`);
//! skipped without it unless `CIVICMAP_POSTGRES_TEST=require`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use civicmap::store::{DeliveryRow, Lease, Recorded, WebhookRow};
use common::stores::Place;
use common::{Harness, eventually};
use serde_json::{Value, json};
use sqlx::Connection as _;

/// A runtime of the test's own (receivers, direct database reads).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// An instance on this database that delivers webhooks to a local
/// receiver, retries fast and holds delivery leases for a few seconds.
fn instance(url: &str) -> Harness {
    common::custom_harness(|c| {
        c.database_url = Some(url.to_owned());
        c.webhook_allow_http = true;
        c.webhook_retry_base = Duration::from_millis(20);
        c.webhook_retry_max = Duration::from_millis(100);
        c.webhook_timeout = Duration::from_secs(1);
        c.webhook_lease = Duration::from_secs(2);
    })
}

/// One request a receiver got: (webhook id, event id).
type Got = (i64, i64);

/// A local webhook receiver that answers 200 after `delay` and records
/// every request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    delay: Arc<Mutex<Duration>>,
    url: String,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, _body: Bytes) -> StatusCode {
    let header = |name: &str| -> i64 {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    r.got
        .lock()
        .unwrap()
        .push((header("civicmap-webhook-id"), header("civicmap-event-id")));
    let delay = *r.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    StatusCode::OK
}

impl Receiver {
    fn start(rt: &tokio::runtime::Runtime) -> Self {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let r = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    /// How many times each event reached webhook `id`.
    fn counts(&self, id: i64) -> BTreeMap<i64, usize> {
        let mut out = BTreeMap::new();
        for (w, e) in self.got.lock().unwrap().iter() {
            if *w == id {
                *out.entry(*e).or_default() += 1;
            }
        }
        out
    }
}

/// A report at a place of the 4th arrondissement.
fn filing(client_id: &str) -> Value {
    json!({
        "kind": "anomaly",
        "category": "objets_abandonnes",
        "subcategory": "autres_objets_encombrants_abandonnes",
        "description": "Matelas abandonné devant le 12",
        "lon": 2.3499, "lat": 48.8530,
        "client_id": client_id,
        "channel": "ios",
    })
}

/// Files a report through an instance; its id (the id of its `created`
/// event is read from the log by [`created_event`]).
fn file(h: &Harness, client_id: &str) -> i64 {
    let r = h.post_as(Some("app"), "/api/v1/reports", &filing(client_id));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

/// Registers a webhook for every event through an instance; its id.
fn register(h: &Harness, url: &str) -> i64 {
    let r = h.post_as(
        Some("agent"),
        "/api/v1/webhooks",
        &json!({ "url": url, "name": "back office" }),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

/// A number read beside the instances.
fn scalar(rt: &tokio::runtime::Runtime, url: &str, sql: &str, bind: i64) -> Option<i64> {
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let n: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(bind)
            .fetch_optional(&mut conn)
            .await
            .unwrap()
            .flatten();
        conn.close().await.unwrap();
        n
    })
}

/// The ids of the `created` events of these reports (one per report, read
/// from the log through the public timeline).
fn created_events(h: &Harness, reports: &[i64]) -> Vec<i64> {
    reports
        .iter()
        .map(|id| {
            let history = h.get(&format!("/api/v1/reports/{id}/history")).json();
            history["events"][0]["id"].as_i64().unwrap()
        })
        .collect()
}

/// The holder of a webhook's delivery lease, as stored.
fn lease_holder(rt: &tokio::runtime::Runtime, url: &str, webhook: i64) -> String {
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let h: String =
            sqlx::query_scalar("SELECT holder FROM webhook_leases WHERE webhook_id = $1")
                .bind(webhook)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        conn.close().await.unwrap();
        h
    })
}

fn cursor_of(rt: &tokio::runtime::Runtime, url: &str, webhook: i64) -> i64 {
    scalar(
        rt,
        url,
        "SELECT cursor FROM webhooks WHERE id = $1",
        webhook,
    )
    .unwrap()
}

fn postgres_place(rt: &tokio::runtime::Runtime) -> Option<Place> {
    rt.block_on(Place::postgres())
}

#[test]
fn a_webhook_receives_each_event_exactly_once_while_two_instances_run_and_file() {
    let rt = runtime();
    let Some(place) = postgres_place(&rt) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let receiver = Receiver::start(&rt);
    let a = instance(&url);
    let hook = register(&a, &receiver.url);
    let b = instance(&url);
    // Both instances run a worker for it (B read it at start).
    assert!(b.app.webhooks.worker_ids().contains(&hook));
    assert!(a.app.webhooks.worker_ids().contains(&hook));

    let mut reports = Vec::new();
    for i in 0..12 {
        let through = if i % 2 == 0 { &a } else { &b };
        reports.push(file(through, &format!("once-{i}")));
    }
    let events = created_events(&a, &reports);
    let last = *events.iter().max().unwrap();
    eventually("the cursor past the last event", || {
        let c = cursor_of(&rt, &url, hook);
        (c >= last, c)
    });
    let counts = receiver.counts(hook);
    let expected: BTreeMap<i64, usize> = events.iter().map(|e| (*e, 1)).collect();
    assert_eq!(counts, expected, "each event once, by one instance");
    let recorded = scalar(
        &rt,
        &url,
        "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1",
        hook,
    );
    assert_eq!(recorded, Some(12), "one recorded delivery per event");
    let holder = lease_holder(&rt, &url, hook);
    assert!(
        [a.app.webhooks.holder(), b.app.webhooks.holder()].contains(&holder.as_str()),
        "held by one of the instances: {holder}"
    );
}

#[test]
fn when_the_delivering_instance_dies_the_other_delivers_the_rest_with_none_lost_and_none_twice() {
    let rt = runtime();
    let Some(place) = postgres_place(&rt) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let receiver = Receiver::start(&rt);
    let a = instance(&url);
    // Registered through A: A's worker takes the lease at once.
    let hook = register(&a, &receiver.url);
    let b = instance(&url);
    let before: Vec<i64> = (0..5)
        .map(|i| file(&b, &format!("takeover-a-{i}")))
        .collect();
    let before = created_events(&b, &before);
    eventually("the first events recorded", || {
        let c = cursor_of(&rt, &url, hook);
        (c >= *before.iter().max().unwrap(), c)
    });
    assert_eq!(lease_holder(&rt, &url, hook), a.app.webhooks.holder());
    // A dies (its runtime ends: no lease is released), idle between events.
    drop(a);
    let after: Vec<i64> = (0..5)
        .map(|i| file(&b, &format!("takeover-b-{i}")))
        .collect();
    let after = created_events(&b, &after);
    let last = *after.iter().max().unwrap();
    eventually("every event delivered after the takeover", || {
        let c = cursor_of(&rt, &url, hook);
        (c >= last, c)
    });
    assert_eq!(lease_holder(&rt, &url, hook), b.app.webhooks.holder());
    let expected: BTreeMap<i64, usize> = before.iter().chain(&after).map(|e| (*e, 1)).collect();
    assert_eq!(receiver.counts(hook), expected, "none lost, none twice");
}

#[test]
fn a_holder_that_dies_mid_delivery_leaves_at_most_the_event_in_flight_to_be_sent_again() {
    let rt = runtime();
    let Some(place) = postgres_place(&rt) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let receiver = Receiver::start(&rt);
    let a = instance(&url);
    let hook = register(&a, &receiver.url);
    let b = instance(&url);
    // The receiver answers slowly: A is killed while it waits for an answer.
    *receiver.delay.lock().unwrap() = Duration::from_millis(300);
    let reports: Vec<i64> = (0..6).map(|i| file(&b, &format!("inflight-{i}"))).collect();
    let events = created_events(&b, &reports);
    eventually("a delivery in flight", || {
        let n = receiver.counts(hook).len();
        (n >= 2, n)
    });
    drop(a);
    *receiver.delay.lock().unwrap() = Duration::ZERO;
    let last = *events.iter().max().unwrap();
    eventually("every event delivered after the takeover", || {
        let c = cursor_of(&rt, &url, hook);
        (c >= last, c)
    });
    let counts = receiver.counts(hook);
    let got: Vec<i64> = counts.keys().copied().collect();
    assert_eq!(got, events, "none lost");
    let twice: Vec<i64> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(e, _)| *e)
        .collect();
    assert!(
        twice.len() <= 1 && counts.values().all(|n| *n <= 2),
        "at most the one event in flight sent again: {counts:?}"
    );
}

#[tokio::test]
async fn a_lease_is_held_by_one_store_at_a_time_and_a_former_holder_can_neither_record_nor_move_the_cursor()
 {
    let Some(place) = Place::postgres().await else {
        return;
    };
    let (one, two) = (place.open().await, place.open().await);
    let (key, _) = civicmap::service::create_key(&one, "Lease test", civicmap::model::Role::Agent)
        .await
        .unwrap();
    let id = one
        .insert_webhook(WebhookRow {
            id: 0,
            key_id: key.id,
            name: "bo".to_owned(),
            description: String::new(),
            url: "https://bo.example.org/hook".to_owned(),
            secret: "s".repeat(40),
            district: None,
            area: None,
            bbox: None,
            categories: "[]".to_owned(),
            kinds: "[]".to_owned(),
            cursor: 0,
            created_at_ms: 1,
            deleted_at_ms: None,
            disabled_at_ms: None,
            disabled_reason: None,
            failures: 0,
        })
        .await
        .unwrap();
    let delivery = |event_id: i64| DeliveryRow {
        id: 0,
        webhook_id: id,
        event_id,
        at_ms: 1,
        attempts: 1,
        ok: true,
        status: Some(200),
        error: None,
        duration_ms: 1,
    };
    let short = Duration::from_millis(300);
    let long = Duration::from_secs(60);
    let Lease::Held { term } = one.take_webhook_lease(id, "one", short).await.unwrap() else {
        panic!("a free lease is taken");
    };
    assert_eq!(
        two.take_webhook_lease(id, "two", long).await.unwrap(),
        Lease::Busy
    );
    assert_eq!(
        one.take_webhook_lease(id, "one", short).await.unwrap(),
        Lease::Held { term },
        "renewed in the same term"
    );
    assert_eq!(
        one.record_delivery(delivery(5), 2, "failing", Some("one"))
            .await
            .unwrap(),
        Recorded::Done
    );
    assert_eq!(
        two.record_delivery(delivery(6), 2, "failing", Some("two"))
            .await
            .unwrap(),
        Recorded::Superseded,
        "not the holder"
    );
    // One's lease runs out (by the server's clock); two takes over.
    let taken = loop {
        tokio::time::sleep(short).await;
        match two.take_webhook_lease(id, "two", long).await.unwrap() {
            Lease::Held { term } => break term,
            Lease::Busy => {}
            Lease::Inactive => panic!("active"),
        }
    };
    assert!(taken > term, "a new term");
    assert_eq!(
        one.record_delivery(delivery(6), 2, "failing", Some("one"))
            .await
            .unwrap(),
        Recorded::Superseded,
        "a former holder records nothing"
    );
    assert!(!one.advance_webhook(id, 9, Some("one")).await.unwrap());
    assert_eq!(
        two.record_delivery(delivery(5), 2, "failing", Some("two"))
            .await
            .unwrap(),
        Recorded::Superseded,
        "an event at the cursor was recorded already"
    );
    assert_eq!(
        two.record_delivery(delivery(6), 2, "failing", Some("two"))
            .await
            .unwrap(),
        Recorded::Done
    );
    assert!(!two.advance_webhook(id, 3, Some("two")).await.unwrap());
    assert_eq!(one.webhook(id).await.unwrap().unwrap().cursor, 6);
    assert_eq!(one.webhook_deliveries(id, 10).await.unwrap().len(), 2);
    // Released: one takes it back at once, in a new term.
    two.release_webhook_lease(id, "two").await.unwrap();
    let Lease::Held { term: back } = one.take_webhook_lease(id, "one", long).await.unwrap() else {
        panic!("a released lease is free");
    };
    assert!(back > taken);
    one.delete_webhook(id, 2).await.unwrap();
    assert_eq!(
        one.take_webhook_lease(id, "one", long).await.unwrap(),
        Lease::Inactive
    );
}

fn get_as(h: &Harness, role: &str, uri: &str) -> common::Reply {
    h.send_as(Some(role), Request::get(uri).body(Body::empty()).unwrap())
}

fn delete_as(h: &Harness, role: &str, uri: &str) -> common::Reply {
    h.send_as(
        Some(role),
        Request::delete(uri).body(Body::empty()).unwrap(),
    )
}

/// A positive contribution answering a campaign, filed through `h`.
fn contribute(h: &Harness, campaign: &str, client_id: &str) -> common::Reply {
    let id = h.app.taxonomy.category_id("proprete").unwrap();
    let subcategory = h.app.taxonomy.category(id).subcategories[0].code.clone();
    h.post_as(
        Some("app"),
        "/api/v1/reports",
        &json!({
            "kind": "contribution", "category": "proprete", "subcategory": subcategory,
            "description": "Ici, des arceaux", "lon": 2.3499, "lat": 48.8530,
            "client_id": client_id, "channel": "ios", "campaign": campaign,
        }),
    )
}

fn open_campaign(h: &Harness, slug: &str) {
    let r = h.post_as(
        Some("admin"),
        "/api/v1/campaigns",
        &json!({
            "slug": slug,
            "title": "Où voulez-vous des arceaux vélo ?",
            "question": "Indiquez un endroit où garer un vélo manque.",
            "categories": ["proprete"],
            "ends_at": "2099-01-01",
        }),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[test]
fn a_campaign_opened_through_one_instance_takes_contributions_through_another_until_closed_there() {
    let rt = runtime();
    let Some(place) = postgres_place(&rt) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let a = instance(&url);
    let b = instance(&url);
    let refused = contribute(&b, "arceaux", "campaign-early");
    assert_eq!(refused.json()["field"], "campaign", "{}", refused.text());

    open_campaign(&a, "arceaux");
    let mut n = 0;
    let accepted = eventually("a contribution to the campaign accepted by B", || {
        n += 1;
        let r = contribute(&b, "arceaux", &format!("campaign-{n}"));
        (r.status == StatusCode::CREATED, (r.status, r.text()))
    });
    assert!(
        accepted.1.contains("\"campaign\":\"arceaux\""),
        "{}",
        accepted.1
    );
    let listed = b.get("/api/v1/campaigns").json();
    assert!(listed.to_string().contains("arceaux"), "{listed}");

    // Closed through A: B refuses contributions from then on.
    let closed = a.send_as(
        Some("admin"),
        Request::post("/api/v1/campaigns/arceaux/close")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text());
    eventually("contributions refused by B once closed", || {
        n += 1;
        let r = contribute(&b, "arceaux", &format!("campaign-{n}"));
        (
            r.status == StatusCode::UNPROCESSABLE_ENTITY,
            (r.status, r.text()),
        )
    });
}

#[test]
fn a_webhook_registered_through_one_instance_is_followed_by_another_and_deleting_it_there_stops_it_everywhere()
 {
    let rt = runtime();
    let Some(place) = postgres_place(&rt) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let receiver = Receiver::start(&rt);
    let a = instance(&url);
    let b = instance(&url);
    // Registered through B: B's worker takes the lease at once, A's starts
    // by following the change and stands by.
    let hook = register(&b, &receiver.url);
    eventually("A runs a worker for B's webhook", || {
        let ids = a.app.webhooks.worker_ids();
        (ids.contains(&hook), ids)
    });
    let first = created_events(&a, &[file(&a, "deleted-0")])[0];
    eventually("the first event delivered", || {
        let c = receiver.counts(hook);
        (c.contains_key(&first), c)
    });

    // Deleted through A (an admin sees every webhook).
    let deleted = delete_as(&a, "admin", &format!("/api/v1/webhooks/{hook}"));
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    eventually("B's worker stopped", || {
        let ids = b.app.webhooks.worker_ids();
        (!ids.contains(&hook), ids)
    });
    assert!(!a.app.webhooks.worker_ids().contains(&hook));
    // A webhook registered after it sees the next event: the deleted one
    // does not.
    let sentinel = register(&a, &receiver.url);
    let next = created_events(&b, &[file(&b, "deleted-1")])[0];
    eventually("the next event delivered to the other webhook", || {
        let c = receiver.counts(sentinel);
        (c.contains_key(&next), c)
    });
    assert_eq!(
        receiver.counts(hook).keys().copied().collect::<Vec<_>>(),
        [first],
        "nothing delivered after the delete"
    );
}

#[test]
fn pruning_keeps_the_newest_changes_and_marks_the_highest_seq_deleted() {
    let rt = runtime();
    let Some(place) = postgres_place(&rt) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let a = instance(&url);
    for i in 0..5 {
        file(&a, &format!("prune-{i}"));
    }
    let store = a.app.store().clone();
    a.rt.block_on(async {
        let last = store.change_seq().await.unwrap().unwrap();
        let all = store.changes_after(0, 100).await.unwrap();
        assert_eq!(all.len(), 5, "one change per filing");
        assert_eq!(store.changes_pruned_through().await.unwrap(), 0);
        assert_eq!(
            store
                .prune_changes(Duration::from_secs(3_600), 1)
                .await
                .unwrap(),
            0,
            "nothing is old enough"
        );
        assert_eq!(store.prune_changes(Duration::ZERO, 2).await.unwrap(), 3);
        assert_eq!(store.changes_pruned_through().await.unwrap(), all[2].seq);
        assert_eq!(store.changes_after(0, 100).await.unwrap(), all[3..]);
        assert_eq!(store.change_seq().await.unwrap(), Some(last));
        assert_eq!(store.prune_changes(Duration::ZERO, 0).await.unwrap(), 1);
        assert_eq!(
            store.changes_after(0, 100).await.unwrap(),
            all[4..],
            "the newest is always kept"
        );
        assert_eq!(store.change_seq().await.unwrap(), Some(last));
    });
}

#[test]
fn an_instance_whose_position_was_pruned_away_reloads_its_whole_memory_and_misses_nothing() {
    let rt = runtime();
    let Some(place) = postgres_place(&rt) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let a = instance(&url);
    let known = file(&a, "gap-0");
    // B does not follow by itself: the test applies its rounds.
    let b = common::custom_harness(|c| {
        c.database_url = Some(url.clone());
        c.follow_store = false;
    });
    let seq = b.rt.block_on(b.app.store().change_seq()).unwrap().unwrap();
    let mut filed = vec![known];
    for i in 1..=10 {
        filed.push(file(&a, &format!("gap-{i}")));
    }
    let moved = a.post_as(
        Some("agent"),
        &format!("/api/v1/reports/{known}/status"),
        &json!({ "status": "to_process" }),
    );
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    open_campaign(&a, "apres-la-coupure");
    let store = a.app.store().clone();
    let pruned =
        a.rt.block_on(store.prune_changes(Duration::ZERO, 1))
            .unwrap();
    assert!(pruned >= 11, "B's position is gone: {pruned} pruned");

    let applied = b.rt.block_on(b.app.catch_up(seq));
    assert_eq!(
        Some(applied),
        b.rt.block_on(store.change_seq()).unwrap(),
        "caught up to the end"
    );
    let listed = b.get("/api/v1/reports?limit=1000").json();
    let mut ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, filed, "every report in B's index");
    let by_status = b.get("/api/v1/reports?limit=1000&status=to_process").json();
    assert_eq!(by_status["items"][0]["id"], known, "{by_status}");
    let stats = get_as(
        &b,
        "analyst",
        "/api/v1/stats/districts?layer=arrondissement",
    )
    .json();
    assert_eq!(stats["city"]["reports"], 11, "{}", stats["city"]);
    assert_eq!(
        b.get("/api/v1/campaigns/apres-la-coupure").status,
        StatusCode::OK,
        "the campaign list reloaded"
    );
}
