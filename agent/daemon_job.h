/*
 * daemon_job.h - the daemon's one background job at a time: a sync or a
 * connectivity probe, run apart from the main thread so that it keeps
 * serving the control socket (status answers, attaching requesters) while
 * sync_engine_run blocks.
 *
 * Where the job runs: in a child process (fork) when the daemon is one
 * thread, which it is unless `--serve` runs the API server's threads. The
 * child does the HTTP (and so loads libcurl and its ~30 libraries: see
 * sync/http/http_curl.h), the store writes and the health record, sends its
 * progress and its result back over a pipe, and exits; the daemon itself
 * never loads curl and stays small while idle. A thread of the daemon reads
 * that pipe and stands in for the job in everything below (progress,
 * `done`, the 'p' and 'j' wake-ups, the results), so the main loop cannot
 * tell the two apart. The child:
 *   - gets its own store connection and shares the daemon's store lock (an
 *     flock on an open file description both processes hold; it never
 *     unlocks it, and the daemon waits for it before it exits);
 *   - first closes what the main loop owns (`in_child`: the control socket
 *     and its clients, the wake-up pipe, the systemd socket), so a client
 *     the daemon closes sees the end at once;
 *   - is in its own process group (a Ctrl-C on the daemon's terminal goes
 *     to the daemon only) and gets SIGTERM when the daemon sees a shutdown
 *     (or dies: PR_SET_PDEATHSIG); it then stops after its current batch,
 *     as the in-process job does, and still sends its result;
 *   - that dies without a result (a crash) ends the job with ERR_GENERIC
 *     "... ended by signal N".
 * With other threads running (`--serve`), fork would copy locks other
 * threads may hold, so the job runs on a thread of the daemon instead.
 *
 * Threading rules of the in-process job (why this is safe):
 *   - the job thread owns everything it opens: its own store connection
 *     (SQLite: one connection per thread; the main thread opens none while
 *     a job runs), its curl handle, its copy of the secrets (sync_options.h);
 *   - it reads the config it was given and nothing else of the main
 *     thread's; the main thread does not change or free that config until
 *     the job is joined (config reloads wait for the job);
 *   - the only shared state is the progress record and the `done` flag,
 *     under `mu`; the job wakes the main thread by writing one byte to
 *     `wake_fd` ('p' new progress, at most five times a second; 'j' done);
 *   - results (rc, summary, counts) are read by the main thread only after
 *     agent_job_join;
 *   - the thread is created with SIGINT/SIGTERM/SIGHUP blocked (the main
 *     thread blocks them and waits for them in ppoll), so every signal is
 *     handled by the main thread; a shutdown reaches the job through
 *     `cancel` (the signal flag), which the engine checks between batches.
 */
#ifndef AGENT_DAEMON_JOB_H
#define AGENT_DAEMON_JOB_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "sync_engine.h"

struct agent_config;

enum agent_job_kind {
    AGENT_JOB_NONE = 0,
    AGENT_JOB_SYNC = 1,
    AGENT_JOB_PROBE = 2
};

#define AGENT_SOURCE_NAME_MAX 32

/* What a sync is asked to do (as `agent sync --now` options). */
struct agent_job_opts {
    int direction;               /* enum sync_direction                  */
    int full;
    int vouchers;
    int watch;                   /* a person watches (`agent sync` on a
                                    terminal): want_totals              */
    /* The sources to sync (--source, or those whose host came back);
     * n_only 0: every enabled source. */
    char only[SYNC_MAX_SOURCES][AGENT_SOURCE_NAME_MAX];
    size_t n_only;
};

struct agent_job_progress {
    char phase[64];          /* "<source> <phase>", e.g. "121 registrations" */
    int64_t done, total, bytes_wire;
};

struct agent_job {
    /* Set before agent_job_start; read-only afterwards. */
    int kind;                    /* enum agent_job_kind                  */
    struct agent_job_opts opts;
    const struct agent_config *cfg; /* borrowed until joined             */
    volatile int *cancel;        /* borrowed                             */
    int wake_fd;                 /* write end of the main loop's pipe    */
    /* Called in a child process first thing, to close the descriptors
     * of the main loop (optional). */
    void (*in_child)(void *arg);
    void *in_child_arg;

    /* Shared with the thread, under mu. */
    pthread_mutex_t mu;
    int done;
    int fresh_progress;
    struct agent_job_progress progress;
    int64_t last_wake_ms;

    /* Results: read only after agent_job_join. */
    int rc;                      /* sync: its result; probe: PLAT_OK     */
    int up;                      /* probe: a source's host answered      */
    char up_names[SYNC_MAX_SOURCES][AGENT_SOURCE_NAME_MAX];
    size_t n_up;                 /* probe: the sources that answered     */
    int engine_ran;              /* sync: sync_engine_run was called     */
    struct sync_report sum;      /* sync: total.error set on every failure */
    struct store_counts after;   /* sync: counts after it (0s if unread) */

    pthread_t thread;            /* the job, or the reader of its child */
    int started;
    pid_t pid;                   /* the child running the job; 0: none  */
    int rd;                      /* parent: the child's pipe; child: -1 */
    int wr;                      /* child: its end of the pipe; else -1 */
};

/* Start `j` (kind, opts, cfg, cancel, wake_fd, in_child filled in) in a
 * child process, or on a new thread when other threads run. ERR_GENERIC if
 * neither can be created (nothing is then running). */
int agent_job_start(struct agent_job *j);

/* 1 once the thread has finished its work (it is then quick to join). */
int agent_job_done(struct agent_job *j);

/* Copy the latest progress into *out; 1 if it is new since the last
 * call, else 0. */
int agent_job_take_progress(struct agent_job *j,
                            struct agent_job_progress *out);

/* Wait for the thread and release it; the results may then be read. */
void agent_job_join(struct agent_job *j);

/* The probe: for each enabled source with a host (its connector's
 * probe_url, e.g. 121: <url>/api/users/current), 1 if an HTTP GET of that
 * URL answers (any HTTP answer, a 401 included, except 429 and
 * 502/503/504, which say the service is not really there). The names of
 * the sources that answered go to up[] (*n_up of them). Returns 1 when
 * one answered (or no enabled source has a host), else 0. No login, no
 * personal data, one attempt per host, short timeouts. */
int agent_daemon_probe(const struct agent_config *cfg, volatile int *cancel,
                       char up[][AGENT_SOURCE_NAME_MAX], size_t *n_up);

#endif
