-- 0008: files attached to records of a source (Kobo submissions' photos,
-- documents, audio), kept in the store itself so that an encrypted store
-- covers them too (no file beside the store). One row per answered media
-- question of a record: a new file for the same question (an edit)
-- replaces the row.
--   state  missing   the answer names a file the source does not list yet
--                    (a late attachment: fetched again on a later sync)
--          pending   listed, not downloaded yet (or to be tried again)
--          stored    data holds the bytes
--          toolarge  over the size cap: not downloaded
--          failed    the last try failed (error says why, never a value)
CREATE TABLE attachments (
    source       TEXT NOT NULL,            -- 'kobo'
    remote_id    TEXT NOT NULL,            -- '<asset uid>:<_id>'
    question     TEXT NOT NULL,            -- question path ('hh/photo')
    uid          TEXT NOT NULL DEFAULT '', -- the source's attachment id
    reference_id TEXT NOT NULL,
    name         TEXT NOT NULL,            -- file name as answered
    mimetype     TEXT,
    url          TEXT,                     -- where the source serves it
    state        TEXT NOT NULL,
    size         INTEGER,                  -- bytes of data (stored)
    data         BLOB,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    updated_at   TEXT NOT NULL,
    UNIQUE (source, remote_id, question)
);  -- a rowid table: rows hold blobs of megabytes
CREATE INDEX attachments_reference ON attachments(reference_id);
CREATE INDEX attachments_state ON attachments(source, state);
