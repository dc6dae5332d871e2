/*
 * daemon_probe.c - are the sources' hosts there? (see daemon_job.h)
 *
 * The probe asks each enabled source's own host, never a third-party one:
 * an HTTP GET of the URL its connector's probe_url helper gives (121:
 * <url>/api/users/current) without a session. A healthy 121 answers 401;
 * any HTTP answer proves that DNS, the route, the proxy and TLS (with the
 * configured CA and pin) all work, which a bare TCP connect would not (a
 * captive portal accepts every TCP connection, and a proxied network
 * refuses direct ones). 429 and 502/503/504 count as down: a proxy is
 * there but not the service. It is cheap: one small request per host, no
 * login, no store access, about 1 kB on the wire each.
 */
#include "daemon_job.h"
#include "config.h"

#include "plat_err.h"
#include "plat_log.h"
#include "sync_connector.h"
#include "sync_http.h"

#include <stdio.h>
#include <string.h>

#define PROBE_CONNECT_MS 10000L
#define PROBE_STALL_S 10L
#define PROBE_MAX_BODY (64 * 1024)
#define PROBE_URL_MAX 2048

/* 1 if `url` answers an HTTP GET. */
static int probe_one(const struct agent_config *cfg, const char *source,
                     const char *url, volatile int *cancel)
{
    struct sync_http_options ho = SYNC_HTTP_OPTIONS_INIT;
    struct sync_http_response resp;
    struct sync_http *h = NULL;
    const char *host = strstr(url, "://");
    const char *path;
    char base[PROBE_URL_MAX];
    int rc, up;

    /* The HTTP client takes a base URL and a path starting with '/'. */
    host = host ? host + 3 : url;
    path = strchr(host, '/');
    snprintf(base, sizeof(base), "%.*s",
             (int)(path ? (size_t)(path - url) : strlen(url)), url);
    memset(&resp, 0, sizeof(resp));
    ho.base_url = base;
    ho.ca_file = *cfg->ca_file ? cfg->ca_file : NULL;
    ho.pinned_pubkey = *cfg->pinned_pubkey ? cfg->pinned_pubkey : NULL;
    ho.proxy = *cfg->proxy ? cfg->proxy : NULL;
    ho.connect_timeout_ms = cfg->sync_connect_timeout_ms < PROBE_CONNECT_MS
                            ? cfg->sync_connect_timeout_ms : PROBE_CONNECT_MS;
    ho.low_speed_limit = 1;
    ho.low_speed_time_s = PROBE_STALL_S;
    ho.max_response = PROBE_MAX_BODY;
    ho.max_attempts = 1;          /* the schedule is the retry loop */
    ho.cancel = cancel;           /* no user: never logs in */
    rc = sync_http_create(&h, &ho);
    if (rc == PLAT_OK)
        rc = sync_http_request(h, "GET", path ? path : "/", NULL, NULL, 0,
                               NULL, &resp);
    /* An answer too big to keep is still an answer. */
    up = rc == PLAT_OK || rc == ERR_TOOLARGE;
    if (up)
        log_debug("probe: %s answered HTTP %ld", source, resp.status);
    else
        log_debug("probe: %s not reachable: %s", source, plat_err_msg());
    plat_err_clear();
    sync_http_response_dispose(&resp);
    sync_http_destroy(h);
    return up;
}

int agent_daemon_probe(const struct agent_config *cfg, volatile int *cancel,
                       char up[][AGENT_SOURCE_NAME_MAX], size_t *n_up)
{
    char url[PROBE_URL_MAX];
    int hosts = 0;

    *n_up = 0;
    for (size_t i = 0; i < cfg->n_sources && *n_up < SYNC_MAX_SOURCES; i++) {
        const struct sync_source_conf *sc = &cfg->sources[i];
        const char *name = sc->connector->name;

        if (!sc->enabled || !sc->connector->probe_url)
            continue;
        hosts++;
        if (sc->connector->probe_url(sc, url, sizeof(url)) < 0) {
            log_debug("probe: %s: %s", name, plat_err_msg());
            plat_err_clear();
            continue;
        }
        if (probe_one(cfg, name, url, cancel))
            snprintf(up[(*n_up)++], AGENT_SOURCE_NAME_MAX, "%s", name);
        if (cancel && *cancel)
            break;
    }
    return *n_up > 0 || hosts == 0;
}
