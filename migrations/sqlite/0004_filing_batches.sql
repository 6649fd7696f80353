-- civicmap, SQLite schema 4: one event-log row per batch of filings, and
-- the time index the Open311 update listing reads by.
--
-- Until now every filing wrote its own `created` row into `report_events`,
-- which cost about 14 % of the ingest rate (BENCHMARKS.md §9.2). From now on
-- a group commit that files reports writes ONE `created` row for them: it
-- carries `first_report` and `report_id` (the first and last report of the
-- batch) and takes the id at the END of a block of ids reserved for the
-- batch's filings (`n` non-sample reports: ids id-n+1 ..= id, in report
-- order). Readers expand such a row into one `created` event per report, so
-- the event stream keeps one dense, increasing integer id per event and
-- `Last-Event-ID` works as before. Rows written before this schema
-- (`first_report` NULL) stand for one report each.
ALTER TABLE report_events ADD COLUMN first_report INTEGER;

-- `servicerequestupdates` lists updates by time (it scanned the whole log).
CREATE INDEX report_events_at ON report_events (at_ms);
