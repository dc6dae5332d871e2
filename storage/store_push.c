/*
 * store_push.c - the push side of the store (store_sync.h, "push side"):
 * moving outbox entries as the server answers, trimming an entry when a
 * field's conflict goes the server's way, recomputing a local view after
 * an entry stopped applying, and recording and resolving conflicts.
 *
 * Conflict entries and rejected entries are not applied to the local view
 * (store_registrations.c re-applies pending and in-flight ones only), so
 * whenever an entry leaves pending/inflight for one of those states the
 * view of its registration is recomputed here from the server copy.
 */
#include "store_sync.h"
#include "store_conflicts.h"
#include "store_outbox.h"
#include "store_registrations.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <stdio.h>
#include <string.h>

static int kind_ok(const char *kind)
{
    return kind && (strcmp(kind, "create") == 0 || strcmp(kind, "edit") == 0 ||
                     strcmp(kind, "status") == 0 ||
                     strcmp(kind, "message") == 0 ||
                     strcmp(kind, "voucher") == 0 ||
                     strcmp(kind, "template") == 0 ||
                     strcmp(kind, "label") == 0);
}

/* Generic equality of two stored values: JSON scalars as text ("4"
 * equals 4, true equals "true"), null equals "". No system's rules (e.g.
 * 121's phone-number forms): a connector that knows them decides before
 * it records a conflict. */
static int same_value(const cJSON *a, const cJSON *b)
{
    return store__same_value(a, b, 1);
}

/* ---- outbox ------------------------------------------------------------- */

static int no_entry(int64_t seq)
{
    return plat_err_set(ERR_NOTFOUND, "no outbox entry %lld", (long long)seq);
}

int store_outbox_set_state_by_ref(struct store *s, const char *ref,
                                  const char *kind, const char *from_state,
                                  const char *to_state, int *count_out)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    if (count_out)
        *count_out = 0;
    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "no referenceId given");
    if (!kind_ok(kind))
        return plat_err_set(ERR_INVALID, "unknown outbox kind");
    rc = store__outbox_check_state(from_state);
    if (rc == PLAT_OK)
        rc = store__outbox_check_state(to_state);
    if (rc < 0)
        return rc;
    store__now(now);
    /* One statement: atomic alone, part of the caller's transaction when
     * one is open. A move to inflight counts as an attempt, as in
     * store_outbox_set_state. */
    rc = store__prepare(
        s,
        "UPDATE outbox SET state = ?4, updated_at = ?5,"
        " attempts = attempts + (CASE WHEN ?4 = 'inflight' THEN 1 ELSE 0 END)"
        " WHERE reference_id = ?1 AND kind = ?2 AND state = ?3",
        &st);
    if (rc < 0)
        goto done;
    store__bind_text(st, 1, ref);
    store__bind_text(st, 2, kind);
    store__bind_text(st, 3, from_state);
    store__bind_text(st, 4, to_state);
    store__bind_text(st, 5, now);
    rc = store__step_done(s, st, "update the outbox");
    if (rc < 0)
        goto done;
    if (count_out)
        *count_out = sqlite3_changes(s->db);
    rc = PLAT_OK;

done:
    sqlite3_finalize(st);
    return rc;
}

int store_outbox_count_ref(struct store *s, const char *ref,
                           const char *kind, const char *state,
                           int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    if (!kind_ok(kind))
        return plat_err_set(ERR_INVALID, "unknown outbox kind");
    if (state) {
        rc = store__outbox_check_state(state);
        if (rc < 0)
            return rc;
    }
    /* The outbox_reference index (reference_id, seq) finds the rows. */
    rc = sqlite3_prepare_v2(
        s->db,
        "SELECT count(*) FROM outbox WHERE reference_id = ?1 AND kind = ?2"
        " AND (CASE WHEN ?3 IS NULL THEN state IN ('pending', 'inflight')"
        " ELSE state = ?3 END)",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        store__bind_text(st, 1, ref);
        store__bind_text(st, 2, kind);
        store__bind_text(st, 3, state);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = PLAT_OK;
    } else {
        rc = store__db_err(s, rc, "count the outbox");
    }
    sqlite3_finalize(st);
    return rc;
}

int store_outbox_changed_ms(struct store *s, int64_t seq, int64_t *ms_out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *ms_out = 0;
    rc = store__prepare(
        s,
        "SELECT updated_at FROM outbox WHERE seq = ?1",
        &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int64(st, 1, seq);
    rc = store__step_row(s, st, "read the outbox");
    if (rc == ERR_NOTFOUND)
        rc = no_entry(seq);
    if (rc < 0)
        goto done;
    rc = plat_time_parse_iso(store__col_text(st, 0), ms_out);
    if (rc < 0)
        rc = plat_err_set(ERR_CORRUPT, "store %s: outbox entry %lld has a "
                          "damaged time", s->path, (long long)seq);

done:
    sqlite3_finalize(st);
    return rc;
}

/* ---- local view --------------------------------------------------------- */

/* The server copy of `ref` (parsed) or NULL when there is none. */
static int load_server(struct store *s, const char *ref, cJSON **out)
{
    int rc = store__reg_server_copy(s, ref, out);

    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no registration %s in the store",
                          ref);
    return rc;
}

int store_reg_refresh_view(struct store *s, const char *ref)
{
    cJSON *server = NULL;
    int rc;

    rc = load_server(s, ref, &server);
    if (rc < 0 || !server)
        return rc;
    /* Storing the same server copy again recomputes the view from it and
     * the entries that still apply (store_reg_put_server). */
    rc = store_reg_put_server(s, server);
    cJSON_Delete(server);
    return rc;
}

/* Entry `seq`: its registration, kind, payload and base (parsed). */
struct entry_row {
    char ref[STORE_REF_MAX + 1];
    char kind[16];
    char state[16];
    cJSON *payload;
    cJSON *base;
};

static void entry_row_dispose(struct entry_row *r)
{
    cJSON_Delete(r->payload);
    cJSON_Delete(r->base);
    r->payload = r->base = NULL;
}

static int load_entry(struct store *s, int64_t seq, struct entry_row *r)
{
    sqlite3_stmt *st = NULL;
    char what[64];
    int rc;

    memset(r, 0, sizeof(*r));
    rc = store__prepare(
        s,
        "SELECT reference_id, kind, state, payload, base"
                            " FROM outbox WHERE seq = ?1",
        &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int64(st, 1, seq);
    rc = store__step_row(s, st, "read the outbox");
    if (rc == ERR_NOTFOUND)
        rc = no_entry(seq);
    if (rc < 0)
        goto done;
    snprintf(r->ref, sizeof(r->ref), "%s", store__col_text(st, 0));
    snprintf(r->kind, sizeof(r->kind), "%s", store__col_text(st, 1));
    snprintf(r->state, sizeof(r->state), "%s", store__col_text(st, 2));
    snprintf(what, sizeof(what), "outbox entry %lld", (long long)seq);
    rc = store__json_parse(s, store__col_text(st, 3), what, &r->payload);
    if (rc == PLAT_OK && sqlite3_column_type(st, 4) != SQLITE_NULL)
        rc = store__json_parse(s, store__col_text(st, 4), what, &r->base);

done:
    sqlite3_finalize(st);
    if (rc < 0)
        entry_row_dispose(r);
    return rc;
}

/* Write payload/base back; state `state` when not NULL. */
static int save_entry(struct store *s, int64_t seq, const cJSON *payload,
                      const cJSON *base, const char *state)
{
    sqlite3_stmt *st = NULL;
    char *ptext = NULL, *btext = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    ptext = store__json_print(payload);
    if (!ptext)
        return ERR_NOMEM;
    if (base) {
        btext = store__json_print(base);
        if (!btext) {
            rc = ERR_NOMEM;
            goto done;
        }
    }
    store__now(now);
    rc = store__prepare(
        s,
        "UPDATE outbox SET payload = ?2, base = ?3,"
        " state = coalesce(?4, state), updated_at = ?5 WHERE seq = ?1",
        &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int64(st, 1, seq);
    store__bind_text(st, 2, ptext);
    store__bind_text(st, 3, btext);
    store__bind_text(st, 4, state);
    store__bind_text(st, 5, now);
    rc = store__step_done(s, st, "update the outbox");

done:
    sqlite3_finalize(st);
    cJSON_free(ptext);
    cJSON_free(btext);
    return rc;
}

/* The body of store_outbox_drop_field, inside the caller's transaction. */
static int drop_field(struct store *s, int64_t seq, const char *field,
                      int *remaining_out)
{
    struct entry_row r;
    cJSON *data;
    int rc, remaining = 0;

    rc = load_entry(s, seq, &r);
    if (rc < 0)
        return rc;
    if (strcmp(r.state, "done") == 0 || strcmp(r.state, "rejected") == 0) {
        /* Settled entries stay as they were, for the audit trail. */
        rc = store_reg_refresh_view(s, r.ref);
        goto done;
    }
    if (strcmp(r.kind, "edit") == 0) {
        data = cJSON_GetObjectItemCaseSensitive(r.payload, "data");
        cJSON_DeleteItemFromObjectCaseSensitive(data, field);
        cJSON_DeleteItemFromObjectCaseSensitive(r.base, field);
        remaining = cJSON_GetArraySize(data);
    } else if (strcmp(r.kind, "status") == 0) {
        /* A status entry carries one change: dropping "status" leaves
         * nothing (the payload is kept for the audit trail). */
        remaining = strcmp(field, "status") == 0 ? 0 : 1;
    } else {
        rc = plat_err_set(ERR_INVALID, "outbox entry %lld is a %s, not an "
                          "edit or a status change", (long long)seq, r.kind);
        goto done;
    }
    rc = save_entry(s, seq, r.payload, r.base, remaining ? NULL : "done");
    if (rc == PLAT_OK)
        rc = store_reg_refresh_view(s, r.ref);
    if (remaining_out)
        *remaining_out = remaining;

done:
    entry_row_dispose(&r);
    return rc;
}

int store_outbox_drop_field(struct store *s, int64_t seq, const char *field,
                            int *remaining_out)
{
    int rc, token = 0;

    if (remaining_out)
        *remaining_out = 0;
    if (!field || !*field)
        return plat_err_set(ERR_INVALID, "no field given");
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = drop_field(s, seq, field, remaining_out);
    return store__txn_end(s, token, rc);
}

/* ---- conflicts ---------------------------------------------------------- */

/* Conflict `id` is resolved by `how` (local, server, value) to
 * `value_text` (JSON). `what` names the step for a database error. */
static int mark_resolved(struct store *s, int64_t id, const char *how,
                         const char *value_text, const char *what)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    store__now(now);
    rc = sqlite3_prepare_v2(
        s->db,
        "UPDATE conflicts SET state = 'resolved', resolution = ?2,"
        " resolved_value = ?3, resolved_at = ?4 WHERE id = ?1",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store__db_err(s, rc, what);
    sqlite3_bind_int64(st, 1, id);
    store__bind_text(st, 2, how);
    store__bind_text(st, 3, value_text);
    store__bind_text(st, 4, now);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? PLAT_OK : store__db_err(s, rc, what);
    sqlite3_finalize(st);
    return rc;
}

int store_conflict_add_resolved(struct store *s, const char *source,
                                int64_t outbox_seq,
                                const char *ref, const char *field,
                                const char *base_json, const char *local_json,
                                const char *server_json,
                                const char *resolution, int64_t *id_out)
{
    int64_t id = 0;
    int rc, token = 0;

    if (id_out)
        *id_out = 0;
    if (!resolution || (strcmp(resolution, "local") != 0 &&
                        strcmp(resolution, "server") != 0))
        return plat_err_set(ERR_INVALID,
                            "resolution must be local or server");
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = store_conflict_add(s, source, outbox_seq, ref, field, base_json, local_json,
                            server_json, &id);
    if (rc == PLAT_OK)
        rc = mark_resolved(s, id, resolution,
                           strcmp(resolution, "local") == 0 ? local_json
                                                            : server_json,
                           "record a conflict");
    rc = store__txn_end(s, token, rc);
    if (rc == PLAT_OK && id_out)
        *id_out = id;
    return rc;
}

struct conflict_row {
    int64_t id;
    int64_t seq;            /* 0: none */
    char ref[STORE_REF_MAX + 1];
    char *field;
    char *base, *local, *server; /* JSON text or NULL */
    char state[16];
    char source[40];
};

static void conflict_row_dispose(struct conflict_row *r)
{
    plat_free(r->field);
    plat_free(r->base);
    plat_free(r->local);
    plat_free(r->server);
    r->field = r->base = r->local = r->server = NULL;
}

static int load_conflict(struct store *s, int64_t id, struct conflict_row *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = store__prepare(
        s,
        "SELECT id, outbox_seq, reference_id, field, base_value, local_value,"
        " server_value, state, source FROM conflicts WHERE id = ?1",
        &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int64(st, 1, id);
    rc = store__step_row(s, st, "read conflicts");
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no conflict with id %lld",
                          (long long)id);
    if (rc < 0)
        goto done;
    r->id = sqlite3_column_int64(st, 0);
    r->seq = sqlite3_column_int64(st, 1);
    snprintf(r->ref, sizeof(r->ref), "%s", store__col_text(st, 2));
    r->field = store__col_dup(st, 3, &rc);
    r->base = store__col_dup(st, 4, &rc);
    r->local = store__col_dup(st, 5, &rc);
    r->server = store__col_dup(st, 6, &rc);
    snprintf(r->state, sizeof(r->state), "%s", store__col_text(st, 7));
    snprintf(r->source, sizeof(r->source), "%s", store__col_text(st, 8));
    rc = rc < 0 || !r->field
             ? plat_err_set(ERR_NOMEM, "out of memory reading conflict %lld",
                            (long long)id)
             : PLAT_OK;

done:
    sqlite3_finalize(st);
    if (rc < 0)
        conflict_row_dispose(r);
    return rc;
}

/* Parse stored JSON text of a conflict value; NULL text reads as null. */
static cJSON *value_of(const char *text)
{
    return text ? cJSON_Parse(text) : cJSON_CreateNull();
}

int store_conflict_get(struct store *s, int64_t id, struct cJSON **out)
{
    struct conflict_row r;
    cJSON *o = NULL;
    int rc;

    *out = NULL;
    rc = load_conflict(s, id, &r);
    if (rc < 0)
        return rc;
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "id", (double)r.id) ||
        !cJSON_AddStringToObject(o, "referenceId", r.ref) ||
        !cJSON_AddStringToObject(o, "field", r.field) ||
        !cJSON_AddItemToObject(o, "base", value_of(r.base)) ||
        !cJSON_AddItemToObject(o, "local", value_of(r.local)) ||
        !cJSON_AddItemToObject(o, "server", value_of(r.server)) ||
        !cJSON_AddNumberToObject(o, "outboxSeq", (double)r.seq) ||
        !cJSON_AddStringToObject(o, "state", r.state) ||
        !cJSON_AddStringToObject(o, "source", r.source)) {
        /* value_of on damaged text also lands here (a NULL item). */
        rc = plat_err_set(ERR_NOMEM, "out of memory reading conflict %lld",
                          (long long)id);
        goto done;
    }
    *out = o;
    o = NULL;

done:
    cJSON_Delete(o);
    conflict_row_dispose(&r);
    return rc;
}

/* The reason of entry `seq` (allocated, NULL if none). */
static int entry_reason(struct store *s, int64_t seq, char **out)
{
    struct entry_row r;
    const cJSON *reason;
    int rc;

    *out = NULL;
    if (seq <= 0)
        return PLAT_OK;
    rc = load_entry(s, seq, &r);
    if (rc == ERR_NOTFOUND)
        return PLAT_OK;
    if (rc < 0)
        return rc;
    reason = cJSON_GetObjectItemCaseSensitive(r.payload, "reason");
    if (cJSON_IsString(reason) && reason->valuestring[0]) {
        *out = plat_strdup(reason->valuestring);
        if (!*out)
            rc = ERR_NOMEM;
    }
    entry_row_dispose(&r);
    return rc;
}

/* Make `value` the device's value of `field` again: a new local write
 * (with its outbox entry, base = what the view now shows) unless the view
 * already shows it. */
static int write_value(struct store *s, const char *ref, const char *field,
                       const cJSON *value, const char *reason)
{
    cJSON *view = NULL, *changes = NULL;
    const cJSON *cur;
    int rc;

    rc = store_reg_get(s, ref, &view);
    if (rc < 0)
        return rc;
    cur = cJSON_GetObjectItemCaseSensitive(view, field);
    if (same_value(cur, value)) {
        rc = PLAT_OK; /* nothing to send: the view shows it already */
        goto done;
    }
    if (strcmp(field, "status") == 0) {
        if (!cJSON_IsString(value)) {
            rc = plat_err_set(ERR_INVALID, "a status must be a string");
            goto done;
        }
        rc = store_reg_set_status(s, ref, value->valuestring, reason);
        goto done;
    }
    changes = cJSON_CreateObject();
    if (!changes ||
        !cJSON_AddItemToObject(changes, field, cJSON_Duplicate(value, 1))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory resolving a conflict");
        goto done;
    }
    rc = store_reg_edit(s, ref, changes, reason);

done:
    cJSON_Delete(view);
    cJSON_Delete(changes);
    return rc;
}

/* *written_out = 1 if entry `seq` reached the server (state done): a
 * conflict on it was found after our own write. */
static int entry_written(struct store *s, int64_t seq, int *written_out)
{
    struct entry_row r;
    int rc;

    *written_out = 0;
    if (seq <= 0)
        return PLAT_OK;
    rc = load_entry(s, seq, &r);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    *written_out = strcmp(r.state, "done") == 0;
    entry_row_dispose(&r);
    return PLAT_OK;
}

/* Edits of `ref` other than `skip_seq` that carry `field` and have not
 * settled: the seqs of the pending ones (up to `max`, *n_out of them) and
 * *inflight_out = 1 if one is in flight (it may have reached the server). */
static int unsettled_edits_of(struct store *s, const char *ref,
                              const char *field, int64_t skip_seq,
                              int64_t *seqs, int max, int *n_out,
                              int *inflight_out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *n_out = 0;
    *inflight_out = 0;
    rc = store__prepare(
        s,
        "SELECT seq, state FROM outbox WHERE reference_id = ?1"
        " AND kind = 'edit' AND state IN ('pending', 'inflight')"
        " AND seq <> ?2 AND json_type(payload, '$.data') = 'object'"
        " AND EXISTS (SELECT 1 FROM json_each(payload, '$.data')"
        " WHERE key = ?3) ORDER BY seq",
        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int64(st, 2, skip_seq);
    store__bind_text(st, 3, field);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (strcmp(store__col_text(st, 1), "inflight") == 0)
            *inflight_out = 1;
        else if (*n_out < max)
            seqs[(*n_out)++] = sqlite3_column_int64(st, 0);
        else
            *inflight_out = 1; /* too many to trim: write the value again */
    }
    rc = rc == SQLITE_DONE ? PLAT_OK : store__db_err(s, rc, "read the outbox");
    sqlite3_finalize(st);
    return rc;
}

/* The server copy already holds `value`, the one a resolution chose for
 * `field`: the device's later, unsent edits of that field are superseded
 * by the resolution and lose the field, so the value is not written a
 * second time (harness seed 1384). *done_out = 0 when that cannot settle
 * it (an edit of the field is in flight and may still land): the caller
 * then writes the value again. */
static int keep_server_value(struct store *s, const struct conflict_row *r,
                             int *done_out)
{
    int64_t seqs[32];
    int n = 0, inflight = 0, rc, i;

    *done_out = 0;
    rc = unsettled_edits_of(s, r->ref, r->field, r->seq, seqs,
                            (int)(sizeof(seqs) / sizeof(seqs[0])), &n,
                            &inflight);
    if (rc < 0 || inflight)
        return rc;
    for (i = 0; i < n && rc == PLAT_OK; i++)
        rc = drop_field(s, seqs[i], r->field, NULL);
    if (rc == PLAT_OK)
        rc = store_reg_refresh_view(s, r->ref);
    if (rc == PLAT_OK)
        *done_out = 1;
    return rc;
}

/* Entry `seq`, in state conflict, becomes done once no open conflict
 * refers to it. */
static int settle_entry(struct store *s, int64_t seq)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    if (seq <= 0)
        return PLAT_OK;
    store__now(now);
    rc = sqlite3_prepare_v2(
        s->db,
        "UPDATE outbox SET state = 'done', updated_at = ?2"
        " WHERE seq = ?1 AND state = 'conflict' AND NOT EXISTS"
        " (SELECT 1 FROM conflicts WHERE outbox_seq = ?1 AND state = 'open')",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store__db_err(s, rc, "update the outbox");
    sqlite3_bind_int64(st, 1, seq);
    store__bind_text(st, 2, now);
    rc = store__step_done(s, st, "update the outbox");
    sqlite3_finalize(st);
    return rc;
}

int store_conflict_resolve(struct store *s, int64_t id, const char *how,
                           const char *value_json)
{
    struct conflict_row r;
    cJSON *target = NULL, *server = NULL;
    char *reason = NULL, *target_text = NULL;
    const char *chosen;
    int rc, token = 0, have_row = 0, written = 0;

    if (!how || (strcmp(how, "local") != 0 && strcmp(how, "server") != 0 &&
                 strcmp(how, "value") != 0))
        return plat_err_set(ERR_INVALID,
                            "resolve with local, server or value");
    if (strcmp(how, "value") == 0 && !value_json)
        return plat_err_set(ERR_INVALID, "resolving with a value needs the "
                            "value (JSON)");

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = load_conflict(s, id, &r);
    if (rc < 0)
        goto done;
    have_row = 1;
    if (strcmp(r.state, "open") != 0) {
        rc = plat_err_set(ERR_INVALID, "conflict %lld is already resolved",
                          (long long)id);
        goto done;
    }
    chosen = strcmp(how, "local") == 0    ? r.local
             : strcmp(how, "server") == 0 ? r.server
                                          : value_json;
    target = value_of(chosen);
    if (!target) {
        rc = plat_err_set(ERR_INVALID, "the value to resolve conflict %lld "
                          "with is not valid JSON", (long long)id);
        goto done;
    }
    target_text = store__json_print(target);
    if (!target_text) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = entry_reason(s, r.seq, &reason);
    if (rc < 0)
        goto done;
    /* The conflicting entry no longer applies (conflict entries never
     * do); make sure the view shows the server copy before deciding what
     * to write, so a new entry gets the server value as its base. */
    rc = store_reg_refresh_view(s, r.ref);
    if (rc < 0)
        goto done;
    rc = load_server(s, r.ref, &server);
    if (rc < 0)
        goto done;

    rc = entry_written(s, r.seq, &written);
    if (rc < 0)
        goto done;
    if (strcmp(how, "server") == 0 &&
        (!written || !server ||
         same_value(cJSON_GetObjectItemCaseSensitive(server, r.field),
                    target))) {
        /* The device's change of this field is dropped and the view
         * follows the server copy, whatever the server holds by now. */
        if (r.seq > 0) {
            rc = drop_field(s, r.seq, r.field, NULL);
            if (rc < 0)
                goto done;
        }
    } else {
        /* The device's value, a new value, or - for a conflict found
         * after our own write landed (its entry is done) - the other
         * writer's value that ours overwrote: a new pending change, sent
         * by the next push, unless the server copy holds it already. */
        int kept = 0;

        if (strcmp(how, "server") != 0 && strcmp(r.field, "status") != 0 &&
            server &&
            same_value(cJSON_GetObjectItemCaseSensitive(server, r.field),
                       target)) {
            rc = keep_server_value(s, &r, &kept);
            if (rc < 0)
                goto done;
        }
        if (!kept) {
            rc = write_value(s, r.ref, r.field, target, reason);
            if (rc < 0)
                goto done;
        }
    }
    rc = mark_resolved(s, id, how, target_text, "resolve a conflict");
    if (rc == PLAT_OK)
        rc = settle_entry(s, r.seq);

done:
    rc = store__txn_end(s, token, rc);
    if (have_row)
        conflict_row_dispose(&r);
    cJSON_Delete(target);
    cJSON_Delete(server);
    cJSON_free(target_text);
    plat_free(reason);
    return rc;
}
