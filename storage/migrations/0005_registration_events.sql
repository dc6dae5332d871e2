-- 0005: the registration events (121's audit log) the device has pulled,
-- kept so that `agent serve` can answer GET .../registration-events from
-- the device. Only events pulled by incremental syncs are here: the first
-- pull reads registrations, not their history. json is the event as 121
-- shaped it; created is its ISO-8601 UTC time (for the date window).
CREATE TABLE registration_events (
    id              INTEGER PRIMARY KEY,     -- 121 event id
    program_id      INTEGER NOT NULL,
    registration_id INTEGER,
    created         TEXT,
    json            TEXT NOT NULL
);
CREATE INDEX registration_events_program
    ON registration_events(program_id, created);
CREATE INDEX registration_events_registration
    ON registration_events(registration_id);
