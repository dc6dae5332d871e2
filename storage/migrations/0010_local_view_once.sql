-- 0010: a registration's local view is stored only where it differs from
-- its server copy. A first pull wrote every record twice (server_json and
-- an identical local_json): half of its writes, WAL frames and checkpoint
-- copies were that second copy.
--
-- local_own: the local view as stored by the writes of
--   store_registrations.c; '' means "the same as server_json" (a pulled
--   row with no pending or in-flight edit). A row made on this device
--   (server_json NULL) always holds its view here. '' rather than NULL
--   because SQLite cannot drop the NOT NULL of the 0001 column without
--   rebuilding the table (which would lose indexes that other migrations
--   put on it and fight the outbox's foreign key); no view is ''.
-- local_json: what people see, computed on read, so every reader (the
--   CLI, serve, search, conflicts, export, the test scripts) keeps reading
--   local_json unchanged. A generated column cannot be written: an
--   INSERT or UPDATE that names it fails loudly.
--
-- Runs in the one transaction of its migration step: a store is either
-- converted as a whole or left at the version before.
ALTER TABLE registrations RENAME COLUMN local_json TO local_own;
ALTER TABLE registrations ADD COLUMN local_json TEXT
    GENERATED ALWAYS AS (coalesce(nullif(local_own, ''), server_json))
    VIRTUAL;
UPDATE registrations SET local_own = ''
    WHERE server_json IS NOT NULL AND local_own = server_json;
