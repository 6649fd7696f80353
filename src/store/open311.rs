//! The two event-log reads of the Open311 edge: the updates of a time
//! window (mySociety's `GET servicerequestupdates`) and the timelines of a
//! page of reports at once (`extensions=true`).

use super::{Backend, EventRow, Store, StoreError};

impl Store {
    /// Events of the given kinds whose time lies in `from_ms..=to_ms`,
    /// oldest first (ties by id), skipping `offset`, at most `limit`.
    ///
    /// Read through the log's time index (schema 4).
    ///
    /// # Errors
    /// As [`Store::report`].
    pub async fn events_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        kinds: &[&str],
        offset: u64,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.events_between(from_ms, to_ms, kinds, offset, limit).await,
            Backend::Postgres(s) => s.events_between(from_ms, to_ms, kinds, offset, limit).await,
        }
    }
}
