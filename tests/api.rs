//! The HTTP API driven through the real router: reports, projects, districts,
//! geocoding, and every refusal.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::{anomaly, client_id, get, harness, post_json, post_raw};
use serde_json::{Value, json};

fn stored_under(client: &str) -> bool {
    let h = harness();
    h.rt.block_on(h.app.store().report_by_client_id(client))
        .unwrap()
        .is_some()
}

#[test]
fn health_answers_200_once_serving() {
    let r = get("/health");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
}

#[test]
fn a_posted_report_comes_back_with_its_districts_h3_cell_and_nearest_address() {
    let cid = client_id("place");
    let r = post_json("/api/v1/reports", &anomaly(&cid));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let body = r.json();
    let id = body["id"].as_i64().unwrap();
    assert_eq!(r.headers["location"], format!("/api/v1/reports/{id}"));
    assert_eq!(body["districts"]["arrondissement"]["code"], "75104");
    assert!(body["districts"]["quartier"]["code"].is_string());
    assert!(
        body["districts"]["iris"]["code"]
            .as_str()
            .unwrap()
            .starts_with("75104")
    );
    assert_eq!(body["status"], "new");
    assert_eq!(body["kind"], "anomaly");
    let expected_cell = h3o::LatLng::new(48.8530, 2.3499)
        .unwrap()
        .to_cell(h3o::Resolution::Twelve);
    assert_eq!(body["h3"], expected_cell.to_string());
    let nearest = &body["nearest_address"];
    assert!(
        nearest["label"].as_str().unwrap().contains("Paris"),
        "{nearest}"
    );
    assert!(nearest["distance_m"].as_f64().unwrap() < 150.0);
    assert_eq!(body["address"], nearest["label"]);

    let again = get(&format!("/api/v1/reports/{id}"));
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["districts"], body["districts"]);
    assert_eq!(again.json()["created_at"], body["created_at"]);
}

#[test]
fn a_retry_with_the_same_client_id_returns_the_same_report_not_a_new_one() {
    let cid = client_id("retry");
    let first = post_json("/api/v1/reports", &anomaly(&cid));
    assert_eq!(first.status, StatusCode::CREATED);
    let second = post_json("/api/v1/reports", &anomaly(&cid));
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(first.json()["id"], second.json()["id"]);

    let mut different = anomaly(&cid);
    different["description"] = json!("something else entirely");
    let conflict = post_json("/api/v1/reports", &different);
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.json()["error"], "conflict");
}

#[test]
fn a_report_posted_with_an_address_but_no_coordinates_is_geocoded() {
    let cid = client_id("geocoded");
    let mut body = anomaly(&cid);
    body.as_object_mut().unwrap().remove("lon");
    body.as_object_mut().unwrap().remove("lat");
    body["address"] = json!("26 rue de la Lune, 75002 Paris");
    let r = post_json("/api/v1/reports", &body);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    let here = civicmap::model::LonLat::new(j["lon"].as_f64().unwrap(), j["lat"].as_f64().unwrap())
        .unwrap();
    // The DansMaRue sample places "26 Rue de la Lune" at 2.3493395, 48.8699303.
    let there = civicmap::model::LonLat::new(2.349_339_5, 48.869_930_3).unwrap();
    assert!(
        here.distance_m(there) < 50.0,
        "{} m",
        here.distance_m(there)
    );
    assert_eq!(j["districts"]["arrondissement"]["code"], "75102");
    assert_eq!(j["address"], "26 rue de la Lune, 75002 Paris");
}

#[test]
fn an_address_that_matches_nothing_is_refused_and_nothing_is_stored() {
    let cid = client_id("nowhere");
    let mut body = anomaly(&cid);
    body.as_object_mut().unwrap().remove("lon");
    body.as_object_mut().unwrap().remove("lat");
    body["address"] = json!("zzqx wvvy kkjj");
    let r = post_json("/api/v1/reports", &body);
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["field"], "address");
    assert!(!stored_under(&cid));
}

#[test]
fn nearby_open_reports_of_the_same_category_are_offered_as_a_duplicate_hint() {
    let mut first = anomaly(&client_id("dup-a"));
    first["lon"] = json!(2.3700);
    first["lat"] = json!(48.8700);
    first["category"] = json!("eclairage_electricite");
    first["subcategory"] = json!(common::first_subcategory("eclairage_electricite"));
    let a = post_json("/api/v1/reports", &first);
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let a_id = a.json()["id"].as_i64().unwrap();

    // 20 m north: same category → hinted; a different category 5 m away is not.
    let mut other = anomaly(&client_id("dup-other"));
    other["lon"] = json!(2.3700);
    other["lat"] = json!(48.87005);
    post_json("/api/v1/reports", &other);

    let mut second = first.clone();
    second["client_id"] = json!(client_id("dup-b"));
    second["lat"] = json!(48.870_18);
    let b = post_json("/api/v1/reports", &second);
    assert_eq!(b.status, StatusCode::CREATED);
    let nearby = b.json()["nearby"].as_array().unwrap().clone();
    let ids: Vec<i64> = nearby.iter().map(|n| n["id"].as_i64().unwrap()).collect();
    assert!(ids.contains(&a_id), "{nearby:?}");
    for n in &nearby {
        assert_eq!(n["category"], "eclairage_electricite");
        assert!(n["distance_m"].as_f64().unwrap() <= 50.0);
    }
    let d = nearby.iter().find(|n| n["id"] == a_id).unwrap()["distance_m"]
        .as_f64()
        .unwrap();
    assert!((15.0..25.0).contains(&d), "{d}");
}

#[test]
fn the_reporter_contact_never_appears_in_public_output() {
    let marker = format!("marker-{}@example.org", std::process::id());
    let cid = client_id("private");
    let mut body = anomaly(&cid);
    body["contact"] = json!(marker);
    let r = post_json("/api/v1/reports", &body);
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(!r.text().contains(&marker));
    let id = r.json()["id"].as_i64().unwrap();
    assert!(
        !get(&format!("/api/v1/reports/{id}"))
            .text()
            .contains(&marker)
    );
    assert!(!get("/api/v1/reports?limit=1000").text().contains(&marker));
    // ... but the store kept it.
    let h = harness();
    let row = h.rt.block_on(h.app.store().report(id)).unwrap().unwrap();
    assert_eq!(row.contact.as_deref(), Some(marker.as_str()));
}

#[test]
fn every_bad_report_gets_a_4xx_json_error_naming_the_field_and_stores_nothing() {
    let long = "x".repeat(4_001);
    // (case, mutate, expected status, expected field)
    type Mutate = fn(&mut Value, &str);
    let cases: Vec<(&str, Mutate, u16, Option<&str>)> = vec![
        (
            "unknown field",
            |b, _| b["status"] = json!("done"),
            400,
            Some("status"),
        ),
        (
            "missing kind",
            |b, _| {
                b.as_object_mut().unwrap().remove("kind");
            },
            400,
            Some("kind"),
        ),
        (
            "lat as a string",
            |b, _| b["lat"] = json!("48.85"),
            400,
            Some("lat"),
        ),
        (
            "longitude out of range",
            |b, _| b["lon"] = json!(200.0),
            422,
            Some("lon"),
        ),
        (
            "latitude out of range",
            |b, _| b["lat"] = json!(-91.0),
            422,
            Some("lat"),
        ),
        (
            "a point in London",
            |b, _| {
                b["lon"] = json!(-0.1276);
                b["lat"] = json!(51.5072);
            },
            422,
            Some("lon"),
        ),
        (
            "unknown kind",
            |b, _| b["kind"] = json!("complaint"),
            422,
            Some("kind"),
        ),
        (
            "unknown category",
            |b, _| b["category"] = json!("fireworks"),
            422,
            Some("category"),
        ),
        (
            "unknown subcategory",
            |b, _| b["subcategory"] = json!("nope"),
            422,
            Some("subcategory"),
        ),
        (
            "anomaly without subcategory",
            |b, _| {
                b.as_object_mut().unwrap().remove("subcategory");
            },
            422,
            Some("subcategory"),
        ),
        (
            "description too long",
            |b, l| b["description"] = json!(l),
            422,
            Some("description"),
        ),
        (
            "control characters",
            |b, _| b["description"] = json!("a\u{0007}b"),
            422,
            Some("description"),
        ),
        (
            "unknown channel",
            |b, _| b["channel"] = json!("fax"),
            422,
            Some("channel"),
        ),
        (
            "malformed contact",
            |b, _| b["contact"] = json!("call me"),
            422,
            Some("contact"),
        ),
        (
            "lon without lat",
            |b, _| {
                b.as_object_mut().unwrap().remove("lat");
            },
            422,
            Some("lat"),
        ),
        (
            "no position and no address",
            |b, _| {
                b.as_object_mut().unwrap().remove("lat");
                b.as_object_mut().unwrap().remove("lon");
            },
            422,
            Some("lon"),
        ),
        (
            "empty client id",
            |b, _| b["client_id"] = json!(""),
            422,
            Some("client_id"),
        ),
    ];
    for (case, mutate, status, field) in cases {
        let cid = client_id("bad");
        let mut body = anomaly(&cid);
        mutate(&mut body, &long);
        let r = post_json("/api/v1/reports", &body);
        assert_eq!(r.status.as_u16(), status, "{case}: {}", r.text());
        let j = r.json();
        assert!(
            j["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}: {j}"
        );
        assert_eq!(j["field"].as_str(), field, "{case}: {j}");
        if case != "empty client id" {
            assert!(!stored_under(&cid), "{case}: stored");
        }
    }
}

#[test]
fn malformed_oversized_or_mistyped_bodies_are_refused() {
    let r = post_raw(
        "/api/v1/reports",
        "application/json",
        b"{\"kind\": ".to_vec(),
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "bad_request");

    let r = post_raw(
        "/api/v1/reports",
        "application/json",
        b"{\"kind\":\"anomaly\",\"lon\":1e999}".to_vec(),
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    let r = post_raw("/api/v1/reports", "application/json", b"[]".to_vec());
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = post_raw(
        "/api/v1/reports",
        "text/plain",
        anomaly("x").to_string().into_bytes(),
    );
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.json()["error"], "unsupported_media_type");

    let mut big = anomaly(&client_id("big"));
    big["description"] = json!("y".repeat(100_000));
    let r = post_json("/api/v1/reports", &big);
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.json()["error"], "payload_too_large");
}

#[test]
fn listing_pages_through_a_bbox_newest_first_and_agrees_with_the_posted_set() {
    // A small area of the 20th arrondissement used by this test alone.
    let mut posted = Vec::new();
    for i in 0..7 {
        let mut b = anomaly(&client_id("list"));
        b["lon"] = json!(2.4050 + f64::from(i) * 1e-4);
        b["lat"] = json!(48.8650);
        let r = post_json("/api/v1/reports", &b);
        assert_eq!(r.status, StatusCode::CREATED);
        posted.push(r.json()["id"].as_i64().unwrap());
    }
    posted.reverse();
    let mut seen = Vec::new();
    let mut url = "/api/v1/reports?bbox=2.40495,48.86495,2.40565,48.86505&limit=3".to_owned();
    loop {
        let r = get(&url);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let j = r.json();
        assert_eq!(j["total"], 7);
        for item in j["items"].as_array().unwrap() {
            seen.push(item["id"].as_i64().unwrap());
            assert!(item.get("contact").is_none());
        }
        match j["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, posted);

    let filtered = get("/api/v1/reports?bbox=2.40495,48.86495,2.40565,48.86505&kind=contribution");
    assert_eq!(filtered.json()["total"], 0);
    let by_district = get(
        "/api/v1/reports?bbox=2.40495,48.86495,2.40565,48.86505&district=arrondissement:2021:75120",
    );
    assert_eq!(by_district.json()["total"], 7, "{}", by_district.text());
}

#[test]
fn bad_list_parameters_are_refused_with_the_parameter_named() {
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("limit=ten", "limit"),
        ("cursor=abc", "cursor"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=2.4,48.9,2.3,48.8", "bbox"),
        ("bbox=NaN,48.8,2.4,48.9", "bbox"),
        ("kind=rumour", "kind"),
        ("status=lost", "status"),
        ("category=fireworks", "category"),
        ("from=yesterday", "from"),
        ("colour=red", "colour"),
    ] {
        let r = get(&format!("/api/v1/reports?{query}"));
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{query}");
    }
    assert_eq!(
        get("/api/v1/reports?district=arrondissement:2021:99999").status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(get("/api/v1/reports/abc").status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get("/api/v1/reports/999999999").status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn districts_are_listed_by_layer_and_served_as_geojson_features() {
    let r = get("/api/v1/districts?layer=arrondissement");
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 20);
    for (layer, n) in [("quartier", 80), ("conseil_quartier", 121), ("iris", 992)] {
        assert_eq!(
            get(&format!("/api/v1/districts?layer={layer}"))
                .json()
                .as_array()
                .unwrap()
                .len(),
            n,
            "{layer}"
        );
    }
    let one = get("/api/v1/districts/arrondissement:2021:75104");
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    assert_eq!(one.headers["content-type"], "application/geo+json");
    let f = one.json();
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["properties"]["code"], "75104");
    assert!(matches!(
        f["geometry"]["type"].as_str(),
        Some("Polygon" | "MultiPolygon")
    ));
    assert_eq!(
        get("/api/v1/districts/arrondissement:2021:99999").status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get("/api/v1/districts?layer=county").status,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn districts_at_a_point_name_one_district_per_layer() {
    // The Eiffel Tower.
    let r = get("/api/v1/districts/at?lon=2.2945&lat=48.8584");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = r.json();
    let layers: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["layer"].as_str().unwrap())
        .collect();
    for layer in ["arrondissement", "quartier", "conseil_quartier", "iris"] {
        assert_eq!(
            layers.iter().filter(|l| **l == layer).count(),
            1,
            "{layer}: {list}"
        );
    }
    let arr = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["layer"] == "arrondissement")
        .unwrap();
    assert_eq!(arr["code"], "75107");
    assert_eq!(
        get("/api/v1/districts/at?lon=2.29&lat=abc").status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/api/v1/districts/at?lon=2.29").status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("/api/v1/districts/at?lon=-0.12&lat=51.5").status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[test]
fn geocoding_finds_an_address_both_ways() {
    let r = get("/api/v1/geocode?q=26%20rue%20de%20la%20lune%2075002");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let best = &r.json()[0];
    assert!(
        best["label"].as_str().unwrap().contains("Rue de la Lune"),
        "{best}"
    );
    for key in ["label", "lon", "lat", "score"] {
        assert!(best.get(key).is_some(), "{key}");
    }
    let rev = get(&format!(
        "/api/v1/geocode/reverse?lon={}&lat={}",
        best["lon"], best["lat"]
    ));
    assert_eq!(rev.status, StatusCode::OK);
    assert!(rev.json()["distance_m"].as_f64().unwrap() < 1.0);
    assert_eq!(get("/api/v1/geocode").status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get("/api/v1/geocode/reverse?lon=2.35&lat=95").status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[test]
fn budget_projects_are_served_with_their_flag_and_paris_centre_code() {
    let r = get("/api/v1/projects?limit=1");
    assert_eq!(r.status, StatusCode::OK);
    let total = r.json()["total"].as_u64().unwrap();
    assert_eq!(total, 1_344);
    let flagged = get("/api/v1/projects?working_class_flag=true&limit=1").json()["total"]
        .as_u64()
        .unwrap();
    assert!(flagged >= 326, "{flagged}");
    let page = get("/api/v1/projects?edition=2019&limit=1000").json();
    let centre = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["arrondissement_code"] == "75123");
    assert!(centre.is_some(), "no Paris Centre project in 2019");
    let id = page["items"][0]["id"].as_i64().unwrap();
    assert_eq!(get(&format!("/api/v1/projects/{id}")).json()["id"], id);
    assert_eq!(
        get("/api/v1/projects?edition=year").status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get("/api/v1/projects/0").status, StatusCode::NOT_FOUND);
}

#[test]
fn unknown_routes_answer_404_in_json() {
    let r = get("/api/v1/nothing-here");
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
}

mod never_a_server_error {
    use super::*;
    use proptest::prelude::*;

    fn any_json_number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |v| v.is_finite())
                .prop_map(|v| json!(v)),
            (-200.0..200.0_f64).prop_map(|v| json!(v)),
            (2.2..2.5_f64).prop_map(|v| json!(v)),
            (48.8..48.93_f64).prop_map(|v| json!(v)),
            any::<i64>().prop_map(|v| json!(v)),
            ".*".prop_map(|s| json!(s)),
            Just(Value::Null),
        ]
    }

    fn any_text() -> impl Strategy<Value = Value> {
        prop_oneof![
            ".{0,40}".prop_map(|s| json!(s)),
            Just(json!("anomaly")),
            Just(json!("contribution")),
            Just(json!("proprete")),
            any::<i32>().prop_map(|v| json!(v)),
            Just(Value::Null),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn arbitrary_report_bodies_get_2xx_or_4xx_never_5xx(
            kind in any_text(), category in any_text(), subcategory in any_text(),
            lon in any_json_number(), lat in any_json_number(), address in any_text(),
            channel in any_text(), contact in any_text(),
        ) {
            let body = json!({
                "kind": kind, "category": category, "subcategory": subcategory,
                "lon": lon, "lat": lat, "address": address, "channel": channel, "contact": contact,
                "client_id": client_id("fuzz"),
            });
            let r = post_json("/api/v1/reports", &body);
            prop_assert!(r.status.is_success() || r.status.is_client_error(), "{} for {body}: {}", r.status, r.text());
            prop_assert!(r.json().is_object());
        }

        #[test]
        fn arbitrary_query_strings_get_2xx_or_4xx_never_5xx(
            route in prop_oneof![
                Just("/api/v1/reports"), Just("/api/v1/projects"), Just("/api/v1/districts"),
                Just("/api/v1/districts/at"), Just("/api/v1/geocode"), Just("/api/v1/geocode/reverse"),
            ],
            key in prop_oneof![
                "(bbox|limit|cursor|lon|lat|q|from|to|layer|district|edition|kind|status|category|date)", "[a-z]{1,6}",
            ],
            value in "[ -~]{0,30}",
        ) {
            let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            let r = get(&format!("{route}?{key}={encoded}"));
            prop_assert!(r.status.is_success() || r.status.is_client_error(), "{} for {route}?{key}={value}: {}", r.status, r.text());
        }
    }
}

// ---- Limits and abuse control ----

/// An application of its own with tight quotas, so that a test can use one
/// up in a few requests (each test uses its own addresses).
fn limited() -> &'static common::Harness {
    static H: std::sync::OnceLock<common::Harness> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        common::custom_harness(|c| {
            let q = &mut c.limits.per_address;
            q.reports_per_minute = 3;
            q.reports_per_day = 1_000;
            q.photo_uploads_per_minute = 1;
            q.heavy_reads_per_minute = 2;
            q.geocode_per_minute = 2;
            c.limits.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        })
    })
}

/// A request from `peer` (the socket address the server sees), with the key
/// of `role` and these extra headers.
fn from_peer(
    peer: &str,
    role: Option<&str>,
    mut req: axum::http::Request<axum::body::Body>,
    headers: &[(&str, &str)],
) -> common::Reply {
    let h = limited();
    let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 40_000);
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    for (name, value) in headers {
        req.headers_mut().append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    h.send_as(role, req)
}

fn file_from(peer: &str, role: &str, headers: &[(&str, &str)]) -> common::Reply {
    let req = axum::http::Request::post("/api/v1/reports")
        .header("content-type", "application/json")
        .body(anomaly(&client_id("quota")).to_string().into())
        .unwrap();
    from_peer(peer, Some(role), req, headers)
}

/// Files the three reports of the minute's quota, each a 201.
fn use_up_the_minute(file: impl Fn() -> common::Reply) {
    for _ in 0..3 {
        let r = file();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
}

fn assert_too_many(r: &common::Reply) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body = r.json();
    assert_eq!(body["error"], "too_many_requests");
    assert!(
        body["message"].as_str().unwrap().contains("per minute"),
        "{body}"
    );
}

#[test]
fn a_flooding_address_gets_429_with_retry_after_while_another_address_still_files() {
    use_up_the_minute(|| file_from("192.0.2.1", "app", &[]));
    let refused = file_from("192.0.2.1", "app", &[]);
    assert_too_many(&refused);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("reports filed")
    );
    // Another address, with the same app key, is not held back.
    assert_eq!(
        file_from("192.0.2.2", "app", &[]).status,
        StatusCode::CREATED
    );
    // A spoofed X-Forwarded-For from an address that is not a trusted proxy
    // neither resets nor dodges the quota.
    assert_too_many(&file_from(
        "192.0.2.1",
        "app",
        &[("x-forwarded-for", "198.51.100.77")],
    ));
    // An IPv6 client is its /64: another address of the same /64 is the same client.
    use_up_the_minute(|| file_from("2001:db8:7:7::1", "app", &[]));
    assert_too_many(&file_from("2001:db8:7:7::2", "app", &[]));
}

#[test]
fn filings_through_open311_spend_the_same_quota_and_are_refused_in_open311_form() {
    let open311 = |peer: &str| {
        let h = limited();
        let form = format!(
            "api_key={}&service_code=proprete&lat=48.8530&long=2.3499&attribute[subcategory]={}",
            h.key("app"),
            common::first_subcategory("proprete")
        );
        let req = axum::http::Request::post("/open311/v2/requests.json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.into())
            .unwrap();
        from_peer(peer, None, req, &[])
    };
    for _ in 0..2 {
        assert_eq!(
            file_from("192.0.2.10", "app", &[]).status,
            StatusCode::CREATED
        );
    }
    assert_eq!(open311("192.0.2.10").status, StatusCode::OK);
    let refused = open311("192.0.2.10");
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text()
    );
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(refused.json()[0]["code"], 429);
    assert_too_many(&file_from("192.0.2.10", "app", &[]));
}

#[test]
fn forwarded_for_counts_the_client_a_trusted_proxy_saw_and_not_what_the_client_wrote() {
    let via_proxy = |xff: &str| file_from("10.0.0.2", "app", &[("x-forwarded-for", xff)]);
    use_up_the_minute(|| via_proxy("203.0.113.9"));
    assert_too_many(&via_proxy("203.0.113.9"));
    // The client wrote an address of its own: the proxy appended the real one.
    assert_too_many(&via_proxy("203.0.113.200, 203.0.113.9"));
    // Another client behind the same proxy is not held back, nor is the proxy's
    // address a shared bucket.
    assert_eq!(via_proxy("203.0.113.10").status, StatusCode::CREATED);
}

#[test]
fn the_city_s_keys_are_not_held_back_by_the_address_quota() {
    use_up_the_minute(|| file_from("192.0.2.20", "app", &[]));
    assert_too_many(&file_from("192.0.2.20", "app", &[]));
    for _ in 0..5 {
        assert_eq!(
            file_from("192.0.2.20", "agent", &[]).status,
            StatusCode::CREATED
        );
    }
    // The same holds for reads: an analyst key reads statistics past the quota.
    let stats_with = |role: Option<&str>, headers: &[(&str, &str)]| {
        let req = axum::http::Request::get("/api/v1/stats/equity")
            .body(axum::body::Body::empty())
            .unwrap();
        from_peer("192.0.2.20", role, req, headers)
    };
    let stats = |role: Option<&str>| stats_with(role, &[]);
    assert_eq!(stats(None).status, StatusCode::OK);
    assert_eq!(stats(None).status, StatusCode::OK);
    assert_too_many(&stats(None));
    // Neither an app key (counted by address) nor an invented key dodges it.
    assert_too_many(&stats(Some("app")));
    let invented = format!("Bearer cm_{}", "0".repeat(64));
    assert_too_many(&stats_with(None, &[("authorization", invented.as_str())]));
    for _ in 0..3 {
        assert_eq!(stats(Some("analyst")).status, StatusCode::OK);
    }
}

#[test]
fn exports_geocoding_and_photo_uploads_have_their_own_quotas() {
    let read = |uri: &str| {
        let req = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        from_peer("192.0.2.30", None, req, &[])
    };
    assert_eq!(read("/api/v1/export/projects.csv").status, StatusCode::OK);
    assert_eq!(read("/api/v1/stats/equity").status, StatusCode::OK);
    assert_too_many(&read("/api/v1/export/reports.csv"));
    // Geocoding is counted apart from the heavy reads.
    let lune = "/api/v1/geocode?q=26%20rue%20de%20la%20lune%2075002";
    assert_eq!(read(lune).status, StatusCode::OK);
    assert_eq!(read(lune).status, StatusCode::OK);
    assert_too_many(&read("/api/v1/geocode/reverse?lon=2.3499&lat=48.8530"));
    // Other reads are not counted.
    assert_eq!(read("/api/v1/reports?limit=1").status, StatusCode::OK);
    // A photo upload request counts even when refused.
    let upload = || {
        let req = axum::http::Request::post("/api/v1/reports/1/photos")
            .header("content-type", "text/plain")
            .body(axum::body::Body::from("not a photo"))
            .unwrap();
        from_peer("192.0.2.30", Some("app"), req, &[])
    };
    assert_eq!(upload().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_too_many(&upload());
}

#[test]
fn a_box_larger_than_the_allowed_area_is_refused_naming_bbox() {
    for uri in [
        "/api/v1/reports?bbox=-10,40,10,60",
        "/api/v1/projects?bbox=-10,40,10,60",
        "/api/v1/export/reports.csv?bbox=-10,40,10,60",
        "/api/v1/stats/h3?res=5&bbox=-10,40,10,60",
        "/api/v1/events?bbox=-10,40,10,60",
    ] {
        let r = get(uri);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        let body = r.json();
        assert_eq!(body["field"], "bbox", "{uri}");
        assert!(
            body["message"].as_str().unwrap().contains("km²"),
            "{uri}: {body}"
        );
    }
    let r = get("/open311/v2/requests.json?lat_ne=60&long_ne=10&lat_sw=40&long_sw=-10");
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json()[0]["description"].as_str().unwrap().contains("km²"));
    // Paris and its surroundings are well within.
    assert_eq!(
        get("/api/v1/reports?bbox=2.0,48.6,2.7,49.1").status,
        StatusCode::OK
    );
}

#[test]
fn a_full_index_refuses_new_reports_with_503_while_reads_go_on() {
    let h = common::custom_harness(|c| c.limits.max_reports = 0);
    let r = h.post_as(Some("app"), "/api/v1/reports", &anomaly(&client_id("full")));
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"], "unavailable");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 0 reports")
    );
    let form = format!(
        "api_key={}&service_code=proprete&lat=48.8530&long=2.3499&attribute[subcategory]={}",
        h.key("app"),
        common::first_subcategory("proprete")
    );
    let r = h.send(
        axum::http::Request::post("/open311/v2/requests.json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.into())
            .unwrap(),
    );
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.json()[0]["code"], 503);
    assert_eq!(h.get("/api/v1/reports").status, StatusCode::OK);
    assert_eq!(h.get("/api/v1/projects?limit=1").status, StatusCode::OK);
    assert_eq!(h.get("/health").status, StatusCode::OK);
}

#[test]
fn a_stalled_request_is_cut_at_the_deadline_and_past_the_in_flight_limit_503_comes_at_once() {
    let h = common::custom_harness(|c| {
        c.limits.max_in_flight = 1;
        c.limits.request_timeout = std::time::Duration::from_millis(300);
    });
    // A body that never comes.
    let stalled = |uri: &str, content_type: &str| {
        axum::http::Request::post(uri)
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {}", h.key("app")))
            .body(axum::body::Body::from_stream(
                futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>(),
            ))
            .unwrap()
    };
    let r = h.send(stalled("/api/v1/reports", "application/json"));
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.json()["error"], "unavailable");
    // A photo upload has the longer upload bound: it holds the one place...
    let hold = || {
        use tower::ServiceExt;
        let router = h.router.clone();
        let req = stalled(
            "/api/v1/reports/1/photos",
            "multipart/form-data; boundary=x",
        );
        h.rt.spawn(async move { router.oneshot(req).await })
    };
    let mut held = hold();
    // ... so the next request is refused at once rather than queued. (The
    // upload takes its place before or after a probe; if it came while a
    // probe held the place, it was refused itself: send it again.)
    let mut refused = None;
    for _ in 0..1_000 {
        if held.is_finished() {
            held = hold();
        }
        let r = h.get("/api/v1/categories");
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let refused = refused.expect("the in-flight limit never refused");
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(refused.json()["error"], "unavailable");
    // The health check is outside the limit.
    assert_eq!(h.get("/health").status, StatusCode::OK);
    held.abort();
    let _ = h.rt.block_on(held);
    assert_eq!(h.get("/api/v1/categories").status, StatusCode::OK);
}

#[test]
fn event_streams_past_the_per_address_or_total_maximum_are_refused_until_one_closes() {
    use axum::extract::ConnectInfo;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let h = common::custom_harness(|c| {
        c.limits.max_event_streams = 3;
        c.limits.max_event_streams_per_address = 2;
    });
    // A stream opened from `peer`: its head, and its body still open.
    let open = |peer: &str| {
        let mut req = axum::http::Request::get("/api/v1/events")
            .body(axum::body::Body::empty())
            .unwrap();
        let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 40_000);
        req.extensions_mut().insert(ConnectInfo(peer));
        h.rt.block_on(h.router.clone().oneshot(req)).unwrap()
    };
    let refused = |peer: &str, status: StatusCode, error: &str| {
        let r = open(peer);
        assert_eq!(r.status(), status);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1);
        let body = h.rt.block_on(r.into_body().collect()).unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], error, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("event streams"),
            "{body}"
        );
    };
    // Streams are held open by keeping their responses.
    let first = open("192.0.2.40");
    assert_eq!(first.status(), StatusCode::OK);
    let second = open("192.0.2.40");
    assert_eq!(second.status(), StatusCode::OK);
    // The address's third is refused; another address still gets one.
    refused(
        "192.0.2.40",
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    );
    let other = open("192.0.2.41");
    assert_eq!(other.status(), StatusCode::OK);
    // Three in all: a fourth address is refused by the total.
    refused("192.0.2.42", StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    // Closing a stream frees its place, for its address and in the total.
    drop(first);
    let third = open("192.0.2.40");
    assert_eq!(third.status(), StatusCode::OK);
    refused("192.0.2.42", StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    drop(other);
    // A refused request (a bad query) gives its place back at once: the
    // next stream still finds the one left.
    let mut bad = axum::http::Request::get("/api/v1/events?kind=nope")
        .body(axum::body::Body::empty())
        .unwrap();
    bad.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::new(
            "192.0.2.42".parse().unwrap(),
            40_000,
        )));
    let bad = h.rt.block_on(h.router.clone().oneshot(bad)).unwrap();
    assert!(bad.status().is_client_error(), "{}", bad.status());
    let last = open("192.0.2.42");
    assert_eq!(last.status(), StatusCode::OK);
    drop((second, third, last, bad));
}
