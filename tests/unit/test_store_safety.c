/*
 * test_store_safety.c - the store against a hostile world: a damaged page
 * (refused for writing, one line saying how to recover, the file left as
 * it was, lookups still possible read-only), the checks (store_check,
 * store_check_due), a full disk (a VFS shim that fails writes after a
 * budget of bytes, test-only), and numbers from JSON far outside any
 * integer range (no undefined conversion: UBSan stays quiet).
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    *len_out = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = plat_malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
            *len_out = (size_t)n;
    }
    fclose(f);
    return buf;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static int put_server(struct store *s, int i)
{
    char json[256];
    cJSON *reg;
    int rc;

    snprintf(json, sizeof(json),
             "{\"referenceId\":\"safety-ref-%05d\",\"programId\":3,"
             "\"id\":%d,\"status\":\"registered\",\"fullName\":\"Person "
             "%05d with a name long enough to fill pages\","
             "\"phoneNumber\":\"3160%07d\"}",
             i, i + 1, i, i);
    reg = cJSON_Parse(json);
    if (!reg)
        return ERR_NOMEM;
    rc = store_reg_put_server(s, reg);
    cJSON_Delete(reg);
    return rc;
}

static struct store *make_store(const char *path, int rows)
{
    struct store_options opt = { STORE_CREATE, 1, 0, 0 };
    struct store *s = NULL;

    if (store_open(&s, path, &opt) < 0)
        return NULL;
    if (rows > 0) {
        store_begin(s);
        for (int i = 0; i < rows; i++)
            if (put_server(s, i) < 0)
                break;
        store_commit(s);
    }
    return s;
}

/* The number of a b-tree leaf page of table registrations in the middle
 * of the file (dbstat), else its root page; 0 on failure. */
static long pick_page(const char *path, long *page_size)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long page = 0, n = 0;

    *page_size = 4096;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto done;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) ==
            SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        *page_size = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT pageno FROM dbstat WHERE name = "
                           "'registrations' AND pagetype = 'leaf' ORDER BY "
                           "pageno", -1, &st, NULL) == SQLITE_OK) {
        long pages[4096];

        while (n < 4096 && sqlite3_step(st) == SQLITE_ROW)
            pages[n++] = (long)sqlite3_column_int64(st, 0);
        if (n > 0)
            page = pages[n / 2];
    }
    sqlite3_finalize(st);
    st = NULL;
    if (page == 0 &&
        sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE "
                           "name = 'registrations'", -1, &st, NULL) ==
            SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        page = (long)sqlite3_column_int64(st, 0);
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return page;
}

/* Overwrite page `page` with a byte pattern, as `dd conv=notrunc` would. */
static int smash_page(const char *path, long page, long page_size)
{
    char junk[65536];
    int fd = open(path, O_WRONLY);
    ssize_t n;

    if (fd < 0 || page_size > (long)sizeof(junk))
        return -1;
    memset(junk, 0xA5, (size_t)page_size);
    n = pwrite(fd, junk, (size_t)page_size, (off_t)(page - 1) * page_size);
    close(fd);
    return n == page_size ? 0 : -1;
}

/* ---- a damaged page ----------------------------------------------------- */

static void check_damaged_message(const char *msg, const char *path)
{
    CHECK(strstr(msg, "is damaged") != NULL);
    CHECK(strstr(msg, "restore a backup") != NULL);
    CHECK(strstr(msg, "keep it") != NULL);
    CHECK(strstr(msg, "`agent init`") != NULL);
    CHECK(strstr(msg, "`agent sync --now`") != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    CHECK_INT(count_of(msg, path), 1);
    CHECK_INT(count_of(msg, "damaged"), 1);
}

static void test_damaged_page_refused(void)
{
    char *dir = testutil_tmpdir("agent-test-safety");
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options rw = { 0, 1, 0, 0 };
    struct store_options ro = { STORE_READONLY, 1, 0, 0 };
    struct store *s = make_store(path, 600);
    char *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    long page, page_size;
    char *value = NULL;

    REQUIRE(s);
    store_close(s);
    s = NULL;
    page = pick_page(path, &page_size);
    REQUIRE(page > 1);
    REQUIRE(smash_page(path, page, page_size) == 0);
    before = slurp(path, &nb);
    REQUIRE(before && nb > 0);

    /* Refused for writing, with the one line. */
    CHECK_INT(store_open(&s, path, &rw), ERR_CORRUPT);
    CHECK(s == NULL);
    check_damaged_message(plat_err_msg(), path);

    /* Read-only it opens, says it is damaged and refuses writes. */
    CHECK_INT(store_open(&s, path, &ro), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_damaged(s), 1);
    CHECK_INT(store_state_get(s, "unrelated", &value), ERR_NOTFOUND);
    CHECK_INT(store_state_set(s, "k", "v"), ERR_CORRUPT);
    check_damaged_message(plat_err_msg(), path);
    CHECK_INT(store_check(s, 0), ERR_CORRUPT);
    store_close(s);

    after = slurp(path, &na);
    CHECK(after && na == nb && memcmp(before, after, nb) == 0);
    plat_free(before);
    plat_free(after);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* The seal (store.c): a clean close seals the file; an open of a file
 * that still matches its seal skips the quick check (the cost of a whole
 * read per command); damage found later drops the seal, so the next open
 * checks again and refuses. Damage that keeps the file's times (written
 * here on purpose with the times put back) is what the skip cannot see:
 * the full check finds it. */
static void test_seal(void)
{
    char *dir = testutil_tmpdir("agent-test-safety");
    char *path = plat_asprintf("%s/store.db", dir);
    char *seal = plat_asprintf("%s.sealed", path);
    struct store_options rw = { 0, 1, 0, 0 };
    struct store *s = make_store(path, 600);
    struct timespec times[2];
    struct stat st;
    long page, page_size;

    REQUIRE(s);
    store_close(s);
    s = NULL;
    CHECK(access(seal, F_OK) == 0);
    REQUIRE(stat(path, &st) == 0);
    page = pick_page(path, &page_size);
    REQUIRE(page > 1);
    REQUIRE(smash_page(path, page, page_size) == 0);
    times[0] = st.st_atim;
    times[1] = st.st_mtim;
    REQUIRE(utimensat(AT_FDCWD, path, times, 0) == 0);

    /* Sealed: the open does not read the whole file... */
    CHECK_INT(store_open(&s, path, &rw), PLAT_OK);
    REQUIRE(s);
    /* ...the full check does, and drops the seal. */
    CHECK_INT(store_check(s, 1), ERR_CORRUPT);
    CHECK(access(seal, F_OK) != 0);
    store_close(s);
    s = NULL;
    CHECK(access(seal, F_OK) != 0);
    CHECK_INT(store_open(&s, path, &rw), ERR_CORRUPT);
    CHECK(s == NULL);

    plat_free(seal);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* Damage found by the full check on an open store: writes stop. */
static void test_check_finds_damage_on_open_store(void)
{
    char *dir = testutil_tmpdir("agent-test-safety");
    char *path = plat_asprintf("%s/store.db", dir);
    struct store *s = make_store(path, 600);
    long page, page_size;
    int ran = -1;

    REQUIRE(s);
    CHECK_INT(store_check(s, 0), PLAT_OK);
    CHECK_INT(store_check(s, 1), PLAT_OK);
    CHECK_INT(store_damaged(s), 0);
    CHECK_INT(store_check_due(s, 3600 * 1000LL, &ran), PLAT_OK);
    CHECK_INT(ran, 1);
    CHECK_INT(store_check_due(s, 3600 * 1000LL, &ran), PLAT_OK);
    CHECK_INT(ran, 0); /* ran a moment ago */
    CHECK_INT(store_check_due(s, 0, &ran), PLAT_OK);
    CHECK_INT(ran, 1);
    store_close(s);

    s = make_store(path, 0);
    REQUIRE(s);
    page = pick_page(path, &page_size);
    REQUIRE(page > 1);
    REQUIRE(smash_page(path, page, page_size) == 0);
    /* The connection may still hold the old page in its cache; a check
     * that reads the file must see the damage. */
    sqlite3_exec(store_db(s), "PRAGMA cache_size=0; PRAGMA cache_size=-2000",
                 NULL, NULL, NULL);
    sqlite3_db_release_memory(store_db(s));
    CHECK_INT(store_check_due(s, 0, &ran), ERR_CORRUPT);
    CHECK_INT(store_damaged(s), 1);
    CHECK_INT(put_server(s, 99999), ERR_CORRUPT);
    check_damaged_message(plat_err_msg(), path);
    CHECK_INT(store_state_set(s, "k", "v"), ERR_CORRUPT);
    store_close(s);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* ---- a full disk: a VFS shim ------------------------------------------- */

/* Wraps the default VFS; once `shim_budget` bytes have been written
 * (-1: no limit), every write fails with SQLITE_FULL, or with
 * SQLITE_IOERR_WRITE and errno ENOSPC (what a failed fsync or truncate
 * looks like) when `shim_ioerr` is set. */
static sqlite3_vfs *shim_base;
static sqlite3_vfs shim_vfs;
static long long shim_budget = -1;
static int shim_ioerr;
static int shim_failed;

struct shim_file {
    sqlite3_file base;
    sqlite3_file *real;
};

#define REAL(f) (((struct shim_file *)(f))->real)

static int shim_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int shim_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int shim_write(sqlite3_file *f, const void *p, int n,
                      sqlite3_int64 off)
{
    if (shim_budget >= 0) {
        if (shim_budget < n) {
            shim_failed = 1;
            errno = ENOSPC;
            return shim_ioerr ? SQLITE_IOERR_WRITE : SQLITE_FULL;
        }
        shim_budget -= n;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int shim_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int shim_size(sqlite3_file *f, sqlite3_int64 *out)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), out);
}
static int shim_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int shim_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int shim_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int shim_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int shim_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int shim_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int shim_shm_map(sqlite3_file *f, int pg, int sz, int ext,
                        void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int shim_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void shim_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int shim_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_methods = {
    3, shim_close, shim_read, shim_write, shim_truncate, shim_sync,
    shim_size, shim_lock, shim_unlock, shim_reserved, shim_fcntl,
    shim_sector, shim_devchar, shim_shm_map, shim_shm_lock,
    shim_shm_barrier, shim_shm_unmap, shim_fetch, shim_unfetch
};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                     int flags, int *out_flags)
{
    struct shim_file *sf = (struct shim_file *)f;
    int rc;

    (void)vfs;
    sf->real = (sqlite3_file *)(sf + 1);
    rc = shim_base->xOpen(shim_base, name, sf->real, flags, out_flags);
    f->pMethods = sf->real->pMethods ? &shim_methods : NULL;
    return rc;
}

static int shim_last_error(sqlite3_vfs *vfs, int n, char *buf)
{
    (void)vfs;
    if (shim_failed)
        return ENOSPC;
    return shim_base->xGetLastError(shim_base, n, buf);
}

static void shim_install(void)
{
    if (shim_base)
        return;
    shim_base = sqlite3_vfs_find(NULL);
    shim_vfs = *shim_base;
    shim_vfs.zName = "agent-test-full";
    shim_vfs.szOsFile = (int)sizeof(struct shim_file) + shim_base->szOsFile;
    shim_vfs.xOpen = shim_open;
    shim_vfs.xGetLastError = shim_last_error;
    shim_vfs.pAppData = NULL;
    sqlite3_vfs_register(&shim_vfs, 1); /* the default from now on */
}

static void fill_disk(void)
{
    char *dir = testutil_tmpdir("agent-test-safety");
    char *path = plat_asprintf("%s/store.db", dir);
    struct store *s;
    int i, rc = PLAT_OK;

    shim_install();
    shim_budget = -1;
    shim_failed = 0;
    shim_ioerr = 0;
    s = make_store(path, 10);
    REQUIRE(s);
    shim_budget = 64 * 1024;
    for (i = 100; i < 5000 && rc == PLAT_OK; i++)
        rc = put_server(s, i);
    CHECK_INT(rc, ERR_IO);
    CHECK(shim_failed);
    CHECK(strstr(plat_err_msg(), "the disk is full") != NULL);
    CHECK(strstr(plat_err_msg(), path) != NULL);
    CHECK(strstr(plat_err_msg(), "I/O error") == NULL);
    store_close(s);

    /* Space again: the store is whole and takes writes. */
    shim_budget = -1;
    shim_failed = 0;
    s = NULL;
    CHECK_INT(store_open(&s, path, NULL), PLAT_OK);
    if (s) {
        CHECK_INT(store_check(s, 1), PLAT_OK);
        CHECK_INT(put_server(s, 9000), PLAT_OK);
        store_close(s);
    }
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

static void test_disk_full(void)
{
    fill_disk();
}

/* An I/O error whose system errno is ENOSPC (a failed fsync or truncate
 * on a full disk) is named as a full disk too. SQLite records the errno
 * of a failing statement step, so the failure is made to happen while
 * one open transaction spills pages from a tiny cache. */
static void test_disk_full_as_io_error(void)
{
    char *dir = testutil_tmpdir("agent-test-safety");
    char *path = plat_asprintf("%s/store.db", dir);
    struct store *s;
    int i, rc = PLAT_OK;

    shim_install();
    shim_budget = -1;
    shim_failed = 0;
    shim_ioerr = 1;
    s = make_store(path, 10);
    REQUIRE(s);
    sqlite3_exec(store_db(s), "PRAGMA cache_size=10", NULL, NULL, NULL);
    shim_budget = 256 * 1024;
    REQUIRE(store_begin(s) == PLAT_OK);
    for (i = 100; i < 20000 && rc == PLAT_OK; i++)
        rc = put_server(s, i);
    store_rollback(s);
    CHECK_INT(rc, ERR_IO);
    CHECK(shim_failed);
    CHECK(strstr(plat_err_msg(), "the disk is full") != NULL);
    CHECK(strstr(plat_err_msg(), path) != NULL);
    store_close(s);
    shim_budget = -1;
    shim_failed = 0;
    shim_ioerr = 0;
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* ---- numbers from JSON --------------------------------------------------- */

static int put_json(struct store *s, const char *json)
{
    cJSON *reg = cJSON_Parse(json);
    int rc;

    if (!reg)
        return ERR_NOMEM;
    rc = store_reg_put_server(s, reg);
    cJSON_Delete(reg);
    return rc;
}

static void test_json_numbers_out_of_range(void)
{
    static const struct {
        const char *json;
        const char *field;
    } bad[] = {
        { "{\"referenceId\":\"big-1\",\"programId\":1e308}", "programId" },
        { "{\"referenceId\":\"big-2\",\"programId\":-1e300}", "programId" },
        { "{\"referenceId\":\"big-3\",\"programId\":3e9}", "programId" },
        { "{\"referenceId\":\"big-4\",\"programId\":3,\"id\":-1e300}",
          "field id" },
        { "{\"referenceId\":\"big-5\",\"programId\":3,\"id\":1e308}",
          "field id" },
        { "{\"referenceId\":\"big-6\",\"programId\":3,"
          "\"id\":9223372036854775808}", "field id" },
        { "{\"referenceId\":\"big-7\",\"programId\":3,\"id\":2.5}",
          "field id" },
        { "{\"referenceId\":\"big-8\",\"programId\":3,\"id\":-1}",
          "field id" },
    };
    char *dir = testutil_tmpdir("agent-test-safety");
    char *path = plat_asprintf("%s/store.db", dir);
    struct store *s = make_store(path, 0);
    struct store_counts counts;
    cJSON *j;
    size_t i;

    REQUIRE(s);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(put_json(s, bad[i].json), ERR_INVALID);
        CHECK(strstr(plat_err_msg(), bad[i].field) != NULL);
        CHECK(strchr(plat_err_msg(), '\n') == NULL);
    }
    /* The largest exact id still fits. */
    CHECK_INT(put_json(s, "{\"referenceId\":\"big-ok\",\"programId\":3,"
                          "\"id\":9007199254740991}"), PLAT_OK);

    j = cJSON_Parse("{\"paymentId\":1e308}");
    CHECK_INT(store_payment_put(s, 3, j), ERR_INVALID);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"paymentId\":-1e300}");
    CHECK_INT(store_payment_put(s, 3, j), ERR_INVALID);
    cJSON_Delete(j);
    j = cJSON_Parse("[{\"id\":-1e300,\"amount\":1e308}]");
    CHECK_INT(store_transactions_put(s, 3, 1, j), ERR_INVALID);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"id\":1e308,\"programRegistrationAttributes\":[]}");
    CHECK_INT(store_program_put(s, j, NULL), ERR_INVALID);
    cJSON_Delete(j);

    CHECK_INT(store_counts(s, &counts), PLAT_OK);
    CHECK_INT(counts.registrations, 1);
    CHECK_INT(counts.programs, 0);
    store_close(s);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_damaged_page_refused), TEST(test_seal),
          TEST(test_check_finds_damage_on_open_store),
          TEST(test_json_numbers_out_of_range),
          TEST(test_disk_full),
          TEST(test_disk_full_as_io_error))
