/*
 * store_crypt.h - the encrypted store: a SQLite VFS shim that encrypts
 * every page of the database, every WAL frame, and the journal and temp
 * files, with a 32-byte data key. The page cipher is AES-256-GCM from
 * libgcrypt (loaded with dlopen only when an encrypted store is opened:
 * ~1.2 us a page) or from mbedTLS (the reference and the fallback: ~18 us
 * a page); the same bytes on disk either way. storage/store_crypt_gcm.h
 * says which one is used when, and why libgcrypt and dlopen.
 *
 * Layout (page size 4096, 28 reserved bytes at the end of every page,
 * set with SQLITE_FCNTL_RESERVE_BYTES before the first write):
 *   - database page N and the page in a WAL frame for page N: bytes
 *     [0, 4068) encrypted with AES-256-GCM under the data key, a fresh
 *     random 12-byte nonce per write (from a per-file AES-CTR generator
 *     keyed from the OS), the nonce and the 16-byte tag in the 28
 *     reserved bytes. Associated data: N (and page 1's header), so a page
 *     cannot be moved to another page number. The same in the WAL and in
 *     the database, so a checkpoint copies a frame's ciphertext as it is,
 *     neither decrypting nor encrypting it (SQLite brackets the copying
 *     with SQLITE_FCNTL_CKPT_START/DONE; a frame headed for another page
 *     number than its header's is refused); the page is authenticated
 *     when it is read from the database.
 *   - page 1 keeps its first 100 bytes (the SQLite file header) in clear,
 *     authenticated as associated data: SQLite reads the page size and the
 *     reserved-byte count from it before any page is decrypted. It holds
 *     the format numbers, the page count, change counters, free-list
 *     pointers and user_version (the schema version): nothing personal.
 *   - WAL header (32 bytes) and frame headers (24 bytes: page number,
 *     size after commit, salts, checksums): clear; nothing personal.
 *   - rollback journal (only while a store is created or converted: the
 *     store runs in WAL mode): AES-256-CTR under a key derived from the
 *     data key, the counter from the file offset, so any range can be
 *     read back after a crash. Not authenticated (SQLite checksums its
 *     records), and a rewrite at the same offset reuses keystream: it
 *     protects against reading a lost device, not against a live
 *     attacker who watches the journal change.
 *   - temp files (sorter, statement journal, temp database; the store
 *     keeps them in memory, temp_store=MEMORY, so these are a fallback):
 *     AES-256-CTR under a random key that lives only as long as the file.
 *   - the -shm file (the WAL index: page numbers, frame numbers,
 *     checksums) is never written through xWrite and stays clear.
 *
 * A page whose tag does not verify (tampered, torn, or the wrong key) is
 * never returned: the read fails with SQLITE_CORRUPT and
 * store_crypt_last_failure() names the page. One exception, by design:
 * when SQLite recovers a WAL after a crash it reads whole frames, and a
 * frame that does not verify is handed back as zeros, which SQLite takes
 * as the end of the log (what a torn last write looks like); the commits
 * before it are kept, the failure is recorded (store_open logs it). A page arriving for writing
 * without the reserved bytes (page 1 saying reserve != 28 or a page size
 * other than 4096) is refused (SQLITE_IOERR_WRITE), so a page can never be
 * written where the tag would overwrite data. Not detected: a whole page
 * replaced by an older version of the same page from the same store
 * (there is no tree of MACs); keep the device's disk out of hostile hands
 * while it runs.
 *
 * Ownership: store_crypt_create copies the key (wiped on destroy) and
 * registers a VFS named by store_crypt_vfs_name() over the VFS that is the
 * default at that moment (so a test's fault VFS stays underneath). Destroy
 * it only after every connection using it is closed. Thread safety: one
 * instance may serve several connections on several threads (each file
 * keeps its own cipher contexts); the last-failure record is per instance.
 */
#ifndef STORE_CRYPT_H
#define STORE_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_LEN 32
#define STORE_CRYPT_PAGE 4096
#define STORE_CRYPT_RESERVE 28 /* 12-byte nonce + 16-byte tag */

struct store_crypt;

/* Register a new encrypting VFS with `key`. ERR_NOMEM, ERR_CONFIG for a
 * bad AGENT_PAGE_CIPHER (store_crypt_gcm.h), or ERR_GENERIC when SQLite
 * refuses the registration. */
int store_crypt_create(struct store_crypt **out,
                       const uint8_t key[STORE_KEY_LEN]);
void store_crypt_destroy(struct store_crypt *c);
const char *store_crypt_vfs_name(const struct store_crypt *c);
/* The page cipher's backend of this instance: "libgcrypt" or "mbedtls". */
const char *store_crypt_cipher(const struct store_crypt *c);
/* on = 1: stores this process opens from now on use mbedTLS for pages
 * (unless AGENT_PAGE_CIPHER says otherwise), so libgcrypt (~1 MB of RSS)
 * is not loaded for a few page reads: the idle daemon, whose syncs run in
 * a child that sets 0 again. Instances already made keep their backend. */
void store_crypt_prefer_small(int on);

/* What the last failed read or write of this instance found, e.g. "page 7
 * of the database failed its authentication check", into buf ("" and 0
 * when nothing failed). Returns 1 if there was a failure. */
int store_crypt_last_failure(struct store_crypt *c, char *buf, size_t n);

/* Look at the first 100 bytes of `path` (through the unix VFS: safe while
 * this process holds other connections to it). */
enum store_file_kind {
    STORE_FILE_MISSING = 0,   /* no file, or an empty one               */
    STORE_FILE_PLAIN = 1,     /* a SQLite file without our reserve      */
    STORE_FILE_ENCRYPTED = 2, /* page size 4096, 28 reserved bytes      */
    STORE_FILE_OTHER = 3      /* not a SQLite file (or unreadable)      */
};
int store_crypt_file_kind(const char *path);

/* For tests and benchmarks only: make an encrypting VFS with `key` the
 * default VFS of the process, so every database any connection opens
 * (store_open, or a test's own sqlite3_open) is encrypted; store_open
 * then sets the reserved bytes of new stores itself. Called once, never
 * undone. The agent never calls it. store_crypt_test_instance(): that
 * VFS, or NULL. */
void store_crypt_set_test_key(const uint8_t *key);
struct store_crypt *store_crypt_test_instance(void);

#endif
