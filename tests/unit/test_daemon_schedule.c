/*
 * test_daemon_schedule.c - the daemon's timing rules (agent/daemon_schedule.h)
 * with fixed "random" draws: interval jitter, capped exponential backoff
 * with full jitter, probes while offline, the probe re-arming rule, reset
 * after success, reload.
 */
#include "testlib.h"

#include "daemon_schedule.h"

#include <stdint.h>

static uint64_t draw_min(uint64_t bound)
{
    (void)bound;
    return 0;
}

static uint64_t draw_max(uint64_t bound)
{
    return bound - 1;
}

static const struct agent_sched_cfg cfg = {
    .interval_ms = 900000,       /* 15 min */
    .probe_interval_ms = 30000,
    .backoff_base_ms = 5000,
    .backoff_cap_ms = 600000
};

static void test_first_sync_at_start(void)
{
    struct agent_sched s;

    agent_sched_init(&s, &cfg, 1000, 0);
    CHECK_INT(agent_sched_due(&s, 1000), AGENT_SCHED_SYNC);
    CHECK_INT(agent_sched_next_deadline(&s), 1000);
    CHECK_INT(s.failures, 0);
    CHECK_INT(s.offline, 0);
}

static void test_interval_jitter(void)
{
    struct agent_sched s;

    agent_sched_init(&s, &cfg, 0, 0);
    agent_sched_sync_done(&s, 10000, AGENT_SCHED_OK, 0, draw_min);
    CHECK_INT(s.next_sync_ms, 10000 + 810000);
    agent_sched_sync_done(&s, 10000, AGENT_SCHED_OK, 0, draw_max);
    CHECK_INT(s.next_sync_ms, 10000 + 990000);
    /* Online: no probe, nothing due before the sync. */
    CHECK_INT(s.next_probe_ms, AGENT_SCHED_NEVER);
    CHECK_INT(agent_sched_due(&s, 500000), AGENT_SCHED_NOTHING);
    CHECK_INT(agent_sched_due(&s, 1000000), AGENT_SCHED_SYNC);
    CHECK_INT(agent_sched_next_deadline(&s), 1000000);
}

static void test_backoff_window(void)
{
    CHECK_INT(agent_sched_backoff_window(&cfg, 0), 0);
    CHECK_INT(agent_sched_backoff_window(&cfg, 1), 5000);
    CHECK_INT(agent_sched_backoff_window(&cfg, 2), 10000);
    CHECK_INT(agent_sched_backoff_window(&cfg, 5), 80000);
    CHECK_INT(agent_sched_backoff_window(&cfg, 8), 600000);
    /* No overflow however long the outage. */
    CHECK_INT(agent_sched_backoff_window(&cfg, 100000), 600000);
}

static void test_backoff_grows_capped_and_resets(void)
{
    struct agent_sched s;
    int64_t now = 0;
    const int64_t want[] = { 5000, 10000, 20000, 40000, 80000, 160000,
                             320000, 600000, 600000 };

    agent_sched_init(&s, &cfg, now, 0);
    for (int i = 0; i < 9; i++) {
        agent_sched_sync_done(&s, now, AGENT_SCHED_OFFLINE, 0, draw_max);
        CHECK_INT(s.failures, i + 1);
        CHECK_INT(s.backoff_ms, want[i]);
        CHECK_INT(s.next_sync_ms - now, want[i]);
        CHECK_INT(s.offline, 1);
        now = s.next_sync_ms;
    }
    /* Full jitter: the draw can be 0, the floor keeps it from spinning. */
    agent_sched_sync_done(&s, now, AGENT_SCHED_OFFLINE, 0, draw_min);
    CHECK_INT(s.next_sync_ms - now, AGENT_SCHED_MIN_RETRY_MS);
    /* Success: back to the interval, count and window reset. */
    agent_sched_sync_done(&s, now, AGENT_SCHED_OK, 0, draw_max);
    CHECK_INT(s.failures, 0);
    CHECK_INT(s.backoff_ms, 0);
    CHECK_INT(s.offline, 0);
    CHECK_INT(s.next_probe_ms, AGENT_SCHED_NEVER);
    CHECK_INT(s.next_sync_ms - now, 990000);
}

static void test_retry_never_later_than_interval(void)
{
    struct agent_sched_cfg c = cfg;
    struct agent_sched s;

    c.interval_ms = 60000;
    agent_sched_init(&s, &c, 0, 20);
    agent_sched_sync_done(&s, 0, AGENT_SCHED_OFFLINE, 0, draw_max);
    CHECK_INT(s.next_sync_ms, 60000);
}

static void test_persisted_failures_feed_backoff(void)
{
    struct agent_sched s;

    agent_sched_init(&s, &cfg, 0, 3);
    agent_sched_sync_done(&s, 0, AGENT_SCHED_OFFLINE, 0, draw_max);
    CHECK_INT(s.failures, 4);
    CHECK_INT(s.backoff_ms, 40000);
}

static void test_probe_while_offline(void)
{
    struct agent_sched s;

    agent_sched_init(&s, &cfg, 0, 0);
    agent_sched_sync_done(&s, 0, AGENT_SCHED_OFFLINE, 0, draw_max);
    /* Retry in 5 s, probe in 30 s: the retry comes first. */
    CHECK_INT(agent_sched_next_deadline(&s), 5000);
    agent_sched_sync_done(&s, 5000, AGENT_SCHED_OFFLINE, 0, draw_max);
    agent_sched_sync_done(&s, 15000, AGENT_SCHED_OFFLINE, 0, draw_max);
    agent_sched_sync_done(&s, 35000, AGENT_SCHED_OFFLINE, 0, draw_max);
    agent_sched_sync_done(&s, 75000, AGENT_SCHED_OFFLINE, 0, draw_max);
    /* Next retry at 75 + 80 s; probes every 30 s meanwhile. */
    CHECK_INT(s.next_sync_ms, 155000);
    CHECK_INT(agent_sched_next_deadline(&s), 105000);
    CHECK_INT(agent_sched_due(&s, 104999), AGENT_SCHED_NOTHING);
    CHECK_INT(agent_sched_due(&s, 105000), AGENT_SCHED_PROBE);
    agent_sched_probe_done(&s, 105100, 0);
    CHECK_INT(s.next_sync_ms, 155000);
    CHECK_INT(agent_sched_next_deadline(&s), 135100);
    /* The link is back: the probe answers, a sync is due at once. */
    agent_sched_probe_done(&s, 135200, 1);
    CHECK_INT(agent_sched_due(&s, 135200), AGENT_SCHED_SYNC);
    agent_sched_sync_done(&s, 136000, AGENT_SCHED_OK, 1, draw_min);
    CHECK_INT(s.offline, 0);
    CHECK_INT(agent_sched_due(&s, 200000), AGENT_SCHED_NOTHING);
}

static void test_probe_ok_but_sync_fails(void)
{
    struct agent_sched s;

    /* The server answers the probe but every sync times out: one extra
     * sync, then the backoff alone decides until a probe fails. */
    agent_sched_init(&s, &cfg, 0, 0);
    agent_sched_sync_done(&s, 0, AGENT_SCHED_OFFLINE, 0, draw_max);
    CHECK_INT(s.probe_armed, 1);
    agent_sched_probe_done(&s, 1000, 1);
    CHECK_INT(agent_sched_due(&s, 1000), AGENT_SCHED_SYNC);
    agent_sched_sync_done(&s, 2000, AGENT_SCHED_OFFLINE, 1, draw_max);
    CHECK_INT(s.probe_armed, 0);
    CHECK_INT(s.next_sync_ms, 12000);
    agent_sched_probe_done(&s, 3000, 1);
    CHECK_INT(s.next_sync_ms, 12000);
    agent_sched_probe_done(&s, 4000, 0);
    CHECK_INT(s.probe_armed, 1);
    agent_sched_probe_done(&s, 5000, 1);
    CHECK_INT(s.next_sync_ms, 5000);
}

static void test_other_failure_is_not_offline(void)
{
    struct agent_sched s;

    agent_sched_init(&s, &cfg, 0, 0);
    agent_sched_sync_done(&s, 0, AGENT_SCHED_FAILED, 0, draw_max);
    CHECK_INT(s.offline, 0);
    CHECK_INT(s.failures, 1);
    CHECK_INT(s.next_probe_ms, AGENT_SCHED_NEVER);
    CHECK_INT(s.next_sync_ms, 5000);
    /* Probe results do not matter while the server answers. */
    agent_sched_probe_done(&s, 100, 1);
    CHECK_INT(s.next_sync_ms, 5000);
    CHECK_INT(agent_sched_due(&s, 4000), AGENT_SCHED_NOTHING);
}

static void test_reconfigure(void)
{
    struct agent_sched_cfg c = cfg;
    struct agent_sched s;

    agent_sched_init(&s, &cfg, 0, 0);
    agent_sched_sync_done(&s, 0, AGENT_SCHED_OK, 0, draw_max);
    c.interval_ms = 60000;
    agent_sched_reconfigure(&s, &c, 1000);
    CHECK_INT(s.next_sync_ms, 61000);
    /* A longer interval does not push a deadline away. */
    c.interval_ms = 3600000;
    agent_sched_reconfigure(&s, &c, 2000);
    CHECK_INT(s.next_sync_ms, 61000);

    agent_sched_sync_done(&s, 70000, AGENT_SCHED_OFFLINE, 0, draw_max);
    c.probe_interval_ms = 2000;
    agent_sched_reconfigure(&s, &c, 71000);
    CHECK_INT(s.next_probe_ms, 73000);
}

TEST_MAIN(TEST(test_first_sync_at_start), TEST(test_interval_jitter),
          TEST(test_backoff_window),
          TEST(test_backoff_grows_capped_and_resets),
          TEST(test_retry_never_later_than_interval),
          TEST(test_persisted_failures_feed_backoff),
          TEST(test_probe_while_offline), TEST(test_probe_ok_but_sync_fails),
          TEST(test_other_failure_is_not_offline), TEST(test_reconfigure))
