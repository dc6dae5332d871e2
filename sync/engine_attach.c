/*
 * engine_attach.c - the engine's attachment services to connectors
 * (sync_ctx.h, "attachments"): rows of store_attachments.h under this
 * context's source.
 */
#include "engine_internal.h"

#include "plat_err.h"
#include "store_attachments.h"
#include "store_tune.h"

#include <string.h>

int sync_att_note(struct sync_ctx *ctx, const struct sync_att *a)
{
    struct store_att sa;

    memset(&sa, 0, sizeof(sa));
    sa.source = ctx->conn->name;
    sa.remote_id = a->remote_id;
    sa.question = a->question;
    sa.uid = a->uid;
    sa.ref = a->ref;
    sa.name = a->name;
    sa.mimetype = a->mimetype;
    sa.url = a->url;
    sa.state = a->state;
    sa.size = -1;
    return store_att_note(ctx->store, &sa);
}

int sync_att_set_data(struct sync_ctx *ctx, const char *remote_id,
                      const char *question, const void *data, size_t len)
{
    int rc = sync__ctx_grow(ctx, (int64_t)len);

    return rc < 0 ? rc : store_att_set_data(ctx->store, ctx->conn->name,
                                            remote_id, question, data, len);
}

int sync_att_set_state(struct sync_ctx *ctx, const char *remote_id,
                       const char *question, const char *state,
                       const char *error, int count_attempt)
{
    return store_att_set_state(ctx->store, ctx->conn->name, remote_id,
                               question, state, error, count_attempt);
}

struct att_walk {
    sync_att_cb cb;
    void *payload;
};

static int att_walk_cb(const struct store_att *a, void *payload)
{
    struct att_walk *w = payload;
    struct sync_att x;

    memset(&x, 0, sizeof(x));
    x.remote_id = a->remote_id;
    x.question = a->question;
    x.uid = a->uid;
    x.ref = a->ref;
    x.name = a->name;
    x.mimetype = a->mimetype;
    x.url = a->url;
    x.state = a->state;
    x.error = a->error;
    x.size = a->size;
    x.attempts = a->attempts;
    return w->cb(&x, w->payload);
}

int sync_att_list(struct sync_ctx *ctx, const char *state, const char *prefix,
                  int max_attempts, sync_att_cb cb, void *payload)
{
    struct att_walk w = {cb, payload};

    return store_att_list(ctx->store, ctx->conn->name, state, prefix,
                          max_attempts, att_walk_cb, &w);
}

/* (Not an attachment service: the one other store hint a connector has.) */
int sync_store_cache_kib(struct sync_ctx *ctx, int kib, int *old_kib)
{
    return store_set_cache_kib(ctx->store, kib, old_kib);
}
