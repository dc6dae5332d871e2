/*
 * cmd_doctor.c - `agent doctor`: what field IT staff check first, one line
 * per check (ok / warning / error with the fix), exit 0 when every check
 * is ok and 1 otherwise; --json gives {"ok":..., "checks":[...]}.
 *
 * Checks, in order: config, secret file modes (every enabled source's
 * file keys, e.g. [121] password_file) and the store file's mode, store
 * integrity (quick check), free disk space, schema version, then per
 * enabled source with a URL: reachability (one GET of the connector's
 * probe URL without a session: any HTTP answer counts), TLS (the
 * certificate verified, the pin matched, or plain http to another host),
 * the clock against the answer's Date header (warning over 5 minutes),
 * then the daemon and stuck outbox entries. A check that cannot run (no
 * answer to read a Date from) says "skipped", which is not a problem.
 * It only reads: the store is opened read-only and nothing is written.
 */
#include "cli.h"
#include "cmd_util.h"
#include "daemon_client.h"
#include "health.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "store.h"
#include "store_outbox.h"
#include "sync_connector.h"
#include "sync_http.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#define CLOCK_WARN_S 300
#define DISK_ERROR_B (20LL * 1000 * 1000)
#define DISK_WARN_B (200LL * 1000 * 1000)
#define PROBE_TIMEOUT_MS 10000L

enum status { ST_OK, ST_SKIP, ST_WARN, ST_ERROR };
static const char *const status_names[] = { "ok", "skipped", "warning",
                                            "error" };

struct doctor {
    struct agent_ctx *ctx;
    cJSON *checks;          /* --json: the array                         */
    int problems;
    int nomem;
};

static void report(struct doctor *d, const char *check, enum status st,
                   const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* One check's line (text) or object (--json). */
static void report(struct doctor *d, const char *check, enum status st,
                   const char *fix, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (st >= ST_WARN)
        d->problems++;
    if (d->ctx->g.json) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "check", check) ||
            !cJSON_AddStringToObject(o, "status", status_names[st]) ||
            !cJSON_AddStringToObject(o, "message", msg) ||
            !(fix && st >= ST_WARN ? cJSON_AddStringToObject(o, "fix", fix)
                                   : cJSON_AddNullToObject(o, "fix")) ||
            !cJSON_AddItemToArray(d->checks, o)) {
            cJSON_Delete(o);
            d->nomem = 1;
        }
        return;
    }
    printf("%-8s %-16s %s", status_names[st], check, msg);
    if (fix && st >= ST_WARN)
        printf("\n%-8s %-16s fix: %s", "", "", fix);
    putchar('\n');
}

/* ---- secrets -------------------------------------------------------- */

/* A secret file: present, and readable by its owner only. */
static int check_secret_file(struct doctor *d, const char *what,
                             const char *path)
{
    struct stat st;
    char fix[600];

    if (stat(path, &st) != 0) {
        snprintf(fix, sizeof(fix), "create it (mode 0600) or change %s",
                 what);
        report(d, "secrets", ST_ERROR, fix, "%s %s: %s", what, path,
               strerror(errno));
        return 1;
    }
    if (st.st_mode & 077) {
        snprintf(fix, sizeof(fix), "chmod 600 %s", path);
        report(d, "secrets", ST_ERROR, fix, "%s %s can be read by group "
               "or others (mode %04o)", what, path,
               (unsigned)(st.st_mode & 07777));
        return 1;
    }
    return 0;
}

static int check_secrets(struct doctor *d)
{
    const struct agent_config *cfg = &d->ctx->cfg;
    int bad = 0, files = 0;
    struct stat st;

    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct sync_source_conf *sc = &cfg->sources[i];
        const struct sync_conf_key *k;

        if (!sc->enabled)
            continue;
        for (k = sc->connector->config; k && k->key; k++) {
            const char *v = sync_source_conf_get(sc, k->key);
            char what[96];

            if (k->type != SYNC_CONF_PATH || !v || !*v)
                continue;
            snprintf(what, sizeof(what), "[%s] %s", sc->connector->name,
                     k->key);
            files++;
            bad += check_secret_file(d, what, v);
        }
    }
    /* The store holds personal data: for the agent's user only. */
    if (cfg->store_path && stat(cfg->store_path, &st) == 0 &&
        (st.st_mode & 077)) {
        char fix[600];

        snprintf(fix, sizeof(fix), "chmod 600 %s", cfg->store_path);
        report(d, "secrets", ST_ERROR, fix, "store %s can be read by group "
               "or others (mode %04o)", cfg->store_path,
               (unsigned)(st.st_mode & 07777));
        bad++;
    }
    if (!bad)
        report(d, "secrets", ST_OK, NULL, "%d secret file%s and the store "
               "readable by their owner only", files, files == 1 ? "" : "s");
    return bad;
}

/* ---- the store -------------------------------------------------------- */

static void check_disk(struct doctor *d)
{
    const char *path = d->ctx->cfg.store_path;
    char dir[4096], mb[32];
    struct statvfs vs;
    char *slash;
    long long avail;

    snprintf(dir, sizeof(dir), "%s", path ? path : ".");
    slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (statvfs(dir, &vs) != 0) {
        report(d, "disk", ST_WARN, "check that the store's folder exists",
               "cannot read the free space of %s: %s", dir, strerror(errno));
        return;
    }
    avail = (long long)vs.f_bavail * (long long)vs.f_frsize;
    snprintf(mb, sizeof(mb), "%lld MB", avail / 1000000);
    if (avail < DISK_ERROR_B)
        report(d, "disk", ST_ERROR, "free space on that disk (a sync stops "
               "when the disk is full; nothing is lost)", "%s free in %s",
               mb, dir);
    else if (avail < DISK_WARN_B)
        report(d, "disk", ST_WARN, "free space on that disk", "only %s free "
               "in %s", mb, dir);
    else
        report(d, "disk", ST_OK, NULL, "%s free in %s", mb, dir);
}

/* Store integrity, schema version, daemon and outbox: they need the
 * store, opened read-only. */
static void check_store(struct doctor *d)
{
    const struct agent_config *cfg = &d->ctx->cfg;
    struct store_options opt = { STORE_READONLY, 0, 0, 0 };
    struct agent_health h;
    struct store *s = NULL;
    long pid = 0;
    int rc;

    if (!cfg->store_path || !*cfg->store_path) {
        report(d, "store", ST_ERROR, "set path in [store]", "no store path");
        return;
    }
    /* Through the key of an encrypted store, like every other command. */
    rc = agent_store_open(cfg, opt.flags, &s);
    if (rc == ERR_VERSION) {
        plat_err_clear();
        report(d, "store", ST_SKIP, NULL, "not checked: older schema");
        report(d, "schema", ST_WARN, "run any write command (e.g. `agent "
               "sync --now`) with this binary to migrate it",
               "store %s has an older schema than this binary (%d)",
               cfg->store_path, store_schema_version());
        return;
    }
    if (rc < 0) {
        report(d, "store", ST_ERROR, rc == ERR_NOTFOUND ? "run `agent init`"
               : rc == ERR_AUTH ? "give the store's key: store.key_file, "
                 "$AGENT_STORE_KEY_FILE or $AGENT_STORE_PASSPHRASE"
               : "restore a backup, or move the file away and run `agent "
                 "init` and `agent sync --now`", "%s", plat_err_msg());
        plat_err_clear();
        return;
    }
    rc = store_damaged(s) ? ERR_CORRUPT : store_check(s, 0);
    if (rc < 0)
        report(d, "store", ST_ERROR, "restore a backup, or move the file "
               "away (keep it) and run `agent init` and `agent sync --now`",
               "%s: quick check failed: %s", cfg->store_path,
               plat_err_msg());
    else
        report(d, "store", ST_OK, NULL, "%s: quick check passed",
               cfg->store_path);
    plat_err_clear();
    if (store_version(s) == store_schema_version())
        report(d, "schema", ST_OK, NULL, "version %d (this binary's)",
               store_version(s));
    else
        report(d, "schema", ST_ERROR, "upgrade the agent binary",
               "store version %d is newer than this binary's %d",
               store_version(s), store_schema_version());
    check_disk(d);

    if (agent_daemon_ping(cfg, &pid) == PLAT_OK)
        report(d, "daemon", ST_OK, NULL, "running (pid %ld)", pid);
    else
        report(d, "daemon", ST_OK, NULL, "not running (`agent sync --now` "
               "syncs by hand; `systemctl enable --now agent` keeps it "
               "running)");
    plat_err_clear();
    if (agent_health_read(s, cfg->daemon_stuck_after_s, plat_time_wall_ms(),
                          &h) < 0) {
        report(d, "outbox", ST_WARN, "run `agent status`", "cannot read "
               "the outbox health: %s", plat_err_msg());
        plat_err_clear();
    } else if (h.stuck) {
        report(d, "outbox", ST_WARN, "see `agent outbox` and `agent status`"
               "; the server takes no changes from this device",
               "stuck: %lld entries waiting, the oldest %lld s, while the "
               "server was reachable", (long long)(h.pending + h.inflight),
               (long long)h.oldest_pending_age_s);
    } else if (h.consecutive_failures >= 3) {
        report(d, "outbox", ST_WARN, "run `agent sync --now` and read its "
               "error", "%d syncs in a row failed; %lld entries waiting",
               h.consecutive_failures, (long long)(h.pending + h.inflight));
    } else {
        report(d, "outbox", ST_OK, NULL, "%lld entries waiting%s",
               (long long)(h.pending + h.inflight),
               h.pending + h.inflight ? " (not stuck)" : "");
    }
    store_close(s);
}

/* ---- sources ------------------------------------------------------------ */

/* "Sat, 05 Dec 2026 02:03:00 GMT" -> ms since the epoch. */
static int parse_http_date(const char *s, int64_t *ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    struct tm tm;
    const char *m;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%*3s, %d %3s %d %d:%d:%d", &tm.tm_mday, mon, &tm.tm_year,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return ERR_INVALID;
    mon[3] = '\0';
    m = strstr(months, mon);
    if (!m || (m - months) % 3)
        return ERR_INVALID;
    tm.tm_mon = (int)((m - months) / 3);
    tm.tm_year -= 1900;
    *ms = (int64_t)timegm(&tm) * 1000;
    return PLAT_OK;
}

static int loopback(const char *url)
{
    const char *h = strstr(url, "://");

    h = h ? h + 3 : url;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost", 9) == 0 ||
           strncmp(h, "[::1]", 5) == 0;
}

/* 1 if `needle` (lower case) is in `s`, ignoring case. */
static int has_word(const char *s, const char *needle)
{
    size_t n = strlen(needle);

    for (; *s; s++) {
        if (strncasecmp(s, needle, n) == 0)
            return 1;
    }
    return 0;
}

/* 1 if an error message is about TLS. */
static int tls_error(const char *msg)
{
    return has_word(msg, "ssl") || has_word(msg, "certificate") ||
           has_word(msg, "tls") || has_word(msg, "pinned") ||
           has_word(msg, "public key");
}

static void check_source(struct doctor *d, const struct sync_source_conf *sc)
{
    const struct agent_config *cfg = &d->ctx->cfg;
    const char *name = sc->connector->name;
    struct sync_http_options ho = SYNC_HTTP_OPTIONS_INIT;
    struct sync_http_response resp;
    struct sync_http *h = NULL;
    char url[2048], base[2048], check[48], fix[300], err[400] = "";
    const char *host, *path;
    int64_t t0, t1, wall_t1, server_ms = 0;
    int rc, https;

    if (sc->connector->probe_url(sc, url, sizeof(url)) < 0) {
        snprintf(check, sizeof(check), "%s reachable", name);
        report(d, check, ST_ERROR, "fix the url in the config",
               "%s", plat_err_msg());
        plat_err_clear();
        return;
    }
    https = strncmp(url, "https://", 8) == 0;
    host = strstr(url, "://");
    host = host ? host + 3 : url;
    path = strchr(host, '/');
    snprintf(base, sizeof(base), "%.*s",
             (int)(path ? (size_t)(path - url) : strlen(url)), url);
    memset(&resp, 0, sizeof(resp));
    ho.base_url = base;
    ho.ca_file = *cfg->ca_file ? cfg->ca_file : NULL;
    ho.pinned_pubkey = *cfg->pinned_pubkey ? cfg->pinned_pubkey : NULL;
    ho.proxy = *cfg->proxy ? cfg->proxy : NULL;
    ho.connect_timeout_ms = PROBE_TIMEOUT_MS;
    ho.low_speed_limit = 1;
    ho.low_speed_time_s = 10;
    ho.max_response = 64 * 1024;
    ho.max_attempts = 1;
    t0 = plat_time_mono_ms();
    rc = sync_http_create(&h, &ho);
    if (rc == PLAT_OK)
        rc = sync_http_request(h, "GET", path ? path : "/", NULL, NULL, 0,
                               NULL, &resp);
    t1 = plat_time_mono_ms();
    wall_t1 = plat_time_wall_ms();
    if (rc == ERR_TOOLARGE)
        rc = PLAT_OK; /* an answer too big to keep is still an answer */
    if (rc < 0)
        snprintf(err, sizeof(err), "%s", plat_err_msg());
    plat_err_clear();

    snprintf(check, sizeof(check), "%s reachable", name);
    if (rc == PLAT_OK) {
        report(d, check, ST_OK, NULL, "%s answered HTTP %ld in %lld ms",
               base, resp.status, (long long)(t1 - t0));
    } else if (https && tls_error(err)) {
        report(d, check, ST_SKIP, NULL, "TLS failed (below)");
    } else {
        snprintf(fix, sizeof(fix), "check the network, the proxy and url "
                 "in [%s]; nothing is lost meanwhile", name);
        report(d, check, ST_ERROR, fix, "%s: %s", base, err);
    }

    snprintf(check, sizeof(check), "%s tls", name);
    if (!https && loopback(base))
        report(d, check, ST_OK, NULL, "plain http on this machine");
    else if (!https)
        report(d, check, ST_WARN, "use an https:// url", "plain http: "
               "passwords and personal data cross the network unencrypted");
    else if (rc == PLAT_OK)
        report(d, check, ST_OK, NULL, "certificate verified%s",
               ho.pinned_pubkey ? ", pinned key matches" : "");
    else if (tls_error(err))
        report(d, check, ST_ERROR, ho.pinned_pubkey
               ? "check pinned_public_key in [sync] (the server's key "
                 "changed?) and ca_file"
               : "set ca_file in [sync] to the CA that signed the "
                 "server's certificate, or fix the certificate", "%s", err);
    else
        report(d, check, ST_SKIP, NULL, "not checked: no answer");

    snprintf(check, sizeof(check), "%s clock", name);
    if (rc == PLAT_OK && resp.date[0] &&
        parse_http_date(resp.date, &server_ms) == PLAT_OK) {
        /* The server's Date was made between t0 and t1 and is truncated
         * to the second: compare the middle of the request with the middle
         * of that second, and round to whole minutes, so neither a slow
         * answer nor the truncation shows as a minute of skew. */
        int64_t local = wall_t1 - (t1 - t0) / 2;
        int64_t skew_s = (local - (server_ms + 500)) / 1000;
        int64_t a = skew_s < 0 ? -skew_s : skew_s;

        if (a > CLOCK_WARN_S)
            report(d, check, ST_WARN, "set the clock (e.g. `timedatectl "
                   "set-ntp true`); times people read (last sync, ages) "
                   "are wrong meanwhile", "this device's clock is %lld min "
                   "%s the server's", (long long)((a + 30) / 60),
                   skew_s > 0 ? "ahead of" : "behind");
        else
            report(d, check, ST_OK, NULL, "within %lld s of the server's",
                   (long long)a);
    } else {
        report(d, check, ST_SKIP, NULL, "not checked: %s",
               rc == PLAT_OK ? "no Date header" : "no answer");
    }
    sync_http_response_dispose(&resp);
    sync_http_destroy(h);
}

/* ---- the command -------------------------------------------------------- */

int agent_cmd_doctor(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    struct doctor d;
    char **pos = NULL;
    int npos = 0, rc, bad_secrets;
    cJSON *o = NULL;

    memset(&d, 0, sizeof(d));
    d.ctx = ctx;
    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    plat_free(pos);
    if (rc < 0)
        return rc;
    if (ctx->g.json && !(d.checks = cJSON_CreateArray()))
        return plat_err_set(ERR_NOMEM, "out of memory");

    rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG);
    if (rc < 0) {
        report(&d, "config", ST_ERROR, "run `agent config check` (or "
               "`agent init`)", "%s", plat_err_msg());
        plat_err_clear();
    } else {
        /* The secrets check reports file modes itself: the config's own
         * validation would say the same again. */
        bad_secrets = 0;
        rc = agent_config_validate(&ctx->cfg);
        if (rc < 0) {
            char *msg = plat_strdup(plat_err_msg());

            plat_err_clear();
            bad_secrets = check_secrets(&d);
            if (!bad_secrets)
                report(&d, "config", ST_ERROR, "run `agent config check`",
                       "%s", msg ? msg : "invalid");
            else
                report(&d, "config", ST_OK, NULL, "%s parses (secret file "
                       "above)", ctx->config_path);
            plat_free(msg);
        } else {
            report(&d, "config", ST_OK, NULL, "%s", ctx->config_path);
            check_secrets(&d);
        }
        check_store(&d);
        for (size_t i = 0; i < ctx->cfg.n_sources; i++) {
            const struct sync_source_conf *sc = &ctx->cfg.sources[i];

            if (sc->enabled && sc->connector->probe_url)
                check_source(&d, sc);
        }
    }
    rc = PLAT_OK;
    if (ctx->g.json) {
        o = cJSON_CreateObject();
        if (!o || d.nomem || !cJSON_AddBoolToObject(o, "ok", !d.problems) ||
            !cJSON_AddNumberToObject(o, "problems", d.problems) ||
            agent_json_put(o, "checks", d.checks) < 0) {
            d.checks = NULL;
            cJSON_Delete(o);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
        d.checks = NULL;
        rc = agent_print_json(o);
        cJSON_Delete(o);
    } else if (d.problems) {
        printf("%d problem%s found\n", d.problems,
               d.problems == 1 ? "" : "s");
    }
    cJSON_Delete(d.checks);
    if (rc == PLAT_OK && d.problems)
        ctx->exit_override = AGENT_EXIT_FAILURE;
    return rc;
}
