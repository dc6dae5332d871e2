/*
 * engine_jobs.c - the jobs services of sync_ctx.h: a connector reads the
 * open jobs queued for its source and records each step's outcome.
 */
#include "engine_internal.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_jobs.h"

struct load_state {
    struct sync_jobs *out;
    size_t cap;
    int rc;
};

static void job_dispose(struct sync_job *j)
{
    plat_free(j->request_key);
    plat_free(j->kind);
    plat_free(j->asset);
    plat_free(j->state);
    plat_free(j->step);
    cJSON_Delete(j->payload);
    cJSON_Delete(j->result);
    plat_free(j->body);
    memset(j, 0, sizeof(*j));
}

static int on_job(const struct store_job *sj, void *payload)
{
    struct load_state *ls = payload;
    struct sync_jobs *out = ls->out;
    struct sync_job *j;

    if (out->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 4;
        struct sync_job *v = plat_realloc(out->v, cap * sizeof(*v));

        if (!v)
            return ls->rc = plat_err_set(ERR_NOMEM, "out of memory");
        out->v = v;
        ls->cap = cap;
    }
    j = &out->v[out->n];
    memset(j, 0, sizeof(*j));
    j->id = sj->id;
    j->attempts = sj->attempts;
    j->request_key = plat_strdup(sj->request_key);
    j->kind = plat_strdup(sj->kind);
    j->asset = plat_strdup(sj->asset);
    j->state = plat_strdup(sj->state);
    j->step = plat_strdup(sj->step);
    j->payload = cJSON_Parse(sj->payload);
    j->result = sj->result ? cJSON_Parse(sj->result) : cJSON_CreateObject();
    if (sj->body && sj->body_len) {
        j->body = plat_malloc(sj->body_len);
        if (j->body) {
            memcpy(j->body, sj->body, sj->body_len);
            j->body_len = sj->body_len;
        }
    }
    out->n++;
    if (!j->request_key || !j->kind || !j->asset || !j->state || !j->step ||
        (sj->body_len && !j->body))
        return ls->rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (!j->payload || !cJSON_IsObject(j->result))
        return ls->rc = plat_err_set(ERR_CORRUPT, "job %lld: its stored "
                                     "payload is not JSON",
                                     (long long)sj->id);
    return 0;
}

int sync_jobs_load(struct sync_ctx *ctx, const char *kind,
                   struct sync_jobs *out)
{
    struct load_state ls = {out, out->n, PLAT_OK};
    int rc = store_job_list(ctx->store, ctx->conn->name, kind, 1, on_job,
                            &ls);

    if (ls.rc < 0)
        return ls.rc;
    return rc < 0 ? rc : PLAT_OK;
}

void sync_jobs_free(struct sync_jobs *jobs)
{
    for (size_t i = 0; jobs && i < jobs->n; i++)
        job_dispose(&jobs->v[i]);
    if (jobs) {
        plat_free(jobs->v);
        jobs->v = NULL;
        jobs->n = 0;
    }
}

int sync_job_update(struct sync_ctx *ctx, int64_t id, const char *state,
                    const char *step, const cJSON *result, const char *msg)
{
    char *text = result ? cJSON_PrintUnformatted(result) : NULL;
    int rc;

    if (result && !text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = store_job_update(ctx->store, id, state, step, text, msg,
                          strcmp(state, "inflight") == 0);
    cJSON_free(text);
    return rc;
}
