/*
 * sync_engine.h - one sync cycle between the local store and a 121 server.
 *
 * A cycle logs in, pulls (program, message templates, registrations,
 * payments and transactions, optionally voucher images) and then pushes the
 * outbox (creates, field edits, status changes), so that the conflict check
 * of every pushed field uses fresh server values. Everything pulled is
 * committed in batches with its checkpoint, so an interrupted cycle loses
 * at most one batch of download work and nothing of the local work.
 *
 * The engine owns scheduling, checkpoints, retries (through sync/http) and
 * conflicts; the 121 connector (sync/connectors/c121/) owns the wire
 * format. The engine never logs personal data; it logs referenceIds.
 *
 * Result of sync_engine_run:
 *   PLAT_OK      the cycle completed (conflicts or rejected entries may
 *                still need a person: see the summary counts)
 *   ERR_RETRY    the server was unreachable; nothing lost, try later
 *   ERR_AUTH     login failed or the user lacks a permission
 *   ERR_INVALID  the server answered something malformed; store unchanged
 *                beyond the last committed batch
 *   other        local failure (store, memory)
 * The summary is filled in every case, with what was done before a stop.
 */
#ifndef SYNC_ENGINE_H
#define SYNC_ENGINE_H

#include <stdint.h>

struct store;

enum sync_direction {
    SYNC_BOTH = 0,
    SYNC_PULL_ONLY = 1,
    SYNC_PUSH_ONLY = 2
};

enum sync_policy {
    SYNC_POLICY_MANUAL = 0,      /* keep both, a person decides        */
    SYNC_POLICY_SERVER_WINS = 1, /* drop the local change              */
    SYNC_POLICY_DEVICE_WINS = 2  /* overwrite the server value         */
};

/* Progress of a long phase: `phase` is a static name ("pull", "push"),
 * `done` of `total` units (total 0 = unknown). */
typedef void (*sync_progress_cb)(void *payload, const char *phase,
                                 int64_t done, int64_t total,
                                 int64_t bytes_wire);

struct sync_engine_options {
    const char *server_url;      /* base URL, without /api              */
    int program_id;
    const char *user;
    const char *password;        /* borrowed; never logged              */
    const char *ca_file;         /* optional                            */
    const char *pinned_pubkey;   /* optional                            */
    const char *proxy;           /* optional                            */
    long connect_timeout_ms;     /* 0: default                          */
    int max_attempts;            /* 0: default                          */
    long backoff_base_ms;        /* 0: default                          */
    long backoff_cap_ms;         /* 0: default                          */

    int direction;               /* enum sync_direction                 */
    int full;                    /* re-read every registration          */
    int vouchers;                /* fetch voucher images                */
    int window;                  /* registrations per request (0: 50000) */
    int batch;                   /* records per committed batch (0: 1000) */
    int create_batch;            /* creates per POST (0: 500)           */
    int patch_max;               /* edits sent as single PATCHes before
                                    switching to CSV bulk (0: 20)      */

    /* Conflict policy of a field; NULL means manual for every field. */
    int (*policy)(void *payload, const char *field);
    void *policy_payload;

    sync_progress_cb progress;
    void *progress_payload;
    volatile int *cancel;        /* set non-zero to stop after a batch  */
};

struct sync_summary {
    int64_t pulled;              /* registrations written from the server */
    int64_t events;              /* registration events applied          */
    int64_t pushed;              /* outbox entries confirmed done        */
    int64_t sent;                /* outbox entries sent, awaiting events  */
    int64_t conflicts;           /* conflicts found in this cycle        */
    int64_t rejected;            /* entries rejected in this cycle       */
    int64_t requests;            /* HTTP requests                        */
    int64_t bytes_wire;          /* bytes on the wire, both directions   */
    int64_t bytes_body;          /* uncompressed response bytes          */
    int64_t elapsed_ms;
    char error[256];             /* one line when the result is not OK   */
};

int sync_engine_run(struct store *s, const struct sync_engine_options *opt,
                    struct sync_summary *out);

#endif
