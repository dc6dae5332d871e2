-- 0007: one-off requests a command queues for the next sync of a source
-- (issue 8: `agent kobo program --create` -> 121, `agent kobo
-- validation-csv --upload` -> Kobo). A table of their own, not outbox
-- kinds: they belong to no registration (the outbox's reference_id and its
-- view of the local registration do not apply), they are multi-step (a
-- program, then its FSP configurations; a media file, then a redeploy) and
-- need a step and a result (the new program id) the outbox has no columns
-- for, and adding a kind would rebuild the outbox (0004's pattern), which
-- any other branch adding a kind would rebuild too. Additive only: no row
-- of an older table is touched.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    request_key     TEXT NOT NULL UNIQUE,   -- random; the marker that finds
                                            -- a request after a lost answer
    kind            TEXT NOT NULL
                    CHECK (kind = 'program' OR kind = 'media'),
    target          TEXT NOT NULL,          -- the source that sends it
    asset           TEXT NOT NULL,          -- the Kobo form it came from
    payload         TEXT NOT NULL,          -- JSON: what to send
    body            BLOB,                   -- a file to upload, or NULL
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state = 'pending' OR state = 'inflight' OR
                           state = 'done' OR state = 'rejected'),
    step            TEXT NOT NULL DEFAULT '',
    result          TEXT,                   -- JSON: what the steps gave
    message         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX jobs_target ON jobs(target, state, id);
