//! PostgreSQL statements of schema 3 (report photos).
//!
//! The limits of a report's photos are checked in the insert transaction,
//! after locking the report's row (`FOR UPDATE`): two instances adding
//! photos to one report at once are serialised there.

use super::PgStore;
use crate::store::StoreError;
use crate::store::decode::photo_from_row;
use crate::store::photos::{PhotoBatch, PhotoRow, PhotosAdded};

const PHOTO_COLUMNS: &str = "id, report_id, hash, role, width, height, full_bytes, \
                             display_bytes, uploaded_by, created_at_ms";

impl PgStore {
    pub(crate) async fn add_photos(&self, b: PhotoBatch) -> Result<PhotosAdded, StoreError> {
        let mut tx = self.pool.begin().await?;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM reports WHERE id = $1 FOR UPDATE")
                .bind(b.report_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(status) = status else {
            return Ok(PhotosAdded::NotFound);
        };
        if b.required_status.as_ref().is_some_and(|s| *s != status) {
            return Ok(PhotosAdded::WrongStatus { status });
        }
        let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE report_id = $1 ORDER BY id");
        let mut held = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(b.report_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(photo_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let stored =
            i64::try_from(held.iter().filter(|p| p.role == b.role).count()).unwrap_or(i64::MAX);

        // Which rows are new (a repeat, held or earlier in the batch, is not).
        let mut plan: Vec<usize> = Vec::with_capacity(b.rows.len());
        let mut new_rows: Vec<PhotoRow> = Vec::new();
        for row in &b.rows {
            if let Some(h) = held.iter().position(|p| p.hash == row.hash) {
                if held[h].role != b.role {
                    return Ok(PhotosAdded::RoleTaken {
                        hash: row.hash.clone(),
                        role: held[h].role.clone(),
                    });
                }
                plan.push(h);
            } else if let Some(n) = new_rows.iter().position(|p| p.hash == row.hash) {
                plan.push(held.len() + n);
            } else {
                plan.push(held.len() + new_rows.len());
                new_rows.push(row.clone());
            }
        }
        let adding = i64::try_from(new_rows.len()).unwrap_or(i64::MAX);
        if stored.saturating_add(adding) > b.max {
            return Ok(PhotosAdded::Full { stored });
        }
        let first_new = held.len();
        for mut row in new_rows {
            row.id = sqlx::query_scalar(
                "INSERT INTO photos (report_id, hash, role, width, height, full_bytes, \
                 display_bytes, uploaded_by, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(b.report_id)
            .bind(row.hash.as_str())
            .bind(b.role.as_str())
            .bind(row.width)
            .bind(row.height)
            .bind(row.full_bytes)
            .bind(row.display_bytes)
            .bind(row.uploaded_by.as_str())
            .bind(row.created_at_ms)
            .fetch_one(&mut *tx)
            .await?;
            row.report_id = b.report_id;
            row.role.clone_from(&b.role);
            held.push(row);
        }
        tx.commit().await?;
        // Each input row once: the first occurrence of a new photo is new.
        let mut seen_new = vec![false; held.len()];
        Ok(PhotosAdded::Done(
            plan.into_iter()
                .map(|i| {
                    let new = i >= first_new && !std::mem::replace(&mut seen_new[i], true);
                    (held[i].clone(), new)
                })
                .collect(),
        ))
    }

    pub(crate) async fn photos_of(&self, report_id: i64) -> Result<Vec<PhotoRow>, StoreError> {
        let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE report_id = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(report_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(photo_from_row).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn photo_exists(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM photos WHERE hash = $1)")
                .bind(hash)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
