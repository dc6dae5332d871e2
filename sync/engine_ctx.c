/*
 * engine_ctx.c - the engine's services to connectors (sync_ctx.h): every
 * store write of a sync cycle goes through here, inside the batch the
 * connector opened, so records and their cursor commit together.
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
#include "store_conflicts.h"
#include "store_outbox.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_search.h"
#include "store_sync.h"
#include "sync_http.h"

/* ---- environment -------------------------------------------------------- */

const char *sync_ctx_source(const struct sync_ctx *ctx)
{
    return ctx->conn->name;
}

const char *sync_ctx_conf(const struct sync_ctx *ctx, const char *key)
{
    return sync_source_conf_get(ctx->conf, key);
}

const struct sync_engine_options *sync_ctx_options(const struct sync_ctx *ctx)
{
    return ctx->opt;
}

struct sync_http *sync_ctx_http(struct sync_ctx *ctx)
{
    return ctx->http;
}

void sync__ctx_bounds(struct sync_ctx *ctx, int64_t start_mono,
                      int64_t *growth)
{
    const struct sync_engine_options *o = ctx->opt;

    ctx->deadline_mono = start_mono + (o->deadline_ms > 0
                                           ? o->deadline_ms
                                           : SYNC_DEADLINE_DEFAULT_MS);
    ctx->max_growth = o->max_store_growth > 0 ? o->max_store_growth
                                              : SYNC_STORE_GROWTH_DEFAULT;
    ctx->growth = growth ? growth : &ctx->growth_own;
}

static int stop(struct sync_ctx *ctx, int rc, const char *msg)
{
    if (!ctx->stop_rc) {
        ctx->stop_rc = rc;
        snprintf(ctx->stop_msg, sizeof(ctx->stop_msg), "%s", msg);
    }
    return plat_err_set(ctx->stop_rc, "%s", ctx->stop_msg);
}

int sync__ctx_stopped(struct sync_ctx *ctx)
{
    char msg[160];

    if (ctx->stop_rc)
        return plat_err_set(ctx->stop_rc, "%s", ctx->stop_msg);
    if (ctx->deadline_mono && plat_time_mono_ms() >= ctx->deadline_mono) {
        snprintf(msg, sizeof(msg), "sync stopped: over its deadline of "
                 "%lld s", (long long)((ctx->opt->deadline_ms > 0
                                            ? ctx->opt->deadline_ms
                                            : SYNC_DEADLINE_DEFAULT_MS) /
                                       1000));
        return stop(ctx, ERR_RETRY, msg);
    }
    return PLAT_OK;
}

int sync_ctx_cancelled(struct sync_ctx *ctx)
{
    if (ctx->opt->cancel && *ctx->opt->cancel) {
        plat_err_set(ERR_RETRY, "sync cancelled");
        return 1;
    }
    return sync__ctx_stopped(ctx) < 0;
}

/* About the bytes `v` takes as stored JSON (no printing: keys, strings,
 * numbers at most 24 characters, punctuation). */
static int64_t json_size(const cJSON *v)
{
    int64_t n = 2;
    const cJSON *c;

    if (!v)
        return 4;
    if (v->string)
        n += (int64_t)strlen(v->string) + 3;
    if (cJSON_IsString(v) && v->valuestring)
        n += (int64_t)strlen(v->valuestring);
    else if (cJSON_IsNumber(v))
        n += 24;
    else if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        n += 4;
    for (c = v->child; c; c = c->next)
        n += json_size(c) + 1;
    return n;
}

/* Count `bytes` of records about to be written against the cycle's
 * budget: ERR_TOOLARGE (and the cycle stops) once over it. */
static int grow(struct sync_ctx *ctx, int64_t bytes)
{
    char msg[160];

    if (ctx->stop_rc)
        return plat_err_set(ctx->stop_rc, "%s", ctx->stop_msg);
    if (!ctx->growth)
        return PLAT_OK; /* a hand-made context without bounds */
    *ctx->growth += bytes;
    if (*ctx->growth <= ctx->max_growth)
        return PLAT_OK;
    snprintf(msg, sizeof(msg), "sync stopped: the %s records of this sync "
             "passed its store budget of %lld bytes (max_store_growth)",
             ctx->conn ? ctx->conn->name : "source",
             (long long)ctx->max_growth);
    return stop(ctx, ERR_TOOLARGE, msg);
}

void sync__update_stats(struct sync_ctx *ctx)
{
    struct sync_http_stats st;

    if (!ctx->http)
        return;
    sync_http_stats(ctx->http, &st);
    ctx->sum->requests = st.requests;
    ctx->sum->bytes_wire = st.bytes_down_wire + st.bytes_up_wire;
    ctx->sum->bytes_body = st.bytes_down_body;
}

void sync__progress(struct sync_ctx *ctx, int64_t done, int64_t total,
                    int64_t bytes, int set_counts)
{
    if (!ctx->opt->progress)
        return;
    if (ctx->prog_phase_src != ctx->phase || !ctx->prog_phase[0]) {
        ctx->prog_phase_src = ctx->phase;
        ctx->prog_done = ctx->prog_total = 0;
        snprintf(ctx->prog_phase, sizeof(ctx->prog_phase), "%s%s%s",
                 ctx->conn ? ctx->conn->name : "",
                 ctx->conn && ctx->phase ? " " : "",
                 ctx->phase ? ctx->phase : "");
    }
    if (set_counts) {
        ctx->prog_done = done;
        ctx->prog_total = total;
    }
    if (bytes > ctx->prog_bytes)
        ctx->prog_bytes = bytes;
    ctx->opt->progress(ctx->opt->progress_payload, ctx->prog_phase,
                       ctx->prog_done, ctx->prog_total, ctx->prog_bytes);
}

void sync_ctx_progress(struct sync_ctx *ctx, int64_t done, int64_t total)
{
    if (!ctx->opt->progress)
        return;
    sync__update_stats(ctx);
    sync__progress(ctx, done, total, ctx->sum->bytes_wire, 1);
}

int sync_ctx_watched(const struct sync_ctx *ctx)
{
    return ctx->opt && ctx->opt->progress != NULL && ctx->opt->want_totals;
}

void sync_ctx_count(struct sync_ctx *ctx, int counter, int64_t n)
{
    struct sync_summary *s = ctx->sum;

    switch (counter) {
    case SYNC_COUNT_PULLED: s->pulled += n; break;
    case SYNC_COUNT_EVENTS: s->events += n; break;
    case SYNC_COUNT_PUSHED: s->pushed += n; break;
    case SYNC_COUNT_SENT: s->sent += n; break;
    case SYNC_COUNT_CONFLICTS: s->conflicts += n; break;
    case SYNC_COUNT_REJECTED: s->rejected += n; break;
    case SYNC_COUNT_GONE: s->gone += n; break;
    default: break;
    }
}

/* ---- batches and cursors ----------------------------------------------- */

int sync_batch_begin(struct sync_ctx *ctx)
{
    int rc;

    if (ctx->in_batch)
        return plat_err_set(ERR_INVALID, "sync batches do not nest");
    rc = store_begin(ctx->store);
    if (rc == PLAT_OK)
        ctx->in_batch = 1;
    return rc;
}

int sync_batch_end(struct sync_ctx *ctx, int rc)
{
    if (!ctx->in_batch)
        return rc;
    ctx->in_batch = 0;
    if (rc == PLAT_OK)
        return store_commit(ctx->store);
    store_rollback(ctx->store);
    return rc;
}

/* ---- the search index during a bulk pull ------------------------------- */

int sync_search_defer(struct sync_ctx *ctx)
{
    if (ctx->in_batch)
        return plat_err_set(ERR_INVALID, "the search index is deferred "
                            "outside a batch");
    return store_search_defer(ctx->store);
}

int sync_search_rebuild(struct sync_ctx *ctx)
{
    int64_t t0;
    int rebuilt = 0, rc;

    if (ctx->in_batch)
        return plat_err_set(ERR_INVALID, "the search index is rebuilt "
                            "outside a batch");
    t0 = plat_time_mono_ms();
    rc = store_search_rebuild(ctx->store, &rebuilt);
    if (rc == PLAT_OK && rebuilt)
        log_info("%s: search index built (%lld ms)", ctx->conn->name,
                 (long long)(plat_time_mono_ms() - t0));
    return rc;
}

int sync_cursor_get(struct sync_ctx *ctx, const char *name, char **out)
{
    return store_checkpoint_get(ctx->store, ctx->conn->name, name, out);
}

int sync_cursor_get_i64(struct sync_ctx *ctx, const char *name, int64_t dflt,
                        int64_t *out)
{
    return store_checkpoint_get_i64(ctx->store, ctx->conn->name, name, dflt,
                                    out);
}

int sync_cursor_set(struct sync_ctx *ctx, const char *name, const char *value)
{
    return store_checkpoint_set(ctx->store, ctx->conn->name, name, value);
}

int sync_cursor_set_i64(struct sync_ctx *ctx, const char *name, int64_t value)
{
    return store_checkpoint_set_i64(ctx->store, ctx->conn->name, name, value);
}

int sync_cursor_delete(struct sync_ctx *ctx, const char *name)
{
    return store_checkpoint_delete(ctx->store, ctx->conn->name, name);
}

static int state_key(const struct sync_ctx *ctx, const char *name, char *key,
                     size_t n)
{
    if ((size_t)snprintf(key, n, "%s.%s", ctx->conn->name, name) >= n)
        return plat_err_set(ERR_INVALID, "state name too long: %s", name);
    return PLAT_OK;
}

int sync_state_get(struct sync_ctx *ctx, const char *name, char **out)
{
    char key[128];
    int rc = state_key(ctx, name, key, sizeof(key));

    return rc < 0 ? rc : store_state_get(ctx->store, key, out);
}

int sync_state_set(struct sync_ctx *ctx, const char *name, const char *value)
{
    char key[128];
    int rc = state_key(ctx, name, key, sizeof(key));

    return rc < 0 ? rc : store_state_set(ctx->store, key, value);
}

int sync_state_append_line(struct sync_ctx *ctx, const char *name,
                           const char *line, size_t keep)
{
    char *old = NULL, *text;
    const char *p;
    size_t lines = 0;
    int rc;

    rc = sync_state_get(ctx, name, &old);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    p = old ? old : "";
    for (const char *q = p; *q; q++)
        lines += *q == '\n';
    while (lines >= keep && strchr(p, '\n')) {
        p = strchr(p, '\n') + 1;
        lines--;
    }
    text = plat_asprintf("%s%s\n", p, line);
    plat_free(old);
    if (!text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = sync_state_set(ctx, name, text);
    plat_free(text);
    return rc;
}

/* ---- records from the source -------------------------------------------- */

static void forget_program(struct sync_ctx *ctx)
{
    cJSON_Delete(ctx->program);
    ctx->program = NULL;
    ctx->program_loaded = 0;
}

int sync_put_program(struct sync_ctx *ctx, const cJSON *program,
                     const char *etag)
{
    forget_program(ctx);
    return store_program_put(ctx->store, program, etag);
}

int sync_put_templates(struct sync_ctx *ctx, int program_id,
                       const cJSON *templates)
{
    return store_program_put_templates(ctx->store, program_id, templates);
}

int sync_put_registration(struct sync_ctx *ctx, const cJSON *reg)
{
    int rc = grow(ctx, json_size(reg));

    return rc < 0 ? rc : store_reg_put_server(ctx->store, reg);
}

int sync_put_registration_text(struct sync_ctx *ctx, const cJSON *reg,
                               const char *text, size_t len)
{
    int rc = grow(ctx, (int64_t)len);

    return rc < 0 ? rc : store_reg_put_server_text(ctx->store, reg, text, len);
}

int sync_put_registrations(struct sync_ctx *ctx, const cJSON *regs)
{
    int rc = grow(ctx, json_size(regs));

    return rc < 0 ? rc : store_reg_put_server_batch(ctx->store, regs);
}

int sync_set_registration_fields(struct sync_ctx *ctx, const char *ref,
                                 const cJSON *changes)
{
    return store_reg_server_set(ctx->store, ref, changes);
}

int sync_edit_registration(struct sync_ctx *ctx, const char *ref,
                           sync_record_edit_fn fn, void *payload)
{
    return store_reg_server_edit(ctx->store, ref, fn, payload);
}

int sync_mark_gone(struct sync_ctx *ctx, int program_id, int64_t after_id,
                   int64_t upto_id, const int64_t *seen, size_t n_seen,
                   sync_record_edit_fn gone, void *gone_payload,
                   int64_t *count_out)
{
    int64_t n = 0;
    int rc;

    rc = store_reg_mark_gone(ctx->store, program_id, after_id, upto_id, seen,
                             n_seen, gone, gone_payload, &n);
    if (rc == PLAT_OK)
        ctx->sum->gone += n;
    if (count_out)
        *count_out = n;
    return rc;
}

int sync_put_payment(struct sync_ctx *ctx, int program_id,
                     const cJSON *payment)
{
    int rc = grow(ctx, json_size(payment));

    return rc < 0 ? rc : store_payment_put(ctx->store, program_id, payment);
}

int sync_put_event(struct sync_ctx *ctx, int program_id,
                   const cJSON *event)
{
    int rc = grow(ctx, json_size(event));

    return rc < 0 ? rc : store_event_put(ctx->store, program_id, event);
}

int sync_put_transactions(struct sync_ctx *ctx, int program_id,
                          int payment_id, const cJSON *transactions)
{
    int rc = grow(ctx, json_size(transactions));

    return rc < 0 ? rc : store_transactions_put(ctx->store, program_id,
                                                payment_id, transactions);
}

int sync_put_voucher(struct sync_ctx *ctx, const char *ref, int payment_id,
                     const void *image, size_t len, const char *content_type)
{
    int rc = grow(ctx, (int64_t)len);

    return rc < 0 ? rc : store_voucher_put(ctx->store, ref, payment_id,
                                           image, len, content_type);
}

int sync_remote_id_put(struct sync_ctx *ctx, const char *kind,
                       const char *remote_id, const char *ref,
                       const char *remote_version)
{
    return store_remote_id_put(ctx->store, ctx->conn->name, kind, remote_id,
                               ref, remote_version);
}

int sync_remote_id_get(struct sync_ctx *ctx, const char *kind,
                       const char *remote_id, char **ref_out,
                       char **version_out)
{
    return store_remote_id_get(ctx->store, ctx->conn->name, kind, remote_id,
                               ref_out, version_out);
}

int sync_remote_ids_list(struct sync_ctx *ctx, const char *kind,
                         sync_remote_id_cb cb, void *payload)
{
    return store_remote_id_list(ctx->store, ctx->conn->name, kind, cb,
                                payload);
}

/* ---- changes for another system ---------------------------------------- */

int sync_queue_create(struct sync_ctx *ctx, const char *target,
                      int program_id, const cJSON *fields, const char *ref,
                      char *ref_out, int *created_out)
{
    cJSON *copy = NULL;
    const cJSON *use = fields;
    int rc;

    if (created_out)
        *created_out = 0;
    if (ref && *ref) {
        copy = cJSON_Duplicate(fields, 1);
        if (!copy)
            return plat_err_set(ERR_NOMEM, "out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "referenceId");
        if (!cJSON_AddStringToObject(copy, "referenceId", ref)) {
            cJSON_Delete(copy);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
        use = copy;
    }
    rc = store_reg_create_from(ctx->store, program_id, use, ref_out,
                               ctx->conn->name, target);
    cJSON_Delete(copy);
    if (rc == ERR_EXISTS && ref && *ref) {
        plat_err_clear();
        if (ref_out)
            snprintf(ref_out, SYNC_REF_MAX + 1, "%s", ref);
        return PLAT_OK;
    }
    if (rc == PLAT_OK && created_out)
        *created_out = 1;
    return rc;
}

int sync_queue_edit(struct sync_ctx *ctx, const char *target,
                    const char *ref, const cJSON *changes, const cJSON *base,
                    const char *reason, int *changed_out)
{
    return store_reg_edit_from_base(changed_out, ctx->store, ref, changes,
                                    base, reason, ctx->conn->name, target);
}

int sync_queue_status(struct sync_ctx *ctx, const char *target,
                      const char *ref, const char *status, const char *reason)
{
    return store_reg_set_status_from(ctx->store, ref, status, reason,
                                     ctx->conn->name, target);
}

/* ---- reads -------------------------------------------------------------- */

const cJSON *sync_ctx_program(struct sync_ctx *ctx)
{
    if (!ctx->program_loaded && ctx->program_id > 0) {
        ctx->program_loaded = 1;
        if (store_program_get(ctx->store, ctx->program_id, &ctx->program,
                              NULL) < 0) {
            ctx->program = NULL; /* none stored yet: rules without types */
            plat_err_clear();
        }
    }
    return ctx->program;
}

int sync_get_program(struct sync_ctx *ctx, int program_id, cJSON **out,
                     char **etag_out)
{
    return store_program_get(ctx->store, program_id, out, etag_out);
}

int sync_get_registration(struct sync_ctx *ctx, const char *ref, cJSON **out)
{
    return store_reg_server_get(ctx->store, ref, out);
}

int sync_get_local(struct sync_ctx *ctx, const char *ref, cJSON **out)
{
    return store_reg_get(ctx->store, ref, out);
}

int sync_ref_by_server_id(struct sync_ctx *ctx, int64_t id, char **ref_out)
{
    return store_reg_ref_by_id(ctx->store, id, ref_out);
}

int sync_max_server_id(struct sync_ctx *ctx, int program_id, int64_t *out)
{
    return store_reg_max_server_id(ctx->store, program_id, out);
}

int sync_get_payment(struct sync_ctx *ctx, int program_id, int payment_id,
                     cJSON **out)
{
    return store_payment_get(ctx->store, program_id, payment_id, out);
}

int sync_latest_payment(struct sync_ctx *ctx, int program_id, int *out)
{
    return store_payment_latest(ctx->store, program_id, out);
}

int sync_transactions_max_updated(struct sync_ctx *ctx, int payment_id,
                                  char *out, size_t out_size)
{
    return store_transaction_max_updated(ctx->store, payment_id, out,
                                         out_size);
}

int sync_vouchers_missing(struct sync_ctx *ctx, int payment_id,
                          const char *fsp_name, char ***refs_out,
                          size_t *n_out)
{
    return store_voucher_missing(ctx->store, payment_id, fsp_name, refs_out,
                                 n_out);
}

void sync_strings_free(char **v, size_t n)
{
    store_strings_free(v, n);
}

/* The store budget check for the other files of the engine
 * (engine_attach.c). */
int sync__ctx_grow(struct sync_ctx *ctx, int64_t bytes)
{
    return grow(ctx, bytes);
}
