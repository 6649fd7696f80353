//! Every response document, written in both formats and read back by
//! independent tools: JSON validated against the official GeoReport v2 JSON
//! Schemas (and, where the spec has none, schemas written here from its
//! text), XML parsed with `roxmltree` and compared with the JSON field by
//! field.

use serde_json::{Value, json};
use time::macros::datetime;

use super::*;
use crate::model::{DistrictRef, Kind, LonLat, Status, Taxonomy};

// The schema validator is shared with the HTTP tests (tests/open311.rs).
#[path = "../../tests/support_open311/mod.rs"]
mod support_open311;

use support_open311::{
    assert_valid, assert_valid_file, discovery_schema, swagger_list_schema, updates_schema,
};

const SHIPPED_TAXONOMY: &str = include_str!("../../data/dansmarue_taxonomy.csv");

fn json_of(doc: &impl Document) -> Value {
    serde_json::from_str(&doc.render(Format::Json)).unwrap()
}

fn full_request() -> ServiceRequest {
    ServiceRequest {
        service_request_id: "638344".into(),
        status: RequestStatus::Closed,
        status_notes: Some(status_notes(Status::Done).into()),
        service_name: Some("Propreté".into()),
        service_code: "proprete".into(),
        description: Some("Sacs <éventrés> & \"cartons\" l'après-midi\r\nrue Oberkampf".into()),
        agency_responsible: Some("Direction de la Propreté et de l'Eau".into()),
        service_notice: Some("Passage sous 48 h".into()),
        requested_datetime: datetime!(2024-05-01 08:15:30.5 UTC),
        updated_datetime: Some(datetime!(2024-05-02 10:00 +02:00)),
        expected_datetime: Some(datetime!(2024-05-03 18:00 +02:00)),
        address: Some("12 rue Oberkampf, 75011 Paris".into()),
        address_id: Some("75111_6933_00012".into()),
        zipcode: Some("75011".into()),
        location: Some(LonLat::new(2.3688, 48.8649).unwrap()),
        media_url: Some("https://photos.example.org/638344.jpg?size=large&v=2".into()),
        extensions: Some(RequestExtensions {
            extended_attributes: ExtendedAttributes {
                detailed_status: Status::Done,
                kind: Kind::Anomaly,
                arrondissement: Some(DistrictRef {
                    id: "arrondissement:75111".into(),
                    code: "75111".into(),
                    name: "Paris 11e Arrondissement".into(),
                }),
                working_class_district: None,
                duplicate_of: Some("638300".into()),
                supports: 3,
            },
            notes: vec![
                Note {
                    datetime: datetime!(2024-05-01 08:15:30 UTC),
                    status: Some(Status::New),
                    description: None,
                    author: None,
                },
                Note {
                    datetime: datetime!(2024-05-02 10:00 +02:00),
                    status: Some(Status::Done),
                    description: Some("Enlevé <ce matin>".into()),
                    author: Some("DPE".into()),
                },
            ],
        }),
    }
}

fn minimal_request() -> ServiceRequest {
    ServiceRequest {
        service_request_id: "1".into(),
        status: RequestStatus::Open,
        status_notes: None,
        service_name: None,
        service_code: "eau".into(),
        description: None,
        agency_responsible: None,
        service_notice: None,
        requested_datetime: datetime!(2024-05-01 00:00 UTC),
        updated_datetime: None,
        expected_datetime: None,
        address: None,
        address_id: None,
        zipcode: None,
        location: None,
        media_url: None,
        extensions: None,
    }
}

fn taxonomy() -> Taxonomy {
    Taxonomy::from_csv(SHIPPED_TAXONOMY).unwrap()
}

fn discovery() -> Discovery {
    Discovery {
        changeset: datetime!(2024-05-01 00:00 UTC),
        contact: "Ville de Paris <open311@example.org>".into(),
        key_service: "Demander une clé : https://example.org/open311/key".into(),
        endpoints: vec![Endpoint {
            specification: GEOREPORT_V2_SPECIFICATION.into(),
            url: "https://civicmap.example.org/open311/v2".into(),
            changeset: datetime!(2024-05-01 00:00 UTC),
            endpoint_type: EndpointType::Production,
            formats: Format::ALL.to_vec(),
        }],
    }
}

fn updates() -> RequestUpdates {
    RequestUpdates(vec![
        request_update(
            "7".into(),
            42,
            Status::Scheduled,
            datetime!(2024-05-02 09:00 +02:00),
            "Intervention prévue <demain> & après".into(),
        ),
        RequestUpdate {
            update_id: "8".into(),
            service_request_id: "42".into(),
            status: UpdateStatus::Fixed,
            updated_datetime: datetime!(2024-05-03 09:00 UTC),
            description: String::new(),
            media_url: Some("https://photos.example.org/after.jpg".into()),
            external_status_code: None,
        },
    ])
}

// ---------------------------------------------------------------- JSON

#[test]
fn service_requests_in_json_pass_the_official_schemas() {
    let doc = ServiceRequests(vec![full_request(), minimal_request()]);
    let v = json_of(&doc);
    assert_valid_file("requests.json", &v);
    for item in v.as_array().unwrap() {
        assert_valid_file("request.json", item);
    }
    assert_eq!(v[0]["service_request_id"], "638344");
    assert_eq!(v[0]["status"], "closed");
    assert_eq!(v[0]["lat"], 48.8649);
    assert_eq!(v[0]["long"], 2.3688);
    assert_eq!(v[0]["requested_datetime"], "2024-05-01T08:15:30Z");
    assert_eq!(v[0]["updated_datetime"], "2024-05-02T10:00:00+02:00");
    assert_eq!(v[1]["lat"], Value::Null);
    assert!(v[1].get("extended_attributes").is_none());
}

#[test]
fn a_request_from_a_report_passes_the_official_schema() {
    let t = taxonomy();
    let cat = t.category_id("eau").unwrap();
    let report = crate::model::Report {
        id: 9,
        client_id: None,
        kind: Kind::Contribution,
        category: cat,
        subcategory: None,
        description: String::new(),
        location: LonLat::new(2.35, 48.85).unwrap(),
        address: None,
        channel: crate::model::Channel::Ios,
        created_at: datetime!(2024-05-01 00:00 UTC),
        status: Status::UnderWatch,
        campaign: None,
        contact: None,
        h3: 0,
        districts: crate::model::Districts::default(),
    };
    let mut r = service_request(&report, &t);
    r.extensions = Some(RequestExtensions {
        extended_attributes: extended_attributes(&report),
        notes: vec![],
    });
    let v = json_of(&ServiceRequests(vec![r]));
    assert_valid_file("requests.json", &v);
    assert_eq!(v[0]["service_request_id"], "9");
    assert_eq!(v[0]["status"], "open");
    assert_eq!(
        v[0]["extended_attributes"]["detailed_status"],
        "under_watch"
    );
    assert_eq!(v[0]["extended_attributes"]["kind"], "contribution");
    assert_eq!(v[0]["notes"], json!([]));
}

#[test]
fn extensions_carry_the_dansmarue_state_districts_and_history() {
    let v = json_of(&ServiceRequests(vec![full_request()]));
    let ext = &v[0]["extended_attributes"];
    assert_eq!(
        *ext,
        json!({
            "detailed_status": "done",
            "kind": "anomaly",
            "arrondissement": {"id": "arrondissement:75111", "code": "75111", "name": "Paris 11e Arrondissement"},
            "working_class_district": null,
            "duplicate_of": "638300",
            "supports": 3
        })
    );
    assert_eq!(
        v[0]["notes"],
        json!([
            {"datetime": "2024-05-01T08:15:30Z", "status": "new", "description": null, "author": null},
            {"datetime": "2024-05-02T10:00:00+02:00", "status": "done", "description": "Enlevé <ce matin>", "author": "DPE"}
        ])
    );
}

#[test]
fn the_service_list_in_json_passes_the_official_schemas() {
    let t = taxonomy();
    let v = json_of(&services(t.categories()));
    assert_valid_file("services.json", &v);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 10);
    for item in list {
        assert_valid_file("service.json", item);
        assert_eq!(item["metadata"], true);
        assert_eq!(item["type"], "realtime");
    }
    // A bare service: optional values are null, which the schema allows.
    let bare = Services(vec![Service {
        service_code: "x".into(),
        service_name: "X".into(),
        description: None,
        metadata: false,
        service_type: ServiceType::Batch,
        keywords: vec![],
        group: None,
    }]);
    let v = json_of(&bare);
    assert_valid_file("services.json", &v);
    assert_eq!(v[0]["keywords"], Value::Null);
}

#[test]
fn every_service_definition_in_json_passes_the_official_schema() {
    let t = taxonomy();
    for c in t.categories() {
        let v = json_of(&service_definition(c));
        assert_valid_file("service-definition.json", &v);
        assert_eq!(v["service_code"], c.code.as_str());
        assert_eq!(v["attributes"][0]["code"], ATTR_SUBCATEGORY);
        assert_eq!(v["attributes"][0]["datatype"], "singlevaluelist");
        assert_eq!(v["attributes"][0]["required"], false);
        assert_eq!(v["attributes"][0]["order"], 1);
        assert_eq!(
            v["attributes"][0]["values"].as_array().unwrap().len(),
            c.subcategories.len()
        );
    }
}

#[test]
fn every_datatype_is_written_as_the_schema_names_it() {
    let def = ServiceDefinition {
        service_code: "all".into(),
        attributes: [
            Datatype::String,
            Datatype::Number,
            Datatype::Datetime,
            Datatype::Text,
            Datatype::SingleValueList,
            Datatype::MultiValueList,
        ]
        .into_iter()
        .zip(1..)
        .map(|(datatype, order)| Attribute {
            variable: order != 4,
            code: format!("a{order}"),
            datatype,
            required: order == 1,
            datatype_description: None,
            order,
            description: None,
            values: vec![],
        })
        .collect(),
    };
    let v = json_of(&def);
    assert_valid_file("service-definition.json", &v);
    let names: Vec<&str> = v["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["datatype"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "string",
            "number",
            "datetime",
            "text",
            "singlevaluelist",
            "multivaluelist"
        ]
    );
    // Lists always carry `values`, other types only when given some.
    assert!(v["attributes"][0].get("values").is_none());
    assert_eq!(v["attributes"][5]["values"], json!([]));
}

#[test]
fn the_answer_to_a_post_passes_the_swagger_definition() {
    let schema = swagger_list_schema("RequestResponse");
    for created in [
        CreatedRequest {
            receipt: Receipt::Id("293944".into()),
            service_notice: Some("La Ville interviendra sous 48 h.".into()),
            account_id: None,
        },
        CreatedRequest {
            receipt: Receipt::Token("t-12345".into()),
            service_notice: None,
            account_id: Some("acc-9".into()),
        },
    ] {
        let v = json_of(&created);
        assert_valid(&schema, "swagger.json", &v);
        match &created.receipt {
            Receipt::Id(id) => assert_eq!(v[0]["service_request_id"], id.as_str()),
            Receipt::Token(t) => {
                assert_eq!(v[0]["token"], t.as_str());
                assert!(v[0].get("service_request_id").is_none());
            }
        }
    }
}

#[test]
fn the_token_answer_passes_the_swagger_definition() {
    let schema = swagger_list_schema("TokenResponse");
    let known = TokenAnswer {
        token: "t-12345".into(),
        service_request_id: Some("638344".into()),
    };
    let v = json_of(&known);
    assert_valid(&schema, "swagger.json", &v);
    assert_eq!(
        v,
        json!([{"service_request_id": "638344", "token": "t-12345"}])
    );
    let pending = TokenAnswer {
        token: "t-1".into(),
        service_request_id: None,
    };
    let v = json_of(&pending);
    assert_valid(&schema, "swagger.json", &v);
    assert_eq!(v, json!([{"token": "t-1"}]));
}

/// Errors have no schema file; the spec's text: a list of `{code,
/// description}`, the code a number.
#[test]
fn an_error_body_is_a_list_of_codes_and_descriptions() {
    let schema = json!({
        "type": "array", "minItems": 1,
        "items": {
            "type": "object",
            "required": ["code", "description"],
            "additionalProperties": false,
            "properties": {
                "code": {"type": "integer", "minimum": 400, "maximum": 599},
                "description": {"type": "string", "minLength": 1}
            }
        }
    });
    let e = parse_post_request(b"api_key=k&lat=48.8&long=2.3").unwrap_err();
    let v = json_of(&e.to_errors());
    assert_valid(&schema, "errors", &v);
    assert_eq!(
        v,
        json!([{"code": 400, "description": "service_code is required"}])
    );
    let v = json_of(&Errors::one(403, "Invalid api_key received"));
    assert_valid(&schema, "errors", &v);
}

/// Discovery has no schema file; the rules of the Service Discovery spec.
#[test]
fn discovery_has_its_changeset_contact_key_service_and_endpoints() {
    let schema = discovery_schema();
    let v = json_of(&discovery());
    assert_valid(&schema, "discovery", &v);
    assert_eq!(
        v["endpoints"][0]["formats"],
        json!(["text/xml", "application/json"])
    );
}

/// mySociety's rules (its endpoint's own schema), the state one of the
/// extended states in lower case.
#[test]
fn service_request_updates_follow_mysociety_s_schema() {
    let states: Vec<&str> = UpdateStatus::ALL.iter().map(|s| s.as_str()).collect();
    let schema = updates_schema(&states);
    let v = json_of(&updates());
    assert_valid(&schema, "updates", &v);
    assert_eq!(v[0]["status"], "action_scheduled");
    assert_eq!(v[0]["external_status_code"], "scheduled");
    assert_eq!(v[0]["media_url"], "");
    assert!(v[1].get("external_status_code").is_none());

    let posted = json!({"type": "array", "minItems": 1, "maxItems": 1, "items": {
        "type": "object", "required": ["update_id"], "additionalProperties": false,
        "properties": {"update_id": {"type": "string"}, "account_id": {"type": "string"}}
    }});
    let v = json_of(&PostedUpdate {
        update_id: "8".into(),
        account_id: None,
    });
    assert_valid(&posted, "posted", &v);
    assert_eq!(v, json!([{"update_id": "8"}]));
}

#[test]
fn every_datetime_written_is_w3c_with_an_offset() {
    fn walk(v: &Value, key: &str, found: &mut usize) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, k, found)),
            Value::Array(a) => a.iter().for_each(|v| walk(v, key, found)),
            Value::String(s) if key.ends_with("datetime") || key == "changeset" => {
                let b = s.as_bytes();
                let digits =
                    |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
                let ok = b.len() >= 20
                    && digits(0..4)
                    && b[4] == b'-'
                    && digits(5..7)
                    && b[7] == b'-'
                    && digits(8..10)
                    && b[10] == b'T'
                    && digits(11..13)
                    && b[13] == b':'
                    && digits(14..16)
                    && b[16] == b':'
                    && digits(17..19)
                    && (&s[19..] == "Z"
                        || (s.len() == 25
                            && matches!(b[19], b'+' | b'-')
                            && digits(20..22)
                            && b[22] == b':'
                            && digits(23..25)));
                assert!(ok, "{key}: {s}");
                *found += 1;
            }
            _ => {}
        }
    }
    let mut found = 0;
    walk(
        &json_of(&ServiceRequests(vec![full_request()])),
        "",
        &mut found,
    );
    walk(&json_of(&discovery()), "", &mut found);
    walk(&json_of(&updates()), "", &mut found);
    // Request: requested, updated, expected and two notes; discovery: two
    // changesets; updates: two.
    assert_eq!(found, 5 + 2 + 2);
}

// ---------------------------------------------------------------- XML

/// The list containers of the Spark convention and their item element.
const LISTS: [(&str, &str); 9] = [
    ("services", "service"),
    ("attributes", "attribute"),
    ("values", "value"),
    ("service_requests", "request"),
    ("notes", "note"),
    ("errors", "error"),
    ("service_request_updates", "request_update"),
    ("endpoints", "endpoint"),
    ("formats", "format"),
];

/// Reads an XML element back into JSON by the Spark convention: list
/// containers become arrays (checking their items' name), elements with
/// children objects, others their text (`null` when empty).
fn xml_to_json(node: roxmltree::Node<'_, '_>) -> Value {
    let name = node.tag_name().name();
    let children: Vec<_> = node
        .children()
        .filter(roxmltree::Node::is_element)
        .collect();
    if let Some((_, item)) = LISTS.iter().find(|(l, _)| *l == name) {
        return Value::Array(
            children
                .iter()
                .map(|c| {
                    assert_eq!(c.tag_name().name(), *item, "item of <{name}>");
                    xml_to_json(*c)
                })
                .collect(),
        );
    }
    if children.is_empty() {
        return match node.text() {
            Some(t) if !t.is_empty() => Value::String(t.to_owned()),
            _ => Value::Null,
        };
    }
    let mut map = serde_json::Map::new();
    for c in children {
        let prev = map.insert(c.tag_name().name().to_owned(), xml_to_json(c));
        assert!(
            prev.is_none(),
            "<{}> twice in <{name}>",
            c.tag_name().name()
        );
    }
    Value::Object(map)
}

/// Whether the XML reading (strings and nulls only) says what the JSON says.
fn same(json: &Value, xml: &Value, path: &str) {
    match (json, xml) {
        (Value::Null, Value::Null) => {}
        (Value::String(s), Value::Null) if s.is_empty() => {}
        (Value::String(a), Value::String(b)) => assert_eq!(a, b, "{path}"),
        (Value::Bool(a), Value::String(b)) => assert_eq!(&a.to_string(), b, "{path}"),
        (Value::Number(a), Value::String(b)) => {
            assert_eq!(a.as_f64(), b.parse::<f64>().ok(), "{path}: {a} vs {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<_> = a.keys().collect();
            let kb: Vec<_> = b.keys().collect();
            assert_eq!(ka, kb, "{path}");
            for (k, x) in a {
                same(x, &b[k], &format!("{path}.{k}"));
            }
        }
        _ => panic!("{path}: JSON {json} but XML {xml}"),
    }
}

/// Renders `doc` in both formats and checks that the XML, read back by an
/// independent parser, has `root` and says what the JSON says.
fn both_formats_agree(doc: &impl Document, root: &str) -> String {
    let xml = doc.render(Format::Xml);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        "{xml}"
    );
    let parsed = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(parsed.root_element().tag_name().name(), root);
    let from_xml = xml_to_json(parsed.root_element());
    let from_json = json_of(doc);
    same(&from_json, &from_xml, root);
    xml
}

#[test]
fn every_document_says_the_same_in_xml_and_in_json() {
    let t = taxonomy();
    both_formats_agree(
        &ServiceRequests(vec![full_request(), minimal_request()]),
        "service_requests",
    );
    both_formats_agree(&ServiceRequests(vec![]), "service_requests");
    both_formats_agree(&services(t.categories()), "services");
    for c in t.categories() {
        both_formats_agree(&service_definition(c), "service_definition");
    }
    both_formats_agree(&discovery(), "discovery");
    both_formats_agree(
        &CreatedRequest {
            receipt: Receipt::Id("293944".into()),
            service_notice: Some("Sous 48 h".into()),
            account_id: None,
        },
        "service_requests",
    );
    both_formats_agree(
        &TokenAnswer {
            token: "t-1".into(),
            service_request_id: Some("5".into()),
        },
        "service_requests",
    );
    both_formats_agree(&Errors::one(404, "no service \"x\" <here>"), "errors");
    both_formats_agree(&updates(), "service_request_updates");
    both_formats_agree(
        &PostedUpdate {
            update_id: "8".into(),
            account_id: Some("a".into()),
        },
        "service_request_updates",
    );
}

#[test]
fn a_request_in_xml_has_the_spec_s_elements_in_the_spec_s_order() {
    let xml = both_formats_agree(&ServiceRequests(vec![full_request()]), "service_requests");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let request = doc.root_element().first_element_child().unwrap();
    assert_eq!(request.tag_name().name(), "request");
    let names: Vec<&str> = request
        .children()
        .filter(roxmltree::Node::is_element)
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(
        names,
        [
            "service_request_id",
            "status",
            "status_notes",
            "service_name",
            "service_code",
            "description",
            "agency_responsible",
            "service_notice",
            "requested_datetime",
            "updated_datetime",
            "expected_datetime",
            "address",
            "address_id",
            "zipcode",
            "lat",
            "long",
            "media_url",
            "extended_attributes",
            "notes",
        ]
    );
    let text = |name: &str| {
        request
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    assert_eq!(text("lat").as_deref(), Some("48.8649"));
    assert_eq!(text("long").as_deref(), Some("2.3688"));
    assert_eq!(text("status").as_deref(), Some("closed"));
    let notes = request
        .children()
        .find(|n| n.has_tag_name("notes"))
        .unwrap();
    assert_eq!(
        notes.children().filter(|n| n.has_tag_name("note")).count(),
        2
    );
}

#[test]
fn markup_ampersands_quotes_and_line_ends_survive_the_xml_round_trip() {
    let nasty = "<script>alert('x')</script> & \"quotes\" ]]> \r\n\ttab";
    let mut r = minimal_request();
    r.description = Some(nasty.into());
    r.address = Some("Rue d'Alésia & <Plantes>".into());
    let xml = ServiceRequests(vec![r]).render(Format::Xml);
    assert!(!xml.contains("<script>"), "{xml}");
    assert!(xml.contains(
        "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;quotes&quot; ]]&gt; &#13;\n"
    ));
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let get = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    assert_eq!(get("description").as_deref(), Some(nasty));
    assert_eq!(get("address").as_deref(), Some("Rue d'Alésia & <Plantes>"));
    // JSON escapes on its own terms and round-trips too.
    let v = json_of(&ServiceRequests(vec![{
        let mut r = minimal_request();
        r.description = Some(nasty.into());
        r
    }]));
    assert_eq!(v[0]["description"], nasty);
}

#[test]
fn characters_xml_cannot_carry_are_replaced_not_written() {
    let mut r = minimal_request();
    r.description = Some("bell\u{7} nul\u{0} end".into());
    let xml = ServiceRequests(vec![r]).render(Format::Xml);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let d = doc
        .descendants()
        .find(|n| n.has_tag_name("description"))
        .and_then(|n| n.text())
        .unwrap()
        .to_owned();
    assert_eq!(d, "bell\u{FFFD} nul\u{FFFD} end");
}

#[test]
fn absent_values_are_empty_elements_in_xml() {
    let xml = ServiceRequests(vec![minimal_request()]).render(Format::Xml);
    for empty in ["<status_notes/>", "<lat/>", "<long/>", "<media_url/>"] {
        assert!(xml.contains(empty), "{empty} in {xml}");
    }
    assert!(!xml.contains("extended_attributes"));
}

#[test]
fn the_service_list_in_xml_nests_service_elements_with_booleans_as_words() {
    let t = taxonomy();
    let xml = services(t.categories()).render(Format::Xml);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let services: Vec<_> = doc
        .root_element()
        .children()
        .filter(roxmltree::Node::is_element)
        .collect();
    assert_eq!(services.len(), 10);
    for s in &services {
        assert_eq!(s.tag_name().name(), "service");
        let metadata = s.children().find(|n| n.has_tag_name("metadata")).unwrap();
        assert_eq!(metadata.text(), Some("true"));
    }
    let first = services[0]
        .children()
        .find(|n| n.has_tag_name("service_name"))
        .and_then(|n| n.text());
    assert_eq!(first, Some(t.categories()[0].label.as_str()));
}

#[test]
fn a_service_definition_in_xml_nests_attributes_and_values() {
    let t = taxonomy();
    let c = t.category(t.category_id("eau").unwrap());
    let xml = service_definition(c).render(Format::Xml);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "service_definition");
    let attribute = root
        .descendants()
        .find(|n| n.has_tag_name("attribute"))
        .unwrap();
    let values: Vec<(String, String)> = attribute
        .descendants()
        .filter(|n| n.has_tag_name("value"))
        .map(|v| {
            let get = |name: &str| {
                v.children()
                    .find(|n| n.has_tag_name(name))
                    .and_then(|n| n.text())
                    .unwrap_or_default()
                    .to_owned()
            };
            (get("key"), get("name"))
        })
        .collect();
    let expected: Vec<(String, String)> = c
        .subcategories
        .iter()
        .map(|s| (s.code.clone(), s.label.clone()))
        .collect();
    assert_eq!(values, expected);
}

#[test]
fn an_error_in_xml_is_an_errors_element_with_code_and_description() {
    let e = parse_requests_query(b"page_size=0", datetime!(2024-06-01 00:00 UTC)).unwrap_err();
    let xml = e.to_errors().render(Format::Xml);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let error = doc.root_element().first_element_child().unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "errors");
    assert_eq!(error.tag_name().name(), "error");
    let get = |name: &str| {
        error
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
    };
    assert_eq!(get("code"), Some("400"));
    assert_eq!(
        get("description"),
        Some("invalid page_size \"0\": expected a whole number from 1 to 1000")
    );
}

#[test]
fn content_types_name_the_formats() {
    assert_eq!(
        Format::Json.content_type(),
        "application/json; charset=utf-8"
    );
    assert_eq!(Format::Xml.content_type(), "text/xml; charset=utf-8");
}

#[test]
fn a_request_list_written_piece_by_piece_is_the_same_document_as_written_whole() {
    let requests = vec![full_request(), minimal_request(), full_request()];
    for format in Format::ALL {
        let mut pieces = ServiceRequests::render_start(format);
        for (i, r) in requests.iter().enumerate() {
            r.render_item(format, i == 0, &mut pieces);
        }
        pieces.push_str(ServiceRequests::render_end(format));
        assert_eq!(pieces, ServiceRequests(requests.clone()).render(format));
    }
    let empty = format!(
        "{}{}",
        ServiceRequests::render_start(Format::Json),
        ServiceRequests::render_end(Format::Json)
    );
    assert_eq!(empty, ServiceRequests(vec![]).render(Format::Json));
}
