/*
 * cmd_status.c - `agent status`: what is on this device and how far it is
 * behind, at a glance (and as JSON for monitoring scripts).
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_program.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* Sync sources whose last sync time is kept as "last_sync.<source>". */
static const char *const sources[] = { "121", "kobo", "espocrm" };
#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

/* The last sync of each source, NULL when never (allocated strings). */
static int last_syncs(struct store *s, char *out[NSOURCES])
{
    char key[64];
    int rc;

    for (size_t i = 0; i < NSOURCES; i++) {
        out[i] = NULL;
        snprintf(key, sizeof(key), "last_sync.%s", sources[i]);
        rc = store_state_get(s, key, &out[i]);
        if (rc == ERR_NOTFOUND) {
            out[i] = NULL;
            plat_err_clear();
        } else if (rc < 0) {
            return rc;
        }
    }
    return PLAT_OK;
}

static int print_json(struct agent_ctx *ctx, const struct store_counts *c,
                      int have_program, char *const last[NSOURCES])
{
    cJSON *o = cJSON_CreateObject(), *ls = NULL;
    int rc;

    if (!o)
        goto nomem;
    if (!cJSON_AddStringToObject(o, "store", ctx->cfg.store_path) ||
        !cJSON_AddNumberToObject(o, "schema_version",
                                 store_version(ctx->store)) ||
        !(ctx->cfg.program_id > 0 ?
          cJSON_AddNumberToObject(o, "program_id", ctx->cfg.program_id) :
          cJSON_AddNullToObject(o, "program_id")) ||
        !cJSON_AddBoolToObject(o, "program_stored", have_program) ||
        !cJSON_AddNumberToObject(o, "registrations",
                                 (double)c->registrations) ||
        !cJSON_AddNumberToObject(o, "pending", (double)c->pending) ||
        !cJSON_AddNumberToObject(o, "conflicts", (double)c->conflicts) ||
        !cJSON_AddNumberToObject(o, "rejected", (double)c->rejected) ||
        !cJSON_AddNumberToObject(o, "programs", (double)c->programs) ||
        !(ls = cJSON_AddObjectToObject(o, "last_sync")))
        goto nomem;
    for (size_t i = 0; i < NSOURCES; i++) {
        if (!(last[i] ? cJSON_AddStringToObject(ls, sources[i], last[i]) :
              cJSON_AddNullToObject(ls, sources[i])))
            goto nomem;
    }
    rc = agent_print_json(o);
    cJSON_Delete(o);
    return rc;
nomem:
    cJSON_Delete(o);
    return plat_err_set(ERR_NOMEM, "out of memory");
}

static void print_text(struct agent_ctx *ctx, const struct store_counts *c,
                       int have_program, char *const last[NSOURCES])
{
    char label[32];

    agent_print_kv(stdout, 17, "store", ctx->cfg.store_path);
    printf("%-17s  %d\n", "schema version", store_version(ctx->store));
    if (ctx->cfg.program_id > 0)
        printf("%-17s  %d (%s)\n", "program", ctx->cfg.program_id,
               have_program ? "definition stored" :
               "no definition stored: run `agent program import`");
    else
        printf("%-17s  not set\n", "program");
    printf("%-17s  %lld\n", "registrations", (long long)c->registrations);
    printf("%-17s  %lld\n", "pending", (long long)c->pending);
    printf("%-17s  %lld\n", "conflicts", (long long)c->conflicts);
    printf("%-17s  %lld\n", "rejected", (long long)c->rejected);
    for (size_t i = 0; i < NSOURCES; i++) {
        snprintf(label, sizeof(label), "last sync %s", sources[i]);
        agent_print_kv(stdout, 17, label, last[i] ? last[i] : "never");
    }
}

int agent_cmd_status(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    char *last[NSOURCES] = { NULL };
    struct store_counts counts;
    cJSON *prog = NULL;
    char **pos = NULL;
    int npos = 0, have_program = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = store_counts(ctx->store, &counts);
    if (rc == PLAT_OK)
        rc = last_syncs(ctx->store, last);
    if (rc < 0)
        goto done;
    if (ctx->cfg.program_id > 0) {
        rc = store_program_get(ctx->store, ctx->cfg.program_id, &prog, NULL);
        have_program = rc == PLAT_OK;
        if (rc == ERR_NOTFOUND)
            plat_err_clear();
        else if (rc < 0)
            goto done;
        rc = PLAT_OK;
    }
    if (ctx->g.json)
        rc = print_json(ctx, &counts, have_program, last);
    else
        print_text(ctx, &counts, have_program, last);
done:
    for (size_t i = 0; i < NSOURCES; i++)
        plat_free(last[i]);
    cJSON_Delete(prog);
    plat_free(pos);
    return rc;
}
