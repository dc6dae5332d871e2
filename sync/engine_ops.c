/*
 * engine_ops.c - outbox operations for connectors (sync_ctx.h): loading
 * the operations meant for a source, ordering them, and settling each
 * with the result the connector reports.
 */
#include "engine_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_outbox.h"
#include "store_sync.h"

/* The C enums mirror the store's (same order); the store keeps the text. */
_Static_assert(SYNC_OP_LABEL == (int)STORE_OP_LABEL &&
                   SYNC_OP_REJECTED == (int)STORE_OP_REJECTED,
               "sync and store operation enums differ");

const char *sync_op_kind_name(int kind)
{
    return kind >= 0 && kind < SYNC_OP_KIND_COUNT
               ? store_op_kind_name((enum store_op_kind)kind)
               : "?";
}

int sync_op_kind_parse(const char *text)
{
    enum store_op_kind k;

    return store_op_kind_parse(text, &k) == PLAT_OK ? (int)k : -1;
}

const char *sync_op_state_name(int state)
{
    return state >= 0 && state < SYNC_OP_STATE_COUNT
               ? store_op_state_name((enum store_op_state)state)
               : "?";
}

int sync_op_state_parse(const char *text)
{
    enum store_op_state st;

    return store_op_state_parse(text, &st) == PLAT_OK ? (int)st : -1;
}

/* NULL (pending and inflight) for -1, else the state's text. */
static const char *state_filter(int state)
{
    return state < 0 ? NULL : sync_op_state_name(state);
}

static void op_dispose(struct sync_op *op)
{
    plat_free(op->ref);
    plat_free(op->payload_text);
    cJSON_Delete(op->payload);
    cJSON_Delete(op->base);
    memset(op, 0, sizeof(*op));
}

void sync_ops_free(struct sync_ops *ops)
{
    size_t i;

    for (i = 0; i < ops->n; i++)
        op_dispose(&ops->v[i]);
    plat_free(ops->v);
    ops->v = NULL;
    ops->n = ops->cap = 0;
}

static int collect_op(const struct store_outbox_entry *se, void *payload)
{
    struct sync_ops *ops = payload;
    struct sync_op *op, *grown;
    size_t cap;

    if (ops->n == ops->cap) {
        cap = ops->cap ? ops->cap * 2 : 64;
        grown = plat_realloc(ops->v, cap * sizeof(*grown));
        if (!grown)
            return plat_err_set(ERR_NOMEM, "out of memory reading the "
                                "outbox");
        ops->v = grown;
        ops->cap = cap;
    }
    op = &ops->v[ops->n];
    memset(op, 0, sizeof(*op));
    op->seq = se->seq;
    op->attempts = se->attempts;
    op->kind = sync_op_kind_parse(se->kind);
    op->state = sync_op_state_parse(se->state);
    op->ref = plat_strdup(se->reference_id ? se->reference_id : "");
    op->payload_text = plat_strdup(se->payload ? se->payload : "null");
    op->payload = cJSON_Parse(se->payload ? se->payload : "");
    if (se->base)
        op->base = cJSON_Parse(se->base);
    if (!op->ref || !op->payload_text) {
        op_dispose(op);
        return plat_err_set(ERR_NOMEM, "out of memory reading the outbox");
    }
    if (!cJSON_IsObject(op->payload) || (se->base && !op->base) ||
        op->kind < 0 || op->state < 0) {
        op_dispose(op);
        return plat_err_set(ERR_CORRUPT, "outbox entry %lld is damaged",
                            (long long)se->seq);
    }
    ops->n++;
    return 0;
}

int sync_ops_load(struct sync_ctx *ctx, int kind, int state,
                  int64_t after_seq, int limit, struct sync_ops *out)
{
    return store_outbox_list_for(ctx->store, ctx->conn->name,
                                 sync_op_kind_name(kind), state_filter(state),
                                 after_seq, limit, collect_op, out);
}

/* qsort has no payload: sort (op pointer, index) pairs instead of
 * indexes, so that the comparison needs no global (cycles run on the
 * daemon's worker thread). */
struct op_ix {
    const struct sync_op *op;
    size_t ix;
};

static int by_ref_seq(const void *a, const void *b)
{
    const struct sync_op *x = ((const struct op_ix *)a)->op;
    const struct sync_op *y = ((const struct op_ix *)b)->op;
    int d = strcmp(x->ref, y->ref);

    if (d)
        return d;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t *sync_ops_order(const struct sync_ops *ops)
{
    struct op_ix *pairs = plat_malloc((ops->n ? ops->n : 1) * sizeof(*pairs));
    size_t *ix = plat_malloc((ops->n ? ops->n : 1) * sizeof(*ix));
    size_t i;

    if (!pairs || !ix) {
        plat_free(pairs);
        plat_free(ix);
        plat_err_set(ERR_NOMEM, "out of memory ordering the outbox");
        return NULL;
    }
    for (i = 0; i < ops->n; i++) {
        pairs[i].op = &ops->v[i];
        pairs[i].ix = i;
    }
    qsort(pairs, ops->n, sizeof(*pairs), by_ref_seq);
    for (i = 0; i < ops->n; i++)
        ix[i] = pairs[i].ix;
    plat_free(pairs);
    return ix;
}

int sync_ops_count_ref(struct sync_ctx *ctx, const char *ref, int kind,
                       int state, int64_t *out)
{
    return store_outbox_count_ref(ctx->store, ref, sync_op_kind_name(kind),
                                  state_filter(state), out);
}

int sync_op_changed_ms(struct sync_ctx *ctx, int64_t seq, int64_t *ms_out)
{
    return store_outbox_changed_ms(ctx->store, seq, ms_out);
}

int sync_op_settle(struct sync_ctx *ctx, int64_t seq, const char *ref,
                   int state, const char *msg)
{
    int rc;

    rc = store_outbox_set_state(ctx->store, seq, sync_op_state_name(state),
                                state == SYNC_OP_REJECTED ? msg : NULL);
    /* Program-level entries ("$template/...", store_dist.h) have no
     * registration view to recompute. */
    if (rc == PLAT_OK && ref && ref[0] != '$' &&
        (state == SYNC_OP_REJECTED || state == SYNC_OP_CONFLICT))
        rc = store_reg_refresh_view(ctx->store, ref);
    return rc;
}

int sync_refresh_view(struct sync_ctx *ctx, const char *ref)
{
    return store_reg_refresh_view(ctx->store, ref);
}

int sync_op_settle_ref(struct sync_ctx *ctx, const char *ref, int kind,
                       int from, int to, int *count_out)
{
    int n = 0, rc;

    rc = store_outbox_set_state_by_ref(ctx->store, ref, sync_op_kind_name(kind),
                                       sync_op_state_name(from),
                                       sync_op_state_name(to), &n);
    if (count_out)
        *count_out = n;
    return rc;
}

int sync_op_drop_field(struct sync_ctx *ctx, int64_t seq, const char *field,
                       int *remaining_out)
{
    return store_outbox_drop_field(ctx->store, seq, field, remaining_out);
}
