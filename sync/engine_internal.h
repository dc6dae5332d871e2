/*
 * engine_internal.h - what engine.c, engine_ctx.c and engine_check.c share:
 * the context a connector's callbacks get (sync_ctx.h). Not for
 * connectors.
 */
#ifndef ENGINE_INTERNAL_H
#define ENGINE_INTERNAL_H

#include "sync_connector.h"
#include "sync_ctx.h"
#include "sync_engine.h"

struct store;
struct cJSON;

struct sync_ctx {
    struct store *store;
    const struct sync_connector *conn;
    const struct sync_source_conf *conf;
    const struct sync_engine_options *opt;
    struct sync_http *http;        /* NULL for a source without a URL    */
    struct sync_summary *sum;      /* this source's line of the report   */
    const char *phase;             /* "pull <stream>", "push <kind>"     */
    int in_batch;
    int program_id;                /* the section's program_id, or 0     */
    struct cJSON *program;         /* stored program, loaded on first use */
    int program_loaded;
    int64_t deadline_mono;         /* plat_time_mono_ms() limit; 0: none  */
    int64_t max_growth;            /* record bytes the cycle may write    */
    int64_t *growth;               /* written so far in the cycle         */
    int64_t growth_own;            /* growth's home without a cycle       */
    int stop_rc;                   /* a bound was hit: ERR_RETRY (deadline)
                                      or ERR_TOOLARGE (store budget)      */
    char stop_msg[160];
    char late_msg[320];            /* first failure of a late stream      */
    /* What the progress callback last got: the phase it was for, so a new
     * phase starts from 0 of unknown; bytes never go down. */
    const char *prog_phase_src;
    char prog_phase[64];           /* "<source> <phase>"                  */
    int64_t prog_done, prog_total, prog_bytes;
};

/* Report progress: `done`/`total` of the current phase (ctx->phase) and
 * `bytes` on the wire so far (kept if lower than before). */
void sync__progress(struct sync_ctx *ctx, int64_t done, int64_t total,
                    int64_t bytes, int set_counts);

/* The bounds of a cycle from its options (deadline from now). */
void sync__ctx_bounds(struct sync_ctx *ctx, int64_t start_mono,
                      int64_t *growth);

/* PLAT_OK, or the bound the cycle hit (deadline, store budget) with its
 * message set. */
int sync__ctx_stopped(struct sync_ctx *ctx);
/* Count `bytes` about to be written against the cycle's store budget
 * (ERR_TOOLARGE over it; engine_ctx.c). */
int sync__ctx_grow(struct sync_ctx *ctx, int64_t bytes);

/* Refresh ctx->sum's request and byte counters from the HTTP client. */
void sync__update_stats(struct sync_ctx *ctx);

/* JSON text of a value for a conflict record (NULL -> "null"); free with
 * cJSON_free. NULL when out of memory (message set). */
char *sync__json_text(const struct cJSON *v);

#endif
