/*
 * engine_check.c - the three-way field check, field policies and conflict
 * records (sync_ctx.h). One copy of the rule for every connector: a field
 * is sent when the source still holds its base value, is already done when
 * the source holds the new value, and is otherwise changed on both sides:
 * then the field's policy decides (manual: a conflict a person resolves).
 */
#include "engine_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "plat_err.h"
#include "store_conflicts.h"
#include "store_program.h"
#include "store_sync.h"

/* ---- values ------------------------------------------------------------- */

static int is_empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) ||
           (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

/* The default comparison: JSON equality, null equals "". */
static int default_same(const cJSON *a, const cJSON *b)
{
    if (is_empty(a) || is_empty(b))
        return is_empty(a) && is_empty(b);
    return cJSON_Compare(a, b, 1);
}

int sync_same_value(struct sync_ctx *ctx, const char *field, const cJSON *a,
                    const cJSON *b)
{
    if (!ctx->conn->same_value)
        return default_same(a, b);
    return ctx->conn->same_value(sync_ctx_program(ctx), field, a, b);
}

int sync_field_policy(struct sync_ctx *ctx, const char *field)
{
    int p;

    if (!ctx->opt->policy)
        return SYNC_POLICY_MANUAL;
    p = ctx->opt->policy(ctx->opt->policy_payload, field);
    return p == SYNC_POLICY_SERVER_WINS || p == SYNC_POLICY_DEVICE_WINS
               ? p
               : SYNC_POLICY_MANUAL;
}

char *sync__json_text(const cJSON *v)
{
    cJSON *null_item = NULL;
    char *t = NULL;

    if (!v)
        v = null_item = cJSON_CreateNull();
    if (v)
        t = cJSON_PrintUnformatted(v);
    cJSON_Delete(null_item);
    if (!t)
        plat_err_set(ERR_NOMEM, "out of memory formatting a value");
    return t;
}

/* ---- conflicts ---------------------------------------------------------- */

int sync_conflict_add(struct sync_ctx *ctx, int64_t seq, const char *ref,
                      const char *field, const cJSON *base,
                      const cJSON *local, const cJSON *source,
                      const char *auto_resolution)
{
    char *tb = sync__json_text(base), *tl = sync__json_text(local),
         *ts = sync__json_text(source);
    int rc;

    if (!tb || !tl || !ts)
        rc = ERR_NOMEM;
    else if (auto_resolution)
        rc = store_conflict_add_resolved(ctx->store, ctx->conn->name, seq,
                                         ref, field, tb, tl, ts,
                                         auto_resolution, NULL);
    else
        rc = store_conflict_add(ctx->store, ctx->conn->name, seq, ref,
                                field, tb, tl, ts, NULL);
    cJSON_free(tb);
    cJSON_free(tl);
    cJSON_free(ts);
    return rc;
}

int sync_conflict_add_once(struct sync_ctx *ctx, int64_t seq, const char *ref,
                           const char *field, const cJSON *base,
                           const cJSON *local, const cJSON *source)
{
    int exists = 0;
    int rc = store_conflict_exists(ctx->store, seq, field, &exists);

    if (rc < 0 || exists)
        return rc;
    return sync_conflict_add(ctx, seq, ref, field, base, local, source, NULL);
}

/* ---- the check ---------------------------------------------------------- */

int sync_json_set(cJSON *obj, const char *key, const cJSON *value)
{
    cJSON *copy = value ? cJSON_Duplicate(value, 1) : cJSON_CreateNull();

    if (!copy)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, copy)) {
            cJSON_Delete(copy);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
        return PLAT_OK;
    }
    if (!cJSON_AddItemToObject(obj, key, copy)) {
        cJSON_Delete(copy);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return PLAT_OK;
}

/* Append [field, base, local, source] to *list (created on first use). */
static int add_quad(cJSON **list, const char *field, const cJSON *base,
                    const cJSON *local, const cJSON *source)
{
    cJSON *q = cJSON_CreateArray();

    if (!*list)
        *list = cJSON_CreateArray();
    if (!q || !*list || !cJSON_AddItemToArray(q, cJSON_CreateString(field)) ||
        !cJSON_AddItemToArray(q, base ? cJSON_Duplicate(base, 1)
                                      : cJSON_CreateNull()) ||
        !cJSON_AddItemToArray(q, local ? cJSON_Duplicate(local, 1)
                                       : cJSON_CreateNull()) ||
        !cJSON_AddItemToArray(q, source ? cJSON_Duplicate(source, 1)
                                        : cJSON_CreateNull()) ||
        !cJSON_AddItemToArray(*list, q)) {
        cJSON_Delete(q);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return PLAT_OK;
}

void sync_check_dispose(struct sync_check *chk)
{
    cJSON_Delete(chk->send);
    cJSON_Delete(chk->conflicts);
    cJSON_Delete(chk->wins);
    memset(chk, 0, sizeof(*chk));
}

int sync_check_fields(struct sync_ctx *ctx, const struct sync_op *op,
                      const cJSON *data, const cJSON *base, cJSON *working,
                      const cJSON *source_copy, struct sync_check *out)
{
    const cJSON *f, *sv, *bv;
    int rc = PLAT_OK, policy;

    memset(out, 0, sizeof(*out));
    cJSON_ArrayForEach(f, data) {
        sv = cJSON_GetObjectItemCaseSensitive(working, f->string);
        bv = cJSON_GetObjectItemCaseSensitive(base, f->string);
        if (sync_same_value(ctx, f->string, sv, f))
            continue;             /* already there */
        if (!sync_same_value(ctx, f->string, sv, bv)) {
            policy = sync_field_policy(ctx, f->string);
            if (policy == SYNC_POLICY_MANUAL) {
                rc = add_quad(&out->conflicts, f->string, bv, f, sv);
                if (rc < 0)
                    break;
                continue;
            }
            if (policy == SYNC_POLICY_SERVER_WINS) {
                /* Audit record first: the drop rewrites the stored
                 * operation, not `data`, which the caller still holds. */
                rc = sync_conflict_add(ctx, op->seq, op->ref, f->string, bv,
                                       f,
                                       cJSON_GetObjectItemCaseSensitive(
                                           source_copy, f->string),
                                       "server");
                if (rc == PLAT_OK)
                    rc = sync_op_drop_field(ctx, op->seq, f->string, NULL);
                if (rc < 0)
                    break;
                out->dropped++;
                continue;
            }
            rc = add_quad(&out->wins, f->string, bv, f, sv);
            if (rc < 0)
                break;
        }
        if (!out->send && !(out->send = cJSON_CreateObject())) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            break;
        }
        rc = sync_json_set(out->send, f->string, f);
        if (rc == PLAT_OK)
            rc = sync_json_set(working, f->string, f);
        if (rc < 0)
            break;
    }
    if (rc < 0)
        sync_check_dispose(out);
    return rc;
}

static int record_quads(struct sync_ctx *ctx, const struct sync_op *op,
                        const cJSON *list, const char *auto_resolution)
{
    const cJSON *q;
    int rc = PLAT_OK;

    cJSON_ArrayForEach(q, list) {
        rc = sync_conflict_add(ctx, op->seq, op->ref,
                               cJSON_GetArrayItem(q, 0)->valuestring,
                               cJSON_GetArrayItem(q, 1),
                               cJSON_GetArrayItem(q, 2),
                               cJSON_GetArrayItem(q, 3), auto_resolution);
        if (rc < 0)
            break;
    }
    return rc;
}

int sync_check_record(struct sync_ctx *ctx, const struct sync_op *op,
                      const struct sync_check *chk)
{
    int rc = record_quads(ctx, op, chk->wins, "local");

    if (rc == PLAT_OK && cJSON_GetArraySize(chk->conflicts) > 0) {
        rc = record_quads(ctx, op, chk->conflicts, NULL);
        if (rc == PLAT_OK)
            rc = sync_op_settle(ctx, op->seq, op->ref, SYNC_OP_CONFLICT,
                                NULL);
        if (rc == PLAT_OK)
            ctx->sum->conflicts += cJSON_GetArraySize(chk->conflicts);
    }
    return rc;
}
