/*
 * kobo_pull_submissions.c - the kobo connector's stream "submissions":
 * rejected entries marked for retry re-read, then the key-set pull
 * (_id > cursor, sorted by _id), one batch per page committed with its
 * cursor, the next page fetched on a thread while this one is imported.
 * See kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "sync_ctx.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Store cache while many pages are imported: each submission's random
 * referenceId (rootUuid) lands on a random page of four indexes, which
 * the default 2 MiB cache read again from disk for every page (8 MiB: 14 %
 * less CPU at 20,000 submissions; 4 MiB kept most of it and the peak
 * RSS at 26 MB instead of 30). */
#define KOBO_BULK_CACHE_KIB 4096

/* One page fetched, parsed and pruned on a thread of its own while the
 * caller imports the previous one: the store work, the server's time and
 * the JSON parsing overlap (the parse was a tenth of the import's CPU on
 * the caller's thread). The HTTP client belongs to the thread from
 * prefetch_start until prefetch_take or prefetch_drop (the caller sends
 * nothing meanwhile and reports no progress). Without a thread the page is
 * fetched in prefetch_take. */
struct prefetch {
    pthread_t th;
    int active;                /* started, not yet taken                */
    int threaded;
    struct sync_ctx *ctx;
    const char *asset;
    const struct kobo_form *form;
    int64_t after;
    int limit;
    struct sync_http_response resp;  /* the raw answer, freed once
                                        parsed                          */
    cJSON *doc, *res;                /* the parsed, pruned page          */
    int64_t count;
    int rc;
    char msg[400];             /* the thread's error message            */
};

static void *prefetch_main(void *arg)
{
    struct prefetch *p = arg;
    char *path = NULL;

    p->rc = kobo_data_path(p->asset, p->after, NULL, 0, p->limit, 0, &path);
    if (p->rc == PLAT_OK)
        p->rc = sync_http_request(sync_ctx_http(p->ctx), "GET", path, NULL,
                                  NULL, 0, NULL, &p->resp);
    plat_free(path);
    p->rc = kobo_decode_json(p->rc, &p->resp, p->asset, "GET data", &p->doc);
    sync_http_response_dispose(&p->resp);
    if (p->rc == PLAT_OK)
        p->rc = kobo_page_results(&p->doc, p->asset, p->form, &p->res,
                                  &p->count);
    if (p->rc != PLAT_OK)
        snprintf(p->msg, sizeof(p->msg), "%s", plat_err_msg());
    return NULL;
}

static void prefetch_start(struct prefetch *p, struct sync_ctx *ctx,
                           const struct kobo_form *f, int64_t after,
                           int limit)
{
    memset(p, 0, sizeof(*p));
    p->ctx = ctx;
    p->asset = f->asset;
    p->form = f;
    p->after = after;
    p->limit = limit;
    p->active = 1;
    p->threaded = pthread_create(&p->th, NULL, prefetch_main, p) == 0;
}

/* The prefetched page (owned by the caller) or the fetch's error. */
static int prefetch_take(struct prefetch *p, cJSON **doc, cJSON **res,
                         int64_t *count)
{
    int rc;

    if (p->threaded)
        pthread_join(p->th, NULL);
    else
        prefetch_main(p);
    p->active = p->threaded = 0;
    *doc = p->doc;
    *res = p->res;
    *count = p->count;
    p->doc = p->res = NULL;
    rc = p->rc;
    if (rc != PLAT_OK)
        plat_err_set(rc, "%s", p->msg);
    return rc;
}

static void prefetch_drop(struct prefetch *p)
{
    if (p->active && p->threaded)
        pthread_join(p->th, NULL);
    if (p->active || p->threaded) {
        sync_http_response_dispose(&p->resp);
        cJSON_Delete(p->doc);
        p->doc = p->res = NULL;
    }
    p->active = p->threaded = 0;
}

/* Entries of the rejected list of form `f` marked for retry, re-read. */
static int pull_retries(struct kobo_state *st, struct sync_ctx *ctx,
                        struct kobo_form *f, const cJSON *program)
{
    int64_t ids[KOBO_IN_CHUNK];
    size_t n = 0;
    cJSON *e;
    int rc = PLAT_OK;

    cJSON_ArrayForEach(e, st->rejected) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "asset");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");

        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "retry")) ||
            !cJSON_IsString(a) || strcmp(a->valuestring, f->asset) != 0 ||
            !cJSON_IsNumber(id))
            continue;
        ids[n++] = (int64_t)id->valuedouble;
        if (n == KOBO_IN_CHUNK)
            break;
    }
    if (!n)
        return PLAT_OK;
    /* unmark those re-read now (one that still fails is noted again,
     * unmarked; the rest of the marked ones come in the next cycle) */
    cJSON_ArrayForEach(e, st->rejected) {
        cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "retry");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "asset");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        size_t i;

        if (!cJSON_IsTrue(r) || !cJSON_IsString(a) || !cJSON_IsNumber(id) ||
            strcmp(a->valuestring, f->asset) != 0)
            continue;
        for (i = 0; i < n && ids[i] != (int64_t)id->valuedouble; i++)
            ;
        if (i < n) {
            cJSON_ReplaceItemViaPointer(e, r, cJSON_CreateFalse());
            st->rej_dirty = 1;
        }
    }
    rc = kobo_reread(st, ctx, f, program, ids, n);
    return rc;
}

int kobo_pull_submissions(struct kobo_state *st, struct sync_ctx *ctx,
                          struct kobo_form *f)
{
    struct kobo_counts c = {0, 0, 0, 0, 0};
    struct prefetch pf;
    cJSON *program = kobo_load_program(ctx, f->program_id), *doc = NULL, *res;
    cJSON *sub;
    char name[128];
    int64_t last = 0, count = -1, total = -1, done = 0, id;
    int rc, old_cache = 0;

    memset(&pf, 0, sizeof(pf));

    if (!program) {
        /* without the program no answer can be checked (dropdown options,
         * numbers, required attributes): 121 would refuse the creates
         * later, out of reach of `agent kobo retry` */
        rc = plat_err_set(ERR_RETRY, "kobo: 121 program %d of form %s is not "
                          "in the store yet: sync 121 first", f->program_id,
                          f->asset);
        goto out;
    }
    snprintf(name, sizeof(name), "%s.last_id", f->asset);
    rc = sync_cursor_get_i64(ctx, name, 0, &last);
    if (rc != PLAT_OK)
        goto out;
    f->fresh = last == 0;
    if ((rc = pull_retries(st, ctx, f, program)) != PLAT_OK)
        goto out;
    rc = kobo_get_page(ctx, f->asset, last, NULL, 0, st->page, 0, f, &doc,
                       &res, &count);
    while (rc == PLAT_OK && res->child) {
        cJSON *tail = cJSON_GetArrayItem(res, cJSON_GetArraySize(res) - 1);
        int64_t page_last = 0;
        int n = 0, more;

        if (total < 0)
            total = count;
        kobo_submission_id(tail, &page_last);
        more = !(count >= 0 && cJSON_GetArraySize(res) >= count) &&
               page_last > last;
        if (more && !old_cache &&
            sync_store_cache_kib(ctx, KOBO_BULK_CACHE_KIB, &old_cache) !=
                PLAT_OK) {
            plat_err_clear();   /* only a hint */
            old_cache = 0;
        }
        if (more)
            prefetch_start(&pf, ctx, f, page_last, st->page);
        if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
            break;
        cJSON_ArrayForEach(sub, res) {
            if (kobo_submission_id(sub, &id) != PLAT_OK) {
                rc = plat_err_set(ERR_INVALID, "kobo: a submission of form "
                                  "%s has no usable _id", f->asset);
                break;
            }
            if (id <= last) {   /* the server ignored the query */
                rc = plat_err_set(ERR_INVALID, "kobo: data of form %s is "
                                  "not in _id order after the cursor",
                                  f->asset);
                break;
            }
            if ((rc = kobo_import_one(st, ctx, f, program, sub, 1, &c)) !=
                PLAT_OK)
                break;
            last = id;
            n++;
        }
        cJSON_Delete(doc);
        doc = NULL;
        if (rc != PLAT_OK) {
            sync_batch_end(ctx, rc);
            break;
        }
        if ((rc = kobo_commit_batch(st, ctx, f, last, &c)) != PLAT_OK)
            break;
        done += n;
        if (!more)
            break;              /* that page held every remaining one */
        rc = prefetch_take(&pf, &doc, &res, &count);
        sync_ctx_progress(ctx, done, total > 0 ? total : 0);
        if (rc == PLAT_OK && sync_ctx_cancelled(ctx))
            rc = ERR_RETRY;
    }
    prefetch_drop(&pf);
    if (rc == PLAT_OK) {
        char now[40];

        plat_time_iso(plat_time_wall_ms(), now);
        snprintf(name, sizeof(name), "%s.last_sync", f->asset);
        rc = sync_state_set(ctx, name, now);
    }
out:
    if (old_cache > 0)
        sync_store_cache_kib(ctx, old_cache, NULL);
    cJSON_Delete(doc);
    cJSON_Delete(program);
    return rc;
}
