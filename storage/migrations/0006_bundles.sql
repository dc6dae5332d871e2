-- 0006: bundles for sites without a link (issue 12, store_bundle.h).
-- What this store exported (one row per bundle it wrote, numbered 1, 2,
-- ... per store) and, per exporting device, the last bundle it imported.

CREATE TABLE bundle_exports (
    seq             INTEGER PRIMARY KEY,    -- the bundle's number
    since           INTEGER NOT NULL,       -- the bundle it follows (0: none)
    outbox_through  INTEGER NOT NULL,       -- highest outbox seq at export
    server_through  TEXT NOT NULL,          -- newest server copy carried
    bundle_id       TEXT NOT NULL,          -- random, tells two bundle Ns apart
    entries         INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE bundle_imports (
    exporter        TEXT PRIMARY KEY,       -- the exporting store's device id
    last_seq        INTEGER NOT NULL,       -- the last bundle imported from it
    bundle_id       TEXT NOT NULL,          -- that bundle's id
    imported_at     TEXT NOT NULL
) WITHOUT ROWID;
