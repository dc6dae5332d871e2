/*
 * store_tune.c - per-connection tuning (store_tune.h).
 */
#include "store_tune.h"
#include "store_internal.h"

#include "plat_err.h"

#include <stdio.h>

int store_set_cache_kib(struct store *s, int kib, int *old_kib)
{
    sqlite3_stmt *st = NULL;
    char sql[64];
    int rc;

    if (kib <= 0)
        return plat_err_set(ERR_INVALID, "cache size must be positive");
    if (old_kib) {
        rc = store__prepare(s, "PRAGMA cache_size", &st);
        if (rc < 0)
            return rc;
        rc = store__step_row(s, st, "read the cache size");
        if (rc == PLAT_OK) {
            long long v = sqlite3_column_int64(st, 0);

            /* negative: KiB; positive: pages of the page size */
            *old_kib = (int)(v < 0 ? -v : v * 4);
        }
        sqlite3_finalize(st);
        if (rc < 0)
            return rc;
    }
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", kib);
    rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? PLAT_OK : store__db_err(s, rc, "set the cache "
                                                     "size");
}
