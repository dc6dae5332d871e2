/*
 * kobo_deleted.c - the kobo connector's deleted-submission walk: after a
 * complete edit scan, imported submissions it no longer showed were
 * deleted from the form; they are reported (state "deleted"), their 121
 * registrations kept. See kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

int kobo_seen_add(struct seen_ids *s, int64_t id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        int64_t *v = plat_realloc(s->v, cap * sizeof(*v));

        if (!v)
            return plat_err_set(ERR_NOMEM, "out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = id;          /* the scan is sorted by _id */
    return PLAT_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int seen_has(const struct seen_ids *s, int64_t id)
{
    return s->n && bsearch(&id, s->v, s->n, sizeof(*s->v), cmp_i64) != NULL;
}

struct gone_walk {
    const char *asset;
    size_t alen;
    int64_t upto;
    const struct seen_ids *seen;
    const cJSON *known;         /* state "deleted": already reported */
    cJSON *found;               /* array of [key, ref] */
};

static int gone_cb(const char *remote_id, const char *ref,
                   const char *version, void *payload)
{
    struct gone_walk *w = payload;
    cJSON *pair;
    char *end;
    long long id;

    (void)version;
    if (strncmp(remote_id, w->asset, w->alen) != 0 ||
        remote_id[w->alen] != ':')
        return 0;
    id = strtoll(remote_id + w->alen + 1, &end, 10);
    if (*end || id <= 0 || id > w->upto || seen_has(w->seen, id) ||
        cJSON_GetObjectItemCaseSensitive(w->known, remote_id))
        return 0;
    pair = cJSON_CreateArray();
    if (!pair || !cJSON_AddItemToArray(w->found, pair) ||
        !cJSON_AddItemToArray(pair, cJSON_CreateString(remote_id)) ||
        !cJSON_AddItemToArray(pair, cJSON_CreateString(ref ? ref : "")))
        return ERR_NOMEM;
    return 0;
}

/* After a complete scan of form `f` up to `upto` (the _ids it showed in
 * `seen`): imported submissions it no longer shows were deleted from the
 * form. They are added to state "deleted" (key "<asset>:<_id>" ->
 * {asset, id, referenceId, at}) and logged once by referenceId; the 121
 * registration is left as it is. Rejected ones that are gone leave the
 * rejected list. */
int kobo_note_deleted(struct kobo_state *st, struct sync_ctx *ctx,
                      const struct kobo_form *f, int64_t upto,
                      const struct seen_ids *seen)
{
    struct gone_walk w = {f->asset, strlen(f->asset), upto, seen, NULL,
                          NULL};
    char *text = NULL, now[40];
    cJSON *known = NULL, *pair, *e, *next;
    int64_t gone = 0;
    int rc = sync_state_get(ctx, "deleted", &text);

    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    known = text ? cJSON_Parse(text) : NULL;
    plat_free(text);
    text = NULL;
    if (!cJSON_IsObject(known)) {
        cJSON_Delete(known);
        known = cJSON_CreateObject();
    }
    w.known = known;
    w.found = cJSON_CreateArray();
    if (!known || !w.found) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = sync_remote_ids_list(ctx, "submission", gone_cb, &w);
    if (rc == ERR_NOMEM)
        plat_err_set(ERR_NOMEM, "out of memory");
    if (rc != PLAT_OK)
        goto out;
    plat_time_iso(plat_time_wall_ms(), now);
    cJSON_ArrayForEach(pair, w.found) {
        const char *key = cJSON_GetArrayItem(pair, 0)->valuestring;
        const char *ref = cJSON_GetArrayItem(pair, 1)->valuestring;
        cJSON *d = cJSON_CreateObject();

        if (!d || !cJSON_AddStringToObject(d, "asset", f->asset) ||
            !cJSON_AddNumberToObject(d, "id", strtod(
                key + strlen(f->asset) + 1, NULL)) ||
            !cJSON_AddStringToObject(d, "referenceId", ref) ||
            !cJSON_AddStringToObject(d, "at", now) ||
            !cJSON_AddItemToObject(known, key, d)) {
            cJSON_Delete(d);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        log_info("kobo: submission %s (referenceId %s) was deleted from "
                 "the form; its 121 registration is kept", key, ref);
        gone++;
    }
    /* a rejected submission that is gone needs no fixing any more */
    for (e = st->rejected ? st->rejected->child : NULL; e; e = next) {
        const char *a = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(e, "asset"));
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");

        next = e->next;
        if (a && strcmp(a, f->asset) == 0 && cJSON_IsNumber(id) &&
            (int64_t)id->valuedouble <= upto &&
            !seen_has(seen, (int64_t)id->valuedouble)) {
            log_info("kobo: rejected submission %s was deleted from the "
                     "form", e->string);
            cJSON_Delete(cJSON_DetachItemViaPointer(st->rejected, e));
            st->rej_dirty = 1;
        }
    }
    if (gone) {
        text = cJSON_PrintUnformatted(known);
        if (!text) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = sync_state_set(ctx, "deleted", text);
    }
    if (rc == PLAT_OK)
        rc = kobo_rejected_save(st, ctx);
    if (rc == PLAT_OK)
        sync_ctx_count(ctx, SYNC_COUNT_GONE, gone);
out:
    cJSON_free(text);
    cJSON_Delete(known);
    cJSON_Delete(w.found);
    return rc;
}
