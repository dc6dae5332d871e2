/*
 * espo_record.c - one linked record's mapped values between the two
 * sides: EspoCRM changes queued for 121, 121 values that EspoCRM has not
 * seen yet, and what the agent last saw of the record (espo_seen). See
 * espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_err.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

const char *espo_str_of(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(x) ? x->valuestring : NULL;
}

int64_t espo_num_of(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsNumber(x) ? (int64_t)x->valuedouble : -1;
}

int espo_put_json(cJSON *obj, const char *key, cJSON *v)
{
    if (!v)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v)
               ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    if (!cJSON_AddItemToObject(obj, key, v)) {
        cJSON_Delete(v);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return PLAT_OK;
}

/* Queue `changes` (121 form, base alongside) for 121 and remember them as
 * pending in `seen`. A refusal of the store (a field 121 does not let
 * change) rejects this record alone. */
int espo_queue_for_121(struct espo_state *st, const char *id,
                       const char *ref, cJSON *changes, cJSON *base,
                       struct espo_seen *seen, int64_t *queued)
{
    const cJSON *c;
    char msg[300];
    int rc, changed = 0;

    if (!changes->child)
        return PLAT_OK;
    rc = sync_queue_edit(st->ctx, "121", ref, changes, base, "EspoCRM",
                         &changed);
    if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
        snprintf(msg, sizeof(msg), "%s %s: %s", st->entity, id,
                 plat_err_msg());
        plat_err_clear();
        sync_ctx_count(st->ctx, SYNC_COUNT_REJECTED, 1);
        return espo_note(st->ctx, "pull.rejected", msg);
    }
    if (rc != PLAT_OK)
        return rc;
    for (c = changes->child; c; c = c->next)
        if ((rc = espo_put_json(seen->p, c->string, cJSON_Duplicate(c, 1))) !=
            PLAT_OK)
            return rc;
    *queued += changed > 0;
    return PLAT_OK;
}

/* Ready one linked record: *seen parsed from `ver`, *put empty; the
 * previous record's freed. */
int espo_record_start(const char *ver, struct espo_seen *seen, cJSON **put)
{
    espo_seen_dispose(seen);
    cJSON_Delete(*put);
    *put = cJSON_CreateObject();
    if (!*put)
        return plat_err_set(ERR_NOMEM, "out of memory");
    return espo_seen_parse(ver, seen);
}

/* What to write to EspoCRM for one linked record: `put` gets {EspoCRM
 * attribute: value} of the mapped fields whose 121 server copy differs
 * from what EspoCRM last showed. Pending values that 121 now shows (or
 * that no longer apply) leave seen->p (*seen_changed). A record with an
 * open conflict is left alone until a person resolves it. */
int espo_diff_record(struct espo_state *st, const char *ref,
                     struct espo_seen *seen, cJSON *put, int *seen_changed)
{
    cJSON *srv = NULL, *loc = NULL;
    const cJSON *c;
    size_t i;
    int rc;

    *seen_changed = 0;
    rc = sync_get_registration(st->ctx, ref, &srv);
    if (rc == ERR_NOTFOUND) {          /* not on 121 yet */
        plat_err_clear();
        return PLAT_OK;
    }
    /* the local view (pending work, open conflicts) only when needed: a
     * record with nothing pending and nothing to write costs one read */
    if (rc == PLAT_OK && seen->p->child)
        rc = sync_get_local(st->ctx, ref, &loc);
    if (rc != PLAT_OK)
        goto out;
    c = cJSON_GetObjectItemCaseSensitive(loc, "_conflicts");
    if (cJSON_IsNumber(c) && c->valuedouble > 0)
        goto out;                  /* waits for a person */
    for (i = 0; i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(srv, f->f121);
        const cJSON *pend = cJSON_GetObjectItemCaseSensitive(seen->p,
                                                             f->f121);
        cJSON *e121;
        int same;

        if (pend) {
            if (!espo_same(f, v, pend) &&
                espo_same(f, cJSON_GetObjectItemCaseSensitive(loc, f->f121),
                          pend))
                continue;          /* still on its way to 121 */
            cJSON_DeleteItemFromObjectCaseSensitive(seen->p, f->f121);
            *seen_changed = 1;
        }
        if (f->dir == ESPO_DIR_TO_121 || !v)
            continue;
        e121 = espo_to_121(f, cJSON_GetObjectItemCaseSensitive(seen->e,
                                                               f->espo));
        if (!e121) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        same = espo_same(f, v, e121);
        cJSON_Delete(e121);
        if (!same && (rc = espo_put_json(put, f->espo, espo_from_121(f, v))) !=
            PLAT_OK)
            goto out;
    }
    if (put->child && !loc && (rc = sync_get_local(st->ctx, ref, &loc)) !=
        PLAT_OK)
        goto out;
    /* a record with an open conflict waits for a person */
    c = cJSON_GetObjectItemCaseSensitive(loc, "_conflicts");
    if (cJSON_IsNumber(c) && c->valuedouble > 0) {
        while (put->child)
            cJSON_Delete(cJSON_DetachItemViaPointer(put, put->child));
    }
out:
    cJSON_Delete(srv);
    cJSON_Delete(loc);
    return rc;
}

/* After a 200: what EspoCRM now holds is what was written. */
int espo_seen_after_write(struct espo_seen *seen, const cJSON *put,
                          const cJSON *answer)
{
    const cJSON *c;
    const char *m = espo_str_of(answer, "modifiedAt");
    int64_t v = espo_num_of(answer, "versionNumber");
    int rc;

    for (c = put->child; c; c = c->next) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(answer, c->string);
        if ((rc = espo_put_json(seen->e, c->string,
                                cJSON_Duplicate(a ? a : c, 1))) != PLAT_OK)
            return rc;
    }
    if (m)
        snprintf(seen->m, sizeof(seen->m), "%s", m);
    if (v >= 0)
        seen->v = v;
    return PLAT_OK;
}
