/*
 * sync_ctx.h - the engine's services to a connector (the only way a
 * connector reaches the store).
 *
 * The engine makes one `struct sync_ctx` per source per cycle and hands it
 * to every callback of that source's descriptor (sync_connector.h). Through
 * it a connector reads its config and what the store holds, hands over
 * records from its system, moves its cursors and reports a result per
 * outbox operation. The engine does every store write: in a batch
 * (sync_batch_begin .. sync_batch_end), records and cursor moves commit
 * together or not at all, so an interrupted pull loses at most one batch
 * of download work and never leaves a cursor ahead of its records.
 *
 * Cursors (checkpoints) are keyed by (source, name); a connector picks its
 * own names ("pull.last_id", "events.cursor", ...). Outbox operations
 * carry the system they are for (target) and the system a change came
 * from (origin): sync_ops_load gives a connector only the operations for
 * its own source, and never one whose origin is that source (no echo).
 *
 * Errors follow plat_err.h: PLAT_OK, or ERR_NOTFOUND where a lookup finds
 * nothing, ERR_INVALID for a malformed record (the message names the
 * field, never a value), ERR_IO / ERR_CORRUPT / ERR_NOMEM from the store.
 *
 * Memory: what a getter returns through an `out` pointer is new and owned
 * by the caller (cJSON_Delete, plat_free, sync_ops_free); what a setter
 * takes is borrowed for the call. Strings returned directly are borrowed
 * from the context and live as long as the cycle.
 *
 * Threads: a context belongs to the thread running the cycle (the daemon
 * runs cycles on a worker thread, one store connection each).
 */
#ifndef SYNC_CTX_H
#define SYNC_CTX_H

#include <stddef.h>
#include <stdint.h>

struct sync_ctx;
struct sync_http;
struct sync_engine_options;
struct cJSON;

/* ---- environment -------------------------------------------------------- */

/* Name of the source this context runs ("121", "kobo", ...). */
const char *sync_ctx_source(const struct sync_ctx *ctx);

/* Value of `key` in the source's config section (defaults applied); NULL
 * when unset. */
const char *sync_ctx_conf(const struct sync_ctx *ctx, const char *key);

/* Engine options of this cycle (direction, full, vouchers, batch sizes,
 * transport limits): read-only. */
const struct sync_engine_options *sync_ctx_options(const struct sync_ctx *ctx);

/* The source's HTTP client, made by the engine from the transport options
 * and the section's "url" (NULL for a source without one). The connector
 * installs its auth hook on it in cb_init. Borrowed. */
struct sync_http *sync_ctx_http(struct sync_ctx *ctx);

/* 1 when the cycle should stop, with the message set: ERR_RETRY "sync
 * cancelled", ERR_RETRY "... over its deadline" (opt->deadline_ms) or
 * ERR_TOOLARGE "... store budget ..." (opt->max_store_growth); else 0.
 * Check it between batches. */
int sync_ctx_cancelled(struct sync_ctx *ctx);

/* Progress of the current stream: `done` units of `total` (0: unknown). */
void sync_ctx_progress(struct sync_ctx *ctx, int64_t done, int64_t total);

/* 1 when a person watches the progress (opt->want_totals, e.g. the status
 * line of `agent sync` on a terminal): a connector may then spend a
 * request on a total (121: a count). */
int sync_ctx_watched(const struct sync_ctx *ctx);

/* Counters of the source's summary (added to). The connector counts
 * what it does; the engine counts only what it decides itself (the
 * conflicts of sync_check_record, the records sync_mark_gone marks). */
enum sync_counter {
    SYNC_COUNT_PULLED = 0,   /* records written from the source         */
    SYNC_COUNT_EVENTS,       /* change events applied                   */
    SYNC_COUNT_PUSHED,       /* operations confirmed done               */
    SYNC_COUNT_SENT,         /* operations sent, awaiting confirmation  */
    SYNC_COUNT_CONFLICTS,    /* conflicts found                         */
    SYNC_COUNT_REJECTED,     /* operations rejected                     */
    SYNC_COUNT_GONE          /* records the source no longer shows      */
};
void sync_ctx_count(struct sync_ctx *ctx, int counter, int64_t n);

/* ---- batches and cursors ----------------------------------------------- */

/* Open a batch (one store transaction). Batches do not nest. */
int sync_batch_begin(struct sync_ctx *ctx);
/* Close it: commit when rc is PLAT_OK, else roll back; returns rc (or the
 * commit's error). */
int sync_batch_end(struct sync_ctx *ctx, int rc);

/* Cursor `name` of this source. Getters: ERR_NOTFOUND when never set (the
 * _i64 form returns `dflt` instead). Setters and delete join the open
 * batch, or commit on their own outside one. */
int sync_cursor_get(struct sync_ctx *ctx, const char *name, char **out);
int sync_cursor_get_i64(struct sync_ctx *ctx, const char *name, int64_t dflt,
                        int64_t *out);
int sync_cursor_set(struct sync_ctx *ctx, const char *name, const char *value);
int sync_cursor_set_i64(struct sync_ctx *ctx, const char *name, int64_t value);
int sync_cursor_delete(struct sync_ctx *ctx, const char *name);

/* Small per-source state outside batches (last seen server time, ...). */
int sync_state_get(struct sync_ctx *ctx, const char *name, char **out);
int sync_state_set(struct sync_ctx *ctx, const char *name, const char *value);
/* Append `line` (one line, no newline) to state `name`, a list of lines
 * (rejected records, ...) that keeps only the newest `keep`. */
int sync_state_append_line(struct sync_ctx *ctx, const char *name,
                           const char *line, size_t keep);

/* ---- the search index during a bulk pull ------------------------------- */

/* Outside a batch. sync_search_defer: writes stop updating the search
 * index until sync_search_rebuild builds it from every row in one
 * transaction (cheaper than row by row for a first pull; searches scan
 * meanwhile). A connector that defers must call sync_search_rebuild on
 * its next run (the 121 connector leaves it to that run, so the first
 * pull ends with its last batch), and whenever it is unsure one is due
 * (it writes nothing when no rebuild is due). The
 * marker lives in the store: see storage/include/store_search.h. */
int sync_search_defer(struct sync_ctx *ctx);
int sync_search_rebuild(struct sync_ctx *ctx);

/* ---- records from the source (join the open batch) -------------------- */

/* Every put below counts the record's bytes against the cycle's store
 * budget (opt->max_store_growth): over it, ERR_TOOLARGE and nothing of
 * that record written (the connector's batch then rolls back). */

/* A program definition (121's GET /programs/{id} body) and its ETag. */
int sync_put_program(struct sync_ctx *ctx, const struct cJSON *program,
                     const char *etag);
int sync_put_templates(struct sync_ctx *ctx, int program_id,
                       const struct cJSON *templates);

/* The server copy of one registration / an array of them: the local view
 * is recomputed with the pending operations re-applied. ERR_INVALID for a
 * malformed object, ERR_CONFLICT when its id is stored under another
 * referenceId. */
int sync_put_registration(struct sync_ctx *ctx, const struct cJSON *reg);
int sync_put_registrations(struct sync_ctx *ctx, const struct cJSON *regs);
/* sync_put_registration with the JSON text `reg` was parsed from (len
 * bytes, no NUL), stored as received instead of printed again. */
int sync_put_registration_text(struct sync_ctx *ctx, const struct cJSON *reg,
                               const char *text, size_t len);

/* Set fields of a stored server copy (changes: field -> JSON value, as the
 * source types them). ERR_NOTFOUND when `ref` has no server copy. */
int sync_set_registration_fields(struct sync_ctx *ctx, const char *ref,
                                 const struct cJSON *changes);

/* A pure edit of a record in place (the connector's own rules, e.g.
 * 121's event application): PLAT_OK or an ERR_* with the message set. */
typedef int (*sync_record_edit_fn)(struct cJSON *record, void *payload);

/* Edit the stored server copy of `ref` with `fn` and recompute the local
 * view. ERR_NOTFOUND when `ref` has no server copy. */
int sync_edit_registration(struct sync_ctx *ctx, const char *ref,
                           sync_record_edit_fn fn, void *payload);

/* Deletion marks: every stored registration of `program_id` whose server
 * id is in (after_id, upto_id] and not in `seen` (ascending) is gone from
 * the source (deleted or out of scope); `gone` turns its server copy into
 * the source's deleted form (121: status deleted, attributes erased).
 * upto_id INT64_MAX: no upper end. *count_out (may be NULL): rows marked. */
int sync_mark_gone(struct sync_ctx *ctx, int program_id, int64_t after_id,
                   int64_t upto_id, const int64_t *seen, size_t n_seen,
                   sync_record_edit_fn gone, void *gone_payload,
                   int64_t *count_out);

int sync_put_payment(struct sync_ctx *ctx, int program_id,
                     const struct cJSON *payment);
int sync_put_transactions(struct sync_ctx *ctx, int program_id,
                          int payment_id, const struct cJSON *transactions);
/* Keep a pulled registration event (for `agent serve`). */
int sync_put_event(struct sync_ctx *ctx, int program_id,
                   const struct cJSON *event);
int sync_put_voucher(struct sync_ctx *ctx, const char *ref, int payment_id,
                     const void *image, size_t len, const char *content_type);

/* Map a record of this source (kind e.g. "submission", "record") to a
 * referenceId, with its remote version or modified time. */
int sync_remote_id_put(struct sync_ctx *ctx, const char *kind,
                       const char *remote_id, const char *ref,
                       const char *remote_version);
/* ERR_NOTFOUND when not mapped. *ref_out and *version_out (may be NULL)
 * allocated. */
int sync_remote_id_get(struct sync_ctx *ctx, const char *kind,
                       const char *remote_id, char **ref_out,
                       char **version_out);

/* Every mapping of `kind` of this source, by remote id (strings borrowed
 * for the call; version may be NULL). Non-zero from `cb` stops the walk
 * and is returned. `cb` must not write mappings of `kind`. */
typedef int (*sync_remote_id_cb)(const char *remote_id, const char *ref,
                                 const char *version, void *payload);
int sync_remote_ids_list(struct sync_ctx *ctx, const char *kind,
                         sync_remote_id_cb cb, void *payload);

/* ---- changes this source makes for another system ----------------------- */

/* Queue the creation of a registration of `program_id` made from a record
 * of this source (a Kobo submission): the local view is made at once and
 * an outbox create is queued with origin = this source and target
 * `target` (e.g. "121"). `fields` as for a device create; `ref` (may be
 * NULL: fields' "referenceId" or a new UUIDv7) is the referenceId. A
 * referenceId that already exists writes nothing: *created_out (may be
 * NULL) is then 0, and the call returns PLAT_OK (a re-pulled record is a
 * no-op). ref_out (may be NULL; SYNC_REF_MAX + 1 bytes) receives the
 * referenceId. Joins the open batch. ERR_INVALID names the field. */
#define SYNC_REF_MAX 200
int sync_queue_create(struct sync_ctx *ctx, const char *target,
                      int program_id, const struct cJSON *fields,
                      const char *ref, char *ref_out, int *created_out);

/* Queue an edit of `ref` from this source for `target`: `changes` maps
 * field -> new value, `base` field -> the value the change was made
 * against (what this source gave last; NULL: the local view), so that the
 * push's three-way check turns a field also changed on `target` into a
 * conflict. Fields whose local value already equals the new one are left
 * out; *changed_out (may be NULL): fields queued (0: nothing written).
 * ERR_NOTFOUND: no such referenceId. Joins the open batch. */
int sync_queue_edit(struct sync_ctx *ctx, const char *target,
                    const char *ref, const struct cJSON *changes,
                    const struct cJSON *base, const char *reason,
                    int *changed_out);

/* Queue a status change of `ref` from this source for `target` (the
 * store does not check the transition: `target` refuses a bad one).
 * ERR_INVALID: "already" that status (nothing written), ERR_NOTFOUND: no
 * such referenceId. Joins the open batch. */
int sync_queue_status(struct sync_ctx *ctx, const char *target,
                      const char *ref, const char *status,
                      const char *reason);

/* ---- reads of what the store holds -------------------------------------- */

/* The stored program of the section's program_id, loaded once per cycle
 * and reloaded after sync_put_program; NULL when none is stored. Borrowed
 * from the context. */
const struct cJSON *sync_ctx_program(struct sync_ctx *ctx);
int sync_get_program(struct sync_ctx *ctx, int program_id,
                     struct cJSON **out, char **etag_out);
/* Server copy of `ref`; ERR_NOTFOUND when the source has not shown it. */
int sync_get_registration(struct sync_ctx *ctx, const char *ref,
                          struct cJSON **out);
/* Local view of `ref` (what people see). */
int sync_get_local(struct sync_ctx *ctx, const char *ref, struct cJSON **out);
int sync_ref_by_server_id(struct sync_ctx *ctx, int64_t id, char **ref_out);
int sync_max_server_id(struct sync_ctx *ctx, int program_id, int64_t *out);
int sync_get_payment(struct sync_ctx *ctx, int program_id, int payment_id,
                     struct cJSON **out);
int sync_latest_payment(struct sync_ctx *ctx, int program_id, int *out);
int sync_transactions_max_updated(struct sync_ctx *ctx, int payment_id,
                                  char *out, size_t out_size);
/* referenceIds of a payment's transactions through `fsp_name` (success or
 * waiting) without a stored voucher image; free with sync_strings_free. */
int sync_vouchers_missing(struct sync_ctx *ctx, int payment_id,
                          const char *fsp_name, char ***refs_out,
                          size_t *n_out);
void sync_strings_free(char **v, size_t n);

/* ---- outbox operations -------------------------------------------------- */

enum sync_op_kind {
    SYNC_OP_CREATE = 0,
    SYNC_OP_EDIT,
    SYNC_OP_STATUS,
    SYNC_OP_MESSAGE,
    SYNC_OP_VOUCHER,
    SYNC_OP_TEMPLATE,
    SYNC_OP_LABEL,
    SYNC_OP_KIND_COUNT
};

enum sync_op_state {
    SYNC_OP_PENDING = 0,
    SYNC_OP_INFLIGHT,
    SYNC_OP_DONE,
    SYNC_OP_CONFLICT,
    SYNC_OP_REJECTED,
    SYNC_OP_STATE_COUNT
};

/* Text of a kind/state as stored ("create", "inflight", ...); parse gives
 * -1 for an unknown text. */
const char *sync_op_kind_name(int kind);
int sync_op_kind_parse(const char *text);
const char *sync_op_state_name(int state);
int sync_op_state_parse(const char *text);

/* One operation copied out of the store. */
struct sync_op {
    int64_t seq;
    int kind;             /* enum sync_op_kind                            */
    int state;            /* enum sync_op_state                           */
    char *ref;
    char *payload_text;
    struct cJSON *payload;
    struct cJSON *base;   /* NULL for a create                            */
    int attempts;
};

struct sync_ops {
    struct sync_op *v;
    size_t n, cap;
};

/* Operations of `kind` for this source in `state` (-1: pending and
 * inflight), seq above `after_seq`, oldest first, at most `limit` (0:
 * all), appended to `out` (zero-initialised by the caller). */
int sync_ops_load(struct sync_ctx *ctx, int kind, int state,
                  int64_t after_seq, int limit, struct sync_ops *out);
void sync_ops_free(struct sync_ops *ops);

/* Indexes of ops->v ordered by (ref, seq); plat_free. NULL: out of
 * memory (message set). */
size_t *sync_ops_order(const struct sync_ops *ops);

/* Number of this source's operations of `ref` of `kind` in `state` (-1:
 * pending and inflight). */
int sync_ops_count_ref(struct sync_ctx *ctx, const char *ref, int kind,
                       int state, int64_t *out);

/* When operation `seq` last changed, epoch ms (device clock: only for
 * "no progress since" decisions, never for a server cursor). */
int sync_op_changed_ms(struct sync_ctx *ctx, int64_t seq, int64_t *ms_out);

/* Report the result of operation `seq` (of registration `ref`): move it
 * to `state` (enum sync_op_state) with `msg` (the source's reason, when
 * rejected; NULL otherwise). When it stops applying (rejected, conflict)
 * the local view of `ref` is recomputed. Joins the open batch. */
int sync_op_settle(struct sync_ctx *ctx, int64_t seq, const char *ref,
                   int state, const char *msg);

/* Settle every operation of `ref` of `kind` in `from` as `to`. */
int sync_op_settle_ref(struct sync_ctx *ctx, const char *ref, int kind,
                       int from, int to, int *count_out);

/* Take `field` out of operation `seq` (a conflict that went the server's
 * way); an operation left with nothing becomes done. */
int sync_op_drop_field(struct sync_ctx *ctx, int64_t seq, const char *field,
                       int *remaining_out);

/* ---- the three-way check ------------------------------------------------ */

/* The engine's decision for the fields of one edit operation, made
 * against `working` (the source's value of each field now; updated with
 * what is to be sent, so a later operation of the same record is checked
 * against the earlier one's result):
 *   - a field whose source value equals the new value: nothing to send;
 *   - source value equal to the base (unchanged there): send;
 *   - changed on both sides, per the field's policy: manual -> a conflict
 *     (reported in `conflicts`, recorded by sync_check_record); server
 *     wins -> dropped from the operation at once, with an audit record;
 *     device wins -> sent, with an audit record in `wins`.
 * Values compare with the connector's same_value helper. */
struct sync_check {
    struct cJSON *send;       /* {field: value} to send; NULL: nothing   */
    struct cJSON *conflicts;  /* [[field, base, local, source], ...]     */
    struct cJSON *wins;       /* same shape: device-wins, for the audit  */
    int dropped;              /* fields dropped by server-wins           */
};

/* `data` and `base` are the operation's new values and base values;
 * `source_copy` is the record as the source holds it (for the audit
 * trail). Joins the open batch (server-wins drops write). */
int sync_check_fields(struct sync_ctx *ctx, const struct sync_op *op,
                      const struct cJSON *data, const struct cJSON *base,
                      struct cJSON *working, const struct cJSON *source_copy,
                      struct sync_check *out);
void sync_check_dispose(struct sync_check *chk);

/* Record what a check (or the connector's post-write window check) found
 * for operation `op`: every quad of chk->conflicts as an open conflict
 * (the operation becomes conflict when it has one), every quad of
 * chk->wins as a resolved audit record. Joins the open batch. */
int sync_check_record(struct sync_ctx *ctx, const struct sync_op *op,
                      const struct sync_check *chk);

/* One conflict of operation `seq` on `field` (values as cJSON, NULL =
 * null); auto_resolution NULL = open, "local"/"server" = settled by a
 * policy (audit record). Joins the open batch. */
int sync_conflict_add(struct sync_ctx *ctx, int64_t seq, const char *ref,
                      const char *field, const struct cJSON *base,
                      const struct cJSON *local, const struct cJSON *source,
                      const char *auto_resolution);

/* Recompute the local view of `ref` (server copy + the operations still
 * pending or in flight), e.g. after settling an operation done whose value
 * the server no longer holds. Joins the open batch. */
int sync_refresh_view(struct sync_ctx *ctx, const char *ref);

/* As sync_conflict_add, unless operation `seq` already has a conflict on
 * `field` (then nothing is added). */
int sync_conflict_add_once(struct sync_ctx *ctx, int64_t seq, const char *ref,
                           const char *field, const struct cJSON *base,
                           const struct cJSON *local,
                           const struct cJSON *source);

/* enum sync_policy of `field` for this source. */
int sync_field_policy(struct sync_ctx *ctx, const char *field);

/* The connector's same_value for `field` (with the stored program). */
int sync_same_value(struct sync_ctx *ctx, const char *field,
                    const struct cJSON *a, const struct cJSON *b);

/* Set obj[key] to a copy of `value` (NULL: null), replacing an existing
 * member. PLAT_OK or ERR_NOMEM. */
int sync_json_set(struct cJSON *obj, const char *key,
                  const struct cJSON *value);

/* ---- jobs: one-off requests a command queued for this source ------------ */

/* A job of table jobs (storage/include/store_jobs.h): `agent kobo program
 * --create` (kind "program", for 121) or `agent kobo validation-csv
 * --upload` (kind "media", for Kobo). Copied out of the store: owned by
 * the struct sync_jobs it is in. */
struct sync_job {
    int64_t id;
    char *request_key;        /* the marker of this request              */
    char *kind;
    char *asset;
    char *state;              /* "pending" or "inflight"                 */
    char *step;               /* last step known done ("" none)          */
    struct cJSON *payload;
    struct cJSON *result;     /* object (empty when none yet)            */
    void *body;               /* file bytes or NULL                      */
    size_t body_len;
    int attempts;
};

struct sync_jobs {
    struct sync_job *v;
    size_t n;
};

/* This source's open jobs of `kind`, oldest first, into `out`
 * (zero-initialised by the caller; sync_jobs_free). ERR_CORRUPT when a
 * stored payload is not JSON. */
int sync_jobs_load(struct sync_ctx *ctx, const char *kind,
                   struct sync_jobs *out);
void sync_jobs_free(struct sync_jobs *jobs);

/* Record the progress of job `id`: `state` ("inflight", "done",
 * "rejected", "pending"), `step` (NULL: unchanged), `result` (NULL:
 * unchanged), `msg` (the reason of a rejection; NULL otherwise). Commits
 * on its own (outside a batch) or joins the open batch. */
int sync_job_update(struct sync_ctx *ctx, int64_t id, const char *state,
                    const char *step, const struct cJSON *result,
                    const char *msg);
/* ---- attachments of this source's records (store_attachments.h) -------- */

/* One attachment row (strings borrowed; see store_attachments.h for the
 * states: missing, pending, stored, toolarge, failed). `source` is always
 * this context's source. */
struct sync_att {
    const char *remote_id;    /* the record, e.g. "<asset>:<_id>"        */
    const char *question;     /* the media question answered             */
    const char *uid;          /* the source's attachment id; "" unknown  */
    const char *ref;          /* the registration it belongs to          */
    const char *name;         /* file name as answered                   */
    const char *mimetype;
    const char *url;
    const char *state;
    const char *error;
    int64_t size;             /* -1: nothing stored                      */
    int attempts;
};

/* Note an attachment of a record (state "missing" or "pending"): the same
 * uid keeps bytes already stored, another uid replaces them. Joins the
 * open batch. */
int sync_att_note(struct sync_ctx *ctx, const struct sync_att *a);
/* Store the downloaded bytes (state stored); counted against the cycle's
 * store budget. Joins the open batch. */
int sync_att_set_data(struct sync_ctx *ctx, const char *remote_id,
                      const char *question, const void *data, size_t len);
/* Set a row's state with a reason naming no value; count_attempt 1: one
 * more failed try. Joins the open batch. */
int sync_att_set_state(struct sync_ctx *ctx, const char *remote_id,
                       const char *question, const char *state,
                       const char *error, int count_attempt);
/* This source's rows in `state` whose remote_id starts with `prefix`
 * (NULL: any) and with fewer than max_attempts failed tries (0: any).
 * `cb` must not write attachments; non-zero from it stops the walk. */
typedef int (*sync_att_cb)(const struct sync_att *a, void *payload);
int sync_att_list(struct sync_ctx *ctx, const char *state, const char *prefix,
                  int max_attempts, sync_att_cb cb, void *payload);

/* ---- a bulk writer's hint ----------------------------------------------- */

/* Hold `kib` KiB of store pages in memory for this cycle's connection
 * (e.g. a first import whose records land on random pages of several
 * indexes: with the default cache they are read again and again); the
 * size it replaces goes to *old_kib (may be NULL) for the restore. No
 * effect on durability. */
int sync_store_cache_kib(struct sync_ctx *ctx, int kib, int *old_kib);

#endif
