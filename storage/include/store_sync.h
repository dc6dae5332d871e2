/*
 * store_sync.h - what the sync engine needs from the store beyond the
 * registration writes of store_registrations.h: checkpoints, id mapping,
 * applying server events, payments, transactions, vouchers, and the push
 * side's outbox and conflict bookkeeping, ids in other systems. The store
 * holds no rules of any system: what an event does to a record is the
 * connector's (c121_model.h), passed in as an edit function.
 *
 * Every function joins an open transaction (store_begin) or runs in its own,
 * so the puller can commit a batch of rows together with its checkpoint.
 * Errors: ERR_NOTFOUND where a lookup finds nothing, ERR_INVALID for a
 * malformed server object (the message names the field, never a value),
 * ERR_IO / ERR_CORRUPT from the database.
 */
#ifndef STORE_SYNC_H
#define STORE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "store_outbox.h"

struct store;
struct cJSON;

/* ---- checkpoints (table sync_checkpoints) ------------------------------ */

/* *out allocated (caller frees); ERR_NOTFOUND when never set. */
int store_checkpoint_get(struct store *s, const char *source,
                         const char *name, char **out);
int store_checkpoint_set(struct store *s, const char *source,
                         const char *name, const char *value);
int store_checkpoint_get_i64(struct store *s, const char *source,
                             const char *name, int64_t dflt, int64_t *out);
int store_checkpoint_set_i64(struct store *s, const char *source,
                             const char *name, int64_t value);
int store_checkpoint_delete(struct store *s, const char *source,
                            const char *name);

/* ---- registrations, server side ---------------------------------------- */

/* The referenceId of the registration with 121 id `id` (allocated).
 * ERR_NOTFOUND if no pulled registration has that id. */
int store_reg_ref_by_id(struct store *s, int64_t id, char **ref_out);

/* Largest 121 id pulled for `program_id` (0 if none). */
int store_reg_max_server_id(struct store *s, int program_id, int64_t *out);

/* The server copy of `ref` as a new object; ERR_NOTFOUND if the server
 * has not shown it to us yet. */
int store_reg_server_get(struct store *s, const char *ref,
                         struct cJSON **out);

/* Edit the server copy of `ref` with `fn`: load it, call fn(reg,
 * payload), which changes `reg` in place (returns PLAT_OK or a negative
 * ERR_* with its message, e.g. c121_apply_event through an adapter), save
 * it, and recompute the local view (pending operations re-applied). A
 * failing `fn` leaves the copy as it was. Joins an open transaction.
 * ERR_NOTFOUND if `ref` has no server copy; ERR_INVALID if `fn` is NULL;
 * what `fn` returns. The store knows no rules of the record's system. */
int store_reg_server_edit(struct store *s, const char *ref,
                          int (*fn)(struct cJSON *reg, void *payload),
                          void *payload);

/* Set several fields of the server copy of `ref` at once: `changes` maps
 * field -> JSON value (copied as given, null included). The local view is
 * recomputed as for store_reg_server_edit. ERR_NOTFOUND if `ref` has no
 * server copy; ERR_INVALID if `changes` is not an object or names
 * referenceId, programId or id. */
int store_reg_server_set(struct store *s, const char *ref,
                         const struct cJSON *changes);

/* For a walk of GET /registrations (sortBy=id:ASC, filter.id=$gt:): the
 * server has just shown every live registration of `program_id` whose 121
 * id is in (after_id, upto_id], and their ids are `seen` (ascending,
 * n_seen). Every other registration of that program and id range whose
 * server copy does not have status "deleted" yet is gone from the server
 * (deleted, or out of the user's scope): each such server copy is edited
 * by `gone` (as store_reg_server_edit; the 121 connector passes
 * c121_mark_deleted), which must leave it with status "deleted" for the
 * next walk to skip it. upto_id INT64_MAX means no upper end (the walk
 * reached the end). Joins an open transaction; all rows or none.
 * ERR_INVALID if `gone` is NULL. *count_out (may be NULL): rows marked. */
int store_reg_mark_gone(struct store *s, int program_id, int64_t after_id,
                        int64_t upto_id, const int64_t *seen, size_t n_seen,
                        int (*gone)(struct cJSON *reg, void *payload),
                        void *gone_payload, int64_t *count_out);

/* ---- ids in other systems (table remote_ids) --------------------------- */

/* Map the record `remote_id` of kind `kind` (e.g. "submission") in system
 * `system` (e.g. "kobo") to registration `ref`, with that system's version
 * of it (`version` may be NULL). Replaces an existing mapping. All strings
 * but `version` non-empty (ERR_INVALID). Joins an open transaction. */
int store_remote_id_put(struct store *s, const char *system,
                        const char *kind, const char *remote_id,
                        const char *ref, const char *version);

/* The referenceId (and version, NULL when none was stored) mapped to
 * (system, kind, remote_id), allocated (plat_free); either out pointer
 * may be NULL. ERR_NOTFOUND if there is no such mapping. */
int store_remote_id_get(struct store *s, const char *system,
                        const char *kind, const char *remote_id,
                        char **ref_out, char **version_out);

/* Called per mapping of store_remote_id_list; strings borrowed for the
 * call (version may be NULL). Non-zero stops the walk (returned). */
typedef int (*store_remote_id_cb)(const char *remote_id, const char *ref,
                                  const char *version, void *payload);

/* Every mapping of (system, kind), by remote id. The callback must not
 * write remote_ids of (system, kind) (collect first, write after). */
int store_remote_id_list(struct store *s, const char *system,
                         const char *kind, store_remote_id_cb cb,
                         void *payload);

/* ---- payments, transactions, vouchers ---------------------------------- */

int store_payment_put(struct store *s, int program_id,
                      const struct cJSON *payment);
/* Store each element of the array `transactions` (121 transactions), in
 * one change (all or none). */
int store_transactions_put(struct store *s, int program_id, int payment_id,
                           const struct cJSON *transactions);
/* Latest `updated` of the stored transactions of a payment, or "" (out is
 * a buffer of at least 32 bytes). */
int store_transaction_max_updated(struct store *s, int payment_id,
                                  char *out, size_t out_size);
int store_voucher_put(struct store *s, const char *ref, int payment_id,
                      const void *image, size_t len,
                      const char *content_type);

/* Keep one registration event of 121 (an object of GET
 * .../registration-events with a numeric "id"; replaced if stored),
 * for `agent serve`. ERR_INVALID without an id. */
int store_event_put(struct store *s, int program_id,
                    const struct cJSON *event);

/* The stored payment as a new object; ERR_NOTFOUND if not stored. */
int store_payment_get(struct store *s, int program_id, int payment_id,
                      struct cJSON **out);
/* Highest stored paymentId of the program (0 if none). */
int store_payment_latest(struct store *s, int program_id, int *out);
/* The referenceIds of the transactions of `payment_id` paid through FSP
 * `fsp_name` (e.g. "Intersolve-voucher-paper") in status success or
 * waiting whose voucher image is not stored yet. *refs_out is an array of
 * *n_out allocated strings (NULL when none); free with store_strings_free. */
int store_voucher_missing(struct store *s, int payment_id,
                          const char *fsp_name, char ***refs_out,
                          size_t *n_out);
void store_strings_free(char **v, size_t n);

/* ---- push side ---------------------------------------------------------- */

/* Mark every outbox entry of `ref` of kind `kind` in state `from_state` as
 * `to_state` (e.g. a pending create becomes done once the server has it).
 * *count_out (may be NULL) receives the number changed. */
int store_outbox_set_state_by_ref(struct store *s, const char *ref,
                                  const char *kind, const char *from_state,
                                  const char *to_state, int *count_out);

/* One conflict by id (open or resolved: see "state"), as a new JSON
 * object {id, referenceId, field, base, local, server, outboxSeq, state,
 * source}; base, local and server are the JSON values, source the system
 * the server value came from ("121"). ERR_NOTFOUND if none. */
int store_conflict_get(struct store *s, int64_t id, struct cJSON **out);

/* Resolve conflict `id`: `how` is "local" (keep the device's value: a new
 * pending edit entry with base = the server value, so the next push sends
 * it), "server" (take the server value: the field is taken out of the
 * conflicting entry and the local view follows the server copy; when the
 * server copy no longer holds that value, e.g. a conflict found after our
 * own write, a new pending entry writes it back) or "value" (a new
 * pending edit entry with `value_json`). A status conflict makes a status
 * entry instead (store_reg_set_status rules apply: the store does not check
 * the 121 transition, so the caller checks it first with
 * c121_status_transition_allowed). No entry is made when
 * the view already shows the chosen value, nor (an edited field, "local"
 * or "value") when the server copy holds it and no edit of the field is in
 * flight: the device's later unsent edits of that field are superseded by
 * the resolution and lose the field, so the value is written once. The conflict becomes resolved
 * (resolution, resolved_value, resolved_at) and its outbox entry, once no
 * open conflict refers to it, done; all in one transaction. ERR_NOTFOUND
 * (no such conflict), ERR_INVALID (already resolved, bad `how`, value not
 * JSON, status "already" the chosen one). */
int store_conflict_resolve(struct store *s, int64_t id, const char *how,
                           const char *value_json);

/* Number of entries of `ref` of `kind` in `state` (NULL: pending and
 * inflight). */
int store_outbox_count_ref(struct store *s, const char *ref,
                           const char *kind, const char *state,
                           int64_t *out);

/* When entry `seq` last changed (state or content), as epoch ms. */
int store_outbox_changed_ms(struct store *s, int64_t seq, int64_t *ms_out);

/* Take `field` out of entry `seq` (a conflict that went the server's
 * way): from payload.data and base of an edit; for a status entry,
 * "status" is its whole change. An entry left with nothing becomes done.
 * Entries already done or rejected are left as they are (audit trail).
 * The local view of the registration is recomputed. *remaining_out (may
 * be NULL) receives the number of fields left. One transaction. */
int store_outbox_drop_field(struct store *s, int64_t seq, const char *field,
                            int *remaining_out);

/* Recompute the local view of `ref` from its server copy and the entries
 * that still apply (pending and inflight), e.g. after an entry became
 * rejected or conflict. No-op while there is no server copy. */
int store_reg_refresh_view(struct store *s, const char *ref);

/* Record a conflict that a field policy settled at once, for the audit
 * trail: stored resolved, with `resolution` "local" (device wins) or
 * "server" (server wins) and the winning value as resolved_value. */
int store_conflict_add_resolved(struct store *s, const char *source,
                                int64_t outbox_seq,
                                const char *ref, const char *field,
                                const char *base_json, const char *local_json,
                                const char *server_json,
                                const char *resolution, int64_t *id_out);

#endif
