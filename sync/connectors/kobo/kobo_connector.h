/*
 * kobo_connector.h - what the files of the kobo connector share: the
 * per-cycle state and the functions one file calls in another. Not part
 * of any interface: the engine sees only the descriptor
 * (sync_connector_kobo, kobo_connector.c).
 *
 *   kobo_connector.c          descriptor, config keys, streams routed
 *   kobo_config.c             [kobo] -> struct kobo_state, token hook
 *   kobo_http.c               GET + JSON answers, data pages
 *   kobo_pull_submissions.c   key-set pull (+ page prefetch thread)
 *   kobo_pull_edits.c         the edit scan
 *   kobo_deleted.c            submissions the complete scan no longer shows
 *   kobo_import.c             one submission -> create / edit, batches
 *   kobo_validation.c         a validation form's submission -> edit + status
 *   kobo_rejected.c           state "rejected"
 *
 * Errors: every int function returns PLAT_OK or an ERR_* code with the
 * message set (plat_err.h): ERR_RETRY transient (server unreachable, 5xx,
 * cancelled), ERR_AUTH token refused, ERR_CONFIG bad [kobo] or unknown
 * form, ERR_INVALID malformed answer, ERR_NOMEM. A submission that cannot
 * be mapped or queued is not an error: it goes to the rejected list and
 * the function returns PLAT_OK. Messages name forms, _ids and
 * referenceIds, never an answer.
 *
 * Memory: cJSON and strings returned through an `out` pointer are the
 * caller's (cJSON_Delete / plat_free) unless the comment says borrowed.
 */
#ifndef KOBO_CONNECTOR_H
#define KOBO_CONNECTOR_H

#include "kobo_attach.h"
#include "kobo_map.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct sync_ctx;
struct sync_http_response;

#define KOBO_IN_CHUNK 100          /* _ids per {"$in": [...]} re-read */
#define KOBO_TARGET "121"

struct kobo_form {
    char *asset;
    int program_id;
    char *mapping_path;
    struct kobo_mapping *map;
    int fresh;                     /* cursor was 0 when this cycle began */
    struct kobo_media media;       /* the form's media questions          */
};

struct kobo_state {
    struct kobo_form *forms;
    size_t n_forms;
    int page;
    char *fsp;
    int edits_on;
    int report_deleted;            /* [kobo] deleted = report            */
    struct cJSON *rejected;        /* state "rejected", loaded per stream */
    int rej_dirty;
    struct kobo_att_conf att;      /* attachments (kobo_attach.h)         */
    int remap;                     /* kobo_import_one: map a submission
                                      again even when its _uuid is
                                      unchanged (a late attachment gives
                                      its URL)                          */
};

/* What a batch did, added to the per-form counters by
 * kobo_commit_batch. */
struct kobo_counts {
    int64_t imported, edits, rejected, skipped, validated;
};

/* ---- kobo_config.c ------------------------------------------------------ */

/* The descriptor's cb_init: reads [kobo] (assets, mapping files, page
 * size, attachments), installs the token hook on the engine's HTTP
 * client. *state_out: a struct kobo_state, freed by kobo_exit. */
int kobo_init(struct sync_ctx *ctx, void **state_out);
void kobo_exit(void *state);

/* ---- kobo_http.c -------------------------------------------------------- */

/* Turn the answer `resp` (of a GET that returned `rc`) into JSON: 401/403
 * ERR_AUTH, 404 ERR_CONFIG (form `asset` unknown), 5xx ERR_RETRY, a body
 * that is not JSON ERR_INVALID. *out: the parsed body (caller's). The
 * response stays the caller's. */
int kobo_decode_json(int rc, struct sync_http_response *resp,
                     const char *asset, const char *what,
                     struct cJSON **out);

/* GET `path` and parse the JSON answer (as kobo_decode_json). */
int kobo_get_json(struct sync_ctx *ctx, const char *path, const char *asset,
                  const char *what, struct cJSON **out);

/* The "results" array of data page *doc (borrowed from it), each
 * submission pruned to what the import reads when `prune` is given;
 * *count_out: the page's "count" or -1. A page without results: *doc
 * freed and NULL, ERR_INVALID. */
int kobo_page_results(struct cJSON **doc, const char *asset,
                      const struct kobo_form *prune,
                      struct cJSON **results_out, int64_t *count_out);

/* GET one data page (kobo_data_path: after `after`, or the `n_ids` ids,
 * `limit` rows, only the scan's fields when `fields`): *doc_out the
 * caller's, *results_out borrowed from it. */
int kobo_get_page(struct sync_ctx *ctx, const char *asset, int64_t after,
                  const int64_t *ids, size_t n_ids, int limit, int fields,
                  const struct kobo_form *prune, struct cJSON **doc_out,
                  struct cJSON **results_out, int64_t *count_out);

/* ---- kobo_rejected.c: state "rejected" ({"<asset>:<_id>": entry}) ------- */

/* Load the list into st->rejected (an empty object when none is stored
 * or the stored text is not an object). */
int kobo_rejected_load(struct kobo_state *st, struct sync_ctx *ctx);
/* Store it when changed (joins the open batch). */
int kobo_rejected_save(struct kobo_state *st, struct sync_ctx *ctx);
/* Forget entry `key` (it imported, or was skipped). */
void kobo_rejected_drop(struct kobo_state *st, const char *key);
/* Note entry `key` with the reason `why` (names no answer); `edit`: the
 * submission was imported before. Replaces an older entry. */
int kobo_rejected_note(struct kobo_state *st, const char *key,
                       const char *asset, int64_t id, const char *uuid,
                       const char *ref, const char *why, int edit);
/* The store refused the create or edit of submission `key` (ERR_INVALID,
 * or ERR_NOTFOUND for an edit, set just before): kobo_rejected_note with
 * that message as the reason (it names the attribute, never a value),
 * the error cleared, c->rejected counted. */
int kobo_rejected_refused(struct kobo_state *st, struct kobo_counts *c,
                          const char *key, const char *asset, int64_t id,
                          const char *uuid, const char *ref, int edit);

/* ---- kobo_import.c ------------------------------------------------------ */

/* Submission `key` (`uuid`, mapped to `fields`) imported as registration
 * `ref`: its remote version "<uuid> <fields as JSON>" kept (the edit
 * scan and the next edit's base read it), its rejected entry dropped.
 * Joins the open batch. */
int kobo_mark_imported(struct kobo_state *st, struct sync_ctx *ctx,
                       const char *key, const char *ref, const char *uuid,
                       const struct cJSON *fields);

/* Import submission `sub` of form `f` inside the open batch: new -> a
 * create; known with another _uuid -> an edit of the changed fields; a
 * validation form's -> kobo_import_validation; a mapping failure -> the
 * rejected list. `is_new`: above the cursor, so never imported (no
 * lookup). `program`: the form's stored 121 program (borrowed, may be
 * NULL). */
int kobo_import_one(struct kobo_state *st, struct sync_ctx *ctx,
                    struct kobo_form *f, const struct cJSON *program,
                    const struct cJSON *sub, int is_new,
                    struct kobo_counts *c);

/* Commit the open batch with the counters `c` (then zeroed), the rejected
 * list and, when `last_id` > 0, the cursor "<asset>.last_id". The batch
 * is ended either way. */
int kobo_commit_batch(struct kobo_state *st, struct sync_ctx *ctx,
                      const struct kobo_form *f, int64_t last_id,
                      struct kobo_counts *c);

/* Re-read submissions `ids` (n <= KOBO_IN_CHUNK) of form `f` and import
 * them, in one batch of their own. */
int kobo_reread(struct kobo_state *st, struct sync_ctx *ctx,
                struct kobo_form *f, const struct cJSON *program,
                const int64_t *ids, size_t n);

/* The stored 121 program `pid` (caller's), NULL when it is not stored. */
struct cJSON *kobo_load_program(struct sync_ctx *ctx, int pid);

/* ---- kobo_validation.c -------------------------------------------------- */

/* A new submission of a validation form (kobo-connect's /kobo-update-121)
 * naming registration `target` ("" when unanswered: rejected): its
 * answers become an edit of that registration and, unless
 * `skip_validation`, a status change to validated, queued together in
 * the open batch. */
int kobo_import_validation(struct kobo_state *st, struct sync_ctx *ctx,
                           struct kobo_form *f, const struct cJSON *program,
                           const struct cJSON *sub, const char *key,
                           int64_t id, const char *uuid, const char *target,
                           int skip_validation, struct kobo_counts *c);

/* ---- the streams -------------------------------------------------------- */

/* kobo_pull_submissions.c: stream "submissions" of form `f`: entries
 * marked for retry, then the key-set pull (_id > cursor), one batch per
 * page committed with its cursor. ERR_RETRY while the form's 121 program
 * is not stored. */
int kobo_pull_submissions(struct kobo_state *st, struct sync_ctx *ctx,
                          struct kobo_form *f);

/* kobo_pull_edits.c: stream "edits" of form `f`: the cheap scan up to the
 * cursor; changed submissions re-read; with report_deleted, the complete
 * scan goes to kobo_note_deleted. */
int kobo_pull_edits(struct kobo_state *st, struct sync_ctx *ctx,
                    struct kobo_form *f);

/* ---- kobo_deleted.c ----------------------------------------------------- */

/* The _ids one scan showed, in the (ascending) order it showed them. */
struct seen_ids {
    int64_t *v;
    size_t n, cap;
};

/* Append `id` (larger than the last one added). Free s->v when done. */
int kobo_seen_add(struct seen_ids *s, int64_t id);

/* After a complete scan of form `f` up to `upto` that showed `seen`:
 * imported submissions it no longer shows are added to state "deleted"
 * and logged by referenceId; gone rejected ones leave the rejected list
 * (kobo_rejected_save). */
int kobo_note_deleted(struct kobo_state *st, struct sync_ctx *ctx,
                      const struct kobo_form *f, int64_t upto,
                      const struct seen_ids *seen);

#endif
