/*
 * daemon.h - `agent daemon`: background sync that starts by itself when the
 * link to a source's host returns (each enabled source is probed at the
 * URL of its connector's probe_url; a probe-started sync runs only the
 * sources whose host answered, or all when every one did). Internal interface between the daemon's files:
 *
 *   cmd_daemon.c      the command: options, --detach, lock, setup, reload
 *   daemon_loop.c     the main loop: ppoll on the control socket and the
 *                     job's wake-up pipe, deadlines, signals, watchdog
 *   daemon_ctl.c      the control socket: clients, request lines, replies
 *   daemon_status.c   the live state as a JSON object
 *   daemon_job.c      the sync / probe thread (daemon_job.h)
 *   daemon_schedule.c when to sync and probe (daemon_schedule.h)
 *   daemon_notify.c   systemd notifications (daemon_notify.h)
 *   daemon_client.c   the CLI side of the socket (daemon_client.h)
 *
 * Design: one main thread that only waits (ppoll with a timeout equal to
 * the next deadline, so an idle daemon wakes at most once per deadline)
 * and answers the socket; at most one job thread at a time (a sync or a
 * probe). A sync request that arrives while a sync runs is attached to it
 * and gets its result: never two syncs at once (a request whose sources the
 * running sync does not include waits for the next one; queued requests
 * merge: the union of their sources, none listed meaning all).
 *
 * Control protocol (JSON lines over a Unix stream socket, mode 0600): the
 * client sends one request line and reads answer lines until the daemon
 * closes the connection.
 *   {"cmd":"ping"}    -> {"event":"pong","pid":N}
 *   {"cmd":"status"}  -> {"event":"status", ...live state...}
 *   {"cmd":"sync","direction":"both"|"pull"|"push","full":B,"vouchers":B,
 *                    "sources":[NAME...] (optional; absent: every enabled)}
 *                     -> {"event":"accepted","attached":B,"pid":N}
 *                        {"event":"progress","phase":S,"done":N,
 *                         "total":N,"bytes_wire":N}   (0 or more)
 *                        {"event":"result", ...the `agent sync --json`
 *                         summary, exit_code included...}
 *   anything else     -> {"event":"error","message":S}
 */
#ifndef AGENT_DAEMON_H
#define AGENT_DAEMON_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon_job.h"
#include "daemon_notify.h"
#include "daemon_schedule.h"
#include "plat_buf.h"

struct agent_ctx;
struct cJSON;

/* Clients at once (each `agent sync --now` waiting for a sync holds one).
 * When all are taken a new client gets one {"event":"busy"} line and the
 * client retries for a bounded time (daemon_client.c). */
#define AGENT_CTL_MAX_CLIENTS 128
#define AGENT_CTL_LINE_MAX 4096

enum agent_ctl_state {
    AGENT_CTL_FREE = 0,
    AGENT_CTL_READING,   /* waiting for the request line               */
    AGENT_CTL_WAITING,   /* attached to a sync (wait_gen)              */
    AGENT_CTL_CLOSING    /* flushing the last answer, then closed      */
};

struct agent_ctl_client {
    int fd;
    int state;                   /* enum agent_ctl_state               */
    char *in;                    /* AGENT_CTL_LINE_MAX bytes while
                                    connected (not in the struct: 128
                                    slots of 4 KB would be 512 KB of the
                                    idle daemon's memory)              */
    size_t in_len;
    struct plat_buf out;         /* answer bytes not yet written       */
    uint64_t wait_gen;           /* the sync this client waits for     */
    int64_t deadline_ms;         /* drop the client after this (mono)  */
};

struct agent_daemon {
    struct agent_ctx *ctx;       /* config: ctx->cfg (replaced on reload) */
    int interval_override_s;     /* --interval, 0: config              */
    int probe_override_s;        /* --probe-interval, 0: config        */

    char *socket_path;
    int listen_fd;
    dev_t sock_dev;              /* identity of our socket file, so   */
    ino_t sock_ino;              /* exit removes only our own          */
    struct agent_ctl_client clients[AGENT_CTL_MAX_CLIENTS];
    int64_t busy_logged_ms;      /* last "too many clients" log line   */

    int wake_rd, wake_wr;        /* job -> main loop wake-up pipe      */
    volatile int *shutdown;      /* the signal flag, also the cancel flag */
    int stopping;
    int hup_seen;

    struct agent_sched sched;
    struct agent_job job;
    int job_kind;                /* running job, AGENT_JOB_NONE if none */
    int job_by_probe;            /* the running sync was started by a
                                    probe answer                       */
    int probe_kick;              /* the last probe made a sync due     */
    struct agent_job_opts probe_opts; /* what a probe-started sync runs:
                                    the sources whose host came back   */
    uint64_t sync_gen;           /* generation of the running/last sync */
    struct agent_job_opts sync_opts; /* options of the running sync     */
    int want_sync;               /* a requested sync waits to start    */
    struct agent_job_opts want_opts;

    struct agent_notify notify;
    int64_t next_watchdog_ms;

    /* Live state, for status answers. */
    int64_t started_ms;          /* wall                               */
    int64_t offline_since_ms;    /* wall; 0 while online               */
    int64_t sync_started_ms;     /* wall, of the running sync          */
    struct agent_job_progress progress;
    int64_t syncs, probes;
    int have_last;
    int last_code;
    int64_t last_end_ms;         /* wall                               */
    struct sync_report last_sum;
    struct store_counts last_after;
    char last_error[256];        /* of the last failed sync; "" after a
                                    good one                           */
};

/* ---- daemon_loop.c ---- */

/* Serve until a shutdown signal; PLAT_OK then. `d` is set up by
 * cmd_daemon.c (lock held, socket listening, pipe open, signals
 * installed and blocked). */
int agent_daemon_run(struct agent_daemon *d);

/* A client asked for a sync with `opts`: attach it to the running sync if
 * that covers the request, else to the next one (started as soon as the
 * running job ends). *gen gets the generation to wait for, *attached 1
 * when it joined a running sync. */
void agent_daemon_want_sync(struct agent_daemon *d,
                            const struct agent_job_opts *opts, uint64_t *gen,
                            int *attached);

/* The schedule settings from the config and the command line overrides. */
void agent_daemon_sched_cfg(const struct agent_daemon *d,
                            struct agent_sched_cfg *out);

/* ---- daemon_ctl.c ---- */

/* Create the listening socket at d->socket_path (mode 0600), replacing a
 * stale socket file; call only with the store lock held. ERR_EXISTS if
 * something that is not a socket is in the way, ERR_CONFIG if the path is
 * too long, ERR_IO otherwise. */
int agent_ctl_open(struct agent_daemon *d);

/* Close every client and the socket, and remove the socket file if it is
 * still ours. */
void agent_ctl_close(struct agent_daemon *d);

/* Fill `fds` (room for 1 + AGENT_CTL_MAX_CLIENTS) with the socket and the
 * clients; returns how many. */
size_t agent_ctl_pollfds(struct agent_daemon *d, struct pollfd *fds);

/* Act on what ppoll reported for the `n` entries agent_ctl_pollfds made. */
void agent_ctl_handle(struct agent_daemon *d, const struct pollfd *fds,
                      size_t n, int64_t now);

/* The earliest client timeout (AGENT_SCHED_NEVER if none) and dropping
 * the clients past it. */
int64_t agent_ctl_deadline(const struct agent_daemon *d);
void agent_ctl_expire(struct agent_daemon *d, int64_t now);

/* The "result" event of a sync request that will not run (exit code 3:
 * nothing lost, try later), as a new object (caller frees); NULL when out
 * of memory. */
struct cJSON *agent_ctl_refused_result(const char *why);

/* Send `ev` (one line) to every client waiting for sync `gen`; with
 * `last`, close them after it. */
void agent_ctl_broadcast(struct agent_daemon *d, uint64_t gen,
                         const struct cJSON *ev, int last);

/* ---- daemon_status.c ---- */

/* The live state: {"event":"status","pid","state":"idle"|"syncing"|
 * "offline", ...} (see the README text). NULL when out of memory. */
struct cJSON *agent_daemon_status_json(const struct agent_daemon *d);

/* A progress event of the running sync. NULL when out of memory. */
struct cJSON *agent_daemon_progress_json(const struct agent_job_progress *p);

/* One systemd STATUS= text of the state (no personal data). */
void agent_daemon_status_line(const struct agent_daemon *d, char *out,
                              size_t size);

/* ---- cmd_daemon.c ---- */

/* Re-read the config file after SIGHUP (called with no job running):
 * keeps the old config, and says why in the log, when the new one is
 * invalid or changes store.path or daemon.socket; reopens the log file
 * either way. */
void agent_daemon_reload(struct agent_daemon *d);

#endif
