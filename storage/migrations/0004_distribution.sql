-- 0004: distribution day (issue 10): hand-out marks, reconciliation rows,
-- messages, message template edits and program label edits, all queued in
-- the outbox; activities pulled from 121 per registration.
--
-- outbox is rebuilt (SQLite cannot alter a CHECK or drop a foreign key):
-- - kind gains 'template' (POST/PATCH of a message template) and 'label'
--   (PATCH of a registration attribute's label);
-- - reference_id no longer references registrations: program-level
--   operations are keyed "$template/<type>/<language>" and
--   "$label/<attribute>" ('$' never appears in a 121 referenceId).
-- Every entry keeps its seq (conflicts refer to it). The conflicts rows are
-- parked while the table is replaced, because foreign keys are on while
-- migrations run and dropping a parent with children would fail.
CREATE TABLE outbox_copy AS SELECT * FROM outbox;
CREATE TABLE conflicts_copy AS SELECT * FROM conflicts;
DELETE FROM conflicts;
DROP TABLE outbox;
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id           TEXT NOT NULL UNIQUE,
    reference_id    TEXT NOT NULL,
    program_id      INTEGER NOT NULL,
    kind            TEXT NOT NULL
                    CHECK (kind = 'create' OR kind = 'edit' OR
                           kind = 'status' OR kind = 'message' OR
                           kind = 'voucher' OR kind = 'template' OR
                           kind = 'label'),
    payload         TEXT NOT NULL,
    base            TEXT,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state = 'pending' OR state = 'inflight' OR
                           state = 'done' OR state = 'conflict' OR
                           state = 'rejected'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    server_message  TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    target          TEXT NOT NULL DEFAULT '121',
    origin          TEXT NOT NULL DEFAULT 'device'
);
INSERT INTO outbox(seq, op_id, reference_id, program_id, kind, payload, base,
                   state, attempts, server_message, created_at, updated_at,
                   target, origin)
    SELECT seq, op_id, reference_id, program_id, kind, payload, base, state,
           attempts, server_message, created_at, updated_at, target, origin
    FROM outbox_copy;
INSERT INTO conflicts SELECT * FROM conflicts_copy;
DROP TABLE outbox_copy;
DROP TABLE conflicts_copy;
CREATE INDEX outbox_state ON outbox(state, seq);
CREATE INDEX outbox_reference ON outbox(reference_id, seq);
CREATE INDEX outbox_target ON outbox(target, state, seq);
CREATE INDEX outbox_kind ON outbox(kind, state, seq);

-- Who handed a voucher out, and on which clock the time was read ('device':
-- the device's clock, which may be wrong; 121's time is not known offline).
ALTER TABLE vouchers ADD COLUMN handed_out_by TEXT;
ALTER TABLE vouchers ADD COLUMN handed_out_clock TEXT;

-- GET /registrations/{id}/activities of one registration, as pulled (the
-- whole answer's data array; activity ids are positional, so the list is
-- replaced, never merged).
CREATE TABLE activities (
    reference_id    TEXT PRIMARY KEY,
    json            TEXT NOT NULL,
    pulled_at       TEXT NOT NULL
) WITHOUT ROWID;

-- `agent lookup P<payment>-<n>`: the voucher code printed on a paper
-- voucher names the payment and the person's registrationProgramId.
CREATE INDEX transactions_voucher_code
    ON transactions(payment_id,
                    json_extract(json, '$.registrationProgramId'));
