/*
 * cmd_status.c - `agent status`: what is on this device and how far it is
 * behind, at a glance (and as JSON for monitoring scripts): counts, last
 * syncs, every compiled-in source (enabled, last sync, last error,
 * pending outbox entries and open conflicts), sync health (health.h: oldest pending change, failures, stuck)
 * and, when an `agent daemon` answers on the control socket, its live
 * state. Without a daemon it reads the store alone (no lock needed).
 */
#include "cli.h"
#include "cmd_util.h"
#include "daemon_client.h"
#include "health.h"
#include "output.h"
#include "term.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "store.h"
#include "store_jobs.h"
#include "store_outbox.h"
#include "store_program.h"
#include "sync_connector.h"
#include "sync_engine.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What `agent status` shows of one compiled-in source. */
struct source_status {
    const struct sync_connector *connector;
    int enabled;                 /* its config section's "enabled"      */
    char *last_sync;             /* agent_state "last_sync.<source>"    */
    char *last_attempt;          /* "last_attempt.<source>"             */
    char *last_error;            /* "last_error.<source>" ("" / NULL: none) */
    int64_t pending;             /* outbox entries meant for it          */
    int64_t conflicts;           /* open conflicts it found              */
};

/* agent_state value `what`.<source>, NULL when never set (allocated). */
static int state_of(struct store *s, const char *what, const char *source,
                    char **out)
{
    char key[96];
    int rc;

    *out = NULL;
    snprintf(key, sizeof(key), "%s.%s", what, source);
    rc = store_state_get(s, key, out);
    if (rc == ERR_NOTFOUND) {
        *out = NULL;
        plat_err_clear();
        return PLAT_OK;
    }
    return rc;
}

/* One entry per compiled-in source, in registry order. */
static int read_sources(struct agent_ctx *ctx,
                        struct source_status *out, size_t *n)
{
    const struct sync_connector *const *reg = sync_connectors_registry();
    int rc = PLAT_OK;

    *n = 0;
    for (size_t i = 0; reg[i] && *n < SYNC_MAX_SOURCES; i++) {
        const struct sync_source_conf *sc =
            agent_config_source(&ctx->cfg, reg[i]->name);
        struct source_status *st = &out[(*n)++];

        st->connector = reg[i];
        st->enabled = sc && sc->enabled;
        if ((rc = state_of(ctx->store, "last_sync", reg[i]->name,
                           &st->last_sync)) < 0 ||
            (rc = state_of(ctx->store, "last_attempt", reg[i]->name,
                           &st->last_attempt)) < 0 ||
            (rc = state_of(ctx->store, "last_error", reg[i]->name,
                           &st->last_error)) < 0 ||
            (rc = store_source_counts(ctx->store, reg[i]->name,
                                      &st->pending, &st->conflicts)) < 0)
            return rc;
    }
    return rc;
}

static void free_sources(struct source_status *st, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        plat_free(st[i].last_sync);
        plat_free(st[i].last_attempt);
        plat_free(st[i].last_error);
    }
}

static int add_str_or_null(cJSON *o, const char *key, const char *v)
{
    return (v && *v ? cJSON_AddStringToObject(o, key, v)
                    : cJSON_AddNullToObject(o, key)) != NULL;
}

/* "last_sync": {source: time|null} (as before) and "sources": [...]. */
static int add_sources(cJSON *o, const struct source_status *st, size_t n)
{
    cJSON *ls = cJSON_AddObjectToObject(o, "last_sync");
    cJSON *arr = cJSON_AddArrayToObject(o, "sources");

    if (!ls || !arr)
        return 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *so = cJSON_CreateObject();

        if (!so || !cJSON_AddItemToArray(arr, so)) {
            cJSON_Delete(so);
            return 0;
        }
        if (!add_str_or_null(ls, st[i].connector->name, st[i].last_sync) ||
            !cJSON_AddStringToObject(so, "name", st[i].connector->name) ||
            !cJSON_AddBoolToObject(so, "enabled", st[i].enabled) ||
            !add_str_or_null(so, "last_sync", st[i].last_sync) ||
            !add_str_or_null(so, "last_attempt", st[i].last_attempt) ||
            !add_str_or_null(so, "last_error", st[i].last_error) ||
            !cJSON_AddNumberToObject(so, "pending", (double)st[i].pending) ||
            !cJSON_AddNumberToObject(so, "conflicts",
                                     (double)st[i].conflicts))
            return 0;
    }
    return 1;
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
                      int have_program, const struct source_status *st,
                      size_t nst, const struct agent_health *h,
                      cJSON *daemon)
{
    cJSON *o = cJSON_CreateObject();
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
        !add_sources(o, st, nst))
        goto nomem;
    {
        /* queued `kobo program --create` / `validation-csv --upload` */
        int64_t jobs = 0;

        if (store_job_count_open(ctx->store, &jobs) < 0)
            plat_err_clear();
        if (!cJSON_AddNumberToObject(o, "jobs", (double)jobs))
            goto nomem;
    }
    rc = add_health(o, h, daemon);
    daemon = NULL;
    if (!rc)
        goto nomem;
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
    char line[200], when[96];
    int tty = agent_term_is_tty(STDOUT_FILENO);

    if (!d) {
        printf("%-17s  not running\n", "daemon");
        return;
    }
    pid = cJSON_GetObjectItemCaseSensitive(d, "pid");
    fails = cJSON_GetObjectItemCaseSensitive(d, "consecutive_failures");
    state = jstr(d, "state", "?");
    if (strcmp(state, "offline") == 0) {
        agent_time_text(jstr(d, "offline_since", NULL), tty, "?", when,
                        sizeof(when));
        snprintf(line, sizeof(line), "offline since %s (pid %ld)", when,
                 cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0L);
    } else
        snprintf(line, sizeof(line), "%s (pid %ld)", state,
                 cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0L);
    agent_print_kv(stdout, 17, "daemon", line);
    if (strcmp(state, "syncing") != 0) {
        agent_time_text(jstr(d, "next_attempt", NULL), tty, "-", when,
                        sizeof(when));
        agent_print_kv(stdout, 17, "next attempt", when);
    }
    if (cJSON_IsNumber(fails) && fails->valuedouble > 0)
        agent_print_kv(stdout, 17, "last error", jstr(d, "last_error", "-"));
}

static void print_text(struct agent_ctx *ctx, const struct store_counts *c,
                       int have_program, const struct source_status *st,
                       size_t nst, const struct agent_health *h,
                       const cJSON *daemon)
{
    char label[48], age[32], line[400], when[96];
    int tty = agent_term_is_tty(STDOUT_FILENO);

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
    {
        int64_t jobs = 0;

        if (store_job_count_open(ctx->store, &jobs) < 0)
            plat_err_clear();
        if (jobs > 0)
            printf("%-17s  %lld queued for the next sync (see `agent kobo "
                   "status`)\n", "jobs", (long long)jobs);
    }
    for (size_t i = 0; i < nst; i++) {
        snprintf(label, sizeof(label), "source %s", st[i].connector->name);
        agent_time_text(st[i].last_sync, tty, "never", when, sizeof(when));
        snprintf(line, sizeof(line), "%s; last sync %s; %lld pending, %lld "
                 "conflicts%s%.200s", st[i].enabled ? "enabled" : "disabled",
                 when, (long long)st[i].pending, (long long)st[i].conflicts,
                 st[i].last_error && *st[i].last_error ? "; last error: "
                                                       : "",
                 st[i].last_error ? st[i].last_error : "");
        agent_print_kv(stdout, 17, label, line);
    }
    if (h->stuck) {
        agent_time_text(h->last_reachable, tty, "never", when, sizeof(when));
        snprintf(line, sizeof(line), "STUCK: changes wait although 121 was "
                 "reachable (last reached %s)", when);
    } else if (h->consecutive_failures > 0)
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
    struct source_status st[SYNC_MAX_SOURCES];
    size_t nst = 0;
    struct store_counts counts;
    struct agent_health health;
    cJSON *prog = NULL, *daemon = NULL;
    char **pos = NULL;
    int npos = 0, have_program = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE | AGENT_NEED_HEALTHY);
    if (rc == PLAT_OK)
        rc = store_counts(ctx->store, &counts);
    memset(st, 0, sizeof(st));
    if (rc == PLAT_OK)
        rc = read_sources(ctx, st, &nst);
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
        rc = print_json(ctx, &counts, have_program, st, nst, &health,
                        daemon);
        daemon = NULL;
    } else {
        print_text(ctx, &counts, have_program, st, nst, &health, daemon);
    }
done:
    cJSON_Delete(daemon);
    free_sources(st, SYNC_MAX_SOURCES);
    cJSON_Delete(prog);
    plat_free(pos);
    return rc;
}
