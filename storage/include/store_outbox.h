/*
 * store_outbox.h - pending local operations, oldest first.
 *
 * Entries are appended by the store_reg_* writes (never directly by the
 * CLI). States: pending -> inflight -> done | conflict | rejected. A
 * rejected entry (4xx from the server, with its message) never blocks the
 * others. Entries are kept after they are done, for the audit trail.
 */
#ifndef STORE_OUTBOX_H
#define STORE_OUTBOX_H

#include <stdint.h>

struct store;

struct store_outbox_entry {
    int64_t seq;                /* order of the operations on this device */
    const char *op_id;          /* UUID made on the device                */
    const char *reference_id;
    int program_id;
    const char *kind;           /* create, edit, status                   */
    const char *payload;        /* JSON: new values                       */
    const char *base;           /* JSON: base value per field, or NULL    */
    const char *state;          /* pending, inflight, done, conflict, rejected */
    int attempts;
    const char *server_message; /* NULL unless rejected                   */
    const char *created_at;     /* ISO-8601 UTC                           */
};

/* Called per entry; `e` and its strings are borrowed for the call. Return
 * non-zero to stop. */
typedef int (*store_outbox_cb)(const struct store_outbox_entry *e,
                               void *payload);

/* Entries in `state` (NULL: all that are not done), by seq. */
int store_outbox_list(struct store *s, const char *state,
                      store_outbox_cb cb, void *payload);

/* Number of entries in `state` (NULL: pending + inflight). */
int store_outbox_count(struct store *s, const char *state, int64_t *out);

/* Move entry `seq` to `state`; `server_message` may be NULL. */
int store_outbox_set_state(struct store *s, int64_t seq, const char *state,
                           const char *server_message);

#endif
