/*
 * espo_status.c - `agent espocrm status`: counts over the linked records
 * (pending each way, deleted), the cursor, the page size and the noted
 * lines, through the engine's services only (espo.h). See
 * espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <string.h>

struct status_acc {
    struct espo_state *st;
    int64_t linked, to_espo, to_121, deleted;
    int rc;
};

int espo_status(struct sync_ctx *ctx, cJSON **out)
{
    struct espo_state *st = NULL;
    struct links links;
    struct espo_seen seen;
    struct status_acc acc;
    char *cursor = NULL, *unl = NULL;
    cJSON *o = NULL, *put = NULL, *rej = NULL;
    int64_t unlinked = 0;
    size_t i;
    int rc, changed;

    *out = NULL;
    memset(&links, 0, sizeof(links));
    memset(&acc, 0, sizeof(acc));
    memset(&seen, 0, sizeof(seen));
    if ((rc = espo_state_make(ctx, &st)) != PLAT_OK)
        return rc;
    rc = sync_remote_ids_list(ctx, ESPO_KIND, espo_links_collect, &links);
    for (i = 0; rc == PLAT_OK && i < links.n; i++) {
        if ((rc = espo_record_start(links.v[i].ver, &seen, &put)) !=
            PLAT_OK)
            break;
        acc.linked++;
        if (seen.deleted) {
            acc.deleted++;
            continue;
        }
        if ((rc = espo_diff_record(st, links.v[i].ref, &seen, put,
                                   &changed)) != PLAT_OK)
            break;
        acc.to_espo += put->child != NULL;
        acc.to_121 += seen.p->child != NULL;
    }
    if (rc == PLAT_OK) {
        rc = sync_cursor_get(ctx, "records.cursor", &cursor);
        if (rc == ERR_NOTFOUND)
            rc = PLAT_OK;
    }
    if (rc == PLAT_OK) {
        rej = cJSON_CreateArray();
        for (i = 0; rej && i < 2; i++) {
            char *t = NULL, *line, *save = NULL;
            if (sync_state_get(ctx, i ? "push.rejected" : "pull.rejected",
                               &t) != PLAT_OK)
                continue;
            for (line = strtok_r(t, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save))
                cJSON_AddItemToArray(rej, cJSON_CreateString(line));
            plat_free(t);
        }
        plat_err_clear();
    }
    if (rc == PLAT_OK && sync_state_get(ctx, "pull.unlinked", &unl) ==
        PLAT_OK)
        for (const char *p = unl; *p; p++)
            unlinked += *p == '\n';
    plat_err_clear();
    if (rc == PLAT_OK) {
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddNumberToObject(o, "linked", (double)acc.linked) ||
            !cJSON_AddNumberToObject(o, "pending_to_espocrm",
                                     (double)acc.to_espo) ||
            !cJSON_AddNumberToObject(o, "pending_to_121",
                                     (double)acc.to_121) ||
            !(cursor ? cJSON_AddStringToObject(o, "cursor", cursor)
                     : cJSON_AddNullToObject(o, "cursor")) ||
            !cJSON_AddNumberToObject(o, "page_size", st->page) ||
            !cJSON_AddNumberToObject(o, "deleted_in_espocrm",
                                     (double)acc.deleted) ||
            !cJSON_AddNumberToObject(o, "unlinked_noted", (double)unlinked) ||
            !rej || !cJSON_AddItemToObject(o, "rejected", rej)) {
            if (o && cJSON_GetObjectItem(o, "rejected"))
                rej = NULL;          /* freed with o */
            cJSON_Delete(o);
            o = NULL;
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        } else {
            rej = NULL;              /* owned by o */
        }
    }
    cJSON_Delete(rej);
    *out = o;
    cJSON_Delete(put);
    espo_seen_dispose(&seen);
    espo_links_free(&links);
    plat_free(cursor);
    plat_free(unl);
    espo_exit(st);
    return rc;
}
