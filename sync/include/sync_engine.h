/*
 * sync_engine.h - one sync cycle between the local store and the enabled
 * sources (121, KoboToolbox, EspoCRM, a folder of files: the connectors of
 * sync_connector.h).
 *
 * For each source, in registry order: init, auth, pull every stream (each
 * batch committed with its cursor), confirm in-flight operations, then
 * push the outbox operations meant for it, kind by kind, so that the
 * conflict check of every pushed field uses fresh source values, then pull
 * the connector's late streams (data the push does not need, e.g. 121's
 * payments: their failure never holds back an upload). An
 * interrupted cycle loses at most one batch of download work and nothing
 * of the local work.
 *
 * The engine owns every store write (sync_ctx.h), checkpoints, the
 * three-way field check and policies, conflicts, outbox states, cancel,
 * progress and one summary per source; connectors own their wire format.
 * The engine never logs personal data; it logs referenceIds.
 *
 * Result of sync_engine_run:
 *   PLAT_OK      the cycle completed (conflicts or rejected entries may
 *                still need a person: see the summary counts)
 *   ERR_RETRY    a source was unreachable; nothing lost, try later
 *   ERR_AUTH     a login failed or the user lacks a permission
 *   ERR_INVALID  a source answered something malformed; store unchanged
 *                beyond the last committed batch
 *   ERR_CONFIG   no enabled source, or --source names an unknown one
 *   other        local failure (store, memory)
 * The report is filled in every case, with what was done before a stop.
 */
#ifndef SYNC_ENGINE_H
#define SYNC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum sync_direction {
    SYNC_BOTH = 0,
    SYNC_PULL_ONLY = 1,
    SYNC_PUSH_ONLY = 2
};

enum sync_policy {
    SYNC_POLICY_MANUAL = 0,      /* keep both, a person decides        */
    SYNC_POLICY_SERVER_WINS = 1, /* drop the local change              */
    SYNC_POLICY_DEVICE_WINS = 2  /* overwrite the server value         */
};

/* Progress of a long phase: `phase` is a static name ("pull", "push"),
 * `done` of `total` units (total 0 = unknown). */
typedef void (*sync_progress_cb)(void *payload, const char *phase,
                                 int64_t done, int64_t total,
                                 int64_t bytes_wire);

struct sync_source_conf;

struct sync_engine_options {
    /* The sources to run, in the registry's order (each with its config
     * section; disabled ones are skipped). Borrowed for the cycle. */
    const struct sync_source_conf *sources;
    size_t n_sources;
    /* Names of the sources to run (--source); NULL/0: every enabled one. */
    const char *const *only;
    size_t n_only;

    /* Transport (every HTTP source). */
    const char *ca_file;         /* optional                            */
    const char *pinned_pubkey;   /* optional                            */
    const char *proxy;           /* optional                            */
    long connect_timeout_ms;     /* 0: default                          */
    int max_attempts;            /* 0: default                          */
    long backoff_base_ms;        /* 0: default                          */
    long backoff_cap_ms;         /* 0: default                          */

    int direction;               /* enum sync_direction                 */
    int full;                    /* re-read every record                */
    int vouchers;                /* fetch voucher images                */
    int window;                  /* registrations per request (0: 250000) */
    int batch;                   /* records per committed batch (0: 1000) */
    int create_batch;            /* creates per POST (0: 500)           */
    int patch_max;               /* edits sent as single PATCHes before
                                    switching to CSV bulk (0: 20)      */

    /* Conflict policy of a field; NULL means manual for every field. */
    int (*policy)(void *payload, const char *field);
    void *policy_payload;

    sync_progress_cb progress;
    void *progress_payload;
    int want_totals;             /* a person watches the progress: a source
                                    may spend a request on a total (121:
                                    a count before a registrations walk,
                                    ~1.5 s on a large program)         */
    volatile int *cancel;        /* set non-zero to stop after a batch  */

    /* Bounds on what a source can make one cycle do (a server sending
     * without end, or a byte at a time). */
    int64_t deadline_ms;         /* whole cycle, monotonic; 0: 6 h. Past
                                    it the running request stops and the
                                    source ends with ERR_RETRY          */
    int64_t max_store_growth;    /* bytes of records one cycle may write
                                    (JSON size); 0: 4 GiB. Over it:
                                    ERR_TOOLARGE, the batch rolled back */
    long low_speed_time_s;       /* a transfer under 100 B/s this long
                                    fails (not retried); 0: 60 s        */
};

#define SYNC_DEADLINE_DEFAULT_MS (6LL * 3600 * 1000)
#define SYNC_STORE_GROWTH_DEFAULT ((int64_t)4 << 30)

/* What one source did in a cycle. */
struct sync_summary {
    char source[32];             /* connector name                       */
    int rc;                      /* PLAT_OK or the ERR_* it ended with   */
    int64_t pulled;              /* records written from the source      */
    int64_t events;              /* change events applied                */
    int64_t pushed;              /* outbox entries confirmed done        */
    int64_t sent;                /* outbox entries sent, awaiting events  */
    int64_t conflicts;           /* conflicts found in this cycle        */
    int64_t rejected;            /* entries rejected in this cycle       */
    int64_t gone;                /* records the source no longer shows   */
    int64_t requests;            /* HTTP requests                        */
    int64_t bytes_wire;          /* bytes on the wire, both directions   */
    int64_t bytes_body;          /* uncompressed response bytes          */
    int64_t elapsed_ms;
    char error[320];             /* one line when rc is not OK           */
};

#define SYNC_MAX_SOURCES 8

/* The whole cycle: `total` adds up every source (its source is "",
 * its rc the result), `per[i]` is source i of the n_per that ran. */
struct sync_report {
    struct sync_summary total;
    struct sync_summary per[SYNC_MAX_SOURCES];
    size_t n_per;
};

/* Run one cycle over the selected enabled sources, in registry order.
 * A source that fails (ERR_RETRY, ERR_AUTH, ...) does not stop the
 * others; the result is the first failure that is not ERR_RETRY, else
 * ERR_RETRY, else PLAT_OK (with several sources, total.error is prefixed
 * with the source's name). ERR_CONFIG when --source names an
 * unknown or disabled source, or none is enabled. */
int sync_engine_run(struct store *s, const struct sync_engine_options *opt,
                    struct sync_report *out);

struct sync_connector;

/* sync_engine_run over the NULL-terminated list `connectors` instead of
 * the registry (tests run scripted connectors through it). */
int sync_engine_run_with(struct store *s, const struct sync_engine_options *opt,
                         const struct sync_connector *const *connectors,
                         struct sync_report *out);

/* A context for driving one connector's phases by hand (tests, and
 * embedding a connector without the cycle): over store `s`, for the source
 * whose section is `conf`, with `http` (borrowed; NULL for none) and the
 * summary `sum` to count into (borrowed). Free with sync_ctx_destroy. */
struct sync_ctx;
struct sync_http;
int sync_ctx_create(struct sync_ctx **out, struct store *s,
                    const struct sync_source_conf *conf,
                    const struct sync_engine_options *opt,
                    struct sync_http *http, struct sync_summary *sum);
void sync_ctx_destroy(struct sync_ctx *ctx);

#endif
