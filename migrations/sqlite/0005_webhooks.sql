-- civicmap, SQLite schema 5: webhooks a city back office registers, their
-- delivery cursors and a short log of deliveries.
--
-- Same conventions as the schemas before (INTEGER unix milliseconds, JSON
-- arrays as TEXT, checked here).

-- A registered webhook. `secret` is the signing secret: unlike an API key it
-- must be stored in clear, since every delivery is signed with it; it is
-- shown once, in the answer that created the webhook, and never again.
-- The area is a district (public id), a GeoJSON Polygon/MultiPolygon, a
-- bbox (`minlon,minlat,maxlon,maxlat`) or none (the whole city).
-- `cursor` is the id of the last event of the log handled (delivered,
-- given up on, or filtered out): deliveries resume after it, across
-- restarts. A webhook is never deleted: `deleted_at_ms` deactivates it
-- (through the API), `disabled_at_ms` after too many failed events.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY,
    key_id          INTEGER NOT NULL REFERENCES api_keys (id),
    name            TEXT    NOT NULL CHECK (length(name) <= 100),
    description     TEXT    NOT NULL CHECK (length(description) <= 500),
    url             TEXT    NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    secret          TEXT    NOT NULL CHECK (length(secret) >= 32),
    district        TEXT,
    area            TEXT,
    bbox            TEXT,
    categories      TEXT    NOT NULL,
    kinds           TEXT    NOT NULL,
    cursor          INTEGER NOT NULL CHECK (cursor >= 0),
    created_at_ms   INTEGER NOT NULL,
    deleted_at_ms   INTEGER,
    disabled_at_ms  INTEGER,
    disabled_reason TEXT,
    -- Events in a row that failed every attempt (0 after a success).
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    CHECK ((district IS NOT NULL) + (area IS NOT NULL) + (bbox IS NOT NULL) <= 1)
) STRICT;
CREATE INDEX webhooks_key ON webhooks (key_id, id);

-- The last deliveries of each webhook (one row per event delivered or given
-- up on, not per attempt; older rows are pruned in the same transaction).
-- `status` is the HTTP status of the last attempt (NULL: no answer).
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks (id),
    event_id    INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    attempts    INTEGER NOT NULL CHECK (attempts >= 1),
    ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0)
) STRICT;
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
