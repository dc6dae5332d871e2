/*
 * kobo_rejected.c - the kobo connector's rejected list (state "rejected":
 * {"<asset>:<_id>": {asset, id, uuid, referenceId, kind, reason, at,
 * retry}}), listed and marked for retry by `agent kobo status / retry`.
 * Loaded once per stream, saved with the batch that changed it. See
 * kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <stdio.h>

int kobo_rejected_load(struct kobo_state *st, struct sync_ctx *ctx)
{
    char *text = NULL;
    int rc = sync_state_get(ctx, "rejected", &text);

    cJSON_Delete(st->rejected);
    st->rejected = NULL;
    st->rej_dirty = 0;
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc != PLAT_OK)
        return rc;
    if (text)
        st->rejected = cJSON_Parse(text);
    plat_free(text);
    if (!cJSON_IsObject(st->rejected)) {
        cJSON_Delete(st->rejected);
        st->rejected = cJSON_CreateObject();
    }
    return st->rejected ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
}

int kobo_rejected_save(struct kobo_state *st, struct sync_ctx *ctx)
{
    char *text;
    int rc;

    if (!st->rej_dirty)
        return PLAT_OK;
    text = cJSON_PrintUnformatted(st->rejected);
    if (!text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = sync_state_set(ctx, "rejected", text);
    cJSON_free(text);
    if (rc == PLAT_OK)
        st->rej_dirty = 0;
    return rc;
}

void kobo_rejected_drop(struct kobo_state *st, const char *key)
{
    if (cJSON_GetObjectItemCaseSensitive(st->rejected, key)) {
        cJSON_DeleteItemFromObjectCaseSensitive(st->rejected, key);
        st->rej_dirty = 1;
    }
}

int kobo_rejected_note(struct kobo_state *st, const char *key,
                       const char *asset, int64_t id, const char *uuid,
                       const char *ref, const char *why, int edit)
{
    cJSON *e = cJSON_CreateObject();
    char now[40];

    plat_time_iso(plat_time_wall_ms(), now);
    if (!e || !cJSON_AddStringToObject(e, "asset", asset) ||
        !cJSON_AddNumberToObject(e, "id", (double)id) ||
        !cJSON_AddStringToObject(e, "uuid", uuid) ||
        !(ref ? cJSON_AddStringToObject(e, "referenceId", ref)
              : cJSON_AddNullToObject(e, "referenceId")) ||
        !cJSON_AddStringToObject(e, "kind", edit ? "edit" : "create") ||
        !cJSON_AddStringToObject(e, "reason", why) ||
        !cJSON_AddStringToObject(e, "at", now) ||
        !cJSON_AddFalseToObject(e, "retry")) {
        cJSON_Delete(e);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(st->rejected, key);
    cJSON_AddItemToObject(st->rejected, key, e);
    st->rej_dirty = 1;
    return PLAT_OK;
}

/* The store refused what submission `key` asks (the error just set): its
 * message is the reason noted. */
int kobo_rejected_refused(struct kobo_state *st, struct kobo_counts *c,
                          const char *key, const char *asset, int64_t id,
                          const char *uuid, const char *ref, int edit)
{
    char why[KOBO_WHY_MAX];

    snprintf(why, sizeof(why), "%s", plat_err_msg());
    plat_err_clear();
    c->rejected++;
    return kobo_rejected_note(st, key, asset, id, uuid, ref, why, edit);
}
