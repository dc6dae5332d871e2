/*
 * store_checkpoint.c - the sync checkpoints (store_sync.h): where each
 * pull phase got to, as text or as a number. Each write is one statement,
 * so it joins an open transaction (store_begin) and the puller commits a
 * batch of rows together with its checkpoint.
 */
#include "store_sync.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int check_name(const char *source, const char *name)
{
    if (!source || !*source || !name || !*name)
        return plat_err_set(ERR_INVALID, "checkpoint source or name is "
                            "empty");
    return PLAT_OK;
}

int store_checkpoint_get(struct store *s, const char *source,
                         const char *name, char **out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    rc = check_name(source, name);
    if (rc < 0)
        return rc;
    rc = store__prepare(s, "SELECT value FROM sync_checkpoints WHERE "
                           "source = ?1 AND name = ?2", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, name);
    rc = store__step_text(s, st, "read a checkpoint", out);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no checkpoint %s %s", source, name);
    sqlite3_finalize(st);
    return rc;
}

int store_checkpoint_set(struct store *s, const char *source,
                         const char *name, const char *value)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    rc = check_name(source, name);
    if (rc < 0)
        return rc;
    if (!value)
        return plat_err_set(ERR_INVALID, "checkpoint %s %s has no value",
                            source, name);
    store__now(now);
    rc = store__prepare(
        s,
        "INSERT INTO sync_checkpoints(source, name, value,"
        " updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(source,"
        " name) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, name);
    store__bind_text(st, 3, value);
    store__bind_text(st, 4, now);
    /* One statement is atomic on its own and joins an open transaction. */
    rc = store__step_done(s, st, "write a checkpoint");
    sqlite3_finalize(st);
    return rc;
}

int store_checkpoint_get_i64(struct store *s, const char *source,
                             const char *name, int64_t dflt, int64_t *out)
{
    char *text = NULL, *end = NULL;
    long long v;
    int rc;

    *out = dflt;
    rc = store_checkpoint_get(s, source, name, &text);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        rc = plat_err_set(ERR_CORRUPT, "store %s: checkpoint %s %s is not a "
                          "number", s->path, source, name);
    else
        *out = (int64_t)v;
    plat_free(text);
    return rc;
}

int store_checkpoint_set_i64(struct store *s, const char *source,
                             const char *name, int64_t value)
{
    char text[24];

    snprintf(text, sizeof(text), "%lld", (long long)value);
    return store_checkpoint_set(s, source, name, text);
}

int store_checkpoint_delete(struct store *s, const char *source,
                            const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = check_name(source, name);
    if (rc < 0)
        return rc;
    rc = store__prepare(
        s,
        "DELETE FROM sync_checkpoints WHERE source = ?1 AND "
        "name = ?2",
        &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, source);
    store__bind_text(st, 2, name);
    rc = store__step_done(s, st, "delete a checkpoint");
    sqlite3_finalize(st);
    return rc;
}
