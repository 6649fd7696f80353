//! Validation of Open311 JSON against the official GeoReport v2 schemas
//! (`tests/open311-schemas/`), shared by the unit tests of the pure core
//! (`src/open311/tests.rs`) and the HTTP tests (`tests/open311.rs`).
//!
//! Unit tests cannot reach `tests/`' modules by name, so both include this
//! one file by path; it uses nothing but `jsonschema` and `serde_json`:
//!
//! ```ignore
//! #[path = "../../tests/support_open311/mod.rs"] // from src/open311/tests.rs
//! mod support_open311;
//! support_open311::assert_valid_file("requests.json", &json);
//! ```
//!
//! The schemas are registered by hand under a reserved domain: no `$ref` is
//! ever fetched over HTTP or read from disk at run time.

// Each test binary uses part of it.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{Value, json};

/// The official schema files, by the name their `$ref`s use.
const SCHEMA_FILES: [(&str, &str); 5] = [
    (
        "request.json",
        include_str!("../open311-schemas/request.json"),
    ),
    (
        "requests.json",
        include_str!("../open311-schemas/requests.json"),
    ),
    (
        "service.json",
        include_str!("../open311-schemas/service.json"),
    ),
    (
        "services.json",
        include_str!("../open311-schemas/services.json"),
    ),
    (
        "service-definition.json",
        include_str!("../open311-schemas/service-definition.json"),
    ),
];
const SWAGGER: &str = include_str!("../open311-schemas/swagger.json");
/// Where the schema files are said to live, so that their relative `$ref`s
/// resolve among themselves (a reserved domain: nothing is fetched).
const SCHEMA_BASE: &str = "https://open311.invalid/schema/georeport-v2/";

/// The W3C profile GeoReport v2 requires: `YYYY-MM-DDThh:mm:ss` then `Z` or
/// `±hh:mm` (mySociety's validator uses the same pattern).
pub const W3C_PATTERN: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$";

/// One of the official schema files, parsed.
pub fn schema_file(name: &str) -> Value {
    let (_, text) = SCHEMA_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a shipped schema");
    serde_json::from_str(text).unwrap()
}

/// Validates `instance` against a schema that may `$ref` the shipped files
/// (`base_name` names the schema in messages and resolves its `$ref`s).
pub fn assert_valid(schema: &Value, base_name: &str, instance: &Value) {
    let registry = jsonschema::Registry::new()
        .extend(SCHEMA_FILES.iter().map(|(n, t)| {
            (
                format!("{SCHEMA_BASE}{n}"),
                serde_json::from_str::<Value>(t).unwrap(),
            )
        }))
        .unwrap()
        .prepare()
        .unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .with_base_uri(format!("{SCHEMA_BASE}{base_name}"))
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true)
        .build(schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{base_name}: {errors:#?}\n{instance:#}");
}

/// Validates against one of the official schema files.
pub fn assert_valid_file(name: &str, instance: &Value) {
    assert_valid(&schema_file(name), name, instance);
}

/// A Swagger definition as a schema for a list of one (the spec's answers
/// to a POST and to a token are lists).
pub fn swagger_list_schema(definition: &str) -> Value {
    let swagger: Value = serde_json::from_str(SWAGGER).unwrap();
    let def = swagger["definitions"][definition].clone();
    assert!(def.is_object(), "{definition} in swagger.json");
    json!({"type": "array", "minItems": 1, "maxItems": 1, "items": def})
}

/// Validates a list of one against a Swagger definition.
pub fn assert_valid_swagger_list(definition: &str, instance: &Value) {
    assert_valid(&swagger_list_schema(definition), "swagger.json", instance);
}

/// Service discovery has no schema file: the rules of the Service Discovery
/// spec's text.
pub fn discovery_schema() -> Value {
    json!({
        "type": "object",
        "required": ["changeset", "contact", "key_service", "endpoints"],
        "additionalProperties": false,
        "properties": {
            "changeset": {"type": "string", "pattern": W3C_PATTERN},
            "contact": {"type": "string", "minLength": 1},
            "key_service": {"type": "string", "minLength": 1},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "additionalProperties": false,
                "properties": {
                    "specification": {"type": "string", "format": "uri"},
                    "url": {"type": "string", "format": "uri"},
                    "changeset": {"type": "string", "pattern": W3C_PATTERN},
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array", "minItems": 1,
                                "items": {"enum": ["text/xml", "application/json"]}}
                }
            }}
        }
    })
}

/// mySociety's service request updates (its endpoint's own schema): every
/// field a string, `media_url` and `description` present even if empty,
/// the state one of `states` (the caller says which: the core's list, or
/// one written from mySociety's text).
pub fn updates_schema(states: &[&str]) -> Value {
    json!({"type": "array", "items": {
        "type": "object",
        "required": ["update_id", "service_request_id", "status", "updated_datetime",
                     "description", "media_url"],
        "additionalProperties": false,
        "properties": {
            "update_id": {"type": "string", "minLength": 1},
            "service_request_id": {"type": "string", "minLength": 1},
            "status": {"enum": states},
            "updated_datetime": {"type": "string", "pattern": W3C_PATTERN},
            "description": {"type": "string"},
            "media_url": {"type": "string"},
            "external_status_code": {"type": "string"}
        }
    }})
}
