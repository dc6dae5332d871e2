/*
 * store_outbox.c - reading the outbox and moving entries between states.
 * Entries are appended only by the registration writes
 * (store_registrations.c), in the same transaction as the change.
 */
#include "store_outbox.h"
#include "store_internal.h"

#include "plat_err.h"

#include <string.h>

static const char *const kind_names[] = {"create", "edit", "status",
                                         "message", "voucher", "template",
                                         "label"};
static const char *const state_names[] = {"pending", "inflight", "done",
                                          "conflict", "rejected"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *store_op_kind_name(enum store_op_kind k)
{
    return (unsigned)k < N_OF(kind_names) ? kind_names[k] : NULL;
}

const char *store_op_state_name(enum store_op_state st)
{
    return (unsigned)st < N_OF(state_names) ? state_names[st] : NULL;
}

int store_op_kind_parse(const char *text, enum store_op_kind *out)
{
    size_t i;

    for (i = 0; text && i < N_OF(kind_names); i++)
        if (strcmp(kind_names[i], text) == 0) {
            *out = (enum store_op_kind)i;
            return PLAT_OK;
        }
    return plat_err_set(ERR_INVALID,
                        "unknown outbox kind (one of: create, edit, status, "
                        "message, voucher, template, label)");
}

int store_op_state_parse(const char *text, enum store_op_state *out)
{
    size_t i;

    for (i = 0; text && i < N_OF(state_names); i++)
        if (strcmp(state_names[i], text) == 0) {
            *out = (enum store_op_state)i;
            return PLAT_OK;
        }
    return plat_err_set(ERR_INVALID,
                        "unknown outbox state (one of: pending, inflight, "
                        "done, conflict, rejected)");
}

int store__outbox_check_state(const char *state)
{
    enum store_op_state st;

    return store_op_state_parse(state, &st);
}

int store__outbox_rows(struct store *s, sqlite3_stmt *st, store_outbox_cb cb,
                       void *payload)
{
    struct store_outbox_entry e;
    int rc, stop;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        e.seq = sqlite3_column_int64(st, 0);
        e.op_id = store__col_text(st, 1);
        e.reference_id = store__col_text(st, 2);
        e.program_id = sqlite3_column_int(st, 3);
        e.kind = store__col_text(st, 4);
        e.payload = store__col_text(st, 5);
        e.base = store__col_text(st, 6);
        e.state = store__col_text(st, 7);
        e.attempts = sqlite3_column_int(st, 8);
        e.server_message = store__col_text(st, 9);
        e.created_at = store__col_text(st, 10);
        e.target = store__col_text(st, 11);
        e.origin = store__col_text(st, 12);
        stop = cb ? cb(&e, payload) : 0;
        if (stop)
            return stop;
    }
    return rc == SQLITE_DONE ? PLAT_OK
                             : store__db_err(s, rc, "read the outbox");
}

int store_outbox_list(struct store *s, const char *state, store_outbox_cb cb,
                      void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (state) {
        rc = store__outbox_check_state(state);
        if (rc < 0)
            return rc;
    }
    /* Not a cached statement: the callback may use the store. */
    rc = sqlite3_prepare_v2(
        s->db,
        state ? "SELECT " STORE__OUTBOX_COLS
                " FROM outbox WHERE state = ?1 ORDER BY seq"
              : "SELECT " STORE__OUTBOX_COLS
                " FROM outbox WHERE state <> 'done' ORDER BY seq",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "read the outbox");
        goto done;
    }
    if (state)
        store__bind_text(st, 1, state);
    rc = store__outbox_rows(s, st, cb, payload);

done:
    sqlite3_finalize(st);
    return rc;
}

/* One count(*), with `text` bound as ?1 unless it is NULL. */
static int count_for(struct store *s, const char *sql, const char *text,
                     int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (text)
            store__bind_text(st, 1, text);
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

int store_outbox_count(struct store *s, const char *state, int64_t *out)
{
    int rc;

    *out = 0;
    if (state) {
        rc = store__outbox_check_state(state);
        if (rc < 0)
            return rc;
    }
    return count_for(s,
                     state ? "SELECT count(*) FROM outbox WHERE state = ?1"
                           : "SELECT count(*) FROM outbox"
                             " WHERE state IN ('pending', 'inflight')",
                     state, out);
}

int store_outbox_set_state(struct store *s, int64_t seq, const char *state,
                           const char *server_message)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    rc = store__outbox_check_state(state);
    if (rc < 0)
        return rc;
    store__now(now);
    /* One statement: atomic alone, and part of the caller's transaction
     * when one is open. Each move to inflight counts as an attempt. */
    rc = sqlite3_prepare_v2(
        s->db,
        "UPDATE outbox SET state = ?2, server_message = ?3, updated_at = ?4,"
        " attempts = attempts + (CASE WHEN ?2 = 'inflight' THEN 1 ELSE 0 END)"
        " WHERE seq = ?1",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "update the outbox");
        goto done;
    }
    sqlite3_bind_int64(st, 1, seq);
    store__bind_text(st, 2, state);
    store__bind_text(st, 3, server_message);
    store__bind_text(st, 4, now);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "update the outbox");
        goto done;
    }
    if (sqlite3_changes(s->db) == 0) {
        rc = plat_err_set(ERR_NOTFOUND, "no outbox entry %lld",
                          (long long)seq);
        goto done;
    }
    rc = PLAT_OK;

done:
    sqlite3_finalize(st);
    return rc;
}

int store_outbox_list_for(struct store *s, const char *target,
                          const char *kind, const char *state,
                          int64_t after_seq, int limit, store_outbox_cb cb,
                          void *payload)
{
    enum store_op_kind k;
    sqlite3_stmt *st = NULL;
    int rc;

    if (!target || !*target)
        return plat_err_set(ERR_INVALID, "no target system given");
    if (kind && (rc = store_op_kind_parse(kind, &k)) < 0)
        return rc;
    if (state && (rc = store__outbox_check_state(state)) < 0)
        return rc;
    if (limit < 0)
        return plat_err_set(ERR_INVALID, "limit must not be negative");
    /* Not a cached statement: the callback may use the store. The
     * outbox_target index (target, state, seq) serves both forms. */
    rc = sqlite3_prepare_v2(
        s->db,
        state ? "SELECT " STORE__OUTBOX_COLS
                " FROM outbox WHERE target = ?1 AND state = ?2"
                " AND (?3 IS NULL OR kind = ?3) AND seq > ?4"
                " AND origin <> ?1 ORDER BY seq LIMIT ?5"
              : "SELECT " STORE__OUTBOX_COLS
                " FROM outbox WHERE target = ?1"
                " AND state IN ('pending', 'inflight')"
                " AND (?3 IS NULL OR kind = ?3) AND seq > ?4"
                " AND origin <> ?1 ORDER BY seq LIMIT ?5",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "read the outbox");
        goto done;
    }
    store__bind_text(st, 1, target);
    if (state)
        store__bind_text(st, 2, state);
    store__bind_text(st, 3, kind);
    sqlite3_bind_int64(st, 4, after_seq);
    sqlite3_bind_int(st, 5, limit > 0 ? limit : -1);
    rc = store__outbox_rows(s, st, cb, payload);

done:
    sqlite3_finalize(st);
    return rc;
}

int store_source_counts(struct store *s, const char *source,
                        int64_t *pending_out, int64_t *conflicts_out)
{
    int rc = count_for(s,
                       "SELECT count(*) FROM outbox WHERE target = ?1"
                       " AND state IN ('pending', 'inflight')",
                       source, pending_out);

    if (rc == PLAT_OK)
        rc = count_for(s,
                       "SELECT count(*) FROM conflicts WHERE source = ?1"
                       " AND state = 'open'",
                       source, conflicts_out);
    return rc;
}
