/*
 * push_program.c - jobs of kind "program" (`agent kobo program ASSET
 * --create`, store_jobs.h): POST /api/programs with the program built from
 * the Kobo form, then POST /api/programs/{id}/fsp-configurations per FSP
 * (contract 121-api.md sections 2 and 7).
 *
 * Exactly once. A POST of a program is not idempotent on 121 (no key, no
 * upsert), so it is sent with one try only, after the job is marked
 * inflight; an answer that does not come (network, 5xx, a proxy's 502)
 * leaves it inflight, and the next sync looks for the program before it
 * sends again. ASSUMPTION (the contract has no list of programs):
 * `GET /api/programs/{id}` answers any logged-in user for any program
 * (contract 2, "no assignment check") and program ids are one serial
 * sequence, so the program is searched for by id above the largest id
 * this user knew before the POST (from GET /api/users/current
 * permissions and the configured program), until 5 ids in a row are
 * missing (404; deleted programs leave gaps), and recognised by the
 * job's random request key, which the command put in its description.
 * FSP configurations are idempotent by name: 409 "already exists" counts
 * as done.
 *
 * Progress is kept in the job's result: after_id (the search floor),
 * program_id, fsp_done [names]. Never logs values beyond ids and names.
 */
#include "c121.h"
#include "c121_dist.h"
#include "c121_http.h"
#include "c121_push.h"

#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM_SEARCH_GAP 5     /* missing ids in a row that end a search */
#define PROGRAM_SEARCH_MAX 500   /* ids looked at, at most                  */

static int64_t result_int(const cJSON *result, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(result, key);

    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int set_int(cJSON *o, const char *key, int64_t v)
{
    cJSON *n = cJSON_CreateNumber((double)v);

    return sync_json_set(o, key, n) == PLAT_OK ? (cJSON_Delete(n), PLAT_OK)
                                               : (cJSON_Delete(n), ERR_NOMEM);
}

/* 1 when a text of `desc` ({lang: text}) holds `key`. */
static int has_marker(const cJSON *desc, const char *key)
{
    const cJSON *t;

    cJSON_ArrayForEach(t, desc)
        if (cJSON_IsString(t) && strstr(t->valuestring, key))
            return 1;
    return cJSON_IsString(desc) && strstr(desc->valuestring, key);
}

/* The largest program id this user can name now: the keys of its
 * permissions and the configured program. */
static int known_max_id(struct c121 *c, int64_t *out)
{
    cJSON *cur = NULL;
    const cJSON *perm, *p;
    int rc;

    *out = c->program_id;
    rc = c121_get_json(c, "/api/users/current", NULL, "121 GET users/current",
                       &cur, NULL, NULL);
    if (rc < 0)
        return rc;
    perm = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cur, "user"), "permissions");
    cJSON_ArrayForEach(p, perm) {
        long long id = p->string ? atoll(p->string) : 0;

        if (id > *out && id < C121_ID_MAX)
            *out = id;
    }
    cJSON_Delete(cur);
    return PLAT_OK;
}

/* Look for the program with `key` in its description above `after`;
 * *id_out 0 when not found. */
static int find_program(struct c121 *c, int64_t after, const char *key,
                        int64_t *id_out)
{
    int misses = 0;

    *id_out = 0;
    for (int64_t id = after + 1; id <= after + PROGRAM_SEARCH_MAX &&
                                 misses < PROGRAM_SEARCH_GAP; id++) {
        char path[64];
        cJSON *p = NULL;
        long status = 0;
        int rc;

        snprintf(path, sizeof(path), "/api/programs/%lld", (long long)id);
        rc = c121_get_json(c, path, NULL, "121 GET program", &p, &status,
                           NULL);
        if (rc == ERR_NOTFOUND || status == 404) {
            plat_err_clear();
            misses++;
            continue;
        }
        if (rc < 0)
            return rc;
        misses = 0;
        if (has_marker(cJSON_GetObjectItemCaseSensitive(p, "description"),
                       key)) {
            *id_out = id;
            cJSON_Delete(p);
            return PLAT_OK;
        }
        cJSON_Delete(p);
    }
    return PLAT_OK;
}

static int reject(struct c121 *c, const struct sync_job *j, cJSON *result,
                  const char *what, const struct sync_http_response *r)
{
    char msg[C121_MSG_MAX], line[C121_MSG_MAX + 160];
    int rc;

    c121_error_message(r->body.data, r->body.len, msg, sizeof(msg));
    snprintf(line, sizeof(line), "%s: HTTP %ld%s%s%s", what, r->status,
             msg[0] ? ": " : "", msg,
             r->status == 403 ? " (creating a program needs a 121 "
             "organization admin user)" : "");
    log_warn("121: program from Kobo form %s refused: %s", j->asset, line);
    rc = sync_job_update(c->ctx, j->id, "rejected", NULL, result, line);
    if (rc == PLAT_OK)
        sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, 1);
    return rc;
}

/* POST /api/programs once; *id_out the new id, 0 when refused (the job is
 * then rejected). An answer that did not come leaves the job inflight and
 * returns ERR_RETRY. */
static int post_program(struct c121 *c, const struct sync_job *j,
                        cJSON *result, int64_t *id_out)
{
    const cJSON *prog = cJSON_GetObjectItemCaseSensitive(j->payload,
                                                         "program");
    struct sync_http_response r;
    int64_t after = 0;
    int rc, tries;
    cJSON *body = NULL;

    *id_out = 0;
    if ((rc = known_max_id(c, &after)) < 0)
        return rc;
    if ((rc = set_int(result, "after_id", after)) < 0)
        return plat_err_set(rc, "out of memory");
    /* inflight before the request: a crash or a lost answer from here on
     * makes the next sync search first */
    if ((rc = sync_job_update(c->ctx, j->id, "inflight", NULL, result,
                              NULL)) < 0)
        return rc;
    tries = sync_http_set_max_attempts(c->http, 1);
    rc = c121_send_json(c, "POST", "/api/programs", prog, &r);
    sync_http_set_max_attempts(c->http, tries);
    if (rc < 0) {
        char cause[256];

        snprintf(cause, sizeof(cause), "%s", plat_err_msg());
        sync_http_response_dispose(&r);
        return plat_err_set(rc == ERR_AUTH ? ERR_AUTH : ERR_RETRY,
                            "121 POST /api/programs (from Kobo form %s): no "
                            "answer (%s); the next sync checks whether it "
                            "arrived before sending again", j->asset, cause);
    }
    if (r.status == 201 || r.status == 200) {
        body = cJSON_ParseWithLength(r.body.data ? r.body.data : "",
                                     r.body.len);
        if (!c121_json_int(cJSON_GetObjectItemCaseSensitive(body, "id"), 1,
                           C121_ID_MAX, id_out)) {
            cJSON_Delete(body);
            sync_http_response_dispose(&r);
            return plat_err_set(ERR_INVALID, "121 POST /api/programs: the "
                                "answer has no program id; the next sync "
                                "looks for the program");
        }
        cJSON_Delete(body);
        sync_http_response_dispose(&r);
        return PLAT_OK;
    }
    if (r.status >= 400 && r.status < 500 && r.status != 401 &&
        r.status != 408 && r.status != 429) {
        rc = reject(c, j, result, "121 POST /api/programs", &r);
        sync_http_response_dispose(&r);
        return rc;
    }
    rc = sync_http_response_err(&r, "121 POST /api/programs");
    sync_http_response_dispose(&r);
    {
        char cause[256];

        snprintf(cause, sizeof(cause), "%s", plat_err_msg());
        return plat_err_set(rc == PLAT_OK || rc == ERR_GENERIC ? ERR_RETRY
                                                               : rc,
                            "%s; the next sync checks whether the program "
                            "arrived before sending again", cause);
    }
}

static int fsp_done(const cJSON *result, const char *name)
{
    const cJSON *d;

    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(result,
                                                           "fsp_done"))
        if (cJSON_IsString(d) && strcmp(d->valuestring, name) == 0)
            return 1;
    return 0;
}

/* POST each FSP configuration not yet done; 201 and 409 (exists) are
 * done, other 4xx reject the job. *refused_out 1 when rejected. */
static int post_fsps(struct c121 *c, const struct sync_job *j, cJSON *result,
                     int64_t pid, int *refused_out)
{
    const cJSON *f;
    char path[96];

    *refused_out = 0;
    snprintf(path, sizeof(path), "/api/programs/%lld/fsp-configurations",
             (long long)pid);
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(j->payload,
                                                           "fspConfigurations")) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
        struct sync_http_response r;
        cJSON *done;
        int rc;

        if (!cJSON_IsString(nm) || fsp_done(result, nm->valuestring))
            continue;
        rc = c121_send_json(c, "POST", path, f, &r);
        if (rc < 0) {
            sync_http_response_dispose(&r);
            return rc;
        }
        if (r.status >= 400 && r.status < 500 && r.status != 409 &&
            r.status != 401 && r.status != 429) {
            char what[160];

            snprintf(what, sizeof(what), "program %lld created; 121 POST "
                     "fsp-configurations %s", (long long)pid,
                     nm->valuestring);
            rc = reject(c, j, result, what, &r);
            sync_http_response_dispose(&r);
            *refused_out = 1;
            return rc;
        }
        if (r.status != 409 &&
            (rc = sync_http_response_err(&r, "121 POST fsp-configurations"))
                < 0) {
            sync_http_response_dispose(&r);
            return rc;
        }
        sync_http_response_dispose(&r);
        done = cJSON_GetObjectItemCaseSensitive(result, "fsp_done");
        if (!done)
            done = cJSON_AddArrayToObject(result, "fsp_done");
        if (!done || !cJSON_AddItemToArray(done, cJSON_CreateString(
                                                     nm->valuestring)))
            return plat_err_set(ERR_NOMEM, "out of memory");
        if ((rc = sync_job_update(c->ctx, j->id, "pending", "program",
                                  result, NULL)) < 0)
            return rc;
    }
    return PLAT_OK;
}

static int run_job(struct c121 *c, const struct sync_job *j)
{
    cJSON *result = j->result;
    int64_t pid = result_int(result, "program_id");
    int rc, refused = 0;

    if (!pid && strcmp(j->state, "inflight") == 0) {
        /* the POST may have arrived: look before sending again */
        rc = find_program(c, result_int(result, "after_id"),
                          j->request_key, &pid);
        if (rc < 0)
            return rc;
        if (pid)
            log_info("121: program %lld from Kobo form %s was created by an "
                     "earlier sync whose answer was lost", (long long)pid,
                     j->asset);
    }
    if (!pid) {
        if ((rc = post_program(c, j, result, &pid)) < 0)
            return rc;
        if (!pid) /* refused */
            return PLAT_OK;
    }
    if ((rc = set_int(result, "program_id", pid)) < 0)
        return plat_err_set(rc, "out of memory");
    if ((rc = sync_job_update(c->ctx, j->id, "pending", "program", result,
                              NULL)) < 0)
        return rc;
    if ((rc = post_fsps(c, j, result, pid, &refused)) < 0 || refused)
        return rc;
    if ((rc = sync_job_update(c->ctx, j->id, "done", "fsp", result,
                              NULL)) < 0)
        return rc;
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, 1);
    log_info("121: program %lld created from Kobo form %s; point the form "
             "at it with `agent kobo setup ... --program %lld` (or [kobo] "
             "program_id = %lld)", (long long)pid, j->asset, (long long)pid,
             (long long)pid);
    return PLAT_OK;
}

int c121_push_programs(struct c121 *c)
{
    struct sync_jobs jobs = {NULL, 0};
    int rc = sync_jobs_load(c->ctx, "program", &jobs);

    for (size_t i = 0; rc == PLAT_OK && i < jobs.n; i++)
        rc = run_job(c, &jobs.v[i]);
    sync_jobs_free(&jobs);
    return rc;
}
