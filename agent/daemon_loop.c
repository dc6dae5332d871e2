/*
 * daemon_loop.c - the daemon's main loop (see daemon.h).
 *
 * The main thread only waits and dispatches: ppoll on the control socket,
 * its clients and the job's wake-up pipe, with a timeout equal to the next
 * deadline (sync, probe, client timeout, watchdog). Signals are blocked
 * outside ppoll and let in atomically by it, so a SIGTERM or SIGHUP that
 * arrives at any moment ends the wait at once and is never lost. While a
 * job runs, schedule deadlines are not waited for (nothing can start
 * anyway); the job's 'j' byte ends the wait when it is done.
 */
#define _GNU_SOURCE /* ppoll */

#include "daemon.h"
#include "cli.h"
#include "config.h"
#include "sync_report.h"

#include "plat_err.h"
#include "plat_log.h"
#include "plat_random.h"
#include "plat_signal.h"
#include "plat_time.h"
#include "sync_connector.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

void agent_daemon_sched_cfg(const struct agent_daemon *d,
                            struct agent_sched_cfg *out)
{
    const struct agent_config *cfg = &d->ctx->cfg;
    int interval = d->interval_override_s > 0 ? d->interval_override_s
                                              : cfg->daemon_interval_s;
    int probe = d->probe_override_s > 0 ? d->probe_override_s
                                        : cfg->daemon_probe_interval_s;

    out->interval_ms = (int64_t)interval * 1000;
    out->probe_interval_ms = (int64_t)probe * 1000;
    out->backoff_base_ms = (int64_t)cfg->daemon_backoff_base_s * 1000;
    out->backoff_cap_ms = (int64_t)cfg->daemon_backoff_cap_s * 1000;
}

static int has_source(const struct agent_job_opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_only; i++) {
        if (strcmp(o->only[i], name) == 0)
            return 1;
    }
    return 0;
}

/* 1 if a sync of `run`'s sources includes every source of `req`. */
static int covers_sources(const struct agent_job_opts *run,
                          const struct agent_job_opts *req)
{
    if (!run->n_only)
        return 1;
    if (!req->n_only)
        return 0;
    for (size_t i = 0; i < req->n_only; i++) {
        if (!has_source(run, req->only[i]))
            return 0;
    }
    return 1;
}

/* 1 if a sync run with `run` also does everything `req` asks for. */
static int covers(const struct agent_job_opts *run,
                  const struct agent_job_opts *req)
{
    return (run->direction == SYNC_BOTH || run->direction == req->direction)
           && run->full >= req->full && run->vouchers >= req->vouchers &&
           covers_sources(run, req);
}

static void merge(struct agent_job_opts *into, const struct agent_job_opts *o)
{
    if (into->direction != o->direction)
        into->direction = SYNC_BOTH;
    into->full |= o->full;
    into->vouchers |= o->vouchers;
    into->watch |= o->watch;
    /* The union of the sources; none listed means all of them. */
    if (!into->n_only || !o->n_only) {
        into->n_only = 0;
        return;
    }
    for (size_t i = 0; i < o->n_only; i++) {
        if (!has_source(into, o->only[i]) && into->n_only < SYNC_MAX_SOURCES)
            memcpy(into->only[into->n_only++], o->only[i],
                   sizeof(o->only[i]));
    }
}

/* What a probe-started sync runs: the sources whose host answered, or
 * all of them when every enabled source with a host answered. */
static void probe_sync_opts(const struct agent_daemon *d,
                            struct agent_job_opts *o)
{
    const struct agent_config *cfg = &d->ctx->cfg;
    size_t hosts = 0;

    memset(o, 0, sizeof(*o));
    o->direction = SYNC_BOTH;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        if (cfg->sources[i].enabled && cfg->sources[i].connector->probe_url)
            hosts++;
    }
    if (d->job.n_up == 0 || d->job.n_up >= hosts)
        return;
    for (size_t i = 0; i < d->job.n_up && i < SYNC_MAX_SOURCES; i++)
        memcpy(o->only[o->n_only++], d->job.up_names[i],
               sizeof(d->job.up_names[i]));
}

void agent_daemon_want_sync(struct agent_daemon *d,
                            const struct agent_job_opts *opts, uint64_t *gen,
                            int *attached)
{
    if (d->job_kind == AGENT_JOB_SYNC && covers(&d->sync_opts, opts)) {
        *gen = d->sync_gen;
        *attached = 1;
        return;
    }
    if (d->want_sync)
        merge(&d->want_opts, opts);
    else
        d->want_opts = *opts;
    d->want_sync = 1;
    *gen = d->sync_gen + 1;
    *attached = 0;
}

static void notify_status(struct agent_daemon *d, const char *prefix)
{
    char line[300], msg[340];

    agent_daemon_status_line(d, line, sizeof(line));
    snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, line);
    agent_notify_send(&d->notify, msg);
}

/* Tell the clients waiting for sync `gen` that it will not run. */
static void refuse_waiters(struct agent_daemon *d, uint64_t gen,
                           const char *why)
{
    cJSON *ev = agent_ctl_refused_result(why);

    if (ev)
        agent_ctl_broadcast(d, gen, ev, 1);
    cJSON_Delete(ev);
}

static void sync_finished(struct agent_daemon *d, int64_t now)
{
    struct agent_job *j = &d->job;
    int code = agent_sync_exit_code(j->rc, &j->after);
    int cancelled = *d->shutdown != 0;
    enum agent_sched_outcome outcome;
    cJSON *ev;

    d->syncs++;
    d->have_last = 1;
    d->last_code = code;
    d->last_end_ms = plat_time_wall_ms();
    d->last_sum = j->sum;
    d->last_after = j->after;
    if (!cancelled) {
        outcome = j->rc == PLAT_OK ? AGENT_SCHED_OK
                : j->rc == ERR_RETRY ? AGENT_SCHED_OFFLINE
                : AGENT_SCHED_FAILED;
        agent_sched_sync_done(&d->sched, now, outcome, d->job_by_probe,
                              plat_random_below);
        snprintf(d->last_error, sizeof(d->last_error), "%.255s",
                 j->rc < 0 ? j->sum.total.error : "");
        if (outcome == AGENT_SCHED_OFFLINE && !d->offline_since_ms) {
            d->offline_since_ms = d->last_end_ms;
            log_warn("sources unreachable: offline; probing every %lld s, next "
                     "sync attempt in %lld s",
                     (long long)(d->sched.cfg.probe_interval_ms / 1000),
                     (long long)((d->sched.next_sync_ms - now) / 1000));
        } else if (outcome != AGENT_SCHED_OFFLINE) {
            d->offline_since_ms = 0;
        }
        if (outcome == AGENT_SCHED_FAILED)
            log_warn("sync failed (%d in a row), retry in %lld s: %s",
                     d->sched.failures,
                     (long long)((d->sched.next_sync_ms - now) / 1000),
                     j->sum.total.error);
    }
    ev = agent_sync_summary_json(&j->sum, &j->after, code, (long)getpid());
    if (ev && cJSON_AddStringToObject(ev, "event", "result"))
        agent_ctl_broadcast(d, d->sync_gen, ev, 1);
    else
        log_warn("control socket: out of memory for a sync result");
    cJSON_Delete(ev);
}

static void probe_finished(struct agent_daemon *d, int64_t now)
{
    int64_t before = d->sched.next_sync_ms;

    d->probes++;
    agent_sched_probe_done(&d->sched, now, d->job.up);
    d->probe_kick = d->sched.next_sync_ms < before;
    if (d->probe_kick) {
        char names[SYNC_MAX_SOURCES * AGENT_SOURCE_NAME_MAX] = "";
        size_t used = 0;

        probe_sync_opts(d, &d->probe_opts);
        for (size_t i = 0; i < d->job.n_up && used < sizeof(names); i++)
            used += (size_t)snprintf(names + used, sizeof(names) - used,
                                     "%s%s", i ? ", " : "",
                                     d->job.up_names[i]);
        log_info("%s answers again: syncing now%s",
                 used ? names : "the link", d->probe_opts.n_only
                 ? " (only the sources whose host answered)" : "");
    }
}

static void job_finished(struct agent_daemon *d, int64_t now)
{
    int kind = d->job_kind;

    agent_job_join(&d->job);
    d->job_kind = AGENT_JOB_NONE;
    if (kind == AGENT_JOB_SYNC)
        sync_finished(d, now);
    else
        probe_finished(d, now);
#ifdef __GLIBC__
    /* A big pull leaves freed heap behind; give it back so an idle daemon
     * stays small. */
    malloc_trim(0);
#endif
    notify_status(d, "");
}

/* In a job's child process: close what this loop owns, so that the
 * child holds no client connection (a client the daemon closes must see
 * the end at once) and no socket of the daemon. */
static void close_in_child(void *arg)
{
    struct agent_daemon *d = arg;

    for (size_t i = 0; i < AGENT_CTL_MAX_CLIENTS; i++) {
        if (d->clients[i].fd >= 0 && d->clients[i].state != AGENT_CTL_FREE)
            close(d->clients[i].fd);
    }
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    close(d->wake_rd);
    close(d->wake_wr);
    if (d->notify.fd >= 0)
        close(d->notify.fd);
}

static void start_job(struct agent_daemon *d, int kind, int64_t now)
{
    struct agent_job *j = &d->job;
    struct agent_job_opts opts, sched_opts;
    int due = agent_sched_due(&d->sched, now) == AGENT_SCHED_SYNC;

    /* A scheduled sync runs every source; one a probe started, the
     * sources whose host came back. */
    memset(&sched_opts, 0, sizeof(sched_opts));
    sched_opts.direction = SYNC_BOTH;
    if (d->probe_kick)
        sched_opts = d->probe_opts;
    opts = sched_opts;

    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->cfg = &d->ctx->cfg;
    j->cancel = d->shutdown;
    j->wake_fd = d->wake_wr;
    j->in_child = close_in_child;
    j->in_child_arg = d;
    if (kind == AGENT_JOB_SYNC) {
        if (d->want_sync) {
            opts = d->want_opts;
            if (due)
                merge(&opts, &sched_opts);
        }
        j->opts = opts;
        d->sync_gen++;
        d->sync_opts = opts;
        d->want_sync = 0;
        d->job_by_probe = d->probe_kick;
        d->sync_started_ms = plat_time_wall_ms();
        memset(&d->progress, 0, sizeof(d->progress));
    }
    d->probe_kick = 0;
    if (agent_job_start(j) < 0) {
        /* Counted as a failed sync, so the backoff keeps this from
         * repeating in a loop. */
        log_error("%s", plat_err_msg());
        if (kind == AGENT_JOB_SYNC) {
            memset(&j->sum, 0, sizeof(j->sum));
            snprintf(j->sum.total.error, sizeof(j->sum.total.error), "%s",
                     plat_err_msg());
            j->rc = ERR_GENERIC;
            sync_finished(d, now);
        } else {
            j->up = 0;
            probe_finished(d, now);
        }
        plat_err_clear();
        return;
    }
    d->job_kind = kind;
    if (kind == AGENT_JOB_SYNC) {
        log_info("sync starting (%s)", d->job_by_probe ? "the link is back"
                 : due ? "scheduled" : "requested");
        notify_status(d, "");
    }
}

static void drain_wake(struct agent_daemon *d, int64_t now)
{
    struct agent_job_progress p;
    char buf[64];
    ssize_t n;

    do {
        n = read(d->wake_rd, buf, sizeof(buf));
    } while (n > 0 || (n < 0 && errno == EINTR));
    if (d->job_kind == AGENT_JOB_SYNC && agent_job_take_progress(&d->job, &p)) {
        cJSON *ev = agent_daemon_progress_json(&p);

        d->progress = p;
        if (ev)
            agent_ctl_broadcast(d, d->sync_gen, ev, 0);
        cJSON_Delete(ev);
    }
    if (d->job_kind != AGENT_JOB_NONE && agent_job_done(&d->job))
        job_finished(d, now);
}

static int64_t next_deadline(const struct agent_daemon *d)
{
    int64_t t = AGENT_SCHED_NEVER, c;

    if (d->job_kind == AGENT_JOB_NONE && !d->stopping)
        t = d->want_sync ? 0 : agent_sched_next_deadline(&d->sched);
    c = agent_ctl_deadline(d);
    if (c < t)
        t = c;
    if (d->notify.watchdog_ms > 0 && d->next_watchdog_ms < t)
        t = d->next_watchdog_ms;
    return t;
}

static void begin_stop(struct agent_daemon *d)
{
    d->stopping = 1;
    agent_notify_send(&d->notify, "STOPPING=1");
    if (d->job_kind == AGENT_JOB_SYNC)
        log_info("stopping: finishing the current batch of the sync");
    else
        log_info("stopping");
    if (d->want_sync) {
        d->want_sync = 0;
        refuse_waiters(d, d->sync_gen + 1, "the daemon is shutting down");
    }
}

int agent_daemon_run(struct agent_daemon *d)
{
    struct pollfd fds[2 + AGENT_CTL_MAX_CLIENTS];
    sigset_t waitmask;
    int64_t now, deadline;
    struct timespec ts;
    size_t n;
    int r;

    /* ppoll lets in exactly the signals the main thread blocks. */
    pthread_sigmask(SIG_SETMASK, NULL, &waitmask);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGHUP);
    d->hup_seen = plat_signal_hup_count();
    d->next_watchdog_ms = plat_time_mono_ms();
    notify_status(d, "READY=1\n");
    for (;;) {
        now = plat_time_mono_ms();
        if (*d->shutdown && !d->stopping)
            begin_stop(d);
        if (d->stopping && d->job_kind == AGENT_JOB_NONE)
            break;
        if (d->job_kind == AGENT_JOB_NONE &&
            d->hup_seen != plat_signal_hup_count()) {
            d->hup_seen = plat_signal_hup_count();
            agent_daemon_reload(d);
            now = plat_time_mono_ms();
        }
        if (d->job_kind == AGENT_JOB_NONE && !d->stopping) {
            enum agent_sched_due due = agent_sched_due(&d->sched, now);

            if (d->want_sync || due == AGENT_SCHED_SYNC)
                start_job(d, AGENT_JOB_SYNC, now);
            else if (due == AGENT_SCHED_PROBE)
                start_job(d, AGENT_JOB_PROBE, now);
            /* A job that could not start was counted as failed, which
             * moved its deadline: no tight loop. */
        }
        if (d->notify.watchdog_ms > 0 && now >= d->next_watchdog_ms) {
            agent_notify_send(&d->notify, "WATCHDOG=1");
            d->next_watchdog_ms = now + d->notify.watchdog_ms;
        }
        deadline = next_deadline(d);
        if (deadline != AGENT_SCHED_NEVER) {
            int64_t ms = deadline > now ? deadline - now : 0;

            ts.tv_sec = (time_t)(ms / 1000);
            ts.tv_nsec = (long)(ms % 1000) * 1000000L;
        }
        n = agent_ctl_pollfds(d, fds);
        fds[n].fd = d->wake_rd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        r = ppoll(fds, (nfds_t)(n + 1),
                  deadline == AGENT_SCHED_NEVER ? NULL : &ts, &waitmask);
        now = plat_time_mono_ms();
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return plat_err_set(ERR_IO, "daemon: poll failed: %s",
                                strerror(errno));
        }
        if (fds[n].revents)
            drain_wake(d, now);
        agent_ctl_handle(d, fds, n, now);
        agent_ctl_expire(d, now);
    }
    return PLAT_OK;
}
