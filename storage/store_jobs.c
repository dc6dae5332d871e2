/*
 * store_jobs.c - the jobs table (store_jobs.h, migration 0007).
 */
#include "store_internal.h"
#include "store_jobs.h"

#include "plat_err.h"

#include <string.h>

#define JOB_COLS "id, request_key, kind, target, asset, payload, body, " \
                 "state, step, result, message, attempts, created_at, "  \
                 "updated_at"

static int check_state(const char *state)
{
    static const char *const ok[] = {"pending", "inflight", "done",
                                     "rejected", NULL};

    for (int i = 0; state && ok[i]; i++)
        if (strcmp(state, ok[i]) == 0)
            return PLAT_OK;
    return plat_err_set(ERR_INVALID, "job state must be pending, inflight, "
                        "done or rejected");
}

int store_job_add(struct store *s, const char *kind, const char *target,
                  const char *asset, const char *request_key,
                  const char *payload, const void *body, size_t body_len,
                  int64_t *id_out)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc, tok;

    if (id_out)
        *id_out = 0;
    if (!kind || (strcmp(kind, "program") != 0 && strcmp(kind, "media") != 0))
        return plat_err_set(ERR_INVALID, "job kind must be program or media");
    if (!target || !*target || !asset || !*asset || !request_key ||
        !*request_key || !payload)
        return plat_err_set(ERR_INVALID, "job needs a target, an asset, a "
                            "request key and a payload");
    if ((rc = store__txn_begin(s, &tok)) < 0)
        return rc;
    rc = store__prepare(s, "INSERT INTO jobs(request_key, kind, target, "
                        "asset, payload, body, created_at, updated_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)", &st);
    if (rc == PLAT_OK) {
        store__now(now);
        store__bind_text(st, 1, request_key);
        store__bind_text(st, 2, kind);
        store__bind_text(st, 3, target);
        store__bind_text(st, 4, asset);
        store__bind_text(st, 5, payload);
        if (body)
            sqlite3_bind_blob64(st, 6, body, (sqlite3_uint64)body_len,
                                SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 6);
        store__bind_text(st, 7, now);
        rc = sqlite3_step(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            rc = plat_err_set(ERR_EXISTS, "job request %s exists already",
                              request_key);
        else
            rc = rc == SQLITE_DONE ? PLAT_OK
                                   : store__db_err(s, rc, "queue a job");
        if (rc == PLAT_OK && id_out)
            *id_out = (int64_t)sqlite3_last_insert_rowid(s->db);
    }
    sqlite3_finalize(st);
    return store__txn_end(s, tok, rc);
}

int store_job_list(struct store *s, const char *target, const char *kind,
                   int open_only, store_job_cb cb, void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__prepare(s, "SELECT " JOB_COLS " FROM jobs WHERE "
                        "(?1 IS NULL OR target = ?1) AND "
                        "(?2 IS NULL OR kind = ?2) AND "
                        "(?3 = 0 OR state IN ('pending', 'inflight')) "
                        "ORDER BY id", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, target);
    store__bind_text(st, 2, kind);
    sqlite3_bind_int(st, 3, open_only ? 1 : 0);
    for (;;) {
        struct store_job j;

        rc = store__step_row(s, st, "read jobs");
        if (rc == ERR_NOTFOUND) {
            rc = PLAT_OK;
            break;
        }
        if (rc < 0)
            break;
        memset(&j, 0, sizeof(j));
        j.id = sqlite3_column_int64(st, 0);
        j.request_key = store__col_text(st, 1);
        j.kind = store__col_text(st, 2);
        j.target = store__col_text(st, 3);
        j.asset = store__col_text(st, 4);
        j.payload = store__col_text(st, 5);
        j.body = sqlite3_column_blob(st, 6);
        j.body_len = (size_t)sqlite3_column_bytes(st, 6);
        j.state = store__col_text(st, 7);
        j.step = store__col_text(st, 8);
        j.result = store__col_text(st, 9);
        j.message = store__col_text(st, 10);
        j.attempts = sqlite3_column_int(st, 11);
        j.created_at = store__col_text(st, 12);
        j.updated_at = store__col_text(st, 13);
        if (!j.request_key || !j.kind || !j.target || !j.asset ||
            !j.payload || !j.state || !j.step) {
            rc = store__damaged(s, "a job row has an empty column");
            break;
        }
        if ((rc = cb(&j, payload)) != 0)
            break;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_job_update(struct store *s, int64_t id, const char *state,
                     const char *step, const char *result,
                     const char *message, int attempt)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc, tok;

    if ((rc = check_state(state)) < 0)
        return rc;
    if ((rc = store__txn_begin(s, &tok)) < 0)
        return rc;
    rc = store__prepare(s, "UPDATE jobs SET state = ?2, "
                        "step = coalesce(?3, step), "
                        "result = coalesce(?4, result), message = ?5, "
                        "attempts = attempts + ?6, updated_at = ?7 "
                        "WHERE id = ?1", &st);
    if (rc == PLAT_OK) {
        store__now(now);
        sqlite3_bind_int64(st, 1, id);
        store__bind_text(st, 2, state);
        store__bind_text(st, 3, step);
        store__bind_text(st, 4, result);
        store__bind_text(st, 5, message);
        sqlite3_bind_int(st, 6, attempt ? 1 : 0);
        store__bind_text(st, 7, now);
        rc = store__step_done(s, st, "update a job");
        if (rc == PLAT_OK && sqlite3_changes(s->db) == 0)
            rc = plat_err_set(ERR_NOTFOUND, "no job %lld", (long long)id);
    }
    sqlite3_finalize(st);
    return store__txn_end(s, tok, rc);
}

int store_job_count_open(struct store *s, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = store__prepare(s, "SELECT count(*) FROM jobs WHERE state IN "
                        "('pending', 'inflight')", &st);
    if (rc < 0)
        return rc;
    rc = store__step_row(s, st, "count jobs");
    if (rc == PLAT_OK)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}
