-- civicmap, SQLite schema 2: API keys, the report lifecycle (public event
-- log, current state, supports) and campaigns.
--
-- Same conventions as schema 1 (INTEGER unix milliseconds, enumerations as
-- their wire spelling, checked here).

-- API keys. Only a SHA-256 digest of each key is stored (keys are 256-bit
-- random secrets, so a fast digest is enough: no dictionary to guess from);
-- `prefix` is the key's first characters, shown in listings so that an
-- operator can tell keys apart. A revoked key stays, for the record.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          TEXT    NOT NULL CHECK (role IN ('app', 'agent', 'admin', 'analyst')),
    prefix        TEXT    NOT NULL,
    hash          BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
) STRICT;

-- The public timeline of every report, and the source of the live event
-- stream: an event's id is its position in that stream (`Last-Event-ID`).
-- `author` is the name of the API key that acted (a service, never a
-- person); `note` is public text. Reports of the reference sample have no
-- `created` event.
CREATE TABLE report_events (
    id           INTEGER PRIMARY KEY,
    report_id    INTEGER NOT NULL REFERENCES reports (id),
    at_ms        INTEGER NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('created', 'status', 'note', 'support',
                                                  'duplicate', 'photo')),
    status       TEXT    NOT NULL CHECK (status IN ('new', 'to_process', 'scheduled',
                             'transferred', 'under_watch', 'done', 'rejected', 'archived')),
    note         TEXT,
    author       TEXT,
    duplicate_of INTEGER REFERENCES reports (id),
    photo        TEXT
) STRICT;
CREATE INDEX report_events_report ON report_events (report_id, id);

-- What changed about a report since it was filed, one row per report that
-- changed (most never do, so the boot scan of `reports` stays as it was and
-- this small table is read beside it).
CREATE TABLE report_state (
    report_id     INTEGER PRIMARY KEY REFERENCES reports (id),
    updated_at_ms INTEGER NOT NULL,
    -- When it last entered a closed state (done, rejected, archived); NULL
    -- while open.
    closed_at_ms  INTEGER,
    duplicate_of  INTEGER REFERENCES reports (id),
    supports      INTEGER NOT NULL DEFAULT 0 CHECK (supports >= 0)
) STRICT;

-- "Me too": one row per (report, client id), so a support counts once.
CREATE TABLE supports (
    report_id INTEGER NOT NULL REFERENCES reports (id),
    client_id TEXT    NOT NULL CHECK (length(client_id) BETWEEN 1 AND 128),
    at_ms     INTEGER NOT NULL,
    PRIMARY KEY (report_id, client_id)
) STRICT, WITHOUT ROWID;

-- Campaigns of positive contributions. `categories` is a JSON array of
-- category codes (empty: any); the perimeter is either a district (its
-- public id) or a GeoJSON polygon, or neither (the whole city).
CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    slug          TEXT    NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 64),
    title         TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    question      TEXT    NOT NULL,
    categories    TEXT    NOT NULL,
    starts_at_ms  INTEGER NOT NULL,
    ends_at_ms    INTEGER NOT NULL CHECK (ends_at_ms > starts_at_ms),
    district      TEXT,
    perimeter     TEXT,
    created_by    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    CHECK (district IS NULL OR perimeter IS NULL)
) STRICT;

-- Contributions answering a campaign, read at boot into the index (most
-- reports answer none: a partial index costs nothing to their inserts).
CREATE INDEX reports_campaign ON reports (campaign, id) WHERE campaign IS NOT NULL;
