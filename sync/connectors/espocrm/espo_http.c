/*
 * espo_http.c - the espocrm connector's HTTP and auth layer: cb_init
 * installs the hook that signs every request (X-Api-Key, or
 * X-Hmac-Authorization) and adds the request's extra headers; answers
 * other than 2xx become ERR_* codes. See espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "sync_ctx.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <string.h>

static void auth_release(void *payload)
{
    struct espo_auth *a = payload;

    if (!a)
        return;
    if (a->api_key) {
        memset(a->api_key, 0, strlen(a->api_key));
        plat_free(a->api_key);
    }
    if (a->secret) {
        memset(a->secret, 0, strlen(a->secret));
        plat_free(a->secret);
    }
    plat_free(a);
}

static int auth_headers(void *payload, const char *method, const char *pq,
                        sync_http_header_add_fn add, void *add_ctx)
{
    struct espo_auth *a = payload;
    char value[400], *line;
    int rc = PLAT_OK;
    size_t i;

    if (a->hmac) {
        rc = espo_hmac_value(a->api_key, a->secret, method, pq, a->raw,
                             value, sizeof(value));
        if (rc != PLAT_OK)
            return rc;
        line = plat_asprintf("X-Hmac-Authorization: %s", value);
    } else {
        line = plat_asprintf("X-Api-Key: %s", a->api_key);
    }
    memset(value, 0, sizeof(value));
    if (!line)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = add(add_ctx, line);
    memset(line, 0, strlen(line));
    plat_free(line);
    for (i = 0; rc == PLAT_OK && i < 2; i++)
        if (a->extra[i])
            rc = add(add_ctx, a->extra[i]);
    return rc;
}

int espo_init(struct sync_ctx *ctx, void **state_out)
{
    const char *mode = sync_ctx_conf(ctx, "auth");
    const char *key = sync_ctx_conf(ctx, "api_key");
    const char *secret = sync_ctx_conf(ctx, "secret");
    const char *digest = sync_ctx_conf(ctx, "hmac_digest");
    const struct sync_http_auth hook = {NULL, auth_headers, auth_release};
    struct espo_state *st = NULL;
    struct espo_auth *a;
    int rc;

    *state_out = NULL;
    if (!sync_ctx_http(ctx))
        return plat_err_set(ERR_CONFIG, "[espocrm] url is not set");
    if (mode && strcmp(mode, "apikey") != 0 && strcmp(mode, "hmac") != 0)
        return plat_err_set(ERR_CONFIG, "[espocrm] auth must be apikey or "
                            "hmac");
    if (digest && strcmp(digest, "hex") != 0 && strcmp(digest, "raw") != 0)
        return plat_err_set(ERR_CONFIG, "[espocrm] hmac_digest must be hex "
                            "or raw");
    if (!key || !*key)
        return plat_err_set(ERR_AUTH, "EspoCRM: no API key: set "
                            "AGENT_ESPOCRM_API_KEY or api_key_file");
    if (mode && strcmp(mode, "hmac") == 0 && (!secret || !*secret))
        return plat_err_set(ERR_AUTH, "EspoCRM: no HMAC secret: set "
                            "AGENT_ESPOCRM_SECRET or secret_file");
    if ((rc = espo_state_make(ctx, &st)) != PLAT_OK)
        return rc;
    a = plat_calloc(1, sizeof(*a));
    if (!a) {
        espo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    a->hmac = mode && strcmp(mode, "hmac") == 0;
    a->raw = digest && strcmp(digest, "raw") == 0;
    a->api_key = plat_strdup(key);
    a->secret = a->hmac ? plat_strdup(secret) : NULL;
    if (!a->api_key || (a->hmac && !a->secret)) {
        auth_release(a);
        espo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    st->http = sync_ctx_http(ctx);
    st->auth = a;
    sync_http_set_auth(st->http, &hook, a);
    *state_out = st;
    return PLAT_OK;
}

/* One request with up to two extra header lines. */
int espo_request(struct espo_state *st, const char *method,
                 const char *pq, const char *body, const char *h1,
                 const char *h2, struct sync_http_response *resp)
{
    int rc;

    st->auth->extra[0] = h1;
    st->auth->extra[1] = h2;
    rc = sync_http_request(st->http, method, pq,
                           body ? "application/json" : NULL, body,
                           body ? strlen(body) : 0, NULL, resp);
    st->auth->extra[0] = st->auth->extra[1] = NULL;
    return rc;
}

/* GET the list page `q` (built by the caller, disposed here) without
 * the total count. `rc`: how building q went (not PLAT_OK: returned as
 * it is, nothing sent). */
int espo_get_list(struct espo_state *st, int rc, struct plat_buf *q,
                  struct sync_http_response *resp)
{
    if (rc == PLAT_OK)
        rc = espo_request(st, "GET", q->data, NULL, "X-No-Total: true",
                          NULL, resp);
    plat_buf_dispose(q);
    return rc;
}

/* The error of a non-2xx answer: the X-Status-Reason is the reason shown;
 * 401 and 403 stop the source (ERR_AUTH). */
int espo_answer_err(const struct sync_http_response *r, const char *what)
{
    const char *why = r->status_reason[0] ? r->status_reason : NULL;

    if (r->status == 401 || r->status == 403)
        return plat_err_set(ERR_AUTH, "EspoCRM: %s: HTTP %ld: %s", what,
                            r->status, why ? why
                            : r->status == 401 ? "API key refused"
                            : "no access (check the API user's role)");
    if (why)
        return plat_err_set(sync_http_status_to_err(r->status) < 0
                            ? sync_http_status_to_err(r->status)
                            : ERR_GENERIC,
                            "EspoCRM: %s: HTTP %ld: %s", what, r->status,
                            why);
    return sync_http_response_err(r, what);
}

cJSON *espo_parse_body(const struct sync_http_response *r)
{
    return r->body.data ? cJSON_ParseWithLength(r->body.data, r->body.len)
                        : NULL;
}
