//! Rows of either backend decoded into the store's plain rows, written
//! once: both `SqliteRow` and `PgRow` give their columns by position through
//! [`Columns`], so the statements of `sqlite/` and `postgres/` that feed a
//! decoder select the same columns in the same order (the `*_COLUMNS`
//! constants of each backend).

use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Decode, Row as _, Type};

use super::StoreError;
use super::lifecycle::{CampaignRow, EventRow, KeyRow, StateRow};
use super::photos::PhotoRow;
use super::rows::{DistrictIds, LayerRow, ProjectRow, ReportRow};
use super::webhooks::{DeliveryRow, WebhookRow};

/// A column type both backends decode.
pub(crate) trait Value:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Value for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A row of either backend, read by column position.
pub(crate) trait Columns {
    /// The value of column `i` (0-based).
    ///
    /// # Errors
    /// As `sqlx::Row::try_get`: no such column, or a value of another type.
    fn col<T: Value>(&self, i: usize) -> Result<T, sqlx::Error>;
}

impl Columns for SqliteRow {
    fn col<T: Value>(&self, i: usize) -> Result<T, sqlx::Error> {
        self.try_get(i)
    }
}

impl Columns for PgRow {
    fn col<T: Value>(&self, i: usize) -> Result<T, sqlx::Error> {
        self.try_get(i)
    }
}

pub(crate) fn event_from_row(r: &impl Columns) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        id: r.col(0)?,
        report_id: r.col(1)?,
        at_ms: r.col(2)?,
        kind: r.col(3)?,
        status: r.col(4)?,
        note: r.col(5)?,
        author: r.col(6)?,
        duplicate_of: r.col(7)?,
        photo: r.col(8)?,
    })
}

pub(crate) fn key_from_row(r: &impl Columns) -> Result<KeyRow, sqlx::Error> {
    Ok(KeyRow {
        id: r.col(0)?,
        name: r.col(1)?,
        role: r.col(2)?,
        prefix: r.col(3)?,
        hash: r.col(4)?,
        created_at_ms: r.col(5)?,
        revoked_at_ms: r.col(6)?,
    })
}

pub(crate) fn state_from_row(r: &impl Columns) -> Result<StateRow, sqlx::Error> {
    Ok(StateRow {
        report_id: r.col(0)?,
        updated_at_ms: r.col(1)?,
        closed_at_ms: r.col(2)?,
        duplicate_of: r.col(3)?,
        supports: r.col(4)?,
        first_response_at_ms: r.col(5)?,
    })
}

pub(crate) fn campaign_from_row(r: &impl Columns) -> Result<CampaignRow, sqlx::Error> {
    Ok(CampaignRow {
        id: r.col(0)?,
        slug: r.col(1)?,
        title: r.col(2)?,
        question: r.col(3)?,
        categories: r.col(4)?,
        starts_at_ms: r.col(5)?,
        ends_at_ms: r.col(6)?,
        district: r.col(7)?,
        perimeter: r.col(8)?,
        created_by: r.col(9)?,
        created_at_ms: r.col(10)?,
    })
}

pub(crate) fn photo_from_row(r: &impl Columns) -> Result<PhotoRow, sqlx::Error> {
    Ok(PhotoRow {
        id: r.col(0)?,
        report_id: r.col(1)?,
        hash: r.col(2)?,
        role: r.col(3)?,
        width: r.col(4)?,
        height: r.col(5)?,
        full_bytes: r.col(6)?,
        display_bytes: r.col(7)?,
        uploaded_by: r.col(8)?,
        created_at_ms: r.col(9)?,
    })
}

pub(crate) fn webhook_from_row(r: &impl Columns) -> Result<WebhookRow, sqlx::Error> {
    Ok(WebhookRow {
        id: r.col(0)?,
        key_id: r.col(1)?,
        name: r.col(2)?,
        description: r.col(3)?,
        url: r.col(4)?,
        secret: r.col(5)?,
        district: r.col(6)?,
        area: r.col(7)?,
        bbox: r.col(8)?,
        categories: r.col(9)?,
        kinds: r.col(10)?,
        cursor: r.col(11)?,
        created_at_ms: r.col(12)?,
        deleted_at_ms: r.col(13)?,
        disabled_at_ms: r.col(14)?,
        disabled_reason: r.col(15)?,
        failures: r.col(16)?,
    })
}

pub(crate) fn delivery_from_row(r: &impl Columns) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        id: r.col(0)?,
        webhook_id: r.col(1)?,
        event_id: r.col(2)?,
        at_ms: r.col(3)?,
        attempts: r.col(4)?,
        ok: r.col(5)?,
        status: r.col(6)?,
        error: r.col(7)?,
        duration_ms: r.col(8)?,
    })
}

pub(crate) fn districts_from_row(
    row: &impl Columns,
    first: usize,
) -> Result<DistrictIds, sqlx::Error> {
    Ok([
        row.col(first)?,
        row.col(first + 1)?,
        row.col(first + 2)?,
        row.col(first + 3)?,
        row.col(first + 4)?,
    ])
}

pub(crate) fn report_from_row(row: &impl Columns) -> Result<ReportRow, StoreError> {
    Ok(ReportRow {
        id: row.col(0)?,
        kind: row.col(1)?,
        status: row.col(2)?,
        category: row.col(3)?,
        lon: row.col(4)?,
        lat: row.col(5)?,
        created_at_ms: row.col(6)?,
        h3: row.col(7)?,
        districts: districts_from_row(row, 8)?,
        subcategory: row.col(13)?,
        channel: row.col(14)?,
        seed: row.col(15)?,
        client_id: row.col(16)?,
        campaign: row.col(17)?,
        address: row.col(18)?,
        contact: row.col(19)?,
        description: row.col(20)?,
        reporter: row.col(21)?,
    })
}

pub(crate) fn project_from_row(row: &impl Columns) -> Result<ProjectRow, StoreError> {
    Ok(ProjectRow {
        id: row.col(0)?,
        title: row.col(1)?,
        edition: row.col(2)?,
        theme: row.col(3)?,
        lead_department: row.col(4)?,
        budget_eur: row.col(5)?,
        scale: row.col(6)?,
        address: row.col(7)?,
        arrondissement_code: row.col(8)?,
        working_class_flag: row.col(9)?,
        progress: row.col(10)?,
        studies_start: row.col(11)?,
        procedures_start: row.col(12)?,
        works_start: row.col(13)?,
        delivery_planned: row.col(14)?,
        opened: row.col(15)?,
        url: row.col(16)?,
        lon: row.col(17)?,
        lat: row.col(18)?,
        geocode_quality: row.col(19)?,
        h3: row.col(20)?,
        districts: districts_from_row(row, 21)?,
    })
}

pub(crate) fn layer_from_row(row: &impl Columns) -> Result<LayerRow, StoreError> {
    Ok(LayerRow {
        layer: row.col(0)?,
        version: row.col(1)?,
        source: row.col(2)?,
        official: row.col(3)?,
        valid_from: row.col(4)?,
        valid_to: row.col(5)?,
        code_property: row.col(6)?,
        name_property: row.col(7)?,
        geojson: row.col(8)?,
        imported_at_ms: row.col(9)?,
    })
}
