/*
 * engine_dist.c - sync_dist.h: the engine's store services for
 * distribution-day data (activities, templates, labels, transactions).
 */
#include "engine_internal.h"
#include "sync_dist.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "plat_err.h"
#include "store.h"
#include "store_dist.h"

int sync_put_activities(struct sync_ctx *ctx, const char *ref,
                        const cJSON *activities)
{
    return store_activities_put(ctx->store, ref, activities);
}

int sync_refs_touched(struct sync_ctx *ctx, const char *since, int limit,
                      char ***refs_out, int64_t **ids_out, size_t *n_out,
                      char *last_out)
{
    return store_refs_touched(ctx->store, since, limit, refs_out, ids_out,
                              n_out, last_out);
}

int sync_get_transaction(struct sync_ctx *ctx, int payment_id,
                         const char *ref, cJSON **out)
{
    return store_transaction_get(ctx->store, payment_id, ref, out);
}

int sync_get_template(struct sync_ctx *ctx, int program_id, const char *type,
                      const char *language, cJSON **out)
{
    return store_template_get(ctx->store, program_id, type, language, out);
}

int sync_put_template(struct sync_ctx *ctx, int program_id, const cJSON *tpl)
{
    return store_template_put_one(ctx->store, program_id, tpl);
}

int sync_put_label(struct sync_ctx *ctx, int program_id, const char *attr,
                   const cJSON *label)
{
    int rc = store_label_apply(ctx->store, program_id, attr, label);

    if (rc == PLAT_OK) { /* sync_ctx_program reloads it */
        cJSON_Delete(ctx->program);
        ctx->program = NULL;
        ctx->program_loaded = 0;
    }
    return rc;
}
