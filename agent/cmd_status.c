/*
 * cmd_status.c - `agent status`: what is on this device and how far it is
 * behind, at a glance (and as JSON for monitoring scripts): counts, last
 * syncs, sync health (health.h: oldest pending change, failures, stuck)
 * and, when an `agent daemon` answers on the control socket, its live
 * state. Without a daemon it reads the store alone (no lock needed).
 */
#include "cli.h"
#include "cmd_util.h"
#include "daemon_client.h"
#include "health.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
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

static int add_iso_or_null(cJSON *o, const char *key, const char *iso)
{
    return (*iso ? cJSON_AddStringToObject(o, key, iso)
                 : cJSON_AddNullToObject(o, key)) != NULL;
}

/* The health fields, and the daemon's live state (taken over: `daemon`
 * is consumed) or null. */
static int add_health(cJSON *o, const struct agent_health *h, cJSON *daemon)
{
    cJSON *ob;

    if (!(ob = cJSON_AddObjectToObject(o, "outbox")) ||
        !cJSON_AddNumberToObject(ob, "pending", (double)h->pending) ||
        !cJSON_AddNumberToObject(ob, "inflight", (double)h->inflight) ||
        !(h->oldest_pending_age_s >= 0
          ? cJSON_AddNumberToObject(o, "oldest_pending_age_s",
                                    (double)h->oldest_pending_age_s)
          : cJSON_AddNullToObject(o, "oldest_pending_age_s")) ||
        !cJSON_AddNumberToObject(o, "consecutive_failures",
                                 h->consecutive_failures) ||
        !cJSON_AddBoolToObject(o, "stuck", h->stuck) ||
        !add_iso_or_null(o, "last_reachable", h->last_reachable) ||
        !add_iso_or_null(o, "last_drained", h->last_drained)) {
        cJSON_Delete(daemon);
        return 0;
    }
    if (daemon) {
        cJSON_DeleteItemFromObjectCaseSensitive(daemon, "event");
        return agent_json_put(o, "daemon", daemon) == PLAT_OK;
    }
    return cJSON_AddNullToObject(o, "daemon") != NULL;
}

static int print_json(struct agent_ctx *ctx, const struct store_counts *c,
                      int have_program, char *const last[NSOURCES],
                      const struct agent_health *h, cJSON *daemon)
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
    rc = add_health(o, h, daemon);
    daemon = NULL;
    if (!rc)
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
    cJSON_Delete(daemon);
    cJSON_Delete(o);
    return plat_err_set(ERR_NOMEM, "out of memory");
}

/* "3 d 4 h", "2 h 5 min", "7 min", "12 s". */
static void human_age(int64_t s, char *out, size_t size)
{
    if (s >= 86400)
        snprintf(out, size, "%lld d %lld h", (long long)(s / 86400),
                 (long long)(s % 86400 / 3600));
    else if (s >= 3600)
        snprintf(out, size, "%lld h %lld min", (long long)(s / 3600),
                 (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(out, size, "%lld min", (long long)(s / 60));
    else
        snprintf(out, size, "%lld s", (long long)s);
}

static const char *jstr(const cJSON *o, const char *key, const char *dflt)
{
    const char *v = agent_json_str(o, key);

    return v ? v : dflt;
}

static void print_daemon(const cJSON *d)
{
    const cJSON *pid, *fails;
    const char *state;
    char line[200];

    if (!d) {
        printf("%-17s  not running\n", "daemon");
        return;
    }
    pid = cJSON_GetObjectItemCaseSensitive(d, "pid");
    fails = cJSON_GetObjectItemCaseSensitive(d, "consecutive_failures");
    state = jstr(d, "state", "?");
    if (strcmp(state, "offline") == 0)
        snprintf(line, sizeof(line), "offline since %s (pid %ld)",
                 jstr(d, "offline_since", "?"),
                 cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0L);
    else
        snprintf(line, sizeof(line), "%s (pid %ld)", state,
                 cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0L);
    agent_print_kv(stdout, 17, "daemon", line);
    if (strcmp(state, "syncing") != 0)
        agent_print_kv(stdout, 17, "next attempt",
                       jstr(d, "next_attempt", "-"));
    if (cJSON_IsNumber(fails) && fails->valuedouble > 0)
        agent_print_kv(stdout, 17, "last error", jstr(d, "last_error", "-"));
}

static void print_text(struct agent_ctx *ctx, const struct store_counts *c,
                       int have_program, char *const last[NSOURCES],
                       const struct agent_health *h, const cJSON *daemon)
{
    char label[32], age[32], line[160];

    agent_print_kv(stdout, 17, "store", ctx->cfg.store_path);
    printf("%-17s  %d\n", "schema version", store_version(ctx->store));
    if (ctx->cfg.program_id > 0)
        printf("%-17s  %d (%s)\n", "program", ctx->cfg.program_id,
               have_program ? "definition stored" :
               "no definition stored: run `agent program import`");
    else
        printf("%-17s  not set\n", "program");
    printf("%-17s  %lld\n", "registrations", (long long)c->registrations);
    if (h->oldest_pending_age_s >= 0) {
        human_age(h->oldest_pending_age_s, age, sizeof(age));
        printf("%-17s  %lld (%lld in flight; oldest %s)\n", "pending",
               (long long)c->pending, (long long)h->inflight, age);
    } else {
        printf("%-17s  %lld\n", "pending", (long long)c->pending);
    }
    printf("%-17s  %lld\n", "conflicts", (long long)c->conflicts);
    printf("%-17s  %lld\n", "rejected", (long long)c->rejected);
    for (size_t i = 0; i < NSOURCES; i++) {
        snprintf(label, sizeof(label), "last sync %s", sources[i]);
        agent_print_kv(stdout, 17, label, last[i] ? last[i] : "never");
    }
    if (h->stuck)
        snprintf(line, sizeof(line), "STUCK: changes wait although 121 was "
                 "reachable (last reached %s)", h->last_reachable);
    else if (h->consecutive_failures > 0)
        snprintf(line, sizeof(line), "%d failed syncs in a row",
                 h->consecutive_failures);
    else
        snprintf(line, sizeof(line), "ok");
    agent_print_kv(stdout, 17, "sync health", line);
    print_daemon(daemon);
}

int agent_cmd_status(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    char *last[NSOURCES] = { NULL };
    struct store_counts counts;
    struct agent_health health;
    cJSON *prog = NULL, *daemon = NULL;
    char **pos = NULL;
    int npos = 0, have_program = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = store_counts(ctx->store, &counts);
    if (rc == PLAT_OK)
        rc = last_syncs(ctx->store, last);
    if (rc == PLAT_OK)
        rc = agent_health_read(ctx->store, ctx->cfg.daemon_stuck_after_s,
                               plat_time_wall_ms(), &health);
    if (rc < 0)
        goto done;
    /* No daemon (or one that does not answer) is not an error here. */
    if (agent_daemon_status(&ctx->cfg, &daemon) < 0) {
        daemon = NULL;
        plat_err_clear();
    }
    if (ctx->cfg.program_id > 0) {
        rc = store_program_get(ctx->store, ctx->cfg.program_id, &prog, NULL);
        have_program = rc == PLAT_OK;
        if (rc == ERR_NOTFOUND)
            plat_err_clear();
        else if (rc < 0)
            goto done;
        rc = PLAT_OK;
    }
    if (ctx->g.json) {
        rc = print_json(ctx, &counts, have_program, last, &health, daemon);
        daemon = NULL;
    } else {
        print_text(ctx, &counts, have_program, last, &health, daemon);
    }
done:
    cJSON_Delete(daemon);
    for (size_t i = 0; i < NSOURCES; i++)
        plat_free(last[i]);
    cJSON_Delete(prog);
    plat_free(pos);
    return rc;
}
