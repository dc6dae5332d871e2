-- 0001: the local model of one or more 121 programs.
-- Times are ISO-8601 UTC text with milliseconds ("2026-11-28T03:17:33.123Z").
-- JSON columns hold objects exactly as 121 shapes them.

CREATE TABLE programs (
    id          INTEGER PRIMARY KEY,        -- 121 program id
    json        TEXT NOT NULL,              -- body of GET /api/programs/{id}
    etag        TEXT,                       -- for If-None-Match
    pulled_at   TEXT NOT NULL
);

CREATE TABLE program_attributes (
    program_id  INTEGER NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,              -- text, numeric, tel, dropdown, ...
    is_required INTEGER NOT NULL DEFAULT 0,
    options     TEXT,                       -- JSON array of option keys
    pattern     TEXT,
    PRIMARY KEY (program_id, name)
) WITHOUT ROWID;

CREATE TABLE program_languages (
    program_id  INTEGER NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    language    TEXT NOT NULL,
    PRIMARY KEY (program_id, language)
) WITHOUT ROWID;

CREATE TABLE fsp_configurations (
    program_id  INTEGER NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,              -- programFspConfigurationName
    fsp_name    TEXT NOT NULL,
    json        TEXT NOT NULL,
    PRIMARY KEY (program_id, name)
) WITHOUT ROWID;

CREATE TABLE message_templates (
    program_id  INTEGER NOT NULL,
    type        TEXT NOT NULL,
    language    TEXT NOT NULL,
    json        TEXT NOT NULL,
    PRIMARY KEY (program_id, type, language)
) WITHOUT ROWID;

-- One row per person. server_json is the last copy pulled from 121 (NULL
-- for a registration made on this device that the server has not shown us
-- yet); local_json is what people see: the server copy with the pending
-- outbox operations applied. status/name/phone_number are copies of the
-- local view, kept for indexes and search (0002; phone_number has no index
-- of its own: nothing looks a phone number up exactly, and every index
-- costs a page write per transaction).
-- row_id is an explicit INTEGER PRIMARY KEY (an alias of rowid) because the
-- search index (0002) refers to rows by rowid, and VACUUM may renumber the
-- rowids of a table that has no INTEGER PRIMARY KEY.
CREATE TABLE registrations (
    row_id          INTEGER PRIMARY KEY,
    reference_id    TEXT NOT NULL UNIQUE,
    id              INTEGER UNIQUE,          -- 121 DB id, NULL until pulled
    program_id      INTEGER NOT NULL,
    server_json     TEXT,
    server_seen_at  TEXT,
    local_json      TEXT NOT NULL,
    status          TEXT,
    name            TEXT,
    phone_number    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX registrations_program_status
    ON registrations(program_id, status);
-- Lists are ordered by (created_at, reference_id). name and phone_number
-- ride along so that a search too short for the trigram index (1-2
-- characters) scans this narrow index instead of the whole table, whose
-- rows carry the JSON copies (7 ms instead of 18 ms at 40,000 rows).
CREATE INDEX registrations_created
    ON registrations(created_at, reference_id, name, phone_number);

-- Local operations waiting for (or done by) the server, in device order.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id           TEXT NOT NULL UNIQUE,    -- UUID made on the device
    reference_id    TEXT NOT NULL REFERENCES registrations(reference_id),
    program_id      INTEGER NOT NULL,
    -- The CHECKs are written with OR, not IN (...): SQLite evaluates an
    -- IN list of more than two constants through a temporary b-tree, built
    -- anew for every INSERT, which made appending to the outbox 5x slower.
    kind            TEXT NOT NULL
                    CHECK (kind = 'create' OR kind = 'edit' OR
                           kind = 'status' OR kind = 'message' OR
                           kind = 'voucher'),
    payload         TEXT NOT NULL,           -- JSON: the new values
    base            TEXT,                    -- JSON: base value per field
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state = 'pending' OR state = 'inflight' OR
                           state = 'done' OR state = 'conflict' OR
                           state = 'rejected'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    server_message  TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX outbox_state ON outbox(state, seq);
CREATE INDEX outbox_reference ON outbox(reference_id, seq);

CREATE TABLE conflicts (
    id              INTEGER PRIMARY KEY,
    outbox_seq      INTEGER REFERENCES outbox(seq),
    reference_id    TEXT NOT NULL,
    field           TEXT NOT NULL,
    base_value      TEXT,                    -- JSON text
    local_value     TEXT,
    server_value    TEXT,
    state           TEXT NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'resolved')),
    resolution      TEXT,                    -- local, server, value
    resolved_value  TEXT,
    created_at      TEXT NOT NULL,
    resolved_at     TEXT
);
CREATE INDEX conflicts_state ON conflicts(state, id);

-- Resumable pulls: one row per (source, what), e.g. ('121', 'pull.last_id').
CREATE TABLE sync_checkpoints (
    source      TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source, name)
) WITHOUT ROWID;

CREATE TABLE payments (
    program_id      INTEGER NOT NULL,
    payment_id      INTEGER NOT NULL,
    payment_date    TEXT,
    json            TEXT NOT NULL,
    pulled_at       TEXT NOT NULL,
    PRIMARY KEY (program_id, payment_id)
) WITHOUT ROWID;

CREATE TABLE transactions (
    id              INTEGER PRIMARY KEY,     -- 121 transaction id
    program_id      INTEGER NOT NULL,
    payment_id      INTEGER NOT NULL,
    reference_id    TEXT,
    status          TEXT,
    amount          REAL,
    updated         TEXT,                    -- server time, for $gt: cursors
    json            TEXT NOT NULL
);
CREATE INDEX transactions_payment ON transactions(payment_id, updated);
CREATE INDEX transactions_reference ON transactions(reference_id);

-- Paper voucher images, fetched before a distribution.
CREATE TABLE vouchers (
    reference_id    TEXT NOT NULL,
    payment_id      INTEGER NOT NULL,
    image           BLOB,
    content_type    TEXT,
    fetched_at      TEXT,
    handed_out_at   TEXT,                    -- set on the device
    PRIMARY KEY (reference_id, payment_id)
) WITHOUT ROWID;

CREATE TABLE agent_state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
) WITHOUT ROWID;
