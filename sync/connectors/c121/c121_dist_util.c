/*
 * c121_dist_util.c - helpers of the distribution-day phases
 * (c121_dist.h).
 */
#include "c121_dist.h"
#include "c121_push.h"

#include "plat_err.h"
#include "sync_http.h"

#include <string.h>

int c121_send_json(struct c121 *c, const char *method, const char *path,
                   const cJSON *body, struct sync_http_response *r)
{
    char *text = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    if (body) {
        text = cJSON_PrintUnformatted(body);
        if (!text)
            return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = sync_http_request(c->http, method, path,
                           text ? "application/json" : NULL, text,
                           text ? strlen(text) : 0, NULL, r);
    cJSON_free(text);
    return rc;
}

int c121_settle_one(struct c121 *c, const struct sync_op *e, int state,
                    const char *msg, int64_t *count)
{
    int rc = sync_batch_begin(c->ctx);

    if (rc == PLAT_OK)
        rc = c121_op_settle_count(c, e, state, msg, count);
    return sync_batch_end(c->ctx, rc);
}
