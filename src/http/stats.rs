//! `GET /api/v1/stats/…`: per-district figures, time series, hexagon counts
//! and the working-class equity indicators, as JSON or CSV (`?format=csv`
//! or `Accept: text/csv`); hexagons also as GeoJSON.
//!
//! Public, with the k-anonymity rule applied; an analyst (or admin) key sees
//! unsuppressed counts. Every figure object has the same shape wherever it
//! appears (a district, a bucket, the city), see [`FiguresJson`].

use axum::extract::{FromRequestParts, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::key_of;
use super::reports::{bbox_param, parse_district, parse_instant};
use super::{ApiError, ApiQuery, AppState};
use crate::model::{Action, Channel, Kind, Layer, Status};
use crate::service::App;
use crate::stats::{Durations, Filter, Interval, Options, Population, Published, StatsError};

/// Longest "resolved within N days" asked.
const MAX_RESOLVED_DAYS: u32 = 3_650;
const DEFAULT_RESOLVED_DAYS: u32 = 7;

/// Whether the caller sees unsuppressed counts: a valid analyst or admin
/// key. No key: public; a bad key: 401 (never silently public).
pub struct Viewer {
    unsuppressed: bool,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Some(key) = key_of(parts)? else {
            return Ok(Viewer {
                unsuppressed: false,
            });
        };
        let caller = app.authenticate(key).await?;
        Ok(Viewer {
            unsuppressed: App::authorize(&caller, Action::ReadStatistics).is_ok(),
        })
    }
}

/// Query of every statistics route; each route refuses the parameters it
/// does not use.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    layer: Option<String>,
    district: Option<String>,
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
    category: Option<String>,
    channel: Option<String>,
    status: Option<String>,
    campaign: Option<String>,
    resolved_within_days: Option<String>,
    edition: Option<String>,
    interval: Option<String>,
    res: Option<String>,
    bbox: Option<String>,
    format: Option<String>,
}

impl StatsQuery {
    fn refuse(&self, names: &[&'static str]) -> Result<(), ApiError> {
        let given = [
            ("layer", self.layer.is_some()),
            ("district", self.district.is_some()),
            ("resolved_within_days", self.resolved_within_days.is_some()),
            ("edition", self.edition.is_some()),
            ("interval", self.interval.is_some()),
            ("res", self.res.is_some()),
            ("bbox", self.bbox.is_some()),
        ];
        for (name, set) in given {
            if set && names.contains(&name) {
                return Err(ApiError::bad(
                    name,
                    format!("{name} is not a parameter of this route"),
                ));
            }
        }
        Ok(())
    }

    fn filter(&self, app: &App) -> Result<Filter, ApiError> {
        fn parsed<T: std::str::FromStr>(
            field: &'static str,
            v: Option<&str>,
        ) -> Result<Option<T>, ApiError>
        where
            T::Err: std::fmt::Display,
        {
            v.map(str::parse::<T>)
                .transpose()
                .map_err(|e| ApiError::bad(field, e.to_string()))
        }
        let seconds = |field: &'static str, v: Option<&str>| {
            v.map(|s| parse_instant(field, s).map(|ms| ms.div_euclid(1_000)))
                .transpose()
        };
        let campaign = match self.campaign.as_deref() {
            Some(c) => Some(
                app.campaign(c)
                    .ok_or_else(|| ApiError::Unprocessable {
                        field: "campaign".into(),
                        message: format!("unknown campaign {c:?}"),
                    })?
                    .slug,
            ),
            None => None,
        };
        let f = Filter {
            from_s: seconds("from", self.from.as_deref())?,
            to_s: seconds("to", self.to.as_deref())?,
            kind: parsed::<Kind>("kind", self.kind.as_deref())?,
            category: self
                .category
                .as_deref()
                .map(|c| app.category(c))
                .transpose()
                .map_err(|e| ApiError::bad("category", e.to_string()))?,
            channel: parsed::<Channel>("channel", self.channel.as_deref())?,
            status: parsed::<Status>("status", self.status.as_deref())?,
            campaign,
            district: self
                .district
                .as_deref()
                .map(|d| parse_district(app, d))
                .transpose()?,
        };
        if let (Some(a), Some(b)) = (f.from_s, f.to_s)
            && a >= b
        {
            return Err(ApiError::bad("to", "to must be after from"));
        }
        Ok(f)
    }

    fn options(&self, app: &App, viewer: &Viewer) -> Result<Options, ApiError> {
        let days = match self.resolved_within_days.as_deref() {
            None => DEFAULT_RESOLVED_DAYS,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=MAX_RESOLVED_DAYS).contains(d))
                .ok_or_else(|| {
                    ApiError::bad(
                        "resolved_within_days",
                        format!("expected a whole number of days from 1 to {MAX_RESOLVED_DAYS}"),
                    )
                })?,
        };
        Ok(app.stats_options(viewer.unsuppressed, days))
    }

    fn format(
        &self,
        headers: &HeaderMap,
        allowed: &[&'static str],
    ) -> Result<&'static str, ApiError> {
        let asked = match self.format.as_deref() {
            Some(f) => f,
            None => {
                let accept = headers
                    .get(ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if accept.contains("text/csv") {
                    "csv"
                } else if accept.contains("application/geo+json") {
                    "geojson"
                } else {
                    "json"
                }
            }
        };
        allowed
            .iter()
            .copied()
            .find(|a| *a == asked)
            .ok_or_else(|| {
                ApiError::bad("format", format!("expected one of {}", allowed.join(", ")))
            })
    }
}

fn k_json(opts: &Options, app: &App) -> Value {
    json!({ "k": app.config.k_anonymity, "applied": opts.k.is_some() })
}

fn durations_json(d: Option<Durations>) -> Value {
    match d {
        Some(d) => {
            json!({ "count": d.count, "median_minutes": d.median_min, "p90_minutes": d.p90_min })
        }
        None => json!({ "count": null, "median_minutes": null, "p90_minutes": null }),
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: Option<u64>, b: Option<u64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}

/// The figures of a group as JSON: counts (`null` where suppressed) and
/// the indicators derived from them (`null` when a part is suppressed or
/// the denominator is zero).
fn figures_json(app: &App, p: &Published, population: Option<Population>, days: u32) -> Value {
    let named = |names: &mut dyn Iterator<Item = String>, values: &[Option<u64>]| -> Value {
        Value::Object(
            names
                .zip(values)
                .map(|(n, v)| (n, json!(v)))
                .collect::<Map<_, _>>(),
        )
    };
    let kinds = named(
        &mut Kind::ALL.iter().map(|k| k.as_str().to_owned()),
        &p.by_kind,
    );
    let statuses = named(
        &mut Status::ALL.iter().map(|s| s.as_str().to_owned()),
        &p.by_status,
    );
    let categories = named(
        &mut app.taxonomy.categories().iter().map(|c| c.code.clone()),
        &p.by_category,
    );
    let anomalies = p.by_kind.first().copied().flatten();
    let contributions = p.by_kind.get(1).copied().flatten();
    let per_1000 = ratio(p.reports, population.map(|x| x.inhabitants)).map(|r| r * 1_000.0);
    json!({
        "reports": p.reports,
        "suppressed": p.suppressed(),
        "by_kind": kinds,
        "by_status": statuses,
        "by_category": categories,
        "reports_per_1000_inhabitants": per_1000,
        "contributions_per_anomaly": ratio(contributions, anomalies),
        "supports": p.supports,
        "first_response": {
            "answered": p.responded[0],
            "unanswered": p.responded[1],
            "minutes": durations_json(p.first_response),
        },
        "resolution": {
            "minutes": durations_json(p.resolution),
            "within_days": days,
            "resolved_within": p.resolved_within[0],
            "share_resolved_within": ratio(p.resolved_within[0], p.reports),
        },
    })
}

fn population_json(p: Option<Population>) -> Value {
    match p {
        Some(p) => json!({
            "inhabitants": p.inhabitants,
            "year": p.year,
            "estimated": p.estimated,
            "aged_15_plus": p.aged_15_plus,
        }),
        None => Value::Null,
    }
}

/// Flattens JSON objects into CSV: one row per object, nested keys joined
/// with `.`, columns in the order of the first row.
fn csv_of(rows: &[Value]) -> Result<String, ApiError> {
    fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            Value::Null => out.push((prefix.to_owned(), String::new())),
            Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let flat: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            flatten("", r, &mut out);
            out
        })
        .collect();
    let header: Vec<String> = flat
        .first()
        .map(|r| r.iter().map(|c| c.0.clone()).collect())
        .unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
    w.write_record(&header).map_err(internal)?;
    for row in &flat {
        let cells: Vec<&str> = header
            .iter()
            .map(|h| row.iter().find(|c| &c.0 == h).map_or("", |c| c.1.as_str()))
            .collect();
        w.write_record(&cells).map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(format!("csv: {e}")))
}

fn respond(
    format: &str,
    body: &Value,
    rows: impl FnOnce() -> Vec<Value>,
) -> Result<Response, ApiError> {
    let (ctype, text) = match format {
        "csv" => ("text/csv; charset=utf-8", csv_of(&rows())?),
        "geojson" => ("application/geo+json", body.to_string()),
        _ => ("application/json", body.to_string()),
    };
    let mut resp = text.into_response();
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(resp)
}

fn with(mut row: Value, extra: Value) -> Value {
    if let (Value::Object(r), Value::Object(e)) = (&mut row, extra) {
        let mut merged = e;
        merged.append(r);
        *r = merged;
    }
    row
}

/// `GET /api/v1/stats/districts?layer=…`
#[utoipa::path(
    get,
    path = "/stats/districts",
    tag = "statistics",
    params(StatsQuery, ("Accept" = Option<String>, Header, description = "`text/csv` for CSV (or `?format=csv`)")),
    security((), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Indicators per district of a layer (k-anonymous unless the key is an analyst's)", content((Object = "application/json"), (String = "text/csv"))),
        crate::http::openapi::BadKey,
        crate::http::openapi::Invalid,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn districts(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    q.refuse(&["district", "interval", "res", "bbox"])?;
    let format = q.format(&headers, &["json", "csv"])?;
    let layer: Layer = q
        .layer
        .as_deref()
        .ok_or_else(|| ApiError::bad("layer", "layer is required"))?
        .parse()
        .map_err(|e: crate::model::LayerError| ApiError::bad("layer", e.to_string()))?;
    let edition = q
        .edition
        .as_deref()
        .map(|e| {
            e.parse::<i32>()
                .map_err(|_| ApiError::bad("edition", "expected a year"))
        })
        .transpose()?;
    let filter = q.filter(&app)?;
    let opts = q.options(&app, &viewer)?;
    let table = app.district_stats(layer, &filter, opts);
    let budget = app.budget_by_district(layer, edition);
    let days = opts.resolved_within_days;
    let rows: Vec<Value> = table
        .districts
        .iter()
        .map(|(id, p)| {
            let d = app.districts.get(*id);
            let pop = app.populations.get(*id);
            let b = budget.get(id).copied().unwrap_or_default();
            #[allow(clippy::cast_precision_loss)]
            let per_inhabitant = pop.filter(|p| p.inhabitants > 0).map(|p| b.eur as f64 / p.inhabitants as f64);
            with(
                figures_json(&app, p, pop, days),
                json!({
                    "id": d.map(|d| d.public_id.clone()),
                    "code": d.map(|d| d.code.clone()),
                    "name": d.map(|d| d.name.clone()),
                    "population": population_json(pop),
                    "projects": { "count": b.projects, "budget_eur": b.eur, "eur_per_inhabitant": per_inhabitant },
                }),
            )
        })
        .collect();
    let city_pop = app.city_population();
    let body = json!({
        "layer": layer.as_str(),
        "k_anonymity": k_json(&opts, &app),
        "districts": rows,
        "outside": figures_json(&app, &table.outside, None, days),
        "city": with(figures_json(&app, &table.city, city_pop, days), json!({ "population": population_json(city_pop) })),
    });
    respond(format, &body, || rows)
}

/// `GET /api/v1/stats/series?interval=day|week|month`
#[utoipa::path(
    get,
    path = "/stats/series",
    tag = "statistics",
    params(StatsQuery, ("Accept" = Option<String>, Header, description = "`text/csv` for CSV (or `?format=csv`)")),
    security((), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Indicators by day, week or month, citywide or for one district", content((Object = "application/json"), (String = "text/csv"))),
        crate::http::openapi::BadKey,
        crate::http::openapi::Invalid,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn series(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    q.refuse(&["layer", "edition", "res", "bbox"])?;
    let format = q.format(&headers, &["json", "csv"])?;
    let interval: Interval = q
        .interval
        .as_deref()
        .unwrap_or("month")
        .parse()
        .map_err(|()| ApiError::bad("interval", "expected day, week or month"))?;
    let filter = q.filter(&app)?;
    let opts = q.options(&app, &viewer)?;
    let series = app
        .stats_series(&filter, interval, opts)
        .map_err(|e| match e {
            StatsError::Range(m) => ApiError::bad("to", m),
        })?;
    let pop = match filter.district {
        Some((_, d)) => app.populations.get(d),
        None => app.city_population(),
    };
    let days = opts.resolved_within_days;
    let rows: Vec<Value> = series
        .buckets
        .iter()
        .map(|(start, p)| {
            let start = time::OffsetDateTime::from_unix_timestamp(*start)
                .map(super::dto::rfc3339)
                .unwrap_or_default();
            with(figures_json(&app, p, pop, days), json!({ "start": start }))
        })
        .collect();
    let body = json!({
        "interval": interval.as_str(),
        "district": filter.district.and_then(|(_, d)| app.districts.get(d)).map(|d| d.public_id.clone()),
        "k_anonymity": k_json(&opts, &app),
        "buckets": rows,
        "total": figures_json(&app, &series.total, pop, days),
    });
    respond(format, &body, || rows)
}

/// `GET /api/v1/stats/h3?res=…`
#[utoipa::path(
    get,
    path = "/stats/h3",
    tag = "statistics",
    params(StatsQuery, ("Accept" = Option<String>, Header, description = "`text/csv` for CSV (or `?format=csv`)")),
    security((), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Counts per H3 hexagon over a bbox or a district, rolled up below k", content((Object = "application/json"), (String = "text/csv"), (Object = "application/geo+json"))),
        crate::http::openapi::BadKey,
        crate::http::openapi::Invalid,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn hexagons(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    q.refuse(&["layer", "edition", "interval", "resolved_within_days"])?;
    let format = q.format(&headers, &["json", "geojson", "csv"])?;
    let res: u8 = q
        .res
        .as_deref()
        .ok_or_else(|| ApiError::bad("res", "res is required (H3 resolution 0 to 10)"))?
        .parse()
        .ok()
        .filter(|r| *r <= crate::stats::CELL_RES)
        .ok_or_else(|| ApiError::bad("res", "expected an H3 resolution from 0 to 10"))?;
    let bbox = q.bbox.as_deref().map(|b| bbox_param(&app, b)).transpose()?;
    let filter = q.filter(&app)?;
    let opts = q.options(&app, &viewer)?;
    let cells = app.stats_hexagons(&filter, res, opts.k);
    let shown: Vec<(crate::stats::Hexagon, Vec<[f64; 2]>)> = cells
        .into_iter()
        .filter_map(|h| {
            let ring = boundary(h.cell)?;
            let inside = bbox.is_none_or(|b| {
                let rect = geo::Rect::new(
                    geo::coord! { x: b.min_lon, y: b.min_lat },
                    geo::coord! { x: b.max_lon, y: b.max_lat },
                );
                let cell = geo::Polygon::new(
                    ring.iter()
                        .map(|p| geo::coord! { x: p[0], y: p[1] })
                        .collect(),
                    vec![],
                );
                geo::Intersects::intersects(&cell, &rect)
            });
            inside.then_some((h, ring))
        })
        .collect();
    let props = |h: &crate::stats::Hexagon| {
        json!({
            "h3": crate::spatial::h3_hex(h.cell),
            "res": h.res,
            "reports": h.reports,
            "remainder": h.remainder,
        })
    };
    let rows: Vec<Value> = shown.iter().map(|(h, _)| props(h)).collect();
    let body = if format == "geojson" {
        json!({
            "type": "FeatureCollection",
            "features": shown.iter().map(|(h, ring)| json!({
                "type": "Feature",
                "geometry": { "type": "Polygon", "coordinates": [ring] },
                "properties": props(h),
            })).collect::<Vec<_>>(),
        })
    } else {
        json!({
            "res": res,
            "k_anonymity": k_json(&opts, &app),
            "cells": rows,
        })
    };
    respond(format, &body, || rows)
}

/// The closed boundary ring of a cell, counter-clockwise (RFC 7946).
fn boundary(cell: u64) -> Option<Vec<[f64; 2]>> {
    let c = h3o::CellIndex::try_from(cell).ok()?;
    let mut ring: Vec<[f64; 2]> = c.boundary().iter().map(|ll| [ll.lng(), ll.lat()]).collect();
    let first = *ring.first()?;
    ring.push(first);
    Some(ring)
}

#[derive(Serialize, utoipa::ToSchema)]
struct EditionJson {
    edition: i32,
    projects: u64,
    total_eur: i64,
    in_working_class_districts_eur: i64,
    in_working_class_districts_share: Option<f64>,
    flagged_by_city_eur: i64,
    flagged_by_city_share: Option<f64>,
    unlocated_eur: i64,
    target_share: f64,
    meets_target: Option<bool>,
}

/// `GET /api/v1/stats/equity`
#[utoipa::path(
    get,
    path = "/stats/equity",
    tag = "statistics",
    params(StatsQuery, ("Accept" = Option<String>, Header, description = "`text/csv` for CSV (or `?format=csv`)")),
    security((), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Working-class districts against the rest, budget shares per edition, participation by IRIS profile", content((Object = "application/json"), (String = "text/csv"))),
        crate::http::openapi::BadKey,
        crate::http::openapi::Invalid,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn equity(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    q.refuse(&["layer", "district", "edition", "interval", "res", "bbox"])?;
    let format = q.format(&headers, &["json", "csv"])?;
    let filter = q.filter(&app)?;
    let opts = q.options(&app, &viewer)?;
    let e = app.equity(&filter, opts);
    let days = opts.resolved_within_days;
    let pop = |n: u64| Population {
        inhabitants: n,
        year: 0,
        estimated: true,
        aged_15_plus: None,
    };
    let inside_pop = pop(e.population_inside);
    let outside_pop = pop(e.population_city.saturating_sub(e.population_inside));
    #[allow(clippy::cast_precision_loss)]
    let share =
        (e.population_city > 0).then(|| e.population_inside as f64 / e.population_city as f64);
    let budget: Vec<EditionJson> = e
        .budget
        .iter()
        .map(|b| {
            let s = b.share(b.located_in_working_class);
            EditionJson {
                edition: b.edition,
                projects: b.all.projects,
                total_eur: b.all.eur,
                in_working_class_districts_eur: b.located_in_working_class.eur,
                in_working_class_districts_share: s,
                flagged_by_city_eur: b.flagged_by_city.eur,
                flagged_by_city_share: b.share(b.flagged_by_city),
                unlocated_eur: b.unlocated.eur,
                target_share: crate::stats::budget::WORKING_CLASS_TARGET,
                meets_target: s.map(|s| s >= crate::stats::budget::WORKING_CLASS_TARGET),
            }
        })
        .collect();
    let deciles: Vec<Value> = e
        .deciles
        .iter()
        .map(|d| {
            let per_1000 = ratio(d.figures.reports, Some(d.aged_15_plus)).map(|r| r * 1_000.0);
            with(
                figures_json(&app, &d.figures, None, days),
                json!({
                    "decile": d.decile,
                    "working_class_share_min": d.share_min,
                    "working_class_share_max": d.share_max,
                    "iris": d.iris,
                    "aged_15_plus": d.aged_15_plus,
                    "reports_per_1000_aged_15_plus": per_1000,
                }),
            )
        })
        .collect();
    let sides = vec![
        with(
            figures_json(&app, &e.inside, Some(inside_pop), days),
            json!({ "side": "inside", "inhabitants": e.population_inside }),
        ),
        with(
            figures_json(&app, &e.outside, Some(outside_pop), days),
            json!({ "side": "outside", "inhabitants": e.population_city.saturating_sub(e.population_inside) }),
        ),
    ];
    let body = json!({
        "k_anonymity": k_json(&opts, &app),
        "working_class": {
            "inside": sides[0],
            "outside": sides[1],
            "population_share_inside": share,
        },
        "budget_by_edition": budget,
        "participation_by_iris_decile": deciles,
        "reports_in_no_ranked_iris": figures_json(&app, &e.no_decile, None, days),
    });
    respond(format, &body, || sides)
}
