/*
 * push_messages.c - messages queued on the device (outbox "message") go
 * to 121 with POST {prefix}/registrations/message (contract 3.7), which
 * like the status route applies to the WHOLE program when its filter is
 * missing or dropped: each chunk is a dry run first and is sent only when
 * it counts exactly the people asked for.
 *
 * 121 has no idempotency key and queues a message per request, so the
 * real request is sent once, never retried by the transport: the chunk
 * is inflight before it goes, with the server time before the send kept
 * in the state "messages.sent_after". After an unknown outcome (lost
 * answer, 5xx, crash) the next cycle reads each in-flight person's
 * activities: a message created at or after that time (for a text
 * message: with the same body) means it arrived (done), none means it did
 * not (pending again, sent with the next chunk).
 */
#include "c121_dist.h"
#include "c121_push.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENT_AFTER_KEY "messages.sent_after"

struct msgs {
    struct c121 *c;
    int64_t done, sent, rejected, again;
};

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 1 if `acts` (activities data) holds a message created at or after
 * `since` matching the entry (same body for a text). */
static int has_message(const cJSON *acts, const char *since,
                       const cJSON *payload)
{
    const char *text = str_of(payload, "message");
    const cJSON *a;

    cJSON_ArrayForEach(a, acts) {
        const char *type = str_of(a, "type");
        const char *created = str_of(a, "created");
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(a,
                                                              "attributes");
        const char *body = str_of(attrs, "body");

        if (!type || strcmp(type, "message") != 0 || !created ||
            strcmp(created, since) < 0)
            continue;
        if (!text || (body && strcmp(body, text) == 0))
            return 1;
    }
    return 0;
}

/* Settle in-flight messages from the people's activities. */
static int recover(struct msgs *k)
{
    struct c121 *c = k->c;
    struct sync_ops ops = {0};
    char *since = NULL, path[160];
    size_t i;
    int rc;

    rc = c121_ops_load(c, SYNC_OP_MESSAGE, SYNC_OP_INFLIGHT, 0, 0, &ops);
    if (rc < 0 || ops.n == 0)
        goto done;
    rc = sync_state_get(c->ctx, SENT_AFTER_KEY, &since);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        since = plat_strdup("");
        rc = since ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    }
    for (i = 0; rc == PLAT_OK && i < ops.n; i++) {
        const struct sync_op *e = &ops.v[i];
        cJSON *server = NULL, *ans = NULL;
        const cJSON *id;
        int64_t rid;
        int arrived;

        rc = c121_server_copy(c, e->ref, &server);
        if (rc < 0) {
            /* Not on 121 (any more): it cannot have been messaged. */
            char msg[C121_MSG_MAX];

            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            plat_err_clear();
            rc = c121_settle_one(c, e, SYNC_OP_REJECTED, msg, &k->rejected);
            continue;
        }
        id = cJSON_GetObjectItemCaseSensitive(server, "id");
        if (!c121_json_int(id, 1, C121_ID_MAX, &rid)) {
            cJSON_Delete(server);
            rc = c121_settle_one(c, e, SYNC_OP_PENDING, NULL, &k->again);
            continue;
        }
        cJSON_Delete(server);
        snprintf(path, sizeof(path), "%s/registrations/%lld/activities",
                 c->prefix, (long long)rid);
        rc = c121_get_json(c, path, NULL, "121 GET activities", &ans, NULL,
                           NULL);
        if (rc < 0)
            break;
        arrived = has_message(cJSON_GetObjectItemCaseSensitive(ans, "data"),
                              since, e->payload);
        cJSON_Delete(ans);
        rc = arrived ? c121_settle_one(c, e, SYNC_OP_DONE, NULL, &k->done)
                     : c121_settle_one(c, e, SYNC_OP_PENDING, NULL,
                                       &k->again);
    }

done:
    plat_free(since);
    sync_ops_free(&ops);
    return rc;
}

static int answer_total(const struct sync_http_response *r, int64_t *total)
{
    cJSON *root = cJSON_ParseWithLength(r->body.data ? r->body.data : "",
                                        r->body.len);
    int ok = c121_json_int(cJSON_GetObjectItemCaseSensitive(
                               root, "totalFilterCount"),
                           0, C121_ID_MAX, total);

    cJSON_Delete(root);
    return ok ? PLAT_OK
              : plat_err_set(ERR_INVALID, "121 message answer has no "
                             "totalFilterCount in range");
}

static int request(struct c121 *c, const cJSON *body, const char *filter,
                   int dry, struct sync_http_response *r)
{
    struct plat_buf path;
    int rc;

    plat_buf_init(&path, 0);
    memset(r, 0, sizeof(*r));
    rc = plat_buf_printf(&path, "%s/registrations/message?dryRun=%s&%s",
                         c->prefix, dry ? "true" : "false", filter);
    if (rc == PLAT_OK)
        rc = c121_send_json(c, "POST", path.data, body, r);
    plat_buf_dispose(&path);
    return rc;
}

/* Send one chunk g[0..n) of one batch (same body). */
static int send_chunk(struct msgs *k, struct sync_op **g, size_t n,
                      const cJSON *body, const char *filter)
{
    struct c121 *c = k->c;
    struct sync_http_response r;
    char msg[C121_MSG_MAX], since[PLAT_ISO_LEN];
    int64_t total = -1, t_ms = 0;
    size_t i;
    int rc, old;

    rc = request(c, body, filter, 1, &r);
    if (rc < 0)
        goto done;
    if (r.status == 400 || r.status == 404) {
        c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
        rc = sync_batch_begin(c->ctx);
        for (i = 0; rc == PLAT_OK && i < n; i++)
            rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED,
                                      msg[0] ? msg : "121 refused the "
                                      "message", &k->rejected);
        rc = sync_batch_end(c->ctx, rc);
        goto done;
    }
    if (r.status != 200) {
        rc = sync_http_response_err(&r, "121 POST registrations/message");
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "121 POST registrations/message "
                              "(dry run): unexpected HTTP %ld", r.status);
        goto done;
    }
    rc = answer_total(&r, &total);
    if (rc == PLAT_OK && total != (int64_t)n)
        rc = plat_err_set(ERR_INVALID,
                          "121 POST registrations/message: the dry run "
                          "matched %lld registrations, not the %zu asked "
                          "for; nothing sent (%s)", (long long)total, n,
                          total > (int64_t)n ? "the filter was not applied"
                                             : "some are deleted or out of "
                                               "scope on 121");
    if (rc < 0)
        goto done;
    sync_http_response_dispose(&r);
    /* A moment on 121's clock before the send, for recover(). */
    rc = c121_server_time(c, &t_ms);
    if (rc < 0)
        goto done;
    plat_time_iso(t_ms, since);
    rc = sync_batch_begin(c->ctx);
    if (rc == PLAT_OK)
        rc = sync_state_set(c->ctx, SENT_AFTER_KEY, since);
    for (i = 0; rc == PLAT_OK && i < n; i++)
        rc = sync_op_settle(c->ctx, g[i]->seq, g[i]->ref, SYNC_OP_INFLIGHT,
                            NULL);
    rc = sync_batch_end(c->ctx, rc);
    if (rc < 0)
        goto done;
    old = sync_http_set_max_attempts(c->http, 1);
    rc = request(c, body, filter, 0, &r);
    sync_http_set_max_attempts(c->http, old);
    if (rc < 0)
        goto done; /* unknown outcome: recover() decides next time */
    if (r.status == 400 || r.status == 404) {
        c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
        rc = sync_batch_begin(c->ctx);
        for (i = 0; rc == PLAT_OK && i < n; i++)
            rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED,
                                      msg[0] ? msg : "121 refused the "
                                      "message", &k->rejected);
        rc = sync_batch_end(c->ctx, rc);
        goto done;
    }
    if (r.status != 202 && r.status != 200) {
        rc = sync_http_response_err(&r, "121 POST registrations/message");
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "121 POST registrations/message: "
                              "unexpected HTTP %ld", r.status);
        goto done;
    }
    /* Accepted: 121 queued one message per person. */
    rc = sync_batch_begin(c->ctx);
    for (i = 0; rc == PLAT_OK && i < n; i++)
        rc = c121_op_settle_count(c, g[i], SYNC_OP_DONE, NULL, &k->sent);
    rc = sync_batch_end(c->ctx, rc);

done:
    sync_http_response_dispose(&r);
    return rc;
}

/* Entries of one batch in device order: g[0..n). */
static int send_batch(struct msgs *k, struct sync_op **g, size_t n)
{
    struct c121 *c = k->c;
    const char *text = str_of(g[0]->payload, "message");
    const char *key = str_of(g[0]->payload, "messageTemplateKey");
    const char **refs = plat_malloc(n * sizeof(*refs));
    struct plat_buf filter;
    cJSON *body = cJSON_CreateObject();
    size_t i, m, off, chunk;
    int rc = PLAT_OK;

    plat_buf_init(&filter, 0);
    if (!refs || !body ||
        !cJSON_AddStringToObject(body, text ? "message" : "messageTemplateKey",
                                 text ? text : key ? key : "")) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!text && !key) {
        rc = sync_batch_begin(c->ctx);
        for (i = 0; rc == PLAT_OK && i < n; i++)
            rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED, "the "
                                      "message has no text or template",
                                      &k->rejected);
        rc = sync_batch_end(c->ctx, rc);
        goto done;
    }
    /* Only people 121 has (and has not deleted) can be messaged: the
     * others wait for their create, or are rejected. */
    rc = sync_batch_begin(c->ctx);
    for (i = 0, m = 0; rc == PLAT_OK && i < n; i++) {
        cJSON *server = NULL;
        const char *st;

        rc = c121_server_copy(c, g[i]->ref, &server);
        if (rc == ERR_NOTFOUND) {
            plat_err_clear();
            rc = PLAT_OK;
            continue;
        }
        if (rc == ERR_INVALID) {
            char msg[C121_MSG_MAX];

            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED, msg,
                                      &k->rejected);
            continue;
        }
        if (rc < 0)
            break;
        st = str_of(server, "status");
        if (st && strcmp(st, "deleted") == 0)
            rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED, "deleted "
                                      "on 121: not messaged", &k->rejected);
        else
            g[m++] = g[i];
        cJSON_Delete(server);
    }
    rc = sync_batch_end(c->ctx, rc);
    n = m;
    for (i = 0; i < n; i++)
        refs[i] = g[i]->ref;
    for (off = 0; rc == PLAT_OK && off < n; off += chunk) {
        plat_buf_reset(&filter);
        rc = c121_append_in_filter(&filter, refs + off, n - off,
                                   C121_URL_MAX - strlen(c->prefix) - 64,
                                   &chunk);
        if (rc == PLAT_OK)
            rc = send_chunk(k, g + off, chunk, body, filter.data);
    }

done:
    cJSON_Delete(body);
    plat_free(refs);
    plat_buf_dispose(&filter);
    return rc;
}

int c121_push_messages(struct c121 *c)
{
    struct msgs k;
    struct sync_ops ops = {0};
    struct sync_op **g = NULL;
    unsigned char *taken = NULL;
    size_t i, j, n;
    int rc;

    memset(&k, 0, sizeof(k));
    k.c = c;
    rc = recover(&k);
    if (rc == PLAT_OK)
        rc = c121_ops_load(c, SYNC_OP_MESSAGE, SYNC_OP_PENDING, 0, 0, &ops);
    if (rc < 0 || ops.n == 0)
        goto done;
    g = plat_malloc(ops.n * sizeof(*g));
    taken = plat_calloc(ops.n, 1);
    if (!g || !taken) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Batches in the order they were queued; a person twice in a batch
     * (not made by the CLI) waits for the next cycle. */
    for (i = 0; rc == PLAT_OK && i < ops.n; i++) {
        const char *batch = str_of(ops.v[i].payload, "batch");

        if (taken[i])
            continue;
        for (j = i, n = 0; j < ops.n; j++) {
            const char *b = str_of(ops.v[j].payload, "batch");

            if (taken[j] || !((!batch && !b) ||
                              (batch && b && strcmp(batch, b) == 0)))
                continue;
            taken[j] = 1;
            g[n++] = &ops.v[j];
        }
        rc = send_batch(&k, g, n);
    }

done:
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done + k.sent);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    if (ops.n || k.done || k.again)
        log_info("121 push: messages: %lld sent, %lld found delivered, %lld "
                 "to send again, %lld rejected", (long long)k.sent,
                 (long long)k.done, (long long)k.again,
                 (long long)k.rejected);
    plat_free(g);
    plat_free(taken);
    sync_ops_free(&ops);
    return rc;
}
