/*
 * store.c - opening, checking and migrating the store; transactions; the
 * helpers the other storage/ files share (error mapping, cached
 * statements, JSON).
 *
 * Opening is careful not to write anything before it knows the file is an
 * agent store this binary understands: a damaged file, a foreign database
 * or a store from a newer agent is refused and left byte for byte as it
 * was. Only then is WAL switched on and migrations applied.
 */
#include "store_internal.h"
#include "store_crypt.h"
#include "store_migrations.h"
#include "store_search.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"
#include "plat_testhook.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#define STORE_BUSY_TIMEOUT_MS 5000

/* ---- shared helpers ---------------------------------------------------- */

/* The encrypting VFS the store's files go through, or NULL. */
static struct store_crypt *crypt_of(struct store *s)
{
    return s && s->crypt ? s->crypt : store_crypt_test_instance();
}


int store__damaged(struct store *s, const char *detail)
{
    const char *path = s && s->path ? s->path : "(unknown)";
    char why[160] = "";
    int rc;

    /* An encrypted page that failed its check says which page. */
    if (crypt_of(s) && store_crypt_last_failure(crypt_of(s), why + 2,
                                                sizeof(why) - 2) &&
        !strstr(detail, why + 2))
        memcpy(why, ": ", 2);
    else
        why[0] = '\0';
    /* The message first: `detail` may be sqlite3_errmsg, which the
     * PRAGMA below replaces. */
    rc = plat_err_set(ERR_CORRUPT, "store %s is damaged (%s%s): nothing "
                      "more is written to it; restore a backup, or move the "
                      "file away (keep it: changes not yet synced are only "
                      "in it) and run `agent init` and `agent sync --now`",
                      path, detail, why);
    if (s && !s->damaged && s->db && !(s->flags & STORE_READONLY))
        /* SQLite itself now refuses every write on this connection,
         * whatever path it comes from (SQLITE_READONLY, mapped back to
         * this message by store__db_err). */
        sqlite3_exec(s->db, "PRAGMA query_only=1", NULL, NULL, NULL);
    if (s && s->path) {
        /* A seal would let the next open skip the check: drop it. */
        char seal[4096];
        if ((size_t)snprintf(seal, sizeof(seal), "%s.sealed", s->path) <
            sizeof(seal))
            unlink(seal);
    }
    if (s)
        s->damaged = 1;
    return rc;
}

int store__db_err(struct store *s, int rc, const char *what)
{
    const char *path = s && s->path ? s->path : "(unknown)";
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    int sys = s && s->db ? sqlite3_system_errno(s->db) : 0;

    /* A disk that is full shows as SQLITE_FULL on writes, but as an I/O
     * error on the fsync, truncate or shared-memory step that hit it. */
    if ((rc & 0xff) == SQLITE_FULL ||
        ((rc & 0xff) == SQLITE_IOERR &&
         (sys == ENOSPC || (s && s->path && plat_fs_disk_full(s->path)))))
        return plat_err_set(ERR_IO, "cannot write store %s: the disk is "
                            "full", path);
    if (rc == SQLITE_CANTOPEN_SYMLINK)
        return plat_err_set(ERR_IO, "store %s is a symbolic link: refusing "
                            "to follow it (give the real path)", path);
    char why[160];

    switch (rc & 0xff) {
    case SQLITE_CORRUPT:
        /* An encrypted page that failed its check: name the page. */
        if (crypt_of(s) &&
            store_crypt_last_failure(crypt_of(s), why, sizeof(why)))
            return store__damaged(s, why);
        return store__damaged(s, msg);
    case SQLITE_NOTADB:
        return plat_err_set(ERR_CORRUPT,
                            "store %s is damaged or not an agent store: %s",
                            path, msg);
    case SQLITE_READONLY:
        if (s && s->damaged)
            return store__damaged(s, "it failed its check");
        return plat_err_set(ERR_IO, "cannot write store %s: %s", path, msg);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
        return plat_err_set(ERR_IO, "store %s: cannot %s: %s", path, what,
                            msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return plat_err_set(ERR_LOCKED,
                            "store %s is locked by another process (%s): %s",
                            path, what, msg);
    case SQLITE_NOMEM:
        return plat_err_set(ERR_NOMEM, "out of memory in store %s (%s)",
                            path, what);
    default:
        return plat_err_set(ERR_GENERIC, "store %s: cannot %s: %s", path,
                            what, msg);
    }
}

int store__stmt(struct store *s, enum store__stmt_id id, const char *sql,
                sqlite3_stmt **out)
{
    int rc;

    *out = NULL;
    if (!s->stmt[id]) {
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                &s->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            s->stmt[id] = NULL;
            return store__db_err(s, rc, "prepare a query");
        }
    }
    *out = s->stmt[id];
    return PLAT_OK;
}

void store__stmt_done(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int exec_sql(struct store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return store__db_err(s, rc, what);
    return PLAT_OK;
}

int store__exec_cached(struct store *s, enum store__stmt_id id,
                       const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__stmt(s, id, sql, &st);
    if (rc < 0)
        return rc;
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? PLAT_OK
                                               : store__db_err(s, rc, what);
    sqlite3_reset(st);
    return rc;
}

int store__prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

    if (rc != SQLITE_OK) {
        *st = NULL;
        return store__db_err(s, rc, "prepare a query");
    }
    return PLAT_OK;
}

int store__step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE)
        return store__db_err(s, rc, what);
    sqlite3_reset(st);
    return PLAT_OK;
}

int store__step_row(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return PLAT_OK;
    if (rc == SQLITE_DONE)
        return ERR_NOTFOUND;
    return store__db_err(s, rc, what);
}

int store__step_text(struct store *s, sqlite3_stmt *st, const char *what,
                     char **out)
{
    const char *v;
    int rc;

    *out = NULL;
    rc = store__step_row(s, st, what);
    if (rc < 0)
        return rc;
    v = store__col_text(st, 0);
    *out = plat_strdup(v ? v : "");
    return *out ? PLAT_OK : ERR_NOMEM;
}

const char *store__col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

char *store__col_dup(sqlite3_stmt *st, int i, int *rc)
{
    const char *v = store__col_text(st, i);
    char *d;

    if (!v)
        return NULL;
    d = plat_strdup(v);
    if (!d)
        *rc = ERR_NOMEM;
    return d;
}

/* Undo without reporting: the failure being handled is what counts. */
static void rollback_quietly(struct store *s, enum store__stmt_id id,
                             const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_get_autocommit(s->db))
        return; /* SQLite already rolled the transaction back */
    if (store__stmt(s, id, sql, &st) == PLAT_OK) {
        sqlite3_step(st);
        sqlite3_reset(st);
    }
}

/* ---- search index queue ------------------------------------------------- */

static void fts_discard(struct store *s, size_t from)
{
    size_t i;

    for (i = from; i < s->fts_n; i++) {
        plat_free(s->fts[i].ref);
        plat_free(s->fts[i].name);
        plat_free(s->fts[i].phone);
    }
    if (from < s->fts_n)
        s->fts_n = from;
}

int store__fts_queue(struct store *s, int64_t rowid, int del,
                     const char *ref, const char *name, const char *phone)
{
    struct store__fts_op *op, *grown;
    size_t n;

    if (s->fts_deferred)
        return PLAT_OK; /* the rebuild will read this row */
    if (s->fts_n == s->fts_alloc) {
        n = s->fts_alloc ? s->fts_alloc * 2 : 64;
        grown = plat_realloc(s->fts, n * sizeof(*grown));
        if (!grown)
            return ERR_NOMEM;
        s->fts = grown;
        s->fts_alloc = n;
    }
    op = &s->fts[s->fts_n];
    op->rowid = rowid;
    op->del = del;
    op->ref = plat_strdup(ref ? ref : "");
    op->name = name ? plat_strdup(name) : NULL;
    op->phone = phone ? plat_strdup(phone) : NULL;
    if (!op->ref || (name && !op->name) || (phone && !op->phone)) {
        plat_free(op->ref);
        plat_free(op->name);
        plat_free(op->phone);
        return plat_err_set(ERR_NOMEM, "out of memory queueing a search "
                            "index change");
    }
    s->fts_n++;
    return PLAT_OK;
}

void store__fts_last_rowid(struct store *s, int64_t rowid)
{
    if (s->fts_n > 0)
        s->fts[s->fts_n - 1].rowid = rowid;
}

int store__fts_flush(struct store *s)
{
    sqlite3_stmt *ins = NULL, *del = NULL, *st;
    struct store__fts_op *op;
    size_t i;
    int rc;

    if (s->fts_n == 0)
        return PLAT_OK;
    if (s->fts_deferred) {
        /* Queued before this transaction found the rebuild marker
         * (store_search_defer): the rebuild reads these rows. */
        fts_discard(s, 0);
        return PLAT_OK;
    }
    rc = store__stmt(s, STORE__ST_FTS_INSERT,
                     "INSERT INTO registrations_search(rowid, reference_id,"
                     " name, phone_number) VALUES (?1, ?2, ?3, ?4)",
                     &ins);
    if (rc == PLAT_OK)
        rc = store__stmt(s, STORE__ST_FTS_DELETE,
                         "INSERT INTO registrations_search("
                         "registrations_search, rowid, reference_id, name,"
                         " phone_number) VALUES ('delete', ?1, ?2, ?3, ?4)",
                         &del);
    for (i = 0; rc == PLAT_OK && i < s->fts_n; i++) {
        op = &s->fts[i];
        st = op->del ? del : ins;
        sqlite3_bind_int64(st, 1, op->rowid);
        store__bind_text(st, 2, op->ref);
        store__bind_text(st, 3, op->name);
        store__bind_text(st, 4, op->phone);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE
                 ? PLAT_OK
                 : store__db_err(s, rc, "update the search index");
        store__stmt_done(st);
    }
    /* Applied (or failed, and the caller rolls back): either way the
     * queue is spent, and the marks of open levels now point past it. */
    fts_discard(s, 0);
    return rc;
}

/* ---- transactions (internal) -------------------------------------------- */

int store__txn_begin(struct store *s, int *token_out)
{
    int rc;

    *token_out = 0;
    if (s->damaged)
        return store__damaged(s, "it failed its check");
    if (s->depth >= STORE__MAX_DEPTH)
        return plat_err_set(ERR_GENERIC, "store %s: changes nested too deep",
                            s->path);
    if (s->txn_open || s->depth > 0) {
        rc = store__exec_cached(s, STORE__ST_SAVEPOINT, "SAVEPOINT store_op",
                                "start a change");
        if (rc < 0)
            return rc;
        *token_out = 1;
    } else {
        rc = store__exec_cached(s, STORE__ST_BEGIN, "BEGIN IMMEDIATE",
                                "start a transaction");
        if (rc < 0)
            return rc;
        rc = store__fts_deferred_load(s);
        if (rc < 0) {
            rollback_quietly(s, STORE__ST_ROLLBACK, "ROLLBACK");
            return rc;
        }
        *token_out = 2;
    }
    s->fts_mark[s->depth++] = s->fts_n;
    return PLAT_OK;
}

int store__txn_begin_one(struct store *s, int *token_out)
{
    if (!s->txn_open && s->depth == 0)
        return store__txn_begin(s, token_out);
    *token_out = 0;
    if (s->damaged)
        return store__damaged(s, "it failed its check");
    if (s->depth >= STORE__MAX_DEPTH)
        return plat_err_set(ERR_GENERIC, "store %s: changes nested too deep",
                            s->path);
    s->fts_mark[s->depth++] = s->fts_n;
    *token_out = 3;
    return PLAT_OK;
}

int store__txn_end(struct store *s, int token, int rc)
{
    size_t mark;

    if (token == 0)
        return rc;
    mark = s->fts_mark[--s->depth];
    if (token == 3) {
        /* No savepoint: the one write statement undid itself if it
         * failed; the index changes it queued go too. */
        if (rc < 0)
            fts_discard(s, mark);
        return rc;
    }
    if (token == 1) {
        if (rc == PLAT_OK) {
            rc = store__exec_cached(s, STORE__ST_RELEASE, "RELEASE store_op",
                                    "finish a change");
            if (rc == PLAT_OK)
                return PLAT_OK;
        }
        fts_discard(s, mark);
        rollback_quietly(s, STORE__ST_ROLLBACK_TO, "ROLLBACK TO store_op");
        rollback_quietly(s, STORE__ST_RELEASE, "RELEASE store_op");
        return rc;
    }
    if (rc == PLAT_OK)
        rc = store__fts_flush(s);
    if (rc == PLAT_OK) {
        rc = store__exec_cached(s, STORE__ST_COMMIT, "COMMIT", "commit");
        if (rc == PLAT_OK) {
            plat_testhook(PLAT_HOOK_AFTER_COMMIT, 1);
            return PLAT_OK;
        }
    }
    fts_discard(s, 0);
    rollback_quietly(s, STORE__ST_ROLLBACK, "ROLLBACK");
    return rc;
}

void store__now(char out[PLAT_ISO_LEN])
{
    plat_time_iso(plat_time_wall_ms(), out);
}

int store__bind_text(sqlite3_stmt *st, int idx, const char *v)
{
    if (!v)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
}

char *store__json_print(const cJSON *item)
{
    char *text = cJSON_PrintUnformatted(item);

    if (!text)
        plat_err_set(ERR_NOMEM, "out of memory formatting JSON");
    return text;
}

int store__json_parse(struct store *s, const char *text, const char *what,
                      cJSON **out)
{
    *out = NULL;
    if (!text)
        return plat_err_set(ERR_CORRUPT, "store %s: %s has no JSON", s->path,
                            what);
    /* cJSON_Parse says NULL both for bad JSON and for no memory; only the
     * allocator's error tells them apart. */
    plat_err_clear();
    *out = cJSON_Parse(text);
    if (!*out && plat_err_code() == ERR_NOMEM)
        return ERR_NOMEM;
    if (!*out)
        return plat_err_set(ERR_CORRUPT,
                            "store %s: the stored JSON of %s is damaged",
                            s->path, what);
    return PLAT_OK;
}

int store__json_int64(const cJSON *v, const char *field, int64_t min,
                      int64_t max, int64_t *out)
{
    double d;
    int64_t i;

    if (!v || cJSON_IsNull(v))
        return plat_err_set(ERR_INVALID, "field %s is missing", field);
    if (!cJSON_IsNumber(v))
        return plat_err_set(ERR_INVALID, "field %s is not a number", field);
    d = v->valuedouble;
    /* -2^63 and 2^63 are exact doubles; the negated test also refuses
     * NaN. Only then is the conversion defined. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        goto bad;
    i = (int64_t)d;
    if ((double)i != d || i < min || i > max)
        goto bad;
    *out = i;
    return PLAT_OK;
bad:
    return plat_err_set(ERR_INVALID, "field %s is not a whole number from "
                        "%lld to %lld", field, (long long)min,
                        (long long)max);
}

const char *store__scalar_text(const cJSON *v, char *buf, size_t n)
{
    double d;

    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
            d == (double)(long long)d)
            snprintf(buf, n, "%lld", (long long)d);
        else
            snprintf(buf, n, "%.17g", d);
        return buf;
    }
    return NULL;
}

/* Text of `v` for store__same_value: scalars as text, booleans too when
 * `bool_text`; NULL for anything else. */
static const char *compare_text(const cJSON *v, int bool_text, char *buf,
                                size_t n)
{
    if (bool_text && cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return store__scalar_text(v, buf, n);
}

static int empty_value(const cJSON *v)
{
    return !v || cJSON_IsNull(v) ||
           (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

int store__same_value(const cJSON *a, const cJSON *b, int bool_text)
{
    char ba[32], bb[32];
    const char *ta, *tb;

    if (empty_value(a) || empty_value(b))
        return empty_value(a) && empty_value(b);
    ta = compare_text(a, bool_text, ba, sizeof(ba));
    tb = compare_text(b, bool_text, bb, sizeof(bb));
    if (ta && tb)
        return strcmp(ta, tb) == 0;
    return cJSON_Compare(a, b, 1);
}

int store__put_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return plat_err_set(ERR_NOMEM, "out of memory setting field %s", key);
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item))
            return PLAT_OK;
    } else if (cJSON_AddItemToObject(obj, key, item)) {
        return PLAT_OK;
    }
    cJSON_Delete(item);
    return plat_err_set(ERR_NOMEM, "out of memory setting field %s", key);
}

int store__has_duplicate_key(const cJSON *obj, const char **dup_out)
{
    const cJSON *a, *b;

    *dup_out = NULL;
    for (a = obj ? obj->child : NULL; a; a = a->next) {
        for (b = a->next; b; b = b->next) {
            if (a->string && b->string && strcmp(a->string, b->string) == 0) {
                *dup_out = a->string;
                return 1;
            }
        }
    }
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

int store_schema_version(void)
{
    return store_migrations_count;
}

/* cJSON allocates through the project allocator, so its allocations are
 * counted and can be made to fail in tests like every other one. */
static void init_cjson_hooks(void)
{
    static int done;
    cJSON_Hooks hooks;

    if (done)
        return;
    hooks.malloc_fn = plat_malloc;
    hooks.free_fn = plat_free;
    cJSON_InitHooks(&hooks);
    done = 1;
}

/* Read one integer (PRAGMA user_version, a count). *src_out receives the
 * SQLite result code. */
static int query_int(struct store *s, const char *sql, const char *what,
                     int64_t *out, int *src_out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    *src_out = rc;
    if (rc != SQLITE_OK)
        rc = store__db_err(s, rc, what);
    sqlite3_finalize(st);
    return rc;
}

/* The first look at the file: reading the schema makes SQLite read the
 * header and first page, which fails with SQLITE_NOTADB for anything that
 * is not a database. Nothing is written. */
static int check_file(struct store *s, int64_t *version_out)
{
    int64_t objects = 0;
    int rc, src;

    *version_out = 0;
    rc = query_int(s, "SELECT count(*) FROM sqlite_schema", "read it",
                   &objects, &src);
    if (rc < 0 && (src & 0xff) == SQLITE_READONLY)
        /* In WAL mode SQLite must create PATH-wal and PATH-shm beside the
         * store, even to read it. */
        return plat_err_set(ERR_IO,
                            "cannot open store %s: the store or its "
                            "directory is read-only (%s)",
                            s->path, sqlite3_errstr(src));
    if (rc < 0)
        return rc;
    rc = query_int(s, "PRAGMA user_version", "read it", version_out, &src);
    if (rc < 0)
        return rc;
    if (*version_out == 0 && objects > 0)
        return plat_err_set(ERR_CORRUPT,
                            "store %s is damaged or not an agent store: it "
                            "is a SQLite database with other tables",
                            s->path);
    if (*version_out < 0 || *version_out > store_schema_version())
        return plat_err_set(ERR_VERSION,
                            "store %s has schema version %lld, newer than "
                            "this agent (%d): upgrade the agent",
                            s->path, (long long)*version_out,
                            store_schema_version());
    return PLAT_OK;
}

/* The quick check at open: PRAGMA quick_check(1) (b-tree structure, page
 * and cell bounds, free list; not index contents), stopped by a progress
 * handler after STORE_QUICK_CHECK_MS. Measured on a 40,000-registration
 * store (60 MB): 0.23 s with the file in the OS cache, 0.8 s cold; 0.4 s
 * at 200,000 (600 MB, cached). The budget stops the check between SQLite
 * steps; SQLite 3.40 (Debian 12) runs a quick check as one step and calls
 * the handler only after it, so there every open pays the whole check (it
 * grows with the store), while newer SQLite stops at the budget. A check
 * cut short is not an error: damage found later by a query is
 * (cell_size_check), and the daemon's daily full check covers the rest. */
#define STORE_QUICK_CHECK_MS 100

static int past_deadline(void *payload)
{
    return plat_time_mono_ms() > *(const int64_t *)payload;
}

static int quick_check(struct store *s, int64_t budget_ms)
{
    sqlite3_stmt *st = NULL;
    const char *first;
    int64_t deadline = plat_time_mono_ms() + budget_ms;
    int src, rc = PLAT_OK;

    if (budget_ms > 0)
        sqlite3_progress_handler(s->db, 1000, past_deadline, &deadline);
    src = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        first = store__col_text(st, 0);
        if (!first || strcmp(first, "ok") != 0)
            rc = store__damaged(s, "it failed its quick check");
    } else if (src == SQLITE_INTERRUPT) {
        s->check_cut_short = 1;
    } else {
        rc = store__db_err(s, src, "check it");
    }
    sqlite3_finalize(st);
    sqlite3_progress_handler(s->db, 0, NULL, NULL);
    return rc;
}

/* The seal: PATH.sealed holds the file's identity and last change time
 * (device, inode, size, mtime in ns) as this agent left it when it was the
 * last to close the store cleanly (no WAL left). At open, a store whose
 * file still matches its seal, with no WAL beside it, was changed by no
 * one since: the quick check is skipped, so a command does not pay a
 * read of the whole file (0.4 s at 200,000 registrations). Anything else
 * touching the file (a crash, a copy, a disk tool writing into it) changes
 * the stat or leaves a WAL, and the check runs. Damage that changes no
 * metadata (bit rot) is left to the daemon's daily full check. The seal is
 * only a cache: when it is lost or torn, the check runs. */
static int stat_text(const char *path, char *out, size_t n)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    snprintf(out, n, "%llu %llu %lld %lld.%09ld",
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
             (long long)st.st_size, (long long)st.st_mtim.tv_sec,
             (long)st.st_mtim.tv_nsec);
    return 0;
}

static int wal_present(const char *path)
{
    char wal[4096];
    struct stat st;

    if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal))
        return 1;
    return stat(wal, &st) == 0 && st.st_size > 0;
}

/* 1 when the file matches the seal read into s->seal (see above). */
static int sealed(struct store *s)
{
    char name[4096], now[128], *text = NULL;
    size_t len;

    s->seal[0] = '\0';
    if ((size_t)snprintf(name, sizeof(name), "%s.sealed", s->path) >=
        sizeof(name))
        return 0;
    if (plat_fs_read_file(name, sizeof(s->seal) - 1, &text, &len) < 0) {
        plat_err_clear();
        return 0;
    }
    snprintf(s->seal, sizeof(s->seal), "%s", text);
    plat_free(text);
    return stat_text(s->path, now, sizeof(now)) == 0 &&
           strcmp(now, s->seal) == 0 && !wal_present(s->path);
}

/* After the last connection closed cleanly: write the seal (unless it
 * would not change). Errors are ignored: the seal is a cache. */
static void write_seal(const char *path, const char *old)
{
    char name[4096], now[128];

    if (wal_present(path) || stat_text(path, now, sizeof(now)) != 0 ||
        strcmp(now, old) == 0)
        return;
    if ((size_t)snprintf(name, sizeof(name), "%s.sealed", path) <
            sizeof(name) &&
        plat_fs_write_atomic(name, now, strlen(now), 0600) < 0)
        plat_err_clear();
}

static int set_pragmas(struct store *s, const struct store_options *opt)
{
    int rc;

    if (!(s->flags & STORE_READONLY)) {
        /* The result row says which mode is in force; a read-only file
         * keeps its mode and the first write then reports it. */
        rc = exec_sql(s, "PRAGMA journal_mode=WAL", "switch to WAL mode");
        if (rc < 0)
            return rc;
    }
    rc = exec_sql(s, opt->synchronous_full ? "PRAGMA synchronous=FULL"
                                           : "PRAGMA synchronous=NORMAL",
                  "set synchronous");
    if (rc < 0)
        return rc;
    rc = exec_sql(s, "PRAGMA foreign_keys=ON", "enable foreign keys");
    if (rc < 0)
        return rc;
    /* Check each b-tree page's cells as it is read, so a damaged page
     * that a query touches is reported (SQLITE_CORRUPT) instead of being
     * used; a few percent of CPU on reads. */
    rc = exec_sql(s, "PRAGMA cell_size_check=ON", "set cell_size_check");
    if (rc < 0)
        return rc;
    /* Performance, measured with tests/bench/bench_store.c:
     * - temp_store=MEMORY: a write inside a caller's transaction runs in a
     *   savepoint, whose statement journal (a copy of each page it
     *   changes) otherwise spills to a temporary file: 30 writes a row.
     * - cache_size 1.5 MiB: a first pull appends in id order, so a bigger
     *   cache only holds pages it will not read again; 12 MiB was no
     *   faster and put the peak RSS of a first pull at 29 MB instead of
     *   16 MB (tests/bench/bench_sync.py; a Pi has little memory). 1.5
     *   MiB instead of 2 (issue 13, footprint2): -0.5 MB of peak RSS for
     *   7 % more page reads (16,147 -> 17,271 preads over 40,000 rows,
     *   about 0.01 s); 1 MiB cost 0.1 s of system time.
     * - wal_autocheckpoint 4000 pages (16 MiB of WAL): fewer checkpoints,
     *   each with its fsyncs, when batches rewrite the same index pages. */
    rc = exec_sql(s, "PRAGMA temp_store=MEMORY", "set temp_store");
    if (rc < 0)
        return rc;
    rc = exec_sql(s, "PRAGMA cache_size=-1536", "set the cache size");
    if (rc < 0)
        return rc;
    return exec_sql(s, "PRAGMA wal_autocheckpoint=4000", "set the WAL size");
}

/* Migration i takes user_version i to i + 1, in one transaction with the
 * version bump, so a failure leaves the store at version i. */
static int migrate(struct store *s, int from, int to)
{
    char sql[64], what[96];
    int v, rc, src;

    for (v = from; v < to; v++) {
        rc = exec_sql(s, "BEGIN IMMEDIATE", "start a migration");
        if (rc < 0)
            return rc;
        src = sqlite3_exec(s->db, store_migrations[v].sql, NULL, NULL, NULL);
        if (src == SQLITE_OK) {
            snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
            src = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        }
        if (src == SQLITE_OK)
            src = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            snprintf(what, sizeof(what), "apply migration %s",
                     store_migrations[v].name);
            if ((src & 0xff) == SQLITE_ERROR ||
                (src & 0xff) == SQLITE_CONSTRAINT)
                /* The SQL did not fit the file: an object of that name
                 * exists already, say. Not a store we can trust. */
                rc = plat_err_set(ERR_CORRUPT,
                                  "store %s: migration %s failed: %s",
                                  s->path, store_migrations[v].name,
                                  sqlite3_errmsg(s->db));
            else
                rc = store__db_err(s, src, what);
            if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        s->version = v + 1;
    }
    return PLAT_OK;
}

/* The fault harness's kill point inside a commit (plat_testhook.h):
 * installed only when AGENT_TEST_KILL_AT_COMMIT is set. */
static int kill_at_commit(void *unused)
{
    (void)unused;
    plat_testhook(PLAT_HOOK_AT_COMMIT, 1);
    return 0;
}

/* Encryption: which key (the caller's, or a test key), and whether the
 * file agrees. Registers the encrypting VFS in s->crypt. */
static int open_crypt(struct store *s, const struct store_options *opt,
                      const uint8_t *key)
{
    int kind = store_crypt_file_kind(s->path);

    (void)opt;
    if (!key && store_crypt_test_instance())
        return PLAT_OK; /* tests: the default VFS encrypts everything */
    if (!key && kind == STORE_FILE_ENCRYPTED)
        return plat_err_set(ERR_AUTH, "store %s is encrypted and no key was "
                            "given", s->path);
    if (key && kind == STORE_FILE_PLAIN)
        return plat_err_set(ERR_INVALID, "store %s is not encrypted (`agent "
                            "encrypt` converts it)", s->path);
    if (!key || kind == STORE_FILE_OTHER)
        return PLAT_OK; /* SQLite says what is wrong with the file */
    return store_crypt_create(&s->crypt, key);
}

/* A new encrypted file: room for the nonce and tag in every page, before
 * SQLite writes the first one. */
static int prepare_encrypted(struct store *s)
{
    int reserve = STORE_CRYPT_RESERVE, src;

    src = sqlite3_exec(s->db, "PRAGMA page_size=4096", NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return store__db_err(s, src, "set the page size");
    src = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_RESERVE_BYTES,
                               &reserve);
    if (src != SQLITE_OK)
        return store__db_err(s, src, "reserve room for encryption");
    return PLAT_OK;
}

int store_open(struct store **out, const char *path,
               const struct store_options *opt)
{
    return store_open_key(out, path, opt, NULL);
}

int store_encrypted(struct store *s)
{
    return s->crypt != NULL;
}

int store_open_key(struct store **out, const char *path,
                   const struct store_options *opt_in, const uint8_t *key)
{
    struct store_options opt = {0, 1, 0, 0};
    struct store *s = NULL;
    char *dir = NULL;
    int64_t version = 0;
    int target, oflags, rc, src, group_writable;

    *out = NULL;
    if (opt_in)
        opt = *opt_in;
    if (!path || !*path)
        return plat_err_set(ERR_INVALID, "no store path given");
    init_cjson_hooks();

    dir = plat_fs_dirname(path);
    if (!dir)
        return ERR_NOMEM;
    if (!plat_fs_exists(dir)) {
        rc = plat_err_set(ERR_IO,
                          "cannot open store %s: directory %s does not exist",
                          path, dir);
        goto done;
    }
    group_writable = 0;
    rc = plat_fs_check_dir(dir, "store", &group_writable);
    if (rc < 0)
        goto done;
    if (group_writable)
        log_warn("store directory %s is writable by its group: members of "
                 "the group could replace the store (chmod g-w %s)",
                 dir, dir);
    if (!plat_fs_exists(path) &&
        (!(opt.flags & STORE_CREATE) || (opt.flags & STORE_READONLY))) {
        rc = plat_err_set(ERR_NOTFOUND,
                          "no store at %s (run `agent init` first)", path);
        goto done;
    }

    s = plat_calloc(1, sizeof(*s));
    if (!s) {
        rc = ERR_NOMEM;
        goto done;
    }
    s->flags = opt.flags;
    s->path = plat_strdup(path);
    if (!s->path) {
        rc = ERR_NOMEM;
        goto done;
    }
    /* NOFOLLOW: a symbolic link planted at the store path is refused
     * (SQLITE_CANTOPEN_SYMLINK); SQLite opens PATH-wal and PATH-shm with
     * O_NOFOLLOW itself. */
    oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
    if (opt.flags & STORE_READONLY)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE |
                  ((opt.flags & STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
    rc = open_crypt(s, &opt, key);
    if (rc < 0)
        goto done;
    src = sqlite3_open_v2(path, &s->db, oflags,
                          s->crypt ? store_crypt_vfs_name(s->crypt) : NULL);
    if (src != SQLITE_OK && s->db) /* SQLITE_CANTOPEN_SYMLINK, say */
        src = sqlite3_extended_errcode(s->db);
    if (src != SQLITE_OK) {
        rc = s->db ? store__db_err(s, src, "open it")
                   : plat_err_set(ERR_NOMEM, "out of memory opening store %s",
                                  path);
        goto done;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (plat_testhook_armed(PLAT_HOOK_AT_COMMIT))
        sqlite3_commit_hook(s->db, kill_at_commit, NULL);
    rc = store__reg_register_functions(s);
    if (rc < 0)
        goto done;
    sqlite3_busy_timeout(s->db, opt.busy_timeout_ms > 0
                                    ? opt.busy_timeout_ms
                                    : STORE_BUSY_TIMEOUT_MS);

    if (crypt_of(s) && store_crypt_file_kind(path) == STORE_FILE_MISSING) {
        rc = prepare_encrypted(s);
        if (rc < 0)
            goto done;
    }
    rc = check_file(s, &version);
    if (rc == ERR_CORRUPT && crypt_of(s)) {
        char why[160];
        if (store_crypt_last_failure(crypt_of(s), why, sizeof(why)) &&
            strncmp(why, "page 1 ", 7) == 0)
            rc = plat_err_set(ERR_AUTH, "store %s cannot be read with this "
                              "key (the wrong key, or page 1 is damaged)",
                              path);
    }
    if (rc < 0)
        goto done;
    if (s->crypt) {
        char why[160];
        /* A WAL frame that failed its check ends the log there when SQLite
         * recovers it (as a torn write would): say so. */
        if (store_crypt_last_failure(s->crypt, why, sizeof(why)))
            log_warn("store %s: %s; the changes from there on were dropped "
                     "when the log was recovered", path, why);
    }
    s->version = (int)version;
    if (s->version == 0 && !(opt.flags & STORE_CREATE)) {
        /* An empty file (a `touch`, an interrupted init) is not a store
         * until someone asks for one. */
        rc = plat_err_set(ERR_NOTFOUND,
                          "no store at %s: the file is empty (run `agent "
                          "init` first)",
                          path);
        goto done;
    }

    /* Before anything is written: a damaged store is refused for
     * writing; read-only, it opens (lookups may still work) and
     * store_damaged() says so. */
    if (s->version > 0 && !sealed(s)) {
        rc = quick_check(s, STORE_QUICK_CHECK_MS);
        if (rc < 0 && !(s->damaged && (opt.flags & STORE_READONLY)))
            goto done;
        if (rc < 0)
            log_debug("%s", plat_err_msg());
        rc = PLAT_OK;
    }

    target = opt.target_version > 0 ? opt.target_version
                                    : store_schema_version();
    if (target > store_schema_version()) {
        rc = plat_err_set(ERR_INVALID,
                          "schema version %d asked for, this agent knows %d",
                          target, store_schema_version());
        goto done;
    }
    if (opt.flags & STORE_READONLY) {
        if (s->version < target) {
            rc = plat_err_set(ERR_VERSION,
                              "store %s has schema version %d, older than "
                              "this agent (%d): open it once for writing to "
                              "upgrade it",
                              path, s->version, target);
            goto done;
        }
        rc = set_pragmas(s, &opt);
        goto done;
    }
    rc = set_pragmas(s, &opt);
    if (rc < 0)
        goto done;
    if (s->version < target)
        rc = migrate(s, s->version, target);

done:
    plat_free(dir);
    if (rc < 0) {
        store_close(s);
        return rc;
    }
    *out = s;
    return PLAT_OK;
}

void store_close(struct store *s)
{
    int i;

    if (!s)
        return;
    fts_discard(s, 0);
    plat_free(s->fts);
    for (i = 0; i < STORE__ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        int closed = sqlite3_close(s->db) == SQLITE_OK;

        if (!closed) {
            /* A statement someone did not finalize keeps files open: let
             * SQLite close them later, and keep their VFS alive for it
             * (a leak, never a use after free). */
            sqlite3_close_v2(s->db);
            s->crypt = NULL;
        }
        if (closed && s->path && !(s->flags & STORE_READONLY) &&
            !s->damaged && !s->check_cut_short && s->version > 0)
            write_seal(s->path, s->seal);
    }
    store_crypt_destroy(s->crypt);
    plat_free(s->path);
    plat_free(s);
}

int store_version(struct store *s)
{
    return s->version;
}

const char *store_path(struct store *s)
{
    return s->path;
}

struct sqlite3 *store_db(struct store *s)
{
    return s->db;
}

/* ---- transactions ------------------------------------------------------- */

int store_begin(struct store *s)
{
    int rc;

    if (s->txn_open || s->depth > 0)
        return plat_err_set(ERR_INVALID,
                            "store %s: a transaction is already open",
                            s->path);
    if (s->damaged)
        return store__damaged(s, "it failed its check");
    rc = store__exec_cached(s, STORE__ST_BEGIN, "BEGIN IMMEDIATE",
                            "start a transaction");
    if (rc < 0)
        return rc;
    rc = store__fts_deferred_load(s);
    if (rc < 0) {
        rollback_quietly(s, STORE__ST_ROLLBACK, "ROLLBACK");
        return rc;
    }
    s->txn_open = 1;
    return PLAT_OK;
}

int store_commit(struct store *s)
{
    int rc;

    if (!s->txn_open)
        return plat_err_set(ERR_INVALID, "store %s: no transaction is open",
                            s->path);
    s->txn_open = 0;
    if (sqlite3_get_autocommit(s->db)) {
        /* SQLite rolled the transaction back itself (disk full, I/O
         * error): whatever the caller wrote is gone, so say so. */
        fts_discard(s, 0);
        return plat_err_set(ERR_IO,
                            "store %s: the transaction was rolled back after "
                            "an earlier error",
                            s->path);
    }
    rc = store__fts_flush(s);
    if (rc == PLAT_OK)
        rc = store__exec_cached(s, STORE__ST_COMMIT, "COMMIT", "commit");
    if (rc < 0)
        rollback_quietly(s, STORE__ST_ROLLBACK, "ROLLBACK");
    else
        plat_testhook(PLAT_HOOK_AFTER_COMMIT, 1);
    return rc;
}

void store_rollback(struct store *s)
{
    if (!s || !s->txn_open)
        return;
    s->txn_open = 0;
    fts_discard(s, 0);
    rollback_quietly(s, STORE__ST_ROLLBACK, "ROLLBACK");
}

/* ---- checks ------------------------------------------------------------- */

int store_integrity_check(struct store *s)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *first;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "check integrity");
        goto done;
    }
    first = sqlite3_column_text(st, 0);
    if (!first || strcmp((const char *)first, "ok") != 0) {
        /* SQLite's report runs over several lines and names pages and
         * indexes only; the one line says what to do. */
        rc = store__damaged(s, "it failed its integrity check");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    /* The search index mirrors the registrations table; compare the two
     * (rank 1 makes FTS5 check the index against its content table),
     * unless it waits for its rebuild (store_search.h): then it is known
     * to be behind, and nothing reads it. */
    if (s->version >= 2 && !(s->flags & STORE_READONLY)) {
        int pending = 0;

        rc = store_search_pending(s, &pending);
        if (rc < 0)
            goto done;
        if (pending) {
            rc = PLAT_OK;
            goto done;
        }
        rc = store__fts_flush(s); /* this transaction's rows, if any */
        if (rc < 0)
            goto done;
        rc = sqlite3_exec(s->db,
                          "INSERT INTO registrations_search"
                          "(registrations_search, rank) "
                          "VALUES ('integrity-check', 1)",
                          NULL, NULL, NULL);
        if ((rc & 0xff) == SQLITE_CORRUPT) {
            rc = store__damaged(s, "the search index does not match the "
                                "registrations");
            goto done;
        }
        if (rc != SQLITE_OK) {
            rc = store__db_err(s, rc, "check the search index");
            goto done;
        }
    }
    rc = PLAT_OK;

done:
    sqlite3_finalize(st);
    return rc;
}

int store_damaged(struct store *s)
{
    return s->damaged;
}

int store_check(struct store *s, int full)
{
    int rc;

    if (s->damaged)
        return store__damaged(s, "it failed its check");
    rc = full ? store_integrity_check(s) : quick_check(s, 0);
    return rc;
}

int store_check_due(struct store *s, int64_t every_ms, int *ran)
{
    char *last = NULL;
    char now[PLAT_ISO_LEN];
    int64_t at = 0;
    int rc;

    if (ran)
        *ran = 0;
    rc = store_state_get(s, STORE_CHECK_KEY, &last);
    if (rc == PLAT_OK && plat_time_parse_iso(last, &at) == PLAT_OK &&
        plat_time_wall_ms() - at < every_ms && plat_time_wall_ms() >= at) {
        plat_free(last);
        return PLAT_OK;
    }
    plat_free(last);
    if (rc < 0 && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    if (ran)
        *ran = 1;
    rc = store_check(s, 1);
    if (rc < 0)
        return rc;
    store__now(now);
    return store_state_set(s, STORE_CHECK_KEY, now);
}
