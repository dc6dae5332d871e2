/*
 * store_outbox.h - pending local operations, oldest first.
 *
 * Entries are appended by the store_reg_* writes (never directly by the
 * CLI). States: pending -> inflight -> done | conflict | rejected. A
 * rejected entry (4xx from the server, with its message) never blocks the
 * others. Entries are kept after they are done, for the audit trail.
 *
 * Each entry names the system it is for (target: "121", ...) and the
 * system the change came from (origin: "device" for a change typed on this
 * device, or "121", "kobo", "espocrm", "file" for one pulled from there).
 * A system is never sent a change that came from it
 * (store_outbox_list_for).
 *
 * Kinds and states are enums in C and text in SQL (and in the existing
 * text-taking functions): the _name and _parse functions convert.
 * Errors: ERR_INVALID (unknown kind or state, bad argument), ERR_NOTFOUND,
 * ERR_IO / ERR_CORRUPT from the database.
 */
#ifndef STORE_OUTBOX_H
#define STORE_OUTBOX_H

#include <stdint.h>

struct store;

/* Kinds of operation (column outbox.kind). The order is fixed. */
enum store_op_kind {
    STORE_OP_CREATE,
    STORE_OP_EDIT,
    STORE_OP_STATUS,
    STORE_OP_MESSAGE,
    STORE_OP_VOUCHER,
    STORE_OP_TEMPLATE,  /* 0004: a message template edit (store_dist.h) */
    STORE_OP_LABEL      /* 0004: a registration attribute label edit    */
};

/* States of an entry (column outbox.state). The order is fixed. */
enum store_op_state {
    STORE_OP_PENDING,
    STORE_OP_INFLIGHT,
    STORE_OP_DONE,
    STORE_OP_CONFLICT,
    STORE_OP_REJECTED
};

/* The SQL text of a kind / state ("create", "pending", ...), static; NULL
 * for a value outside the enum. */
const char *store_op_kind_name(enum store_op_kind k);
const char *store_op_state_name(enum store_op_state st);

/* Text to enum: PLAT_OK, or ERR_INVALID (message lists the known ones);
 * `*out` is left as it was on error. */
int store_op_kind_parse(const char *text, enum store_op_kind *out);
int store_op_state_parse(const char *text, enum store_op_state *out);

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
    const char *target;         /* system the operation is for ("121")    */
    const char *origin;         /* system the change came from ("device") */
};

/* Called per entry; `e` and its strings are borrowed for the call. Return
 * non-zero to stop. */
typedef int (*store_outbox_cb)(const struct store_outbox_entry *e,
                               void *payload);

/* Entries in `state` (NULL: all that are not done), by seq. */
int store_outbox_list(struct store *s, const char *state,
                      store_outbox_cb cb, void *payload);

/* For one source: entries meant for it (target) still pending or in
 * flight, and open conflicts found against it. */
int store_source_counts(struct store *s, const char *source,
                        int64_t *pending_out, int64_t *conflicts_out);

/* Number of entries in `state` (NULL: pending + inflight). */
int store_outbox_count(struct store *s, const char *state, int64_t *out);

/* Move entry `seq` to `state`; `server_message` may be NULL. */
int store_outbox_set_state(struct store *s, int64_t seq, const char *state,
                           const char *server_message);

/* Entries for system `target` (e.g. "121") of `kind` (NULL: any kind) in
 * `state` (NULL: pending and inflight) with a seq above `after_seq`,
 * oldest first, at most `limit` (0: all), leaving out the entries whose
 * origin is `target` itself (a change pulled from a system is not sent
 * back to it). Handed to `cb` as store_outbox_list does (borrowed; the
 * callback may use the store; a non-zero return stops the walk and is
 * returned). ERR_INVALID: empty target, unknown kind or state, negative
 * limit. */
int store_outbox_list_for(struct store *s, const char *target,
                          const char *kind, const char *state,
                          int64_t after_seq, int limit, store_outbox_cb cb,
                          void *payload);

#endif
