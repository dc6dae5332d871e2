/*
 * serve_write.c - the registration writes of the 121 API, queued: each is
 * checked as the CLI checks it (c121_validate_fields against the stored
 * program, c121_status_* for transitions) and written with the same store
 * functions (store_reg_create / store_reg_edit_fields /
 * store_reg_set_status: the local view and its outbox entry in one
 * transaction; a batch in one transaction). The next sync sends them.
 * Answers and error bodies are 121's for the common cases (recordings in
 * shared/contracts/recorded/121/).
 */
#include "serve_internal.h"

#include "c121_model.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "store.h"
#include "store_program.h"
#include "store_read.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* The stored program or NULL (then input is checked for form only, as the
 * CLI does); *rc_out < 0 on a store error. */
static cJSON *program_def(struct store *st, int pid, int *rc_out)
{
    cJSON *prog = NULL;
    int rc = store_program_get(st, pid, &prog, NULL);

    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    *rc_out = rc;
    return prog;
}

/* 1 if `key` may be written through the API (contract 3.2/3.5): a
 * program attribute or one of the registration fields. Other keys are
 * dropped silently, as 121's whitelist does. */
static int writable(const cJSON *prog, const char *key, int create)
{
    static const char *const fields[] = {
        "preferredLanguage", "paymentAmountMultiplier", "maxPayments",
        "scope", "programFspConfigurationName", "inclusionScore", NULL};
    const cJSON *a;

    if (create && strcmp(key, "referenceId") == 0)
        return 1;
    for (const char *const *f = fields; *f; f++)
        if (strcmp(*f, key) == 0)
            return 1;
    if (!prog)
        return key[0] != '_' && strcmp(key, "status") != 0 &&
               strcmp(key, "referenceId") != 0 && strcmp(key, "id") != 0 &&
               strcmp(key, "programId") != 0 && strcmp(key, "created") != 0;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
                              prog, "programRegistrationAttributes")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");

        if (cJSON_IsString(n) && strcmp(n->valuestring, key) == 0)
            return 1;
    }
    return 0;
}

static void drop_unwritable(const cJSON *prog, cJSON *obj, int create)
{
    cJSON *c = obj->child;

    while (c) {
        cJSON *next = c->next;

        if (!c->string || !writable(prog, c->string, create))
            cJSON_Delete(cJSON_DetachItemViaPointer(obj, c));
        c = next;
    }
}

/* One entry of 121's import error array (shape C). */
static cJSON *import_error(int line, const char *column, const cJSON *value,
                           const char *error, const char *ref)
{
    cJSON *e = cJSON_CreateObject();

    if (!e)
        return NULL;
    cJSON_AddStringToObject(e, "column", column);
    cJSON_AddItemToObject(e, "value", value ? cJSON_Duplicate(value, 1)
                                            : cJSON_CreateNull());
    cJSON_AddStringToObject(e, "error", error);
    if (ref)
        cJSON_AddStringToObject(e, "referenceId", ref);
    else
        cJSON_AddNullToObject(e, "referenceId");
    cJSON_AddNumberToObject(e, "lineNumber", line);
    return e;
}

/* The field a c121_validate_fields message names ("field 'x': ..."). */
static void field_of(const char *msg, char *out, size_t n)
{
    const char *q = strchr(msg, '\'');
    const char *e = q ? strchr(q + 1, '\'') : NULL;

    if (q && e && (size_t)(e - q - 1) < n) {
        memcpy(out, q + 1, (size_t)(e - q - 1));
        out[e - q - 1] = '\0';
    } else {
        snprintf(out, n, "registration");
    }
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int srv_h_post_registrations(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *rows = NULL, *prog = NULL, *errors = NULL, *out;
    const cJSON *it;
    int rc = PLAT_OK, line = 0, count = 0;
    char ref[STORE_REF_MAX + 1];

    if (c121_text_has_nul(q->body, q->body_len))
        return srv_error(r, 400, "Request body holds a NUL character");
    rows = srv_body_json(q, r);
    if (!rows)
        return PLAT_OK;
    if (!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) == 0) {
        cJSON_Delete(rows);
        return srv_error(r, 400, "The body must be a non-empty JSON array "
                         "of registrations");
    }
    prog = program_def(q->st, pid, &rc);
    if (rc < 0)
        goto done;
    if (!prog) {
        rc = srv_error(r, 403, "Forbidden");
        goto done;
    }
    errors = cJSON_CreateArray();
    if (!errors) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Validate the whole batch first: any error rejects it all (3.2). */
    cJSON_ArrayForEach(it, rows) {
        const char *rid;
        char col[128];

        line++;
        if (!cJSON_IsObject(it)) {
            cJSON_AddItemToArray(errors, import_error(line, "registration",
                                                      NULL, "Not an object",
                                                      NULL));
            continue;
        }
        drop_unwritable(prog, (cJSON *)it, 1);
        rid = str_of(it, "referenceId");
        for (const cJSON *o = rows->child; rid && o != it; o = o->next) {
            const char *other = str_of(o, "referenceId");

            if (other && strcmp(other, rid) == 0) {
                rc = srv_error(r, 400, "Duplicate referenceIds in import set");
                goto done;
            }
        }
        if (c121_validate_fields(prog, it, C121_VALIDATE_CREATE) < 0) {
            field_of(plat_err_msg(), col, sizeof(col));
            cJSON_AddItemToArray(errors, import_error(
                line, col, cJSON_GetObjectItemCaseSensitive(it, col),
                plat_err_msg(), rid));
            plat_err_clear();
            continue;
        }
        if (rid) {
            char *json = NULL;
            int p = 0, e = store_read_registration(q->st, rid, &p, &json);

            plat_free(json);
            if (e == PLAT_OK)
                cJSON_AddItemToArray(errors, import_error(
                    line, "referenceId",
                    cJSON_GetObjectItemCaseSensitive(it, "referenceId"),
                    "referenceId already exists in database", rid));
            else if (e != ERR_NOTFOUND) {
                rc = e;
                goto done;
            }
            plat_err_clear();
        }
    }
    if (cJSON_GetArraySize(errors) > 0) {
        rc = srv_json(r, 400, errors);
        goto done;
    }
    rc = store_begin(q->st);
    if (rc < 0)
        goto done;
    cJSON_ArrayForEach(it, rows) {
        rc = store_reg_create(q->st, pid, it, ref);
        if (rc < 0)
            break;
        log_info("serve: registration %s queued (create)", ref);
        count++;
    }
    if (rc == PLAT_OK)
        rc = store_commit(q->st);
    if (rc < 0) {
        store_rollback(q->st);
        if (rc == ERR_INVALID || rc == ERR_EXISTS) {
            char col[128];

            field_of(plat_err_msg(), col, sizeof(col));
            cJSON_Delete(errors);
            errors = cJSON_CreateArray();
            cJSON_AddItemToArray(errors, import_error(
                count + 1, rc == ERR_EXISTS ? "referenceId" : col, NULL,
                rc == ERR_EXISTS ? "referenceId already exists in database"
                                 : plat_err_msg(),
                NULL));
            plat_err_clear();
            rc = srv_json(r, 400, errors);
        }
        goto done;
    }
    out = cJSON_CreateObject();
    if (out) {
        cJSON *agg = cJSON_AddObjectToObject(out, "aggregateImportResult");

        cJSON_AddNumberToObject(agg, "countImported", count);
    }
    rc = srv_json_take(r, 201, out);
done:
    cJSON_Delete(errors);
    cJSON_Delete(prog);
    cJSON_Delete(rows);
    return rc;
}

/* The local view of `ref` without the store's "_" keys. */
static int view_of(struct store *st, const char *ref, cJSON **out)
{
    cJSON *reg = NULL, *c;
    int rc = store_reg_get(st, ref, &reg);

    if (rc < 0)
        return rc;
    c = reg->child;
    while (c) {
        cJSON *next = c->next;

        if (c->string && c->string[0] == '_')
            cJSON_Delete(cJSON_DetachItemViaPointer(reg, c));
        c = next;
    }
    *out = reg;
    return PLAT_OK;
}

int srv_h_patch_registration(struct srv_req *q, struct srv_resp *r, int pid,
                             const char *ref)
{
    cJSON *body = NULL, *prog = NULL, *reg = NULL;
    cJSON *data;
    const cJSON *reason, *status;
    char *json = NULL, msg[400];
    int rc = PLAT_OK, p = 0, changed = 0;

    if (c121_text_has_nul(q->body, q->body_len))
        return srv_error(r, 400, "Request body holds a NUL character");
    body = srv_body_json(q, r);
    if (!body)
        return PLAT_OK;
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return srv_error(r, 400, "The body must be a JSON object");
    }
    data = cJSON_GetObjectItemCaseSensitive(body, "data");
    if (!cJSON_IsObject(data) || !data->child) {
        rc = srv_error_d(r, body, "data", data, "isNotEmptyObject",
                         "data must be a non-empty object");
        goto done;
    }
    reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
    if (reason && !cJSON_IsNull(reason) &&
        (!cJSON_IsString(reason) || strlen(reason->valuestring) > 500)) {
        rc = srv_error_d(r, body, "reason", reason, "isString",
                         "reason must be a string of at most 500 characters");
        goto done;
    }
    rc = store_read_registration(q->st, ref, &p, &json);
    if (rc == PLAT_OK) {
        cJSON *cur = cJSON_Parse(json);

        status = cJSON_GetObjectItemCaseSensitive(cur, "status");
        if (cJSON_IsString(status) && strcmp(status->valuestring, "deleted") ==
                                          0)
            rc = ERR_NOTFOUND;
        cJSON_Delete(cur);
    }
    plat_free(json);
    if (rc == ERR_NOTFOUND || (rc == PLAT_OK && p != pid)) {
        plat_err_clear();
        snprintf(msg, sizeof(msg), "The following referenceIds were not "
                 "found in the database: %.200s", ref);
        rc = srv_error(r, 404, msg);
        goto done;
    }
    if (rc < 0)
        goto done;
    prog = program_def(q->st, pid, &rc);
    if (rc < 0)
        goto done;
    /* status, referenceId and unknown keys are ignored, as 121 does */
    drop_unwritable(prog, data, 0);
    if (!data->child) {
        r->status = 200;
        r->no_body = 1;
        goto done;
    }
    if (c121_validate_fields(prog, data, C121_VALIDATE_EDIT) < 0) {
        snprintf(msg, sizeof(msg), "%s", plat_err_msg());
        plat_err_clear();
        rc = srv_error(r, 400, msg);
        goto done;
    }
    rc = store_reg_edit_fields(&changed, q->st, ref, data,
                               cJSON_IsString(reason) && reason->valuestring[0]
                                   ? reason->valuestring : NULL);
    if (rc == ERR_INVALID) {
        snprintf(msg, sizeof(msg), "%s", plat_err_msg());
        plat_err_clear();
        rc = srv_error(r, 400, msg);
        goto done;
    }
    if (rc < 0)
        goto done;
    log_info("serve: registration %s queued (edit, %d fields)", ref,
             changed);
    if (!changed) {
        /* 121: 200 with an empty body when nothing changed */
        r->status = 200;
        r->no_body = 1;
        goto done;
    }
    rc = view_of(q->st, ref, &reg);
    if (rc == PLAT_OK)
        rc = srv_json(r, 200, reg);
done:
    cJSON_Delete(reg);
    cJSON_Delete(prog);
    cJSON_Delete(body);
    return rc;
}

int srv_h_patch_status(struct srv_req *q, struct srv_resp *r, int pid)
{
    static const char *const enum_msg =
        "status must be one of the following values: new, validated, "
        "included, deleted, completed, paused, declined";
    cJSON *body = NULL, *out = NULL;
    const cJSON *status, *reason, *message, *tkey;
    cJSON **rows = NULL;
    size_t n = 0, applicable = 0;
    const char *to;
    int dry = 0, rc = PLAT_OK;
    char msg[160];

    body = srv_body_json(q, r);
    if (!body)
        return PLAT_OK;
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return srv_error(r, 400, "The body must be a JSON object");
    }
    status = cJSON_GetObjectItemCaseSensitive(body, "status");
    if (!cJSON_IsString(status) || !c121_status_known(status->valuestring)) {
        rc = srv_error_d(r, body, "status", status, "isEnum", enum_msg);
        goto done;
    }
    to = status->valuestring;
    message = cJSON_GetObjectItemCaseSensitive(body, "message");
    tkey = cJSON_GetObjectItemCaseSensitive(body, "messageTemplateKey");
    if (cJSON_IsString(message) && message->valuestring[0] &&
        cJSON_IsString(tkey) && tkey->valuestring[0]) {
        rc = srv_error_d(r, body, "message", message, "isNotBothPresent",
                         "message and messageTemplateKey cannot be used "
                         "together");
        goto done;
    }
    if (!c121_status_settable(to) || strcmp(to, "deleted") == 0) {
        snprintf(msg, sizeof(msg), "The status %s is unknown or cannot be "
                 "changed to via API", to);
        rc = srv_errors(r, 400, msg);
        goto done;
    }
    reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
    if (c121_status_reason_required(to) &&
        !(cJSON_IsString(reason) && reason->valuestring[0])) {
        rc = srv_error_d(r, body, "reason", reason, "isNotEmpty",
                         "reason should not be empty");
        goto done;
    }
    if (cJSON_IsString(reason) && strlen(reason->valuestring) > 500) {
        rc = srv_error_d(r, body, "reason", reason, "maxLength",
                         "reason must be shorter than or equal to 500 "
                         "characters");
        goto done;
    }
    dry = srv_q(q, "dryRun") && strcmp(srv_q(q, "dryRun"), "true") == 0;
    rc = srv_bulk_rows(q, r, pid, "change", &rows, &n);
    if (rc != PLAT_OK) {
        rc = rc > 0 ? PLAT_OK : rc;
        goto done;
    }
    if (!dry) {
        rc = store_begin(q->st);
        if (rc < 0)
            goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const char *ref = str_of(rows[i], "referenceId");
        const char *from = str_of(rows[i], "status");

        if (!from)
            from = "new";
        if (!ref || strcmp(from, to) == 0 ||
            !c121_status_transition_allowed(from, to))
            continue;
        applicable++;
        if (dry)
            continue;
        rc = store_reg_set_status(q->st, ref, to,
                                  cJSON_IsString(reason) &&
                                          reason->valuestring[0]
                                      ? reason->valuestring : NULL);
        if (rc < 0) {
            store_rollback(q->st);
            goto done;
        }
        log_info("serve: registration %s queued (status %s)", ref, to);
    }
    if (!dry) {
        rc = store_commit(q->st);
        if (rc < 0) {
            store_rollback(q->st);
            goto done;
        }
    }
    out = cJSON_CreateObject();
    if (out) {
        cJSON_AddNumberToObject(out, "totalFilterCount", (double)n);
        cJSON_AddNumberToObject(out, "applicableCount", (double)applicable);
        cJSON_AddNumberToObject(out, "nonApplicableCount",
                                (double)(n - applicable));
    }
    rc = srv_json_take(r, dry ? 200 : 202, out);
done:
    srv_rows_free(rows, NULL, n);
    cJSON_Delete(body);
    return rc;
}
