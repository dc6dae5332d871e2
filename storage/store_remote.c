/*
 * store_remote.c - ids of registrations in other systems (table
 * remote_ids, store_sync.h): (system, kind, remote id) -> referenceId and
 * that system's version of the record. Each write is one statement, so it
 * joins an open transaction (store_begin).
 */
#include "store_sync.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"

static int check_key(const char *system, const char *kind,
                     const char *remote_id)
{
    if (!system || !*system || !kind || !*kind || !remote_id || !*remote_id)
        return plat_err_set(ERR_INVALID, "remote id: system, kind or id is "
                            "empty");
    return PLAT_OK;
}

int store_remote_id_put(struct store *s, const char *system,
                        const char *kind, const char *remote_id,
                        const char *ref, const char *version)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    rc = check_key(system, kind, remote_id);
    if (rc < 0)
        return rc;
    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "remote id of %s %s: no "
                            "referenceId given", system, kind);
    store__now(now);
    rc = store__stmt(
        s, STORE__ST_REMOTE_PUT,
        "INSERT INTO remote_ids(system, kind, remote_id, reference_id,"
        " remote_version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT(system, kind, remote_id) DO UPDATE SET"
        " reference_id = excluded.reference_id,"
        " remote_version = excluded.remote_version,"
        " updated_at = excluded.updated_at",
        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, system);
    store__bind_text(st, 2, kind);
    store__bind_text(st, 3, remote_id);
    store__bind_text(st, 4, ref);
    store__bind_text(st, 5, version);
    store__bind_text(st, 6, now);
    rc = store__step_done(s, st, "write a remote id");
    store__stmt_done(st);
    return rc;
}

int store_remote_id_get(struct store *s, const char *system,
                        const char *kind, const char *remote_id,
                        char **ref_out, char **version_out)
{
    sqlite3_stmt *st = NULL;
    char *ref = NULL, *version = NULL;
    int rc;

    if (ref_out)
        *ref_out = NULL;
    if (version_out)
        *version_out = NULL;
    rc = check_key(system, kind, remote_id);
    if (rc < 0)
        return rc;
    rc = store__stmt(s, STORE__ST_REMOTE_GET,
                        "SELECT reference_id, remote_version FROM remote_ids"
                        " WHERE system = ?1 AND kind = ?2 AND remote_id = ?3",
                        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, system);
    store__bind_text(st, 2, kind);
    store__bind_text(st, 3, remote_id);
    rc = store__step_row(s, st, "read a remote id");
    if (rc == ERR_NOTFOUND) {
        /* The remote id is another system's key, not personal data. */
        rc = plat_err_set(ERR_NOTFOUND, "no registration mapped to %s %s %s",
                          system, kind, remote_id);
        goto done;
    }
    if (rc < 0)
        goto done;
    if (ref_out)
        ref = store__col_dup(st, 0, &rc);
    if (version_out && rc == PLAT_OK)
        version = store__col_dup(st, 1, &rc);
    if (rc < 0 || (ref_out && !ref)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory reading a remote id");
        goto done;
    }
    if (ref_out) {
        *ref_out = ref;
        ref = NULL;
    }
    if (version_out) {
        *version_out = version;
        version = NULL;
    }

done:
    plat_free(ref);
    plat_free(version);
    store__stmt_done(st);
    return rc;
}

int store_remote_id_list(struct store *s, const char *system,
                         const char *kind, store_remote_id_cb cb,
                         void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (!system || !*system || !kind || !*kind || !cb)
        return plat_err_set(ERR_INVALID, "remote id list: system, kind or "
                            "callback missing");
    rc = store__prepare(s,
                        "SELECT remote_id, reference_id, remote_version"
                        " FROM remote_ids WHERE system = ?1 AND kind = ?2"
                        " ORDER BY remote_id",
                        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, system);
    store__bind_text(st, 2, kind);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = cb(store__col_text(st, 0), store__col_text(st, 1),
                store__col_text(st, 2), payload);
        if (rc != 0)
            goto done;
    }
    rc = rc == SQLITE_DONE ? PLAT_OK
                           : store__db_err(s, rc, "list remote ids");
done:
    sqlite3_finalize(st);
    return rc;
}
