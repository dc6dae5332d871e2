/*
 * espo_connector.h - what the files of the espocrm connector share: the
 * per-cycle state and the functions one file calls in another. Not part
 * of any interface: the engine sees only the descriptor
 * (sync_connector_espocrm, espo_connector.c); the pure helpers are in
 * espo.h.
 *
 *   espo_connector.c   descriptor, config keys
 *   espo_config.c      [espocrm] -> struct espo_state, the mapping file
 *   espo_http.c        cb_init, the API key / HMAC hook, requests, errors
 *   espo_pull.c        EspoCRM -> 121: stream "records" (pages by
 *                      modifiedAt), new_records = create
 *   espo_deleted.c     stream "deletions": the id-only walk
 *   espo_push.c        121 -> EspoCRM: partial PUTs of linked records
 *   espo_create.c      create_in_espocrm: new EspoCRM records
 *   espo_record.c      one linked record's values between the two sides
 *   espo_links.c       the linked records (remote ids of kind "record")
 *   espo_status.c      `agent espocrm status`
 *
 * Errors: every int function returns PLAT_OK or an ERR_* code with the
 * message set (plat_err.h): ERR_RETRY transient (server unreachable, 5xx,
 * cancelled), ERR_AUTH key or secret refused (401/403), ERR_CONFIG bad
 * [espocrm] or mapping file, ERR_INVALID malformed answer, ERR_NOMEM. A
 * record EspoCRM or the store refuses alone is not an error: it is noted
 * (espo_note) and counted, and the function returns PLAT_OK. Messages
 * name entity types, EspoCRM ids, referenceIds and attributes, never a
 * value.
 *
 * Memory: cJSON and strings returned through an `out` pointer are the
 * caller's (cJSON_Delete / plat_free); `const` arguments are borrowed.
 */
#ifndef ESPO_CONNECTOR_H
#define ESPO_CONNECTOR_H

#include "espo.h"
#include "sync_ctx.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct plat_buf;
struct sync_ctx;
struct sync_http;
struct sync_http_response;

#define ESPO_KIND "record"      /* remote id kind of a linked record     */
#define ESPO_PUSH_BATCH 200     /* records per push batch                */

/* The auth hook's state: the secrets and the extra headers of the next
 * request (the hook is the only way to add headers). */
struct espo_auth {
    int hmac;
    int raw;
    char *api_key;
    char *secret;
    const char *extra[2];        /* header lines of the current request */
};

struct espo_state {
    struct sync_ctx *ctx;
    struct sync_http *http;
    struct espo_auth *auth;      /* owned by the HTTP client's hook      */
    struct espo_map map;
    char *entity;
    char *ref_field;
    char *select;                /* id,modifiedAt,versionNumber,ref,...  */
    int page;                    /* current page size                    */
    int overlap_s;
    int new_records;             /* 0 ignore, 1 report, 2 create         */
    int program_id;              /* for creates                          */
    struct cJSON *defaults;      /* create_defaults, or NULL             */
    int report_deleted;          /* deleted = report or status           */
    int status_deleted;          /* deleted = status: 121 status deleted */
    int create_in_espo;          /* create_in_espocrm = true             */
    int create_pid;              /* its 121 program                      */
    int reconcile_h;             /* reconcile_hours                      */
};

/* ---- espo_config.c ------------------------------------------------------ */

/* The state from the [espocrm] section and its mapping file, without
 * HTTP (also for espo_status). *out freed with espo_exit. ERR_CONFIG
 * names the key at fault. */
int espo_state_make(struct sync_ctx *ctx, struct espo_state **out);
/* The descriptor's cb_exit (NULL: nothing). */
void espo_exit(void *state);

/* ---- espo_http.c -------------------------------------------------------- */

/* The descriptor's cb_init: the state, and the auth hook (API key or
 * HMAC) installed on the engine's HTTP client, which owns it. */
int espo_init(struct sync_ctx *ctx, void **state_out);

/* One request (`body`: JSON or NULL) with up to two extra header lines
 * (h1, h2: NULL for none). *resp the caller's
 * (sync_http_response_dispose); PLAT_OK whatever the HTTP status. */
int espo_request(struct espo_state *st, const char *method, const char *pq,
                 const char *body, const char *h1, const char *h2,
                 struct sync_http_response *resp);

/* GET the list page `q` (built by the caller with `rc` the result of
 * building it; disposed here) with X-No-Total (EspoCRM need not count
 * the table). A failed build is returned as it is, nothing sent. */
int espo_get_list(struct espo_state *st, int rc, struct plat_buf *q,
                  struct sync_http_response *resp);

/* The error of a non-2xx answer: the X-Status-Reason is the reason shown;
 * 401 and 403 stop the source (ERR_AUTH). `what` names the request. */
int espo_answer_err(const struct sync_http_response *r, const char *what);

/* The answer's body as JSON (caller's); NULL when empty or not JSON. */
struct cJSON *espo_parse_body(const struct sync_http_response *r);

/* ---- espo_record.c ------------------------------------------------------ */

/* Member `k` of `o` if a string (borrowed), else NULL. */
const char *espo_str_of(const struct cJSON *o, const char *k);
/* Member `k` of `o` if a number, else -1. */
int64_t espo_num_of(const struct cJSON *o, const char *k);
/* Set obj[key] = v (taken over; replaces an old member). `v` NULL:
 * ERR_NOMEM, so it can wrap a cJSON constructor. */
int espo_put_json(struct cJSON *obj, const char *key, struct cJSON *v);

/* Queue `changes` (121 form, `base` alongside, NULL on a first link) of
 * EspoCRM record `id` for registration `ref` as a 121 edit and remember
 * them as pending in seen->p; *queued + 1 when the store took it. A
 * refusal of the store (a field 121 does not let change) is noted in
 * pull.rejected: this record alone. Joins the open batch. */
int espo_queue_for_121(struct espo_state *st, const char *id,
                       const char *ref, struct cJSON *changes,
                       struct cJSON *base, struct espo_seen *seen,
                       int64_t *queued);

/* Ready the next linked record of a walk: the previous *seen and *put
 * freed, *seen parsed from `ver` (its espo_seen text, NULL: empty), *put
 * an empty object (the caller's, like *seen). */
int espo_record_start(const char *ver, struct espo_seen *seen,
                      struct cJSON **put);

/* What to write to EspoCRM for one linked record: `put` gets {EspoCRM
 * attribute: value} of the mapped fields whose 121 server copy differs
 * from what EspoCRM last showed. Pending values that 121 now shows (or
 * that no longer apply) leave seen->p (*seen_changed). A record with an
 * open conflict, or not on 121 yet, gets nothing. */
int espo_diff_record(struct espo_state *st, const char *ref,
                     struct espo_seen *seen, struct cJSON *put,
                     int *seen_changed);

/* After a 2xx to a write of `put`: what EspoCRM now holds (`answer`,
 * else what was written) becomes what the agent last saw. */
int espo_seen_after_write(struct espo_seen *seen, const struct cJSON *put,
                          const struct cJSON *answer);

/* ---- espo_links.c ------------------------------------------------------- */

/* One linked record: EspoCRM id, 121 referenceId, espo_seen text. */
struct link {
    char *id, *ref, *ver;
};

struct links {
    struct link *v;
    size_t n, cap;
};

/* sync_remote_ids_list callback: appends to the struct links `payload`
 * (zeroed before the first call; espo_links_free after, also on error). */
int espo_links_collect(const char *id, const char *ref, const char *ver,
                       void *payload);
void espo_links_free(struct links *l);

/* ---- notes (sync_state_append_line) ---------------------------------- */

#define ESPO_REJECTED_KEPT 20

/* Keep `msg` (one line, no value) in state `list` (pull.rejected,
 * push.rejected, pull.unlinked, deleted) that `agent espocrm status`
 * shows: newest last, the last ESPO_REJECTED_KEPT. */
static inline int espo_note(struct sync_ctx *ctx, const char *list,
                            const char *msg)
{
    return sync_state_append_line(ctx, list, msg, ESPO_REJECTED_KEPT);
}

/* ---- the streams and push ----------------------------------------------- */

/* espo_pull.c: the descriptor's cb_pull: stream "records", and
 * "deletions" through espo_reconcile. */
int espo_pull(void *state, struct sync_ctx *ctx, const char *stream);

/* espo_deleted.c: stream "deletions" (every reconcile_hours): linked
 * records an id-only walk does not show and a GET confirms gone are
 * marked deleted and reported. */
int espo_reconcile(struct espo_state *st, struct sync_ctx *ctx);

/* espo_deleted.c: with deleted = status, queue the 121 status change to
 * "deleted" of registration `ref` (EspoCRM record `id`). Nothing when
 * already deleted or not in the store. Joins the open batch. */
int espo_queue_deleted(struct espo_state *st, const char *id,
                       const char *ref);

/* espo_push.c: the descriptor's cb_push (kind "edit"). */
int espo_push(void *state, struct sync_ctx *ctx, const char *kind);

/* espo_push.c: begin a batch unless one is open (*open): ERR_RETRY (no
 * message) when the sync is cancelled, else *open = 1, *in_batch = 0. */
int espo_batch_open(struct sync_ctx *ctx, int *open, size_t *in_batch);

/* espo_create.c: create_in_espocrm: registrations of create_pid newer
 * than the state "create.after" that no record in `links` (every link)
 * is linked to get an EspoCRM record; batches of their own. */
int espo_create_new(struct espo_state *st, struct sync_ctx *ctx,
                    const struct links *links);

#endif
