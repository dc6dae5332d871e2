/*
 * store_conflicts.c - recording and listing fields changed both on the
 * device and on the server. The sync engine adds them; people resolve them.
 */
#include "store_conflicts.h"
#include "store_internal.h"

#include "plat_err.h"

#include <string.h>

int store_conflict_list(struct store *s, const char *state,
                        store_conflict_cb cb, void *payload)
{
    struct store_conflict c;
    sqlite3_stmt *st = NULL;
    int rc, stop;

    if (state && strcmp(state, "open") != 0 && strcmp(state, "resolved") != 0)
        return plat_err_set(ERR_INVALID,
                            "unknown conflict state (one of: open, "
                            "resolved)");
    /* Not a cached statement: the callback may use the store. */
    rc = sqlite3_prepare_v2(
        s->db,
        "SELECT id, outbox_seq, reference_id, field, base_value, local_value,"
        " server_value, state, resolution, created_at, source FROM conflicts"
        " WHERE ?1 IS NULL OR state = ?1 ORDER BY id",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "read conflicts");
        goto done;
    }
    store__bind_text(st, 1, state);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        c.id = sqlite3_column_int64(st, 0);
        c.outbox_seq = sqlite3_column_int64(st, 1); /* NULL reads as 0 */
        c.reference_id = store__col_text(st, 2);
        c.field = store__col_text(st, 3);
        c.base_value = store__col_text(st, 4);
        c.local_value = store__col_text(st, 5);
        c.server_value = store__col_text(st, 6);
        c.state = store__col_text(st, 7);
        c.resolution = store__col_text(st, 8);
        c.created_at = store__col_text(st, 9);
        c.source = store__col_text(st, 10);
        stop = cb ? cb(&c, payload) : 0;
        if (stop) {
            rc = stop;
            goto done;
        }
    }
    rc = rc == SQLITE_DONE ? PLAT_OK : store__db_err(s, rc, "read conflicts");

done:
    sqlite3_finalize(st);
    return rc;
}

int store_conflict_add(struct store *s, const char *source,
                       int64_t outbox_seq, const char *ref,
                       const char *field, const char *base_json,
                       const char *local_json, const char *server_json,
                       int64_t *id_out)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    if (id_out)
        *id_out = 0;
    if (!ref || !*ref || !field || !*field || !source || !*source)
        return plat_err_set(ERR_INVALID, "a conflict needs a source, a "
                            "referenceId and a field");
    if (outbox_seq < 0)
        return plat_err_set(ERR_INVALID, "outbox entry %lld is not valid",
                            (long long)outbox_seq);
    store__now(now);
    rc = sqlite3_prepare_v2(
        s->db,
        "INSERT INTO conflicts(outbox_seq, reference_id, field, base_value,"
        " local_value, server_value, state, created_at, source) VALUES (?1,"
        " ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8)",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "record a conflict");
        goto done;
    }
    if (outbox_seq > 0)
        sqlite3_bind_int64(st, 1, outbox_seq);
    else
        sqlite3_bind_null(st, 1);
    store__bind_text(st, 2, ref);
    store__bind_text(st, 3, field);
    store__bind_text(st, 4, base_json);
    store__bind_text(st, 5, local_json);
    store__bind_text(st, 6, server_json);
    store__bind_text(st, 7, now);
    store__bind_text(st, 8, source);
    rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        rc = plat_err_set(ERR_NOTFOUND, "no outbox entry %lld",
                          (long long)outbox_seq);
        goto done;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "record a conflict");
        goto done;
    }
    if (id_out)
        *id_out = sqlite3_last_insert_rowid(s->db);
    rc = PLAT_OK;

done:
    sqlite3_finalize(st);
    return rc;
}

int store_conflict_exists(struct store *s, int64_t outbox_seq,
                          const char *field, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT 1 FROM conflicts WHERE outbox_seq = ?1 "
                            "AND field = ?2 LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store__db_err(s, rc, "look up a conflict");
    sqlite3_bind_int64(st, 1, outbox_seq);
    store__bind_text(st, 2, field);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = 1;
        rc = PLAT_OK;
    } else if (rc == SQLITE_DONE) {
        rc = PLAT_OK;
    } else {
        rc = store__db_err(s, rc, "look up a conflict");
    }
    sqlite3_finalize(st);
    return rc;
}
