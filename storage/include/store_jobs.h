/*
 * store_jobs.h - one-off requests a command queues for the next sync of a
 * source (table jobs, migration 0007): `agent kobo program --create`
 * (kind "program", target "121": POST /api/programs, then its FSP
 * configurations) and `agent kobo validation-csv --upload` (kind "media",
 * target "kobo": replace the form's media file, then redeploy).
 *
 * A job is not a registration change, so it is not in the outbox: it has
 * no referenceId, several steps, and a result (the new program id). States:
 * pending -> inflight (a step was sent and its answer may be lost) -> done
 * | rejected (the server refused it; `message` says why). `step` names the
 * last step that is known to have happened; `result` is a JSON object the
 * steps fill in. `request_key` is random and unique: it is the marker that
 * finds the request's effect on the server after a lost answer.
 *
 * Memory: the strings of a struct store_job are borrowed for the callback.
 * Errors: ERR_INVALID (bad argument), ERR_EXISTS (request_key used),
 * ERR_NOTFOUND (no such job), ERR_IO / ERR_CORRUPT from the database.
 */
#ifndef STORE_JOBS_H
#define STORE_JOBS_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct store_job {
    int64_t id;
    const char *request_key;
    const char *kind;          /* "program", "media"                      */
    const char *target;        /* "121", "kobo"                           */
    const char *asset;         /* the Kobo form it came from              */
    const char *payload;       /* JSON text                               */
    const void *body;          /* file bytes or NULL                      */
    size_t body_len;
    const char *state;         /* pending, inflight, done, rejected       */
    const char *step;          /* "" before the first step                */
    const char *result;        /* JSON text or NULL                       */
    const char *message;       /* why it was rejected, or NULL            */
    int attempts;
    const char *created_at;
    const char *updated_at;
};

typedef int (*store_job_cb)(const struct store_job *j, void *payload);

/* Queue a job (state pending). *id_out may be NULL. */
int store_job_add(struct store *s, const char *kind, const char *target,
                  const char *asset, const char *request_key,
                  const char *payload, const void *body, size_t body_len,
                  int64_t *id_out);

/* Jobs by id; `target` and `kind` NULL: any; `open_only` 1: pending and
 * inflight only. A non-zero return of `cb` stops the walk and is
 * returned. */
int store_job_list(struct store *s, const char *target, const char *kind,
                   int open_only, store_job_cb cb, void *payload);

/* Move job `id` to `state` with `step` (NULL: unchanged), `result` (NULL:
 * unchanged) and `message` (NULL: cleared); `attempt` 1 counts a try. */
int store_job_update(struct store *s, int64_t id, const char *state,
                     const char *step, const char *result,
                     const char *message, int attempt);

/* Number of pending and inflight jobs (all targets). */
int store_job_count_open(struct store *s, int64_t *out);

#endif
