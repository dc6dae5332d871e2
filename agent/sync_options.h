/*
 * sync_options.h - the one place that turns the config and a sync request
 * (`agent sync --now [--source NAME]...` or a daemon job) into the
 * engine's options (sync_engine.h).
 *
 * The sources are a copy of the config's sections (cfg->sources) whose
 * values are borrowed from the config, except the SECRET keys, which are
 * filled here for every selected enabled source (agent_config_secret:
 * e.g. [121] "password" from $AGENT_121_PASSWORD or password_file) and
 * owned by `mem`. agent_sync_options_dispose wipes the secrets and frees
 * `mem`; call it after the sync, whatever happened.
 *
 * Errors: ERR_USAGE --source names no compiled-in source (the message
 * lists them); ERR_CONFIG a named source is disabled (the message names
 * its section) or no source is enabled; ERR_AUTH a secret is not set;
 * ERR_NOMEM. On error nothing is left to dispose.
 */
#ifndef AGENT_SYNC_OPTIONS_H
#define AGENT_SYNC_OPTIONS_H

#include <stddef.h>

#include "sync_engine.h"

struct agent_config;
struct sync_source_conf;

/* What a sync is asked to do. */
struct agent_sync_request {
    int direction;               /* enum sync_direction                  */
    int full;
    int vouchers;
    const char *const *only;     /* --source names; NULL/0: all enabled  */
    size_t n_only;
};

/* What agent_sync_options allocates for the options. */
struct agent_sync_mem {
    struct sync_source_conf *sources;
    const char **values;         /* every source's values, one block     */
    char **secrets;              /* the filled-in secrets, to wipe       */
    size_t n_secrets;
};

/* Fill `opt` (transport, batching, policies from `cfg`; sources, `only`,
 * direction, full, vouchers from `req`). progress and cancel are left
 * for the caller. `cfg` and `req->only` must outlive `opt`. */
int agent_sync_options(const struct agent_config *cfg,
                       const struct agent_sync_request *req,
                       struct sync_engine_options *opt,
                       struct agent_sync_mem *mem);

/* Wipe the secrets and free `mem` (safe on a zeroed or disposed one). */
void agent_sync_options_dispose(struct agent_sync_mem *mem);

/* Check --source names only (no secrets read): PLAT_OK, or the
 * ERR_USAGE / ERR_CONFIG of agent_sync_options. */
int agent_sync_check_sources(const struct agent_config *cfg,
                             const char *const *only, size_t n_only);

/* "121, file" (the compiled-in sources) into out. */
void agent_sync_source_names(char *out, size_t n);

#endif
