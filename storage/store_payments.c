/*
 * store_payments.c - what the puller stores of payments (store_sync.h):
 * payments, their transactions and the paper voucher images. Every write
 * joins an open transaction (store_begin) or runs in its own.
 */
#include "store_sync.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <stdio.h>
#include <string.h>

static int int_field(const cJSON *obj, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return store__json_int64(v, key, 0, STORE__JSON_INT_MAX, out) < 0 ? -1
                                                                       : 0;
}

static const char *text_field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int store_payment_put(struct store *s, int program_id, const cJSON *payment)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    char *json = NULL;
    int64_t pid;
    int rc;

    if (program_id <= 0)
        return plat_err_set(ERR_INVALID, "program id %d is not valid",
                            program_id);
    if (!cJSON_IsObject(payment) || int_field(payment, "paymentId", &pid) < 0
        || pid > 2147483647)
        return plat_err_set(ERR_INVALID, "payment: field paymentId is "
                            "missing or not a number");
    json = store__json_print(payment);
    if (!json)
        return ERR_NOMEM;
    store__now(now);
    rc = store__prepare(
        s,
        "INSERT INTO payments(program_id, payment_id,"
        " payment_date, json, pulled_at) VALUES (?1, ?2, ?3, ?4,"
        " ?5) ON CONFLICT(program_id, payment_id) DO UPDATE SET"
        " payment_date = excluded.payment_date,"
        " json = excluded.json, pulled_at = excluded.pulled_at",
        &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int64(st, 2, pid);
    store__bind_text(st, 3, text_field(payment, "paymentDate"));
    store__bind_text(st, 4, json);
    store__bind_text(st, 5, now);
    rc = store__step_done(s, st, "store a payment");

done:
    sqlite3_finalize(st);
    cJSON_free(json);
    return rc;
}

int store_payment_get(struct store *s, int program_id, int payment_id,
                      cJSON **out)
{
    sqlite3_stmt *st = NULL;
    char what[48];
    int rc;

    *out = NULL;
    rc = store__prepare(
        s,
        "SELECT json FROM payments WHERE program_id = ?1 AND "
        "payment_id = ?2",
        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int(st, 2, payment_id);
    rc = store__step_row(s, st, "read a payment");
    if (rc == ERR_NOTFOUND) {
        rc = plat_err_set(ERR_NOTFOUND, "payment %d of program %d is not "
                          "stored", payment_id, program_id);
    } else if (rc == PLAT_OK) {
        snprintf(what, sizeof(what), "payment %d", payment_id);
        rc = store__json_parse(s, store__col_text(st, 0), what, out);
    }
    sqlite3_finalize(st);
    return rc;
}

int store_payment_latest(struct store *s, int program_id, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = store__prepare(s, "SELECT max(payment_id) FROM payments WHERE "
                           "program_id = ?1", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = PLAT_OK;
    } else {
        rc = store__db_err(s, rc, "read the latest payment");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Bind and run the prepared upsert for one transaction. */
static int put_transaction(struct store *s, sqlite3_stmt *st, int program_id,
                           int payment_id, const cJSON *transaction)
{
    const cJSON *amount;
    char *json = NULL;
    int64_t id;
    int rc;

    if (!cJSON_IsObject(transaction) || int_field(transaction, "id", &id) < 0)
        return plat_err_set(ERR_INVALID, "transaction of payment %d: field "
                            "id is missing or not a number", payment_id);
    amount = cJSON_GetObjectItemCaseSensitive(transaction, "transferValue");
    if (!amount)
        amount = cJSON_GetObjectItemCaseSensitive(transaction, "amount");
    json = store__json_print(transaction);
    if (!json)
        return ERR_NOMEM;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, program_id);
    sqlite3_bind_int(st, 3, payment_id);
    store__bind_text(st, 4, text_field(transaction,
                                       "registrationReferenceId"));
    store__bind_text(st, 5, text_field(transaction, "status"));
    if (cJSON_IsNumber(amount))
        sqlite3_bind_double(st, 6, amount->valuedouble);
    else
        sqlite3_bind_null(st, 6);
    store__bind_text(st, 7, text_field(transaction, "updated"));
    store__bind_text(st, 8, json);
    rc = store__step_done(s, st, "store a transaction");
    sqlite3_clear_bindings(st);
    cJSON_free(json);
    return rc;
}

static int prepare_transaction(struct store *s, sqlite3_stmt **st)
{
    return store__prepare(
        s,
        "INSERT INTO transactions(id, program_id, payment_id,"
        " reference_id, status, amount, updated, json) VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO"
        " UPDATE SET program_id = excluded.program_id,"
        " payment_id = excluded.payment_id,"
        " reference_id = excluded.reference_id,"
        " status = excluded.status, amount = excluded.amount,"
        " updated = excluded.updated, json = excluded.json",
        st);
}

int store_transactions_put(struct store *s, int program_id, int payment_id,
                           const cJSON *transactions)
{
    sqlite3_stmt *st = NULL;
    const cJSON *t;
    int rc, token = 0;

    if (!cJSON_IsArray(transactions))
        return plat_err_set(ERR_INVALID, "transactions of payment %d are not "
                            "a JSON array", payment_id);
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = prepare_transaction(s, &st);
    for (t = transactions->child; t && rc == PLAT_OK; t = t->next)
        rc = put_transaction(s, st, program_id, payment_id, t);
    sqlite3_finalize(st);
    return store__txn_end(s, token, rc);
}

int store_transaction_max_updated(struct store *s, int payment_id, char *out,
                                  size_t out_size)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *v;
    int rc;

    if (!out || out_size < 32)
        return plat_err_set(ERR_INVALID, "buffer for a transaction time is "
                            "too small");
    out[0] = '\0';
    rc = store__prepare(s, "SELECT max(updated) FROM transactions WHERE "
                           "payment_id = ?1", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, payment_id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "read the latest transaction time");
        goto done;
    }
    v = sqlite3_column_text(st, 0);
    if (v && strlen((const char *)v) >= out_size) {
        rc = plat_err_set(ERR_CORRUPT, "store %s: a transaction time of "
                          "payment %d is too long", s->path, payment_id);
        goto done;
    }
    if (v)
        memcpy(out, v, strlen((const char *)v) + 1);
    rc = PLAT_OK;

done:
    sqlite3_finalize(st);
    return rc;
}

int store_voucher_put(struct store *s, const char *ref, int payment_id,
                      const void *image, size_t len,
                      const char *content_type)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "voucher without a referenceId");
    if (!image || len == 0 || len > 16 * 1024 * 1024)
        return plat_err_set(ERR_INVALID, "voucher image of %s for payment %d "
                            "is empty or too large", ref, payment_id);
    store__now(now);
    /* An upsert keeps handed_out_at, which only the device sets. */
    rc = store__prepare(
        s,
        "INSERT INTO vouchers(reference_id, payment_id, image,"
        " content_type, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(reference_id, payment_id) DO UPDATE SET"
        " image = excluded.image,"
        " content_type = excluded.content_type,"
        " fetched_at = excluded.fetched_at",
        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    sqlite3_bind_blob(st, 3, image, (int)len, SQLITE_STATIC);
    store__bind_text(st, 4, content_type && *content_type ? content_type
                                                          : NULL);
    store__bind_text(st, 5, now);
    rc = store__step_done(s, st, "store a voucher image");
    sqlite3_finalize(st);
    return rc;
}

int store_voucher_missing(struct store *s, int payment_id,
                          const char *fsp_name, char ***refs_out,
                          size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    char **refs = NULL;
    size_t n = 0, alloc = 0;
    int rc;

    *refs_out = NULL;
    *n_out = 0;
    rc = store__prepare(
        s,
        "SELECT t.reference_id FROM transactions t"
        " WHERE t.payment_id = ?1 AND t.reference_id IS NOT NULL"
        " AND (t.status = 'success' OR t.status = 'waiting')"
        " AND json_extract(t.json, '$.fspName') = ?2"
        " AND NOT EXISTS (SELECT 1 FROM vouchers v WHERE"
        " v.reference_id = t.reference_id AND"
        " v.payment_id = t.payment_id AND v.image IS NOT NULL)"
        " ORDER BY t.id",
        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, payment_id);
    store__bind_text(st, 2, fsp_name);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = store__strings_add(&refs, &n, &alloc, store__col_text(st, 0));
        if (rc < 0)
            goto done;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "list missing voucher images");
        goto done;
    }
    rc = PLAT_OK;
    *refs_out = refs;
    *n_out = n;
    refs = NULL;
    n = 0;

done:
    sqlite3_finalize(st);
    store_strings_free(refs, n);
    return rc;
}
