/*
 * store_attachments.c - files attached to records of a source, as blobs
 * in the store (see store_attachments.h, migration 0008). Statements are
 * prepared per call: these run once per media answer or per download, not
 * per record of a page.
 */
#include "store_attachments.h"
#include "store_internal.h"

#include "plat_err.h"

#include <string.h>

static int check_key(const char *source, const char *remote_id,
                     const char *question)
{
    if (!source || !*source)
        return plat_err_set(ERR_INVALID, "attachment without a source");
    if (!remote_id || !*remote_id)
        return plat_err_set(ERR_INVALID, "attachment without a record id");
    if (!question || !*question)
        return plat_err_set(ERR_INVALID, "attachment of %s without a "
                            "question", remote_id);
    return PLAT_OK;
}

static int run(struct store *s, sqlite3_stmt *st, const char *what,
               int need_row)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE)
        return store__db_err(s, rc, what);
    if (need_row && sqlite3_changes(s->db) == 0)
        return ERR_NOTFOUND;
    return PLAT_OK;
}

int store_att_note(struct store *s, const struct store_att *a)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc = check_key(a->source, a->remote_id, a->question);

    if (rc < 0)
        return rc;
    if (!a->ref || !*a->ref || !a->name || !a->state)
        return plat_err_set(ERR_INVALID, "attachment %s %s: no referenceId, "
                            "name or state", a->remote_id, a->question);
    /* UPDATE SET expressions see the old row: a same uid keeps the bytes
     * and a final state, another uid starts over. */
    rc = store__prepare(s,
        "INSERT INTO attachments(source, remote_id, question, uid, "
        "reference_id, name, mimetype, url, state, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT(source, remote_id, question) DO UPDATE SET "
        "reference_id = excluded.reference_id, name = excluded.name, "
        "mimetype = excluded.mimetype, url = excluded.url, "
        "updated_at = excluded.updated_at, "
        "state = CASE WHEN uid = excluded.uid AND uid <> '' AND "
        "  state IN ('stored', 'toolarge') THEN state "
        "  ELSE excluded.state END, "
        "attempts = CASE WHEN uid = excluded.uid THEN attempts ELSE 0 END, "
        "data = CASE WHEN uid = excluded.uid AND uid <> '' THEN data "
        "  ELSE NULL END, "
        "size = CASE WHEN uid = excluded.uid AND uid <> '' THEN size "
        "  ELSE NULL END, "
        "error = CASE WHEN uid = excluded.uid THEN error ELSE NULL END, "
        "uid = excluded.uid", &st);
    if (rc < 0)
        return rc;
    store__now(now);
    store__bind_text(st, 1, a->source);
    store__bind_text(st, 2, a->remote_id);
    store__bind_text(st, 3, a->question);
    store__bind_text(st, 4, a->uid ? a->uid : "");
    store__bind_text(st, 5, a->ref);
    store__bind_text(st, 6, a->name);
    store__bind_text(st, 7, a->mimetype);
    store__bind_text(st, 8, a->url);
    store__bind_text(st, 9, a->state);
    store__bind_text(st, 10, now);
    rc = run(s, st, "note an attachment", 0);
    sqlite3_finalize(st);
    return rc;
}

int store_att_set_data(struct store *s, const char *source,
                       const char *remote_id, const char *question,
                       const void *data, size_t len)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc = check_key(source, remote_id, question);

    if (rc < 0)
        return rc;
    if (len > (size_t)INT32_MAX)
        return plat_err_set(ERR_TOOLARGE, "attachment %s %s is too large "
                            "for the store", remote_id, question);
    rc = store__prepare(s,
        "UPDATE attachments SET data = ?4, size = ?5, state = 'stored', "
        "error = NULL, updated_at = ?6 "
        "WHERE source = ?1 AND remote_id = ?2 AND question = ?3", &st);
    if (rc < 0)
        return rc;
    store__now(now);
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, remote_id);
    store__bind_text(st, 3, question);
    sqlite3_bind_blob(st, 4, len ? data : "", (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)len);
    store__bind_text(st, 6, now);
    rc = run(s, st, "store an attachment", 1);
    sqlite3_finalize(st);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no attachment %s %s", remote_id,
                          question);
    return rc;
}

int store_att_set_state(struct store *s, const char *source,
                        const char *remote_id, const char *question,
                        const char *state, const char *error,
                        int count_attempt)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc = check_key(source, remote_id, question);

    if (rc < 0)
        return rc;
    if (!state || !*state)
        return plat_err_set(ERR_INVALID, "attachment %s %s: no state",
                            remote_id, question);
    rc = store__prepare(s,
        "UPDATE attachments SET state = ?4, error = ?5, "
        "attempts = attempts + ?6, updated_at = ?7 "
        "WHERE source = ?1 AND remote_id = ?2 AND question = ?3", &st);
    if (rc < 0)
        return rc;
    store__now(now);
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, remote_id);
    store__bind_text(st, 3, question);
    store__bind_text(st, 4, state);
    store__bind_text(st, 5, error);
    sqlite3_bind_int(st, 6, count_attempt ? 1 : 0);
    store__bind_text(st, 7, now);
    rc = run(s, st, "mark an attachment", 1);
    sqlite3_finalize(st);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no attachment %s %s", remote_id,
                          question);
    return rc;
}

#define ATT_COLS "source, remote_id, question, uid, reference_id, name, " \
                 "mimetype, url, state, error, updated_at, " \
                 "coalesce(size, -1), attempts"

static int walk(struct store *s, sqlite3_stmt *st, int with_data,
                store_att_cb cb, void *payload)
{
    struct store_att a;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&a, 0, sizeof(a));
        a.source = store__col_text(st, 0);
        a.remote_id = store__col_text(st, 1);
        a.question = store__col_text(st, 2);
        a.uid = store__col_text(st, 3);
        a.ref = store__col_text(st, 4);
        a.name = store__col_text(st, 5);
        a.mimetype = store__col_text(st, 6);
        a.url = store__col_text(st, 7);
        a.state = store__col_text(st, 8);
        a.error = store__col_text(st, 9);
        a.updated_at = store__col_text(st, 10);
        a.size = sqlite3_column_int64(st, 11);
        a.attempts = sqlite3_column_int(st, 12);
        if (with_data) {
            a.data = sqlite3_column_blob(st, 13);
            if (!a.data && sqlite3_errcode(s->db) == SQLITE_NOMEM)
                return plat_err_set(ERR_NOMEM, "out of memory reading an "
                                    "attachment");
        }
        rc = cb(&a, payload);
        if (rc != 0)
            return rc;
    }
    return rc == SQLITE_DONE ? PLAT_OK
                             : store__db_err(s, rc, "read attachments");
}

int store_att_list(struct store *s, const char *source, const char *state,
                   const char *prefix, int max_attempts, store_att_cb cb,
                   void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (!source || !state)
        return plat_err_set(ERR_INVALID, "attachment list without a source "
                            "or state");
    rc = store__prepare(s,
        "SELECT " ATT_COLS " FROM attachments "
        "WHERE source = ?1 AND state = ?2 "
        "AND (?3 IS NULL OR substr(remote_id, 1, length(?3)) = ?3) "
        "AND (?4 <= 0 OR attempts < ?4) "
        "ORDER BY remote_id, question", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, state);
    store__bind_text(st, 3, prefix);
    sqlite3_bind_int(st, 4, max_attempts);
    rc = walk(s, st, 0, cb, payload);
    sqlite3_finalize(st);
    return rc;
}

int store_att_list_ref(struct store *s, const char *ref, int with_data,
                       store_att_cb cb, void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "no referenceId given");
    /* a store opened read-only at an older schema has no table yet: no
     * attachments, not an error for `registrations show` */
    rc = store__prepare(s, "SELECT 1 FROM sqlite_schema WHERE type = "
                        "'table' AND name = 'attachments'", &st);
    if (rc < 0)
        return rc;
    rc = store__step_row(s, st, "look for the attachments table");
    sqlite3_finalize(st);
    st = NULL;
    if (rc == ERR_NOTFOUND)
        return PLAT_OK;
    if (rc < 0)
        return rc;
    rc = store__prepare(s,
        "SELECT " ATT_COLS ", data FROM attachments "
        "WHERE reference_id = ?1 ORDER BY question, source", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = walk(s, st, with_data, cb, payload);
    sqlite3_finalize(st);
    return rc;
}
