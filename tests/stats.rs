//! Statistics through the real router, checked against a brute-force
//! recomputation from the store on generated data: reports filed through
//! the API by a pool of residents (with and without a contact), moved
//! through the lifecycle by an agent, supported, then spread over the past
//! year in the store and read back by a restarted application (so the fact
//! table is rebuilt from the store as at boot). Property tests draw filters
//! and check every figure, and the k-anonymity rule on the public answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde_json::{Value, json};
use sqlx::Row as _;

use common::Harness;

const K: usize = 5;
use civicmap::store::{
    DB_FILE_NAME, DISTRICT_LAYERS as LAYERS, REPORT_CHANNELS as CHANNELS, REPORT_KINDS as KINDS,
    REPORT_STATUSES as STATUSES,
};

const CAMPAIGN: &str = "arceaux-velo";
const DAY_MS: i64 = 86_400_000;

/// A report as the store has it.
#[derive(Debug, Clone)]
struct Row {
    kind: String,
    category: String,
    channel: String,
    status: String,
    created_ms: i64,
    /// Distinct reporter: the contact (lower-cased), or the report's own.
    reporter: String,
    campaign: Option<String>,
    districts: [Option<String>; 5],
    h3: u64,
    first_response_ms: Option<i64>,
    closed_ms: Option<i64>,
    supports: i64,
}

struct Data {
    /// The restarted application.
    h: Harness,
    rows: Vec<Row>,
    categories: Vec<String>,
    now_ms: i64,
    /// The application that filed everything, before the restart.
    _first: Harness,
    _dir: tempfile::TempDir,
}

fn data() -> &'static Data {
    static D: OnceLock<Data> = OnceLock::new();
    D.get_or_init(build)
}

fn build() -> Data {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::boot_in(dir.path());
    let mut rng = Pcg64Mcg::seed_from_u64(20_261_205);
    let listed = h.get("/api/v1/categories").json();
    let categories: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect();
    let first_sub: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subcategories"][0]["code"].as_str().unwrap().to_owned())
        .collect();
    let c = h.post_as(
        Some("admin"),
        "/api/v1/campaigns",
        &json!({"slug": CAMPAIGN, "title": "Arceaux vélo", "question": "Où ?",
                "categories": [], "ends_at": "2099-01-01"}),
    );
    assert_eq!(c.status, 201, "{}", c.text());
    let mut ids = Vec::new();
    for i in 0..260 {
        let contribution = rng.random_bool(0.25);
        let contact = (!rng.random_bool(0.3))
            .then(|| format!("Resident{}@Example.org", rng.random_range(0..14)));
        let channel = CHANNELS[rng.random_range(0..4)];
        let cat = rng.random_range(0..categories.len());
        let mut body = json!({
            "kind": if contribution { "contribution" } else { "anomaly" },
            "category": categories[cat],
            "subcategory": first_sub[cat],
            "description": format!("Report {i}"),
            "lon": rng.random_range(2.27..2.41),
            "lat": rng.random_range(48.83..48.89),
            "channel": channel,
        });
        if let Some(c) = contact {
            body["contact"] = json!(c);
        }
        if contribution && rng.random_bool(0.5) {
            body["campaign"] = json!(CAMPAIGN);
        }
        let role = if channel == "back_office" {
            "agent"
        } else {
            "app"
        };
        let r = h.post_as(Some(role), "/api/v1/reports", &body);
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    for id in &ids {
        // Supports first: only open reports can be supported.
        for s in 0..rng.random_range(0..3) {
            let r = h.post_as(
                Some("app"),
                &format!("/api/v1/reports/{id}/supports"),
                &json!({"client_id": format!("supporter-{id}-{s}")}),
            );
            assert!(r.status.is_success(), "{}", r.text());
        }
        let roll: f64 = rng.random();
        let steps: &[&str] = if roll < 0.3 {
            &[]
        } else if roll < 0.45 {
            &["note"]
        } else if roll < 0.6 {
            &["to_process"]
        } else if roll < 0.85 {
            &["to_process", "done"]
        } else {
            &["rejected"]
        };
        for step in steps {
            let r = if *step == "note" {
                h.post_as(
                    Some("agent"),
                    &format!("/api/v1/reports/{id}/notes"),
                    &json!({"note": "Vu"}),
                )
            } else {
                h.post_as(
                    Some("agent"),
                    &format!("/api/v1/reports/{id}/status"),
                    &json!({"status": step, "note": "Traité"}),
                )
            };
            assert!(r.status.is_success(), "{step}: {}", r.text());
        }
    }
    // Spread the filings over the past year (and keep every response after
    // its filing), in the store only: the restarted application must read
    // it all from there.
    let db = dir.path().join(DB_FILE_NAME);
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1_000;
    h.rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        for id in &ids {
            let back = rng.random_range(0..365 * DAY_MS);
            sqlx::query("UPDATE reports SET created_at_ms = created_at_ms - $2 WHERE id = $1")
                .bind(id)
                .bind(back)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
    let restarted = Harness::boot_in(dir.path());
    let rows = restarted.rt.block_on(read_rows(&db));
    assert_eq!(rows.len(), ids.len());
    Data {
        h: restarted,
        rows,
        categories,
        now_ms,
        _first: h,
        _dir: dir,
    }
}

async fn read_rows(db: &std::path::Path) -> Vec<Row> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT r.id, r.kind, r.category, r.channel, r.status, r.created_at_ms, r.contact, \
         r.campaign, r.arrondissement, r.quartier, r.conseil_quartier, r.iris, r.working_class, \
         r.h3, s.first_response_at_ms, s.closed_at_ms, coalesce(s.supports, 0) \
         FROM reports r LEFT JOIN report_state s ON s.report_id = r.id ORDER BY r.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            let id: i64 = r.get(0);
            let contact: Option<String> = r.get(6);
            Row {
                kind: r.get(1),
                category: r.get(2),
                channel: r.get(3),
                status: r.get(4),
                created_ms: r.get(5),
                reporter: contact.map_or_else(|| format!("#{id}"), |c| c.to_lowercase()),
                campaign: r.get(7),
                districts: [r.get(8), r.get(9), r.get(10), r.get(11), r.get(12)],
                h3: u64::from_ne_bytes(r.get::<i64, _>(13).to_ne_bytes()),
                first_response_ms: r.get(14),
                closed_ms: r.get(15),
                supports: r.get(16),
            }
        })
        .collect()
}

/// A drawn filter.
#[derive(Debug, Clone, Default)]
struct F {
    kind: Option<usize>,
    category: Option<usize>,
    channel: Option<usize>,
    status: Option<usize>,
    campaign: bool,
    /// Days before now.
    from_days: Option<i64>,
    to_days: Option<i64>,
    /// Bounds moved back to the first of their month (UTC), as dashboards
    /// ask: whole months, which the running tallies answer.
    whole_months: bool,
}

impl F {
    fn query(&self, d: &Data) -> String {
        let mut q = Vec::new();
        if let Some(k) = self.kind {
            q.push(format!("kind={}", KINDS[k]));
        }
        if let Some(c) = self.category {
            q.push(format!("category={}", d.categories[c % d.categories.len()]));
        }
        if let Some(c) = self.channel {
            q.push(format!("channel={}", CHANNELS[c]));
        }
        if let Some(s) = self.status {
            q.push(format!("status={}", STATUSES[s]));
        }
        if self.campaign {
            q.push(format!("campaign={CAMPAIGN}"));
        }
        let (from, to) = self.bounds(d);
        for (name, ms) in [("from", from), ("to", to)] {
            if let Some(ms) = ms {
                let t = time::OffsetDateTime::from_unix_timestamp(ms / 1_000).unwrap();
                q.push(format!(
                    "{name}={}",
                    t.format(&time::format_description::well_known::Rfc3339)
                        .unwrap()
                        .replace('+', "%2B")
                ));
            }
        }
        q.join("&")
    }

    fn bounds(&self, d: &Data) -> (Option<i64>, Option<i64>) {
        let at = |days: i64| {
            let ms = (d.now_ms - days * DAY_MS) / 1_000 * 1_000;
            if !self.whole_months {
                return ms;
            }
            let t = time::OffsetDateTime::from_unix_timestamp(ms / 1_000).unwrap();
            t.date()
                .replace_day(1)
                .unwrap()
                .midnight()
                .assume_utc()
                .unix_timestamp()
                * 1_000
        };
        let (from, to) = (self.from_days.map(at), self.to_days.map(at));
        // Two bounds in one month would make an empty range: keep the start.
        (from, to.filter(|t| from.is_none_or(|f| f < *t)))
    }

    fn matches(&self, d: &Data, r: &Row) -> bool {
        let (from, to) = self.bounds(d);
        self.kind.is_none_or(|k| r.kind == KINDS[k])
            && self
                .category
                .is_none_or(|c| r.category == d.categories[c % d.categories.len()])
            && self.channel.is_none_or(|c| r.channel == CHANNELS[c])
            && self.status.is_none_or(|s| r.status == STATUSES[s])
            && (!self.campaign || r.campaign.as_deref() == Some(CAMPAIGN))
            && from.is_none_or(|f| r.created_ms >= f)
            && to.is_none_or(|t| r.created_ms < t)
    }
}

fn filters() -> impl Strategy<Value = F> {
    (
        prop::option::weighted(0.3, 0..2_usize),
        prop::option::weighted(0.3, 0..10_usize),
        prop::option::weighted(0.2, 0..4_usize),
        prop::option::weighted(0.2, 0..8_usize),
        prop::bool::weighted(0.15),
        prop::option::weighted(0.4, 30..300_i64),
        prop::option::weighted(0.3, 0..200_i64),
        prop::bool::weighted(0.5),
    )
        .prop_map(
            |(kind, category, channel, status, campaign, from_days, to_days, whole_months)| F {
                kind,
                category,
                channel,
                status,
                campaign,
                from_days,
                to_days: to_days.filter(|t| from_days.is_none_or(|f| *t < f)),
                whole_months,
            },
        )
}

/// Nearest rank `ceil(p × n)` of sorted values.
fn rank(mut v: Vec<i64>, p: usize) -> Option<i64> {
    v.sort_unstable();
    (!v.is_empty()).then(|| v[(v.len() * p).div_ceil(100).max(1) - 1])
}

/// The figures of a group of rows, as the API names them (all counts).
fn expected(d: &Data, rows: &[&Row], days: i64) -> Value {
    let count = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
    let minutes = |from: i64, to: i64| (to - from).max(0) / 60_000;
    let first: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.first_response_ms.map(|t| minutes(r.created_ms, t)))
        .collect();
    let done: Vec<i64> = rows
        .iter()
        .filter(|r| r.status == "done")
        .filter_map(|r| r.closed_ms.map(|t| minutes(r.created_ms, t)))
        .collect();
    json!({
        "reports": rows.len(),
        "by_kind": KINDS.iter().map(|k| (k.to_string(), json!(count(&|r| r.kind == *k)))).collect::<serde_json::Map<_, _>>(),
        "by_status": STATUSES.iter().map(|s| (s.to_string(), json!(count(&|r| r.status == *s)))).collect::<serde_json::Map<_, _>>(),
        "by_category": d.categories.iter().map(|c| (c.clone(), json!(count(&|r| &r.category == c)))).collect::<serde_json::Map<_, _>>(),
        "supports": rows.iter().map(|r| r.supports).sum::<i64>(),
        "answered": first.len(),
        "unanswered": rows.len() - first.len(),
        "first_median": rank(first.clone(), 50),
        "first_p90": rank(first.clone(), 90),
        "done_count": done.len(),
        "done_median": rank(done.clone(), 50),
        "done_p90": rank(done.clone(), 90),
        "resolved_within": done.iter().filter(|m| **m <= days * 1_440).count(),
    })
}

/// The same figures read from an answer.
fn answered(v: &Value) -> Value {
    json!({
        "reports": v["reports"],
        "by_kind": v["by_kind"],
        "by_status": v["by_status"],
        "by_category": v["by_category"],
        "supports": v["supports"],
        "answered": v["first_response"]["answered"],
        "unanswered": v["first_response"]["unanswered"],
        "first_median": v["first_response"]["minutes"]["median_minutes"],
        "first_p90": v["first_response"]["minutes"]["p90_minutes"],
        "done_count": v["resolution"]["minutes"]["count"],
        "done_median": v["resolution"]["minutes"]["median_minutes"],
        "done_p90": v["resolution"]["minutes"]["p90_minutes"],
        "resolved_within": v["resolution"]["resolved_within"],
    })
}

fn get_json(h: &Harness, role: Option<&str>, uri: &str) -> Value {
    let r = h.send_as(
        role,
        axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap(),
    );
    assert_eq!(r.status, 200, "{uri}: {}", r.text());
    r.json()
}

/// Distinct reporters of rows.
fn reporters<'a>(rows: impl Iterator<Item = &'a Row>) -> usize {
    rows.map(|r| r.reporter.as_str())
        .collect::<HashSet<_>>()
        .len()
}

/// The start (RFC 3339, UTC) of the `interval` bucket ("day", "week",
/// "month") holding time `ms`.
fn bucket_start(interval: &str, ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1_000))
        .unwrap()
        .date();
    let day = match interval {
        "day" => t,
        "week" => t - time::Duration::days(i64::from(t.weekday().number_days_from_monday())),
        _ => t.replace_day(1).unwrap(),
    };
    day.midnight()
        .assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The k-anonymity of a published table whose rows are `lines` (each row's
/// answer and the rows it counts) and whose margin is `margin`: every number
/// shown equals the recomputation and comes from at least k distinct
/// reporters (or is 0), and in every line whose total is shown (a row, a
/// category over the rows, the margin's total) the hidden numbers together
/// come from 0 or at least k reporters.
fn check_published(
    d: &Data,
    lines: &[(&Value, Vec<&Row>)],
    margin: &Value,
) -> Result<(), TestCaseError> {
    let mut hidden_by_category: HashMap<String, Vec<&Row>> = HashMap::new();
    let mut hidden_totals: Vec<&Row> = Vec::new();
    for (x, group) in lines {
        let label = if x["id"].is_null() {
            &x["start"]
        } else {
            &x["id"]
        };
        match x["reports"].as_u64() {
            None => hidden_totals.extend(group.iter().copied()),
            Some(n) => {
                prop_assert_eq!(n as usize, group.len());
                prop_assert!(n == 0 || reporters(group.iter().copied()) >= K);
            }
        }
        let mut hidden_in_row: Vec<&Row> = Vec::new();
        for c in &d.categories {
            let cell: Vec<&Row> = group.iter().copied().filter(|r| &r.category == c).collect();
            match x["by_category"][c].as_u64() {
                Some(n) => {
                    prop_assert_eq!(n as usize, cell.len());
                    prop_assert!(
                        n == 0 || reporters(cell.iter().copied()) >= K,
                        "{} {}",
                        label,
                        c
                    );
                }
                None => {
                    hidden_in_row.extend(cell.iter().copied());
                    hidden_by_category
                        .entry(c.clone())
                        .or_default()
                        .extend(cell.iter().copied());
                }
            }
        }
        if x["reports"].is_u64() {
            prop_assert!(
                hidden_in_row.is_empty() || reporters(hidden_in_row.iter().copied()) >= K,
                "row {}",
                label
            );
        }
    }
    for (c, hidden) in hidden_by_category {
        if margin["by_category"][&c].is_u64() {
            prop_assert!(
                hidden.is_empty() || reporters(hidden.iter().copied()) >= K,
                "column {}",
                c
            );
        }
    }
    if margin["reports"].is_u64() {
        prop_assert!(hidden_totals.is_empty() || reporters(hidden_totals.iter().copied()) >= K);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Analyst keys see every count: each district's figures equal the
    /// recomputation from the store, for any layer and filter.
    #[test]
    fn per_district_figures_equal_a_recomputation_from_the_store(
        f in filters(),
        layer in 0..5_usize,
        days in 1..60_i64,
    ) {
        let d = data();
        let uri = format!("/api/v1/stats/districts?layer={}&resolved_within_days={days}&{}", LAYERS[layer], f.query(d));
        let got = get_json(&d.h, Some("analyst"), &uri);
        prop_assert_eq!(&got["k_anonymity"]["applied"], &json!(false));
        let rows: Vec<&Row> = d.rows.iter().filter(|r| f.matches(d, r)).collect();
        let mut by: BTreeMap<Option<&str>, Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            by.entry(r.districts[layer].as_deref()).or_default().push(r);
        }
        let listed: HashSet<&str> = got["districts"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
        for x in got["districts"].as_array().unwrap() {
            let id = x["id"].as_str().unwrap();
            let group = by.get(&Some(id)).cloned().unwrap_or_default();
            prop_assert_eq!(answered(x), expected(d, &group, days), "{}", id);
            match x["population"]["inhabitants"].as_f64() {
                Some(p) if p > 0.0 => {
                    let rate = x["reports_per_1000_inhabitants"].as_f64().unwrap();
                    prop_assert!((rate - group.len() as f64 * 1_000.0 / p).abs() < 1e-9);
                }
                _ => prop_assert!(x["reports_per_1000_inhabitants"].is_null()),
            }
        }
        let outside: Vec<&Row> = rows.iter().copied().filter(|r| r.districts[layer].as_deref().is_none_or(|id| !listed.contains(id))).collect();
        prop_assert_eq!(answered(&got["outside"]), expected(d, &outside, days));
        prop_assert_eq!(answered(&got["city"]), expected(d, &rows, days));
    }

    /// The public answer: every number shown equals the recomputation, comes
    /// from at least k distinct reporters (or is 0), and in every line whose
    /// total is shown (a district, a category over the districts) the
    /// hidden numbers together come from 0 or at least k reporters.
    #[test]
    fn public_district_figures_are_exact_or_hidden_and_never_single_out_fewer_than_k(
        f in filters(),
        layer in 0..5_usize,
    ) {
        let d = data();
        let uri = format!("/api/v1/stats/districts?layer={}&{}", LAYERS[layer], f.query(d));
        let got = get_json(&d.h, None, &uri);
        prop_assert_eq!(&got["k_anonymity"], &json!({"k": K, "applied": true}));
        let rows: Vec<&Row> = d.rows.iter().filter(|r| f.matches(d, r)).collect();
        let listed: HashSet<&str> = got["districts"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
        let mut lines: Vec<(&Value, Vec<&Row>)> = got["districts"].as_array().unwrap().iter().map(|x| {
            let id = x["id"].as_str().unwrap();
            (x, rows.iter().copied().filter(|r| r.districts[layer].as_deref() == Some(id)).collect())
        }).collect();
        lines.push((&got["outside"], rows.iter().copied().filter(|r| r.districts[layer].as_deref().is_none_or(|id| !listed.contains(id))).collect()));
        check_published(d, &lines, &got["city"])?;
    }

    /// Hexagon counts: exact for analysts; in public, every shown cell is
    /// exact or a roll-up of hidden children, and under every coarser cell
    /// the reports not shown come from 0 or at least k reporters.
    #[test]
    fn hexagon_counts_are_exact_and_public_roll_ups_hide_nothing_recoverable(
        f in filters(),
        res in 5..=10_u8,
    ) {
        let d = data();
        let rows: Vec<&Row> = d.rows.iter().filter(|r| f.matches(d, r)).collect();
        let parent = |h: u64, r: u8| u64::from(h3o::CellIndex::try_from(h).unwrap().parent(h3o::Resolution::try_from(r).unwrap()).unwrap());
        let mut cells: BTreeMap<u64, Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            cells.entry(parent(r.h3, res)).or_default().push(r);
        }
        let raw = get_json(&d.h, Some("analyst"), &format!("/api/v1/stats/h3?res={res}&{}", f.query(d)));
        let got: BTreeMap<u64, u64> = raw["cells"].as_array().unwrap().iter()
            .map(|c| (u64::from_str_radix(c["h3"].as_str().unwrap(), 16).unwrap(), c["reports"].as_u64().unwrap()))
            .collect();
        let want: BTreeMap<u64, u64> = cells.iter().map(|(c, v)| (*c, v.len() as u64)).collect();
        prop_assert_eq!(got, want);

        let public = get_json(&d.h, None, &format!("/api/v1/stats/h3?res={res}&{}", f.query(d)));
        let shown: Vec<(u64, u8, usize, bool)> = public["cells"].as_array().unwrap().iter().map(|c| (
            u64::from_str_radix(c["h3"].as_str().unwrap(), 16).unwrap(),
            c["res"].as_u64().unwrap() as u8,
            c["reports"].as_u64().unwrap() as usize,
            c["remainder"] == json!(true),
        )).collect();
        for (cell, at, n, remainder) in &shown {
            if *remainder {
                prop_assert!(*at < res && *n >= K);
            } else {
                prop_assert_eq!(*at, res);
                let members = &cells[cell];
                prop_assert_eq!(*n, members.len());
                prop_assert!(reporters(members.iter().copied()) >= K);
            }
        }
        // Under every coarser cell that its own resolution would show, the
        // reports shown under it leave hidden none, or at least k, from at
        // least k reporters where the hidden ones are known (no roll-up
        // under the cell).
        for top in 0..res {
            let mut under: BTreeMap<u64, Vec<&Row>> = BTreeMap::new();
            for r in &rows {
                under.entry(parent(r.h3, top)).or_default().push(r);
            }
            for (cell, members) in under {
                let shown_under: usize = shown.iter()
                    .filter(|(c, at, ..)| *at >= top && parent(*c, top) == cell)
                    .map(|(_, _, n, _)| n)
                    .sum();
                prop_assert!(shown_under <= members.len());
                let hidden = members.len() - shown_under;
                if reporters(members.iter().copied()) >= K {
                    prop_assert!(hidden == 0 || hidden >= K, "res {} cell {:x}: {} hidden", top, cell, hidden);
                    // Without a roll-up under it, the reports outside the
                    // shown cells are exactly the hidden ones: count their
                    // reporters.
                    let rolled_up = shown.iter().any(|(c, at, _, rem)| *rem && *at >= top && parent(*c, top) == cell);
                    if !rolled_up {
                        let outside_shown: Vec<&Row> = members.iter().copied()
                            .filter(|r| !shown.iter().any(|(c, at, _, rem)| !rem && *c == parent(r.h3, *at)))
                            .collect();
                        prop_assert!(outside_shown.is_empty() || reporters(outside_shown.iter().copied()) >= K,
                            "res {} cell {:x}: hidden reports from fewer than k reporters", top, cell);
                    }
                }
            }
        }
    }

    /// A series of any interval equals the recomputation per bucket.
    #[test]
    fn series_buckets_equal_a_recomputation_from_the_store(
        f in filters(),
        interval in 0..3_usize,
        district_row in 0..260_usize,
    ) {
        let d = data();
        let name = ["day", "week", "month"][interval];
        let district = d.rows[district_row % d.rows.len()].districts[0].clone();
        let mut uri = format!("/api/v1/stats/series?interval={name}&{}", f.query(d));
        if let Some(id) = &district {
            uri.push_str(&format!("&district={id}"));
        }
        let got = get_json(&d.h, Some("analyst"), &uri);
        let rows: Vec<&Row> = d.rows.iter().filter(|r| f.matches(d, r) && (district.is_none() || r.districts[0] == district)).collect();
        let mut want: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for r in &rows {
            want.entry(bucket_start(name, r.created_ms)).or_default().push(r);
        }
        let buckets = got["buckets"].as_array().unwrap();
        let mut seen = 0;
        for b in buckets {
            let start = b["start"].as_str().unwrap().to_owned();
            let members = want.get(&start).cloned().unwrap_or_default();
            seen += members.len();
            prop_assert_eq!(answered(b), expected(d, &members, 7), "{}", start);
        }
        prop_assert_eq!(seen, rows.len());
        prop_assert_eq!(answered(&got["total"]), expected(d, &rows, 7));
        let starts: Vec<&str> = buckets.iter().map(|b| b["start"].as_str().unwrap()).collect();
        prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
        // Without a bound, the first or last matching report bounds the buckets.
        let (from, to) = f.bounds(d);
        if let (Some(first), Some(last)) = (want.keys().next(), want.keys().next_back()) {
            if from.is_none() {
                prop_assert_eq!(starts.first().copied(), Some(first.as_str()));
            }
            if to.is_none() {
                prop_assert_eq!(starts.last().copied(), Some(last.as_str()));
            }
        }
    }

    /// A published series is a table of buckets: every number shown equals
    /// the recomputation and none singles out fewer than k reporters, alone
    /// or by difference, whatever the interval and filter.
    #[test]
    fn public_series_figures_are_exact_or_hidden_and_never_single_out_fewer_than_k(
        f in filters(),
        interval in 0..3_usize,
    ) {
        let d = data();
        let name = ["day", "week", "month"][interval];
        let got = get_json(&d.h, None, &format!("/api/v1/stats/series?interval={name}&{}", f.query(d)));
        let rows: Vec<&Row> = d.rows.iter().filter(|r| f.matches(d, r)).collect();
        let lines: Vec<(&Value, Vec<&Row>)> = got["buckets"].as_array().unwrap().iter().map(|b| {
            let start = b["start"].as_str().unwrap();
            (b, rows.iter().copied().filter(|r| bucket_start(name, r.created_ms) == start).collect())
        }).collect();
        prop_assert_eq!(lines.iter().map(|l| l.1.len()).sum::<usize>(), rows.len());
        check_published(d, &lines, &got["total"])?;
    }
}

#[test]
fn equity_compares_inside_and_outside_working_class_districts_and_ranks_iris_by_profile() {
    let d = data();
    let got = get_json(&d.h, Some("analyst"), "/api/v1/stats/equity");
    let inside: Vec<&Row> = d.rows.iter().filter(|r| r.districts[4].is_some()).collect();
    let outside: Vec<&Row> = d.rows.iter().filter(|r| r.districts[4].is_none()).collect();
    assert_eq!(
        answered(&got["working_class"]["inside"]),
        expected(d, &inside, 7)
    );
    assert_eq!(
        answered(&got["working_class"]["outside"]),
        expected(d, &outside, 7)
    );
    let share = got["working_class"]["population_share_inside"]
        .as_f64()
        .unwrap();
    assert!(share > 0.05 && share < 0.5, "{share}");
    let deciles = got["participation_by_iris_decile"].as_array().unwrap();
    assert_eq!(deciles.len(), 10);
    let ranked: u64 = deciles
        .iter()
        .map(|x| x["reports"].as_u64().unwrap())
        .sum::<u64>()
        + got["reports_in_no_ranked_iris"]["reports"]
            .as_u64()
            .unwrap();
    assert_eq!(ranked as usize, d.rows.len());
    for w in deciles.windows(2) {
        assert!(
            w[0]["working_class_share_max"].as_f64() <= w[1]["working_class_share_min"].as_f64()
        );
    }
    // The budget: every edition of the shipped winners, with the 30 % target.
    let budget = got["budget_by_edition"].as_array().unwrap();
    assert!(budget.len() >= 9, "{}", budget.len());
    for e in budget {
        assert_eq!(e["target_share"], json!(0.3));
        let total = e["total_eur"].as_i64().unwrap();
        assert!(e["in_working_class_districts_eur"].as_i64().unwrap() <= total);
        assert!(e["flagged_by_city_eur"].as_i64().unwrap() <= total);
    }
}

#[test]
fn statistics_come_as_csv_with_one_row_per_district_and_blank_suppressed_cells() {
    let d = data();
    let r =
        d.h.get("/api/v1/stats/districts?layer=arrondissement&format=csv");
    assert_eq!(r.status, 200);
    assert!(
        r.headers[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let mut csv = csv::Reader::from_reader(r.body.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(&header[..3], ["id", "code", "name"]);
    let json = get_json(&d.h, None, "/api/v1/stats/districts?layer=arrondissement");
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 20);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (rec, x) in records.iter().zip(json["districts"].as_array().unwrap()) {
        assert_eq!(rec[col("id")], *x["id"].as_str().unwrap());
        let shown = x["reports"]
            .as_u64()
            .map(|n| n.to_string())
            .unwrap_or_default();
        assert_eq!(rec[col("reports")], shown);
    }
    let by_accept = d.h.send(
        axum::http::Request::get("/api/v1/stats/series?interval=month")
            .header("accept", "text/csv")
            .body(axum::body::Body::empty())
            .unwrap(),
    );
    assert!(
        by_accept.text().starts_with("start,"),
        "{}",
        by_accept.text()
    );
}

#[test]
fn bad_statistics_queries_get_a_400_naming_the_parameter() {
    let d = data();
    for (uri, field) in [
        ("/api/v1/stats/districts", "layer"),
        ("/api/v1/stats/districts?layer=canton", "layer"),
        ("/api/v1/stats/districts?layer=iris&res=9", "res"),
        (
            "/api/v1/stats/districts?layer=iris&resolved_within_days=0",
            "resolved_within_days",
        ),
        ("/api/v1/stats/districts?layer=iris&kind=other", "kind"),
        ("/api/v1/stats/districts?layer=iris&channel=fax", "channel"),
        ("/api/v1/stats/districts?layer=iris&from=yesterday", "from"),
        (
            "/api/v1/stats/districts?layer=iris&from=2024-02-01&to=2024-01-01",
            "to",
        ),
        ("/api/v1/stats/districts?layer=iris&format=xlsx", "format"),
        ("/api/v1/stats/series?interval=year", "interval"),
        (
            "/api/v1/stats/series?interval=day&from=1990-01-01&to=2030-01-01",
            "to",
        ),
        ("/api/v1/stats/h3", "res"),
        ("/api/v1/stats/h3?res=11", "res"),
        ("/api/v1/stats/h3?res=9&bbox=2,48,1,49", "bbox"),
        ("/api/v1/stats/equity?layer=iris", "layer"),
    ] {
        let r = d.h.get(uri);
        assert_eq!(r.status, 400, "{uri}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{uri}");
    }
    let unknown = d.h.get("/api/v1/stats/districts?layer=iris&colour=red");
    assert_eq!(unknown.status, 400);
    let bad_key = d.h.send(
        axum::http::Request::get("/api/v1/stats/equity")
            .header("authorization", "Bearer cm_nope")
            .body(axum::body::Body::empty())
            .unwrap(),
    );
    assert_eq!(bad_key.status, 401);
}

#[test]
fn hexagons_come_as_geojson_polygons_closed_and_inside_the_asked_box() {
    let d = data();
    let r =
        d.h.get("/api/v1/stats/h3?res=8&format=geojson&bbox=2.30,48.84,2.36,48.87");
    assert_eq!(r.status, 200, "{}", r.text());
    let fc: geojson::FeatureCollection = r
        .text()
        .parse::<geojson::GeoJson>()
        .unwrap()
        .try_into()
        .unwrap();
    assert!(!fc.features.is_empty());
    for f in &fc.features {
        let Some(geojson::GeometryValue::Polygon { coordinates: rings }) =
            f.geometry.as_ref().map(|g| &g.value)
        else {
            panic!("not a polygon");
        };
        let ring = &rings[0];
        assert_eq!(ring.first(), ring.last());
        // Its extent meets the box (a coarse roll-up may cover all of it).
        let (lons, lats): (Vec<f64>, Vec<f64>) = ring.iter().map(|p| (p[0], p[1])).unzip();
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            min(&lons) <= 2.36 && max(&lons) >= 2.30 && min(&lats) <= 48.87 && max(&lats) >= 48.84
        );
        assert!(f.property("reports").unwrap().as_u64().unwrap() >= 1);
    }
}

#[test]
fn figures_kept_at_each_filing_and_status_change_equal_those_rebuilt_at_a_restart() {
    let d = data();
    // The first application saw every filing, support and status change
    // live; only filing times moved in the store since (so durations differ).
    let timeless = |v: &Value| {
        let mut a = answered(v);
        for k in [
            "first_median",
            "first_p90",
            "done_median",
            "done_p90",
            "resolved_within",
        ] {
            a.as_object_mut().unwrap().remove(k);
        }
        a
    };
    for layer in LAYERS {
        let uri = format!("/api/v1/stats/districts?layer={layer}");
        let live = get_json(&d._first, Some("analyst"), &uri);
        let rebuilt = get_json(&d.h, Some("analyst"), &uri);
        for (a, b) in live["districts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(rebuilt["districts"].as_array().unwrap())
        {
            assert_eq!(a["id"], b["id"]);
            assert_eq!(timeless(a), timeless(b), "{layer} {}", a["id"]);
        }
        assert_eq!(timeless(&live["city"]), timeless(&rebuilt["city"]));
    }
}
