/*
 * engine.c - one sync cycle with 121 (see sync_engine.h).
 *
 * Order matters: pull before push, so that the three-way conflict check of
 * every pushed field compares against what the server holds now; confirm
 * in-flight entries after the pull that can show their effect; creates
 * before edits and status changes, so that a person registered and edited
 * offline reaches the server in one cycle.
 */
#include "sync_engine.h"

#include <stdio.h>
#include <string.h>

#include "c121.h"
#include "c121_http.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "store.h"
#include "sync_http.h"

struct progress_ctx {
    const struct sync_engine_options *opt;
    struct sync_http *http;
};

/* curl reports bytes of the current transfer; the engine's callback wants
 * the running total on the wire, which the HTTP counters give. */
static void on_http_progress(void *payload, int64_t dl_now, int64_t dl_total,
                             int64_t ul_now, int64_t ul_total)
{
    struct progress_ctx *p = payload;
    struct sync_http_stats st;

    (void)ul_now;
    (void)ul_total;
    if (!p->opt->progress || !p->http)
        return;
    sync_http_stats(p->http, &st);
    p->opt->progress(p->opt->progress_payload, "transfer", dl_now, dl_total,
                     st.bytes_down_wire + st.bytes_up_wire + dl_now);
}

static void record_outcome(struct store *s, int rc, const char *msg)
{
    char now[PLAT_ISO_LEN];

    /* The device clock is only used for what a person reads ("last sync
     * 10 minutes ago"); cursors use server time. Failing to record this
     * must not turn a good sync into a failed one. */
    plat_time_iso(plat_time_wall_ms(), now);
    store_state_set(s, "last_attempt.121", now);
    if (rc == PLAT_OK) {
        store_state_set(s, "last_sync.121", now);
        store_state_set(s, "last_error.121", "");
    } else {
        store_state_set(s, "last_error.121", msg);
    }
}

static int run_phases(struct c121 *c)
{
    const struct sync_engine_options *opt = c->opt;
    int rc;

    if (opt->direction != SYNC_PUSH_ONLY) {
        if ((rc = c121_pull_program(c)) < 0)
            return rc;
        if ((rc = c121_pull_registrations(c)) < 0)
            return rc;
        if ((rc = c121_pull_events(c)) < 0)
            return rc;
        if ((rc = c121_pull_payments(c)) < 0)
            return rc;
        if ((rc = c121_confirm_inflight(c)) < 0)
            return rc;
    }
    if (opt->cancel && *opt->cancel)
        return plat_err_set(ERR_RETRY, "sync cancelled");
    if (opt->direction != SYNC_PULL_ONLY) {
        if ((rc = c121_push_creates(c)) < 0)
            return rc;
        if ((rc = c121_push_edits(c)) < 0)
            return rc;
        if ((rc = c121_push_status(c)) < 0)
            return rc;
    }
    return PLAT_OK;
}

int sync_engine_run(struct store *s, const struct sync_engine_options *opt,
                    struct sync_summary *out)
{
    struct sync_http_options ho = SYNC_HTTP_OPTIONS_INIT;
    struct progress_ctx pctx = {opt, NULL};
    struct sync_http *http = NULL;
    struct c121 c;
    int64_t t0 = plat_time_mono_ms();
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    if (opt->program_id <= 0 || !opt->server_url || !*opt->server_url) {
        rc = plat_err_set(ERR_CONFIG, "sync needs server.url and "
                          "server.program_id in the config");
        goto done;
    }

    ho.base_url = opt->server_url;
    ho.service_name = "121";
    ho.ca_file = opt->ca_file;
    ho.pinned_pubkey = opt->pinned_pubkey;
    ho.proxy = opt->proxy;
    ho.connect_timeout_ms = opt->connect_timeout_ms;
    ho.max_attempts = opt->max_attempts;
    ho.backoff_base_ms = opt->backoff_base_ms;
    ho.backoff_cap_ms = opt->backoff_cap_ms;
    ho.cancel = opt->cancel;
    if (opt->progress) {
        ho.progress = on_http_progress;
        ho.progress_payload = &pctx;
    }
    if ((rc = sync_http_create(&http, &ho)) < 0)
        goto done;
    if ((rc = c121_http_install(http, opt->user, opt->password)) < 0)
        goto done;
    pctx.http = http;

    c.store = s;
    c.http = http;
    c.opt = opt;
    c.sum = out;
    snprintf(c.prefix, sizeof(c.prefix), "/api/programs/%d", opt->program_id);
    snprintf(c.user, sizeof(c.user), "%s", opt->user ? opt->user : "");

    log_info("sync with %s, program %d: starting", opt->server_url,
             opt->program_id);
    if ((rc = sync_http_auth_login(http)) < 0)
        goto done;
    rc = run_phases(&c);

done:
    if (http) {
        c121_update_stats(&c);
        sync_http_destroy(http);
    }
    out->elapsed_ms = plat_time_mono_ms() - t0;
    if (rc < 0)
        snprintf(out->error, sizeof(out->error), "%s", plat_err_msg());
    if (rc != ERR_CONFIG)
        record_outcome(s, rc, out->error);
    if (rc < 0)
        plat_err_set(rc, "%s", out->error);
    log_info("sync finished in %lld ms: pulled %lld, events %lld, pushed "
             "%lld, conflicts %lld, rejected %lld, %lld requests, %lld bytes "
             "on the wire%s%s", (long long)out->elapsed_ms,
             (long long)out->pulled, (long long)out->events,
             (long long)out->pushed, (long long)out->conflicts,
             (long long)out->rejected, (long long)out->requests,
             (long long)out->bytes_wire, rc < 0 ? ": " : "",
             rc < 0 ? out->error : "");
    return rc;
}
