/*
 * store.h - the local SQLite store: open, migrate, transactions.
 *
 * One `struct store` wraps one SQLite connection (not shared between
 * threads). Opening applies pending migrations (storage/migrations/NNNN_*.sql,
 * embedded in the binary), each in its own transaction, tracked by
 * PRAGMA user_version. A store whose user_version is newer than this binary
 * knows is refused with ERR_VERSION and left untouched. The connection runs
 * in WAL mode with foreign keys on and a busy timeout.
 *
 * Encryption (store_crypt.h): with a key (store_open_key) the store is opened through
 * the encrypting VFS; a new file is created encrypted (page size 4096, 28
 * reserved bytes). A plain file opened with a key is ERR_INVALID ("not
 * encrypted"), an encrypted file opened without one is ERR_AUTH ("is
 * encrypted"), and a key that does not open page 1 is ERR_AUTH. A page
 * that fails its authentication check later is ERR_CORRUPT naming the
 * page (the store counts as damaged, see below).
 *
 * Errors (plat_err.h): ERR_NOTFOUND (no store file and STORE_CREATE not
 * given), ERR_CORRUPT (not a database / damaged / a SQLite file that is not
 * an agent store), ERR_VERSION, ERR_IO (file system: read-only, missing
 * directory, disk full), ERR_LOCKED (another process kept the store busy
 * past the busy timeout), ERR_NOMEM. The message names the store path.
 *
 * Before it writes anything, store_open checks that the file is an agent
 * store this binary understands: a damaged file, a foreign database or a
 * store of a newer agent is refused and left byte for byte as it was. A
 * store whose directory other users can write is refused (ERR_IO; a group
 * that can write it gets a warning in the log), and so is a store path
 * that is a symbolic link (SQLITE_OPEN_NOFOLLOW), so nobody can make the
 * agent write through a link they planted. A full disk is ERR_IO "cannot
 * write store PATH: the disk is full". A
 * store whose directory is read-only cannot be opened (WAL mode needs
 * PATH-wal and PATH-shm beside it): ERR_IO. A read-only store file opens,
 * and the first write fails with ERR_IO "cannot write store PATH: ...".
 *
 * All SQL goes through prepared statements; every multi-step change is one
 * transaction (store_begin/store_commit, or the store_* write functions,
 * which open their own). Rows of `registrations` are written only through
 * store_registrations.h: the search index is kept by that code, not by
 * triggers (see migrations/0002_search_index.sql).
 *
 * Connection settings: WAL, synchronous FULL (or NORMAL), foreign keys,
 * busy timeout, temp_store MEMORY, a page cache of up to 32 MiB and a WAL
 * checkpoint every 4000 pages (reasons in store.c).
 */
#ifndef STORE_H
#define STORE_H

#include <stdint.h>

struct store;
struct sqlite3;

enum store_flags {
    STORE_CREATE = 1 << 0,   /* create the file if it does not exist */
    STORE_READONLY = 1 << 1  /* open read-only (no migrations applied)  */
};

struct store_options {
    int flags;              /* enum store_flags */
    int synchronous_full;   /* 1: fsync every commit (default); 0: NORMAL */
    int busy_timeout_ms;    /* 0: default 5000 */
    int target_version;     /* 0: latest; tests use it to build old stores */
};

/* Schema version this binary writes (the number of embedded migrations). */
int store_schema_version(void);

/* Open (and migrate) the store at `path`. `opt` may be NULL for defaults.
 * On success *out is owned by the caller: close it with store_close().
 * STORE_READONLY applies no migrations: a store older than this binary is
 * then ERR_VERSION. target_version above store_schema_version() is
 * ERR_INVALID. */
int store_open(struct store **out, const char *path,
               const struct store_options *opt);
void store_close(struct store *s);

/* store_open of an encrypted store: `key` is its 32-byte data key
 * (store_crypt.h; copied: the caller keeps and wipes its own). NULL is
 * store_open. */
int store_open_key(struct store **out, const char *path,
                   const struct store_options *opt, const uint8_t *key);

/* 1 when the store is encrypted. */
int store_encrypted(struct store *s);

/* The user_version of the open store. */
int store_version(struct store *s);
const char *store_path(struct store *s); /* borrowed */

/* Raw connection, for other storage/ files and for tests only. */
struct sqlite3 *store_db(struct store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Nesting is not supported
 * (store_begin inside a transaction: ERR_INVALID). A write function called
 * inside an open transaction joins it instead of opening its own, in a
 * savepoint: when it fails, its own changes are undone and the transaction
 * stays usable (see store__txn_begin in store_internal.h). Batches of
 * writes in one transaction are much faster than one transaction each. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* PRAGMA integrity_check, and (unless opened read-only) a check of the
 * search index against the registrations: PLAT_OK if both are fine,
 * ERR_CORRUPT otherwise (then the store counts as damaged, see below). */
int store_integrity_check(struct store *s);

/* Damage. store_open runs a quick check bounded in time (PRAGMA
 * quick_check, stopped after 300 ms: a 40,000-registration store takes
 * about 0.25 s with the file in the OS cache; a check cut short is not an
 * error) and SQLite checks every page a query reads (cell_size_check).
 * A damaged store is refused for writing with ERR_CORRUPT and ONE line:
 * "store PATH is damaged (what was found): nothing more is written to it;
 * restore a backup, or move the file away (keep it: changes not yet
 * synced are only in it) and run `agent init` and `agent sync --now`".
 * Opened with STORE_READONLY it opens anyway, so people can still look
 * things up, and store_damaged() returns 1. Once damage is found on an
 * open store (a check, or SQLITE_CORRUPT from any query), every later
 * write is refused with the same message.
 *
 * store_check: full 0 runs the quick check with no time limit, full 1
 * store_integrity_check. PLAT_OK or ERR_CORRUPT (or the I/O error met).
 * store_check_due runs the full check when the last successful one (UTC
 * time in agent state key STORE_CHECK_KEY) is older than `every_ms` or
 * missing, and records the time; *ran (may be NULL) says whether it ran.
 * The daemon calls it once a day. */
#define STORE_CHECK_KEY "store.full_check_at"
int store_damaged(struct store *s);
int store_check(struct store *s, int full);
int store_check_due(struct store *s, int64_t every_ms, int *ran);

/* Small key-value table for agent state (last sync per source, cursors,
 * checkpoints). store_state_get returns ERR_NOTFOUND when the key is
 * absent; *out is allocated and owned by the caller. */
int store_state_get(struct store *s, const char *key, char **out);
int store_state_set(struct store *s, const char *key, const char *value);

struct store_counts {
    int64_t registrations;   /* all registrations in the store           */
    int64_t pending;         /* outbox entries pending or in flight      */
    int64_t conflicts;       /* open conflicts                           */
    int64_t rejected;        /* outbox entries the server rejected       */
    int64_t programs;        /* program definitions stored               */
    int64_t held;            /* items a source connector holds back (e.g.
                              * kobo submissions that failed mapping): 0
                              * here, filled by the agent (agent_sync_counts) */
};
int store_counts(struct store *s, struct store_counts *out);

#endif
