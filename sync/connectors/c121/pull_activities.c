/*
 * pull_activities.c - the activities of the people this device touched
 * since the last run (GET {prefix}/registrations/{id}/activities, contract
 * 3.8), kept per person for `agent registrations history`: what 121 made
 * of the hand-outs and messages sent from here.
 * Activity ids are positional (not stable), so each person's list is
 * replaced whole.
 *
 * Which people: those with a voucher or message outbox entry made or
 * settled after the mark
 * "activities.since" (the store's own clock, compared with itself only),
 * C121_ACTIVITIES_PER_SYNC per cycle, committed with the mark. Edits,
 * status changes and changes made elsewhere cost no request (the events
 * show them; one request per changed person would make every
 * incremental sync of a busy program slow). The
 * first run only sets the mark (an upgraded store's old outbox).
 * The same phase keeps the FSP reconciliation template (one small GET).
 */
#include "c121_dist.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_dist.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define SINCE_KEY "activities.since"

/* Keep 121's reconciliation template for `agent reconcile import`,
 * which checks a file offline. 4xx (no Excel FSP): kept as []. Asked for
 * when none is kept, and with `sync --vouchers` (the preparation of a
 * distribution), so that an ordinary sync costs no request for it (an
 * upload of reconciliation rows reads it anew anyway). */
static int pull_recon_template(struct c121 *c)
{
    char path[128], *text = NULL;
    cJSON *tpl = NULL;
    long status = 0;
    int rc;

    if (!c->opt || !c->opt->vouchers) {
        rc = sync_state_get(c->ctx, "reconciliation.template", &text);
        plat_free(text);
        text = NULL;
        if (rc == PLAT_OK)
            return PLAT_OK;
        if (rc != ERR_NOTFOUND)
            return rc;
        plat_err_clear();
    }
    snprintf(path, sizeof(path), "%s/payments/excel-reconciliation/template",
             c->prefix);
    rc = c121_get_json(c, path, NULL, "121 GET reconciliation template", &tpl,
                       &status, NULL);
    if (rc < 0 && status >= 400 && status < 500 && status != 401 &&
        status != 429) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc < 0)
        return rc;
    text = cJSON_IsArray(tpl) ? cJSON_PrintUnformatted(tpl) : NULL;
    rc = sync_state_set(c->ctx, "reconciliation.template", text ? text : "[]");
    cJSON_free(text);
    cJSON_Delete(tpl);
    return rc;
}

int c121_pull_activities(struct c121 *c)
{
    char **refs = NULL, *since = NULL, last[32], path[160];
    int64_t *ids = NULL, pulled = 0;
    long status = 0;
    size_t n = 0, i;
    int rc, first = 0;

    rc = pull_recon_template(c);
    if (rc < 0)
        return rc;
    rc = sync_cursor_get(c->ctx, SINCE_KEY, &since);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        first = 1;
        since = plat_strdup("");
        rc = since ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    }
    if (rc < 0)
        goto done;
    if (first) {
        /* The mark after everything stored now. */
        for (;;) {
            rc = sync_refs_touched(c->ctx, since, 5000, &refs, &ids, &n,
                                   last);
            sync_strings_free(refs, n);
            plat_free(ids);
            refs = NULL;
            ids = NULL;
            if (rc < 0 || n == 0)
                break;
            plat_free(since);
            since = plat_strdup(last);
            if (!since) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                break;
            }
        }
        if (rc == PLAT_OK)
            rc = sync_cursor_set(c->ctx, SINCE_KEY, since);
        goto done;
    }
    rc = sync_refs_touched(c->ctx, since, C121_ACTIVITIES_PER_SYNC, &refs,
                           &ids, &n, last);
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        cJSON *ans = NULL;
        const cJSON *data;

        if (sync_ctx_cancelled(c->ctx)) {
            rc = plat_err_code();
            break;
        }
        snprintf(path, sizeof(path), "%s/registrations/%lld/activities",
                 c->prefix, (long long)ids[i]);
        rc = c121_get_json(c, path, NULL, "121 GET activities", &ans,
                           &status, NULL);
        if (rc < 0 && status == 403) {
            /* A user without the permissions: nothing to keep. */
            plat_err_clear();
            rc = PLAT_OK;
            break;
        }
        if (rc < 0)
            break;
        data = cJSON_GetObjectItemCaseSensitive(ans, "data");
        rc = sync_batch_begin(c->ctx);
        if (rc == PLAT_OK && cJSON_IsArray(data))
            rc = sync_put_activities(c->ctx, refs[i], data);
        /* Each person moves the mark; the list is ordered by the time. */
        if (rc == PLAT_OK && i + 1 == n)
            rc = sync_cursor_set(c->ctx, SINCE_KEY, last);
        rc = sync_batch_end(c->ctx, rc);
        cJSON_Delete(ans);
        pulled += rc == PLAT_OK;
    }
    if (n)
        log_info("121 pull: activities of %lld registrations", (long long)pulled);

done:
    sync_strings_free(refs, n);
    plat_free(ids);
    plat_free(since);
    return rc;
}
