//! Open311 GeoReport v2 (and mySociety's service request updates) through
//! the real router: every endpoint in JSON and XML, JSON checked against the
//! official GeoReport v2 schemas, XML read back by an independent parser,
//! and every refusal as an Open311 error list.
#![allow(clippy::unwrap_used)]

mod common;
mod support_open311;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use common::{Harness, Reply, first_subcategory, harness};
use support_open311::{
    assert_valid, assert_valid_file, assert_valid_swagger_list, discovery_schema, updates_schema,
};

// ------------------------------------------------------------ helpers

/// The spec's error body: a list of `{code, description}`.
fn assert_open311_error(r: &Reply, status: StatusCode, xml: bool) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    if xml {
        assert_eq!(r.headers[header::CONTENT_TYPE], "text/xml; charset=utf-8");
        let text = r.text();
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "errors", "{text}");
        let errors: Vec<_> = doc
            .root_element()
            .children()
            .filter(|n| n.is_element())
            .collect();
        assert_eq!(errors.len(), 1, "{text}");
        assert_eq!(errors[0].tag_name().name(), "error");
        assert_eq!(
            child_text(errors[0], "code"),
            Some(status.as_str().to_owned())
        );
        child_text(errors[0], "description").unwrap()
    } else {
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let schema = json!({
            "type": "array", "minItems": 1, "maxItems": 1,
            "items": {
                "type": "object", "required": ["code", "description"],
                "additionalProperties": false,
                "properties": {
                    "code": {"const": status.as_u16()},
                    "description": {"type": "string", "minLength": 1}
                }
            }
        });
        let v = r.json();
        assert_valid(&schema, "errors", &v);
        v[0]["description"].as_str().unwrap().to_owned()
    }
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
        .map(str::to_owned)
}

/// An XML answer, parsed, with its root element's name checked.
fn xml_of(r: &Reply, root: &str) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/xml; charset=utf-8");
    let text = r.text();
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{text}"
    );
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc.root_element().tag_name().name(), root);
    text
}

/// A JSON answer (200, the JSON content type).
fn json_of(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    r.json()
}

/// Percent-encodes a form value.
fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// POSTs a form body.
fn post_form(h: &Harness, uri: &str, form: &str) -> Reply {
    h.send(
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap(),
    )
}

/// A form creating a `proprete` anomaly at a point, with the key of `role`.
fn request_form(h: &Harness, role: &str, lon: f64, lat: f64, description: &str) -> String {
    format!(
        "api_key={}&service_code=proprete&lat={lat}&long={lon}&description={}\
         &attribute%5Bsubcategory%5D={}",
        enc(h.key(role)),
        enc(description),
        enc(&first_subcategory("proprete")),
    )
}

/// Files a request through Open311 and returns its id.
fn file_request(h: &Harness, lon: f64, lat: f64, description: &str) -> String {
    let r = post_form(
        h,
        "/open311/v2/requests.json",
        &request_form(h, "app", lon, lat, description),
    );
    let v = json_of(&r);
    assert_valid_swagger_list("RequestResponse", &v);
    v[0]["service_request_id"].as_str().unwrap().to_owned()
}

/// A bounding box of about 20 m around a point, as Open311 query arguments.
fn around(lon: f64, lat: f64) -> String {
    let d = 0.0002;
    format!(
        "lat_ne={}&long_ne={}&lat_sw={}&long_sw={}",
        lat + d,
        lon + d,
        lat - d,
        lon - d
    )
}

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
        .collect()
}

fn update_form(h: &Harness, role: &str, id: &str, status: &str, description: &str) -> String {
    format!(
        "api_key={}&service_request_id={id}&status={status}\
         &updated_datetime=2026-01-01T10:00:00%2B01:00&description={}",
        enc(h.key(role)),
        enc(description)
    )
}

// ------------------------------------------------------------ discovery and services

#[test]
fn discovery_announces_this_endpoint_and_both_formats() {
    let h = harness();
    let r = h.send(
        Request::get("/open311/v2/discovery.json")
            .header(header::HOST, "civicmap.example.org")
            .body(Body::empty())
            .unwrap(),
    );
    let v = json_of(&r);
    let schema = discovery_schema();
    assert_valid(&schema, "discovery", &v);
    assert_eq!(
        v["endpoints"][0]["url"],
        "http://civicmap.example.org/open311/v2"
    );
    assert_eq!(
        v["endpoints"][0]["formats"],
        json!(["text/xml", "application/json"])
    );

    let xml = xml_of(&h.get("/open311/v2/discovery.xml"), "discovery");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let formats: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("format"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(formats, ["text/xml", "application/json"]);
}

#[test]
fn the_service_list_has_one_service_per_category_with_its_group_in_both_formats() {
    let h = harness();
    let v = json_of(&h.get("/open311/v2/services.json"));
    assert_valid_file("services.json", &v);
    let list = v.as_array().unwrap();
    let categories = h.app.taxonomy.categories();
    assert_eq!(list.len(), categories.len());
    for (s, c) in list.iter().zip(categories) {
        assert_valid_file("service.json", s);
        assert_eq!(s["service_code"], c.code.as_str());
        assert_eq!(s["service_name"], c.label.as_str());
        assert_eq!(s["type"], "realtime");
        assert!(s["group"].as_str().is_some_and(|g| !g.is_empty()), "{s}");
    }

    let xml = xml_of(&h.get("/open311/v2/services.xml"), "services");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let services: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .collect();
    assert_eq!(services.len(), categories.len());
    for (s, c) in services.iter().zip(categories) {
        assert_eq!(s.tag_name().name(), "service");
        assert_eq!(child_text(*s, "service_code").as_deref(), Some(&*c.code));
        assert!(child_text(*s, "group").is_some());
    }
}

#[test]
fn a_service_definition_lists_its_attributes_in_both_formats_and_an_unknown_one_is_404() {
    let h = harness();
    for c in h.app.taxonomy.categories() {
        let v = json_of(&h.get(&format!("/open311/v2/services/{}.json", c.code)));
        assert_valid_file("service-definition.json", &v);
        assert_eq!(v["service_code"], c.code.as_str());
        let codes: Vec<&str> = v["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["subcategory", "kind"]);
    }
    let xml = xml_of(&h.get("/open311/v2/services/eau.xml"), "service_definition");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let eau = h
        .app
        .taxonomy
        .category(h.app.taxonomy.category_id("eau").unwrap());
    let first_attribute = doc
        .descendants()
        .find(|n| n.has_tag_name("attribute"))
        .unwrap();
    assert_eq!(
        first_attribute
            .descendants()
            .filter(|n| n.has_tag_name("value"))
            .count(),
        eau.subcategories.len()
    );

    for (uri, xml) in [
        ("/open311/v2/services/fireworks.json", false),
        ("/open311/v2/services/fireworks.xml", true),
        // A category's label is not its code.
        ("/open311/v2/services/Eau.json", false),
    ] {
        let d = assert_open311_error(&h.get(uri), StatusCode::NOT_FOUND, xml);
        assert!(d.contains("no service"), "{d}");
    }
}

// ------------------------------------------------------------ POST requests

#[test]
fn a_request_posted_with_lat_long_is_created_and_read_back_in_both_formats() {
    let h = harness();
    let (lon, lat) = (2.3522, 48.8566);
    let id = file_request(h, lon, lat, "Sacs <éventrés> & cartons");

    let v = json_of(&h.get(&format!("/open311/v2/requests/{id}.json")));
    assert_valid_file("requests.json", &v);
    assert_eq!(v.as_array().unwrap().len(), 1);
    let r = &v[0];
    assert_valid_file("request.json", r);
    assert_eq!(r["service_request_id"], id.as_str());
    assert_eq!(r["status"], "open");
    assert_eq!(r["service_code"], "proprete");
    assert_eq!(r["description"], "Sacs <éventrés> & cartons");
    assert_eq!(r["lat"], lat);
    assert_eq!(r["long"], lon);
    assert!(r["address"].as_str().unwrap().contains("Paris"), "{r}");
    assert_eq!(r["requested_datetime"], r["updated_datetime"]);
    assert!(r.get("extended_attributes").is_none());

    let v = json_of(&h.get(&format!("/open311/v2/requests/{id}.json?extensions=true")));
    assert_valid_file("requests.json", &v);
    let ext = &v[0]["extended_attributes"];
    assert_eq!(ext["detailed_status"], "new");
    assert_eq!(ext["kind"], "anomaly");
    assert_eq!(ext["arrondissement"]["code"], "75104");
    assert_eq!(ext["supports"], 0);
    let notes = v[0]["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "the filing: {notes:?}");
    assert_eq!(notes[0]["status"], "new");

    let xml = xml_of(
        &h.get(&format!("/open311/v2/requests/{id}.xml?extensions=true")),
        "service_requests",
    );
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let request = doc.root_element().first_element_child().unwrap();
    assert_eq!(request.tag_name().name(), "request");
    assert_eq!(child_text(request, "service_request_id"), Some(id.clone()));
    assert_eq!(
        child_text(request, "description").as_deref(),
        Some("Sacs <éventrés> & cartons")
    );
    assert_eq!(child_text(request, "lat"), Some(lat.to_string()));
    assert_eq!(child_text(request, "long"), Some(lon.to_string()));
    let detailed = request
        .descendants()
        .find(|n| n.has_tag_name("detailed_status"))
        .and_then(|n| n.text());
    assert_eq!(detailed, Some("new"));
}

#[test]
fn a_request_posted_with_an_address_string_is_geocoded_and_answered_in_xml() {
    let h = harness();
    let form = format!(
        "api_key={}&service_code=eau&address_string={}&description=Fuite\
         &attribute%5Bsubcategory%5D={}&attribute%5Bkind%5D=anomaly&device_id=phone-1",
        enc(h.key("agent")),
        enc("26 rue de la Lune 75002 Paris"),
        enc(&first_subcategory("eau")),
    );
    let r = post_form(h, "/open311/v2/requests.xml", &form);
    let xml = xml_of(&r, "service_requests");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let item = doc.root_element().first_element_child().unwrap();
    let id = child_text(item, "service_request_id").unwrap();

    let v = json_of(&h.get(&format!("/open311/v2/requests/{id}.json")));
    assert_valid_file("requests.json", &v);
    assert_eq!(v[0]["service_code"], "eau");
    assert_eq!(v[0]["address"], "26 rue de la Lune 75002 Paris");
    let (lat, lon) = (
        v[0]["lat"].as_f64().unwrap(),
        v[0]["long"].as_f64().unwrap(),
    );
    assert!(
        (lat - 48.870).abs() < 0.005 && (lon - 2.350).abs() < 0.005,
        "{lat},{lon}"
    );
}

#[test]
fn a_contribution_needs_no_subcategory_and_a_media_url_is_not_fetched_but_noticed() {
    let h = harness();
    let form = format!(
        "api_key={}&service_code=arbres_vegetaux_et_animaux&lat=48.8462&long=2.3371\
         &attribute%5Bkind%5D=contribution&media_url={}",
        enc(h.key("app")),
        enc("https://photos.example.org/a.jpg"),
    );
    let v = json_of(&post_form(h, "/open311/v2/requests.json", &form));
    assert_valid_swagger_list("RequestResponse", &v);
    assert!(
        v[0]["service_notice"]
            .as_str()
            .unwrap()
            .contains("media_url"),
        "{v}"
    );
    let id = v[0]["service_request_id"].as_str().unwrap();
    let v = json_of(&h.get(&format!("/open311/v2/requests/{id}.json?extensions=true")));
    assert_eq!(v[0]["extended_attributes"]["kind"], "contribution");
    assert_eq!(v[0]["media_url"], Value::Null);
}

#[test]
fn a_post_without_an_allowed_api_key_is_403_whatever_else_the_form_says() {
    let h = harness();
    let body = "service_code=proprete&lat=48.85&long=2.35";
    for (key, xml) in [
        (None, false),
        (None, true),
        (Some("cm_not-a-key".to_owned()), false),
        (Some(h.key("analyst").to_owned()), true),
        (Some(h.key("admin").to_owned()), false),
    ] {
        let form = match &key {
            Some(k) => format!("api_key={}&{body}", enc(k)),
            None => body.to_owned(),
        };
        let ext = if xml { "xml" } else { "json" };
        let r = post_form(h, &format!("/open311/v2/requests.{ext}"), &form);
        assert_open311_error(&r, StatusCode::FORBIDDEN, xml);
        // Even a form that is wrong otherwise: the key is checked first.
        let r = post_form(h, &format!("/open311/v2/requests.{ext}"), "api_key=&lat=91");
        assert_open311_error(&r, StatusCode::FORBIDDEN, xml);
    }
    for role in ["app", "analyst", "admin"] {
        let r = post_form(
            h,
            "/open311/v2/servicerequestupdates.json",
            &update_form(h, role, "1", "FIXED", "x"),
        );
        assert_open311_error(&r, StatusCode::FORBIDDEN, false);
    }
}

#[test]
fn every_faulty_post_is_refused_with_an_open311_error_naming_the_fault() {
    let h = harness();
    let key = enc(h.key("app"));
    let sub = enc(&first_subcategory("proprete"));
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            format!("api_key={key}&lat=48.85&long=2.35"),
            StatusCode::BAD_REQUEST,
            "service_code",
        ),
        (
            format!("api_key={key}&service_code=proprete&description=x"),
            StatusCode::BAD_REQUEST,
            "location",
        ),
        (
            format!("api_key={key}&service_code=proprete&lat=91&long=2.35"),
            StatusCode::BAD_REQUEST,
            "lat",
        ),
        (
            format!("api_key={key}&service_code=proprete&lat=abc&long=2.35"),
            StatusCode::BAD_REQUEST,
            "lat",
        ),
        (
            format!("api_key={key}&service_code=fireworks&lat=48.85&long=2.35"),
            StatusCode::NOT_FOUND,
            "no service fireworks",
        ),
        (
            format!("api_key={key}&service_code=proprete&lat=48.85&long=2.35"),
            StatusCode::BAD_REQUEST,
            "attribute[subcategory]",
        ),
        (
            format!(
                "api_key={key}&service_code=proprete&lat=48.85&long=2.35\
                 &attribute%5Bsubcategory%5D=feux_d_artifice"
            ),
            StatusCode::BAD_REQUEST,
            "attribute[subcategory]",
        ),
        (
            format!(
                "api_key={key}&service_code=proprete&lat=48.85&long=2.35\
                 &attribute%5Bsubcategory%5D={sub}&attribute%5Bcolour%5D=red"
            ),
            StatusCode::BAD_REQUEST,
            "attribute[colour]",
        ),
        (
            format!(
                "api_key={key}&service_code=proprete&lat=45.76&long=4.83\
                 &attribute%5Bsubcategory%5D={sub}"
            ),
            StatusCode::BAD_REQUEST,
            "outside the served area",
        ),
        (
            format!(
                "api_key={key}&service_code=proprete&address_string=zzqx+wvvy+kkjj\
                 &attribute%5Bsubcategory%5D={sub}"
            ),
            StatusCode::BAD_REQUEST,
            "address_string",
        ),
        (
            format!(
                "api_key={key}&service_code=proprete&address_id=75104_8284_00003\
                 &attribute%5Bsubcategory%5D={sub}"
            ),
            StatusCode::BAD_REQUEST,
            "address_id",
        ),
        (
            format!(
                "api_key={key}&service_code=proprete&lat=48.85&long=2.35&email=not-an-email\
                 &attribute%5Bsubcategory%5D={sub}"
            ),
            StatusCode::BAD_REQUEST,
            "email",
        ),
    ];
    for (form, status, says) in &cases {
        for xml in [false, true] {
            let ext = if xml { "xml" } else { "json" };
            let r = post_form(h, &format!("/open311/v2/requests.{ext}"), form);
            assert_eq!(r.status, *status, "{form}: {}", r.text());
            let d = assert_open311_error(&r, *status, xml);
            assert!(d.contains(says), "{form}: {d}");
        }
    }
    let r = h.send(
        Request::post("/open311/v2/requests.json")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"api_key": h.key("app"), "service_code": "proprete"}).to_string(),
            ))
            .unwrap(),
    );
    let d = assert_open311_error(&r, StatusCode::BAD_REQUEST, false);
    assert!(d.contains("x-www-form-urlencoded"), "{d}");
}

// ------------------------------------------------------------ GET requests

#[test]
fn the_request_list_filters_by_ids_service_status_dates_box_and_update_time_and_pages() {
    let h = harness();
    let (lon, lat) = (2.3950, 48.8480);
    let first = file_request(h, lon, lat, "premier");
    let second = file_request(h, lon + 0.00005, lat, "deuxième");
    let contribution = {
        let form = format!(
            "api_key={}&service_code=eau&lat={lat}&long={}&attribute%5Bkind%5D=contribution",
            enc(h.key("app")),
            lon - 0.00005
        );
        let v = json_of(&post_form(h, "/open311/v2/requests.json", &form));
        v[0]["service_request_id"].as_str().unwrap().to_owned()
    };
    let bbox = around(lon, lat);
    let list = |query: &str| {
        let v = json_of(&h.get(&format!("/open311/v2/requests.json?{bbox}&{query}")));
        assert_valid_file("requests.json", &v);
        ids_of(&v)
    };

    // Newest first, paged.
    assert_eq!(
        list(""),
        [contribution.as_str(), second.as_str(), first.as_str()]
    );
    assert_eq!(
        list("page_size=2"),
        [contribution.as_str(), second.as_str()]
    );
    assert_eq!(list("page_size=2&page=2"), [first.as_str()]);
    assert!(list("page_size=2&page=3").is_empty());
    // Services, one or several.
    assert_eq!(
        list("service_code=proprete"),
        [second.as_str(), first.as_str()]
    );
    assert_eq!(
        list("service_code=eau,proprete"),
        [contribution.as_str(), second.as_str(), first.as_str()]
    );
    // A window before they were filed.
    assert!(list("start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z").is_empty());
    assert!(list("status=closed").is_empty());
    assert_eq!(list("status=open").len(), 3);

    // An agent closes the first: it moves to closed and is updated now, in
    // a later second than any of the three was filed (datetimes are written
    // in whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let r = post_form(
        h,
        "/open311/v2/servicerequestupdates.json",
        &update_form(h, "agent", &first, "FIXED", "Enlevé ce matin"),
    );
    json_of(&r);
    assert_eq!(list("status=closed"), [first.as_str()]);
    assert_eq!(
        list("status=open"),
        [contribution.as_str(), second.as_str()]
    );
    assert_eq!(list("status=open,closed").len(), 3);
    let v = json_of(&h.get(&format!("/open311/v2/requests/{first}.json")));
    let updated = v[0]["updated_datetime"].as_str().unwrap().to_owned();
    assert_ne!(updated, v[0]["requested_datetime"].as_str().unwrap());
    assert_eq!(
        list(&format!("updated_after={}", enc(&updated))),
        [first.as_str()]
    );
    assert_eq!(
        list("updated_before=2020-01-01T00:00:00Z"),
        Vec::<String>::new()
    );

    // Ids override every other argument, in the order asked; unknown ids
    // are left out.
    let v = json_of(&h.get(&format!(
        "/open311/v2/requests.json?service_request_id={first},999999999,{contribution},abc\
         &status=open&service_code=voirie_et_espace_public"
    )));
    assert_valid_file("requests.json", &v);
    assert_eq!(ids_of(&v), [first.as_str(), contribution.as_str()]);

    // The same list in XML.
    let xml = xml_of(
        &h.get(&format!("/open311/v2/requests.xml?{bbox}&extensions=true")),
        "service_requests",
    );
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let ids: Vec<String> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("request"))
        .map(|n| child_text(n, "service_request_id").unwrap())
        .collect();
    assert_eq!(
        ids,
        [contribution.as_str(), second.as_str(), first.as_str()]
    );
}

#[test]
fn every_faulty_query_is_refused_and_an_unknown_request_is_404() {
    let h = harness();
    for (query, says) in [
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("page=0", "page"),
        ("start_date=yesterday", "start_date"),
        ("start_date=2024-05-01", "start_date"),
        (
            "start_date=2024-01-01T00:00:00Z&end_date=2024-06-01T00:00:00Z",
            "end_date",
        ),
        (
            "start_date=2024-05-02T00:00:00Z&end_date=2024-05-01T00:00:00Z",
            "end_date",
        ),
        ("status=pending", "status"),
        ("extensions=yes", "extensions"),
        ("lat_ne=48.9&long_ne=2.4&lat_sw=48.8", "long_sw"),
        ("service_code=fireworks", "service_code"),
    ] {
        for xml in [false, true] {
            let ext = if xml { "xml" } else { "json" };
            let r = h.get(&format!("/open311/v2/requests.{ext}?{query}"));
            let d = assert_open311_error(&r, StatusCode::BAD_REQUEST, xml);
            assert!(d.contains(says), "{query}: {d}");
        }
    }
    for (uri, xml) in [
        ("/open311/v2/requests/999999999.json", false),
        ("/open311/v2/requests/999999999.xml", true),
        ("/open311/v2/requests/abc.json", false),
        ("/open311/v2/requests/-3.xml", true),
    ] {
        let d = assert_open311_error(&h.get(uri), StatusCode::NOT_FOUND, xml);
        assert!(d.contains("no request"), "{d}");
    }
    let r = h.get("/open311/v2/requests/1.json?extensions=maybe");
    assert_open311_error(&r, StatusCode::BAD_REQUEST, false);
    for query in ["end_date=soon", "page_size=5000"] {
        let r = h.get(&format!("/open311/v2/servicerequestupdates.xml?{query}"));
        assert_open311_error(&r, StatusCode::BAD_REQUEST, true);
    }
}

// ------------------------------------------------------------ updates

#[test]
fn an_agent_s_updates_show_in_the_request_its_notes_and_the_update_list() {
    let h = harness();
    let (lon, lat) = (2.3010, 48.8790);
    let id = file_request(h, lon, lat, "Dépôt sauvage");
    let url = "/open311/v2/servicerequestupdates.json";

    let v = json_of(&post_form(
        h,
        url,
        &update_form(h, "agent", &id, "INVESTIGATING", "Pris en compte"),
    ));
    let investigating = v[0]["update_id"].as_str().unwrap().to_owned();
    assert_eq!(v, json!([{"update_id": investigating}]));
    // A note alone: the state stays.
    let v = json_of(&post_form(
        h,
        url,
        &update_form(h, "agent", &id, "investigating", "Passage prévu jeudi"),
    ));
    let noted = v[0]["update_id"].as_str().unwrap().to_owned();
    // Closed in XML.
    let xml = xml_of(
        &post_form(
            h,
            "/open311/v2/servicerequestupdates.xml",
            &update_form(h, "agent", &id, "FIXED", "Enlevé <ce matin>"),
        ),
        "service_request_updates",
    );
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let fixed = doc
        .descendants()
        .find(|n| n.has_tag_name("update_id"))
        .and_then(|n| n.text())
        .unwrap()
        .to_owned();
    // A retry of the same update records nothing new.
    let v = json_of(&post_form(
        h,
        url,
        &update_form(h, "agent", &id, "FIXED", "Enlevé <ce matin>"),
    ));
    assert_eq!(v[0]["update_id"], fixed.as_str());

    let v = json_of(&h.get(&format!("/open311/v2/requests/{id}.json?extensions=true")));
    assert_valid_file("requests.json", &v);
    assert_eq!(v[0]["status"], "closed");
    assert_eq!(v[0]["extended_attributes"]["detailed_status"], "done");
    let notes: Vec<(Value, Value)> = v[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["status"].clone(), n["description"].clone()))
        .collect();
    assert_eq!(
        notes,
        [
            (json!("new"), Value::Null),
            (json!("to_process"), json!("Pris en compte")),
            (Value::Null, json!("Passage prévu jeudi")),
            (json!("done"), json!("Enlevé <ce matin>")),
        ]
    );
    assert_eq!(v[0]["notes"][3]["author"], "Test agent");
    let closed = json_of(&h.get(&format!(
        "/open311/v2/requests.json?status=closed&{}",
        around(lon, lat)
    )));
    assert_eq!(ids_of(&closed), [id.as_str()]);

    // The update list, in both formats.
    let states = [
        "open",
        "closed",
        "fixed",
        "in_progress",
        "action_scheduled",
        "investigating",
        "duplicate",
        "not_councils_responsibility",
        "no_further_action",
        "internal_referral",
        "reopen",
        "for_triage",
    ];
    let schema = updates_schema(&states);
    let v = json_of(&h.get("/open311/v2/servicerequestupdates.json"));
    assert_valid(&schema, "updates", &v);
    let ours: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["service_request_id"] == id.as_str())
        .collect();
    let seen: Vec<(&str, &str, &str, &str)> = ours
        .iter()
        .map(|u| {
            (
                u["update_id"].as_str().unwrap(),
                u["status"].as_str().unwrap(),
                u["external_status_code"].as_str().unwrap(),
                u["description"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                &*investigating,
                "investigating",
                "to_process",
                "Pris en compte"
            ),
            (
                &*noted,
                "investigating",
                "to_process",
                "Passage prévu jeudi"
            ),
            (&*fixed, "fixed", "done", "Enlevé <ce matin>"),
        ]
    );
    let xml = xml_of(
        &h.get("/open311/v2/servicerequestupdates.xml?page_size=1000"),
        "service_request_updates",
    );
    assert!(xml.contains("Enlevé &lt;ce matin&gt;"), "{xml}");
    let none = json_of(&h.get(
        "/open311/v2/servicerequestupdates.json?start_date=2020-01-01T00:00:00Z\
         &end_date=2020-03-01T00:00:00Z",
    ));
    assert_eq!(none, json!([]));

    // Refusals: unknown request, a change the workflow forbids, nothing to
    // record, a bad status.
    for (form, status) in [
        (
            update_form(h, "agent", "999999999", "FIXED", "x"),
            StatusCode::NOT_FOUND,
        ),
        (
            update_form(h, "agent", "abc", "FIXED", "x"),
            StatusCode::NOT_FOUND,
        ),
        (
            update_form(h, "agent", &id, "FOR_TRIAGE", "x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            update_form(h, "agent", &id, "CLOSED", ""),
            StatusCode::BAD_REQUEST,
        ),
        (
            update_form(h, "agent", &id, "RESOLVED", "x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            update_form(h, "agent", &id, "NO_FURTHER_ACTION", ""),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_open311_error(&post_form(h, url, &form), status, false);
    }
}

// ------------------------------------------------------------ tokens, routes

#[test]
fn tokens_are_never_issued_so_every_token_is_404() {
    let h = harness();
    for (uri, xml) in [
        ("/open311/v2/tokens/12345.json", false),
        ("/open311/v2/tokens/abc.xml", true),
    ] {
        let d = assert_open311_error(&h.get(uri), StatusCode::NOT_FOUND, xml);
        assert!(d.contains("realtime"), "{d}");
    }
}

#[test]
fn unknown_formats_resources_and_methods_are_refused_in_the_open311_format() {
    let h = harness();
    for uri in [
        "/open311/v2/services.html",
        "/open311/v2/services",
        "/open311/v2/requests.JSON",
        "/open311/v2/services/eau.csv",
        "/open311/v2/requests/1",
        "/open311/v2/nothing.json",
        "/open311/v2/a/b/c.json",
    ] {
        assert_open311_error(&h.get(uri), StatusCode::NOT_FOUND, false);
    }
    assert_open311_error(
        &h.get("/open311/v2/nothing.xml"),
        StatusCode::NOT_FOUND,
        true,
    );
    let r = post_form(h, "/open311/v2/services.xml", "");
    assert_open311_error(&r, StatusCode::METHOD_NOT_ALLOWED, true);
    let r = h.send(
        Request::delete("/open311/v2/requests/1.json")
            .body(Body::empty())
            .unwrap(),
    );
    assert_open311_error(&r, StatusCode::METHOD_NOT_ALLOWED, false);
}

// ------------------------------------------------------------ privacy

#[test]
fn a_marker_email_and_phone_never_appear_in_any_open311_output() {
    let h = harness();
    let email = "marker.open311.jeanne@example.org";
    let phone = "+33 6 98 76 54 32";
    let (lon, lat) = (2.3300, 48.8300);
    let form = format!(
        "{}&email={}&phone={}&first_name=Jeanne&last_name=Marqueur",
        request_form(h, "app", lon, lat, "Trottoir encombré"),
        enc(email),
        enc(phone)
    );
    let created = post_form(h, "/open311/v2/requests.json", &form);
    let id = json_of(&created)[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Kept, privately.
    let stored =
        h.rt.block_on(h.app.store().report(id.parse().unwrap()))
            .unwrap()
            .unwrap();
    assert_eq!(stored.contact.as_deref(), Some(email));
    json_of(&post_form(
        h,
        "/open311/v2/servicerequestupdates.json",
        &update_form(h, "agent", &id, "IN_PROGRESS", "Programmé"),
    ));

    let mut bodies = vec![created.text()];
    for ext in ["json", "xml"] {
        for uri in [
            format!("/open311/v2/requests/{id}.{ext}?extensions=true"),
            format!(
                "/open311/v2/requests.{ext}?extensions=true&{}",
                around(lon, lat)
            ),
            format!("/open311/v2/requests.{ext}?service_request_id={id}&extensions=true"),
            format!("/open311/v2/servicerequestupdates.{ext}"),
            format!("/open311/v2/services.{ext}"),
        ] {
            let r = h.get(&uri);
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
            bodies.push(r.text());
        }
    }
    assert!(bodies.iter().any(|b| b.contains(&id)));
    for b in &bodies {
        for secret in [email, "marker.open311", phone, "98 76 54 32", "Marqueur"] {
            assert!(!b.contains(secret), "{secret} in {b}");
        }
    }
}
