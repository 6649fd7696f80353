//! `/api/v1/reports` and `/api/v1/categories`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::LOCATION};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::dto::{CreatedJson, NearbyJson, NewReportBody, PageJson, ReportJson};
use super::{ApiError, ApiJson, ApiPath, ApiQuery, AppState};
use crate::config::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::model::{Envelope, Kind, Layer, Status};
use crate::service::{App, NewReport, unix_ms};
use crate::spatial::ReportFilter;

#[utoipa::path(
    post,
    path = "/reports",
    tag = "reports",
    request_body = NewReportBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Committed: the stored report, where it is, and open reports of the same category nearby", body = CreatedJson, headers(("Location" = String, description = "The report's URL"))),
        (status = 200, description = "A retry: the report already filed with this client_id", body = CreatedJson, headers(("Location" = String, description = "The report's URL"))),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn create(
    key: super::auth::Key,
    client: super::limits::Client,
    State(app): State<AppState>,
    ApiJson(body): ApiJson<NewReportBody>,
) -> Result<Response, ApiError> {
    let caller = key.may(crate::model::Action::FileReport)?;
    client
        .admit(Some(caller), crate::limits::Quota::Report)
        .await?;
    client.guard.room_for_reports(&app)?;
    let input = NewReport {
        kind: body.kind,
        category: body.category,
        subcategory: body.subcategory,
        description: body.description,
        lon: body.lon,
        lat: body.lat,
        address: body.address,
        client_id: body.client_id,
        channel: body.channel,
        contact: body.contact,
        campaign: body.campaign,
    };
    let created = app.create_report(input).await?;
    let json = CreatedJson {
        report: ReportJson::new(&app, &created.report, created.nearest_address.as_ref()),
        client_id: created.report.client_id.clone(),
        nearby: created
            .nearby
            .iter()
            .map(|n| NearbyJson::new(&app, n))
            .collect(),
    };
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/reports/{}", created.report.id)) {
        headers.insert(LOCATION, v);
    }
    Ok((status, headers, Json(json)).into_response())
}

#[utoipa::path(
    get,
    path = "/reports/{id}",
    tag = "reports",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    responses(
        (status = 200, description = "The report and its photos", body = super::photos::ReportWithPhotosJson),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn one(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<super::photos::ReportWithPhotosJson>, ApiError> {
    let id: i64 = id
        .parse()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad("id", "report id must be a positive integer"))?;
    let (r, nearest) = app
        .report(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?;
    let report = ReportJson::new(&app, &r, nearest.as_ref());
    Ok(Json(
        super::photos::ReportWithPhotosJson::new(&app, report).await?,
    ))
}

/// Query of `GET /api/v1/reports`.
#[derive(Debug, Deserialize, Serialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub bbox: Option<String>,
    pub district: Option<String>,
    pub kind: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    /// Created at or after: RFC 3339 instant or `YYYY-MM-DD` (UTC midnight).
    pub from: Option<String>,
    /// Created strictly before: RFC 3339 instant or `YYYY-MM-DD`.
    pub to: Option<String>,
    /// Only the contributions answering this campaign (slug or id).
    pub campaign: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Parses `minlon,minlat,maxlon,maxlat` and refuses a box larger than
/// the configured area (`Limits::max_bbox_km2`).
pub fn bbox_param(app: &App, s: &str) -> Result<Envelope, ApiError> {
    let bbox = parse_bbox(s)?;
    let max = app.config.limits.max_bbox_km2;
    let area = bbox.area_km2();
    if area > max {
        return Err(ApiError::bad(
            "bbox",
            format!(
                "the box covers {area:.0} km², more than the {max:.0} km² allowed: ask for a \
                 smaller one, or leave bbox out for the whole served area"
            ),
        ));
    }
    Ok(bbox)
}

/// Parses `minlon,minlat,maxlon,maxlat`.
pub fn parse_bbox(s: &str) -> Result<Envelope, ApiError> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::bad(
                "bbox",
                "expected minlon,minlat,maxlon,maxlat as four numbers",
            )
        })?;
    let [a, b, c, d] = parts[..] else {
        return Err(ApiError::bad(
            "bbox",
            "expected minlon,minlat,maxlon,maxlat as four numbers",
        ));
    };
    Envelope::new(a, b, c, d).map_err(|e| ApiError::bad("bbox", e.to_string()))
}

pub fn parse_limit(s: Option<&str>) -> Result<usize, ApiError> {
    match s {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
            .ok_or_else(|| {
                ApiError::bad(
                    "limit",
                    format!("limit must be an integer from 1 to {MAX_PAGE_SIZE}"),
                )
            }),
    }
}

pub fn parse_instant(field: &'static str, s: &str) -> Result<i64, ApiError> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(unix_ms(t));
    }
    crate::reference::parse_day(s)
        .filter(|_| s.len() == 10)
        .map(|d| unix_ms(d.midnight().assume_utc()))
        .ok_or_else(|| ApiError::bad(field, "expected an RFC 3339 instant or a YYYY-MM-DD date"))
}

/// Resolves a `district` filter (a public district id) to its layer and dense id.
pub fn parse_district(app: &App, id: &str) -> Result<(Layer, u32), ApiError> {
    let unknown = || ApiError::Unprocessable {
        field: "district".into(),
        message: format!("unknown district {id:?}"),
    };
    let dense = app.districts.by_public_id(id).ok_or_else(unknown)?;
    let layer = app
        .districts
        .get(dense)
        .map(|d| d.layer)
        .ok_or_else(unknown)?;
    Ok((layer, dense))
}

/// Builds the shared report filter from list/tile query parameters.
pub fn report_filter(app: &AppState, q: &ListQuery) -> Result<ReportFilter, ApiError> {
    let district = q
        .district
        .as_deref()
        .map(|id| parse_district(app, id))
        .transpose()?;
    let kind = q
        .kind
        .as_deref()
        .map(str::parse::<Kind>)
        .transpose()
        .map_err(|e| ApiError::bad("kind", e.to_string()))?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<Status>)
        .transpose()
        .map_err(|e| ApiError::bad("status", e.to_string()))?;
    let category = q
        .category
        .as_deref()
        .map(|c| app.category(c))
        .transpose()
        .map_err(|e| ApiError::bad("category", e.to_string()))?;
    let from_ms = q
        .from
        .as_deref()
        .map(|s| parse_instant("from", s))
        .transpose()?;
    let to_ms =
        q.to.as_deref()
            .map(|s| parse_instant("to", s))
            .transpose()?;
    let only = match q.campaign.as_deref() {
        Some(c) => {
            let campaign = app.campaign(c).ok_or_else(|| ApiError::Unprocessable {
                field: "campaign".into(),
                message: format!("unknown campaign {c:?}"),
            })?;
            Some(app.reports().campaign_members(&campaign.slug))
        }
        None => None,
    };
    Ok(ReportFilter {
        bbox: q.bbox.as_deref().map(|b| bbox_param(app, b)).transpose()?,
        district,
        kind,
        category,
        status,
        from_ms,
        to_ms,
        only,
        public: Some(app.public_view(OffsetDateTime::now_utc())),
    })
}

#[utoipa::path(
    get,
    path = "/reports",
    tag = "reports",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of reports, newest first", body = PageJson<ReportJson>),
        crate::http::openapi::Invalid,
        crate::http::openapi::Refusals
    )
)]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<PageJson<ReportJson>>, ApiError> {
    let filter = report_filter(&app, &q)?;
    let limit = parse_limit(q.limit.as_deref())?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::bad("cursor", "not a cursor from a previous page"))
        })
        .transpose()?;
    let (reports, page) = app.list_reports(&filter, before, limit).await?;
    let next = page.next_before.map(|b| {
        let mut next_q = q;
        next_q.cursor = Some(b.to_string());
        format!(
            "/api/v1/reports?{}",
            serde_urlencoded::to_string(&next_q).unwrap_or_default()
        )
    });
    Ok(Json(PageJson {
        items: reports
            .iter()
            .map(|r| ReportJson::new(&app, r, None))
            .collect(),
        total: page.total,
        next,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SubcategoryJson {
    code: String,
    label: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CategoryJson {
    code: String,
    label: String,
    subcategories: Vec<SubcategoryJson>,
}

/// The DansMaRue taxonomy, for app pickers.
#[utoipa::path(
    get,
    path = "/categories",
    tag = "reports",
    responses(
        (status = 200, description = "The DansMaRue taxonomy", body = Vec<CategoryJson>),
        crate::http::openapi::Refusals
    )
)]
pub async fn categories(State(app): State<AppState>) -> Json<Vec<CategoryJson>> {
    Json(
        app.taxonomy
            .categories()
            .iter()
            .map(|c| CategoryJson {
                code: c.code.clone(),
                label: c.label.clone(),
                subcategories: c
                    .subcategories
                    .iter()
                    .map(|s| SubcategoryJson {
                        code: s.code.clone(),
                        label: s.label.clone(),
                    })
                    .collect(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The parameter a refusal names.
    fn field_of(e: ApiError) -> Option<String> {
        match e {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("not a 400: {other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_is_a_box_a_limit_and_an_instant_or_a_400_naming_the_parameter(
            s in "\\PC{0,40}|[0-9eE+.,: TZ-]{0,40}|[0-9.,-]{0,40}"
        ) {
            if let Err(e) = parse_bbox(&s) {
                let field = field_of(e);
                prop_assert_eq!(field.as_deref(), Some("bbox"));
            }
            if let Err(e) = parse_limit(Some(&s)) {
                let field = field_of(e);
                prop_assert_eq!(field.as_deref(), Some("limit"));
            }
            if let Err(e) = parse_instant("from", &s) {
                let field = field_of(e);
                prop_assert_eq!(field.as_deref(), Some("from"));
            }
        }

        #[test]
        fn a_box_written_as_four_numbers_reads_back_equal(
            a in -180.0_f64..=180.0, b in -90.0_f64..=90.0,
            c in -180.0_f64..=180.0, d in -90.0_f64..=90.0,
        ) {
            let (w, e) = (a.min(c), a.max(c));
            let (s, n) = (b.min(d), b.max(d));
            let bbox = parse_bbox(&format!("{w},{s}, {e} ,{n}")).unwrap();
            prop_assert_eq!(
                (bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat),
                (w, s, e, n)
            );
            // West of east or south of north is refused, never swapped.
            if w < e {
                let swapped = format!("{e},{s},{w},{n}");
                prop_assert!(parse_bbox(&swapped).is_err(), "{} accepted", swapped);
            }
        }

        #[test]
        fn limits_from_1_to_1000_read_back_and_every_other_number_is_refused(n in any::<i64>()) {
            let r = parse_limit(Some(&n.to_string()));
            if (1..=1_000).contains(&n) {
                prop_assert_eq!(r.unwrap(), usize::try_from(n).unwrap());
            } else {
                prop_assert!(r.is_err());
            }
        }

        #[test]
        fn an_rfc3339_instant_reads_back_to_its_millisecond_at_any_offset(
            // Years 0002 to 9998, so that every offset keeps four digits.
            ms in -62_104_060_800_000_i64..253_370_764_800_000,
            offset_min in -1_439_i32..=1_439,
        ) {
            let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap()
                .to_offset(time::UtcOffset::from_whole_seconds(offset_min * 60).unwrap());
            let text = t.format(&Rfc3339).unwrap();
            prop_assert_eq!(parse_instant("from", &text).unwrap(), ms);
        }

        #[test]
        fn a_day_reads_as_its_midnight_in_utc(
            y in 1_i32..=9_999, m in 1_u8..=12, d in 1_u8..=28,
        ) {
            let day = time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap();
            let text = format!("{y:04}-{m:02}-{d:02}");
            prop_assert_eq!(
                parse_instant("to", &text).unwrap(),
                unix_ms(day.midnight().assume_utc())
            );
        }
    }
}
