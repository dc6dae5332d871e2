/*
 * TEMPORARY (branch `cli` only; drop the whole agent/tmp_v2/ folder when
 * the connector registry and the new engine are merged).
 *
 * Stands in for sync/: sync_connectors_registry(), sync_connector_find(),
 * sync_source_conf_get(), a "121" descriptor with the config keys the real
 * one will have (plus the SECRET key "password" the agent fills in), a
 * "file" descriptor (enabled, dir, program_id), and the new
 * sync_engine_run() (renamed by tmp_v2/sync_engine.h) implemented on top
 * of the old 121 engine so that the CLI tests run real syncs.
 */
#include "sync_engine.h"
#include "sync_connector.h"
#include "shim.h"

#include "plat_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int probe_121(const struct sync_source_conf *sc, char *out, size_t n)
{
    const char *url = sync_source_conf_get(sc, "url");
    size_t len;

    if (!url || !*url)
        return plat_err_set(ERR_CONFIG, "[121] url is not set");
    len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    if ((size_t)snprintf(out, n, "%.*s/api/users/current", (int)len, url)
        >= n)
        return plat_err_set(ERR_CONFIG, "[121] url is too long");
    return PLAT_OK;
}

static const struct sync_conf_key keys_121[] = {
    { "enabled", SYNC_CONF_BOOL, NULL,
      "Sync with 121 (default: true when url is set)." },
    { "url", SYNC_CONF_URL, NULL, "Base URL of the 121 service, without /api." },
    { "program_id", SYNC_CONF_INT, NULL,
      "121 program id used when a command is given no --program." },
    { "user", SYNC_CONF_STRING, NULL, "121 user name to log in with." },
    { "password_file", SYNC_CONF_PATH, NULL,
      "File holding the 121 password (mode 0600); $AGENT_121_PASSWORD wins." },
    { "password", SYNC_CONF_SECRET, NULL,
      "Filled in by the agent from $AGENT_121_PASSWORD or password_file." },
    { NULL, 0, NULL, NULL }
};

static const char *const streams_121[] = { "program", "registrations",
                                           "events", "payments", NULL };
static const char *const kinds_121[] = { "create", "edit", "status", NULL };

static const struct sync_connector c121 = {
    .name = "121",
    .description = "121 platform (registrations, payments)",
    .config = keys_121,
    .streams = streams_121,
    .push_kinds = kinds_121,
    .probe_url = probe_121,
};

static const struct sync_conf_key keys_file[] = {
    { "enabled", SYNC_CONF_BOOL, "false", "Read records from a folder." },
    { "dir", SYNC_CONF_PATH, NULL, "The folder." },
    { "program_id", SYNC_CONF_INT, NULL, "Program the records belong to." },
    { NULL, 0, NULL, NULL }
};

static const char *const streams_file[] = { "registrations", NULL };
static const char *const kinds_file[] = { NULL };

static const struct sync_connector cfile = {
    .name = "file",
    .description = "a folder of files",
    .config = keys_file,
    .streams = streams_file,
    .push_kinds = kinds_file,
};

static const struct sync_connector *const registry[] = { &c121, &cfile,
                                                         NULL };

const struct sync_connector *const *sync_connectors_registry(void)
{
    return registry;
}

const struct sync_connector *sync_connector_find(const char *name)
{
    for (size_t i = 0; registry[i]; i++) {
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    }
    return NULL;
}

const char *sync_source_conf_get(const struct sync_source_conf *sc,
                                 const char *key)
{
    if (!sc || !sc->connector || !sc->values)
        return NULL;
    for (size_t i = 0; sc->connector->config[i].key; i++) {
        if (strcmp(sc->connector->config[i].key, key) == 0)
            return sc->values[i];
    }
    return NULL;
}

static int selected(const struct sync_engine_options *opt, const char *name)
{
    if (!opt->n_only)
        return 1;
    for (size_t i = 0; i < opt->n_only; i++) {
        if (strcmp(opt->only[i], name) == 0)
            return 1;
    }
    return 0;
}

static int run_121(struct store *s, const struct sync_engine_options *opt,
                   const struct sync_source_conf *sc, struct sync_summary *o)
{
    struct tmp_v2_run r;
    const char *pid = sync_source_conf_get(sc, "program_id");
    int rc;

    memset(&r, 0, sizeof(r));
    r.url = sync_source_conf_get(sc, "url");
    r.user = sync_source_conf_get(sc, "user");
    r.password = sync_source_conf_get(sc, "password");
    r.program_id = pid ? atoi(pid) : 0;
    r.ca_file = opt->ca_file;
    r.pinned_pubkey = opt->pinned_pubkey;
    r.proxy = opt->proxy;
    r.connect_timeout_ms = opt->connect_timeout_ms;
    r.max_attempts = opt->max_attempts;
    r.backoff_base_ms = opt->backoff_base_ms;
    r.backoff_cap_ms = opt->backoff_cap_ms;
    r.direction = opt->direction;
    r.full = opt->full;
    r.vouchers = opt->vouchers;
    r.window = opt->window;
    r.batch = opt->batch;
    r.create_batch = opt->create_batch;
    r.patch_max = opt->patch_max;
    r.policy = opt->policy;
    r.policy_payload = opt->policy_payload;
    r.progress = opt->progress;
    r.progress_payload = opt->progress_payload;
    r.cancel = opt->cancel;
    rc = tmp_v2_old_run(s, &r);
    o->pulled = r.pulled;
    o->events = r.events;
    o->pushed = r.pushed;
    o->sent = r.sent;
    o->conflicts = r.conflicts;
    o->rejected = r.rejected;
    o->requests = r.requests;
    o->bytes_wire = r.bytes_wire;
    o->bytes_body = r.bytes_body;
    o->elapsed_ms = r.elapsed_ms;
    snprintf(o->error, sizeof(o->error), "%s", r.error);
    return rc;
}

static int worse(int a, int b)
{
    if (a == ERR_AUTH || b == ERR_AUTH)
        return ERR_AUTH;
    if (a == ERR_RETRY || b == ERR_RETRY)
        return ERR_RETRY;
    return a < 0 ? a : b;
}

int sync_engine_run(struct store *s, const struct sync_engine_options *opt,
                    struct sync_report *out)
{
    int rc = PLAT_OK, ran = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < opt->n_only; i++) {
        if (!sync_connector_find(opt->only[i]))
            return plat_err_set(ERR_CONFIG, "no source called '%s'",
                                opt->only[i]);
    }
    for (size_t i = 0; i < opt->n_sources && out->n_per < SYNC_MAX_SOURCES;
         i++) {
        const struct sync_source_conf *sc = &opt->sources[i];
        struct sync_summary *o = &out->per[out->n_per];
        struct sync_summary *t = &out->total;
        int src;

        if (!selected(opt, sc->connector->name))
            continue;
        if (!sc->enabled) {
            if (opt->n_only)
                return plat_err_set(ERR_CONFIG, "source '%s' is disabled",
                                    sc->connector->name);
            continue;
        }
        ran = 1;
        out->n_per++;
        snprintf(o->source, sizeof(o->source), "%s", sc->connector->name);
        src = strcmp(sc->connector->name, "121") == 0
              ? run_121(s, opt, sc, o) : PLAT_OK;
        o->rc = src;
        if (src < 0 && !o->error[0])
            snprintf(o->error, sizeof(o->error), "%s", plat_err_msg());
        rc = worse(rc, src);
        t->pulled += o->pulled;
        t->events += o->events;
        t->pushed += o->pushed;
        t->sent += o->sent;
        t->conflicts += o->conflicts;
        t->rejected += o->rejected;
        t->requests += o->requests;
        t->bytes_wire += o->bytes_wire;
        t->bytes_body += o->bytes_body;
        t->elapsed_ms += o->elapsed_ms;
        if (src < 0 && !t->error[0])
            snprintf(t->error, sizeof(t->error), "%s", o->error);
    }
    if (!ran)
        return plat_err_set(ERR_CONFIG, "no source is enabled");
    out->total.rc = rc;
    if (rc < 0)
        plat_err_set(rc, "%s", out->total.error);
    return rc;
}
