/*
 * store_dist_read.c - the reads of store_dist.h: vouchers of a payment, a
 * person's transactions, look-up by referenceId / voucher code / phone /
 * name, activities, and the registrations touched since a time.
 */
#include "store_dist.h"
#include "store_internal.h"
#include "store_registrations.h"
#include "store_sync.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns of a voucher row: transaction, its voucher, the person. */
#define VOUCHER_COLS                                                        \
    "t.reference_id, t.payment_id, t.id, t.status,"                        \
    " json_extract(t.json, '$.created'), t.updated,"                       \
    " json_extract(t.json, '$.fspName'), t.amount,"                        \
    " json_extract(t.json, '$.registrationProgramId'),"                    \
    " v.handed_out_at, v.handed_out_by, length(v.image), r.local_json"

static int voucher_rows(struct store *s, sqlite3_stmt *st, int with_images,
                        store_voucher_cb cb, void *payload)
{
    struct store_voucher_row row;
    cJSON *reg = NULL;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&row, 0, sizeof(row));
        row.ref = store__col_text(st, 0);
        row.payment_id = sqlite3_column_int(st, 1);
        row.transaction_id = sqlite3_column_int64(st, 2);
        row.tx_status = store__col_text(st, 3);
        row.tx_created = store__col_text(st, 4);
        row.tx_updated = store__col_text(st, 5);
        row.fsp_name = store__col_text(st, 6);
        row.amount = sqlite3_column_double(st, 7);
        row.registration_program_id = sqlite3_column_int64(st, 8);
        row.handed_out_at = store__col_text(st, 9);
        row.handed_out_by = store__col_text(st, 10);
        row.image_len = (size_t)sqlite3_column_int64(st, 11);
        if (with_images && row.image_len) {
            row.image = sqlite3_column_blob(st, 13);
            row.image_len = (size_t)sqlite3_column_bytes(st, 13);
        }
        if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
            rc = store__json_parse(s, store__col_text(st, 12),
                                   "a registration", &reg);
            if (rc < 0)
                return rc;
        }
        row.reg = reg;
        rc = cb(&row, payload);
        cJSON_Delete(reg);
        reg = NULL;
        if (rc != 0)
            return rc;
    }
    return rc == SQLITE_DONE ? PLAT_OK
                             : store__db_err(s, rc, "list vouchers");
}

int store_vouchers_list(struct store *s, int payment_id, int with_images,
                        store_voucher_cb cb, void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__prepare(
        s,
        with_images
            ? "SELECT " VOUCHER_COLS ", v.image FROM transactions t"
              " LEFT JOIN vouchers v ON v.reference_id = t.reference_id AND"
              " v.payment_id = t.payment_id LEFT JOIN registrations r ON"
              " r.reference_id = t.reference_id WHERE t.payment_id = ?1"
              " ORDER BY t.id"
            : "SELECT " VOUCHER_COLS ", NULL FROM transactions t"
              " LEFT JOIN vouchers v ON v.reference_id = t.reference_id AND"
              " v.payment_id = t.payment_id LEFT JOIN registrations r ON"
              " r.reference_id = t.reference_id WHERE t.payment_id = ?1"
              " ORDER BY t.id",
        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, payment_id);
    rc = voucher_rows(s, st, with_images, cb, payload);
    sqlite3_finalize(st);
    return rc;
}

int store_person_transactions(struct store *s, const char *ref,
                              store_voucher_cb cb, void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__prepare(
        s,
        "SELECT " VOUCHER_COLS ", NULL FROM transactions t"
        " LEFT JOIN vouchers v ON v.reference_id = t.reference_id AND"
        " v.payment_id = t.payment_id LEFT JOIN registrations r ON"
        " r.reference_id = t.reference_id WHERE t.reference_id = ?1"
        " ORDER BY t.payment_id DESC, t.id DESC",
        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = voucher_rows(s, st, 0, cb, payload);
    sqlite3_finalize(st);
    return rc;
}

int store_transaction_get(struct store *s, int payment_id, const char *ref,
                          cJSON **out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    rc = store__prepare(s, "SELECT json FROM transactions WHERE"
                           " reference_id = ?1 AND payment_id = ?2"
                           " ORDER BY id DESC LIMIT 1", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    rc = store__step_row(s, st, "read a transaction");
    if (rc == PLAT_OK)
        rc = store__json_parse(s, store__col_text(st, 0), "a transaction",
                               out);
    sqlite3_finalize(st);
    return rc;
}

/* ---- look-up ------------------------------------------------------------ */

/* "P12-345" -> payment 12, registrationProgramId 345. */
static int parse_code(const char *text, int *payment, int64_t *rpid)
{
    char *end;
    long p;
    long long r;

    if ((text[0] != 'P' && text[0] != 'p') || text[1] < '0' || text[1] > '9')
        return 0;
    p = strtol(text + 1, &end, 10);
    if (*end != '-' || p <= 0 || p > 2147483647L || end[1] < '0' ||
        end[1] > '9')
        return 0;
    r = strtoll(end + 1, &end, 10);
    if (*end || r <= 0)
        return 0;
    *payment = (int)p;
    *rpid = r;
    return 1;
}

/* The local view of the one registration the query `sql` (one text or
 * two integer parameters) finds, to `cb`; *found 1 when there was one. */
static int lookup_one(struct store *s, const char *sql, const char *text,
                      int payment, int64_t rpid,
                      int (*cb)(const cJSON *, void *), void *payload,
                      int *found)
{
    sqlite3_stmt *st = NULL;
    cJSON *reg = NULL;
    int rc;

    *found = 0;
    rc = store__prepare(s, sql, &st);
    if (rc < 0)
        return rc;
    if (text) {
        store__bind_text(st, 1, text);
    } else {
        sqlite3_bind_int(st, 1, payment);
        sqlite3_bind_int64(st, 2, rpid);
    }
    rc = store__step_row(s, st, "look a registration up");
    if (rc == ERR_NOTFOUND) {
        rc = PLAT_OK;
        goto done;
    }
    if (rc < 0)
        goto done;
    rc = store__json_parse(s, store__col_text(st, 0), "a registration", &reg);
    if (rc < 0)
        goto done;
    *found = 1;
    rc = cb(reg, payload);

done:
    cJSON_Delete(reg);
    sqlite3_finalize(st);
    return rc;
}

int store_lookup(struct store *s, const char *text, int limit,
                 int (*cb)(const cJSON *reg, void *payload), void *payload)
{
    int64_t rpid;
    int payment, found, rc;

    if (!text || !*text)
        return plat_err_set(ERR_INVALID, "nothing to look up");
    rc = lookup_one(s, "SELECT local_json FROM registrations WHERE"
                       " reference_id = ?1", text, 0, 0, cb, payload, &found);
    if (rc != 0 || found)
        return rc;
    if (parse_code(text, &payment, &rpid)) {
        /* transactions_payment starts with payment_id: the code's payment
         * narrows the scan to that payment's rows. */
        rc = lookup_one(s, "SELECT r.local_json FROM transactions t JOIN"
                           " registrations r ON r.reference_id ="
                           " t.reference_id WHERE t.payment_id = ?1 AND"
                           " json_extract(t.json, '$.registrationProgramId')"
                           " = ?2 LIMIT 1", NULL, payment, rpid, cb, payload,
                        &found);
        if (rc != 0 || found)
            return rc;
    }
    return store_reg_search(s, text, limit > 0 ? limit : 20, cb, payload);
}

/* ---- activities ---------------------------------------------------------- */

int store_activities_put(struct store *s, const char *ref,
                         const cJSON *activities)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    char *json;
    int rc;

    if (!ref || !*ref || !cJSON_IsArray(activities))
        return plat_err_set(ERR_INVALID, "activities of %s are not a JSON "
                            "array", ref && *ref ? ref : "?");
    json = store__json_print(activities);
    if (!json)
        return ERR_NOMEM;
    store__now(now);
    rc = store__prepare(s, "INSERT INTO activities(reference_id, json,"
                           " pulled_at) VALUES (?1, ?2, ?3) ON"
                           " CONFLICT(reference_id) DO UPDATE SET json ="
                           " excluded.json, pulled_at = excluded.pulled_at",
                        &st);
    if (rc == PLAT_OK) {
        store__bind_text(st, 1, ref);
        store__bind_text(st, 2, json);
        store__bind_text(st, 3, now);
        rc = store__step_done(s, st, "store activities");
    }
    sqlite3_finalize(st);
    cJSON_free(json);
    return rc;
}

int store_activities_get(struct store *s, const char *ref, cJSON **out,
                         char *pulled_at_out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    if (pulled_at_out)
        pulled_at_out[0] = '\0';
    rc = store__prepare(s, "SELECT json, pulled_at FROM activities WHERE"
                           " reference_id = ?1", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = store__step_row(s, st, "read activities");
    if (rc == ERR_NOTFOUND) {
        *out = cJSON_CreateArray();
        rc = *out ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    } else if (rc == PLAT_OK) {
        rc = store__json_parse(s, store__col_text(st, 0), "activities", out);
        if (pulled_at_out)
            snprintf(pulled_at_out, 32, "%s", store__col_text(st, 1));
    }
    sqlite3_finalize(st);
    return rc;
}

int store_refs_touched(struct store *s, const char *since, int limit,
                       char ***refs_out, int64_t **ids_out, size_t *n_out,
                       char *last_out)
{
    sqlite3_stmt *st = NULL;
    char **refs = NULL;
    int64_t *ids = NULL, *grown;
    size_t n = 0, alloc = 0, id_alloc = 0;
    int rc;

    *refs_out = NULL;
    *ids_out = NULL;
    *n_out = 0;
    last_out[0] = '\0';
    /* People this device gave a voucher or a message: their entries were
     * made or settled after `since` (edits and status changes are
     * confirmed by the events already, and must not cost a request per
     * person). No index on updated_at: one scan of the outbox per sync. */
    rc = store__prepare(s, "SELECT o.reference_id, r.id, max(o.updated_at)"
                           " AS t FROM outbox o JOIN registrations r ON"
                           " r.reference_id = o.reference_id WHERE r.id IS"
                           " NOT NULL AND o.updated_at > ?1 AND (o.kind ="
                           " 'voucher' OR o.kind = 'message') GROUP BY"
                           " o.reference_id ORDER BY t, o.reference_id"
                           " LIMIT ?2", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, since ? since : "");
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == id_alloc) {
            id_alloc = id_alloc ? id_alloc * 2 : 64;
            grown = plat_realloc(ids, id_alloc * sizeof(*ids));
            if (!grown) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                goto done;
            }
            ids = grown;
        }
        ids[n] = sqlite3_column_int64(st, 1);
        snprintf(last_out, 32, "%s", store__col_text(st, 2));
        rc = store__strings_add(&refs, &n, &alloc, store__col_text(st, 0));
        if (rc < 0)
            goto done;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "list touched registrations");
        goto done;
    }
    rc = PLAT_OK;
    *refs_out = refs;
    *ids_out = ids;
    *n_out = n;
    refs = NULL;
    ids = NULL;
    n = 0;

done:
    sqlite3_finalize(st);
    store_strings_free(refs, n);
    plat_free(ids);
    return rc;
}
