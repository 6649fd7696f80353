-- civicmap, SQLite schema 6: drop the secondary indexes of `reports` that no
-- statement uses.
--
-- Every query by category, status, district or area is answered by the
-- in-memory index (src/spatial); SQL reads reports by id, client id, id
-- range (boot scan, exports) and campaign only. Each of these indexes cost
-- one B-tree insertion and its WAL pages on every filing (and `status` one
-- more on every status change). `reports_created_at` stays: it is the
-- smallest index, which `count(*)` at boot reads instead of the table, and
-- the one a time-range read would need.
DROP INDEX reports_category;
DROP INDEX reports_status;
DROP INDEX reports_arrondissement;
DROP INDEX reports_working_class;
