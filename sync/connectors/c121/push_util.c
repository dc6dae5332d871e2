/*
 * push_util.c - helpers the push phases and the confirmation share
 * (c121_push.h).
 */
#include "c121_push.h"

#include "c121_http.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_http.h"

#include <stdio.h>
#include <string.h>

int c121_ops_load(struct c121 *c, int kind, int state, int64_t after_seq,
                  int limit, struct sync_ops *out)
{
    return sync_ops_load(c->ctx, kind, state, after_seq, limit, out);
}

int c121_op_settle_count(struct c121 *c, const struct sync_op *e, int state,
                         const char *msg, int64_t *count)
{
    int rc = sync_op_settle(c->ctx, e->seq, e->ref, state, msg);

    if (rc == PLAT_OK)
        (*count)++;
    return rc;
}

int c121_server_copy(struct c121 *c, const char *ref, cJSON **out)
{
    int64_t n = 0;
    int rc;

    rc = sync_get_registration(c->ctx, ref, out);
    if (rc != ERR_NOTFOUND)
        return rc;
    rc = sync_ops_count_ref(c->ctx, ref, SYNC_OP_CREATE, SYNC_OP_REJECTED, &n);
    if (rc < 0)
        return rc;
    if (n > 0)
        return plat_err_set(ERR_INVALID, "registration %s was never created "
                            "on 121 (its create was rejected)", ref);
    return plat_err_set(ERR_NOTFOUND, "121 has not shown registration %s "
                        "yet", ref);
}

int c121_field_is_tel(struct c121 *c, const char *field)
{
    return c121_is_tel(c121_program(c), field);
}

int c121_append_in_filter(struct plat_buf *b, const char *const *refs,
                          size_t n, size_t max_len, size_t *taken)
{
    size_t i, mark;
    int rc;

    *taken = 0;
    if (n == 0)
        return plat_err_set(ERR_INVALID, "no referenceIds to filter on");
    if (strchr(refs[0], ',')) {
        /* $in splits on commas: such a referenceId goes alone, by $eq. */
        rc = plat_buf_puts(b, "filter.referenceId=$eq:");
        if (rc == PLAT_OK)
            rc = sync_http_escape(b, refs[0]);
        if (rc == PLAT_OK)
            *taken = 1;
        return rc;
    }
    rc = plat_buf_puts(b, "filter.referenceId=$in:");
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        if (i > 0 && strchr(refs[i], ','))
            break; /* it starts a request of its own */
        mark = b->len;
        if (i > 0)
            rc = plat_buf_puts(b, ",");
        if (rc == PLAT_OK)
            rc = sync_http_escape(b, refs[i]);
        if (rc < 0)
            return rc;
        if (b->len > max_len && i > 0) {
            /* Over the limit: take this one back, it starts the next
             * chunk. */
            b->len = mark;
            b->data[mark] = '\0';
            break;
        }
    }
    if (rc == PLAT_OK)
        *taken = i;
    return rc;
}

void c121_row_message(const cJSON *entries, long row, char *out, size_t n)
{
    cJSON *mine = cJSON_CreateArray(), *copy;
    const cJSON *e;
    char *text = NULL;

    out[0] = '\0';
    if (!mine)
        return;
    cJSON_ArrayForEach(e, entries) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "_row");
        if (!cJSON_IsNumber(r) || (long)r->valuedouble != row)
            continue;
        copy = cJSON_Duplicate(e, 1);
        if (!copy)
            break;
        /* They name the batch, not the registration. */
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "_row");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "lineNumber");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "referenceId");
        cJSON_AddItemToArray(mine, copy);
    }
    text = cJSON_PrintUnformatted(mine);
    if (text)
        c121_error_message(text, strlen(text), out, n);
    cJSON_free(text);
    cJSON_Delete(mine);
}

long c121_entry_row(const cJSON *e, size_t n, c121_row_ref_fn ref_of,
                    const void *rows)
{
    const cJSON *ln, *ref;
    size_t i;

    if (!cJSON_IsObject(e))
        return -1;
    ln = cJSON_GetObjectItemCaseSensitive(e, "lineNumber");
    ref = cJSON_GetObjectItemCaseSensitive(e, "referenceId");
    if (cJSON_IsNumber(ln) && ln->valuedouble >= 1 &&
        ln->valuedouble <= (double)n) {
        i = (size_t)ln->valuedouble - 1;
        if (!cJSON_IsString(ref) ||
            strcmp(ref->valuestring, ref_of(rows, i)) == 0)
            return (long)i;
    }
    if (cJSON_IsString(ref))
        for (i = 0; i < n; i++)
            if (strcmp(ref->valuestring, ref_of(rows, i)) == 0)
                return (long)i;
    return -1;
}

int c121_edit_knew(struct c121 *c, const struct sync_op *op, const char *ref,
                   const char *field, const cJSON *v)
{
    const cJSON *sent = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(op->payload, "data"), field);

    return sent && strcmp(op->ref, ref) == 0 &&
           (sync_same_value(c->ctx, field, v, sent) ||
            sync_same_value(c->ctx, field, v,
                            cJSON_GetObjectItemCaseSensitive(op->base,
                                                             field)));
}

int c121_set_again_later(const struct sync_ops *ops, const struct sync_op *op,
                         const char *field)
{
    size_t j;

    for (j = 0; j < ops->n; j++) {
        const struct sync_op *l = &ops->v[j];
        const cJSON *data =
            cJSON_GetObjectItemCaseSensitive(l->payload, "data");

        if (l->seq > op->seq && strcmp(l->ref, op->ref) == 0 &&
            cJSON_GetObjectItemCaseSensitive(data, field))
            return 1;
    }
    return 0;
}
