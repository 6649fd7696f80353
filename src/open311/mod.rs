//! The pure core of an Open311 GeoReport v2 server: response documents in
//! JSON and XML, request parsing and validation, and the mapping from
//! civicmap's domain (DansMaRue states, the category taxonomy, reports).
//!
//! Pure: no IO, no HTTP, no SQL. The HTTP side picks the [`Format`] from the
//! resource extension, hands the raw query string or form body to a
//! `parse_*` function, asks the service for data, builds a response struct
//! (often with the [`mapping`] helpers) and sends
//! [`Document::render`] with [`Format::content_type`]. An
//! [`Open311Error`] becomes HTTP 400 with [`Open311Error::to_errors`]; other
//! failures an [`Errors`] body with their own code (403 bad `api_key`, 404
//! unknown service or request).
//!
//! What is covered:
//! - GeoReport v2: service discovery, service list, service definition,
//!   `GET`/`POST` requests, `GET` one request, tokens, errors;
//! - the `extensions=true` convention (Chicago, Austin): `extended_attributes`
//!   and `notes` on each request, plus paging, update-time and bounding-box
//!   filters;
//! - mySociety's service request updates (`servicerequestupdates`, both
//!   `GET` and `POST`), as FixMyStreet speaks them.
//!
//! Datetimes are written in the W3C profile of ISO 8601 with an offset
//! ([`w3c_datetime`]); ids are always strings. No personal data (a
//! reporter's contact, names, device) is ever written by this module, and
//! the input structs redact it from `Debug`.

mod mapping;
mod parse;
mod render;
mod response;

#[cfg(test)]
mod tests;

pub use mapping::{
    ATTR_KIND, ATTR_SUBCATEGORY, OTHER_GROUP, SERVICE_GROUPS, ServiceGroup, check_attributes,
    extended_attributes, request_status, request_update, requested_kind, requested_subcategory,
    service, service_definition, service_group, service_request, services, status_for_update,
    status_notes, update_status,
};
pub use parse::{
    ApiKey, AttributeAnswer, Location, MAX_ATTRIBUTE_CHARS, MAX_ATTRIBUTE_VALUES, MAX_FORM_FIELDS,
    MAX_ID_CHARS, MAX_KEY_CHARS, MAX_MEDIA_URLS, MAX_NAME_CHARS, MAX_PAGE, MAX_RESULTS,
    MAX_URL_CHARS, Open311Error, PostRequest, PostUpdate, Reporter, RequestFilter, RequestOptions,
    RequestsQuery, Selection, UpdatesQuery, WINDOW_DAYS, Window, parse_post_request,
    parse_post_update, parse_request_options, parse_requests_query, parse_updates_query,
    parse_w3c_datetime,
};
pub use render::{Document, Format, w3c_datetime};
pub use response::{
    Attribute, CreatedRequest, Datatype, Discovery, Endpoint, EndpointType, ErrorItem, Errors,
    ExtendedAttributes, GEOREPORT_V2_SPECIFICATION, ListValue, Note, PostedUpdate, Receipt,
    RequestExtensions, RequestStatus, RequestUpdate, RequestUpdates, Service, ServiceDefinition,
    ServiceRequest, ServiceRequests, ServiceType, Services, TokenAnswer, UpdateStatus,
};
