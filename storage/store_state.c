/*
 * store_state.c - the agent_state key-value table and the summary counts
 * shown by `agent status`.
 */
#include "store_internal.h"

#include "plat_err.h"

#include <string.h>

int store_state_get(struct store *s, const char *key, char **out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    if (!key || !*key)
        return plat_err_set(ERR_INVALID, "state key is empty");
    rc = store__stmt(s, STORE__ST_STATE_GET,
                     "SELECT value FROM agent_state WHERE key = ?1", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, key);
    rc = store__step_text(s, st, "read agent state", out);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no state value %s", key);
    store__stmt_done(st);
    return rc;
}

int store_state_set(struct store *s, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (!key || !*key)
        return plat_err_set(ERR_INVALID, "state key is empty");
    if (!value)
        return plat_err_set(ERR_INVALID, "state value for %s is missing",
                            key);
    rc = store__stmt(s, STORE__ST_STATE_SET,
                     "INSERT INTO agent_state(key, value) VALUES (?1, ?2) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, key);
    store__bind_text(st, 2, value);
    /* A single statement is atomic on its own; it joins an open
     * transaction if there is one. */
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? PLAT_OK
                           : store__db_err(s, rc, "write agent state");
    store__stmt_done(st);
    return rc;
}

int store_counts(struct store *s, struct store_counts *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = sqlite3_prepare_v2(
        s->db,
        "SELECT (SELECT count(*) FROM registrations),"
        " (SELECT count(*) FROM outbox WHERE state IN ('pending','inflight')),"
        " (SELECT count(*) FROM conflicts WHERE state = 'open'),"
        " (SELECT count(*) FROM outbox WHERE state = 'rejected'),"
        " (SELECT count(*) FROM programs)",
        -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "count rows");
        goto done;
    }
    out->registrations = sqlite3_column_int64(st, 0);
    out->pending = sqlite3_column_int64(st, 1);
    out->conflicts = sqlite3_column_int64(st, 2);
    out->rejected = sqlite3_column_int64(st, 3);
    out->programs = sqlite3_column_int64(st, 4);
    rc = PLAT_OK;

done:
    sqlite3_finalize(st);
    return rc;
}
