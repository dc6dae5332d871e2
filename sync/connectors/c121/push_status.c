/*
 * push_status.c - status changes made on the device go to 121 through its
 * bulk routes (contract 3.6): PATCH /registrations/status?filter... and,
 * for "deleted", DELETE /registrations?filter... (3.9). Both are
 * asynchronous (202) and both apply to the WHOLE program when their filter
 * is missing or silently dropped, so every request is a dry run first and
 * is only sent for real when the dry run counts exactly the registrations
 * asked for.
 *
 * Each change is checked against the server copy first: already there ->
 * done; the server still shows the status the person saw -> sent;
 * otherwise a conflict on "status", settled by its policy. Changes are
 * grouped by (status, reason), so one request carries many registrations.
 * One change per registration is out at a time: a later one waits until
 * the earlier is confirmed (121 applies them asynchronously, in an order
 * of its own).
 */
#include "c121_push.h"
#include "c121_http.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cand {
    struct sync_op *e;
    const char *target;
    const char *reason;     /* NULL if none */
    cJSON *win;             /* device-wins audit: [base, server] or NULL */
};

struct statuses {
    struct c121 *c;
    struct sync_ops pend, infl;
    struct cand *cands;
    size_t n_cands;
    int64_t done, sent, rejected, conflicts;
};

static const char *str_item(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static int by_ref(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 if `ref` is in the sorted array `refs`. */
static int in_sorted(const char **refs, size_t n, const char *ref)
{
    return n && bsearch(&ref, refs, n, sizeof(*refs), by_ref) != NULL;
}

static int by_index(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* Check one pending change. Joins the caller's transaction. */
static int check_one(struct statuses *k, struct sync_op *e)
{
    struct c121 *c = k->c;
    const char *target = str_item(e->payload, "status");
    const char *base = str_item(e->base, "status");
    const char *sstat, *from;
    cJSON *server = NULL, *sv = NULL;
    char msg[C121_MSG_MAX];
    struct cand *cd;
    int rc, policy, win = 0;

    if (!target)
        return c121_op_settle_count(c, e, SYNC_OP_REJECTED,
                                       "the status change names no status",
                                       &k->rejected);
    rc = c121_server_copy(c, e->ref, &server);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear(); /* its create has not reached 121 yet */
        return PLAT_OK;
    }
    if (rc == ERR_INVALID) {
        snprintf(msg, sizeof(msg), "%s", plat_err_msg());
        return c121_op_settle_count(c, e, SYNC_OP_REJECTED, msg, &k->rejected);
    }
    if (rc < 0)
        return rc;
    sstat = c121_copy_status(server);
    sv = cJSON_CreateString(sstat);
    if (!sv) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    if (strcmp(sstat, target) == 0) {
        rc = c121_op_settle_count(c, e, SYNC_OP_DONE, NULL, &k->done);
        goto done;
    }
    if (strcmp(sstat, "deleted") == 0) {
        /* Terminal on 121: nothing a person could decide. */
        rc = c121_op_settle_count(c, e, SYNC_OP_REJECTED,
                                     "not found on the server (deleted)",
                                     &k->rejected);
        goto done;
    }
    from = sstat;
    if (!base || strcmp(sstat, base) != 0) {
        policy = sync_field_policy(c->ctx, "status");
        if (policy == SYNC_POLICY_MANUAL) {
            rc = sync_conflict_add(
                c->ctx, e->seq, e->ref, "status",
                cJSON_GetObjectItemCaseSensitive(e->base, "status"),
                cJSON_GetObjectItemCaseSensitive(e->payload, "status"), sv,
                NULL);
            if (rc == PLAT_OK)
                rc = c121_op_settle_count(c, e, SYNC_OP_CONFLICT, NULL,
                                             &k->conflicts);
            goto done;
        }
        if (policy == SYNC_POLICY_SERVER_WINS) {
            rc = sync_conflict_add(
                c->ctx, e->seq, e->ref, "status",
                cJSON_GetObjectItemCaseSensitive(e->base, "status"),
                cJSON_GetObjectItemCaseSensitive(e->payload, "status"), sv,
                "server");
            if (rc == PLAT_OK)
                rc = sync_op_drop_field(c->ctx, e->seq, "status",
                                             NULL);
            goto done;
        }
        win = 1; /* device wins: from whatever the server has now */
    }
    if (!c121_status_transition_allowed(from, target)) {
        snprintf(msg, sizeof(msg),
                 "invalid status change on 121: %s -> %s is not allowed "
                 "(121 shows %s; allowed from %s: %s)",
                 from, target, from, from,
                 c121_status_targets(from)[0] ? c121_status_targets(from)
                                               : "none");
        rc = c121_op_settle_count(c, e, SYNC_OP_REJECTED, msg, &k->rejected);
        goto done;
    }
    cd = &k->cands[k->n_cands++];
    cd->e = e;
    cd->target = target;
    cd->reason = str_item(e->payload, "reason");
    cd->win = NULL;
    if (win) {
        cd->win = cJSON_CreateArray();
        if (!cd->win ||
            !cJSON_AddItemToArray(cd->win,
                                  base ? cJSON_CreateString(base)
                                       : cJSON_CreateNull()) ||
            !cJSON_AddItemToArray(cd->win, cJSON_CreateString(sstat)))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
    }

done:
    cJSON_Delete(server);
    cJSON_Delete(sv);
    return rc;
}

/* The counts of a bulk answer. */
static int answer_count(const struct sync_http_response *r, int64_t *total)
{
    cJSON *root = cJSON_ParseWithLength(r->body.data ? r->body.data : "",
                                        r->body.len);
    const cJSON *t =
        cJSON_GetObjectItemCaseSensitive(root, "totalFilterCount");
    int rc = PLAT_OK;

    if (!c121_json_int(t, 0, C121_ID_MAX, total))
        rc = plat_err_set(ERR_INVALID, "121 bulk status answer has no "
                          "totalFilterCount in range");
    cJSON_Delete(root);
    return rc;
}

/* One request of the chunk: `dry` or real. Returns the HTTP status in
 * *status (0 when the request failed). */
static int bulk_request(struct statuses *k, const char *target,
                        const char *reason, const char *filter, int dry,
                        struct sync_http_response *r)
{
    struct c121 *c = k->c;
    struct plat_buf path;
    cJSON *body = cJSON_CreateObject();
    char *text = NULL;
    int deleted = strcmp(target, "deleted") == 0, rc;

    plat_buf_init(&path, 0);
    memset(r, 0, sizeof(*r));
    if (!body ||
        (!deleted && !cJSON_AddStringToObject(body, "status", target)) ||
        (reason && !cJSON_AddStringToObject(body, "reason", reason))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    text = cJSON_PrintUnformatted(body);
    if (!text) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = plat_buf_printf(&path, "%s/registrations%s?dryRun=%s&%s", c->prefix,
                         deleted ? "" : "/status", dry ? "true" : "false",
                         filter);
    if (rc < 0)
        goto done;
    rc = sync_http_request(c->http, deleted ? "DELETE" : "PATCH", path.data,
                           "application/json", text, strlen(text), NULL, r);

done:
    cJSON_Delete(body);
    cJSON_free(text);
    plat_buf_dispose(&path);
    return rc;
}

/* Send the candidates cs[0..n) (same target and reason) whose refs are
 * in `filter` (n of them). */
static int send_chunk(struct statuses *k, struct cand **cs, size_t n,
                      const char *filter)
{
    struct c121 *c = k->c;
    struct sync_http_response r;
    const char *target = cs[0]->target, *reason = cs[0]->reason;
    const char *what = strcmp(target, "deleted") == 0
                           ? "121 DELETE registrations"
                           : "121 PATCH registrations/status";
    char msg[C121_MSG_MAX];
    int64_t total = -1;
    size_t i;
    int rc;

    rc = bulk_request(k, target, reason, filter, 1, &r);
    if (rc < 0)
        goto done;
    if (r.status == 400) {
        /* The change itself is refused (reason missing, unknown status):
         * the same for every registration of the group. */
        c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
        rc = sync_batch_begin(c->ctx);
        for (i = 0; rc == PLAT_OK && i < n; i++)
            rc = c121_op_settle_count(c, cs[i]->e, SYNC_OP_REJECTED,
                                         msg[0] ? msg
                                                : "121 refused the status "
                                                  "change",
                                         &k->rejected);
        rc = sync_batch_end(c->ctx, rc);
        goto done;
    }
    if (r.status != 200) {
        rc = sync_http_response_err(&r, what);
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "%s (dry run): unexpected HTTP "
                              "%ld", what, r.status);
        goto done;
    }
    rc = answer_count(&r, &total);
    if (rc < 0)
        goto done;
    if (total != (int64_t)n) {
        /* Never send what is not exactly our registrations: a filter
         * 121 dropped would change the whole program. */
        rc = plat_err_set(ERR_INVALID,
                          "%s: the dry run matched %lld registrations, not "
                          "the %zu asked for; nothing sent (%s)",
                          what, (long long)total, n,
                          total > (int64_t)n
                              ? "the filter was not applied"
                              : "some are deleted or out of scope on 121; "
                                "the next pull will show which");
        goto done;
    }
    sync_http_response_dispose(&r);
    rc = bulk_request(k, target, reason, filter, 0, &r);
    if (rc < 0)
        goto done;
    if (r.status != 202 && r.status != 200) {
        rc = sync_http_response_err(&r, what);
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "%s: unexpected HTTP %ld", what,
                              r.status);
        goto done;
    }
    /* Accepted: 121 applies it in the background; confirm.c checks. */
    rc = sync_batch_begin(c->ctx);
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        if (cs[i]->win) {
            cJSON *t = cJSON_CreateString(target);
            rc = t ? sync_conflict_add(c->ctx, cs[i]->e->seq, cs[i]->e->ref,
                                          "status",
                                          cJSON_GetArrayItem(cs[i]->win, 0),
                                          t,
                                          cJSON_GetArrayItem(cs[i]->win, 1),
                                          "local")
                   : plat_err_set(ERR_NOMEM, "out of memory");
            cJSON_Delete(t);
        }
        if (rc == PLAT_OK)
            rc = sync_op_settle(c->ctx, cs[i]->e->seq, cs[i]->e->ref,
                                SYNC_OP_INFLIGHT, NULL);
        if (rc == PLAT_OK)
            k->sent++;
    }
    rc = sync_batch_end(c->ctx, rc);
    if (rc == PLAT_OK && answer_count(&r, &total) == PLAT_OK &&
        total != (int64_t)n) {
        rc = plat_err_set(ERR_INVALID, "%s: 121 applied the change to %lld "
                          "registrations, not %zu", what, (long long)total,
                          n);
    }

done:
    sync_http_response_dispose(&r);
    return rc;
}

static int same_group(const struct cand *a, const struct cand *b)
{
    if (strcmp(a->target, b->target) != 0)
        return 0;
    return (!a->reason && !b->reason) ||
           (a->reason && b->reason && strcmp(a->reason, b->reason) == 0);
}

/* Group the candidates by (target, reason), chunk each group so its URL
 * stays short, and send. */
static int send_groups(struct statuses *k)
{
    struct c121 *c = k->c;
    struct plat_buf filter;
    struct cand **grp = NULL;
    const char **refs = NULL;
    unsigned char *taken = NULL;
    size_t i, j, n, off, chunk;
    int rc = PLAT_OK;

    plat_buf_init(&filter, 0);
    grp = plat_malloc((k->n_cands ? k->n_cands : 1) * sizeof(*grp));
    refs = plat_malloc((k->n_cands ? k->n_cands : 1) * sizeof(*refs));
    taken = plat_calloc(k->n_cands ? k->n_cands : 1, 1);
    if (!grp || !refs || !taken) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (i = 0; rc == PLAT_OK && i < k->n_cands; i++) {
        if (taken[i])
            continue;
        for (j = i, n = 0; j < k->n_cands; j++) {
            if (!taken[j] && same_group(&k->cands[i], &k->cands[j])) {
                taken[j] = 1;
                grp[n] = &k->cands[j];
                refs[n] = k->cands[j].e->ref;
                n++;
            }
        }
        for (off = 0; rc == PLAT_OK && off < n; off += chunk) {
            plat_buf_reset(&filter);
            /* The path around the filter: prefix, route, dryRun. */
            rc = c121_append_in_filter(&filter, refs + off, n - off,
                                       C121_URL_MAX - strlen(c->prefix) - 64,
                                       &chunk);
            if (rc == PLAT_OK)
                rc = send_chunk(k, grp + off, chunk, filter.data);
        }
    }

done:
    plat_buf_dispose(&filter);
    plat_free(grp);
    plat_free(refs);
    plat_free(taken);
    return rc;
}

int c121_push_status(struct c121 *c)
{
    struct statuses k;
    const char **busy = NULL;
    size_t *first = NULL, i, n_busy = 0, n_first;
    int rc;

    memset(&k, 0, sizeof(k));
    k.c = c;
    rc = c121_ops_load(c, SYNC_OP_STATUS, SYNC_OP_PENDING, 0, 0, &k.pend);
    if (rc == PLAT_OK)
        rc = c121_ops_load(c, SYNC_OP_STATUS, SYNC_OP_INFLIGHT, 0, 0, &k.infl);
    if (rc < 0 || k.pend.n == 0)
        goto done;
    k.cands = plat_calloc(k.pend.n, sizeof(*k.cands));
    busy = plat_malloc((k.pend.n + k.infl.n) * sizeof(*busy));
    first = sync_ops_order(&k.pend); /* by (ref, seq) */
    if (!k.cands || !busy || !first) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Registrations with a change out already wait for its confirmation. */
    for (i = 0; i < k.infl.n; i++)
        busy[n_busy++] = k.infl.v[i].ref;
    qsort(busy, n_busy, sizeof(*busy), by_ref);

    /* Only the oldest pending change of a registration goes this time:
     * the first of each registration in (ref, seq) order. */
    for (i = 0, n_first = 0; i < k.pend.n; i++)
        if (i == 0 || strcmp(k.pend.v[first[i]].ref,
                             k.pend.v[first[i - 1]].ref) != 0)
            first[n_first++] = first[i];
    /* Back to device order: the groups are sent oldest first. */
    qsort(first, n_first, sizeof(*first), by_index);
    rc = sync_batch_begin(c->ctx);
    for (i = 0; rc == PLAT_OK && i < n_first; i++) {
        struct sync_op *e = &k.pend.v[first[i]];

        if (!in_sorted(busy, n_busy, e->ref))
            rc = check_one(&k, e);
    }
    rc = sync_batch_end(c->ctx, rc);
    if (rc == PLAT_OK && k.n_cands)
        rc = send_groups(&k);

done:
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done);
    sync_ctx_count(c->ctx, SYNC_COUNT_SENT, k.sent);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    sync_ctx_count(c->ctx, SYNC_COUNT_CONFLICTS, k.conflicts);
    if (k.pend.n)
        log_info("121 push: %zu status changes checked: %lld done, %lld "
                 "sent, %lld rejected, %lld conflicts",
                 k.pend.n, (long long)k.done, (long long)k.sent,
                 (long long)k.rejected, (long long)k.conflicts);
    for (i = 0; i < k.n_cands; i++)
        cJSON_Delete(k.cands[i].win);
    plat_free(k.cands);
    plat_free(busy);
    plat_free(first);
    sync_ops_free(&k.pend);
    sync_ops_free(&k.infl);
    return rc;
}
