/*
 * store_sync.c - the pull side of store_sync.h: checkpoints, 121 ids and
 * server copies of registrations (events applied to them, registrations
 * gone from the server), payments, transactions and voucher images.
 *
 * The push side of the same header lives in store_push.c. Every write here
 * joins an open transaction (store_begin) or runs in its own, so the puller
 * commits a batch of rows together with its checkpoint.
 */
#include "store_sync.h"
#include "store_internal.h"
#include "store_registrations.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prepare a statement that is not worth a cached slot (not on a per-row
 * path, or run once per batch). */
static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

    if (rc != SQLITE_OK) {
        *st = NULL;
        return store__db_err(s, rc, "prepare a query");
    }
    return PLAT_OK;
}

static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE)
        return store__db_err(s, rc, what);
    sqlite3_reset(st);
    return PLAT_OK;
}

static int check_name(const char *source, const char *name)
{
    if (!source || !*source || !name || !*name)
        return plat_err_set(ERR_INVALID, "checkpoint source or name is "
                            "empty");
    return PLAT_OK;
}

/* ---- checkpoints -------------------------------------------------------- */

int store_checkpoint_get(struct store *s, const char *source,
                         const char *name, char **out)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *v;
    int rc;

    *out = NULL;
    rc = check_name(source, name);
    if (rc < 0)
        return rc;
    rc = prepare(s, "SELECT value FROM sync_checkpoints WHERE source = ?1 "
                    "AND name = ?2", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = plat_err_set(ERR_NOTFOUND, "no checkpoint %s %s", source, name);
        goto done;
    }
    if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "read a checkpoint");
        goto done;
    }
    v = sqlite3_column_text(st, 0);
    *out = plat_strdup(v ? (const char *)v : "");
    rc = *out ? PLAT_OK : ERR_NOMEM;

done:
    sqlite3_finalize(st);
    return rc;
}

int store_checkpoint_set(struct store *s, const char *source,
                         const char *name, const char *value)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    rc = check_name(source, name);
    if (rc < 0)
        return rc;
    if (!value)
        return plat_err_set(ERR_INVALID, "checkpoint %s %s has no value",
                            source, name);
    store__now(now);
    rc = prepare(s, "INSERT INTO sync_checkpoints(source, name, value,"
                    " updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(source,"
                    " name) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, name);
    store__bind_text(st, 3, value);
    store__bind_text(st, 4, now);
    /* One statement is atomic on its own and joins an open transaction. */
    rc = step_done(s, st, "write a checkpoint");
    sqlite3_finalize(st);
    return rc;
}

int store_checkpoint_get_i64(struct store *s, const char *source,
                             const char *name, int64_t dflt, int64_t *out)
{
    char *text = NULL, *end = NULL;
    long long v;
    int rc;

    *out = dflt;
    rc = store_checkpoint_get(s, source, name, &text);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        rc = plat_err_set(ERR_CORRUPT, "store %s: checkpoint %s %s is not a "
                          "number", s->path, source, name);
    else
        *out = (int64_t)v;
    plat_free(text);
    return rc;
}

int store_checkpoint_set_i64(struct store *s, const char *source,
                             const char *name, int64_t value)
{
    char text[24];

    snprintf(text, sizeof(text), "%lld", (long long)value);
    return store_checkpoint_set(s, source, name, text);
}

int store_checkpoint_delete(struct store *s, const char *source,
                            const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = check_name(source, name);
    if (rc < 0)
        return rc;
    rc = prepare(s, "DELETE FROM sync_checkpoints WHERE source = ?1 AND "
                    "name = ?2", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, name);
    rc = step_done(s, st, "delete a checkpoint");
    sqlite3_finalize(st);
    return rc;
}

/* ---- registrations, server side ----------------------------------------- */

int store_reg_ref_by_id(struct store *s, int64_t id, char **ref_out)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *v;
    int rc;

    *ref_out = NULL;
    rc = prepare(s, "SELECT reference_id FROM registrations WHERE id = ?1",
                 &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = plat_err_set(ERR_NOTFOUND, "no pulled registration has 121 id "
                          "%lld", (long long)id);
        goto done;
    }
    if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "look up a 121 id");
        goto done;
    }
    v = sqlite3_column_text(st, 0);
    *ref_out = plat_strdup(v ? (const char *)v : "");
    rc = *ref_out ? PLAT_OK : ERR_NOMEM;

done:
    sqlite3_finalize(st);
    return rc;
}

int store_reg_max_server_id(struct store *s, int program_id, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    /* ORDER BY id DESC LIMIT 1 walks the unique index on id from its end,
     * so this stays O(1) whatever the store size; the unary + keeps
     * SQLite from picking the (program_id, status) index instead, which
     * reads and sorts every row of the program. */
    rc = prepare(s, "SELECT id FROM registrations WHERE id IS NOT NULL AND "
                    "+program_id = ?1 ORDER BY id DESC LIMIT 1", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = PLAT_OK;
    } else if (rc == SQLITE_DONE) {
        rc = PLAT_OK;
    } else {
        rc = store__db_err(s, rc, "read the largest 121 id");
    }
    sqlite3_finalize(st);
    return rc;
}

int store_reg_server_get(struct store *s, const char *ref, cJSON **out)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *text;
    char what[STORE_REF_MAX + 40];
    int rc;

    *out = NULL;
    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "referenceId is empty");
    rc = prepare(s, "SELECT server_json FROM registrations WHERE "
                    "reference_id = ?1", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "read a server registration");
        goto done;
    }
    text = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (!text) {
        rc = plat_err_set(ERR_NOTFOUND, "registration %s has no server copy",
                          ref);
        goto done;
    }
    snprintf(what, sizeof(what), "the server copy of %s", ref);
    rc = store__json_parse(s, (const char *)text, what, out);

done:
    sqlite3_finalize(st);
    return rc;
}

/* The fields of every registration (contract 3.1); every other key of a
 * registration is a program attribute, erased when it is deleted. */
static const char *const fixed_fields[] = {
    "id", "referenceId", "registrationProgramId", "personAffectedSequence",
    "programId", "status", "created", "preferredLanguage", "inclusionScore",
    "paymentAmountMultiplier", "maxPayments", "paymentCount",
    "paymentCountRemaining", "programFspConfigurationName",
    "programFspConfigurationId", "programFspConfigurationLabel", "fspName",
    "scope", "lastMessageStatus", "duplicateStatus", "name"};

/* Fields 121 returns as numbers (null when unset). */
static const char *const number_fields[] = {
    "registrationProgramId", "inclusionScore", "paymentAmountMultiplier",
    "maxPayments", "paymentCount", "paymentCountRemaining",
    "programFspConfigurationId"};

static int in_list(const char *key, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0)
            return 1;
    return 0;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Set obj[key] = item (taking it), replacing any value. */
static int put_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return plat_err_set(ERR_NOMEM, "out of memory setting field %s", key);
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item))
            return PLAT_OK;
    } else if (cJSON_AddItemToObject(obj, key, item)) {
        return PLAT_OK;
    }
    cJSON_Delete(item);
    return plat_err_set(ERR_NOMEM, "out of memory setting field %s", key);
}

/* An event value as JSON. Events carry every value as text (or null);
 * the server copy keeps the JSON type 121 gives the field: numbers for
 * the number fields and wherever the copy holds a number, booleans where
 * it holds a boolean, strings otherwise. */
static cJSON *event_value(const cJSON *reg, const char *field,
                          const char *value)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(reg, field);
    char *end = NULL;
    double d;

    if (!value)
        return cJSON_CreateNull();
    if (cJSON_IsNumber(cur) || in_list(field, number_fields,
                                       N_OF(number_fields))) {
        errno = 0;
        d = strtod(value, &end);
        if (end != value && *end == '\0' && errno == 0 && isfinite(d))
            return cJSON_CreateNumber(d);
    }
    if (cJSON_IsBool(cur)) {
        if (strcmp(value, "true") == 0)
            return cJSON_CreateTrue();
        if (strcmp(value, "false") == 0)
            return cJSON_CreateFalse();
    }
    return cJSON_CreateString(value);
}

/* 121 erases the attribute data of a deleted registration. */
static int erase_attributes(cJSON *reg)
{
    cJSON *item, *next;
    int rc;

    /* put_item replaces `item` in place; its successor stays valid. */
    for (item = reg->child; item; item = next) {
        next = item->next;
        if (!item->string ||
            in_list(item->string, fixed_fields, N_OF(fixed_fields)) ||
            cJSON_IsNull(item))
            continue;
        rc = put_item(reg, item->string, cJSON_CreateNull());
        if (rc < 0)
            return rc;
    }
    return put_item(reg, "name", cJSON_CreateString(""));
}

/* paymentCountRemaining follows maxPayments - paymentCount, as 121 computes
 * it for the registration view. */
static int recompute_remaining(cJSON *reg)
{
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(reg, "maxPayments");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(reg,
                                                          "paymentCount");

    if (cJSON_IsNumber(max) && cJSON_IsNumber(count))
        return put_item(reg, "paymentCountRemaining",
                        cJSON_CreateNumber(max->valuedouble -
                                           count->valuedouble));
    if (!max || cJSON_IsNull(max))
        return put_item(reg, "paymentCountRemaining", cJSON_CreateNull());
    return PLAT_OK;
}

/* Load the server copy of `ref`, let `edit` change it, store it back with
 * the local view recomputed; one atomic change. */
static int edit_server_copy(struct store *s, const char *ref,
                            int (*edit)(cJSON *reg, const void *arg),
                            const void *arg)
{
    cJSON *reg = NULL;
    int rc, token = 0;

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = store_reg_server_get(s, ref, &reg);
    if (rc == PLAT_OK)
        rc = edit(reg, arg);
    if (rc == PLAT_OK)
        rc = store_reg_put_server(s, reg);
    cJSON_Delete(reg);
    return store__txn_end(s, token, rc);
}

struct event_arg {
    const char *field;
    const char *value;
};

static int edit_event(cJSON *reg, const void *arg)
{
    const struct event_arg *ev = arg;
    int rc;

    rc = put_item(reg, ev->field, event_value(reg, ev->field, ev->value));
    if (rc < 0)
        return rc;
    if (strcmp(ev->field, "status") == 0 && ev->value &&
        strcmp(ev->value, "deleted") == 0)
        return erase_attributes(reg);
    if (strcmp(ev->field, "maxPayments") == 0)
        return recompute_remaining(reg);
    return PLAT_OK;
}

static int check_field(const char *field)
{
    if (!field || !*field)
        return plat_err_set(ERR_INVALID, "registration event without a "
                            "field name");
    if (strcmp(field, "referenceId") == 0 || strcmp(field, "id") == 0 ||
        strcmp(field, "programId") == 0)
        return plat_err_set(ERR_INVALID, "a registration event cannot change "
                            "%s", field);
    return PLAT_OK;
}

int store_reg_apply_event(struct store *s, const char *ref,
                          const char *field, const char *new_value)
{
    struct event_arg ev = {field, new_value};
    int rc = check_field(field);

    if (rc < 0)
        return rc;
    return edit_server_copy(s, ref, edit_event, &ev);
}

static int edit_set(cJSON *reg, const void *arg)
{
    const cJSON *changes = arg, *item;
    int rc;

    for (item = changes->child; item; item = item->next) {
        rc = put_item(reg, item->string, cJSON_Duplicate(item, 1));
        if (rc < 0)
            return rc;
    }
    return PLAT_OK;
}

int store_reg_server_set(struct store *s, const char *ref,
                         const cJSON *changes)
{
    const cJSON *item;
    int rc;

    if (!cJSON_IsObject(changes))
        return plat_err_set(ERR_INVALID, "server changes of %s are not a "
                            "JSON object", ref ? ref : "?");
    for (item = changes->child; item; item = item->next) {
        rc = check_field(item->string);
        if (rc < 0)
            return rc;
    }
    return edit_server_copy(s, ref, edit_set, changes);
}

static int id_seen(const int64_t *seen, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seen[mid] == id)
            return 1;
        if (seen[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int store_reg_mark_gone(struct store *s, int program_id, int64_t after_id,
                        int64_t upto_id, const int64_t *seen, size_t n_seen,
                        int64_t *count_out)
{
    sqlite3_stmt *st = NULL;
    char **refs = NULL, **grown;
    size_t n = 0, alloc = 0, i;
    int64_t id;
    int rc, token = 0;

    if (count_out)
        *count_out = 0;
    /* Collect first: marking rewrites rows of the range being read. The
     * unary + keeps SQLite on the index of id: the (program_id, status)
     * index would scan the whole program once per batch. */
    rc = prepare(s, "SELECT reference_id, id FROM registrations WHERE"
                    " +program_id = ?1 AND id > ?2 AND id <= ?3 AND"
                    " server_json IS NOT NULL AND"
                    " json_extract(server_json, '$.status') IS NOT 'deleted'"
                    " ORDER BY id", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, upto_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 1);
        if (id_seen(seen, n_seen, id))
            continue;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            grown = plat_realloc(refs, alloc * sizeof(*refs));
            if (!grown) {
                rc = ERR_NOMEM;
                goto done;
            }
            refs = grown;
        }
        refs[n] = plat_strdup((const char *)sqlite3_column_text(st, 0));
        if (!refs[n]) {
            rc = ERR_NOMEM;
            goto done;
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "find registrations gone from the server");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        goto done;
    for (i = 0; i < n && rc == PLAT_OK; i++)
        rc = store_reg_apply_event(s, refs[i], "status", "deleted");
    rc = store__txn_end(s, token, rc);
    if (rc == PLAT_OK && count_out)
        *count_out = (int64_t)n;

done:
    sqlite3_finalize(st);
    store_strings_free(refs, n);
    return rc;
}

void store_strings_free(char **v, size_t n)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        plat_free(v[i]);
    plat_free(v);
}

/* ---- payments, transactions, vouchers ----------------------------------- */

static int int_field(const cJSON *obj, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
        v->valuedouble > 9007199254740991.0 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
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
    rc = prepare(s, "INSERT INTO payments(program_id, payment_id,"
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
    rc = step_done(s, st, "store a payment");

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
    rc = prepare(s, "SELECT json FROM payments WHERE program_id = ?1 AND "
                    "payment_id = ?2", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int(st, 2, payment_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = plat_err_set(ERR_NOTFOUND, "payment %d of program %d is not "
                          "stored", payment_id, program_id);
    } else if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "read a payment");
    } else {
        snprintf(what, sizeof(what), "payment %d", payment_id);
        rc = store__json_parse(s, (const char *)sqlite3_column_text(st, 0),
                               what, out);
    }
    sqlite3_finalize(st);
    return rc;
}

int store_payment_latest(struct store *s, int program_id, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = prepare(s, "SELECT max(payment_id) FROM payments WHERE "
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
    rc = step_done(s, st, "store a transaction");
    sqlite3_clear_bindings(st);
    cJSON_free(json);
    return rc;
}

static int prepare_transaction(struct store *s, sqlite3_stmt **st)
{
    return prepare(s, "INSERT INTO transactions(id, program_id, payment_id,"
                      " reference_id, status, amount, updated, json) VALUES"
                      " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO"
                      " UPDATE SET program_id = excluded.program_id,"
                      " payment_id = excluded.payment_id,"
                      " reference_id = excluded.reference_id,"
                      " status = excluded.status, amount = excluded.amount,"
                      " updated = excluded.updated, json = excluded.json",
                   st);
}

int store_transaction_put(struct store *s, int program_id, int payment_id,
                          const cJSON *transaction)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = prepare_transaction(s, &st);
    if (rc == PLAT_OK)
        rc = put_transaction(s, st, program_id, payment_id, transaction);
    sqlite3_finalize(st);
    return rc;
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
    rc = prepare(s, "SELECT max(updated) FROM transactions WHERE "
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
    rc = prepare(s, "INSERT INTO vouchers(reference_id, payment_id, image,"
                    " content_type, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)"
                    " ON CONFLICT(reference_id, payment_id) DO UPDATE SET"
                    " image = excluded.image,"
                    " content_type = excluded.content_type,"
                    " fetched_at = excluded.fetched_at", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    sqlite3_bind_blob(st, 3, image, (int)len, SQLITE_STATIC);
    store__bind_text(st, 4, content_type && *content_type ? content_type
                                                          : NULL);
    store__bind_text(st, 5, now);
    rc = step_done(s, st, "store a voucher image");
    sqlite3_finalize(st);
    return rc;
}

int store_voucher_has(struct store *s, const char *ref, int payment_id)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = prepare(s, "SELECT 1 FROM vouchers WHERE reference_id = ?1 AND "
                    "payment_id = ?2 AND image IS NOT NULL", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = 1;
    else if (rc == SQLITE_DONE)
        rc = 0;
    else
        rc = store__db_err(s, rc, "read a voucher");
    sqlite3_finalize(st);
    return rc;
}

int store_voucher_missing(struct store *s, int payment_id,
                          const char *fsp_name, char ***refs_out,
                          size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    char **refs = NULL, **grown;
    const unsigned char *ref;
    size_t n = 0, alloc = 0;
    int rc;

    *refs_out = NULL;
    *n_out = 0;
    rc = prepare(s, "SELECT t.reference_id FROM transactions t"
                    " WHERE t.payment_id = ?1 AND t.reference_id IS NOT NULL"
                    " AND (t.status = 'success' OR t.status = 'waiting')"
                    " AND json_extract(t.json, '$.fspName') = ?2"
                    " AND NOT EXISTS (SELECT 1 FROM vouchers v WHERE"
                    " v.reference_id = t.reference_id AND"
                    " v.payment_id = t.payment_id AND v.image IS NOT NULL)"
                    " ORDER BY t.id", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, payment_id);
    store__bind_text(st, 2, fsp_name);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ref = sqlite3_column_text(st, 0);
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 16;
            grown = plat_realloc(refs, alloc * sizeof(*refs));
            if (!grown) {
                rc = ERR_NOMEM;
                goto done;
            }
            refs = grown;
        }
        refs[n] = plat_strdup((const char *)ref);
        if (!refs[n]) {
            rc = ERR_NOMEM;
            goto done;
        }
        n++;
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
