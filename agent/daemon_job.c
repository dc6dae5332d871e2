/*
 * daemon_job.c - the daemon's background job: one sync or one probe, in a
 * child process (or on a thread when the daemon has other threads); see
 * daemon_job.h for the rules.
 */
#include "daemon_job.h"
#include "cli.h"
#include "config.h"
#include "health.h"
#include "sync_options.h"
#include "sync_report.h"
#include "store_crypt.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define PROGRESS_WAKE_MS 200
/* How often the reader of a child looks at the shutdown flag. */
#define CANCEL_POLL_MS 200

/* What a child sends over its pipe: a type byte, then the record. */
#define MSG_PROGRESS 'p'
#define MSG_RESULT 'r'

struct job_result {
    int rc;
    int up;
    int engine_ran;
    size_t n_up;
    char up_names[SYNC_MAX_SOURCES][AGENT_SOURCE_NAME_MAX];
    struct sync_report sum;
    struct store_counts after;
};

static void wake(const struct agent_job *j, char what)
{
    ssize_t n;

    /* The pipe is non-blocking: when it is full the main thread has
     * wake-ups pending anyway. */
    do {
        n = write(j->wake_fd, &what, 1);
    } while (n < 0 && errno == EINTR);
}

/* Write all of `len` bytes; -1 when the reader is gone. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read exactly `len` bytes; -1 at the end of the pipe or on an error. */
static int read_all(int fd, void *data, size_t len)
{
    char *p = data;

    while (len > 0) {
        ssize_t n = read(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_msg(int fd, char type, const void *rec, size_t len)
{
    return write_all(fd, &type, 1) < 0 ? -1 : write_all(fd, rec, len);
}

/* The job's latest progress, for the main thread: from the in-process job
 * itself, or from the reader of a child. */
static void set_progress(struct agent_job *j, const struct agent_job_progress *p)
{
    int64_t now = plat_time_mono_ms();
    int notify = 0;

    pthread_mutex_lock(&j->mu);
    j->progress = *p;
    j->fresh_progress = 1;
    if (now - j->last_wake_ms >= PROGRESS_WAKE_MS) {
        j->last_wake_ms = now;
        notify = 1;
    }
    pthread_mutex_unlock(&j->mu);
    if (notify)
        wake(j, 'p');
}

static void on_progress(void *payload, const char *phase, int64_t done,
                        int64_t total, int64_t bytes_wire)
{
    struct agent_job *j = payload;
    struct agent_job_progress p;
    int64_t now;

    memset(&p, 0, sizeof(p));
    snprintf(p.phase, sizeof(p.phase), "%s", phase);
    p.done = done;
    p.total = total;
    p.bytes_wire = bytes_wire;
    if (j->wr < 0) {
        set_progress(j, &p);
        return;
    }
    /* In a child: at most five records a second over the pipe (the
     * reader wakes the main loop for each). */
    now = plat_time_mono_ms();
    if (now - j->last_wake_ms < PROGRESS_WAKE_MS)
        return;
    j->last_wake_ms = now;
    if (send_msg(j->wr, MSG_PROGRESS, &p, sizeof(p)) < 0)
        *j->cancel = 1; /* the daemon is gone: stop after this batch */
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

static void run_job(struct agent_job *j)
{
    if (j->kind == AGENT_JOB_SYNC) {
        run_sync(j);
    } else {
        j->up = agent_daemon_probe(j->cfg, j->cancel, j->up_names,
                                   &j->n_up);
        j->rc = PLAT_OK;
    }
}

static void finish(struct agent_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    pthread_mutex_unlock(&j->mu);
    wake(j, 'j');
}

static void *job_main(void *arg)
{
    struct agent_job *j = arg;

    run_job(j);
    finish(j);
    return NULL;
}

/* ---- the job in a child process ---------------------------------------- */

/* The child: never returns. */
static void child_main(struct agent_job *j, int wr, pid_t daemon_pid)
{
    struct job_result res;
    sigset_t term;
    int code;

    j->wr = wr;
    j->last_wake_ms = 0;
    store_crypt_prefer_small(0); /* a sync reads and writes many pages */
    if (j->in_child)
        j->in_child(j->in_child_arg);
    /* A Ctrl-C on the daemon's terminal is for the daemon; it passes a
     * shutdown on as SIGTERM, which also comes if the daemon dies. */
    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    if (getppid() != daemon_pid)
        *j->cancel = 1;
    signal(SIGHUP, SIG_IGN); /* a reload is the daemon's business */
    sigemptyset(&term);
    sigaddset(&term, SIGINT);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &term, NULL);

    run_job(j);

    memset(&res, 0, sizeof(res));
    res.rc = j->rc;
    res.up = j->up;
    res.engine_ran = j->engine_ran;
    res.n_up = j->n_up;
    memcpy(res.up_names, j->up_names, sizeof(res.up_names));
    res.sum = j->sum;
    res.after = j->after;
    send_msg(wr, MSG_RESULT, &res, sizeof(res));
    close(wr);
    code = j->kind == AGENT_JOB_SYNC ? agent_sync_exit_code(j->rc, &j->after)
                                     : !j->up;
    fflush(NULL);
    /* _exit: the daemon's atexit work (its socket, its lock) is not the
     * child's to do. */
    _exit(code);
}

/* One record from the child; -1 at the end of the pipe. */
static int read_msg(struct agent_job *j, int *got_result)
{
    struct agent_job_progress p;
    struct job_result res;
    char type;

    if (read_all(j->rd, &type, 1) < 0)
        return -1;
    if (type == MSG_PROGRESS) {
        if (read_all(j->rd, &p, sizeof(p)) < 0)
            return -1;
        p.phase[sizeof(p.phase) - 1] = '\0';
        set_progress(j, &p);
        return 0;
    }
    if (type != MSG_RESULT || read_all(j->rd, &res, sizeof(res)) < 0)
        return -1;
    res.sum.total.error[sizeof(res.sum.total.error) - 1] = '\0';
    j->rc = res.rc;
    j->up = res.up;
    j->engine_ran = res.engine_ran;
    j->n_up = res.n_up < SYNC_MAX_SOURCES ? res.n_up : SYNC_MAX_SOURCES;
    memcpy(j->up_names, res.up_names, sizeof(j->up_names));
    j->sum = res.sum;
    j->after = res.after;
    *got_result = 1;
    return 0;
}

/* The daemon's thread for a child job: passes its progress on, sends it
 * SIGTERM at a shutdown, reaps it and takes its result. */
static void *reader_main(void *arg)
{
    struct agent_job *j = arg;
    struct pollfd pfd;
    int got_result = 0, termed = 0, status = 0, r;
    pid_t w;

    for (;;) {
        if (*j->cancel && !termed) {
            kill(j->pid, SIGTERM);
            termed = 1;
        }
        pfd.fd = j->rd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        r = poll(&pfd, 1, CANCEL_POLL_MS);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && read_msg(j, &got_result) < 0)
            break;
    }
    close(j->rd);
    j->rd = -1;
    do {
        w = waitpid(j->pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    if (!got_result) {
        j->rc = ERR_GENERIC;
        j->up = 0;
        j->n_up = 0;
        memset(&j->sum, 0, sizeof(j->sum));
        memset(&j->after, 0, sizeof(j->after));
        if (w == j->pid && WIFSIGNALED(status))
            snprintf(j->sum.total.error, sizeof(j->sum.total.error),
                     "the %s process ended by signal %d without a result",
                     j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                     WTERMSIG(status));
        else
            snprintf(j->sum.total.error, sizeof(j->sum.total.error),
                     "the %s process ended (status %d) without a result",
                     j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                     w == j->pid && WIFEXITED(status) ? WEXITSTATUS(status)
                                                      : -1);
        log_error("%s", j->sum.total.error);
    }
    j->pid = 0;
    finish(j);
    return NULL;
}

/* 1 when this process runs one thread only (so fork copies no lock
 * another thread holds); 0 when more, or when it cannot be told. */
static int single_threaded(void)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (!dir)
        return 0;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(dir);
    return n == 1;
}

/* Start the job in a child and its reader here; ERR_GENERIC if not. */
static int start_child(struct agent_job *j)
{
    pid_t daemon_pid = getpid();
    int p[2], err;

    if (pipe(p) != 0)
        return plat_err_set(ERR_GENERIC, "cannot start the %s process: %s",
                            j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                            strerror(errno));
    fflush(NULL); /* nothing buffered is written twice */
    j->pid = fork();
    if (j->pid == 0) {
        close(p[0]);
        child_main(j, p[1], daemon_pid);
    }
    err = errno;
    close(p[1]);
    if (j->pid < 0) {
        close(p[0]);
        j->pid = 0;
        return plat_err_set(ERR_GENERIC, "cannot start the %s process: %s",
                            j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                            strerror(err));
    }
    j->rd = p[0];
    err = pthread_create(&j->thread, NULL, reader_main, j);
    if (err != 0) {
        kill(j->pid, SIGKILL);
        while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        close(j->rd);
        j->rd = -1;
        j->pid = 0;
        return plat_err_set(ERR_GENERIC, "cannot start the %s reader: %s",
                            j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                            strerror(err));
    }
    return PLAT_OK;
}

int agent_job_start(struct agent_job *j)
{
    sigset_t block, old;
    int err, rc = PLAT_OK;

    j->done = 0;
    j->fresh_progress = 0;
    j->last_wake_ms = 0;
    j->rc = PLAT_OK;
    j->up = 0;
    j->n_up = 0;
    j->engine_ran = 0;
    j->pid = 0;
    j->rd = -1;
    j->wr = -1;
    memset(&j->progress, 0, sizeof(j->progress));
    if ((err = pthread_mutex_init(&j->mu, NULL)) != 0)
        return plat_err_set(ERR_GENERIC, "cannot start the %s job: %s",
                            j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                            strerror(err));
    /* The thread inherits this mask: signals stay with the main thread
     * (it blocks them already; this makes the rule local and explicit).
     * The child unblocks the shutdown signals itself. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (single_threaded()) {
        rc = start_child(j);
    } else {
        err = pthread_create(&j->thread, NULL, job_main, j);
        if (err != 0)
            rc = plat_err_set(ERR_GENERIC, "cannot start the %s thread: %s",
                              j->kind == AGENT_JOB_SYNC ? "sync" : "probe",
                              strerror(err));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0) {
        pthread_mutex_destroy(&j->mu);
        return rc;
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
