/*
 * config_sources.c - the connectors' sections of the config file (see
 * config_sources.h): values as text, type checks per enum sync_conf_type,
 * the derived "enabled", checks, `config show` and the writer.
 */
#include "config_sources.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "sync_connector.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct sync_conf_key *keys_of(const struct agent_config *cfg,
                                           size_t src)
{
    return cfg->sources[src].connector->config;
}

static size_t nkeys(const struct sync_conf_key *k)
{
    size_t n = 0;

    while (k[n].key)
        n++;
    return n;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* 1/0 for a boolean word, -1 otherwise. */
static int bool_parse(const char *v)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };

    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0)
            return 1;
        if (strcmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

int agent_sources_init(struct agent_config *cfg)
{
    const struct sync_connector *const *reg = sync_connectors_registry();
    size_t n = 0;
    char why[160];

    while (reg[n])
        n++;
    cfg->sources = plat_calloc(n ? n : 1, sizeof(*cfg->sources));
    cfg->src_values = plat_calloc(n ? n : 1, sizeof(*cfg->src_values));
    if (!cfg->sources || !cfg->src_values)
        return ERR_NOMEM;
    cfg->n_sources = n;
    for (size_t i = 0; i < n; i++) {
        const struct sync_conf_key *k = reg[i]->config;
        size_t nk = nkeys(k);

        if (nk > AGENT_SOURCE_KEYS_MAX)
            return plat_err_set(ERR_GENERIC, "connector %s declares more "
                                "than %d keys", reg[i]->name,
                                AGENT_SOURCE_KEYS_MAX);
        cfg->sources[i].connector = reg[i];
        cfg->src_values[i] = plat_calloc(nk + 1, sizeof(char *));
        if (!cfg->src_values[i])
            return ERR_NOMEM;
        cfg->sources[i].values = (const char *const *)cfg->src_values[i];
        for (size_t j = 0; j < nk; j++) {
            if (k[j].dflt && k[j].type != SYNC_CONF_SECRET &&
                agent_sources_set(cfg, i, (int)j, k[j].dflt, why,
                                  sizeof(why)) < 0)
                return plat_err_set(ERR_GENERIC, "default of %s.%s: %s",
                                    reg[i]->name, k[j].key, why);
        }
    }
    agent_sources_finish(cfg);
    return PLAT_OK;
}

void agent_sources_dispose(struct agent_config *cfg)
{
    for (size_t i = 0; cfg->src_values && i < cfg->n_sources; i++) {
        if (!cfg->src_values[i])
            continue;
        for (size_t j = 0; j < nkeys(keys_of(cfg, i)); j++)
            plat_free(cfg->src_values[i][j]);
        plat_free(cfg->src_values[i]);
    }
    plat_free(cfg->src_values);
    plat_free(cfg->sources);
    cfg->src_values = NULL;
    cfg->sources = NULL;
    cfg->n_sources = 0;
}

int agent_sources_find(const struct agent_config *cfg, const char *b,
                       size_t n)
{
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const char *name = cfg->sources[i].connector->name;

        if (strlen(name) == n && strncmp(name, b, n) == 0)
            return (int)i;
    }
    return -1;
}

int agent_sources_key(const struct agent_config *cfg, size_t src,
                      const char *key)
{
    const struct sync_conf_key *k = keys_of(cfg, src);

    for (size_t j = 0; k[j].key; j++) {
        if (strcmp(k[j].key, key) == 0)
            return (int)j;
    }
    return -1;
}

void agent_sources_key_list(const struct agent_config *cfg, size_t src,
                            char *out, size_t n)
{
    const struct sync_conf_key *k = keys_of(cfg, src);
    size_t used = 0;

    out[0] = '\0';
    for (size_t j = 0; k[j].key && used < n; j++) {
        if (k[j].type == SYNC_CONF_SECRET)
            continue;
        used += (size_t)snprintf(out + used, n - used, "%s%s",
                                 used ? ", " : "", k[j].key);
    }
}

int agent_sources_set(struct agent_config *cfg, size_t src, int k,
                      const char *value, char *why, size_t whylen)
{
    const struct sync_conf_key *key = &keys_of(cfg, src)[k];
    const char *text = value;
    char *copy, *end;
    long n;
    int b;

    switch (key->type) {
    case SYNC_CONF_INT:
        errno = 0;
        n = strtol(value, &end, 10);
        if (!*value || *end || errno || n < INT_MIN || n > INT_MAX ||
            value[0] == '+') {
            snprintf(why, whylen, "'%.40s' is not a whole number", value);
            return -1;
        }
        break;
    case SYNC_CONF_BOOL:
        b = bool_parse(value);
        if (b < 0) {
            snprintf(why, whylen, "'%.20s' is not true or false", value);
            return -1;
        }
        text = b ? "true" : "false";
        break;
    case SYNC_CONF_URL:
        /* The value is not quoted: a URL may hold credentials. */
        if (!starts_with(value, "http://") && !starts_with(value, "https://")) {
            snprintf(why, whylen, "must start with http:// or https://");
            return -1;
        }
        if (strpbrk(value, " \t")) {
            snprintf(why, whylen, "contains a space");
            return -1;
        }
        break;
    case SYNC_CONF_PATH:
        if (!*value) {
            snprintf(why, whylen, "must not be empty");
            return -1;
        }
        break;
    case SYNC_CONF_SECRET:
        snprintf(why, whylen, "secrets are never read from the config file "
                 "(use %s_file or $AGENT_%s_%s)", key->key,
                 cfg->sources[src].connector->name, key->key);
        return -1;
    default:
        break;
    }
    copy = plat_strdup(text);
    if (!copy) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    plat_free(cfg->src_values[src][k]);
    cfg->src_values[src][k] = copy;
    return 0;
}

/* 1 when the section has a URL key set. */
static int has_url(const struct agent_config *cfg, size_t src)
{
    const struct sync_conf_key *k = keys_of(cfg, src);

    for (size_t j = 0; k[j].key; j++) {
        if (k[j].type == SYNC_CONF_URL && cfg->src_values[src][j] &&
            *cfg->src_values[src][j])
            return 1;
    }
    return 0;
}

void agent_sources_finish(struct agent_config *cfg)
{
    const char *pid;

    for (size_t i = 0; i < cfg->n_sources; i++) {
        int e = agent_sources_key(cfg, i, "enabled");
        const char *v = e >= 0 ? cfg->src_values[i][e] : NULL;

        cfg->sources[i].enabled = v ? bool_parse(v) == 1 : has_url(cfg, i);
    }
    pid = agent_config_get(cfg, "121", "program_id");
    cfg->program_id = pid ? atoi(pid) : 0;
    if (cfg->program_id < 0)
        cfg->program_id = 0;
}

/* The secret file `path` (key `key` of source `src`) exists and is not
 * readable by others. */
static int check_secret_file(const char *f, const char *src, const char *key,
                             const char *path)
{
    unsigned mode = 0;
    int rc;

    rc = plat_fs_mode(path, &mode);
    if (rc == ERR_NOTFOUND || !plat_fs_exists(path))
        return plat_err_set(ERR_CONFIG, "%s: [%s] %s %s does not exist", f,
                            src, key, path);
    if (rc < 0)
        return rc;
    if (mode & 077)
        return plat_err_set(ERR_CONFIG, "%s: password file %s can be read "
                            "by other users (mode %04o); run chmod 600 %s",
                            f, path, mode, path);
    return PLAT_OK;
}

int agent_sources_validate(const struct agent_config *cfg, const char *f)
{
    int any = 0, rc;

    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sync_source_conf *sc = &cfg->sources[i];
        const struct sync_conf_key *k = keys_of(cfg, i);
        const char *name = sc->connector->name;

        if (!sc->enabled)
            continue;
        any = 1;
        for (size_t j = 0; k[j].key; j++) {
            char fkey[64];
            const char *path;

            if (k[j].type == SYNC_CONF_URL && !sc->values[j])
                return plat_err_set(ERR_CONFIG, "%s: [%s] %s is not set", f,
                                    name, k[j].key);
            if (k[j].type != SYNC_CONF_SECRET)
                continue;
            snprintf(fkey, sizeof(fkey), "%s_file", k[j].key);
            path = sync_source_conf_get(sc, fkey);
            if (path && *path &&
                (rc = check_secret_file(f, name, fkey, path)) < 0)
                return rc;
        }
        /* 121 cannot sync without these (its connector says the same). */
        if (strcmp(name, "121") == 0) {
            if (cfg->program_id <= 0)
                return plat_err_set(ERR_CONFIG, "%s: [121] program_id is not "
                                    "set", f);
            if (!sync_source_conf_get(sc, "user") ||
                !*sync_source_conf_get(sc, "user"))
                return plat_err_set(ERR_CONFIG, "%s: [121] user is not set",
                                    f);
        }
    }
    if (!any)
        return plat_err_set(ERR_CONFIG, "%s: no source is enabled (set url "
                            "in [121], or enabled = true in a source's "
                            "section)", f);
    return PLAT_OK;
}

/* The host part of an http(s) URL, without credentials: [b, e). */
static void url_host(const char *url, const char **b, const char **e)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *end = host + strcspn(host, "/?#");

    for (const char *p = host; p < end; p++) {
        if (*p == '@')
            host = p + 1;
    }
    *b = host;
    *e = end;
}

int agent_url_has_credentials(const char *url)
{
    const char *b, *e;

    url_host(url, &b, &e);
    return b > url && b[-1] == '@';
}

static int host_is(const char *b, const char *e, const char *name)
{
    size_t n = strlen(name);

    return (size_t)(e - b) >= n && strncasecmp(b, name, n) == 0 &&
           (b + n == e || b[n] == ':');
}

static int is_loopback(const char *url)
{
    const char *b, *e;

    url_host(url, &b, &e);
    return host_is(b, e, "127.0.0.1") || host_is(b, e, "localhost") ||
           host_is(b, e, "[::1]");
}

void agent_sources_warnings(const struct agent_config *cfg, const char *f,
                            agent_config_error_cb cb, void *payload)
{
    char msg[512];

    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sync_source_conf *sc = &cfg->sources[i];
        const struct sync_conf_key *k = keys_of(cfg, i);
        const char *name = sc->connector->name;

        for (size_t j = 0; k[j].key; j++) {
            const char *v = sc->values[j];

            if (k[j].type != SYNC_CONF_URL || !v || !*v)
                continue;
            if (agent_url_has_credentials(v)) {
                snprintf(msg, sizeof(msg), "%s: warning: [%s] %s holds "
                         "credentials: remove them from the URL; passwords "
                         "belong in %s_file or $AGENT_%s_PASSWORD", f, name,
                         k[j].key, "password", name);
                cb(msg, payload);
            }
            if (sc->enabled && starts_with(v, "http://") && !is_loopback(v)) {
                snprintf(msg, sizeof(msg), "%s: warning: [%s] %s uses "
                         "http://: credentials and personal data travel in "
                         "clear; use https://", f, name, k[j].key);
                cb(msg, payload);
            }
        }
    }
}

void agent_mask_url(const char *url, char *out, size_t n)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = NULL;

    for (const char *p = host; p < end; p++) {
        if (*p == '@')
            at = p;
    }
    if (!at) {
        snprintf(out, n, "%s", url);
        return;
    }
    snprintf(out, n, "%.*s***%s", (int)(host - url), url, at);
}

int agent_sources_foreach(const struct agent_config *cfg,
                          agent_config_key_cb cb, void *payload)
{
    char name[96], masked[1024];
    int rc;

    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sync_source_conf *sc = &cfg->sources[i];
        const struct sync_conf_key *k = keys_of(cfg, i);

        for (size_t j = 0; k[j].key; j++) {
            const char *v = sc->values[j] ? sc->values[j] : "";

            if (k[j].type == SYNC_CONF_SECRET)
                continue;
            snprintf(name, sizeof(name), "%s.%s", sc->connector->name,
                     k[j].key);
            if (strcmp(k[j].key, "enabled") == 0) {
                v = sc->enabled ? "true" : "false";
            } else if (k[j].type == SYNC_CONF_URL) {
                agent_mask_url(v, masked, sizeof(masked));
                v = masked;
            }
            rc = cb(name, v, k[j].type == SYNC_CONF_INT, payload);
            if (rc)
                return rc;
        }
    }
    return PLAT_OK;
}

int agent_sources_format(const struct agent_config *cfg, struct plat_buf *out)
{
    int rc = PLAT_OK;

    for (size_t i = 0; rc == PLAT_OK && i < cfg->n_sources; i++) {
        const struct sync_source_conf *sc = &cfg->sources[i];
        const struct sync_conf_key *k = keys_of(cfg, i);

        rc = plat_buf_printf(out, "\n# %s\n[%s]\n",
                             sc->connector->description
                             ? sc->connector->description : "",
                             sc->connector->name);
        for (size_t j = 0; rc == PLAT_OK && k[j].key; j++) {
            const char *v = sc->values[j];

            if (k[j].type == SYNC_CONF_SECRET)
                continue;
            if (strcmp(k[j].key, "enabled") == 0)
                v = sc->enabled ? "true" : "false";
            if (v && (strchr(v, '\n') || strchr(v, '\r')))
                return plat_err_set(ERR_INVALID, "the value of %s.%s cannot "
                                    "be written to a config file (line "
                                    "break)", sc->connector->name, k[j].key);
            if (v && *v)
                rc = plat_buf_printf(out, "# %s\n%s = %s\n",
                                     k[j].help ? k[j].help : "", k[j].key, v);
            else if (v && k[j].dflt && *k[j].dflt)
                /* Set empty over a default: commented out, it would read
                 * back as the default. */
                rc = plat_buf_printf(out, "# %s\n%s =\n",
                                     k[j].help ? k[j].help : "", k[j].key);
            else
                rc = plat_buf_printf(out, "# %s\n# %s =\n",
                                     k[j].help ? k[j].help : "", k[j].key);
        }
    }
    return rc;
}
