/*
 * store_read.c - read-only walks for `agent serve` (store_read.h).
 */
#include "store_internal.h"
#include "store_read.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <sqlite3.h>
#include <string.h>

/* Step `st` to its end, handing column 0 (text) to cb per row. */
static int walk_text(struct store *s, sqlite3_stmt *st, const char *what,
                     store_json_cb cb, void *payload)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);

        if (!t)
            continue;
        rc = cb(t, (size_t)n, payload);
        if (rc != 0)
            return rc;
    }
    if (rc != SQLITE_DONE)
        return store__db_err(s, rc, what);
    return PLAT_OK;
}

int store_read_registrations(struct store *s, int program_id,
                             int with_deleted, store_json_cb cb,
                             void *payload)
{
    /* Two walks instead of ORDER BY id IS NULL: each follows an index (the
     * unary + keeps SQLite off the status index), so nothing is sorted in
     * memory; rows made on the device (no 121 id yet) come last. */
    static const char *const sql[] = {
        "SELECT local_json FROM registrations WHERE id IS NOT NULL"
        " AND +program_id = ?1"
        " AND (?2 OR status IS NULL OR status <> 'deleted') ORDER BY id",
        "SELECT local_json FROM registrations WHERE id IS NULL"
        " AND program_id = ?1"
        " AND (?2 OR status IS NULL OR status <> 'deleted') ORDER BY row_id"};
    int rc = PLAT_OK;

    for (size_t i = 0; rc == PLAT_OK && i < 2; i++) {
        sqlite3_stmt *st = NULL;

        rc = store__prepare(s, sql[i], &st);
        if (rc < 0)
            return rc;
        sqlite3_bind_int(st, 1, program_id);
        sqlite3_bind_int(st, 2, with_deleted ? 1 : 0);
        rc = walk_text(s, st, "read registrations", cb, payload);
        sqlite3_finalize(st);
    }
    return rc;
}

static int read_one(struct store *s, const char *sql, const char *ref,
                    int64_t id, int *program_id_out, char **json_out)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s, sql, &st);

    *json_out = NULL;
    if (rc < 0)
        return rc;
    if (ref)
        store__bind_text(st, 1, ref);
    else
        sqlite3_bind_int64(st, 1, id);
    rc = store__step_row(s, st, "read a registration");
    if (rc == PLAT_OK) {
        if (program_id_out)
            *program_id_out = sqlite3_column_int(st, 1);
        *json_out = store__col_dup(st, 0, &rc);
        if (!*json_out && rc == PLAT_OK)
            rc = ERR_NOTFOUND;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_read_registration(struct store *s, const char *ref,
                            int *program_id_out, char **json_out)
{
    return read_one(s, "SELECT local_json, program_id FROM registrations"
                       " WHERE reference_id = ?1",
                    ref, 0, program_id_out, json_out);
}

int store_read_registration_by_id(struct store *s, int64_t id,
                                  int *program_id_out, char **json_out)
{
    return read_one(s, "SELECT local_json, program_id FROM registrations"
                       " WHERE id = ?1",
                    NULL, id, program_id_out, json_out);
}

int store_read_payments(struct store *s, int program_id, store_json_cb cb,
                        void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s,
                            "SELECT json FROM payments WHERE program_id = ?1"
                            " ORDER BY payment_id DESC",
                            &st);

    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    rc = walk_text(s, st, "read payments", cb, payload);
    sqlite3_finalize(st);
    return rc;
}

int store_read_transactions(struct store *s, int program_id, int payment_id,
                            store_json_cb cb, void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s,
                            "SELECT json FROM transactions WHERE"
                            " program_id = ?1 AND (?2 = 0 OR payment_id = ?2)"
                            " ORDER BY id",
                            &st);

    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int(st, 2, payment_id);
    rc = walk_text(s, st, "read transactions", cb, payload);
    sqlite3_finalize(st);
    return rc;
}

int store_read_transactions_joined(struct store *s, int program_id,
                                   int payment_id, store_tx_reg_cb cb,
                                   void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s,
                            "SELECT t.json, r.local_json FROM transactions t"
                            " LEFT JOIN registrations r"
                            " ON r.reference_id = t.reference_id"
                            " AND r.program_id = t.program_id"
                            " WHERE t.program_id = ?1"
                            " AND (?2 = 0 OR t.payment_id = ?2)"
                            " ORDER BY t.id",
                            &st);

    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int(st, 2, payment_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        int tn = sqlite3_column_bytes(st, 0);
        const char *r = (const char *)sqlite3_column_text(st, 1);
        int rn = sqlite3_column_bytes(st, 1);

        if (!t)
            continue;
        rc = cb(t, (size_t)tn, r, r ? (size_t)rn : 0, payload);
        if (rc != 0)
            break;
    }
    if (rc == SQLITE_DONE)
        rc = PLAT_OK;
    else if (rc > 0)
        rc = store__db_err(s, rc, "read transactions with registrations");
    sqlite3_finalize(st);
    return rc;
}

int store_read_templates(struct store *s, int program_id, store_json_cb cb,
                         void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s,
                            "SELECT json FROM message_templates WHERE"
                            " program_id = ?1 ORDER BY type, language",
                            &st);

    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    rc = walk_text(s, st, "read message templates", cb, payload);
    sqlite3_finalize(st);
    return rc;
}

int store_read_voucher(struct store *s, const char *ref, int payment_id,
                       void **image_out, size_t *len_out, char **ctype_out)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s,
                            "SELECT image, content_type FROM vouchers WHERE"
                            " reference_id = ?1 AND payment_id = ?2 AND"
                            " image IS NOT NULL",
                            &st);

    *image_out = NULL;
    *len_out = 0;
    *ctype_out = NULL;
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    rc = store__step_row(s, st, "read a voucher image");
    if (rc == PLAT_OK) {
        int n = sqlite3_column_bytes(st, 0);
        const void *b = sqlite3_column_blob(st, 0);

        *image_out = plat_malloc(n > 0 ? (size_t)n : 1);
        *ctype_out = plat_strdup(store__col_text(st, 1)
                                     ? store__col_text(st, 1) : "image/png");
        if (!*image_out || !*ctype_out) {
            plat_free(*image_out);
            plat_free(*ctype_out);
            *image_out = NULL;
            *ctype_out = NULL;
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        } else {
            if (n > 0)
                memcpy(*image_out, b, (size_t)n);
            *len_out = (size_t)n;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int store_read_groups(struct store *s, int program_id, enum store_group g,
                      store_group_cb cb, void *payload)
{
    static const char *const sql[] = {
        [STORE_GROUP_REG_STATUS] =
            "SELECT status, NULL, count(*), 0 FROM registrations"
            " WHERE program_id = ?1 GROUP BY status ORDER BY status",
        [STORE_GROUP_REG_DAY] =
            "SELECT substr(coalesce(json_extract(local_json, '$.created'),"
            " created_at), 1, 10) AS d, NULL, count(*), 0 FROM registrations"
            " WHERE program_id = ?1 GROUP BY d ORDER BY d",
        [STORE_GROUP_TX] =
            "SELECT json_extract(json, '$.fspName') AS f, status, count(*),"
            " total(amount) FROM transactions WHERE program_id = ?1"
            " GROUP BY f, status ORDER BY f, status",
        [STORE_GROUP_OUTBOX] =
            "SELECT state, kind, count(*), 0 FROM outbox"
            " WHERE state <> 'done' AND (?1 = 0 OR program_id = ?1)"
            " GROUP BY state, kind ORDER BY state, kind",
    };
    sqlite3_stmt *st = NULL;
    int rc;

    if ((int)g < 0 || (size_t)g >= sizeof(sql) / sizeof(sql[0]))
        return plat_err_set(ERR_INVALID, "unknown group %d", (int)g);
    rc = store__prepare(s, sql[g], &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = cb(store__col_text(st, 0), store__col_text(st, 1),
                sqlite3_column_int64(st, 2), sqlite3_column_double(st, 3),
                payload);
        if (rc != 0)
            break;
    }
    if (rc == SQLITE_DONE)
        rc = PLAT_OK;
    else if (rc > 0)
        rc = store__db_err(s, rc, "count for the dashboard");
    sqlite3_finalize(st);
    return rc;
}
