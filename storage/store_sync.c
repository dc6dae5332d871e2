/*
 * store_sync.c - the pull side of store_sync.h for registrations: 121 ids
 * and server copies (edited by the caller's functions, registrations gone
 * from the server). What an event or a deletion does to a record is the
 * connector's rule (c121_model.h), not the store's. Checkpoints are in store_checkpoint.c; payments, transactions
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

#include <stdint.h>
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

/* Load the server copy of `ref`, let `edit` change it, store it back with
 * the local view recomputed; one atomic change. */
static int edit_server_copy(struct store *s, const char *ref,
                            int (*edit)(cJSON *reg, void *arg), void *arg)
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

int store_reg_server_edit(struct store *s, const char *ref,
                          int (*fn)(struct cJSON *reg, void *payload),
                          void *payload)
{
    if (!fn)
        return plat_err_set(ERR_INVALID, "no edit function given");
    return edit_server_copy(s, ref, fn, payload);
}

static int check_field(const char *field)
{
    if (!field || !*field)
        return plat_err_set(ERR_INVALID, "server change without a field "
                            "name");
    if (strcmp(field, "referenceId") == 0 || strcmp(field, "id") == 0 ||
        strcmp(field, "programId") == 0)
        return plat_err_set(ERR_INVALID, "a server change cannot change %s",
                            field);
    return PLAT_OK;
}

static int edit_set(cJSON *reg, void *arg)
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
    /* edit_set only reads `changes`. */
    return edit_server_copy(s, ref, edit_set, (void *)(uintptr_t)changes);
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
                        int (*gone)(struct cJSON *reg, void *payload),
                        void *gone_payload, int64_t *count_out)
{
    sqlite3_stmt *st = NULL;
    char **refs = NULL;
    size_t n = 0, alloc = 0, i;
    int64_t id;
    int rc, token = 0;

    if (count_out)
        *count_out = 0;
    if (!gone)
        return plat_err_set(ERR_INVALID, "no edit function for registrations "
                            "gone from the server");
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
        rc = edit_server_copy(s, refs[i], gone, gone_payload);
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
