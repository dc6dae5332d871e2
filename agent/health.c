/*
 * health.c - sync health bookkeeping in the store's state table (see
 * health.h).
 */
#include "health.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_FAILURES "daemon.failures"
#define KEY_REACHABLE "daemon.last_reachable"
#define KEY_DRAINED "daemon.last_drained"

int agent_health_reached(int rc)
{
    return rc == PLAT_OK || rc == ERR_AUTH || rc == ERR_INVALID ||
           rc == ERR_NOTFOUND || rc == ERR_TOOLARGE || rc == ERR_CONFLICT;
}

/* The value of `key`, or "" when absent, into out[size]. */
static int state_text(struct store *s, const char *key, char *out,
                      size_t size)
{
    char *v = NULL;
    int rc = store_state_get(s, key, &v);

    out[0] = '\0';
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    snprintf(out, size, "%s", v);
    plat_free(v);
    return PLAT_OK;
}

int agent_health_failures(struct store *s, int *out)
{
    char text[32];
    int rc = state_text(s, KEY_FAILURES, text, sizeof(text));

    *out = 0;
    if (rc < 0)
        return rc;
    /* A damaged value only restarts the count. */
    *out = atoi(text);
    if (*out < 0)
        *out = 0;
    return PLAT_OK;
}

int agent_health_record(struct store *s, int rc, int reached,
                        const struct store_counts *after)
{
    char now[PLAT_ISO_LEN], count[32];
    int failures = 0, wrc;

    if ((wrc = agent_health_failures(s, &failures)) < 0)
        return wrc;
    snprintf(count, sizeof(count), "%d", rc < 0 ? failures + 1 : 0);
    plat_time_iso(plat_time_wall_ms(), now);
    if ((wrc = store_begin(s)) < 0)
        return wrc;
    wrc = store_state_set(s, KEY_FAILURES, count);
    if (wrc == PLAT_OK && reached)
        wrc = store_state_set(s, KEY_REACHABLE, now);
    if (wrc == PLAT_OK && after && after->pending == 0)
        wrc = store_state_set(s, KEY_DRAINED, now);
    if (wrc == PLAT_OK)
        return store_commit(s);
    store_rollback(s);
    return wrc;
}

/* The created_at of the first entry a walk hands over. */
static int first_created(const struct store_outbox_entry *e, void *payload)
{
    char *out = payload;

    snprintf(out, PLAT_ISO_LEN, "%s", e->created_at ? e->created_at : "");
    return 1; /* one is enough: entries come oldest first */
}

/* Epoch ms of the oldest entry in `state`, or -1 when there is none (or
 * its time cannot be read). */
static int oldest_ms(struct store *s, const char *state, int64_t *out)
{
    char created[PLAT_ISO_LEN] = "";
    int rc = store_outbox_list(s, state, first_created, created);

    *out = -1;
    if (rc < 0)
        return rc;
    if (created[0] && plat_time_parse_iso(created, out) < 0) {
        plat_err_clear();
        *out = -1;
    }
    return PLAT_OK;
}

static int64_t iso_ms(const char *iso)
{
    int64_t ms = -1;

    if (!iso[0] || plat_time_parse_iso(iso, &ms) < 0) {
        plat_err_clear();
        return -1;
    }
    return ms;
}

int agent_health_read(struct store *s, int stuck_after_s, int64_t now_ms,
                      struct agent_health *out)
{
    int64_t oldest = -1, t, since, reachable;
    int rc;

    memset(out, 0, sizeof(*out));
    out->oldest_pending_age_s = -1;
    if ((rc = store_outbox_count(s, "pending", &out->pending)) < 0 ||
        (rc = store_outbox_count(s, "inflight", &out->inflight)) < 0 ||
        (rc = oldest_ms(s, "pending", &oldest)) < 0 ||
        (rc = oldest_ms(s, "inflight", &t)) < 0 ||
        (rc = agent_health_failures(s, &out->consecutive_failures)) < 0 ||
        (rc = state_text(s, KEY_REACHABLE, out->last_reachable,
                         sizeof(out->last_reachable))) < 0 ||
        (rc = state_text(s, KEY_DRAINED, out->last_drained,
                         sizeof(out->last_drained))) < 0)
        return rc;
    if (t >= 0 && (oldest < 0 || t < oldest))
        oldest = t;
    if (oldest >= 0)
        out->oldest_pending_age_s = now_ms > oldest
                                    ? (now_ms - oldest) / 1000 : 0;
    if (out->pending + out->inflight == 0)
        return PLAT_OK;
    since = oldest;
    t = iso_ms(out->last_drained);
    if (t > since)
        since = t;
    reachable = iso_ms(out->last_reachable);
    out->stuck = since >= 0 && reachable >= 0 &&
                 reachable - since >= (int64_t)stuck_after_s * 1000;
    return PLAT_OK;
}
