//! `GET /api/v1/export/{file}`: open-data exports, public (no key).
//!
//! Files: `reports.csv`, `reports.geojson`, `reports.georeport.json`,
//! `reports.georeport.xml`, `projects.csv`, `projects.geojson`. Reports take
//! the filters of `GET /api/v1/reports` but paging (`bbox`, `district`,
//! `kind`, `category`, `status`, `from`, `to`, `campaign`, parsed and checked
//! by the same code), projects those of `GET /api/v1/projects` but paging;
//! any other parameter is a 400. Rows come in ascending id order, closed and
//! faded reports included.
//!
//! A report export is streamed page by page (constant memory whatever its
//! size, with backpressure: the next page is formatted only when the client
//! has taken the previous one). The opening and the first page are produced
//! before the status line, so a store that cannot be read is a 500; a
//! failure later can only cut the body short (logged).

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::extract::parse_query;
use super::projects::{ProjectQuery, project_filter};
use super::reports::{ListQuery, report_filter};
use super::{ApiError, ApiPath, AppState};
use crate::open311::Format;
use crate::service::{ProjectFormat, ReportExport, ReportFormat};

/// The export files, by name.
const FILES: [&str; 6] = [
    "reports.csv",
    "reports.geojson",
    "reports.georeport.json",
    "reports.georeport.xml",
    "projects.csv",
    "projects.geojson",
];

#[utoipa::path(
    get,
    path = "/export/{file}",
    tag = "export",
    params(("file" = String, Path, description = "One of reports.csv, reports.geojson, reports.georeport.json, reports.georeport.xml, projects.csv, projects.geojson", pattern = "^(reports\\.(csv|geojson|georeport\\.json|georeport\\.xml)|projects\\.(csv|geojson))$"), ("bbox" = Option<String>, Query, description = "minlon,minlat,maxlon,maxlat"), ("district" = Option<String>, Query, description = "A district id"), ("kind" = Option<String>, Query, description = "Reports: anomaly or contribution"), ("category" = Option<String>, Query, description = "Reports: a category code"), ("status" = Option<String>, Query, description = "Reports: a status"), ("from" = Option<String>, Query, description = "Reports filed at or after (RFC 3339 or YYYY-MM-DD)"), ("to" = Option<String>, Query, description = "Reports filed before (RFC 3339 or YYYY-MM-DD)"), ("campaign" = Option<String>, Query, description = "Reports: contributions to this campaign"), ("edition" = Option<String>, Query, description = "Projects: the edition year"), ("working_class_flag" = Option<String>, Query, description = "Projects: true or false"), ("progress" = Option<String>, Query, description = "Projects: progress status")),
    responses(
        (status = 200, description = "The file, streamed in a stable order, without personal data", content((String = "text/csv"), (Object = "application/geo+json"), (Vec<serde_json::Value> = "application/json"), (String = "text/xml"))),
        crate::http::openapi::NotFound,
        crate::http::openapi::Invalid,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn file(
    State(app): State<AppState>,
    axum::Extension(guard): axum::Extension<std::sync::Arc<super::limits::Guard>>,
    ApiPath(file): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let report_format = match file.as_str() {
        "reports.csv" => Some(ReportFormat::Csv),
        "reports.geojson" => Some(ReportFormat::GeoJson),
        "reports.georeport.json" => Some(ReportFormat::GeoReport(Format::Json)),
        "reports.georeport.xml" => Some(ReportFormat::GeoReport(Format::Xml)),
        _ => None,
    };
    if let Some(format) = report_format {
        let max = guard.limits.export_max_duration;
        return reports(app, &file, format, &query, max).await;
    }
    let project_format = match file.as_str() {
        "projects.csv" => ProjectFormat::Csv,
        "projects.geojson" => ProjectFormat::GeoJson,
        _ => {
            return Err(ApiError::NotFound(format!(
                "no export {file:?}: the exports are {}",
                FILES.join(", ")
            )));
        }
    };
    let q: ProjectQuery = parse_query(&query)?;
    no_paging(q.limit.as_ref(), q.cursor.as_ref())?;
    let filter = project_filter(&app, &q)?;
    let (body, _) = app.export_projects(&filter, project_format);
    let media_type = match project_format {
        ProjectFormat::Csv => crate::export::media_type::CSV,
        ProjectFormat::GeoJson => crate::export::media_type::GEOJSON,
    };
    Ok(respond(&file, media_type, Body::from(body)))
}

async fn reports(
    app: AppState,
    file: &str,
    format: ReportFormat,
    query: &str,
    max: std::time::Duration,
) -> Result<Response, ApiError> {
    let list: ListQuery = parse_query(query)?;
    no_paging(list.limit.as_ref(), list.cursor.as_ref())?;
    let filter = report_filter(&app, &list)?;
    let campaign = list
        .campaign
        .as_deref()
        .and_then(|c| app.campaign(c))
        .map(|c| c.slug);
    let filter = app.export_filter(&filter, campaign.as_deref());
    let mut export = ReportExport::new(app, filter, format);
    let mut first = Vec::with_capacity(2);
    for _ in 0..2 {
        if let Some(chunk) = export.next_chunk().await? {
            first.push(Ok(Bytes::from(chunk)));
        }
    }
    let rest = futures_util::stream::unfold(export, |mut export| async move {
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), export)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "export cut short");
                Some((Err(std::io::Error::other("export failed")), export))
            }
        }
    });
    // An export longer than its bound is cut short (an error ends the
    // chunked body, so the client cannot take it for a complete file).
    let rest = super::limits::until(rest, max, std::future::pending(), move || {
        tracing::warn!(
            max_s = max.as_secs(),
            "export cut short: longer than its bound"
        );
        Some(Err(std::io::Error::other("export longer than its bound")))
    });
    let body = Body::from_stream(futures_util::stream::iter(first).chain(rest));
    Ok(respond(file, format.media_type(), body))
}

/// An export is never paged: `limit` and `cursor` of the list routes are
/// refused as unknown parameters are.
fn no_paging(limit: Option<&String>, cursor: Option<&String>) -> Result<(), ApiError> {
    for (name, given) in [("limit", limit), ("cursor", cursor)] {
        if given.is_some() {
            return Err(ApiError::bad(
                name,
                format!("bad query string: unknown field `{name}`: an export is not paged"),
            ));
        }
    }
    Ok(())
}

fn respond(file: &str, media_type: &'static str, body: Body) -> Response {
    (
        [
            (CONTENT_TYPE, media_type.to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response()
}
