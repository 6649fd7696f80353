//! Rate quotas shared by every instance on one store (PostgreSQL only:
//! SQLite serves one process, whose quotas stay in memory, `crate::limits`).
//!
//! The store holds one theoretical arrival time (TAT) per holder, quota and
//! period, and charges a request's rates in one statement, all or none, on
//! the database server's clock; the GCRA it applies is `limits::Gcra`'s
//! (the edge turns a refusal into a `Retry-After` with it). Rows are plain
//! numbers: an address or an API key id, never a contact.

use super::{Backend, Store, StoreError};

/// Every `holder_kind` of a quota row: an IPv4 address, the /64 prefix of
/// an IPv6 address, an API key id.
pub const QUOTA_HOLDER_KINDS: [&str; 3] = ["ipv4", "ipv6_64", "key"];

/// One rate to charge one event to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCharge {
    /// One of [`QUOTA_HOLDER_KINDS`].
    pub holder_kind: &'static str,
    /// The address (an IPv6 prefix's 64 bits reinterpreted as signed) or
    /// the key id.
    pub holder: i64,
    /// What is charged (`limits::Quota::name`).
    pub quota: &'static str,
    /// The rate's period in seconds: with the two above, the row's identity.
    pub period_s: i32,
    /// The GCRA emission interval (period / count), in microseconds.
    pub interval_us: i64,
}

/// What [`Store::charge_quotas`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    /// Every rate admitted the event and was charged.
    Admitted,
    /// The rate at `index` (the first in the order given) refused it, and
    /// none was charged: its TAT and the server's time it was judged at, in
    /// microseconds since the Unix epoch.
    Refused {
        index: usize,
        tat_us: i64,
        now_us: i64,
    },
}

impl Store {
    /// Whether quotas are kept in the store, shared by every instance on it
    /// (PostgreSQL); otherwise each process keeps its own.
    #[must_use]
    pub fn has_shared_quotas(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Charges one event to every rate of `charges`, or to none when one of
    /// them refuses it, atomically across every instance, on the database
    /// server's clock. `None` on a store without shared quotas (SQLite).
    ///
    /// The same (holder, quota, period) must not appear twice.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure
    /// (nothing charged then, or all: the statement is atomic).
    pub async fn charge_quotas(
        &self,
        charges: &[QuotaCharge],
    ) -> Result<Option<Charged>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(s) => s.charge_quotas(charges).await.map(Some),
        }
    }

    /// Deletes the quota rows whose TAT has passed (they carry no state);
    /// returns how many (0 without shared quotas).
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn prune_quotas(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(0),
            Backend::Postgres(s) => s.prune_quotas().await,
        }
    }
}
