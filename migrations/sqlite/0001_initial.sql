-- civicmap, SQLite schema 1: reports, participatory-budget projects, imported
-- perimeter layers and a key/value meta table.
--
-- Conventions (shared with the PostgreSQL schema of a later issue):
-- * timestamps are INTEGER unix milliseconds (UTC);
-- * enumerations are stored as their wire spelling (TEXT) and checked here;
-- * a record's districts are five nullable TEXT columns named after the
--   layers, holding the public district id (never empty: NULL means "in no
--   district of that layer");
-- * U+001E and U+001F never occur in a report's category or district ids:
--   the boot scan uses them as separators;
-- * H3 cells are INTEGER (the 64-bit index reinterpreted as signed).
--
-- Column order matters for the boot scan (`load_index_rows`): SQLite reads a
-- record's columns from its start and spills long records to overflow pages,
-- so the columns the in-memory index needs come first and the long free texts
-- (description, address, contact) last.

CREATE TABLE reports (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('anomaly', 'contribution')),
    status           TEXT    NOT NULL CHECK (status IN ('new', 'to_process', 'scheduled',
                                 'transferred', 'under_watch', 'done', 'rejected', 'archived')),
    category         TEXT    NOT NULL CHECK (length(category) BETWEEN 1 AND 128
                                             AND category NOT GLOB '*[' || char(30, 31) || ']*'),
    lon              REAL    NOT NULL CHECK (lon BETWEEN -180.0 AND 180.0),
    lat              REAL    NOT NULL CHECK (lat BETWEEN -90.0 AND 90.0),
    created_at_ms    INTEGER NOT NULL,
    h3               INTEGER NOT NULL,
    arrondissement   TEXT    CHECK (arrondissement <> ''
                                 AND arrondissement NOT GLOB '*[' || char(30, 31) || ']*'),
    quartier         TEXT    CHECK (quartier <> ''
                                 AND quartier NOT GLOB '*[' || char(30, 31) || ']*'),
    conseil_quartier TEXT    CHECK (conseil_quartier <> ''
                                 AND conseil_quartier NOT GLOB '*[' || char(30, 31) || ']*'),
    iris             TEXT    CHECK (iris <> ''
                                 AND iris NOT GLOB '*[' || char(30, 31) || ']*'),
    working_class    TEXT    CHECK (working_class <> ''
                                 AND working_class NOT GLOB '*[' || char(30, 31) || ']*'),
    subcategory      TEXT,
    channel          TEXT    NOT NULL CHECK (channel IN ('ios', 'android', 'web', 'back_office')),
    seed             INTEGER NOT NULL DEFAULT 0 CHECK (seed IN (0, 1)),
    client_id        TEXT    UNIQUE CHECK (length(client_id) BETWEEN 1 AND 128),
    campaign         TEXT,
    address          TEXT,
    -- Private: the reporter's e-mail or phone. Never copied into an index.
    contact          TEXT,
    description      TEXT    NOT NULL
) STRICT;

-- Lists, filters and aggregates are answered by the in-memory index, which
-- is rebuilt from `load_index_rows` (a scan by id) and then fetches full rows
-- by id; no query of the service needs the indexes below. They are kept for
-- ad-hoc and back-office queries where they are cheap to maintain: a new
-- report (created now) lands at the end of its group, and these have few
-- groups. Per-quartier, per-conseil and per-IRIS indexes are deliberately
-- absent: with 80, 121 and 992 groups every batch of new reports dirties a
-- page per group touched: measured, they cost about 40% of group-commit
-- throughput.
CREATE INDEX reports_created_at ON reports (created_at_ms);
CREATE INDEX reports_category ON reports (category, created_at_ms);
CREATE INDEX reports_status ON reports (status, created_at_ms);
CREATE INDEX reports_arrondissement ON reports (arrondissement, created_at_ms)
    WHERE arrondissement IS NOT NULL;
CREATE INDEX reports_working_class ON reports (working_class, created_at_ms)
    WHERE working_class IS NOT NULL;

CREATE TABLE projects (
    -- The city's own project id, not assigned by the store.
    id                  INTEGER PRIMARY KEY,
    title               TEXT,
    edition             INTEGER NOT NULL,
    theme               TEXT,
    lead_department     TEXT,
    budget_eur          INTEGER NOT NULL,
    scale               TEXT    NOT NULL CHECK (scale IN ('city', 'arrondissement')),
    address             TEXT,
    arrondissement_code TEXT,
    working_class_flag  INTEGER NOT NULL CHECK (working_class_flag IN (0, 1)),
    progress            TEXT,
    studies_start       TEXT,
    procedures_start    TEXT,
    works_start         TEXT,
    delivery_planned    TEXT,
    opened              TEXT,
    url                 TEXT,
    lon                 REAL    CHECK (lon BETWEEN -180.0 AND 180.0),
    lat                 REAL    CHECK (lat BETWEEN -90.0 AND 90.0),
    geocode_quality     TEXT,
    h3                  INTEGER,
    arrondissement      TEXT    CHECK (arrondissement <> ''),
    quartier            TEXT    CHECK (quartier <> ''),
    conseil_quartier    TEXT    CHECK (conseil_quartier <> ''),
    iris                TEXT    CHECK (iris <> ''),
    working_class       TEXT    CHECK (working_class <> ''),
    CHECK ((lon IS NULL) = (lat IS NULL))
) STRICT;

-- Perimeter layers imported from the command line (e.g. the official QPV),
-- re-loaded at boot. Several versions of a layer may coexist, each valid over
-- a period (`valid_from`/`valid_to`, ISO dates, open-ended when NULL).
CREATE TABLE perimeter_layers (
    layer          TEXT    NOT NULL CHECK (layer IN ('arrondissement', 'quartier',
                               'conseil_quartier', 'iris', 'working_class')),
    version        TEXT    NOT NULL CHECK (version <> ''),
    source         TEXT    NOT NULL,
    official       INTEGER NOT NULL CHECK (official IN (0, 1)),
    valid_from     TEXT,
    valid_to       TEXT,
    code_property  TEXT    NOT NULL,
    name_property  TEXT    NOT NULL,
    geojson        TEXT    NOT NULL,
    imported_at_ms INTEGER NOT NULL,
    PRIMARY KEY (layer, version)
) STRICT;

-- Small facts about the database itself ("seeded", reference-data versions).
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
