/*
 * daemon_status.c - the daemon's live state, for `agent status` (over the
 * control socket) and for systemd's STATUS= line. Built on the main
 * thread from what it keeps in memory: answering never waits for the
 * sync thread or the store.
 */
#include "daemon.h"
#include "cli.h"
#include "sync_report.h"

#include "plat_log.h"
#include "plat_time.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *state_name(const struct agent_daemon *d)
{
    if (d->job_kind == AGENT_JOB_SYNC)
        return "syncing";
    if (d->sched.offline)
        return "offline";
    return "idle";
}

/* Wall time of monotonic deadline `mono` (never in the past). */
static int64_t wall_of(int64_t mono)
{
    int64_t now = plat_time_mono_ms();

    return plat_time_wall_ms() + (mono > now ? mono - now : 0);
}

static int add_iso(cJSON *o, const char *key, int64_t wall_ms)
{
    char iso[PLAT_ISO_LEN];

    if (wall_ms <= 0)
        return cJSON_AddNullToObject(o, key) != NULL;
    plat_time_iso(wall_ms, iso);
    return cJSON_AddStringToObject(o, key, iso) != NULL;
}

static int add_running(cJSON *o, const struct agent_daemon *d)
{
    cJSON *r;

    if (d->job_kind != AGENT_JOB_SYNC)
        return cJSON_AddNullToObject(o, "sync") != NULL;
    r = cJSON_AddObjectToObject(o, "sync");
    return r && add_iso(r, "started", d->sync_started_ms) &&
           cJSON_AddStringToObject(r, "phase", d->progress.phase[0]
                                   ? d->progress.phase : "starting") &&
           cJSON_AddNumberToObject(r, "done", (double)d->progress.done) &&
           cJSON_AddNumberToObject(r, "total", (double)d->progress.total) &&
           cJSON_AddNumberToObject(r, "bytes_wire",
                                   (double)d->progress.bytes_wire);
}

static int add_last(cJSON *o, const struct agent_daemon *d)
{
    cJSON *last;

    if (!d->have_last)
        return cJSON_AddNullToObject(o, "last_sync") != NULL;
    last = agent_sync_summary_json(&d->last_sum, &d->last_after, d->last_code,
                                   (long)getpid());
    if (!last)
        return 0;
    if (!add_iso(last, "finished", d->last_end_ms) ||
        !cJSON_AddItemToObject(o, "last_sync", last)) {
        cJSON_Delete(last);
        return 0;
    }
    return 1;
}

cJSON *agent_daemon_status_json(const struct agent_daemon *d)
{
    struct agent_sched_cfg sc;
    cJSON *o = cJSON_CreateObject();
    int syncing = d->job_kind == AGENT_JOB_SYNC;
    int64_t next = syncing ? 0 : wall_of(d->sched.next_sync_ms);
    int64_t now = plat_time_wall_ms();

    agent_daemon_sched_cfg(d, &sc);
    if (!o ||
        !cJSON_AddStringToObject(o, "event", "status") ||
        !cJSON_AddNumberToObject(o, "pid", (double)getpid()) ||
        !cJSON_AddStringToObject(o, "state", state_name(d)) ||
        !cJSON_AddBoolToObject(o, "probing", d->job_kind == AGENT_JOB_PROBE) ||
        !cJSON_AddBoolToObject(o, "stopping", d->stopping) ||
        !add_iso(o, "started", d->started_ms) ||
        !cJSON_AddNumberToObject(o, "uptime_s",
                                 (double)((now - d->started_ms) / 1000)) ||
        !add_iso(o, "offline_since", d->offline_since_ms) ||
        !add_iso(o, "next_attempt", next) ||
        !(next > 0 ? cJSON_AddNumberToObject(o, "next_attempt_in_s",
                                             (double)(next - now) / 1000.0)
                   : cJSON_AddNullToObject(o, "next_attempt_in_s")) ||
        !add_iso(o, "next_probe", d->sched.offline && !syncing
                 ? wall_of(d->sched.next_probe_ms) : 0) ||
        !cJSON_AddNumberToObject(o, "consecutive_failures",
                                 d->sched.failures) ||
        !cJSON_AddNumberToObject(o, "backoff_s",
                                 (double)d->sched.backoff_ms / 1000.0) ||
        !(d->last_error[0]
          ? cJSON_AddStringToObject(o, "last_error", d->last_error)
          : cJSON_AddNullToObject(o, "last_error")) ||
        !cJSON_AddNumberToObject(o, "interval_s",
                                 (double)(sc.interval_ms / 1000)) ||
        !cJSON_AddNumberToObject(o, "probe_interval_s",
                                 (double)(sc.probe_interval_ms / 1000)) ||
        !cJSON_AddStringToObject(o, "log_level",
                                 plat_log_level_name(plat_log_get_level())) ||
        !cJSON_AddStringToObject(o, "socket", d->socket_path) ||
        !cJSON_AddNumberToObject(o, "syncs", (double)d->syncs) ||
        !cJSON_AddNumberToObject(o, "probes", (double)d->probes) ||
        !add_running(o, d) || !add_last(o, d)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *agent_daemon_progress_json(const struct agent_job_progress *p)
{
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddStringToObject(o, "event", "progress") ||
        !cJSON_AddStringToObject(o, "phase", p->phase) ||
        !cJSON_AddNumberToObject(o, "done", (double)p->done) ||
        !cJSON_AddNumberToObject(o, "total", (double)p->total) ||
        !cJSON_AddNumberToObject(o, "bytes_wire", (double)p->bytes_wire)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

void agent_daemon_status_line(const struct agent_daemon *d, char *out,
                              size_t size)
{
    char since[PLAT_ISO_LEN];
    int64_t in_s = (d->sched.next_sync_ms - plat_time_mono_ms()) / 1000;

    if (in_s < 0)
        in_s = 0;
    if (d->stopping)
        snprintf(out, size, "stopping");
    else if (d->job_kind == AGENT_JOB_SYNC)
        snprintf(out, size, "syncing");
    else if (d->sched.offline) {
        plat_time_iso(d->offline_since_ms, since);
        snprintf(out, size, "offline since %s; %d failed syncs; next attempt "
                 "in %lld s", since, d->sched.failures, (long long)in_s);
    } else if (d->sched.failures > 0)
        snprintf(out, size, "idle; last sync failed (%d in a row); next "
                 "attempt in %lld s", d->sched.failures, (long long)in_s);
    else
        snprintf(out, size, "idle; next sync in %lld s", (long long)in_s);
}
