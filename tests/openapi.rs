//! The OpenAPI document served at `/openapi.json`: every documented
//! operation is routed, its ids are unique, its errors are documented, and
//! real responses of the router validate against the schemas it documents
//! (with the `jsonschema` crate, independently of the generator). CI also
//! runs schemathesis against the running binary (`.ci/schemathesis`).
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{anomaly, client_id, harness};
use serde_json::{Value, json};

fn document() -> Value {
    let r = harness().get("/openapi.json");
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    r.json()
}

/// Every operation of the document, as (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

/// A concrete URI for a documented path: each parameter gets a plausible
/// value (the route must answer with its own handler, found or not).
fn concrete(method: &str, path: &str) -> String {
    // Only requests and updates take a POST under Open311.
    let resource = if method == "post" {
        "requests.json"
    } else {
        "services.json"
    };
    let uri = path
        .replace(
            "/tiles/{layers}/{z}/{x}/{y}",
            "/tiles/reports/12/2074/1409.mvt",
        )
        .replace("/export/{file}", "/export/projects.csv")
        .replace("/tiles/{name}", "/tiles/reports.json")
        .replace("/viewer/vendor/{file}", "/viewer/vendor/maplibre-gl.js")
        .replace("/viewer/{file}", "/viewer/viewer.js")
        .replace("/photos/{name}", "/photos/missing.jpg")
        .replace("/districts/{id}", "/districts/arrondissement-75104")
        .replace("{resource}", resource)
        .replace("{id}", "1");
    assert!(!uri.contains('{'), "no value for a parameter of {path}");
    if uri == "/api/v1/events" {
        // A stream never ends: a bad filter gets the handler's own 400.
        return format!("{uri}?kind=none");
    }
    uri
}

#[test]
fn the_openapi_document_is_served_as_openapi_3_1_with_every_public_area() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "civicmap");
    assert_eq!(doc["info"]["license"]["name"], "AGPL-3.0-or-later");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/openapi.json",
        "/api/v1/reports",
        "/api/v1/reports/{id}/status",
        "/api/v1/reports/{id}/photos",
        "/api/v1/stats/districts",
        "/api/v1/export/{file}",
        "/api/v1/events",
        "/api/v1/webhooks/{id}/deliveries",
        "/tiles/{layers}/{z}/{x}/{y}",
        "/open311/v2/{resource}",
        "/",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
}

#[test]
fn every_documented_operation_is_answered_by_its_own_route() {
    let doc = document();
    let h = harness();
    let ops = operations(&doc);
    assert!(ops.len() >= 50, "only {} operations", ops.len());
    for (path, method, _) in ops {
        let uri = concrete(&method, &path);
        let req = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
            .uri(&uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let r = h.send(req);
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {}",
            r.text()
        );
        let unrouted = r.status == StatusCode::NOT_FOUND && r.text().contains("no route for");
        assert!(!unrouted, "{method} {uri} is documented but not routed");
        assert!(
            r.status.as_u16() < 500,
            "{method} {uri}: {} {}",
            r.status,
            r.text()
        );
    }
}

#[test]
fn operation_ids_are_unique_and_every_operation_documents_its_refusals() {
    let doc = document();
    let mut ids = std::collections::HashSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap().to_owned();
        assert!(ids.insert(id.clone()), "operation id {id} twice");
        let responses = op["responses"].as_object().unwrap();
        let what = format!("{method} {path}");
        if path != "/health" && path != "/openapi.json" {
            for status in ["500", "503"] {
                assert!(responses.contains_key(status), "{what} lacks {status}");
            }
        }
        if op["security"].as_array().is_some_and(|s| {
            s.iter()
                .all(|req| req.as_object().is_some_and(|o| !o.is_empty()))
        }) {
            for status in ["401", "403"] {
                assert!(responses.contains_key(status), "{what} lacks {status}");
            }
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{what} lacks 400");
        }
        for (status, response) in responses {
            if status.starts_with('2') || status.starts_with('3') {
                continue;
            }
            let json = &response["content"]["application/json"]["schema"];
            let json = json.to_string();
            assert!(
                json.contains("#/components/schemas/Error")
                    || json.contains("#/components/schemas/Open311Refusal"),
                "{what} {status} is not an error body: {json}"
            );
        }
    }
}

/// Checks `body` against the schema documented for `status` of `method
/// path` (its `$ref`s resolved in the document's components).
fn assert_documented(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} does not document {status}"
    );
    let mut schema = response["content"]["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema"
    );
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:#?}\n{body:#}"
    );
}

#[test]
fn real_answers_of_the_router_validate_against_the_documented_schemas() {
    let doc = document();
    let h = harness();

    let cid = client_id("openapi");
    let r = h.post_as(Some("app"), "/api/v1/reports", &anomaly(&cid));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = r.json();
    assert_documented(&doc, "/api/v1/reports", "post", 201, &created);
    let id = created["id"].as_i64().unwrap();
    let retry = h.post_as(Some("app"), "/api/v1/reports", &anomaly(&cid));
    assert_eq!(retry.status, StatusCode::OK);
    assert_documented(&doc, "/api/v1/reports", "post", 200, &retry.json());

    let mut unknown = anomaly(&client_id("openapi-bad"));
    unknown["category"] = json!("no-such-category");
    let r = h.post_as(Some("app"), "/api/v1/reports", &unknown);
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_documented(&doc, "/api/v1/reports", "post", 422, &r.json());
    let r = h.post_as(
        None,
        "/api/v1/reports",
        &anomaly(&client_id("openapi-nokey")),
    );
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_documented(&doc, "/api/v1/reports", "post", 401, &r.json());

    let change = h.post_as(
        Some("agent"),
        &format!("/api/v1/reports/{id}/status"),
        &json!({"status": "to_process", "note": "Vu."}),
    );
    assert_eq!(change.status, StatusCode::OK, "{}", change.text());
    assert_documented(
        &doc,
        "/api/v1/reports/{id}/status",
        "post",
        200,
        &change.json(),
    );

    for (path, uri) in [
        ("/api/v1/reports/{id}", format!("/api/v1/reports/{id}")),
        (
            "/api/v1/reports/{id}/history",
            format!("/api/v1/reports/{id}/history"),
        ),
        (
            "/api/v1/reports/{id}/photos",
            format!("/api/v1/reports/{id}/photos"),
        ),
        ("/api/v1/reports", "/api/v1/reports?limit=3".to_owned()),
        ("/api/v1/projects", "/api/v1/projects?limit=3".to_owned()),
        ("/api/v1/categories", "/api/v1/categories".to_owned()),
        ("/api/v1/layers", "/api/v1/layers".to_owned()),
        (
            "/api/v1/districts",
            "/api/v1/districts?layer=arrondissement".to_owned(),
        ),
        (
            "/api/v1/districts/at",
            "/api/v1/districts/at?lon=2.3522&lat=48.8566".to_owned(),
        ),
        (
            "/api/v1/geocode",
            "/api/v1/geocode?q=10%20rue%20de%20rivoli".to_owned(),
        ),
        (
            "/api/v1/geocode/reverse",
            "/api/v1/geocode/reverse?lon=2.3522&lat=48.8566".to_owned(),
        ),
        ("/api/v1/campaigns", "/api/v1/campaigns".to_owned()),
        ("/health", "/health".to_owned()),
    ] {
        let r = h.get(&uri);
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        assert_documented(&doc, path, "get", 200, &r.json());
    }

    for (path, uri, status) in [
        ("/api/v1/reports", "/api/v1/reports?limit=0", 400),
        ("/api/v1/reports", "/api/v1/reports?district=nowhere", 422),
        ("/api/v1/reports/{id}", "/api/v1/reports/999999999", 404),
        (
            "/api/v1/districts/at",
            "/api/v1/districts/at?lon=abc&lat=48.85",
            400,
        ),
    ] {
        let r = h.get(uri);
        assert_eq!(r.status.as_u16(), status, "{uri}: {}", r.text());
        assert_documented(&doc, path, "get", status, &r.json());
    }

    let r = h.get("/open311/v2/nothing.json");
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_documented(&doc, "/open311/v2/{resource}", "get", 404, &r.json());
}
