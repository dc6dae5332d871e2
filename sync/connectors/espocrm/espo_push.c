/*
 * espo_push.c - the espocrm connector's 121 -> EspoCRM direction (push
 * kind "edit"): for every linked record, the mapped fields whose 121
 * server copy differs from what EspoCRM last showed, written with one
 * partial PUT (X-Version-Number when known; a 409 "modified" turns
 * EspoCRM's newer values into 121 edits). See espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Begin a batch unless one is open (*open): ERR_RETRY (no message) when
 * the sync is cancelled; else *open = 1, *in_batch = 0. */
int espo_batch_open(struct sync_ctx *ctx, int *open, size_t *in_batch)
{
    int rc;

    if (*open)
        return PLAT_OK;
    if (sync_ctx_cancelled(ctx))
        return ERR_RETRY;
    if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
        return rc;
    *open = 1;
    *in_batch = 0;
    return PLAT_OK;
}

/* A 409 "modified": EspoCRM changed the attributes in body.values since we
 * read them. Those become EspoCRM changes for 121 (base: what we saw),
 * so 121's three-way check shows the conflict with both values; they
 * leave `put`. */
static int take_modified(struct espo_state *st, const char *id,
                         const char *ref, struct espo_seen *seen, cJSON *put,
                         const cJSON *body, int64_t *queued)
{
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(body, "values"), *c;
    cJSON *changes = cJSON_CreateObject(), *base = cJSON_CreateObject();
    int64_t v = espo_num_of(body, "versionNumber");
    size_t i;
    int rc = changes && base ? PLAT_OK
                             : plat_err_set(ERR_NOMEM, "out of memory");

    for (c = vals ? vals->child : NULL; rc == PLAT_OK && c; c = c->next) {
        for (i = 0; i < st->map.n; i++) {
            const struct espo_field *f = &st->map.v[i];
            if (strcmp(f->espo, c->string) != 0)
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(put, f->espo);
            if (f->dir != ESPO_DIR_FROM_121) {
                rc = espo_put_json(changes, f->f121, espo_to_121(f, c));
                if (rc == PLAT_OK)
                    rc = espo_put_json(base, f->f121, espo_to_121(
                        f, cJSON_GetObjectItemCaseSensitive(seen->e,
                                                            f->espo)));
            }
            if (rc == PLAT_OK)
                rc = espo_put_json(seen->e, f->espo, cJSON_Duplicate(c, 1));
            break;
        }
    }
    if (v >= 0)
        seen->v = v;
    if (rc == PLAT_OK)
        rc = espo_queue_for_121(st, id, ref, changes, base, seen, queued);
    cJSON_Delete(changes);
    cJSON_Delete(base);
    return rc;
}

/* Write `put` to record `id` (partial PUT, X-Version-Number when known);
 * one more try after a 409 "modified" with what is left. *wrote: 1 done,
 * 0 nothing to write, -1 rejected (noted). */
static int write_record(struct espo_state *st, const struct link *l,
                        struct espo_seen *seen, cJSON *put, int *wrote)
{
    struct sync_http_response resp;
    char path[400], vh[48], msg[300];
    char *body = NULL;
    cJSON *ans = NULL;
    int64_t queued = 0;
    int rc = PLAT_OK, attempt;

    *wrote = 0;
    memset(&resp, 0, sizeof(resp));
    snprintf(path, sizeof(path), "/api/v1/%s/%s", st->entity, l->id);
    for (attempt = 0; attempt < 2 && put->child; attempt++) {
        body = cJSON_PrintUnformatted(put);
        if (!body)
            return plat_err_set(ERR_NOMEM, "out of memory");
        if (seen->v >= 0)
            snprintf(vh, sizeof(vh), "X-Version-Number: %" PRId64, seen->v);
        rc = espo_request(st, "PUT", path, body,
                          seen->v >= 0 ? vh : NULL, NULL, &resp);
        cJSON_free(body);
        body = NULL;
        if (rc != PLAT_OK)
            break;
        ans = espo_parse_body(&resp);
        if (resp.status >= 200 && resp.status <= 299) {
            rc = espo_seen_after_write(seen, put, ans);
            *wrote = rc == PLAT_OK;
            break;
        }
        if (resp.status == 409 &&
            strcasecmp(resp.status_reason, "modified") == 0) {
            rc = take_modified(st, l->id, l->ref, seen, put, ans, &queued);
            cJSON_Delete(ans);
            ans = NULL;
            sync_http_response_dispose(&resp);
            if (rc != PLAT_OK)
                break;
            continue;
        }
        if (resp.status == 404) {
            /* deleted in EspoCRM (soft deletes answer 404) */
            seen->deleted = 1;
            sync_ctx_count(st->ctx, SYNC_COUNT_GONE, 1);
            snprintf(msg, sizeof(msg), "%s %s (%s): not found in EspoCRM "
                     "(deleted)", st->entity, l->id, l->ref);
            rc = espo_note(st->ctx, "deleted", msg);
            if (rc == PLAT_OK)        /* inside the push's batch */
                rc = espo_queue_deleted(st, l->id, l->ref);
            *wrote = -1;
            break;
        }
        if (resp.status == 400 || resp.status == 409) {
            /* this record alone is refused */
            snprintf(msg, sizeof(msg), "%s %s (%s): HTTP %ld: %s",
                     st->entity, l->id, l->ref, resp.status,
                     resp.status_reason[0] ? resp.status_reason
                                           : "refused");
            sync_ctx_count(st->ctx, SYNC_COUNT_REJECTED, 1);
            rc = espo_note(st->ctx, "push.rejected", msg);
            *wrote = -1;
            break;
        }
        rc = espo_answer_err(&resp, "update record");
        break;
    }
    cJSON_Delete(ans);
    sync_http_response_dispose(&resp);
    return rc;
}

int espo_push(void *state, struct sync_ctx *ctx, const char *kind)
{
    struct espo_state *st = state;
    struct links links;
    struct espo_seen seen;
    char *text = NULL;
    cJSON *put = NULL;
    size_t i, in_batch = 0;
    int rc, open = 0, changed, wrote;

    if (strcmp(kind, "edit") != 0)
        return PLAT_OK;
    memset(&links, 0, sizeof(links));
    memset(&seen, 0, sizeof(seen));
    rc = sync_remote_ids_list(ctx, ESPO_KIND, espo_links_collect, &links);
    for (i = 0; rc == PLAT_OK && i < links.n; i++) {
        const struct link *l = &links.v[i];

        if ((rc = espo_batch_open(ctx, &open, &in_batch)) != PLAT_OK)
            break;
        if ((rc = espo_record_start(l->ver, &seen, &put)) != PLAT_OK)
            break;
        if (seen.deleted)            /* gone from EspoCRM: nothing to do */
            continue;
        if ((rc = espo_diff_record(st, l->ref, &seen, put, &changed)) !=
            PLAT_OK)
            break;
        wrote = 0;
        if (put->child &&
            (rc = write_record(st, l, &seen, put, &wrote)) != PLAT_OK)
            break;
        if (wrote == 1)
            sync_ctx_count(ctx, SYNC_COUNT_PUSHED, 1);
        if (changed || wrote != 0 || put->child) {
            text = espo_seen_format(&seen);
            if (!text) {
                rc = ERR_NOMEM;
                break;
            }
            rc = sync_remote_id_put(ctx, ESPO_KIND, l->id, l->ref, text);
            plat_free(text);
            text = NULL;
            if (rc != PLAT_OK)
                break;
        }
        if (++in_batch >= ESPO_PUSH_BATCH) {
            open = 0;
            if ((rc = sync_batch_end(ctx, PLAT_OK)) != PLAT_OK)
                break;
            sync_ctx_progress(ctx, (int64_t)i + 1, (int64_t)links.n);
        }
    }
    if (open)
        rc = sync_batch_end(ctx, rc);
    if (rc == PLAT_OK && st->create_in_espo)
        rc = espo_create_new(st, ctx, &links);
    cJSON_Delete(put);
    espo_seen_dispose(&seen);
    espo_links_free(&links);
    return rc;
}
