-- civicmap, SQLite schema 8: erasing reporters' contacts (on request, and
-- after the retention period).
--
-- Erasing a report's contact sets `reports.contact` AND `reports.reporter`
-- (its keyed pseudonym) to NULL: the pseudonym is a linkable identifier of a
-- person too. The report itself stays, anonymous. The statement runs with
-- `PRAGMA secure_delete` on, so that the old bytes are overwritten in the
-- pages it rewrites, and is followed by a WAL checkpoint that truncates the
-- log (see src/store/sqlite/privacy.rs).

-- The private record of every erasure: when, why (`request`: an agent's or
-- an admin's, `retention`: the retention period ran out) and by which key
-- (its name; NULL for retention). Never the erased value. Not part of the
-- public event log (`report_events`): erasures made for one resident at the
-- same instant would publicly link their reports.
CREATE TABLE contact_erasures (
    id        INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id),
    at_ms     INTEGER NOT NULL,
    reason    TEXT    NOT NULL CHECK (reason IN ('request', 'retention')),
    author    TEXT    CHECK (author IS NULL OR length(author) BETWEEN 1 AND 100),
    CHECK ((reason = 'request') = (author IS NOT NULL))
) STRICT;
CREATE INDEX contact_erasures_report ON contact_erasures (report_id, id);

-- The reports still holding a contact, by filing time: what the retention
-- purge reads (oldest first) and nothing else. A report with a contact is
-- filed now, so its entry lands at the end of the index (one page per batch
-- of filings); an erased one leaves it. The pseudonym is only ever set with a
-- contact and erased with it.
CREATE INDEX reports_contact_created ON reports (created_at_ms) WHERE contact IS NOT NULL;
