/*
 * engine.c - one sync cycle over the enabled sources (see sync_engine.h).
 *
 * Order matters: sources run in registry order (121 first); within a
 * source, pull before push, so that the three-way check of every pushed
 * field compares against what the source holds now; confirm in-flight
 * operations after the pull that can show their effect; push kinds in the
 * connector's order (121: creates before edits and status changes, so that
 * a person registered and edited offline arrives in one cycle); then the
 * late streams (data the push does not need, 121's payments), so that a
 * failure there never holds back local work.
 *
 * Bounds: a cycle has a deadline (opt->deadline_ms, also given to the HTTP
 * client so a running transfer stops) and a budget of record bytes it may
 * write (opt->max_store_growth); hitting one stops the cycle with
 * ERR_RETRY / ERR_TOOLARGE and a message naming the bound.
 */
#include "engine_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "store.h"
#include "store_outbox.h"
#include "sync_http.h"

/* curl reports bytes of the current transfer; the progress line wants the
 * running total on the wire, which the HTTP counters (updated when a
 * transfer ends) plus the transfer in hand give. Called for every chunk,
 * so the byte counter grows while one large answer streams in. */
static void on_http_progress(void *payload, int64_t dl_now, int64_t dl_total,
                             int64_t ul_now, int64_t ul_total)
{
    struct sync_ctx *ctx = payload;
    struct sync_http_stats st;

    (void)dl_total;
    (void)ul_total;
    if (!ctx->opt->progress || !ctx->http)
        return;
    sync_http_stats(ctx->http, &st);
    sync__progress(ctx, 0, 0, st.bytes_down_wire + st.bytes_up_wire +
                   dl_now + ul_now, 0);
}

static void record_outcome(struct sync_ctx *ctx, int rc, const char *msg)
{
    char now[PLAT_ISO_LEN], key[96];
    const char *name = ctx->conn->name;

    /* The device clock is only used for what a person reads ("last sync
     * 10 minutes ago"); cursors use source time. Failing to record this
     * must not turn a good sync into a failed one. */
    plat_time_iso(plat_time_wall_ms(), now);
    snprintf(key, sizeof(key), "last_attempt.%s", name);
    store_state_set(ctx->store, key, now);
    if (rc == PLAT_OK) {
        snprintf(key, sizeof(key), "last_sync.%s", name);
        store_state_set(ctx->store, key, now);
    }
    snprintf(key, sizeof(key), "last_error.%s", name);
    store_state_set(ctx->store, key, rc == PLAT_OK ? "" : msg);
    plat_err_clear();
}

static int make_http(struct sync_ctx *ctx, const char *url)
{
    const struct sync_engine_options *opt = ctx->opt;
    struct sync_http_options ho = SYNC_HTTP_OPTIONS_INIT;

    ho.base_url = url;
    ho.service_name = ctx->conn->name;
    ho.ca_file = opt->ca_file;
    ho.pinned_pubkey = opt->pinned_pubkey;
    ho.proxy = opt->proxy;
    ho.connect_timeout_ms = opt->connect_timeout_ms;
    ho.max_attempts = opt->max_attempts;
    ho.backoff_base_ms = opt->backoff_base_ms;
    ho.backoff_cap_ms = opt->backoff_cap_ms;
    ho.cancel = opt->cancel;
    ho.deadline_mono_ms = ctx->deadline_mono;
    ho.low_speed_time_s = opt->low_speed_time_s;
    if (opt->progress) {
        ho.progress = on_http_progress;
        ho.progress_payload = ctx;
    }
    return sync_http_create(&ctx->http, &ho);
}

/* The phases of one source; the state is the connector's. */
static int run_phases(struct sync_ctx *ctx, void *state)
{
    const struct sync_connector *conn = ctx->conn;
    const struct sync_engine_options *opt = ctx->opt;
    size_t i;
    int rc, late_rc = PLAT_OK;

    if (conn->cb_auth && (rc = conn->cb_auth(state, ctx)) < 0)
        return rc;
    if (opt->direction != SYNC_PUSH_ONLY) {
        for (i = 0; conn->streams && conn->streams[i]; i++) {
            ctx->phase = conn->streams[i];
            if ((rc = conn->cb_pull(state, ctx, conn->streams[i])) < 0)
                return rc;
        }
        ctx->phase = "confirm";
        if (conn->cb_confirm && (rc = conn->cb_confirm(state, ctx)) < 0)
            return rc;
    }
    if (sync_ctx_cancelled(ctx))
        return ERR_RETRY;
    if (opt->direction != SYNC_PULL_ONLY) {
        for (i = 0; conn->push_kinds && conn->push_kinds[i]; i++) {
            ctx->phase = conn->push_kinds[i];
            if ((rc = conn->cb_push(state, ctx, conn->push_kinds[i])) < 0)
                return rc;
        }
    }
    /* Data the push does not need: pulled last, so that its failure
     * never holds back an upload. Each is tried; the first failure is
     * the source's result. */
    if (opt->direction != SYNC_PUSH_ONLY) {
        for (i = 0; conn->late_streams && conn->late_streams[i]; i++) {
            if (sync_ctx_cancelled(ctx))
                return late_rc < 0 ? late_rc : ERR_RETRY;
            ctx->phase = conn->late_streams[i];
            rc = conn->cb_pull(state, ctx, conn->late_streams[i]);
            if (ctx->in_batch)
                rc = sync_batch_end(ctx, rc < 0 ? rc : ERR_GENERIC);
            if (rc < 0 && late_rc == PLAT_OK) {
                late_rc = rc;
                snprintf(ctx->late_msg, sizeof(ctx->late_msg), "%s",
                         plat_err_msg());
            }
            if (rc < 0)
                log_warn("%s: pulling %s failed after the push: %s",
                         conn->name, conn->late_streams[i], plat_err_msg());
        }
    }
    if (late_rc < 0)
        return plat_err_set(late_rc, "%s", ctx->late_msg);
    return PLAT_OK;
}

static int run_source(struct store *s, const struct sync_engine_options *opt,
                      const struct sync_connector *conn,
                      const struct sync_source_conf *conf,
                      struct sync_summary *sum, int64_t cycle_start,
                      int64_t *growth)
{
    struct sync_ctx ctx;
    const char *url, *pid;
    void *state = NULL;
    int64_t t0 = plat_time_mono_ms();
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.store = s;
    ctx.conn = conn;
    ctx.conf = conf;
    ctx.opt = opt;
    ctx.sum = sum;
    sync__ctx_bounds(&ctx, cycle_start, growth);
    snprintf(sum->source, sizeof(sum->source), "%s", conn->name);
    pid = sync_source_conf_get(conf, "program_id");
    ctx.program_id = pid ? atoi(pid) : 0;

    url = sync_source_conf_get(conf, "url");
    rc = url && *url ? make_http(&ctx, url) : PLAT_OK;
    if (rc == PLAT_OK) {
        log_info("%s: sync starting", conn->name);
        rc = conn->cb_init(&ctx, &state);
        if (rc == PLAT_OK) {
            rc = run_phases(&ctx, state);
            if (ctx.in_batch) /* a connector that forgot to close one */
                rc = sync_batch_end(&ctx, rc < 0 ? rc : ERR_GENERIC);
            /* A bound of the cycle (deadline, store budget) was hit: that
             * is the reason, whatever the connector made of it. */
            if (rc < 0 && ctx.stop_rc)
                rc = sync__ctx_stopped(&ctx);
            if (conn->cb_exit)
                conn->cb_exit(state);
        }
    }
    if (rc < 0)
        snprintf(sum->error, sizeof(sum->error), "%s", plat_err_msg());
    sync__update_stats(&ctx);
    if (ctx.http)
        sync_http_destroy(ctx.http);
    cJSON_Delete(ctx.program);
    sum->rc = rc;
    sum->elapsed_ms = plat_time_mono_ms() - t0;
    if (rc != ERR_CONFIG)
        record_outcome(&ctx, rc, sum->error);
    log_info("%s: sync finished in %lld ms: pulled %lld, events %lld, "
             "pushed %lld, conflicts %lld, rejected %lld, %lld requests, "
             "%lld bytes on the wire%s%s", conn->name,
             (long long)sum->elapsed_ms, (long long)sum->pulled,
             (long long)sum->events, (long long)sum->pushed,
             (long long)sum->conflicts, (long long)sum->rejected,
             (long long)sum->requests, (long long)sum->bytes_wire,
             rc < 0 ? ": " : "", rc < 0 ? sum->error : "");
    return rc;
}

static const struct sync_source_conf *
conf_of(const struct sync_engine_options *opt, const struct sync_connector *c)
{
    size_t i;

    for (i = 0; i < opt->n_sources; i++)
        if (opt->sources[i].connector == c ||
            (opt->sources[i].connector &&
             strcmp(opt->sources[i].connector->name, c->name) == 0))
            return &opt->sources[i];
    return NULL;
}

static int named(const struct sync_engine_options *opt, const char *name)
{
    size_t i;

    for (i = 0; i < opt->n_only; i++)
        if (strcmp(opt->only[i], name) == 0)
            return 1;
    return 0;
}

/* --source names must be compiled in and enabled. */
static int check_only(const struct sync_engine_options *opt,
                      const struct sync_connector *const *conns)
{
    const struct sync_source_conf *sc;
    size_t i, k;

    for (i = 0; i < opt->n_only; i++) {
        const struct sync_connector *c = NULL;
        for (k = 0; conns[k]; k++)
            if (strcmp(conns[k]->name, opt->only[i]) == 0)
                c = conns[k];
        if (!c)
            return plat_err_set(ERR_CONFIG, "unknown source '%s'",
                                opt->only[i]);
        sc = conf_of(opt, c);
        if (!sc || !sc->enabled)
            return plat_err_set(ERR_CONFIG, "source '%s' is not enabled: set "
                                "enabled = true in its [%s] section",
                                c->name, c->name);
    }
    return PLAT_OK;
}

/* Severity for the cycle's result: any failure outranks a transient one. */
static int rank(int rc)
{
    return rc == PLAT_OK ? 0 : rc == ERR_RETRY ? 1 : 2;
}

static void add_up(struct sync_summary *t, const struct sync_summary *s)
{
    t->pulled += s->pulled;
    t->events += s->events;
    t->pushed += s->pushed;
    t->sent += s->sent;
    t->conflicts += s->conflicts;
    t->rejected += s->rejected;
    t->gone += s->gone;
    t->requests += s->requests;
    t->bytes_wire += s->bytes_wire;
    t->bytes_body += s->bytes_body;
}

/* A source that ran before another one in this cycle gets what the later
 * one queued for it (EspoCRM and Kobo turn their records into 121
 * operations) pushed in the same cycle: one more push-only run of it when
 * a later source pulled records and operations for it are pending. Its
 * counts join the source's summary line. */
static void push_follow_up(struct store *s,
                           const struct sync_engine_options *opt,
                           const struct sync_connector *const *conns,
                           struct sync_report *out, int64_t cycle_start,
                           int64_t *growth)
{
    size_t i, k;

    if (opt->direction == SYNC_PULL_ONLY)
        return;
    for (i = 0; i + 1 < out->n_per; i++) {
        struct sync_summary *sum = &out->per[i], extra;
        struct sync_engine_options o2 = *opt;
        const struct sync_connector *c = NULL;
        int64_t pending = 0, conflicts = 0;
        int later = 0;

        for (k = i + 1; k < out->n_per; k++)
            later |= out->per[k].pulled > 0;
        if (!later || sum->rc != PLAT_OK || (opt->cancel && *opt->cancel))
            continue;
        for (k = 0; conns[k]; k++)
            if (strcmp(conns[k]->name, sum->source) == 0)
                c = conns[k];
        if (!c || !conf_of(opt, c))
            continue;
        if (store_source_counts(s, sum->source, &pending, &conflicts) < 0 ||
            pending == 0) {
            plat_err_clear();
            continue;
        }
        memset(&extra, 0, sizeof(extra));
        o2.direction = SYNC_PUSH_ONLY;
        run_source(s, &o2, c, conf_of(opt, c), &extra, cycle_start, growth);
        add_up(sum, &extra);
        add_up(&out->total, &extra);
        sum->elapsed_ms += extra.elapsed_ms;
        if (extra.rc < 0) {
            sum->rc = extra.rc;
            snprintf(sum->error, sizeof(sum->error), "%s", extra.error);
        }
    }
}

int sync_engine_run_with(struct store *s, const struct sync_engine_options *opt,
                         const struct sync_connector *const *conns,
                         struct sync_report *out)
{
    const struct sync_source_conf *sc;
    struct sync_summary *worst = NULL;
    int64_t t0 = plat_time_mono_ms(), growth = 0;
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = check_only(opt, conns);
    for (i = 0; rc == PLAT_OK && conns[i]; i++) {
        struct sync_summary *sum;

        sc = conf_of(opt, conns[i]);
        if (!sc || !sc->enabled ||
            (opt->n_only && !named(opt, conns[i]->name)))
            continue;
        if (out->n_per == SYNC_MAX_SOURCES)
            break;
        sum = &out->per[out->n_per++];
        run_source(s, opt, conns[i], sc, sum, t0, &growth);
        add_up(&out->total, sum);
        if (opt->cancel && *opt->cancel)
            break;
    }
    if (rc == PLAT_OK)
        push_follow_up(s, opt, conns, out, t0, &growth);
    for (i = 0; i < out->n_per; i++)
        if (!worst || rank(out->per[i].rc) > rank(worst->rc))
            worst = &out->per[i];
    if (rc == PLAT_OK && out->n_per == 0)
        rc = plat_err_set(ERR_CONFIG, "no sync source is enabled: set "
                          "enabled = true in a source section, e.g. [121]");
    if (rc == PLAT_OK && worst && worst->rc < 0) {
        rc = worst->rc;
        if (out->n_per > 1)
            snprintf(out->total.error, sizeof(out->total.error),
                     "%.31s: %.280s", worst->source, worst->error);
        else
            snprintf(out->total.error, sizeof(out->total.error), "%s",
                     worst->error);
    } else if (rc < 0) {
        snprintf(out->total.error, sizeof(out->total.error), "%s",
                 plat_err_msg());
    }
    out->total.rc = rc;
    out->total.elapsed_ms = plat_time_mono_ms() - t0;
    if (rc < 0)
        plat_err_set(rc, "%s", out->total.error);
    return rc;
}

int sync_ctx_create(struct sync_ctx **out, struct store *s,
                    const struct sync_source_conf *conf,
                    const struct sync_engine_options *opt,
                    struct sync_http *http, struct sync_summary *sum)
{
    struct sync_ctx *ctx = plat_calloc(1, sizeof(*ctx));
    const char *pid = sync_source_conf_get(conf, "program_id");

    *out = NULL;
    if (!ctx)
        return plat_err_set(ERR_NOMEM, "out of memory");
    ctx->store = s;
    ctx->conn = conf->connector;
    ctx->conf = conf;
    ctx->opt = opt;
    ctx->http = http;
    ctx->sum = sum;
    ctx->program_id = pid ? atoi(pid) : 0;
    sync__ctx_bounds(ctx, plat_time_mono_ms(), NULL);
    *out = ctx;
    return PLAT_OK;
}

void sync_ctx_destroy(struct sync_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->in_batch)
        sync_batch_end(ctx, ERR_GENERIC);
    cJSON_Delete(ctx->program);
    plat_free(ctx);
}

int sync_engine_run(struct store *s, const struct sync_engine_options *opt,
                    struct sync_report *out)
{
    return sync_engine_run_with(s, opt, sync_connectors_registry(), out);
}
