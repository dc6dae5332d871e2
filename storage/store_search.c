/*
 * store_search.c - the search index's rebuild marker (store_search.h).
 */
#include "store_internal.h"
#include "store_search.h"

#include "plat_err.h"

static const char marker_sql[] =
    "SELECT 1 FROM agent_state WHERE key = '" STORE_SEARCH_REBUILD_KEY "'";

int store_search_pending(struct store *s, int *pending)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *pending = 0;
    /* Not the connection's flag: outside a write transaction it may be
     * older than what another connection did since. */
    rc = store__stmt(s, STORE__ST_FTS_DEFERRED, marker_sql, &st);
    if (rc < 0)
        return rc;
    rc = store__step_row(s, st, "read the search index state");
    store__stmt_done(st);
    if (rc == PLAT_OK)
        *pending = 1;
    return rc == ERR_NOTFOUND ? PLAT_OK : rc;
}

int store__fts_deferred_load(struct store *s)
{
    int pending = 0;
    int rc = store_search_pending(s, &pending);

    if (rc == PLAT_OK)
        s->fts_deferred = pending;
    return rc;
}

static int outside_txn(struct store *s, const char *what)
{
    if (s->txn_open || s->depth > 0)
        return plat_err_set(ERR_INVALID, "store %s: cannot %s inside a "
                            "transaction", s->path, what);
    return PLAT_OK;
}

#define FTS5_HASHSIZE (1024 * 1024) /* FTS5's default */
#define REBUILD_HASHSIZE (256 * 1024)

static int fts_hashsize(struct store *s, int bytes)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__prepare(s, "INSERT INTO registrations_search"
                        "(registrations_search, rank) VALUES ('hashsize', ?1)",
                        &st);
    if (rc == PLAT_OK) {
        sqlite3_bind_int(st, 1, bytes);
        rc = store__step_done(s, st, "size the search index's buffer");
    }
    sqlite3_finalize(st);
    return rc;
}

int store_search_defer(struct store *s)
{
    int token, rc;

    rc = outside_txn(s, "defer the search index");
    if (rc < 0)
        return rc;
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    if (!s->fts_deferred)
        rc = store_state_set(s, STORE_SEARCH_REBUILD_KEY, "1");
    /* From here on (this transaction's end included) the queue stays
     * empty; on failure the next transaction reads the marker again. */
    s->fts_deferred = 1;
    return store__txn_end(s, token, rc);
}

int store_search_rebuild(struct store *s, int *rebuilt)
{
    sqlite3_stmt *st = NULL;
    int pending = 0, token, rc;

    if (rebuilt)
        *rebuilt = 0;
    rc = outside_txn(s, "rebuild the search index");
    if (rc == PLAT_OK)
        rc = store_search_pending(s, &pending); /* no write lock if not */
    if (rc < 0 || !pending)
        return rc;
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    if (s->fts_deferred) { /* still: another connection may have built it */
        /* FTS5 holds up to `hashsize` bytes of terms before it writes a
         * segment: 1 MiB by default, which with its hash entries took the
         * rebuild 0.3 MB over the pull's peak RSS. A quarter of that costs
         * a few more segments to merge (~10 % of the rebuild). Set back
         * to the default in the same transaction. */
        rc = fts_hashsize(s, REBUILD_HASHSIZE);
        if (rc == PLAT_OK)
            rc = store__prepare(s, "INSERT INTO registrations_search"
                                "(registrations_search) VALUES ('rebuild')",
                                &st);
        if (rc == PLAT_OK)
            rc = store__step_done(s, st, "rebuild the search index");
        sqlite3_finalize(st);
        st = NULL;
        if (rc == PLAT_OK)
            rc = fts_hashsize(s, FTS5_HASHSIZE);
        if (rc == PLAT_OK)
            rc = store__prepare(s, "DELETE FROM agent_state WHERE key = '"
                                STORE_SEARCH_REBUILD_KEY "'", &st);
        if (rc == PLAT_OK)
            rc = store__step_done(s, st, "finish the search index");
        sqlite3_finalize(st);
        if (rc == PLAT_OK) {
            s->fts_deferred = 0;
            if (rebuilt)
                *rebuilt = 1;
        }
    }
    rc = store__txn_end(s, token, rc);
    if (rc < 0) {
        s->fts_deferred = 1; /* rolled back: the marker is still there */
        if (rebuilt)
            *rebuilt = 0;
    }
    return rc;
}
