/*
 * store_registrations.c - registrations: local writes with their outbox
 * entries, server copies from the puller, lookups, lists and search.
 *
 * The local view (local_json) is what people see: the server copy with
 * the pending outbox operations applied on top. Every write changes the
 * view and appends its outbox entry in one transaction; the status, name
 * and phone_number columns are copies of the view for indexes and the
 * search index.
 *
 * Stored (migration 0010): the view is written to local_own, and only when
 * it differs from the server copy; '' there means "the server copy".
 * local_json is a generated column (coalesce of the two) that every reader
 * uses; no statement may write it.
 */
#include "store_registrations.h"
#include "store_internal.h"
#include "store_search.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_random.h"
#include "plat_utf8.h"

#include <stdio.h>
#include <string.h>

#define LIST_DEFAULT_LIMIT 50
#define SEARCH_DEFAULT_LIMIT 20
#define NUM_BUF 32

/* The columns copied out of a local view. Borrowed from the view (or from
 * the buffers), valid while both live. */
struct view_cols {
    const char *status;
    const char *name;
    const char *phone;
    char name_buf[NUM_BUF];
    char phone_buf[NUM_BUF];
};

static void view_columns(const cJSON *view, struct view_cols *c)
{
    const cJSON *v;

    v = cJSON_GetObjectItemCaseSensitive(view, "status");
    c->status = cJSON_IsString(v) ? v->valuestring : NULL;
    /* 121 fills "name" from the program's naming convention; a device
     * entry usually has only fullName, which is also the fresher value
     * after a local edit. */
    c->name = store__scalar_text(
        cJSON_GetObjectItemCaseSensitive(view, "fullName"), c->name_buf,
        sizeof(c->name_buf));
    if (!c->name)
        c->name = store__scalar_text(
            cJSON_GetObjectItemCaseSensitive(view, "name"), c->name_buf,
            sizeof(c->name_buf));
    c->phone = store__scalar_text(
        cJSON_GetObjectItemCaseSensitive(view, "phoneNumber"), c->phone_buf,
        sizeof(c->phone_buf));
}

/* Set view[key] to a copy of `value` (JSON null when value is NULL). */
static int set_field(cJSON *view, const char *key, const cJSON *value)
{
    cJSON *copy = value ? cJSON_Duplicate(value, 1) : cJSON_CreateNull();

    if (!copy)
        return plat_err_set(ERR_NOMEM, "out of memory copying field %s", key);
    return store__put_item(view, key, copy);
}

int store__check_ref(const char *ref)
{
    size_t n = ref ? strlen(ref) : 0;
    size_t i;

    if (n < 5 || n > STORE_REF_MAX)
        return plat_err_set(ERR_INVALID,
                            "referenceId must be 5 to %d characters long",
                            STORE_REF_MAX);
    if (!plat_utf8_valid(ref, n, NULL))
        return plat_err_set(ERR_INVALID, "referenceId is not valid UTF-8");
    /* 121 puts the referenceId in URL paths (PATCH .../registrations/REF)
     * and in filters ($in:a,b), and "status" is a route of its own. */
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ref[i];
        if (c <= 0x20 || c == 0x7f || strchr("$,/\\?#%", c))
            return plat_err_set(ERR_INVALID,
                                "referenceId must not contain spaces, "
                                "control characters or any of $ , / \\ ? "
                                "# %%");
    }
    if (strcmp(ref, "status") == 0)
        return plat_err_set(ERR_INVALID, "referenceId cannot be \"status\"");
    return PLAT_OK;
}

/* Keys the store or 121 manage; a device cannot set them as fields. */
static int reserved_key(const char *key)
{
    return key[0] == '_' || strcmp(key, "status") == 0 ||
           strcmp(key, "referenceId") == 0 || strcmp(key, "id") == 0 ||
           strcmp(key, "programId") == 0 || strcmp(key, "created") == 0;
}

/* A version 7 UUID (RFC 9562): 48 bits of Unix time in ms, then 74
 * random bits. New referenceIds and outbox op ids are made this way so
 * that they sort by time: each new one lands at the end of its indexes
 * instead of on a random page (with v4 UUIDs a batch of 1,000 creates
 * rewrote most pages of three indexes; batches ran 1.5x slower). */
static int uuid_v7(char out[PLAT_UUID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t ms = (uint64_t)plat_time_wall_ms();
    int i, o = 0, rc;

    rc = plat_random_bytes(b + 6, sizeof(b) - 6);
    if (rc < 0)
        return rc;
    for (i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70); /* version 7 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC variant */
    /* 8-4-4-4-12 hex digits (no snprintf: this runs twice per create). */
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
    return PLAT_OK;
}

/* Append an outbox entry (state pending). `payload` and `base` (may be
 * NULL) are JSON trees. */
/* Where an entry comes from and goes to (outbox.origin, outbox.target). */
struct op_route {
    const char *origin;
    const char *target;
};

static const struct op_route device_route = {"device", "121"};

/* A system name: 1-32 of [a-z0-9_.-]. */
static int check_system(const char *what, const char *name)
{
    size_t n;

    for (n = 0; name && name[n]; n++)
        if (!((name[n] >= 'a' && name[n] <= 'z') ||
              (name[n] >= '0' && name[n] <= '9') || name[n] == '_' ||
              name[n] == '.' || name[n] == '-'))
            break;
    if (!name || n == 0 || n > 32 || name[n])
        return plat_err_set(ERR_INVALID, "%s system name is not valid: use "
                            "1 to 32 of a-z, 0-9, '_', '.', '-'", what);
    return PLAT_OK;
}

static int check_route(const struct op_route *r)
{
    int rc = check_system("origin", r->origin);

    if (rc == PLAT_OK)
        rc = check_system("target", r->target);
    if (rc == PLAT_OK && strcmp(r->origin, r->target) == 0)
        rc = plat_err_set(ERR_INVALID, "a change from %s cannot be queued "
                          "for %s itself", r->origin, r->target);
    return rc;
}

static int add_outbox(struct store *s, const char *ref, int program_id,
                      const char *kind, const cJSON *payload,
                      const cJSON *base, const char *now,
                      const struct op_route *route)
{
    sqlite3_stmt *st = NULL;
    char op_id[PLAT_UUID_LEN];
    char *payload_text = NULL, *base_text = NULL;
    int rc;

    rc = uuid_v7(op_id);
    if (rc < 0)
        return rc;
    payload_text = store__json_print(payload);
    if (!payload_text) {
        rc = ERR_NOMEM;
        goto done;
    }
    if (base) {
        base_text = store__json_print(base);
        if (!base_text) {
            rc = ERR_NOMEM;
            goto done;
        }
    }
    rc = store__stmt(s, STORE__ST_OUTBOX_INSERT,
                     "INSERT INTO outbox(op_id, reference_id, program_id, "
                     "kind, payload, base, state, attempts, created_at, "
                     "updated_at, origin, target) VALUES (?1, ?2, ?3, ?4, "
                     "?5, ?6, 'pending', 0, ?7, ?7, ?8, ?9)",
                     &st);
    if (rc < 0)
        goto done;
    store__bind_text(st, 1, op_id);
    store__bind_text(st, 2, ref);
    sqlite3_bind_int(st, 3, program_id);
    store__bind_text(st, 4, kind);
    store__bind_text(st, 5, payload_text);
    store__bind_text(st, 6, base_text);
    store__bind_text(st, 7, now);
    store__bind_text(st, 8, route->origin);
    store__bind_text(st, 9, route->target);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? PLAT_OK
                           : store__db_err(s, rc, "append to the outbox");

done:
    store__stmt_done(st);
    cJSON_free(payload_text);
    cJSON_free(base_text);
    return rc;
}

/* A registration row as the writes need it. */
struct reg_row {
    int64_t row_id;
    int program_id;
    char *name;  /* the values now in the search index */
    char *phone;
    cJSON *view; /* the local view, parsed */
};

static void reg_row_dispose(struct reg_row *r)
{
    plat_free(r->name);
    plat_free(r->phone);
    cJSON_Delete(r->view);
    memset(r, 0, sizeof(*r));
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int no_registration(const char *ref)
{
    return plat_err_set(ERR_NOTFOUND, "no registration %s in the store", ref);
}

/* Load the row of `ref`; ERR_NOTFOUND if there is none. */
static int load_row(struct store *s, const char *ref, struct reg_row *r)
{
    sqlite3_stmt *st = NULL;
    char what[STORE_REF_MAX + 32];
    int rc;

    memset(r, 0, sizeof(*r));
    rc = store__stmt(s, STORE__ST_REG_LOAD,
                     "SELECT row_id, program_id, name, phone_number,"
                     " local_json FROM registrations WHERE reference_id = ?1",
                     &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = store__step_row(s, st, "read a registration");
    if (rc == ERR_NOTFOUND)
        rc = no_registration(ref);
    if (rc < 0)
        goto done;
    r->row_id = sqlite3_column_int64(st, 0);
    r->program_id = sqlite3_column_int(st, 1);
    r->name = store__col_dup(st, 2, &rc);
    r->phone = store__col_dup(st, 3, &rc);
    if (rc < 0)
        goto done;
    snprintf(what, sizeof(what), "registration %s", ref);
    rc = store__json_parse(s, (const char *)sqlite3_column_text(st, 4), what,
                           &r->view);

done:
    store__stmt_done(st);
    if (rc < 0)
        reg_row_dispose(r);
    return rc;
}

/* Queue the search index change from (old_name, old_phone) to the new
 * column values, if they differ. `is_new`: nothing indexed yet. */
static int index_row(struct store *s, int64_t row_id, const char *ref,
                     int is_new, const char *old_name, const char *old_phone,
                     const struct view_cols *c)
{
    int rc;

    if (!is_new) {
        if (same_text(old_name, c->name) && same_text(old_phone, c->phone))
            return PLAT_OK;
        rc = store__fts_queue(s, row_id, 1, ref, old_name, old_phone);
        if (rc < 0)
            return rc;
    }
    return store__fts_queue(s, row_id, 0, ref, c->name, c->phone);
}

/* Write a changed local view back, with its column copies. */
static int save_view(struct store *s, const char *ref, const struct reg_row *r,
                     const char *now)
{
    sqlite3_stmt *st = NULL;
    struct view_cols c;
    char *text;
    int rc;

    text = store__json_print(r->view);
    if (!text)
        return ERR_NOMEM;
    view_columns(r->view, &c);
    rc = store__stmt(s, STORE__ST_REG_UPDATE_LOCAL,
                     "UPDATE registrations SET local_own = ?2, status = ?3, "
                     "name = ?4, phone_number = ?5, updated_at = ?6 "
                     "WHERE row_id = ?1",
                     &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int64(st, 1, r->row_id);
    store__bind_text(st, 2, text);
    store__bind_text(st, 3, c.status);
    store__bind_text(st, 4, c.name);
    store__bind_text(st, 5, c.phone);
    store__bind_text(st, 6, now);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? PLAT_OK
                           : store__db_err(s, rc, "update a registration");
    if (rc == PLAT_OK)
        rc = index_row(s, r->row_id, ref, 0, r->name, r->phone, &c);

done:
    store__stmt_done(st);
    cJSON_free(text);
    return rc;
}

/* ---- create ------------------------------------------------------------- */

static int reg_create(struct store *s, int program_id, const cJSON *fields,
                      char *ref_out, const struct op_route *route)
{
    sqlite3_stmt *st = NULL;
    cJSON *view = NULL, *payload = NULL;
    const cJSON *item, *given;
    char ref[STORE_REF_MAX + 1];
    char uuid[PLAT_UUID_LEN];
    char now[PLAT_ISO_LEN];
    char *view_text = NULL;
    const char *dup;
    struct view_cols c;
    int rc, token = 0, src;

    if (ref_out)
        ref_out[0] = '\0';
    if (program_id <= 0)
        return plat_err_set(ERR_INVALID, "program id %d is not valid",
                            program_id);
    if (!cJSON_IsObject(fields))
        return plat_err_set(ERR_INVALID,
                            "registration fields must be a JSON object");
    if (store__has_duplicate_key(fields, &dup))
        return plat_err_set(ERR_INVALID, "field %s is given more than once",
                            dup);

    given = cJSON_GetObjectItemCaseSensitive(fields, "referenceId");
    if (given) {
        if (!cJSON_IsString(given))
            return plat_err_set(ERR_INVALID,
                                "field referenceId must be a string");
        rc = store__check_ref(given->valuestring);
        if (rc < 0)
            return rc;
        snprintf(ref, sizeof(ref), "%s", given->valuestring);
    } else {
        /* Time-ordered, like the op ids: the reference_id index and the
         * outbox's (reference_id, seq) index then grow at their ends. */
        rc = uuid_v7(uuid);
        if (rc < 0)
            return rc;
        snprintf(ref, sizeof(ref), "%s", uuid);
    }
    for (item = fields->child; item; item = item->next) {
        if (strcmp(item->string, "referenceId") != 0 &&
            reserved_key(item->string))
            return plat_err_set(ERR_INVALID,
                                "field %s cannot be set: 121 or the store "
                                "manages it",
                                item->string);
    }

    store__now(now);
    /* The local view starts as 121 will show it; the payload is the object
     * sent in the POST body, with the referenceId made here so a retried
     * create is recognisable. */
    view = cJSON_CreateObject();
    payload = cJSON_CreateObject();
    if (!view || !payload ||
        !cJSON_AddStringToObject(view, "referenceId", ref) ||
        !cJSON_AddNumberToObject(view, "programId", program_id) ||
        !cJSON_AddStringToObject(view, "status", "new") ||
        !cJSON_AddStringToObject(view, "created", now) ||
        !cJSON_AddStringToObject(payload, "referenceId", ref)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory building registration");
        goto done;
    }
    /* Copies, not cJSON references: cJSON_AddItemReferenceToObject leaks
     * its node when it runs out of memory. */
    for (item = fields->child; item; item = item->next) {
        if (strcmp(item->string, "referenceId") == 0)
            continue;
        rc = set_field(view, item->string, item);
        if (rc < 0)
            goto done;
        rc = set_field(payload, item->string, item);
        if (rc < 0)
            goto done;
    }
    view_text = store__json_print(view);
    if (!view_text) {
        rc = ERR_NOMEM;
        goto done;
    }
    view_columns(view, &c);

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        goto done;
    rc = store__stmt(s, STORE__ST_REG_INSERT,
                     "INSERT INTO registrations(reference_id, program_id, "
                     "local_own, status, name, phone_number, created_at, "
                     "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                     &st);
    if (rc < 0)
        goto end_txn;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, program_id);
    store__bind_text(st, 3, view_text);
    store__bind_text(st, 4, c.status);
    store__bind_text(st, 5, c.name);
    store__bind_text(st, 6, c.phone);
    store__bind_text(st, 7, now);
    src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
        rc = plat_err_set(ERR_EXISTS, "referenceId %s is already taken", ref);
    else if (src != SQLITE_DONE)
        rc = store__db_err(s, src, "add a registration");
    store__stmt_done(st);
    if (rc < 0)
        goto end_txn;
    rc = index_row(s, sqlite3_last_insert_rowid(s->db), ref, 1, NULL, NULL,
                   &c);
    if (rc < 0)
        goto end_txn;
    rc = add_outbox(s, ref, program_id, "create", payload, NULL, now, route);

end_txn:
    rc = store__txn_end(s, token, rc);
    if (rc == PLAT_OK && ref_out)
        snprintf(ref_out, STORE_REF_MAX + 1, "%s", ref);

done:
    cJSON_free(view_text);
    cJSON_Delete(view);
    cJSON_Delete(payload);
    return rc;
}

int store_reg_create(struct store *s, int program_id,
                     const struct cJSON *fields, char *ref_out)
{
    return reg_create(s, program_id, fields, ref_out, &device_route);
}

int store_reg_create_from(struct store *s, int program_id,
                          const struct cJSON *fields, char *ref_out,
                          const char *origin, const char *target)
{
    struct op_route route = {origin, target};
    int rc = check_route(&route);

    if (ref_out)
        ref_out[0] = '\0';
    if (rc < 0)
        return rc;
    return reg_create(s, program_id, fields, ref_out, &route);
}

/* ---- edit --------------------------------------------------------------- */

static int reg_edit(int *changed_out, struct store *s, const char *ref,
                    const cJSON *changes, const cJSON *base_in,
                    const char *reason, const struct op_route *route)
{
    struct reg_row row = {0, 0, NULL, NULL, NULL};
    cJSON *payload = NULL, *data, *base = NULL;
    const cJSON *item, *old;
    char now[PLAT_ISO_LEN];
    const char *dup;
    int changed = 0, rc, token = 0;

    if (changed_out)
        *changed_out = 0;
    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "no referenceId given");
    if (!cJSON_IsObject(changes) || !changes->child)
        return plat_err_set(ERR_INVALID, "no fields to change for %s", ref);
    if (store__has_duplicate_key(changes, &dup))
        return plat_err_set(ERR_INVALID, "field %s is given more than once",
                            dup);
    for (item = changes->child; item; item = item->next) {
        if (strcmp(item->string, "status") == 0)
            return plat_err_set(ERR_INVALID,
                                "field status cannot be edited: use `agent "
                                "registrations status`");
        if (reserved_key(item->string))
            return plat_err_set(ERR_INVALID, "field %s cannot be edited",
                                item->string);
    }

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = load_row(s, ref, &row);
    if (rc < 0)
        goto done;

    payload = cJSON_CreateObject();
    base = cJSON_CreateObject();
    data = payload ? cJSON_AddObjectToObject(payload, "data") : NULL;
    if (!data || !base) {
        rc = plat_err_set(ERR_NOMEM, "out of memory building edit");
        goto done;
    }
    for (item = changes->child; item; item = item->next) {
        old = cJSON_GetObjectItemCaseSensitive(row.view, item->string);
        /* Generic comparison (as text, null equals ""): no system's value
         * rules here; a caller that knows them leaves out the fields its
         * system sees as unchanged. */
        if (store__same_value(old, item, 0))
            continue;
        /* Base: what the person saw before this change (or the caller's
         * base: what the other system showed before it). */
        if (base_in && cJSON_GetObjectItemCaseSensitive(base_in,
                                                        item->string))
            rc = set_field(base, item->string,
                           cJSON_GetObjectItemCaseSensitive(base_in,
                                                            item->string));
        else
            rc = set_field(base, item->string, old);
        if (rc < 0)
            goto done;
        rc = set_field(data, item->string, item);
        if (rc < 0)
            goto done;
        rc = set_field(row.view, item->string, item);
        if (rc < 0)
            goto done;
        changed++;
    }
    if (changed == 0)
        goto done; /* nothing differs: no outbox entry, not an error */
    if (reason && *reason &&
        !cJSON_AddStringToObject(payload, "reason", reason)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory building edit");
        goto done;
    }
    store__now(now);
    rc = save_view(s, ref, &row, now);
    if (rc < 0)
        goto done;
    rc = add_outbox(s, ref, row.program_id, "edit", payload, base, now,
                    route);

done:
    rc = store__txn_end(s, token, rc);
    if (rc == PLAT_OK && changed_out)
        *changed_out = changed;
    reg_row_dispose(&row);
    cJSON_Delete(payload);
    cJSON_Delete(base);
    return rc;
}

int store_reg_edit_fields(int *changed_out, struct store *s, const char *ref,
                          const struct cJSON *changes, const char *reason)
{
    return reg_edit(changed_out, s, ref, changes, NULL, reason,
                    &device_route);
}

int store_reg_edit(struct store *s, const char *ref,
                   const struct cJSON *changes, const char *reason)
{
    return reg_edit(NULL, s, ref, changes, NULL, reason, &device_route);
}

int store_reg_edit_from(int *changed_out, struct store *s, const char *ref,
                        const struct cJSON *changes, const char *reason,
                        const char *origin, const char *target)
{
    struct op_route route = {origin, target};
    int rc = check_route(&route);

    if (changed_out)
        *changed_out = 0;
    if (rc < 0)
        return rc;
    return reg_edit(changed_out, s, ref, changes, NULL, reason, &route);
}

int store_reg_edit_from_base(int *changed_out, struct store *s,
                             const char *ref, const struct cJSON *changes,
                             const struct cJSON *base, const char *reason,
                             const char *origin, const char *target)
{
    struct op_route route = {origin, target};
    int rc = check_route(&route);

    if (changed_out)
        *changed_out = 0;
    if (rc < 0)
        return rc;
    if (base && !cJSON_IsObject(base))
        return plat_err_set(ERR_INVALID, "base of an edit of %s is not a "
                            "JSON object", ref ? ref : "?");
    return reg_edit(changed_out, s, ref, changes, base, reason, &route);
}

/* ---- status ------------------------------------------------------------- */

static int reg_set_status(struct store *s, const char *ref,
                          const char *new_status, const char *reason,
                          const struct op_route *route)
{
    struct reg_row row = {0, 0, NULL, NULL, NULL};
    cJSON *payload = NULL, *base = NULL;
    const cJSON *cur;
    char from[40], now[PLAT_ISO_LEN];
    int rc, token = 0;

    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "no referenceId given");
    if (!new_status || !*new_status)
        return plat_err_set(ERR_INVALID, "no status given for %s", ref);
    if (strlen(new_status) > 32)
        return plat_err_set(ERR_INVALID, "status for %s is longer than 32 "
                            "bytes", ref);

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = load_row(s, ref, &row);
    if (rc < 0)
        goto done;
    cur = cJSON_GetObjectItemCaseSensitive(row.view, "status");
    /* A row 121 just imported has status null for a moment: it is new. */
    snprintf(from, sizeof(from), "%s",
             cJSON_IsString(cur) && cur->valuestring[0] &&
                     strlen(cur->valuestring) < sizeof(from)
                 ? cur->valuestring
                 : "new");
    if (strcmp(from, new_status) == 0) {
        rc = plat_err_set(ERR_INVALID, "%s is already %s", ref, new_status);
        goto done;
    }

    payload = cJSON_CreateObject();
    base = cJSON_CreateObject();
    if (!payload || !base ||
        !cJSON_AddStringToObject(payload, "status", new_status) ||
        (reason && *reason &&
         !cJSON_AddStringToObject(payload, "reason", reason)) ||
        !cJSON_AddStringToObject(base, "status", from)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory building status change");
        goto done;
    }
    rc = set_field(row.view, "status",
                   cJSON_GetObjectItemCaseSensitive(payload, "status"));
    if (rc < 0)
        goto done;
    store__now(now);
    rc = save_view(s, ref, &row, now);
    if (rc < 0)
        goto done;
    rc = add_outbox(s, ref, row.program_id, "status", payload, base, now,
                    route);

done:
    rc = store__txn_end(s, token, rc);
    reg_row_dispose(&row);
    cJSON_Delete(payload);
    cJSON_Delete(base);
    return rc;
}

int store_reg_set_status(struct store *s, const char *ref,
                         const char *new_status, const char *reason)
{
    return reg_set_status(s, ref, new_status, reason, &device_route);
}

int store_reg_set_status_from(struct store *s, const char *ref,
                              const char *new_status, const char *reason,
                              const char *origin, const char *target)
{
    struct op_route route = {origin, target};
    int rc = check_route(&route);

    if (rc < 0)
        return rc;
    return reg_set_status(s, ref, new_status, reason, &route);
}

/* ---- server copies ------------------------------------------------------ */

/* Apply the pending (and in-flight) edit and status entries of `ref` to a
 * copy of the server copy, oldest first, in *view_out: parsed from `text`
 * (len bytes) when given, else a copy of `server`. *view_out stays NULL
 * when nothing is pending (the local view is then the server copy itself,
 * stored as '': no copy, no print). A pending create is not re-applied:
 * once the server copy exists it is the base, whatever the create sent. */
static int reapply_pending(struct store *s, const char *ref,
                           const cJSON *server, const char *text, size_t len,
                           cJSON **view_out)
{
    sqlite3_stmt *st = NULL;
    cJSON *payload = NULL, *view = NULL;
    const cJSON *data, *item;
    char what[STORE_REF_MAX + 40];
    const char *kind;
    int rc;

    *view_out = NULL;
    rc = store__stmt(s, STORE__ST_REG_PENDING_OPS,
                     "SELECT kind, payload FROM outbox WHERE reference_id = ?1"
                     " AND state IN ('pending', 'inflight') ORDER BY seq",
                     &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    snprintf(what, sizeof(what), "an outbox entry of %s", ref);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kind = (const char *)sqlite3_column_text(st, 0);
        if (!kind || (strcmp(kind, "edit") != 0 && strcmp(kind, "status") != 0))
            continue;
        rc = store__json_parse(s, (const char *)sqlite3_column_text(st, 1),
                               what, &payload);
        if (rc < 0)
            goto done;
        if (!view) {
            view = text ? cJSON_ParseWithLength(text, len)
                        : cJSON_Duplicate(server, 1);
            if (!cJSON_IsObject(view)) {
                rc = plat_err_set(text ? ERR_INVALID : ERR_NOMEM,
                                  "server registration %s: %s", ref,
                                  text ? "its text is not a JSON object "
                                         "(or no memory to parse it)"
                                       : "out of memory copying it");
                goto done;
            }
        }
        if (strcmp(kind, "edit") == 0) {
            data = cJSON_GetObjectItemCaseSensitive(payload, "data");
            for (item = data ? data->child : NULL; item; item = item->next) {
                rc = set_field(view, item->string, item);
                if (rc < 0)
                    goto done;
            }
        } else {
            item = cJSON_GetObjectItemCaseSensitive(payload, "status");
            if (cJSON_IsString(item)) {
                rc = set_field(view, "status", item);
                if (rc < 0)
                    goto done;
            }
        }
        cJSON_Delete(payload);
        payload = NULL;
    }
    rc = rc == SQLITE_DONE ? PLAT_OK
                           : store__db_err(s, rc, "read the outbox");

done:
    cJSON_Delete(payload);
    store__stmt_done(st);
    if (rc == PLAT_OK)
        *view_out = view;
    else
        cJSON_Delete(view);
    return rc;
}

/* The row id and indexed values of `ref`, if it is stored: *found_out 0
 * or 1. */
static int find_row(struct store *s, const char *ref, int *found_out,
                    struct reg_row *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *found_out = 0;
    memset(r, 0, sizeof(*r));
    rc = store__stmt(s, STORE__ST_REG_COLS,
                     "SELECT row_id, name, phone_number FROM registrations"
                     " WHERE reference_id = ?1",
                     &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = PLAT_OK;
        *found_out = 1;
        r->row_id = sqlite3_column_int64(st, 0);
        r->name = store__col_dup(st, 1, &rc);
        r->phone = store__col_dup(st, 2, &rc);
    } else if (rc == SQLITE_DONE) {
        rc = PLAT_OK;
    } else {
        rc = store__db_err(s, rc, "read a registration");
    }
    store__stmt_done(st);
    return rc;
}

int store_reg_put_server(struct store *s, const struct cJSON *server_reg)
{
    return store_reg_put_server_text(s, server_reg, NULL, 0);
}

int store_reg_put_server_text(struct store *s, const struct cJSON *server_reg,
                              const char *text, size_t text_len)
{
    struct reg_row old = {0, 0, NULL, NULL, NULL};
    sqlite3_stmt *st = NULL;
    const cJSON *ref_item, *prog, *id, *created;
    cJSON *view = NULL;
    char *server_text = NULL, *view_text = NULL;
    char now[PLAT_ISO_LEN];
    struct view_cols c;
    const char *ref;
    int64_t prog_id = 0, id_v = -1; /* -1: no id */
    int rc, src, token = 0, found = 0;

    if (!cJSON_IsObject(server_reg))
        return plat_err_set(ERR_INVALID,
                            "server registration is not a JSON object");
    ref_item = cJSON_GetObjectItemCaseSensitive(server_reg, "referenceId");
    if (!cJSON_IsString(ref_item) || !ref_item->valuestring[0] ||
        strlen(ref_item->valuestring) > STORE_REF_MAX)
        return plat_err_set(ERR_INVALID, "server registration: field "
                            "referenceId is missing or not valid");
    ref = ref_item->valuestring;
    prog = cJSON_GetObjectItemCaseSensitive(server_reg, "programId");
    rc = store__json_int64(prog, "programId", 1, INT32_MAX, &prog_id);
    id = cJSON_GetObjectItemCaseSensitive(server_reg, "id");
    if (rc == PLAT_OK && id && !cJSON_IsNull(id))
        rc = store__json_int64(id, "id", 0, STORE__JSON_INT_MAX, &id_v);
    if (rc < 0) {
        char why[128];

        snprintf(why, sizeof(why), "%s", plat_err_msg());
        return plat_err_set(rc, "server registration %s: %s", ref, why);
    }
    created = cJSON_GetObjectItemCaseSensitive(server_reg, "created");

    /* Text as received is bound as it is (no copy). */
    if (text && text_len > (size_t)INT32_MAX)
        return plat_err_set(ERR_TOOLARGE, "server registration %s is too "
                            "large to store", ref);
    if (!text) {
        server_text = store__json_print(server_reg);
        if (!server_text) {
            rc = plat_err_set(ERR_NOMEM, "out of memory storing "
                              "registration %s", ref);
            goto done;
        }
    }
    store__now(now);

    /* One write statement (the INSERT or UPDATE), its index changes
     * queued before it: no savepoint per row inside a batch. */
    rc = store__txn_begin_one(s, &token);
    if (rc < 0)
        goto done;
    rc = find_row(s, ref, &found, &old);
    if (rc < 0)
        goto end_txn;
    /* A row seen for the first time has no outbox entries to re-apply, so
     * its local view is the server copy, stored as '' (migration 0010):
     * no copy, no second print, no second copy written. A known row gets
     * a view of its own only while it has pending or in-flight entries. */
    if (found) {
        rc = reapply_pending(s, ref, server_reg, text, text_len, &view);
        if (rc < 0)
            goto end_txn;
    }
    if (view) {
        view_text = store__json_print(view);
        if (!view_text) {
            rc = ERR_NOMEM;
            goto end_txn;
        }
    }
    view_columns(view ? view : server_reg, &c);
    /* Queued first: once the write is done nothing can fail (a new row's
     * rowid is filled in after its INSERT). */
    rc = index_row(s, found ? old.row_id : 0, ref, !found, old.name,
                   old.phone, &c);
    if (rc < 0)
        goto end_txn;
    if (found)
        rc = store__stmt(s, STORE__ST_REG_UPDATE_SERVER,
                         "UPDATE registrations SET id = ?2, program_id = ?3,"
                         " server_json = ?4, server_seen_at = ?5,"
                         " local_own = ?6, status = ?7, name = ?8,"
                         " phone_number = ?9, updated_at = ?5"
                         " WHERE row_id = ?1",
                         &st);
    else
        rc = store__stmt(s, STORE__ST_REG_INSERT_SERVER,
                         "INSERT INTO registrations(reference_id, id,"
                         " program_id, server_json, server_seen_at,"
                         " local_own, status, name, phone_number,"
                         " created_at, updated_at) VALUES (?1, ?2, ?3, ?4,"
                         " ?5, ?6, ?7, ?8, ?9, ?10, ?5)",
                         &st);
    if (rc < 0)
        goto end_txn;
    if (found)
        sqlite3_bind_int64(st, 1, old.row_id);
    else
        store__bind_text(st, 1, ref);
    if (id_v >= 0)
        sqlite3_bind_int64(st, 2, id_v);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, prog_id);
    if (text)
        sqlite3_bind_text(st, 4, text, (int)text_len, SQLITE_STATIC);
    else
        store__bind_text(st, 4, server_text);
    store__bind_text(st, 5, now);
    /* '' = the local view is the server copy (migration 0010). */
    store__bind_text(st, 6, view_text ? view_text : "");
    store__bind_text(st, 7, c.status);
    store__bind_text(st, 8, c.name);
    store__bind_text(st, 9, c.phone);
    if (!found)
        store__bind_text(st, 10, cJSON_IsString(created)
                                     ? created->valuestring : now);
    src = sqlite3_step(st);
    if ((src & 0xff) == SQLITE_CONSTRAINT) {
        /* The only other unique column is the 121 id. */
        rc = plat_err_set(ERR_CONFLICT,
                          "server registration %s: its id %lld is already "
                          "stored for another referenceId",
                          ref, (long long)id_v);
        goto end_txn;
    }
    if (src != SQLITE_DONE) {
        rc = store__db_err(s, src, "store a server registration");
        goto end_txn;
    }
    if (!found)
        store__fts_last_rowid(s, sqlite3_last_insert_rowid(s->db));

end_txn:
    store__stmt_done(st);
    rc = store__txn_end(s, token, rc);

done:
    reg_row_dispose(&old);
    cJSON_free(server_text);
    cJSON_free(view_text);
    cJSON_Delete(view);
    return rc;
}

int store_reg_put_server_batch(struct store *s, const struct cJSON *regs)
{
    const cJSON *item;
    int rc, token = 0;

    if (!cJSON_IsArray(regs))
        return plat_err_set(ERR_INVALID,
                            "server registrations are not a JSON array");
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    for (item = regs->child; item; item = item->next) {
        rc = store_reg_put_server(s, item);
        if (rc < 0)
            break;
    }
    return store__txn_end(s, token, rc);
}

/* ---- reading ------------------------------------------------------------ */

int store_reg_get(struct store *s, const char *ref, struct cJSON **out)
{
    sqlite3_stmt *st = NULL;
    cJSON *view = NULL;
    char what[STORE_REF_MAX + 32];
    int rc;

    *out = NULL;
    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "no referenceId given");
    rc = store__stmt(
        s, STORE__ST_REG_EXTRA,
        "SELECT r.local_json, r.id,"
        " (SELECT count(*) FROM outbox o WHERE o.reference_id = r.reference_id"
        "  AND o.state IN ('pending', 'inflight')),"
        " (SELECT count(*) FROM outbox o WHERE o.reference_id = r.reference_id"
        "  AND o.state = 'rejected'),"
        " (SELECT count(*) FROM conflicts c WHERE c.reference_id ="
        "  r.reference_id AND c.state = 'open')"
        " FROM registrations r WHERE r.reference_id = ?1",
        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    rc = store__step_row(s, st, "read a registration");
    if (rc == ERR_NOTFOUND)
        rc = no_registration(ref);
    if (rc < 0)
        goto done;
    snprintf(what, sizeof(what), "registration %s", ref);
    rc = store__json_parse(s, store__col_text(st, 0), what, &view);
    if (rc < 0)
        goto done;
    if (!cJSON_AddNumberToObject(view, "_pending",
                                 (double)sqlite3_column_int64(st, 2)) ||
        !cJSON_AddNumberToObject(view, "_rejected",
                                 (double)sqlite3_column_int64(st, 3)) ||
        !cJSON_AddNumberToObject(view, "_conflicts",
                                 (double)sqlite3_column_int64(st, 4)) ||
        !(sqlite3_column_type(st, 1) == SQLITE_NULL
              ? cJSON_AddNullToObject(view, "_serverId")
              : cJSON_AddNumberToObject(
                    view, "_serverId", (double)sqlite3_column_int64(st, 1)))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory reading registration %s",
                          ref);
        goto done;
    }
    *out = view;
    view = NULL;
    rc = PLAT_OK;

done:
    store__stmt_done(st);
    cJSON_Delete(view);
    return rc;
}

int store_reg_count(struct store *s, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM registrations", -1,
                            &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = PLAT_OK;
    } else {
        rc = store__db_err(s, rc, "count registrations");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Run a prepared query whose first column is a local view and hand each
 * row to `cb`. Not a cached statement: the callback may use the store. */
static int emit_rows(struct store *s, sqlite3_stmt *st, store_reg_cb cb,
                     void *payload)
{
    cJSON *view = NULL;
    int rc, stop;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = store__json_parse(s, (const char *)sqlite3_column_text(st, 0),
                               "a registration", &view);
        if (rc < 0)
            return rc;
        stop = cb ? cb(view, payload) : 0;
        cJSON_Delete(view);
        view = NULL;
        if (stop)
            return stop;
    }
    return rc == SQLITE_DONE ? PLAT_OK
                             : store__db_err(s, rc, "read registrations");
}

/* 1 if `name` may be used as an attribute key in a JSON path. */
static int attr_name_ok(const char *name)
{
    size_t n = 0;

    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= 100;
}

int store_reg_list(struct store *s, const struct store_reg_filter *f,
                   store_reg_cb cb, void *payload, int64_t *total_out)
{
    static const struct store_reg_filter none = {0, NULL, NULL, NULL, 0, 0};
    struct plat_buf where, sql;
    sqlite3_stmt *st = NULL;
    char *path = NULL;
    int rc, limit;

    if (total_out)
        *total_out = 0;
    if (!f)
        f = &none;
    plat_buf_init(&where, 0);
    plat_buf_init(&sql, 0);
    if (f->limit < 0 || f->offset < 0)
        return plat_err_set(ERR_INVALID, "limit and offset must not be "
                            "negative");
    if (!f->attr_name != !f->attr_value)
        return plat_err_set(ERR_INVALID,
                            "an attribute filter needs a name and a value");
    if (f->attr_name && !attr_name_ok(f->attr_name))
        return plat_err_set(ERR_INVALID,
                            "attribute name to filter on is not valid (use "
                            "letters, digits, '_', '.' or '-')");
    limit = f->limit ? f->limit : LIST_DEFAULT_LIMIT;

    /* Only fixed SQL fragments are appended; every value is bound. */
    rc = plat_buf_puts(&where, " WHERE 1");
    if (rc == 0 && f->program_id)
        rc = plat_buf_puts(&where, " AND program_id = ?1");
    if (rc == 0 && f->status)
        rc = plat_buf_puts(&where, " AND status = ?2");
    if (rc == 0 && f->attr_name)
        /* Compare as text, as 121 does ("4" matches 4, "true" true). */
        rc = plat_buf_puts(&where,
                           " AND (CASE json_type(local_json, ?3)"
                           " WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
                           " ELSE CAST(json_extract(local_json, ?3) AS TEXT)"
                           " END) = ?4");
    if (rc < 0)
        goto done;
    if (f->attr_name) {
        path = plat_asprintf("$.\"%s\"", f->attr_name);
        if (!path) {
            rc = ERR_NOMEM;
            goto done;
        }
    }

    if (total_out) {
        rc = plat_buf_printf(&sql, "SELECT count(*) FROM registrations%s",
                             where.data);
        if (rc < 0)
            goto done;
        rc = sqlite3_prepare_v2(s->db, sql.data, -1, &st, NULL);
        if (rc != SQLITE_OK) {
            rc = store__db_err(s, rc, "count registrations");
            goto done;
        }
        if (f->program_id)
            sqlite3_bind_int(st, 1, f->program_id);
        if (f->status)
            store__bind_text(st, 2, f->status);
        if (f->attr_name) {
            store__bind_text(st, 3, path);
            store__bind_text(st, 4, f->attr_value);
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            rc = store__db_err(s, rc, "count registrations");
            goto done;
        }
        *total_out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        plat_buf_reset(&sql);
    }

    rc = plat_buf_printf(&sql,
                         "SELECT local_json FROM registrations%s ORDER BY "
                         "created_at, reference_id LIMIT ?5 OFFSET ?6",
                         where.data);
    if (rc < 0)
        goto done;
    rc = sqlite3_prepare_v2(s->db, sql.data, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "list registrations");
        goto done;
    }
    if (f->program_id)
        sqlite3_bind_int(st, 1, f->program_id);
    if (f->status)
        store__bind_text(st, 2, f->status);
    if (f->attr_name) {
        store__bind_text(st, 3, path);
        store__bind_text(st, 4, f->attr_value);
    }
    sqlite3_bind_int(st, 5, limit);
    sqlite3_bind_int(st, 6, f->offset);
    rc = emit_rows(s, st, cb, payload);

done:
    sqlite3_finalize(st);
    plat_free(path);
    plat_buf_dispose(&where);
    plat_buf_dispose(&sql);
    return rc;
}

/* Number of characters (code points) in valid UTF-8 text. */
static size_t utf8_chars(const char *t)
{
    size_t n = 0;

    for (; *t; t++)
        if (((unsigned char)*t & 0xc0) != 0x80)
            n++;
    return n;
}

/* store_contains(needle, a, b, ...): 1 if any of a, b, ... contains
 * `needle` (given in lower case), comparing ASCII letters without case.
 * It runs once per row of a scan, so the first byte is matched with a
 * single compare: OR-ing 0x20 lower-cases a letter, and is only done when
 * the needle byte is a letter. */
static int contains_folded(const unsigned char *hay, int hlen,
                           const unsigned char *needle, int nlen)
{
    unsigned char n0 = needle[0];
    unsigned char mask = (n0 >= 'a' && n0 <= 'z') ? 0x20 : 0;
    int pos, k;

    for (pos = 0; pos + nlen <= hlen; pos++) {
        if ((unsigned char)(hay[pos] | mask) != n0)
            continue;
        for (k = 1; k < nlen; k++) {
            unsigned char c = hay[pos + k];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c | 0x20);
            if (c != needle[k])
                break;
        }
        if (k == nlen)
            return 1;
    }
    return 0;
}

static void fn_contains(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const unsigned char *needle = sqlite3_value_text(argv[0]);
    int nlen = sqlite3_value_bytes(argv[0]);
    const unsigned char *hay;
    int i;

    for (i = 1; needle && nlen > 0 && i < argc; i++) {
        hay = sqlite3_value_text(argv[i]);
        if (hay && contains_folded(hay, sqlite3_value_bytes(argv[i]), needle,
                                   nlen)) {
            sqlite3_result_int(ctx, 1);
            return;
        }
    }
    sqlite3_result_int(ctx, 0);
}

int store__reg_register_functions(struct store *s)
{
    int rc = sqlite3_create_function_v2(
        s->db, "store_contains", -1,
        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
        fn_contains, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return store__db_err(s, rc, "register SQL functions");
    return PLAT_OK;
}

int store_reg_search(struct store *s, const char *text, int limit,
                     store_reg_cb cb, void *payload)
{
    struct plat_buf q;
    sqlite3_stmt *st = NULL;
    const char *p;
    int pending = 0, rc;

    plat_buf_init(&q, 0);
    if (!text || !*text)
        return plat_err_set(ERR_INVALID, "search text is empty");
    if (!plat_utf8_valid(text, strlen(text), NULL))
        return plat_err_set(ERR_INVALID, "search text is not valid UTF-8");
    if (limit < 0)
        return plat_err_set(ERR_INVALID, "search limit must not be negative");
    if (limit == 0)
        limit = SEARCH_DEFAULT_LIMIT;
    /* Inside an open transaction, index this transaction's rows first. */
    rc = store__fts_flush(s);
    if (rc == PLAT_OK)
        rc = store_search_pending(s, &pending);
    if (rc < 0)
        goto done;

    /* While the index waits for its rebuild (store_search.h) it misses
     * rows: every search scans then. */
    if (!pending && utf8_chars(text) >= 3) {
        /* The trigram index answers "contains" for 3+ characters. The text
         * goes in as one FTS5 string ("..." with quotes doubled), so no
         * character in it is read as query syntax. Rows come in rowid
         * order, which lets LIMIT stop the scan early. */
        rc = plat_buf_puts(&q, "\"");
        for (p = text; rc == 0 && *p; p++)
            rc = *p == '"' ? plat_buf_puts(&q, "\"\"")
                           : plat_buf_append(&q, p, 1);
        if (rc == 0)
            rc = plat_buf_puts(&q, "\"");
        if (rc < 0)
            goto done;
        rc = sqlite3_prepare_v2(
            s->db,
            "SELECT r.local_json FROM registrations_search f"
            " JOIN registrations r ON r.row_id = f.rowid"
            " WHERE registrations_search MATCH ?1 ORDER BY f.rowid LIMIT ?2",
            -1, &st, NULL);
    } else {
        /* Too short for trigrams (or no index yet): a scan. It reads the
         * narrow registrations_created index (which holds name and
         * phone_number), not the table rows with their JSON, stops at the
         * limit, and fetches only the hits. store_contains() is LIKE '%text%' without
         * the pattern machinery (ASCII case-folding, as LIKE does): three
         * LIKEs per row made a miss cost 10 ms at 40,000 rows. */
        for (p = text; rc == 0 && *p; p++) {
            char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
            rc = plat_buf_append(&q, &c, 1);
        }
        if (rc < 0)
            goto done;
        rc = sqlite3_prepare_v2(
            s->db,
            "SELECT local_json FROM registrations WHERE row_id IN"
            " (SELECT row_id FROM registrations INDEXED BY"
            "  registrations_created"
            "  WHERE store_contains(?1, name, phone_number, reference_id)"
            "  LIMIT ?2)"
            " ORDER BY created_at, reference_id",
            -1, &st, NULL);
    }
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "search registrations");
        goto done;
    }
    store__bind_text(st, 1, q.data);
    sqlite3_bind_int(st, 2, limit);
    rc = emit_rows(s, st, cb, payload);

done:
    sqlite3_finalize(st);
    plat_buf_dispose(&q);
    return rc;
}

/* For the other storage/ files that queue entries of their own
 * (store_dist.c): an entry with the device as origin, target 121. */
int store__outbox_append(struct store *s, const char *ref, int program_id,
                         const char *kind, const cJSON *payload,
                         const cJSON *base)
{
    char now[PLAT_ISO_LEN];

    store__now(now);
    return add_outbox(s, ref, program_id, kind, payload, base, now,
                      &device_route);
}
