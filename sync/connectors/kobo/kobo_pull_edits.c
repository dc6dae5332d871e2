/*
 * kobo_pull_edits.c - the kobo connector's stream "edits": the cheap scan
 * (fields=_id,_uuid) of every submission up to the cursor; one whose
 * _uuid differs from the one imported (or rejected) is re-read and
 * imported again as an edit. See kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The cheap scan: every submission up to the cursor whose _uuid differs
 * from the one imported (or from a rejected one's) is re-read. */
int kobo_pull_edits(struct kobo_state *st, struct sync_ctx *ctx,
                    struct kobo_form *f)
{
    cJSON *program = NULL, *doc = NULL, *res, *row;
    int64_t upto = 0, after = 0, count, id, changed[KOBO_IN_CHUNK];
    char name[128], key[96];
    struct seen_ids seen = {NULL, 0, 0};
    size_t n_changed = 0;
    int rc, end = 0;

    if (f->fresh)
        return PLAT_OK;     /* imported from the start in this cycle */
    snprintf(name, sizeof(name), "%s.last_id", f->asset);
    if ((rc = sync_cursor_get_i64(ctx, name, 0, &upto)) != PLAT_OK ||
        upto == 0)
        return rc;
    program = kobo_load_program(ctx, f->program_id);
    while (!end && rc == PLAT_OK) {
        int n = 0;

        if (sync_ctx_cancelled(ctx)) {
            rc = ERR_RETRY;
            break;
        }
        rc = kobo_get_page(ctx, f->asset, after, NULL, 0, st->page, 1, NULL,
                           &doc, &res, &count);
        if (rc != PLAT_OK)
            break;
        if (!res->child)
            end = 1;
        cJSON_ArrayForEach(row, res) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(row, "_uuid");
            char *ver = NULL;
            size_t ul;
            int differs = 0;

            if (kobo_submission_id(row, &id) != PLAT_OK || id <= after) {
                rc = plat_err_set(ERR_INVALID, "kobo: scan of form %s: "
                                  "bad or unordered _id", f->asset);
                break;
            }
            after = id;
            n++;
            if (id > upto) {
                end = 1;
                break;
            }
            if (st->report_deleted &&
                (rc = kobo_seen_add(&seen, id)) != PLAT_OK)
                break;
            if (!cJSON_IsString(u))
                continue;
            ul = strlen(u->valuestring);
            snprintf(key, sizeof(key), "%s:%" PRId64, f->asset, id);
            rc = sync_remote_id_get(ctx, "submission", key, NULL, &ver);
            if (rc == PLAT_OK) {
                differs = !ver || strncmp(ver, u->valuestring, ul) != 0 ||
                          ver[ul] != ' ';
            } else if (rc == ERR_NOTFOUND) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(
                    st->rejected, key);
                const cJSON *eu = cJSON_GetObjectItemCaseSensitive(e, "uuid");

                plat_err_clear();
                differs = cJSON_IsString(eu) &&
                          strcmp(eu->valuestring, u->valuestring) != 0;
            } else {
                break;
            }
            rc = PLAT_OK;
            plat_free(ver);
            if (differs) {
                changed[n_changed++] = id;
                if (n_changed == KOBO_IN_CHUNK) {
                    rc = kobo_reread(st, ctx, f, program, changed, n_changed);
                    n_changed = 0;
                    if (rc != PLAT_OK)
                        break;
                }
            }
        }
        cJSON_Delete(doc);
        doc = NULL;
        if (count >= 0 && n >= count)
            end = 1;
    }
    cJSON_Delete(doc);
    if (rc == PLAT_OK)
        rc = kobo_reread(st, ctx, f, program, changed, n_changed);
    /* only a complete scan (rc OK: it reached the cursor or the end) can
     * say a submission is gone */
    if (rc == PLAT_OK && st->report_deleted)
        rc = kobo_note_deleted(st, ctx, f, upto, &seen);
    plat_free(seen.v);
    cJSON_Delete(program);
    return rc;
}
