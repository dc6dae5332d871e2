/*
 * health.h - is this device's work reaching 121? Bookkeeping after each
 * sync (by the daemon and by `agent sync`), kept in the store's state table
 * so that `agent status` can show it with or without a daemon:
 *
 *   daemon.failures        consecutive failed syncs (0 after a good one;
 *                          a sync cancelled by a shutdown does not count)
 *   daemon.last_reachable  end of the last sync that reached the server
 *                          (completed, or refused by it: auth, bad answer)
 *   daemon.last_drained    last time a sync left no pending or in-flight
 *                          outbox entry
 *
 * "Stuck" means: something is waiting in the outbox, and the server was
 * reachable at a time when the outbox had already not drained for
 * stuck_after_s. The outbox has been non-empty at least since the oldest
 * waiting entry was made (and since the last drain), so that is where the
 * time is counted from. Offline time alone never makes a device stuck.
 *
 * Errors: from the store (ERR_IO, ERR_NOMEM ...). The values hold no
 * personal data.
 */
#ifndef AGENT_HEALTH_H
#define AGENT_HEALTH_H

#include <stdint.h>

#include "plat_time.h"

struct store;
struct store_counts;

/* 1 if a sync that returned `rc` talked to the server (it completed, or
 * the server refused or garbled something), 0 if not known to have. */
int agent_health_reached(int rc);

/* Record the outcome of one sync: `rc` its result, `reached` as
 * agent_health_reached (0 when the engine did not run), `after` the store
 * counts after it. One transaction. */
int agent_health_record(struct store *s, int rc, int reached,
                        const struct store_counts *after);

/* The persisted count of consecutive failures (0 if never recorded). */
int agent_health_failures(struct store *s, int *out);

struct agent_health {
    int64_t pending;              /* outbox entries in state pending      */
    int64_t inflight;             /* ... and inflight                     */
    int64_t oldest_pending_age_s; /* age of the oldest of them; -1: none  */
    int consecutive_failures;
    int stuck;
    char last_reachable[PLAT_ISO_LEN]; /* "" when never                   */
    char last_drained[PLAT_ISO_LEN];   /* "" when never                   */
};

/* Read the health of the store at wall time `now_ms`. */
int agent_health_read(struct store *s, int stuck_after_s, int64_t now_ms,
                      struct agent_health *out);

#endif
