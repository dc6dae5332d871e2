-- 0002: substring search over name, phone number and referenceId.
-- A trigram FTS5 index answers "contains" queries of 3+ characters without
-- scanning every row; it mirrors registrations through triggers.

CREATE VIRTUAL TABLE registrations_search USING fts5(
    reference_id, name, phone_number,
    content = 'registrations', content_rowid = 'rowid',
    tokenize = 'trigram'
);

CREATE TRIGGER registrations_search_ai AFTER INSERT ON registrations BEGIN
    INSERT INTO registrations_search(rowid, reference_id, name, phone_number)
    VALUES (new.rowid, new.reference_id, new.name, new.phone_number);
END;

CREATE TRIGGER registrations_search_ad AFTER DELETE ON registrations BEGIN
    INSERT INTO registrations_search(registrations_search, rowid,
                                     reference_id, name, phone_number)
    VALUES ('delete', old.rowid, old.reference_id, old.name,
            old.phone_number);
END;

CREATE TRIGGER registrations_search_au AFTER UPDATE OF reference_id, name,
    phone_number ON registrations BEGIN
    INSERT INTO registrations_search(registrations_search, rowid,
                                     reference_id, name, phone_number)
    VALUES ('delete', old.rowid, old.reference_id, old.name,
            old.phone_number);
    INSERT INTO registrations_search(rowid, reference_id, name, phone_number)
    VALUES (new.rowid, new.reference_id, new.name, new.phone_number);
END;

-- Stores written at version 1 already hold rows: index them.
INSERT INTO registrations_search(registrations_search) VALUES ('rebuild');
