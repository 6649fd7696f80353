//! Quotas shared by several instances on one PostgreSQL database
//! (`store::quotas`, `http::limits::Guard`): a client sending through two
//! instances gets its quota once in total, not once per instance, also when
//! its requests race; a request refused by one of its rates charges none;
//! expired rows are pruned; a store that cannot be reached leaves each
//! instance its own quotas. No timing is asserted: quotas per day, whose
//! interval is hours, keep the counts exact however slow the machine is.
//!
//! Needs `CIVICMAP_TEST_POSTGRES_URL` (see `tests/common/stores.rs`);
//! skipped without it unless `CIVICMAP_POSTGRES_TEST=require`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicmap::limits::Limits;
use civicmap::store::{Charged, QuotaCharge, Store};
use common::stores::Place;
use common::{Harness, Reply};
use serde_json::json;

/// How long a prune may take to be seen before a test fails (it takes
/// milliseconds; the bound only keeps a broken prune from hanging the suite).
const PATIENCE: Duration = Duration::from_secs(60);

/// A fresh PostgreSQL database (or `None`: skipped), made on a runtime of
/// its own (each harness has its own).
fn postgres_place() -> Option<Place> {
    runtime().block_on(Place::postgres())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An application on this database with these limits (not following the
/// other instances' reports: quotas do not need it).
fn instance(place: &Place, edit: impl FnOnce(&mut Limits)) -> Harness {
    let url = place.database_url().unwrap().to_owned();
    common::custom_harness(move |c| {
        c.database_url = Some(url);
        c.follow_store = false;
        edit(&mut c.limits);
    })
}

/// A request from `peer` (the socket address the server sees) with the
/// key `secret`, if any.
fn from_peer(h: &Harness, peer: &str, secret: Option<&str>, mut req: Request<Body>) -> Reply {
    let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 40_000);
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    if let Some(secret) = secret {
        req.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {secret}").parse().unwrap(),
        );
    }
    h.send(req)
}

/// Files one report through `h` from `peer` with the key `secret`.
fn file(h: &Harness, peer: &str, secret: &str) -> Reply {
    let category = h.app.taxonomy.category_id("proprete").unwrap();
    let subcategory = &h.app.taxonomy.category(category).subcategories[0].code;
    let body = json!({
        "kind": "anomaly",
        "category": "proprete",
        "subcategory": subcategory,
        "description": "Sacs poubelle éventrés sur le trottoir",
        "lon": 2.3499, "lat": 48.8530,
        "client_id": common::client_id("quota"),
        "channel": "android",
    });
    let req = Request::post("/api/v1/reports")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    from_peer(h, peer, Some(secret), req)
}

/// A forward geocoding request through `h` from `peer`, without a key.
fn geocode(h: &Harness, peer: &str) -> Reply {
    let req = Request::get("/api/v1/geocode?q=26%20rue%20de%20la%20lune%2075002")
        .body(Body::empty())
        .unwrap();
    from_peer(h, peer, None, req)
}

/// A 429 with a `Retry-After` of at least a second, naming the period.
fn assert_refused(r: &Reply, per: &str) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains(&format!("per {per}")), "{message}");
}

fn assert_created(r: &Reply) {
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// Reports per day of each address: `day`; per minute, far more than a
/// test sends.
fn reports_per_day(day: u32) -> impl FnOnce(&mut Limits) + Clone {
    move |l: &mut Limits| {
        l.per_address.reports_per_minute = 1_000;
        l.per_address.reports_per_day = day;
    }
}

#[test]
fn a_client_filing_through_two_instances_alternately_is_refused_after_exactly_its_quota() {
    let Some(place) = postgres_place() else {
        return;
    };
    let a = instance(&place, reports_per_day(4));
    let b = instance(&place, reports_per_day(4));
    let key = a.key("app").to_owned();
    for h in [&a, &b, &a, &b] {
        assert_created(&file(h, "192.0.2.1", &key));
    }
    // Four in total: both instances refuse the fifth, with the day's wait.
    let refused = file(&a, "192.0.2.1", &key);
    assert_refused(&refused, "day");
    assert_refused(&file(&b, "192.0.2.1", &key), "day");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 3_600, "one report every 6 h: {retry}");
    // Another client (address) is not held back; an IPv6 client is its /64.
    assert_created(&file(&b, "192.0.2.2", &key));
    for (h, peer) in [(&a, "2001:db8:7:7::1"), (&b, "2001:db8:7:7::2")] {
        for _ in 0..2 {
            assert_created(&file(h, peer, &key));
        }
    }
    assert_refused(&file(&a, "2001:db8:7:7::3", &key), "day");
}

#[test]
fn a_key_s_quota_holds_across_instances_too() {
    let Some(place) = postgres_place() else {
        return;
    };
    let agent_quota = |l: &mut Limits| {
        l.set_key_quota(&"agent:reports_per_day=3".parse().unwrap());
    };
    let a = instance(&place, agent_quota);
    let b = instance(&place, agent_quota);
    let key = a.key("agent").to_owned();
    // The city's keys are counted by key, whatever their address.
    for (h, peer) in [(&a, "192.0.2.10"), (&b, "192.0.2.11"), (&a, "192.0.2.12")] {
        assert_created(&file(h, peer, &key));
    }
    assert_refused(&file(&b, "192.0.2.13", &key), "day");
    assert_refused(&file(&a, "192.0.2.14", &key), "day");
    // Another agent key has its own quota.
    assert_created(&file(&b, "192.0.2.13", b.key("agent")));
}

#[test]
fn concurrent_filings_through_two_instances_never_pass_the_quota() {
    const QUOTA: u32 = 10;
    const PER_INSTANCE: usize = 20;
    let Some(place) = postgres_place() else {
        return;
    };
    let a = instance(&place, reports_per_day(QUOTA));
    let b = instance(&place, reports_per_day(QUOTA));
    let key = a.key("app").to_owned();
    let statuses: Vec<StatusCode> = std::thread::scope(|s| {
        let threads: Vec<_> = [&a, &b]
            .into_iter()
            .flat_map(|h| std::iter::repeat_n(h, PER_INSTANCE))
            .map(|h| s.spawn(|| file(h, "192.0.2.50", &key).status))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (created, refused),
        (QUOTA as usize, 2 * PER_INSTANCE - QUOTA as usize),
        "{statuses:?}"
    );
}

#[test]
fn a_request_refused_by_its_key_s_quota_charges_nothing_to_its_address() {
    let Some(place) = postgres_place() else {
        return;
    };
    let limits = |l: &mut Limits| {
        reports_per_day(3)(l);
        l.set_key_quota(&"app:reports_per_day=2".parse().unwrap());
    };
    let a = instance(&place, limits);
    let b = instance(&place, limits);
    let (key_a, key_b) = (a.key("app").to_owned(), b.key("app").to_owned());
    assert_created(&file(&a, "192.0.2.20", &key_a));
    assert_created(&file(&b, "192.0.2.20", &key_a));
    // The key's day is used up; its address has one report left, and keeps it.
    for h in [&a, &b, &a] {
        assert_refused(&file(h, "192.0.2.20", &key_a), "day");
    }
    // Another app key from the same address: exactly the one left.
    assert_created(&file(&b, "192.0.2.20", &key_b));
    assert_refused(&file(&a, "192.0.2.20", &key_b), "day");
}

/// A charge of `holder`'s geocoding at `count` per `period_s`.
fn charge(holder: i64, count: i64, period_s: i32) -> QuotaCharge {
    QuotaCharge {
        holder_kind: "key",
        holder,
        quota: "geocode",
        period_s,
        interval_us: i64::from(period_s) * 1_000_000 / count,
    }
}

#[test]
fn a_refused_second_rate_charges_nothing_on_the_first() {
    let Some(place) = postgres_place() else {
        return;
    };
    runtime().block_on(async {
        let store = place.open().await;
        let (roomy, tight) = (charge(1, 100, 86_400), charge(2, 1, 86_400));
        let both = [roomy, tight];
        assert_eq!(
            store.charge_quotas(&both).await.unwrap(),
            Some(Charged::Admitted)
        );
        for _ in 0..5 {
            let refused = store.charge_quotas(&both).await.unwrap();
            assert!(
                matches!(refused, Some(Charged::Refused { index: 1, .. })),
                "{refused:?}"
            );
        }
        // The roomy rate still has 99 of its 100.
        for _ in 0..99 {
            assert_eq!(
                store.charge_quotas(&[roomy]).await.unwrap(),
                Some(Charged::Admitted)
            );
        }
        let refused = store.charge_quotas(&[roomy]).await.unwrap();
        assert!(
            matches!(refused, Some(Charged::Refused { index: 0, .. })),
            "{refused:?}"
        );
        store.close().await;
    });
}

#[test]
fn many_concurrent_charges_through_two_stores_admit_exactly_the_quota() {
    const QUOTA: i64 = 25;
    const CHARGES: usize = 200;
    let Some(place) = postgres_place() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Two instances: two pools. Each request charges a minute rate that
        // never refuses and the day's, both new at first (the race of two
        // first requests of a holder included).
        let (one, two) = (place.open().await, place.open().await);
        let rates = [charge(7, 1_000, 60), charge(7, QUOTA, 86_400)];
        let tasks: Vec<_> = (0..CHARGES)
            .map(|i| {
                let store: Store = if i % 2 == 0 { one.clone() } else { two.clone() };
                tokio::spawn(async move { store.charge_quotas(&rates).await.unwrap() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            match t.await.unwrap() {
                Some(Charged::Admitted) => admitted += 1,
                Some(Charged::Refused { index: 1, .. }) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(admitted, QUOTA);
        // The minute rate was charged once per admitted request only: its
        // TAT is `QUOTA` intervals ahead of its first charge at most.
        let minute = place
            .count(
                "SELECT tat_us - (extract(epoch FROM now()) * 1000000)::bigint FROM quota_tats \
                 WHERE period_s = 60",
            )
            .await;
        assert!(minute <= QUOTA * 60_000, "{minute} µs ahead");
        one.close().await;
        two.close().await;
    });
}

#[test]
fn a_first_charge_racing_another_instance_s_first_insert_is_undone_and_judged_again() {
    let Some(place) = postgres_place() else {
        return;
    };
    runtime().block_on(async {
        use sqlx::Connection as _;
        let store = place.open().await;
        let (minute, day) = (charge(9, 1, 60), charge(9, 1, 86_400));
        // Another instance inserts the day's row, used up, and has not
        // committed yet when this charge reads its snapshot.
        let mut other = pg(&place).await;
        let mut tx = other.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO quota_tats (holder_kind, holder, quota, period_s, tat_us) \
             VALUES ('key', 9, 'geocode', 86400, \
                     (extract(epoch FROM now()) * 1000000)::bigint + 86400000000)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        let charging = tokio::spawn({
            let store = store.clone();
            async move { store.charge_quotas(&[minute, day]).await.unwrap() }
        });
        // The charge waits on that insert: it wrote its minute row, sees no
        // day row, and will meet the other one's.
        let deadline = Instant::now() + PATIENCE;
        while place
            .count(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                 AND query LIKE 'WITH wanted%'",
            )
            .await
            == 0
        {
            assert!(Instant::now() < deadline, "the charge never waited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.commit().await.unwrap();
        let judged = charging.await.unwrap();
        assert!(
            matches!(judged, Some(Charged::Refused { index: 1, .. })),
            "{judged:?}"
        );
        // Its minute row was given back: the minute's one event is still there.
        assert_eq!(
            store.charge_quotas(&[minute]).await.unwrap(),
            Some(Charged::Admitted)
        );
        assert!(matches!(
            store.charge_quotas(&[minute]).await.unwrap(),
            Some(Charged::Refused { index: 0, .. })
        ));
        other.close().await.unwrap();
        store.close().await;
    });
}

#[test]
fn expired_quota_rows_are_pruned_and_live_ones_kept() {
    let Some(place) = postgres_place() else {
        return;
    };
    runtime().block_on(async {
        let store = place.open().await;
        // One event per second: expired a second after its charge.
        let (brief, daily) = (charge(1, 1, 1), charge(2, 5, 86_400));
        store.charge_quotas(&[brief, daily]).await.unwrap();
        let rows = || place.count("SELECT count(*) FROM quota_tats");
        assert_eq!(rows().await, 2);
        let deadline = Instant::now() + PATIENCE;
        while place
            .count("SELECT count(*) FROM quota_tats WHERE period_s = 1")
            .await
            > 0
        {
            assert!(Instant::now() < deadline, "the expired row is still there");
            tokio::time::sleep(Duration::from_millis(100)).await;
            store.prune_quotas().await.unwrap();
        }
        assert_eq!(
            place
                .count("SELECT count(*) FROM quota_tats WHERE period_s = 86400")
                .await,
            1
        );
        store.close().await;
    });
}

#[test]
fn an_instance_prunes_expired_rows_once_it_charges_quotas() {
    let Some(place) = postgres_place() else {
        return;
    };
    let h = instance(&place, |_| {});
    let url = place.database_url().unwrap().to_owned();
    runtime().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO quota_tats (holder_kind, holder, quota, period_s, tat_us) \
             VALUES ('ipv4', 1, 'geocode', 60, 1)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
    assert_eq!(geocode(&h, "192.0.2.40").status, StatusCode::OK);
    let deadline = Instant::now() + PATIENCE;
    let expired =
        || runtime().block_on(place.count("SELECT count(*) FROM quota_tats WHERE tat_us = 1"));
    while expired() > 0 {
        assert!(Instant::now() < deadline, "the expired row is still there");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The request's own row is live and kept.
    assert_eq!(
        runtime().block_on(place.count("SELECT count(*) FROM quota_tats WHERE quota = 'geocode'")),
        1
    );
}

#[test]
fn an_unreachable_store_leaves_each_instance_its_own_quotas() {
    let Some(place) = postgres_place() else {
        return;
    };
    let geocoding = |l: &mut Limits| l.per_address.geocode_per_minute = 2;
    let h = instance(&place, geocoding);
    assert_eq!(geocode(&h, "192.0.2.60").status, StatusCode::OK);
    assert_eq!(
        runtime().block_on(place.count("SELECT count(*) FROM quota_tats")),
        1,
        "charged in the store while it answers"
    );
    h.rt.block_on(h.app.store().close());
    // Geocoding needs no store: it goes on, within this instance's quota.
    assert_eq!(geocode(&h, "192.0.2.61").status, StatusCode::OK);
    assert_eq!(geocode(&h, "192.0.2.61").status, StatusCode::OK);
    assert_refused(&geocode(&h, "192.0.2.61"), "minute");
    // What the store held is not known here: a client gets this instance's
    // quota afresh (at most once per instance during an outage).
    assert_eq!(geocode(&h, "192.0.2.60").status, StatusCode::OK);
}

#[test]
fn a_store_too_slow_to_judge_leaves_the_instance_its_own_quotas() {
    let Some(place) = postgres_place() else {
        return;
    };
    let h = instance(&place, |l| l.per_address.geocode_per_minute = 1);
    assert_eq!(geocode(&h, "192.0.2.70").status, StatusCode::OK);
    // The store would refuse the next one (its one per minute is used), but
    // another connection holds that row locked: no verdict comes in time.
    let rt = runtime();
    let mut other = rt.block_on(pg(&place));
    let mut tx = rt.block_on(sqlx::Connection::begin(&mut other)).unwrap();
    rt.block_on(sqlx::query("SELECT tat_us FROM quota_tats FOR UPDATE").execute(&mut *tx))
        .unwrap();
    assert_eq!(geocode(&h, "192.0.2.70").status, StatusCode::OK);
    assert_refused(&geocode(&h, "192.0.2.70"), "minute");
    rt.block_on(tx.rollback()).unwrap();
    rt.block_on(sqlx::Connection::close(other)).unwrap();
}

/// The cost of one shared quota charge (two rates of one holder, as a
/// filing by address) against the configured server, with the table
/// unlogged as migrated and then logged, for comparison:
/// `CIVICMAP_TEST_POSTGRES_URL=… cargo test --release --test quotas_postgres
/// -- --ignored --nocapture measure`.
#[test]
#[ignore = "a measurement: prints figures, asserts none"]
fn measure_the_cost_of_a_shared_quota_charge() {
    const CHARGES: usize = 5_000;
    let Some(place) = postgres_place() else {
        return;
    };
    runtime().block_on(async {
        let store = place.open().await;
        for logged in [false, true] {
            if logged {
                sqlx::query("ALTER TABLE quota_tats SET LOGGED")
                    .execute(&mut pg(&place).await)
                    .await
                    .unwrap();
            }
            let mut times = Vec::with_capacity(CHARGES);
            for i in 0..CHARGES {
                // Rotating over 100 holders: rows exist after the first round.
                let holder = i64::try_from(i % 100).unwrap();
                let rates = [
                    charge(holder, 1_000_000, 60),
                    charge(holder, 1_000_000, 86_400),
                ];
                let t = Instant::now();
                store.charge_quotas(&rates).await.unwrap();
                times.push(t.elapsed());
            }
            times.sort_unstable();
            let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
            println!(
                "{} table, {CHARGES} charges of 2 rates: median {:?}, p99 {:?}, max {:?}",
                if logged { "logged" } else { "unlogged" },
                at(0.5),
                at(0.99),
                at(1.0)
            );
        }
        store.close().await;
    });
}

async fn pg(place: &Place) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect(place.database_url().unwrap())
        .await
        .unwrap()
}
