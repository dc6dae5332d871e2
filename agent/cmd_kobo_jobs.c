/*
 * cmd_kobo_jobs.c - `agent kobo program ASSET --create` and `agent kobo
 * validation-csv ASSET --upload` queue a job (store_jobs.h) for the next
 * sync; this file makes the jobs and shows them (cmd_kobo_jobs.h).
 *
 * Why queue instead of calling the server here: the device is often
 * offline, and both requests must happen exactly once even when an
 * answer is lost, which the sync's push does (a job is marked inflight
 * before its non-idempotent request and looked for by its request key
 * before it is sent again). The upload runs the kobo sync at once when
 * there is a link (what a field operator expects from "--upload"); the
 * program is created by the next 121 sync (creating a program is an
 * office decision worth a look at the printed plan first).
 */
#include "cmd_kobo_jobs.h"

#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "kobo_program.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_random.h"
#include "store.h"
#include "store_jobs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define MEDIA_FILE "ValidationDataFrom121.csv"

static int new_key(const char *prefix, char *out, size_t n)
{
    unsigned char rnd[12];
    size_t len;
    int rc = plat_random_bytes(rnd, sizeof(rnd));

    if (rc < 0)
        return rc;
    snprintf(out, n, "%s-", prefix);
    len = strlen(out);
    for (size_t i = 0; i < sizeof(rnd) && len + 2 < n; i++, len += 2)
        snprintf(out + len, 3, "%02x", rnd[i]);
    return PLAT_OK;
}

/* ---- listing ------------------------------------------------------------- */

static int add_job(const struct store_job *j, void *payload)
{
    cJSON *arr = payload, *o = cJSON_CreateObject(), *res;

    if (!o || !cJSON_AddItemToArray(arr, o))
        goto nomem;
    res = j->result ? cJSON_Parse(j->result) : NULL;
    if (!cJSON_AddNumberToObject(o, "id", (double)j->id) ||
        !cJSON_AddStringToObject(o, "kind", j->kind) ||
        !cJSON_AddStringToObject(o, "target", j->target) ||
        !cJSON_AddStringToObject(o, "asset", j->asset) ||
        !cJSON_AddStringToObject(o, "state", j->state) ||
        !cJSON_AddStringToObject(o, "step", j->step) ||
        !cJSON_AddItemToObject(o, "result", res ? res : cJSON_CreateNull()) ||
        !(j->message ? cJSON_AddStringToObject(o, "message", j->message)
                     : cJSON_AddNullToObject(o, "message")) ||
        !cJSON_AddNumberToObject(o, "attempts", j->attempts) ||
        !cJSON_AddStringToObject(o, "created_at", j->created_at) ||
        !cJSON_AddStringToObject(o, "updated_at", j->updated_at))
        goto nomem;
    return 0;
nomem:
    return plat_err_set(ERR_NOMEM, "out of memory");
}

int agent_kobo_jobs_json(struct store *s, cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    int rc;

    *out = NULL;
    if (!arr)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = store_job_list(s, NULL, NULL, 0, add_job, arr);
    if (rc < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return PLAT_OK;
}

static void describe(const struct store_job *j, char *out, size_t n)
{
    if (strcmp(j->kind, "program") == 0)
        snprintf(out, n, "create a 121 program from Kobo form %s (next `agent "
                 "sync --now --source 121`)", j->asset);
    else
        snprintf(out, n, "upload %s to Kobo form %s and redeploy (next "
                 "`agent sync --now --source kobo`)", MEDIA_FILE, j->asset);
}

static int print_open(const struct store_job *j, void *payload)
{
    FILE *f = payload;
    char what[256];

    describe(j, what, sizeof(what));
    fprintf(f, "job %lld  %-8s  %s%s\n", (long long)j->id, j->state, what,
            strcmp(j->state, "inflight") == 0
                ? "; its answer was lost: the next sync checks whether it "
                  "arrived" : "");
    return 0;
}

int agent_kobo_jobs_print_open(struct store *s, FILE *f)
{
    return store_job_list(s, NULL, NULL, 1, print_open, f);
}

void agent_kobo_jobs_print(const cJSON *jobs, FILE *f)
{
    const cJSON *j;

    cJSON_ArrayForEach(j, jobs) {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "result");
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(res,
                                                            "program_id");
        const char *msg = agent_json_str(j, "message");
        const char *kind = agent_json_str(j, "kind");
        const char *state = agent_json_str(j, "state");

        fprintf(f, "job %.0f  %-7s  %-8s  form %s", cJSON_GetObjectItem(
                    j, "id")->valuedouble, kind, state,
                agent_json_str(j, "asset"));
        if (cJSON_IsNumber(pid))
            fprintf(f, "  program %.0f", pid->valuedouble);
        if (cJSON_IsNumber(pid) && strcmp(state, "done") == 0)
            fprintf(f, " (point the form at it: `agent kobo setup ... "
                    "--program %.0f`)", pid->valuedouble);
        if (msg)
            fprintf(f, "  %s", msg);
        fputc('\n', f);
    }
}

/* ---- program --create ----------------------------------------------------- */

struct earlier {
    const char *asset, *kind;
    int64_t id, program_id;
    char state[16];
};

static int find_earlier(const struct store_job *j, void *payload)
{
    struct earlier *e = payload;
    cJSON *res;

    if (strcmp(j->asset, e->asset) != 0 || strcmp(j->kind, e->kind) != 0 ||
        strcmp(j->state, "rejected") == 0)
        return 0;
    e->id = j->id;
    snprintf(e->state, sizeof(e->state), "%s", j->state);
    res = j->result ? cJSON_Parse(j->result) : NULL;
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(res, "program_id")))
        e->program_id = (int64_t)cJSON_GetObjectItemCaseSensitive(
            res, "program_id")->valuedouble;
    cJSON_Delete(res);
    return 0;
}

int agent_kobo_program_create(struct agent_ctx *ctx, const char *asset,
                              const cJSON *asset_json, int again)
{
    struct earlier e = {asset, "program", 0, 0, ""};
    cJSON *plan = NULL, *o = NULL;
    char key[64], why[512], *text = NULL;
    const cJSON *prog;
    int64_t id = 0;
    int rc;

    rc = store_job_list(ctx->store, "121", "program", 0, find_earlier, &e);
    if (rc < 0)
        return rc;
    if (e.id && !again) {
        if (e.program_id)
            return plat_err_set(ERR_EXISTS, "kobo program --create: program "
                                "%lld was created from form %s already "
                                "(job %lld); point the form at it with `agent "
                                "kobo setup ... --program %lld`, or add "
                                "--again for another program",
                                (long long)e.program_id, asset,
                                (long long)e.id, (long long)e.program_id);
        return plat_err_set(ERR_EXISTS, "kobo program --create: a program "
                            "from form %s is queued already (job %lld, %s); "
                            "add --again for a second program", asset,
                            (long long)e.id, e.state);
    }
    if ((rc = new_key("kp", key, sizeof(key))) < 0)
        return rc;
    rc = kobo_program_plan(asset_json, key, &plan, why, sizeof(why));
    if (rc != PLAT_OK)
        return plat_err_set(rc, "kobo program --create: form %s: %s", asset,
                            why);
    text = cJSON_PrintUnformatted(plan);
    if (!text) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = store_job_add(ctx->store, "program", "121", asset, key, text, NULL,
                       0, &id);
    if (rc < 0)
        goto done;
    prog = cJSON_GetObjectItemCaseSensitive(plan, "program");
    if (ctx->g.json) {
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddNumberToObject(o, "job", (double)id) ||
            !cJSON_AddStringToObject(o, "asset", asset) ||
            !cJSON_AddStringToObject(o, "state", "pending") ||
            !cJSON_AddItemToObject(o, "plan", cJSON_Duplicate(plan, 1))) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(o);
    } else {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(prog, "titlePortal");

        printf("queued (job %lld): 121 program \"%s\" from form %s, %d "
               "attributes, %d FSP configurations; the next `agent sync "
               "--now --source 121` creates it and logs its id\n",
               (long long)id, agent_json_str(t, "en"), asset,
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                   prog, "programRegistrationAttributes")),
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                   plan, "fspConfigurations")));
        if (!agent_ctx_quiet(ctx))
            printf("Then point the form at it: `agent kobo setup --url ... "
                   "--asset %s --mapping ... --program ID` (`agent kobo "
                   "status` shows the id).\n", asset);
    }
done:
    cJSON_Delete(o);
    cJSON_free(text);
    cJSON_Delete(plan);
    return rc;
}

/* ---- validation-csv --upload ---------------------------------------------- */

struct supersede {
    const char *asset;
    int64_t ids[64];
    size_t n;
};

static int older_uploads(const struct store_job *j, void *payload)
{
    struct supersede *s = payload;

    if (strcmp(j->asset, s->asset) == 0 && s->n < 64)
        s->ids[s->n++] = j->id;
    return 0;
}

struct job_state {
    int64_t id;
    char state[16];
};

static int state_of(const struct store_job *j, void *payload)
{
    struct job_state *js = payload;

    if (j->id == js->id)
        snprintf(js->state, sizeof(js->state), "%s", j->state);
    return 0;
}

int agent_kobo_media_upload(struct agent_ctx *ctx, const char *asset,
                            const char *csv, size_t len, int no_sync)
{
    struct supersede old;
    char key[64], desc[160], msg[96], *text = NULL;
    char a_now[] = "--now", a_src[] = "--source", a_kobo[] = "kobo";
    char *sync_argv[] = {a_now, a_src, a_kobo, NULL};
    cJSON *payload = NULL;
    int64_t id = 0;
    int rc;

    memset(&old, 0, sizeof(old));
    old.asset = asset;
    if ((rc = new_key("km", key, sizeof(key))) < 0)
        return rc;
    snprintf(desc, sizeof(desc), "Validation data from 121 (agent request "
             "%s)", key);
    payload = cJSON_CreateObject();
    if (!payload || !cJSON_AddStringToObject(payload, "filename", MEDIA_FILE) ||
        !cJSON_AddStringToObject(payload, "description", desc) ||
        !(text = cJSON_PrintUnformatted(payload))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* the new file replaces an upload not sent yet: one transaction */
    if ((rc = store_job_list(ctx->store, "kobo", "media", 1, older_uploads,
                             &old)) < 0 ||
        (rc = store_begin(ctx->store)) < 0)
        goto done;
    rc = store_job_add(ctx->store, "media", "kobo", asset, key, text, csv,
                       len, &id);
    snprintf(msg, sizeof(msg), "superseded by a newer upload (job %lld)",
             (long long)id);
    for (size_t i = 0; rc == PLAT_OK && i < old.n; i++)
        rc = store_job_update(ctx->store, old.ids[i], "rejected", NULL, NULL,
                              msg, 0);
    if (rc == PLAT_OK)
        rc = store_commit(ctx->store);
    else
        store_rollback(ctx->store);
    if (rc < 0)
        goto done;
    if (ctx->g.json && no_sync) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddNumberToObject(o, "job", (double)id) ||
            !cJSON_AddStringToObject(o, "asset", asset) ||
            !cJSON_AddStringToObject(o, "state", "pending"))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else
            rc = agent_print_json(o);
        cJSON_Delete(o);
        goto done;
    }
    if (!agent_ctx_quiet(ctx))
        fprintf(stderr, "queued (job %lld): upload %s to form %s and "
                "redeploy it%s\n", (long long)id, MEDIA_FILE, asset,
                no_sync ? "; the next `agent sync --now --source kobo` does "
                          "it" : "");
    if (!no_sync) {
        struct job_state js = {id, ""};

        rc = agent_cmd_sync(ctx, 3, sync_argv);
        /* the sync reports its own result (exit code 3 offline); say what
         * became of the upload */
        if (store_job_list(ctx->store, "kobo", "media", 0, state_of,
                           &js) < 0)
            plat_err_clear();
        if (strcmp(js.state, "done") != 0 && !agent_ctx_quiet(ctx))
            fprintf(stderr, "the upload stays queued (job %lld, %s): the "
                    "next `agent sync --now --source kobo` with a link does "
                    "it\n", (long long)id, js.state);
        if (strcmp(js.state, "rejected") == 0 && rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "Kobo refused the upload (see "
                              "`agent kobo status`)");
    }
done:
    cJSON_free(text);
    cJSON_Delete(payload);
    return rc;
}
