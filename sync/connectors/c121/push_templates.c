/*
 * push_templates.c - message template and program label edits made on
 * the device go to 121 (contract 8 and 2): PATCH (or POST for a new
 * template) per entry, oldest first. Both writes set a value, so a
 * re-sent one changes nothing twice; 404 is a rejection with 121's
 * reason, like a registration edit's.
 */
#include "c121_dist.h"
#include "c121_push.h"

#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_dist.h"
#include "sync_http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct counts {
    int64_t done, rejected;
};

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Settle after an answer: 2xx done, 4xx rejected with 121's message;
 * anything else is returned as an error (the entry stays for later). */
static int settle_answer(struct c121 *c, const struct sync_op *e,
                         const struct sync_http_response *r,
                         const char *what, struct counts *k)
{
    char msg[C121_MSG_MAX];
    int rc;

    if (r->status >= 200 && r->status < 300)
        return c121_settle_one(c, e, SYNC_OP_DONE, NULL, &k->done);
    if (r->status == 400 || r->status == 404 || r->status == 409 ||
        r->status == 422) {
        c121_error_message(r->body.data, r->body.len, msg, sizeof(msg));
        return c121_settle_one(c, e, SYNC_OP_REJECTED,
                               msg[0] ? msg : "121 refused the change",
                               &k->rejected);
    }
    rc = sync_http_response_err(r, what);
    return rc == PLAT_OK ? plat_err_set(ERR_INVALID, "%s: unexpected HTTP "
                                        "%ld", what, r->status)
                         : rc;
}

/* The template path: /api/notifications/{pid}/message-templates[/t/l]. */
static int template_path(struct c121 *c, struct plat_buf *p, const char *type,
                         const char *lang)
{
    int rc = plat_buf_printf(p, "/api/notifications/%d/message-templates",
                             c->program_id);

    if (rc == PLAT_OK && type) {
        rc = plat_buf_puts(p, "/");
        if (rc == PLAT_OK)
            rc = sync_http_escape(p, type);
        if (rc == PLAT_OK)
            rc = plat_buf_puts(p, "/");
        if (rc == PLAT_OK)
            rc = sync_http_escape(p, lang);
    }
    return rc;
}

static int patch_template(struct c121 *c, const struct sync_op *e,
                          const char *type, const char *lang,
                          const char *message, struct counts *k)
{
    struct sync_http_response r;
    struct plat_buf path;
    cJSON *body = cJSON_CreateObject(), *tpl = NULL;
    int rc;

    plat_buf_init(&path, 0);
    memset(&r, 0, sizeof(r));
    if (!body || !cJSON_AddStringToObject(body, "message", message)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = template_path(c, &path, type, lang);
    if (rc == PLAT_OK)
        rc = c121_send_json(c, "PATCH", path.data, body, &r);
    if (rc < 0)
        goto done;
    if (r.status == 200) {
        tpl = cJSON_ParseWithLength(r.body.data ? r.body.data : "",
                                    r.body.len);
        if (cJSON_IsObject(tpl) && str_of(tpl, "type") &&
            str_of(tpl, "language")) {
            rc = sync_batch_begin(c->ctx);
            if (rc == PLAT_OK)
                rc = sync_put_template(c->ctx, c->program_id, tpl);
            rc = sync_batch_end(c->ctx, rc);
            if (rc < 0)
                goto done;
        }
    }
    rc = settle_answer(c, e, &r, "121 PATCH message-templates", k);

done:
    cJSON_Delete(body);
    cJSON_Delete(tpl);
    sync_http_response_dispose(&r);
    plat_buf_dispose(&path);
    return rc;
}

static int post_template(struct c121 *c, const struct sync_op *e,
                         const char *type, const char *lang,
                         const char *message, struct counts *k)
{
    struct sync_http_response r;
    struct plat_buf path;
    char msg[C121_MSG_MAX];
    cJSON *body = cJSON_CreateObject();
    int rc;

    plat_buf_init(&path, 0);
    memset(&r, 0, sizeof(r));
    if (!body || !cJSON_AddStringToObject(body, "type", type) ||
        !cJSON_AddStringToObject(body, "language", lang) ||
        !cJSON_AddStringToObject(body, "message", message) ||
        !cJSON_AddBoolToObject(body, "isSendMessageTemplate", 0)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = template_path(c, &path, NULL, NULL);
    if (rc == PLAT_OK)
        rc = c121_send_json(c, "POST", path.data, body, &r);
    if (rc < 0)
        goto done;
    if (r.status == 400) {
        c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
        if (strstr(msg, "already exists")) {
            /* Made meanwhile (or our lost POST arrived): set its text. */
            rc = patch_template(c, e, type, lang, message, k);
            goto done;
        }
    }
    rc = settle_answer(c, e, &r, "121 POST message-templates", k);

done:
    cJSON_Delete(body);
    sync_http_response_dispose(&r);
    plat_buf_dispose(&path);
    return rc;
}

int c121_push_templates(struct c121 *c)
{
    struct sync_ops ops = {0};
    struct counts k = {0, 0};
    int64_t sent = 0;
    size_t i;
    int rc;

    rc = c121_ops_load(c, SYNC_OP_TEMPLATE, -1, 0, 0, &ops);
    for (i = 0; rc == PLAT_OK && i < ops.n; i++) {
        const struct sync_op *e = &ops.v[i];
        const char *type = str_of(e->payload, "type");
        const char *lang = str_of(e->payload, "language");
        const char *message = str_of(e->payload, "message");
        const cJSON *isnew = cJSON_GetObjectItemCaseSensitive(e->payload,
                                                              "new");

        if (!type || !lang || !message) {
            rc = c121_settle_one(c, e, SYNC_OP_REJECTED, "the template "
                                 "edit names no type, language or message",
                                 &k.rejected);
            continue;
        }
        rc = c121_settle_one(c, e, SYNC_OP_INFLIGHT, NULL, &sent);
        if (rc == PLAT_OK)
            rc = cJSON_IsTrue(isnew)
                     ? post_template(c, e, type, lang, message, &k)
                     : patch_template(c, e, type, lang, message, &k);
    }
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    if (ops.n)
        log_info("121 push: %zu template edits: %lld done, %lld rejected",
                 ops.n, (long long)k.done, (long long)k.rejected);
    sync_ops_free(&ops);
    return rc;
}

int c121_push_labels(struct c121 *c)
{
    struct sync_ops ops = {0};
    struct counts k = {0, 0};
    struct sync_http_response r;
    struct plat_buf path;
    cJSON *body = NULL;
    int64_t sent = 0;
    size_t i;
    int rc;

    plat_buf_init(&path, 0);
    memset(&r, 0, sizeof(r));
    rc = c121_ops_load(c, SYNC_OP_LABEL, -1, 0, 0, &ops);
    for (i = 0; rc == PLAT_OK && i < ops.n; i++) {
        const struct sync_op *e = &ops.v[i];
        const char *attr = str_of(e->payload, "attribute");
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(e->payload,
                                                              "label");

        if (!attr || !cJSON_IsObject(label)) {
            rc = c121_settle_one(c, e, SYNC_OP_REJECTED, "the label edit "
                                 "names no attribute or label", &k.rejected);
            continue;
        }
        cJSON_Delete(body);
        body = cJSON_CreateObject();
        if (!body || !cJSON_AddItemToObject(body, "label",
                                            cJSON_Duplicate(label, 1))) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            break;
        }
        plat_buf_reset(&path);
        rc = plat_buf_printf(&path, "%s/registration-attributes/", c->prefix);
        if (rc == PLAT_OK)
            rc = sync_http_escape(&path, attr);
        if (rc == PLAT_OK)
            rc = c121_settle_one(c, e, SYNC_OP_INFLIGHT, NULL, &sent);
        sync_http_response_dispose(&r);
        if (rc == PLAT_OK)
            rc = c121_send_json(c, "PATCH", path.data, body, &r);
        if (rc == PLAT_OK && r.status == 200) {
            /* The stored program shows what 121 now has. */
            rc = sync_batch_begin(c->ctx);
            if (rc == PLAT_OK)
                rc = sync_put_label(c->ctx, c->program_id, attr, label);
            rc = sync_batch_end(c->ctx, rc);
        }
        if (rc == PLAT_OK)
            rc = settle_answer(c, e, &r,
                               "121 PATCH registration-attributes", &k);
    }
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    if (ops.n)
        log_info("121 push: %zu label edits: %lld done, %lld rejected",
                 ops.n, (long long)k.done, (long long)k.rejected);
    cJSON_Delete(body);
    sync_http_response_dispose(&r);
    plat_buf_dispose(&path);
    sync_ops_free(&ops);
    return rc;
}
