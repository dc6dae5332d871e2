/*
 * espo_deleted.c - the espocrm connector's stream "deletions": every
 * reconcile_hours an id-only walk of the entity; a linked record it does
 * not show and a GET confirms gone is marked deleted, reported, and with
 * deleted = status its 121 registration gets the status change to
 * deleted. See espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_time.h"
#include "sync_ctx.h"
#include "sync_engine.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every id EspoCRM shows, sorted (select=id, paged by offset). */
static int walk_ids(struct espo_state *st, char ***out, size_t *n_out)
{
    struct sync_http_response resp;
    struct plat_buf q;
    char **v = NULL, **nv;
    size_t n = 0, cap = 0;
    int64_t off = 0;
    const cJSON *list, *rec;
    cJSON *doc;
    int rc = PLAT_OK, got;

    memset(&resp, 0, sizeof(resp));
    for (;;) {
        if (sync_ctx_cancelled(st->ctx)) {
            rc = ERR_RETRY;
            break;
        }
        plat_buf_init(&q, 0);
        rc = plat_buf_printf(&q, "/api/v1/%s?maxSize=%d&offset=%" PRId64
                             "&orderBy=id&order=asc&select=id", st->entity,
                             st->page, off);
        if ((rc = espo_get_list(st, rc, &q, &resp)) != PLAT_OK)
            break;
        if (resp.status < 200 || resp.status > 299) {
            rc = espo_answer_err(&resp, "list record ids");
            break;
        }
        doc = espo_parse_body(&resp);
        sync_http_response_dispose(&resp);
        list = cJSON_GetObjectItemCaseSensitive(doc, "list");
        if (!cJSON_IsArray(list)) {
            cJSON_Delete(doc);
            rc = plat_err_set(ERR_INVALID, "EspoCRM id list: no \"list\" "
                              "array in the answer");
            break;
        }
        got = 0;
        cJSON_ArrayForEach(rec, list) {
            const char *id = espo_str_of(rec, "id");
            got++;
            if (!id)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                nv = plat_realloc(v, cap * sizeof(*v));
                if (!nv) {
                    rc = plat_err_set(ERR_NOMEM, "out of memory");
                    break;
                }
                v = nv;
            }
            if (!(v[n] = plat_strdup(id))) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                break;
            }
            n++;
        }
        cJSON_Delete(doc);
        if (rc != PLAT_OK || got < st->page)
            break;
        off += got;
    }
    sync_http_response_dispose(&resp);
    if (rc == PLAT_OK && n)
        qsort(v, n, sizeof(*v), espo_cmp_str);
    if (rc != PLAT_OK) {
        sync_strings_free(v, n);
        v = NULL;
        n = 0;
    }
    *out = v;
    *n_out = n;
    return rc;
}

/* deleted = status: the 121 registration of a record deleted in EspoCRM
 * gets the status change to "deleted", queued like any other (the 121
 * connector sends it with its dry run first). Already deleted or not in
 * the store: nothing to queue. Joins the open batch. */
int espo_queue_deleted(struct espo_state *st, const char *id,
                       const char *ref)
{
    char msg[300];
    int rc;

    if (!st->status_deleted)
        return PLAT_OK;
    rc = sync_queue_status(st->ctx, "121", ref, "deleted",
                           "record deleted in EspoCRM");
    if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc == PLAT_OK) {
        snprintf(msg, sizeof(msg), "%s %s (%s): 121 status change to "
                 "deleted queued", st->entity, id, ref);
        rc = espo_note(st->ctx, "deleted", msg);
    }
    return rc;
}

/* Stream "deletions": every reconcile_hours (device clock: scheduling
 * only), an id-only walk; a linked record it does not show, and that a
 * GET confirms gone (404), is marked deleted and reported. */
int espo_reconcile(struct espo_state *st, struct sync_ctx *ctx)
{
    const struct sync_engine_options *opt = sync_ctx_options(ctx);
    struct sync_http_response resp;
    struct links links;
    struct espo_seen seen;
    char **ids = NULL, *last = NULL, *text, path[400], msg[300], now[24];
    size_t n_ids = 0, i;
    int64_t now_ms = plat_time_wall_ms(), gone = 0;
    int rc, open = 0;

    if (!st->report_deleted)
        return PLAT_OK;
    if (sync_state_get(ctx, "reconcile.last_ms", &last) == PLAT_OK &&
        !(opt && opt->full) && st->reconcile_h > 0 &&
        now_ms - strtoll(last, NULL, 10) <
            (int64_t)st->reconcile_h * 3600000) {
        plat_free(last);
        return PLAT_OK;
    }
    plat_free(last);
    plat_err_clear();
    memset(&links, 0, sizeof(links));
    memset(&seen, 0, sizeof(seen));
    memset(&resp, 0, sizeof(resp));
    if ((rc = walk_ids(st, &ids, &n_ids)) != PLAT_OK ||
        (rc = sync_remote_ids_list(ctx, ESPO_KIND, espo_links_collect,
                                   &links)) != PLAT_OK)
        goto out;
    for (i = 0; i < links.n; i++) {
        const struct link *l = &links.v[i];

        if (espo_id_in((const char *const *)ids, n_ids, l->id))
            continue;
        espo_seen_dispose(&seen);
        if ((rc = espo_seen_parse(l->ver, &seen)) != PLAT_OK)
            goto out;
        if (seen.deleted)
            continue;
        /* confirm: a record created or moved during the walk is not gone */
        snprintf(path, sizeof(path), "/api/v1/%s/%s?select=id", st->entity,
                 l->id);
        rc = espo_request(st, "GET", path, NULL, NULL, NULL, &resp);
        if (rc != PLAT_OK)
            goto out;
        if (resp.status != 404) {
            if (resp.status == 401 || resp.status == 403) {
                rc = espo_answer_err(&resp, "read record");
                goto out;
            }
            sync_http_response_dispose(&resp);
            continue;
        }
        sync_http_response_dispose(&resp);
        if (!open) {
            if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
                goto out;
            open = 1;
        }
        seen.deleted = 1;
        text = espo_seen_format(&seen);
        if (!text) {
            rc = ERR_NOMEM;
            goto out;
        }
        rc = sync_remote_id_put(ctx, ESPO_KIND, l->id, l->ref, text);
        plat_free(text);
        snprintf(msg, sizeof(msg), "%s %s (%s): deleted in EspoCRM",
                 st->entity, l->id, l->ref);
        if (rc == PLAT_OK)
            rc = espo_note(ctx, "deleted", msg);
        if (rc == PLAT_OK)
            rc = espo_queue_deleted(st, l->id, l->ref);
        if (rc != PLAT_OK)
            goto out;
        gone++;
    }
    if (open) {
        open = 0;
        if ((rc = sync_batch_end(ctx, PLAT_OK)) != PLAT_OK)
            goto out;
    }
    sync_ctx_count(ctx, SYNC_COUNT_GONE, gone);
    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    rc = sync_state_set(ctx, "reconcile.last_ms", now);
out:
    if (open)
        sync_batch_end(ctx, rc);
    sync_http_response_dispose(&resp);
    espo_seen_dispose(&seen);
    espo_links_free(&links);
    sync_strings_free(ids, n_ids);
    return rc;
}
