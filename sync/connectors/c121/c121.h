/*
 * c121.h - the 121 connector's phases: the wire format of the 121 API
 * (paths, query syntax, bodies, error shapes; ../shared/contracts/121-api.md)
 * turned into records, cursors and per-operation results through the
 * engine's services (sync_ctx.h). The descriptor (c121_connector.c) maps
 * the engine's streams and push kinds onto these phases.
 *
 * Every phase returns PLAT_OK or an ERR_* code with the message set
 * (ERR_RETRY: server unreachable, ERR_AUTH, ERR_INVALID: malformed answer).
 * A phase hands its records over in batches (sync_batch_*), so after a
 * failure everything committed stays and the next cycle resumes from the
 * cursors.
 */
#ifndef C121_H
#define C121_H

#include <stddef.h>
#include <stdint.h>

#include "c121_model.h"
#include "sync_ctx.h"
#include "sync_engine.h"

struct sync_http;
struct cJSON;

/* The connector's state for one cycle (made by cb_init). */
struct c121 {
    struct sync_ctx *ctx;
    struct sync_http *http;
    const struct sync_engine_options *opt;
    int program_id;
    char prefix[64];          /* "/api/programs/<id>"                   */
    char user[256];           /* our 121 user, to tell our events apart */
    int64_t pulled, events;   /* what this cycle counted so far         */
    const char *rec_text;     /* during a c121_record_fn call: the text  */
    size_t rec_len;           /* the record was parsed from; else NULL   */
};

/* The source's name: cursors and state keys of existing stores use it. */
#define C121_SOURCE "121"

/* Add to the source's summary (and to c->pulled / c->events). */
void c121_count(struct c121 *c, int counter, int64_t n);

/* The stored program definition (sync_ctx_program: loaded once per cycle;
 * NULL when none is stored). Borrowed. */
const struct cJSON *c121_program(struct c121 *c);

/* Apply one registration event (c121_apply_event) to the stored server
 * copy of `ref`. ERR_NOTFOUND when it has none. */
int c121_event_apply(struct c121 *c, const char *ref, const char *field,
                     const char *new_value);

/* ---- pull (sync/connectors/c121/pull_*.c) ------------------------------ */

/* Program definition, FSP configurations and message templates, each with
 * If-None-Match on the stored ETag (304: unchanged). */
int c121_pull_program(struct c121 *c);

/* Registrations in large id windows (filter.id=$gt:<last>, sortBy=id:ASC),
 * streamed record by record, committed every opt->batch records with the
 * checkpoint "pull.last_id". Runs when the first pull has not finished, or
 * when opt->full asks for a reconcile (then from id 0). */
int c121_pull_registrations(struct c121 *c);

/* Changes since the last cycle through registration-events (cursor on
 * server time, overlap and dedupe by event id, 404 = none), applied to the
 * server copies; registrations the events are not enough for are re-read
 * by filter.referenceId=$in:, new ones by filter.id=$gt:<max id>. */
int c121_pull_events(struct c121 *c);

/* Payments, their transactions (filter.updated=$gt:), and with
 * opt->vouchers the paper voucher images of the latest payment. */
int c121_pull_payments(struct c121 *c);

/* 121's exchange rates (GET /api/exchange-rates, admin only), kept whole
 * in the source state "exchange-rates" for `agent serve`; asked for at
 * most every 12 h. 403/404 (not an admin) and failures of this request
 * are logged, never returned: only ERR_NOMEM, a cancel or a store error
 * fails the phase. */
int c121_pull_rates(struct c121 *c);

/* ---- push (sync/connectors/c121/push_*.c) ------------------------------ */

/* Pending creates in batches of opt->create_batch (POST /registrations);
 * "referenceId already exists" answers are resolved by asking which exist
 * and sending only the rest. */
int c121_push_creates(struct c121 *c);

/* Pending edits: three-way check per field against the server copy, then
 * PATCH each (few) or CSV bulk updates (many); conflicts recorded. */
int c121_push_edits(struct c121 *c);

/* Pending status changes: grouped by (status, reason), dry run first, then
 * PATCH /registrations/status (DELETE for deleted); confirmed by later
 * pulls. */
int c121_push_status(struct c121 *c);

/* Jobs of kind "program" (`agent kobo program --create`): POST
 * /api/programs exactly once (searched for after a lost answer), then its
 * FSP configurations (push_program.c). */
int c121_push_programs(struct c121 *c);

/* After a pull: in-flight entries whose values the server copy now shows
 * are done; status changes the server skipped are rejected. */
int c121_confirm_inflight(struct c121 *c);

/* ---- shared by pull and push (c121_util.c) ----------------------------- */

/* Re-read registrations by referenceId (GET .../registrations?
 * filter.referenceId=$in:a,b,...&limit=-1, in chunks that keep the URL
 * short) and store their server copies (sync_put_registration). When
 * `found` is not NULL, found[i] is set to 1 for each refs[i] the server
 * returned and 0 otherwise (deleted registrations are not returned). Each
 * chunk is committed on its own: call it outside a store transaction. */
int c121_fetch_by_refs(struct c121 *c, const char *const *refs, size_t n,
                       unsigned char *found);

/* ---- helpers of the pull phases (c121_util.c, pull_registrations.c) ----- */

/* Defaults of the engine options the pull uses. */
#define C121_WINDOW_DEFAULT 250000 /* registrations per request          */
#define C121_BATCH_DEFAULT 1000    /* records per committed batch        */
#define C121_BATCH_MAX 100000      /* cap of opt->batch                  */
#define C121_MAX_RECORD (1u << 20) /* one record of a streamed answer    */
#define C121_REFS_PER_REQUEST 100  /* referenceIds per $in: filter       */

int c121_window(const struct c121 *c);
int c121_batch(const struct c121 *c);
int c121_max_attempts(const struct c121 *c);

/* 1 when opt->cancel asks to stop (the message is then set: ERR_RETRY
 * "cancelled"), else 0. The pull checks it after each committed batch. */
int c121_cancelled(struct c121 *c);

/* Report progress of the pull to opt->progress: `done` units of `total`
 * (0: unknown), with the wire bytes so far. */
void c121_progress(struct c121 *c, int64_t done, int64_t total);

/* Called with each record of a streamed answer, which it owns (keep it or
 * cJSON_Delete it). Return 0 to go on, or an ERR_* (message set). */
typedef int (*c121_record_fn)(void *payload, struct cJSON *rec);

/* GET `path` and hand each element of the array under `key` (NULL: the
 * top-level array) to `fn`, parsed, as it arrives; memory stays bounded
 * by one record (C121_MAX_RECORD). PLAT_OK when a 2xx answer was read to
 * its end. A record that does not parse, or holds an escaped NUL in a
 * string: ERR_INVALID naming <what>, the record not handed on. A 2xx HTML
 * page: ERR_INVALID "... HTML page instead of JSON". A non-2xx answer: the code and message of
 * sync_http_response_err (e.g. ERR_NOTFOUND for 404); *status_out (may be
 * NULL) receives the HTTP status, 0 if there was none. */
int c121_get_records(struct c121 *c, const char *path, const char *key,
                     const char *what, c121_record_fn fn, void *payload,
                     long *status_out);

/* Called with each record's text before it is parsed (`json`, NUL-
 * terminated, borrowed for the call): return C121_TEXT_PARSE to have it
 * parsed and handed to the c121_record_fn as usual (a text the fast path
 * does not take), else 0 or an ERR_* as a c121_record_fn would. */
typedef int (*c121_text_fn)(void *payload, const char *json, size_t len);
#define C121_TEXT_PARSE 1

/* c121_get_records with `text_fn` (may be NULL) seeing each record first:
 * a caller that can check and use the text itself skips the tree. */
int c121_get_texts(struct c121 *c, const char *path, const char *key,
                   const char *what, c121_text_fn text_fn, c121_record_fn fn,
                   void *payload, long *status_out);

/* GET a small JSON answer whole, with If-None-Match when `if_none_match`
 * is not NULL. 2xx: *out is the parsed body (ERR_INVALID if it does not
 * parse); 304: PLAT_OK with *out NULL. Other answers as c121_get_records.
 * `etag_out` (may be NULL; 128 bytes) receives the ETag of a 2xx answer,
 * "" if none. */
int c121_get_json(struct c121 *c, const char *path, const char *if_none_match,
                  const char *what, struct cJSON **out, long *status_out,
                  char *etag_out);

/* Largest answer read whole (c121_get_json and the other small JSON
 * answers: a program definition, the user, message templates, the events
 * of a write window); a real program is tens of KB. The body buffer
 * doubles up to it, so it is also what a hostile answer (endless body,
 * gzip bomb) can cost in memory. Streamed lists have their own caps. */
#define C121_MAX_SMALL_ANSWER ((size_t)4 << 20)

/* 1 and *out when `v` is a JSON number that is a whole number in
 * [lo, hi] (hi at most 2^53), else 0: no float-to-integer cast of what a
 * server sent is made before this check. */
int c121_json_int(const struct cJSON *v, int64_t lo, int64_t hi,
                  int64_t *out);
#define C121_ID_MAX 9007199254740991LL

/* 1 when the JSON text json[0..len) holds "\u0000" inside a string (a
 * NUL that would cut the decoded value short), else 0. */
int c121_json_has_nul(const char *json, size_t len);

/* A moment on the server's clock no later than now: the login time of the
 * current session, from the login answer (c121_http_login_time) or, when
 * that had none, GET /api/users/current (the earlier of lastLogin and
 * expires minus the fixed 33 h token lifetime). Starts the events cursor;
 * the device clock is never used for it. */
int c121_server_time(struct c121 *c, int64_t *ms_out);

/* Walk GET {prefix}/registrations?sortBy=id:ASC&filter.id=$gt:<last>&
 * limit=<window> from `from_id`, storing each record as a server copy and
 * committing every opt->batch records; when `checkpoint` is not NULL the
 * last id of each batch is committed with it. Stored registrations in the
 * walked id ranges that the server no longer shows are marked deleted
 * (sync_mark_gone). A connection dropped mid-answer resumes from the
 * last committed id, up to opt->max_attempts times in a row without a
 * committed batch; a window over the client's response cap (ERR_TOOLARGE)
 * is asked for again with half the limit. *last_out: last committed id;
 * *complete_out: 1 when a window came back short (the walk reached the
 * end). Call it outside a store transaction. */
int c121_walk_registrations(struct c121 *c, int64_t from_id,
                            const char *checkpoint, int64_t *last_out,
                            int *complete_out);

#endif
