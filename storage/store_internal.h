/*
 * store_internal.h - what the storage/ files share and nobody else sees:
 * the store struct, the SQLite error mapping, the transaction helpers that
 * let a write join an open transaction, and cached prepared statements.
 *
 * Rule for every file here: change rows of `registrations` only through
 * store_registrations.c (store_reg_* and store_reg_put_server). That code
 * also keeps the search index (registrations_search), which has no
 * triggers; an UPDATE of name, phone_number or reference_id anywhere else
 * would leave the index stale (store_integrity_check reports it).
 */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include "store.h"
#include "store_outbox.h"
#include "plat_time.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

/* Prepared statements kept for the life of the connection, because the
 * hot paths (create, edit, pull) run them tens of thousands of times.
 * Statements whose rows are handed to a caller's callback are NOT cached:
 * the callback may call back into the store and need the same statement. */
enum store__stmt_id {
    STORE__ST_BEGIN,
    STORE__ST_COMMIT,
    STORE__ST_ROLLBACK,
    STORE__ST_SAVEPOINT,
    STORE__ST_RELEASE,
    STORE__ST_ROLLBACK_TO,
    STORE__ST_STATE_GET,
    STORE__ST_STATE_SET,
    STORE__ST_REG_LOAD,
    STORE__ST_REG_COLS,
    STORE__ST_REG_INSERT,
    STORE__ST_REG_UPDATE_LOCAL,
    STORE__ST_REG_INSERT_SERVER,
    STORE__ST_REG_UPDATE_SERVER,
    STORE__ST_REG_PENDING_OPS,
    STORE__ST_REG_EXTRA,
    STORE__ST_OUTBOX_INSERT,
    STORE__ST_FTS_INSERT,
    STORE__ST_FTS_DELETE,
    STORE__ST_FTS_DEFERRED,
    STORE__ST_REMOTE_PUT,     /* per-record path of the Kobo connector */
    STORE__ST_REMOTE_GET,
    STORE__ST_COUNT
};

/* One queued change to the search index (see store__fts_queue). */
struct store__fts_op {
    int64_t rowid;
    int del;             /* 1: remove these values, 0: add them */
    char *ref;
    char *name;
    char *phone;
};

#define STORE__MAX_DEPTH 8 /* nested store__txn_begin calls */

struct store_crypt;

struct store {
    sqlite3 *db;
    struct store_crypt *crypt; /* the encrypting VFS, NULL: plain store */
    char *path;
    int flags;            /* enum store_flags given to store_open */
    int version;          /* user_version after migrations */
    int check_cut_short;  /* 1: the quick check at open ran out of time */
    char seal[128];       /* the seal read at open ("" if none): see
                           * store.c, "The seal" */
    int damaged;          /* 1 once a check or a query found damage: no
                           * more writes (store__damaged) */
    int txn_open;         /* 1 while a store_begin transaction is open */
    int depth;            /* store__txn_begin calls not yet ended */
    size_t fts_mark[STORE__MAX_DEPTH]; /* fts_n when each level began */
    struct store__fts_op *fts;         /* search index changes to apply */
    size_t fts_n, fts_alloc;
    int fts_deferred;     /* 1: the search index waits for a rebuild
                           * (store_search.c); read at the start of each
                           * write transaction, so it is this transaction's
                           * truth even when another connection set it */
    sqlite3_stmt *stmt[STORE__ST_COUNT];
};

/* Turn a failed SQLite call into an ERR_* code with a message naming the
 * store (never row values). `rc` is the SQLite result code, `what` says
 * what was being done ("read registration REF"). Call it before any other
 * SQLite call on the connection, which would replace sqlite3_errmsg. */
int store__db_err(struct store *s, int rc, const char *what);

/* Mark the store damaged and set the one-line ERR_CORRUPT message that
 * says how to recover; `detail` says what was found (no row values).
 * From then on writes are refused. Returns ERR_CORRUPT. */
int store__damaged(struct store *s, const char *detail);

/* The cached statement `id` (prepared from `sql` on first use). Give it
 * back with store__stmt_done() on every path. */
int store__stmt(struct store *s, enum store__stmt_id id, const char *sql,
                sqlite3_stmt **out);
void store__stmt_done(sqlite3_stmt *st);

/* Start a change that must be atomic. Outside a transaction this opens one
 * (BEGIN IMMEDIATE); inside one (store_begin, or an outer write) it sets a
 * savepoint, so a failed write undoes only its own steps and the caller's
 * transaction goes on. *token_out is passed to store__txn_end, which
 * commits / releases when rc == 0 and rolls back otherwise (search index
 * changes queued since the start included); it returns rc, or the commit
 * failure. */
int store__txn_begin(struct store *s, int *token_out);
int store__txn_end(struct store *s, int token, int rc);

/* store__txn_begin for a change whose only write is ONE statement, with
 * its search index changes queued BEFORE that statement runs (and at most
 * patched after it: store__fts_last_rowid): inside a transaction it sets
 * no savepoint, since SQLite undoes a failed statement by itself and
 * store__txn_end drops the queued index changes. A savepoint per row cost
 * a first pull ~10 % of its CPU (each page the row touched was copied to
 * the statement journal). Outside a transaction it is store__txn_begin. */
int store__txn_begin_one(struct store *s, int *token_out);

/* Set the rowid of the last queued index change (a row queued before its
 * INSERT gave it a rowid). */
void store__fts_last_rowid(struct store *s, int64_t rowid);

/* The search index (registrations_search, FTS5) is written by the store,
 * not by triggers: FTS5 writes its pending terms to disk at every
 * savepoint and statement journal, which inside a batch meant one index
 * segment per row. Changes are queued here and applied together just
 * before COMMIT (store__fts_flush), and before a search inside an open
 * transaction. Rolling back drops the queued changes with the rest.
 * `del` 1 removes an entry: give exactly the values that were indexed. */
int store__fts_queue(struct store *s, int64_t rowid, int del,
                     const char *ref, const char *name, const char *phone);
int store__fts_flush(struct store *s);

/* Read the search index's rebuild marker (store_search.h) into
 * s->fts_deferred. Called right after a write transaction begins: while
 * the marker is set, index changes are neither queued nor applied (the
 * rebuild reads every row), so no write path can send FTS5 a 'delete' for
 * a row it never indexed. */
int store__fts_deferred_load(struct store *s);

/* Run cached statement `id` (a statement without result rows). */
int store__exec_cached(struct store *s, enum store__stmt_id id,
                       const char *sql, const char *what);

/* Prepare a statement that is not worth a cached slot (not on a per-row
 * path, or run once per batch); sqlite3_finalize it on every path. On
 * failure *st is NULL. */
int store__prepare(struct store *s, const char *sql, sqlite3_stmt **st);

/* Run `st`, a statement without result rows, to its end and reset it:
 * PLAT_OK, or the store__db_err for `what`. */
int store__step_done(struct store *s, sqlite3_stmt *st, const char *what);

/* Step `st` to its (first) row: PLAT_OK on a row, ERR_NOTFOUND when there
 * is none - with NO message set: the caller says what is missing, or
 * takes "none" as an answer - else the store__db_err for `what`. */
int store__step_row(struct store *s, sqlite3_stmt *st, const char *what);

/* store__step_row, then a copy of the row's first column in *out
 * (allocated; "" for NULL). */
int store__step_text(struct store *s, sqlite3_stmt *st, const char *what,
                     char **out);

/* Column `i` of the current row as text (NULL for NULL), valid until the
 * next step, reset or finalize. */
const char *store__col_text(sqlite3_stmt *st, int i);

/* Column `i` as a new string, NULL for NULL; a failed copy also gives
 * NULL and sets *rc to ERR_NOMEM (no message). */
char *store__col_dup(sqlite3_stmt *st, int i, int *rc);

/* Now, as ISO-8601 UTC text with milliseconds. */
void store__now(char out[PLAT_ISO_LEN]);

/* Bind a string or NULL (SQLITE_STATIC: the caller keeps it alive until
 * the statement is reset). */
int store__bind_text(sqlite3_stmt *st, int idx, const char *v);

/* cJSON_PrintUnformatted with ERR_NOMEM set on failure; free with
 * cJSON_free. */
char *store__json_print(const cJSON *item);

/* Parse JSON text stored in the database; ERR_CORRUPT (naming `what`, e.g.
 * "registration REF") if it does not parse. */
int store__json_parse(struct store *s, const char *text, const char *what,
                      cJSON **out);

/* The JSON number `v` as a whole number in [min, max] in *out. The range
 * is checked on the double before any conversion (a double outside the
 * int64 range converted to an integer is undefined behaviour: 1e308,
 * -1e300). ERR_INVALID "field FIELD is not a whole number from MIN to
 * MAX" (or "... is missing" for NULL) otherwise; *out is then untouched. */
#define STORE__JSON_INT_MAX 9007199254740991LL /* 2^53 - 1: exact in JSON */
int store__json_int64(const cJSON *v, const char *field, int64_t min,
                      int64_t max, int64_t *out);

/* Set obj[key] = item, replacing any value; takes `item` (deleted on
 * failure). A NULL item (a failed cJSON_Create*) gives ERR_NOMEM. */
int store__put_item(cJSON *obj, const char *key, cJSON *item);

/* Text of a scalar JSON value for the name/phone columns: the string
 * itself, a number formatted into `buf`, or NULL for anything else. */
const char *store__scalar_text(const cJSON *v, char *buf, size_t n);

/* Generic equality of JSON scalars, as text ("4" equals 4), and null
 * equals "" (both mean "no value"); no system's rules (phone numbers). With `bool_text` a boolean compares as its
 * text too (true equals "true"), as the push side needs; the edit path
 * compares booleans only with booleans. */
int store__same_value(const cJSON *a, const cJSON *b, int bool_text);

/* PLAT_OK if `ref` may be used as a new referenceId (5-200 bytes of
 * UTF-8, nothing that breaks a 121 URL or filter), else ERR_INVALID. */
int store__check_ref(const char *ref);

/* ---- registrations, server side (store_sync.c) ---- */

/* The server copy of `ref` (parsed), or NULL when its row has none;
 * ERR_NOTFOUND with no message when there is no row. */
int store__reg_server_copy(struct store *s, const char *ref, cJSON **out);

/* Append a copy of `text` to the array *v of *n strings with room for
 * *alloc, growing it; ERR_NOMEM if a copy or the growth fails (the array
 * stays valid for store_strings_free). */
int store__strings_add(char ***v, size_t *n, size_t *alloc,
                       const char *text);

/* ---- outbox (store_outbox.c) ---- */

/* The columns store__outbox_rows reads, for "SELECT " STORE__OUTBOX_COLS
 * " FROM outbox ...". */
#define STORE__OUTBOX_COLS                                                \
    "seq, op_id, reference_id, program_id, kind, payload, base, state,"  \
    " attempts, server_message, created_at, target, origin"

/* Append a pending outbox entry of `kind` for `ref` (origin "device",
 * target "121"); joins the caller's transaction. `base` may be NULL. */
int store__outbox_append(struct store *s, const char *ref, int program_id,
                         const char *kind, const cJSON *payload,
                         const cJSON *base);

/* PLAT_OK if `state` is an outbox state, else ERR_INVALID listing them. */
int store__outbox_check_state(const char *state);

/* Set, in `program` (a program body, changed in place), the label text of
 * every label edit of `program_id` still pending or in flight, oldest
 * first: the stored program is the local view, the server's program plus
 * what the device has not sent yet. *applied_out counts them. */
int store__labels_reapply(struct store *s, int program_id, cJSON *program,
                          int *applied_out);

/* Hand each row of `st` (STORE__OUTBOX_COLS) to `cb` until it returns
 * non-zero, which is then returned. The caller finalizes `st`. */
int store__outbox_rows(struct store *s, sqlite3_stmt *st, store_outbox_cb cb,
                       void *payload);

/* Register the SQL functions the registration queries use
 * (store_contains); called by store_open. */
int store__reg_register_functions(struct store *s);

/* 1 if `key` appears more than once in object `obj`. */
int store__has_duplicate_key(const cJSON *obj, const char **dup_out);

#endif
