-- civicmap, SQLite schema 3: report photos.
--
-- Same conventions as schemas 1 and 2 (INTEGER unix milliseconds,
-- enumerations as their wire spelling, checked here).
--
-- A photo's pixels are not in the database: the sanitised renditions are
-- files in `<data dir>/photos/`, named `{hash}-full.jpg` and
-- `{hash}-display.jpg` after the SHA-256 of the full-size JPEG. They are
-- written (temporary file, fsync, rename, fsync of the directory) BEFORE the
-- row commits, so a committed row always has its files; a crash or a refused
-- insert between the two leaves an orphan file, which is harmless (it is
-- never served: serving needs a row) and may be swept by comparing the
-- directory with this table. Equal photos get equal names, so two reports
-- holding the same photo share its files.
--
-- `role`: `report` for the photos a reporter attaches (at most 3 per
-- report), `after` for the after-treatment photo an agent adds once the
-- report is done (at most 1). Both counts are checked inside the insert
-- transaction by the store, not here. `width`/`height` are those of the
-- full-size rendition; `uploaded_by` is the API key's name (a service,
-- never a person). Photos are never deleted.
CREATE TABLE photos (
    id            INTEGER PRIMARY KEY,
    report_id     INTEGER NOT NULL REFERENCES reports (id),
    hash          TEXT    NOT NULL CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
    role          TEXT    NOT NULL CHECK (role IN ('report', 'after')),
    width         INTEGER NOT NULL CHECK (width > 0),
    height        INTEGER NOT NULL CHECK (height > 0),
    full_bytes    INTEGER NOT NULL CHECK (full_bytes > 0),
    display_bytes INTEGER NOT NULL CHECK (display_bytes > 0),
    uploaded_by   TEXT    NOT NULL CHECK (length(uploaded_by) BETWEEN 1 AND 100),
    created_at_ms INTEGER NOT NULL,
    -- Also the index of a report's photos (report_id first).
    UNIQUE (report_id, hash)
) STRICT;

-- Serving a file checks that some row holds its hash.
CREATE INDEX photos_hash ON photos (hash);
