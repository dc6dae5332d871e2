-- 0002: substring search over name, phone number and referenceId.
-- A trigram FTS5 index answers "contains" queries of 3+ characters without
-- scanning every row; it mirrors registrations (rowid = row_id).
-- columnsize=0: no per-row size table, which only ranking (bm25) needs.

CREATE VIRTUAL TABLE registrations_search USING fts5(
    reference_id, name, phone_number,
    content = 'registrations', content_rowid = 'row_id',
    tokenize = 'trigram', columnsize = 0
);

-- No triggers keep it in step: storage/store_registrations.c writes the
-- index itself, queued until the transaction commits. FTS5 writes its
-- pending terms to disk at every savepoint and statement journal, so a
-- trigger firing inside a batch of writes made one index segment per row
-- (5x slower batches). Every write to registrations must therefore go
-- through store_registrations.c.

-- Stores written at version 1 already hold rows: index them.
INSERT INTO registrations_search(registrations_search) VALUES ('rebuild');
