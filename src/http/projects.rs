//! `/api/v1/projects`: participatory-budget winners.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::dto::{PageJson, ProjectJson};
use super::reports::{bbox_param, parse_district, parse_limit};
use super::{ApiError, ApiPath, ApiQuery, AppState};
use crate::spatial::ProjectFilter;

#[derive(Debug, Deserialize, Serialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProjectQuery {
    pub bbox: Option<String>,
    pub district: Option<String>,
    pub edition: Option<String>,
    /// The city's "Projet en Quartier populaire" flag: `true` or `false`.
    pub working_class_flag: Option<String>,
    pub progress: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    params(ProjectQuery),
    responses(
        (status = 200, description = "A page of budget projects", body = PageJson<ProjectJson>),
        crate::http::openapi::Invalid,
        crate::http::openapi::Refusals
    )
)]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<ProjectQuery>,
) -> Result<Json<PageJson<ProjectJson>>, ApiError> {
    let filter = project_filter(&app, &q)?;
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad("cursor", "not a cursor from a previous page"))
        })
        .transpose()?;
    let index = app.projects();
    let (page, total, more) = index.page(&filter, after, limit);
    let items: Vec<ProjectJson> = page.iter().map(|p| ProjectJson::new(&app, p)).collect();
    let next = more.then(|| {
        let mut next_q = q;
        next_q.cursor = page.last().map(|p| p.id.to_string());
        format!(
            "/api/v1/projects?{}",
            serde_urlencoded::to_string(&next_q).unwrap_or_default()
        )
    });
    Ok(Json(PageJson { items, total, next }))
}

/// Builds the project filter from list (or export) query parameters.
pub fn project_filter(app: &AppState, q: &ProjectQuery) -> Result<ProjectFilter, ApiError> {
    let district = q
        .district
        .as_deref()
        .map(|id| parse_district(app, id))
        .transpose()?;
    let edition = q
        .edition
        .as_deref()
        .map(|e| {
            e.parse::<i32>()
                .ok()
                .filter(|y| (2000..=2100).contains(y))
                .ok_or_else(|| ApiError::bad("edition", "expected a year"))
        })
        .transpose()?;
    let working_class_flag = q
        .working_class_flag
        .as_deref()
        .map(|f| match f {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ApiError::bad(
                "working_class_flag",
                "expected true or false",
            )),
        })
        .transpose()?;
    Ok(ProjectFilter {
        bbox: q.bbox.as_deref().map(|b| bbox_param(app, b)).transpose()?,
        district,
        edition,
        working_class_flag,
        progress: q.progress.clone(),
    })
}

#[utoipa::path(
    get,
    path = "/projects/{id}",
    tag = "projects",
    params(("id" = i64, Path, description = "Project id", minimum = 1)),
    responses(
        (status = 200, description = "The project", body = ProjectJson),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn one(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProjectJson>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad("id", "project id must be an integer"))?;
    let p = app
        .project(id)
        .ok_or_else(|| ApiError::NotFound(format!("no project {id}")))?;
    Ok(Json(ProjectJson::new(&app, &p)))
}
