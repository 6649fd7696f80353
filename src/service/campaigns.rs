//! Campaigns of positive contributions: a question the city asks for a
//! while, on some categories, optionally within a perimeter (a district or
//! a drawn polygon). A contribution naming a campaign is checked against it.

use std::sync::RwLock;

use geo::{
    Closest, ClosestPoint as _, Distance as _, Haversine, Intersects as _, MultiPolygon, Point,
};
use time::OffsetDateTime;

use super::{App, Caller, ServiceError, from_unix_ms, unix_ms};
use crate::model::{Action, CategoryId, Kind, Layer, LonLat, Report, validate_text};
use crate::store::CampaignRow;

/// Campaigns listed near a point within this distance of their perimeter,
/// by default.
pub const DEFAULT_NEAR_M: f64 = 2_000.0;
const MAX_TITLE_CHARS: usize = 200;
const MAX_QUESTION_CHARS: usize = 2_000;

/// Where a campaign asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Perimeter {
    /// The whole served city.
    City,
    /// A district (dense id in the registry).
    District(u32),
    /// A drawn polygon (WGS84).
    Area(MultiPolygon<f64>),
}

/// A campaign, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub question: String,
    /// Empty: any category.
    pub categories: Vec<CategoryId>,
    pub starts: OffsetDateTime,
    pub ends: OffsetDateTime,
    pub perimeter: Perimeter,
    /// The perimeter as stored (district public id or GeoJSON).
    pub perimeter_source: Option<String>,
    pub created_by: String,
}

impl Campaign {
    #[must_use]
    pub fn is_open_at(&self, t: OffsetDateTime) -> bool {
        self.starts <= t && t < self.ends
    }
}

/// A campaign as an admin submits it: unchecked.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub slug: String,
    pub title: String,
    pub question: String,
    pub categories: Vec<String>,
    pub starts: Option<OffsetDateTime>,
    pub ends: OffsetDateTime,
    /// Public id of a district.
    pub district: Option<String>,
    /// A GeoJSON Polygon or MultiPolygon geometry.
    pub perimeter: Option<serde_json::Value>,
}

/// The in-memory campaigns, part of [`App`].
#[derive(Debug, Default)]
pub struct Campaigns {
    all: RwLock<Vec<Campaign>>,
}

impl Campaigns {
    #[must_use]
    pub fn all(&self) -> Vec<Campaign> {
        self.all
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn find(&self, key: &str) -> Option<Campaign> {
        self.all
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|c| c.slug == key || c.id.to_string() == key)
            .cloned()
    }

    fn replace(&self, list: Vec<Campaign>) {
        *self
            .all
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = list;
    }
}

fn slug_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.bytes().all(|b| b.is_ascii_digit())
}

/// A polygon a client sends for `field` (a campaign's perimeter, a
/// webhook's area), checked against the server's bounds before it is
/// stored: the one check of both routes.
///
/// # Errors
/// [`ServiceError::Invalid`] if it is no valid Polygon or MultiPolygon,
/// [`ServiceError::OverLimit`] if it has more positions or rings than
/// `bounds` allow.
pub(super) fn client_polygon(
    v: &serde_json::Value,
    field: &'static str,
    bounds: &crate::limits::PolygonBounds,
) -> Result<MultiPolygon<f64>, ServiceError> {
    let mp = polygon_of(v).map_err(|e| ServiceError::invalid(field, e))?;
    bounds
        .check(mp.0.iter().flat_map(|p| {
            std::iter::once(p.exterior().0.len()).chain(p.interiors().iter().map(|r| r.0.len()))
        }))
        .map_err(|e| ServiceError::OverLimit {
            field,
            reason: e.to_string(),
        })?;
    Ok(mp)
}

pub(super) fn polygon_of(v: &serde_json::Value) -> Result<MultiPolygon<f64>, String> {
    let geom: geojson::Geometry = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let g: geo::Geometry<f64> = geom.try_into().map_err(|e: geojson::Error| e.to_string())?;
    let mp = match g {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(mp) => mp,
        _ => return Err("expected a GeoJSON Polygon or MultiPolygon".into()),
    };
    for c in mp.0.iter().flat_map(|p| {
        p.exterior()
            .coords()
            .chain(p.interiors().iter().flat_map(|r| r.coords()))
    }) {
        LonLat::new(c.x, c.y).map_err(|e| e.to_string())?;
    }
    if mp.0.is_empty() || mp.0.iter().any(|p| p.exterior().0.len() < 4) {
        return Err("a polygon needs at least three distinct corners".into());
    }
    Ok(mp)
}

/// Distance in metres from `p` to the area (0 inside or on the boundary).
fn distance_to(area: &MultiPolygon<f64>, p: LonLat) -> f64 {
    let pt = Point::new(p.lon(), p.lat());
    if area.intersects(&pt) {
        return 0.0;
    }
    // The closest point in lon/lat is within centimetres of the geodesic
    // closest point at city scale; the distance itself is geodesic.
    match area.closest_point(&pt) {
        Closest::Intersection(_) => 0.0,
        Closest::SinglePoint(q) => Haversine.distance(pt, q),
        Closest::Indeterminate => f64::INFINITY,
    }
}

impl App {
    pub(crate) async fn load_campaigns(&self) -> Result<(), ServiceError> {
        let rows = self.store.campaigns().await?;
        let list = rows
            .iter()
            .map(|r| self.campaign_from_row(r))
            .collect::<Result<Vec<_>, _>>()?;
        self.campaigns.replace(list);
        Ok(())
    }

    /// Category ids of a stored JSON array of codes (`None`: not such an
    /// array, or an unknown code).
    pub(super) fn stored_categories(&self, json: &str) -> Option<Vec<CategoryId>> {
        let codes: Vec<String> = serde_json::from_str(json).ok()?;
        codes
            .iter()
            .map(|c| self.taxonomy.category_id(c).ok())
            .collect()
    }

    fn campaign_from_row(&self, r: &CampaignRow) -> Result<Campaign, ServiceError> {
        let bad = |what: &str| ServiceError::Internal(format!("stored campaign {}: {what}", r.id));
        let categories = self
            .stored_categories(&r.categories)
            .ok_or_else(|| bad("categories"))?;
        let (perimeter, perimeter_source) = match (&r.district, &r.perimeter) {
            (Some(d), _) => (
                Perimeter::District(
                    self.districts
                        .by_public_id(d)
                        .ok_or_else(|| bad("district"))?,
                ),
                Some(d.clone()),
            ),
            (None, Some(g)) => {
                let v: serde_json::Value = serde_json::from_str(g).map_err(|_| bad("perimeter"))?;
                (
                    Perimeter::Area(polygon_of(&v).map_err(|_| bad("perimeter"))?),
                    Some(g.clone()),
                )
            }
            (None, None) => (Perimeter::City, None),
        };
        Ok(Campaign {
            id: r.id,
            slug: r.slug.clone(),
            title: r.title.clone(),
            question: r.question.clone(),
            categories,
            starts: from_unix_ms(r.starts_at_ms).ok_or_else(|| bad("start"))?,
            ends: from_unix_ms(r.ends_at_ms).ok_or_else(|| bad("end"))?,
            perimeter,
            perimeter_source,
            created_by: r.created_by.clone(),
        })
    }

    /// Opens a campaign.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] unless an admin; [`ServiceError::Invalid`]
    /// naming the bad field; [`ServiceError::Conflict`] for a slug in use.
    pub async fn create_campaign(
        &self,
        caller: &Caller,
        c: NewCampaign,
    ) -> Result<Campaign, ServiceError> {
        Self::authorize(caller, Action::ManageCampaigns)?;
        if !slug_ok(&c.slug) {
            return Err(ServiceError::invalid(
                "slug",
                "1 to 64 characters among a-z, 0-9 and '-', not only digits",
            ));
        }
        if c.title.trim().is_empty() {
            return Err(ServiceError::invalid("title", "must not be empty"));
        }
        validate_text("title", &c.title, MAX_TITLE_CHARS)
            .map_err(|e| ServiceError::invalid("title", e))?;
        validate_text("question", &c.question, MAX_QUESTION_CHARS)
            .map_err(|e| ServiceError::invalid("question", e))?;
        for code in &c.categories {
            self.taxonomy
                .category_id(code)
                .map_err(|e| ServiceError::invalid("categories", e))?;
        }
        let now = OffsetDateTime::now_utc();
        let starts = c.starts.unwrap_or(now);
        if c.ends <= starts {
            return Err(ServiceError::invalid(
                "ends_at",
                "a campaign must end after it starts",
            ));
        }
        if c.ends <= now {
            return Err(ServiceError::invalid(
                "ends_at",
                "a campaign must end in the future",
            ));
        }
        let district = match &c.district {
            Some(d) => {
                self.districts.by_public_id(d).ok_or_else(|| {
                    ServiceError::invalid("district", format!("no district {d:?}"))
                })?;
                Some(d.clone())
            }
            None => None,
        };
        let perimeter = match &c.perimeter {
            Some(_) if district.is_some() => {
                return Err(ServiceError::invalid(
                    "perimeter",
                    "give a district or a perimeter, not both",
                ));
            }
            Some(g) => {
                client_polygon(g, "perimeter", &self.config.limits.polygon)?;
                Some(g.to_string())
            }
            None => None,
        };
        let row = CampaignRow {
            id: 0,
            slug: c.slug.clone(),
            title: c.title.trim().to_owned(),
            question: c.question.trim().to_owned(),
            categories: serde_json::to_string(&c.categories)
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            starts_at_ms: unix_ms(starts),
            ends_at_ms: unix_ms(c.ends),
            district,
            perimeter,
            created_by: caller.name.clone(),
            created_at_ms: unix_ms(now),
        };
        let id = match self.store.insert_campaign(row.clone()).await {
            Ok(id) => id,
            Err(crate::store::StoreError::Constraint {
                kind: crate::store::ConstraintKind::Unique,
                ..
            }) => {
                return Err(ServiceError::Conflict(format!(
                    "a campaign is already named {:?}",
                    c.slug
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.load_campaigns().await?;
        self.campaign(&id.to_string())
            .ok_or_else(|| ServiceError::Internal("campaign just stored is missing".into()))
    }

    /// Closes a campaign now.
    ///
    /// # Errors
    /// As [`App::create_campaign`]; [`ServiceError::NotFound`].
    pub async fn close_campaign(
        &self,
        caller: &Caller,
        key: &str,
    ) -> Result<Campaign, ServiceError> {
        Self::authorize(caller, Action::ManageCampaigns)?;
        let Some(c) = self.campaign(key) else {
            return Err(ServiceError::NotFound(format!("no campaign {key:?}")));
        };
        let now = OffsetDateTime::now_utc();
        if c.ends > now {
            let end = unix_ms(now).max(unix_ms(c.starts) + 1);
            self.store.set_campaign_end(c.id, end).await?;
            self.load_campaigns().await?;
        }
        self.campaign(key)
            .ok_or_else(|| ServiceError::Internal("campaign just closed is missing".into()))
    }

    /// A campaign by id or slug.
    #[must_use]
    pub fn campaign(&self, key: &str) -> Option<Campaign> {
        self.campaigns.find(key)
    }

    /// Campaigns open now, nearest first: those whose perimeter lies within
    /// `within_m` of `near` (every campaign when `near` is `None`), with
    /// their distance in metres.
    #[must_use]
    pub fn open_campaigns(&self, near: Option<LonLat>, within_m: f64) -> Vec<(Campaign, f64)> {
        let now = OffsetDateTime::now_utc();
        let mut out: Vec<(Campaign, f64)> = self
            .campaigns
            .all()
            .into_iter()
            .filter(|c| c.is_open_at(now))
            .filter_map(|c| {
                let d = match near {
                    None => 0.0,
                    Some(p) => self.distance_to_perimeter(&c.perimeter, p),
                };
                (d <= within_m).then_some((c, d))
            })
            .collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
        out
    }

    fn distance_to_perimeter(&self, perimeter: &Perimeter, p: LonLat) -> f64 {
        match perimeter {
            Perimeter::City => 0.0,
            Perimeter::District(d) => self
                .districts
                .get(*d)
                .map_or(f64::INFINITY, |d| distance_to(&d.geometry, p)),
            Perimeter::Area(a) => distance_to(a, p),
        }
    }

    /// Checks a report naming a campaign against it; normalises the
    /// campaign reference to the slug.
    ///
    /// # Errors
    /// [`ServiceError::Invalid`] naming `campaign`, `kind`, `category` or
    /// `lon` (outside the perimeter).
    pub(crate) fn check_campaign(&self, r: &mut Report) -> Result<(), ServiceError> {
        let Some(key) = r.campaign.clone() else {
            return Ok(());
        };
        let Some(c) = self.campaign(&key) else {
            return Err(ServiceError::invalid(
                "campaign",
                format!("no campaign {key:?}"),
            ));
        };
        if r.kind != Kind::Contribution {
            return Err(ServiceError::invalid(
                "kind",
                "only a contribution answers a campaign",
            ));
        }
        if r.created_at < c.starts {
            return Err(ServiceError::invalid(
                "campaign",
                format!("campaign {:?} opens on {}", c.slug, c.starts),
            ));
        }
        if r.created_at >= c.ends {
            return Err(ServiceError::invalid(
                "campaign",
                format!("campaign {:?} closed on {}", c.slug, c.ends),
            ));
        }
        if !c.categories.is_empty() && !c.categories.contains(&r.category) {
            let codes: Vec<&str> = c
                .categories
                .iter()
                .map(|id| self.taxonomy.category(*id).code.as_str())
                .collect();
            return Err(ServiceError::invalid(
                "category",
                format!("campaign {:?} asks about {}", c.slug, codes.join(", ")),
            ));
        }
        let inside = match &c.perimeter {
            Perimeter::City => true,
            // The report's own attribution: the same boundary rule as every
            // district figure.
            Perimeter::District(d) => {
                let layer = self.districts.get(*d).map(|d| d.layer);
                layer.is_some_and(|l: Layer| r.districts.get(l) == Some(*d))
            }
            Perimeter::Area(a) => a.intersects(&Point::new(r.location.lon(), r.location.lat())),
        };
        if !inside {
            return Err(ServiceError::invalid(
                "lon",
                format!(
                    "this place is outside the perimeter of campaign {:?}",
                    c.slug
                ),
            ));
        }
        r.campaign = Some(c.slug);
        Ok(())
    }
}
