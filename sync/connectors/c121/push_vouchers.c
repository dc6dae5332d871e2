/*
 * push_vouchers.c - hand-out marks and imported FSP reconciliation rows
 * (outbox "voucher") go to 121 as excel-reconciliation uploads (contract
 * 6): one CSV per payment (at most RECON_MAX_ROWS rows), in the columns
 * of the FSP's template: its match column, status, errorMessage. 121 sets
 * each matched transaction's status, so the same upload sent twice (a
 * lost answer, a retry) changes nothing twice. An uploaded row stays in
 * flight until the transactions pulled next (the late "payments" stream
 * of the same sync) show its status; then it is done.
 *
 * Rows go in flight before the upload (a crash leaves them to be sent
 * again), so an in-flight row is not proof of an upload: the checkpoint
 * UNANSWERED_KEY is set with them and cleared by 121's answer. While it
 * is set, the stored transactions may predate the upload (a paper
 * voucher's already shows "success"), so no row is confirmed from them:
 * every in-flight row is sent again (harness seed 20393).
 */
#include "c121_dist.h"
#include "c121_push.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_dist.h"
#include "sync_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECON_MAX_ROWS 10000 /* contract 0.5 */
#define UNANSWERED_KEY "vouchers.unanswered"

struct recon {
    struct c121 *c;
    struct sync_ops ops;
    char match[128];        /* the template's match column              */
    int64_t done, sent, rejected;
};

/* An entry uploaded before (inflight): done when the stored transaction
 * (pulled after the upload) shows its status; otherwise it goes again (a
 * row sets a status: sending it twice changes nothing twice). */
static int confirmed(struct recon *k, const struct sync_op *e, int pay,
                     int *yes)
{
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(e->payload,
                                                         "status");
    cJSON *tx = NULL;
    const cJSON *st;
    int rc;

    *yes = 0;
    rc = sync_get_transaction(k->c->ctx, pay, e->ref, &tx);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    st = cJSON_GetObjectItemCaseSensitive(tx, "status");
    *yes = cJSON_IsString(st) && cJSON_IsString(want) &&
           strcmp(st->valuestring, want->valuestring) == 0;
    cJSON_Delete(tx);
    return PLAT_OK;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int payment_of(const struct sync_op *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e->payload,
                                                      "paymentId");
    int64_t id;

    return c121_json_int(v, 1, 2147483647, &id) ? (int)id : 0;
}

/* Reject every entry of the group with `msg`. */
static int reject_all(struct recon *k, struct sync_op **g, size_t n,
                      const char *msg)
{
    size_t i;
    int rc = sync_batch_begin(k->c->ctx);

    for (i = 0; rc == PLAT_OK && i < n; i++)
        rc = c121_op_settle_count(k->c, g[i], SYNC_OP_REJECTED, msg,
                                  &k->rejected);
    return sync_batch_end(k->c->ctx, rc);
}

/* The FSP's template: the match column (prefer referenceId). 404: the
 * program has no Excel FSP, *reason_out set. */
static int read_template(struct recon *k, char *reason, size_t n)
{
    struct c121 *c = k->c;
    char path[128];
    cJSON *tpl = NULL;
    const cJSON *t;
    long status = 0;
    int rc;

    reason[0] = '\0';
    snprintf(path, sizeof(path), "%s/payments/excel-reconciliation/template",
             c->prefix);
    rc = c121_get_json(c, path, NULL, "121 GET reconciliation template", &tpl,
                       &status, NULL);
    if (rc == ERR_NOTFOUND || (rc < 0 && status >= 400 && status < 500 &&
                               status != 401 && status != 429)) {
        snprintf(reason, n, "121 has no reconciliation template for this "
                 "program: %s", plat_err_msg());
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(t, tpl) {
        const cJSON *cols = cJSON_GetObjectItemCaseSensitive(t, "template");
        const cJSON *first = cJSON_GetArrayItem(cols, 0);

        if (!cJSON_IsString(first) || !first->valuestring[0] ||
            strlen(first->valuestring) >= sizeof(k->match))
            continue;
        if (!k->match[0] || strcmp(first->valuestring, "referenceId") == 0)
            snprintf(k->match, sizeof(k->match), "%s", first->valuestring);
    }
    cJSON_Delete(tpl);
    if (!k->match[0])
        snprintf(reason, n, "121's reconciliation template names no match "
                 "column");
    return PLAT_OK;
}

/* One CSV cell, quoted when needed. */
static int csv_cell(struct plat_buf *b, const char *v)
{
    const char *p;
    int rc;

    if (!strpbrk(v, ",;\"\r\n"))
        return plat_buf_puts(b, v);
    rc = plat_buf_puts(b, "\"");
    for (p = v; rc == PLAT_OK && *p; p++)
        rc = plat_buf_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    return rc == PLAT_OK ? plat_buf_puts(b, "\"") : rc;
}

/* The value of the match column for `ref`, as text (allocated). */
static int match_value(struct recon *k, const char *ref, char **out)
{
    cJSON *reg = NULL;
    const cJSON *v;
    int rc;

    *out = NULL;
    if (strcmp(k->match, "referenceId") == 0) {
        *out = plat_strdup(ref);
        return *out ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = sync_get_local(k->c->ctx, ref, &reg);
    if (rc < 0)
        return rc;
    v = cJSON_GetObjectItemCaseSensitive(reg, k->match);
    if (cJSON_IsString(v) && v->valuestring[0]) {
        *out = plat_strdup(v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        char num[64];

        snprintf(num, sizeof(num), "%.17g", v->valuedouble);
        *out = plat_strdup(num);
    }
    cJSON_Delete(reg);
    if (!*out)
        return plat_err_set(ERR_NOTFOUND, "%s has no %s to match the "
                            "reconciliation template", ref, k->match);
    return PLAT_OK;
}

/* Upload the rows g[0..n) of payment `pay`. */
static int upload(struct recon *k, int pay, struct sync_op **g, size_t n)
{
    struct c121 *c = k->c;
    struct sync_http_response r;
    struct plat_buf csv, body, path;
    char ctype[SYNC_HTTP_CONTENT_TYPE_SIZE], msg[C121_MSG_MAX];
    char **vals = plat_calloc(n ? n : 1, sizeof(*vals));
    unsigned char *skip = plat_calloc(n ? n : 1, 1);
    cJSON *ans = NULL;
    const cJSON *res, *row;
    size_t i, rows = 0;
    int rc = PLAT_OK;

    plat_buf_init(&csv, 0);
    plat_buf_init(&body, 0);
    plat_buf_init(&path, 0);
    memset(&r, 0, sizeof(r));
    if (!vals || !skip) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = plat_buf_printf(&csv, "%s,status,errorMessage\n", k->match);
    rc = rc == PLAT_OK ? sync_batch_begin(c->ctx) : rc;
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        const char *status = str_of(g[i]->payload, "status");
        const char *err = str_of(g[i]->payload, "errorMessage");

        rc = match_value(k, g[i]->ref, &vals[i]);
        if (rc == ERR_NOTFOUND) {
            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            skip[i] = 1;
            rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED, msg,
                                      &k->rejected);
            continue;
        }
        if (rc == PLAT_OK)
            rc = csv_cell(&csv, vals[i]);
        if (rc == PLAT_OK)
            rc = plat_buf_printf(&csv, ",%s,", status ? status : "success");
        if (rc == PLAT_OK && err)
            rc = csv_cell(&csv, err);
        if (rc == PLAT_OK)
            rc = plat_buf_puts(&csv, "\n");
        /* In flight before it goes: a crash leaves it to be re-sent. */
        if (rc == PLAT_OK)
            rc = sync_op_settle(c->ctx, g[i]->seq, g[i]->ref,
                                SYNC_OP_INFLIGHT, NULL);
        rows += rc == PLAT_OK;
    }
    if (rc == PLAT_OK && rows > 0)
        rc = sync_cursor_set_i64(c->ctx, UNANSWERED_KEY, 1);
    rc = sync_batch_end(c->ctx, rc);
    if (rc < 0 || rows == 0)
        goto done;
    rc = sync_http_multipart_csv(&body, ctype, "agent-reconciliation.csv",
                                 csv.data, csv.len, NULL, 0);
    if (rc == PLAT_OK)
        rc = plat_buf_printf(&path, "%s/payments/%d/excel-reconciliation",
                             c->prefix, pay);
    if (rc == PLAT_OK)
        rc = sync_http_request(c->http, "POST", path.data, ctype, body.data,
                               body.len, NULL, &r);
    if (rc < 0)
        goto done;
    if (r.status == 400 || r.status == 404) {
        c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
        for (i = 0; i < n; i++)
            skip[i] = skip[i] ? 1 : 2; /* 2: reject below */
        rc = sync_batch_begin(c->ctx);
        if (rc == PLAT_OK)
            rc = sync_cursor_delete(c->ctx, UNANSWERED_KEY);
        for (i = 0; rc == PLAT_OK && i < n; i++)
            if (skip[i] == 2)
                rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED,
                                          msg[0] ? msg : "121 refused the "
                                          "reconciliation file",
                                          &k->rejected);
        rc = sync_batch_end(c->ctx, rc);
        goto done;
    }
    if (r.status != 201 && r.status != 200) {
        rc = sync_http_response_err(&r, "121 POST excel-reconciliation");
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "121 POST excel-reconciliation: "
                              "unexpected HTTP %ld", r.status);
        goto done;
    }
    ans = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
    res = cJSON_GetObjectItemCaseSensitive(ans, "importResult");
    rc = sync_batch_begin(c->ctx);
    if (rc == PLAT_OK)
        rc = sync_cursor_delete(c->ctx, UNANSWERED_KEY);
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        const char *st = NULL;

        if (skip[i])
            continue;
        cJSON_ArrayForEach(row, res) {
            const char *ref = str_of(row, "referenceId");
            const char *mv = str_of(row, k->match);

            if ((ref && strcmp(ref, g[i]->ref) == 0) ||
                (mv && strcmp(mv, vals[i]) == 0)) {
                st = str_of(row, "importStatus");
                break;
            }
        }
        if (st && strcmp(st, "notFound") == 0) {
            snprintf(msg, sizeof(msg), "121 matched no transaction of "
                     "payment %d for %s (%s %s)", pay, g[i]->ref, k->match,
                     strcmp(k->match, "referenceId") == 0 ? "as stored"
                                                          : "of the person");
            rc = c121_op_settle_count(c, g[i], SYNC_OP_REJECTED, msg,
                                      &k->rejected);
        } else {
            /* Taken (or not listed: the upload as a whole was taken).
             * It stays in flight until the transactions pulled next show
             * the status (confirmed()). */
            k->sent++;
        }
    }
    rc = sync_batch_end(c->ctx, rc);

done:
    for (i = 0; vals && i < n; i++)
        plat_free(vals[i]);
    plat_free(vals);
    plat_free(skip);
    cJSON_Delete(ans);
    sync_http_response_dispose(&r);
    plat_buf_dispose(&csv);
    plat_buf_dispose(&body);
    plat_buf_dispose(&path);
    return rc;
}

static int by_payment(const void *a, const void *b)
{
    const struct sync_op *x = *(struct sync_op *const *)a;
    const struct sync_op *y = *(struct sync_op *const *)b;
    int px = payment_of(x), py = payment_of(y);

    if (px != py)
        return px < py ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int c121_push_vouchers(struct c121 *c)
{
    struct recon k;
    struct sync_op **g = NULL;
    char reason[C121_MSG_MAX];
    size_t i, j, n, start;
    int64_t unanswered = 0;
    int rc;

    memset(&k, 0, sizeof(k));
    k.c = c;
    rc = c121_ops_load(c, SYNC_OP_VOUCHER, -1, 0, 0, &k.ops);
    if (rc < 0 || k.ops.n == 0)
        goto done;
    g = plat_malloc(k.ops.n * sizeof(*g));
    if (!g) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* An upload of the rows in flight had no answer: they go again. */
    rc = sync_cursor_get_i64(c->ctx, UNANSWERED_KEY, 0, &unanswered);
    if (rc == PLAT_OK)
        rc = sync_batch_begin(c->ctx);
    for (i = 0, n = 0; rc == PLAT_OK && i < k.ops.n; i++) {
        struct sync_op *e = &k.ops.v[i];
        int yes = 0;

        if (e->state == SYNC_OP_INFLIGHT && payment_of(e) && !unanswered)
            rc = confirmed(&k, e, payment_of(e), &yes);
        if (rc == PLAT_OK && yes)
            rc = c121_op_settle_count(c, e, SYNC_OP_DONE, NULL, &k.done);
        else
            g[n++] = e;
    }
    rc = sync_batch_end(c->ctx, rc);
    if (rc < 0 || n == 0)
        goto done;
    qsort(g, n, sizeof(*g), by_payment);
    rc = read_template(&k, reason, sizeof(reason));
    if (rc == PLAT_OK && reason[0]) {
        rc = reject_all(&k, g, n, reason);
        goto done;
    }
    for (start = 0; rc == PLAT_OK && start < n; start = j) {
        int pay = payment_of(g[start]);

        for (j = start; j < n && payment_of(g[j]) == pay &&
                        j - start < RECON_MAX_ROWS; j++)
            ;
        if (pay == 0)
            rc = reject_all(&k, g + start, j - start,
                            "the reconciliation row names no payment");
        else
            rc = upload(&k, pay, g + start, j - start);
    }

done:
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done);
    sync_ctx_count(c->ctx, SYNC_COUNT_SENT, k.sent);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    if (k.ops.n)
        log_info("121 push: %zu reconciliation rows: %lld confirmed, %lld "
                 "sent, %lld rejected", k.ops.n, (long long)k.done,
                 (long long)k.sent, (long long)k.rejected);
    plat_free(g);
    sync_ops_free(&k.ops);
    return rc;
}
