/*
 * sync_connector.h - what a connector is: one static descriptor.
 *
 * A connector links the local store with one remote system (121,
 * KoboToolbox, EspoCRM, a folder of files). It knows that system's wire
 * format and nothing else: it turns answers into records, cursors and
 * per-operation results, and operations into requests. It never writes
 * the store, never prints and never decides retries: it calls the
 * engine's services (sync_ctx.h) and returns PLAT_OK or an ERR_* code with
 * the message set (plat_err.h), like a Fluent Bit output returns
 * FLB_OK / FLB_RETRY / FLB_ERROR:
 *
 *   PLAT_OK      the step is done
 *   ERR_RETRY    transient (offline, 5xx, 429, timeout, cancelled): the
 *                engine keeps what was committed and tries again later
 *   ERR_AUTH     credentials refused: the engine stops this source
 *   other        fatal for this source in this cycle (ERR_INVALID: the
 *                server answered something malformed)
 *
 * Each connector lives in sync/connectors/<name>/ with its own
 * CMakeLists.txt and README.md, and is listed once in
 * sync/connectors/CMakeLists.txt; sync_connectors_registry() lists the
 * compiled-in ones in that order (the order the engine runs them in).
 *
 * Memory: descriptors are static and never freed. A connector's state is
 * made by cb_init and freed by cb_exit.
 */
#ifndef SYNC_CONNECTOR_H
#define SYNC_CONNECTOR_H

#include <stddef.h>

struct sync_ctx;
struct cJSON;

/* ---- config ------------------------------------------------------------ */

enum sync_conf_type {
    SYNC_CONF_STRING = 0,
    SYNC_CONF_INT = 1,       /* decimal integer                          */
    SYNC_CONF_BOOL = 2,      /* true/false, yes/no, on/off, 1/0          */
    SYNC_CONF_URL = 3,       /* http:// or https:// base URL             */
    SYNC_CONF_PATH = 4,      /* a file; secrets must be mode 0600/0400   */
    SYNC_CONF_SECRET = 5     /* never printed by `config show` or logs   */
};

/* One key of a connector's config section "[<name>]", e.g. [121] url. */
struct sync_conf_key {
    const char *key;
    int type;                /* enum sync_conf_type                      */
    const char *dflt;        /* default as text; NULL = unset            */
    const char *help;        /* one line, for `config show` and init     */
};

/* The values of one section as the config file gave them, defaults
 * filled in. Owned by whoever loaded the config (agent/config.c); the
 * engine and the connector borrow it for the cycle. values[i] belongs to
 * connector->config[i] and is NULL when unset without a default. */
struct sync_source_conf {
    const struct sync_connector *connector;
    int enabled;             /* the section's "enabled" key              */
    const char *const *values;
};

/* The value of `key` in `sc` (NULL when unset or not a key of the
 * connector). */
const char *sync_source_conf_get(const struct sync_source_conf *sc,
                                 const char *key);

/* ---- the descriptor ---------------------------------------------------- */

struct sync_connector {
    const char *name;           /* source name and config section       */
    const char *description;    /* one line, for `agent status`         */
    const struct sync_conf_key *config; /* ends with a {NULL} row      */

    /* Pull streams in the order the engine pulls them (NULL-terminated),
     * e.g. {"program", "registrations", "events", "payments", NULL}. A
     * stream's cursors are checkpoints keyed (connector, cursor name). */
    const char *const *streams;

    /* Outbox kinds this connector sends, in push order (NULL-terminated;
     * text as in sync_op_kind_name()). */
    const char *const *push_kinds;

    /* Pull streams the engine pulls after the push (NULL-terminated; may
     * be NULL), e.g. 121's {"payments", NULL}: data the push does not
     * depend on, so that a failing one never holds back local work. A
     * failure there ends the source with that error (in the summary and
     * the result), but the push has happened. Skipped when an earlier
     * phase failed, and with SYNC_PUSH_ONLY. */
    const char *const *late_streams;

    /* Make the connector's state for one cycle from its config
     * (sync_ctx_conf). Also installs its HTTP authentication hook on
     * sync_ctx_http() when it talks HTTP. ERR_CONFIG names the key. */
    int (*cb_init)(struct sync_ctx *ctx, void **state_out);

    /* Authenticate (may be NULL: the first request does it). */
    int (*cb_auth)(void *state, struct sync_ctx *ctx);

    /* Pull one stream: hand records to the engine in batches
     * (sync_batch_*), each committed with its cursor. */
    int (*cb_pull)(void *state, struct sync_ctx *ctx, const char *stream);

    /* After the pull: report in-flight operations whose effect the pulled
     * data now shows (sync_op_settle). May be NULL. */
    int (*cb_confirm)(void *state, struct sync_ctx *ctx);

    /* Send the pending operations of one kind (sync_ops_load), reporting
     * a result per operation (sync_op_settle, sync_check_fields). */
    int (*cb_push)(void *state, struct sync_ctx *ctx, const char *kind);

    /* Free the state (may be NULL). Called after every cb_init that
     * succeeded, whatever happened in between. */
    void (*cb_exit)(void *state);

    /* ---- pure helpers: no network, no store; tests call them ---------- */

    /* 1 when `a` and `b` are the same value of `field` as this system
     * compares them (121: as text, phone numbers by their digits).
     * `program` is the stored program definition (may be NULL). NULL =
     * the engine's default (JSON equality, null equals ""). */
    int (*same_value)(const struct cJSON *program, const char *field,
                      const struct cJSON *a, const struct cJSON *b);

    /* The URL whose answer (any HTTP status) proves the source's host is
     * reachable, without logging in; written into out (n bytes). ERR_CONFIG
     * when the section has no usable URL. NULL: not a network source
     * (always "reachable"). */
    int (*probe_url)(const struct sync_source_conf *sc, char *out, size_t n);
};

/* The compiled-in connectors, in run order, NULL-terminated. */
const struct sync_connector *const *sync_connectors_registry(void);

/* The connector called `name`, or NULL. */
const struct sync_connector *sync_connector_find(const char *name);

#endif
