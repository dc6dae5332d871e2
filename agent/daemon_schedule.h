/*
 * daemon_schedule.h - when the daemon syncs and probes: a pure state
 * machine over monotonic milliseconds, with no I/O, so that the timing
 * rules can be tested without clocks or servers.
 *
 * Rules:
 *   - online (the last sync reached the server): the next sync is due one
 *     interval after the last one ended, +-10 % jitter so that many
 *     devices restarted together do not sync in step;
 *   - a failed sync (any error) is retried after a capped exponential
 *     backoff with full jitter: a uniform delay in
 *     [0, min(cap, base * 2^(failures-1))], at least MIN_RETRY_MS (no
 *     tight loop even when the random draw is 0) and never later than the
 *     normal interval;
 *   - offline (the last sync failed with ERR_RETRY): also probe the server
 *     every probe interval; a probe that answers makes a sync due at once
 *     ("sync as soon as the link returns"). So that a server which answers
 *     the probe but fails every sync (e.g. 503 on one route) is not synced
 *     on every probe, a probe-started sync that fails again disarms this
 *     until a probe fails (the link really went away and came back); the
 *     backoff then drives the retries.
 *
 * The caller draws the jitter: `below(bound)` returns a uniform integer in
 * [0, bound) (plat_random_below in the daemon, fixed values in tests).
 */
#ifndef AGENT_DAEMON_SCHEDULE_H
#define AGENT_DAEMON_SCHEDULE_H

#include <stdint.h>

#define AGENT_SCHED_NEVER INT64_MAX
#define AGENT_SCHED_MIN_RETRY_MS 1000

typedef uint64_t (*agent_sched_rand_fn)(uint64_t bound);

struct agent_sched_cfg {
    int64_t interval_ms;
    int64_t probe_interval_ms;
    int64_t backoff_base_ms;
    int64_t backoff_cap_ms;
};

/* What a sync ended with, as the schedule sees it. */
enum agent_sched_outcome {
    AGENT_SCHED_OK = 0,      /* completed                                  */
    AGENT_SCHED_OFFLINE = 1, /* ERR_RETRY: server unreachable               */
    AGENT_SCHED_FAILED = 2   /* any other error (auth, bad answer, local)   */
};

enum agent_sched_due {
    AGENT_SCHED_NOTHING = 0,
    AGENT_SCHED_SYNC = 1,
    AGENT_SCHED_PROBE = 2
};

struct agent_sched {
    struct agent_sched_cfg cfg;
    int offline;             /* the last sync failed with ERR_RETRY        */
    int failures;            /* consecutive failed syncs                   */
    int probe_armed;         /* a probe that answers starts a sync         */
    int64_t next_sync_ms;    /* when the next sync is due                  */
    int64_t next_probe_ms;   /* AGENT_SCHED_NEVER while online             */
    int64_t backoff_ms;      /* upper end of the last retry window; 0 when
                                the last sync succeeded                    */
};

/* Start: the first sync is due at `now`; `failures` is the persisted count
 * of consecutive failures (it only feeds the backoff exponent). */
void agent_sched_init(struct agent_sched *s, const struct agent_sched_cfg *cfg,
                      int64_t now, int failures);

/* A sync ended at `now`. `by_probe` is 1 when a probe answer started it. */
void agent_sched_sync_done(struct agent_sched *s, int64_t now,
                           enum agent_sched_outcome outcome, int by_probe,
                           agent_sched_rand_fn below);

/* A probe ended at `now`; `up` is 1 when the server answered. Ignored
 * while online. */
void agent_sched_probe_done(struct agent_sched *s, int64_t now, int up);

/* What is due at `now` (a sync wins over a probe). */
enum agent_sched_due agent_sched_due(const struct agent_sched *s, int64_t now);

/* The earliest deadline (AGENT_SCHED_NEVER if none). */
int64_t agent_sched_next_deadline(const struct agent_sched *s);

/* New settings (config reload) at `now`: deadlines never move later than
 * the new interval / probe interval from now allow. */
void agent_sched_reconfigure(struct agent_sched *s,
                             const struct agent_sched_cfg *cfg, int64_t now);

/* Upper end of the retry window after `failures` consecutive failures:
 * min(cap, base * 2^(failures-1)); 0 for no failure. */
int64_t agent_sched_backoff_window(const struct agent_sched_cfg *cfg,
                                   int failures);

#endif
