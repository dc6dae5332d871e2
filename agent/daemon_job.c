/*
 * daemon_job.c - the daemon's background thread: one sync or one probe
 * (see daemon_job.h for the threading rules).
 */
#include "daemon_job.h"
#include "cli.h"
#include "config.h"
#include "health.h"
#include "sync_options.h"
#include "sync_report.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_WAKE_MS 200

static void wake(const struct agent_job *j, char what)
{
    ssize_t n;

    /* The pipe is non-blocking: when it is full the main thread has
     * wake-ups pending anyway. */
    do {
        n = write(j->wake_fd, &what, 1);
    } while (n < 0 && errno == EINTR);
}

static void on_progress(void *payload, const char *phase, int64_t done,
                        int64_t total, int64_t bytes_wire)
{
    struct agent_job *j = payload;
    int64_t now = plat_time_mono_ms();
    int notify = 0;

    pthread_mutex_lock(&j->mu);
    snprintf(j->progress.phase, sizeof(j->progress.phase), "%s", phase);
    j->progress.done = done;
    j->progress.total = total;
    j->progress.bytes_wire = bytes_wire;
    j->fresh_progress = 1;
    if (now - j->last_wake_ms >= PROGRESS_WAKE_MS) {
        j->last_wake_ms = now;
        notify = 1;
    }
    pthread_mutex_unlock(&j->mu);
    if (notify)
        wake(j, 'p');
}

/* One sync cycle with its own store connection, then the health record.
 * Every failure leaves its one-line reason in j->sum.error. */
static void run_sync(struct agent_job *j)
{
    struct sync_engine_options opt;
    struct agent_sync_mem mem;
    struct agent_sync_request req;
    const char *only[SYNC_MAX_SOURCES];
    struct store *s = NULL;
    int rc, hrc;

    memset(&j->sum, 0, sizeof(j->sum));
    memset(&j->after, 0, sizeof(j->after));
    memset(&mem, 0, sizeof(mem));
    rc = agent_store_open(j->cfg, 0, &s);
    if (rc == PLAT_OK) /* the full integrity check, once a day */
        rc = store_check_due(s, 24 * 3600 * 1000LL, NULL);
    if (rc < 0)
        goto done;
    memset(&req, 0, sizeof(req));
    req.direction = j->opts.direction;
    req.full = j->opts.full;
    req.vouchers = j->opts.vouchers;
    for (size_t i = 0; i < j->opts.n_only && i < SYNC_MAX_SOURCES; i++)
        only[i] = j->opts.only[i];
    req.only = only;
    req.n_only = j->opts.n_only;
    if ((rc = agent_sync_options(j->cfg, &req, &opt, &mem)) < 0) {
        /* No password is an authentication failure, as for `agent sync`. */
        /* (agent_sync_options already set ERR_AUTH and its message; never
         * format plat_err_msg() back into itself: that empties it.) */
        goto record;
    }
    opt.progress = on_progress;
    opt.progress_payload = j;
    opt.want_totals = j->opts.watch;
    opt.cancel = j->cancel;
    j->engine_ran = 1;
    rc = sync_engine_run(s, &opt, &j->sum);

record:
    agent_sync_options_dispose(&mem);
    if (rc < 0 && !j->sum.total.error[0])
        snprintf(j->sum.total.error, sizeof(j->sum.total.error), "%s",
                 *plat_err_msg() ? plat_err_msg() : plat_err_name(rc));
    if (agent_sync_counts(s, &j->after) < 0) {
        memset(&j->after, 0, sizeof(j->after));
        plat_err_clear();
    }
    /* A sync stopped by a shutdown is neither a failure nor a success. */
    if (!*j->cancel) {
        hrc = agent_health_record(s, rc, j->engine_ran &&
                                  agent_health_reached(rc), &j->after);
        if (hrc < 0)
            log_warn("cannot record the sync health: %s", plat_err_msg());
    }
done:
    if (rc < 0 && !j->sum.total.error[0])
        snprintf(j->sum.total.error, sizeof(j->sum.total.error), "%s",
                 *plat_err_msg() ? plat_err_msg() : plat_err_name(rc));
    if (s)
        store_close(s);
    j->rc = rc;
}

static void *job_main(void *arg)
{
    struct agent_job *j = arg;

    if (j->kind == AGENT_JOB_SYNC) {
        run_sync(j);
    } else {
        j->up = agent_daemon_probe(j->cfg, j->cancel, j->up_names,
                                   &j->n_up);
        j->rc = PLAT_OK;
    }
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    pthread_mutex_unlock(&j->mu);
    wake(j, 'j');
    return NULL;
}

int agent_job_start(struct agent_job *j)
{
    sigset_t block, old;
    int err;

    j->done = 0;
    j->fresh_progress = 0;
    j->last_wake_ms = 0;
    j->rc = PLAT_OK;
    j->up = 0;
    j->n_up = 0;
    j->engine_ran = 0;
    memset(&j->progress, 0, sizeof(j->progress));
    if ((err = pthread_mutex_init(&j->mu, NULL)) != 0)
        return plat_err_set(ERR_GENERIC, "cannot start the %s job: %s",
                            j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                            strerror(err));
    /* The thread inherits this mask: signals stay with the main thread
     * (it blocks them already; this makes the rule local and explicit). */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    err = pthread_create(&j->thread, NULL, job_main, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        pthread_mutex_destroy(&j->mu);
        return plat_err_set(ERR_GENERIC, "cannot start the %s thread: %s",
                            j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                            strerror(err));
    }
    j->started = 1;
    return PLAT_OK;
}

int agent_job_done(struct agent_job *j)
{
    int done;

    if (!j->started)
        return 0;
    pthread_mutex_lock(&j->mu);
    done = j->done;
    pthread_mutex_unlock(&j->mu);
    return done;
}

int agent_job_take_progress(struct agent_job *j,
                            struct agent_job_progress *out)
{
    int fresh;

    if (!j->started)
        return 0;
    pthread_mutex_lock(&j->mu);
    fresh = j->fresh_progress;
    *out = j->progress;
    j->fresh_progress = 0;
    pthread_mutex_unlock(&j->mu);
    return fresh;
}

void agent_job_join(struct agent_job *j)
{
    if (!j->started)
        return;
    pthread_join(j->thread, NULL);
    pthread_mutex_destroy(&j->mu);
    j->started = 0;
}
