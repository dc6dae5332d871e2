/*
 * store_convert.c - copy a store into a new file with another key, verify
 * it, swap it in (contract in store_convert.h).
 */
#include "store_convert.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void store_remove_files(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", ".sealed",
                                         "-journal"};
    char name[4096];
    size_t i;

    for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
        if ((size_t)snprintf(name, sizeof(name), "%s%s", path, suffix[i]) <
            sizeof(name))
            unlink(name);
}

/* The tables to copy: ordinary tables, not SQLite's own, not virtual
 * tables nor their shadow tables (the search index is rebuilt). */
static const char tables_sql[] =
    "SELECT t.name FROM sqlite_schema t WHERE t.type = 'table'"
    " AND t.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    " AND t.sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
    " AND NOT EXISTS (SELECT 1 FROM sqlite_schema v WHERE v.type = 'table'"
    "   AND v.sql LIKE 'CREATE VIRTUAL TABLE%'"
    "   AND t.name LIKE v.name || '\\_%' ESCAPE '\\')"
    " ORDER BY t.name";

static int count_rows(struct store *s, const char *table, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    char *sql = plat_asprintf("SELECT count(*) FROM \"%s\"", table);
    int rc;

    if (!sql)
        return ERR_NOMEM;
    rc = store__prepare(s, sql, &st);
    if (rc == PLAT_OK)
        rc = store__step_row(s, st, "count rows");
    if (rc == PLAT_OK)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    plat_free(sql);
    return rc;
}

/* The stored columns of `t` as a quoted, comma-separated list: generated
 * columns (registrations.local_json, migration 0010) are computed, and an
 * INSERT may not name them; pragma table_info leaves them out. */
static int stored_columns(struct store *s, const char *t, char **out)
{
    sqlite3_stmt *st = NULL;
    struct plat_buf b;
    int rc, src = SQLITE_DONE, n = 0;

    *out = NULL;
    plat_buf_init(&b, 0);
    rc = store__prepare(s, "SELECT name FROM pragma_table_info(?1)", &st);
    if (rc == PLAT_OK)
        store__bind_text(st, 1, t);
    while (rc == PLAT_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = plat_buf_printf(&b, "%s\"%s\"", n++ ? "," : "",
                             store__col_text(st, 0));
    if (rc == PLAT_OK && src != SQLITE_DONE)
        rc = store__db_err(s, src, "list the columns of a table");
    sqlite3_finalize(st);
    if (rc == PLAT_OK && n == 0)
        rc = plat_err_set(ERR_CORRUPT, "table %s has no columns", t);
    if (rc < 0) {
        plat_buf_dispose(&b);
        return rc;
    }
    *out = b.data;
    return PLAT_OK;
}

/* Copy table `t` row by row, binding each value as it was read. */
static int copy_table(struct store *src, struct store *dst, const char *t)
{
    sqlite3_stmt *sel = NULL, *ins = NULL;
    char *sql = NULL, *cols = NULL;
    int rc, n, i, src_rc = SQLITE_DONE;
    size_t qlen;
    char *q;

    rc = stored_columns(src, t, &cols);
    if (rc < 0)
        return rc;
    sql = plat_asprintf("SELECT %s FROM \"%s\"", cols, t);
    if (!sql) {
        plat_free(cols);
        return ERR_NOMEM;
    }
    rc = store__prepare(src, sql, &sel);
    plat_free(sql);
    if (rc < 0) {
        plat_free(cols);
        return rc;
    }
    n = sqlite3_column_count(sel);
    qlen = (size_t)n * 2 + 64 + strlen(t) + strlen(cols);
    q = plat_malloc(qlen);
    if (!q) {
        sqlite3_finalize(sel);
        plat_free(cols);
        return ERR_NOMEM;
    }
    snprintf(q, qlen, "INSERT INTO \"%s\"(%s) VALUES (", t, cols);
    plat_free(cols);
    for (i = 0; i < n; i++)
        strcat(q, i ? ",?" : "?");
    strcat(q, ")");
    rc = store__prepare(dst, q, &ins);
    plat_free(q);
    while (rc == PLAT_OK && (src_rc = sqlite3_step(sel)) == SQLITE_ROW) {
        for (i = 0; i < n; i++)
            sqlite3_bind_value(ins, i + 1, sqlite3_column_value(sel, i));
        rc = store__step_done(dst, ins, "copy a row");
        sqlite3_clear_bindings(ins);
    }
    if (rc == PLAT_OK && src_rc != SQLITE_DONE)
        rc = store__db_err(src, src_rc, "read a table");
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    return rc;
}

static int exec(struct store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? PLAT_OK : store__db_err(s, rc, what);
}

/* Every table name of `s` into a NULL-terminated array (plat_free each
 * and the array). */
static int table_names(struct store *s, char ***out)
{
    sqlite3_stmt *st = NULL;
    char **names = NULL, **grown;
    size_t n = 0;
    int rc, src;

    *out = NULL;
    rc = store__prepare(s, tables_sql, &st);
    while (rc == PLAT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        grown = plat_realloc(names, (n + 2) * sizeof(*names));
        if (!grown) {
            rc = ERR_NOMEM;
            break;
        }
        names = grown;
        names[n] = store__col_dup(st, 0, &rc);
        names[++n] = NULL;
    }
    if (rc == PLAT_OK && src != SQLITE_DONE)
        rc = store__db_err(s, src, "list the tables");
    sqlite3_finalize(st);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            plat_free(names[i]);
        plat_free(names);
        return rc;
    }
    *out = names;
    return PLAT_OK;
}

static void free_names(char **names)
{
    for (size_t i = 0; names && names[i]; i++)
        plat_free(names[i]);
    plat_free(names);
}

static int copy_all(struct store *src, struct store *dst, char **names)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc;

    rc = exec(dst, "PRAGMA defer_foreign_keys=ON", "defer foreign keys");
    if (rc == PLAT_OK)
        rc = exec(dst, "BEGIN IMMEDIATE", "start the copy");
    for (i = 0; rc == PLAT_OK && names[i]; i++)
        rc = copy_table(src, dst, names[i]);
    /* AUTOINCREMENT counters, so new outbox entries keep growing. */
    if (rc == PLAT_OK)
        rc = exec(dst, "DELETE FROM sqlite_sequence", "copy the counters");
    if (rc == PLAT_OK)
        rc = store__prepare(src, "SELECT name, seq FROM sqlite_sequence", &st);
    while (rc == PLAT_OK && sqlite3_step(st) == SQLITE_ROW) {
        sqlite3_stmt *ins = NULL;

        rc = store__prepare(dst, "INSERT INTO sqlite_sequence(name, seq) "
                            "VALUES (?1, ?2)", &ins);
        if (rc == PLAT_OK) {
            sqlite3_bind_value(ins, 1, sqlite3_column_value(st, 0));
            sqlite3_bind_value(ins, 2, sqlite3_column_value(st, 1));
            rc = store__step_done(dst, ins, "copy the counters");
        }
        sqlite3_finalize(ins);
    }
    sqlite3_finalize(st);
    if (rc == PLAT_OK && dst->version >= 2)
        rc = exec(dst, "INSERT INTO registrations_search(registrations_search)"
                  " VALUES ('rebuild')", "rebuild the search index");
    if (rc == PLAT_OK)
        rc = exec(dst, "COMMIT", "commit the copy");
    if (rc < 0 && !sqlite3_get_autocommit(dst->db))
        sqlite3_exec(dst->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Reopen the copy and compare it with the source. */
static int verify(struct store *src, const char *dst_path,
                  const uint8_t *dst_key, char **names)
{
    struct store_options opt = {0, 1, 0, 0};
    struct store *dst = NULL;
    int64_t a, b;
    size_t i;
    int rc;

    rc = store_open_key(&dst, dst_path, &opt, dst_key);
    if (rc == PLAT_OK)
        rc = store_integrity_check(dst);
    for (i = 0; rc == PLAT_OK && names[i]; i++) {
        rc = count_rows(src, names[i], &a);
        if (rc == PLAT_OK)
            rc = count_rows(dst, names[i], &b);
        if (rc == PLAT_OK && a != b)
            rc = plat_err_set(ERR_CORRUPT, "the copy %s has %lld rows in "
                              "table %s, the store %lld: nothing was "
                              "changed", dst_path, (long long)b, names[i],
                              (long long)a);
    }
    store_close(dst);
    return rc;
}

int store_copy_to(struct store *src, const char *dst_path,
                  const uint8_t *dst_key)
{
    struct store_options opt = {STORE_CREATE, 1, 0, 0};
    struct store *dst = NULL;
    char **names = NULL;
    int rc;

    if (plat_fs_exists(dst_path))
        return plat_err_set(ERR_EXISTS, "%s exists already (left by an "
                            "interrupted run? remove it)", dst_path);
    opt.target_version = src->version;
    rc = table_names(src, &names);
    if (rc == PLAT_OK)
        rc = store_open_key(&dst, dst_path, &opt, dst_key);
    if (rc == PLAT_OK)
        rc = copy_all(src, dst, names);
    store_close(dst);
    if (rc == PLAT_OK)
        rc = verify(src, dst_path, dst_key, names);
    free_names(names);
    if (rc < 0)
        store_remove_files(dst_path);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char *dir = plat_fs_dirname(path);
    int fd, rc = PLAT_OK;

    if (!dir)
        return ERR_NOMEM;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = plat_err_set(ERR_IO, "cannot sync directory %s: %s", dir,
                          strerror(errno));
    if (fd >= 0)
        close(fd);
    plat_free(dir);
    return rc;
}

/* Overwrite `path` with zeros, sync, unlink: best effort. */
static void wipe_file(const char *path)
{
    static const char zeros[65536];
    off_t size, done;
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0) {
        size = lseek(fd, 0, SEEK_END);
        lseek(fd, 0, SEEK_SET);
        for (done = 0; done < size;) {
            ssize_t n = write(fd, zeros, (size_t)(size - done) < sizeof(zeros)
                                             ? (size_t)(size - done)
                                             : sizeof(zeros));
            if (n <= 0)
                break;
            done += n;
        }
        (void)!fsync(fd);
        close(fd);
    }
    unlink(path);
}

int store_swap_in(const char *store_path, const char *copy_path)
{
    char *old = plat_asprintf("%s.old", store_path);
    int rc = PLAT_OK;

    if (!old)
        return ERR_NOMEM;
    unlink(old); /* a leftover of an interrupted run */
    if (link(store_path, old) != 0) {
        rc = plat_err_set(ERR_IO, "cannot link %s to %s: %s", store_path,
                          old, strerror(errno));
        goto done;
    }
    if (rename(copy_path, store_path) != 0) {
        rc = plat_err_set(ERR_IO, "cannot move %s to %s: %s", copy_path,
                          store_path, strerror(errno));
        unlink(old);
        goto done;
    }
    rc = fsync_dir_of(store_path);
    {
        /* The old file's WAL and seal belong to it, not to the copy. */
        char name[4096];
        static const char *const suffix[] = {"-wal", "-shm", ".sealed"};
        for (size_t i = 0; i < 3; i++)
            if ((size_t)snprintf(name, sizeof(name), "%s%s", store_path,
                                 suffix[i]) < sizeof(name))
                unlink(name);
    }
    wipe_file(old);
    {
        /* The copy's own seal (its checks are not carried over). */
        char name[4096];
        if ((size_t)snprintf(name, sizeof(name), "%s.sealed", copy_path) <
            sizeof(name))
            unlink(name);
    }
done:
    plat_free(old);
    return rc;
}
