/*
 * push_creates.c - registrations made on the device go to 121 as batches
 * of POST /registrations (contract 3.2: a JSON array, all or nothing).
 *
 * A create must never be duplicated and never fail forever. 121 refuses a
 * referenceId it has (in any program, even deleted) and the device makes
 * the referenceIds, so a create whose answer was lost is recognised: the
 * batch is marked inflight before it is sent, and whenever the outcome is
 * unknown (5xx, network, a crash) the agent asks 121 which referenceIds it
 * has before sending again. A 400 names the rows it refuses: rows that
 * "already exist" are checked the same way, rows with validation errors
 * are rejected with the server's message, and the rest is sent again.
 *
 * Afterwards the new server copies are fetched so the registrations get
 * their 121 ids: with filter.id=$gt:<largest id known> (one cheap request
 * on the real server) when the store has pulled before, else by
 * referenceId.
 */
#include "c121_push.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_http.h"

#include <stdio.h>
#include <string.h>

#define CREATE_BATCH_DEFAULT 500
#define NEW_PAGE 1000          /* rows per page when fetching new rows */

struct creates {
    struct c121 *c;
    int use_gt;                /* fetch new rows by filter.id=$gt:    */
    int64_t cursor;            /* ... above this id                   */
    int by_ref;                /* ask by referenceId instead          */
    int64_t done, rejected;
    const char **created;      /* refs answered 201, for the id fetch */
    size_t n_created, cap_created;
};

/* ---- finding what the server has ---------------------------------------- */

static int has_copy(struct c121 *c, const char *ref)
{
    cJSON *server = NULL;
    int rc = sync_get_registration(c->ctx, ref, &server);

    cJSON_Delete(server);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return 0;
    }
    return rc == PLAT_OK ? 1 : rc;
}

/* Store one page of GET /registrations; *count_out rows, *last_id the
 * largest id on it. */
static int put_page(struct creates *k, const struct sync_http_response *r,
                    size_t limit, int *count_out, int64_t *last_id)
{
    cJSON *root = NULL;
    const cJSON *data, *row, *id;
    int64_t idv;
    int rc;

    *count_out = 0;
    if (c121_json_has_nul(r->body.data ? r->body.data : "", r->body.len))
        return plat_err_set(ERR_INVALID, "121 sent a registration with a "
                            "NUL character (\\u0000) in a string; nothing "
                            "of it stored");
    root = cJSON_ParseWithLength(r->body.data ? r->body.data : "",
                                 r->body.len);
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) {
        rc = plat_err_set(ERR_INVALID, "121 GET registrations: the answer "
                          "has no data array");
        goto done;
    }
    if ((size_t)cJSON_GetArraySize(data) > limit) {
        rc = plat_err_set(ERR_INVALID, "121 sent more registrations than "
                          "asked (over limit=%zu)", limit);
        goto done;
    }
    cJSON_ArrayForEach(row, data) {
        id = cJSON_GetObjectItemCaseSensitive(row, "id");
        if (c121_json_int(id, 1, C121_ID_MAX, &idv) && idv > *last_id)
            *last_id = idv;
        (*count_out)++;
    }
    rc = sync_put_registrations(k->c->ctx, data);
    if (rc == PLAT_OK)
        c121_count(k->c, SYNC_COUNT_PULLED, *count_out);

done:
    cJSON_Delete(root);
    return rc;
}

/* Refs of refs[0..n) without a server copy, into `missing`; *m their
 * number. */
static int missing_refs(struct c121 *c, const char *const *refs, size_t n,
                        const char **missing, size_t *m)
{
    size_t i;
    int h;

    *m = 0;
    for (i = 0; i < n; i++) {
        h = has_copy(c, refs[i]);
        if (h < 0)
            return h;
        if (!h)
            missing[(*m)++] = refs[i];
    }
    return PLAT_OK;
}

static int get_page(struct creates *k, const char *path, size_t limit,
                    int *count, int64_t *last_id)
{
    struct sync_http_response r;
    int rc;

    *count = 0;
    rc = sync_http_request(k->c->http, "GET", path, NULL, NULL, 0, NULL, &r);
    if (rc == PLAT_OK)
        rc = sync_http_response_err(&r, "121 GET new registrations");
    if (rc == PLAT_OK)
        rc = sync_http_check_json(&r, "121 GET new registrations");
    if (rc == PLAT_OK)
        rc = put_page(k, &r, limit, count, last_id);
    sync_http_response_dispose(&r);
    return rc;
}

/* Fetch the newest rows until every ref of refs[] has a server copy:
 * ids only grow, so rows made by our POSTs are the newest. With a known
 * largest id, page up from it (filter.id=$gt: is cheap on 121); without
 * one, one page of the newest rows (sortBy=id:DESC). Refs still missing
 * (none of the newest rows: e.g. a referenceId that exists outside this
 * program) are asked for by referenceId. */
static int fetch_newer(struct creates *k, const char *const *refs, size_t n)
{
    struct c121 *c = k->c;
    const char **missing = NULL;
    unsigned char *found = NULL;
    char path[256];
    int64_t top = 0;
    size_t m = 0;
    int rc, count;

    missing = plat_malloc((n ? n : 1) * sizeof(*missing));
    if (!missing)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = missing_refs(c, refs, n, missing, &m);
    while (rc == PLAT_OK && m > 0 && k->use_gt) {
        snprintf(path, sizeof(path),
                 "%s/registrations?filter.id=$gt:%lld&sortBy=id:ASC"
                 "&limit=%d",
                 c->prefix, (long long)k->cursor, NEW_PAGE);
        rc = get_page(k, path, NEW_PAGE, &count, &k->cursor);
        if (rc == PLAT_OK)
            rc = missing_refs(c, refs, n, missing, &m);
        if (count < NEW_PAGE)
            break; /* the end: the rest is not in this program */
    }
    if (rc == PLAT_OK && m > 0 && !k->use_gt) {
        size_t lim = m + 100 < NEW_PAGE * 5 ? m + 100 : (size_t)NEW_PAGE * 5;

        snprintf(path, sizeof(path),
                 "%s/registrations?sortBy=id:DESC&limit=%zu", c->prefix, lim);
        rc = get_page(k, path, lim, &count, &top);
        if (rc == PLAT_OK)
            rc = missing_refs(c, refs, n, missing, &m);
        if (rc == PLAT_OK && m > 0) {
            found = plat_calloc(m, 1);
            rc = found ? c121_fetch_by_refs(c, missing, m, found)
                       : plat_err_set(ERR_NOMEM, "out of memory");
        }
    }
    plat_free(missing);
    plat_free(found);
    return rc;
}

/* found[i] = 1 for each refs[i] 121 has (its server copy is then stored).
 * Only refs without a server copy are asked for. */
static int find_on_server(struct creates *k, const char *const *refs,
                          size_t n, unsigned char *found)
{
    const char **missing = NULL;
    unsigned char *mfound = NULL;
    size_t i, m = 0;
    int rc, h;

    if (n == 0)
        return PLAT_OK;
    missing = plat_malloc(n * sizeof(*missing));
    mfound = plat_calloc(n, 1);
    if (!missing || !mfound) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = missing_refs(k->c, refs, n, missing, &m);
    if (rc == PLAT_OK && m > 0)
        rc = k->by_ref ? c121_fetch_by_refs(k->c, missing, m, mfound)
                       : fetch_newer(k, missing, m);
    /* The store is the judge either way: a ref is there if its server
     * copy is. */
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        h = has_copy(k->c, refs[i]);
        if (h < 0)
            rc = h;
        else
            found[i] = (unsigned char)h;
    }

done:
    plat_free(missing);
    plat_free(mfound);
    return rc;
}

/* ---- entry states ------------------------------------------------------- */

static int set_state(struct creates *k, struct sync_op *e, int state,
                     const char *msg)
{
    int rc = sync_op_settle(k->c->ctx, e->seq, e->ref, state, msg);

    if (rc == PLAT_OK) {
        e->state = state;
        if (state == SYNC_OP_DONE)
            k->done++;
        else if (state == SYNC_OP_REJECTED)
            k->rejected++;
    }
    return rc;
}

/* Move each of es->v[ix[0..n)] to `state`, in one transaction. */
static int set_states(struct creates *k, struct sync_ops *es,
                      const size_t *ix, size_t n, int state,
                      const char *msg)
{
    size_t i;
    int rc;

    if (n == 0)
        return PLAT_OK;
    rc = sync_batch_begin(k->c->ctx);
    for (i = 0; rc == PLAT_OK && i < n; i++)
        rc = set_state(k, &es->v[ix[i]], state, msg);
    return sync_batch_end(k->c->ctx, rc);
}

static int remember_created(struct creates *k, const char *ref)
{
    const char **grown;
    char *copy;
    size_t cap;

    if (k->n_created == k->cap_created) {
        cap = k->cap_created ? k->cap_created * 2 : 256;
        grown = plat_realloc(k->created, cap * sizeof(*grown));
        if (!grown)
            return plat_err_set(ERR_NOMEM, "out of memory");
        k->created = grown;
        k->cap_created = cap;
    }
    copy = plat_strdup(ref);
    if (!copy)
        return plat_err_set(ERR_NOMEM, "out of memory");
    k->created[k->n_created++] = copy;
    return PLAT_OK;
}

/* The outcome of es->v[ix[0..n)] is unknown: ask 121. Those it has are
 * done, the others `left_state`. */
static int settle_unknown(struct creates *k, struct sync_ops *es,
                          const size_t *ix, size_t n, int left_state,
                          size_t *left_ix, size_t *n_left)
{
    const char **refs = NULL;
    unsigned char *found = NULL;
    size_t i;
    int rc;

    *n_left = 0;
    refs = plat_calloc(n ? n : 1, sizeof(*refs));
    found = plat_calloc(n ? n : 1, 1);
    if (!refs || !found) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < n; i++)
        refs[i] = es->v[ix[i]].ref;
    rc = find_on_server(k, refs, n, found);
    if (rc < 0)
        goto done;
    rc = sync_batch_begin(k->c->ctx);
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        if (found[i])
            rc = set_state(k, &es->v[ix[i]], SYNC_OP_DONE, NULL);
        else {
            left_ix[(*n_left)++] = ix[i];
            if (es->v[ix[i]].state != left_state)
                rc = set_state(k, &es->v[ix[i]], left_state, NULL);
        }
    }
    rc = sync_batch_end(k->c->ctx, rc);

done:
    plat_free(refs);
    plat_free(found);
    return rc;
}

/* ---- one batch ---------------------------------------------------------- */

static int send_batch(struct creates *k, struct sync_ops *es,
                      size_t *ix, size_t n);

/* A 5xx or an unreadable answer: whatever 121 did is unknown. Ask, then
 * send the rest in halves so that one row that upsets the server cannot
 * hold back the others. */
static int after_unknown(struct creates *k, struct sync_ops *es,
                         size_t *ix, size_t n, int send_rc)
{
    size_t n_left = 0, half;
    size_t *left = plat_malloc((n ? n : 1) * sizeof(*left));
    int rc, rc2;

    if (!left)
        return plat_err_set(ERR_NOMEM, "out of memory");
    /* If this fails (121 unreachable), they stay inflight and the next
     * push asks first. */
    rc = settle_unknown(k, es, ix, n, SYNC_OP_PENDING, left, &n_left);
    if (rc < 0 || n_left == 0)
        goto done;
    if (send_rc == ERR_RETRY || send_rc == ERR_AUTH) {
        rc = send_rc;
        goto done;
    }
    if (n_left == 1) {
        log_warn("121 push: create of %s failed on the server; it stays "
                 "pending", es->v[left[0]].ref);
        rc = send_rc;
        goto done;
    }
    half = n_left / 2;
    rc = send_batch(k, es, left, half);
    if (rc == ERR_RETRY || rc == ERR_AUTH)
        goto done;
    rc2 = send_batch(k, es, left + half, n_left - half);
    rc = rc2 < 0 ? rc2 : rc;

done:
    plat_free(left);
    return rc;
}

/* The entries es->v[ix[0..n)] of one batch, its rows in order. */
struct batch_rows {
    const struct sync_ops *es;
    const size_t *ix;
};

static const char *batch_row_ref(const void *rows, size_t i)
{
    const struct batch_rows *r = rows;

    return r->es->v[r->ix[i]].ref;
}

/* A 400 with an array of row errors. Rows "already exist": ask 121 which
 * it has (done) - the others exist outside this program or were deleted
 * (rejected). Rows with other errors: rejected. The rest goes again. */
static int after_400(struct creates *k, struct sync_ops *es, size_t *ix,
                     size_t n, cJSON *arr, const char *whole_msg)
{
    struct batch_rows rows = {es, ix};
    unsigned char *flag = NULL;   /* 1 exists, 2 error */
    size_t *exists = NULL, *rest = NULL, *left = NULL;
    size_t i, n_exists = 0, n_rest = 0, n_left = 0, mapped = 0;
    char msg[C121_MSG_MAX];
    cJSON *e;
    long row;
    int rc = PLAT_OK;

    flag = plat_calloc(n, 1);
    exists = plat_malloc(n * sizeof(*exists));
    rest = plat_malloc(n * sizeof(*rest));
    left = plat_malloc(n * sizeof(*left));
    if (!flag || !exists || !rest || !left) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    cJSON_ArrayForEach(e, arr) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(e, "error");

        row = c121_entry_row(e, n, batch_row_ref, &rows);
        if (row < 0)
            continue;
        mapped++;
        cJSON_AddNumberToObject(e, "_row", (double)row);
        if (cJSON_IsString(err) && strstr(err->valuestring, "already exists"))
            flag[row] = 1;
        else if (flag[row] == 0)
            flag[row] = 2;
    }
    if (mapped == 0) {
        /* Nothing names a row: the batch as a whole is refused. */
        rc = set_states(k, es, ix, n, SYNC_OP_REJECTED, whole_msg);
        goto done;
    }
    rc = sync_batch_begin(k->c->ctx);
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        if (flag[i] == 1) {
            exists[n_exists++] = ix[i];
        } else if (flag[i] == 2) {
            c121_row_message(arr, (long)i, msg, sizeof(msg));
            rc = set_state(k, &es->v[ix[i]], SYNC_OP_REJECTED,
                           msg[0] ? msg : whole_msg);
        } else {
            rest[n_rest++] = ix[i];
        }
    }
    rc = sync_batch_end(k->c->ctx, rc);
    if (rc < 0)
        goto done;
    if (n_exists) {
        rc = settle_unknown(k, es, exists, n_exists, SYNC_OP_INFLIGHT, left,
                            &n_left);
        if (rc < 0)
            goto done;
        if (n_left) {
            /* 121 has the referenceId, but not in this program: another
             * program's, or deleted. Sending again would fail forever. */
            rc = sync_batch_begin(k->c->ctx);
            for (i = 0; rc == PLAT_OK && i < n_left; i++) {
                snprintf(msg, sizeof(msg),
                         "referenceId %s already exists on 121 outside "
                         "this program (another program, or deleted)",
                         es->v[left[i]].ref);
                rc = set_state(k, &es->v[left[i]], SYNC_OP_REJECTED, msg);
            }
            rc = sync_batch_end(k->c->ctx, rc);
            if (rc < 0)
                goto done;
        }
    }
    if (n_rest)
        rc = send_batch(k, es, rest, n_rest);

done:
    plat_free(flag);
    plat_free(exists);
    plat_free(rest);
    plat_free(left);
    return rc;
}

/* POST es->v[ix[0..n)]; every outcome settles each entry or leaves it
 * pending/inflight for the next cycle. `ix` may be reordered. */
static int send_batch(struct creates *k, struct sync_ops *es,
                      size_t *ix, size_t n)
{
    struct c121 *c = k->c;
    struct sync_http_response r;
    struct plat_buf body;
    char path[96], msg[C121_MSG_MAX];
    cJSON *parsed = NULL;
    size_t i;
    int rc;

    memset(&r, 0, sizeof(r));
    plat_buf_init(&body, 0);
    if (n == 0)
        return PLAT_OK;
    /* Inflight first: if the agent dies while the request is out, the
     * next push asks 121 before sending these again. */
    rc = set_states(k, es, ix, n, SYNC_OP_INFLIGHT, NULL);
    if (rc < 0)
        return rc;
    rc = plat_buf_puts(&body, "[");
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        if (i)
            rc = plat_buf_puts(&body, ",");
        if (rc == PLAT_OK)
            rc = plat_buf_puts(&body, es->v[ix[i]].payload_text);
    }
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&body, "]");
    if (rc < 0)
        goto done;
    snprintf(path, sizeof(path), "%s/registrations", c->prefix);
    rc = sync_http_request(c->http, "POST", path, "application/json",
                           body.data, body.len, NULL, &r);
    if (rc == PLAT_OK && r.status == 201) {
        rc = set_states(k, es, ix, n, SYNC_OP_DONE, NULL);
        for (i = 0; rc == PLAT_OK && i < n; i++)
            rc = remember_created(k, es->v[ix[i]].ref);
        goto done;
    }
    if (rc == PLAT_OK && r.status == 400) {
        c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
        parsed = cJSON_ParseWithLength(r.body.data ? r.body.data : "",
                                       r.body.len);
        if (cJSON_IsArray(parsed)) {
            rc = after_400(k, es, ix, n, parsed, msg);
        } else {
            /* {"message":"Duplicate referenceIds in import set"} (the
             * store refuses those) or another whole-batch refusal. */
            rc = set_states(k, es, ix, n, SYNC_OP_REJECTED, msg);
        }
        goto done;
    }
    if (rc == PLAT_OK && r.status == 413 && n > 1) {
        rc = set_states(k, es, ix, n, SYNC_OP_PENDING, NULL);
        if (rc == PLAT_OK)
            rc = send_batch(k, es, ix, n / 2);
        if (rc == PLAT_OK)
            rc = send_batch(k, es, ix + n / 2, n - n / 2);
        goto done;
    }
    if (rc == PLAT_OK && (r.status == 401 || r.status == 403 ||
                          (r.status >= 404 && r.status < 500))) {
        /* Not about the rows (permission, program, size): nothing was
         * stored; they wait for the next cycle. */
        int http_rc = sync_http_response_err(&r, "121 POST registrations");
        char saved[256];

        snprintf(saved, sizeof(saved), "%s", plat_err_msg());
        rc = set_states(k, es, ix, n, r.status == 413 ? SYNC_OP_REJECTED : SYNC_OP_PENDING,
                        r.status == 413 ? saved : NULL);
        if (rc == PLAT_OK && r.status != 413)
            rc = plat_err_set(http_rc, "%s", saved);
        goto done;
    }
    /* 5xx, an unexpected answer, or no answer: unknown outcome. */
    if (rc == PLAT_OK)
        rc = sync_http_response_err(&r, "121 POST registrations");
    if (rc == PLAT_OK)
        rc = plat_err_set(ERR_INVALID, "121 POST registrations: unexpected "
                          "HTTP %ld", r.status);
    {
        int send_rc = rc;
        char saved[256];

        snprintf(saved, sizeof(saved), "%s", plat_err_msg());
        rc = after_unknown(k, es, ix, n, send_rc);
        if (rc == send_rc)
            plat_err_set(rc, "%s", saved);
    }

done:
    cJSON_Delete(parsed);
    plat_buf_dispose(&body);
    sync_http_response_dispose(&r);
    return rc;
}

/* ---- the phase ---------------------------------------------------------- */

/* Creates left inflight (an interrupted push, or unknown outcome): done if
 * 121 has them, else pending again. */
static int recover_inflight(struct creates *k)
{
    struct sync_ops es = {0};
    size_t *ix = NULL, *left = NULL, i, n_left;
    int rc;

    rc = c121_ops_load(k->c, SYNC_OP_CREATE, SYNC_OP_INFLIGHT, 0, 0, &es);
    if (rc < 0 || es.n == 0)
        goto done;
    ix = plat_malloc(es.n * sizeof(*ix));
    left = plat_malloc(es.n * sizeof(*left));
    if (!ix || !left) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < es.n; i++)
        ix[i] = i;
    /* They may have landed before the ids the store knows: ask by
     * referenceId. */
    k->by_ref = 1;
    rc = settle_unknown(k, &es, ix, es.n, SYNC_OP_PENDING, left, &n_left);
    k->by_ref = 0;
    if (rc == PLAT_OK)
        log_info("121 push: %zu interrupted creates checked, %zu to send "
                 "again", es.n, n_left);

done:
    plat_free(ix);
    plat_free(left);
    sync_ops_free(&es);
    return rc;
}

int c121_push_creates(struct c121 *c)
{
    struct creates k;
    struct sync_ops es = {0};
    unsigned char *found = NULL;
    size_t *ix = NULL, i, n;
    int64_t after = 0, max_id = 0;
    int batch, rc, first_err = PLAT_OK;
    char saved[256] = "";

    memset(&k, 0, sizeof(k));
    k.c = c;
    batch = c->opt->create_batch > 0 ? c->opt->create_batch
                                     : CREATE_BATCH_DEFAULT;
    rc = sync_max_server_id(c->ctx, c->program_id, &max_id);
    if (rc < 0)
        return rc;
    /* Ids only grow, so our new rows are above every id pulled so far. */
    k.use_gt = max_id > 0;
    k.cursor = max_id;

    rc = recover_inflight(&k);
    if (rc < 0)
        goto done;

    for (;;) {
        sync_ops_free(&es);
        rc = c121_ops_load(c, SYNC_OP_CREATE, SYNC_OP_PENDING, after, batch, &es);
        if (rc < 0 || es.n == 0)
            break;
        after = es.v[es.n - 1].seq;
        plat_free(ix);
        ix = plat_malloc(es.n * sizeof(*ix));
        if (!ix) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            break;
        }
        /* A registration 121 has shown us already (the pull found the
         * row of an earlier attempt whose answer was lost) is done. */
        n = 0;
        rc = sync_batch_begin(c->ctx);
        for (i = 0; rc == PLAT_OK && i < es.n; i++) {
            int h = has_copy(c, es.v[i].ref);
            if (h < 0)
                rc = h;
            else if (h)
                rc = set_state(&k, &es.v[i], SYNC_OP_DONE, NULL);
            else
                ix[n++] = i;
        }
        rc = sync_batch_end(c->ctx, rc);
        if (rc == PLAT_OK)
            rc = send_batch(&k, &es, ix, n);
        if (rc == ERR_RETRY || rc == ERR_AUTH || rc == ERR_NOMEM ||
            rc == ERR_IO || rc == ERR_CORRUPT)
            goto done;
        if (rc < 0 && first_err == PLAT_OK) {
            /* One batch failed on the server: the next ones may not. */
            first_err = rc;
            snprintf(saved, sizeof(saved), "%s", plat_err_msg());
        }
        rc = PLAT_OK;
    }
    if (rc < 0)
        goto done;

    /* Fetch the new server copies (with their 121 ids). */
    if (k.n_created) {
        found = plat_calloc(k.n_created, 1);
        if (!found) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = find_on_server(&k, k.created, k.n_created, found);
    }

done:
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    if (k.done || k.rejected)
        log_info("121 push: %lld creates done, %lld rejected",
                 (long long)k.done, (long long)k.rejected);
    for (i = 0; i < k.n_created; i++)
        plat_free((void *)k.created[i]);
    plat_free(k.created);
    plat_free(found);
    plat_free(ix);
    sync_ops_free(&es);
    if (rc == PLAT_OK && first_err < 0)
        rc = plat_err_set(first_err, "%s", saved);
    return rc;
}
