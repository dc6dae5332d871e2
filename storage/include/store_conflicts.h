/*
 * store_conflicts.h - fields changed both on the device and on the server.
 *
 * A conflict keeps base, local and server values of one field of one
 * registration and stays open until a person resolves it. Filled by the sync
 * engine; listed and resolved from the CLI. `source` names the system whose
 * value conflicted with the device's ("121" unless recorded otherwise).
 */
#ifndef STORE_CONFLICTS_H
#define STORE_CONFLICTS_H

#include <stdint.h>

struct store;

struct store_conflict {
    int64_t id;
    int64_t outbox_seq;         /* the local operation in conflict (0: none) */
    const char *reference_id;
    const char *field;
    const char *base_value;     /* JSON text, may be "null" */
    const char *local_value;
    const char *server_value;
    const char *state;          /* open, resolved */
    const char *resolution;     /* local, server, value; NULL while open */
    const char *created_at;
    const char *source;         /* system of the server value ("121")    */
};

typedef int (*store_conflict_cb)(const struct store_conflict *c,
                                 void *payload);

/* Conflicts in `state` ("open", "resolved"; NULL: all), oldest first. */
int store_conflict_list(struct store *s, const char *state,
                        store_conflict_cb cb, void *payload);

/* Record a conflict found against system `source` ("121", "kobo", ...);
 * *id_out (may be NULL) receives its id. */
int store_conflict_add(struct store *s, const char *source,
                       int64_t outbox_seq, const char *ref,
                       const char *field, const char *base_json,
                       const char *local_json, const char *server_json,
                       int64_t *id_out);

/* *out = 1 if a conflict (open or resolved) of outbox entry `outbox_seq`
 * on `field` is recorded, else 0. */
int store_conflict_exists(struct store *s, int64_t outbox_seq,
                          const char *field, int *out);

#endif
