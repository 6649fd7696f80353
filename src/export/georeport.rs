//! "GeoReport Bulk": every report as an Open311 GeoReport v2 service request,
//! in one `service_requests` document (a JSON array or an XML document),
//! written request by request with [`crate::open311`]'s own mapping and
//! writers, so a request reads exactly as `GET
//! /open311/v2/requests/{id}.{format}?extensions=true` shows it, with one
//! difference: `notes` (the timeline) is left empty, since a bulk file holds
//! the requests, not their histories (`GET /api/v1/reports/{id}/history`).

use super::{Context, ReportRecord};
use crate::districts::District;
use crate::model::{Layer, Report};
use crate::open311::{
    Format, RequestExtensions, ServiceRequests, extended_attributes, service_request,
};

/// The bytes before the first request.
#[must_use]
pub fn start(format: Format) -> Vec<u8> {
    ServiceRequests::render_start(format).into_bytes()
}

/// The bytes after the last request.
#[must_use]
pub fn end(format: Format) -> &'static [u8] {
    ServiceRequests::render_end(format).as_bytes()
}

/// Appends one request; `first` is whether it is the document's first.
/// `scratch` is a reusable buffer (the open311 writers write text).
pub fn write_report(
    out: &mut Vec<u8>,
    ctx: &Context<'_>,
    r: &ReportRecord<'_>,
    format: Format,
    first: bool,
    scratch: &mut String,
) {
    let report = Report {
        id: r.id,
        client_id: None,
        kind: r.kind,
        category: r.category,
        subcategory: r.subcategory,
        description: r.description.to_owned(),
        location: r.location,
        address: r.address.map(str::to_owned),
        channel: r.channel,
        created_at: instant(r.created_ms),
        status: r.status,
        campaign: r.campaign.map(str::to_owned),
        contact: None,
        h3: r.h3,
        districts: r.districts,
    };
    let mut request = service_request(&report, ctx.taxonomy);
    request.updated_datetime = Some(instant(r.updated_ms));
    let mut attributes = extended_attributes(&report);
    attributes.arrondissement = ctx
        .district(&r.districts, Layer::Arrondissement)
        .map(District::to_ref);
    attributes.working_class_district = ctx
        .district(&r.districts, Layer::WorkingClass)
        .map(District::to_ref);
    attributes.duplicate_of = r.duplicate_of.map(|d| d.to_string());
    attributes.supports = r.supports;
    request.extensions = Some(RequestExtensions {
        extended_attributes: attributes,
        notes: Vec::new(),
    });
    scratch.clear();
    request.render_item(format, first, scratch);
    out.extend_from_slice(scratch.as_bytes());
}

/// A unix-ms instant (the store holds them in range; the epoch otherwise).
fn instant(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
