/*
 * serve_dist.c - the distribution-day writes of the 121 API, queued with
 * the store functions the CLI uses (store_dist.h): bulk messages
 * (store_message_queue), attribute labels (store_label_set), message
 * templates (store_template_set) and FSP reconciliation uploads
 * (store_recon_check, then store_recon_queue). Each is validated first
 * and answered as 121 answers (contract 121-api.md 2, 3.7, 6, 8); the
 * next sync sends what was queued. Logs name referenceIds, never texts.
 */
#include "serve_internal.h"

#include "c121_model.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "store.h"
#include "store_dist.h"
#include "store_program.h"
#include "store_read.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The body as a JSON object, or NULL with the 400 filled in. */
static cJSON *body_object(struct srv_req *q, struct srv_resp *r)
{
    cJSON *body;

    if (c121_text_has_nul(q->body, q->body_len)) {
        srv_error(r, 400, "Request body holds a NUL character");
        return NULL;
    }
    body = srv_body_json(q, r);
    if (body && !cJSON_IsObject(body)) {
        cJSON_Delete(body);
        srv_error(r, 400, "The body must be a JSON object");
        return NULL;
    }
    return body;
}

/* ---- POST /api/programs/{id}/registrations/message (3.7) ---------------- */

int srv_h_post_message(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *body, *out = NULL, *prog = NULL;
    const char *text, *key;
    cJSON **rows = NULL;
    const char **refs = NULL;
    size_t n = 0, k = 0;
    int dry, rc = PLAT_OK;
    char batch[40];

    body = body_object(q, r);
    if (!body)
        return PLAT_OK;
    if (srv_program_or_403(q, r, pid, &prog) < 0)
        goto done;
    text = str_of(body, "message");
    key = str_of(body, "messageTemplateKey");
    if (text && !text[0])
        text = NULL;
    if (key && !key[0])
        key = NULL;
    if (text && key) {
        rc = srv_error_d(r, body, "message", cJSON_GetObjectItem(body,
                         "message"), "isNotBothPresent",
                         "message and messageTemplateKey cannot be used "
                         "together");
        goto done;
    }
    if (!text && !key) {
        rc = srv_error_d(r, body, "message", cJSON_GetObjectItem(body,
                         "message"), "isString",
                         "message or messageTemplateKey must be a "
                         "non-empty string");
        goto done;
    }
    if (text && (strlen(text) > 1600)) {
        rc = srv_error_d(r, body, "message", cJSON_GetObjectItem(body,
                         "message"), "maxLength",
                         "message must be at most 1600 bytes");
        goto done;
    }
    dry = srv_q(q, "dryRun") && strcmp(srv_q(q, "dryRun"), "true") == 0;
    rc = srv_bulk_rows(q, r, pid, "message", &rows, &n);
    if (rc != PLAT_OK) {
        rc = rc > 0 ? PLAT_OK : rc;
        goto done;
    }
    refs = plat_calloc(n ? n : 1, sizeof(*refs));
    if (!refs) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (str_of(rows[i], "referenceId"))
            refs[k++] = str_of(rows[i], "referenceId");
    if (!dry && k > 0) {
        /* an explicit transaction, as serve_write.c does */
        rc = store_begin(q->st);
        if (rc == PLAT_OK)
            rc = store_message_queue(q->st, pid, refs, k, text, key, batch);
        if (rc == PLAT_OK)
            rc = store_commit(q->st);
        if (rc < 0)
            store_rollback(q->st);
        if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
            char msg[300];

            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            plat_err_clear();
            rc = srv_error(r, 400, msg);
            goto done;
        }
        if (rc < 0)
            goto done;
        log_info("serve: %zu messages queued (batch %s)", k, batch);
    }
    out = cJSON_CreateObject();
    if (out) {
        cJSON_AddNumberToObject(out, "totalFilterCount", (double)n);
        cJSON_AddNumberToObject(out, "applicableCount", (double)k);
        cJSON_AddNumberToObject(out, "nonApplicableCount", (double)(n - k));
    }
    rc = srv_json_take(r, dry ? 200 : 202, out);
done:
    plat_free(refs);
    srv_rows_free(rows, NULL, n);
    cJSON_Delete(prog);
    cJSON_Delete(body);
    return rc;
}

/* ---- PATCH /api/programs/{id}/registration-attributes/{name} (2) -------- */

static const cJSON *attribute_of(const cJSON *prog, const char *name)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
                              prog, "programRegistrationAttributes")) {
        const char *n = str_of(a, "name");

        if (n && strcmp(n, name) == 0)
            return a;
    }
    return NULL;
}

int srv_h_patch_attribute(struct srv_req *q, struct srv_resp *r, int pid,
                          const char *name)
{
    cJSON *body, *prog = NULL;
    const cJSON *label, *c, *a;
    char msg[400];
    int rc = PLAT_OK;

    body = body_object(q, r);
    if (!body)
        return PLAT_OK;
    if (srv_program_or_403(q, r, pid, &prog) < 0)
        goto done;
    if (!attribute_of(prog, name)) {
        snprintf(msg, sizeof(msg), "No programRegistrationAttribute found "
                 "with name %.200s for program %d", name, pid);
        rc = srv_errors(r, 404, msg);
        goto done;
    }
    for (c = body->child; c; c = c->next)
        if (strcmp(c->string, "label") != 0) {
            /* the device queues label edits only; the rest is 121's */
            snprintf(msg, sizeof(msg), "Only label can be changed through "
                     "the device, not %.100s", c->string);
            rc = srv_error(r, 400, msg);
            goto done;
        }
    label = cJSON_GetObjectItemCaseSensitive(body, "label");
    if (!cJSON_IsObject(label) || !label->child) {
        rc = srv_error_d(r, body, "label", label, "isObject",
                         "label must be a non-empty object");
        goto done;
    }
    cJSON_ArrayForEach(c, label) {
        if (!cJSON_IsString(c) || strlen(c->valuestring) > 10000) {
            rc = srv_error_d(r, body, "label", label, "isString",
                             "each label must be a string");
            goto done;
        }
    }
    rc = store_begin(q->st);
    if (rc < 0)
        goto done;
    cJSON_ArrayForEach(c, label) {
        rc = store_label_set(q->st, pid, name, c->string, c->valuestring);
        if (rc < 0)
            break;
    }
    if (rc == PLAT_OK)
        rc = store_commit(q->st);
    if (rc < 0) {
        store_rollback(q->st);
        if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            plat_err_clear();
            rc = srv_errors(r, rc == ERR_NOTFOUND ? 404 : 400, msg);
        }
        goto done;
    }
    log_info("serve: label of attribute %s queued", name);
    cJSON_Delete(prog);
    prog = NULL;
    rc = store_program_get(q->st, pid, &prog, NULL);
    if (rc < 0)
        goto done;
    a = attribute_of(prog, name);
    rc = a ? srv_json(r, 200, a) : srv_internal(r, ERR_CORRUPT);
done:
    cJSON_Delete(prog);
    cJSON_Delete(body);
    return rc;
}

/* ---- message templates (8) ---------------------------------------------- */

static int lang_ok(const char *l)
{
    size_t n = strlen(l);

    if (n < 2 || n > 8)
        return 0;
    for (; *l; l++)
        if (!((*l >= 'a' && *l <= 'z') || (*l >= 'A' && *l <= 'Z') ||
              *l == '_' || *l == '-'))
            return 0;
    return 1;
}

/* Keys the device can queue: message (always), isSendMessageTemplate and
 * label (accepted, kept by 121 as it has them). contentSid is refused. */
static int template_body_ok(struct srv_resp *r, const cJSON *body,
                            const char **message)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "message");

    if (cJSON_GetObjectItemCaseSensitive(body, "contentSid")) {
        srv_error(r, 400, "contentSid templates cannot be written through "
                  "the device");
        return 0;
    }
    if (!cJSON_IsString(m) || !m->valuestring[0] ||
        strlen(m->valuestring) > 10000) {
        srv_error_d(r, body, "message", m, "isString",
                    "message must be a non-empty string of at most 10000 "
                    "bytes");
        return 0;
    }
    *message = m->valuestring;
    return 1;
}

int srv_h_post_template(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *body, *prog = NULL, *tpl = NULL;
    const char *type, *lang, *message = NULL;
    const cJSON *send;
    char msg[400];
    int rc = PLAT_OK, created = 0;

    body = body_object(q, r);
    if (!body)
        return PLAT_OK;
    if (srv_program_or_403(q, r, pid, &prog) < 0)
        goto done;
    type = str_of(body, "type");
    lang = str_of(body, "language");
    send = cJSON_GetObjectItemCaseSensitive(body, "isSendMessageTemplate");
    if (!type || !type[0] || strlen(type) > 255) {
        rc = srv_error_d(r, body, "type", cJSON_GetObjectItem(body, "type"),
                         "maxLength", "type must be shorter than or equal "
                         "to 255 characters");
        goto done;
    }
    if (!lang || !lang_ok(lang)) {
        rc = srv_error_d(r, body, "language",
                         cJSON_GetObjectItem(body, "language"), "isISO6391",
                         "language must be a valid ISO 639-1 code");
        goto done;
    }
    if (!cJSON_IsBool(send)) {
        rc = srv_error_d(r, body, "isSendMessageTemplate", send, "isBoolean",
                         "isSendMessageTemplate must be a boolean value");
        goto done;
    }
    if (!template_body_ok(r, body, &message))
        goto done;
    rc = store_template_get(q->st, pid, type, lang, &tpl);
    if (rc == PLAT_OK) {
        snprintf(msg, sizeof(msg), "Message template with type '%.255s' and "
                 "language '%s' already exists in program %d", type, lang,
                 pid);
        rc = srv_errors(r, 400, msg);
        goto done;
    }
    if (rc != ERR_NOTFOUND)
        goto done;
    plat_err_clear();
    rc = store_template_set(q->st, pid, type, lang, message, &created);
    if (rc == ERR_INVALID) {
        snprintf(msg, sizeof(msg), "%s", plat_err_msg());
        plat_err_clear();
        rc = srv_error(r, 400, msg);
        goto done;
    }
    if (rc < 0)
        goto done;
    log_info("serve: template %s (%s) queued (new)", type, lang);
    r->status = 201; /* 121: 201 with an empty body */
    r->no_body = 1;
done:
    cJSON_Delete(tpl);
    cJSON_Delete(prog);
    cJSON_Delete(body);
    return rc;
}

int srv_h_patch_template(struct srv_req *q, struct srv_resp *r, int pid,
                         const char *type, const char *lang)
{
    cJSON *body, *prog = NULL, *tpl = NULL;
    const char *message = NULL, *cur;
    char msg[400];
    int rc = PLAT_OK;

    if (!lang_ok(lang))
        return srv_error(r, 400, "language must be a valid ISO 639-1 code");
    body = body_object(q, r);
    if (!body)
        return PLAT_OK;
    if (srv_program_or_403(q, r, pid, &prog) < 0)
        goto done;
    rc = store_template_get(q->st, pid, type, lang, &tpl);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        snprintf(msg, sizeof(msg), "No message template found with type "
                 "'%.255s' and language '%s' in program %d", type, lang, pid);
        rc = srv_errors(r, 404, msg);
        goto done;
    }
    if (rc < 0)
        goto done;
    if (!template_body_ok(r, body, &message))
        goto done;
    cur = str_of(tpl, "message");
    if (!cur || strcmp(cur, message) != 0) {
        rc = store_template_set(q->st, pid, type, lang, message, NULL);
        if (rc == ERR_INVALID) {
            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            plat_err_clear();
            rc = srv_error(r, 400, msg);
            goto done;
        }
        if (rc < 0)
            goto done;
        log_info("serve: template %s (%s) queued (edit)", type, lang);
        cJSON_Delete(tpl);
        tpl = NULL;
        rc = store_template_get(q->st, pid, type, lang, &tpl);
        if (rc < 0)
            goto done;
    }
    rc = srv_json(r, 200, tpl);
done:
    cJSON_Delete(tpl);
    cJSON_Delete(prog);
    cJSON_Delete(body);
    return rc;
}
