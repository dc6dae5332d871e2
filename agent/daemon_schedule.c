/*
 * daemon_schedule.c - the daemon's timing rules (see daemon_schedule.h).
 */
#include "daemon_schedule.h"

#include <string.h>

int64_t agent_sched_backoff_window(const struct agent_sched_cfg *cfg,
                                   int failures)
{
    int64_t w = cfg->backoff_base_ms;

    if (failures <= 0)
        return 0;
    /* Doubling stops at the cap; the loop bound also keeps the shift from
     * overflowing however many failures were counted. */
    for (int i = 1; i < failures && w < cfg->backoff_cap_ms; i++)
        w *= 2;
    return w < cfg->backoff_cap_ms ? w : cfg->backoff_cap_ms;
}

/* The interval with +-10 % jitter. */
static int64_t jittered_interval(const struct agent_sched_cfg *cfg,
                                 agent_sched_rand_fn below)
{
    int64_t tenth = cfg->interval_ms / 10;

    return cfg->interval_ms - tenth +
           (int64_t)below((uint64_t)(2 * tenth + 1));
}

void agent_sched_init(struct agent_sched *s, const struct agent_sched_cfg *cfg,
                      int64_t now, int failures)
{
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->failures = failures > 0 ? failures : 0;
    s->next_sync_ms = now;
    s->next_probe_ms = AGENT_SCHED_NEVER;
}

void agent_sched_sync_done(struct agent_sched *s, int64_t now,
                           enum agent_sched_outcome outcome, int by_probe,
                           agent_sched_rand_fn below)
{
    int64_t delay;

    if (outcome == AGENT_SCHED_OK) {
        s->offline = 0;
        s->failures = 0;
        s->backoff_ms = 0;
        s->probe_armed = 0;
        s->next_probe_ms = AGENT_SCHED_NEVER;
        s->next_sync_ms = now + jittered_interval(&s->cfg, below);
        return;
    }
    s->failures++;
    s->backoff_ms = agent_sched_backoff_window(&s->cfg, s->failures);
    delay = (int64_t)below((uint64_t)s->backoff_ms + 1);
    if (delay > s->cfg.interval_ms)
        delay = s->cfg.interval_ms;
    if (delay < AGENT_SCHED_MIN_RETRY_MS)
        delay = AGENT_SCHED_MIN_RETRY_MS;
    s->next_sync_ms = now + delay;
    if (outcome == AGENT_SCHED_OFFLINE) {
        s->offline = 1;
        /* A probe-started sync that failed again: the probe cannot tell
         * this outage, so only a failed probe re-arms it. */
        s->probe_armed = !by_probe;
        s->next_probe_ms = now + s->cfg.probe_interval_ms;
    } else {
        /* The server answered: nothing for a probe to find out. */
        s->offline = 0;
        s->probe_armed = 0;
        s->next_probe_ms = AGENT_SCHED_NEVER;
    }
}

void agent_sched_probe_done(struct agent_sched *s, int64_t now, int up)
{
    if (!s->offline)
        return;
    s->next_probe_ms = now + s->cfg.probe_interval_ms;
    if (!up) {
        s->probe_armed = 1;
        return;
    }
    if (s->probe_armed && s->next_sync_ms > now)
        s->next_sync_ms = now;
}

enum agent_sched_due agent_sched_due(const struct agent_sched *s, int64_t now)
{
    if (now >= s->next_sync_ms)
        return AGENT_SCHED_SYNC;
    if (s->offline && now >= s->next_probe_ms)
        return AGENT_SCHED_PROBE;
    return AGENT_SCHED_NOTHING;
}

int64_t agent_sched_next_deadline(const struct agent_sched *s)
{
    if (s->offline && s->next_probe_ms < s->next_sync_ms)
        return s->next_probe_ms;
    return s->next_sync_ms;
}

void agent_sched_reconfigure(struct agent_sched *s,
                             const struct agent_sched_cfg *cfg, int64_t now)
{
    s->cfg = *cfg;
    if (s->next_sync_ms > now + cfg->interval_ms)
        s->next_sync_ms = now + cfg->interval_ms;
    if (s->offline && s->next_probe_ms > now + cfg->probe_interval_ms)
        s->next_probe_ms = now + cfg->probe_interval_ms;
    if (s->failures > 0)
        s->backoff_ms = agent_sched_backoff_window(cfg, s->failures);
}
