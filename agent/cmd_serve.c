/*
 * cmd_serve.c - `agent serve [--listen HOST:PORT]` (the 121 API and the
 * dashboard from the store, agent/serve/) and `agent serve passwd` (set
 * the local password of the API login).
 *
 * `serve` runs in the foreground until SIGINT/SIGTERM. It takes no lock:
 * it only reads, and its writes are single store transactions like the
 * CLI's, so it runs beside `agent daemon` or `agent sync`.
 */
#include "cli.h"
#include "cmd_util.h"
#include "serve.h"
#include "serve_cmd.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_secure.h"
#include "plat_signal.h"
#include "plat_time.h"
#include "store.h"
#include "store_key.h"
#include "sync_connector.h"

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char *g_sources[32];

int agent_serve_options(struct agent_ctx *ctx, const char *listen,
                        struct serve_options *o)
{
    const struct sync_connector *const *reg = sync_connectors_registry();
    size_t n = 0;

    memset(o, 0, sizeof(*o));
    for (size_t i = 0; reg[i] && n + 1 < sizeof(g_sources) /
                                             sizeof(g_sources[0]); i++)
        g_sources[n++] = reg[i]->name;
    g_sources[n] = NULL;
    o->listen = listen && *listen ? listen : ctx->cfg.serve_listen;
    o->tls_cert = ctx->cfg.serve_tls_cert;
    o->tls_key = ctx->cfg.serve_tls_key;
    o->max_connections = ctx->cfg.serve_max_connections;
    o->store_path = ctx->cfg.store_path;
    o->store_sync_full = ctx->cfg.store_sync_full;
    o->program_id = ctx->cfg.program_id;
    o->user = agent_config_get(&ctx->cfg, "121", "user");
    o->sources = g_sources;
    /* The server opens its own connections: an encrypted store's key. */
    return agent_store_key(&ctx->cfg, o->store_key, &o->store_encrypted);
}

int agent_cmd_serve(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *listen = NULL;
    const struct agent_opt opts[] = {
        { "--listen", AGENT_OPT_STRING, &listen, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct serve_options o;
    struct serve *srv = NULL;
    char **pos = NULL;
    int npos = 0, rc;
    volatile int *stop;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    plat_free(pos);
    if (rc < 0)
        return rc;
    /* The store must exist and be healthy; the server opens its own
     * connections to it. */
    rc = agent_ctx_open(ctx, AGENT_NEED_STORE | AGENT_NEED_HEALTHY);
    if (rc < 0)
        return rc;
    rc = plat_signal_install();
    if (rc < 0)
        return rc;
    rc = agent_serve_options(ctx, listen, &o);
    if (rc == PLAT_OK)
        rc = serve_start(&srv, &o);
    plat_wipe(o.store_key, sizeof(o.store_key));
    if (rc < 0)
        return rc;
    if (!agent_ctx_quiet(ctx)) {
        printf("serving the 121 API and the dashboard on %s://%s "
               "(port %d); Ctrl-C stops\n",
               o.tls_cert && *o.tls_cert ? "https" : "http", o.listen,
               serve_port(srv));
        fflush(stdout);
    }
    stop = plat_signal_shutdown_flag();
    while (!*stop)
        plat_time_sleep_ms(200);
    serve_stop(srv);
    log_info("serve: stopped");
    return PLAT_OK;
}

/* One line from stdin without echo when it is a terminal. */
static int read_secret(const char *prompt, char *buf, size_t n)
{
    struct termios old, raw;
    int tty = isatty(STDIN_FILENO);
    size_t l;

    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        raw = old;
        raw.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    }
    if (!fgets(buf, (int)n, stdin))
        buf[0] = '\0';
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    l = strlen(buf);
    if (l && buf[l - 1] == '\n')
        buf[--l] = '\0';
    else if (l == n - 1)
        return plat_err_set(ERR_INVALID, "password longer than %zu bytes",
                            n - 2);
    if (l && buf[l - 1] == '\r')
        buf[--l] = '\0';
    return PLAT_OK;
}

int agent_cmd_serve_passwd(struct agent_ctx *ctx, int argc, char **argv)
{
    char pw[256], again[256];
    char *hash = NULL;
    char **pos = NULL;
    int npos = 0, rc;
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    plat_free(pos);
    if (rc < 0)
        return rc;
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc < 0)
        return rc;
    rc = read_secret("new local password for the API login: ", pw,
                     sizeof(pw));
    if (rc == PLAT_OK && isatty(STDIN_FILENO)) {
        rc = read_secret("again: ", again, sizeof(again));
        if (rc == PLAT_OK && strcmp(pw, again) != 0)
            rc = plat_err_set(ERR_INVALID, "the two passwords differ");
        plat_wipe(again, sizeof(again));
    }
    if (rc == PLAT_OK)
        rc = serve_password_hash(pw, &hash);
    plat_wipe(pw, sizeof(pw));
    if (rc == PLAT_OK)
        rc = store_state_set(ctx->store, SERVE_PASSWORD_KEY, hash);
    plat_free(hash);
    if (rc == PLAT_OK && !agent_ctx_quiet(ctx))
        printf("local API password set (log in as the [121] user)\n");
    return rc;
}
