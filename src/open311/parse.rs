//! Reading Open311 input: the form-encoded bodies of the POSTs and the query
//! strings of the GETs, into checked, typed structs.
//!
//! Every function takes the raw bytes (`application/x-www-form-urlencoded`,
//! which is also the syntax of a query string) and either returns a struct
//! whose every field is valid, or an [`Open311Error`] naming the field.
//!
//! Rules common to every input:
//! - a scalar key given twice is refused ([`Open311Error::Duplicate`]); the
//!   only repeatable keys are `attribute[code][]` and, on updates,
//!   `media_url` (mySociety sends one per photo);
//! - a value is trimmed, and an empty value counts as absent;
//! - keys this module does not know are ignored (clients such as
//!   FixMyStreet send extra ones), so nothing a client sends can set a field
//!   it does not name;
//! - text is bounded in characters and refused if it holds control
//!   characters other than tab and newlines.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Duration, OffsetDateTime};

use super::response::{RequestStatus, UpdateStatus};
use crate::model::{
    Contact, CoordError, Envelope, LonLat, MAX_ADDRESS_CHARS, MAX_DESCRIPTION_CHARS,
    validate_contact,
};

/// Most requests a GET returns at once, and the largest `page_size`: the
/// spec's "first 1000 requests".
pub const MAX_RESULTS: u32 = 1_000;
/// The default span of a date window, and the longest one a client may ask
/// for: the spec's "90 days".
pub const WINDOW_DAYS: i64 = 90;
/// Highest page number accepted (so that `page * page_size` stays small).
pub const MAX_PAGE: u32 = 1_000_000;
/// Most key/value pairs read from one form or query string.
pub const MAX_FORM_FIELDS: usize = 256;
/// Longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 128;
/// Longest identifier (ids, codes, tokens, keys), in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest `media_url`, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest name or title, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest attribute value, in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 1_000;
/// Most values of one `multivaluelist` attribute.
pub const MAX_ATTRIBUTE_VALUES: usize = 100;
/// Most `media_url` values on one update.
pub const MAX_MEDIA_URLS: usize = 10;
/// How much of a refused value an error message repeats, in characters.
const SHOWN_CHARS: usize = 64;
/// Fields whose refused value an error message never repeats.
const UNREPEATED_FIELDS: [&str; 6] = [
    "api_key",
    "email",
    "phone",
    "first_name",
    "last_name",
    "device_id",
];

/// Why an Open311 input was refused. Every variant names the field; all of
/// them are client errors, sent as HTTP 400 with the body
/// [`Open311Error::to_errors`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Open311Error {
    #[error("{field} is required")]
    Missing { field: String },
    #[error("{field} is given more than once")]
    Duplicate { field: String },
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        field: String,
        /// The refused value, cut to 64 characters.
        value: String,
        reason: String,
    },
    #[error("a location is required: lat and long, address_string or address_id")]
    NoLocation,
    #[error("too many fields: at most {max}")]
    TooManyFields { max: usize },
}

impl Open311Error {
    /// The HTTP status for every variant: 400.
    pub const CODE: u16 = 400;

    /// The field at fault, if a single one is.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            Open311Error::Missing { field }
            | Open311Error::Duplicate { field }
            | Open311Error::Invalid { field, .. } => Some(field),
            Open311Error::NoLocation | Open311Error::TooManyFields { .. } => None,
        }
    }

    /// The Open311 error body, `[{code: 400, description}]`.
    #[must_use]
    pub fn to_errors(&self) -> super::Errors {
        super::Errors::one(Self::CODE, self.to_string())
    }

    /// An [`Open311Error::Invalid`]; the value of a secret or personal
    /// field is not repeated (error messages may reach logs).
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        let field = field.into();
        let value = if UNREPEATED_FIELDS.contains(&field.as_str()) {
            "<redacted>".to_owned()
        } else {
            value.chars().take(SHOWN_CHARS).collect()
        };
        Open311Error::Invalid {
            field,
            value,
            reason: reason.into(),
        }
    }
}

/// An API key as sent by a client. Its `Debug` is redacted; compare it with
/// [`ApiKey::matches`], which takes the same time wherever the keys differ.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The raw key.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this key is `expected`, in time that depends only on the
    /// lengths.
    #[must_use]
    pub fn matches(&self, expected: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), expected.as_bytes());
        let mut diff = u8::from(a.len() != b.len());
        for i in 0..a.len().max(b.len()) {
            diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
        }
        diff == 0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Who sent a request or an update: personal data, for the store alone.
/// Its `Debug` says only which fields are present.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Reporter {
    pub email: Option<Contact>,
    pub phone: Option<Contact>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |present: bool| if present { "<redacted>" } else { "None" };
        f.debug_struct("Reporter")
            .field("email", &shown(self.email.is_some()))
            .field("phone", &shown(self.phone.is_some()))
            .field("first_name", &shown(self.first_name.is_some()))
            .field("last_name", &shown(self.last_name.is_some()))
            .field("device_id", &shown(self.device_id.is_some()))
            .field("account_id", &self.account_id)
            .finish()
    }
}

/// Where a new request is: at least one of the three is present.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// From `lat` and `long` (both or neither).
    pub point: Option<LonLat>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
}

/// The answer given for one attribute of a service definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeAnswer {
    /// `attribute[code]=value`
    One(String),
    /// `attribute[code][]=v1&attribute[code][]=v2` (a `multivaluelist`).
    Many(Vec<String>),
}

impl AttributeAnswer {
    /// The value(s), one or many.
    #[must_use]
    pub fn values(&self) -> &[String] {
        match self {
            AttributeAnswer::One(v) => std::slice::from_ref(v),
            AttributeAnswer::Many(vs) => vs,
        }
    }
}

/// `POST requests.{format}`: a new service request.
#[derive(Debug, Clone, PartialEq)]
pub struct PostRequest {
    pub jurisdiction_id: Option<String>,
    pub api_key: ApiKey,
    pub service_code: String,
    pub location: Location,
    pub description: Option<String>,
    pub media_url: Option<String>,
    pub reporter: Reporter,
    /// By attribute code; check them with [`super::check_attributes`].
    pub attributes: BTreeMap<String, AttributeAnswer>,
}

/// An inclusive time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl Window {
    /// Whether `t` lies in the window, ends included.
    #[must_use]
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.start <= t && t <= self.end
    }
}

/// What a `GET requests.{format}` selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// `service_request_id=1,2,3`: these requests, whatever the other
    /// arguments say (the spec: it "overrides all other arguments").
    Ids(Vec<String>),
    Filter(RequestFilter),
}

/// The filters of `GET requests.{format}`; every present one must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFilter {
    /// Any of these services; empty means all.
    pub service_codes: Vec<String>,
    /// `requested_datetime` window: from `start_date`/`end_date`, else the
    /// last 90 days, except that a query by update time alone (below) has
    /// none.
    pub requested: Option<Window>,
    /// `None` means both states.
    pub status: Option<RequestStatus>,
    /// Extension: `updated_datetime >= updated_after`.
    pub updated_after: Option<OffsetDateTime>,
    /// Extension: `updated_datetime <= updated_before`.
    pub updated_before: Option<OffsetDateTime>,
    /// Extension: `lat_ne,long_ne,lat_sw,long_sw`, edges included. No box
    /// crosses the antimeridian.
    pub bbox: Option<Envelope>,
}

/// `GET requests.{format}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestsQuery {
    pub jurisdiction_id: Option<String>,
    pub selection: Selection,
    /// Extension: 1-based page number (default 1).
    pub page: u32,
    /// Extension: results per page, 1..=1000 (default 1000).
    pub page_size: u32,
    /// Extension: write `extended_attributes` and `notes`.
    pub extensions: bool,
}

impl RequestsQuery {
    /// How many results the page skips.
    #[must_use]
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.page_size)
    }
}

/// The options of `GET requests/{id}.{format}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    pub jurisdiction_id: Option<String>,
    pub extensions: bool,
}

/// `GET servicerequestupdates.{format}` (mySociety).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatesQuery {
    pub jurisdiction_id: Option<String>,
    /// `updated_datetime` window, the last 90 days by default.
    pub window: Window,
    pub page: u32,
    pub page_size: u32,
}

impl UpdatesQuery {
    /// How many results the page skips.
    #[must_use]
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.page_size)
    }
}

/// `POST servicerequestupdates.{format}` (mySociety): a status change or
/// comment on an existing request, as FixMyStreet sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostUpdate {
    pub jurisdiction_id: Option<String>,
    pub api_key: ApiKey,
    pub service_request_id: String,
    /// The sender's id for this update (`update_id`, or FixMyStreet's
    /// `update_id_ext`), to make retries idempotent.
    pub update_id: Option<String>,
    pub status: UpdateStatus,
    pub updated_datetime: OffsetDateTime,
    /// The text of the update; present, possibly empty.
    pub description: String,
    pub media_urls: Vec<String>,
    pub reporter: Reporter,
    pub title: Option<String>,
    pub public_anonymity_required: bool,
    pub email_alerts_requested: Option<bool>,
    pub service_code: Option<String>,
}

/// The decoded pairs of a form, scalars and lists apart.
struct Fields {
    scalars: HashMap<String, String>,
    lists: HashMap<String, Vec<String>>,
}

impl Fields {
    fn parse(form: &[u8], repeatable: &[&str]) -> Result<Self, Open311Error> {
        let mut scalars: HashMap<String, String> = HashMap::new();
        let mut lists: HashMap<String, Vec<String>> = HashMap::new();
        for (n, (k, v)) in form_urlencoded::parse(form).enumerate() {
            if n >= MAX_FORM_FIELDS {
                return Err(Open311Error::TooManyFields {
                    max: MAX_FORM_FIELDS,
                });
            }
            if k.chars().count() > MAX_KEY_CHARS {
                return Err(Open311Error::invalid(
                    "field name",
                    &k,
                    format!("longer than {MAX_KEY_CHARS} characters"),
                ));
            }
            if let Some(base) = k.strip_suffix("[]") {
                lists
                    .entry(base.to_owned())
                    .or_default()
                    .push(v.into_owned());
            } else if repeatable.contains(&&*k) {
                lists
                    .entry(k.into_owned())
                    .or_default()
                    .push(v.into_owned());
            } else if scalars.contains_key(&*k) {
                return Err(Open311Error::Duplicate {
                    field: k.into_owned(),
                });
            } else {
                scalars.insert(k.into_owned(), v.into_owned());
            }
        }
        if let Some(k) = lists.keys().find(|k| scalars.contains_key(*k)) {
            return Err(Open311Error::Duplicate { field: k.clone() });
        }
        Ok(Fields { scalars, lists })
    }

    /// The trimmed value of `field`; empty counts as absent.
    fn take(&mut self, field: &str) -> Option<String> {
        let v = self.scalars.remove(field)?;
        let t = v.trim();
        if t.is_empty() {
            None
        } else if t.len() == v.len() {
            Some(v)
        } else {
            Some(t.to_owned())
        }
    }

    /// `field`, or its alias; both at once is a duplicate.
    fn take_either(&mut self, field: &str, alias: &str) -> Result<Option<String>, Open311Error> {
        match (self.take(field), self.take(alias)) {
            (Some(_), Some(_)) => Err(Open311Error::Duplicate {
                field: field.to_owned(),
            }),
            (a, b) => Ok(a.or(b)),
        }
    }

    fn require(&mut self, field: &'static str) -> Result<String, Open311Error> {
        self.take(field).ok_or_else(|| Open311Error::Missing {
            field: field.to_owned(),
        })
    }

    fn text(&mut self, field: &'static str, max: usize) -> Result<Option<String>, Open311Error> {
        self.take(field)
            .map(|v| check_text(field, v, max))
            .transpose()
    }

    fn id(&mut self, field: &'static str) -> Result<Option<String>, Open311Error> {
        self.text(field, MAX_ID_CHARS)
    }

    fn required_id(&mut self, field: &'static str) -> Result<String, Open311Error> {
        check_text(field, self.require(field)?, MAX_ID_CHARS)
    }

    fn api_key(&mut self) -> Result<ApiKey, Open311Error> {
        self.required_id("api_key").map(ApiKey)
    }

    fn datetime(&mut self, field: &'static str) -> Result<Option<OffsetDateTime>, Open311Error> {
        self.take(field)
            .map(|v| {
                parse_w3c_datetime(&v).ok_or_else(|| {
                    Open311Error::invalid(
                        field,
                        &v,
                        "expected a W3C date-time with a time zone, e.g. 2024-05-01T00:00:00Z",
                    )
                })
            })
            .transpose()
    }

    fn boolean(&mut self, field: &'static str) -> Result<Option<bool>, Open311Error> {
        self.take(field)
            .map(|v| {
                if v.eq_ignore_ascii_case("true") {
                    Ok(true)
                } else if v.eq_ignore_ascii_case("false") {
                    Ok(false)
                } else {
                    Err(Open311Error::invalid(field, &v, "expected true or false"))
                }
            })
            .transpose()
    }

    fn number(&mut self, field: &'static str) -> Result<Option<f64>, Open311Error> {
        self.take(field)
            .map(|v| parse_number(field, &v))
            .transpose()
    }

    fn bounded_u32(
        &mut self,
        field: &'static str,
        default: u32,
        max: u32,
    ) -> Result<u32, Open311Error> {
        let Some(v) = self.take(field) else {
            return Ok(default);
        };
        match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Open311Error::invalid(
                field,
                &v,
                format!("expected a whole number from 1 to {max}"),
            )),
        }
    }

    fn email(&mut self) -> Result<Option<Contact>, Open311Error> {
        self.take("email")
            .map(|v| match validate_contact(&v) {
                Ok(c) if v.contains('@') => Ok(c),
                _ => Err(Open311Error::invalid("email", &v, "not an e-mail address")),
            })
            .transpose()
    }

    fn phone(&mut self) -> Result<Option<Contact>, Open311Error> {
        self.take("phone")
            .map(|v| match validate_contact(&v) {
                Ok(c) if !v.contains('@') => Ok(c),
                _ => Err(Open311Error::invalid("phone", &v, "not a phone number")),
            })
            .transpose()
    }

    fn media_url(&mut self) -> Result<Option<String>, Open311Error> {
        self.take("media_url").map(check_url).transpose()
    }

    /// `attribute[code]` and `attribute[code][]`, by code; empty answers
    /// are dropped.
    fn attributes(&mut self) -> Result<BTreeMap<String, AttributeAnswer>, Open311Error> {
        let mut out = BTreeMap::new();
        if self.lists.contains_key("attribute") {
            return Err(Open311Error::invalid(
                "attribute[]",
                "attribute[]",
                "expected attribute[code] or attribute[code][]",
            ));
        }
        let scalar_keys: Vec<String> = self
            .scalars
            .keys()
            .filter(|k| k.starts_with("attribute["))
            .cloned()
            .collect();
        for key in scalar_keys {
            let code = attribute_code(&key)?;
            if let Some(v) = self.take(&key) {
                let v = check_text(&key, v, MAX_ATTRIBUTE_CHARS)?;
                out.insert(code, AttributeAnswer::One(v));
            }
        }
        let list_keys: Vec<String> = self
            .lists
            .keys()
            .filter(|k| k.starts_with("attribute["))
            .cloned()
            .collect();
        for key in list_keys {
            let code = attribute_code(&key)?;
            let values = self.lists.remove(&key).unwrap_or_default();
            if values.len() > MAX_ATTRIBUTE_VALUES {
                return Err(Open311Error::invalid(
                    format!("{key}[]"),
                    "",
                    format!("more than {MAX_ATTRIBUTE_VALUES} values"),
                ));
            }
            let mut kept = Vec::with_capacity(values.len());
            for v in values {
                let v = v.trim();
                if !v.is_empty() {
                    kept.push(check_text(&key, v.to_owned(), MAX_ATTRIBUTE_CHARS)?);
                }
            }
            if !kept.is_empty() {
                out.insert(code, AttributeAnswer::Many(kept));
            }
        }
        Ok(out)
    }

    fn reporter(&mut self) -> Result<Reporter, Open311Error> {
        Ok(Reporter {
            email: self.email()?,
            phone: self.phone()?,
            first_name: self.text("first_name", MAX_NAME_CHARS)?,
            last_name: self.text("last_name", MAX_NAME_CHARS)?,
            device_id: self.id("device_id")?,
            account_id: self.id("account_id")?,
        })
    }

    fn page(&mut self) -> Result<(u32, u32), Open311Error> {
        Ok((
            self.bounded_u32("page", 1, MAX_PAGE)?,
            self.bounded_u32("page_size", MAX_RESULTS, MAX_RESULTS)?,
        ))
    }
}

fn check_text(field: &str, v: String, max: usize) -> Result<String, Open311Error> {
    let chars = v.chars().count();
    if chars > max {
        return Err(Open311Error::invalid(
            field,
            &v,
            format!("{chars} characters, at most {max}"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(Open311Error::invalid(
            field,
            &v,
            "contains control characters",
        ));
    }
    Ok(v)
}

fn check_url(v: String) -> Result<String, Open311Error> {
    let lower = v.get(..8).unwrap_or(&v).to_ascii_lowercase();
    let ok_scheme = lower.starts_with("https://") || lower.starts_with("http://");
    if !ok_scheme || v.len() <= "https://".len() {
        return Err(Open311Error::invalid(
            "media_url",
            &v,
            "expected an http or https URL",
        ));
    }
    if v.chars().count() > MAX_URL_CHARS {
        return Err(Open311Error::invalid(
            "media_url",
            &v,
            format!("longer than {MAX_URL_CHARS} characters"),
        ));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Open311Error::invalid(
            "media_url",
            &v,
            "contains spaces or control characters",
        ));
    }
    Ok(v)
}

/// The `code` of `attribute[code]`.
fn attribute_code(key: &str) -> Result<String, Open311Error> {
    let code = key
        .strip_prefix("attribute[")
        .and_then(|k| k.strip_suffix(']'))
        .filter(|c| {
            !c.is_empty()
                && c.len() <= MAX_ID_CHARS
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        });
    code.map(str::to_owned).ok_or_else(|| {
        Open311Error::invalid(
            key,
            key,
            "expected attribute[code] with a code of letters, digits, _ - .",
        )
    })
}

fn parse_number(field: &str, v: &str) -> Result<f64, Open311Error> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err(Open311Error::invalid(field, v, "not a finite number")),
        Err(_) => Err(Open311Error::invalid(field, v, "not a number")),
    }
}

/// Parses a W3C / ISO 8601 date-time that carries a time zone
/// (`2024-05-01T08:15:30Z`, `2024-05-01T10:15:30+02:00`, fractions of a
/// second allowed). A `+` of the offset that reached us as a space (an
/// unescaped `+` in a query string) is read as `+`.
///
/// ```
/// use civicmap::open311::parse_w3c_datetime;
/// assert!(parse_w3c_datetime("2024-05-01T10:15:30+02:00").is_some());
/// assert!(parse_w3c_datetime("2024-05-01T10:15:30 02:00").is_some());
/// assert!(parse_w3c_datetime("2024-05-01T10:15:30").is_none());
/// assert!(parse_w3c_datetime("2024-05-01").is_none());
/// ```
#[must_use]
pub fn parse_w3c_datetime(s: &str) -> Option<OffsetDateTime> {
    let parse = |s: &str| {
        OffsetDateTime::parse(s, &Rfc3339)
            .or_else(|_| OffsetDateTime::parse(s, &Iso8601::PARSING))
            .ok()
    };
    parse(s).or_else(|| {
        // "…T10:15:30 02:00": the offset's sign was a '+' decoded as space.
        let cut = s.len().checked_sub(6)?;
        let (head, tail) = (s.get(..cut)?, s.get(cut..)?);
        let rest = tail.strip_prefix(' ')?;
        parse(&format!("{head}+{rest}"))
    })
}

/// The `requested_datetime` window from `start_date` / `end_date`.
fn window(
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<Window, Open311Error> {
    let span = Duration::days(WINDOW_DAYS);
    // A date near the end (or start) of the years `time` supports has no
    // 90-day window after (before) it: refused, not an overflow panic.
    let beyond = |field: &str, t: OffsetDateTime| {
        Open311Error::invalid(
            field,
            &super::w3c_datetime(t),
            format!("a {WINDOW_DAYS}-day window from it leaves the years 9999 BC to 9999 AD"),
        )
    };
    let w = match (start, end) {
        (None, None) => Window {
            start: now
                .checked_sub(span)
                .ok_or_else(|| beyond("start_date", now))?,
            end: now,
        },
        (Some(start), None) => Window {
            start,
            end: start
                .checked_add(span)
                .ok_or_else(|| beyond("start_date", start))?,
        },
        (None, Some(end)) => Window {
            start: end
                .checked_sub(span)
                .ok_or_else(|| beyond("end_date", end))?,
            end,
        },
        (Some(start), Some(end)) => Window { start, end },
    };
    if w.end < w.start {
        return Err(Open311Error::invalid(
            "end_date",
            &super::w3c_datetime(w.end),
            "before start_date",
        ));
    }
    if w.end - w.start > span {
        return Err(Open311Error::invalid(
            "end_date",
            &super::w3c_datetime(w.end),
            format!("the window may not span more than {WINDOW_DAYS} days"),
        ));
    }
    Ok(w)
}

/// Parses the body of `POST requests.{format}`.
///
/// Required: `api_key`, `service_code`, and a location (`lat` with `long`,
/// or `address_string`, or `address_id`). `lon` is read as `long`.
///
/// # Errors
/// [`Open311Error`] naming the first field at fault.
///
/// ```
/// use civicmap::open311::parse_post_request;
/// let r = parse_post_request(b"api_key=k&service_code=proprete&lat=48.85&long=2.35").unwrap();
/// assert_eq!(r.service_code, "proprete");
/// assert!(parse_post_request(b"api_key=k&service_code=proprete").is_err());
/// ```
pub fn parse_post_request(form: &[u8]) -> Result<PostRequest, Open311Error> {
    let mut f = Fields::parse(form, &[])?;
    let api_key = f.api_key()?;
    let service_code = f.required_id("service_code")?;
    let lat = f.number("lat")?;
    let lon = match f.take_either("long", "lon")? {
        Some(v) => Some(parse_number("long", &v)?),
        None => None,
    };
    let point = match (lat, lon) {
        (Some(lat), Some(lon)) => Some(LonLat::new(lon, lat).map_err(|e| {
            let (field, value) = match e {
                CoordError::Longitude { value, .. } => ("long", value),
                CoordError::Latitude { value, .. } => ("lat", value),
                CoordError::Envelope { .. } => ("lat", lat),
            };
            Open311Error::invalid(field, &value.to_string(), e.to_string())
        })?),
        (Some(_), None) => {
            return Err(Open311Error::Missing {
                field: "long".into(),
            });
        }
        (None, Some(_)) => {
            return Err(Open311Error::Missing {
                field: "lat".into(),
            });
        }
        (None, None) => None,
    };
    let location = Location {
        point,
        address_string: f.text("address_string", MAX_ADDRESS_CHARS)?,
        address_id: f.id("address_id")?,
    };
    if location.point.is_none()
        && location.address_string.is_none()
        && location.address_id.is_none()
    {
        return Err(Open311Error::NoLocation);
    }
    Ok(PostRequest {
        jurisdiction_id: f.id("jurisdiction_id")?,
        api_key,
        service_code,
        location,
        description: f.text("description", MAX_DESCRIPTION_CHARS)?,
        media_url: f.media_url()?,
        reporter: f.reporter()?,
        attributes: f.attributes()?,
    })
}

/// Parses the query string of `GET requests.{format}`; `now` anchors the
/// default window.
///
/// Standard arguments: `service_request_id` (comma list; overrides the
/// others), `service_code` (comma list), `start_date`, `end_date` (at most
/// 90 days apart; the last 90 days by default), `status` (`open`, `closed`,
/// or both comma-separated). Extensions: `page`, `page_size` (1..=1000,
/// default 1000), `updated_after`, `updated_before`, the box `lat_ne`,
/// `long_ne`, `lat_sw`, `long_sw` (all four or none), `extensions=true`.
///
/// # Errors
/// [`Open311Error`] naming the first field at fault.
pub fn parse_requests_query(
    query: &[u8],
    now: OffsetDateTime,
) -> Result<RequestsQuery, Open311Error> {
    let mut f = Fields::parse(query, &[])?;
    let jurisdiction_id = f.id("jurisdiction_id")?;
    let ids = match f.take("service_request_id") {
        Some(v) => comma_list("service_request_id", &v, MAX_RESULTS as usize)?,
        None => Vec::new(),
    };
    let service_codes = match f.take("service_code") {
        Some(v) => comma_list("service_code", &v, MAX_RESULTS as usize)?,
        None => Vec::new(),
    };
    let start = f.datetime("start_date")?;
    let end = f.datetime("end_date")?;
    let status = match f.take("status") {
        Some(v) => statuses(&v)?,
        None => None,
    };
    let updated_after = f.datetime("updated_after")?;
    let updated_before = f.datetime("updated_before")?;
    if let (Some(a), Some(b)) = (updated_after, updated_before)
        && b < a
    {
        return Err(Open311Error::invalid(
            "updated_before",
            &super::w3c_datetime(b),
            "before updated_after",
        ));
    }
    let requested = if start.is_none()
        && end.is_none()
        && (updated_after.is_some() || updated_before.is_some())
    {
        None
    } else {
        Some(window(start, end, now)?)
    };
    let bbox = bbox(&mut f)?;
    let (page, page_size) = f.page()?;
    let extensions = f.boolean("extensions")?.unwrap_or(false);
    let selection = if ids.is_empty() {
        Selection::Filter(RequestFilter {
            service_codes,
            requested,
            status,
            updated_after,
            updated_before,
            bbox,
        })
    } else {
        Selection::Ids(ids)
    };
    Ok(RequestsQuery {
        jurisdiction_id,
        selection,
        page,
        page_size,
        extensions,
    })
}

/// Parses the query string of `GET requests/{id}.{format}`
/// (`jurisdiction_id`, `extensions`).
///
/// # Errors
/// [`Open311Error`] naming the field at fault.
pub fn parse_request_options(query: &[u8]) -> Result<RequestOptions, Open311Error> {
    let mut f = Fields::parse(query, &[])?;
    Ok(RequestOptions {
        jurisdiction_id: f.id("jurisdiction_id")?,
        extensions: f.boolean("extensions")?.unwrap_or(false),
    })
}

/// Parses the query string of `GET servicerequestupdates.{format}`
/// (`start_date`, `end_date` bound `updated_datetime` as for requests;
/// `page`, `page_size`).
///
/// # Errors
/// [`Open311Error`] naming the field at fault.
pub fn parse_updates_query(
    query: &[u8],
    now: OffsetDateTime,
) -> Result<UpdatesQuery, Open311Error> {
    let mut f = Fields::parse(query, &[])?;
    let jurisdiction_id = f.id("jurisdiction_id")?;
    let start = f.datetime("start_date")?;
    let end = f.datetime("end_date")?;
    let window = window(start, end, now)?;
    let (page, page_size) = f.page()?;
    Ok(UpdatesQuery {
        jurisdiction_id,
        window,
        page,
        page_size,
    })
}

/// Parses the body of `POST servicerequestupdates.{format}` (mySociety).
///
/// Required: `api_key`, `service_request_id`, `status` (one of
/// [`UpdateStatus`], any case), `updated_datetime`, and `description`
/// (which may be empty). `media_url` may be repeated.
///
/// # Errors
/// [`Open311Error`] naming the first field at fault.
pub fn parse_post_update(form: &[u8]) -> Result<PostUpdate, Open311Error> {
    let mut f = Fields::parse(form, &["media_url"])?;
    let api_key = f.api_key()?;
    let service_request_id = f.required_id("service_request_id")?;
    let update_id = match f.id("update_id")? {
        Some(id) => Some(id),
        None => f.id("update_id_ext")?,
    };
    let status_raw = f.require("status")?;
    let status = UpdateStatus::parse(&status_raw).ok_or_else(|| {
        Open311Error::invalid(
            "status",
            &status_raw,
            "expected one of OPEN CLOSED FIXED IN_PROGRESS ACTION_SCHEDULED INVESTIGATING \
             DUPLICATE NOT_COUNCILS_RESPONSIBILITY NO_FURTHER_ACTION INTERNAL_REFERRAL \
             REOPEN FOR_TRIAGE",
        )
    })?;
    let updated_datetime =
        f.datetime("updated_datetime")?
            .ok_or_else(|| Open311Error::Missing {
                field: "updated_datetime".into(),
            })?;
    // Present but possibly empty: `take` would read "" as absent.
    let description = match f.scalars.remove("description") {
        Some(d) => check_text("description", d.trim().to_owned(), MAX_DESCRIPTION_CHARS)?,
        None => {
            return Err(Open311Error::Missing {
                field: "description".into(),
            });
        }
    };
    let urls = f.lists.remove("media_url").unwrap_or_default();
    if urls.len() > MAX_MEDIA_URLS {
        return Err(Open311Error::invalid(
            "media_url",
            "",
            format!("more than {MAX_MEDIA_URLS} values"),
        ));
    }
    let media_urls = urls
        .into_iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .map(check_url)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PostUpdate {
        jurisdiction_id: f.id("jurisdiction_id")?,
        api_key,
        service_request_id,
        update_id,
        status,
        updated_datetime,
        description,
        media_urls,
        reporter: f.reporter()?,
        title: f.text("title", MAX_NAME_CHARS)?,
        public_anonymity_required: f.boolean("public_anonymity_required")?.unwrap_or(false),
        email_alerts_requested: f.boolean("email_alerts_requested")?,
        service_code: f.id("service_code")?,
    })
}

/// A comma-separated list of identifiers, trimmed, deduplicated in order.
fn comma_list(field: &'static str, v: &str, max: usize) -> Result<Vec<String>, Open311Error> {
    let mut out: Vec<String> = Vec::new();
    for item in v.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(Open311Error::invalid(field, v, "empty item in the list"));
        }
        let item = check_text(field, item.to_owned(), MAX_ID_CHARS)?;
        if !out.contains(&item) {
            out.push(item);
        }
        if out.len() > max {
            return Err(Open311Error::invalid(
                field,
                v,
                format!("more than {max} items"),
            ));
        }
    }
    Ok(out)
}

/// `open`, `closed`, or both (→ `None`, no filter).
fn statuses(v: &str) -> Result<Option<RequestStatus>, Open311Error> {
    let (mut open, mut closed) = (false, false);
    for item in v.split(',') {
        match RequestStatus::parse(item.trim()) {
            Some(RequestStatus::Open) => open = true,
            Some(RequestStatus::Closed) => closed = true,
            None => {
                return Err(Open311Error::invalid(
                    "status",
                    v,
                    "expected open, closed, or both comma-separated",
                ));
            }
        }
    }
    Ok(match (open, closed) {
        (true, false) => Some(RequestStatus::Open),
        (false, true) => Some(RequestStatus::Closed),
        _ => None,
    })
}

fn bbox(f: &mut Fields) -> Result<Option<Envelope>, Open311Error> {
    const KEYS: [&str; 4] = ["lat_ne", "long_ne", "lat_sw", "long_sw"];
    let mut v = [None; 4];
    for (slot, key) in v.iter_mut().zip(KEYS) {
        *slot = f.number(key)?;
    }
    if v.iter().all(Option::is_none) {
        return Ok(None);
    }
    let [Some(lat_ne), Some(long_ne), Some(lat_sw), Some(long_sw)] = v else {
        let missing = KEYS
            .iter()
            .zip(v)
            .find(|(_, x)| x.is_none())
            .map_or("lat_ne", |(k, _)| k);
        return Err(Open311Error::Missing {
            field: (*missing).to_owned(),
        });
    };
    for (key, value, max) in [
        ("lat_ne", lat_ne, 90.0),
        ("long_ne", long_ne, 180.0),
        ("lat_sw", lat_sw, 90.0),
        ("long_sw", long_sw, 180.0),
    ] {
        if !(-max..=max).contains(&value) {
            return Err(Open311Error::invalid(
                key,
                &value.to_string(),
                format!("outside -{max}..{max}"),
            ));
        }
    }
    Envelope::new(long_sw, lat_sw, long_ne, lat_ne)
        .map(Some)
        .map_err(|e| {
            Open311Error::invalid(
                "lat_ne,long_ne,lat_sw,long_sw",
                &format!("{lat_ne},{long_ne},{lat_sw},{long_sw}"),
                format!("{e}: the north-east corner must be north and east of the south-west one"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2024-06-01 12:00 UTC);

    fn post(form: &str) -> Result<PostRequest, Open311Error> {
        parse_post_request(form.as_bytes())
    }

    fn query(q: &str) -> Result<RequestsQuery, Open311Error> {
        parse_requests_query(q.as_bytes(), NOW)
    }

    fn update(form: &str) -> Result<PostUpdate, Open311Error> {
        parse_post_update(form.as_bytes())
    }

    fn field_of<T: fmt::Debug>(r: Result<T, Open311Error>) -> String {
        let e = r.expect_err("refused");
        e.field().unwrap_or("").to_owned()
    }

    const GOOD: &str = "api_key=secret&service_code=proprete&lat=48.8566&long=2.3522";

    #[test]
    fn a_complete_post_is_read_into_typed_fields() {
        let r = post(
            "jurisdiction_id=paris.fr&api_key=secret&service_code=proprete&lat=48.8566&long=2.3522\
             &address_string=1+place+de+l%27H%C3%B4tel+de+Ville&email=jeanne%40example.org\
             &phone=%2B33+6+12+34+56+78&first_name=Jeanne&last_name=Dupont&device_id=abc\
             &account_id=42&description=Sacs+%3C%C3%A9ventr%C3%A9s%3E+%26+cartons\
             &media_url=https%3A%2F%2Fexample.org%2Fa.jpg\
             &attribute%5Bsubcategory%5D=megots&attribute%5Btags%5D%5B%5D=a&attribute%5Btags%5D%5B%5D=b\
             &title_unknown_to_us=ignored",
        )
        .unwrap();
        assert_eq!(r.jurisdiction_id.as_deref(), Some("paris.fr"));
        assert!(r.api_key.matches("secret"));
        assert_eq!(r.service_code, "proprete");
        let p = r.location.point.unwrap();
        assert_eq!((p.lat(), p.lon()), (48.8566, 2.3522));
        assert_eq!(
            r.location.address_string.as_deref(),
            Some("1 place de l'Hôtel de Ville")
        );
        assert_eq!(r.reporter.email.unwrap().expose(), "jeanne@example.org");
        assert_eq!(r.reporter.phone.unwrap().expose(), "+33 6 12 34 56 78");
        assert_eq!(r.reporter.first_name.as_deref(), Some("Jeanne"));
        assert_eq!(r.reporter.account_id.as_deref(), Some("42"));
        assert_eq!(r.description.as_deref(), Some("Sacs <éventrés> & cartons"));
        assert_eq!(r.media_url.as_deref(), Some("https://example.org/a.jpg"));
        assert_eq!(
            r.attributes.get("subcategory"),
            Some(&AttributeAnswer::One("megots".into()))
        );
        assert_eq!(
            r.attributes.get("tags"),
            Some(&AttributeAnswer::Many(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn a_post_located_by_address_alone_is_accepted_and_lon_is_read_as_long() {
        let r = post("api_key=k&service_code=eau&address_string=3+rue+de+Rivoli").unwrap();
        assert!(r.location.point.is_none());
        let r = post("api_key=k&service_code=eau&address_id=75104_8284_00003").unwrap();
        assert_eq!(r.location.address_id.as_deref(), Some("75104_8284_00003"));
        let r = post("api_key=k&service_code=eau&lat=48.85&lon=2.35").unwrap();
        assert_eq!(r.location.point.unwrap().lon(), 2.35);
    }

    #[test]
    fn every_faulty_post_is_refused_naming_its_field() {
        let cases: &[(&str, &str)] = &[
            ("api_key=k&lat=48.85&long=2.35", "service_code"),
            ("service_code=eau&lat=48.85&long=2.35", "api_key"),
            (
                "api_key=k&service_code=&lat=48.85&long=2.35",
                "service_code",
            ),
            ("api_key=k&service_code=eau&lat=91&long=2.35", "lat"),
            ("api_key=k&service_code=eau&lat=-90.5&long=2.35", "lat"),
            ("api_key=k&service_code=eau&lat=48.85&long=181", "long"),
            ("api_key=k&service_code=eau&lat=NaN&long=2.35", "lat"),
            ("api_key=k&service_code=eau&lat=48.85&long=inf", "long"),
            ("api_key=k&service_code=eau&lat=48.85&long=east", "long"),
            ("api_key=k&service_code=eau&lat=48.85", "long"),
            ("api_key=k&service_code=eau&long=2.35", "lat"),
            (
                "api_key=k&service_code=eau&lat=48.85&long=2.35&lon=2.35",
                "long",
            ),
            (&format!("{GOOD}&service_code=eau"), "service_code"),
            (&format!("{GOOD}&lat=48.1"), "lat"),
            (&format!("{GOOD}&email=not-an-email"), "email"),
            (&format!("{GOOD}&phone=jeanne%40example.org"), "phone"),
            (
                &format!("{GOOD}&media_url=javascript%3Aalert(1)"),
                "media_url",
            ),
            (&format!("{GOOD}&media_url=https%3A%2F%2Fa+b"), "media_url"),
            (&format!("{GOOD}&description=a%00b"), "description"),
            (
                &format!(
                    "{GOOD}&description={}",
                    "x".repeat(MAX_DESCRIPTION_CHARS + 1)
                ),
                "description",
            ),
            (
                &format!("{GOOD}&attribute%5Bsub%5D=a&attribute%5Bsub%5D=b"),
                "attribute[sub]",
            ),
            (
                &format!("{GOOD}&attribute%5Bsub%5D=a&attribute%5Bsub%5D%5B%5D=b"),
                "attribute[sub]",
            ),
            (&format!("{GOOD}&attribute%5Ba%20b%5D=x"), "attribute[a b]"),
            (&format!("{GOOD}&attribute%5B%5D=x"), "attribute[]"),
        ];
        for (form, field) in cases {
            assert_eq!(&field_of(post(form)), field, "{form}");
        }
    }

    #[test]
    fn a_post_without_any_location_is_refused() {
        let e = post("api_key=k&service_code=eau&description=x").unwrap_err();
        assert_eq!(e, Open311Error::NoLocation);
        assert_eq!(e.to_errors().status(), 400);
    }

    #[test]
    fn empty_optional_values_count_as_absent_and_values_are_trimmed() {
        let r = post(&format!(
            "{GOOD}&email=&description=+++&first_name=+Jeanne+"
        ))
        .unwrap();
        assert!(r.reporter.email.is_none());
        assert!(r.description.is_none());
        assert_eq!(r.reporter.first_name.as_deref(), Some("Jeanne"));
    }

    #[test]
    fn personal_data_and_the_api_key_never_appear_in_debug_output() {
        let r = post(&format!(
            "{GOOD}&email=jeanne%40example.org&first_name=Jeanne&phone=0612345678"
        ))
        .unwrap();
        let shown = format!("{r:?}");
        for secret in ["secret", "jeanne", "Jeanne", "0612345678"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn a_refused_secret_or_contact_is_not_repeated_in_the_error() {
        for form in [
            format!("{GOOD}&email=jeanne.dupont%40nowhere"),
            format!("{GOOD}&phone=call+jeanne+dupont"),
            format!("api_key={}&service_code=eau&address_id=1", "s".repeat(200)),
        ] {
            let e = post(&form).unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains("<redacted>"), "{shown}");
            assert!(
                !shown.contains("jeanne") && !shown.contains("sss"),
                "{shown}"
            );
        }
    }

    #[test]
    fn api_keys_compare_whole() {
        let k = ApiKey("abc".into());
        assert!(k.matches("abc"));
        assert!(!k.matches("abd"));
        assert!(!k.matches("ab"));
        assert!(!k.matches("abcd"));
        assert!(!k.matches(""));
    }

    #[test]
    fn a_query_without_dates_covers_the_last_90_days_and_at_most_1000_results() {
        let q = query("").unwrap();
        assert_eq!((q.page, q.page_size, q.offset()), (1, 1_000, 0));
        assert!(!q.extensions);
        let Selection::Filter(f) = q.selection else {
            panic!("a filter")
        };
        assert_eq!(
            f.requested,
            Some(Window {
                start: datetime!(2024-03-03 12:00 UTC),
                end: NOW
            })
        );
        assert_eq!(f.status, None);
        assert!(f.service_codes.is_empty() && f.bbox.is_none());
    }

    #[test]
    fn one_date_opens_a_90_day_window_from_it() {
        let Selection::Filter(f) = query("start_date=2024-01-01T00:00:00Z").unwrap().selection
        else {
            panic!("a filter")
        };
        assert_eq!(f.requested.unwrap().end, datetime!(2024-03-31 00:00 UTC));
        let Selection::Filter(f) = query("end_date=2024-01-01T00:00:00%2B01:00")
            .unwrap()
            .selection
        else {
            panic!("a filter")
        };
        assert_eq!(
            f.requested.unwrap().start,
            datetime!(2023-10-03 00:00 +01:00)
        );
    }

    #[test]
    fn a_full_query_is_read_with_its_extensions() {
        let q = query(
            "service_code=proprete,eau&start_date=2024-05-01T00:00:00Z\
             &end_date=2024-05-31T23:59:59%2B02:00&status=open&page=3&page_size=50\
             &updated_after=2024-05-02T00:00:00Z&lat_ne=48.9&long_ne=2.4&lat_sw=48.8&long_sw=2.3\
             &extensions=true",
        )
        .unwrap();
        assert_eq!((q.page, q.page_size, q.offset()), (3, 50, 100));
        assert!(q.extensions);
        let Selection::Filter(f) = q.selection else {
            panic!("a filter")
        };
        assert_eq!(f.service_codes, ["proprete", "eau"]);
        assert_eq!(f.status, Some(RequestStatus::Open));
        assert_eq!(f.updated_after, Some(datetime!(2024-05-02 00:00 UTC)));
        let b = f.bbox.unwrap();
        assert_eq!(
            (b.min_lon, b.min_lat, b.max_lon, b.max_lat),
            (2.3, 48.8, 2.4, 48.9)
        );
    }

    #[test]
    fn ids_override_every_other_argument() {
        let q = query("service_request_id=12,%2013,12&status=closed").unwrap();
        assert_eq!(q.selection, Selection::Ids(vec!["12".into(), "13".into()]));
    }

    #[test]
    fn both_statuses_mean_no_status_filter() {
        let Selection::Filter(f) = query("status=open,closed").unwrap().selection else {
            panic!("a filter")
        };
        assert_eq!(f.status, None);
    }

    #[test]
    fn a_query_by_update_time_alone_has_no_requested_window() {
        let Selection::Filter(f) = query("updated_after=2020-01-01T00:00:00Z")
            .unwrap()
            .selection
        else {
            panic!("a filter")
        };
        assert_eq!(f.requested, None);
    }

    #[test]
    fn every_faulty_query_is_refused_naming_its_field() {
        let cases: &[(&str, &str)] = &[
            ("start_date=yesterday", "start_date"),
            ("start_date=2024-05-01", "start_date"),
            ("start_date=2024-05-01T00:00:00", "start_date"),
            ("end_date=2024-13-01T00:00:00Z", "end_date"),
            (
                "start_date=2024-05-02T00:00:00Z&end_date=2024-05-01T00:00:00Z",
                "end_date",
            ),
            (
                "start_date=2024-01-01T00:00:00Z&end_date=2024-05-01T00:00:00Z",
                "end_date",
            ),
            ("status=pending", "status"),
            ("status=open,", "status"),
            ("status=OPEN", "status"),
            ("page_size=0", "page_size"),
            ("page_size=5000", "page_size"),
            ("page_size=-1", "page_size"),
            ("page_size=ten", "page_size"),
            ("page=0", "page"),
            ("page=99999999999", "page"),
            ("status=open&status=closed", "status"),
            ("service_code=a&service_code=b", "service_code"),
            ("service_request_id=1,,2", "service_request_id"),
            ("extensions=yes", "extensions"),
            ("lat_ne=48.9&long_ne=2.4&lat_sw=48.8", "long_sw"),
            ("lat_ne=91&long_ne=2.4&lat_sw=48.8&long_sw=2.3", "lat_ne"),
            ("lat_ne=NaN&long_ne=2.4&lat_sw=48.8&long_sw=2.3", "lat_ne"),
            (
                "lat_ne=48.8&long_ne=2.4&lat_sw=48.9&long_sw=2.3",
                "lat_ne,long_ne,lat_sw,long_sw",
            ),
            (
                "updated_after=2024-05-02T00:00:00Z&updated_before=2024-05-01T00:00:00Z",
                "updated_before",
            ),
        ];
        for (q, field) in cases {
            assert_eq!(&field_of(query(q)), field, "{q}");
        }
        let too_many = format!(
            "service_request_id={}",
            (0..=MAX_RESULTS)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(field_of(query(&too_many)), "service_request_id");
        let many_fields = (0..=MAX_FORM_FIELDS)
            .map(|i| format!("k{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(
            query(&many_fields).unwrap_err(),
            Open311Error::TooManyFields {
                max: MAX_FORM_FIELDS
            }
        );
    }

    #[test]
    fn a_plus_of_an_offset_decoded_as_a_space_still_reads() {
        assert_eq!(
            parse_w3c_datetime("2024-05-01T10:15:30 02:00"),
            Some(datetime!(2024-05-01 10:15:30 +02:00))
        );
        assert_eq!(
            parse_w3c_datetime("2024-05-01T10:15:30.5-05:00"),
            Some(datetime!(2024-05-01 10:15:30.5 -05:00))
        );
        assert_eq!(parse_w3c_datetime("2024-05-01T10:15:30  02:00"), None);
    }

    #[test]
    fn single_request_options_read_extensions() {
        let o = parse_request_options(b"extensions=TRUE&jurisdiction_id=paris.fr").unwrap();
        assert!(o.extensions);
        assert!(parse_request_options(b"extensions=1").is_err());
    }

    #[test]
    fn an_updates_query_bounds_its_window_and_pages() {
        let q = parse_updates_query(
            b"start_date=2024-05-01T00:00:00Z&end_date=2024-05-01T01:00:00Z&page_size=10",
            NOW,
        )
        .unwrap();
        assert_eq!(q.window.end - q.window.start, Duration::hours(1));
        assert_eq!(q.page_size, 10);
        assert!(parse_updates_query(b"end_date=soon", NOW).is_err());
    }

    const UPDATE: &str = "api_key=k&service_request_id=42&update_id=7&status=FIXED\
                          &updated_datetime=2024-05-01T10:00:00%2B02:00&description=Done";

    #[test]
    fn a_fixmystreet_update_is_read_with_its_repeated_media_urls() {
        let u = update(&format!(
            "{UPDATE}&media_url=https%3A%2F%2Fa.org%2F1.jpg&media_url=https%3A%2F%2Fa.org%2F2.jpg\
             &email=j%40example.org&first_name=J&last_name=D&public_anonymity_required=TRUE\
             &email_alerts_requested=FALSE&service_request_id_ext=99&title=MR"
        ))
        .unwrap();
        assert_eq!(u.service_request_id, "42");
        assert_eq!(u.update_id.as_deref(), Some("7"));
        assert_eq!(u.status, UpdateStatus::Fixed);
        assert_eq!(u.updated_datetime, datetime!(2024-05-01 08:00 UTC));
        assert_eq!(u.description, "Done");
        assert_eq!(u.media_urls.len(), 2);
        assert!(u.public_anonymity_required);
        assert_eq!(u.email_alerts_requested, Some(false));
        assert_eq!(u.title.as_deref(), Some("MR"));
    }

    #[test]
    fn an_update_may_have_an_empty_description_and_bromley_s_update_id_ext() {
        let u = update(
            "api_key=k&service_request_id=42&update_id_ext=9&status=investigating\
             &updated_datetime=2024-05-01T10:00:00Z&description=",
        )
        .unwrap();
        assert_eq!(u.description, "");
        assert_eq!(u.update_id.as_deref(), Some("9"));
        assert_eq!(u.status, UpdateStatus::Investigating);
    }

    #[test]
    fn every_faulty_update_is_refused_naming_its_field() {
        let cases: &[(&str, &str)] = &[
            (
                "service_request_id=42&status=FIXED&updated_datetime=2024-05-01T10:00:00Z&description=",
                "api_key",
            ),
            (
                "api_key=k&status=FIXED&updated_datetime=2024-05-01T10:00:00Z&description=",
                "service_request_id",
            ),
            (
                "api_key=k&service_request_id=42&updated_datetime=2024-05-01T10:00:00Z&description=",
                "status",
            ),
            (
                "api_key=k&service_request_id=42&status=RESOLVED&updated_datetime=2024-05-01T10:00:00Z&description=",
                "status",
            ),
            (
                "api_key=k&service_request_id=42&status=FIXED&description=",
                "updated_datetime",
            ),
            (
                "api_key=k&service_request_id=42&status=FIXED&updated_datetime=2024-05-01&description=",
                "updated_datetime",
            ),
            (
                "api_key=k&service_request_id=42&status=FIXED&updated_datetime=2024-05-01T10:00:00Z",
                "description",
            ),
            (&format!("{UPDATE}&status=CLOSED"), "status"),
            (&format!("{UPDATE}&media_url=ftp%3A%2F%2Fa"), "media_url"),
            (
                &format!("{UPDATE}&public_anonymity_required=maybe"),
                "public_anonymity_required",
            ),
        ];
        for (form, field) in cases {
            assert_eq!(&field_of(update(form)), field, "{form}");
        }
    }
}

/// Properties of every Open311 form and query parser over generated input.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use proptest::sample::select;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2024-06-01 12:00 UTC);

    /// Every field any of the parsers reads, and a few unknown ones.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => select(&[
                "api_key", "jurisdiction_id", "service_code", "lat", "long", "lon",
                "address_string", "address_id", "email", "phone", "first_name", "last_name",
                "device_id", "account_id", "description", "media_url", "media_url[]",
                "attribute[subcategory]", "attribute[tags][]", "attribute[]", "attribute[",
                "service_request_id", "update_id", "status", "updated_datetime", "title",
                "public_anonymity_required", "email_alerts_requested", "start_date", "end_date",
                "updated_after", "updated_before", "page", "page_size", "extensions", "lat_ne",
                "long_ne", "lat_sw", "long_sw",
            ][..])
            .prop_map(str::to_owned),
            1 => "\\PC{0,12}",
        ]
    }

    /// Values: plausible ones, numbers at their edges, any text.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => select(&[
                "", " ", "k", "proprete", "48.85", "2.35", "-91", "181", "NaN", "inf", "1e400",
                "-0", "open", "closed", "open,closed", "OPEN", "FIXED", "true", "FALSE", "1",
                "0", "1000", "1001", "18446744073709551616", "2024-05-01T00:00:00Z",
                "2024-05-01T00:00:00", "2024-02-30T00:00:00Z", "1970-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00", "+10000-01-01T00:00:00Z", "2024-05-01",
                "-9999-01-01T00:00:00Z", "9999-12-01T00:00:00Z",
                "https://example.org/a.jpg", "javascript:alert(1)", "a@example.org", ",,,",
                "1,2,3",
            ][..])
            .prop_map(str::to_owned),
            1 => any::<i64>().prop_map(|n| n.to_string()),
            1 => any::<f64>().prop_map(|n| n.to_string()),
            2 => "\\PC{0,40}",
            1 => "[\\x00-\\x1f]{1,4}",
        ]
    }

    fn form() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => proptest::collection::vec((name(), value()), 0..12).prop_map(|pairs| {
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes()
            }),
            1 => proptest::collection::vec(any::<u8>(), 0..300),
        ]
    }

    /// Runs every parser; a refusal must say something.
    fn all(bytes: &[u8]) -> Result<(), TestCaseError> {
        let results = [
            parse_post_request(bytes).err(),
            parse_requests_query(bytes, NOW).err(),
            parse_request_options(bytes).err(),
            parse_updates_query(bytes, NOW).err(),
            parse_post_update(bytes).err(),
        ];
        for e in results.into_iter().flatten() {
            prop_assert!(!e.to_string().is_empty());
            prop_assert_eq!(e.to_errors().0.len(), 1);
        }
        Ok(())
    }

    #[test]
    fn a_start_date_too_near_the_end_of_time_for_a_90_day_window_is_refused_not_a_panic() {
        for q in [
            "start_date=9999-12-31T23%3A59%3A59-14%3A00",
            "start_date=9999-12-01T00%3A00%3A00Z",
            "end_date=-9999-01-01T00%3A00%3A00Z",
        ] {
            for e in [
                parse_requests_query(q.as_bytes(), NOW).err(),
                parse_updates_query(q.as_bytes(), NOW).err(),
            ] {
                let e = e.unwrap_or_else(|| panic!("{q} accepted"));
                assert!(e.field().is_some_and(|f| f.ends_with("_date")), "{q}: {e}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_form_or_query_makes_an_open311_parser_panic_and_every_refusal_says_why(
            bytes in form()
        ) {
            all(&bytes)?;
        }

        #[test]
        fn a_valid_post_with_fields_mutated_one_by_one_never_makes_a_parser_panic(
            edits in proptest::collection::vec((0_usize..8, proptest::option::of(value())), 1..4),
        ) {
            let mut pairs: Vec<(String, String)> = [
                ("api_key", "k"), ("service_code", "proprete"), ("lat", "48.85"),
                ("long", "2.35"), ("description", "Sacs"), ("email", "a@example.org"),
                ("attribute[subcategory]", "megots"), ("media_url", "https://example.org/a.jpg"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            for (i, v) in edits {
                let i = i % pairs.len().max(1);
                match v {
                    Some(v) if i < pairs.len() => pairs[i].1 = v,
                    _ if i < pairs.len() => {
                        pairs.remove(i);
                    }
                    _ => {}
                }
            }
            let form = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            all(form.as_bytes())?;
        }

        #[test]
        fn a_generated_valid_post_request_reads_back_its_fields(
            key in "[!-~]{1,64}",
            service in "[a-z_]{1,30}",
            lat in -90.0_f64..=90.0,
            lon in -180.0_f64..=180.0,
            description in proptest::option::of("\\PC{0,300}"),
            address in proptest::option::of("\\PC{0,100}"),
            subcategory in "[a-z_]{1,20}",
            email in proptest::option::of("[a-z]{1,10}@[a-z]{1,10}\\.org"),
        ) {
            let mut f = form_urlencoded::Serializer::new(String::new());
            f.append_pair("api_key", &key)
                .append_pair("service_code", &service)
                .append_pair("lat", &lat.to_string())
                .append_pair("long", &lon.to_string())
                .append_pair("attribute[subcategory]", &subcategory);
            if let Some(d) = &description {
                f.append_pair("description", d);
            }
            if let Some(a) = &address {
                f.append_pair("address_string", a);
            }
            if let Some(e) = &email {
                f.append_pair("email", e);
            }
            let r = parse_post_request(f.finish().as_bytes()).unwrap();
            let trimmed = |s: &Option<String>| {
                s.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
            };
            prop_assert!(r.api_key.matches(&key));
            prop_assert_eq!(&r.service_code, &service);
            let p = r.location.point.unwrap();
            prop_assert_eq!((p.lat(), p.lon()), (lat, lon));
            prop_assert_eq!(r.description, trimmed(&description));
            prop_assert_eq!(r.location.address_string, trimmed(&address));
            prop_assert_eq!(
                r.attributes.get("subcategory"),
                Some(&AttributeAnswer::One(subcategory))
            );
            prop_assert_eq!(r.reporter.email.is_some(), email.is_some());
        }
    }
}
