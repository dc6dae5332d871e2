/*
 * store_attachments.h - files attached to records of a source (a Kobo
 * submission's photo, document, audio), kept as blobs in the store (table
 * `attachments`, migration 0008) so that an encrypted store covers them.
 *
 * One row per (source, remote_id, question): the record ("<asset>:<_id>"),
 * the answered media question, the source's attachment id (uid), the
 * registration it belongs to (reference_id), the file name, type, where
 * the source serves it, the state (see 0008_attachments.sql: missing,
 * pending, stored, toolarge, failed), the bytes once stored.
 *
 * Every write joins an open transaction (store_begin) or runs on its own.
 * Errors: plat_err.h (ERR_INVALID names the argument, ERR_NOTFOUND, ERR_IO,
 * ERR_NOMEM ...). Messages never hold a file name (it may name a person):
 * they name the record and the question.
 */
#ifndef STORE_ATTACHMENTS_H
#define STORE_ATTACHMENTS_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* One row. Strings borrowed (from the caller, or from the store for the
 * duration of a callback); NULL where unknown. */
struct store_att {
    const char *source;
    const char *remote_id;
    const char *question;
    const char *uid;          /* "" when not listed yet (state missing)  */
    const char *ref;
    const char *name;
    const char *mimetype;
    const char *url;
    const char *state;
    const char *error;
    const char *updated_at;
    int64_t size;             /* -1: nothing stored                      */
    int attempts;             /* failed tries of the current uid         */
    const void *data;         /* the bytes (list calls with data only)   */
};

/* Note an attachment (metadata; `state` "missing" or "pending"). A row of
 * the same question with the same non-empty uid keeps its bytes and a
 * state stored/toolarge; another uid replaces it (bytes dropped, attempts
 * reset). */
int store_att_note(struct store *s, const struct store_att *a);

/* Store the bytes of a row: state stored, size len, error cleared.
 * ERR_NOTFOUND when there is no such row. */
int store_att_set_data(struct store *s, const char *source,
                       const char *remote_id, const char *question,
                       const void *data, size_t len);

/* Set the state of a row (e.g. "failed" with `error`, "toolarge");
 * count_attempt 1 adds one to attempts. */
int store_att_set_state(struct store *s, const char *source,
                        const char *remote_id, const char *question,
                        const char *state, const char *error,
                        int count_attempt);

/* Rows of `source` in `state`, whose remote_id starts with `prefix` (NULL:
 * any), with fewer than max_attempts failed tries (0: no limit), ordered
 * by remote_id and question, without bytes. Non-zero from `cb` stops the
 * walk and is returned. `cb` must not write attachments (gather, then
 * write). */
typedef int (*store_att_cb)(const struct store_att *a, void *payload);
int store_att_list(struct store *s, const char *source, const char *state,
                   const char *prefix, int max_attempts, store_att_cb cb,
                   void *payload);

/* Rows of registration `ref`, by question; with_data 1 also hands over
 * the bytes (a->data, a->size). */
int store_att_list_ref(struct store *s, const char *ref, int with_data,
                       store_att_cb cb, void *payload);

#endif
