-- civicmap, SQLite schema 7: what the statistics need beyond schema 6.
--
-- When a city service first acted on a report (a status change, a public
-- note, a duplicate mark or an after-treatment photo): the start of the
-- "time to first response". Set once, by the transaction of that first
-- action. Rows of earlier versions get it from the event log (photos are
-- left out there: the log does not say whether a resident or a service
-- added one).
ALTER TABLE report_state ADD COLUMN first_response_at_ms INTEGER;
UPDATE report_state SET first_response_at_ms = (
    SELECT min(e.at_ms) FROM report_events e
    WHERE e.report_id = report_state.report_id
      AND e.kind IN ('status', 'note', 'duplicate'));

-- A keyed pseudonym of the reporter's contact (the first 63 bits of an
-- HMAC-SHA256 under a key kept in `meta`), so that statistics can count
-- distinct reporters without reading contacts. NULL without a contact. Set
-- at filing; reports filed with a contact before this version get theirs at
-- the next start.
ALTER TABLE reports ADD COLUMN reporter INTEGER;
