/*
 * daemon_probe.c - is the 121 server there? (see daemon_job.h)
 *
 * The probe asks the 121 server itself, never a third-party host: an HTTP
 * GET of <server.url>/api/users/current without a session. A healthy 121
 * answers 401; any HTTP answer proves that DNS, the route, the proxy and
 * TLS (with the configured CA and pin) all work, which a bare TCP connect
 * would not (a captive portal accepts every TCP connection, and a proxied
 * network refuses direct ones). 429 and 502/503/504 count as down: a
 * proxy is there but not the service. It is cheap: one small request, no
 * login, no store access, about 1 kB on the wire.
 */
#include "daemon_job.h"
#include "config.h"

#include "plat_err.h"
#include "plat_log.h"
#include "sync_http.h"

#include <string.h>

#define PROBE_PATH "/api/users/current"
#define PROBE_CONNECT_MS 10000L
#define PROBE_STALL_S 10L
#define PROBE_MAX_BODY (64 * 1024)

int agent_daemon_probe(const struct agent_config *cfg, volatile int *cancel)
{
    struct sync_http_options ho = SYNC_HTTP_OPTIONS_INIT;
    struct sync_http_response resp;
    struct sync_http *h = NULL;
    int rc, up = 0;

    memset(&resp, 0, sizeof(resp));
    ho.base_url = cfg->server_url;
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
        rc = sync_http_request(h, "GET", PROBE_PATH, NULL, NULL, 0, NULL,
                               &resp);
    /* An answer too big to keep is still an answer. */
    up = rc == PLAT_OK || rc == ERR_TOOLARGE;
    if (up)
        log_debug("probe: 121 answered HTTP %ld", resp.status);
    else
        log_debug("probe: 121 not reachable: %s", plat_err_msg());
    plat_err_clear();
    sync_http_response_dispose(&resp);
    sync_http_destroy(h);
    return up;
}
