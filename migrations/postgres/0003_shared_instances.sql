-- civicmap, PostgreSQL schema 3: what several instances on this database
-- share beyond the reports (issue 7). (Schema 2 is the store-backed quotas.)
--
-- Webhook delivery leases. Every instance runs a worker per active webhook,
-- but only the holder of the webhook's lease delivers; the others stand by
-- and take the lease over once it has run out (a holder renews it long
-- before). Times are the database server's clock (`clock_timestamp()`),
-- never an instance's, so instances whose clocks disagree still agree on
-- who holds a lease.
--
-- `term` goes up each time the lease changes hands (or its holder lets it
-- run out and takes it again): a worker that sees a term it does not know
-- reads the webhook's cursor again, since another holder may have moved
-- it. A delivery is recorded (and the cursor moved) only in a transaction
-- that finds its lease still held and locks the lease row `FOR SHARE`, so a
-- takeover (an UPDATE of that row) waits for it to commit, and the new
-- holder reads the cursor it left: a former holder can neither move the
-- cursor back nor record an event twice.
--
-- One row per webhook, made with it (`holder` empty, `until` in the past:
-- free). Webhooks are never deleted (only marked), so neither are leases.
CREATE TABLE webhook_leases (
    webhook_id BIGINT      PRIMARY KEY REFERENCES webhooks (id),
    holder     TEXT        NOT NULL CHECK (length(holder) <= 100),
    term       BIGINT      NOT NULL CHECK (term >= 0),
    until      TIMESTAMPTZ NOT NULL
);
INSERT INTO webhook_leases (webhook_id, holder, term, until)
SELECT id, '', 0, '-infinity' FROM webhooks;

-- Campaigns and webhooks in the change sequence. A transaction that creates,
-- changes or deletes one (takes the log lock and) appends a row of kind
-- `campaign` or `webhook` naming it in `entity_id`, with `report_id` NULL,
-- and notifies as for reports: every instance then reloads it (its campaign
-- list; its worker for that webhook, started or stopped).
ALTER TABLE changes ALTER COLUMN report_id DROP NOT NULL;
ALTER TABLE changes ADD COLUMN entity_id BIGINT;
ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check
    CHECK (kind IN ('created', 'status', 'note', 'duplicate', 'photo', 'support', 'districts',
                    'contact', 'reporter', 'campaign', 'webhook'));
ALTER TABLE changes ADD CONSTRAINT changes_subject_check
    CHECK (CASE WHEN kind IN ('campaign', 'webhook')
                THEN report_id IS NULL AND entity_id IS NOT NULL
                ELSE report_id IS NOT NULL AND entity_id IS NULL END);
