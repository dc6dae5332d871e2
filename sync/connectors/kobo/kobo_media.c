/*
 * kobo_media.c - `agent kobo validation-csv ASSET --upload` done by the
 * kobo source's push (kobo_media.h): kobo-connect's /update-kobo-csv
 * without its cloud.
 *
 * Steps, each safe to repeat (kpi API v2, kobo-api.md section 6 and the
 * kpi asset files and deployment endpoints):
 *   1. GET  /api/v2/assets/{uid}/files/?file_type=form_media
 *      A file whose description holds this request's key is ours: the
 *      upload happened (its answer may have been lost). Every other form
 *      media file with the same file name (metadata.filename) is DELETEd
 *      (/files/{file_uid}/; 404 = gone already).
 *   2. POST /api/v2/assets/{uid}/files/ (multipart: content, file_type=
 *      form_media, description with the key, metadata={"filename"}), sent
 *      once (one try): a lost answer leaves the job inflight and step 1 of
 *      the next sync finds the file by its key instead of sending again.
 *   3. GET the asset for its version_id, then PATCH
 *      /api/v2/assets/{uid}/deployment/ {"active": true, "version_id"}:
 *      redeploying the current version makes the form pick up the new
 *      media file (what kobo-connect does); repeating it changes nothing.
 * ASSUMPTION: kpi keeps the description of a form media file as sent (it
 * is a plain text field of AssetFile), so the key finds the file again.
 */
#include "kobo_media.h"

#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_random.h"
#include "sync_ctx.h"
#include "sync_http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static int safe_name(const char *s)
{
    return s && *s && !strpbrk(s, "\"\r\n\\/");
}

int kobo_media_multipart(struct plat_buf *out, char content_type[96],
                         const char *filename, const char *description,
                         const void *file, size_t len)
{
    unsigned char rnd[16];
    char boundary[48];
    cJSON *meta = NULL;
    char *meta_text = NULL;
    int rc;

    content_type[0] = '\0';
    plat_buf_reset(out);
    if (!safe_name(filename) || !description || strpbrk(description, "\r\n"))
        return plat_err_set(ERR_INVALID, "media file name or description "
                            "holds a quote, slash or line break");
    if ((rc = plat_random_bytes(rnd, sizeof(rnd))) < 0)
        return rc;
    memcpy(boundary, "agent-kobo-", 11);
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(boundary + 11 + 2 * i, 3, "%02x", rnd[i]);
    /* 128 random bits: a file holding the boundary is not a practical
     * case, but check it anyway */
    for (size_t i = 0, k = strlen(boundary); i + k <= len; i++)
        if (memcmp((const char *)file + i, boundary, k) == 0)
            return plat_err_set(ERR_GENERIC, "no free multipart boundary");
    meta = cJSON_CreateObject();
    if (!meta || !cJSON_AddStringToObject(meta, "filename", filename) ||
        !(meta_text = cJSON_PrintUnformatted(meta))) {
        cJSON_Delete(meta);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(meta);
    rc = plat_buf_printf(out, "--%s\r\nContent-Disposition: form-data; "
                         "name=\"content\"; filename=\"%s\"\r\n"
                         "Content-Type: text/csv\r\n\r\n", boundary,
                         filename);
    if (rc == PLAT_OK)
        rc = plat_buf_append(out, file, len);
    if (rc == PLAT_OK)
        rc = plat_buf_printf(out, "\r\n--%s\r\nContent-Disposition: "
                             "form-data; name=\"file_type\"\r\n\r\n"
                             "form_media\r\n--%s\r\nContent-Disposition: "
                             "form-data; name=\"description\"\r\n\r\n%s"
                             "\r\n--%s\r\nContent-Disposition: form-data; "
                             "name=\"metadata\"\r\n\r\n%s\r\n--%s--\r\n",
                             boundary, boundary, description, boundary,
                             meta_text, boundary);
    cJSON_free(meta_text);
    if (rc < 0) {
        plat_buf_dispose(out);
        return rc;
    }
    snprintf(content_type, 96, "multipart/form-data; boundary=%s", boundary);
    return PLAT_OK;
}

/* ---- HTTP ------------------------------------------------------------------ */

/* A non-2xx answer: 401/403 stop the source, other 4xx refuse the job
 * (*refused 1, `why` set), 5xx and the rest retry. */
static int answer_err(const struct sync_http_response *r, const char *asset,
                      const char *what, int *refused, char *why, size_t n)
{
    char msg[256];

    if (r->status >= 200 && r->status < 300)
        return PLAT_OK;
    if (r->status == 401)
        return plat_err_set(ERR_AUTH, "kobo: the API token was refused "
                            "(HTTP 401)");
    if (r->status == 403)
        return plat_err_set(ERR_AUTH, "kobo: the token's account may not "
                            "change form %s (HTTP 403)", asset);
    if (r->status >= 400 && r->status < 500 && r->status != 408 &&
        r->status != 429) {
        sync_http_error_text(r, msg, sizeof(msg));
        snprintf(why, n, "kobo %s of form %s: HTTP %ld%s%s", what, asset,
                 r->status, msg[0] ? ": " : "", msg);
        *refused = 1;
        return PLAT_OK;
    }
    return plat_err_set(ERR_RETRY, "kobo %s of form %s: HTTP %ld", what,
                        asset, r->status);
}

static int request_json(struct sync_ctx *ctx, const char *method,
                        const char *path, const cJSON *body,
                        struct sync_http_response *r)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    int rc;

    if (body && !text) {
        memset(r, 0, sizeof(*r));
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = sync_http_request(sync_ctx_http(ctx), method, path,
                           text ? "application/json" : NULL, text,
                           text ? strlen(text) : 0, NULL, r);
    cJSON_free(text);
    return rc;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Step 1: find our file, delete the other files of the same name.
 * *ours_out: our file's uid ("" when not there). */
static int clean_files(struct sync_ctx *ctx, const struct sync_job *j,
                       const char *filename, char *ours_out, size_t n,
                       int *refused, char *why, size_t wn)
{
    struct sync_http_response r;
    char path[256];
    cJSON *doc = NULL, *f;
    int rc;

    ours_out[0] = '\0';
    snprintf(path, sizeof(path), "/api/v2/assets/%s/files/?format=json&"
             "file_type=form_media&limit=1000", j->asset);
    rc = request_json(ctx, "GET", path, NULL, &r);
    if (rc == PLAT_OK)
        rc = answer_err(&r, j->asset, "GET files", refused, why, wn);
    if (rc == PLAT_OK && !*refused) {
        doc = cJSON_ParseWithLength(r.body.data ? r.body.data : "",
                                    r.body.len);
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "results")))
            rc = plat_err_set(ERR_INVALID, "kobo GET files of form %s: the "
                              "answer has no results", j->asset);
    }
    sync_http_response_dispose(&r);
    if (rc < 0 || *refused) {
        cJSON_Delete(doc);
        return rc;
    }
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(doc, "results")) {
        const char *uid = str_of(f, "uid"), *desc = str_of(f, "description");
        const char *fn = str_of(cJSON_GetObjectItemCaseSensitive(
                                    f, "metadata"), "filename");
        const char *ft = str_of(f, "file_type");

        if (!uid || (ft && strcmp(ft, "form_media") != 0))
            continue;
        if (desc && strstr(desc, j->request_key)) {
            snprintf(ours_out, n, "%s", uid);
            continue;
        }
        if (!fn || strcmp(fn, filename) != 0 || !safe_name(uid))
            continue;
        snprintf(path, sizeof(path), "/api/v2/assets/%s/files/%s/", j->asset,
                 uid);
        rc = sync_http_request(sync_ctx_http(ctx), "DELETE", path, NULL,
                               NULL, 0, NULL, &r);
        if (rc == PLAT_OK && r.status != 404)
            rc = answer_err(&r, j->asset, "DELETE file", refused, why, wn);
        sync_http_response_dispose(&r);
        if (rc < 0 || *refused)
            break;
        log_info("kobo: form %s: old media file %s deleted", j->asset,
                 filename);
    }
    cJSON_Delete(doc);
    return rc;
}

/* Step 2: upload once; *uid_out the new file's uid. */
static int upload(struct sync_ctx *ctx, const struct sync_job *j,
                  const char *filename, char *uid_out, size_t n,
                  int *refused, char *why, size_t wn)
{
    const char *desc = str_of(j->payload, "description");
    struct sync_http_response r;
    struct plat_buf body;
    char ctype[96], path[160];
    cJSON *doc;
    int rc, tries;

    memset(&r, 0, sizeof(r));
    plat_buf_init(&body, 0);
    rc = kobo_media_multipart(&body, ctype, filename, desc ? desc : "",
                              j->body ? j->body : "", j->body_len);
    if (rc < 0)
        return rc;
    /* inflight before sending: a lost answer makes the next sync look for
     * the file by its key first */
    if ((rc = sync_job_update(ctx, j->id, "inflight", NULL, NULL, NULL)) < 0) {
        plat_buf_dispose(&body);
        return rc;
    }
    snprintf(path, sizeof(path), "/api/v2/assets/%s/files/", j->asset);
    tries = sync_http_set_max_attempts(sync_ctx_http(ctx), 1);
    rc = sync_http_request(sync_ctx_http(ctx), "POST", path, ctype,
                           body.data, body.len, NULL, &r);
    sync_http_set_max_attempts(sync_ctx_http(ctx), tries);
    plat_buf_dispose(&body);
    if (rc < 0) {
        char cause[256];

        snprintf(cause, sizeof(cause), "%s", plat_err_msg());
        sync_http_response_dispose(&r);
        return plat_err_set(rc == ERR_AUTH ? ERR_AUTH : ERR_RETRY,
                            "kobo upload of %s to form %s: no answer (%s); "
                            "the next sync checks whether it arrived",
                            filename, j->asset, cause);
    }
    rc = answer_err(&r, j->asset, "POST files", refused, why, wn);
    if (rc == PLAT_OK && !*refused) {
        doc = cJSON_ParseWithLength(r.body.data ? r.body.data : "",
                                    r.body.len);
        snprintf(uid_out, n, "%s", str_of(doc, "uid") ? str_of(doc, "uid")
                                                       : "?");
        cJSON_Delete(doc);
    }
    sync_http_response_dispose(&r);
    return rc;
}

/* Step 3: redeploy the current version. */
static int redeploy(struct sync_ctx *ctx, const struct sync_job *j,
                    char *version_out, size_t n, int *refused, char *why,
                    size_t wn)
{
    struct sync_http_response r;
    char path[160];
    cJSON *asset = NULL, *body = NULL;
    const char *version;
    int rc;

    snprintf(path, sizeof(path), "/api/v2/assets/%s/?format=json", j->asset);
    rc = request_json(ctx, "GET", path, NULL, &r);
    if (rc == PLAT_OK)
        rc = answer_err(&r, j->asset, "GET form", refused, why, wn);
    if (rc == PLAT_OK && !*refused)
        asset = cJSON_ParseWithLength(r.body.data ? r.body.data : "",
                                      r.body.len);
    sync_http_response_dispose(&r);
    if (rc < 0 || *refused)
        return rc;
    version = str_of(asset, "version_id");
    if (!version) {
        cJSON_Delete(asset);
        return plat_err_set(ERR_INVALID, "kobo GET form %s: no version_id",
                            j->asset);
    }
    snprintf(version_out, n, "%s", version);
    body = cJSON_CreateObject();
    cJSON_Delete(asset);
    if (!body || !cJSON_AddBoolToObject(body, "active", 1) ||
        !cJSON_AddStringToObject(body, "version_id", version_out)) {
        cJSON_Delete(body);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    snprintf(path, sizeof(path), "/api/v2/assets/%s/deployment/", j->asset);
    rc = request_json(ctx, "PATCH", path, body, &r);
    cJSON_Delete(body);
    if (rc == PLAT_OK)
        rc = answer_err(&r, j->asset, "PATCH deployment", refused, why, wn);
    sync_http_response_dispose(&r);
    return rc;
}

static int run_job(struct sync_ctx *ctx, const struct sync_job *j)
{
    const char *filename = str_of(j->payload, "filename");
    char uid[128] = "", version[128] = "", why[512] = "";
    int rc = PLAT_OK, refused = 0;

    if (!filename || !safe_name(filename))
        return sync_job_update(ctx, j->id, "rejected", NULL, NULL,
                               "the job has no usable file name");
    if (strcmp(j->step, "uploaded") != 0) {
        rc = clean_files(ctx, j, filename, uid, sizeof(uid), &refused, why,
                         sizeof(why));
        if (rc == PLAT_OK && !refused && !uid[0])
            rc = upload(ctx, j, filename, uid, sizeof(uid), &refused, why,
                        sizeof(why));
        else if (rc == PLAT_OK && !refused)
            log_info("kobo: form %s: %s was uploaded by an earlier sync "
                     "whose answer was lost", j->asset, filename);
        if (rc == PLAT_OK && !refused) {
            cJSON *res = cJSON_Duplicate(j->result, 1);

            if (res)
                cJSON_DeleteItemFromObjectCaseSensitive(res, "file_uid");
            if (!res || !cJSON_AddStringToObject(res, "file_uid", uid))
                rc = plat_err_set(ERR_NOMEM, "out of memory");
            else
                rc = sync_job_update(ctx, j->id, "pending", "uploaded", res,
                                     NULL);
            cJSON_Delete(res);
        }
    }
    if (rc == PLAT_OK && !refused)
        rc = redeploy(ctx, j, version, sizeof(version), &refused, why,
                      sizeof(why));
    if (rc < 0)
        return rc;
    if (refused) {
        log_warn("%s", why);
        sync_ctx_count(ctx, SYNC_COUNT_REJECTED, 1);
        return sync_job_update(ctx, j->id, "rejected", NULL, NULL, why);
    }
    sync_ctx_count(ctx, SYNC_COUNT_PUSHED, 1);
    log_info("kobo: form %s: %s replaced and the form redeployed (version "
             "%s)", j->asset, filename, version);
    return sync_job_update(ctx, j->id, "done", "deployed", NULL, NULL);
}

int kobo_push_media(struct sync_ctx *ctx)
{
    struct sync_jobs jobs = {NULL, 0};
    int rc = sync_jobs_load(ctx, "media", &jobs);

    for (size_t i = 0; rc == PLAT_OK && i < jobs.n; i++)
        rc = run_job(ctx, &jobs.v[i]);
    sync_jobs_free(&jobs);
    return rc;
}
