/*
 * cmd_sync.c - `agent sync --now`: one sync cycle with 121, run in this
 * process, with a progress line on a terminal and a summary at the end.
 *
 * Exit codes (scripts run this before a distribution and branch on them):
 *   0 all done, 3 server unreachable (nothing lost, try later),
 *   4 done but conflicts or rejected entries need a person,
 *   5 authentication failed, 1 anything else.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_signal.h"
#include "plat_time.h"
#include "store.h"
#include "sync_engine.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct progress {
    int enabled;            /* stderr is a terminal and output is for people */
    int64_t last_draw_ms;
    int drawn;              /* a progress line is on screen */
};

static void human_bytes(int64_t n, char *out, size_t size)
{
    if (n >= 1000000)
        snprintf(out, size, "%.1f MB", (double)n / 1e6);
    else if (n >= 1000)
        snprintf(out, size, "%.1f kB", (double)n / 1e3);
    else
        snprintf(out, size, "%lld B", (long long)n);
}

/* Redraw at most five times a second: a 2G link gives many tiny chunks. */
static void on_progress(void *payload, const char *phase, int64_t done,
                        int64_t total, int64_t bytes_wire)
{
    struct progress *p = payload;
    int64_t now = plat_time_mono_ms();
    char bytes[32];

    if (!p->enabled || now - p->last_draw_ms < 200)
        return;
    p->last_draw_ms = now;
    human_bytes(bytes_wire, bytes, sizeof(bytes));
    if (total > 0) {
        int width = 30, fill = (int)(done * width / total);
        char bar[31];
        if (fill > width)
            fill = width;
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(width - fill));
        bar[width] = '\0';
        fprintf(stderr, "\r%-9s [%s] %lld/%lld  %s   ", phase, bar,
                (long long)done, (long long)total, bytes);
    } else {
        fprintf(stderr, "\r%-9s %lld  %s          ", phase, (long long)done,
                bytes);
    }
    fflush(stderr);
    p->drawn = 1;
}

static int sync_exit_code(int rc, const struct store_counts *after)
{
    if (rc == ERR_RETRY)
        return AGENT_EXIT_OFFLINE;
    if (rc == ERR_AUTH)
        return AGENT_EXIT_AUTH;
    if (rc < 0)
        return agent_cli_exit_code(rc);
    if (after->conflicts > 0 || after->rejected > 0)
        return AGENT_EXIT_ATTENTION;
    return AGENT_EXIT_OK;
}

static const char *result_name(int code)
{
    switch (code) {
    case AGENT_EXIT_OK: return "ok";
    case AGENT_EXIT_OFFLINE: return "offline";
    case AGENT_EXIT_ATTENTION: return "attention";
    case AGENT_EXIT_AUTH: return "auth";
    default: return "error";
    }
}

static int print_summary_json(const struct sync_summary *sum,
                              const struct store_counts *after, int code)
{
    cJSON *o = cJSON_CreateObject();
    int rc;

    if (!o ||
        !cJSON_AddStringToObject(o, "result", result_name(code)) ||
        !cJSON_AddNumberToObject(o, "exit_code", code) ||
        !cJSON_AddNumberToObject(o, "pulled", (double)sum->pulled) ||
        !cJSON_AddNumberToObject(o, "events", (double)sum->events) ||
        !cJSON_AddNumberToObject(o, "pushed", (double)sum->pushed) ||
        !cJSON_AddNumberToObject(o, "sent", (double)sum->sent) ||
        !cJSON_AddNumberToObject(o, "conflicts", (double)sum->conflicts) ||
        !cJSON_AddNumberToObject(o, "rejected", (double)sum->rejected) ||
        !cJSON_AddNumberToObject(o, "open_conflicts",
                                 (double)after->conflicts) ||
        !cJSON_AddNumberToObject(o, "rejected_total",
                                 (double)after->rejected) ||
        !cJSON_AddNumberToObject(o, "pending", (double)after->pending) ||
        !cJSON_AddNumberToObject(o, "requests", (double)sum->requests) ||
        !cJSON_AddNumberToObject(o, "bytes_wire", (double)sum->bytes_wire) ||
        !cJSON_AddNumberToObject(o, "bytes_body", (double)sum->bytes_body) ||
        !cJSON_AddNumberToObject(o, "seconds",
                                 (double)sum->elapsed_ms / 1000.0) ||
        !(sum->error[0] ? cJSON_AddStringToObject(o, "error", sum->error)
                        : cJSON_AddNullToObject(o, "error"))) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = agent_print_json(o);
    cJSON_Delete(o);
    return rc;
}

static void print_summary_text(const struct sync_summary *sum,
                               const struct store_counts *after)
{
    char wire[32], body[32];

    human_bytes(sum->bytes_wire, wire, sizeof(wire));
    human_bytes(sum->bytes_body, body, sizeof(body));
    printf("sync: pulled %lld registrations, %lld changes; pushed %lld, "
           "sent %lld (awaiting confirmation); conflicts %lld, rejected "
           "%lld\n", (long long)sum->pulled, (long long)sum->events,
           (long long)sum->pushed, (long long)sum->sent,
           (long long)sum->conflicts, (long long)sum->rejected);
    printf("      %lld requests, %s on the wire (%s of data), %.1f s\n",
           (long long)sum->requests, wire, body,
           (double)sum->elapsed_ms / 1000.0);
    if (after->pending || after->conflicts || after->rejected)
        printf("      now: %lld pending, %lld open conflicts, %lld rejected"
               "%s\n", (long long)after->pending,
               (long long)after->conflicts, (long long)after->rejected,
               after->conflicts || after->rejected
                   ? " (see `agent conflicts list`, `agent outbox --state "
                     "rejected`)" : "");
}

int agent_cmd_sync(struct agent_ctx *ctx, int argc, char **argv)
{
    struct sync_engine_options opt;
    struct sync_summary sum;
    struct store_counts after;
    struct progress prog = {0, 0, 0};
    int now = 0, pull_only = 0, push_only = 0, vouchers = 0, full = 0;
    char *password = NULL, **pos = NULL;
    int npos = 0, rc, code;
    const struct agent_opt opts[] = {
        { "--now", AGENT_OPT_FLAG, &now, 0, 0 },
        { "--pull-only", AGENT_OPT_FLAG, &pull_only, 0, 0 },
        { "--push-only", AGENT_OPT_FLAG, &push_only, 0, 0 },
        { "--vouchers", AGENT_OPT_FLAG, &vouchers, 0, 0 },
        { "--full", AGENT_OPT_FLAG, &full, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };

    memset(&sum, 0, sizeof(sum));
    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if (pull_only && push_only) {
        rc = plat_err_set(ERR_USAGE, "sync: --pull-only and --push-only "
                          "exclude each other");
        goto done;
    }
    (void)now; /* without a daemon every sync is "now" */
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_WRITE)) < 0)
        goto done;
    if ((rc = agent_config_password(&ctx->cfg, &password)) < 0) {
        /* No password is an authentication failure for scripts. */
        rc = plat_err_set(ERR_AUTH, "%s", plat_err_msg());
        goto finish;
    }

    memset(&opt, 0, sizeof(opt));
    opt.server_url = ctx->cfg.server_url;
    opt.program_id = ctx->cfg.program_id;
    opt.user = ctx->cfg.user;
    opt.password = password;
    agent_config_sync_options(&ctx->cfg, &opt);
    opt.direction = pull_only ? SYNC_PULL_ONLY
                  : push_only ? SYNC_PUSH_ONLY : SYNC_BOTH;
    opt.full = full;
    opt.vouchers = vouchers;
    prog.enabled = !ctx->g.json && !agent_ctx_quiet(ctx) &&
                   isatty(STDERR_FILENO);
    opt.progress = on_progress;
    opt.progress_payload = &prog;
    /* Ctrl-C or SIGTERM: finish the batch in hand, commit, stop. */
    if ((rc = plat_signal_install()) < 0)
        goto finish;
    opt.cancel = plat_signal_shutdown_flag();

    rc = sync_engine_run(ctx->store, &opt, &sum);
    if (prog.drawn)
        fprintf(stderr, "\r%70s\r", "");

finish:
    if (store_counts(ctx->store, &after) < 0)
        memset(&after, 0, sizeof(after));
    code = sync_exit_code(rc, &after);
    if (rc < 0 && !sum.error[0])
        snprintf(sum.error, sizeof(sum.error), "%s", plat_err_msg());
    if (ctx->g.json) {
        int prc = print_summary_json(&sum, &after, code);
        if (prc < 0 && rc >= 0)
            rc = prc;
    } else if (rc >= 0 || rc == ERR_RETRY) {
        print_summary_text(&sum, &after);
    }
    if (rc == ERR_RETRY)
        fprintf(stderr, "agent: 121 server unreachable: nothing was lost; "
                "the %lld pending changes will be sent on the next sync "
                "(%s)\n", (long long)after.pending, sum.error);
    else if (rc < 0)
        fprintf(stderr, "agent: sync failed: %s\n", sum.error);
    ctx->exit_override = code;
    rc = PLAT_OK;

done:
    if (password) {
        memset(password, 0, strlen(password));
        plat_free(password);
    }
    plat_free(pos);
    return rc;
}
