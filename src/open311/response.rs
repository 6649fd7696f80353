//! The GeoReport v2 response documents, and mySociety's service request
//! updates, as plain structs that the caller fills; each renders to JSON or
//! XML through [`Document::render`].
//!
//! Shapes (XML root → items; JSON is the same tree without the root):
//!
//! | type | XML | JSON |
//! | --- | --- | --- |
//! | [`Discovery`] | `<discovery>` | object |
//! | [`Services`] | `<services><service>…` | array |
//! | [`ServiceDefinition`] | `<service_definition>` | object |
//! | [`ServiceRequests`] | `<service_requests><request>…` | array |
//! | [`CreatedRequest`] | `<service_requests><request>` (one) | array of one |
//! | [`TokenAnswer`] | `<service_requests><request>` (one) | array of one |
//! | [`Errors`] | `<errors><error>…` | array |
//! | [`RequestUpdates`] | `<service_request_updates><request_update>…` | array |
//! | [`PostedUpdate`] | `<service_request_updates><request_update>` (one) | array of one |
//!
//! Absent optional values of the lists (services, definitions, requests) are
//! `null` in JSON and empty elements in XML, as in the spec's examples and
//! as its JSON Schemas allow. The one-item answers (POST, token) leave an
//! absent value out, as the Swagger description of the API requires (it has
//! no `null`). The mySociety update documents follow mySociety's reference
//! implementation: `""` for a missing `media_url`, a missing
//! `external_status_code` / `account_id` left out.

use time::OffsetDateTime;

use super::render::{Document, Format, Node, Root};
use crate::model::{DistrictRef, Kind, LonLat, Status};

/// The specification URL announced by service discovery.
pub const GEOREPORT_V2_SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

/// Open311's two request states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestStatus {
    Open,
    Closed,
}

impl RequestStatus {
    /// The wire spelling, `open` or `closed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Closed => "closed",
        }
    }

    /// Parses the wire spelling, exactly (lower case).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(RequestStatus::Open),
            "closed" => Some(RequestStatus::Closed),
            _ => None,
        }
    }
}

/// How a service accepts requests: `realtime` answers a POST with the
/// request id, `batch` with a token to resolve later, `blackbox` with neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    Realtime,
    Batch,
    Blackbox,
}

impl ServiceType {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Realtime => "realtime",
            ServiceType::Batch => "batch",
            ServiceType::Blackbox => "blackbox",
        }
    }
}

/// The type of a service attribute's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    SingleValueList,
    MultiValueList,
}

impl Datatype {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Text => "text",
            Datatype::SingleValueList => "singlevaluelist",
            Datatype::MultiValueList => "multivaluelist",
        }
    }
}

/// Whether a discovered endpoint is the production one or a test one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointType {
    Production,
    Test,
}

impl EndpointType {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Production => "production",
            EndpointType::Test => "test",
        }
    }
}

/// mySociety's extended request states, used by service request updates
/// (both directions). Written lower case (`GET servicerequestupdates`);
/// parsed in either case (FixMyStreet POSTs them upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateStatus {
    Open,
    Closed,
    Fixed,
    InProgress,
    ActionScheduled,
    Investigating,
    Duplicate,
    NotCouncilsResponsibility,
    NoFurtherAction,
    InternalReferral,
    Reopen,
    ForTriage,
}

impl UpdateStatus {
    /// Every state, in the order of mySociety's list.
    pub const ALL: [UpdateStatus; 12] = [
        UpdateStatus::Open,
        UpdateStatus::Closed,
        UpdateStatus::Fixed,
        UpdateStatus::InProgress,
        UpdateStatus::ActionScheduled,
        UpdateStatus::Investigating,
        UpdateStatus::Duplicate,
        UpdateStatus::NotCouncilsResponsibility,
        UpdateStatus::NoFurtherAction,
        UpdateStatus::InternalReferral,
        UpdateStatus::Reopen,
        UpdateStatus::ForTriage,
    ];

    /// The lower-case wire spelling (`action_scheduled`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Open => "open",
            UpdateStatus::Closed => "closed",
            UpdateStatus::Fixed => "fixed",
            UpdateStatus::InProgress => "in_progress",
            UpdateStatus::ActionScheduled => "action_scheduled",
            UpdateStatus::Investigating => "investigating",
            UpdateStatus::Duplicate => "duplicate",
            UpdateStatus::NotCouncilsResponsibility => "not_councils_responsibility",
            UpdateStatus::NoFurtherAction => "no_further_action",
            UpdateStatus::InternalReferral => "internal_referral",
            UpdateStatus::Reopen => "reopen",
            UpdateStatus::ForTriage => "for_triage",
        }
    }

    /// Parses a state, ASCII case-insensitively (`FIXED`, `fixed`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|u| u.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether a request in this state is still open, as FixMyStreet reads
    /// it: `fixed`, `closed`, `duplicate`, `not_councils_responsibility`,
    /// `no_further_action` and `internal_referral` close a request.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(
            self,
            UpdateStatus::Open
                | UpdateStatus::InProgress
                | UpdateStatus::ActionScheduled
                | UpdateStatus::Investigating
                | UpdateStatus::Reopen
                | UpdateStatus::ForTriage
        )
    }
}

macro_rules! document {
    ($t:ty) => {
        impl Document for $t {
            fn render(&self, format: Format) -> String {
                self.root().render(format)
            }
        }
    };
}

/// Service discovery (`discovery.{format}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// When this document last changed.
    pub changeset: OffsetDateTime,
    /// How to reach the people who run the API.
    pub contact: String,
    /// How to obtain an API key.
    pub key_service: String,
    pub endpoints: Vec<Endpoint>,
}

/// One API endpoint announced by [`Discovery`].
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Usually [`GEOREPORT_V2_SPECIFICATION`].
    pub specification: String,
    /// Base URL of the endpoint (`https://…/open311/v2`).
    pub url: String,
    pub changeset: OffsetDateTime,
    pub endpoint_type: EndpointType,
    pub formats: Vec<Format>,
}

impl Discovery {
    fn root(&self) -> Root<'_> {
        let endpoints = self
            .endpoints
            .iter()
            .map(|e| {
                Node::Object(vec![
                    ("specification", Node::text(&e.specification)),
                    ("url", Node::text(&e.url)),
                    ("changeset", Node::datetime(e.changeset)),
                    ("type", Node::text(e.endpoint_type.as_str())),
                    (
                        "formats",
                        Node::List(
                            "format",
                            e.formats
                                .iter()
                                .map(|f| Node::text(f.media_type()))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        Root {
            name: "discovery",
            node: Node::Object(vec![
                ("changeset", Node::datetime(self.changeset)),
                ("contact", Node::text(&self.contact)),
                ("key_service", Node::text(&self.key_service)),
                ("endpoints", Node::List("endpoint", endpoints)),
            ]),
        }
    }
}
document!(Discovery);

/// One service (a request type) of `services.{format}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: Option<String>,
    /// Whether the service has attributes (a [`ServiceDefinition`]).
    pub metadata: bool,
    pub service_type: ServiceType,
    /// Written comma-separated; a keyword must not contain a comma.
    pub keywords: Vec<String>,
    pub group: Option<String>,
}

impl Service {
    fn node(&self) -> Node<'_> {
        let keywords = if self.keywords.is_empty() {
            Node::Null
        } else {
            Node::Text(self.keywords.join(", ").into())
        };
        Node::Object(vec![
            ("service_code", Node::text(&self.service_code)),
            ("service_name", Node::text(&self.service_name)),
            ("description", Node::opt_text(self.description.as_deref())),
            ("metadata", Node::Bool(self.metadata)),
            ("type", Node::text(self.service_type.as_str())),
            ("keywords", keywords),
            ("group", Node::opt_text(self.group.as_deref())),
        ])
    }
}

/// The service list (`services.{format}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Services(pub Vec<Service>);

impl Services {
    fn root(&self) -> Root<'_> {
        Root {
            name: "services",
            node: Node::List("service", self.0.iter().map(Service::node).collect()),
        }
    }
}
document!(Services);

/// A service's attributes (`services/{service_code}.{format}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDefinition {
    pub service_code: String,
    pub attributes: Vec<Attribute>,
}

/// One attribute of a [`ServiceDefinition`]: a form field a client shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// `false` when the attribute only informs the user and takes no input.
    pub variable: bool,
    pub code: String,
    pub datatype: Datatype,
    pub required: bool,
    pub datatype_description: Option<String>,
    /// Display order, 1 first.
    pub order: u32,
    pub description: Option<String>,
    /// The choices of a `singlevaluelist` / `multivaluelist`.
    pub values: Vec<ListValue>,
}

/// One choice of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListValue {
    pub key: String,
    pub name: String,
}

impl ServiceDefinition {
    /// The attribute with this code.
    #[must_use]
    pub fn attribute(&self, code: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.code == code)
    }

    fn root(&self) -> Root<'_> {
        let attributes = self
            .attributes
            .iter()
            .map(|a| {
                let mut fields = vec![
                    ("variable", Node::Bool(a.variable)),
                    ("code", Node::text(&a.code)),
                    ("datatype", Node::text(a.datatype.as_str())),
                    ("required", Node::Bool(a.required)),
                    (
                        "datatype_description",
                        Node::opt_text(a.datatype_description.as_deref()),
                    ),
                    ("order", Node::Int(i64::from(a.order))),
                    ("description", Node::opt_text(a.description.as_deref())),
                ];
                if matches!(
                    a.datatype,
                    Datatype::SingleValueList | Datatype::MultiValueList
                ) || !a.values.is_empty()
                {
                    let values = a
                        .values
                        .iter()
                        .map(|v| {
                            Node::Object(vec![
                                ("key", Node::text(&v.key)),
                                ("name", Node::text(&v.name)),
                            ])
                        })
                        .collect();
                    fields.push(("values", Node::List("value", values)));
                }
                Node::Object(fields)
            })
            .collect();
        Root {
            name: "service_definition",
            node: Node::Object(vec![
                ("service_code", Node::text(&self.service_code)),
                ("attributes", Node::List("attribute", attributes)),
            ]),
        }
    }
}
document!(ServiceDefinition);

/// One service request as `requests.{format}` and
/// `requests/{id}.{format}` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRequest {
    pub service_request_id: String,
    pub status: RequestStatus,
    /// Why the request is in its state, for people.
    pub status_notes: Option<String>,
    pub service_name: Option<String>,
    pub service_code: String,
    pub description: Option<String>,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested_datetime: OffsetDateTime,
    pub updated_datetime: Option<OffsetDateTime>,
    pub expected_datetime: Option<OffsetDateTime>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    /// Written as `lat` and `long`.
    pub location: Option<LonLat>,
    pub media_url: Option<String>,
    /// Written only when set (the client asked `extensions=true`).
    pub extensions: Option<RequestExtensions>,
}

/// civicmap's additions to a request, written after the standard fields when
/// a client asks `extensions=true` (the convention of Chicago's and Austin's
/// Open311 servers).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestExtensions {
    pub extended_attributes: ExtendedAttributes,
    /// The request's history, oldest first.
    pub notes: Vec<Note>,
}

/// The `extended_attributes` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtendedAttributes {
    /// The DansMaRue lifecycle state (`scheduled`, `under_watch`…), which
    /// Open311's `open`/`closed` cannot say.
    pub detailed_status: Status,
    pub kind: Kind,
    pub arrondissement: Option<DistrictRef>,
    /// The working-class district ("quartier populaire") the request lies
    /// in, if any.
    pub working_class_district: Option<DistrictRef>,
    /// The id of the request this one duplicates, if the city merged it.
    pub duplicate_of: Option<String>,
    /// How many residents supported ("+1") the request.
    pub supports: u32,
}

/// One entry of a request's history. No personal data: `author` names a
/// city service or role, never a resident.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub datetime: OffsetDateTime,
    /// The DansMaRue state the request entered, if the note is a change of
    /// state (written as its machine name, `scheduled`).
    pub status: Option<Status>,
    pub description: Option<String>,
    pub author: Option<String>,
}

fn district_node(d: Option<&DistrictRef>) -> Node<'_> {
    d.map_or(Node::Null, |d| {
        Node::Object(vec![
            ("id", Node::text(&d.id)),
            ("code", Node::text(&d.code)),
            ("name", Node::text(&d.name)),
        ])
    })
}

impl ServiceRequest {
    fn node(&self) -> Node<'_> {
        let mut fields = vec![
            ("service_request_id", Node::text(&self.service_request_id)),
            ("status", Node::text(self.status.as_str())),
            ("status_notes", Node::opt_text(self.status_notes.as_deref())),
            ("service_name", Node::opt_text(self.service_name.as_deref())),
            ("service_code", Node::text(&self.service_code)),
            ("description", Node::opt_text(self.description.as_deref())),
            (
                "agency_responsible",
                Node::opt_text(self.agency_responsible.as_deref()),
            ),
            (
                "service_notice",
                Node::opt_text(self.service_notice.as_deref()),
            ),
            (
                "requested_datetime",
                Node::datetime(self.requested_datetime),
            ),
            (
                "updated_datetime",
                Node::opt_datetime(self.updated_datetime),
            ),
            (
                "expected_datetime",
                Node::opt_datetime(self.expected_datetime),
            ),
            ("address", Node::opt_text(self.address.as_deref())),
            ("address_id", Node::opt_text(self.address_id.as_deref())),
            ("zipcode", Node::opt_text(self.zipcode.as_deref())),
            (
                "lat",
                self.location.map_or(Node::Null, |l| Node::Num(l.lat())),
            ),
            (
                "long",
                self.location.map_or(Node::Null, |l| Node::Num(l.lon())),
            ),
            ("media_url", Node::opt_text(self.media_url.as_deref())),
        ];
        if let Some(ext) = &self.extensions {
            let a = &ext.extended_attributes;
            fields.push((
                "extended_attributes",
                Node::Object(vec![
                    ("detailed_status", Node::text(a.detailed_status.as_str())),
                    ("kind", Node::text(a.kind.as_str())),
                    ("arrondissement", district_node(a.arrondissement.as_ref())),
                    (
                        "working_class_district",
                        district_node(a.working_class_district.as_ref()),
                    ),
                    ("duplicate_of", Node::opt_text(a.duplicate_of.as_deref())),
                    ("supports", Node::Int(i64::from(a.supports))),
                ]),
            ));
            let notes = ext
                .notes
                .iter()
                .map(|n| {
                    Node::Object(vec![
                        ("datetime", Node::datetime(n.datetime)),
                        ("status", Node::opt_text(n.status.map(Status::as_str))),
                        ("description", Node::opt_text(n.description.as_deref())),
                        ("author", Node::opt_text(n.author.as_deref())),
                    ])
                })
                .collect();
            fields.push(("notes", Node::List("note", notes)));
        }
        Node::Object(fields)
    }
}

/// A list of requests (`requests.{format}`; `requests/{id}.{format}` is a
/// list of one).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceRequests(pub Vec<ServiceRequest>);

impl ServiceRequests {
    fn root(&self) -> Root<'_> {
        Root {
            name: "service_requests",
            node: Node::List("request", self.0.iter().map(ServiceRequest::node).collect()),
        }
    }

    /// The opening of a `service_requests` document written piece by piece
    /// (bulk exports, never held whole): this, then
    /// [`ServiceRequest::render_item`] for each request, then
    /// [`ServiceRequests::render_end`]. For a non-empty list the pieces
    /// make exactly [`Document::render`] of the whole list; an empty one is
    /// `[]` in JSON, an empty `<service_requests>` element in XML.
    #[must_use]
    pub fn render_start(format: Format) -> String {
        match format {
            Format::Json => "[".to_owned(),
            Format::Xml => format!("{}<service_requests>", super::render::XML_DECLARATION),
        }
    }

    /// The end of a document begun with [`ServiceRequests::render_start`].
    #[must_use]
    pub fn render_end(format: Format) -> &'static str {
        match format {
            Format::Json => "]",
            Format::Xml => "</service_requests>\n",
        }
    }
}

impl ServiceRequest {
    /// Appends this request as one item of a document begun with
    /// [`ServiceRequests::render_start`]; `first` says whether it is the
    /// first item (JSON items are separated by commas).
    pub fn render_item(&self, format: Format, first: bool, out: &mut String) {
        if format == Format::Json && !first {
            out.push(',');
        }
        super::render::write_item(out, format, "request", &self.node());
    }
}
document!(ServiceRequests);

/// What a created request is known by: its id (`realtime` services) or a
/// token to exchange for the id later (`batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    Id(String),
    Token(String),
}

/// The answer to `POST requests.{format}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRequest {
    pub receipt: Receipt,
    pub service_notice: Option<String>,
    pub account_id: Option<String>,
}

impl CreatedRequest {
    fn root(&self) -> Root<'_> {
        let mut fields = vec![match &self.receipt {
            Receipt::Id(id) => ("service_request_id", Node::text(id)),
            Receipt::Token(t) => ("token", Node::text(t)),
        }];
        if let Some(n) = &self.service_notice {
            fields.push(("service_notice", Node::text(n)));
        }
        if let Some(a) = &self.account_id {
            fields.push(("account_id", Node::text(a)));
        }
        Root {
            name: "service_requests",
            node: Node::List("request", vec![Node::Object(fields)]),
        }
    }
}
document!(CreatedRequest);

/// The answer to `GET tokens/{token}.{format}`: the request id once the
/// request behind the token exists, `None` before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAnswer {
    pub token: String,
    pub service_request_id: Option<String>,
}

impl TokenAnswer {
    fn root(&self) -> Root<'_> {
        let mut fields = Vec::with_capacity(2);
        if let Some(id) = &self.service_request_id {
            fields.push(("service_request_id", Node::text(id)));
        }
        fields.push(("token", Node::text(&self.token)));
        Root {
            name: "service_requests",
            node: Node::List("request", vec![Node::Object(fields)]),
        }
    }
}
document!(TokenAnswer);

/// One Open311 error: an HTTP-like code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorItem {
    pub code: u16,
    pub description: String,
}

/// An error body (`<errors><error>…`), sent with the HTTP status of its
/// first code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors(pub Vec<ErrorItem>);

impl Errors {
    /// A body with a single error.
    #[must_use]
    pub fn one(code: u16, description: impl Into<String>) -> Self {
        Errors(vec![ErrorItem {
            code,
            description: description.into(),
        }])
    }

    /// The HTTP status to send: the first error's code, 500 if none.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.0.first().map_or(500, |e| e.code)
    }

    fn root(&self) -> Root<'_> {
        Root {
            name: "errors",
            node: Node::List(
                "error",
                self.0
                    .iter()
                    .map(|e| {
                        Node::Object(vec![
                            ("code", Node::Int(i64::from(e.code))),
                            ("description", Node::text(&e.description)),
                        ])
                    })
                    .collect(),
            ),
        }
    }
}
document!(Errors);

/// One update of a request (mySociety's `GET servicerequestupdates`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestUpdate {
    pub update_id: String,
    pub service_request_id: String,
    pub status: UpdateStatus,
    pub updated_datetime: OffsetDateTime,
    /// The public text of the update; may be empty.
    pub description: String,
    pub media_url: Option<String>,
    /// The backend's own state name (here the DansMaRue state).
    pub external_status_code: Option<String>,
}

/// The update list (`servicerequestupdates.{format}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestUpdates(pub Vec<RequestUpdate>);

impl RequestUpdates {
    fn root(&self) -> Root<'_> {
        let updates = self
            .0
            .iter()
            .map(|u| {
                let mut fields = vec![
                    ("update_id", Node::text(&u.update_id)),
                    ("service_request_id", Node::text(&u.service_request_id)),
                    ("status", Node::text(u.status.as_str())),
                    ("updated_datetime", Node::datetime(u.updated_datetime)),
                    ("description", Node::text(&u.description)),
                    (
                        "media_url",
                        Node::text(u.media_url.as_deref().unwrap_or("")),
                    ),
                ];
                if let Some(code) = &u.external_status_code {
                    fields.push(("external_status_code", Node::text(code)));
                }
                Node::Object(fields)
            })
            .collect();
        Root {
            name: "service_request_updates",
            node: Node::List("request_update", updates),
        }
    }
}
document!(RequestUpdates);

/// The answer to `POST servicerequestupdates.{format}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedUpdate {
    pub update_id: String,
    pub account_id: Option<String>,
}

impl PostedUpdate {
    fn root(&self) -> Root<'_> {
        let mut fields = vec![("update_id", Node::text(&self.update_id))];
        if let Some(a) = &self.account_id {
            fields.push(("account_id", Node::text(a)));
        }
        Root {
            name: "service_request_updates",
            node: Node::List("request_update", vec![Node::Object(fields)]),
        }
    }
}
document!(PostedUpdate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_states_parse_in_either_case_and_say_whether_they_close() {
        for u in UpdateStatus::ALL {
            assert_eq!(UpdateStatus::parse(u.as_str()), Some(u));
            assert_eq!(
                UpdateStatus::parse(&u.as_str().to_ascii_uppercase()),
                Some(u)
            );
        }
        assert_eq!(UpdateStatus::parse("resolved"), None);
        assert!(UpdateStatus::ActionScheduled.is_open());
        assert!(!UpdateStatus::InternalReferral.is_open());
    }

    #[test]
    fn an_error_body_takes_the_http_status_of_its_first_error() {
        assert_eq!(Errors::one(403, "invalid api_key").status(), 403);
        assert_eq!(Errors(vec![]).status(), 500);
    }
}
