//! Shared rate quotas (see `store::quotas` and `migrations/postgres/0002`):
//! the GCRA of every rate of a request in one statement.
//!
//! Why the statement is atomic across instances, in READ COMMITTED:
//! - the rows of the request that exist are locked first (`FOR UPDATE`, in
//!   key order, so two requests sharing rows never deadlock), which also
//!   reads their latest committed TAT, whatever the statement's snapshot;
//! - the time is read from the server's clock *after* those locks
//!   (`clock_timestamp()` over the locked rows), so that per row the times
//!   of successive charges never go backwards, whichever instance sends them;
//! - the verdict of every rate is computed from those TATs, and the rows are
//!   written only if every rate admits the event (all or none);
//! - each write is a compare-and-set on the TAT the verdict read: a row
//!   locked above cannot have moved; a row that did not exist in the
//!   snapshot but was inserted meanwhile by another instance (two first
//!   requests of a holder at once) is not written. That one case leaves the
//!   request partly charged: what was written is given back (as the
//!   in-memory limiter's refund does) and the request is judged again, the
//!   row now existing and locked. Rows never come back into that case while
//!   they live, so the retries are bounded by the number of rates.
//!
//! A deadlock is possible in one corner: a request that locked a row which
//! another request, seeing more rows in its snapshot, wants after a row
//! the first then finds inserted (a prune, then two inserters, at once).
//! The server aborts one statement, which charged nothing, and it is run
//! again.

use super::PgStore;
use crate::store::StoreError;
use crate::store::quotas::{Charged, QuotaCharge};

/// Charges the rates `$1..$5` (holder kinds, holders, quotas, periods,
/// intervals), all or none; one row per rate, in the order given: whether
/// it admits, the TAT read and the server's time (µs), whether it was
/// written.
const CHARGE: &str = "\
WITH wanted AS MATERIALIZED (
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::bigint[])
        WITH ORDINALITY AS w (holder_kind, holder, quota, period_s, interval_us, i)
),
held AS MATERIALIZED (
    SELECT q.holder_kind, q.holder, q.quota, q.period_s, q.tat_us
    FROM quota_tats AS q
    JOIN wanted AS w USING (holder_kind, holder, quota, period_s)
    ORDER BY q.holder_kind, q.holder, q.quota, q.period_s
    FOR UPDATE OF q
),
clock AS MATERIALIZED (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us
    FROM (SELECT count(*) FROM held) AS h
),
verdict AS MATERIALIZED (
    SELECT w.i, w.holder_kind, w.holder, w.quota, w.period_s, w.interval_us,
           h.tat_us AS held_us, coalesce(h.tat_us, 0) AS tat_us, c.now_us,
           greatest(coalesce(h.tat_us, 0), c.now_us) + w.interval_us - c.now_us
               <= w.period_s * 1000000::bigint AS admits
    FROM wanted AS w
    CROSS JOIN clock AS c
    LEFT JOIN held AS h USING (holder_kind, holder, quota, period_s)
),
written AS (
    INSERT INTO quota_tats AS q (holder_kind, holder, quota, period_s, tat_us)
    SELECT holder_kind, holder, quota, period_s, greatest(tat_us, now_us) + interval_us
    FROM verdict
    WHERE (SELECT bool_and(admits) FROM verdict)
    ORDER BY holder_kind, holder, quota, period_s
    ON CONFLICT (holder_kind, holder, quota, period_s) DO UPDATE
        SET tat_us = excluded.tat_us
        WHERE q.tat_us IS NOT DISTINCT FROM (
            SELECT v.held_us FROM verdict AS v
            WHERE (v.holder_kind, v.holder, v.quota, v.period_s)
                = (q.holder_kind, q.holder, q.quota, q.period_s))
    RETURNING holder_kind, holder, quota, period_s
)
SELECT v.admits, v.tat_us, v.now_us, w.holder IS NOT NULL AS written
FROM verdict AS v
LEFT JOIN written AS w USING (holder_kind, holder, quota, period_s)
ORDER BY v.i";

/// SQLSTATE `deadlock_detected`.
const DEADLOCK: &str = "40P01";

/// Gives back one interval to each rate `$1..$5` (a charge undone).
const REFUND: &str = "\
UPDATE quota_tats AS q SET tat_us = q.tat_us - r.interval_us
FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::bigint[])
    AS r (holder_kind, holder, quota, period_s, interval_us)
WHERE (q.holder_kind, q.holder, q.quota, q.period_s)
    = (r.holder_kind, r.holder, r.quota, r.period_s)";

/// Rows whose TAT has passed: the same state as no row.
const PRUNE: &str =
    "DELETE FROM quota_tats WHERE tat_us < (extract(epoch FROM now()) * 1000000)::bigint";

/// The five arrays of a statement's parameters.
type Columns<'a> = (Vec<&'a str>, Vec<i64>, Vec<&'a str>, Vec<i32>, Vec<i64>);

fn columns<'a>(charges: impl IntoIterator<Item = &'a QuotaCharge>) -> Columns<'a> {
    let mut c: Columns<'a> = Default::default();
    for q in charges {
        c.0.push(q.holder_kind);
        c.1.push(q.holder);
        c.2.push(q.quota);
        c.3.push(q.period_s);
        c.4.push(q.interval_us);
    }
    c
}

impl PgStore {
    pub(crate) async fn charge_quotas(
        &self,
        charges: &[QuotaCharge],
    ) -> Result<Charged, StoreError> {
        if charges.is_empty() {
            return Ok(Charged::Admitted);
        }
        let (kinds, holders, quotas, periods, intervals) = columns(charges);
        // Each round that finds a row inserted meanwhile leaves it existing
        // for the next: at most one such round per rate (and a deadlock).
        for _ in 0..=charges.len() + 1 {
            let judged: Result<Vec<(bool, i64, i64, bool)>, sqlx::Error> = sqlx::query_as(CHARGE)
                .bind(&kinds)
                .bind(&holders)
                .bind(&quotas)
                .bind(&periods)
                .bind(&intervals)
                .fetch_all(&self.pool)
                .await;
            let rows = match judged {
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(DEADLOCK) => continue,
                judged => judged?,
            };
            if rows.len() != charges.len() {
                return Err(super::internal("quota verdicts"));
            }
            if rows.iter().all(|r| r.3) {
                return Ok(Charged::Admitted);
            }
            if let Some((index, &(_, tat_us, now_us, _))) =
                rows.iter().enumerate().find(|(_, r)| !r.0)
            {
                return Ok(Charged::Refused {
                    index,
                    tat_us,
                    now_us,
                });
            }
            // Every rate admitted, but a row was inserted by another
            // instance after this statement's snapshot: undo what was
            // written and judge again.
            let charged: Vec<&QuotaCharge> = charges
                .iter()
                .zip(&rows)
                .filter(|(_, r)| r.3)
                .map(|(c, _)| c)
                .collect();
            if !charged.is_empty() {
                let (k, h, q, p, i) = columns(charged);
                sqlx::query(REFUND)
                    .bind(&k)
                    .bind(&h)
                    .bind(&q)
                    .bind(&p)
                    .bind(&i)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Err(super::internal("quota charge retries"))
    }

    pub(crate) async fn prune_quotas(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(PRUNE)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
