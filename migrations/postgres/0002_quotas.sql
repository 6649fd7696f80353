-- civicmap, PostgreSQL schema 2: rate quotas shared by every instance on
-- this database (src/store/postgres/quotas.rs). Before it, each instance
-- kept its own quota tables in memory, so a client sending through N
-- instances behind a load balancer had N times its quota.
--
-- One row per (holder, quota, period): the theoretical arrival time (TAT)
-- of the generic cell rate algorithm (src/limits.rs, `Gcra`), in
-- microseconds since the Unix epoch on the database server's clock (the
-- instances' clocks differ; the server's is the one they share). An event
-- at `now` is admitted iff greatest(tat, now) + interval - now <= period,
-- and then sets tat to greatest(tat, now) + interval. A row whose TAT has
-- passed says nothing (the same state as no row): such rows are pruned.
--
-- Holders are plain numbers, never a reporter's contact: an IPv4 address,
-- the /64 prefix of an IPv6 address (its upper 64 bits, reinterpreted as
-- signed), or an API key's id. A row lives at most one period (a day for
-- reports per day) after its holder's last request, then is pruned.
--
-- UNLOGGED: quota state needs no durability. Writes to an unlogged table
-- make no WAL records, so the commit of an admit (a transaction that wrote
-- nothing else) does not wait for a WAL flush: with a logged table every
-- request charged would wait for an fsync on the server (our connections run
-- with synchronous_commit on, for the reports), add WAL to archive and ship
-- it to every standby. What is given up: after a crash of the server (not a
-- clean shutdown) the table is emptied, and a standby promoted after a
-- failover starts with it empty; both only forget quotas, which gives each
-- client at most one fresh quota, once. Its rows are in neither the WAL nor
-- physical backups (pg_dump still dumps them unless given
-- --no-unlogged-table-data), which also keeps client addresses out of WAL
-- archives.
--
-- No index on tat_us: the hot path is one update per charged rate, which
-- stays a heap-only (HOT) update when no indexed column changes (the
-- fillfactor leaves room on each page for the new row versions); the prune,
-- once a minute per instance, scans the table, which holds only the holders
-- active during the last period.
CREATE UNLOGGED TABLE quota_tats (
    holder_kind TEXT    NOT NULL CHECK (holder_kind IN ('ipv4', 'ipv6_64', 'key')),
    holder      BIGINT  NOT NULL,
    -- What is charged (src/limits.rs, `Quota::name`).
    quota       TEXT    NOT NULL CHECK (quota IN ('report', 'photo_upload', 'heavy_read',
                                                  'geocode')),
    -- The rate's period, in seconds (60: per minute, 86400: per day).
    period_s    INTEGER NOT NULL CHECK (period_s > 0),
    tat_us      BIGINT  NOT NULL,
    PRIMARY KEY (holder_kind, holder, quota, period_s)
) WITH (fillfactor = 70);
