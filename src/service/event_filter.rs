//! Which events of the log a follower wants: the one rule shared by the
//! event stream (SSE query parameters) and webhooks (their registration).
//! Pure: it reads the report summary an event carries, nothing else.

use geo::{Intersects as _, MultiPolygon, Point};

use super::PublicEvent;
use crate::model::{CategoryId, Envelope, Kind, Layer, ReportId};

/// A filter over [`PublicEvent`]s; the default lets every event through.
/// Every condition given must hold. Conditions on the report (place,
/// category, kind) refuse an event without a report summary.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this report's events.
    pub report: Option<ReportId>,
    /// Reports in this box, edges included.
    pub bbox: Option<Envelope>,
    /// Reports attributed to this district (dense id in its layer), at
    /// their own date: the same rule as every district figure.
    pub district: Option<(Layer, u32)>,
    /// Reports in this area, boundary included.
    pub area: Option<MultiPolygon<f64>>,
    /// Reports of this kind.
    pub kind: Option<Kind>,
    /// Reports of one of these categories (empty: any).
    pub categories: Vec<CategoryId>,
    /// Events of one of these kinds (`created`, `status`…; empty: any).
    pub event_kinds: Vec<String>,
}

impl EventFilter {
    /// Whether `e` passes.
    #[must_use]
    pub fn matches(&self, e: &PublicEvent) -> bool {
        if self.report.is_some_and(|r| r != e.report_id) {
            return false;
        }
        if !self.event_kinds.is_empty() && !self.event_kinds.contains(&e.kind) {
            return false;
        }
        let Some(s) = e.report else {
            return self.bbox.is_none()
                && self.district.is_none()
                && self.area.is_none()
                && self.kind.is_none()
                && self.categories.is_empty();
        };
        self.kind.is_none_or(|k| s.kind == k)
            && (self.categories.is_empty() || self.categories.contains(&s.category))
            && self
                .district
                .is_none_or(|(layer, d)| s.districts.get(layer) == Some(d))
            && self.bbox.is_none_or(|b| {
                (b.min_lon..=b.max_lon).contains(&s.location.lon())
                    && (b.min_lat..=b.max_lat).contains(&s.location.lat())
            })
            && self
                .area
                .as_ref()
                .is_none_or(|a| a.intersects(&Point::new(s.location.lon(), s.location.lat())))
    }
}

#[cfg(test)]
mod tests {
    use geo::{LineString, Polygon};
    use time::OffsetDateTime;

    use super::*;
    use crate::model::{Districts, LonLat, Status};
    use crate::spatial::ReportSummary;

    fn event(kind: &str, lon: f64, lat: f64, category: u16) -> PublicEvent {
        PublicEvent {
            id: 7,
            report_id: 3,
            at: OffsetDateTime::UNIX_EPOCH,
            kind: kind.to_owned(),
            status: Status::New,
            note: None,
            author: None,
            duplicate_of: None,
            photo: None,
            report: Some(ReportSummary {
                id: 3,
                location: LonLat::new(lon, lat).unwrap_or_else(|e| panic!("{e}")),
                kind: Kind::Anomaly,
                category: CategoryId(category),
                status: Status::New,
                created_ms: 0,
                h3: 0,
                districts: Districts::default(),
                closed_ms: None,
                channel: crate::model::Channel::Web,
                reporter: None,
                first_response_ms: None,
            }),
            supports: 0,
        }
    }

    fn square(lon: f64, lat: f64, side: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![Polygon::new(
            LineString::from(vec![
                (lon, lat),
                (lon + side, lat),
                (lon + side, lat + side),
                (lon, lat + side),
                (lon, lat),
            ]),
            vec![],
        )])
    }

    #[test]
    fn an_empty_filter_lets_everything_through_even_without_a_report() {
        let mut e = event("note", 2.35, 48.85, 0);
        assert!(EventFilter::default().matches(&e));
        e.report = None;
        assert!(EventFilter::default().matches(&e));
        let f = EventFilter {
            categories: vec![CategoryId(0)],
            ..EventFilter::default()
        };
        assert!(!f.matches(&e), "a report condition needs a report");
    }

    #[test]
    fn an_area_holds_its_boundary_and_conditions_add_up() {
        let f = EventFilter {
            area: Some(square(2.34, 48.84, 0.02)),
            categories: vec![CategoryId(1), CategoryId(2)],
            event_kinds: vec!["created".into(), "status".into()],
            ..EventFilter::default()
        };
        assert!(f.matches(&event("created", 2.35, 48.85, 2)));
        assert!(f.matches(&event("status", 2.34, 48.85, 1)), "on the edge");
        assert!(!f.matches(&event("note", 2.35, 48.85, 2)), "event kind");
        assert!(!f.matches(&event("created", 2.35, 48.85, 3)), "category");
        assert!(!f.matches(&event("created", 2.37, 48.85, 2)), "outside");
    }
}
