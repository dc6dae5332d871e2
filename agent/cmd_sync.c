/*
 * cmd_sync.c - `agent sync --now`: one sync cycle with 121, with a progress
 * line on a terminal and a summary at the end. When an `agent daemon`
 * answers on the store's control socket, the daemon runs the sync (or this
 * request joins the sync it is running) and streams progress and the
 * result back; otherwise the sync runs in this process, under the store
 * lock. Both ways print the same summary and exit with the same codes.
 *
 * Exit codes (scripts run this before a distribution and branch on them):
 *   0 all done, 3 server unreachable (nothing lost, try later),
 *   4 done but conflicts or rejected entries need a person,
 *   5 authentication failed, 6 the daemon was too busy to take the
 *   request (nothing done, try again), 1 anything else.
 */
#include "cli.h"
#include "cmd_util.h"
#include "daemon_client.h"
#include "health.h"
#include "output.h"
#include "sync_options.h"
#include "sync_report.h"
#include "term.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_signal.h"
#include "plat_time.h"
#include "store.h"
#include "sync_connector.h"
#include "sync_engine.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct progress {
    int enabled;            /* stdout and stderr are a person's terminal */
    int64_t last_draw_ms;
    char phase[64];         /* the phase being shown                    */
    int64_t phase_start_ms; /* when it started, for rows/s and time left */
    int shown;              /* the status line is on                    */
};

/* "40,000" */
static void group_digits(int64_t n, char *out, size_t size)
{
    char raw[32];
    size_t len, o = 0;

    snprintf(raw, sizeof(raw), "%lld", (long long)(n < 0 ? 0 : n));
    len = strlen(raw);
    for (size_t i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
}

/* "7s", "3m05s", "1h02m" */
static void human_secs(int64_t s, char *out, size_t size)
{
    if (s < 60)
        snprintf(out, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, size, "%lldm%02llds", (long long)(s / 60),
                 (long long)(s % 60));
    else
        snprintf(out, size, "%lldh%02lldm", (long long)(s / 3600),
                 (long long)(s % 3600 / 60));
}

/* The status line: phase, done/total and percent (when the source gave a
 * total), rows/s, bytes on the wire, time left. Redrawn at most five
 * times a second: a 2G link gives many tiny chunks. */
static void on_progress(void *payload, const char *phase, int64_t done,
                        int64_t total, int64_t bytes_wire)
{
    struct progress *p = payload;
    int64_t now = plat_time_mono_ms(), elapsed;
    char line[256], bytes[32], d[32], t[32], rate[48] = "", left[48] = "";
    double per_s = 0;
    int n;

    if (!p->enabled)
        return;
    if (!p->shown) {
        agent_status_begin();
        p->shown = 1;
    }
    if (strcmp(p->phase, phase) != 0) {
        snprintf(p->phase, sizeof(p->phase), "%s", phase);
        p->phase_start_ms = now;
    } else if (now - p->last_draw_ms < 200) {
        return;
    }
    p->last_draw_ms = now;
    elapsed = now - p->phase_start_ms;
    if (total > 0 && done > total)
        total = done;
    agent_human_bytes(bytes_wire, bytes, sizeof(bytes));
    group_digits(done, d, sizeof(d));
    group_digits(total, t, sizeof(t));
    if (done > 0 && elapsed >= 500) {
        per_s = (double)done * 1000.0 / (double)elapsed;
        snprintf(rate, sizeof(rate), "  %.0f/s", per_s);
        if (total > 0 && per_s > 0) {
            human_secs((int64_t)((double)(total - done) / per_s + 0.5), left,
                       sizeof(left) - 8);
            memmove(left + 2, left, strlen(left) + 1);
            memcpy(left, "  ", 2);
            strcat(left, " left");
        }
    }
    if (total > 0)
        n = snprintf(line, sizeof(line), "%s  %s/%s  %3d%%%s  %s%s", phase,
                     d, t, (int)(done * 100 / total), rate, bytes, left);
    else if (done > 0)
        n = snprintf(line, sizeof(line), "%s  %s%s  %s", phase, d, rate,
                     bytes);
    else
        n = snprintf(line, sizeof(line), "%s  %s", phase, bytes);
    (void)n;
    agent_status_set(line);
}

static void clear_progress(struct progress *p)
{
    if (p->shown)
        agent_status_end();
    p->shown = 0;
}

/* Print the result (JSON object, or text lines and the reason of a
 * failure) and set the exit code. */
static int report(struct agent_ctx *ctx, int rc,
                  const struct sync_report *sum,
                  const struct store_counts *after, int code,
                  long daemon_pid)
{
    int prc = PLAT_OK;

    if (ctx->g.json) {
        cJSON *o = agent_sync_summary_json(sum, after, code, daemon_pid);

        prc = o ? agent_print_json(o) : ERR_NOMEM;
        cJSON_Delete(o);
    } else if (agent_ctx_quiet(ctx)) {
        agent_sync_print_oneline(rc, sum, after);
    } else {
        agent_sync_print_text(rc, sum, after);
    }
    agent_sync_print_reason(rc, sum, after);
    ctx->exit_override = code;
    return prc;
}

/* ---- through the daemon ---------------------------------------------- */

struct via_daemon {
    struct progress *prog;
    cJSON *result;
};

static int on_daemon_event(const cJSON *ev, void *payload)
{
    struct via_daemon *v = payload;
    const char *name = agent_json_str(ev, "event");
    const char *msg;

    if (!name)
        return 0;
    if (strcmp(name, "progress") == 0) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "done");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "total");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(ev, "bytes_wire");
        const char *phase = agent_json_str(ev, "phase");

        on_progress(v->prog, phase ? phase : "sync",
                    cJSON_IsNumber(d) ? (int64_t)d->valuedouble : 0,
                    cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0,
                    cJSON_IsNumber(b) ? (int64_t)b->valuedouble : 0);
    } else if (strcmp(name, "accepted") == 0) {
        log_debug("the agent daemon runs this sync (%s)",
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev,
                                                                "attached"))
                  ? "joined the sync it was running" : "new sync");
    } else if (strcmp(name, "result") == 0) {
        v->result = cJSON_Duplicate(ev, 1);
        return v->result ? 1 : plat_err_set(ERR_NOMEM, "out of memory");
    } else if (strcmp(name, "error") == 0) {
        msg = agent_json_str(ev, "message");
        return plat_err_set(ERR_GENERIC, "the agent daemon refused the "
                            "sync: %s", msg ? msg : "no reason given");
    }
    return 0;
}

/* Hand the sync to a running daemon. *handled is 0 when none answers
 * (the caller then syncs itself). */
static int sync_via_daemon(struct agent_ctx *ctx, const cJSON *req,
                           struct progress *prog, int *handled)
{
    struct via_daemon v = { prog, NULL };
    struct sync_report sum;
    struct store_counts after;
    const cJSON *pid;
    int rc, code = 0;

    *handled = 0;
    rc = agent_daemon_call(&ctx->cfg, req, 0, on_daemon_event, &v);
    clear_progress(prog);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    *handled = 1;
    if (rc < 0 || !v.result) {
        cJSON_Delete(v.result);
        if (rc >= 0)
            rc = plat_err_set(ERR_RETRY, "the agent daemon ended the "
                              "connection without a result");
        if (rc != ERR_RETRY && rc != ERR_LOCKED)
            return rc;
        /* The daemon went away mid-sync: nothing is lost, try later. Or
         * it stayed too busy to take the request (exit 6): try again. */
        memset(&sum, 0, sizeof(sum));
        memset(&after, 0, sizeof(after));
        snprintf(sum.total.error, sizeof(sum.total.error), "%s",
                 *plat_err_msg() ? plat_err_msg() : plat_err_name(rc));
        return report(ctx, rc, &sum, &after,
                      rc == ERR_LOCKED ? AGENT_EXIT_BUSY : AGENT_EXIT_OFFLINE,
                      0);
    }
    rc = agent_sync_summary_parse(v.result, &sum, &after, &code);
    pid = cJSON_GetObjectItemCaseSensitive(v.result, "daemon_pid");
    if (rc == PLAT_OK)
        rc = report(ctx, agent_sync_code_err(code), &sum, &after, code,
                    cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0);
    cJSON_Delete(v.result);
    return rc;
}

static cJSON *sync_request(const struct agent_sync_request *r, int watch)
{
    cJSON *req = cJSON_CreateObject(), *arr;

    if (!req || !cJSON_AddStringToObject(req, "cmd", "sync") ||
        !cJSON_AddStringToObject(req, "direction",
                                 r->direction == SYNC_PULL_ONLY ? "pull"
                                 : r->direction == SYNC_PUSH_ONLY ? "push"
                                 : "both") ||
        !cJSON_AddBoolToObject(req, "full", r->full) ||
        !cJSON_AddBoolToObject(req, "vouchers", r->vouchers) ||
        (watch && !cJSON_AddBoolToObject(req, "watch", 1)))
        goto nomem;
    if (r->n_only) {
        if (!(arr = cJSON_AddArrayToObject(req, "sources")))
            goto nomem;
        for (size_t i = 0; i < r->n_only; i++) {
            cJSON *n = cJSON_CreateString(r->only[i]);

            if (!n || !cJSON_AddItemToArray(arr, n)) {
                cJSON_Delete(n);
                goto nomem;
            }
        }
    }
    return req;
nomem:
    cJSON_Delete(req);
    plat_err_set(ERR_NOMEM, "out of memory");
    return NULL;
}

/* ---- in this process ------------------------------------------------- */

static int sync_here(struct agent_ctx *ctx, const struct agent_sync_request *r,
                     struct progress *prog)
{
    struct sync_engine_options opt;
    struct agent_sync_mem mem;
    struct sync_report sum;
    struct store_counts after;
    int rc, ran = 0;

    memset(&sum, 0, sizeof(sum));
    memset(&mem, 0, sizeof(mem));
    if ((rc = agent_sync_options(&ctx->cfg, r, &opt, &mem)) < 0) {
        /* No password is an authentication failure for scripts. */
        /* (agent_sync_options already set ERR_AUTH and its message; never
         * format plat_err_msg() back into itself: that empties it.) */
        goto finish;
    }
    /* Only when someone watches: a source may spend a request on a
     * total (sync_ctx_watched). */
    if (prog->enabled) {
        opt.progress = on_progress;
        opt.progress_payload = prog;
        opt.want_totals = 1;
    }
    /* Ctrl-C or SIGTERM: finish the batch in hand, commit, stop. */
    if ((rc = plat_signal_install()) < 0)
        goto finish;
    opt.cancel = plat_signal_shutdown_flag();
    ran = 1;
    rc = sync_engine_run(ctx->store, &opt, &sum);
    clear_progress(prog);

finish:
    agent_sync_options_dispose(&mem);
    if (rc < 0 && !sum.total.error[0])
        snprintf(sum.total.error, sizeof(sum.total.error), "%s",
                 *plat_err_msg() ? plat_err_msg() : plat_err_name(rc));
    if (agent_sync_counts(ctx->store, &after) < 0)
        memset(&after, 0, sizeof(after));
    /* The same health record the daemon keeps (`agent status`); a sync
     * stopped by Ctrl-C is neither a failure nor a success. */
    if (!*plat_signal_shutdown_flag() &&
        agent_health_record(ctx->store, rc, ran && agent_health_reached(rc),
                            &after) < 0)
        log_warn("cannot record the sync health: %s", plat_err_msg());
    plat_err_clear();
    return report(ctx, rc, &sum, &after, agent_sync_exit_code(rc, &after),
                  0);
}

/* Take the repeatable "--source NAME" pairs out of argv (into only[],
 * borrowed from argv); the rest is left in argv/argc for the parser. */
static int take_sources(int *argc, char **argv, const char **only,
                        size_t *n_only)
{
    int out = 0;

    *n_only = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        const char *name = NULL;

        if (strcmp(a, "--source") == 0) {
            if (i + 1 >= *argc)
                return plat_err_set(ERR_USAGE, "sync: --source needs a "
                                    "NAME");
            name = argv[++i];
        } else if (strncmp(a, "--source=", 9) == 0) {
            name = a + 9;
        } else if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (!sync_connector_find(name)) {
            char names[256];

            agent_sync_source_names(names, sizeof(names));
            return plat_err_set(ERR_USAGE, "sync: no source called '%.40s' "
                                "(sources: %s)", name, names);
        }
        if (*n_only >= SYNC_MAX_SOURCES)
            return plat_err_set(ERR_USAGE, "sync: too many --source");
        only[(*n_only)++] = name;
    }
    *argc = out;
    return PLAT_OK;
}

int agent_cmd_sync(struct agent_ctx *ctx, int argc, char **argv)
{
    struct progress prog;
    int now = 0, pull_only = 0, push_only = 0, vouchers = 0, full = 0;
    int npos = 0, rc, handled = 0;
    char **pos = NULL, *why = NULL, **args = NULL;
    const char *only[SYNC_MAX_SOURCES];
    struct agent_sync_request r;
    cJSON *req = NULL;
    const struct agent_opt opts[] = {
        { "--now", AGENT_OPT_FLAG, &now, 0, 0 },
        { "--pull-only", AGENT_OPT_FLAG, &pull_only, 0, 0 },
        { "--push-only", AGENT_OPT_FLAG, &push_only, 0, 0 },
        { "--vouchers", AGENT_OPT_FLAG, &vouchers, 0, 0 },
        { "--full", AGENT_OPT_FLAG, &full, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };

    memset(&r, 0, sizeof(r));
    memset(&prog, 0, sizeof(prog));
    /* A copy: --source may be repeated, which the option parser does not
     * do; take those out first. */
    args = plat_calloc((size_t)argc + 1, sizeof(*args));
    if (!args)
        return plat_err_set(ERR_NOMEM, "out of memory");
    memcpy(args, argv, (size_t)argc * sizeof(*args));
    rc = take_sources(&argc, args, only, &r.n_only);
    if (rc == PLAT_OK)
        rc = agent_cmd_args(ctx, argc, args, opts, 0, 0, "", &pos, &npos);
    if (rc < 0) {
        plat_free(args);
        return rc;
    }
    r.only = only;
    if (pull_only && push_only) {
        rc = plat_err_set(ERR_USAGE, "sync: --pull-only and --push-only "
                          "exclude each other");
        goto done;
    }
    (void)now; /* every sync is "now"; the daemon has its own schedule */
    r.direction = pull_only ? SYNC_PULL_ONLY
                : push_only ? SYNC_PUSH_ONLY : SYNC_BOTH;
    r.full = full;
    r.vouchers = vouchers;
    /* The status line is for a person watching: both streams on a
     * terminal (stdout redirected: nothing but the summary). */
    prog.enabled = !ctx->g.json && !agent_ctx_quiet(ctx) &&
                   agent_term_is_tty(STDOUT_FILENO) &&
                   agent_term_is_tty(STDERR_FILENO);

    if ((rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG)) < 0)
        goto done;
    /* A named source that is disabled: say which section to change. */
    if ((rc = agent_sync_check_sources(&ctx->cfg, r.only, r.n_only)) < 0)
        goto done;
    /* Ctrl-C while waiting for a daemon's sync: stop waiting. */
    if ((rc = plat_signal_install()) < 0)
        goto done;
    if (!(req = sync_request(&r, prog.enabled))) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = sync_via_daemon(ctx, req, &prog, &handled);
    if (rc < 0 || handled)
        goto done;
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE | AGENT_NEED_EXCLUSIVE);
    if (rc == ERR_LOCKED) {
        /* A daemon may have taken the lock since we asked: ask again. */
        why = plat_strdup(plat_err_msg());
        rc = sync_via_daemon(ctx, req, &prog, &handled);
        if (rc == PLAT_OK && !handled)
            rc = plat_err_set(ERR_LOCKED, "cannot sync now: %s",
                              why ? why : "the store is in use");
    }
    if (rc < 0 || handled)
        goto done;
    rc = sync_here(ctx, &r, &prog);

done:
    cJSON_Delete(req);
    plat_free(args);
    plat_free(why);
    plat_free(pos);
    return rc;
}
