/*
 * pull_payments.c - payments, their transactions and paper voucher images.
 *
 * GET {prefix}/payments is small and unpaginated; it is polled with
 * If-None-Match (checkpoint "payments.etag"): a 304 means no payment and
 * no transaction status changed (the list carries the counts and sums per
 * status), so the transactions are not asked for either. When the list
 * changed, the transactions of each payment whose entry changed (or that
 * has none stored) are read with filter.updated=$gt:<latest updated of the
 * last complete read>, streamed in id order and committed in batches with
 * the id reached, so that a read that is cut off resumes where it stopped
 * (see struct txs). The payment itself and the ETag are stored after its
 * transactions, so an interrupted pull asks again.
 *
 * With opt->vouchers, the paper voucher images of the latest payment that
 * are not stored yet are fetched, one request each (the API has no bulk
 * form); 121 has one for Intersolve-voucher-paper transactions that were
 * sent (success or waiting), and a 404 is skipped.
 *
 * A user without the payment permissions gets 403: the phase then skips
 * what it may not read instead of failing the whole cycle.
 */
#include "c121.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

#define PAYMENTS_ETAG "payments.etag"
#define VOUCHER_FSP "Intersolve-voucher-paper"

/* ---- transactions ----------------------------------------------------- */

/* One read of a payment's transactions changed since `since`, in id order
 * and committed per batch with its checkpoints (tx.<pid>.since,
 * tx.<pid>.last_id, tx.<pid>.max), so a read that is cut off resumes after
 * the last committed id with the same `since`: a $gt: on `updated` alone
 * could not resume, since thousands of transactions can share one
 * `updated` (a bulk update). When the read completes, `since` becomes the
 * largest `updated` it saw. */
struct txs {
    struct c121 *c;
    int payment_id;
    size_t batch_max;
    cJSON *rows;
    size_t n_rows;
    char since[64];           /* "" : all transactions                */
    char max[64];             /* largest `updated` read so far        */
    int64_t last_id;          /* last id received                     */
    int64_t done;
};

static void tx_ckpt(const struct txs *t, const char *what, char *name,
                    size_t n)
{
    snprintf(name, n, "tx.%d.%s", t->payment_id, what);
}

/* Commit the received rows with the read's checkpoints; `complete` ends
 * the read. */
static int txs_flush(struct txs *t, int complete)
{
    struct sync_ctx *s = t->c->ctx;
    char name[48];
    int rc;

    if (t->n_rows == 0 && !complete)
        return PLAT_OK;
    rc = sync_batch_begin(s);
    if (rc < 0)
        return rc;
    if (t->rows)
        rc = sync_put_transactions(s, t->c->program_id, t->payment_id,
                                    t->rows);
    tx_ckpt(t, "since", name, sizeof(name));
    if (rc == PLAT_OK)
        rc = sync_cursor_set(s, name,
                                  complete ? t->max : t->since);
    tx_ckpt(t, "last_id", name, sizeof(name));
    if (rc == PLAT_OK)
        rc = complete ? sync_cursor_delete(s, name)
                      : sync_cursor_set_i64(s, name,
                                                 t->last_id);
    tx_ckpt(t, "max", name, sizeof(name));
    if (rc == PLAT_OK)
        rc = complete ? sync_cursor_delete(s, name)
                      : sync_cursor_set(s, name, t->max);
    rc = sync_batch_end(s, rc);
    t->done += rc == PLAT_OK ? (int64_t)t->n_rows : 0;
    cJSON_Delete(t->rows);
    t->rows = NULL;
    t->n_rows = 0;
    if (rc == PLAT_OK && !complete && c121_cancelled(t->c))
        rc = ERR_RETRY;
    return rc;
}

static int on_tx(void *payload, cJSON *rec)
{
    struct txs *t = payload;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(rec, "updated");
    int64_t idv = 0;

    if (!cJSON_IsObject(rec) || !c121_json_int(id, 1, C121_ID_MAX, &idv) ||
        idv <= t->last_id) {
        cJSON_Delete(rec);
        return plat_err_set(ERR_INVALID, "malformed transaction from server "
                            "(no id, or out of id order)");
    }
    if (!t->rows && !(t->rows = cJSON_CreateArray())) {
        cJSON_Delete(rec);
        return plat_err_set(ERR_NOMEM, "out of memory reading transactions");
    }
    t->last_id = idv;
    /* ISO times of one format compare as text. */
    if (cJSON_IsString(u) && strlen(u->valuestring) < sizeof(t->max) &&
        strcmp(u->valuestring, t->max) > 0)
        snprintf(t->max, sizeof(t->max), "%s", u->valuestring);
    cJSON_AddItemToArray(t->rows, rec);
    if (++t->n_rows >= t->batch_max)
        return txs_flush(t, 0);
    return PLAT_OK;
}

/* Where the read starts: a read in progress resumes; otherwise it asks for
 * what changed since the last complete read (or since the latest stored
 * transaction, for a store that has no checkpoint yet). */
static int txs_start(struct txs *t)
{
    struct sync_ctx *s = t->c->ctx;
    char name[48], *text = NULL;
    int rc;

    tx_ckpt(t, "since", name, sizeof(name));
    rc = sync_cursor_get(s, name, &text);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = sync_transactions_max_updated(s, t->payment_id, t->since,
                                           sizeof(t->since));
    } else if (rc == PLAT_OK) {
        snprintf(t->since, sizeof(t->since), "%s", text);
    }
    plat_free(text);
    text = NULL;
    if (rc < 0)
        return rc;
    tx_ckpt(t, "last_id", name, sizeof(name));
    rc = sync_cursor_get_i64(s, name, 0, &t->last_id);
    if (rc < 0)
        return rc;
    tx_ckpt(t, "max", name, sizeof(name));
    rc = sync_cursor_get(s, name, &text);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        snprintf(t->max, sizeof(t->max), "%s", t->since);
        rc = PLAT_OK;
    } else if (rc == PLAT_OK) {
        snprintf(t->max, sizeof(t->max), "%s", text);
    }
    plat_free(text);
    return rc;
}

static int pull_transactions(struct c121 *c, int payment_id)
{
    struct txs t;
    struct plat_buf path;
    long status = 0;
    int rc;

    memset(&t, 0, sizeof(t));
    t.c = c;
    t.payment_id = payment_id;
    t.batch_max = (size_t)c121_batch(c);
    plat_buf_init(&path, 0);
    rc = txs_start(&t);
    if (rc == PLAT_OK)
        rc = plat_buf_printf(&path, "%s/payments/%d/transactions?limit=-1&"
                             "sortBy=id:ASC&filter.id=$gt:%lld", c->prefix,
                             payment_id, (long long)t.last_id);
    if (rc == PLAT_OK && t.since[0]) {
        rc = plat_buf_puts(&path, "&filter.updated=$gt:");
        if (rc == PLAT_OK)
            rc = sync_http_escape(&path, t.since);
    }
    if (rc < 0)
        goto done;
    rc = c121_get_records(c, path.data, "data", "transaction", on_tx, &t,
                          &status);
    if (rc == ERR_AUTH && status == 403) {
        log_info("121: user may not read the transactions of payment %d; "
                 "skipped", payment_id);
        plat_err_clear();
        rc = PLAT_OK;
        goto done;
    }
    if (rc == PLAT_OK)
        rc = txs_flush(&t, 1);
    if (rc == PLAT_OK && t.done > 0)
        log_info("121: payment %d: %lld transactions updated", payment_id,
                 (long long)t.done);

done:
    cJSON_Delete(t.rows);
    plat_buf_dispose(&path);
    return rc;
}

/* ---- payments ----------------------------------------------------------- */

static int payment_id_of(const cJSON *p, int *out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "paymentId");

    if (!cJSON_IsNumber(id) || id->valuedouble < 1 ||
        id->valuedouble > 2147483647.0 ||
        id->valuedouble != (double)(int)id->valuedouble)
        return plat_err_set(ERR_INVALID, "malformed payment from server: no "
                            "paymentId");
    *out = (int)id->valuedouble;
    return PLAT_OK;
}

/* One payment of the list: its transactions if it changed, then itself. */
static int pull_payment(struct c121 *c, const cJSON *p, int pid)
{
    cJSON *stored = NULL;
    char since[64];
    int rc, changed;

    rc = sync_get_payment(c->ctx, c->program_id, pid, &stored);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc == PLAT_OK)
        rc = sync_transactions_max_updated(c->ctx, pid, since,
                                           sizeof(since));
    if (rc < 0)
        goto done;
    changed = !stored || !cJSON_Compare(stored, p, 1) || !since[0] ||
              (c->opt && c->opt->full);
    if (changed)
        rc = pull_transactions(c, pid);
    if (rc == PLAT_OK && changed)
        rc = sync_put_payment(c->ctx, c->program_id, p);

done:
    cJSON_Delete(stored);
    return rc;
}

static int pull_list(struct c121 *c, int *latest)
{
    struct sync_ctx *s = c->ctx;
    cJSON *list = NULL;
    const cJSON *p;
    char *etag = NULL;
    char etag_new[128], path[96];
    long status = 0;
    int pid = 0, rc;

    *latest = 0;
    rc = sync_cursor_get(s, PAYMENTS_ETAG, &etag);
    if (rc == ERR_NOTFOUND)
        plat_err_clear();
    else if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/payments", c->prefix);
    rc = c121_get_json(c, path, c->opt->full ? NULL : etag, "payments",
                       &list, &status, etag_new);
    if (rc < 0)
        goto done;
    if (!list) {
        log_debug("121: payments unchanged");
        rc = sync_latest_payment(s, c->program_id, latest);
        goto done;
    }
    if (!cJSON_IsArray(list)) {
        rc = plat_err_set(ERR_INVALID, "malformed payments from server: not "
                          "a list");
        goto done;
    }
    cJSON_ArrayForEach(p, list) {
        rc = payment_id_of(p, &pid);
        if (rc == PLAT_OK)
            rc = pull_payment(c, p, pid);
        if (rc < 0)
            goto done;
        if (pid > *latest)
            *latest = pid;
    }
    rc = etag_new[0] ? sync_cursor_set(s, PAYMENTS_ETAG,
                                            etag_new)
                     : sync_cursor_delete(s, PAYMENTS_ETAG);

done:
    if (rc == ERR_AUTH && status == 403) {
        log_info("121: user may not read payments of program %d; skipped",
                 c->program_id);
        plat_err_clear();
        rc = PLAT_OK;
        *latest = 0;
    }
    cJSON_Delete(list);
    plat_free(etag);
    return rc;
}

/* ---- vouchers ----------------------------------------------------------- */

/* Fetch and store one image. *stored counts the images stored;
 * *forbidden is set on a 403 (the user lacks the permission). */
static int pull_voucher(struct c121 *c, struct plat_buf *path,
                        const char *ref, int pid, int *stored,
                        int *forbidden)
{
    struct sync_http_response resp;
    int rc;

    plat_buf_reset(path);
    rc = plat_buf_printf(path, "%s/fsps/intersolve-voucher/voucher/"
                         "image-paper?referenceId=", c->prefix);
    if (rc == PLAT_OK)
        rc = sync_http_escape(path, ref);
    if (rc == PLAT_OK)
        rc = plat_buf_printf(path, "&paymentId=%d", pid);
    if (rc < 0)
        return rc;
    rc = sync_http_request(c->http, "GET", path->data, NULL, NULL, 0, NULL,
                           &resp);
    if (rc < 0)
        goto done;
    if (resp.status == 404) {
        log_debug("121: no paper voucher for %s in payment %d", ref, pid);
        goto done;
    }
    if (resp.status == 403) {
        *forbidden = 1;
        goto done;
    }
    if (resp.status < 200 || resp.status > 299) {
        rc = sync_http_response_err(&resp, "121 GET paper voucher");
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "121 GET paper voucher: "
                              "unexpected HTTP %ld", resp.status);
        goto done;
    }
    if (resp.body.len == 0) {
        rc = plat_err_set(ERR_INVALID, "121 GET paper voucher of %s: empty "
                          "image", ref);
        goto done;
    }
    rc = sync_put_voucher(c->ctx, ref, pid, resp.body.data, resp.body.len,
                           resp.content_type);
    if (rc == PLAT_OK)
        (*stored)++;

done:
    sync_http_response_dispose(&resp);
    return rc;
}

static int pull_vouchers(struct c121 *c, int pid)
{
    struct plat_buf path;
    char **refs = NULL;
    size_t n = 0, i;
    int stored = 0, forbidden = 0, rc;

    if (pid <= 0)
        return PLAT_OK;
    rc = sync_vouchers_missing(c->ctx, pid, VOUCHER_FSP, &refs, &n);
    if (rc < 0)
        return rc;
    plat_buf_init(&path, 0);
    for (i = 0; i < n && rc == PLAT_OK && !forbidden; i++) {
        rc = pull_voucher(c, &path, refs[i], pid, &stored, &forbidden);
        if (rc == PLAT_OK && c121_cancelled(c))
            rc = ERR_RETRY;
        if ((i + 1) % 50 == 0)
            c121_progress(c, (int64_t)i + 1, (int64_t)n);
    }
    if (forbidden)
        log_info("121: user may not read paper vouchers; skipped");
    if (n > 0)
        log_info("121: payment %d: %d of %zu missing voucher images stored",
                 pid, stored, n);
    plat_buf_dispose(&path);
    sync_strings_free(refs, n);
    return rc;
}

int c121_pull_payments(struct c121 *c)
{
    int latest = 0, rc;

    rc = pull_list(c, &latest);
    if (rc == PLAT_OK && c->opt->vouchers)
        rc = pull_vouchers(c, latest);
    return rc;
}
