/*
 * cmd_daemon.c - `agent daemon [--interval S] [--probe-interval S]
 * [--detach]`: set the daemon up (config, single-instance lock, control
 * socket, signals, systemd), run the loop (daemon_loop.c), clean up; and
 * the config reload on SIGHUP.
 *
 * Runs in the foreground (systemd Type=notify); --detach forks, and the
 * parent returns once the child is ready (lock held, socket listening) so
 * that a script can use the socket at once, or with the child's exit code
 * if it failed.
 *
 * The daemon holds "<store>.lock" for its whole life: no other process
 * syncs this store meanwhile (`agent sync --now` asks the daemon instead).
 */
#include "daemon.h"
#include "cli.h"
#include "cmd_util.h"
#include "config.h"
#include "health.h"
#include "serve.h"
#include "store_crypt.h"
#include "serve_cmd.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_secure.h"
#include "plat_lock.h"
#include "plat_log.h"
#include "plat_signal.h"
#include "plat_time.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOCK_WAIT_MS 5000

/* ---- --detach --------------------------------------------------------- */

/* Fork. In the parent (returns 1), wait for the child's "ready" byte and
 * print its pid, or take its exit code; in the child (returns 0), start a
 * new session; *ready_fd is where it says it is ready. */
static int detach(struct agent_ctx *ctx, int *ready_fd)
{
    int p[2], status = 0;
    char ok = 0;
    ssize_t n;
    pid_t pid;

    if (pipe(p) != 0)
        return plat_err_set(ERR_IO, "cannot detach: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return plat_err_set(ERR_GENERIC, "cannot detach: %s",
                            strerror(errno));
    }
    if (pid == 0) {
        close(p[0]);
        fcntl(p[1], F_SETFD, FD_CLOEXEC);
        setsid();
        *ready_fd = p[1];
        return 0;
    }
    close(p[1]);
    do {
        n = read(p[0], &ok, 1);
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == 1 && ok == 'R') {
        if (ctx->g.json)
            printf("{\"pid\": %ld}\n", (long)pid);
        else
            printf("%ld\n", (long)pid);
        return 1;
    }
    /* The child reported its error itself; exit as it did. */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    ctx->exit_override = WIFEXITED(status) && WEXITSTATUS(status)
                         ? WEXITSTATUS(status) : AGENT_EXIT_FAILURE;
    return 1;
}

/* The child is ready: release the parent and leave the terminal. */
static void detach_done(int ready_fd)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    ssize_t n;

    do {
        n = write(ready_fd, "R", 1);
    } while (n < 0 && errno == EINTR);
    close(ready_fd);
    if (null < 0)
        return;
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    close(null);
}

/* ---- setup ------------------------------------------------------------ */

static int make_wake_pipe(struct agent_daemon *d)
{
    int p[2];

    if (pipe(p) != 0)
        return plat_err_set(ERR_IO, "cannot create a pipe: %s",
                            strerror(errno));
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFL, O_NONBLOCK);
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    d->wake_rd = p[0];
    d->wake_wr = p[1];
    return PLAT_OK;
}

/* Handlers for SIGINT/SIGTERM (shutdown flag) and SIGHUP (counter), then
 * block the three: the main loop lets them in only inside ppoll, and the
 * job threads never see them. */
static int setup_signals(void)
{
    sigset_t set;
    int rc;

    if ((rc = plat_signal_install()) < 0 ||
        (rc = plat_signal_install_hup()) < 0)
        return rc;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return plat_err_set(ERR_GENERIC, "cannot block signals");
    return PLAT_OK;
}

static int take_lock(struct agent_ctx *ctx)
{
    char *path = plat_asprintf("%s.lock", ctx->cfg.store_path);
    int rc;

    if (!path)
        return ERR_NOMEM;
    rc = plat_lock_acquire(&ctx->lock, path, LOCK_WAIT_MS);
    plat_free(path);
    if (rc < 0) {
        ctx->lock = NULL;
        if (rc == ERR_LOCKED)
            rc = agent_err_prefix(rc, "cannot start the daemon");
    }
    return rc;
}

/* Check the store opens (reported at start, not at the first sync) and
 * read the persisted failure count; the main thread then closes it: from
 * here on only job threads use the store. */
static int check_store(struct agent_ctx *ctx, int *failures)
{
    struct store *s = NULL;
    int rc = agent_store_open(&ctx->cfg, 0, &s);

    if (rc == PLAT_OK)
        rc = agent_health_failures(s, failures);
    if (s)
        store_close(s);
    return rc;
}

/* ---- SIGHUP ----------------------------------------------------------- */

static int same_socket(const struct agent_config *a,
                       const struct agent_config *b)
{
    char *x = agent_config_socket_path(a), *y = agent_config_socket_path(b);
    int same = x && y && strcmp(x, y) == 0;

    plat_free(x);
    plat_free(y);
    return same;
}

void agent_daemon_reload(struct agent_daemon *d)
{
    struct agent_ctx *ctx = d->ctx;
    struct agent_config n;
    struct agent_sched_cfg sc;
    int rc, inited = 0;

    agent_notify_send(&d->notify, "RELOADING=1");
    /* Log rotation: the file may have been renamed away. */
    if (plat_log_reopen() < 0) {
        log_warn("%s", plat_err_msg());
        plat_err_clear();
    }
    rc = agent_config_init(&n);
    inited = rc == PLAT_OK;
    if (rc == PLAT_OK)
        rc = agent_config_load(&n, ctx->config_path);
    if (rc == PLAT_OK)
        rc = agent_config_validate(&n);
    if (rc == PLAT_OK && strcmp(n.store_path, ctx->cfg.store_path) != 0)
        rc = plat_err_set(ERR_CONFIG, "store.path changed: restart the "
                          "daemon to use another store");
    if (rc == PLAT_OK && !same_socket(&n, &ctx->cfg))
        rc = plat_err_set(ERR_CONFIG, "daemon.socket changed: restart the "
                          "daemon to move its socket");
    if (rc < 0) {
        log_error("config reload failed, keeping the previous config: %s",
                  plat_err_msg());
        plat_err_clear();
        if (inited)
            agent_config_dispose(&n);
        agent_notify_send(&d->notify, "READY=1");
        return;
    }
    if (strcmp(n.log_file, ctx->cfg.log_file) != 0 &&
        plat_log_set_file(*n.log_file ? n.log_file : NULL) < 0) {
        log_warn("%s; logging stays where it was", plat_err_msg());
        plat_err_clear();
    }
    /* -v and -q on the command line still win. */
    if (ctx->g.verbosity == 0)
        plat_log_set_level(n.log_level);
    agent_config_dispose(&ctx->cfg);
    ctx->cfg = n;
    agent_daemon_sched_cfg(d, &sc);
    agent_sched_reconfigure(&d->sched, &sc, plat_time_mono_ms());
    log_info("config reloaded from %s (interval %lld s, probe every %lld s, "
             "log level %s)", ctx->config_path,
             (long long)(sc.interval_ms / 1000),
             (long long)(sc.probe_interval_ms / 1000),
             plat_log_level_name(plat_log_get_level()));
    agent_notify_send(&d->notify, "READY=1");
}

/* ---- the command ------------------------------------------------------ */

static void daemon_init(struct agent_daemon *d, struct agent_ctx *ctx)
{
    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    d->listen_fd = -1;
    d->wake_rd = -1;
    d->wake_wr = -1;
    d->notify.fd = -1;
    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++)
        d->clients[i].fd = -1;
}

static void daemon_dispose(struct agent_daemon *d)
{
    agent_ctl_close(d);
    agent_notify_close(&d->notify);
    if (d->wake_rd >= 0)
        close(d->wake_rd);
    if (d->wake_wr >= 0)
        close(d->wake_wr);
    plat_free(d->socket_path);
}

int agent_cmd_daemon(struct agent_ctx *ctx, int argc, char **argv)
{
    struct agent_daemon d;
    struct agent_sched_cfg sc;
    int interval = 0, probe = 0, detach_opt = 0, failures = 0;
    int ready_fd = -1, rc, npos = 0, serve_opt = 0;
    char **pos = NULL;
    const char *listen = NULL;
    struct serve *srv = NULL;
    const struct agent_opt opts[] = {
        { "--interval", AGENT_OPT_INT, &interval, 1, 2592000 },
        { "--probe-interval", AGENT_OPT_INT, &probe, 1, 86400 },
        { "--detach", AGENT_OPT_FLAG, &detach_opt, 0, 0 },
        { "--serve", AGENT_OPT_FLAG, &serve_opt, 0, 0 },
        { "--listen", AGENT_OPT_STRING, &listen, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };

    daemon_init(&d, ctx);
    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        goto done;
    d.interval_override_s = interval;
    d.probe_override_s = probe;
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG)) < 0 ||
        (rc = agent_config_validate(&ctx->cfg)) < 0)
        goto done;
    if (!plat_fs_exists(ctx->cfg.store_path)) {
        rc = plat_err_set(ERR_NOTFOUND, "no store at %s (run `agent init`)",
                          ctx->cfg.store_path);
        goto done;
    }
    if (!(d.socket_path = agent_config_socket_path(&ctx->cfg))) {
        rc = ERR_NOMEM;
        goto done;
    }
    if (detach_opt) {
        if (!*ctx->cfg.log_file && !agent_ctx_quiet(ctx))
            fprintf(stderr, "agent: warning: --detach without log.file: the "
                    "daemon's log lines are discarded\n");
        rc = detach(ctx, &ready_fd);
        if (rc != 0) {
            rc = rc > 0 ? PLAT_OK : rc;
            goto done;
        }
    }
    /* The daemon itself reads a few pages of an encrypted store; its syncs
     * run in a child (daemon_job.c), which takes the fast page cipher
     * again. With --serve the pages it reads are many: keep the fast one. */
    store_crypt_prefer_small(!serve_opt);
    if ((rc = take_lock(ctx)) < 0 ||
        (rc = check_store(ctx, &failures)) < 0 ||
        (rc = make_wake_pipe(&d)) < 0 ||
        (rc = setup_signals()) < 0 ||
        (rc = agent_ctl_open(&d)) < 0)
        goto done;
    if (listen && !serve_opt) {
        rc = plat_err_set(ERR_USAGE, "--listen needs --serve");
        goto done;
    }
    if (serve_opt) {
        /* The API server runs on its own threads and store connections. */
        struct serve_options so;

        rc = agent_serve_options(ctx, listen, &so);
        if (rc == PLAT_OK)
            rc = serve_start(&srv, &so);
        plat_wipe(so.store_key, sizeof(so.store_key));
        if (rc < 0)
            goto done;
    }
    d.shutdown = plat_signal_shutdown_flag();
    d.started_ms = plat_time_wall_ms();
    agent_daemon_sched_cfg(&d, &sc);
    agent_sched_init(&d.sched, &sc, plat_time_mono_ms(), failures);
    agent_notify_open(&d.notify);
    log_info("daemon started (pid %ld): store %s, socket %s, sync every "
             "%lld s, probe every %lld s while offline", (long)getpid(),
             ctx->cfg.store_path, d.socket_path,
             (long long)(sc.interval_ms / 1000),
             (long long)(sc.probe_interval_ms / 1000));
    if (ready_fd >= 0) {
        detach_done(ready_fd);
        ready_fd = -1;
    }
    rc = agent_daemon_run(&d);
    log_info("daemon stopped");
done:
    serve_stop(srv);
    if (ready_fd >= 0)
        close(ready_fd); /* the parent sees EOF: failed */
    daemon_dispose(&d);
    plat_free(pos);
    return rc;
}
