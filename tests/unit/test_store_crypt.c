/*
 * test_store_crypt.c - the encrypted store (store_crypt.h, store_keys.h):
 * no name or phone number in the store file or its WAL, search works, a
 * flipped byte in any page is detected and named, the wrong key is
 * refused with nothing touched, kill -9 during writes loses no committed
 * row, and the key ring opens only with its passphrase or key file.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_secure.h"
#include "store.h"
#include "store_crypt.h"
#include "store_keys.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const uint8_t key1[STORE_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const uint8_t key2[STORE_KEY_LEN] = "another key, 32 bytes long....";

#define PEOPLE 300

static void name_of(int i, char *buf, size_t n)
{
    snprintf(buf, n, "Zebulon Quarterfield %04d", i);
}

static void phone_of(int i, char *buf, size_t n)
{
    snprintf(buf, n, "+25479%06d", 424200 + i);
}

static int add_people(struct store *s, int from, int to)
{
    char name[64], phone[32];
    int i, rc = PLAT_OK;

    for (i = from; i < to && rc == PLAT_OK; i++) {
        cJSON *f = cJSON_CreateObject();

        name_of(i, name, sizeof(name));
        phone_of(i, phone, sizeof(phone));
        cJSON_AddStringToObject(f, "fullName", name);
        cJSON_AddStringToObject(f, "phoneNumber", phone);
        cJSON_AddStringToObject(f, "district", "north");
        rc = store_reg_create(s, 3, f, NULL);
        cJSON_Delete(f);
    }
    return rc;
}

static struct store *open_key(const char *path, const uint8_t *key, int flags)
{
    struct store_options opt = {flags, 1, 0, 0};
    struct store *s = NULL;

    if (store_open_key(&s, path, &opt, key) != PLAT_OK)
        return NULL;
    return s;
}

/* 1 if `needle` occurs in file `path`. */
static int file_has(const char *path, const char *needle)
{
    size_t n = 0, k = strlen(needle), i;
    char *data = NULL;
    int found = 0;

    if (plat_fs_read_file(path, 512u << 20, &data, &n) < 0) {
        plat_err_clear();
        return 0;
    }
    for (i = 0; i + k <= n && !found; i++)
        found = memcmp(data + i, needle, k) == 0;
    plat_free(data);
    return found;
}

static int count_cb(const cJSON *reg, void *payload)
{
    (void)reg;
    (*(int *)payload)++;
    return 0;
}

static void test_no_personal_data_on_disk(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    char *wal = plat_asprintf("%s-wal", path);
    char name[64], phone[32];
    struct store *s;
    int64_t n = 0;
    int hits = 0, i;

    s = open_key(path, key1, STORE_CREATE);
    REQUIRE(s);
    CHECK(store_encrypted(s));
    REQUIRE(add_people(s, 0, PEOPLE) == PLAT_OK);
    /* While open, the rows are in the WAL. */
    CHECK(file_has(wal, "Quarterfield") == 0);
    CHECK(file_has(wal, "+2547942") == 0);
    CHECK(file_has(wal, "north") == 0);
    CHECK_INT(store_reg_search(s, "quarterfield 0042", 0, count_cb, &hits),
              PLAT_OK);
    CHECK_INT(hits, 1);
    hits = 0;
    CHECK_INT(store_reg_search(s, "4242", 0, count_cb, &hits), PLAT_OK);
    CHECK(hits >= 1);
    store_close(s);

    CHECK_INT(store_crypt_file_kind(path), STORE_FILE_ENCRYPTED);
    for (i = 0; i < PEOPLE; i += 37) {
        name_of(i, name, sizeof(name));
        phone_of(i, phone, sizeof(phone));
        CHECK(!file_has(path, name));
        CHECK(!file_has(path, phone));
    }
    CHECK(!file_has(path, "Quarterfield"));
    CHECK(!file_has(path, "registrations")); /* even the schema */

    s = open_key(path, key1, 0);
    REQUIRE(s);
    CHECK_INT(store_reg_count(s, &n), PLAT_OK);
    CHECK_INT(n, PEOPLE);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    hits = 0;
    CHECK_INT(store_reg_search(s, "Zebulon", 500, count_cb, &hits), PLAT_OK);
    CHECK_INT(hits, PEOPLE);
    store_close(s);
    plat_free(wal);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

static char *slurp(const char *path, size_t *n)
{
    char *d = NULL;

    if (plat_fs_read_file(path, 512u << 20, &d, n) < 0)
        return NULL;
    return d;
}

static void test_wrong_key_touches_nothing(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    char *wal = plat_asprintf("%s-wal", path);
    struct store_options opt = {0, 1, 0, 0};
    struct store *s;
    char *before, *after;
    size_t nb = 0, na = 0;

    s = open_key(path, key1, STORE_CREATE);
    REQUIRE(s);
    REQUIRE(add_people(s, 0, 10) == PLAT_OK);
    store_close(s);
    before = slurp(path, &nb);
    REQUIRE(before);

    s = NULL;
    CHECK_INT(store_open_key(&s, path, &opt, key2), ERR_AUTH);
    CHECK(s == NULL);
    CHECK(strstr(plat_err_msg(), "cannot be read with this key") != NULL);
    CHECK_INT(store_open(&s, path, &opt), ERR_AUTH);
    /* (Under AGENT_TEST_ENCRYPT the test key is tried, and is wrong.) */
    CHECK(strstr(plat_err_msg(), store_crypt_test_instance()
                                     ? "cannot be read with this key"
                                     : "is encrypted") != NULL);
    after = slurp(path, &na);
    CHECK(after && na == nb && memcmp(before, after, nb) == 0);
    CHECK(!plat_fs_exists(wal));
    plat_free(before);
    plat_free(after);
    plat_free(wal);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* Flip one byte in every page in turn: each is found and named. */
static void test_flipped_byte_in_any_page(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    char *seal = plat_asprintf("%s.sealed", path);
    struct store *s;
    size_t n = 0, pages, p;
    char *orig;
    int detected = 0, named = 0;

    s = open_key(path, key1, STORE_CREATE);
    REQUIRE(s);
    REQUIRE(add_people(s, 0, 60) == PLAT_OK);
    REQUIRE(sqlite3_exec(store_db(s), "VACUUM", NULL, NULL, NULL) ==
            SQLITE_OK);
    store_close(s);
    orig = slurp(path, &n);
    REQUIRE(orig && n % STORE_CRYPT_PAGE == 0);
    pages = n / STORE_CRYPT_PAGE;
    for (p = 0; p < pages; p++) {
        /* A byte inside the page, past the clear header of page 1,
         * different for each page (and, for some, in the tag). */
        size_t at = p * STORE_CRYPT_PAGE + 100 +
                    (p * 997) % (STORE_CRYPT_PAGE - 100);
        char *copy = plat_malloc(n);
        int rc;

        REQUIRE(copy);
        memcpy(copy, orig, n);
        copy[at] ^= 0x20;
        unlink(seal);
        REQUIRE(plat_fs_write_atomic(path, copy, n, 0600) == PLAT_OK);
        plat_free(copy);
        s = open_key(path, key1, 0);
        rc = s ? store_integrity_check(s) : plat_err_code();
        if (rc == ERR_CORRUPT || rc == ERR_AUTH)
            detected++;
        else
            fprintf(stderr, "page %zu: flip not detected (rc %d)\n", p + 1,
                    rc);
        if (strstr(plat_err_msg(), "page") != NULL)
            named++;
        store_close(s);
    }
    CHECK_INT(detected, (long long)pages);
    CHECK_INT(named, (long long)pages);
    /* The header of page 1 is clear but authenticated. */
    {
        char *copy = plat_malloc(n);
        REQUIRE(copy);
        memcpy(copy, orig, n);
        copy[60] ^= 1; /* user_version */
        unlink(seal);
        REQUIRE(plat_fs_write_atomic(path, copy, n, 0600) == PLAT_OK);
        plat_free(copy);
        s = open_key(path, key1, 0);
        CHECK(s == NULL);
        store_close(s);
    }
    plat_free(orig);
    plat_free(seal);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* kill -9 a writer in the middle of its commits: every commit it reported
 * is there afterwards and the store passes integrity_check (the WAL,
 * encrypted, is recovered). */
static void test_kill9_loses_no_commit(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    struct store *s;
    int fds[2], status, round;
    int64_t n = 0;

    s = open_key(path, key1, STORE_CREATE);
    REQUIRE(s);
    store_close(s);
    for (round = 0; round < 3; round++) {
        int reported = 0, got;
        int64_t before = 0;
        pid_t pid;

        s = open_key(path, key1, 0);
        REQUIRE(s);
        CHECK_INT(store_reg_count(s, &before), PLAT_OK);
        store_close(s);
        REQUIRE(pipe(fds) == 0);
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            struct store *w;
            int i;

            close(fds[0]);
            w = open_key(path, key1, 0);
            if (!w)
                _exit(3);
            for (i = 0;; i++) {
                if (add_people(w, (int)before + i, (int)before + i + 1) < 0)
                    _exit(4);
                if (write(fds[1], "x", 1) != 1)
                    _exit(5);
            }
        }
        close(fds[1]);
        /* Wait for some commits (more each round), then kill. */
        while (reported < 150 + 100 * round &&
               (got = (int)read(fds[0], &status, 1)) == 1)
            reported++;
        kill(pid, SIGKILL);
        while (read(fds[0], &status, 1) == 1)
            reported++; /* written before the kill landed */
        close(fds[0]);
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status));

        s = open_key(path, key1, 0);
        REQUIRE(s);
        CHECK_INT(store_integrity_check(s), PLAT_OK);
        CHECK_INT(store_reg_count(s, &n), PLAT_OK);
        CHECK(n >= before + reported);
        CHECK(n <= before + reported + 1);
        store_close(s);
    }
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* A crash leaves committed rows in the WAL; a byte flipped in a frame
 * there ends the log at that frame when it is recovered (as a torn write
 * would): the store opens with the rows before it, consistent, never with
 * the changed bytes. */
static void test_flipped_byte_in_wal(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    char *copy = plat_asprintf("%s/c.db", dir);
    char *wal = plat_asprintf("%s-wal", path);
    char *cwal = plat_asprintf("%s-wal", copy);
    struct store *s, *c;
    char *data;
    size_t n = 0;
    int64_t rows = -1;

    s = open_key(path, key1, STORE_CREATE);
    REQUIRE(s);
    REQUIRE(sqlite3_exec(store_db(s), "PRAGMA wal_checkpoint(TRUNCATE);"
                         "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) ==
            SQLITE_OK);
    REQUIRE(add_people(s, 0, 50) == PLAT_OK);
    /* The files as a crash would leave them (the connection still open). */
    data = slurp(path, &n);
    REQUIRE(data && plat_fs_write_atomic(copy, data, n, 0600) == PLAT_OK);
    plat_free(data);
    data = slurp(wal, &n);
    REQUIRE(data && n > 32 + 40 * (24 + 4096));
    data[32 + 30 * (24 + 4096) + 24 + 1000] ^= 4; /* frame 31's page */
    REQUIRE(plat_fs_write_atomic(cwal, data, n, 0600) == PLAT_OK);
    plat_free(data);
    store_close(s);

    c = open_key(copy, key1, 0);
    if (!c)
        fprintf(stderr, "open: %s\n", plat_err_msg());
    REQUIRE(c);
    CHECK_INT(store_integrity_check(c), PLAT_OK);
    CHECK_INT(store_reg_count(c, &rows), PLAT_OK);
    CHECK(rows >= 0 && rows < 50);
    store_close(c);
    plat_free(cwal);
    plat_free(wal);
    plat_free(copy);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* A raw connection to `path` through the encrypting VFS `c`: a new file
 * gets the page size and reserved bytes the VFS needs, WAL mode and no
 * automatic checkpoints. NULL if it cannot be opened. */
static sqlite3 *open_raw(const char *path, struct store_crypt *c)
{
    int reserve = STORE_CRYPT_RESERVE;
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        store_crypt_vfs_name(c)) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA page_size=4096", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES,
                             &reserve) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL;"
                     "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) !=
            SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The integer the first row of `sql` gives, or -1. */
static long long db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Change the last frame of WAL `wal` (always the newest copy of its page,
 * so a checkpoint copies it): its page data (what = 0) or the page number
 * in its header (what = 1). 0 on success. */
static int tamper_last_frame(const char *wal, int what)
{
    enum { FRAME = 24 + STORE_CRYPT_PAGE };
    uint8_t b[4];
    off_t size, last;
    int fd = open(wal, O_RDWR), ok = 0;

    if (fd < 0)
        return -1;
    size = lseek(fd, 0, SEEK_END);
    if (size >= 32 + FRAME && (size - 32) % FRAME == 0) {
        last = 32 + (size - 32 - FRAME);
        if (what == 0 && pread(fd, b, 1, last + 24 + 700) == 1) {
            b[0] ^= 0x10;
            ok = pwrite(fd, b, 1, last + 24 + 700) == 1;
        } else if (what == 1 && pread(fd, b, 4, last) == 4) {
            b[3] ^= 0x01; /* another page number */
            ok = pwrite(fd, b, 4, last) == 4;
        }
    }
    close(fd);
    return ok ? 0 : -1;
}

/* A checkpoint copies a frame's ciphertext to the database as it is,
 * without decrypting it: a byte flipped in a frame of a live WAL reaches
 * the database and is refused there when the page is read, naming the
 * page (never read as data); a frame whose header names another page than
 * the one it is copied to is refused by the checkpoint. Pages copied
 * untouched read back as they were written. */
static void test_checkpoint_copies_ciphertext(void)
{
    char *dir = testutil_tmpdir("crypt");
    struct store_crypt *c = NULL;
    char why[200];
    int what, rc, log = -1, done = -1;

    REQUIRE(store_crypt_create(&c, key1) == PLAT_OK);
    for (what = -1; what <= 1; what++) {
        char *path = plat_asprintf("%s/s%d.db", dir, what + 1);
        char *wal = plat_asprintf("%s-wal", path);
        sqlite3 *db;

        REQUIRE(path && wal);
        db = open_raw(path, c);
        REQUIRE(db);
        REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x TEXT);"
                             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                             "SELECT i + 1 FROM n WHERE i < 400) "
                             "INSERT INTO t SELECT printf('row %05d of "
                             "the test table', i) FROM n",
                             NULL, NULL, NULL) == SQLITE_OK);
        if (what >= 0)
            REQUIRE(tamper_last_frame(wal, what) == 0);
        rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE,
                                       &log, &done);
        store_crypt_last_failure(c, why, sizeof(why));
        if (what == 1) {
            CHECK_INT(rc, SQLITE_CORRUPT);
            CHECK(strstr(why, "would be copied to page") != NULL);
            sqlite3_close(db);
            plat_free(wal);
            plat_free(path);
            continue;
        }
        CHECK_INT(rc, SQLITE_OK);
        CHECK_INT(sqlite3_close(db), SQLITE_OK);
        /* Read back from the database file alone. */
        db = open_raw(path, c);
        REQUIRE(db);
        rc = sqlite3_exec(db, "PRAGMA integrity_check;"
                          "SELECT count(*) FROM t WHERE x LIKE 'row %'",
                          NULL, NULL, NULL);
        if (what == 0) {
            CHECK_INT(rc & 0xff, SQLITE_CORRUPT);
            store_crypt_last_failure(c, why, sizeof(why));
            CHECK(strstr(why, "of the database failed its authentication") !=
                  NULL);
        } else {
            CHECK_INT(rc, SQLITE_OK);
            CHECK_INT(db_int(db, "SELECT count(*) FROM t WHERE x LIKE "
                             "'row % of the test table'"),
                      400);
        }
        sqlite3_close(db);
        plat_free(wal);
        plat_free(path);
    }
    store_crypt_destroy(c);
    testutil_tmpdir_remove(dir);
}

static void test_key_ring(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    char *kf = plat_asprintf("%s/store.key", dir);
    char *kf2 = plat_asprintf("%s/other.key", dir);
    uint8_t key[STORE_KEY_LEN], got[STORE_KEY_LEN];
    struct store_keys *k = NULL, *l = NULL;
    unsigned mode = 0;

    store_keys_set_test_iterations(2000);
    REQUIRE(store_keys_new(&k, key) == PLAT_OK);
    CHECK_INT(store_keys_add_passphrase(k, key, "correct horse", 13),
              PLAT_OK);
    CHECK_INT(store_keys_add_keyfile(k, key, kf), PLAT_OK);
    CHECK_INT(plat_fs_mode(kf, &mode), PLAT_OK);
    CHECK_INT(mode, 0600);
    CHECK_INT(store_keys_save(k, path), PLAT_OK);
    store_keys_free(k);

    REQUIRE(store_keys_load(path, &l) == PLAT_OK);
    CHECK_INT(store_keys_unlock_passphrase(l, "correct horse", 13, got),
              PLAT_OK);
    CHECK(memcmp(got, key, sizeof(key)) == 0);
    memset(got, 0, sizeof(got));
    CHECK_INT(store_keys_unlock_keyfile(l, kf, got), PLAT_OK);
    CHECK(memcmp(got, key, sizeof(key)) == 0);
    CHECK_INT(store_keys_unlock_passphrase(l, "correct horsE", 13, got),
              ERR_AUTH);
    CHECK(strstr(plat_err_msg(), "wrong passphrase") != NULL);
    CHECK_INT(store_keys_make_keyfile(kf2), PLAT_OK);
    CHECK_INT(store_keys_unlock_keyfile(l, kf2, got), ERR_AUTH);
    chmod(kf, 0644);
    CHECK_INT(store_keys_unlock_keyfile(l, kf, got), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "chmod 600") != NULL);
    chmod(kf, 0600);
    CHECK_INT(store_keys_remove(l, STORE_WRAP_PASSPHRASE), PLAT_OK);
    CHECK_INT(store_keys_remove(l, STORE_WRAP_KEYFILE), ERR_INVALID);
    CHECK_INT(store_keys_unlock_passphrase(l, "correct horse", 13, got),
              ERR_NOTFOUND);
    store_keys_free(l);
    plat_wipe(key, sizeof(key));
    store_keys_set_test_iterations(0);
    plat_free(kf);
    plat_free(kf2);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* Rows counted by a separate process with its own connection, opened for
 * writing so that its close checkpoints and deletes the WAL when it
 * believes it is the last user. A fresh program, not a fork: a forked child
 * shares SQLite's in-memory lock table with this process. */
static int64_t count_elsewhere(const char *path)
{
    char *cmd = plat_asprintf(
        "python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
        "print(c.execute(\"SELECT count(*) FROM registrations\")"
        ".fetchone()[0]); c.close()' '%s'", path);
    FILE *p = cmd ? popen(cmd, "r") : NULL;
    long n = -1;

    if (p) {
        if (fscanf(p, "%ld", &n) != 1)
            n = -1;
        pclose(p);
    }
    plat_free(cmd);
    return n;
}

/* Regression (agent serve writes vanished after a sync): looking at the
 * file's header closed a descriptor of the store, and POSIX then dropped
 * this process's locks on it; the next process to close its connection
 * thought it was the last one, checkpointed and deleted the WAL, and this
 * connection went on writing to a deleted file. */
static void test_header_look_keeps_locks(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    char *wal = plat_asprintf("%s-wal", path);
    struct store *s, *s2;

    if (store_crypt_test_instance()) {
        /* AGENT_TEST_ENCRYPT=1: the other process (Python's sqlite3)
         * cannot read an encrypted store; this is about plain ones. */
        plat_free(wal);
        plat_free(path);
        testutil_tmpdir_remove(dir);
        return;
    }
    s = open_key(path, NULL, STORE_CREATE);
    REQUIRE(s);
    REQUIRE(add_people(s, 0, 10) == PLAT_OK);
    s2 = open_key(path, NULL, 0); /* a second connection, as serve has */
    REQUIRE(s2);
    CHECK_INT(store_crypt_file_kind(path), STORE_FILE_PLAIN);
    CHECK_INT(count_elsewhere(path), 10);
    CHECK(access(wal, F_OK) == 0); /* the other process knew it was not alone */
    REQUIRE(add_people(s, 10, 15) == PLAT_OK);
    CHECK_INT(count_elsewhere(path), 15);
    store_close(s2);
    store_close(s);
    plat_free(wal);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* ---- the page cipher's two backends (store_crypt_gcm.h) ---------------- */

/* A new encrypting VFS with the backend AGENT_PAGE_CIPHER names ("" for
 * the default: libgcrypt when it loads); checks which backend it got. */
static struct store_crypt *crypt_with(const char *backend)
{
    struct store_crypt *c = NULL;

    if (*backend)
        setenv("AGENT_PAGE_CIPHER", backend, 1);
    else
        unsetenv("AGENT_PAGE_CIPHER");
    if (store_crypt_create(&c, key1) != PLAT_OK) {
        fprintf(stderr, "store_crypt_create(%s): %s\n", backend,
                plat_err_msg());
        unsetenv("AGENT_PAGE_CIPHER");
        return NULL;
    }
    unsetenv("AGENT_PAGE_CIPHER");
    CHECK_STR(store_crypt_cipher(c), *backend ? backend : "libgcrypt");
    return c;
}

/* The rows of t, summed over their text: the same on both sides only if
 * every page decrypted to what was written. */
static long long table_digest(sqlite3 *db)
{
    return db_int(db, "SELECT count(*) * 1000000 + sum(length(x) + "
                      "unicode(substr(x, 5, 1))) FROM t");
}

/* Pages and WAL frames sealed by one backend are opened by the other, in
 * both directions: a connection through each VFS on the same file, one
 * writing (part checkpointed into the database, part still in the WAL),
 * the other reading and writing in turn, then the database alone. */
static void test_backends_read_each_other(void)
{
    static const char *const order[2][2] = {{"mbedtls", "libgcrypt"},
                                            {"libgcrypt", "mbedtls"}};
    char *dir = testutil_tmpdir("crypt");
    int o;

    for (o = 0; o < 2; o++) {
        char *path = plat_asprintf("%s/x%d.db", dir, o);
        struct store_crypt *a = crypt_with(order[o][0]);
        struct store_crypt *b = crypt_with(order[o][1]);
        sqlite3 *da, *db;
        long long want;

        REQUIRE(path && a && b);
        da = open_raw(path, a);
        REQUIRE(da);
        REQUIRE(sqlite3_exec(da, "CREATE TABLE t(x TEXT);"
                             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                             "SELECT i + 1 FROM n WHERE i < 3000) "
                             "INSERT INTO t SELECT printf('row %05d, "
                             "written by A', i) FROM n;"
                             "PRAGMA wal_checkpoint(TRUNCATE);"
                             "UPDATE t SET x = x || ' again' WHERE "
                             "rowid % 3 = 0",
                             NULL, NULL, NULL) == SQLITE_OK);
        want = table_digest(da);
        CHECK(want > 3000000);
        /* B reads A's database pages and A's WAL frames. */
        db = open_raw(path, b);
        REQUIRE(db);
        CHECK_INT(db_int(db, "SELECT count(*) FROM pragma_integrity_check "
                         "WHERE integrity_check = 'ok'"),
                  1);
        CHECK_INT(table_digest(db), want);
        /* A reads B's frames. */
        REQUIRE(sqlite3_exec(db, "UPDATE t SET x = x || ' by B' WHERE "
                             "rowid % 5 = 0", NULL, NULL, NULL) ==
                SQLITE_OK);
        want = table_digest(db);
        CHECK_INT(table_digest(da), want);
        /* The database alone, checkpointed from the mixed WAL by A. */
        CHECK_INT(sqlite3_wal_checkpoint_v2(da, "main",
                                            SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                            NULL),
                  SQLITE_OK);
        sqlite3_close(db);
        sqlite3_close(da);
        db = open_raw(path, b);
        REQUIRE(db);
        CHECK_INT(db_int(db, "SELECT count(*) FROM pragma_integrity_check "
                         "WHERE integrity_check = 'ok'"),
                  1);
        CHECK_INT(table_digest(db), want);
        sqlite3_close(db);
        store_crypt_destroy(a);
        store_crypt_destroy(b);
        plat_free(path);
    }
    testutil_tmpdir_remove(dir);
}

/* Each backend refuses a flipped byte in a database page and in a WAL
 * frame, naming the page, whichever backend sealed it. */
static void test_tamper_detected_by_both(void)
{
    static const char *const names[2] = {"mbedtls", "libgcrypt"};
    char *dir = testutil_tmpdir("crypt");
    int w, r;

    for (w = 0; w < 2; w++)
        for (r = 0; r < 2; r++) {
            char *path = plat_asprintf("%s/t%d%d.db", dir, w, r);
            char *wal = plat_asprintf("%s-wal", path);
            struct store_crypt *cw = crypt_with(names[w]);
            struct store_crypt *cr = crypt_with(names[r]);
            char why[200] = "";
            uint8_t byte;
            sqlite3 *db;
            int fd, rc;

            REQUIRE(path && wal && cw && cr);
            db = open_raw(path, cw);
            REQUIRE(db);
            REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x TEXT);"
                                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION "
                                 "ALL SELECT i + 1 FROM n WHERE i < 800) "
                                 "INSERT INTO t SELECT printf('row %05d', "
                                 "i) FROM n",
                                 NULL, NULL, NULL) == SQLITE_OK);
            CHECK_INT(sqlite3_close(db), SQLITE_OK); /* checkpointed */
            /* Page 3 of the database. */
            fd = open(path, O_RDWR);
            REQUIRE(fd >= 0);
            REQUIRE(pread(fd, &byte, 1, 2 * STORE_CRYPT_PAGE + 333) == 1);
            byte ^= 0x08;
            REQUIRE(pwrite(fd, &byte, 1, 2 * STORE_CRYPT_PAGE + 333) == 1);
            close(fd);
            db = open_raw(path, cr);
            REQUIRE(db);
            rc = sqlite3_exec(db, "SELECT count(*) FROM t", NULL, NULL,
                              NULL);
            CHECK_INT(rc & 0xff, SQLITE_CORRUPT);
            store_crypt_last_failure(cr, why, sizeof(why));
            CHECK(strstr(why, "page 3 of the database failed its "
                         "authentication check") != NULL);
            sqlite3_close(db);
            /* A frame of a live WAL, sealed by cw: the checkpoint by cr
             * copies it untouched, and cr refuses it in the database. */
            unlink(path);
            db = open_raw(path, cw);
            REQUIRE(db);
            REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x TEXT);"
                                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION "
                                 "ALL SELECT i + 1 FROM n WHERE i < 800) "
                                 "INSERT INTO t SELECT printf('row %05d', "
                                 "i) FROM n",
                                 NULL, NULL, NULL) == SQLITE_OK);
            REQUIRE(tamper_last_frame(wal, 0) == 0);
            {
                sqlite3 *d2 = open_raw(path, cr);

                REQUIRE(d2);
                rc = sqlite3_exec(d2, "SELECT count(*) FROM t", NULL, NULL,
                                  NULL);
                CHECK_INT(rc & 0xff, SQLITE_CORRUPT);
                store_crypt_last_failure(cr, why, sizeof(why));
                CHECK(strstr(why, "of the WAL failed its authentication "
                             "check") != NULL);
                sqlite3_close(d2);
            }
            sqlite3_close(db);
            store_crypt_destroy(cw);
            store_crypt_destroy(cr);
            plat_free(wal);
            plat_free(path);
        }
    testutil_tmpdir_remove(dir);
}

/* AGENT_PAGE_CIPHER: mbedtls is used when asked for (the fallback path),
 * a store written that way opens with the default backend, and a value
 * that names neither is refused in one line. */
static void test_backend_choice(void)
{
    char *dir = testutil_tmpdir("crypt");
    char *path = plat_asprintf("%s/s.db", dir);
    struct store_crypt *c;
    struct store *s;
    int found = 0;

    c = crypt_with("mbedtls");
    REQUIRE(c);
    store_crypt_destroy(c);
    setenv("AGENT_PAGE_CIPHER", "openssl", 1);
    c = NULL;
    CHECK_INT(store_crypt_create(&c, key1), ERR_CONFIG);
    CHECK(c == NULL);
    CHECK(strstr(plat_err_msg(), "AGENT_PAGE_CIPHER=openssl") != NULL);
    plat_err_clear();
    unsetenv("AGENT_PAGE_CIPHER");
    /* The idle daemon's choice: mbedTLS for new instances until a sync
     * child asks for the fast one again; AGENT_PAGE_CIPHER still rules. */
    store_crypt_prefer_small(1);
    REQUIRE(store_crypt_create(&c, key1) == PLAT_OK);
    CHECK_STR(store_crypt_cipher(c), "mbedtls");
    store_crypt_destroy(c);
    c = NULL;
    setenv("AGENT_PAGE_CIPHER", "libgcrypt", 1);
    REQUIRE(store_crypt_create(&c, key1) == PLAT_OK);
    CHECK_STR(store_crypt_cipher(c), "libgcrypt");
    store_crypt_destroy(c);
    unsetenv("AGENT_PAGE_CIPHER");
    store_crypt_prefer_small(0);
    c = crypt_with("");
    REQUIRE(c);
    store_crypt_destroy(c);
    /* Through the store: written with mbedTLS, read with the default. */
    setenv("AGENT_PAGE_CIPHER", "mbedtls", 1);
    s = open_key(path, key1, STORE_CREATE);
    unsetenv("AGENT_PAGE_CIPHER");
    REQUIRE(s);
    REQUIRE(add_people(s, 0, 40) == PLAT_OK);
    store_close(s);
    s = open_key(path, key1, 0);
    REQUIRE(s);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    CHECK_INT(store_reg_search(s, "quarterfield 0017", 0, count_cb, &found),
              PLAT_OK);
    CHECK_INT(found, 1);
    store_close(s);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_no_personal_data_on_disk),
          TEST(test_wrong_key_touches_nothing),
          TEST(test_flipped_byte_in_any_page),
          TEST(test_kill9_loses_no_commit),
          TEST(test_flipped_byte_in_wal),
          TEST(test_checkpoint_copies_ciphertext),
          TEST(test_key_ring),
          TEST(test_header_look_keeps_locks),
          TEST(test_backends_read_each_other),
          TEST(test_tamper_detected_by_both),
          TEST(test_backend_choice))
