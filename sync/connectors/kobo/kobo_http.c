/*
 * kobo_http.c - the kobo connector's reads from the kpi API: a GET whose
 * answer must be JSON (statuses turned into ERR_* codes that name the
 * form) and the data pages of a form. See kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

/* Turn the answer `resp` (of a GET that returned `rc`) into JSON: status
 * checks, then the parsed body in *out. `asset` names the form in
 * messages. */
int kobo_decode_json(int rc, struct sync_http_response *resp,
                     const char *asset, const char *what, cJSON **out)
{
    *out = NULL;
    if (rc != PLAT_OK)
        return rc;
    if (resp->status == 401) {
        rc = plat_err_set(ERR_AUTH, "kobo: the API token was refused "
                          "(HTTP 401)");
    } else if (resp->status == 403) {
        rc = plat_err_set(ERR_AUTH, "kobo: the token's account may not "
                          "read form %s (HTTP 403)", asset);
    } else if (resp->status == 404) {
        rc = plat_err_set(ERR_CONFIG, "kobo: form %s not found (HTTP 404): "
                          "check [kobo] assets", asset);
    } else if (resp->status >= 500) {
        rc = plat_err_set(ERR_RETRY, "kobo: %s of form %s: HTTP %ld", what,
                          asset, resp->status);
    } else if ((rc = sync_http_response_err(resp, what)) == PLAT_OK &&
               (rc = sync_http_check_json(resp, what)) == PLAT_OK) {
        *out = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "",
                                     resp->body.len);
        if (!*out)
            rc = plat_err_set(ERR_INVALID, "kobo: %s of form %s: the answer "
                              "is not JSON", what, asset);
    }
    return rc;
}

/* GET `path` and parse the JSON answer. */
int kobo_get_json(struct sync_ctx *ctx, const char *path,
                  const char *asset, const char *what, cJSON **out)
{
    struct sync_http_response resp;
    int rc;

    rc = sync_http_request(sync_ctx_http(ctx), "GET", path, NULL, NULL, 0,
                           NULL, &resp);
    rc = kobo_decode_json(rc, &resp, asset, what, out);
    sync_http_response_dispose(&resp);
    return rc;
}

/* The results of a data page `doc` (NULL and ERR_INVALID when it has
 * none), pruned to what the import reads when `prune` is given. */
int kobo_page_results(cJSON **doc, const char *asset,
                      const struct kobo_form *prune,
                      cJSON **results_out, int64_t *count_out)
{
    cJSON *res = cJSON_GetObjectItemCaseSensitive(*doc, "results");
    cJSON *cnt = cJSON_GetObjectItemCaseSensitive(*doc, "count");

    if (!cJSON_IsArray(res)) {
        cJSON_Delete(*doc);
        *doc = NULL;
        return plat_err_set(ERR_INVALID, "kobo: data of form %s: no "
                            "results array", asset);
    }
    if (prune) {
        cJSON *sub;

        cJSON_ArrayForEach(sub, res)
            kobo_att_prune(prune->map, &prune->media, sub);
    }
    *results_out = res;
    *count_out = cJSON_IsNumber(cnt) ? (int64_t)cnt->valuedouble : -1;
    return PLAT_OK;
}

/* GET a data page; *results_out borrowed from *doc_out. */
int kobo_get_page(struct sync_ctx *ctx, const char *asset, int64_t after,
                  const int64_t *ids, size_t n_ids, int limit, int fields,
                  const struct kobo_form *prune, cJSON **doc_out,
                  cJSON **results_out, int64_t *count_out)
{
    char *path = NULL;
    int rc;

    *results_out = NULL;
    *doc_out = NULL;
    rc = kobo_data_path(asset, after, ids, n_ids, limit, fields, &path);
    if (rc == PLAT_OK)
        rc = kobo_get_json(ctx, path, asset, "GET data", doc_out);
    plat_free(path);
    if (rc != PLAT_OK)
        return rc;
    return kobo_page_results(doc_out, asset, prune, results_out, count_out);
}
