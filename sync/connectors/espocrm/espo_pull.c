/*
 * espo_pull.c - the espocrm connector's EspoCRM -> 121 direction (stream
 * "records"): list pages by modifiedAt (cursor: the largest seen, server
 * time; a page size EspoCRM refuses is halved and remembered); each
 * changed linked record queues a 121 edit, a record without a
 * referenceId is ignored, reported or created (new_records). See
 * espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "sync_ctx.h"
#include "sync_engine.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* new_records = create: a 121 registration from an EspoCRM record without
 * a referenceId (queued for 121), linked, and its referenceId written back
 * to EspoCRM (the answer's modifiedAt is remembered: no echo). */
static int create_from(struct espo_state *st, const cJSON *rec,
                       int64_t counts[2])
{
    struct sync_ctx *ctx = st->ctx;
    const char *id = espo_str_of(rec, "id");
    char ref[SYNC_REF_MAX + 1], path[400], msg[700];
    struct sync_http_response resp;
    struct espo_seen seen;
    cJSON *fields = cJSON_CreateObject(), *back = NULL, *ans = NULL;
    const cJSON *d;
    char *text = NULL, *body = NULL;
    size_t i;
    int rc = fields ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");

    memset(&resp, 0, sizeof(resp));
    memset(&seen, 0, sizeof(seen));
    if (rc == PLAT_OK)
        rc = espo_seen_parse(NULL, &seen);
    for (d = st->defaults ? st->defaults->child : NULL; rc == PLAT_OK && d;
         d = d->next)
        rc = espo_put_json(fields, d->string, cJSON_Duplicate(d, 1));
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(rec, f->espo);

        if (!ev)
            continue;
        rc = espo_put_json(seen.e, f->espo, cJSON_Duplicate(ev, 1));
        if (rc == PLAT_OK && f->dir != ESPO_DIR_FROM_121 &&
            !cJSON_IsNull(ev))
            rc = espo_put_json(fields, f->f121, espo_to_121(f, ev));
    }
    if (rc != PLAT_OK)
        goto out;
    rc = sync_queue_create(ctx, "121", st->program_id, fields, NULL, ref,
                           NULL);
    if (rc == ERR_INVALID) {
        snprintf(msg, sizeof(msg), "%s %s: cannot create: %s", st->entity,
                 id, plat_err_msg());
        plat_err_clear();
        sync_ctx_count(ctx, SYNC_COUNT_REJECTED, 1);
        rc = espo_note(ctx, "pull.rejected", msg);
        goto out;
    }
    if (rc != PLAT_OK)
        goto out;
    snprintf(seen.m, sizeof(seen.m), "%s", espo_str_of(rec, "modifiedAt"));
    seen.v = espo_num_of(rec, "versionNumber");
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++) {
        /* pending to 121: the mapped fields (not the defaults) */
        d = cJSON_GetObjectItemCaseSensitive(fields, st->map.v[i].f121);
        if (d && st->map.v[i].dir != ESPO_DIR_FROM_121)
            rc = espo_put_json(seen.p, d->string, cJSON_Duplicate(d, 1));
    }
    /* the referenceId back to EspoCRM */
    back = cJSON_CreateObject();
    if (rc == PLAT_OK && (!back || !cJSON_AddStringToObject(
                              back, st->ref_field, ref) ||
                          !(body = cJSON_PrintUnformatted(back))))
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK) {
        snprintf(path, sizeof(path), "/api/v1/%s/%s", st->entity, id);
        rc = espo_request(st, "PUT", path, body, NULL, NULL, &resp);
    }
    if (rc == PLAT_OK && resp.status >= 200 && resp.status <= 299) {
        ans = espo_parse_body(&resp);
        if (espo_str_of(ans, "modifiedAt"))
            snprintf(seen.m, sizeof(seen.m), "%s",
                     espo_str_of(ans, "modifiedAt"));
        if (espo_num_of(ans, "versionNumber") >= 0)
            seen.v = espo_num_of(ans, "versionNumber");
    } else if (rc == PLAT_OK) {
        if (resp.status == 401 || resp.status == 403) {
            rc = espo_answer_err(&resp, "write the referenceId");
            goto out;
        }
        snprintf(msg, sizeof(msg), "%s %s (%s): referenceId not written "
                 "back: HTTP %ld: %s", st->entity, id, ref, resp.status,
                 resp.status_reason[0] ? resp.status_reason : "refused");
        rc = espo_note(ctx, "push.rejected", msg);
    }
    if (rc != PLAT_OK)
        goto out;
    text = espo_seen_format(&seen);
    rc = text ? sync_remote_id_put(ctx, ESPO_KIND, id, ref, text) : ERR_NOMEM;
    if (rc == PLAT_OK) {
        counts[0]++;
        counts[1]++;
    }
out:
    cJSON_Delete(fields);
    cJSON_Delete(back);
    cJSON_Delete(ans);
    cJSON_free(body);
    plat_free(text);
    espo_seen_dispose(&seen);
    sync_http_response_dispose(&resp);
    return rc;
}

/* One record of a page (inside the open batch). counts[0]: records that
 * brought changes for 121, counts[1]: newly linked. */
static int pull_record(struct espo_state *st, const cJSON *rec,
                       int64_t counts[2])
{
    struct sync_ctx *ctx = st->ctx;
    const char *id = espo_str_of(rec, "id");
    const char *mod = espo_str_of(rec, "modifiedAt");
    char *ref = NULL, *ver = NULL, *text = NULL;
    cJSON *changes = NULL, *base = NULL, *local = NULL;
    struct espo_seen seen;
    int rc, linked, first = 0;
    size_t i;

    memset(&seen, 0, sizeof(seen));
    if (!id || !*id || !mod)
        return plat_err_set(ERR_INVALID, "EspoCRM list: a record without "
                            "id or modifiedAt");
    rc = sync_remote_id_get(ctx, ESPO_KIND, id, &ref, &ver);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    linked = rc == PLAT_OK;
    plat_err_clear();
    if ((rc = espo_seen_parse(linked ? ver : NULL, &seen)) != PLAT_OK)
        goto out;
    /* de-duplicated by id + modifiedAt: a record read again through the
     * overlap, or the agent's own write, is not a change */
    if (linked && strcmp(seen.m, mod) == 0 &&
        (espo_num_of(rec, "versionNumber") < 0 ||
         espo_num_of(rec, "versionNumber") == seen.v))
        goto out;
    if (!linked) {
        const char *r = espo_str_of(rec, st->ref_field);

        if (!r || !*r) {
            if (st->new_records == 2) {
                rc = create_from(st, rec, counts);
                goto out;
            }
            if (st->new_records) {
                char msg[200];
                snprintf(msg, sizeof(msg), "%s %s has no %s", st->entity, id,
                         st->ref_field);
                rc = espo_note(ctx, "pull.unlinked", msg);
            }
            goto out;
        }
        rc = sync_get_local(ctx, r, &local);
        if (rc == ERR_NOTFOUND) {
            char msg[300];
            plat_err_clear();
            snprintf(msg, sizeof(msg), "%s %s: referenceId %.200s is not in "
                     "the store", st->entity, id, r);
            rc = espo_note(ctx, "pull.unlinked", msg);
            goto out;
        }
        if (rc != PLAT_OK)
            goto out;
        ref = plat_strdup(r);
        if (!ref) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        first = 1;
    }
    changes = cJSON_CreateObject();
    base = cJSON_CreateObject();
    if (!changes || !base) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(rec, f->espo);
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(seen.e, f->espo);
        cJSON *v121, *b121;

        if (!ev)                 /* not readable by the API user */
            continue;
        if (f->dir != ESPO_DIR_FROM_121) {
            v121 = espo_to_121(f, ev);
            if (!v121) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                goto out;
            }
            if (first) {
                /* first link: EspoCRM's value wins where they differ */
                const cJSON *lv = cJSON_GetObjectItemCaseSensitive(local,
                                                                   f->f121);
                if (!espo_same(f, v121, lv))
                    rc = espo_put_json(changes, f->f121, v121);
                else
                    cJSON_Delete(v121);
            } else {
                b121 = espo_to_121(f, old);
                if (!b121) {
                    cJSON_Delete(v121);
                    rc = plat_err_set(ERR_NOMEM, "out of memory");
                    goto out;
                }
                if (!espo_same(f, v121, b121)) {
                    rc = espo_put_json(changes, f->f121, v121);
                    if (rc == PLAT_OK)
                        rc = espo_put_json(base, f->f121, b121);
                    else
                        cJSON_Delete(b121);
                } else {
                    cJSON_Delete(v121);
                    cJSON_Delete(b121);
                }
            }
            if (rc != PLAT_OK)
                goto out;
        }
        if ((rc = espo_put_json(seen.e, f->espo, cJSON_Duplicate(ev, 1))) !=
            PLAT_OK)
            goto out;
    }
    snprintf(seen.m, sizeof(seen.m), "%s", mod);
    seen.v = espo_num_of(rec, "versionNumber");
    seen.deleted = 0;            /* shown again: restored */
    if ((rc = espo_queue_for_121(st, id, ref, changes, first ? NULL : base,
                                 &seen, &counts[0])) != PLAT_OK)
        goto out;
    text = espo_seen_format(&seen);
    if (!text) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = sync_remote_id_put(ctx, ESPO_KIND, id, ref, text);
    counts[1] += first && rc == PLAT_OK;
out:
    cJSON_Delete(changes);
    cJSON_Delete(base);
    cJSON_Delete(local);
    espo_seen_dispose(&seen);
    plat_free(text);
    plat_free(ref);
    plat_free(ver);
    return rc;
}

/* A list answer that asks for a smaller page (EspoCRM refuses a maxSize
 * over its limit instead of clamping it). */
static int refuses_page(const struct sync_http_response *r)
{
    char low[sizeof(r->status_reason)];
    size_t i;

    if (r->status != 400 && r->status != 403)
        return 0;
    for (i = 0; r->status_reason[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)r->status_reason[i]);
    low[i] = '\0';
    return strstr(low, "maxsize") || strstr(low, "max size") ||
           (r->status == 400 && !r->status_reason[0]);
}

int espo_pull(void *state, struct sync_ctx *ctx, const char *stream)
{
    struct espo_state *st = state;
    const struct sync_engine_options *opt = sync_ctx_options(ctx);
    struct sync_http_response resp;
    struct plat_buf q;
    char *cursor = NULL, since[ESPO_TIME_LEN] = "", last[ESPO_TIME_LEN];
    char num[16];
    int64_t off = 0, t, counts[2], done = 0;
    cJSON *doc = NULL;
    const cJSON *list, *rec;
    int rc, n, k, open = 0, have_since = 0;

    if (strcmp(stream, "deletions") == 0)
        return espo_reconcile(st, ctx);
    if (strcmp(stream, "records") != 0)
        return PLAT_OK;
    memset(&resp, 0, sizeof(resp));
    rc = sync_cursor_get(ctx, "records.cursor", &cursor);
    if (rc == PLAT_OK && !(opt && opt->full) &&
        espo_time_parse(cursor, &t) == PLAT_OK) {
        espo_time_format(t - st->overlap_s, since);
        have_since = 1;
    } else if (rc != PLAT_OK && rc != ERR_NOTFOUND) {
        return rc;
    }
    plat_err_clear();
    plat_free(cursor);
    cursor = NULL;
    for (;;) {
        if (sync_ctx_cancelled(ctx)) {
            rc = ERR_RETRY;
            break;
        }
        plat_buf_init(&q, 0);
        rc = plat_buf_printf(&q, "/api/v1/%s?", st->entity);
        if (rc == PLAT_OK)
            rc = espo_list_query(&q, st->select, st->page, off,
                                 have_since ? since : NULL);
        if ((rc = espo_get_list(st, rc, &q, &resp)) != PLAT_OK)
            break;
        if (refuses_page(&resp) && st->page > ESPO_PAGE_MIN) {
            st->page = st->page / 2 < ESPO_PAGE_MIN ? ESPO_PAGE_MIN
                                                    : st->page / 2;
            snprintf(num, sizeof(num), "%d", st->page);
            sync_http_response_dispose(&resp);
            if ((rc = sync_state_set(ctx, "page_size", num)) != PLAT_OK)
                break;
            continue;
        }
        if (resp.status < 200 || resp.status > 299) {
            rc = espo_answer_err(&resp, "list records");
            break;
        }
        if ((rc = sync_http_check_json(&resp, "EspoCRM list")) != PLAT_OK)
            break;
        doc = espo_parse_body(&resp);
        sync_http_response_dispose(&resp);
        list = cJSON_GetObjectItemCaseSensitive(doc, "list");
        if (!cJSON_IsArray(list)) {
            rc = plat_err_set(ERR_INVALID, "EspoCRM list: no \"list\" array "
                              "in the answer");
            break;
        }
        n = cJSON_GetArraySize(list);
        counts[0] = counts[1] = 0;
        last[0] = '\0';
        if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
            break;
        open = 1;
        cJSON_ArrayForEach(rec, list) {
            const char *m = espo_str_of(rec, "modifiedAt");
            if ((rc = pull_record(st, rec, counts)) != PLAT_OK)
                break;
            if (m && strcmp(m, last) > 0)
                snprintf(last, sizeof(last), "%s", m);
        }
        /* the cursor is the largest modifiedAt received: server time */
        if (rc == PLAT_OK && last[0])
            rc = sync_cursor_set(ctx, "records.cursor", last);
        open = 0;
        if ((rc = sync_batch_end(ctx, rc)) != PLAT_OK)
            break;
        sync_ctx_count(ctx, SYNC_COUNT_PULLED, counts[0]);
        done += n;
        sync_ctx_progress(ctx, done, 0);
        if (n < st->page || espo_num_of(doc, "total") == -2 || !last[0])
            break;
        /* next page: from the last second of this one; inside one second
         * holding more than a page, by offset */
        k = 0;
        for (rec = cJSON_GetArrayItem(list, n - 1); rec; rec = rec->prev) {
            const char *m = espo_str_of(rec, "modifiedAt");
            if (!m || strcmp(m, last) != 0)
                break;
            k++;
            if (rec == list->child)
                break;
        }
        if (have_since && strcmp(since, last) == 0) {
            off += n;
        } else {
            snprintf(since, sizeof(since), "%s", last);
            have_since = 1;
            off = k;
        }
        cJSON_Delete(doc);
        doc = NULL;
    }
    if (open)
        sync_batch_end(ctx, rc);
    cJSON_Delete(doc);
    sync_http_response_dispose(&resp);
    return rc;
}
