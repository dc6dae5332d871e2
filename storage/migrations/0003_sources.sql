-- 0003: more than one system. Changes can come from, and go to, systems
-- other than 121 (KoboToolbox, EspoCRM, files).
--
-- outbox.target: the system the operation is for ('121', ...).
-- outbox.origin: the system the change came from: 'device' (typed on this
--   device), '121', 'kobo', 'espocrm', 'file'. A connector never pushes
--   back to a system the change came from (store_outbox_list_for).
-- conflicts.source: the system whose value conflicted with ours.
--
-- ADD COLUMN with a constant default fills the rows already stored, so a
-- store migrated from version 2 keeps every entry, as sent to 121 by this
-- device. The CHECK on outbox.kind stays as written in 0001: SQLite cannot
-- alter a CHECK, so a new kind needs a new table copied from this one
-- (CREATE outbox_new ..., INSERT ... SELECT, DROP, RENAME, indexes) in a
-- later migration.
ALTER TABLE outbox ADD COLUMN target TEXT NOT NULL DEFAULT '121';
ALTER TABLE outbox ADD COLUMN origin TEXT NOT NULL DEFAULT 'device';
ALTER TABLE conflicts ADD COLUMN source TEXT NOT NULL DEFAULT '121';

CREATE INDEX outbox_target ON outbox(target, state, seq);

-- The id of a record in another system, per (system, kind): e.g.
-- ('kobo', 'submission', '4711') -> referenceId. remote_version is that
-- system's version or etag of the record, as text, when it has one.
CREATE TABLE remote_ids (
    system          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    remote_id       TEXT NOT NULL,
    reference_id    TEXT NOT NULL,
    remote_version  TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (system, kind, remote_id)
) WITHOUT ROWID;
CREATE INDEX remote_ids_reference ON remote_ids(system, reference_id);
