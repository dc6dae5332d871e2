/*
 * store_sync.c - the pull side of store_sync.h for registrations: 121 ids
 * and server copies (events applied to them, registrations gone from the
 * server). Checkpoints are in store_checkpoint.c; payments, transactions
 * and vouchers in store_payments.c; the push side of the same header in
 * store_push.c.
 *
 * Every write here joins an open transaction (store_begin) or runs in its
 * own, so the puller commits a batch of rows together with its checkpoint.
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

/* ---- registrations, server side ----------------------------------------- */

int store_reg_ref_by_id(struct store *s, int64_t id, char **ref_out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *ref_out = NULL;
    rc = store__prepare(s, "SELECT reference_id FROM registrations WHERE "
                           "id = ?1", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = store__step_text(s, st, "look up a 121 id", ref_out);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no pulled registration has 121 id "
                          "%lld", (long long)id);
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
    rc = store__prepare(
        s,
        "SELECT id FROM registrations WHERE id IS NOT NULL AND "
        "+program_id = ?1 ORDER BY id DESC LIMIT 1",
        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    rc = store__step_row(s, st, "read the largest 121 id");
    if (rc == PLAT_OK)
        *out = sqlite3_column_int64(st, 0);
    else if (rc == ERR_NOTFOUND)
        rc = PLAT_OK; /* nothing pulled yet */
    sqlite3_finalize(st);
    return rc;
}

int store__reg_server_copy(struct store *s, const char *ref, cJSON **out)
{
    sqlite3_stmt *st = NULL;
    char what[STORE_REF_MAX + 40];
    int rc;

    *out = NULL;
    rc = store__prepare(s, "SELECT server_json FROM registrations WHERE "
                           "reference_id = ?1", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = store__step_row(s, st, "read a registration");
    if (rc == PLAT_OK && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        snprintf(what, sizeof(what), "the server copy of %s", ref);
        rc = store__json_parse(s, store__col_text(st, 0), what, out);
    }
    sqlite3_finalize(st);
    return rc;
}

int store_reg_server_get(struct store *s, const char *ref, cJSON **out)
{
    int rc;

    *out = NULL;
    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "referenceId is empty");
    rc = store__reg_server_copy(s, ref, out);
    if (rc == ERR_NOTFOUND || (rc == PLAT_OK && !*out))
        rc = plat_err_set(ERR_NOTFOUND, "registration %s has no server copy",
                          ref);
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

    /* store__put_item replaces `item` in place; its successor stays valid. */
    for (item = reg->child; item; item = next) {
        next = item->next;
        if (!item->string ||
            in_list(item->string, fixed_fields, N_OF(fixed_fields)) ||
            cJSON_IsNull(item))
            continue;
        rc = store__put_item(reg, item->string, cJSON_CreateNull());
        if (rc < 0)
            return rc;
    }
    return store__put_item(reg, "name", cJSON_CreateString(""));
}

/* paymentCountRemaining follows maxPayments - paymentCount, as 121 computes
 * it for the registration view. */
static int recompute_remaining(cJSON *reg)
{
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(reg, "maxPayments");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(reg,
                                                          "paymentCount");

    if (cJSON_IsNumber(max) && cJSON_IsNumber(count))
        return store__put_item(reg, "paymentCountRemaining",
                               cJSON_CreateNumber(max->valuedouble -
                                                  count->valuedouble));
    if (!max || cJSON_IsNull(max))
        return store__put_item(reg, "paymentCountRemaining",
                               cJSON_CreateNull());
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

    rc = store__put_item(reg, ev->field,
                         event_value(reg, ev->field, ev->value));
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
        rc = store__put_item(reg, item->string, cJSON_Duplicate(item, 1));
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
    char **refs = NULL;
    size_t n = 0, alloc = 0, i;
    int64_t id;
    int rc, token = 0;

    if (count_out)
        *count_out = 0;
    /* Collect first: marking rewrites rows of the range being read. The
     * unary + keeps SQLite on the index of id: the (program_id, status)
     * index would scan the whole program once per batch. */
    rc = store__prepare(
        s,
        "SELECT reference_id, id FROM registrations WHERE"
        " +program_id = ?1 AND id > ?2 AND id <= ?3 AND"
        " server_json IS NOT NULL AND"
        " json_extract(server_json, '$.status') IS NOT 'deleted'"
        " ORDER BY id",
        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, upto_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 1);
        if (id_seen(seen, n_seen, id))
            continue;
        rc = store__strings_add(&refs, &n, &alloc, store__col_text(st, 0));
        if (rc < 0)
            goto done;
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

int store__strings_add(char ***v, size_t *n, size_t *alloc,
                       const char *text)
{
    size_t cap;
    char **grown;

    if (*n == *alloc) {
        cap = *alloc ? *alloc * 2 : 16;
        grown = plat_realloc(*v, cap * sizeof(**v));
        if (!grown)
            return ERR_NOMEM;
        *v = grown;
        *alloc = cap;
    }
    (*v)[*n] = plat_strdup(text);
    if (!(*v)[*n])
        return ERR_NOMEM;
    (*n)++;
    return PLAT_OK;
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
