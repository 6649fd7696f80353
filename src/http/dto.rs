//! Wire shapes (serde) and the hand-written conversions from domain values.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::geocode::{GeocodeMatch, ReverseMatch};
use crate::model::{Districts, Layer, Project, Report};
use crate::service::{App, Codec, Nearby};
use crate::spatial::h3_hex;

/// `POST /api/v1/reports` body. Unknown fields are refused, so a client can
/// never set `id`, `status`, districts or timestamps.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReportBody {
    /// `anomaly` or `contribution`.
    #[schema(pattern = "^(anomaly|contribution)$", example = "anomaly")]
    pub kind: String,
    /// A category code of `GET /api/v1/categories`.
    #[schema(example = "proprete")]
    pub category: String,
    /// A subcategory code of the category (needed for an anomaly).
    #[serde(default)]
    pub subcategory: Option<String>,
    /// Plain text, at most 4,000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    /// WGS84 longitude; with `lat`, or give `address` instead. Must lie in
    /// the served city.
    #[serde(default)]
    #[schema(minimum = -180.0, maximum = 180.0, example = 2.3499)]
    pub lon: Option<f64>,
    /// WGS84 latitude.
    #[serde(default)]
    #[schema(minimum = -90.0, maximum = 90.0, example = 48.853)]
    pub lat: Option<f64>,
    /// An address of the city, geocoded when no point is given.
    #[serde(default)]
    pub address: Option<String>,
    /// The app's id for this report: a retry with the same id returns the
    /// same report.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `ios`, `android`, `web` or `back_office`.
    #[serde(default)]
    #[schema(pattern = "^(ios|android|web|back_office)$")]
    pub channel: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DistrictJson {
    pub id: String,
    pub code: String,
    pub name: String,
}

impl DistrictJson {
    /// The district with this dense id, if the registry holds it.
    pub fn of(app: &crate::service::App, id: u32) -> Option<Self> {
        app.districts.get(id).map(|d| {
            let r = d.to_ref();
            Self {
                id: r.id,
                code: r.code,
                name: r.name,
            }
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DistrictsJson {
    pub arrondissement: Option<DistrictJson>,
    pub quartier: Option<DistrictJson>,
    pub conseil_quartier: Option<DistrictJson>,
    pub iris: Option<DistrictJson>,
    pub working_class: Option<DistrictJson>,
}

impl DistrictsJson {
    pub fn new(codec: &Codec<'_>, d: &Districts) -> Self {
        let one = |layer: Layer| {
            d.get(layer)
                .and_then(|id| codec.district_ref(id))
                .map(|r| DistrictJson {
                    id: r.id,
                    code: r.code,
                    name: r.name,
                })
        };
        Self {
            arrondissement: one(Layer::Arrondissement),
            quartier: one(Layer::Quartier),
            conseil_quartier: one(Layer::ConseilQuartier),
            iris: one(Layer::Iris),
            working_class: one(Layer::WorkingClass),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressJson {
    pub label: String,
    pub lon: f64,
    pub lat: f64,
    pub distance_m: f64,
}

impl From<&ReverseMatch> for AddressJson {
    fn from(m: &ReverseMatch) -> Self {
        Self {
            label: m.label.clone(),
            lon: m.location.lon(),
            lat: m.location.lat(),
            distance_m: round_m(m.distance_m),
        }
    }
}

fn round_m(m: f64) -> f64 {
    (m * 10.0).round() / 10.0
}

pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A report as the public sees it: never the contact, never the client id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportJson {
    pub id: i64,
    pub kind: &'static str,
    pub category: String,
    pub category_label: String,
    pub subcategory: Option<String>,
    pub subcategory_label: Option<String>,
    pub description: String,
    pub lon: f64,
    pub lat: f64,
    pub h3: String,
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nearest_address: Option<AddressJson>,
    pub channel: &'static str,
    pub created_at: String,
    pub status: &'static str,
    /// Open (`true`) until done, rejected or archived.
    pub open: bool,
    pub updated_at: String,
    pub closed_at: Option<String>,
    /// Residents who said "me too".
    pub supports: u32,
    /// The report this one repeats, when an agent marked it so.
    pub duplicate_of: Option<i64>,
    pub campaign: Option<String>,
    pub districts: DistrictsJson,
    pub working_class: bool,
    /// The public timeline.
    pub history_url: String,
}

impl ReportJson {
    pub fn new(app: &App, r: &Report, nearest: Option<&ReverseMatch>) -> Self {
        let codec = app.codec();
        let state = app.lifecycle.state(r.id);
        let cat = app.taxonomy.category(r.category);
        let sub = r
            .subcategory
            .and_then(|i| app.taxonomy.subcategory(r.category, i));
        Self {
            id: r.id,
            kind: r.kind.as_str(),
            category: cat.code.clone(),
            category_label: cat.label.clone(),
            subcategory: sub.map(|s| s.code.clone()),
            subcategory_label: sub.map(|s| s.label.clone()),
            description: r.description.clone(),
            lon: r.location.lon(),
            lat: r.location.lat(),
            h3: h3_hex(r.h3),
            address: r.address.clone(),
            nearest_address: nearest.map(AddressJson::from),
            channel: r.channel.as_str(),
            created_at: rfc3339(r.created_at),
            status: r.status.as_str(),
            open: r.status.is_open(),
            updated_at: rfc3339(state.updated_at(r.created_at)),
            closed_at: state
                .closed_ms
                .filter(|_| !r.status.is_open())
                .and_then(crate::service::from_unix_ms)
                .map(rfc3339),
            supports: app.supports(r.id),
            duplicate_of: state.duplicate_of,
            campaign: r.campaign.clone(),
            districts: DistrictsJson::new(&codec, &r.districts),
            working_class: r.districts.working_class(),
            history_url: format!("/api/v1/reports/{}/history", r.id),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NearbyJson {
    pub id: i64,
    pub distance_m: f64,
    pub category: String,
    pub status: &'static str,
    pub created_at: String,
    pub supports: u32,
    pub url: String,
    /// Where to say "me too" instead of filing a duplicate.
    pub support_url: String,
}

impl NearbyJson {
    pub fn new(app: &App, n: &Nearby) -> Self {
        Self {
            id: n.report.id,
            distance_m: round_m(n.distance_m),
            category: app.taxonomy.category(n.report.category).code.clone(),
            status: n.report.status.as_str(),
            created_at: crate::service::from_unix_ms(n.report.created_ms)
                .map(rfc3339)
                .unwrap_or_default(),
            supports: app.supports(n.report.id),
            url: format!("/api/v1/reports/{}", n.report.id),
            support_url: format!("/api/v1/reports/{}/supports", n.report.id),
        }
    }
}

/// `201 Created` (or `200` on an idempotent retry) body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedJson {
    #[serde(flatten)]
    pub report: ReportJson,
    pub client_id: Option<String>,
    /// Open reports of the same category nearby: "is it the same problem?"
    pub nearby: Vec<NearbyJson>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectJson {
    pub id: i64,
    pub title: Option<String>,
    pub edition: i32,
    pub theme: Option<String>,
    pub lead_department: Option<String>,
    pub budget_eur: i64,
    pub scale: &'static str,
    pub address: Option<String>,
    /// As published by the city: `75101`…`75120`, or `75123` for Paris Centre.
    pub arrondissement_code: Option<String>,
    /// The city's own "Projet en Quartier populaire" flag.
    pub working_class_flag: bool,
    pub progress: Option<String>,
    pub studies_start: Option<String>,
    pub procedures_start: Option<String>,
    pub works_start: Option<String>,
    pub delivery_planned: Option<String>,
    pub opened: Option<String>,
    pub url: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub geocode_quality: Option<String>,
    pub h3: Option<String>,
    pub districts: DistrictsJson,
    /// Whether the located project lies in the working-class layer.
    pub working_class: bool,
}

impl ProjectJson {
    pub fn new(app: &App, p: &Project) -> Self {
        let codec = app.codec();
        Self {
            id: p.id,
            title: p.title.clone(),
            edition: p.edition,
            theme: p.theme.clone(),
            lead_department: p.lead_department.clone(),
            budget_eur: p.budget_eur,
            scale: p.scale.as_str(),
            address: p.address.clone(),
            arrondissement_code: p.arrondissement_code.clone(),
            working_class_flag: p.working_class_flag,
            progress: p.progress.clone(),
            studies_start: p.studies_start.clone(),
            procedures_start: p.procedures_start.clone(),
            works_start: p.works_start.clone(),
            delivery_planned: p.delivery_planned.clone(),
            opened: p.opened.clone(),
            url: p.url.clone(),
            lon: p.location.map(|l| l.lon()),
            lat: p.location.map(|l| l.lat()),
            geocode_quality: p.geocode_quality.clone(),
            h3: p.h3.map(h3_hex),
            districts: DistrictsJson::new(&codec, &p.districts),
            working_class: p.districts.working_class(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeocodeJson {
    pub label: String,
    pub lon: f64,
    pub lat: f64,
    pub score: f64,
    pub precision: &'static str,
    pub citycode: String,
    pub postcode: String,
}

impl From<&GeocodeMatch> for GeocodeJson {
    fn from(m: &GeocodeMatch) -> Self {
        Self {
            label: m.label.clone(),
            lon: m.location.lon(),
            lat: m.location.lat(),
            score: (m.score * 1000.0).round() / 1000.0,
            precision: m.precision.as_str(),
            citycode: m.citycode.clone(),
            postcode: m.postcode.clone(),
        }
    }
}

/// A page of a list endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageJson<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub next: Option<String>,
}
