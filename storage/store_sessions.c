/*
 * store_sessions.c - `agent serve` login sessions in agent_state
 * (store_sessions.h).
 */
#include "store_internal.h"
#include "store_sessions.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "serve.session."
/* every key of the prefix sorts in [PREFIX, PREFIX_END) */
#define PREFIX_END "serve.session/"

static int session_key(const char *hash_hex, char *key, size_t n)
{
    if (!hash_hex || strlen(hash_hex) != STORE_SESSION_HASH_HEX ||
        strspn(hash_hex, "0123456789abcdef") != STORE_SESSION_HASH_HEX)
        return plat_err_set(ERR_INVALID, "a session hash is 64 hex digits");
    snprintf(key, n, PREFIX "%s", hash_hex);
    return PLAT_OK;
}

static int exec_bound(struct store *s, const char *sql, const char *what,
                      const char *text, int64_t num)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s, sql, &st);

    if (rc < 0)
        return rc;
    if (text)
        store__bind_text(st, 1, text);
    else
        sqlite3_bind_int64(st, 1, num);
    rc = store__step_done(s, st, what);
    sqlite3_finalize(st);
    return rc;
}

int store_session_put(struct store *s, const char *hash_hex,
                      int64_t expires_ms, int64_t now_ms, int keep)
{
    char key[sizeof(PREFIX) + STORE_SESSION_HASH_HEX + 1], val[32];
    int rc = session_key(hash_hex, key, sizeof(key)), token = 0;

    if (rc < 0)
        return rc;
    snprintf(val, sizeof(val), "%lld", (long long)expires_ms);
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = exec_bound(s, "DELETE FROM agent_state WHERE key >= '" PREFIX "'"
                       " AND key < '" PREFIX_END "'"
                       " AND CAST(value AS INTEGER) <= ?1",
                    "drop expired sessions", NULL, now_ms);
    if (rc == PLAT_OK)
        rc = store_state_set(s, key, val);
    if (rc == PLAT_OK)
        rc = exec_bound(s, "DELETE FROM agent_state WHERE key IN"
                           " (SELECT key FROM agent_state"
                           " WHERE key >= '" PREFIX "' AND key < '"
                           PREFIX_END "'"
                           " ORDER BY CAST(value AS INTEGER) DESC, key"
                           " LIMIT -1 OFFSET ?1)",
                        "drop the oldest sessions", NULL, keep);
    return store__txn_end(s, token, rc);
}

int store_session_live(struct store *s, const char *hash_hex, int64_t now_ms)
{
    char key[sizeof(PREFIX) + STORE_SESSION_HASH_HEX + 1], *val = NULL;
    int rc = session_key(hash_hex, key, sizeof(key));
    int live;

    if (rc < 0)
        return rc;
    rc = store_state_get(s, key, &val);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return 0;
    }
    if (rc < 0)
        return rc;
    live = strtoll(val, NULL, 10) > now_ms;
    plat_free(val);
    return live;
}

int store_session_drop(struct store *s, const char *hash_hex)
{
    char key[sizeof(PREFIX) + STORE_SESSION_HASH_HEX + 1];
    int rc = session_key(hash_hex, key, sizeof(key));

    if (rc < 0)
        return rc;
    return exec_bound(s, "DELETE FROM agent_state WHERE key = ?1",
                      "drop a session", key, 0);
}
