/*
 * kobo_validation.c - the kobo connector's validation flow: a submission
 * of a validation form (one mapping a question to referenceId, as
 * kobo-connect's /kobo-update-121) edits the registration it names and
 * marks it validated. See kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

/* A new submission of a validation form (kobo-connect's /kobo-update-121)
 * naming registration `target`: its answers become an edit of that
 * registration (base: the local view) and, unless skipvalidation, a status
 * change to validated, queued together in the open batch. */
int kobo_import_validation(struct kobo_state *st, struct sync_ctx *ctx,
                           struct kobo_form *f, const cJSON *program,
                           const cJSON *sub, const char *key, int64_t id,
                           const char *uuid, const char *target,
                           int skip_validation, struct kobo_counts *c)
{
    char why[KOBO_WHY_MAX];
    cJSON *fields = NULL, *local = NULL;
    const cJSON *status;
    int rc, changed = 0;

    if (!target[0]) {
        c->rejected++;
        return kobo_rejected_note(st, key, f->asset, id, uuid, NULL,
                                  "attribute referenceId: the referenceId "
                                  "question is not answered", 0);
    }
    rc = kobo_map_submission(f->map, sub, program, NULL, &fields, NULL, why,
                             sizeof(why));
    if (rc == KOBO_SKIP) {
        c->skipped++;
        kobo_rejected_drop(st, key);
        return PLAT_OK;
    }
    if (rc == ERR_INVALID) {
        c->rejected++;
        return kobo_rejected_note(st, key, f->asset, id, uuid, NULL, why, 1);
    }
    if (rc != PLAT_OK)
        return plat_err_set(rc, "kobo: %s", why);
    rc = sync_get_local(ctx, target, &local);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        c->rejected++;
        rc = kobo_rejected_note(st, key, f->asset, id, uuid, NULL,
                                "attribute referenceId: no registration with "
                                "the answered referenceId", 1);
        goto out;
    }
    if (rc != PLAT_OK)
        goto out;
    if (fields->child) {
        rc = sync_queue_edit(ctx, KOBO_TARGET, target, fields, NULL,
                             "Validated during field validation", &changed);
        if (rc == ERR_INVALID) {
            rc = kobo_rejected_refused(st, c, key, f->asset, id, uuid, target,
                                       1);
            goto out;
        }
        if (rc != PLAT_OK)
            goto out;
    }
    status = cJSON_GetObjectItemCaseSensitive(local, "status");
    if (!skip_validation &&
        !(cJSON_IsString(status) &&
          strcmp(status->valuestring, "validated") == 0)) {
        rc = sync_queue_status(ctx, KOBO_TARGET, target, "validated", NULL);
        if (rc == ERR_INVALID) {       /* already validated */
            plat_err_clear();
            rc = PLAT_OK;
        }
        if (rc != PLAT_OK)
            goto out;
    }
    rc = kobo_mark_imported(st, ctx, key, target, uuid, fields);
    if (rc == PLAT_OK)
        c->validated++;
    if (rc == PLAT_OK && f->media.n && st->att.on)
        rc = kobo_att_record(ctx, &f->media, key, target, sub, NULL);
out:
    cJSON_Delete(fields);
    cJSON_Delete(local);
    return rc;
}
