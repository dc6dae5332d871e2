/*
 * sync_options.c - config + request -> struct sync_engine_options (see
 * sync_options.h). Used by `agent sync` (cmd_sync.c) and the daemon's sync
 * job (daemon_job.c) alike.
 */
#include "sync_options.h"
#include "config.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_secure.h"
#include "sync_connector.h"

#include <stdio.h>
#include <string.h>

void agent_sync_source_names(char *out, size_t n)
{
    const struct sync_connector *const *reg = sync_connectors_registry();
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; reg[i] && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s",
                                 i ? ", " : "", reg[i]->name);
}

static int is_selected(const char *const *only, size_t n_only,
                       const char *name)
{
    if (!n_only)
        return 1;
    for (size_t i = 0; i < n_only; i++) {
        if (strcmp(only[i], name) == 0)
            return 1;
    }
    return 0;
}

int agent_sync_check_sources(const struct agent_config *cfg,
                             const char *const *only, size_t n_only)
{
    const struct sync_source_conf *sc;
    char names[256];
    int any = 0;

    for (size_t i = 0; i < n_only; i++) {
        if (!sync_connector_find(only[i])) {
            agent_sync_source_names(names, sizeof(names));
            return plat_err_set(ERR_USAGE, "sync: no source called '%.40s' "
                                "(sources: %s)", only[i], names);
        }
        sc = agent_config_source(cfg, only[i]);
        if (!sc || !sc->enabled)
            return plat_err_set(ERR_CONFIG, "sync: source %s is disabled: "
                                "set enabled = true in section [%s] of %s",
                                only[i], only[i],
                                cfg->file ? cfg->file : "the config");
    }
    for (size_t i = 0; i < cfg->n_sources; i++)
        any |= cfg->sources[i].enabled;
    if (!any)
        return plat_err_set(ERR_CONFIG, "sync: no source is enabled in %s",
                            cfg->file ? cfg->file : "the config");
    return PLAT_OK;
}

static size_t nkeys(const struct sync_connector *c)
{
    size_t n = 0;

    while (c->config[n].key)
        n++;
    return n;
}

/* Fill the SECRET keys of source `sc` (values `vals`). */
static int fill_secrets(const struct agent_config *cfg,
                        const struct sync_source_conf *sc, const char **vals,
                        struct agent_sync_mem *mem)
{
    const struct sync_conf_key *k = sc->connector->config;
    int rc;

    for (size_t j = 0; k[j].key; j++) {
        char *secret = NULL;

        if (k[j].type != SYNC_CONF_SECRET)
            continue;
        rc = agent_config_secret(cfg, sc, k[j].key, &secret);
        if (rc < 0)
            return rc;
        mem->secrets[mem->n_secrets++] = secret;
        vals[j] = secret;
    }
    return PLAT_OK;
}

int agent_sync_options(const struct agent_config *cfg,
                       const struct agent_sync_request *req,
                       struct sync_engine_options *opt,
                       struct agent_sync_mem *mem)
{
    size_t total = 0, at = 0;
    int rc;

    memset(opt, 0, sizeof(*opt));
    memset(mem, 0, sizeof(*mem));
    rc = agent_sync_check_sources(cfg, req->only, req->n_only);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cfg->n_sources; i++)
        total += nkeys(cfg->sources[i].connector) + 1;
    mem->sources = plat_calloc(cfg->n_sources ? cfg->n_sources : 1,
                               sizeof(*mem->sources));
    mem->values = plat_calloc(total ? total : 1, sizeof(*mem->values));
    mem->secrets = plat_calloc(total ? total : 1, sizeof(*mem->secrets));
    if (!mem->sources || !mem->values || !mem->secrets) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sync_source_conf *sc = &cfg->sources[i];
        size_t nk = nkeys(sc->connector);
        const char **vals = mem->values + at;

        memcpy(vals, sc->values, nk * sizeof(*vals));
        at += nk + 1;
        mem->sources[i] = *sc;
        mem->sources[i].values = vals;
        if (sc->enabled &&
            is_selected(req->only, req->n_only, sc->connector->name) &&
            (rc = fill_secrets(cfg, &mem->sources[i], vals, mem)) < 0)
            goto fail;
    }
    agent_config_sync_options(cfg, opt);
    opt->sources = mem->sources;
    opt->n_sources = cfg->n_sources;
    opt->only = req->n_only ? req->only : NULL;
    opt->n_only = req->n_only;
    opt->direction = req->direction;
    opt->full = req->full;
    opt->vouchers = req->vouchers;
    return PLAT_OK;
fail:
    agent_sync_options_dispose(mem);
    memset(opt, 0, sizeof(*opt));
    return rc;
}

static void wipe(char *p)
{
    plat_wipe_str(p); /* not removable as a dead store */
}

void agent_sync_options_dispose(struct agent_sync_mem *mem)
{
    for (size_t i = 0; i < mem->n_secrets; i++) {
        if (mem->secrets[i]) {
            wipe(mem->secrets[i]);
            plat_free(mem->secrets[i]);
        }
    }
    plat_free(mem->secrets);
    plat_free(mem->values);
    plat_free(mem->sources);
    memset(mem, 0, sizeof(*mem));
}
